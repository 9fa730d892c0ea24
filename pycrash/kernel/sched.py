"""The scheduler's per-CPU run queues, as crash's ``runq`` reads them (task.c).

Each CPU has a ``struct rq`` in the per-CPU variable ``runqueues`` (kernel/sched/sched.h):

* ``rq.curr`` is the task running there, ``rq.clock`` the run queue's clock in nanoseconds
  (crash's "timestamp"; ``most_recent_timestamp`` / ``timestamp_last_tick`` before 2.6.23);
* ``rq.rt.active`` is the real-time ``struct rt_prio_array``: ``queue[MAX_RT_PRIO]`` list
  heads, one per priority, linking ``sched_rt_entity.run_list`` (``task_struct.rt``); with
  CONFIG_RT_GROUP_SCHED an entity whose ``my_q`` is set stands for a group's ``rt_rq``;
* ``rq.cfs`` is the CFS ``struct cfs_rq``: ``tasks_timeline`` is an rb-tree (an
  ``rb_root_cached`` since 4.14, with ``rb_leftmost``) of ``sched_entity.run_node`` in
  vruntime order; with CONFIG_FAIR_GROUP_SCHED an entity whose ``my_q`` is set stands for a
  group's ``cfs_rq``, and ``cfs_rq.curr`` (the running entity, not in the tree) may be one.

The running task is not queued in its own tree (``put_prev_task`` re-inserts it), so crash
shows it as CURRENT only.  Every list and tree is walked with the bounded walkers of
:mod:`pycrash.kernel.lists`; a walk that stops early is reported in :attr:`RunQueue.stops`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import drgn

from pycrash.kernel.lists import WalkStop, list_walk, rbtree_walk
from pycrash.kernel.native_helpers import per_cpu_ptr

__all__ = [
    "QueuedTask",
    "RunQueue",
    "SchedError",
    "rq_clock",
    "runqueue_address",
    "read_runqueue",
    "tasks_on_rq",
]

# crash's cfs_rq recursion through my_q has no bound of its own; task groups nest a few deep.
MAX_GROUP_DEPTH = 64


class SchedError(Exception):
    """The dump lacks a structure the run queues need (one line, crash's wording)."""


@dataclasses.dataclass(frozen=True)
class QueuedTask:
    """A task queued on a run queue: crash's ``[prio] PID: ...`` line."""

    prio: int  # the RT queue index, or task_struct.prio for CFS
    task: int


@dataclasses.dataclass
class RunQueue:
    """One CPU's ``struct rq``: what ``runq`` prints for it."""

    cpu: int
    address: int
    curr: int
    rt_array: int  # &rq.rt.active
    rt_tasks: list[QueuedTask]
    cfs_root: int  # &rq.cfs.tasks_timeline
    cfs_tasks: list[QueuedTask]
    stops: list[str] = dataclasses.field(default_factory=list)  # walks that ended early
    duplicate: int | None = None  # a CFS task met twice: crash warns and stops there


def _runqueues(prog: drgn.Program) -> drgn.Object:
    try:
        return prog["runqueues"]
    except KeyError:
        raise SchedError("per-cpu runqueues do not exist") from None


def runqueue_address(prog: drgn.Program, cpu: int) -> int:
    """``&per_cpu(runqueues, cpu)``."""
    return per_cpu_ptr(_runqueues(prog).address_of_(), cpu).value_()


def rq_clock(prog: drgn.Program, cpu: int) -> int:
    """crash's rq timestamp: ``rq.clock`` (older kernels: ``most_recent_timestamp``,
    ``timestamp_last_tick``)."""
    rq = per_cpu_ptr(_runqueues(prog).address_of_(), cpu)
    for member in ("clock", "most_recent_timestamp", "timestamp_last_tick"):
        if rq.type_.type.has_member(member):
            return getattr(rq, member).value_()
    raise SchedError("-t option not supported or applicable on this architecture or kernel")


def _offset(prog: drgn.Program, type_name: str, member: str) -> int | None:
    try:
        return drgn.offsetof(prog.type(type_name), member)
    except (LookupError, ValueError):
        return None


def _prio(prog: drgn.Program, task: int) -> int:
    return drgn.Object(prog, "struct task_struct *", task).prio.value_()


def _rt_tasks(prog: drgn.Program, array: int, known: Callable[[int], bool],
              stops: list[str], depth: int = 0) -> list[QueuedTask]:
    """crash's dump_RT_prio_array(): each non-empty ``queue[i]``, in index order."""
    queue = prog.type("struct rt_prio_array").member("queue")
    heads = queue.type.length or 0
    head_size = prog.type("struct list_head").size
    run_list = _offset(prog, "struct sched_rt_entity", "run_list")
    my_q = _offset(prog, "struct sched_rt_entity", "my_q")
    rt_in_task = _offset(prog, "struct task_struct", "rt")
    active = _offset(prog, "struct rt_rq", "active")
    if run_list is None or rt_in_task is None:
        raise SchedError("cannot determine run queue structures")
    found: list[QueuedTask] = []
    for i in range(heads):
        head = array + queue.offset + i * head_size
        if prog.read_u64(head) == head and prog.read_u64(head + 8) == head:
            continue
        walk = list_walk(prog, head, on_stop=lambda stop: stops.append(stop.message()))
        for node in walk:
            entity = node - run_list
            group = prog.read_u64(entity + my_q) if my_q is not None else 0
            if group:
                if depth < MAX_GROUP_DEPTH and active is not None:
                    found += _rt_tasks(prog, group + active, known, stops, depth + 1)
                continue
            task = entity - rt_in_task
            if known(task):
                found.append(QueuedTask(i, task))
    return found


class _CfsWalk:
    """crash's dump_tasks_in_cfs_rq(), with its duplicate check (``hq_enter``)."""

    def __init__(self, prog: drgn.Program, known: Callable[[int], bool],
                 stops: list[str]) -> None:
        self.prog = prog
        self.known = known
        self.stops = stops
        self.seen: set[int] = set()
        self.duplicate: int | None = None
        self.tasks: list[QueuedTask] = []
        self.timeline = _offset(prog, "struct cfs_rq", "tasks_timeline")
        self.leftmost = _offset(prog, "struct cfs_rq", "rb_leftmost")
        if self.leftmost is None and self.timeline is not None:
            cached = _offset(prog, "struct rb_root_cached", "rb_leftmost")
            self.leftmost = None if cached is None else self.timeline + cached
        self.curr = _offset(prog, "struct cfs_rq", "curr")
        self.run_node = _offset(prog, "struct sched_entity", "run_node")
        self.my_q = _offset(prog, "struct sched_entity", "my_q")
        self.se = _offset(prog, "struct task_struct", "se")
        if None in (self.timeline, self.leftmost, self.run_node, self.se):
            raise SchedError("cannot determine run queue structures")

    def _on_stop(self, stop: WalkStop) -> None:
        self.stops.append(stop.message())

    def walk(self, cfs_rq: int, depth: int = 0) -> bool:
        """Queue the tasks of ``cfs_rq``; False once a duplicate stopped the walk."""
        prog = self.prog
        if self.my_q is not None and self.curr is not None:
            curr = prog.read_u64(cfs_rq + self.curr)
            group = prog.read_u64(curr + self.my_q) if curr else 0
            if group and depth < MAX_GROUP_DEPTH and not self.walk(group, depth + 1):
                return False
        if not prog.read_u64(cfs_rq + self.leftmost):  # type: ignore[operator]
            return True
        root = cfs_rq + self.timeline  # type: ignore[operator]
        for node in rbtree_walk(prog, root, on_stop=self._on_stop):
            entity = node - self.run_node  # type: ignore[operator]
            if self.my_q is not None:
                group = prog.read_u64(entity + self.my_q)
                if group:
                    if depth < MAX_GROUP_DEPTH and not self.walk(group, depth + 1):
                        return False
                    continue
            task = entity - self.se  # type: ignore[operator]
            if not self.known(task):
                continue
            if task in self.seen:
                self.duplicate = task
                return False
            self.seen.add(task)
            self.tasks.append(QueuedTask(_prio(prog, task), task))
        return True


def read_runqueue(prog: drgn.Program, cpu: int, known: Callable[[int], bool]) -> RunQueue:
    """CPU ``cpu``'s run queue; ``known(task)`` says whether an address is a task of the
    task table (crash skips queued entries it cannot find there)."""
    rq = per_cpu_ptr(_runqueues(prog).address_of_(), cpu)
    rq_type = rq.type_.type
    if not (rq_type.has_member("cfs") and rq_type.has_member("rt")):
        raise SchedError("cannot determine run queue structures")
    address = rq.value_()
    stops: list[str] = []
    rt_array = rq.rt.active.address_of_().value_()
    rt_tasks = _rt_tasks(prog, rt_array, known, stops)
    cfs = _CfsWalk(prog, known, stops)
    cfs_rq = rq.cfs.address_of_().value_()
    cfs.walk(cfs_rq)
    return RunQueue(cpu=cpu, address=address, curr=rq.curr.value_(), rt_array=rt_array,
                    rt_tasks=rt_tasks, cfs_root=cfs_rq + cfs.timeline,  # type: ignore[operator]
                    cfs_tasks=cfs.tasks, stops=stops, duplicate=cfs.duplicate)


def tasks_on_rq(prog: drgn.Program, tasks: list[int]) -> list[int]:
    """The tasks whose ``task_struct.on_rq`` (or ``se.on_rq`` before 3.x) is set, in the
    given order: crash's ``runq -d``."""
    task_type = prog.type("struct task_struct")
    if task_type.has_member("on_rq"):
        path = "on_rq"
    elif task_type.has_member("se"):
        path = "se.on_rq"
    else:
        raise SchedError("-d option not supported or applicable on this architecture or kernel")
    offset = drgn.offsetof(task_type, path)
    return [t for t in tasks if prog.read_u32(t + offset)]
