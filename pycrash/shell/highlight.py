"""Pygments highlighting of command output shown on a terminal.

Commands whose output reads as C (``struct``, ``union``, ``whatis``, ``p``) or as AT&T
assembly (``dis``) say so with the class attribute ``highlight = "c"`` / ``"asm"``.  The
Runner renders such a command into a buffer and, only when its output goes to a terminal
(no pipe, no redirection), writes ``highlight(text, kind)`` instead of ``text``.

Highlighting only adds ANSI escape sequences: stripping them gives back the input exactly,
so what the user reads is crash's output, coloured.
"""

from __future__ import annotations

import functools
import re
from typing import Any, TextIO

from pygments import highlight as _pygments_highlight
from pygments.formatters import TerminalFormatter
from pygments.lexer import Lexer, RegexLexer, bygroups
from pygments.lexers import CLexer
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, Text

from pycrash.shell.config import color_enabled

__all__ = [
    "colour_for_terminal",
    "highlight",
    "highlight_asm",
    "highlight_c",
    "should_highlight",
    "strip_ansi",
]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DisLexer(RegexLexer):
    """crash's ``dis`` lines: ``0xADDR <symbol+off>:  mnemonic operands  # comment``.

    pygments' GasLexer expects assembler source and marks most of this as errors.
    """

    name = "crash-dis"
    tokens = {
        "root": [
            (
                r"^(0x[0-9a-fA-F]+)(\s*)(<)([^>]*)(>)(:?)",
                bygroups(Number.Hex, Text, Punctuation, Name.Function, Punctuation, Punctuation),
                "instruction",
            ),
            (r"[^\n]*\n", Text),
            (r"[^\n]+", Text),
        ],
        "instruction": [
            (r"\n", Text, "#pop"),
            (r"[ \t]+", Text),
            (r"(?:lock|rep[a-z]*|data16|addr32|cs|ds|notrack|bnd)\b", Keyword.Pseudo),
            (r"[a-z][a-z0-9.]*", Keyword, "operands"),
            (r"\[[^\]\n]*\]", Comment.Special),
            (r"[^\n]", Text),
        ],
        "operands": [
            (r"(?=\n)", Text, "#pop"),
            (r"#[^\n]*", Comment.Single),
            (r"\[[^\]\n]*\]", Comment.Special),
            (r"%[a-z0-9]+", Name.Variable),
            (r"\$-?(?:0x[0-9a-fA-F]+|\d+)", Number),
            (r"-?0x[0-9a-fA-F]+|-?\b\d+\b", Number.Hex),
            (r"<[^>\n]*>", Name.Function),
            (r"[*(),:]", Operator),
            (r"[^\n%$#<\[*(),:0-9-]+|.", Text),
        ],
    }


@functools.cache
def _lexer(kind: str) -> Lexer:
    # stripnl/ensurenl off: the output must keep its exact leading and trailing newlines.
    options = {"stripnl": False, "ensurenl": False, "stripall": False}
    if kind == "c":
        return CLexer(**options)
    if kind == "asm":
        return DisLexer(**options)
    raise ValueError(f"no highlighting for {kind!r}")


@functools.cache
def _formatter() -> TerminalFormatter:
    return TerminalFormatter(bg="dark")


def highlight(text: str, kind: str) -> str:
    """``text`` with ANSI colours for ``kind`` ("c" or "asm"); unknown kinds return it as is."""
    if not text:
        return text
    try:
        lexer = _lexer(kind)
    except ValueError:
        return text
    coloured = _pygments_highlight(text, lexer, _formatter())
    # Belt and braces: never change the text itself, only colour it.
    if strip_ansi(coloured) != text:
        return text
    return coloured


def highlight_c(text: str) -> str:
    """C-like output (``struct``, ``union``, ``whatis``, ``p``) with ANSI colours."""
    return highlight(text, "c")


def highlight_asm(text: str) -> str:
    """``dis`` output (AT&T syntax, as crash prints it) with ANSI colours."""
    return highlight(text, "asm")


def strip_ansi(text: str) -> str:
    """``text`` without ANSI colour sequences."""
    return _ANSI.sub("", text)


def should_highlight(stream: TextIO, session: Any = None) -> bool:
    """True when ``stream`` is a terminal and colour is not switched off (NO_COLOR, set color)."""
    try:
        is_tty = stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real file
        return False
    return bool(is_tty) and color_enabled(session)


def colour_for_terminal(text: str, command: Any, stream: TextIO, session: Any = None) -> str:
    """What the Runner writes for a command's output ``text`` going straight to ``stream``.

    ``command`` is the Command class (its ``highlight`` attribute picks the lexer).  The caller
    passes only output that is neither piped nor redirected; a non-terminal ``stream``, colour
    switched off, or a command without ``highlight`` gets ``text`` unchanged.
    """
    kind = getattr(command, "highlight", None)
    if not kind or not should_highlight(stream, session):
        return text
    return highlight(text, kind)
