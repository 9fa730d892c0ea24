"""drgn's unwind of a task (what ``session.stack_trace()`` returns): from its CPU's
NT_PRSTATUS registers when it was running, else from its switch frame (inactive_task_frame,
4.9+), both unwound by drgn (ORC / DWARF CFI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import drgn

from pycrash.kernel.stack.registers import cpu_registers, pt_regs_from_cpu
from pycrash.kernel.tasks import task_table

if TYPE_CHECKING:
    from pycrash.session import Session


def stack_trace(session: Session, task_address: int) -> drgn.StackTrace:
    """drgn's unwind of a task: from its CPU's saved registers when it was running."""
    prog = session.prog
    table = task_table(prog)
    info = table.get(task_address)
    if info is not None and info.active:
        cpu = next((c for c, t in table.active.items() if t == task_address), info.cpu)
        registers = cpu_registers(session, cpu)
        if registers:
            return prog.stack_trace(pt_regs_from_cpu(prog, registers))
    return prog.stack_trace(drgn.Object(prog, "struct task_struct *", task_address))
