"""Where a task's trace starts: for an active task, the stack slot crash finds by searching
its stacks for known symbols (x86_64_get_dumpfile_stack_frame); for a blocked one, its
saved stack pointer with crash's thread_return as the PC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import drgn

from pycrash.kernel.stack.eframes import eframe_verify
from pycrash.kernel.stack.registers import regs_from_note
from pycrash.kernel.stack.symbolizer import symbol_value

if TYPE_CHECKING:
    from pycrash.kernel.stack.machine import KernelStack, Machine
    from pycrash.kernel.tasks import TaskInfo

# x86_64_get_dumpfile_stack_frame(): functions marking where a dumping CPU stopped.
_DUMP_FUNCTIONS = frozenset(("netconsole_netdump", "netpoll_start_netdump", "start_disk_dump",
                             "disk_dump", "crash_kexec", "machine_kexec", "try_crashdump"))


class TraceError(Exception):
    """crash's error(FATAL) inside a back trace: the message replaces the frames."""


def search_start(machine: Machine, info: TaskInfo, panic_task: bool,
                  user_regs: dict[str, int] | None,
                  text_symbols: bool = False) -> tuple[int, int, set[str]]:
    """crash's x86_64_get_dumpfile_stack_frame(): (rip, rsp, flags) for an active task."""
    sym = machine.symbols
    flags: set[str] = set()
    ur_rip = ur_rsp = 0
    if user_regs:
        ur_rip, ur_rsp = user_regs.get("rip", 0), user_regs.get("rsp", 0)

    process = machine.read_stack(info.stack, machine.thread_size) if info.stack else None
    stacks: list[tuple[str, KernelStack | None]] = [("process", process)]
    skip_to_irq = False
    if panic_task and user_regs:
        regs = regs_from_note(user_regs)
        if eframe_verify(sym, 0, regs, False) and machine.in_irq_stack(ur_rsp):
            skip_to_irq = True
    irq = machine.irq_stacks.get(info.cpu)
    if irq:
        stacks.append(("irq", machine.read_stack(irq[0], irq[1] - irq[0])))
    for base, top, name in machine.exception_stacks.get(info.cpu, []):
        stacks.append((name, machine.read_stack(base, top - base)))

    crash_kexec = sysrq = notify_die = None
    call_function = halt = None
    panic = None
    for stage, (kind, stack) in enumerate(stacks):
        if skip_to_irq and stage == 0:
            continue
        if stack is None:
            continue
        if stack.top <= stack.base:
            # an IST slot of unknown size: crash's read of 0 bytes fails the whole trace
            raise TraceError('invalid size request: 0  type: "stack contents"\n'
                              f"bt: read of stack at {stack.base:x} failed")
        in_nmi = kind == "NMI"
        words = stack.words
        for i, value in enumerate(words):
            name = sym.closest_name(value) if sym.space.is_kvaddr(value) else None
            if name is None:
                continue
            slot = stack.base + 8 * i
            if name in _DUMP_FUNCTIONS:
                if name == "crash_kexec" and not text_symbols:
                    if crash_kexec is None:
                        crash_kexec = (value, slot)
                        continue
                return value, slot, flags | {"searched"}
            if name == "panic":
                panic = (value, slot)
                continue
            if name == "die":
                later = [sym.closest_name(w) for w in words[i + 1:]]
                if "sysrq_handle_crash" not in later:
                    return value, slot, flags | {"searched"}
                for j in range(i + 1, len(words)):
                    if sym.closest_name(words[j]) == "sysrq_handle_crash":
                        sysrq = (words[j], stack.base + 8 * j)
                continue
            if name == "sysrq_handle_crash":
                sysrq = (value, slot)
                for j in range(i + 1, len(words)):
                    if sym.space.is_kvaddr(words[j]) and \
                            sym.closest_name(words[j]) == "sysrq_handle_crash":
                        sysrq = (words[j], stack.base + 8 * j)
            if not panic_task and stage > 0 and name in ("smp_call_function_interrupt",
                                                         "stop_this_cpu"):
                call_function = (value, slot)
            if not panic_task and name == "crash_nmi_callback":
                return value, slot, flags | {"searched"}
            if not panic_task and in_nmi and name == "notify_die":
                notify_die = (value, slot)
            if not panic_task and info.pid == 0 and halt is None and stage == 0 and \
                    name == "cpu_idle":
                halt = (value, slot)
        if stage == 0:
            if panic is not None:
                return panic[0], panic[1], flags | {"searched"}
            if crash_kexec is not None:
                return crash_kexec[0], crash_kexec[1], flags | {"searched"}
    for found in (sysrq, notify_die):
        if found is not None:
            return found[0], found[1], flags | {"searched"}
    if ur_rip and ur_rsp:
        in_stack = bool(info.stack) and info.stack <= ur_rsp < info.stack + machine.thread_size
        if sym.is_kernel_text(ur_rip) and (in_stack or
                                           machine.in_alternate_stack(info.cpu, ur_rsp)):
            flags.add("kernel")
        if not sym.is_kernel_text(ur_rip) and 0 < ur_rsp and sym.space.is_uvaddr(ur_rsp):
            flags.add("user")
        return ur_rip, ur_rsp, flags
    for found in (call_function, halt):
        if found is not None:
            return found[0], found[1], flags | {"searched"}
    return inactive_start(machine, info, exact=text_symbols) + (flags,)


def inactive_start(machine: Machine, info: TaskInfo, exact: bool = True) -> tuple[int, int]:
    """A blocked task: thread.sp, with crash's thread_return as its PC.

    Only ``bt -t`` prints that PC; otherwise any address inside __schedule does (the walk
    just checks the function name), which spares disassembling __schedule.
    """
    try:
        sp = int.from_bytes(machine.prog.read(info.task + machine.thread_sp, 8), "little")
    except drgn.FaultError:
        sp = 0
    if exact:
        return machine.thread_return, sp
    schedule = symbol_value(machine.prog, "__schedule") or symbol_value(machine.prog,
                                                                          "schedule")
    return (schedule + 1 if schedule else machine.thread_return), sp
