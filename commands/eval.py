"""``eval``: crash's calculator, plus the number parsing crash uses for its address arguments.

crash evaluates at most one binary operation (``eval 0x1000 * 4``, ``eval linux_banner+8``),
on unsigned 64-bit values; numbers are decimal when they can be, hexadecimal otherwise (``10``
is ten, ``1a`` and ``0x10`` are hexadecimal), and may carry a ``k``/``m``/``g`` multiplier.
The result is shown in hexadecimal, decimal, octal and binary (crash's ``tools.c:cmd_eval``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register

MASK64 = (1 << 64) - 1
_DECIMAL_CHARS = frozenset("0123456789 ")
_HEX_CHARS = frozenset("0123456789abcdefABCDEFxX")
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
# Operators in the order crash's strpbrk() finds the first of them.
_OPERATORS = "#><+-&|*/%^"


def is_decimal(text: str) -> bool:
    """crash's ``decimal()``: only digits (and blanks), at least one digit."""
    return any(c.isdigit() for c in text) and all(c in _DECIMAL_CHARS for c in text)


def is_hexadecimal(text: str) -> bool:
    """crash's ``hexadecimal()``: hex digits, ``x``/``X`` anywhere, a trailing blank."""
    body = text[:-1] if text.endswith(" ") else text
    return any(c in "0123456789abcdefABCDEF" for c in body) and all(
        c in _HEX_CHARS for c in body
    )


def parse_hex(text: str, *, max_digits: int = 16) -> int:
    """crash's ``htol()``/``htoll()``: a hexadecimal number with an optional ``0x``.

    Raises CommandError with crash's message for input it rejects.
    """
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) > max_digits:
        raise CommandError(
            f'input string too large: "{digits}" ({len(digits)} vs {max_digits})'
        )
    value = 0
    for c in digits:
        if c in "xXh":
            continue
        if c not in "0123456789abcdefABCDEF":
            raise CommandError(f'invalid input: "{digits}"')
        value = value * 16 + int(c, 16)
    return value


def parse_number(text: str) -> int:
    """crash's ``stol()``/``stoll()`` without hex bias: decimal if possible, else hex."""
    if is_decimal(text):
        return int(text.replace(" ", "")) & MASK64
    if is_hexadecimal(text):
        return parse_hex(text.strip())
    raise CommandError(f"not a valid number: {text}")


SymbolLookup = Callable[[str], "int | None"]


def _calculate(text: str, lookup: SymbolLookup) -> int | None:
    """crash's ``calculate()``: a symbol, or a number with an optional k/m/g unit, or ``~x``."""
    complement = text.startswith("~")
    if complement:
        text = text[1:]
    value = lookup(text) if text else None
    if value is None:
        factor = 1
        if text and text[-1].lower() in _UNITS:
            factor = _UNITS[text[-1].lower()]
            text = text[:-1]
        if not (is_decimal(text) or is_hexadecimal(text)):
            return None
        try:
            value = parse_number(text) * factor
        except CommandError:
            return None
    return (~value if complement else value) & MASK64


def _apply(op: str, left: int, right: int) -> int:
    if op == "+":
        return (left + right) & MASK64
    if op == "-":
        return (left - right) & MASK64
    if op == "&":
        return left & right
    if op == "|":
        return left | right
    if op == "*":
        return (left * right) & MASK64
    if op in "/%":
        if right == 0:
            raise CommandError("divide by zero")
        return left // right if op == "/" else left % right
    if op == "<<":
        return (left << right) & MASK64 if right < 64 else 0
    if op == ">>":
        return left >> right if right < 64 else 0
    if op == "^":
        return left ^ right
    # "#": crash's power()
    return pow(left, right, 1 << 64)


def evaluate(expression: str, lookup: SymbolLookup) -> int:
    """Evaluate one crash ``eval`` expression (``(a op b)``, ``a op b``, ``a``) to a u64.

    ``lookup`` maps a symbol name to its address or None. Raises CommandError with crash's
    ``invalid expression: ...`` message when the text is malformed.
    """
    invalid = CommandError(f"invalid expression: {expression}")
    work = expression
    if "(" in work or ")" in work:
        if not (work.startswith("(") and work.endswith(")")) or work.index(")") != len(work) - 1:
            raise invalid
        work = work[1:-1]
        if "(" in work or ")" in work:
            raise invalid
    if work.startswith("-"):
        work = "0" + work
    position = next((i for i, c in enumerate(work) if c in _OPERATORS), None)
    if position is None:
        value = _calculate(work, lookup)
        if value is None:
            raise invalid
        return value
    op = work[position]
    right_start = position + 1
    if op in "<>":
        if work[position + 1 : position + 2] != op:
            raise invalid
        op *= 2
        right_start += 1
    left, right = work[:position].strip(), work[right_start:].strip()
    if not left or not right:
        raise invalid
    values = []
    for element in (left, right):
        value = _calculate(element, lookup)
        if value is None:
            raise invalid
        values.append(value)
    return _apply(op, values[0], values[1])


@dataclass
class EvalResult:
    """The value of an ``eval`` expression, with the options that shape its display."""

    expression: str
    value: int
    bits: bool = False


def _size_suffix(value: int) -> str:
    if value < 1024:
        return ""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if value % size == 0:
            return f"({value // size}{unit})"
    return ""


def format_number(value: int, bits: bool = False) -> str:
    """crash's ``print_number()`` for a 64-bit value: hex, decimal, octal, binary, bits set."""
    signed = value - (1 << 64) if value >> 63 else value
    lines = [
        f"hexadecimal: {value:x}  {_size_suffix(value)}",
        f"    decimal: {value}  " + (f"({signed})" if signed < 0 else ""),
        f"      octal: {value:o}",
        f"     binary: {value:064b}",
    ]
    text = "\n".join(lines) + "\n"
    if bits:
        header = "   bits set: "
        text += header
        column = len(header)
        for bit in range(63, -1, -1):
            if value >> bit & 1:
                word = f"{bit} "
                text += word
                column += len(word)
                if column >= 77:
                    text += "\n" + " " * len(header)
                    column = len(header)
        text += "\n"
    return text


def symbol_lookup(ctx: CommandContext) -> SymbolLookup:
    """Name → address as crash's ``symbol_search()``: kernel and module symbols."""

    def lookup(name: str) -> int | None:
        if not name or not (name[0].isalpha() or name[0] == "_"):
            return None
        try:
            from pycrash.kernel.symbols import symbol_table

            found = symbol_table(ctx.session).lookup(name)
            if found:
                return found[0].address
        except (CommandError, LookupError, OSError):
            pass
        try:
            return ctx.session.symbol_address(name)
        except Exception:  # noqa: BLE001 - no vmlinux: the word is then not a symbol
            return None

    return lookup


@register
class Eval(Command):
    name = "eval"
    summary = "evaluate an expression"
    description = (
        "Evaluates an expression of one value, or two values and an operator (+ - & | ^ * % /\n"
        "<< >> and # for power), and shows the result in hexadecimal, decimal, octal and\n"
        "binary. Values are symbols or numbers, decimal unless they cannot be (use 0x), with an\n"
        "optional k, m or g multiplier. An expression with redirection characters must be put\n"
        "in parentheses. On a 64-bit kernel -l changes nothing."
    )
    arguments = (
        Arg("-b", dest="bits", action="store_true", help="also list the bits set in the result"),
        Arg("-l", dest="longlong", action="store_true", help="64-bit (long long) values"),
        Arg("expression", nargs=argparse.REMAINDER, complete=Complete.EXPRESSION),
    )
    needs_debuginfo = False
    json = True

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> EvalResult:
        words = list(args.expression)
        if not words:
            raise CommandError("usage: eval [-b][-l] (expression) | value")
        lookup = symbol_lookup(ctx)
        # crash keeps a parenthesized expression as one argument, and such an argument is
        # the whole expression (anything after it is ignored).
        for i, word in enumerate(words):
            if word.startswith("("):
                group = [word]
                for following in words[i + 1:]:
                    if ")" in group[-1]:
                        break
                    group.append(following)
                expression = " ".join(group)
                return EvalResult(expression, evaluate(expression, lookup), args.bits)
        expression = "(" + " ".join(words).strip() + ")"
        return EvalResult(expression, evaluate(expression, lookup), args.bits)

    def render(self, ctx: CommandContext, data: EvalResult) -> None:
        ctx.out.write(format_number(data.value, data.bits))

    def to_json(self, ctx: CommandContext, data: EvalResult) -> dict:
        signed = data.value - (1 << 64) if data.value >> 63 else data.value
        result = {"expression": data.expression, "value": data.value, "signed": signed,
                  "hex": f"{data.value:x}", "octal": f"{data.value:o}",
                  "binary": f"{data.value:064b}"}
        if data.bits:
            result["bits_set"] = [b for b in range(63, -1, -1) if data.value >> b & 1]
        return result
