"""mod: the module table against the guest's /proc/modules, and mod -s / -d state changes."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from pycrash import testing

SCENARIO = "sysrq"


def _proc_modules() -> list[list[str]]:
    return [line.split() for line in
            testing.manifest(SCENARIO)["ground_truth"]["proc_modules"]]


def test_table_matches_proc_modules(run) -> None:
    lines = run("mod").splitlines()
    assert lines[0].split() == ["MODULE", "NAME", "BASE", "SIZE", "OBJECT", "FILE"]
    rows = lines[1:]
    assert len(rows) == len(_proc_modules())
    for row, proc in zip(rows, _proc_modules(), strict=True):
        fields = row.split()
        # /proc/modules: name size refcount deps state address (taints)
        assert fields[1] == proc[0]
        assert int(fields[3]) == int(proc[1])
        assert int(fields[2], 16) == int(proc[5], 16)
        assert row.endswith("(not loaded)  [CONFIG_KALLSYMS]")


def test_taints(run) -> None:
    """mod -t shows the letters /proc/modules shows in parentheses."""
    lines = run("mod -t").splitlines()
    assert lines[0].split() == ["NAME", "TAINTS"]
    proc = {p[0]: p[-1].strip("()") for p in _proc_modules() if p[-1].startswith("(")}
    got = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert got == proc


@pytest.fixture
def loaded_module(run, tmp_path, monkeypatch):
    """pycrash_test.ko loaded with `mod -s` from the working directory, dropped afterwards."""
    shutil.copy(testing.module_path(), tmp_path / "pycrash_test.ko")
    monkeypatch.chdir(tmp_path)
    out = run("mod -s pycrash_test pycrash_test.ko")
    yield out
    run("mod -D")


def test_mod_s_loads_object_symbols(run, loaded_module) -> None:
    assert loaded_module.splitlines()[1].endswith("  pycrash_test.ko ")
    assert run("mod").splitlines()[1].endswith("  pycrash_test.ko ")
    # With the object loaded, the letters are the object's own (nm's): the kernel's
    # /proc/kallsyms shows the same class of section (it upper-cases only exported ones).
    truth = testing.manifest(SCENARIO)["ground_truth"]["module_kallsyms"]
    for name in ("pycrash_test_value", "pycrash_names", "pycrash_tree", "pycrash_dstate_done"):
        line = run(f"sym {name}").splitlines()[0]
        address = int(truth[name]["address"], 16)
        assert line.lower() == f"{address:x} ({truth[name]['type']}) {name} [pycrash_test]"
    # Text symbols gain the source line from the object's DWARF.
    line = run("sym pycrash_do_oops").splitlines()[0]
    assert "pycrash_test.c: " in line


def test_mod_d_restores_kallsyms(run, loaded_module) -> None:
    run("mod -d pycrash_test")
    assert run("mod").splitlines()[1].endswith("(not loaded)  [CONFIG_KALLSYMS]")
    assert run("sym pycrash_test_value").split()[1] == "(?)"


def test_unknown_module(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    err = io.StringIO()
    status = Runner(sample_session(SCENARIO), registry, stdout=io.StringIO(),
                    stderr=err).execute("mod -s no_such_module")
    assert status == 1 and "usage" in err.getvalue()


def test_json_matches_text(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out = io.StringIO()
    Runner(sample_session(SCENARIO), registry, stdout=out, json=True).execute("mod")
    records = json.loads(out.getvalue())
    proc = _proc_modules()
    assert [(r["name"], r["size"], r["base"]) for r in records] == [
        (p[0], int(p[1]), int(p[5], 16)) for p in proc]


def _recorded_scenarios() -> list[str]:
    found = []
    for scenario in testing.scenarios():
        try:
            if "mod -s pycrash_test pycrash_test.ko" in testing.crash_commands(scenario,
                                                                                "zlib31"):
                found.append(scenario)
        except (KeyError, FileNotFoundError, LookupError):
            continue
    return found


@pytest.mark.parametrize("scenario", _recorded_scenarios())
def test_recorded_module_session(sample_session, tmp_path, monkeypatch, scenario: str) -> None:
    """crash's `mod -s pycrash_test pycrash_test.ko` (run beside the .ko, as recorded), then
    the recorded module session's mod and sym lines: equal to crash's output."""
    from pycrash.api import registry
    from pycrash.runner import Runner

    shutil.copy(testing.module_path(), tmp_path / "pycrash_test.ko")
    monkeypatch.chdir(tmp_path)
    session = sample_session(scenario, "zlib31")

    def run_line(line: str) -> str:
        out = io.StringIO()
        Runner(session, registry, stdout=out, stderr=out).execute(line)
        return out.getvalue()

    try:
        loading = "mod -s pycrash_test pycrash_test.ko"
        assert run_line(loading) == testing.crash_output(scenario, "zlib31", loading)
        for line in ("mod", "sym pycrash_do_oops", "sym pycrash_test_value"):
            want = testing.crash_output(scenario, "zlib31", line, module_loaded=True)
            assert run_line(line) == want, line
    finally:
        run_line("mod -D")


@pytest.mark.skipif(not shutil.which("find"), reason="no find(1) to compare with")
@pytest.mark.parametrize("root", [".", "./", ".//", "tree", "tree/", "ABS"])
def test_walk_like_find_prints_what_find_prints(tmp_path, monkeypatch, root: str) -> None:
    """crash takes `mod -S DIR`'s object path from `/usr/bin/find -L DIR -name FILE`: the walk
    yields find's paths, spelled as find spells them, in find's order."""
    import subprocess

    from pycrash.commands.mod import walk_like_find

    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "c").mkdir()
    for path in ("a/b/pycrash-test.ko", "a/x.o", "c/pycrash_test.ko", "top.ko"):
        (tree / path).write_bytes(b"")
    (tree / "link").symlink_to(tree / "a")  # -L: followed
    (tree / "a" / "loop").symlink_to(tree)  # an ancestor: not entered again
    monkeypatch.chdir(tree if root.startswith(".") else tmp_path)
    root = str(tree) if root == "ABS" else root
    found = subprocess.run(["find", "-L", root, "-print"], capture_output=True, text=True)
    assert list(walk_like_find(root)) == found.stdout.splitlines()


def test_find_in_tree_follows_crashs_name_order(tmp_path, monkeypatch) -> None:
    """crash's find_module_objfile(): NAME.o, NAME.ko, NAME.ko.debug, then the same with '-'
    for '_', then with "[_-]"; each the first hit of a walk of the whole tree."""
    from pycrash.commands.mod import find_in_tree

    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep" / "er" / "pycrash-test.ko").write_bytes(b"")
    assert find_in_tree(".", "pycrash_test") == "./deep/er/pycrash-test.ko"
    (tmp_path / "deep" / "pycrash_test.ko.debug").write_bytes(b"")
    assert find_in_tree(".", "pycrash_test") == "./deep/pycrash_test.ko.debug"
    (tmp_path / "deep" / "er" / "pycrash_test.ko").write_bytes(b"")
    assert find_in_tree(".", "pycrash_test") == "./deep/er/pycrash_test.ko"
    assert find_in_tree("deep/", "pycrash_test") == "deep/er/pycrash_test.ko"
    assert find_in_tree(".", "a_b_c") is None
    (tmp_path / "a-b_c.ko").write_bytes(b"")  # only the "[_-]" spelling finds a mixed name
    assert find_in_tree(".", "a_b_c") == "./a-b_c.ko"


def test_mod_S_directory_names_the_object_as_found(run, tmp_path, monkeypatch) -> None:
    """crash 8.0.6 in the recordings' directory: `mod -S .` shows ./pycrash_test.ko (sysrq
    zlib31's recorded module session); by hand there, `mod -S ../zlib31/` showed
    ../zlib31/pycrash_test.ko and `mod -S .//` .//pycrash_test.ko."""
    expected = testing.crash_output(SCENARIO, "zlib31", "mod -S .", module_loaded=True)
    (tmp_path / "stage").mkdir()
    shutil.copy(testing.module_path(), tmp_path / "stage" / "pycrash_test.ko")
    monkeypatch.chdir(tmp_path / "stage")
    try:
        assert run("mod -S .") == expected
        assert run("mod -S ../stage/").endswith("  ../stage/pycrash_test.ko \n")
        assert run("mod -S .//").endswith("  .//pycrash_test.ko \n")
        assert run("sym pycrash_test_value").split()[1] == "(D)"  # the object's letters
    finally:
        run("mod -D")


def test_mod_o_ends_option_parsing(sample_session) -> None:
    """crash's getopt loop returns at -o (it only switches later loads to add-symbol-file):
    nothing is printed and what follows is not looked at; before it, another action option
    is a usage error. (crash 8.0.6: `mod -o -t` printed nothing, `mod -t -o` its usage.)"""
    from pycrash.api import registry
    from pycrash.runner import Runner

    session = sample_session(SCENARIO, "zlib31")
    session.reset_user_state()
    for line, status, printed in (("mod -o -s pycrash_test pycrash_test.ko", 0, ""),
                                  ("mod -o -t", 0, ""), ("mod -o -d no_such_module", 0, ""),
                                  ("mod -t -o", 1, "usage"), ("mod -t -D", 1, "usage")):
        out = io.StringIO()
        assert Runner(session, registry, stdout=out, stderr=out).execute(line) == status, line
        assert (printed in out.getvalue()) if printed else out.getvalue() == "", line
    out = io.StringIO()  # -o -s loaded nothing
    Runner(session, registry, stdout=out).execute("mod")
    assert out.getvalue().splitlines()[1].endswith("(not loaded)  [CONFIG_KALLSYMS]")
