"""Evaluating parsed C expressions against a drgn Program, with gdb's rules and messages.

Values are drgn Objects: a variable is a reference object (reading it goes through the
session's core), ``&x`` its address, ``*p``/``p->m``/``a[i]`` follow drgn's C semantics
(pointer arithmetic included).  Integer literals get C's types (``int``, then ``long``, then
``unsigned long``), ``sizeof`` is an ``unsigned long`` as in gdb.
"""

from __future__ import annotations

from collections.abc import Callable

import drgn
from drgn import Object, TypeKind

from pycrash.expr.parser import ExprSyntaxError, Node, TypeName, parse

__all__ = ["EvalError", "evaluate", "evaluate_text", "resolve_type", "variable"]

_INT_MAX = (1 << 31) - 1
_UINT_MAX = (1 << 32) - 1
_LONG_MAX = (1 << 63) - 1


class EvalError(ValueError):
    """The expression cannot be evaluated (gdb's message)."""


def _strip(type_: drgn.Type) -> drgn.Type:
    while type_.kind == TypeKind.TYPEDEF:
        type_ = type_.type
    return type_


def resolve_type(prog: drgn.Program, name: TypeName) -> drgn.Type:
    """The drgn type a cast or sizeof names."""
    base = " ".join(name.base.split())
    try:
        type_ = prog.type(base)
    except LookupError:
        raise EvalError(f"No symbol \"{base.split()[-1]}\" in current context.") from None
    for _ in range(name.pointers):
        type_ = prog.pointer_type(type_)
    for length in reversed(name.arrays):
        type_ = prog.array_type(type_, length)
    for _ in range(name.outer_pointers):
        type_ = prog.pointer_type(type_)
    return type_


def variable(prog: drgn.Program, name: str) -> Object:
    """The global ``name`` as gdb sees it: an array declared ``extern T x[];`` gets its length
    from the symbol's size (``linux_banner`` is ``const char [156]``)."""
    try:
        obj = prog[name]
    except KeyError:
        raise EvalError(f'No symbol "{name}" in current context.') from None
    type_ = obj.type_
    if type_.kind == TypeKind.ARRAY and type_.length is None and obj.address_ is not None:
        element = type_.type
        try:
            size = prog.symbol(name).size
        except LookupError:
            size = 0
        if size and drgn.sizeof(element):
            complete = prog.array_type(element, size // drgn.sizeof(element),
                                       qualifiers=type_.qualifiers)
            obj = Object(prog, complete, address=obj.address_)
    return obj


def _literal(prog: drgn.Program, value: int, suffix: str, hexadecimal: bool) -> Object:
    unsigned = "u" in suffix
    longs = suffix.count("l")
    if not unsigned and not longs and value <= _INT_MAX:
        return Object(prog, "int", value)
    if hexadecimal and not longs and value <= _UINT_MAX:
        return Object(prog, "unsigned int", value)
    if not unsigned and value <= _LONG_MAX:
        return Object(prog, "long", value)
    return Object(prog, "unsigned long", value & ((1 << 64) - 1))


def _truth(obj: Object) -> bool:
    return bool(obj)


def _bool(prog: drgn.Program, value: bool) -> Object:
    return Object(prog, "int", int(value))


class _Evaluator:
    def __init__(self, prog: drgn.Program, lookup: Callable[[str], Object] | None) -> None:
        self.prog = prog
        self.lookup = lookup

    def eval(self, node: Node) -> Object:
        method = getattr(self, "_" + node.op)
        return method(*node.args)

    def _num(self, value: int, suffix: str) -> Object:
        return _literal(self.prog, value, suffix, False)

    def _float(self, value: float) -> Object:
        return Object(self.prog, "double", value)

    def _char(self, value: int) -> Object:
        return Object(self.prog, "char", value)

    def _str(self, value: bytes) -> Object:
        type_ = self.prog.array_type(self.prog.type("char"), len(value) + 1)
        return Object.from_bytes_(self.prog, type_, value + b"\0")

    def _name(self, name: str) -> Object:
        if self.lookup is not None:
            return self.lookup(name)
        return variable(self.prog, name)

    def _member(self, obj: Node, name: str) -> Object:
        value = self.eval(obj)
        kind = _strip(value.type_).kind
        if kind not in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS):
            raise EvalError(f"Attempt to extract a component of a value that is not a "
                            f"structure{' pointer' if kind == TypeKind.POINTER else ''}.")
        return self._field(value, name)

    def _arrow(self, obj: Node, name: str) -> Object:
        value = self.eval(obj)
        real = _strip(value.type_)
        if real.kind in (TypeKind.STRUCT, TypeKind.UNION):
            return self._field(value, name)
        if real.kind != TypeKind.POINTER or _strip(real.type).kind not in (
            TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS,
        ):
            raise EvalError("The -> operator must be applied to a pointer to a structure "
                            "or union.")
        return self._field(value[0], name)

    @staticmethod
    def _field(value: Object, name: str) -> Object:
        try:
            return value.member_(name)
        except LookupError:
            raise EvalError(f"There is no member named {name}.") from None

    def _index(self, array: Node, index: Node) -> Object:
        value = self.eval(array)
        position = self.eval(index)
        kind = _strip(value.type_).kind
        if kind not in (TypeKind.ARRAY, TypeKind.POINTER):
            raise EvalError(f"cannot subscript something of type `{value.type_.type_name()}'")
        return value[int(position)]

    def _unary(self, op: str, operand: Node) -> Object:
        if op == "&":
            value = self.eval(operand)
            if _strip(value.type_).kind == TypeKind.FUNCTION:
                return value.address_of_()
            try:
                return value.address_of_()
            except ValueError:
                raise EvalError("Attempt to take address of value not located in memory."
                                ) from None
        value = self.eval(operand)
        if op == "*":
            kind = _strip(value.type_).kind
            if kind == TypeKind.FUNCTION:
                return value
            if kind not in (TypeKind.POINTER, TypeKind.ARRAY):
                raise EvalError("Attempt to take contents of a non-pointer value.")
            return value[0]
        if op == "-":
            return -value
        if op == "+":
            return +value
        if op == "~":
            return ~value
        return _bool(self.prog, not _truth(value))

    def _binary(self, op: str, left: Node, right: Node) -> Object:
        if op == "&&":
            return _bool(self.prog, _truth(self.eval(left)) and _truth(self.eval(right)))
        if op == "||":
            return _bool(self.prog, _truth(self.eval(left)) or _truth(self.eval(right)))
        a = self.eval(left)
        b = self.eval(right)
        try:
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            if op == "/":
                return a / b
            if op == "%":
                return a % b
            if op == "<<":
                return a << b
            if op == ">>":
                return a >> b
            if op == "&":
                return a & b
            if op == "|":
                return a | b
            if op == "^":
                return a ^ b
            compare = {
                "<": lambda: a < b, ">": lambda: a > b, "<=": lambda: a <= b,
                ">=": lambda: a >= b, "==": lambda: a == b, "!=": lambda: a != b,
            }[op]
            return _bool(self.prog, bool(compare()))
        except ZeroDivisionError:
            raise EvalError("Division by zero") from None
        except TypeError as err:
            raise EvalError(f"Argument to arithmetic operation not a number or boolean."
                            f" ({err})") from None

    def _cast(self, name: TypeName, operand: Node) -> Object:
        type_ = resolve_type(self.prog, name)
        value = self.eval(operand)
        real = _strip(type_)
        if real.kind in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.ARRAY):
            return drgn.reinterpret(type_, value)
        return drgn.cast(type_, value)

    def _sizeof_type(self, name: TypeName) -> Object:
        return Object(self.prog, "unsigned long", drgn.sizeof(resolve_type(self.prog, name)))

    def _sizeof(self, operand: Node) -> Object:
        value = self.eval(operand)
        return Object(self.prog, "unsigned long", drgn.sizeof(value.type_))

    def _cond(self, condition: Node, then: Node, otherwise: Node) -> Object:
        return self.eval(then) if _truth(self.eval(condition)) else self.eval(otherwise)

    def _comma(self, first: Node, second: Node) -> Object:
        self.eval(first)
        return self.eval(second)


def evaluate(prog: drgn.Program, node: Node,
             lookup: Callable[[str], Object] | None = None) -> Object:
    """The value of a parsed expression (EvalError with gdb's message on failure)."""
    return _Evaluator(prog, lookup).eval(node)


def _typedef_checker(prog: drgn.Program) -> Callable[[str], bool]:
    def is_type_name(word: str) -> bool:
        try:
            prog[word]
            return False  # a variable of that name wins, as in C scope rules
        except (KeyError, LookupError):
            pass
        try:
            return prog.type(word).kind == TypeKind.TYPEDEF
        except (LookupError, SyntaxError, ValueError):
            return False

    return is_type_name


def evaluate_text(prog: drgn.Program, text: str,
                  lookup: Callable[[str], Object] | None = None) -> Object:
    """Parse and evaluate ``text``; raises EvalError (syntax errors included)."""
    try:
        node = parse(text, _typedef_checker(prog))
    except ExprSyntaxError as err:
        raise EvalError(str(err)) from None
    return evaluate(prog, node, lookup)
