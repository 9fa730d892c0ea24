"""``search``: search memory for values, as crash 8.0.6 does it (memory.c ``cmd_search``,
``search_virtual``, ``search_physical``, ``search_ulong``/``uint``/``ushort``)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pycrash.api import Arg, Command, CommandContext, CommandError, register
from pycrash.kernel.memsearch import (
    STACK,
    START,
    UNITY,
    CharSearch,
    KvRange,
    Target,
    find_words,
    kvaddr_ranges,
    node_ranges,
    physical_blocks,
    range_pages,
    thread_size,
    user_pages,
    user_start,
    vmalloc_areas,
)

_MODES = {"ulong": 8, "uint": 4, "ushort": 2}
_OPERATOR = re.compile(r"[><+\-&|*/%^]")


@dataclasses.dataclass
class Match:
    address: int
    value: int | None  # None for a string match (-c): ``label`` is the text shown
    label: str
    task: Any = None  # TaskInfo whose kernel stack holds the match (-t/-T)
    before: str = ""  # -x: the context items before and after, as rd shows them
    after: str = ""


@register
class Search(Command):
    name = "search"
    summary = "search memory"
    synopsis = ("[-s start] [ -[kKV] | -u | -p | -t | -T ] [-e end | -l length] [-m mask]\n"
                "         [-x count] -[cwh] [value | (expression) | symbol | string] ...")
    description = """\
  This command searches for a given value within a range of kernel virtual
  or physical memory space.  If no end nor length value is entered, then the
  search stops at the end of kernel virtual or physical address space.

    -s start  Start the search at this hexadecimal kernel virtual address,
              physical address, or kernel symbol.
          -k  Search kernel virtual memory (the default).
          -K  Same as -k, except that vmalloc'ed memory, module memory and the
              virtual mem_map are not searched.
          -V  Same as -k, except that unity-mapped memory and the kernel
              text/static data are not searched.
          -p  Search physical memory.
      -e end  Stop the search at this hexadecimal address or kernel symbol.
   -l length  Length in bytes of address range to search.
     -m mask  Ignore the bits that are set in the hexadecimal mask value.
          -w  Search for unsigned hexadecimal ints instead of unsigned longs.
          -h  Search for unsigned hexadecimal shorts instead of unsigned longs.
       value  Search for this hexadecimal long, unless modified by -w or -h.
(expression)  Search for the value of this expression.
      symbol  Search for this symbol value.

          -t  Search only the kernel stack pages of every task, each group of
              matches preceded by a task-identifying header.
          -T  Same as -t, except only the active task(s) are considered.

    -x count  Display the memory contents before and after any found value:
              "count" items of the size of the value on each side.

          -c  Search for character string values instead of unsigned longs.
          -u  Search the current context's user virtual address space.
  --json prints one record per match.
"""
    arguments = (
        Arg("-s", dest="start", metavar="start", help="start address or symbol"),
        Arg("-e", dest="end", metavar="end", help="end address or symbol"),
        Arg("-l", dest="length", metavar="length", help="length in bytes"),
        Arg("-m", dest="mask", metavar="mask", help="bits to ignore"),
        Arg("-k", dest="kernel", action="store_true", help="kernel virtual memory"),
        Arg("-K", dest="kernel_unity", action="store_true", help="unity map and text only"),
        Arg("-V", dest="kernel_vmalloc", action="store_true", help="vmalloc/vmemmap only"),
        Arg("-p", dest="physical", action="store_true", help="physical memory"),
        Arg("-u", dest="user", action="store_true", help="user virtual memory"),
        Arg("-t", dest="stacks", action="store_true", help="kernel stacks"),
        Arg("-T", dest="active_stacks", action="store_true", help="active tasks' stacks"),
        Arg("-x", dest="context", metavar="count", help="context items"),
        Arg("-c", dest="chars", action="store_true", help="character strings"),
        Arg("-w", dest="uint", action="store_true", help="unsigned ints"),
        Arg("-h", dest="ushort", action="store_true", help="unsigned shorts"),
        Arg("value", nargs="*", help="values to find"),
    )

    def run(self, ctx: CommandContext, args: Any) -> list[Match]:
        matches = self._search(ctx, args)
        count = _count(args.context) if args.context else 0
        if count:
            width = 2 if args.ushort else 4 if args.uint else 8
            memtype = "PHYSADDR" if args.physical else "UVADDR" if args.user else "KVADDR"
            for match in matches:
                match.before = _context(ctx, match.address - count * width, count, width,
                                        memtype)
                match.after = _context(ctx, match.address + width, count, width, memtype)
        return matches

    def _search(self, ctx: CommandContext, args: Any) -> list[Match]:
        usage = f"Usage: search {self.synopsis}"
        stacks = args.stacks or args.active_stacks
        if args.stacks and args.active_stacks:
            raise CommandError("-t and -T options are mutually exclusive")
        if stacks and (args.start or args.end or args.length or args.physical or args.kernel
                       or args.kernel_unity or args.kernel_vmalloc):
            raise CommandError(f"-{'t' if args.stacks else 'T'} option cannot be used with "
                               "other memory-selection options")
        if not args.value or (args.length and args.end):
            raise CommandError(usage)
        session = ctx.session
        mode = "ushort" if args.ushort else "uint" if args.uint else "ulong"
        width = _MODES[mode]
        if args.ushort and args.uint:
            ctx.warn('overriding previously set search mode with "h"')
        mask = _hex(args.mask) if args.mask else 0
        if args.chars:
            if args.context:
                raise CommandError("-x option is not allowed with -c")
            if mask:
                ctx.warn("mask ignored on string search")
                mask = 0
            strings = [word.encode("latin-1") for word in args.value if word]
            if not strings:
                raise CommandError(usage)
            targets = []
        else:
            targets = [_target(session, word, mask) for word in args.value]
        for target in targets:
            if target.value >> (8 * width):
                option = "-w" if width == 4 else "-h"
                raise CommandError(f"value too large for {option} option: "
                                   f"{target.value:x} {target.label}")
        start = _address(session, args.start) if args.start else None
        end = _address(session, args.end) if args.end else None
        if end == 0:
            raise CommandError("invalid ending address: 0")
        length = _count(args.length) if args.length else None
        if start is not None and start & 7:
            start &= ~7
            ctx.warn(f"rounding down start address to: {start:x}")
        context = _count(args.context) if args.context else 0
        if context > session.dump.page_size // width:
            raise CommandError(f"context value {context} is too large: maximum is "
                               f"{session.dump.page_size // width}")
        matches: list[Match] = []

        chars = CharSearch(strings) if args.chars else None

        def scan(pages: Any, task: Any = None) -> None:
            for block, lo, hi in ctx.progress(pages, "search"):
                if chars is not None:
                    matches.extend(Match(address, None, text, task)
                                   for address, text in chars.page(block, lo, hi))
                    continue
                for address, value, index in find_words(block, lo, hi, width, targets, mask):
                    matches.append(Match(address, value, targets[index].label, task))

        if stacks:
            from pycrash.kernel.tasks import task_table

            size = thread_size(session.prog)
            nodes = node_ranges(session)
            for task in ctx.progress(list(task_table(session)), "stacks"):
                if args.active_stacks and not task.active:
                    continue
                stack = KvRange(STACK, task.stack, task.stack + size)
                scan(range_pages(session, stack, stack.start, stack.end, [], nodes), task)
            return matches

        if args.user:
            self._user(ctx, start, end, length, scan)
            return matches
        if args.physical:
            lo = start if start is not None else 0
            hi = end if end is not None else (
                lo + length if length else max(e for _, e in session.dump.physical_ranges()))
            if hi < lo:
                raise CommandError(f"ending address {hi:x} is below starting address {lo:x}")
            scan((block, max(lo, block.address), min(hi, block.address + len(block.data)))
                 for block in physical_blocks(session, lo, hi))
            return matches
        areas = vmalloc_areas(session.prog)
        ranges = kvaddr_ranges(session, areas)
        nodes = node_ranges(session)
        lo = start if start is not None else ranges[0].start
        if not _is_kvaddr(session, lo):
            raise CommandError(f"invalid kernel virtual address: {lo:x}")
        hi = end if end is not None else (
            lo + length if length else max(r.end for r in ranges))
        if hi < lo:
            raise CommandError(f"ending address {hi:x} is below starting address {lo:x}")
        for rng in ranges:
            if lo >= rng.end or hi <= rng.start:
                continue
            unity_like = rng.kind in (UNITY, START)
            if (args.kernel_vmalloc and unity_like) or (args.kernel_unity and not unity_like):
                continue
            rlo, rhi = max(lo, rng.start), min(hi, rng.end)
            scan(range_pages(session, rng, rlo, rhi, areas, nodes))
        return matches

    @staticmethod
    def _user(ctx: CommandContext, start: int | None, end: int | None, length: int | None,
              scan: Any) -> None:
        """-u: the current context's user address space (crash's UVADDR search)."""
        from drgn import Object

        session = ctx.session
        task = Object(session.prog, "struct task_struct *", session.context.task)
        mm = task.mm.value_()
        if not mm or task.flags.value_() & 0x00200000:  # PF_KTHREAD
            raise CommandError("current context has no user address space")
        user_top = session.dump.layout.user_top
        lo = start if start is not None else user_start(session, mm)
        if lo is None or lo >= user_top:
            raise CommandError(f"invalid user virtual address: {lo or 0:x}")
        hi = end if end is not None else (lo + length if length else user_top)
        if hi > user_top:
            raise CommandError(f"ending address {hi:x} is in kernel space")
        if hi < lo:
            raise CommandError(f"ending address {hi:x} is below starting address {lo:x}")
        scan(user_pages(session, mm, task.mm.pgd.value_(), lo, hi, node_ranges(session)))

    def render(self, ctx: CommandContext, data: list[Match]) -> None:
        task, headers = None, 0
        for match in data:
            if match.task is not None and match.task is not task:
                # crash's print_task_header(), a blank line before all but the first
                task = match.task
                ctx.out.write(f"{'' if not headers else chr(10)}PID: {task.pid:<7d}  "
                              f"TASK: {task.task:<16x}  CPU: {task.cpu:<3d}  "
                              f'COMMAND: "{task.comm}"\n')
                headers += 1
            if match.before or match.after:
                # crash's display_with_pre_and_post()
                ctx.out.write(f"{match.before}{match.address:16x}:  {match.value:x} "
                              f"{match.label}\n{match.after}\n")
                continue
            if match.value is None:
                ctx.out.write(f"{match.address:x}: {match.label}\n")
                continue
            ctx.out.write(f"{match.address:x}: {match.value:x} {match.label}\n")

    def to_json(self, ctx: CommandContext, data: list[Match]) -> Any:
        return [{"address": m.address,
                 **({"text": m.label} if m.value is None else
                    {"value": m.value, "symbol": m.label[1:-1] or None}),
                 **({"pid": m.task.pid, "task": m.task.task} if m.task is not None else {})}
                for m in data]


def _context(ctx: CommandContext, address: int, count: int, width: int, memtype: str) -> str:
    """crash's display_memory(HEXADECIMAL|NO_ERROR|ASCII_ENDLINE): rd's lines, cut short
    quietly where memory cannot be read."""
    from pycrash.commands.rd import MemoryView, display

    out: list[str] = []
    try:
        display(ctx, MemoryView(address, count, size=width, memtype=memtype), out)
    except Exception:  # noqa: BLE001 - NO_ERROR: what was shown stays, silently
        if out and not out[-1].endswith("\n"):
            out.append("\n")
    return "".join(out)


def _hex(text: str) -> int:
    from pycrash.expr.numbers import parse_hex_address

    return parse_hex_address(text)


def _count(text: str) -> int:
    from pycrash.expr.numbers import parse_count

    return parse_count(text)


def _symbol(session: Any, name: str) -> int | None:
    try:
        return session.symbol_address(name)
    except (LookupError, ValueError):
        return None


def _address(session: Any, text: str) -> int:
    """crash's ``symbol_search(arg) ? value : htoll(arg)``."""
    address = _symbol(session, text)
    return address if address is not None else _hex(text)


def _is_kvaddr(session: Any, address: int) -> bool:
    """x86_64 IS_KVADDR: the kernel half of the address space."""
    return address >= (0xFF00000000000000 if session.dump.paging_levels == 5
                       else 0xFFFF800000000000)


def _operand(session: Any, text: str) -> int:
    text = text.strip()
    address = _symbol(session, text)
    return address if address is not None else _hex(text)


def _evaluate(session: Any, text: str) -> int:
    """crash's eval() of ``a OP b`` (hexadecimal numbers or symbols), or one operand."""
    body = text[1:-1] if text.startswith("(") and text.endswith(")") else text
    found = _OPERATOR.search(body, 1)
    if found is None:
        return _operand(session, body)
    left, right = _operand(session, body[:found.start()]), _operand(session, body[found.end():])
    op = found.group()
    results = {"+": left + right, "-": left - right, "&": left & right, "|": left | right,
               "*": left * right, "^": left ^ right,
               "/": left // right if right else None, "%": left % right if right else None,
               ">": int(left > right), "<": int(left < right)}
    if results[op] is None:
        raise CommandError("divide by zero")
    return results[op] & ((1 << 64) - 1)


def _can_eval(text: str) -> bool:
    """crash's can_eval(): ``(anything)``, or an operator with something on both sides."""
    if (text.startswith("(") and text.endswith(")") and text.count("(") == 1
            and text.count(")") == 1 and len(text) > 2):
        return True
    found = _OPERATOR.search(text)
    return found is not None and 0 < found.start() < len(text) - 1


def _target(session: Any, word: str, mask: int) -> Target:
    """A value argument: an expression or a symbol shows as ``(word)`` after each match
    (unless a mask is given); a plain hexadecimal number shows nothing."""
    label = "" if mask else (word if word.startswith("(") else f"({word})")
    if _can_eval(word):
        return Target(_evaluate(session, word), label)
    address = _symbol(session, word)
    if address is not None:
        return Target(address, label)
    return Target(_hex(word), "")

