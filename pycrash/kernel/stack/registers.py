"""``struct pt_regs`` on x86-64: its layout, and register blocks read from the stack or
taken from a CPU's NT_PRSTATUS note."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import drgn

if TYPE_CHECKING:
    from pycrash.session import Session

# pt_regs field order (arch/x86/include/asm/ptrace.h), 8 bytes each: 168 bytes.
PT_REGS_FIELDS = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax",
                  "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss")
PT_REGS_SIZE = 8 * len(PT_REGS_FIELDS)
_PT = {name: 8 * i for i, name in enumerate(PT_REGS_FIELDS)}
# NT_PRSTATUS (user_regs_struct) names of the pt_regs fields that are named differently
_NOTE_NAMES = {"bp": "rbp", "bx": "rbx", "ax": "rax", "cx": "rcx", "dx": "rdx", "si": "rsi",
               "di": "rdi", "ip": "rip", "sp": "rsp", "flags": "eflags", "orig_ax": "orig_rax"}


def pt_regs_from_cpu(prog: drgn.Program, registers: dict[str, int]) -> drgn.Object:
    """A ``struct pt_regs`` value holding a CPU's NT_PRSTATUS registers."""
    raw = bytearray(PT_REGS_SIZE)
    for name in PT_REGS_FIELDS:
        value = registers.get(name)
        if value is None:
            value = registers.get(_NOTE_NAMES.get(name, name), 0)
        struct.pack_into("<Q", raw, _PT[name], value & 0xFFFFFFFFFFFFFFFF)
    return drgn.Object.from_bytes_(prog, "struct pt_regs", bytes(raw))


def cpu_registers(session: Session, cpu: int) -> dict[str, int] | None:
    """The NT_PRSTATUS registers the dump saved for ``cpu`` (None: no note for it)."""
    for state in session.dump.cpus:
        if state.cpu == cpu:
            return dict(state.registers)
    return None


def regs_from_bytes(raw: bytes, offset: int = 0) -> dict[str, int]:
    """pt_regs field -> value, from the 168 bytes at ``offset``."""
    values = struct.unpack_from("<21Q", raw, offset)
    return dict(zip(PT_REGS_FIELDS, values, strict=True))


def regs_from_note(registers: dict[str, int]) -> dict[str, int]:
    """pt_regs field -> value, from NT_PRSTATUS register names (0 where the note has none)."""
    return {name: registers.get(name, registers.get(_NOTE_NAMES.get(name, name), 0))
            for name in PT_REGS_FIELDS}
