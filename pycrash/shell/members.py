"""Member names of C types, and ``type.member.member`` paths, over drgn's type API.

Used by completion of ``struct task_struct.se.<TAB>`` (MEMBER_PATH) and of expressions such
as ``init_task.se.<TAB>`` / ``ptr->member`` (EXPRESSION).  Every function takes a
``drgn.Program`` that already has debuginfo loaded and never reads target memory: object
lookups by name give reference objects whose type is known without a read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import drgn

__all__ = [
    "complete_expression_members",
    "complete_member_path",
    "member_names",
    "resolve_type_name",
]

_IDENT = re.compile(r"[A-Za-z_]\w*\Z")
# "struct foo", "union foo", "enum foo" written out in full.
_TAGGED = re.compile(r"(struct|union|enum)\s+([A-Za-z_]\w*)\Z")


def resolve_type_name(prog: drgn.Program, name: str) -> drgn.Type | None:
    """The type ``name`` names as crash's ``struct``/``union`` commands read it.

    A bare name is tried as a struct tag, a union tag, then a typedef or base type
    (``task_struct``, ``pid_t``); ``struct foo`` is taken literally.
    """
    name = name.strip()
    tagged = _TAGGED.match(name)
    candidates = [name] if tagged else [f"struct {name}", f"union {name}", name]
    if not tagged and not _IDENT.match(name):
        return None
    for candidate in candidates:
        try:
            return prog.type(candidate)
        except (LookupError, ValueError, SyntaxError):
            continue
    return None


def _underlying(type_: drgn.Type, follow_pointers: bool) -> drgn.Type:
    """Strip typedefs, qualifiers and arrays (and pointers when following them)."""
    while True:
        type_ = type_.unqualified()
        kind = type_.kind
        if kind == drgn.TypeKind.TYPEDEF:
            type_ = type_.type
        elif kind == drgn.TypeKind.ARRAY:
            type_ = type_.type
        elif kind == drgn.TypeKind.POINTER and follow_pointers:
            type_ = type_.type
        else:
            return type_


def _has_members(type_: drgn.Type) -> bool:
    return type_.kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION, drgn.TypeKind.CLASS)


def _members(type_: drgn.Type) -> Iterator[drgn.TypeMember]:
    """Named members of a struct/union, those of anonymous struct/union members inlined
    (C lets ``task->pid`` reach into an anonymous union as if it were a direct member)."""
    if not _has_members(type_) or not type_.is_complete():
        return
    for member in type_.members or ():
        if member.name is not None:
            yield member
            continue
        try:
            inner = _underlying(member.type, follow_pointers=False)
        except drgn.FaultError:  # pragma: no cover - types never need memory
            continue
        yield from _members(inner)


def member_names(type_: drgn.Type, follow_pointers: bool = False) -> list[tuple[str, str]]:
    """``[(name, type name), ...]`` of the members of ``type_`` in declaration order."""
    type_ = _underlying(type_, follow_pointers)
    result = []
    for member in _members(type_):
        try:
            type_name = member.type.type_name()
        except (ValueError, LookupError):
            type_name = ""
        result.append((member.name, type_name))
    return result


def member_type(
    type_: drgn.Type, path: list[str], follow_pointers: bool = False
) -> drgn.Type | None:
    """The type reached by the member names in ``path`` from ``type_``; None if one is wrong.

    Array subscripts written in the path (``cpus[0]``) are ignored: they keep the element type.
    """
    for name in path:
        name = name.split("[", 1)[0]
        inner = _underlying(type_, follow_pointers)
        if not _has_members(inner):
            return None
        try:
            type_ = inner.member(name).type
        except (LookupError, ValueError):
            return None
    return type_


def _matching(type_: drgn.Type, partial: str, follow_pointers: bool) -> list[tuple[str, str]]:
    return [(n, t) for n, t in member_names(type_, follow_pointers) if n.startswith(partial)]


def complete_member_path(prog: drgn.Program, word: str) -> list[tuple[str, str]]:
    """Completions of a ``type.member[.member...]`` word: ``[(full word, member type)]``.

    ``task_struct.se.vr`` → ``task_struct.se.vruntime``.  crash's member lists are honoured:
    in ``task_struct.pid,co`` the part after the comma is again a member of ``task_struct``.
    A word without a dot completes nothing here (that is a type name).
    """
    if "." not in word:
        return []
    base_name, _, rest = word.partition(".")
    base = resolve_type_name(prog, base_name)
    if base is None:
        return []
    done_groups, _, current = rest.rpartition(",")
    prefix = word[: len(word) - len(current)]
    *path, partial = current.split(".")
    type_ = member_type(base, path)
    if type_ is None:
        return []
    head = prefix + "".join(p + "." for p in path)
    return [(head + name, type_name) for name, type_name in _matching(type_, partial, False)]


# The trailing C expression in a word: identifier, then members / subscripts.
_EXPRESSION_TAIL = re.compile(r"[A-Za-z_]\w*(?:(?:\.|->)\w*|\[[^\]]*\])*\Z")
_ACCESS = re.compile(r"(\.|->)")


def complete_expression_members(prog: drgn.Program, word: str) -> list[tuple[str, str]]:
    """Completions after ``.``/``->`` in an expression whose left side starts with a symbol.

    ``init_task.se.vr`` → ``init_task.se.vruntime``; ``&runqueues.cu`` works too (the text
    before the expression is kept).  Pointers are followed for both ``.`` and ``->``, as gdb
    and crash's ``p`` accept.
    """
    match = _EXPRESSION_TAIL.search(word)
    if match is None:
        return []
    expression = match.group(0)
    parts = _ACCESS.split(expression)
    if len(parts) < 3:
        return []  # no member access yet: that is a symbol, not a member
    symbol = parts[0].split("[", 1)[0]
    try:
        type_ = prog.object(symbol).type_
    except (LookupError, ValueError):
        return []
    names = parts[2::2]
    *path, partial = names
    type_ = member_type(type_, path, follow_pointers=True)
    if type_ is None:
        return []
    head = word[: len(word) - len(partial)]
    return [(head + name, tname) for name, tname in _matching(type_, partial, True)]
