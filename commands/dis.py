"""``dis``: disassemble kernel text the way crash shows gdb's ``x/Ni`` output.

Follows crash's ``kernel.c:cmd_dis``: an address or symbol, then an optional count; a text
symbol with no count is disassembled to its end (gdb's function block, else the next
symbol); ``-r`` from the function's start up to the address, ``-f`` from the address to the
function's end; ``-l`` puts the source line before each instruction whose line changed.
Each line is ``0xADDRESS <symbol+offset>:<TAB>instruction``; call/jump targets and
%rip-relative operands get ``<symbol+offset>`` as crash's ``x86_64_dis_filter()`` adds it.
"""

from __future__ import annotations

import argparse
import weakref
from dataclasses import dataclass, field

from pycrash.commands.eval import evaluate, is_hexadecimal, parse_hex, symbol_lookup

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register

# crash's x86_64 kernel virtual address space starts here (IS_KVADDR)
_KERNEL_SPACE = 0xFFFF800000000000
# Refuse to decode more than this many bytes at once (a damaged symbol table)
_MAX_BYTES = 1 << 20


# "dis -b N" per session, as crash keeps kt->BUG_bytes for the rest of the session
_bug_bytes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _atoi(text: str) -> int:
    """C's atoi(): the leading decimal digits (0 when there are none)."""
    digits = ""
    for c in text.strip():
        if not (c.isdigit() or (not digits and c in "+-")):
            break
        digits += c
    try:
        return int(digits)
    except ValueError:
        return 0


def bug_bytes(ctx: CommandContext) -> int:
    """The bytes skipped after ud2: set by ``dis -b``, else what the kernel's types say."""
    from pycrash.kernel.disasm import default_bug_bytes

    session = ctx.session
    if session not in _bug_bytes:
        _bug_bytes[session] = default_bug_bytes(session.prog)
    return _bug_bytes[session]


# What an ftrace call site looks like once ftrace patched it out: crash's
# x86_64_dis_filter() marks it at a function's first instruction.
_FTRACE_NOPS = ("nopl   0x0(%rax,%rax,1)", "data32 data32 data32 xchg %ax,%ax")


@dataclass
class DisLine:
    """One instruction as ``dis`` prints it, with the source line printed before it."""

    address: int
    symbol: str | None  # "schedule+21"
    instruction: str  # gdb's text with the target's <symbol> appended
    source: str | None = None  # "FILE: LINE" when -l shows a new line here
    user: bool = False  # gdb's own x/i line (dis -u): "   0xADDRESS:<TAB>..."

    @property
    def text(self) -> str:
        if self.user:
            return f"   0x{self.address:x}:\t{self.instruction}"
        where = f"0x{self.address:x} <{self.symbol}>" if self.symbol else f"0x{self.address:x}"
        return f"{where}:\t{self.instruction}"


@dataclass
class DisOutput:
    lines: list[DisLine] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # crash's text for a missing symbol


def _symstr(table, address: int, radix: int) -> str | None:  # noqa: ANN001 - SymbolTable
    """crash's ``value_to_symstr()`` in the output radix."""
    found = table.value_search(address)
    if found is None:
        return None
    sym, offset = found
    # gdb knows no compiler-local labels (".LC0") and crash's markers are not symbols
    if sym.pseudo or sym.name.startswith("."):
        return None
    if not offset:
        return sym.name
    return f"{sym.name}+0x{offset:x}" if radix == 16 else f"{sym.name}+{offset}"


def _source(ctx: CommandContext, table, address: int) -> str:  # noqa: ANN001 - SymbolTable
    """gdb's "FILE: LINE" for a text address ("" without line information)."""
    from pycrash.kernel.symbols import source_line

    ms = table.module_of(address)
    if ms is not None:
        if not ms.object_file:
            return ""
        from pycrash.kernel.module_lines import module_source_line

        return module_source_line(ms.object_file, address, ms.section_bases)
    return source_line(ctx.session, address)


def _function_end(ctx: CommandContext, table, start: int) -> int:  # noqa: ANN001
    """Where the function at ``start`` ends: its symbol size (gdb's block), else the next
    symbol (crash's ``next_symbol()``)."""
    try:
        sym = ctx.session.prog.symbol(start)
        if sym.size and sym.address <= start < sym.address + sym.size:
            return sym.address + sym.size
    except (LookupError, ValueError):
        pass
    found = table.value_search(start)
    if found is not None:
        following = table.neighbours(found[0])[1]
        if following is not None and following.address > start:
            return following.address
    raise CommandError(f"unable to determine symbol after 0x{start:x}")


def _is_symbol_text(ctx: CommandContext, sym) -> bool:  # noqa: ANN001 - Symbol
    """crash's ``is_symbol_text()``: t/T, or a weak symbol inside _stext.._etext."""
    if sym.type in ("t", "T"):
        return True
    if sym.type in ("w", "W"):
        stext = ctx.session.symbol_address("_stext")
        etext = ctx.session.symbol_address("_etext")
        return bool(stext and etext and stext <= sym.address < etext)
    return False


def _duplicates(ctx: CommandContext, table, word: str, texts: list) -> list[str]:  # noqa: ANN001
    """crash's answer to a name several text symbols have: each of them, with its line."""
    from pycrash.commands.sym import symbol_line

    lines = [f"dis: {word}: duplicate text symbols found:\n"]
    for sym in texts:
        lines.append(symbol_line(ctx, table, sym, show_module=sym.module is not None).text
                     + "\n")
    return lines


def _resolve(ctx: CommandContext, table, word: str) -> tuple[int, bool, list[str]]:  # noqa: ANN001
    """The start address and whether it is a text symbol's start (crash's
    GNU_FUNCTION_ONLY); or crash's "symbol not found" text."""
    if any(c in word for c in "+-*/%&|^<>()") and not word.startswith("-"):
        address = evaluate(word, symbol_lookup(ctx))
        return address, False, []
    symbols = table.lookup(word)
    if is_hexadecimal(word) and not symbols:
        address = parse_hex(word)
        found = table.value_search(address)
        if found is None:
            raise CommandError(f"{address:x}: no associated kernel symbol found")
        sym, offset = found
        return address, not offset and _is_symbol_text(ctx, sym), []
    if symbols:
        texts = [s for s in symbols if _is_symbol_text(ctx, s)]
        if len(texts) > 1:
            return 0, False, _duplicates(ctx, table, word, texts)
        sym = texts[0] if texts else symbols[0]
        return sym.address, bool(texts), []
    from pycrash.commands.rd import symbol_not_found

    return 0, False, symbol_not_found(ctx, word)


def _read_text(ctx: CommandContext, address: int, size: int) -> bytes:
    """The text bytes, up to the first unreadable page (gdb decodes what it could read);
    nothing readable is crash's read error."""
    from pycrash.core.errors import FaultError
    from pycrash.format.faults import readmem_error

    try:
        return ctx.session.dump.read(address, size)
    except FaultError as err:
        first_error = err
    code = b""
    page = 4096
    while len(code) < size:
        chunk = min(size - len(code), page - (address + len(code)) % page)
        try:
            code += ctx.session.dump.read(address + len(code), chunk)
        except FaultError:
            break
    if not code:
        raise CommandError(readmem_error(first_error, address, "KVADDR", "gdb_readmem_callback",
                                         exact=True)) from None
    return code


def _count(word: str | None) -> int | None:
    """crash's ``stol()`` of the count argument (decimal, or hex with 0x or hex digits)."""
    if word is None:
        return None
    try:
        count = int(word, 0) if not is_hexadecimal(word) else int(word)
    except ValueError:
        count = parse_hex(word)
    if count == 0:
        raise CommandError("invalid count argument: 0")
    return count


def _user_disassembly(ctx: CommandContext, args: argparse.Namespace) -> DisOutput:
    """``dis -u``: gdb's ``x/Ni`` of a user address in the current context (no symbols;
    -r, -f and -l do not apply)."""
    from pycrash.commands.rd import UserReadError, read_user

    from pycrash.kernel.disasm import disassemble

    word = args.address
    address = parse_hex(word) if is_hexadecimal(word) else evaluate(word, symbol_lookup(ctx))
    count = _count(args.count) or 1
    size = 16 * count
    # gdb reads an instruction's bytes as it decodes: stop at the first unreadable page
    page_end = (address | 0xFFF) + 1
    try:
        code = read_user(ctx, address, size, "gdb_readmem_callback")
    except UserReadError:
        try:
            code = read_user(ctx, address, min(size, page_end - address),
                             "gdb_readmem_callback")
        except UserReadError as err:
            raise CommandError(str(err)) from None
    output = DisOutput()
    for insn in disassemble(code, address, count):
        output.lines.append(DisLine(insn.address, None, insn.text, user=True))
    return output


def disassembly(ctx: CommandContext, args: argparse.Namespace) -> DisOutput:
    """Gather the lines ``dis`` prints for parsed ``args``."""
    from pycrash.kernel.disasm import disassemble
    from pycrash.kernel.symbols import symbol_table

    for option, what in (("source", "-s"), ("unfiltered", "-U")):
        if getattr(args, option):
            raise CommandError(f"option {what} is not supported")
    if args.decimal and args.hex:
        raise CommandError("-d and -x are mutually exclusive")
    if args.reverse and args.forward:
        raise CommandError("-r and -f are mutually exclusive")
    if args.bug_bytes is not None:
        if args.address is None and args.bug_bytes == "":
            return DisOutput(messages=[
                f"encoded bytes being skipped after ud2a: {bug_bytes(ctx)}\n"])
        _bug_bytes[ctx.session] = _atoi(args.bug_bytes)
        if args.address is None:
            return DisOutput()
    if args.address is None:
        raise CommandError("an address, symbol or expression is required")
    if args.user:
        return _user_disassembly(ctx, args)
    radix = 10 if args.decimal else 16 if args.hex else ctx.session.settings.get("radix", 10)
    table = symbol_table(ctx.session)
    start, function_only, messages = _resolve(ctx, table, args.address)
    if messages:
        return DisOutput(messages=messages)
    forward, reverse = args.forward, args.reverse
    count = _count(args.count)
    if count is not None:
        forward = False
        function_only = False
    if start < _KERNEL_SPACE:
        raise CommandError(f"{start:x} is not a kernel virtual address")

    target = start
    end = None
    if reverse or forward or function_only:
        found = table.value_search(start)
        function = found[0].address if found else start
        end = _function_end(ctx, table, function)
        if reverse or forward:
            start = function
    if reverse:
        size = target - start + 16
    elif count is not None:
        size = 16 * count
    elif end is not None:
        size = end - start
    else:
        size, count = 16, 1
    code = _read_text(ctx, start, min(max(size, 1), _MAX_BYTES))
    insns = disassemble(code, start, None if (reverse or end is not None) else (count or 1),
                        bug_bytes(ctx))

    if reverse:
        upto = [i for i in insns if i.address <= target]
        if count is not None:
            upto = upto[-count:]
        insns = upto
    else:
        if forward:
            insns = [i for i in insns if i.address >= target]
        if count is None and end is not None:
            insns = [i for i in insns if i.address < end]
        elif count is not None:
            insns = insns[:count]

    output = DisOutput()
    previous = ""
    exact = {i.address for i in insns if (found := table.value_search(i.address)) and not found[1]}
    for insn in insns:
        text = insn.text
        if (insn.address in exact and insn.text in _FTRACE_NOPS):
            text += " [FTRACE NOP]"
        if insn.target is not None:
            name = _symstr(table, insn.target, radix)
            if name:
                text += f" <{name}>"
        line = DisLine(insn.address, _symstr(table, insn.address, radix), text)
        if args.lines:
            source = _source(ctx, table, insn.address)
            if source != previous:
                line.source = source
                previous = source
        output.lines.append(line)
    return output


@register
class Dis(Command):
    name = "dis"
    summary = "disassemble"
    description = (
        "Disassembles memory, either entire kernel functions, from a location for a given\n"
        "number of instructions, or from the start of a function up to a location."
    )
    arguments = (
        Arg("-r", dest="reverse", action="store_true",
            help="from the start of the function up to the address"),
        Arg("-f", dest="forward", action="store_true",
            help="from the address to the end of the function"),
        Arg("-l", dest="lines", action="store_true", help="show source code line numbers"),
        Arg("-d", dest="decimal", action="store_true", help="symbol offsets in decimal"),
        Arg("-x", "-h", dest="hex", action="store_true", help="symbol offsets in hexadecimal"),
        Arg("-u", dest="user", action="store_true",
            help="the address is a user virtual address of the current context"),
        Arg("-s", dest="source", action="store_true", help="source code listing (unsupported)"),
        Arg("-U", dest="unfiltered", action="store_true",
            help="gdb's raw output (unsupported)"),
        Arg("-b", "-B", dest="bug_bytes", nargs="?", const="", metavar="num",
            help="bytes to skip after a BUG's ud2; alone, show the number"),
        Arg("address", nargs="?", complete=Complete.SYMBOL,
            help="address, symbol or expression"),
        Arg("count", nargs="?", help="number of instructions"),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> DisOutput:
        return disassembly(ctx, args)

    def render(self, ctx: CommandContext, data: DisOutput) -> None:
        out = ctx.out
        for message in data.messages:
            out.write(message)
        for line in data.lines:
            if line.source:
                out.write(f"{line.source}\n")
            out.write(f"{line.text}\n")

    def to_json(self, ctx: CommandContext, data: DisOutput) -> object:
        if data.messages and data.messages[0].startswith("encoded bytes"):
            return {"bug_bytes": bug_bytes(ctx)}
        if data.messages:
            raise CommandError(data.messages[0].strip())
        return [
            {"address": line.address, "symbol": line.symbol, "instruction": line.instruction,
             "source": line.source}
            for line in data.lines
        ]
