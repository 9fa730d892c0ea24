"""``list``: walk a linked list, as crash's ``list`` does, with pycrash's bounded walker.

The forms crash users type most::

    list -H pycrash_items                          # the list_head of each entry
    list pycrash_item.node -H pycrash_items        # the structure containing each entry
    list -o pycrash_item.node -H pycrash_items -s pycrash_item.id,name
    list task_struct.tasks -h ffff888003a3c000     # start at (and show) a structure

``-H`` starts at a list head, which is not shown; ``-h`` (and a start with no option) starts at
an entry, which is shown first; ``-r`` follows ``prev`` instead of ``next``.  The walk is
:func:`pycrash.kernel.lists.list_walk`: a loop, a bad pointer or an unreadable entry ends it
after the entries it could print, with crash's one-line message ("duplicate list entry").
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.expr.numbers import is_number, parse_count, parse_hex_address
from pycrash.kernel.lists import WalkStop, list_walk

# struct list_head { next; prev; } (include/linux/types.h)
LIST_PREV = 8


@dataclass
class _Memory:
    """read_u64 through the session's core, at ``delta`` from the address asked for (``-r``
    reads ``prev`` where the walker asks for ``next``)."""

    dump: object
    delta: int = 0

    def read_u64(self, address: int) -> int:
        return self.dump.read_u64(address + self.delta)  # type: ignore[attr-defined]


def offset_argument(ctx: CommandContext, text: str) -> tuple[int, str | None]:
    """(offset, struct name) of ``-o`` / the leading ``struct.member`` argument."""
    if is_number(text):
        return parse_count(text), None
    from pycrash.kernel.datatype import find_datatype, member_offset

    name, _, member = text.partition(".")
    datatype = find_datatype(ctx.session.prog, name) if member else None
    offset = member_offset(datatype.type, member) if datatype is not None else None
    if offset is None:
        raise CommandError(f"invalid argument: {text}")
    return offset, name


def address_argument(ctx: CommandContext, word: str) -> int:
    if is_number(word):
        return parse_hex_address(word)
    address = None
    try:
        address = ctx.session.prog.symbol(word).address
    except (LookupError, ValueError):
        address = ctx.session.symbol_address(word)
    except Exception:  # noqa: BLE001 - no debuginfo: the ELF symbol table only
        address = ctx.session.symbol_address(word)
    if address is None:
        raise CommandError(f"invalid argument: {word}")
    return address


@register
class List(Command):
    name = "list"
    summary = "linked list"
    synopsis = ("[[-o] offset][-e end][-s struct[.member[,member]]] [-r] [-h|-H] start")
    description = (
        "  Walks a linked list of list_head structures and prints the address of each entry:\n"
        "  with an offset (a number or struct.member) the address of the structure that\n"
        "  contains it.  -H start is a list head (not shown), -h start an entry (shown).\n"
        "  -s struct[.member,...] shows the structure (or the members) of each entry.\n"
        "  A loop or an unreadable entry ends the walk after what could be shown.\n"
    )
    json = False
    keep_quotes = False
    arguments = (
        Arg("-o", dest="offset", metavar="OFFSET", help="offset of the list_head in the struct"),
        Arg("-e", dest="end", metavar="END", help="stop at this address"),
        Arg("-s", dest="show", metavar="STRUCT", complete=Complete.MEMBER_PATH,
            help="show the structure (or members) of each entry"),
        Arg("-r", dest="reverse", action="store_true", help="follow prev pointers"),
        Arg("-H", dest="head", action="store_true", help="start is a list head (not shown)"),
        Arg("-h", dest="embedded", action="store_true", help="start is an entry (shown)"),
        Arg("-x", dest="hex", action="store_true", help="hexadecimal output"),
        Arg("-d", dest="dec", action="store_true", help="decimal output"),
        Arg("words", nargs="+", metavar="[offset] start", complete=Complete.SYMBOL),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[str]:
        words = list(args.words)
        offset, struct_name = 0, None
        if args.offset is not None:
            offset, struct_name = offset_argument(ctx, args.offset)
        if len(words) == 2:
            offset, struct_name = offset_argument(ctx, words.pop(0))
        elif len(words) > 2:
            raise CommandError("too many arguments")
        start = address_argument(ctx, words[0])
        end = address_argument(ctx, args.end) if args.end is not None else None
        radix = 16 if args.hex else 10 if args.dec else int(ctx.session.settings.get("radix", 10))
        show = entry_lines(ctx, args.show)

        prev = LIST_PREV if args.reverse else 0
        stops: list[WalkStop] = []
        if args.head or args.embedded:
            # list_head format: pointers point at the next entry's embedded list_head
            memory = _Memory(ctx.session.dump, prev)
            head = start if args.head else start + offset
            shown = [] if args.head else [head]
            walk = list_walk(memory, head, on_stop=stops.append)
        else:
            # plain start: a structure whose pointer at ``offset`` points at the next
            # structure itself; NULL or start again ends the list
            memory = _Memory(ctx.session.dump, offset + prev)
            shown = [start + offset]
            walk = list_walk(memory, start, on_stop=stops.append, null_ends=True)
            walk = (node + offset for node in walk)  # printed as node - offset below
        out: list[str] = []
        try:
            for node in ctx.progress(self._nodes(shown, walk, end), "list"):
                entry = node - offset
                out.append(f"{entry:x}\n")
                if show is not None:
                    out.extend(show(entry, radix))
        except CommandError:
            ctx.out.write("".join(out))
            raise
        if stops:
            ctx.out.write("".join(out))
            raise CommandError(self._stop_message(stops[0], offset))
        return out

    def render(self, ctx: CommandContext, data: list[str]) -> None:
        ctx.out.write("".join(data))

    @staticmethod
    def _nodes(shown: list[int], walk, end: int | None):  # noqa: ANN205
        for node in [*shown, *walk]:
            yield node
            if end is not None and node == end:
                return

    @staticmethod
    def _stop_message(stop: WalkStop, offset: int) -> str:
        if stop.kind == "loop":  # crash's hq_enter() failure
            return f"duplicate list entry: {stop.address - offset:x}"
        return stop.message()


def entry_lines(ctx: CommandContext, spec: str | None):  # noqa: ANN201
    """A function (entry address, radix) -> lines for ``-s``, or None."""
    if spec is None:
        return None
    from pycrash.commands.struct import contents_lines

    from pycrash.format.layout import pick_member, pick_member_path
    from pycrash.kernel.datatype import find_datatype, member_path_exists

    name, _, member_text = spec.partition(".")
    members = [m for m in member_text.split(",") if m] if member_text else []
    datatype = find_datatype(ctx.session.prog, name)
    if datatype is None:
        raise CommandError(f"invalid data structure reference: {name}")
    for member in members:
        if not member_path_exists(datatype.type, member):
            raise CommandError(f"invalid data structure reference: {name}.{member}")

    def lines(entry: int, radix: int) -> list[str]:
        text = contents_lines(ctx, datatype, entry, radix)
        if not members:
            return text
        out: list[str] = []
        for member in members:
            if "." in member or "[" in member:
                out.extend(pick_member_path(text, member) or [])
            else:
                out.extend(pick_member(text, member))
        return out

    return lines
