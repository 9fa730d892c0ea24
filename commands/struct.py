"""``struct``, ``union`` and ``*``: structure definitions and contents, as crash shows them.

Without an address the definition is printed (gdb's ``ptype`` text and ``SIZE: N``; ``-o`` adds
crash's ``[offset]`` column).  With an address (or a symbol, a per-CPU ``:cpuspec``, a count)
the contents are printed the way crash's gdb prints them (``struct NAME {`` and one
``member = value`` per line), and ``struct NAME.a,b ADDR`` picks members out of that text
exactly as crash does (a scalar member keeps gdb's trailing comma).  With ``-f`` the address is
an offset in the dump file itself (crash reads it with ``stoll``: decimal when it can be), whose
raw bytes are printed as the structure.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.expr.numbers import cpus_of_spec, is_number, parse_count, parse_hex_address
from pycrash.format import kernel_space_start, value_printer
from pycrash.format.ctype import ptype
from pycrash.format.deref import Dereferencer
from pycrash.format.layout import OffsetState, offset_line, pick_member, pick_member_path
from pycrash.kernel.datatype import (
    Datatype,
    find_datatype,
    member_offset,
    member_path_exists,
    member_size,
)


@dataclass
class StructRequest:
    kind: str | None  # "struct", "union", or None for "*" (whatever the type is)
    datatype: Datatype
    members: list[str]
    address: int | None
    count: int
    cpus: list[int] | None


class _UnknownSymbol(Exception):
    """An address argument that is neither a number nor a symbol."""


def _symbol_address(ctx: CommandContext, word: str) -> int | None:
    try:
        return ctx.session.prog.symbol(word).address
    except (LookupError, ValueError):
        return ctx.session.symbol_address(word)


class _Datatype(Command):
    """Shared by struct, union and * (crash's cmd_datatype_common)."""

    kind: str | None = "struct"
    json = False
    highlight = "c"  # C text: the shell colours it on a terminal
    arguments = (
        Arg("-o", dest="offsets", action="store_true", help="show member offsets"),
        Arg("-l", dest="list_offset", metavar="OFFSET",
            help="address points to this member (struct.member or a byte count)"),
        Arg("-r", dest="raw", action="store_true", help="raw dump of the structure data"),
        Arg("-f", dest="fileaddr", action="store_true", help="address is a dumpfile offset"),
        Arg("-u", dest="user", action="store_true", help="address is a user virtual address"),
        Arg("-x", dest="hex", action="store_true", help="hexadecimal output"),
        Arg("-d", dest="dec", action="store_true", help="decimal output"),
        Arg("-p", dest="deref", action="store_true", help="dereference pointer members"),
        Arg("-c", dest="count", metavar="COUNT", help="number of structures"),
        Arg("spec", metavar="name[.member[,member]]", complete=Complete.MEMBER_PATH),
        Arg("rest", nargs="*", metavar="address|symbol[:cpuspec] [count]",
            complete=Complete.SYMBOL),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[str]:
        if args.hex and args.dec:
            raise CommandError("-d and -x are mutually exclusive")
        if args.fileaddr:
            for flag, option in ((args.offsets, "-o"), (args.raw, "-r"), (args.deref, "-p"),
                                 (args.user, "-u")):
                if flag:
                    raise CommandError(f"{option} option not supported with -f")
        radix = 16 if args.hex else 10 if args.dec else int(ctx.session.settings.get("radix", 10))
        try:
            request = self._request(ctx, args)
        except _UnknownSymbol as unknown:
            from pycrash.commands.rd import symbol_not_found

            return symbol_not_found(ctx, str(unknown))
        out: list[str] = []
        if request.address is None:
            self._declaration(ctx, request, radix, args.offsets, out)
        elif request.cpus is not None:
            offsets = ctx.session.prog["__per_cpu_offset"]
            for cpu in request.cpus:
                address = (request.address + int(offsets[cpu])) & (1 << 64) - 1
                out.append(f"[{cpu}]: {address:x}\n")
                self._contents(ctx, request, address, radix, args, out)
        else:
            self._contents(ctx, request, request.address, radix, args, out)
        return out

    def render(self, ctx: CommandContext, data: list[str]) -> None:
        ctx.out.write("".join(data))

    # -- arguments ---------------------------------------------------------------------------

    def _request(self, ctx: CommandContext, args: argparse.Namespace) -> StructRequest:
        spec = args.spec
        if spec.endswith(",") or spec.endswith("."):
            raise CommandError(f"invalid format: {spec}")
        name, _, member_text = spec.partition(".")
        members = [m for m in member_text.replace(",", " ").split()] if member_text else []
        count: int | None = parse_count(args.count) if args.count is not None else None
        address = None
        cpuspec = None
        for word in args.rest:
            if address is not None and count is not None:
                raise CommandError("too many arguments!")
            if address is None and ":" in word:
                word, cpuspec = word.split(":", 1)
                if args.fileaddr:
                    raise CommandError("-f option cannot be used with percpu")
            if is_number(word):
                if address is not None:
                    count = parse_count(word)
                    continue
                if args.fileaddr:
                    # crash reads the dumpfile offset with stoll: decimal if it can be
                    address = parse_count(word)
                    continue
                address = parse_hex_address(word)
                kernel_start = kernel_space_start(ctx.session)
                if cpuspec is None and not args.user and address < kernel_start:
                    raise CommandError(f"invalid kernel virtual address: {word}")
            elif args.fileaddr:
                raise CommandError(f"-f option requires a dumpfile offset: {word}")
            else:
                found = _symbol_address(ctx, word)
                if found is None:
                    raise _UnknownSymbol(word)
                address = found
        datatype = find_datatype(ctx.session.prog, name)
        if datatype is None:
            raise CommandError(f"invalid data structure reference: {name}")
        kind = "union" if datatype.is_union else "struct"
        if self.kind is not None and self.kind != kind:
            raise CommandError(f"data type mismatch: {name} is not a {self.kind}")
        if count is None:
            count = 1
        elif address is None:
            raise CommandError("no kernel virtual address argument entered")
        if args.deref and address is None:
            raise CommandError("-p option requires address argument")
        if args.list_offset is not None and address is not None:
            address -= self._list_offset(ctx, args.list_offset)
        if len(members) > 1 and address is not None and args.offsets:
            raise CommandError("-o option not valid with multiple member format")
        cpus = None
        if cpuspec is not None:
            current = ctx.session.context.cpu
            cpus = cpus_of_spec(cpuspec, _cpu_count(ctx), current)
        return StructRequest(kind, datatype, members, address, count, cpus)

    @staticmethod
    def _list_offset(ctx: CommandContext, text: str) -> int:
        if is_number(text):
            return parse_count(text)
        name, _, member = text.partition(".")
        datatype = find_datatype(ctx.session.prog, name)
        offset = member_offset(datatype.type, member) if datatype and member else None
        if offset is None:
            raise CommandError(f"invalid -l option: {text}")
        return offset

    # -- definitions -------------------------------------------------------------------------

    def _declaration(self, ctx: CommandContext, request: StructRequest, radix: int,
                     offsets: bool, out: list[str]) -> None:
        datatype = request.datatype
        members = request.members
        if len(members) > 1:
            out.append(
                f"{self.name}: -o option not valid with multiple member format\n" if offsets
                else f"{self.name}: multiple member format not supported in this syntax\n"
            )
            members = []
            offsets = True
        member = members[0] if members else None
        if member is not None and member_offset(datatype.type, member) is None:
            raise CommandError(
                f"invalid data structure reference: {datatype.name}.{member}"
            )
        out.extend(declaration_lines(datatype, radix, offsets or member is not None,
                                     member=member))

    # -- contents ----------------------------------------------------------------------------

    def _contents(self, ctx: CommandContext, request: StructRequest, address: int,
                  radix: int, args: argparse.Namespace, out: list[str]) -> None:
        datatype = request.datatype
        size = datatype.size
        count = request.count
        if count < 0 and not args.fileaddr:
            # (crash moves only the memory address back, not a dumpfile offset)
            address -= size * abs(count) - size
        for index in ctx.progress(range(abs(count)), self.name, abs(count)):
            if index:
                out.append("\n")
            here = address + index * size
            members = request.members or [None]
            if len(members) > 1 and args.raw:
                raise CommandError("only one structure member allowed with -r")
            for member in members:
                if member is not None and not _member_exists(datatype, member):
                    raise CommandError(
                        f"invalid data structure reference: {datatype.name}.{member}"
                    )
                if args.offsets:
                    out.extend(declaration_lines(datatype, radix, True, member=member,
                                                 vaddr=here))
                elif args.raw:
                    out.extend(_raw_lines(ctx, datatype, member, here))
                elif args.deref and member is None:
                    out.extend(_dereferenced(ctx, datatype, here, radix))
                else:
                    if args.deref and "." not in member and "[" not in member:
                        offset = member_offset(datatype.type, member)
                        shown = _dereferencer(ctx, datatype, radix).member(here, member,
                                                                           offset or 0)
                        if shown is not None:
                            out.extend(shown)
                            continue
                    lines = contents_lines(ctx, datatype, here, radix, user=args.user,
                                           fileaddr=args.fileaddr)
                    if member is None:
                        out.extend(lines)
                    elif "." in member or "[" in member:
                        picked = pick_member_path(lines, member)
                        if picked is None:
                            out.append(
                                f"{self.name}: invalid data structure member reference: "
                                f"{member}\n"
                            )
                        else:
                            out.extend(picked)
                    else:
                        out.extend(pick_member(lines, member))


def _cpu_count(ctx: CommandContext) -> int:
    return len(ctx.session.dump.cpus) or 1


def _member_exists(datatype: Datatype, member: str) -> bool:
    """crash's member_to_datatype check: the member path names a member."""
    return member_path_exists(datatype.type, member)


def declaration_lines(datatype: Datatype, radix: int, offsets: bool, *,
                      member: str | None = None, vaddr: int | None = None) -> list[str]:
    """crash's do_datatype_declaration: the definition, optionally with offsets, and SIZE."""
    text = ptype(datatype.type)
    lines = [line + "\n" for line in text.split("\n")]
    if datatype.is_typedef:
        # gdb's "ptype TYPEDEF" shows the anonymous struct; crash names it after the typedef.
        lines[-1] = lines[-1].rstrip("\n") + f" {datatype.name};\n"
        lines[0] = "typedef " + lines[0]
    size_text = f"0x{datatype.size:x}" if radix == 16 else str(datatype.size)
    state = OffsetState(size_text=size_text, hex=radix == 16, vaddr=vaddr, member=member)
    out = []
    for line in lines:
        if offsets and line[:1] in (" ", "\t"):
            shown = offset_line(line, state, lambda name: member_offset(datatype.type, name))
            if shown is not None:
                out.append(shown)
        else:
            out.append(line)
    if member is None:
        out.append(f"SIZE: {size_text}\n")
    return out


def contents_lines(ctx: CommandContext, datatype: Datatype, address: int,
                   radix: int, *, user: bool = False, fileaddr: bool = False) -> list[str]:
    """crash's print_struct/print_union: ``struct NAME {...}`` as gdb's ``output`` prints it.

    With ``user`` the address is a user virtual address of the current context; with
    ``fileaddr`` an offset in the dump file itself (crash then hands gdb address 0)."""
    printer = value_printer(ctx.session, radix=radix)
    if user:
        data = _read_user(ctx, address, datatype.size)
    elif fileaddr:
        data = _read_dumpfile(ctx, address, datatype.size)
        address = 0
    else:
        data = read_or_explain(ctx, address, datatype.size)
    keyword = "union" if datatype.is_union else "struct"
    text = f"{keyword} {datatype.name} " + printer.format(datatype.type, data, address)
    if not datatype.is_union:
        text += "\n"  # crash's print_union ends without a newline, print_struct with one
    return text.splitlines(keepends=True)


def read_or_explain(ctx: CommandContext, address: int, size: int,
                    kind: str = "gdb_readmem_callback") -> bytes:
    """Read target memory; a fault becomes crash's one-line readmem error."""
    import drgn

    from pycrash.core.errors import FaultError, NotMappedError

    try:
        return ctx.session.prog.read(address, size)
    except (drgn.FaultError, FaultError) as err:
        cause = err if isinstance(err, FaultError) else (err.__cause__ or err.__context__)
        where = getattr(err, "address", address)
        if isinstance(cause, NotMappedError):
            raise CommandError(
                f'invalid kernel virtual address: {where:x}  type: "{kind}"'
            ) from None
        raise CommandError(
            f'seek error: kernel virtual address: {where:x}  type: "{kind}"'
        ) from None


def _read_user(ctx: CommandContext, address: int, size: int) -> bytes:
    from pycrash.commands.rd import UserReadError, read_user

    try:
        return read_user(ctx, address, size, "gdb_readmem_callback")
    except UserReadError as err:
        raise CommandError(str(err)) from None


def _read_dumpfile(ctx: CommandContext, offset: int, size: int) -> bytes:
    from pycrash.commands.rd import DumpfileReadError, read_dumpfile

    try:
        return read_dumpfile(ctx, offset, size, "gdb_readmem_callback")
    except DumpfileReadError as err:
        raise CommandError(str(err)) from None


def _dereferencer(ctx: CommandContext, datatype: Datatype, radix: int) -> Dereferencer:
    from pycrash.commands.p import next_history_number

    printer = value_printer(ctx.session, radix=radix)
    return Dereferencer(
        ctx.session.prog,
        datatype.real,
        [line + "\n" for line in ptype(datatype.type).split("\n")],
        lambda type_, data, address: printer.format(type_, data, address),
        lambda: next_history_number(ctx.session),
    )


def _dereferenced(ctx: CommandContext, datatype: Datatype, address: int,
                  radix: int) -> list[str]:
    """crash's print_struct_with_dereference: top-level pointer members followed."""
    deref = _dereferencer(ctx, datatype, radix)
    out = []
    for line in contents_lines(ctx, datatype, address, radix):
        indent = len(line) - len(line.lstrip(" "))
        if indent != 2 or "{" in line or "}" in line or " =" not in line:
            out.append(line)
            continue
        name = line[2:].split(" =", 1)[0]
        offset = member_offset(datatype.type, name)
        shown = deref.member(address, name, offset) if offset is not None else None
        out.extend(shown if shown is not None else [line])
    return out


def _raw_lines(ctx: CommandContext, datatype: Datatype, member: str | None,
               address: int) -> list[str]:
    """crash's raw_data_dump of a structure or one member: 64-bit words with ASCII, or one
    8/16/32-bit unit for a member of that size."""
    from pycrash.commands.rd import dump_units

    length = datatype.size
    if member is not None:
        offset = member_offset(datatype.type, member)
        size = member_size(datatype.type, member)
        if "." in member or "[" in member:
            # crash finds no size for a nested member path
            raise CommandError("invalid count request: 0")
        if offset is None or size is None:
            raise CommandError(f"invalid data structure reference: {datatype.name}.{member}")
        address += offset
        length = size
    unit = length if length in (1, 2, 4) else 8
    return dump_units(ctx, address, (length + 7) // 8, unit)


@register
class Struct(_Datatype):
    name = "struct"
    kind = "struct"
    synopsis = ("struct_name[.member[,member]][-o][-l offset][-rfuxdp]\n"
                "         [address | symbol][:cpuspec] [count | -c count]")
    summary = "structure contents"
    description = (
        "Displays a structure definition, or the contents of a structure at an address.\n"
        "A member (struct.member) or a comma-separated member list limits the output."
    )


@register
class Union(_Datatype):
    name = "union"
    kind = "union"
    synopsis = ("union_name[.member[,member]] [-o][-l offset][-rfuxdp]\n"
                "         [address | symbol][:cpuspec] [count | -c count]")
    summary = "union contents"
    description = "Displays a union definition, or the contents of a union at an address."


@register
class Pointer(_Datatype):
    name = "*"
    kind = None
    synopsis = "(struct or union command arguments)"
    summary = "pointer-to"
    description = "struct or union, whichever the name is: *task_struct ADDR."
