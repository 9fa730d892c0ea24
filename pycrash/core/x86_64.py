"""x86-64 virtual → physical translation (formats.md §4).

Paging modes are data (volatility3's ``intel.py`` idea): a list of
``(level name, shift)`` pairs walked by one generic loop. Kernel-image addresses translate
arithmetically with ``phys_base`` and direct-map addresses with ``page_offset_base``
(crash does the same); everything else, and every :meth:`X86_64PageTable.walk`, walks the
tables from the root (``init_top_pgt`` for the kernel).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .errors import NotMappedError

__all__ = [
    "X86_64PageTable", "Translation", "TableEntry", "Layout",
    "START_KERNEL_MAP", "LEVELS_4", "LEVELS_5", "kernel_root_from_cr3",
]

START_KERNEL_MAP = 0xFFFFFFFF80000000  # __START_KERNEL_map
MODULES_END = 0xFFFFFFFFFF000000  # start of the fixmap (MODULES_END = _AC(0xffffffffff000000))
CPU_ENTRY_AREA = 0xFFFFFE0000000000
ESPFIX_BASE = 0xFFFFFF0000000000
EFI_VA_END = 0xFFFFFFEF00000000  # EFI runtime region [0xffffffef00000000, 0xffffffff00000000)
EFI_VA_START = 0xFFFFFFFF00000000

# Entry bits.
_P = 1 << 0
_PSE = 1 << 7
_PROTNONE = 1 << 8
# Physical address bits 12..51 of a table/4 KiB entry; 2 MiB and 1 GiB leaf entries use
# bits 21..51 / 30..51 (bit 12 of a large-page entry is PAT, not address).
ADDR_MASK = 0x000FFFFFFFFFF000
ADDR_MASK_2M = 0x000FFFFFFFE00000
ADDR_MASK_1G = 0x000FFFFFC0000000
PHYS_MASK = (1 << 52) - 1

LEVELS_4 = (("PGD", 39), ("PUD", 30), ("PMD", 21), ("PTE", 12))
LEVELS_5 = (("PML5", 48), ("PGD", 39), ("PUD", 30), ("PMD", 21), ("PTE", 12))
_LARGE = {"PUD": ADDR_MASK_1G, "PMD": ADDR_MASK_2M}


@dataclasses.dataclass(frozen=True)
class TableEntry:
    """One page-table entry visited by a walk."""

    level: str  # "PML5" | "PGD" | "PUD" | "PMD" | "PTE"
    table_paddr: int  # physical address of the table
    index: int  # entry index within the table (0..511)
    entry_paddr: int  # physical address of the entry (table_paddr + 8 * index)
    value: int  # raw entry value

    @property
    def present(self) -> bool:
        return bool(self.value & _P)

    @property
    def huge(self) -> bool:
        return self.level in ("PUD", "PMD") and bool(self.value & _PSE)


@dataclasses.dataclass(frozen=True)
class Translation:
    """Result of translating one virtual address."""

    vaddr: int
    paddr: int
    page_size: int  # 4096, 2 MiB or 1 GiB
    entries: list[TableEntry]
    kind: str  # "text", "directmap", "vmalloc", "vmemmap", "module", "user", ...

    @property
    def root(self) -> int | None:
        return self.entries[0].table_paddr if self.entries else None


@dataclasses.dataclass
class Layout:
    """Kernel virtual-memory layout; randomized bases are filled from the dump."""

    levels: int = 4
    phys_base: int = 0
    kernel_image_size: int = 1 << 30
    page_offset_base: int | None = None
    vmalloc_base: int | None = None
    vmemmap_base: int | None = None
    directmap_size: int | None = None  # bytes of the direct map actually backed

    @property
    def user_top(self) -> int:
        """TASK_SIZE_MAX: user space has 47 address bits with 4-level paging, 56 with 5."""
        return 1 << (56 if self.levels == 5 else 47)

    @property
    def kernel_half(self) -> int:
        """The lowest kernel virtual address, the mirror image of ``user_top``
        (0xffff800000000000 with 4-level paging, 0xff00000000000000 with 5); crash's
        IS_KVADDR() bound for its value annotations."""
        return (1 << 64) - self.user_top

    @property
    def vmalloc_size(self) -> int:
        return (12800 << 40) if self.levels == 5 else (32 << 40)  # 12.5 PB / 32 TB

    @property
    def vmemmap_size(self) -> int:
        return (512 << 40) if self.levels == 5 else (1 << 40)  # 0.5 PB / 1 TB

    def canonical(self, vaddr: int) -> bool:
        bits = 57 if self.levels == 5 else 48
        top = vaddr >> (bits - 1)
        return top == 0 or top == (1 << (65 - bits)) - 1

    def kind(self, vaddr: int) -> str:
        """Region name of ``vaddr`` (mm.rst)."""
        if vaddr < self.user_top:
            return "user"
        if not self.canonical(vaddr):
            return "noncanonical"
        if vaddr >= START_KERNEL_MAP:
            if vaddr < START_KERNEL_MAP + self.kernel_image_size:
                return "text"
            if vaddr < MODULES_END:
                return "module"
            return "fixmap"
        if EFI_VA_END <= vaddr < EFI_VA_START:
            return "efi"
        if vaddr >= ESPFIX_BASE:
            return "espfix"
        if vaddr >= CPU_ENTRY_AREA:
            return "cpu_entry_area"
        pob = self.page_offset_base
        if pob is not None and pob <= vaddr < pob + (self.directmap_size or 0):
            return "directmap"
        vb = self.vmalloc_base
        if vb is not None and vb <= vaddr < vb + self.vmalloc_size:
            return "vmalloc"
        mb = self.vmemmap_base
        if mb is not None and mb <= vaddr < mb + self.vmemmap_size:
            return "vmemmap"
        if vb is None and pob is not None and vaddr > pob and (mb is None or vaddr < mb):
            return "vmalloc"  # between the direct map and vmemmap (vmalloc_base unknown)
        return "kernel"


def kernel_root_from_cr3(cr3: int) -> int:
    """Page-table root from a CR3 value: drop the PCID (bits 0-11) and NOFLUSH (bit 63)
    bits. With PTI, bit 12 selects the user copy of an 8 KiB PGD pair; the kernel copy,
    which maps both halves, is the even page, so bit 12 is cleared too."""
    return cr3 & PHYS_MASK & ~0x1FFF


class X86_64PageTable:
    """Walks x86-64 page tables through a physical-memory reader.

    Args:
        read_u64: reads a little-endian u64 at a physical address (raises FaultError).
        root: physical address of the kernel top-level table (``init_top_pgt``).
        layout: the kernel layout (levels, phys_base, randomized bases).
        sme_mask: AMD SME C-bit mask to clear from every entry (``NUMBER(sme_mask)``).
    """

    def __init__(self, read_u64: Callable[[int], int], root: int | None, layout: Layout,
                 sme_mask: int = 0) -> None:
        self._read_u64 = read_u64
        self.root = root
        self.layout = layout
        self.levels = LEVELS_5 if layout.levels == 5 else LEVELS_4
        self.entry_mask = ~sme_mask & ((1 << 64) - 1)

    def walk(self, vaddr: int, root: int | None = None) -> Translation:
        """Walk the tables for ``vaddr`` and return every entry visited.

        Raises:
            NotMappedError: with ``level`` set to the level whose entry was not present
                (or None for a non-canonical address / no root).
        """
        layout = self.layout
        kind = layout.kind(vaddr)
        if kind == "noncanonical":
            raise NotMappedError(vaddr, "not mapped (non-canonical address)")
        table = self.root if root is None else root
        if table is None:
            raise NotMappedError(vaddr, "not mapped (no page-table root known)")
        table &= ADDR_MASK
        entries: list[TableEntry] = []
        read = self._read_u64
        mask = self.entry_mask
        # User PTEs/PMDs of PROT_NONE mappings have Present clear and _PAGE_PROTNONE (the
        # Global bit, bit 8) set; the kernel's pte_present() counts them as present.
        present = _P | _PROTNONE if vaddr < layout.user_top else _P
        for level, shift in self.levels:
            index = (vaddr >> shift) & 0x1FF
            entry_pa = table + 8 * index
            value = read(entry_pa)
            entries.append(TableEntry(level, table, index, entry_pa, value))
            value &= mask
            if not value & present:
                raise NotMappedError(vaddr, level=level, entries=entries)
            if shift == 12:
                return Translation(vaddr, (value & ADDR_MASK) | (vaddr & 0xFFF), 4096,
                                   entries, kind)
            large = _LARGE.get(level)
            if large is not None and value & _PSE:
                size = 1 << shift
                return Translation(vaddr, (value & large) | (vaddr & (size - 1)), size,
                                   entries, kind)
            table = value & ADDR_MASK
        raise AssertionError("unreachable")

    def find_direct_map(self, max_paddr: int) -> int | None:
        """Find ``page_offset_base`` without symbols: the lowest 1 GiB-aligned kernel
        address whose first mapping maps physical address equal to its offset from that
        base (the direct map is the lowest KASLR memory region and starts at pa 0,
        ``arch/x86/mm/kaslr.c``; its base is PUD aligned)."""
        if self.root is None:
            return None
        read = self._read_u64
        mask = self.entry_mask
        top_name, top_shift = self.levels[0]
        sign = ((1 << 64) - 1) ^ ((1 << (top_shift + 9)) - 1)

        def tables(table: int, depth: int, base: int):  # yields (va, entry) at PUD level
            name, shift = self.levels[depth]
            start = 256 if depth == 0 else 0
            for idx in range(start, 512):
                try:
                    value = read(table + 8 * idx) & mask
                except Exception:  # noqa: BLE001 - unreadable table: skip it
                    return
                if not value & _P:
                    continue
                va = base | (idx << shift)
                if depth == 0:
                    va |= sign
                if name == "PUD":
                    yield va, value
                else:
                    yield from tables(value & ADDR_MASK, depth + 1, va)

        for va, pud in tables(self.root & ADDR_MASK, 0, 0):
            if self.layout.user_top <= va < CPU_ENTRY_AREA:
                first = self._first_leaf(va, pud)
                if first is not None and first[1] == first[0] - va and first[1] < max_paddr:
                    return va
        return None

    def find_kernel_text(self) -> tuple[int, int] | None:
        """``(va, pa)`` of the first mapped page of the kernel image mapping.

        At boot ``cleanup_highmap()`` clears the ``__START_KERNEL_map`` entries below
        ``_text``, so the first present entry there maps ``_text`` (2 MiB aligned). Used
        when a dump has no VMCOREINFO (QEMU without ``-device vmcoreinfo``)."""
        va = START_KERNEL_MAP
        end = START_KERNEL_MAP + self.layout.kernel_image_size
        while va < end:
            try:
                t = self.walk(va)
            except NotMappedError as exc:
                level = exc.level
                step = {"PML5": 1 << 48, "PGD": 1 << 39, "PUD": 1 << 30}.get(level or "",
                                                                            1 << 21)
                va = (va + step) & ~(step - 1)
                continue
            return va, t.paddr
        return None

    def _first_leaf(self, va: int, pud: int) -> tuple[int, int] | None:
        """(va, pa) of the first present leaf under a present PUD entry."""
        read = self._read_u64
        mask = self.entry_mask
        if pud & _PSE:
            return va, pud & ADDR_MASK_1G
        pmd_table = pud & ADDR_MASK
        for i in range(512):
            pmd = read(pmd_table + 8 * i) & mask
            if not pmd & _P:
                continue
            pva = va + (i << 21)
            if pmd & _PSE:
                return pva, pmd & ADDR_MASK_2M
            pte_table = pmd & ADDR_MASK
            for j in range(512):
                pte = read(pte_table + 8 * j) & mask
                if pte & _P:
                    return pva + (j << 12), pte & ADDR_MASK
            return None
        return None
