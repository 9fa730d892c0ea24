"""``sym``: translate a symbol to its address or an address to symbol+offset; list symbols.

Output follows crash's ``symbols.c:cmd_sym``/``show_symbol``: ``ADDRESS (TYPE) NAME[+0xOFF]``,
then `` [module]`` for module symbols and, for text addresses, the source file and line as gdb
reports them (the compile directory joined with the line table's file name).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from pycrash.commands.eval import is_hexadecimal, parse_hex

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.kernel.symbols import Symbol, SymbolTable, source_line, symbol_table


@dataclass
class SymLine:
    """One line of ``sym`` output: a symbol (with offset), a marker or a message."""

    text: str
    address: int | None = None
    type: str | None = None
    name: str | None = None
    offset: int = 0
    module: str | None = None
    source: str | None = None


@dataclass
class SymOutput:
    lines: list[SymLine] = field(default_factory=list)


def _is_text_address(ctx: CommandContext, table: SymbolTable, address: int) -> bool:
    """crash's ``is_kernel_text()``: inside a vmlinux code section or a module's text."""
    ms = table.module_of(address)
    if ms is not None:
        return ms.module.base <= address < ms.module.base + ms.module.text_size
    return any(start <= address < end for start, end in _text_ranges(ctx, table))


def _text_ranges(ctx: CommandContext, table: SymbolTable) -> list[tuple[int, int]]:
    ranges = getattr(table, "_text_ranges", None)
    if ranges is None:
        from pycrash.kernel.symbols import kernel_text_ranges

        ranges = kernel_text_ranges(ctx.session.vmlinux_path, ctx.session.dump.kaslr_offset or 0)
        table._text_ranges = ranges  # type: ignore[attr-defined]
    return ranges


def section_of(ctx: CommandContext, table: SymbolTable, address: int) -> str:
    """crash's ``get_section()`` for ``sym -s``.

    Kernel sections are matched by their link-time addresses, as crash does: with KASLR only
    the zero-based per-CPU section still matches.  A module without its object file loaded
    is "in NAME module".
    """
    ms = table.module_of(address)
    if ms is not None:
        if not ms.object_file:
            return f"in {ms.name} module"
        for name, base in reversed(list(ms.section_bases.items())):
            if base <= address < base + ms.section_sizes.get(name, 0):
                return name
        return ""
    sections = getattr(table, "_elf_sections", None)
    if sections is None:
        from pycrash.kernel.symbols import elf_sections

        sections = elf_sections(ctx.session.vmlinux_path)
        table._elf_sections = sections  # type: ignore[attr-defined]
    return next((name for name, start, size in sections if start <= address < start + size),
                "")


def symbol_line(ctx: CommandContext, table: SymbolTable, sym: Symbol, offset: int = 0, *,
                show_module: bool = True, show_line: bool = True,
                show_section: bool = False) -> SymLine:
    """crash's ``show_symbol()`` for one symbol; offsets follow the output radix (crash's
    ``SHOW_RADIX()``: ``+16`` in radix 10, ``+0x10`` in radix 16)."""
    address = sym.address + offset
    hex_offsets = ctx.session.settings.get("radix", 10) == 16
    if sym.pseudo and sym.name.startswith("_MODULE_START_"):
        text = f"{sym.address:x} ({sym.type}) ({sym.module} module)"
        if offset:
            text += f"+0x{offset:x}" if hex_offsets else f"+{offset}"
        return SymLine(text, address, sym.type, sym.name, offset, sym.module)
    if offset:
        shown = f"0x{offset:x}" if hex_offsets else f"{offset}"
        text = f"{address:x} ({sym.type}) {sym.name}+{shown}"
    else:
        text = f"{sym.address:x} ({sym.type}) {sym.name}"
    module = sym.module if show_module else None
    if module:
        text += f" [{module}]"
    source = None
    if show_section:
        return SymLine(f"{text} [{section_of(ctx, table, address)}]", address, sym.type,
                       sym.name, offset, sym.module)
    if show_line and _is_text_address(ctx, table, address):
        source = ""
        ms = table.module(sym.module) if sym.module else None
        if ms is None or ms.object_file:
            base = ms.section_bases.get(".text", ms.module.base) if ms else 0
            source = source_line(ctx.session, address, ms.object_file if ms else None, base)
        text += f" {source}"
    return SymLine(text, address, sym.type, sym.name, offset, sym.module, source or None)


def _listing(ctx: CommandContext, table: SymbolTable, module: str | None,
             kernel: bool) -> list[SymLine]:
    """``sym -l`` / ``-M`` / ``-m``: crash's ``symbol_dump()``."""
    lines = []
    if kernel:
        lines.extend(SymLine(f"{s.address:x} ({s.type}) {s.name}", s.address, s.type, s.name)
                     for s in table.kernel)
    for ms in table.modules:
        if module is not None and ms.name != module:
            continue
        for s in ms.symbols:
            if s.pseudo:
                start = s.name.startswith("_MODULE_START_")
                label = "MODULE START" if start else "MODULE END"
                lines.append(SymLine(f"{s.address:x} {label}: {ms.name}", s.address, None,
                                     label, 0, ms.name))
            else:
                lines.append(SymLine(f"{s.address:x} ({s.type}) {s.name}", s.address, s.type,
                                     s.name, 0, ms.name))
    return lines


def _query(ctx: CommandContext, table: SymbolTable, text: str, pad: str = "") -> list[SymLine]:
    """crash's ``symbol_query()``: every symbol containing ``text``, without line numbers."""
    found = []
    for s in table.query(text):
        line = symbol_line(ctx, table, s, show_line=False, show_module=s.module is not None)
        line.text = pad + line.text
        found.append(line)
    return found


def _translate_address(ctx: CommandContext, table: SymbolTable, word: str, prev: bool,
                       nxt: bool, section: bool = False) -> list[SymLine]:
    try:
        address = parse_hex(word)
    except CommandError:
        address = None
    if address is None or not table.in_ksymbol_range(address):
        raise CommandError(f"invalid address: {word}")
    found = table.value_search(address)
    if found is None:
        return [SymLine(f"symbol not found: {word}")]
    sym, offset = found
    return _with_neighbours(ctx, table, sym, offset, prev, nxt, section)


def _with_neighbours(ctx: CommandContext, table: SymbolTable, sym: Symbol, offset: int,
                     prev: bool, nxt: bool, section: bool = False) -> list[SymLine]:
    """The symbol's line, after its predecessor (-p) and before its successor (-n).

    As in crash, the `` [module]`` suffix shows on neighbours only when the target itself is
    a module symbol.
    """
    before, after = table.neighbours(sym)
    module = sym.module is not None
    lines = []
    if prev and before is not None:
        lines.append(symbol_line(ctx, table, before, show_module=module, show_section=section))
    lines.append(symbol_line(ctx, table, sym, offset, show_section=section))
    if nxt and after is not None:
        lines.append(symbol_line(ctx, table, after, show_module=module, show_section=section))
    return lines


def _translate_name(ctx: CommandContext, table: SymbolTable, word: str, prev: bool,
                    nxt: bool, section: bool = False) -> list[SymLine]:
    symbols = table.lookup(word)
    if not symbols:
        lines = [SymLine(f"symbol not found: {word}"), SymLine("possible alternatives:")]
        alternatives = _query(ctx, table, word, pad="  ")
        return lines + (alternatives or [SymLine("  (none found)")])
    lines = []
    for sym in symbols:
        lines.extend(_with_neighbours(ctx, table, sym, 0, prev, nxt, section))
    return lines


def _listing_of(option: str):  # noqa: ANN202 - an argparse type converter
    """Tags an option's value so that -l/-M/-m/-q land in one list in command-line order:
    crash runs them in the order its getopt loop reads them."""
    return lambda value: (option, value)


@register
class Sym(Command):
    name = "sym"
    summary = "translate a symbol to its virtual address, or vice-versa"
    description = (
        "Translates a symbol to its virtual address, or a static kernel virtual address to its\n"
        "symbol, or to symbol-plus-offset. The symbol type is shown in parentheses and, for\n"
        "text, the source file and line. Module symbols are followed by the module name in\n"
        "brackets. Offsets are shown in the output radix (set radix)."
    )
    arguments = (
        Arg("-l", "-L", dest="listings", action="append_const", const=("all", None),
            help="dump all symbols"),
        Arg("-M", dest="listings", action="append_const", const=("modules", None),
            help="dump all module symbols"),
        Arg("-m", dest="listings", action="append", type=_listing_of("module"),
            metavar="module", help="dump one module's symbols"),
        Arg("-p", dest="prev", action="store_true", help="also show the previous symbol"),
        Arg("-n", dest="next", action="store_true", help="also show the next symbol"),
        Arg("-s", dest="section", action="store_true",
            help="show the symbol's section instead of its source line"),
        Arg("-q", dest="listings", action="append", type=_listing_of("query"),
            metavar="string", help="symbols containing string"),
        Arg("target", nargs="*", complete=Complete.SYMBOL, help="symbol or address"),
    )
    needs_debuginfo = True

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> SymOutput:
        table = symbol_table(ctx.session)
        out = SymOutput()
        listings = getattr(args, "listings", None) or []
        for option, value in listings:
            if option == "query":
                found = _query(ctx, table, value)
                out.lines.extend(found or [SymLine("(none found)")])
            elif option == "module":
                out.lines.extend(_listing(ctx, table, value, kernel=False))
            elif option == "modules":
                out.lines.extend(_listing(ctx, table, None, kernel=False))
            else:  # -l
                out.lines.extend(_listing(ctx, table, None, kernel=True))
        if not args.target and not listings:
            raise CommandError("usage: sym [-l] | [-M] | [-m module] | [-p|-n] | [-q string] "
                               "| [symbol | vaddr]")
        for word in args.target:
            try:
                if not table.lookup(word) and is_hexadecimal(word):
                    out.lines.extend(_translate_address(ctx, table, word, args.prev,
                                                        args.next, args.section))
                else:
                    out.lines.extend(_translate_name(ctx, table, word, args.prev, args.next,
                                                     args.section))
            except CommandError as err:
                if len(args.target) == 1 and not out.lines:
                    raise
                # crash reports a bad one of several arguments in place and goes on.
                out.lines.append(SymLine(f"sym: {err}"))
        return out

    def render(self, ctx: CommandContext, data: SymOutput) -> None:
        for line in data.lines:
            ctx.out.write(line.text + "\n")

    def to_json(self, ctx: CommandContext, data: SymOutput) -> list[dict]:
        records = []
        for line in data.lines:
            if line.address is None:
                records.append({"message": line.text})
                continue
            records.append({"address": line.address, "type": line.type, "name": line.name,
                            "offset": line.offset, "module": line.module,
                            "source": line.source})
        return records
