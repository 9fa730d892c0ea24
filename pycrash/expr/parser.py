"""A C expression parser (Pratt / precedence climbing) for ``p`` and friends.

It parses what crash users type at ``p``: variables, ``.``/``->`` members, ``[]``, unary
``* & - ~ !``, casts ``(struct task_struct *)0xffff...``, ``sizeof``, arithmetic, comparisons,
``&& || ?:``.  Whether ``(name)`` starts a cast depends on whether ``name`` is a type, so the
parser asks ``is_type_name`` (given by the evaluator) for bare identifiers.

The result is a small tree of :class:`Node` tuples; :mod:`pycrash.expr.evaluate` gives it
values against a drgn Program.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ExprSyntaxError", "Node", "TypeName", "parse", "tokenize"]


class ExprSyntaxError(ValueError):
    """The text is not a C expression (message in gdb's words where possible)."""


@dataclass(frozen=True)
class Token:
    kind: str  # "num", "char", "str", "ident", "op", "end"
    text: str
    pos: int


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>0[xX][0-9a-fA-F]+[uUlL]*|\d+\.\d*(?:[eE][-+]?\d+)?|\d+[uUlL]*)
  | (?P<char>'(?:\\.|[^\\'])+')
  | (?P<str>"(?:\\.|[^\\"])*")
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op>->|<<|>>|<=|>=|==|!=|&&|\|\||\+\+|--|[-+*/%&|^!~<>()\[\].,?:=])
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    """Split C expression text into tokens (ending with an ``end`` token)."""
    tokens = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExprSyntaxError(f"Invalid character '{text[pos]}' in expression.")
        kind = match.lastgroup
        if kind != "ws":
            tokens.append(Token(kind or "op", match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


@dataclass(frozen=True)
class TypeName:
    """A type written in a cast or sizeof: base words plus a declarator suffix."""

    base: str  # "struct task_struct", "unsigned long", "pid_t"
    pointers: int = 0
    arrays: tuple[int, ...] = field(default_factory=tuple)
    outer_pointers: int = 0  # "(*)" around the arrays: a pointer to the array type

    def spelling(self) -> str:
        text = self.base + (" " + "*" * self.pointers if self.pointers else "")
        if self.outer_pointers:
            text += " (" + "*" * self.outer_pointers + ")"
        return text + "".join(f"[{n}]" for n in self.arrays)


@dataclass(frozen=True)
class Node:
    """One expression node: ``op`` names it, ``args`` holds children or leaf values.

    Leaves: ("num", int, suffix), ("float", value), ("char", int), ("str", bytes),
    ("name", ident).  Others: ("member", obj, name), ("arrow", obj, name), ("index", a, i),
    ("unary", op, x), ("binary", op, a, b), ("cast", TypeName, x), ("sizeof_type", TypeName),
    ("sizeof", x), ("cond", c, a, b), ("comma", a, b).
    """

    op: str
    args: tuple


_BASE_WORDS = {
    "void", "char", "short", "int", "long", "float", "double", "signed", "unsigned", "_Bool",
    "const", "volatile", "struct", "union", "enum",
}

# Binary operators: precedence (higher binds tighter); all left-associative.
_BINARY = {
    "*": 13, "/": 13, "%": 13,
    "+": 12, "-": 12,
    "<<": 11, ">>": 11,
    "<": 10, ">": 10, "<=": 10, ">=": 10,
    "==": 9, "!=": 9,
    "&": 8, "^": 7, "|": 6, "&&": 5, "||": 4,
}
_UNARY = {"-", "+", "!", "~", "*", "&"}


class _Parser:
    def __init__(self, text: str, is_type_name: Callable[[str], bool]) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.is_type_name = is_type_name

    # -- token helpers -----------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        if self.tok.text != text:
            raise ExprSyntaxError(f"A syntax error in expression, near `{self.rest()}'.")
        self.advance()

    def rest(self) -> str:
        return " ".join(t.text for t in self.tokens[self.i :] if t.kind != "end")

    # -- grammar -----------------------------------------------------------------------------

    def parse(self) -> Node:
        node = self.comma()
        if self.tok.kind != "end":
            raise ExprSyntaxError(f"A syntax error in expression, near `{self.rest()}'.")
        return node

    def comma(self) -> Node:
        node = self.conditional()
        while self.tok.text == ",":
            self.advance()
            node = Node("comma", (node, self.conditional()))
        return node

    def conditional(self) -> Node:
        node = self.binary(0)
        if self.tok.text == "?":
            self.advance()
            then = self.comma()
            self.expect(":")
            otherwise = self.conditional()
            node = Node("cond", (node, then, otherwise))
        return node

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        while self.tok.kind == "op" and self.tok.text in _BINARY:
            prec = _BINARY[self.tok.text]
            if prec <= min_prec:
                break
            op = self.advance().text
            right = self.binary(prec)
            left = Node("binary", (op, left, right))
        return left

    def starts_type(self, offset: int = 0) -> bool:
        tok = self.peek(offset) if offset else self.tok
        if tok.kind != "ident":
            return False
        return tok.text in _BASE_WORDS or self.is_type_name(tok.text)

    def unary(self) -> Node:
        tok = self.tok
        if tok.kind == "op" and tok.text in _UNARY:
            self.advance()
            return Node("unary", (tok.text, self.unary()))
        if tok.kind == "op" and tok.text in ("++", "--"):
            raise ExprSyntaxError("increment and decrement are not supported")
        if tok.kind == "ident" and tok.text == "sizeof":
            self.advance()
            if self.tok.text == "(" and self.starts_type(1):
                self.advance()
                type_name = self.type_name()
                self.expect(")")
                return Node("sizeof_type", (type_name,))
            return Node("sizeof", (self.unary(),))
        if tok.text == "(" and self.starts_type(1):
            self.advance()
            type_name = self.type_name()
            self.expect(")")
            return Node("cast", (type_name, self.unary()))
        return self.postfix(self.primary())

    def type_name(self) -> TypeName:
        words: list[str] = []
        while self.tok.kind == "ident":
            word = self.tok.text
            if word in ("struct", "union", "enum"):
                self.advance()
                if self.tok.kind != "ident":
                    raise ExprSyntaxError(f"A syntax error in expression, near `{self.rest()}'.")
                words.append(f"{word} {self.advance().text}")
                continue
            if word in _BASE_WORDS or (not words and self.is_type_name(word)):
                words.append(self.advance().text)
                continue
            break
        if not words:
            raise ExprSyntaxError(f"A syntax error in expression, near `{self.rest()}'.")
        pointers = 0
        while self.tok.text == "*":
            self.advance()
            pointers += 1
        outer = 0
        if self.tok.text == "(" and self.peek().text == "*":
            self.advance()
            while self.tok.text == "*":
                self.advance()
                outer += 1
            self.expect(")")
        arrays = []
        while self.tok.text == "[":
            self.advance()
            if self.tok.kind != "num":
                raise ExprSyntaxError(f"A syntax error in expression, near `{self.rest()}'.")
            arrays.append(_number(self.advance().text)[0])
            self.expect("]")
        return TypeName(" ".join(words), pointers, tuple(arrays), outer)

    def primary(self) -> Node:
        tok = self.advance()
        if tok.kind == "num":
            if "." in tok.text:
                return Node("float", (float(tok.text),))
            value, suffix = _number(tok.text)
            return Node("num", (value, suffix))
        if tok.kind == "char":
            return Node("char", (_char_value(tok.text),))
        if tok.kind == "str":
            return Node("str", (_unescape(tok.text[1:-1]),))
        if tok.kind == "ident":
            return Node("name", (tok.text,))
        if tok.text == "(":
            node = self.comma()
            self.expect(")")
            return node
        if tok.kind == "end":
            raise ExprSyntaxError("A syntax error in expression, near `'.")
        self.i -= 1
        raise ExprSyntaxError(f"A syntax error in expression, near `{self.rest()}'.")

    def postfix(self, node: Node) -> Node:
        while True:
            text = self.tok.text
            if text in (".", "->"):
                self.advance()
                if self.tok.kind != "ident":
                    raise ExprSyntaxError(f"A syntax error in expression, near `{self.rest()}'.")
                name = self.advance().text
                node = Node("member" if text == "." else "arrow", (node, name))
            elif text == "[":
                self.advance()
                index = self.comma()
                self.expect("]")
                node = Node("index", (node, index))
            else:
                return node


def _number(text: str) -> tuple[int, str]:
    body = text.rstrip("uUlL")
    suffix = text[len(body) :].lower()
    if body[:2] in ("0x", "0X"):
        return int(body, 16), suffix
    if len(body) > 1 and body.startswith("0"):
        return int(body, 8), suffix
    return int(body), suffix


_ESCAPES = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "0": 0, "\\": 92,
            "'": 39, '"': 34, "e": 27}


def _unescape(body: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            octal = re.match(r"[0-7]{1,3}", body[i + 1 :])
            if octal:
                out.append(int(octal.group(), 8) & 0xFF)
                i += 1 + len(octal.group())
                continue
            if nxt == "x":
                hexa = re.match(r"[0-9a-fA-F]+", body[i + 2 :])
                if hexa:
                    out.append(int(hexa.group(), 16) & 0xFF)
                    i += 2 + len(hexa.group())
                    continue
            out.append(_ESCAPES.get(nxt, ord(nxt)))
            i += 2
            continue
        out.extend(ch.encode())
        i += 1
    return bytes(out)


def _char_value(literal: str) -> int:
    data = _unescape(literal[1:-1])
    if len(data) != 1:
        raise ExprSyntaxError(f"Invalid character constant {literal}.")
    return data[0]


def parse(text: str, is_type_name: Callable[[str], bool] = lambda name: False) -> Node:
    """Parse ``text`` as a C expression; ``is_type_name(word)`` says whether an identifier
    names a typedef (so ``(pid_t)x`` is a cast)."""
    if not text.strip():
        raise ExprSyntaxError("A syntax error in expression, near `'.")
    return _Parser(text, is_type_name).parse()
