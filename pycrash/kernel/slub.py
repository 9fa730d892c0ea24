"""SLUB caches: the ``slab_caches`` list, per-cache object counts, and the slab of an address.

Kernel facts (mm/slub.c, mm/slab.h):

* every ``struct kmem_cache`` is on the ``slab_caches`` list through ``kmem_cache.list``;
* a slab is ``struct slab`` (since 5.17; ``struct page`` before) with ``objects``/``inuse``
  bitfields, ``freelist`` (first free object), ``slab_cache`` and ``next`` (cpu partial list);
* each CPU's ``kmem_cache_cpu`` (``cache->cpu_slab``) owns one slab whose free objects are on
  ``c->freelist`` (its ``inuse`` counts them as used) and a partial list through ``slab.next``;
* each node's ``kmem_cache_node`` counts ``nr_slabs``, ``total_objects`` and holds the
  ``partial`` list through ``slab.slab_list`` (``page.lru`` before 5.17);
* with CONFIG_SLAB_FREELIST_HARDENED (``kmem_cache.random`` exists) a stored free pointer is
  ``ptr ^ s->random ^ swab(address it is stored at)`` (since 5.7).

The counts are crash's (memory.c get_kmem_cache_slub_data): free = objects not in use on
every partial slab (node and cpu lists) plus each cpu slab's freelist; allocated =
total_objects - free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pycrash.kernel.lists import entries, list_walk

__all__ = ["CacheCounts", "SlabInfo", "cache_counts", "find_cache", "slab_caches", "slab_of"]

# A freelist longer than any slab can hold objects (objects is a 15-bit field) is damaged.
_MAX_OBJECTS = 1 << 15


class SlubError(Exception):
    """The dump lacks what SLUB accounting needs (one line for the command to print)."""


def _slab_type(prog: Any) -> str:
    try:
        prog.type("struct slab")
        return "struct slab"
    except LookupError:
        return "struct page"


def slab_caches(prog: Any) -> list[Any]:
    """Every ``struct kmem_cache *`` on ``slab_caches``, in list order."""
    try:
        head = prog["slab_caches"]
    except KeyError:
        raise SlubError("slab_caches: symbol not found (not a SLUB kernel?)") from None
    try:
        prog.type("struct kmem_cache").member("cpu_slab")
    except LookupError:
        raise SlubError("only SLUB caches are supported") from None
    walk = list_walk(prog, head.address_)
    return list(entries(prog, walk, "struct kmem_cache", "list"))


def cache_name(cache: Any) -> str:
    return cache.name.string_().decode("latin-1")


def find_cache(prog: Any, name: str) -> Any | None:
    for cache in slab_caches(prog):
        if cache_name(cache) == name:
            return cache
    return None


def _swab64(value: int) -> int:
    return int.from_bytes(value.to_bytes(8, "little"), "big")


def freelist(prog: Any, cache: Any, first: int) -> list[int]:
    """Free object addresses on a freelist starting at ``first`` (hardened pointers decoded)."""
    offset = int(cache.offset)
    hardened = _has_member(cache, "random")
    random = int(cache.random) if hardened else 0
    objects: list[int] = []
    seen: set[int] = set()
    obj = first
    while obj and obj not in seen and len(objects) < _MAX_OBJECTS:
        seen.add(obj)
        objects.append(obj)
        where = obj + offset
        stored = prog.read_u64(where)
        obj = stored ^ random ^ _swab64(where) if hardened else stored
    return objects


def _has_member(obj: Any, name: str) -> bool:
    """Whether the structure ``obj`` is (or points to) has a member ``name``."""
    from drgn import TypeKind

    kind = obj.type_.unaliased()
    if kind.kind == TypeKind.POINTER:
        kind = kind.type.unaliased()
    return kind.has_member(name)


def _cpus(prog: Any) -> list[int]:
    from pycrash.kernel.masks import online_cpus

    return online_cpus(prog)


def _cpu_slab(cache: Any, cpu: int) -> Any:
    from drgn import Object

    from pycrash.kernel.native_helpers import per_cpu

    pointer = cache.cpu_slab
    return per_cpu(Object(pointer.prog_, pointer.type_.type, address=pointer.value_()), cpu)


def _cpu_slab_ptr(c: Any) -> Any:
    return c.slab if _has_member(c, "slab") else c.page


def _objects_free(slab: Any) -> int:
    return int(slab.objects) - int(slab.inuse)


def _nodes(prog: Any, cache: Any) -> list[Any]:
    from pycrash.kernel.masks import online_nodes

    return [cache.node[nid] for nid in online_nodes(prog) if cache.node[nid]]


def _partial_slabs(prog: Any, node: Any) -> list[Any]:
    slab_type = _slab_type(prog)
    member = "slab_list" if slab_type == "struct slab" else "lru"
    walk = list_walk(prog, node.partial.address_)
    return list(entries(prog, walk, slab_type, member))


def _cpu_partial_slabs(c: Any) -> list[Any]:
    slabs = []
    if not _has_member(c, "partial"):
        return slabs
    slab = c.partial
    seen: set[int] = set()
    while slab and slab.value_() not in seen and len(slabs) < _MAX_OBJECTS:
        seen.add(slab.value_())
        slabs.append(slab)
        slab = slab.next
    return slabs


@dataclass
class CacheCounts:
    """One line of ``kmem -s``."""

    cache: int
    name: str
    objsize: int
    allocated: int
    total: int
    slabs: int
    slab_size: int


def cache_counts(prog: Any, cache: Any, page_size: int) -> CacheCounts:
    free = 0
    for cpu in _cpus(prog):
        c = _cpu_slab(cache, cpu)
        slab = _cpu_slab_ptr(c)
        if slab:
            free += _objects_free(slab)
            free += len(freelist(prog, cache, c.freelist.value_()))
        free += sum(_objects_free(s) for s in _cpu_partial_slabs(c))
    total = slabs = 0
    for node in _nodes(prog, cache):
        total += int(node.total_objects.counter)
        slabs += int(node.nr_slabs.counter)
        free += sum(_objects_free(s) for s in _partial_slabs(prog, node))
    order = int(cache.oo.x) >> 16  # OO_SHIFT: the order is above the 16-bit object count
    return CacheCounts(
        cache=cache.value_(),
        name=cache_name(cache),
        objsize=int(cache.object_size),
        allocated=total - free,
        total=total,
        slabs=slabs,
        slab_size=page_size << order,
    )


@dataclass
class SlabInfo:
    """The slab holding an address, as ``kmem ADDR`` shows it."""

    cache: Any
    slab: int  # address of the struct slab (struct page)
    memory: int  # first byte of the slab's objects
    node: int
    total: int
    allocated: int
    free: int
    object: int  # the object containing the address
    object_allocated: bool
    cpu: int | None = None  # the CPU whose current slab this is
    free_objects: list[int] = field(default_factory=list)


def _page_nid(prog: Any, page: int) -> int:
    """The node of a page: 0 without CONFIG_NUMA, else the node bits of page->flags."""
    try:
        prog["node_data"]
    except KeyError:
        return 0
    from drgn import Object
    from drgn.helpers.linux.mm import page_to_nid

    return int(page_to_nid(Object(prog, "struct page *", page)))


def slab_of(session: Any, address: int) -> SlabInfo | None:
    """The SLUB slab and object holding kernel address ``address``, or None."""
    from drgn import Object

    from pycrash.core.errors import FaultError
    from pycrash.kernel import memory

    prog = session.prog
    try:
        pfn = memory.btop(session, session.dump.vtop(address))
    except FaultError:  # not mapped: not a slab object
        return None
    page = Object(prog, "struct page", address=memory.pfn_to_page(session, pfn))
    # A tail page of a compound slab points at its head with bit 0 of compound_head.
    head = int(page.compound_head) if _has_member(page, "compound_head") else 0
    head_address = head - 1 if head & 1 else page.address_
    slab_type = _slab_type(prog)
    slab = Object(prog, slab_type, address=head_address)
    flags = int(Object(prog, "struct page", address=head_address).flags)
    pg_slab = 1 << prog.constant("PG_slab").value_()
    if not flags & pg_slab:
        return None
    cache = slab.slab_cache
    memory_start = memory.ptov(session, memory.ptob(
        session, (head_address - memory.vmemmap_base(session)) // memory.page_struct_size(session)))
    size = int(cache.size)
    index = (address - memory_start) // size
    objects = int(slab.objects)
    if index >= objects:
        return None
    obj = memory_start + index * size
    # Free: on the slab's own freelist (counted out of inuse) or, for a CPU's slab, on that
    # CPU's lockless freelist (counted in inuse).
    free_objects = freelist(prog, cache, slab.freelist.value_())
    cpu_free: list[int] = []
    owner = None
    for cpu in _cpus(prog):
        c = _cpu_slab(cache, cpu)
        if _cpu_slab_ptr(c).value_() == head_address:
            owner = cpu
            cpu_free = freelist(prog, cache, c.freelist.value_())
            break
    free = max(objects - int(slab.inuse), 0) + len(cpu_free)
    free_objects += cpu_free
    return SlabInfo(
        cache=cache,
        slab=head_address,
        memory=memory_start,
        node=_page_nid(prog, head_address),
        total=objects,
        allocated=objects - free,
        free=free,
        object=obj,
        object_allocated=obj not in set(free_objects),
        cpu=owner,
        free_objects=free_objects,
    )
