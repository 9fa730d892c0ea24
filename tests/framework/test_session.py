"""The session: lazy DWARF, the drgn Program reading through the core, module debuginfo."""

from __future__ import annotations

import io

import drgn
import pytest

from pycrash import session as session_module
from pycrash import testing
from pycrash.api import registry
from pycrash.errors import NoDebugInfoError, SessionError
from pycrash.runner import Runner
from pycrash.session import open_session

SCENARIO = "sysrq"


def primary() -> str:
    return next(d["name"] for d in testing.manifest(SCENARIO)["dumps"] if d["primary"])


@pytest.fixture
def fresh_session():
    session = open_session(testing.dump_paths(SCENARIO, primary()), testing.vmlinux_path())
    yield session
    session.close()


def test_commands_without_debuginfo_do_not_load_dwarf(fresh_session) -> None:
    from pycrash.plugins import load_builtins

    load_builtins(report=lambda message: None)
    out = io.StringIO()
    assert Runner(fresh_session, registry, stdout=out).execute("set radix") == 0
    assert out.getvalue() == "output radix: 10 (decimal)\n"
    assert fresh_session.has_debuginfo and not fresh_session.prog_loaded


def test_log_does_not_load_dwarf(fresh_session) -> None:
    """Issue 4: `pycrash -c log vmcore` costs no DWARF indexing."""
    from pycrash.plugins import load_builtins

    load_builtins(report=lambda message: None)
    out = io.StringIO()
    assert Runner(fresh_session, registry, stdout=out).execute("log") == 0
    # the panic message the guest recorded is in the log
    assert testing.manifest(SCENARIO)["panic"]["message"] in out.getvalue()
    assert not fresh_session.prog_loaded


def test_drgn_reads_kernel_memory_through_the_core(fresh_session) -> None:
    prog = fresh_session.prog
    counter = fresh_session.read_counter
    before = counter.virtual_calls
    banner = prog["linux_banner"].string_().decode()
    assert banner == testing.manifest(SCENARIO)["kernel"]["banner"]
    assert prog["init_task"].comm.string_() == b"swapper/0"
    # kernel-virtual reads go to the virtual segment (the core's translation), none to
    # drgn's own page-table walk over the physical segments
    assert counter.virtual_calls > before
    assert counter.physical_calls == 0


def test_module_debuginfo_is_loaded(fresh_session) -> None:
    truth = testing.manifest(SCENARIO)["ground_truth"]["module_globals"]
    prog = fresh_session.prog
    assert fresh_session.missing_module_debuginfo == []
    assert hex(prog["pycrash_test_value"].value_()) == truth["pycrash_test_value"]


def test_missing_module_debuginfo_is_one_warning(monkeypatch, capsys) -> None:
    monkeypatch.setattr(session_module, "_module_search_dirs", lambda origin, release: [])
    session = open_session(testing.dump_paths(SCENARIO, primary()), testing.vmlinux_path())
    session.prog  # noqa: B018
    modules = [line.split()[0] for line in
               testing.manifest(SCENARIO)["ground_truth"]["proc_modules"]]
    assert session.missing_module_debuginfo == sorted(modules)
    err = capsys.readouterr().err
    assert err == f"pycrash: WARNING: no debuginfo for modules: {', '.join(sorted(modules))}\n"
    session.close()


def test_no_vmlinux_means_no_program() -> None:
    session = open_session(testing.dump_paths(SCENARIO, primary()))
    assert not session.has_debuginfo
    with pytest.raises(NoDebugInfoError, match="^no vmlinux debuginfo: no vmlinux found for"):
        session.prog  # noqa: B018
    session.close()


def test_open_errors_are_session_errors(tmp_path) -> None:
    with pytest.raises(SessionError, match="No such file or directory"):
        open_session(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(SessionError):
        open_session(empty)
    with pytest.raises(SessionError, match="not a vmlinux"):
        open_session(testing.dump_paths(SCENARIO, primary()), vmlinux=empty)


def test_split_dump_opens_as_one(sample_session) -> None:
    names = testing.dump_names(SCENARIO)
    split = next(n for n in names if len(testing.dump_paths(SCENARIO, n)) > 1)
    session = sample_session(SCENARIO, split)
    assert session.prog["init_task"].comm.string_() == b"swapper/0"
    assert isinstance(session.prog, drgn.Program)
