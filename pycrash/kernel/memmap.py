"""The whole mem_map: every ``struct page`` of every online node, read in bulk.

Kernel facts: a node spans pfns ``node_start_pfn`` .. ``node_start_pfn + node_spanned_pages``;
with SPARSEMEM_VMEMMAP their ``struct page`` array is contiguous at ``vmemmap_base`` but only
the sections with memory are backed, so an unreadable chunk is a hole and is skipped (crash's
dump_mem_map walks the valid sections only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pycrash.kernel import memory

__all__ = ["node_pfn_chunks", "pages_in"]

# Pages per bulk read: 4096 struct pages (256 KiB with 64-byte pages).
CHUNK_PAGES = 1 << 12


# x86-64 SECTION_SIZE_BITS (arch/x86/include/asm/sparsemem.h) when VMCOREINFO lacks it.
SECTION_SIZE_BITS = 27


def _u64(raw: bytes, at: int) -> int:
    return int.from_bytes(raw[at:at + 8], "little")


def node_pfn_chunks(session: Any) -> list[tuple[int, int]]:
    """(first pfn, end pfn) ranges of at most CHUNK_PAGES covering every online node's memory
    sections (a section's mem_map is whole even where the node starts or ends inside it)."""
    bits = session.vmcoreinfo.number("SECTION_SIZE_BITS") or SECTION_SIZE_BITS
    section = 1 << (bits - memory.page_shift(session))
    chunks: list[tuple[int, int]] = []
    for pgdat in memory.online_pgdats(session.prog):
        start = int(pgdat.node_start_pfn) // section * section
        end = -(-(int(pgdat.node_start_pfn) + int(pgdat.node_spanned_pages)) // section) * section
        if chunks and start < chunks[-1][1]:
            start = chunks[-1][1]
        chunks += [(pfn, min(pfn + CHUNK_PAGES, end)) for pfn in range(start, end, CHUNK_PAGES)]
    return chunks


def pages_in(session: Any, chunks: Iterable[tuple[int, int]],
             wanted: Callable[[int, int], bool] | None = None) -> Iterator[memory.PageInfo]:
    """The PageInfo of every readable page in ``chunks`` (``wanted(flags, count)`` filters
    before the flag names are decoded)."""
    prog = session.prog
    page_type = prog.type("struct page")
    size = page_type.size
    flags_at = page_type.member("flags").offset
    mapping_at = page_type.member("mapping").offset
    index_at = page_type.member("index").offset
    try:
        count_at = page_type.member("_refcount").offset
    except LookupError:  # before Linux 4.6
        count_at = page_type.member("_count").offset
    names = memory.page_flag_names(session)
    for first, end in chunks:
        base = memory.pfn_to_page(session, first)
        try:
            raw = session.dump.read(base, (end - first) * size)
        except Exception:  # noqa: BLE001 - an unbacked vmemmap range: no pages there
            continue
        for i in range(end - first):
            at = i * size
            flags = _u64(raw, at + flags_at)
            count = int.from_bytes(raw[at + count_at:at + count_at + 4], "little", signed=True)
            if wanted is not None and not wanted(flags, count):
                continue
            yield memory.PageInfo(
                page=base + at,
                paddr=memory.ptob(session, first + i),
                mapping=_u64(raw, at + mapping_at),
                index=_u64(raw, at + index_at),
                count=count,
                flags=flags,
                flag_names=[name for mask, name in names if flags & mask] if flags else [],
            )
