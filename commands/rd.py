"""``rd``: display memory, in crash's layout (``memory.c:display_memory``).

Each line is the address right-aligned in 16 columns, ``:  ``, then 2/4/8/16 words of 64/32/16/
8 bits and, in hexadecimal mode, their ASCII rendering in a fixed column.  ``-s`` replaces
words that point into the kernel's symbol range by ``symbol+offset``, ``-S`` also names the slab
cache of slab addresses, ``-a`` prints printable characters up to the first non-printable one.

Kernel virtual and physical addresses given as numbers are read from the dump alone, without
DWARF; symbol names need the vmlinux symbol table (or VMCOREINFO's few), ``-s``/``-S``/``-u``
need the debuginfo.  ``-f`` reads the dump file itself at an offset, as stored (crash's
``FILEADDR``: of a split set, the last file given), through the core's ``read_file_offset``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.expr.numbers import parse_count, parse_hex_address
from pycrash.format import kernel_space_start
from pycrash.format.faults import readmem_error

ASCII_UNLIMITED = -1
# Per display size: entries per line, hex digits, and the column where ASCII starts
# (crash's ASCII_START_n with VADDR_PRLEN 16).
_LAYOUT = {8: (2, 16, 53), 4: (4, 8, 55), 2: (8, 4, 59), 1: (16, 2, 67)}
_DECIMAL = {8: "{:15d} ", 4: "{:12d} ", 2: "{:5d} ", 1: "{:3d} "}
_UDECIMAL = {8: "{:20d} ", 4: "{:12d} ", 2: "{:5d} ", 1: "{:3d} "}


@dataclass
class MemoryView:
    """What to display and how (the options of one ``rd`` command)."""

    address: int
    count: int
    size: int = 8  # bytes per unit; 0 for -a (ASCII)
    memtype: str = "KVADDR"  # KVADDR, UVADDR, PHYSADDR, FILEADDR (an offset in the dump file)
    radix: str = "hex"  # hex, dec, udec
    ascii_column: bool = True
    symbolic: bool = False
    slab: int = 0  # 1 for -S, 2 for -SS
    net_endian: bool = False


class _Reader:
    """Reads units of the view's address space through the core."""

    def __init__(self, ctx: CommandContext, memtype: str) -> None:
        self.ctx = ctx
        self.memtype = memtype
        self.root: int | None = None
        if memtype == "UVADDR":
            self.root = _user_root(ctx)

    def read(self, address: int, size: int, readtype: str) -> bytes:
        dump = self.ctx.session.dump
        if self.memtype == "FILEADDR":
            return read_dumpfile(self.ctx, address, size, readtype)
        try:
            if self.memtype == "PHYSADDR":
                return dump.read(address, size, physical=True)
            if self.memtype == "UVADDR":
                return self._read_user(address, size, readtype)
            return dump.read(address, size)
        except Exception as err:  # noqa: BLE001 - core faults become crash's message
            from pycrash.core.errors import FaultError

            if isinstance(err, FaultError) or isinstance(err.__cause__, FaultError):
                raise _Fault(readmem_error(err, address, self.memtype, readtype)) from None
            raise

    def _read_user(self, address: int, size: int, readtype: str) -> bytes:
        from pycrash.core.errors import FaultError

        try:
            return self.ctx.session.dump.read_user(address, size, self.root)
        except FaultError as err:
            # the core names the user address that failed
            raise _Fault(readmem_error(err, err.address, "UVADDR", readtype, exact=True)) from None


class _Fault(Exception):
    """A read failed: carries crash's message."""


UserReadError = _Fault
DumpfileReadError = _Fault


def read_dumpfile(ctx: CommandContext, offset: int, size: int, readtype: str) -> bytes:
    """Read the dump file itself at ``offset`` (crash's FILEADDR; raises DumpfileReadError
    with crash's message when the range runs past the end of the file)."""
    from pycrash.core.errors import FileOffsetError

    dump = ctx.session.dump
    if dump.format == "kcore":
        raise CommandError("-f option requires a dumpfile")
    try:
        return dump.read_file_offset(offset, size)
    except FileOffsetError:
        raise _Fault(f'read error: dumpfile address: {offset:x}  type: "{readtype}"') from None


def read_user(ctx: CommandContext, address: int, size: int, readtype: str) -> bytes:
    """Read a user virtual address range of the current context (raises UserReadError)."""
    return _Reader(ctx, "UVADDR").read(address, size, readtype)


def _user_root(ctx: CommandContext) -> int:
    """Physical address of the current task's page-table root (``mm->pgd``)."""
    from drgn import Object

    task = Object(ctx.session.prog, "struct task_struct *", ctx.session.context.task)
    mm = task.mm
    if not mm:
        raise CommandError(f"no user context: {ctx.session.context.comm} is a kernel thread")
    pgd = int(mm.pgd)
    return ctx.session.dump.translate(pgd).paddr


def _printable(byte: int) -> str:
    return chr(byte) if 0x20 <= byte < 0x7F else "."


def _symbol_text(ctx: CommandContext, value: int) -> str | None:
    """crash's value_to_symstr for a word, when it is in the kernel symbol range."""
    from pycrash.kernel.symbols import symbol_table

    return symbol_table(ctx.session).symstr(value)


def _slab_text(ctx: CommandContext, value: int, level: int) -> str | None:
    if value < kernel_space_start(ctx.session):
        return None
    try:
        from drgn.helpers.linux.slab import find_containing_slab_cache

        cache = find_containing_slab_cache(ctx.session.prog, value)
    except Exception:  # noqa: BLE001 - not a slab address, or unreadable
        return None
    if not cache:
        return None
    name = cache.name.string_().decode("utf-8", "replace")
    return f"[{value:x}:{name}]" if level > 1 else f"[{name}]"


def display(ctx: CommandContext, view: MemoryView, out: list[str]) -> None:
    """Append crash's rendering of ``view`` to ``out``; raises _Fault with what was shown."""
    reader = _Reader(ctx, view.memtype)
    if view.size == 0:
        _display_ascii(reader, view, out)
        return
    size = view.size
    per_line, digits, ascii_start = _LAYOUT[size]
    readtype = f"{size * 8}-bit {view.memtype}"
    address = view.address
    chars: list[str] = []
    linelen = 0
    lost = 0
    # a large count is a long walk: progress on a terminal, Ctrl-C between two reads
    for i in ctx.progress(range(view.count), "rd", view.count):
        try:
            data = reader.read(address, size, readtype)
        except _Fault as fault:
            if view.memtype != "FILEADDR":
                raise
            # crash's readmem of a dumpfile offset reports the failure (inline, as crash
            # prints it) and display_memory goes on with the next unit.
            out.append(f"rd: {fault}\n")
            lost += 1
            address += size
            continue
        value = int.from_bytes(data, "little")
        if (i - lost) % per_line == 0:
            if i - lost:
                if view.ascii_column:
                    out.append("  " + "".join(chars))
                out.append("\n")
            out.append(f"{address:16x}:  ")
            chars = []
            linelen = 19
        text = None
        if view.symbolic and size in (8, 4) and view.radix == "hex":
            text = _symbol_text(ctx, value)
            if text is None and view.slab:
                text = _slab_text(ctx, value, view.slab)
            if text is not None:
                out.append(f"{text:<16} " if size == 8 else f"{text:<8} ")
                linelen += len(text) + 1
        if text is None:
            if view.net_endian and size in (2, 4):
                # crash swaps the word in place: its ASCII column shows the swapped bytes.
                data = data[::-1]
                value = int.from_bytes(data, "little")
            if view.radix == "hex":
                out.append(f"{value:0{digits}x} ")
                linelen += digits + 1
            else:
                signed = view.radix == "dec" and size in (8, 4)
                if signed and value >> (size * 8 - 1):
                    value -= 1 << (size * 8)
                table = _DECIMAL if view.radix == "dec" else _UDECIMAL
                out.append(table[size].format(value))
        if view.radix == "hex":
            chars.extend(_printable(b) for b in data)
        address += size
    if view.ascii_column and chars:
        out.append(" " * max(ascii_start - linelen, 0) + "  " + "".join(chars))
    if lost != view.count:
        out.append("\n")


def _display_ascii(reader: _Reader, view: MemoryView, out: list[str]) -> None:
    address = view.address
    shown = 0
    column = 0
    count = view.count
    i = 0
    while count == ASCII_UNLIMITED or i < count:
        byte = reader.read(address, 1, "ascii")[0]
        if 0x20 <= byte < 0x7F:
            if column % 60 == 0:
                if shown and i:
                    out.append("\n")
                out.append(f"{address:16x}:  ")
            out.append(chr(byte))
            shown += 1
            column += 1
        else:
            if count == ASCII_UNLIMITED:
                return  # crash stops here without ending the line
            column = 0
        address += 1
        i += 1
    out.append("\n")


def symbol_not_found(ctx: CommandContext, word: str) -> list[str]:
    """crash's answer to an unknown symbol: the symbols whose names contain it."""
    lines = [f"symbol not found: {word}\n", "possible alternatives:\n"]
    try:
        from pycrash.commands.sym import symbol_line

        from pycrash.kernel.symbols import symbol_table

        table = symbol_table(ctx.session)
        found = [
            "  " + symbol_line(ctx, table, s, show_line=False,
                               show_module=s.module is not None).text + "\n"
            for s in table.query(word)
        ]
    except Exception:  # noqa: BLE001 - no symbol table: nothing to suggest
        found = []
    return lines + (found or ["  (none found)\n"])


def dump_units(ctx: CommandContext, address: int, count: int, size: int = 8, *,
               symbolic: bool = False) -> list[str]:
    """crash's raw_data_dump: ``count`` units of ``size`` bytes with the ASCII column
    (``struct -r``)."""
    out: list[str] = []
    view = MemoryView(address, count, size=size, ascii_column=not symbolic, symbolic=symbolic)
    try:
        display(ctx, view, out)
    except _Fault as fault:
        raise CommandError(str(fault)) from None
    return out


@register
class Rd(Command):
    name = "rd"
    summary = "read memory"
    synopsis = ("[-adDsSupxmfNR][-8|-16|-32|-64][-o offs][-e addr][-r file][address|symbol]\n"
                "     [count]")
    description = (
        "Displays the contents of memory, in hexadecimal with an ASCII rendering by default.\n"
        "The address is a kernel virtual address, a symbol, or with -p a physical address,\n"
        "with -u a user virtual address of the current context, with -f an offset in the\n"
        "dump file itself (its raw bytes: headers, compressed pages)."
    )
    needs_debuginfo = False
    json = False
    arguments = (
        Arg("-8", dest="bits8", action="store_true", help="8-bit values"),
        Arg("-16", dest="bits16", action="store_true", help="16-bit values"),
        Arg("-32", dest="bits32", action="store_true", help="32-bit values"),
        Arg("-64", dest="bits64", action="store_true", help="64-bit values (default)"),
        Arg("-a", dest="ascii", action="store_true", help="ASCII characters"),
        Arg("-p", dest="physical", action="store_true", help="physical address"),
        Arg("-u", dest="user", action="store_true", help="user virtual address"),
        Arg("-f", dest="fileaddr", action="store_true", help="dumpfile offset"),
        Arg("-s", dest="symbolic", action="store_true", help="show symbols for values"),
        Arg("-S", dest="slab", action="count", default=0,
            help="symbols and slab cache names (-SS: with the address)"),
        Arg("-N", dest="net", action="store_true", help="network byte order (16/32-bit)"),
        Arg("-R", dest="reverse", action="store_true", help="display memory in reverse"),
        Arg("-x", dest="no_ascii", action="store_true", help="no ASCII column"),
        Arg("-d", dest="dec", action="store_true", help="signed decimal"),
        Arg("-D", dest="udec", action="store_true", help="unsigned decimal"),
        Arg("-o", dest="offset", metavar="OFFSET", help="offset added to the address"),
        Arg("-e", dest="end", metavar="ADDRESS", help="display up to this address"),
        Arg("-r", dest="raw_file", metavar="FILE", help="copy raw memory to FILE"),
        Arg("address", metavar="address|symbol", complete=Complete.SYMBOL),
        Arg("count", nargs="?"),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[str]:
        view, raw_file = self._view(ctx, args)
        if view is None:
            return symbol_not_found(ctx, args.address)
        out: list[str] = []
        if raw_file is not None:
            return self._raw(ctx, view, raw_file)
        try:
            display(ctx, view, out)
        except _Fault as fault:
            # crash has printed the lines before the fault when it stops.
            ctx.out.write("".join(out))
            raise CommandError(str(fault)) from None
        return out

    def render(self, ctx: CommandContext, data: list[str]) -> None:
        ctx.out.write("".join(data))

    # -- arguments ---------------------------------------------------------------------------

    def _view(self, ctx: CommandContext, args: argparse.Namespace
              ) -> tuple[MemoryView | None, str | None]:
        size = 8
        for flag, width in (("bits8", 1), ("bits16", 2), ("bits32", 4), ("bits64", 8)):
            if getattr(args, flag):
                size = width
        if args.ascii:
            size = 0
        if args.raw_file is not None:
            size = -1
        symbolic = args.symbolic or args.slab > 0
        if symbolic and size != 8:
            raise CommandError("-s option is only allowed with 64-bit display")
        memtype = ("PHYSADDR" if args.physical else "UVADDR" if args.user
                   else "FILEADDR" if args.fileaddr else "KVADDR")
        if memtype == "FILEADDR" and ctx.session.dump.format == "kcore":
            raise CommandError("-f option requires a dumpfile")
        address = self._address(ctx, args.address)
        if address is None:
            if not ctx.session.has_debuginfo:
                raise CommandError(f"symbol not found: {args.address} (no vmlinux: only the "
                                   "symbols VMCOREINFO names are known)")
            return None, None
        if args.offset is not None:
            address += parse_count(args.offset)
        count = parse_count(args.count) if args.count is not None else None
        end = parse_hex_address(args.end) if args.end else None
        unit = size if size > 0 else 1
        if count is None:
            if end is not None:
                if end <= address:
                    raise CommandError(f"invalid ending address: {end:x}")
                count = max((end - address) // unit, 1)
            elif size == -1:
                raise CommandError("-r option requires either a count argument or the -e option")
            else:
                count = ASCII_UNLIMITED if size == 0 else 1
        elif end is not None:
            ctx.warn("ending address ignored when count is specified")
        if count == 0 or count < ASCII_UNLIMITED:
            raise CommandError(f"invalid count request: {count}")
        if memtype == "KVADDR" and address < kernel_space_start(ctx.session):
            memtype = "UVADDR"
        if args.reverse:
            count = count or 1
            if count > 1:
                address -= count * unit - unit
        radix = "dec" if args.dec else "udec" if args.udec else "hex"
        view = MemoryView(
            address=address & (1 << 64) - 1,
            count=count,
            size=max(size, 0),
            memtype=memtype,
            radix=radix,
            ascii_column=radix == "hex" and not symbolic and not args.no_ascii and size != 0,
            symbolic=symbolic,
            slab=args.slab,
            net_endian=args.net,
        )
        return view, args.raw_file

    @staticmethod
    def _address(ctx: CommandContext, text: str) -> int | None:
        if text.startswith("("):
            from pycrash.commands.eval import evaluate

            return evaluate(text, ctx.session.symbol_address)
        body = text[2:] if text[:2] in ("0x", "0X") else text
        if body and all(c in "0123456789abcdefABCDEF" for c in body):
            return parse_hex_address(text)
        address = ctx.session.symbol_address(text)
        if address is None and ctx.session.has_debuginfo:
            # crash's symbol_search also knows module symbols (kallsyms).
            from pycrash.kernel.symbols import symbol_table

            found = symbol_table(ctx.session).lookup(text)
            address = found[0].address if found else None
        return address

    @staticmethod
    def _raw(ctx: CommandContext, view: MemoryView, path: str) -> list[str]:
        reader = _Reader(ctx, view.memtype)
        try:
            handle = open(path, "wb")  # noqa: SIM115
        except OSError:
            raise CommandError(f"cannot open output file: {path}") from None
        with handle:
            chunks = range(0, view.count, 1500)
            for done in ctx.progress(chunks, "rd -r", len(chunks)):
                step = min(view.count - done, 1500)
                try:
                    handle.write(reader.read(view.address + done, step, "raw dump to file"))
                except _Fault as fault:
                    raise CommandError(str(fault)) from None
        return [f"{view.count} bytes copied from 0x{view.address:x} to {path}\n"]
