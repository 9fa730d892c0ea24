"""Looking up C data types and members the way crash's ``arg_to_datatype`` does.

A name typed after ``struct``/``union``/``*`` is a struct or union tag, or a typedef of one
(``task_struct``, ``atomic_t``).  A member path ``se.vruntime`` or ``pids[1]`` is resolved
through named members and, like gdb, through anonymous structs and unions on the way.
"""

from __future__ import annotations

import dataclasses

import drgn
from drgn import TypeKind

__all__ = [
    "Datatype",
    "find_datatype",
    "member_offset",
    "member_path_exists",
    "member_size",
    "strip_typedefs",
]

AGGREGATES = (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS)


def strip_typedefs(type_: drgn.Type) -> drgn.Type:
    """The type behind any chain of typedefs."""
    while type_.kind == TypeKind.TYPEDEF:
        type_ = type_.type
    return type_


@dataclasses.dataclass(frozen=True)
class Datatype:
    """A struct or union named on a command line."""

    name: str  # as typed: "task_struct", "atomic_t"
    type: drgn.Type  # the type as named (a typedef stays a typedef)
    is_typedef: bool

    @property
    def real(self) -> drgn.Type:
        return strip_typedefs(self.type)

    @property
    def is_union(self) -> bool:
        return self.real.kind == TypeKind.UNION

    @property
    def size(self) -> int:
        return self.real.size or 0


def find_datatype(prog: drgn.Program, name: str) -> Datatype | None:
    """The struct/union (or typedef of one) ``name`` names, or None."""
    name = name.strip()
    for keyword in ("struct", "union"):
        if name.startswith(keyword + " "):
            name = name[len(keyword) + 1 :].strip()
    for candidate in (f"struct {name}", f"union {name}"):
        try:
            return Datatype(name, prog.type(candidate), False)
        except LookupError:
            continue
        except (ValueError, SyntaxError):
            return None
    try:
        type_ = prog.type(name)
    except (LookupError, ValueError, SyntaxError):
        return None
    if type_.kind == TypeKind.TYPEDEF and strip_typedefs(type_).kind in AGGREGATES:
        return Datatype(name, type_, True)
    return None


def member_offset(type_: drgn.Type, name: str) -> int | None:
    """Byte offset of member ``name`` of a struct/union, found directly or through anonymous
    members (gdb's rule); None if there is none.  Bit-field members give bitpos / 8."""
    real = strip_typedefs(type_)
    if real.kind not in AGGREGATES or not real.is_complete():
        return None
    for member in real.members:
        if member.name == name:
            return member.bit_offset // 8
    for member in real.members:
        if member.name is None:
            inner = member_offset(member.type, name)
            if inner is not None:
                return member.bit_offset // 8 + inner
    return None


def member_size(type_: drgn.Type, name: str) -> int | None:
    """Size in bytes of member ``name`` (found like :func:`member_offset`), or None."""
    real = strip_typedefs(type_)
    if real.kind not in AGGREGATES or not real.is_complete():
        return None
    for member in real.members:
        if member.name == name:
            return drgn.sizeof(member.type)
    for member in real.members:
        if member.name is None:
            inner = member_size(member.type, name)
            if inner is not None:
                return inner
    return None


def _member_type(type_: drgn.Type, name: str) -> drgn.Type | None:
    real = strip_typedefs(type_)
    if real.kind not in AGGREGATES or not real.is_complete():
        return None
    for member in real.members:
        if member.name == name:
            return member.type
    for member in real.members:
        if member.name is None:
            inner = _member_type(member.type, name)
            if inner is not None:
                return inner
    return None


def member_path_exists(type_: drgn.Type, path: str) -> bool:
    """Whether ``a.b[2].c`` names a member of ``type_`` (through anonymous members)."""
    current: drgn.Type | None = type_
    for part in path.split("."):
        name, bracket, _ = part.partition("[")
        if current is None or not name:
            return False
        current = _member_type(current, name)
        if current is None:
            return False
        if bracket:
            real = strip_typedefs(current)
            if real.kind != TypeKind.ARRAY:
                return False
            current = real.type
    return True
