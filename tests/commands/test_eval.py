"""eval: crash's one-operator calculator (tools.c semantics) and its output layout."""

from __future__ import annotations

import pytest
from pycrash.commands.eval import evaluate, format_number, parse_number

from pycrash.api import CommandError


def _no_symbols(name: str) -> None:
    return None


@pytest.mark.parametrize(("expression", "value"), [
    ("(1+2)", 3),
    ("(0x1000 * 4)", 0x4000),
    ("(10)", 10),              # decimal when it can be
    ("(1a)", 0x1a),            # hexadecimal when it cannot
    ("(4k)", 4096),
    ("(2m + 1)", 2 * 1024 * 1024 + 1),
    ("(1g)", 1 << 30),
    ("(-5)", (1 << 64) - 5),   # a leading minus becomes 0-5
    ("(1 << 4)", 16),
    ("(0x100 >> 4)", 16),
    ("(2 # 10)", 1024),
    ("(~0)", (1 << 64) - 1),
    ("(7 % 4)", 3),
])
def test_evaluate(expression: str, value: int) -> None:
    assert evaluate(expression, _no_symbols) == value


def test_symbols() -> None:
    table = {"jiffies": 0xFFFFFFFF81000000}
    assert evaluate("(jiffies + 8)", table.get) == 0xFFFFFFFF81000008


@pytest.mark.parametrize("expression", ["(1 +)", "((1+2))", "(1 < 2)", "(nonsense)"])
def test_invalid(expression: str) -> None:
    with pytest.raises(CommandError, match="invalid expression"):
        evaluate(expression, _no_symbols)


def test_format_matches_crash_layout() -> None:
    # crash 8.0.6 `eval -b 0x1234` (recorded by hand with the trixie build).
    assert format_number(0x1234, bits=True) == (
        "hexadecimal: 1234  \n"
        "    decimal: 4660  \n"
        "      octal: 11064\n"
        "     binary: 0000000000000000000000000000000000000000000000000001001000110100\n"
        "   bits set: 12 9 5 4 2 \n")
    assert format_number(0x4000).startswith("hexadecimal: 4000  (16KB)\n")
    assert "    decimal: 18446744073709551615  (-1)\n" in format_number((1 << 64) - 1)


def test_bits_wrap_at_77_columns() -> None:
    lines = format_number((1 << 64) - 1, bits=True).splitlines()[4:]
    assert lines[0].startswith("   bits set: 63 62 ") and len(lines) == 3
    # crash breaks the line once it reaches column 77 and indents under the first number.
    assert all(len(line) <= 80 for line in lines)
    assert lines[1].startswith(" " * 13 + "41 ") and lines[2].endswith(" 1 0 ")


def test_command(run) -> None:
    assert run("eval 0x1000 * 4").startswith("hexadecimal: 4000  (16KB)\n")
    assert run("eval (1+2)").startswith("hexadecimal: 3  \n")
    # A parenthesized expression is one argument, even with blanks; what follows is ignored.
    assert run("eval (1 + 2) 3").startswith("hexadecimal: 3  \n")
    banner = run("sym linux_banner").split()[0]
    assert run("eval linux_banner + 1").startswith(f"hexadecimal: {int(banner, 16) + 1:x}  ")


def test_parse_number() -> None:
    assert parse_number("100") == 100
    assert parse_number("0x100") == 256
    with pytest.raises(CommandError):
        parse_number("xyz!")
