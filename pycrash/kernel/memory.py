"""Physical/virtual address arithmetic and the ``struct page`` of a physical address.

x86-64 facts used here (Documentation/arch/x86/x86_64/mm.rst):

* the direct map starts at ``page_offset_base`` (randomized by CONFIG_RANDOMIZE_MEMORY), so
  ``ptov(pa) = page_offset_base + pa``;
* with SPARSEMEM_VMEMMAP the ``struct page`` array starts at ``vmemmap_base`` and is indexed by
  pfn, so ``pfn_to_page(pfn) = vmemmap_base + pfn * sizeof(struct page)``.

The layout values come from the core (``session.dump.layout``), which read them from the dump.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pycrash.session import Session

__all__ = [
    "PageInfo",
    "btop",
    "online_pgdats",
    "page_flag_names",
    "page_info",
    "page_offset_base",
    "paddr_print_width",
    "pfn_to_page",
    "ptob",
    "ptov",
    "vmemmap_base",
]

# x86-64 __PHYSICAL_MASK_SHIFT is 52 (arch/x86/include/asm/page_64_types.h).
PHYSICAL_MASK = (1 << 52) - 1


def page_shift(session: Session) -> int:
    return session.dump.page_size.bit_length() - 1


def ptob(session: Session, pfn: int) -> int:
    """Page frame number → physical address of the page (crash ``PTOB``)."""
    return (pfn << page_shift(session)) & ((1 << 64) - 1)


def btop(session: Session, paddr: int) -> int:
    """Physical address → page frame number (crash ``BTOP``)."""
    return paddr >> page_shift(session)


def page_offset_base(session: Session) -> int:
    """Start of the direct map of all physical memory (``page_offset_base``)."""
    base = session.dump.layout.page_offset_base
    if base is None:
        address = session.symbol_address("page_offset_base")
        # The unrandomized defaults (mm.rst): 4-level and 5-level paging.
        default = 0xFF11000000000000 if session.dump.paging_levels == 5 else 0xFFFF888000000000
        base = session.dump.read_u64(address) if address else default
    return base


def ptov(session: Session, paddr: int) -> int:
    """Physical address → its direct-map kernel virtual address (crash ``PTOV``)."""
    return (page_offset_base(session) + paddr) & ((1 << 64) - 1)


def vmemmap_base(session: Session) -> int:
    base = session.dump.layout.vmemmap_base
    if base is None:
        address = session.symbol_address("vmemmap_base")
        default = 0xFFD4000000000000 if session.dump.paging_levels == 5 else 0xFFFFEA0000000000
        base = session.dump.read_u64(address) if address else default
    return base


def page_struct_size(session: Session) -> int:
    size = session.vmcoreinfo.size("page")
    if size:
        return size
    return session.prog.type("struct page").size


def pfn_to_page(session: Session, pfn: int) -> int:
    """Address of the ``struct page`` of ``pfn`` (SPARSEMEM_VMEMMAP)."""
    return vmemmap_base(session) + pfn * page_struct_size(session)


_cache: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _session_cache(session: Session) -> dict[str, Any]:
    try:
        return _cache.setdefault(session, {})
    except TypeError:  # not weak-referenceable: no caching
        return {}


def page_flag_names(session: Session) -> list[tuple[int, str]]:
    """``[(mask, name)]`` from the kernel's ``pageflag_names[]`` (mm/debug.c).

    The array of ``struct trace_print_flags`` ends with an entry whose name is NULL.  crash
    decodes ``page.flags`` with exactly this table when the kernel has it.
    """
    cache = _session_cache(session)
    if "pageflags" in cache:
        return cache["pageflags"]
    prog = session.prog
    names: list[tuple[int, str]] = []
    try:
        array = prog["pageflag_names"]
    except KeyError:
        array = None
    if array is not None:
        for entry in array:
            if not entry.name:
                break
            names.append((int(entry.mask), entry.name.string_().decode("latin-1")))
    else:
        # Older kernels: the enum pageflags bits, named without their PG_ prefix.
        enum = prog.type("enum pageflags")
        for name, value in enum.enumerators:
            if name == "__NR_PAGEFLAGS":
                break
            names.append((1 << value, name[3:] if name.startswith("PG_") else name))
    cache["pageflags"] = names
    return names


def paddr_print_width(session: Session) -> int:
    """crash's PADDR_PRLEN: hex digits of the memory size (sum of the nodes' present pages)."""
    cache = _session_cache(session)
    if "paddr_prlen" not in cache:
        try:
            present = sum(int(p.node_present_pages) for p in online_pgdats(session.prog))
        except (LookupError, ValueError):
            present = 0
        cache["paddr_prlen"] = len(f"{present * session.dump.page_size:x}")
    return cache["paddr_prlen"]


def online_pgdats(prog: Any) -> list[Any]:
    """The ``pg_data_t`` of each online node: ``node_data[nid]`` (NUMA) or
    ``contig_page_data`` (a single node, !CONFIG_NUMA)."""
    try:
        node_data = prog["node_data"]
    except KeyError:
        return [prog["contig_page_data"]]
    from pycrash.kernel.masks import online_nodes

    return [node_data[nid][0] for nid in online_nodes(prog)]


@dataclass
class PageInfo:
    """The ``struct page`` fields crash shows for one physical page."""

    page: int  # address of the struct page
    paddr: int  # physical address of the page
    mapping: int
    index: int
    count: int  # page._refcount (page._count before 4.6)
    flags: int
    flag_names: list[str]


def page_info(session: Session, paddr: int) -> PageInfo:
    """The struct page of the page holding physical address ``paddr``."""
    from drgn import Object

    prog = session.prog
    pfn = btop(session, paddr)
    address = pfn_to_page(session, pfn)
    page = Object(prog, "struct page", address=address)
    flags = int(page.flags)
    try:
        count = int(page._refcount.counter)
    except AttributeError:  # before Linux 4.6
        count = int(page._count.counter)
    count &= 0xFFFFFFFF
    if count >= 1 << 31:
        count -= 1 << 32
    names = [name for mask, name in page_flag_names(session) if flags & mask] if flags else []
    return PageInfo(
        page=address,
        paddr=ptob(session, pfn),
        mapping=int(page.mapping.value_()),
        index=int(page.index),
        count=count,
        flags=flags,
        flag_names=names,
    )
