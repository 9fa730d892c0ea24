"""``struct -p``: pointer members followed to what they point at, in crash's layout.

crash (``symbols.c:dereference_pointer``) finds a member's declaration in gdb's ``ptype`` text
(only members declared at the struct's top level), reads the pointer, and prints::

      struct list_head *next = 0xffff9dd2c01782b0
      -> {
           next = 0xffff9dd2c0178df0,
           prev = 0xffffffffa00108b0 <init_task+688>
         }

``char *`` members show the string, ``void *`` and function pointers the symbol they point
at, pointers to pointers the value they point at; a NULL or unreadable pointer says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import drgn
from drgn import TypeKind

__all__ = ["Dereferencer"]

_FGETS_MAX = 1499  # crash's BUFSIZE (1500) minus the terminating NUL


@dataclass
class _Declaration:
    text: str  # the declaration as ptype wrote it, without indentation and ";"
    kind: str  # "ptr", "ptrptr", "func", "typedef"


class Dereferencer:
    """Follows the pointer members of one struct type (crash's -p)."""

    def __init__(
        self,
        prog: drgn.Program,
        struct_type: drgn.Type,
        ptype_lines: list[str],
        format_value: Callable[[drgn.Type, bytes, int], str],
        next_history: Callable[[], int],
    ) -> None:
        self.prog = prog
        self.type = struct_type
        self.lines = ptype_lines
        self.format_value = format_value
        self.next_history = next_history

    def _declaration(self, member: str) -> _Declaration | None:
        for line in self.lines:
            if not line.startswith("    ") or line[4:5] == " ":
                continue
            body = line[4:].rstrip("\n")
            if f" *{member};" in line:
                return _Declaration(body[: body.index("*") + 1], "ptr")
            if f"**{member};" in line:
                return _Declaration(body[: body.index("**") + 2], "ptrptr")
            if f"(*{member})(" in line:
                return _Declaration(body.rstrip(";"), "func")
            if f" {member};" in line:
                word = body.split(" ", 1)[0]
                try:
                    kind = self.prog.type(word)
                except (LookupError, ValueError, SyntaxError):
                    continue
                while kind.kind == TypeKind.TYPEDEF:
                    kind = kind.type
                if kind.kind == TypeKind.POINTER:
                    return _Declaration(word, "typedef")
        return None

    def member(self, address: int, member: str, offset: int) -> list[str] | None:
        """The lines for one member, or None when crash would print it normally."""
        decl = self._declaration(member)
        if decl is None:
            return None
        try:
            target = int.from_bytes(self.prog.read(address + offset, 8), "little")
        except drgn.FaultError:
            return [f"cannot access {self._struct_name()}.{member} {address + offset:x}\n"]
        sym = self._exact_symbol(target)
        use_symbol = sym is not None and self._symbol_has_data(sym)
        if decl.kind == "func":
            where = f"<{sym}>" if sym else "(unknown)" if target else "NULL"
            return [f"  {decl.text} = 0x{target:x}\n", f"  -> {where}\n"]
        charptr = decl.kind == "ptr" and "char *" in decl.text
        voidptr = decl.kind == "ptr" and "void *" in decl.text
        if charptr:
            head = f"  {decl.text}{member} = 0x{target:x}\n  -> " + (f"<{sym}> " if sym else "")
            if not target:
                return [head + "NULL\n"]
            text = self._string(target)
            return [head + (f'"{text}"\n' if text is not None else "(not accessible)\n")]
        if voidptr and not use_symbol:
            head = f"  {decl.text}{member} = 0x{target:x}\n  -> "
            tail = f"<{sym}>" if sym else "NULL" if not target else "(unknown target type)"
            return [head + tail + "\n"]
        spacer = " " if decl.kind == "typedef" else ""
        if not target or not self._accessible(target):
            head = f"  {decl.text}{spacer}{member} = 0x{target:x}\n  -> "
            return [head + ("NULL\n" if not target else "(not accessible)\n")]
        if decl.kind == "ptrptr":
            head = f"  {decl.text}{member} = 0x{target:x}\n  -> " + (f"<{sym}> " if sym else "")
            try:
                value = int.from_bytes(self.prog.read(target, 8), "little")
            except drgn.FaultError:
                return [head + "\n"]
            return [head + f"{value:x}\n"]
        target_type = self._target_type(decl)
        base = decl.text if decl.kind == "typedef" else decl.text[: decl.text.index("*") - 1]
        if target_type is None:
            return [f"  {base} {'' if decl.kind == 'typedef' else '*'}{member} = 0x{target:x}\n"
                    f"  -> ({base}: no debuginfo data)\n"]
        try:
            data = self.prog.read(target, drgn.sizeof(target_type))
        except (drgn.FaultError, ValueError):
            return None
        text = self.format_value(target_type, data, target)
        self.next_history()
        out = [f"  {base} {'' if decl.kind == 'typedef' else '*'}{member} = 0x{target:x}\n  -> "]
        lines = text.split("\n")
        first = (f"<{sym}> " if sym else "")
        if (decl.kind == "typedef" or use_symbol) and "(" in lines[0] and ")" in lines[0]:
            out.append(first + "\n")
            return out
        out.append(first + lines[0] + "\n")
        for line in lines[1:]:
            # crash reads gdb's text with fgets(BUFSIZE): a long line comes in 1499-byte
            # pieces, and each piece gets the 5-space indentation.
            text = line + "\n"
            out.extend(f"     {text[i:i + _FGETS_MAX]}" for i in range(0, len(text), _FGETS_MAX))
        return out

    # -- helpers -----------------------------------------------------------------------------

    def _struct_name(self) -> str:
        return self.type.tag or "?"

    def _target_type(self, decl: _Declaration) -> drgn.Type | None:
        try:
            if decl.kind == "typedef":
                pointer = self.prog.type(decl.text)
                while pointer.kind == TypeKind.TYPEDEF:
                    pointer = pointer.type
                target = pointer.type
            else:
                target = self.prog.type(decl.text).type
        except (LookupError, ValueError, SyntaxError):
            return None
        real = target
        while real.kind == TypeKind.TYPEDEF:
            real = real.type
        if real.kind in (TypeKind.STRUCT, TypeKind.UNION) and not real.is_complete():
            return None
        if real.kind in (TypeKind.VOID, TypeKind.FUNCTION):
            return None
        return target

    def _exact_symbol(self, address: int) -> str | None:
        if not address:
            return None
        try:
            sym = self.prog.symbol(address)
        except LookupError:
            return None
        return sym.name if sym.address == address else None

    def _symbol_has_data(self, name: str) -> bool:
        try:
            kind = self.prog[name].type_
        except (KeyError, LookupError):
            return False
        while kind.kind == TypeKind.TYPEDEF:
            kind = kind.type
        return kind.kind in (TypeKind.ARRAY, TypeKind.UNION, TypeKind.STRUCT, TypeKind.INT,
                             TypeKind.POINTER)

    def _accessible(self, address: int) -> bool:
        try:
            self.prog.read(address, 8)
        except drgn.FaultError:
            return False
        return True

    def _string(self, address: int) -> str | None:
        data = b""
        while len(data) < 1499:
            try:
                chunk = self.prog.read(address + len(data), min(256, 1499 - len(data)))
            except drgn.FaultError:
                if not data:
                    return None
                break
            data += chunk
            if 0 in chunk:
                break
        return data.split(b"\0", 1)[0].decode("latin-1")
