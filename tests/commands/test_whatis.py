"""whatis: declarations of symbols and definitions of types, against the module source and
the manifest."""

from __future__ import annotations

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
