"""The panic context as crash derives it: which CPU and task crashed, and the message.

``cpu`` is None when no CPU crashed (a dump of a live system): the task is then the one
crash starts in, the first of the task table.

crash (diskdump.c get_diskdump_panic_task, netdump.c get_netdump_panic_task) takes the
task running on ``crashing_cpu`` (x86: set by native_machine_crash_shutdown()) from the
active set (``runqueues[cpu].curr``).  Without it pycrash falls back on ``panic_cpu``
(kernel/panic.c, an atomic_t holding the CPU that entered panic(), -1 when none did),
then on the dump header's current CPU.

The message is crash's get_panicmsg(): the first log line (without timestamp) holding one
of a fixed list of panic phrases, tried phrase by phrase in order.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import drgn

from pycrash.kernel.tasks import TaskInfo, task_table
from pycrash.session import PanicInfo

if TYPE_CHECKING:
    from pycrash.session import Session

__all__ = ["PanicInfo", "find_panic", "panic_cpu", "panic_message"]

def _read_int(prog: drgn.Program, name: str) -> int | None:
    try:
        obj = prog[name]
    except KeyError:
        return None
    try:
        if obj.type_.unaliased_kind() == drgn.TypeKind.STRUCT:  # atomic_t
            return obj.counter.value_()
        return obj.value_()
    except drgn.FaultError:
        return None


def _online_cpus(prog: drgn.Program) -> set[int]:
    from pycrash.kernel.masks import online_cpus

    try:
        return set(online_cpus(prog))
    except (KeyError, LookupError, drgn.FaultError):
        return set()


def panic_cpu(prog: drgn.Program, dump_cpu: int | None = None) -> int | None:
    """The crashing CPU: crashing_cpu, else panic_cpu, else the dump's own idea."""
    online = _online_cpus(prog)
    for name in ("crashing_cpu", "panic_cpu"):
        cpu = _read_int(prog, name)
        if cpu is not None and cpu >= 0 and (not online or cpu in online):
            return cpu
    return dump_cpu


def panic_message(session: Session) -> str:
    """crash's get_panicmsg() over the dump's log ("" when there is no log or no match)."""
    from pycrash.kernel.printk import crash_panic_message, get_printk_records

    try:
        return crash_panic_message(get_printk_records(session))
    except Exception:  # noqa: BLE001 - a damaged log buffer only loses the message
        return ""


def _dump_cpu(session: Session) -> int | None:
    """The CPU the dump header names as current (kdump-compressed current_cpu), if any."""
    dump = session.dump
    for attr in ("current_cpu", "panic_cpu"):
        value = getattr(dump, attr, None)
        if isinstance(value, int) and value >= 0:
            return value
    return None


def find_panic(session: Session) -> PanicInfo:
    """The panic CPU, task and message of the dump, as crash determines them."""
    prog = session.prog
    table = task_table(prog)
    cpu = panic_cpu(prog, _dump_cpu(session))
    task: TaskInfo | None = None
    if cpu is not None and cpu in table.active:
        task = table.get(table.active[cpu])
    message = functools.partial(panic_message, session)  # read when first asked for
    if task is None:
        # No crashing CPU (a dump of a live system): crash has no panic task and starts in
        # the first task's context (swapper/0).  cpu=None says "no panic task".
        first = table.tasks[0] if len(table) else None
        if first is None:
            return PanicInfo(cpu=None, task=0, pid=0, comm="", message_reader=message)
        return PanicInfo(cpu=None, task=first.task, pid=first.pid, comm=first.comm,
                         message_reader=message)
    return PanicInfo(cpu=cpu, task=task.task, pid=task.pid, comm=task.comm,
                     message_reader=message)
