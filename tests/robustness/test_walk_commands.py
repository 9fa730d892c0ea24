"""Commands on kernel data damaged in memory: a looping or garbage module list, a cycle in
the task list, an absurd ``nr_cpu_ids``.  Each prints what it could, with one warning line
naming where a walk stopped, and succeeds; expected figures are crash's recorded output and
the sample manifest.  The dump files are not touched (tests/robustness/overlay.py).
"""

from __future__ import annotations

import io
import re

import pytest
from overlay import overlay_session, u64

from pycrash import testing
from pycrash.kernel import masks, modules


def _crash(command: str) -> str:
    index = testing.crash_index("sysrq", "zlib31")
    entry = next(e for e in index["commands"] if e["command"] == command and
                 e["mode"] == "session")
    path = testing.sample_root() / "sysrq" / "crash" / "zlib31" / entry["file"]
    return path.read_text()


def _field(text: str, name: str) -> str:
    return re.search(rf"^\s*{name}: (.*)$", text, re.M).group(1).strip()


def _execute(session, line: str) -> tuple[int, str, str]:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    status = Runner(session, registry, stdout=out, stderr=err).execute(line)
    return status, out.getvalue(), err.getvalue()


def _warnings(captured: str) -> list[str]:
    return [line for line in captured.splitlines() if "WARNING" in line]


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    monkeypatch.setattr(masks, "_warned", set())
    monkeypatch.setattr(modules, "_warned", set())


@pytest.fixture
def fresh():
    """A new session per test: symbol and task tables are cached per session."""
    session, overlay = overlay_session()
    yield session, overlay
    session.close()


def _module_name() -> str:
    return testing.manifest("sysrq")["ground_truth"]["proc_modules"][0].split()[0]


def test_mod_on_a_module_list_loop(fresh, capsys):
    session, overlay = fresh
    first = session.dump.read_u64(session.prog["modules"].address_)  # module.list
    overlay.patches[first] = u64(first)  # its next points at itself
    status, out, err = _execute(session, "mod")
    _execute(session, "sym pycrash_items")  # walks the list again: no second warning
    assert status == 0 and "Traceback" not in err
    assert [line.split()[1] for line in out.splitlines()[1:] if line.strip()] == [_module_name()]
    warnings = _warnings(capsys.readouterr().err)
    assert len(warnings) == 1 and f"{first:x}" in warnings[0] and "loop" in warnings[0]


def test_mod_on_a_garbage_module_list_head(fresh, capsys):
    session, overlay = fresh
    head = session.prog["modules"].address_
    overlay.patches[head] = u64(0x4141414141414141)
    status, out, err = _execute(session, "mod")
    assert status == 0 and "Traceback" not in err
    assert _module_name() not in out
    warnings = _warnings(capsys.readouterr().err)
    assert len(warnings) == 1 and f"{head:x}" in warnings[0]
    # kernel symbols still resolve without the module list
    status, out, _ = _execute(session, "sym schedule")
    assert status == 0 and out.split()[:3] == _crash("sym schedule").split()[:3]


def test_cycle_in_the_task_list(fresh):
    session, overlay = fresh
    prog = session.prog
    first = session.dump.read_u64(prog["init_task"].tasks.address_)
    second = session.dump.read_u64(first)
    overlay.patches[second] = u64(first)  # the third task's next goes back to the second
    status, out, err = _execute(session, "sys")
    assert status == 0 and _field(out, "TASKS") == _field(_crash("sys"), "TASKS")
    status, out, err = _execute(session, "ps")
    assert status == 0
    pids = {int(m.group(1)) for m in re.finditer(r"^>?\s*(-?\d+)\s", out, re.M)}
    truth = {p["pid"] for p in testing.manifest("sysrq")["ground_truth"]["processes"]}
    assert truth <= pids


def _task_column(ps_output: str) -> list[str]:
    return re.findall(r"^>?\s*-?\d+\s+\d+\s+\d+\s+([0-9a-f]{16})\s", ps_output, re.M)


@pytest.fixture(scope="module")
def many_cpus():
    """nr_cpu_ids = 65536 in a kernel built with NR_CPUS = 64 (and 2 CPUs)."""
    session, overlay = overlay_session()
    overlay.patches[session.prog["nr_cpu_ids"].address_] = (65536).to_bytes(4, "little")
    yield session
    session.close()


def test_absurd_nr_cpu_ids_sys_and_log(many_cpus, capsys):
    status, out, err = _execute(many_cpus, "sys")
    assert status == 0 and "Traceback" not in err
    assert _field(out, "CPUS") == str(testing.manifest("sysrq")["cpus"])
    warnings = _warnings(capsys.readouterr().err)
    assert any("nr_cpu_ids is 65536" in w for w in warnings)
    status, out, _ = _execute(many_cpus, "log")
    crash_log = _crash("log").splitlines()
    assert status == 0 and out.splitlines()[-1] == crash_log[-1]
    assert len(out.splitlines()) == len(crash_log)


def test_absurd_nr_cpu_ids_ps(many_cpus):
    status, out, _ = _execute(many_cpus, "ps")
    assert status == 0
    assert _task_column(out) == _task_column(_crash("ps"))
    status, out, _ = _execute(many_cpus, "sys")
    assert _field(out, "TASKS") == _field(_crash("sys"), "TASKS")


def test_garbage_module_symbol_count(fresh, capsys):
    """A module whose ``core_kallsyms.num_symtab`` is garbage (2**31 - 1 symbols would be
    48 GiB): the module is listed without symbols, with one warning naming it."""
    from drgn import container_of

    session, overlay = fresh
    prog = session.prog
    module = container_of(prog["modules"].next, "struct module", "list")
    count = module.core_kallsyms.num_symtab
    overlay.patches[count.address_] = (2**31 - 1).to_bytes(4, "little")
    status, out, err = _execute(session, "mod")
    assert status == 0 and _module_name() in out
    status, out, _ = _execute(session, "sym schedule")
    assert status == 0 and out.split()[:3] == _crash("sym schedule").split()[:3]
    warnings = _warnings(capsys.readouterr().err)
    assert len(warnings) == 1 and _module_name() in warnings[0] and "num_symtab" in warnings[0]


def test_task_list_walk_behind_sys_fallback(fresh, capsys):
    """sysinfo's own count (when the task table cannot be built) walks init_task.tasks and
    each thread group with the bounded walker: crash's TASKS intact, a warning on a cycle."""
    from pycrash.kernel.sysinfo import _listed_tasks

    session, overlay = fresh
    cpus = testing.manifest("sysrq")["cpus"]
    crash_tasks = int(_field(_crash("sys"), "TASKS"))
    # every thread, swapper/0 (init_task) included; crash adds the other CPUs' idle tasks
    assert len(set(_listed_tasks(session))) + cpus - 1 == crash_tasks
    first = session.dump.read_u64(session.prog["init_task"].tasks.address_)
    second = session.dump.read_u64(first)
    overlay.patches[second] = u64(first)
    tasks = list(_listed_tasks(session))
    assert len(set(tasks)) == len(tasks) < crash_tasks
    warnings = _warnings(capsys.readouterr().err)
    assert len(warnings) == 1 and f"{first:x}" in warnings[0] and "loop" in warnings[0]


def test_log_on_a_garbage_descriptor_ring(fresh):
    """prb's desc_ring.head_id overwritten: a naive walk from tail to head would take up to
    2**62 steps; log says in one line that the ring is corrupt."""
    session, overlay = fresh
    ring = session.prog["prb"].desc_ring
    tail = int(ring.tail_id.counter)
    overlay.patches[ring.head_id.address_] = u64(tail - 2)  # "behind" the tail: 2**62 ids
    status, out, err = _execute(session, "log")
    assert status == 1 and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("pycrash: log: ") and "corrupt" in err
