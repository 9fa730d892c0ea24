"""Global VM counters (``vm_zone_stat``, ``vm_node_stat``, ``vm_numa_stat``; ``vm_stat``
before 4.8) and the memory summary crash's ``kmem -i`` builds from them.

Kernel facts (include/linux/mmzone.h, mm/vmstat.c): each array is ``atomic_long_t[]`` indexed
by ``enum zone_stat_item`` / ``enum node_stat_item`` / ``enum numa_stat_item``, whose last
enumerator (``NR_VM_*_STAT_ITEMS``) is the array length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MemInfo", "VmStatGroup", "mem_info", "vm_stat_groups", "vm_stat_value"]


class VmStatError(Exception):
    """The dump has no VM counters crash could show."""


@dataclass
class VmStatGroup:
    """One array of counters: crash's heading (``VM_ZONE_STAT`` ...) and (name, value) rows."""

    title: str
    items: list[tuple[str, int]]


# (array symbol, enum type, heading); "vm_stat" is the single array before Linux 4.8.
_ARRAYS = (
    ("vm_zone_stat", "enum zone_stat_item", "VM_ZONE_STAT"),
    ("vm_node_stat", "enum node_stat_item", "VM_NODE_STAT"),
    ("vm_numa_stat", "enum numa_stat_item", "VM_NUMA_STAT"),
)


def _counters(prog: Any, symbol: str, enum_name: str) -> list[tuple[str, int]] | None:
    try:
        array = prog[symbol]
        enum = prog.type(enum_name)
    except (KeyError, LookupError):
        return None
    length = len(array)
    if not length:
        return None
    names = {value: name for name, value in enum.enumerators}
    raw = prog.read(array.address_, 8 * length)
    rows = []
    for i in range(length):
        value = int.from_bytes(raw[8 * i:8 * i + 8], "little", signed=True)
        rows.append((names.get(i, str(i)), value))
    return rows


def vm_stat_groups(prog: Any) -> list[VmStatGroup]:
    """The counter arrays the kernel has, in crash's order."""
    groups = []
    for symbol, enum_name, title in _ARRAYS:
        rows = _counters(prog, symbol, enum_name)
        if rows is not None:
            groups.append(VmStatGroup(title, rows))
    if not groups:
        rows = _counters(prog, "vm_stat", "enum zone_stat_item")
        if rows is None:
            raise VmStatError("vm_stat not available in this kernel")
        groups.append(VmStatGroup("VM_STAT", rows))
    return groups


def vm_stat_value(prog: Any, name: str) -> int | None:
    for group in vm_stat_groups(prog):
        for item, value in group.items:
            if item == name:
                return value
    return None


@dataclass
class MemInfo:
    """The figures of ``kmem -i``, in pages (None: the kernel lacks the line)."""

    total: int
    free: int
    shared: int
    buffers: int
    cached: int
    slab: int
    huge_total: int | None
    huge_free: int | None
    swap_total: int | None
    swap_used: int | None
    commit_limit: int | None
    committed: int | None


def _symbol_ulong(prog: Any, name: str) -> int | None:
    try:
        obj = prog[name]
    except KeyError:
        return None
    from drgn import TypeKind

    if obj.type_.unaliased_kind() == TypeKind.STRUCT:  # atomic_long_t _totalram_pages (5.0+)
        return int(obj.counter)
    return int(obj)


def total_ram_pages(prog: Any) -> int:
    value = _symbol_ulong(prog, "_totalram_pages")
    if value is None:
        value = _symbol_ulong(prog, "totalram_pages")
    if value is None:
        raise VmStatError("totalram_pages: symbol not found")
    return value


def free_pages(prog: Any) -> int:
    """Sum of every zone's NR_FREE_PAGES counter (crash reads ``zone.vm_stat[NR_FREE_PAGES]``)."""
    from pycrash.kernel.memory import online_pgdats

    index = prog.constant("NR_FREE_PAGES").value_()
    total = 0
    for pgdat in online_pgdats(prog):
        for zone in pgdat.node_zones:
            total += int(zone.vm_stat[index].counter)
    return total


def shared_pages(session: Any, progress: Any = None) -> int:
    """crash's SHARED: pages not PG_reserved whose ``_refcount`` is above 1, over the whole
    mem_map."""
    from pycrash.kernel.memmap import node_pfn_chunks, pages_in

    reserved = 1 << session.prog.constant("PG_reserved").value_()
    chunks = node_pfn_chunks(session)
    if progress is not None:
        chunks = progress(chunks)
    return sum(1 for _ in pages_in(session, chunks,
                                   lambda flags, count: not flags & reserved and count > 1))


def blockdev_pages(prog: Any) -> int:
    """Pages cached for block devices: ``nrpages`` of every inode of ``blockdev_superblock``
    (the kernel's nr_blockdev_pages())."""
    from pycrash.kernel.lists import entries, list_walk

    try:
        sb = prog["blockdev_superblock"]
    except KeyError:
        return 0
    if not sb:
        return 0
    walk = list_walk(prog, sb.s_inodes.address_)
    return sum(int(inode.i_mapping.nrpages)
               for inode in entries(prog, walk, "struct inode", "i_sb_list"))


def huge_pages(prog: Any) -> tuple[int, int]:
    """(total, free) base pages in every hstate (``hstates[]``); (0, 0) without hugetlb (crash
    shows the lines then too)."""
    try:
        hstates = prog["hstates"]
    except KeyError:
        return 0, 0
    total = free = 0
    for hstate in hstates:
        order = int(hstate.order)
        if not order:
            continue
        total += int(hstate.nr_huge_pages) << order
        free += int(hstate.free_huge_pages) << order
    return total, free


def swap_pages(prog: Any) -> tuple[int, int]:
    """(total, used) pages of the swap areas in use (``swap_info[]``, SWP_USED ones)."""
    try:
        count = int(prog["nr_swapfiles"])
        info = prog["swap_info"]
    except KeyError:
        return 0, 0
    swp_used = prog.constant("SWP_USED").value_()
    total = used = 0
    for i in range(min(count, len(info))):
        si = info[i]
        if not si or not int(si.flags) & swp_used:
            continue
        total += int(si.pages)
        used += int(si.inuse_pages)
    return total, used


def mem_info(session: Any, progress: Any = None) -> MemInfo:
    prog = session.prog
    slab = 0
    for names in (("NR_SLAB",), ("NR_SLAB_RECLAIMABLE", "NR_SLAB_UNRECLAIMABLE"),
                  ("NR_SLAB_RECLAIMABLE_B", "NR_SLAB_UNRECLAIMABLE_B")):
        values = [vm_stat_value(prog, name) for name in names]
        if values[0] is not None:
            slab = sum(v for v in values if v is not None)
            break
    total = total_ram_pages(prog)
    buffers = blockdev_pages(prog)
    file_pages = vm_stat_value(prog, "NR_FILE_PAGES")
    cached = 0
    if file_pages is not None:
        swapcache = vm_stat_value(prog, "NR_SWAPCACHE") or 0
        cached = max(file_pages - swapcache - buffers, 0)
    huge = huge_pages(prog)
    swap_total, swap_used = swap_pages(prog)
    commit_limit = committed = None
    try:
        prog["sysctl_overcommit_memory"]
        kbytes = _symbol_ulong(prog, "sysctl_overcommit_kbytes") or 0
        if kbytes:
            commit_limit = kbytes >> (session.dump.page_size.bit_length() - 1 - 10)
        else:
            ratio = int(prog["sysctl_overcommit_ratio"])
            commit_limit = (total - huge[0]) * ratio // 100
        if commit_limit is not None:
            commit_limit += swap_total
            committed = max(int(prog["vm_committed_as"].count), 0)
    except KeyError:
        pass
    return MemInfo(
        total=total,
        free=free_pages(prog),
        shared=shared_pages(session, progress),
        buffers=buffers,
        cached=cached,
        slab=slab,
        huge_total=huge[0],
        huge_free=huge[1],
        swap_total=swap_total,
        swap_used=swap_used,
        commit_limit=commit_limit,
        committed=committed,
    )


@dataclass
class ZoneStats:
    """One zone as ``kmem -z`` shows it (crash's dump_zone_stats())."""

    node: int
    index: int
    address: int
    name: str
    spanned: int
    present: int
    watermarks: tuple[int, int, int]  # WMARK_MIN, WMARK_LOW, WMARK_HIGH
    vm_stat: list[tuple[str, int]]


def zone_stats(prog: Any) -> list[ZoneStats]:
    """Every zone of every online node, with its own ``vm_stat[]`` counters."""
    from pycrash.kernel.memory import online_pgdats

    names = {value: name for name, value in prog.type("enum zone_stat_item").enumerators}
    count = prog.constant("NR_VM_ZONE_STAT_ITEMS").value_()
    marks = []
    for i, mark in enumerate(("WMARK_MIN", "WMARK_LOW", "WMARK_HIGH")):
        try:
            marks.append(prog.constant(mark).value_())
        except LookupError:
            marks.append(i)
    zones = []
    for pgdat in online_pgdats(prog):
        node = int(pgdat.node_id)
        for index, zone in enumerate(pgdat.node_zones):
            # zone._watermark[] since 5.0 (watermark boosting), zone.watermark[] before.
            try:
                watermark = zone._watermark
            except AttributeError:
                watermark = zone.watermark
            zones.append(ZoneStats(
                node=node,
                index=index,
                address=zone.address_,
                name=zone.name.string_().decode("latin-1") if zone.name else "(unknown) ",
                spanned=int(zone.spanned_pages),
                present=int(zone.present_pages),
                watermarks=tuple(int(watermark[m]) for m in marks),  # type: ignore[arg-type]
                vm_stat=[(names.get(i, str(i)), int(zone.vm_stat[i].counter))
                         for i in range(count)],
            ))
    return zones
