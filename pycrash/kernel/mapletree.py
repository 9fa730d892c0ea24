"""The entries of a maple tree, read straight from its nodes (a VMA walk needs them since 6.1).

Linux 6.1 (commit d4af56c5c7c6, "mm: start tracking VMAs with maple tree") keeps a process's
VMAs in ``mm_struct.mm_mt``, a ``struct maple_tree`` (include/linux/maple_tree.h):
``ma_root`` holds either the only entry (index 0) or an encoded pointer to a 256-byte
``struct maple_node``: internal-pointer bits ``10`` as in an XArray (``xa_is_node()``), the
node type in bits 3-6 and the node address in the bits above 8.  A ``maple_range_64`` node
(internal, or ``maple_leaf_64`` at the bottom) has ``pivot[15]`` and ``slot[16]``; a
``maple_arange_64`` (internal, with gaps) ``pivot[9]`` and ``slot[10]``; slot ``i`` covers
the indices from ``pivot[i-1] + 1`` (the node's minimum for ``i = 0``) up to ``pivot[i]`` (the
node's maximum for the last slot in use).  The number of slots in use is ``meta.end + 1``
when it cannot be told from the pivots (lib/maple_tree.c ``ma_data_end()``).

:func:`mt_entries` visits the entries in index order, as drgn's ``mt_for_each()`` does
(breadth first, which for a B-tree is index order), reading each node in one read, without
importing ``drgn.helpers.linux`` (whose ``__init__`` imports every helper module).  The walk
is bounded: at most ``limit`` nodes, and a node seen twice ends it.
"""

from __future__ import annotations

import collections
import dataclasses
import struct
from collections.abc import Iterator

import drgn

__all__ = ["MapleTreeError", "mt_entries"]

XA_ZERO_ENTRY = 1030  # xa_mk_internal(257): a reserved, empty slot
# enum maple_type
_MAPLE_LEAF_64, _MAPLE_RANGE_64, _MAPLE_ARANGE_64 = 1, 2, 3
_MAPLE_NODE_MASK = 0xFF
# Bound on the nodes of one tree: a damaged tree must not be walked forever.
MAX_NODES = 1 << 20


class MapleTreeError(Exception):
    """A maple tree the walk cannot read (one line)."""


@dataclasses.dataclass(frozen=True)
class _NodeLayout:
    pivot: int
    pivots: int
    slot: int
    slots: int
    end: int  # offset of meta.end (a u8)


@dataclasses.dataclass(frozen=True)
class _Layout:
    node_size: int
    range64: _NodeLayout
    arange64: _NodeLayout


def _node_layout(prog: drgn.Program, name: str, base: int) -> _NodeLayout:
    type_ = prog.type(f"struct {name}")
    pivot = type_.member("pivot")
    slot = type_.member("slot")
    return _NodeLayout(
        pivot=base + drgn.offsetof(type_, "pivot"), pivots=pivot.type.length,
        slot=base + drgn.offsetof(type_, "slot"), slots=slot.type.length,
        end=base + drgn.offsetof(type_, "meta.end"))


def _layout(prog: drgn.Program) -> _Layout:
    key = "pycrash.kernel.mapletree.layout"
    layout = prog.cache.get(key)
    if layout is None:
        try:
            node = prog.type("struct maple_node")
            layout = _Layout(
                node_size=node.size,
                range64=_node_layout(prog, "maple_range_64", drgn.offsetof(node, "mr64")),
                arange64=_node_layout(prog, "maple_arange_64", drgn.offsetof(node, "ma64")))
        except (LookupError, ValueError, TypeError) as err:
            raise MapleTreeError(f"no struct maple_node layout in the debuginfo: {err}") \
                from None
        prog.cache[key] = layout
    return layout


def _is_node(entry: int) -> bool:
    return entry & 3 == 2 and entry > 4096


def mt_entries(prog: drgn.Program, tree: int, *,
               limit: int = MAX_NODES) -> Iterator[tuple[int, int, int]]:
    """``(first index, last index, entry)`` of each entry of the ``struct maple_tree`` at
    ``tree``, in index order; zero entries are skipped."""
    root_offset = drgn.offsetof(prog.type("struct maple_tree"), "ma_root")
    try:
        root = prog.read_u64(tree + root_offset)
    except drgn.FaultError as err:
        raise MapleTreeError(f"cannot read maple tree {tree:x}: {err}") from None
    if not _is_node(root):
        if root:
            yield 0, 0, root
        return
    layout = _layout(prog)
    ulong_max = (1 << 64) - 1
    queue = collections.deque([(root, 0, ulong_max)])
    seen: set[int] = set()
    while queue:
        entry, low, high = queue.popleft()
        address = entry & ~_MAPLE_NODE_MASK
        kind = (entry >> 3) & 0xF
        if address in seen or len(seen) >= limit:
            why = "node already seen (a loop)" if address in seen else "node limit reached"
            raise MapleTreeError(f"maple tree walk stopped at node {address:x}: {why}")
        seen.add(address)
        if kind == _MAPLE_ARANGE_64:
            node = layout.arange64
        elif kind in (_MAPLE_RANGE_64, _MAPLE_LEAF_64):
            node = layout.range64
        else:
            raise MapleTreeError(f"maple node {address:x}: unknown maple_type {kind}")
        try:
            raw = prog.read(address, layout.node_size)
        except drgn.FaultError as err:
            raise MapleTreeError(f"cannot read maple node {address:x}: {err}") from None
        pivots = struct.unpack_from(f"<{node.pivots}Q", raw, node.pivot)
        slots = struct.unpack_from(f"<{node.slots}Q", raw, node.slot)
        if kind == _MAPLE_ARANGE_64:
            end = raw[node.end]
        elif not pivots[-1]:
            end = raw[node.end]
        elif pivots[-1] == high:
            end = node.pivots - 1
        else:
            end = node.pivots
        end = min(end, node.slots - 1)
        prev = low
        for offset in range(end + 1):
            pivot = pivots[offset] if offset < end else high
            slot = slots[offset]
            if kind == _MAPLE_LEAF_64:
                if slot and slot != XA_ZERO_ENTRY:
                    yield prev, pivot, slot
            else:
                queue.append((slot, prev, pivot))
            prev = pivot + 1
