"""``waitq``: the tasks waiting on a wait queue, as crash 8.0.6 lists them (kernel.c
``cmd_waitq`` and ``dump_waitq``).

The wait queue head is named by a symbol, by an address, or by ``struct.member`` and the
address of the structure holding it.  Each queued entry's ``private`` pointer is a task (or a
pointer into a task's kernel stack); its header line is printed, and the listing stops at the
first entry that is neither, as crash's does.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.kernel.tasks import TaskInfo

_USAGE = """\
Usage:
  waitq  [ symbol ] | [ struct.member struct_addr ] | [ address ]
Enter "help waitq" for details.
"""


@dataclasses.dataclass
class WaitqData:
    name: str | None  # the symbol, when the queue was named by one
    address: int  # the wait queue head
    tasks: list[TaskInfo]
    message: str | None = None  # crash's one line instead of the list


def stack_owner(tasks: Any, pointer: int, thread_size: int) -> TaskInfo | None:
    """crash's stkptr_to_task(): the task whose kernel stack holds ``pointer``."""
    for info in tasks:
        if info.stack and info.stack <= pointer < info.stack + thread_size:
            return info
    return None


@register
class Waitq(Command):
    name = "waitq"
    summary = "list tasks queued on a wait queue"
    synopsis = " [ symbol ] | [ struct.member struct_addr ] | [ address ]"  # crash's 2 spaces
    description = """\
  This command walks the wait queue list displaying the tasks which
  are blocked on the specified wait queue.  The command differentiates
  between the old- and new-style wait queue structures used by the kernel.
  It can be invoked with the following argument types:

                     symbol  a global symbol of a wait queue.
  struct.member struct_addr  a structure name and wait queue member combination
                             followed by the structure's hexadecimal address.
                    address  a hexadecimal wait queue pointer.
"""
    arguments = (
        Arg("words", nargs="*", metavar="symbol | struct.member struct_addr | address",
            complete=Complete.SYMBOL),
    )

    @classmethod
    def parse(cls, argv: Sequence[str]) -> argparse.Namespace:
        """crash's waitq takes no options: every word is an argument (``-x`` a symbol)."""
        return argparse.Namespace(words=list(argv))

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> WaitqData | str:
        from pycrash.expr.numbers import is_number, parse_hex_address
        from pycrash.kernel.waitqueue import waitq_layout

        words = list(args.words)
        if not 1 <= len(words) <= 2:
            return _USAGE
        prog = ctx.session.prog
        name = None
        if is_number(words[0]):
            address = parse_hex_address(words[0])
        elif "." not in words[0]:
            name = words[0]
            address = _symbol(ctx, name)
        else:
            struct_name, member = words[0].split(".", 1)
            if len(words) != 2:
                return f"must supply an address for {struct_name}\n"
            address = parse_hex_address(words[1])
            offset = _member_offset(prog, struct_name, member)
            if offset is None:
                return f"{member} is not a member of {struct_name}\n"
            address += offset
        from pycrash.format import kernel_space_start

        if address < kernel_space_start(ctx.session):  # crash: q != 0 && IS_KVADDR(q)
            return ""
        layout = waitq_layout(prog)
        if layout is None:
            raise CommandError("cannot determine wait queue structures")
        return WaitqData(name, address, self._waiters(ctx, layout, address))

    @staticmethod
    def _waiters(ctx: CommandContext, layout: Any, address: int) -> list[TaskInfo]:
        import drgn
        from pycrash.commands.struct import read_or_explain

        from pycrash.kernel.lists import warn_stderr
        from pycrash.kernel.tasks import task_table
        from pycrash.kernel.waitqueue import waitq_waiters

        prog = ctx.session.prog
        table = task_table(prog)
        # crash's do_list() reads the head's first pointer and fails as readmem does
        read_or_explain(ctx, address + layout.head_list, 8, "first list entry")
        tasks = []
        try:
            for pointer in ctx.progress(waitq_waiters(prog, layout, address,
                                                      on_stop=warn_stderr), "waitq"):
                info = table.get(pointer) or stack_owner(table, pointer, _thread_size(prog))
                if info is None:
                    break  # crash stops at the first entry that is not a task
                tasks.append(info)
        except drgn.FaultError as err:
            raise CommandError(f"cannot read wait queue {address:x}: {err}") from None
        return tasks

    def render(self, ctx: CommandContext, data: WaitqData | str) -> None:
        if isinstance(data, str):
            ctx.out.write(data)
            return
        if not data.tasks:
            named = f'"{data.name}" ({data.address:x})' if data.name else f"{data.address:x}"
            ctx.out.write(f"wait queue {named} is empty\n")
            return
        from pycrash.commands.ps import task_header

        for info in data.tasks:
            ctx.out.write(task_header(info) + "\n")

    def to_json(self, ctx: CommandContext, data: WaitqData | str) -> Any:
        if isinstance(data, str):
            return {"error": data.strip()} if data else None
        return {"name": data.name, "address": data.address,
                "tasks": [{"pid": t.pid, "task": t.task, "cpu": t.cpu, "comm": t.comm}
                          for t in data.tasks]}


def _symbol(ctx: CommandContext, name: str) -> int:
    """crash's symbol_value(): the address of a vmlinux or module symbol."""
    try:
        return ctx.session.prog.symbol(name).address
    except (LookupError, ValueError):
        pass
    address = ctx.session.symbol_address(name)
    if address is None:
        raise CommandError(f'cannot resolve "{name}"')
    return address


def _member_offset(prog: Any, struct_name: str, member: str) -> int | None:
    from pycrash.kernel.datatype import find_datatype, member_offset

    datatype = find_datatype(prog, struct_name)
    return None if datatype is None else member_offset(datatype.type, member)


def _thread_size(prog: Any) -> int:
    """THREAD_SIZE: 16 KiB on x86-64 (PAGE_SIZE << 2), 32 KiB with KASAN."""
    try:
        return int(prog.constant("THREAD_SIZE"))
    except (LookupError, ValueError, TypeError):
        pass
    return 16384
