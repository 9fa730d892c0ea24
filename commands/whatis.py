"""``whatis``: the declaration of a symbol, or the definition and size of a type.

``whatis SYMBOL`` prints the symbol's declaration (``const char linux_banner[156];``),
``whatis TYPE`` the struct/union definition with ``SIZE:`` (``-o`` adds member offsets), a
typedef as ``typedef TYPE NAME;``, and any other expression gdb's ``whatis`` type name.
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
from pycrash.kernel.datatype import find_datatype


@register
class Whatis(Command):
    name = "whatis"
    summary = "search symbol table for data or type information"
    description = (
        "Displays the definition of a structure, union, typedef or enum, or the\n"
        "declaration of a kernel symbol.  -o shows member offsets of structures."
    )
    json = False
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
        datatype = find_datatype(prog, f"{keyword} {name}" if keyword in ("struct", "union")
                                 else name)
        if datatype is not None:
            return declaration_lines(datatype, radix, args.offsets)
        if keyword != "struct" and keyword != "union":
            found = self._other_type(prog, name if keyword is None else f"enum {name}")
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
        """Typedefs of non-aggregates and enums (crash: ``typedef TYPE NAME;`` + SIZE)."""
        try:
            type_ = prog.type(name)
        except (LookupError, ValueError, SyntaxError):
            return None
        size = drgn.sizeof(type_) if type_.kind != TypeKind.FUNCTION else None
        if type_.kind == TypeKind.TYPEDEF:
            text = ptype(type_)
            if "(*)" in text:
                line = text.replace("(*)", f"(*{type_.name})", 1) + ";"
            else:
                line = f"{text} {type_.name};"
            lines = [f"typedef {line}\n"]
        else:
            lines = [ptype(type_) + ";\n"] if type_.kind == TypeKind.ENUM else [
                type_name(type_) + "\n"
            ]
        if size is not None:
            lines.append(f"SIZE: {size}\n")
        return lines

    @staticmethod
    def _search(ctx: CommandContext, args: argparse.Namespace) -> list[str]:
        """crash's request_types: struct/union names by size range and/or member type."""
        raise CommandError("-m and -r are not supported yet")
