"""The physical-memory layer interface every container format implements.

A layer maps physical addresses to bytes of one dump (volatility3's layer idea): it
knows which pages are present, excluded, missing or absent and raises the matching
:class:`~pycrash.core.errors.FaultError` with the physical address. Caching and virtual
translation live above it, in :class:`~pycrash.core.dump.Dump`.
"""

from __future__ import annotations

from .errors import BeyondDumpError, FaultError
from .notes import Note

__all__ = ["PhysicalLayer", "DUMP_LEVEL_BITS", "describe_dump_level"]

# makedumpfile -d bits (makedumpfile.8): which page kinds a dump level excludes.
DUMP_LEVEL_BITS = (
    (1, "zero"),
    (2, "cache"),
    (4, "cache private"),
    (8, "user"),
    (16, "free"),
)


def describe_dump_level(level: int | None) -> str:
    """``"dump level 31: zero, cache, cache private, user, free pages"``."""
    if level is None:
        return "dump level unknown"
    kinds = [name for bit, name in DUMP_LEVEL_BITS if level & bit]
    if not kinds:
        return f"dump level {level}"
    return f"dump level {level}: {', '.join(kinds)} pages"


class PhysicalLayer:
    """Base class: one dump's physical memory.

    Subclasses set the attributes below and implement :meth:`read_page`,
    :meth:`read`, :meth:`page_state`, :meth:`ranges` and :meth:`counts`.
    """

    format: str = "?"  # "kdump" | "elf" | "kcore"
    flattened: bool = False
    paths: list[str]
    page_size: int = 4096
    page_shift: int = 12
    compression: str = "none"
    dump_level: int | None = None
    incomplete: bool = False
    notes: list[Note]
    vmcoreinfo_text: bytes | None = None
    phys_base_hint: int | None = None  # kdump sub-header / ELF kernel-text segment
    page_offset_hint: int | None = None  # ELF direct-map segments (p_vaddr - p_paddr)
    producer: str = "kernel"  # "kernel" | "qemu" | "kcore"
    #: True when :meth:`read` of a large range is a cheap file slice (ELF): the Dump then
    #: bypasses its page cache for large physical reads.
    direct: bool = False

    def read_page(self, pfn: int) -> bytes:
        raise NotImplementedError

    def read(self, paddr: int, size: int) -> bytes:
        """Read ``size`` bytes at physical ``paddr`` (may span pages)."""
        shift = self.page_shift
        psize = self.page_size
        out = []
        pos = paddr
        end = paddr + size
        while pos < end:
            pfn = pos >> shift
            off = pos & (psize - 1)
            take = min(psize - off, end - pos)
            page = self.read_page(pfn)
            out.append(page[off:off + take])
            pos += take
        return b"".join(out)

    def page_state(self, pfn: int) -> str:
        raise NotImplementedError

    def ranges(self) -> list[tuple[int, int]]:
        raise NotImplementedError

    def present_ranges(self) -> list[tuple[int, int]]:
        """``[start, end)`` physical ranges whose data the dump holds (not excluded).
        Pages of an incomplete dump that were never written may still be listed."""
        raise NotImplementedError

    def counts(self) -> dict[str, int]:
        """Page counts: ``present``, ``excluded`` (and ``missing`` when known)."""
        raise NotImplementedError

    def damage(self) -> list[str]:
        """One line per problem worth a warning at open: truncation, an incomplete
        dump, a part of a split set missing. Empty when the container is intact."""
        return []

    def max_paddr(self) -> int:
        r = self.ranges()
        return r[-1][1] if r else 0

    def beyond(self, paddr: int) -> FaultError:
        top = self.max_paddr()
        if paddr >= top:
            return BeyondDumpError(paddr, f"beyond the end of the dump (ends at {top:#x})",
                                   physical=True)
        return BeyondDumpError(paddr, "not in the dump (memory hole)", physical=True)

    def close(self) -> None:
        pass
