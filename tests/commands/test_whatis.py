"""whatis: declarations of symbols and definitions of types, against the module source and
the manifest."""

from __future__ import annotations

import pytest

from pycrash import testing


def test_symbol_declarations(run) -> None:
    banner = testing.manifest("sysrq")["kernel"]["banner"]
    assert run("whatis linux_banner") == f"const char linux_banner[{len(banner) + 1}];\n"
    assert run("whatis schedule") == "void schedule(void);\n"
    assert run("whatis pycrash_test_value") == "u64 pycrash_test_value;\n"
    assert run("whatis pycrash_null_item") == "struct pycrash_item *pycrash_null_item;\n"
    # crash pastes the name in front of gdb's "[": gdb wrote "const char * const[5]"
    assert run("whatis pycrash_names") == "const char * constpycrash_names[5];\n"
    assert run("whatis pycrash_sleeper_wait") == "void pycrash_sleeper_wait(void);\n"


def test_types(run) -> None:
    # struct pycrash_item as pycrash_test.c declares it
    assert run("whatis struct pycrash_item") == (
        "struct pycrash_item {\n"
        "    int id;\n"
        "    char name[16];\n"
        "    struct list_head node;\n"
        "    struct rb_node rb;\n"
        "    u64 value;\n"
        "}\n"
        "SIZE: 72\n"
    )
    assert run("whatis pid_t") == "typedef int pid_t;\nSIZE: 4\n"
    assert run("whatis atomic_t") == "typedef struct {\n    int counter;\n} atomic_t;\nSIZE: 4\n"
    assert run("whatis -o list_head").splitlines()[1] == "   [0] struct list_head *next;"


def test_expressions(run) -> None:
    assert run("whatis init_task.pid") == "pid_t\n"
    assert run("whatis &init_task") == "struct task_struct *\n"


def _table(text: str) -> list[tuple[int, str]]:
    lines = text.splitlines()
    assert lines[0].split() == ["SIZE", "TYPE"]
    return [(int(line.split()[0]), line.split()[1]) for line in lines[1:]]


def test_types_by_size_and_member(run) -> None:
    """Kernel facts: struct list_head (16 bytes) holds two struct list_head pointers, struct
    rb_root_cached (16) embeds struct rb_root, whose struct rb_node pointer -m finds."""
    table = _table(run("whatis -r 16 -m list_head"))
    assert (16, "list_head") in table
    assert {size for size, _ in table} == {16}
    assert (16, "rb_root_cached") in _table(run("whatis -r 16 -m rb_node"))
    # sorted by size, then name (crash's compare_size_name)
    table = _table(run("whatis -r 3000-9000"))
    assert table == sorted(table, key=lambda row: (row[0], row[1].encode()))
    assert all(3000 <= size <= 9000 for size, _ in table)
    assert run("whatis -m no_type_has_this_name") == "(none found)\n"


def test_module_types_after_mod_s(run, tmp_path, monkeypatch) -> None:
    """A module's types count once `mod -s` loaded its object file, as gdb's objfiles do:
    struct pycrash_item (72 bytes, pycrash_test.c) holds a struct list_head."""
    import shutil

    assert (72, "pycrash_item") not in _table(run("whatis -r 72 -m list_head"))
    shutil.copy(testing.module_path(), tmp_path / "pycrash_test.ko")
    monkeypatch.chdir(tmp_path)
    run("mod -s pycrash_test pycrash_test.ko")
    try:
        assert (72, "pycrash_item") in _table(run("whatis -r 72 -m list_head"))
    finally:
        run("mod -D")
    assert (72, "pycrash_item") not in _table(run("whatis -r 72 -m list_head"))


@pytest.mark.parametrize(("cmdline", "message"), [
    ("whatis -r zz", "not a valid number: zz"),
    ("whatis -r 16-x", "not a valid number: x"),
])
def test_search_errors(cmdline: str, message: str) -> None:
    from io import StringIO

    from conftest import open_sample

    from pycrash.api import registry
    from pycrash.runner import Runner

    err = StringIO()
    status = Runner(open_sample(), registry, stdout=StringIO(), stderr=err).execute(cmdline)
    assert status == 1
    assert err.getvalue() == f"pycrash: whatis: {message}\n"
