"""Type declarations in gdb 10's ptype/whatis spelling (as crash 8.0.6 shows them).

Expected texts are crash's recorded output for the sample kernel (``struct list_head``,
``whatis schedule``, ``struct -o mm_struct``) and the test module's source.
"""

from __future__ import annotations

import pytest

from pycrash.format.ctype import declaration, ptype, type_name


@pytest.fixture(scope="module")
def prog(sample_session):
    return sample_session().prog


def test_list_head(prog) -> None:
    assert ptype(prog.type("struct list_head")) == (
        "struct list_head {\n"
        "    struct list_head *next;\n"
        "    struct list_head *prev;\n"
        "}"
    )


def test_base_type_names_are_gdb_10_spelling(prog) -> None:
    # crash: "    unsigned long __rb_parent_color;" (gdb 10 prints C names, not DWARF's)
    assert "    unsigned long __rb_parent_color;" in ptype(prog.type("struct rb_node"))


def test_function_and_array_declarators(prog) -> None:
    assert type_name(prog["schedule"].type_) == "void (void)"
    mm = ptype(prog.type("struct mm_struct"))
    # crash: "unsigned long (*get_unmapped_area)(struct file *, unsigned long, ...);"
    assert ("unsigned long (*get_unmapped_area)(struct file *, unsigned long, unsigned long, "
            "unsigned long, unsigned long);") in mm
    # a flexible array member keeps empty brackets
    assert "unsigned long cpu_bitmap[];" in mm
    assert declaration(prog.type("struct task_struct").member("comm").type, "comm") == (
        "char comm[16]"
    )


def test_anonymous_members_are_expanded_at_every_depth(prog) -> None:
    # crash's gdb patch expands unnamed struct/union members however deep they are.
    page = ptype(prog.type("struct page"))
    assert "{...}" not in page
    assert "                struct list_head lru;" in page


def test_bitfields_and_typedef_resolution(prog) -> None:
    task = ptype(prog.type("struct task_struct"))
    assert "    unsigned int sched_reset_on_fork : 1;" in task
    assert ptype(prog.type("pid_t")) == "int"
