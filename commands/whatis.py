"""``whatis``: the declaration of a symbol, or the definition and size of a type.

``whatis SYMBOL`` prints the symbol's declaration (``const char linux_banner[156];``),
``whatis TYPE`` the struct/union definition with ``SIZE:`` (``-o`` adds member offsets), a
typedef as ``typedef TYPE NAME;``, and any other expression gdb's ``whatis`` type name.
``whatis -r SIZE|LOW-HIGH`` and ``-m TYPE`` list the data types of that size, or with a member
of a type whose name contains TYPE, as a SIZE/TYPE table (:mod:`pycrash.kernel.typeindex`).
"""

from __future__ import annotations

import argparse

import drgn
from drgn import TypeKind
from pycrash.commands.p import variable_declaration
from pycrash.commands.struct import declaration_lines

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.expr.evaluate import EvalError, evaluate_text, variable
from pycrash.format.ctype import ptype, type_name
from pycrash.kernel.datatype import find_datatype, member_offset


def enumerator_lines(type_: drgn.Type, typedef: str | None = None) -> list[str]:
    """crash's dump_enumerator_list: one ``NAME = VALUE`` line per enumerator."""
    head = f"enum {type_.tag} {{" if type_.tag else "typedef enum {"
    lines = [head + "\n"]
    lines.extend(f"  {e.name} = {e.value}\n" for e in type_.enumerators or ())
    lines.append(f"}} {typedef};\n" if typedef else "};\n")
    return lines


@register
class Whatis(Command):
    name = "whatis"
    summary = "search symbol table for data or type information"
    synopsis = ("[[-o] [struct | union | typedef | symbol]] | \n"
                "         [[-r [size|range]] [-m member]]")
    description = (
        "Displays the definition of a structure, union, typedef or enum, or the\n"
        "declaration of a kernel symbol.  -o shows member offsets of structures.\n"
        "-r lists the data types of a size or size range (LOW-HIGH), -m those with a\n"
        "member whose type name contains a string (also in embedded structures, and\n"
        "through pointers); together, both conditions hold."
    )
    json = False
    highlight = "c"  # C text: the shell colours it on a terminal
    arguments = (
        Arg("-o", dest="offsets", action="store_true", help="show member offsets"),
        Arg("-m", dest="member_type", metavar="TYPE", help="structures with a member of TYPE"),
        Arg("-r", dest="size_range", metavar="SIZE[-SIZE]", help="structures of these sizes"),
        Arg("words", nargs=argparse.REMAINDER, complete=Complete.TYPE),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[str]:
        prog = ctx.session.prog
        if args.member_type is not None or args.size_range is not None:
            return self._search(ctx, args)
        words = list(args.words)
        if not words:
            raise CommandError("usage: whatis [-o] [struct | union | typedef | symbol]")
        radix = int(ctx.session.settings.get("radix", 10))
        keyword = None
        if words[0] in ("struct", "union", "enum"):
            keyword = words.pop(0)
            if not words:
                raise CommandError("usage: whatis [-o] [struct | union | typedef | symbol]")
        else:
            try:
                sym = prog.symbol(words[0])
            except (LookupError, ValueError):
                sym = None
            if sym is not None:
                try:
                    found = variable(prog, sym.name)
                except EvalError:
                    raise CommandError(f"gdb request failed: whatis {sym.name}") from None
                return [variable_declaration(found.type_, sym.name) + "\n"]
        name = words[0]
        if keyword is None and "." in name:
            head, _, member = name.partition(".")
            datatype = find_datatype(prog, head)
            if datatype is not None:
                if member_offset(datatype.type, member) is None:
                    raise CommandError(f"invalid data structure reference: {name}")
                return declaration_lines(datatype, radix, True, member=member)
        if keyword is None:
            constant = self._enumerator(prog, name)
            if constant is not None:
                return constant
        datatype = find_datatype(prog, f"{keyword} {name}" if keyword in ("struct", "union")
                                 else name)
        if datatype is not None:
            return declaration_lines(datatype, radix, args.offsets)
        if keyword != "struct" and keyword != "union":
            found = self._other_type(prog, name if keyword is None else f"enum {name}")
            if found is None and keyword is None:
                found = self._other_type(prog, f"enum {name}")
            if found is not None:
                return found
        expression = " ".join(words)
        try:
            value = evaluate_text(prog, expression)
        except EvalError:
            ctx.out.write(f"whatis: cannot resolve: {expression}\n")
            raise CommandError("usage: whatis [-o] [struct | union | typedef | symbol]"
                               ) from None
        return [type_name(value.type_) + "\n"]

    def render(self, ctx: CommandContext, data: list[str]) -> None:
        ctx.out.write("".join(data))

    @staticmethod
    def _other_type(prog, name: str) -> list[str] | None:
        """Typedefs of non-aggregates (``typedef TYPE NAME;`` + SIZE, crash's editing of
        gdb's ptype line) and enums (crash's enumerator list)."""
        try:
            type_ = prog.type(name)
        except (LookupError, ValueError, SyntaxError):
            return None
        if type_.kind == TypeKind.ENUM:
            return enumerator_lines(type_)
        if type_.kind != TypeKind.TYPEDEF:
            return [type_name(type_) + "\n"]
        real = type_
        while real.kind == TypeKind.TYPEDEF:
            real = real.type
        if real.kind == TypeKind.ENUM and real.tag is None:
            return enumerator_lines(real, typedef=type_.name)
        lines = []
        for i, line in enumerate(ptype(type_).split("\n")):
            if i == 0:
                multiline = "{" in line
                if "(*)()" in line:
                    lines.append("typedef " + line.replace("(*)()", f"(*{type_.name})();", 1))
                elif "()" in line:
                    lines.append("typedef " + line.replace("()", f"({type_.name})();", 1))
                elif multiline:
                    lines.append("typedef " + line)
                else:
                    lines.append(f"typedef {line} {type_.name};")
            elif line.startswith("}") and multiline:
                lines.append(f"{line} {type_.name};")
            else:
                lines.append(line)
        lines = [line + "\n" for line in lines]
        lines.append(f"SIZE: {drgn.sizeof(type_)}\n")
        return lines

    @staticmethod
    def _enumerator(prog, name: str) -> list[str] | None:
        """``whatis ENUMERATOR``: crash prints ``enum TAG = VALUE``."""
        try:
            constant = prog.constant(name)
        except (LookupError, ValueError):
            return None
        type_ = constant.type_
        if type_.kind != TypeKind.ENUM:
            return None
        tag = f" {type_.tag}" if type_.tag else ""
        return [f"enum{tag} = {constant.value_()}\n"]

    @staticmethod
    def _search(ctx: CommandContext, args: argparse.Namespace) -> list[str]:
        """crash's request_types: the data types in a size range and/or with a member whose
        type name contains a string, as a SIZE/TYPE table sorted by size, then name."""
        lowest = highest = 0
        if args.size_range is not None:
            low, dash, high = args.size_range[:15].partition("-")
            highest = lowest = _crash_stol(low)
            if dash:
                highest = _crash_stol(high)
        from pycrash.dwarf import DwarfError
        from pycrash.kernel.typeindex import matching_types

        try:
            found = matching_types(ctx.session, lowest, highest, args.member_type)
        except (DwarfError, OSError, LookupError) as exc:
            raise CommandError(str(exc)) from None
        if not found:
            return ["(none found)\n"]
        width = max(len(str(found[-1][0])), len("SIZE"))
        lines = [f"{'SIZE':>{width}}  TYPE\n"]
        lines.extend(f"{size:>{width}}  {name}\n" for size, name in found)
        return lines


def _crash_stol(text: str) -> int:
    """crash's ``stol``: decimal when the text is all digits, else hexadecimal (``0x``
    optional); anything else is crash's "not a valid number" error."""
    if text.isdigit() and text.isascii():
        return int(text)
    body = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        if body and all(c in "0123456789abcdefABCDEF" for c in body):
            return int(body, 16)
    except ValueError:
        pass
    raise CommandError(f"not a valid number: {text}")
