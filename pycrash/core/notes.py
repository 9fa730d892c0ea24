"""ELF note records and the x86-64 CPU state they carry.

A note is ``Elf64_Nhdr {u32 n_namesz, u32 n_descsz, u32 n_type}`` followed by the name
and the descriptor, each padded to 4 bytes; an all-zero header ends a per-CPU note
buffer (``note_buf_t``) in kernel memory. kdump-compressed files keep a verbatim copy of
the vmcore's PT_NOTE area, parsed here with :func:`parse_notes`; ELF files are parsed with
pyelftools (see :mod:`pycrash.core.elfdump`) into the same :class:`Note` records.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable

__all__ = [
    "Note", "CpuState", "parse_notes", "parse_prstatus", "parse_prstatus_fields",
    "parse_qemu_cpustate",
    "PRSTATUS_REGS", "NT_PRSTATUS", "NT_TASKSTRUCT",
]

NT_PRSTATUS = 1
NT_PRPSINFO = 3
NT_TASKSTRUCT = 4
_NHDR = struct.Struct("<III")


@dataclasses.dataclass(frozen=True)
class Note:
    """One ELF note: ``name`` (without the NUL), ``type``, ``desc`` (raw descriptor),
    ``offset``: file offset of the note header (None when read from memory)."""

    name: str
    type: int
    desc: bytes
    offset: int | None = None


def parse_notes(data: bytes, base_offset: int | None = None) -> list[Note]:
    """Parse a raw note area (PT_NOTE contents). Skips zero headers, stops at garbage.
    ``base_offset``: file offset of ``data``, recorded in each Note."""
    notes: list[Note] = []
    pos = 0
    end = len(data)
    while pos + 12 <= end:
        namesz, descsz, ntype = _NHDR.unpack_from(data, pos)
        if namesz == 0 and descsz == 0 and ntype == 0:
            pos += 12  # empty note buffer terminator; the next CPU's buffer may follow
            continue
        pos += 12
        name_end = pos + namesz
        desc_off = pos + ((namesz + 3) & ~3)
        desc_end = desc_off + descsz
        if desc_end > end:
            break
        name = data[pos:name_end].split(b"\0", 1)[0].decode("ascii", "replace")
        where = None if base_offset is None else base_offset + pos - 12
        notes.append(Note(name, ntype, bytes(data[desc_off:desc_end]), where))
        pos = desc_off + ((descsz + 3) & ~3)
    return notes


# struct user_regs_struct (arch/x86/include/asm/user_64.h), 27 u64, at pr_reg offset 112
# of struct elf_prstatus (336 bytes on x86-64). The first 21 slots are struct pt_regs.
PRSTATUS_REGS = (
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
    "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
    "fs_base", "gs_base", "ds", "es", "fs", "gs",
)
_PRSTATUS_PID = 32
_PRSTATUS_REG_OFF = 112
_PRSTATUS_SIZE = 336
_REGS = struct.Struct("<27Q")


@dataclasses.dataclass
class CpuState:
    """Saved register state of one CPU.

    Attributes:
        cpu: CPU number.
        pid: ``pr_pid`` of the NT_PRSTATUS note (the task running on that CPU for kdump
            notes, 0 for idle; QEMU writes cpu index + 1).
        registers: register name → value (``rip``, ``rsp``, ``rbp``, ``rax`` … ``r15``,
            ``orig_rax``, ``cs``, ``ss``, ``eflags``, ``fs_base``, ``gs_base``, ``ds``,
            ``es``, ``fs``, ``gs``; plus ``cr0``–``cr4``, ``gdt_base``, ``idt_base`` … when
            a QEMU note is present).
        source: where the state came from: "prstatus", "qemu", "crash_notes".
    """

    cpu: int
    pid: int
    registers: dict[str, int]
    source: str = "prstatus"

    @property
    def rip(self) -> int:
        return self.registers["rip"]

    @property
    def rsp(self) -> int:
        return self.registers["rsp"]

    @property
    def rbp(self) -> int:
        return self.registers["rbp"]


def parse_prstatus(desc: bytes) -> tuple[int, dict[str, int]] | None:
    """Decode an x86-64 ``struct elf_prstatus``: returns ``(pr_pid, registers)``."""
    if len(desc) < _PRSTATUS_REG_OFF + _REGS.size:
        return None
    (pid,) = struct.unpack_from("<i", desc, _PRSTATUS_PID)
    values = _REGS.unpack_from(desc, _PRSTATUS_REG_OFF)
    return pid, dict(zip(PRSTATUS_REGS, values, strict=True))


def parse_prstatus_fields(desc: bytes) -> dict[str, int] | None:
    """Every field of an x86-64 ``struct elf_prstatus`` (for ``help -D`` displays):
    ``si_signo``, ``si_code``, ``si_errno``, ``cursig``, ``sigpend``, ``sighold``,
    ``pid``, ``ppid``, ``pgrp``, ``sid``, ``utime``/``stime``/``cutime``/``cstime``
    (as ``(sec, usec)`` pairs flattened to ``*_sec``/``*_usec``), ``fpvalid`` and the
    registers."""
    if len(desc) < _PRSTATUS_SIZE:
        return None
    out: dict[str, int] = {}
    out["si_signo"], out["si_code"], out["si_errno"] = struct.unpack_from("<iii", desc, 0)
    (out["cursig"],) = struct.unpack_from("<h", desc, 12)
    out["sigpend"], out["sighold"] = struct.unpack_from("<QQ", desc, 16)
    out["pid"], out["ppid"], out["pgrp"], out["sid"] = struct.unpack_from("<iiii", desc, 32)
    for i, name in enumerate(("utime", "stime", "cutime", "cstime")):
        out[f"{name}_sec"], out[f"{name}_usec"] = struct.unpack_from("<qq", desc, 48 + 16 * i)
    out.update(zip(PRSTATUS_REGS, _REGS.unpack_from(desc, _PRSTATUS_REG_OFF), strict=True))
    (out["fpvalid"],) = struct.unpack_from("<i", desc, 328)
    return out


# QEMUCPUState version 1 (qemu target/i386/arch_dump.c): u32 version, u32 size, then
# u64 rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags, 10 segments
# {u32 selector, u32 limit, u32 flags, u32 pad, u64 base} (cs ds es fs gs ss ldt tr gdt idt),
# u64 cr[5].
_QEMU_GPRS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
              "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "eflags")
_QEMU_SEGS = ("cs", "ds", "es", "fs", "gs", "ss", "ldt", "tr", "gdt", "idt")


def parse_qemu_cpustate(desc: bytes) -> dict[str, int] | None:
    """Decode a QEMU ``QEMUCPUState`` note into registers (segment bases, CRs, …)."""
    need = 8 + 18 * 8 + 10 * 24 + 5 * 8
    if len(desc) < need:
        return None
    regs: dict[str, int] = {}
    vals = struct.unpack_from("<18Q", desc, 8)
    regs.update(zip(_QEMU_GPRS, vals, strict=True))
    pos = 8 + 18 * 8
    for seg in _QEMU_SEGS:
        sel, limit, flags, _pad, base = struct.unpack_from("<IIIIQ", desc, pos)
        pos += 24
        if seg in ("gdt", "idt"):
            regs[f"{seg}_base"] = base
            regs[f"{seg}_limit"] = limit
        else:
            if seg not in ("ldt", "tr"):
                regs[seg] = sel
            regs[f"{seg}_base"] = base
    for i, cr in enumerate(struct.unpack_from("<5Q", desc, pos)):
        regs[f"cr{i}"] = cr
    return regs


def cpus_from_notes(notes: Iterable[Note], *, crash_dump: bool) -> list[CpuState]:
    """Map NT_PRSTATUS notes to CPUs.

    For dumps written by the kernel's crash path (VMCOREINFO has CRASHTIME) the notes are
    in CPU order but offline CPUs and CPUs that missed the crash NMI are skipped, so the
    n-th note is only *presumed* to be CPU n (use ``Dump.cpus_from_crash_notes`` to map
    them exactly). For QEMU dumps (a QEMU note per CPU, or no CRASHTIME), ``pr_pid`` is
    the CPU index + 1.
    """
    notes = list(notes)
    prs = [n for n in notes if n.name == "CORE" and n.type == NT_PRSTATUS]
    qemu = [n for n in notes if n.name == "QEMU"]
    by_pid = bool(qemu) or not crash_dump
    cpus: list[CpuState] = []
    for i, note in enumerate(prs):
        parsed = parse_prstatus(note.desc)
        if parsed is None:
            continue
        pid, regs = parsed
        cpu = pid - 1 if by_pid and pid >= 1 else i
        source = "prstatus"
        if qemu and i < len(qemu):
            extra = parse_qemu_cpustate(qemu[i].desc)
            if extra:
                for key, value in extra.items():
                    regs.setdefault(key, value)
                source = "prstatus+qemu"
        cpus.append(CpuState(cpu, pid, regs, source))
    if by_pid and len({c.cpu for c in cpus}) != len(cpus):
        for i, c in enumerate(cpus):  # pr_pid is not a CPU index after all
            c.cpu = i
    cpus.sort(key=lambda c: c.cpu)
    return cpus
