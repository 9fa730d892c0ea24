"""The waiters of a wait queue head, as crash's ``waitq`` lists them (kernel.c dump_waitq).

Kernel layout (include/linux/wait.h):

* since 4.13 ``struct wait_queue_head { spinlock_t lock; struct list_head head; }`` and
  ``struct wait_queue_entry { flags; void *private; func; struct list_head entry; }``
  (commit ac6424b981bc "sched/wait: Rename wait_queue_t => wait_queue_entry_t");
* 2.6.x - 4.12: ``struct __wait_queue_head { lock; struct list_head task_list; }`` and
  ``struct __wait_queue { flags; void *private; func; struct list_head task_list; }``.

``private`` is the waiting task for the common waiters (``DEFINE_WAIT``,
``init_waitqueue_entry``); crash also accepts a pointer into a task's kernel stack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import drgn

from pycrash.kernel.lists import WalkStop, list_walk

__all__ = ["WaitqLayout", "waitq_layout", "waitq_waiters"]


@dataclasses.dataclass(frozen=True)
class WaitqLayout:
    head_list: int  # offset of the list_head in the wait queue head
    entry_list: int  # offset of the list_head in a wait queue entry
    private: int  # offset of the entry's private (the task) pointer


def waitq_layout(prog: drgn.Program) -> WaitqLayout | None:
    """The offsets of this kernel's wait queue structures; None if it has neither layout."""
    for head, entry, head_member, entry_member, private in (
        ("struct wait_queue_head", "struct wait_queue_entry", "head", "entry", "private"),
        ("struct __wait_queue_head", "struct __wait_queue", "task_list", "task_list", "private"),
    ):
        try:
            head_type = prog.type(head)
            entry_type = prog.type(entry)
            return WaitqLayout(
                head_list=drgn.offsetof(head_type, head_member),
                entry_list=drgn.offsetof(entry_type, entry_member),
                private=drgn.offsetof(entry_type, private),
            )
        except (LookupError, ValueError):
            continue
    return None


def waitq_waiters(prog: drgn.Program, layout: WaitqLayout, head: int,
                  on_stop: Callable[[WalkStop], None] | None = None) -> Iterator[int]:
    """The ``private`` pointer of each entry queued on the wait queue head at ``head``.

    A NULL ``next`` ends the list quietly (crash's do_list does the same: ``waitq`` on a symbol
    that is no wait queue says it is empty)."""
    for node in list_walk(prog, head + layout.head_list, on_stop=on_stop, null_ends=True):
        yield prog.read_u64(node - layout.entry_list + layout.private)
