"""What the core learns about the kernel from the dump's own memory, without vmlinux.

Each function takes an open :class:`~pycrash.core.dump.Dump` and uses only VMCOREINFO and
memory reads: the randomized region bases (``page_offset_base``, ``vmalloc_base``,
``vmemmap_base``), the kernel image position when VMCOREINFO is missing, and why
makedumpfile excluded a page (from its ``struct page``).
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import FaultError
from .vmcoreinfo import VmcoreInfo
from .x86_64 import START_KERNEL_MAP

if TYPE_CHECKING:
    from .dump import Dump

__all__ = [
    "discover_layout", "excluded_kind", "kernel_from_page_tables", "read_kernel_var",
    "vmalloc_from_vmap_area_list", "vmemmap_from_mem_section",
]

_U64_MASK = (1 << 64) - 1
_PHYSICAL_START = 0x1000000  # x86-64 CONFIG_PHYSICAL_START default (16 MiB)


def kernel_from_page_tables(dump: Dump) -> None:
    """No VMCOREINFO: find the kernel image mapping by walking from the CPU's CR3.
    ``_text`` = ``__START_KERNEL_map`` + 16 MiB (``CONFIG_PHYSICAL_START`` default)
    + the KASLR offset; ``phys_base`` = pa(_text) - (_text - __START_KERNEL_map)."""
    try:
        found = dump.pgtable.find_kernel_text()
    except FaultError:
        return
    if found is None:
        return
    va, pa = found
    dump.kaslr_offset = va - (START_KERNEL_MAP + _PHYSICAL_START)
    dump.kaslr_source = "page tables (_text mapping)"
    if dump.phys_base_source == "default" or dump.producer == "qemu":
        dump.phys_base = dump.layout.phys_base = (pa - (va - START_KERNEL_MAP)) & _U64_MASK
        dump.phys_base_source = "page tables (_text mapping)"


def discover_layout(dump: Dump, page_offset_hint: int | None) -> None:
    """Fill ``dump.layout``'s randomized bases: page_offset_base from the ELF direct-map
    segments or a page-table scan, vmemmap_base from mem_section, vmalloc_base from
    vmap_area_list (unless VMCOREINFO exports the variables themselves)."""
    vmci = dump.vmcoreinfo
    pob = page_offset_hint
    if pob is None:
        pob = read_kernel_var(dump, "page_offset_base")
    if pob is None:
        try:
            pob = dump.pgtable.find_direct_map(dump.layer.max_paddr())
        except FaultError:
            pob = None
    dump.set_layout(page_offset_base=pob)
    vmalloc = read_kernel_var(dump, "vmalloc_base")
    vmemmap = read_kernel_var(dump, "vmemmap_base")
    if vmemmap is None and pob is not None:
        vmemmap = vmemmap_from_mem_section(dump, vmci)
    if vmalloc is None and pob is not None:
        vmalloc = vmalloc_from_vmap_area_list(dump, vmci, vmemmap)
    dump.set_layout(vmalloc_base=vmalloc, vmemmap_base=vmemmap)


def read_kernel_var(dump: Dump, name: str) -> int | None:
    addr = dump.vmcoreinfo.symbol(name)
    if addr is None:
        return None
    try:
        return dump.read_u64(addr)
    except FaultError:
        return None


def vmemmap_from_mem_section(dump: Dump, vmci: VmcoreInfo) -> int | None:
    # SPARSEMEM_VMEMMAP: a present section's section_mem_map encodes
    # (mem_map - section_start_pfn), i.e. vmemmap itself, with flag bits in the low
    # bits (include/linux/mmzone.h SECTION_MAP_MASK). VMCOREINFO_SYMBOL_ARRAY gives the
    # *value* of mem_section: with SPARSEMEM_EXTREME the array of root pointers.
    roots = vmci.symbol("mem_section")
    off = vmci.offset("mem_section.section_mem_map") or 0
    size = vmci.size("mem_section") or 16
    if roots is None:
        return None
    value = 0
    try:
        for r in range(min(vmci.length("mem_section") or 1, 64)):
            chunk = dump.read_u64(roots + 8 * r)
            if not chunk:
                continue
            for i in range(min(dump.page_size // size, 64)):
                value = dump.read_u64(chunk + i * size + off)
                if value:
                    break
            if value:
                break
    except FaultError:
        return None
    value &= ~((1 << 30) - 1)  # vmemmap_base is PUD aligned
    if value < dump.layout.user_top or value >= START_KERNEL_MAP:
        return None
    return value


def vmalloc_from_vmap_area_list(dump: Dump, vmci: VmcoreInfo,
                                vmemmap: int | None) -> int | None:
    # vmap_area_list is sorted by address; the first area the kernel allocates sits at
    # VMALLOC_START = vmalloc_base, which KASLR aligns to a PUD (1 GiB)
    # (arch/x86/mm/kaslr.c). makedumpfile takes VMALLOC_START from this list too.
    head = vmci.symbol("vmap_area_list")
    off_list = vmci.offset("vmap_area.list")
    off_start = vmci.offset("vmap_area.va_start")
    if head is None or off_list is None or off_start is None:
        return None
    try:
        first = dump.read_u64(head)
        if first == head or not first:
            return None
        start = dump.read_u64(first - off_list + off_start)
    except FaultError:
        return None
    base = start & ~((1 << 30) - 1)
    pob = dump.layout.page_offset_base or 0
    if base <= pob + (dump.layout.directmap_size or 0):
        return None
    if vmemmap is not None and base >= vmemmap:
        return None
    return base


def excluded_kind(dump: Dump, pfn: int) -> str | None:
    """Why makedumpfile probably left page ``pfn`` out, judged from its ``struct page``
    the way makedumpfile decides (``makedumpfile.c`` ``__exclude_unnecessary_pages``):
    "free" (in a buddy free block), "user" (anonymous), "cache" or "cache private"
    (page cache, with PG_private), "slab" (a page in kernel use that a makedumpfile
    misreading this kernel's page flags dropped), or None when the page's struct page doesn't say.
    Needs VMCOREINFO's struct page offsets and the vmemmap base."""
    v = dump.vmcoreinfo
    base = dump.layout.vmemmap_base
    size = v.size("page")
    off_flags = v.offset("page.flags")
    off_mapping = v.offset("page.mapping")
    off_mapcount = v.offset("page._mapcount")
    if base is None or size is None or off_flags is None or off_mapping is None:
        return None

    def page(n: int) -> bytes | None:
        try:
            return dump.read(base + n * size, size)
        except FaultError:
            return None

    buddy = v.number("PAGE_BUDDY_MAPCOUNT_VALUE")
    off_private = v.offset("page.private")
    if buddy is not None and off_mapcount is not None:
        # A free block of 2^order pages is marked only in its first page (PageBuddy,
        # order in page.private).
        for order in range(0, 11):
            head = pfn & ~((1 << order) - 1)
            raw = page(head)
            if raw is None:
                break
            mapcount = struct.unpack_from("<i", raw, off_mapcount)[0]
            if mapcount == buddy:
                if order == 0 or off_private is None or \
                        struct.unpack_from("<Q", raw, off_private)[0] >= order:
                    return "free"
    raw = page(pfn)
    if raw is None:
        return None
    off_head = v.offset("page.compound_head")
    if off_head is not None:
        head = struct.unpack_from("<Q", raw, off_head)[0]
        if head & 1:  # tail page of a compound page: the head has mapping and flags
            try:
                raw = dump.read(head - 1, size)
            except FaultError:
                return None
    flags = struct.unpack_from("<Q", raw, off_flags)[0]
    mapping = struct.unpack_from("<Q", raw, off_mapping)[0]
    slab = v.number("PG_slab")
    if slab is not None and flags >> slab & 1:
        return "slab"  # never excluded by a makedumpfile that knows this kernel
    if mapping & 1:  # PAGE_MAPPING_ANON
        return "user"
    swapcache = v.number("PG_swapcache")
    private = v.number("PG_private")
    if mapping or (swapcache is not None and flags >> swapcache & 1):
        if private is not None and flags >> private & 1:
            return "cache private"
        return "cache"
    return None


def _subtract(ranges: list[tuple[int, int]],
              holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``ranges`` minus ``holes`` (both sorted, disjoint)."""
    out: list[tuple[int, int]] = []
    j = 0
    for lo, hi in ranges:
        pos = lo
        while j < len(holes) and holes[j][1] <= pos:
            j += 1
        k = j
        while pos < hi and k < len(holes) and holes[k][0] < hi:
            if holes[k][0] > pos:
                out.append((pos, holes[k][0]))
            pos = max(pos, holes[k][1])
            k += 1
        if pos < hi:
            out.append((pos, hi))
    return out


def excluded_in_use(dump: Dump, limit: int = 1 << 15) -> tuple[int, int, int] | None:
    """Look for pages makedumpfile must never exclude among those the dump left out.

    makedumpfile only excludes zero, page-cache, user and free pages; a page whose
    ``struct page`` has PG_slab set was in use by the kernel's slab allocator, and its
    absence means makedumpfile misread the kernel's page flags (an older makedumpfile on
    a newer kernel drops slab pages this way). Examines every excluded page, or ``limit``
    of them spread evenly when there are more.

    Returns ``(slab pages found, pages examined, excluded pages)``, or None when the dump
    cannot tell (no VMCOREINFO page-flag numbers or no vmemmap base).
    """
    v = dump.vmcoreinfo
    base = dump.layout.vmemmap_base
    size = v.size("page")
    off_flags = v.offset("page.flags")
    pg_slab = v.number("PG_slab")
    off_head = v.offset("page.compound_head")
    if base is None or size is None or off_flags is None or pg_slab is None:
        return None
    shift = dump.layer.page_shift
    excluded = _subtract(dump.layer.ranges(), dump.layer.present_ranges())
    runs = [(lo >> shift, (hi + (1 << shift) - 1) >> shift) for lo, hi in excluded]
    total = sum(hi - lo for lo, hi in runs)
    if not total:
        return 0, 0, 0
    step = max(1, total // limit)
    if size % 8 or off_flags % 8 or (off_head or 0) % 8:
        return None  # struct page is an array of longs on x86-64: never taken
    span = max(1, dump.page_size // size)  # pfns whose struct pages share one page
    stride = step * size // 8  # in 64-bit words, from one sampled struct page to the next

    def head_flags(head: int) -> int | None:
        try:
            return struct.unpack_from("<Q", dump.read(head, size), off_flags)[0]
        except (FaultError, ValueError):
            return None

    def struct_pages(first: int, stop: int) -> Iterator[bytes]:
        """The struct pages of every ``step``-th pfn from ``first`` below ``stop``: one
        read per page of the (page-aligned) vmemmap array; where that read faults, one
        read per struct page, skipping those that cannot be read."""
        lo = first
        while lo < stop:
            last = lo + (min(stop, (lo // span + 1) * span) - 1 - lo) // step * step
            try:
                yield dump.read(base + lo * size, (last - lo) * size + size)
            except (FaultError, ValueError):
                for pfn in range(lo, last + 1, step):
                    try:
                        yield dump.read(base + pfn * size, size)
                    except (FaultError, ValueError):
                        pass
            lo = last + step

    found = examined = 0
    index = 0  # position among all excluded pfns
    for lo, hi in runs:
        for raw in struct_pages(lo + (-index) % step, hi):
            words = array("Q", raw)
            if sys.byteorder == "big":
                words.byteswap()
            flags = words[off_flags // 8::stride]
            heads = words[off_head // 8::stride] if off_head is not None else [0] * len(flags)
            for flag, head in zip(flags, heads, strict=True):
                if head & 1:  # compound tail: PG_slab is on the head page
                    head_flag = head_flags(head - 1)
                    if head_flag is None:
                        continue
                    flag = head_flag
                examined += 1
                found += flag >> pg_slab & 1
        index += hi - lo
    return found, examined, total
