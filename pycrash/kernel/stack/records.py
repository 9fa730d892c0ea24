"""What a crash-style back trace is made of: frame lines, register blocks, stack switches,
notes, and the bt -E search results.  Data only: commands/bt.py renders them."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Frame:
    """`` #N [slot] function at text``: a text address found on the stack."""

    level: int
    slot: int  # stack address holding ``text`` (for an exception RIP: the frame's sp)
    text: int
    name: str
    offset: int
    module: str | None = None
    words: list[tuple[int, int]] | None = None  # bt -f: the frame's stack words


@dataclasses.dataclass
class ExceptionFrame:
    """crash's register block (x86_64_exception_frame or diskdump_display_regs)."""

    registers: dict[str, int]
    kernel_mode: bool
    rip_name: str | None  # "[exception RIP: name+off]" (None: no such line)
    rip_offset: int = 0
    from_notes: bool = False  # the CPU's NT_PRSTATUS (no ORIG_RAX, "CS: %04x  SS: %04x")
    address: int | None = None  # where the pt_regs sits


@dataclasses.dataclass
class StackSwitch:
    """``--- <NAME> ---`` when the walk leaves an IRQ or exception stack."""

    label: str  # "NMI exception stack", "IRQ stack"


@dataclasses.dataclass
class Note:
    """A line crash prints instead of frames, e.g. ``(no stack)``."""

    text: str


Entry = Frame | ExceptionFrame | StackSwitch | Note


@dataclasses.dataclass
class Backtrace:
    task: int
    pid: int
    cpu: int
    comm: str
    entries: list[Entry]
    error: str | None = None  # crash's FATAL error for this task (stack transition, ...)

    @property
    def frames(self) -> list[Frame]:
        return [e for e in self.entries if isinstance(e, Frame)]


@dataclasses.dataclass
class StackSearch:
    """One IRQ or exception stack searched by bt -E."""

    cpu: int
    label: str  # "IRQ" or "NMI EXCEPTION", "DOUBLEFAULT EXCEPTION", ...
    frames: list[ExceptionFrame]
    error: str | None = None  # crash stops the whole search here
