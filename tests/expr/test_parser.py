"""The C expression parser: precedence, postfix chains, casts and sizeof."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycrash.expr.parser import ExprSyntaxError, Node, TypeName, parse


def _is_type(word: str) -> bool:
    return word in ("pid_t", "u64")


def test_precedence_and_associativity() -> None:
    one, two, three, four = (Node("num", (n, "")) for n in (1, 2, 3, 4))
    product = Node("binary", ("*", two, three))
    tree = parse("1 + 2 * 3 - 4")
    assert tree == Node("binary", ("-", Node("binary", ("+", one, product)), four))
    assert parse("a || b && c").args[0] == "||"
    assert parse("a << 1 < b").args[0] == "<"


def test_postfix_chain() -> None:
    tree = parse("init_task.se.load.weight")
    assert tree.op == "member" and tree.args[1] == "weight"
    tree = parse("p->children.next[2]")
    assert tree.op == "index"
    assert tree.args[0].op == "member"
    assert tree.args[0].args[0].op == "arrow"


def test_unary_versus_binary_star_and_amp() -> None:
    assert parse("*p").op == "unary"
    assert parse("a * b").op == "binary"
    assert parse("&init_task.se").args == ("&", parse("init_task.se"))
    assert parse("a & b").args[0] == "&"


def test_casts_and_sizeof() -> None:
    cast = parse("((struct task_struct *)0xffff888000000000)->pid")
    inner = cast.args[0]
    assert inner.op == "cast"
    assert inner.args[0] == TypeName("struct task_struct", 1)
    assert inner.args[1] == Node("num", (0xFFFF888000000000, ""))
    assert parse("sizeof(struct task_struct)") == Node(
        "sizeof_type", (TypeName("struct task_struct"),))
    assert parse("(pid_t)x", _is_type).op == "cast"
    assert parse("(x)", _is_type).op == "name"  # not a type: a parenthesized expression
    assert parse("sizeof x").op == "sizeof"
    assert parse("(unsigned long)-1").args[0] == TypeName("unsigned long")
    assert parse("(char *[4])0").args[0] == TypeName("char", 1, (4,))
    assert parse("(unsigned char (*)[8])0").args[0] == TypeName("unsigned char", 0, (8,), 1)


def test_literals() -> None:
    assert parse("0x10UL") == Node("num", (16, "ul"))
    assert parse("010") == Node("num", (8, ""))
    assert parse("'A'") == Node("char", (65,))
    assert parse("'\\n'") == Node("char", (10,))
    assert parse('"a\\tb"') == Node("str", (b"a\tb",))


def test_conditional() -> None:
    tree = parse("a ? b : c ? d : e")
    assert tree.op == "cond"
    assert tree.args[2].op == "cond"


@pytest.mark.parametrize("text", ["", "1 +", "a.", "(int", "a[1", "sizeof(struct)", "1 2", "@"])
def test_syntax_errors(text: str) -> None:
    with pytest.raises(ExprSyntaxError):
        parse(text)


@settings(deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=6),
       st.lists(st.sampled_from(["+", "-", "*", "<<", "&", "|", "^"]), min_size=5, max_size=5))
def test_arithmetic_matches_python(numbers: list[int], ops: list[str]) -> None:
    """Evaluating the tree with Python semantics gives Python's own result for the text."""
    text = str(numbers[0])
    for number, op in zip(numbers[1:], ops, strict=False):
        text += f" {op} {number}"

    def value(node: Node) -> int:
        if node.op == "num":
            return node.args[0]
        op, left, right = node.args
        a, b = value(left), value(right)
        if op == "<<":
            return a << b
        return {"+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b}[op]

    try:
        expected = eval(text)  # noqa: S307 - integers and operators only
    except ValueError:  # a negative shift count: not a C expression either
        return
    assert value(parse(text)) == expected
