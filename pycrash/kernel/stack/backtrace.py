"""``bt``: the entries crash prints for one task."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pycrash.kernel.stack.machine import Machine
from pycrash.kernel.stack.records import Backtrace
from pycrash.kernel.stack.registers import cpu_registers
from pycrash.kernel.stack.start import TraceError, inactive_start, search_start
from pycrash.kernel.stack.walker import Walker
from pycrash.kernel.tasks import task_table

if TYPE_CHECKING:
    from pycrash.session import Session


def _panic_task(session: Session | None) -> int | None:
    if session is None:
        return None
    try:
        panic = session.panic
    except Exception:  # noqa: BLE001 - a damaged dump still gets a trace
        return None
    if panic is None or panic.cpu is None:  # no crashing CPU: no panic task
        return None
    return panic.task


def crash_backtrace(session: Session, task_address: int, *, full: bool = False,
                    text_symbols: bool = False, text_all: bool = False) -> Backtrace:
    """The entries crash's ``bt`` prints for one task (see :mod:`pycrash.kernel.stack`)."""
    prog = session.prog
    machine = Machine.of(session)
    table = task_table(prog)
    info = table.get(task_address)
    if info is None:
        raise LookupError(f"invalid task address: {task_address:x}")
    panic_task = _panic_task(session) == task_address
    user_regs = None
    if info.active:
        cpu = next((c for c, t in table.active.items() if t == task_address), info.cpu)
        user_regs = cpu_registers(session, cpu)
        try:
            rip, rsp, flags = search_start(machine, info, panic_task, user_regs,
                                            text_symbols or text_all)
        except TraceError as exc:
            return Backtrace(task=info.task, pid=info.pid, cpu=info.cpu, comm=info.comm,
                             entries=[], error=str(exc))
    else:
        rip, rsp = inactive_start(machine, info, exact=text_symbols or text_all)
        flags = set()
    if text_all and info.stack:
        # bt -T: from just above thread_info (crash's BT_TEXT_SYMBOLS_ALL)
        rip, rsp = 0, info.stack + machine.thread_info_size
    walker = Walker(machine, info, full=full, user_regs=user_regs, panic_task=panic_task,
                     text_symbols=text_symbols, text_all=text_all)
    error = walker.run(rip, rsp, flags)
    return Backtrace(task=info.task, pid=info.pid, cpu=info.cpu, comm=info.comm,
                     entries=walker.entries, error=error)
