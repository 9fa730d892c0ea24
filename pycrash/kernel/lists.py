"""Bounded, loop-detecting walks of the kernel's linked structures.

A dump's lists can be damaged: a ``list_head`` overwritten by a stray write, a cycle that
does not pass through the head again, a pointer into a page makedumpfile excluded.  drgn's
``list_for_each`` helpers then loop forever or raise in the middle of a command.  The walkers
here never do: each one

* remembers every node it visited and stops at the first one seen twice (a loop),
* stops after ``limit`` nodes (a bound even when every node is new),
* stops at a pointer it cannot follow (NULL, non-canonical, or a read that faults),

and then records *where* it stopped in :attr:`Walk.stopped`, a :class:`WalkStop` whose
:meth:`~WalkStop.message` is the one warning line a command prints.  The nodes yielded before
the stop are good as far as the walker can tell, so commands print what they could.

Kernel layouts (include/linux/types.h, include/linux/rbtree_types.h, every kernel since 2.6):

* ``struct list_head { next; prev; }``: a circular list through its head;
* ``struct hlist_head { first; }`` / ``struct hlist_node { next; pprev; }``: NULL-terminated;
* ``struct rb_node { __rb_parent_color; rb_right; rb_left; }`` under ``struct rb_root
  { rb_node; }``: walked in order (smallest key first), as ``rb_first``/``rb_next`` do.

Reads go through any object with ``read_u64(address)``: the session's core dump
(``session.dump``) or a drgn Program.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from typing import Any, Protocol

__all__ = [
    "DEFAULT_LIMIT",
    "Walk",
    "WalkStop",
    "entries",
    "hlist_walk",
    "list_walk",
    "rbtree_preorder_walk",
    "rbtree_walk",
    "warn_stderr",
]

# No real kernel list comes near this (pid_max is at most 4M tasks, and crash itself walks
# without a bound); it stops a walk over garbage in bounded time and memory.
DEFAULT_LIMIT = 1 << 22
# Deeper than any red-black tree can be: its height is at most 2*log2(n+1), 2*64 for 64-bit n.
RBTREE_MAX_DEPTH = 128

# struct rb_node: __rb_parent_color at 0, rb_right at 8, rb_left at 16.  list_head.next and
# hlist_node.next are at 0.
RB_RIGHT, RB_LEFT = 8, 16


class Reader(Protocol):
    def read_u64(self, address: int) -> int: ...


@dataclasses.dataclass(frozen=True)
class WalkStop:
    """Why and where a walk ended early.

    ``address`` is the node whose pointer could not be followed (or the node seen twice, for a
    loop); ``count`` is how many nodes the walk had yielded.
    """

    kind: str  # "loop", "limit", "fault", "null", "invalid"
    address: int
    count: int
    detail: str = ""
    what: str = "list"

    def message(self) -> str:
        """One line: ``list walk stopped at ffff...: <why> after N entries``."""
        why = {
            "loop": "entry already seen (a loop)",
            "limit": "entry limit reached",
            "null": "NULL pointer",
            "invalid": "invalid pointer",
            "fault": "read fault",
        }[self.kind]
        if self.detail:
            why = f"{why}: {self.detail}"
        noun = "entry" if self.count == 1 else "entries"
        return f"{self.what} walk stopped at {self.address:x}: {why} after {self.count} {noun}"


def warn_stderr(stop: WalkStop) -> None:
    """The default report of a stopped walk: ``pycrash: WARNING: ...`` on stderr."""
    print(f"pycrash: WARNING: {stop.message()}", file=sys.stderr)


def _is_fault(err: BaseException) -> bool:
    from pycrash.core.errors import FaultError

    if isinstance(err, FaultError):
        return True
    try:
        import drgn
    except ImportError:  # pragma: no cover
        return False
    return isinstance(err, drgn.FaultError)


def _reason(err: BaseException) -> str:
    # the core's FaultError.reason, drgn's FaultError.message: both without the address
    text = str(getattr(err, "reason", "") or getattr(err, "message", "") or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _canonical(address: int) -> bool:
    """A kernel pointer: in the upper half (4- or 5-level paging) and not NULL."""
    return address >= 0xFF00000000000000


class Walk:
    """An iteration over node addresses that ends early, without raising, on damage.

    Iterate it once; afterwards :attr:`stopped` is None (the walk reached its end) or the
    :class:`WalkStop`.  ``on_stop`` (default: none) is called with the stop when it happens,
    so a command can warn in the middle of its output as crash does.
    """

    def __init__(self, nodes: Callable[[Walk], Iterator[int]],
                 on_stop: Callable[[WalkStop], None] | None) -> None:
        self._nodes = nodes
        self._on_stop = on_stop
        self.stopped: WalkStop | None = None
        self.count = 0

    def __iter__(self) -> Iterator[int]:
        for node in self._nodes(self):
            self.count += 1
            yield node

    def stop(self, kind: str, address: int, detail: str = "", what: str = "list") -> None:
        self.stopped = WalkStop(kind, address, self.count, detail, what)
        if self._on_stop is not None:
            self._on_stop(self.stopped)


def _follow(walk: Walk, reader: Reader, node: int, offset: int, what: str,
            allow_null: bool = False) -> int | None:
    """The pointer at ``node + offset``, checked to point at something readable; None after
    recording why it cannot be followed (the stop names ``node``, the entry holding it)."""
    try:
        value = reader.read_u64(node + offset)
    except Exception as err:
        if not _is_fault(err):
            raise
        walk.stop("fault", node, _reason(err), what)
        return None
    if value == 0:
        if not allow_null:
            walk.stop("null", node, what=what)
        return None
    if not _canonical(value):
        walk.stop("invalid", node, f"{value:#x}", what)
        return None
    try:
        reader.read_u64(value)  # every node type here starts with a pointer
    except Exception as err:
        if not _is_fault(err):
            raise
        walk.stop("fault", node, f"next pointer {value:#x}: {_reason(err)}", what)
        return None
    return value


def list_walk(reader: Reader, head: int, *, limit: int = DEFAULT_LIMIT,
              on_stop: Callable[[WalkStop], None] | None = None,
              null_ends: bool = False) -> Walk:
    """The ``struct list_head`` addresses of a circular list, head excluded, in ``next``
    order (``list_for_each``).  With ``null_ends`` a NULL next pointer ends the list
    quietly (singly-linked lists of structures, as crash's plain ``list start`` walks)."""

    def nodes(walk: Walk) -> Iterator[int]:
        seen: set[int] = {head}
        node = _follow(walk, reader, head, 0, "list", allow_null=null_ends)
        while node is not None and node != head:
            if node in seen:
                walk.stop("loop", node)
                return
            if len(seen) > limit:
                walk.stop("limit", node, f"{limit}")
                return
            seen.add(node)
            yield node
            node = _follow(walk, reader, node, 0, "list", allow_null=null_ends)

    return Walk(nodes, on_stop)


def hlist_walk(reader: Reader, head: int, *, limit: int = DEFAULT_LIMIT,
               on_stop: Callable[[WalkStop], None] | None = None) -> Walk:
    """The ``struct hlist_node`` addresses of the hash chain at ``struct hlist_head`` ``head``
    (``hlist_for_each``: ``first``, then ``next`` until NULL)."""

    def nodes(walk: Walk) -> Iterator[int]:
        seen: set[int] = set()
        node = _follow(walk, reader, head, 0, "hlist", allow_null=True)
        while node is not None:
            if node in seen:
                walk.stop("loop", node, what="hlist")
                return
            if len(seen) >= limit:
                walk.stop("limit", node, f"{limit}", "hlist")
                return
            seen.add(node)
            yield node
            node = _follow(walk, reader, node, 0, "hlist", allow_null=True)

    return Walk(nodes, on_stop)


def rbtree_walk(reader: Reader, root: int, *, limit: int = DEFAULT_LIMIT,
                on_stop: Callable[[WalkStop], None] | None = None) -> Walk:
    """The ``struct rb_node`` addresses of the tree at ``struct rb_root`` ``root``, in order
    (``rb_first``, ``rb_next``), by an explicit stack rather than parent pointers: a
    damaged parent pointer cannot send it round in circles."""

    def nodes(walk: Walk) -> Iterator[int]:
        seen: set[int] = set()
        stack: list[int] = []
        node = _follow(walk, reader, root, 0, "rbtree", allow_null=True)
        while node is not None or stack:
            while node is not None:
                if node in seen:
                    walk.stop("loop", node, what="rbtree")
                    return
                if len(stack) >= RBTREE_MAX_DEPTH:
                    walk.stop("invalid", node, "tree deeper than any red-black tree", "rbtree")
                    return
                seen.add(node)
                stack.append(node)
                node = _follow(walk, reader, node, RB_LEFT, "rbtree", allow_null=True)
                if walk.stopped is not None:
                    return
            node = stack.pop()
            if walk.count >= limit:
                walk.stop("limit", node, f"{limit}", "rbtree")
                return
            yield node
            node = _follow(walk, reader, node, RB_RIGHT, "rbtree", allow_null=True)
            if walk.stopped is not None:
                return

    return Walk(nodes, on_stop)


def rbtree_preorder_walk(reader: Reader, root: int, *, root_is_node: bool = False,
                         limit: int = DEFAULT_LIMIT,
                         on_stop: Callable[[WalkStop], None] | None = None) -> Walk:
    """``(node, position)`` of the tree at ``struct rb_root`` ``root`` (or at ``struct
    rb_node`` ``root`` when ``root_is_node``) in pre-order: a node, then its left subtree,
    then its right one, as crash's ``tree -t rbtree`` prints them.  ``position`` is crash's
    ``-p`` path: ``root``, ``root/l``, ``root/l/r``..."""

    def nodes(walk: Walk) -> Iterator[tuple[int, str]]:
        seen: set[int] = set()
        if root_is_node:
            first = root
            try:
                reader.read_u64(root)
            except Exception as err:
                if not _is_fault(err):
                    raise
                walk.stop("fault", root, _reason(err), "rbtree")
                return
        else:
            first = _follow(walk, reader, root, 0, "rbtree", allow_null=True)
            if first is None:
                return
        stack: list[tuple[int, str]] = [(first, "root")]
        while stack:
            node, position = stack.pop()
            if node in seen:
                walk.stop("loop", node, what="rbtree")
                return
            if walk.count >= limit:
                walk.stop("limit", node, f"{limit}", "rbtree")
                return
            if position.count("/") >= RBTREE_MAX_DEPTH:
                walk.stop("invalid", node, "tree deeper than any red-black tree", "rbtree")
                return
            seen.add(node)
            yield node, position
            right = _follow(walk, reader, node, RB_RIGHT, "rbtree", allow_null=True)
            if walk.stopped is not None:
                return
            left = _follow(walk, reader, node, RB_LEFT, "rbtree", allow_null=True)
            if walk.stopped is not None:
                return
            if right is not None:
                stack.append((right, position + "/r"))
            if left is not None:
                stack.append((left, position + "/l"))

    return Walk(nodes, on_stop)  # type: ignore[arg-type]


def entries(prog: Any, walk: Walk, type_name: str, member: str) -> Iterator[Any]:
    """drgn ``type_name *`` objects containing each node of ``walk`` at ``member``
    (``container_of``)."""
    from drgn import Object, container_of

    pointer_type = prog.type("void *")
    for node in walk:
        yield container_of(Object(prog, pointer_type, node), type_name, member)
