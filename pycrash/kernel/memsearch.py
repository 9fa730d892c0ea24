"""Searching kernel memory for values, as crash's memory.c ``cmd_search`` walks it.

crash (x86_64_get_kvaddr_ranges) splits the kernel's address space into ranges, sorted by
start address, and searches each in turn:

* unity map: ``page_offset_base`` .. ``high_memory``, the direct map of all RAM;
* start map: ``__START_KERNEL_map`` .. ``_end``, the kernel image mapping;
* vmalloc: ``vmalloc_base`` .. the end of the highest vmalloc area (module memory is
  vmalloc'ed, so this covers the modules too); only the areas of ``vmap_area_list`` are read;
* vmemmap: ``vmemmap_base`` .. the end of the last node's ``struct page`` array.

The unity and start maps are translated arithmetically (x86_64_VTOP: ``vaddr - PAGE_OFFSET``
and ``vaddr - __START_KERNEL_map + phys_base``), vmalloc and vmemmap through the page tables.
A page is searched when its physical page is in the dump (makedumpfile's excluded pages
are not read); every byte comes through ``session.dump``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

START_KERNEL_MAP = 0xFFFFFFFF80000000  # x86-64 __START_KERNEL_map
_U64 = (1 << 64) - 1
_CHUNK = 64 * 4096  # bytes read at once from a run of present physical pages

UNITY, START, VMALLOC, VMEMMAP = "unity", "start", "vmalloc", "vmemmap"
STACK = "stack"  # one task's kernel stack (-t/-T): the walk ends at its first unmapped page


@dataclasses.dataclass
class KvRange:
    kind: str
    start: int
    end: int


@dataclasses.dataclass
class Block:
    """``data`` read from the dump, found at (virtual or physical) ``address``."""

    address: int
    data: bytes


def vmalloc_areas(prog: Any) -> list[tuple[int, int]]:
    """crash's vmlist: ``[va_start, va_end)`` of each ``vmap_area`` holding a vm_struct
    (before v4.20 ``flags == VM_VM_AREA``), in ``vmap_area_list`` (address) order."""
    import drgn

    from pycrash.kernel.lists import entries, list_walk

    try:
        head = prog["vmap_area_list"].address_of_().value_()
    except KeyError:
        return _vmap_node_areas(prog)
    va_type = prog.type("struct vmap_area")
    old_flags = va_type.has_member("purge_list") and va_type.has_member("flags")
    areas = []
    for va in entries(prog, list_walk(prog, head), "struct vmap_area", "list"):
        try:
            if old_flags:
                if va.flags.value_() != 0x04:  # VM_VM_AREA
                    continue
            elif not va.vm.value_():
                continue
            areas.append((va.va_start.value_(), va.va_end.value_()))
        except drgn.FaultError:
            continue
    return areas


def _vmap_node_areas(prog: Any) -> list[tuple[int, int]]:
    """v6.9+: the busy areas of every ``vmap_nodes[i].busy.head`` list, by address."""
    import drgn

    from pycrash.kernel.lists import entries, list_walk

    try:
        nodes = prog["vmap_nodes"]
        count = prog["nr_vmap_nodes"].value_()
    except KeyError:
        return []
    areas = []
    for i in range(count):
        head = nodes[i].busy.head.address_of_().value_()
        for va in entries(prog, list_walk(prog, head), "struct vmap_area", "list"):
            try:
                if va.vm.value_():
                    areas.append((va.va_start.value_(), va.va_end.value_()))
            except drgn.FaultError:
                continue
    return sorted(areas)


def kvaddr_ranges(session: Any, areas: list[tuple[int, int]]) -> list[KvRange]:
    """crash's x86_64_get_kvaddr_ranges(), sorted by start."""
    from pycrash.kernel.memory import online_pgdats, page_offset_base, page_struct_size
    from pycrash.kernel.memory import vmemmap_base as vmemmap_start

    prog = session.prog
    ranges = [
        KvRange(UNITY, page_offset_base(session), prog["high_memory"].value_()),
        KvRange(START, START_KERNEL_MAP, _kernel_end(session)),
    ]
    if areas:
        vmalloc = session.dump.read_u64(session.symbol_address("vmalloc_base"))
        ranges.append(KvRange(VMALLOC, vmalloc, max(end for _, end in areas)))
    base = vmemmap_start(session)
    if not _in_areas(areas, base):
        last = online_pgdats(prog)[-1]
        pages = last.node_start_pfn.value_() + last.node_spanned_pages.value_()
        ranges.append(KvRange(VMEMMAP, base, base + pages * page_struct_size(session)))
    return sorted(ranges, key=lambda r: r.start)


def _kernel_end(session: Any) -> int:
    """crash's kt->end: the runtime ``_end`` (drgn keeps this linker symbol unrelocated,
    the symbol table relocates it by the KASLR offset)."""
    from pycrash.kernel.symbols import symbol_table

    found = symbol_table(session).lookup("_end")
    if found:
        return found[0].address
    return session.symbol_address("_end") + (session.dump.kaslr_offset or 0)


def _in_areas(areas: list[tuple[int, int]], address: int) -> bool:
    return any(start <= address < end for start, end in areas)


def _present_physical(session: Any, lo: int, hi: int) -> Iterator[tuple[int, int]]:
    """``[start, end)`` physical runs of pages in the dump, clipped to ``[lo, hi)``."""
    for start, end in session.dump.present_ranges():
        start, end = max(start, lo), min(end, hi)
        if start < end:
            yield start, end


def _physical_blocks(session: Any, lo: int, hi: int, to_virtual: int) -> Iterator[Block]:
    """Blocks of present physical memory in ``[lo, hi)``, addressed ``paddr + to_virtual``."""
    for start, end in _present_physical(session, lo, hi):
        for at in range(start, end, _CHUNK):
            size = min(_CHUNK, end - at)
            try:
                data = session.dump.read(at, size, physical=True)
            except Exception:  # noqa: BLE001 - unreadable: skipped, as crash's readmem
                continue
            # page by page, as crash searches (a string's context ends at its page)
            psize = session.dump.page_size
            for offset in range(0, len(data), psize):
                yield Block((at + offset + to_virtual) & _U64, data[offset:offset + psize])


@dataclasses.dataclass
class _Walker:
    """crash's search_virtual() page walk over one kernel range: kvtop(), phys_to_page()
    and, where a page cannot be translated, next_kpage() for the range's kind."""

    session: Any
    rng: KvRange
    areas: list[tuple[int, int]]
    nodes: list[tuple[int, int]]  # [start, end) physical of each node
    phys_base: int  # signed
    page_offset: int  # page_offset_base: the direct map's start

    def translate(self, vaddr: int) -> int | None:
        dump = self.session.dump
        kind = dump.layout.kind(vaddr)
        # x86_64_kvtop(): x86_64_VTOP() arithmetic outside vmalloc/vmemmap/module space
        if kind == "text":
            return vaddr - START_KERNEL_MAP + self.phys_base
        if kind not in ("vmalloc", "vmemmap", "module", "fixmap", "cpu_entry_area",
                        "espfix", "efi") and vaddr < START_KERNEL_MAP:
            return vaddr - self.page_offset
        try:
            return dump.vtop(vaddr)
        except Exception:  # noqa: BLE001 - not mapped
            return None

    def has_page(self, paddr: int) -> bool:
        """phys_to_page(): the physical page lies in a node."""
        return any(start <= paddr < end for start, end in self.nodes)

    def next_page(self, vaddr: int) -> int | None:
        """next_kpage(): the next candidate page after untranslatable ``vaddr``."""
        psize = self.session.dump.page_size
        vaddr = (vaddr & ~(psize - 1)) + psize
        if vaddr > _U64:
            return None
        if self.rng.kind == UNITY:  # next_identity_mapping()
            paddr = vaddr - self.rng.start
            found = None
            for start, end in self.nodes:
                if paddr >= end:
                    continue
                if paddr < start:
                    if found is None or start < found:
                        found = start
                    continue
                return vaddr
            return None if found is None else self.rng.start + found
        if self.rng.kind == STACK:
            return None
        if self.rng.kind == VMALLOC:  # next_vmlist_vaddr()
            for start, end in self.areas:
                if vaddr <= start:
                    return start
                if vaddr < end:
                    return vaddr
            return None
        return vaddr

    def pages(self, lo: int, hi: int) -> Iterator[tuple[Block, int, int]]:
        """(page, first word address, end) of each page read, as search_virtual() reads."""
        dump = self.session.dump
        psize = dump.page_size
        pp, nxt = lo & ~(psize - 1), lo
        while nxt < hi:
            lastpage = (nxt & ~(psize - 1)) == (hi & ~(psize - 1))
            paddr = self.translate(pp)
            if paddr is None or paddr < 0 or not self.has_page(paddr):
                found = self.next_page(pp)
                if found is None:
                    return
                pp = nxt = found
                continue
            try:
                data = dump.read(paddr, psize, physical=True)
            except Exception:  # noqa: BLE001 - unreadable (excluded): the next page
                pp += psize
                nxt = pp
                continue
            if lastpage:
                words = (hi - nxt) // 8
            else:
                words = (psize - (nxt - pp)) // 8
            yield Block(pp, data), nxt, nxt + words * 8
            pp += psize
            nxt = pp


def thread_size(prog: Any) -> int:
    """THREAD_SIZE: the kernel stack of each task (x86_64: 16K without KASAN)."""
    try:
        return int(prog["THREAD_SIZE"])
    except (KeyError, LookupError, TypeError):
        return 16384


def node_ranges(session: Any) -> list[tuple[int, int]]:
    """crash's node_table: [start, end) physical of each online node."""
    from pycrash.kernel.memory import online_pgdats

    shift = session.dump.page_size.bit_length() - 1
    return [(n.node_start_pfn.value_() << shift,
             (n.node_start_pfn.value_() + n.node_spanned_pages.value_()) << shift)
            for n in online_pgdats(session.prog)]


def range_pages(session: Any, rng: KvRange, lo: int, hi: int, areas: list[tuple[int, int]],
                nodes: list[tuple[int, int]]) -> Iterator[tuple[Block, int, int]]:
    """What crash's search_virtual() reads of ``rng`` between ``lo`` and ``hi``."""
    phys_base = session.dump.read_u64(session.symbol_address("phys_base"))
    if phys_base >> 63:
        phys_base -= 1 << 64  # KASLR: the image sits lower in RAM than its link address
    from pycrash.kernel.memory import page_offset_base

    return _Walker(session, rng, areas, nodes, phys_base, page_offset_base(session)).pages(lo, hi)


def physical_blocks(session: Any, lo: int, hi: int) -> Iterator[Block]:
    """Present physical memory in ``[lo, hi)`` (crash's search_physical())."""
    yield from _physical_blocks(session, lo, hi, 0)


@dataclasses.dataclass
class Target:
    value: int
    label: str  # crash's show_opt_string(): "(symbol)" or ""


def find_words(block: Block, lo: int, hi: int, width: int, targets: list[Target],
               mask: int) -> list[tuple[int, int, int]]:
    """(address, word, target index) of every ``width``-byte word of ``block`` in
    ``[lo, hi)`` equal to a target under ``~mask`` (crash's SEARCHMASK), in address order."""
    start = max(lo, block.address) - block.address
    stop = min(hi, block.address + len(block.data)) - block.address
    if start >= stop:
        return []
    data = block.data
    found: list[tuple[int, int, int]] = []
    full = (1 << (8 * width)) - 1
    keep = ~mask & full
    if keep == full:
        for index, target in enumerate(targets):
            needle = (target.value & full).to_bytes(width, "little")
            pos = data.find(needle, start, stop)
            while pos >= 0:
                if pos % width == 0 and pos + width <= stop:
                    found.append((block.address + pos, target.value & full, index))
                pos = data.find(needle, pos + 1, stop)
        return sorted(found)
    words = memoryview(data)[start:stop - (stop - start) % width].cast(
        {8: "Q", 4: "I", 2: "H"}[width])
    wanted = [(target.value & keep, i) for i, target in enumerate(targets)]
    for n, word in enumerate(words):
        for value, index in wanted:
            if word & keep == value:
                found.append((block.address + start + n * width, word, index))
    return found



CHARS_CTX = 56  # crash: characters shown from the start of a string match


def _printable(data: bytes) -> str:
    """crash's report_match(): isprint() characters as they are, others as '.'."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)


class CharSearch:
    """crash's search_chars(): each string's matches within a page's searched words, with up
    to CHARS_CTX characters from the match on; a match that runs on into the next page
    searched (contiguous with this one) is reported when that page is searched."""

    def __init__(self, targets: list[bytes]) -> None:
        self.targets = targets
        self.next_address: int | None = None
        self.cross: list[tuple[int, list[bool]]] = []  # per target: (address, hits)

    def page(self, block: Block, lo: int, hi: int) -> list[tuple[int, str]]:
        """(address, text) of the matches reported while searching ``[lo, hi)``."""
        start = lo - block.address
        buf = block.data[start:start + (hi - lo)]
        rest = block.data[start:]  # crash's page buffer runs on past the searched words
        found: list[tuple[int, str]] = []
        if self.next_address == lo:
            for target, (address, hits) in zip(self.targets, self.cross, strict=True):
                size = len(target)
                for i in range(size - 1):
                    if hits[i] and rest[:i + 1] == target[size - 1 - i:]:
                        text = target + rest[i + 1:i + 1 + CHARS_CTX - size]
                        found.append((address + i, _printable(text)))
        count = len(buf)
        self.next_address = lo + count
        self.cross = []
        inside: list[tuple[int, int, str]] = []
        for j, target in enumerate(self.targets):
            size = len(target)
            hits = [False] * max(size - 1, 0)
            for k in range(1, size):  # the page's last k bytes begin the string
                if count - k >= 0 and buf[count - k:] == target[:k]:
                    hits[size - k - 1] = True
            self.cross.append((lo + count - (size - 1), hits))
            pos = buf.find(target)
            while pos >= 0:
                slen = CHARS_CTX if pos + CHARS_CTX <= count else count - pos
                inside.append((pos, j, _printable(buf[pos:pos + slen])))
                pos = buf.find(target, pos + 1)
        found.extend((lo + pos, text) for pos, _, text in sorted(inside))
        return found


def user_start(session: Any, mm: int) -> int | None:
    """crash's address_space_start(): the start of the task's first VMA."""
    from pycrash.kernel.vma import mm_vmas

    vmas = mm_vmas(session.prog, mm)
    return vmas[0].start if vmas else None


def user_pages(session: Any, mm: int, pgd: int, lo: int, hi: int,
               nodes: list[tuple[int, int]]) -> Iterator[tuple[Block, int, int]]:
    """What search_virtual() reads of a user address space: the pages of each VMA in
    ``[lo, hi)`` that uvtop() maps to a page of a node (next_upage() skips the rest)."""
    from pycrash.kernel.vma import mm_vmas, vma_pages

    psize = session.dump.page_size
    for vma in mm_vmas(session.prog, mm):
        if vma.end <= lo or vma.start >= hi:
            continue
        for page in vma_pages(session, pgd, vma):
            if page.vaddr + psize <= lo or page.vaddr >= hi or page.paddr is None:
                continue
            paddr = page.paddr & ~(psize - 1)
            if not any(start <= paddr < end for start, end in nodes):
                continue
            try:
                data = session.dump.read(paddr, psize, physical=True)
            except Exception:  # noqa: BLE001 - unreadable (excluded): the next page
                continue
            first = max(lo, page.vaddr)
            last = min(hi, page.vaddr + psize)
            yield Block(page.vaddr, data), first, first + (last - first) // 8 * 8
