"""The entries of an IDR, read straight from its XArray nodes.

Since Linux 4.20 (commit f8d5d0cc145c, "xarray: Add definition of struct xarray") a radix
tree, and so an IDR's ``idr_rt``, is a ``struct xarray``: ``xa_head`` holds either the only
entry (index 0) or an internal pointer to a ``struct xa_node`` whose ``slots[XA_CHUNK_SIZE]``
hold entries or further nodes.  An entry word with its low two bits ``10`` is internal
(``xa_is_internal()``): a node when above 4096 (``xa_is_node()``, the node address plus 2), a
sibling slot of a multi-index entry when below 256 (``xa_is_sibling()``); ``XA_ZERO_ENTRY``
(``xa_mk_internal(257)``) is a reserved, empty slot.

:func:`idr_entries` visits the entries in the order drgn's ``idr_for_each()`` does (depth
first, slots in index order, zero and sibling entries skipped), reading each node's slots in
one read, without importing ``drgn.helpers.linux`` (whose ``__init__`` imports every helper
module).  Older IDRs (radix-tree nodes before 4.20, the pre-4.11 IDR) go to drgn's helper.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import drgn

__all__ = ["idr_entries", "xarray_entries"]

XA_ZERO_ENTRY = 1030  # xa_mk_internal(257)


def _is_node(entry: int) -> bool:
    return entry & 3 == 2 and entry > 4096


def _is_sibling(entry: int) -> bool:
    return entry & 3 == 2 and entry < 256


def _node_slots(prog: drgn.Program, node: int, shift: int, offset: int,
                count: int) -> Iterator[int]:
    """The slot words of the xa_node at ``node``: one read, or word by word when that read
    faults (so that the slots before an unreadable one are still visited).  Its ``shift``
    byte is read first, as drgn's walk does (an unreadable one faults there too)."""
    prog.read_u8(node + shift)
    try:
        raw = prog.read(node + offset, 8 * count)
    except drgn.FaultError:
        for i in range(count):
            yield prog.read_u64(node + offset + 8 * i)
        return
    yield from struct.unpack(f"<{count}Q", raw)


def _xarray_entries(xa: drgn.Object) -> Iterator[int]:
    """Non-empty entries (as addresses) of the ``struct xarray`` ``xa``."""
    prog = xa.prog_
    head = xa.xa_head.value_()
    if not _is_node(head):
        if head and not _is_sibling(head) and head != XA_ZERO_ENTRY:
            yield head
        return
    node_type = prog.type("struct xa_node")
    slots = node_type.member("slots")
    layout = (node_type.member("shift").offset, slots.offset, slots.type.length or 0)
    stack = [_node_slots(prog, head - 2, *layout)]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
        elif _is_node(entry):
            stack.append(_node_slots(prog, entry - 2, *layout))
        elif entry and not _is_sibling(entry) and entry != XA_ZERO_ENTRY:
            yield entry


def idr_entries(idr: drgn.Object) -> Iterator[int]:
    """Every pointer stored in the ``struct idr`` ``idr``, as an address."""
    root = idr.idr_rt if idr.type_.has_member("idr_rt") else None
    if root is not None and root.type_.has_member("xa_head"):
        yield from _xarray_entries(root)
        return
    from drgn.helpers.linux.idr import idr_for_each

    for _, entry in idr_for_each(idr.address_of_()):
        yield entry.value_()


def xarray_entries(xa: drgn.Object) -> Iterator[int]:
    """Every pointer stored in the ``struct xarray`` ``xa`` (a radix tree root since 4.20),
    as an address, in index order."""
    yield from _xarray_entries(xa)
