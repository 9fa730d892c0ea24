"""``bt -e`` / ``bt -E``: exception frames searched for on whole stacks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pycrash.kernel.stack.eframes import search_eframes
from pycrash.kernel.stack.machine import Machine
from pycrash.kernel.stack.records import ExceptionFrame, StackSearch
from pycrash.kernel.tasks import task_table

if TYPE_CHECKING:
    from pycrash.session import Session


def search_exception_frames(session: Session, task_address: int) -> list[ExceptionFrame]:
    """bt -e: the exception frames found anywhere on a task's kernel stack."""
    machine = Machine.of(session)
    info = task_table(session.prog).get(task_address)
    if info is None:
        raise LookupError(f"invalid task address: {task_address:x}")
    stack = machine.read_stack(info.stack, machine.thread_size) if info.stack else None
    if stack is None:
        return []
    return search_eframes(machine.symbols, stack)


def search_cpu_stacks(session: Session, cpus: list[int] | None = None) -> list[StackSearch]:
    """bt -E: every CPU's IRQ stack, then every CPU's exception stacks, searched for frames."""
    machine = Machine.of(session)
    table = task_table(session.prog)
    info = table.get(next(iter(table.active.values()))) if table.active else None
    if info is None:
        return []
    results: list[StackSearch] = []
    wanted = range(table.cpus) if cpus is None else cpus
    for cpu in wanted:
        irq = machine.irq_stacks.get(cpu)
        if irq is None:
            break
        stack = machine.read_stack(irq[0], irq[1] - irq[0])
        frames = search_eframes(machine.symbols, stack) if stack else []
        results.append(StackSearch(cpu, "IRQ", frames))
    for cpu in wanted:
        for base, top, name in machine.exception_stacks.get(cpu, []):
            label = f"{name} EXCEPTION"
            if top <= base:  # no known size: crash cannot place the address
                results.append(StackSearch(cpu, label, [],
                                           f"unrecognized stack address for this task: {base:x}"))
                return results
            stack = machine.read_stack(base, top - base)
            frames = search_eframes(machine.symbols, stack, in_estack=True) if stack else []
            results.append(StackSearch(cpu, label, frames))
    return results
