"""Expressions evaluated against the sysrq sample dump, checked with the manifest."""

from __future__ import annotations

import pytest
from drgn import TypeKind

from pycrash import testing
from pycrash.expr.evaluate import EvalError, evaluate_text


@pytest.fixture(scope="module")
def prog(sample_session):
    return sample_session().prog


@pytest.fixture(scope="module")
def manifest():
    return testing.manifest("sysrq")


def test_cast_and_arrow_reach_the_panic_task(prog, manifest) -> None:
    task = manifest["placeholders"]["panic_task"]
    assert int(evaluate_text(prog, f"((struct task_struct *){task})->pid")) == (
        manifest["panic"]["pid"]
    )
    comm = evaluate_text(prog, f"((struct task_struct *){task})->comm")
    assert comm.string_().decode() == manifest["panic"]["comm"]


def test_symbols_members_and_indexing(prog, manifest) -> None:
    assert int(evaluate_text(prog, "init_task.pid")) == 0
    assert evaluate_text(prog, "init_task.comm[1]").value_() == ord("w")
    banner = manifest["kernel"]["banner"]
    assert evaluate_text(prog, "linux_banner").string_().decode() == banner
    # linux_banner is declared with [] in headers: its length comes from the symbol.
    assert evaluate_text(prog, "linux_banner").type_.length == len(banner) + 1
    address = int(manifest["placeholders"]["linux_banner"], 16)
    assert int(evaluate_text(prog, "&linux_banner")) == address
    assert int(evaluate_text(prog, "*&init_task.pid")) == 0


def test_arithmetic_sizeof_and_comparisons(prog) -> None:
    assert int(evaluate_text(prog, "1 + 2 * 3")) == 7
    size = evaluate_text(prog, "sizeof(struct task_struct)")
    assert int(size) == prog.type("struct task_struct").size
    assert size.type_.name == "unsigned long"
    assert int(evaluate_text(prog, "init_task.pid == 0")) == 1
    assert int(evaluate_text(prog, "(char)65")) == 65
    pointer = evaluate_text(prog, "&init_task.se")
    assert pointer.type_.kind == TypeKind.POINTER
    assert int(evaluate_text(prog, "&init_task.se + 1")) == int(pointer) + prog.type(
        "struct sched_entity").size


@pytest.mark.parametrize(("text", "message"), [
    ("nosuch_symbol_x", 'No symbol "nosuch_symbol_x" in current context.'),
    ("init_task.nosuch", "There is no member named nosuch."),
    ("init_task->pid", None),
    ("*init_task.pid", "Attempt to take contents of a non-pointer value."),
    ("1 / 0", "Division by zero"),
])
def test_errors_are_gdb_messages(prog, text: str, message: str | None) -> None:
    if text == "init_task->pid":
        # gdb accepts -> on a struct as . (and so does pycrash)
        assert int(evaluate_text(prog, text)) == 0
        return
    with pytest.raises(EvalError) as info:
        evaluate_text(prog, text)
    assert str(info.value) == message
