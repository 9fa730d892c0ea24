"""C type names and declarations spelled the way gdb 10's ``ptype``/``whatis`` spell them.

crash hands type questions to its embedded gdb and prints gdb's text (after light editing, see
:mod:`pycrash.format.layout`).  gdb prints what the DWARF says: base types keep gcc's names
(``long unsigned int``, not drgn's canonical ``unsigned long``), anonymous structs and unions
are expanded in place, named ones are shown by name, and declarators wrap the name C's way
(``void (*func)(struct callback_head *)``, ``char comm[16]``).

``show`` follows gdb's convention: > 0 expands the body of the outermost named struct/union/
enum; <= 0 prints a named type by name and only expands anonymous ones; < 0 abbreviates even
anonymous bodies as ``{...}``.
"""

from __future__ import annotations

import drgn
from drgn import Qualifiers, TypeKind

__all__ = ["declaration", "gdb_base_name", "ptype", "type_name"]

# drgn canonicalizes C base type names; gcc (and so gdb) spells them this way in DWARF.
_GCC_NAMES = {
    "unsigned long": "long unsigned int",
    "long": "long int",
    "unsigned long long": "long long unsigned int",
    "long long": "long long int",
    "unsigned short": "short unsigned int",
    "short": "short int",
}

INDENT = 4  # gdb's ptype indents each nesting level by four spaces


def gdb_base_name(name: str) -> str:
    """gcc's DWARF spelling of a C base type name that drgn canonicalized."""
    return name


def _modifiers(qualifiers: Qualifiers) -> list[str]:
    words = []
    if qualifiers & Qualifiers.CONST:
        words.append("const")
    if qualifiers & Qualifiers.VOLATILE:
        words.append("volatile")
    if qualifiers & Qualifiers.RESTRICT:
        words.append("restrict")
    if qualifiers & Qualifiers.ATOMIC:
        words.append("_Atomic")
    return words


def _named(type_: drgn.Type) -> str | None:
    """gdb's TYPE_NAME: typedef name, base type name, or struct/union/enum tag."""
    kind = type_.kind
    if kind == TypeKind.TYPEDEF:
        return type_.name
    if kind in (TypeKind.INT, TypeKind.BOOL, TypeKind.FLOAT, TypeKind.VOID):
        return type_.name if kind != TypeKind.VOID else "void"
    if kind in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS, TypeKind.ENUM):
        return type_.tag
    return None


def _keyword(type_: drgn.Type) -> str:
    return {
        TypeKind.STRUCT: "struct",
        TypeKind.UNION: "union",
        TypeKind.CLASS: "class",
        TypeKind.ENUM: "enum",
    }[type_.kind]


def _base(type_: drgn.Type, show: int, level: int) -> str:
    """gdb's c_type_print_base: the leading part of a declaration."""
    mods = _modifiers(type_.qualifiers)
    prefix = "".join(m + " " for m in mods)
    name = _named(type_)
    kind = type_.kind
    if show <= 0 and name is not None:
        if kind in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS, TypeKind.ENUM):
            return f"{prefix}{_keyword(type_)} {name}"
        if kind in (TypeKind.INT, TypeKind.BOOL, TypeKind.FLOAT):
            return prefix + gdb_base_name(name)
        return prefix + name
    if kind == TypeKind.TYPEDEF:
        # ptype of a typedef (show > 0) describes what it stands for.
        target = type_.type
        if mods:
            target = target.qualified(target.qualifiers | type_.qualifiers)
        return _base(target, show, level)
    if kind in (TypeKind.POINTER, TypeKind.ARRAY, TypeKind.FUNCTION):
        return _base(type_.type, show, level)
    if kind in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS):
        return prefix + _struct_body(type_, show, level)
    if kind == TypeKind.ENUM:
        return prefix + _enum_body(type_, show)
    if kind == TypeKind.VOID:
        return prefix + "void"
    return prefix + gdb_base_name(name or "")


def _struct_body(type_: drgn.Type, show: int, level: int) -> str:
    text = _keyword(type_) + " "
    if type_.tag is not None:
        text += type_.tag
        if show > 0:
            text += " "
    if show < 0:
        return text + ("{...}" if type_.tag is None else "")
    if not (show > 0 or type_.tag is None):
        return text
    lines = [text + "{"]
    pad = " " * (level + INDENT)
    if not type_.is_complete():
        lines.append(pad + "<incomplete type>")
    elif not type_.members:
        lines.append(pad + "<no data fields>")
    for member in type_.members or ():
        # crash's gdb patch: anonymous members are expanded at the parent's depth.
        newshow = show - 1 if member.name else show
        decl = _declare(member.type, member.name or "", newshow, level + INDENT)
        if member.bit_field_size is not None:
            decl += f" : {member.bit_field_size}"
        lines.append(pad + decl + ";")
    lines.append(" " * level + "}")
    return "\n".join(lines)


def _enum_body(type_: drgn.Type, show: int) -> str:
    text = "enum "
    if type_.tag is not None:
        text += type_.tag
        if show > 0:
            text += " "
    if show < 0:
        return text + ("{...}" if type_.tag is None else "")
    if not (show > 0 or type_.tag is None):
        return text
    parts = []
    last = 0
    for enumerator in type_.enumerators or ():
        part = enumerator.name
        if enumerator.value != last:
            part += f" = {enumerator.value}"
            last = enumerator.value
        last += 1
        parts.append(part)
    return text + "{" + ", ".join(parts) + "}"


def _prefix(type_: drgn.Type, show: int, passed_a_ptr: bool, need_post_space: bool) -> str:
    """gdb's c_type_print_varspec_prefix: the ``*`` and ``(`` before the name."""
    if _named(type_) is not None and show <= 0:
        return ""
    kind = type_.kind
    if kind == TypeKind.POINTER:
        text = _prefix(type_.type, show, True, True) + "*"
        mods = _modifiers(type_.qualifiers)
        if mods:
            text += " " + " ".join(mods)
            if need_post_space:
                text += " "
        return text
    if kind in (TypeKind.FUNCTION, TypeKind.ARRAY):
        return _prefix(type_.type, show, False, need_post_space and kind == TypeKind.ARRAY) + (
            "(" if passed_a_ptr else ""
        )
    return ""


def _suffix(type_: drgn.Type, show: int, passed_a_ptr: bool) -> str:
    """gdb's c_type_print_varspec_suffix: array bounds, parameter lists, closing ``)``."""
    if _named(type_) is not None and show <= 0:
        return ""
    kind = type_.kind
    if kind == TypeKind.ARRAY:
        length = "" if type_.length is None else str(type_.length)
        return (")" if passed_a_ptr else "") + f"[{length}]" + _suffix(type_.type, show, False)
    if kind == TypeKind.POINTER:
        return _suffix(type_.type, show, True)
    if kind == TypeKind.FUNCTION:
        return (")" if passed_a_ptr else "") + _parameters(type_) + _suffix(
            type_.type, show, passed_a_ptr
        )
    return ""


def _parameters(type_: drgn.Type) -> str:
    params = [declaration(p.type, "", 0) for p in type_.parameters]
    if params and type_.is_variadic:
        params.append("...")
    if not params:
        return "()" if type_.is_variadic else "(void)"
    return "(" + ", ".join(params) + ")"


def _declare(type_: drgn.Type, varstring: str, show: int, level: int) -> str:
    """gdb's c_print_type: ``TYPE NAME`` with declarators, e.g. ``char *(*get)(int)``."""
    if show > 0:
        # gdb's check_typedef: a type shown in full is shown as what its typedefs stand for.
        qualifiers = type_.qualifiers
        while type_.kind == TypeKind.TYPEDEF:
            type_ = type_.type
            qualifiers |= type_.qualifiers
        if qualifiers != type_.qualifiers:
            type_ = type_.qualified(qualifiers)
    text = _base(type_, show, level)
    kind = type_.kind
    if varstring or (
        (show > 0 or _named(type_) is None)
        and kind in (TypeKind.POINTER, TypeKind.FUNCTION, TypeKind.ARRAY)
    ):
        text += " "
    text += _prefix(type_, show, False, bool(varstring))
    text += varstring
    text += _suffix(type_, show, False)
    return text


def declaration(type_: drgn.Type, name: str = "", show: int = 0, level: int = 0) -> str:
    """A declaration of ``name`` with ``type_`` as gdb writes it (``name`` may be empty)."""
    return _declare(type_, name, show, level)


def type_name(type_: drgn.Type) -> str:
    """gdb's ``whatis`` spelling of a type (named types by name, no body)."""
    return _declare(type_, "", 0, 0) if _named(type_) is not None else _declare(
        type_, "", -1, 0
    )


def ptype(type_: drgn.Type) -> str:
    """gdb's ``ptype`` text for a type, without the ``type = `` prefix (may be multi-line)."""
    return _declare(type_, "", 1, 0)
