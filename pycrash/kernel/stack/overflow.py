"""``bt -v``: tasks whose stack end marker was overwritten."""

from __future__ import annotations

from typing import TYPE_CHECKING

import drgn

from pycrash.kernel.stack.symbolizer import symbol_value
from pycrash.kernel.tasks import task_table

if TYPE_CHECKING:
    from pycrash.session import Session

# include/uapi/linux/magic.h: written at the far end of every task stack
STACK_END_MAGIC = 0x57AC6E9D


def stack_overflow_report(session: Session) -> list[str]:
    """bt -v: crash's check_stack_overflow() (THREAD_INFO_IN_TASK kernels: STACK_END_MAGIC)."""
    prog = session.prog
    table = task_table(prog)
    init_task = symbol_value(prog, "init_task")
    lines: list[str] = []
    total = 0
    for info in table:
        try:
            magic = int.from_bytes(prog.read(info.stack, 8), "little") if info.stack else None
        except drgn.FaultError:
            magic = None
        if magic is None:
            lines.append(f'bt: invalid kernel virtual address: {info.stack:x}  type: '
                         f'"stack overflow check"')
            continue
        if info.pid == 0 and info.task == init_task:
            continue
        if magic != STACK_END_MAGIC:
            lines.append(f'PID: {info.pid:<7d}  TASK: {info.task:<16x}  CPU: {info.cpu:<3d}  '
                         f'COMMAND: "{info.comm}"')
            lines.append(f"  possible stack overflow: {info.stack:x}: {magic:x} != "
                         "STACK_END_MAGIC")
            lines.append("")
            total += 1
    if not total:
        lines.append("No stack overflows detected")
    return lines
