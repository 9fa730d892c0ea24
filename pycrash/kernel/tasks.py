"""The task table as crash builds it: every task, its state, CPU and the active set.

crash (task.c) gathers tasks from the PID namespace's IDR (``init_pid_ns.idr``, an xarray
since 4.20) -- one ``struct pid`` per PID, its ``tasks[PIDTYPE_PID]`` hlist heading the
``task_struct.pid_links[PIDTYPE_PID]`` of the task that owns the PID -- plus each CPU's
idle task (``runqueues.idle``, PID 0, named ``swapper/N``).  The table is sorted by PID,
idle tasks by CPU.  A task is *active* when it is some CPU's ``runqueues.curr``.

Each task_struct is read once, as bytes, and decoded at offsets taken from the DWARF
types; the whole table is cached on the Program (``prog.cache``): a dump never changes.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import drgn

from pycrash.kernel.native_helpers import per_cpu_ptr

if TYPE_CHECKING:
    from pycrash.session import Session

__all__ = ["task_last_run",
    "PF_KTHREAD",
    "TaskInfo",
    "TaskStates",
    "TaskTable",
    "task_state_name",
    "task_table",
]

# include/linux/sched.h: "I am a kernel thread".
PF_KTHREAD = 0x00200000
# include/linux/sched.h: PF_EXITING, getting shut down.
PF_EXITING = 0x00000004

# Bound on the number of PIDs walked: a corrupted IDR must not loop forever.
MAX_TASKS = 1 << 22

_CACHE_KEY = "pycrash.kernel.tasks"


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """One task as crash's ``struct task_context`` holds it, plus what ps needs."""

    task: int  # task_struct address
    pid: int
    tgid: int
    ppid: int  # pid of task->parent (crash's task_to_pid(tc->ptask))
    parent: int  # task->parent
    cpu: int  # task_cpu(): the CPU it last ran on
    comm: str
    state: int  # __state | exit_state, as crash's task_state()
    flags: int
    mm: int
    active: bool  # runqueues[cpu].curr of some CPU
    stack: int  # task->stack (the kernel stack base)

    @property
    def is_kernel_thread(self) -> bool:
        """crash's is_kernel_thread(): PF_KTHREAD set (idle tasks have it too)."""
        return bool(self.flags & PF_KTHREAD)


class TaskStates(NamedTuple):
    """The task-state bits as crash derives them from ``task_state_array[]``.

    A value of -1 means "this kernel has no such state".
    """

    running: int = 0
    interruptible: int = 1
    uninterruptible: int = 2
    stopped: int = 4
    tracing_stopped: int = -1
    zombie: int = 32
    dead: int = -1
    parked: int = -1
    wakekill: int = -1
    waking: int = -1
    noload: int = -1
    new: int = -1
    swapping: int = -1
    exclusive: int = -1


def _valid(bit: int) -> bool:
    return bit >= 0


def task_state_name(state: int, states: TaskStates) -> str:
    """crash's two-letter state (task.c task_state_string): RU IN UN ZO ST TR DE PA WA NE ID.

    The tests are crash's, in crash's order: later matches overwrite earlier ones.
    """
    name = "??"
    valid = exclusive = False
    has_set = False
    if _valid(states.exclusive):
        exclusive = bool(state & states.exclusive)
        state &= ~states.exclusive
    if state == states.running:
        name, valid = "RU", True
    if state & states.interruptible:
        name, valid, has_set = "IN", True, True
    if state & states.uninterruptible:
        # TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD (4.14+)
        if _valid(states.noload) and state & states.noload:
            name = "ID"
        else:
            name = "UN"
        valid = has_set = True
    if state & states.zombie:
        name, valid, has_set = "ZO", True, True
    if state & states.stopped:
        name, valid, has_set = "ST", True, True
    if _valid(states.tracing_stopped) and state & states.tracing_stopped:
        name, valid, has_set = "TR", True, True
    if state == states.swapping:
        name, valid, has_set = "SW", True, True
    if _valid(states.dead) and state & states.dead and not has_set:
        name, valid, has_set = "DE", True, True
    if state == states.parked:
        name, valid = "PA", True
    if state == states.waking:
        name, valid = "WA", True
    if state == states.new:
        name, valid = "NE", True
    if valid and exclusive:
        name += "EX"
    return name


def _read_task_states(prog: drgn.Program) -> TaskStates:
    """Map fs/proc/array.c's ``task_state_array[]`` strings to bits, as crash does.

    Entry 0 is TASK_RUNNING (0), entry i > 0 is bit ``1 << (i - 1)``.  Since 4.14 the array
    ends with "P (parked)" then "I (idle)", and TASK_DEAD, TASK_WAKEKILL, TASK_WAKING,
    TASK_NOLOAD and TASK_NEW follow TASK_PARKED bit by bit (include/linux/sched.h).
    """
    try:
        array = prog["task_state_array"]
        strings = [array[i].string_().decode("ascii", "replace") for i in range(len(array))]
    except (KeyError, LookupError, TypeError, drgn.FaultError):
        return TaskStates()
    found: dict[str, int] = {}
    dead = tracing = -1
    bitpos = 0
    for text in strings:
        for key in ("running", "sleeping", "disk sleep", "stopped", "zombie", "swapping",
                    "wakekill", "waking", "parked"):
            if f"({key})" in text:
                found[key] = bitpos
        if "(dead)" in text:
            dead = bitpos if dead < 0 else dead | bitpos
        if "(tracing stop)" in text:
            tracing = bitpos if tracing < 0 else tracing | bitpos
        bitpos = 1 if bitpos == 0 else bitpos << 1
    states = dict(
        running=found.get("running", -1),
        interruptible=found.get("sleeping", -1),
        uninterruptible=found.get("disk sleep", -1),
        stopped=found.get("stopped", -1),
        zombie=found.get("zombie", -1),
        tracing_stopped=tracing,
        dead=dead,
        swapping=found.get("swapping", -1),
        wakekill=found.get("wakekill", -1),
        waking=found.get("waking", -1),
        parked=found.get("parked", -1),
    )
    parked = states["parked"]
    if parked >= 0:
        states["dead"] = (dead if dead >= 0 else 0) | (parked << 1)  # TASK_DEAD
        states["wakekill"] = parked << 2
        states["waking"] = parked << 3
        states["noload"] = parked << 4
        states["new"] = parked << 5
    elif dead >= 0 and bin(dead).count("1") == 1:  # 2.6.32 - 4.13
        states["dead"] = dead | (dead << 1)
        states["wakekill"] = dead << 2
        states["waking"] = dead << 3
    if min(states[k] for k in ("running", "interruptible", "uninterruptible", "zombie",
                                "stopped")) < 0:
        return TaskStates()
    return TaskStates(**states)


class _TaskLayout(NamedTuple):
    """Offsets into struct task_struct (and friends) used to decode a task's bytes."""

    size: int
    pid: int
    tgid: int
    comm: int
    comm_len: int
    state: int
    state_size: int
    exit_state: int
    flags: int
    mm: int
    parent: int
    cpu: int
    stack: int
    pid_links: int

    @classmethod
    def of(cls, prog: drgn.Program) -> _TaskLayout:
        task_type = prog.type("struct task_struct")

        def off(member: str) -> int:
            return drgn.offsetof(task_type, member)

        # 5.14 renamed task_struct.state to __state (and made it unsigned int).
        state_member = "__state" if task_type.has_member("__state") else "state"
        state_size = drgn.sizeof(task_type.member(state_member).type)
        # CONFIG_THREAD_INFO_IN_TASK (x86 since 4.9): task_struct.cpu; before 5.16 it lived
        # in thread_info.cpu.
        if task_type.has_member("cpu"):
            cpu = off("cpu")
        else:
            cpu = off("thread_info") + drgn.offsetof(prog.type("struct thread_info"), "cpu")
        # 4.19 renamed task_struct.pids[] to pid_links[].
        links = "pid_links" if task_type.has_member("pid_links") else "pids"
        return cls(
            size=task_type.size,
            pid=off("pid"),
            tgid=off("tgid"),
            comm=off("comm"),
            comm_len=drgn.sizeof(task_type.member("comm").type),
            state=off(state_member),
            state_size=state_size,
            exit_state=off("exit_state"),
            flags=off("flags"),
            mm=off("mm"),
            parent=off("parent"),
            cpu=cpu,
            stack=off("stack"),
            pid_links=off(links),
        )


class TaskTable:
    """All tasks of the dump in crash's order, with lookups by address, PID and name."""

    def __init__(self, tasks: list[TaskInfo], active: dict[int, int], states: TaskStates,
                 cpus: int) -> None:
        self.tasks = tasks
        self.active = active  # cpu -> task address (runqueues.curr)
        self.states = states
        self.cpus = cpus
        self.by_task = {t.task: t for t in tasks}
        self.by_pid: dict[int, list[TaskInfo]] = {}
        for t in tasks:
            self.by_pid.setdefault(t.pid, []).append(t)

    def __iter__(self) -> Iterator[TaskInfo]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def get(self, task: int) -> TaskInfo | None:
        return self.by_task.get(task)

    def pid(self, pid: int) -> list[TaskInfo]:
        """The tasks with this PID (several only for PID 0: one idle task per CPU)."""
        return self.by_pid.get(pid, [])

    def comm(self, name: str) -> list[TaskInfo]:
        return [t for t in self.tasks if t.comm == name]

    def state_name(self, task: TaskInfo) -> str:
        return task_state_name(task.state, self.states)

    def thread_group(self, tgid: int) -> list[TaskInfo]:
        return [t for t in self.tasks if t.tgid == tgid]


def _pid_struct_size(prog: drgn.Program) -> tuple[int, int, int, int]:
    """Size of a struct pid as crash reads it, and the offsets it needs.

    ``struct pid`` ends in ``struct upid numbers[]`` (a flexible array since 6.5, ``[1]``
    before): read ``offsetof(numbers) + (level + 1) * sizeof(struct upid)`` bytes; a PID of
    the initial namespace has level 0.
    """
    pid_type = prog.type("struct pid")
    upid_type = prog.type("struct upid")
    numbers = drgn.offsetof(pid_type, "numbers")
    size = numbers + upid_type.size
    tasks = drgn.offsetof(pid_type, "tasks")
    ns = numbers + drgn.offsetof(upid_type, "ns")
    return size, numbers, tasks, ns


def _idr_pid_pointers(prog: drgn.Program) -> Iterator[int]:
    """Every ``struct pid *`` in init_pid_ns.idr (xarray or radix tree), bounded."""
    from pycrash.kernel.xarray import idr_entries

    idr = prog["init_pid_ns"].idr
    count = 0
    for entry in idr_entries(idr):
        count += 1
        if count > MAX_TASKS:
            break
        yield entry


def _cpu_count(prog: drgn.Program) -> int:
    """crash's kt->cpus: the possible CPUs, or the highest present CPU + 1 if fewer.

    The masks are read within their own size (NR_CPUS), whatever nr_cpu_ids claims.
    """
    from pycrash.kernel.masks import possible_cpus, present_cpus

    possible = possible_cpus(prog)
    present = present_cpus(prog)
    cpus = len(possible)
    if present and len(present) < cpus:
        cpus = max(present) + 1
    return max(cpus, 1)


def _runqueue_tasks(prog: drgn.Program, cpus: int) -> tuple[dict[int, int], dict[int, int]]:
    """Per CPU: runqueues.curr (the active task) and runqueues.idle."""
    active: dict[int, int] = {}
    idle: dict[int, int] = {}
    runqueues = prog["runqueues"]
    for cpu in range(cpus):
        try:
            rq = per_cpu_ptr(runqueues.address_of_(), cpu)
            active[cpu] = rq.curr.value_()
            idle[cpu] = rq.idle.value_()
        except drgn.FaultError:
            continue
    return active, idle


def _decode(raw: bytes, layout: _TaskLayout) -> dict[str, Any]:
    def u(offset: int, size: int, signed: bool = False) -> int:
        return int.from_bytes(raw[offset:offset + size], "little", signed=signed)

    comm = raw[layout.comm:layout.comm + layout.comm_len].split(b"\0", 1)[0]
    return {
        "pid": u(layout.pid, 4, True),
        "tgid": u(layout.tgid, 4, True),
        "comm": comm.decode("utf-8", "replace"),
        "state": u(layout.state, layout.state_size) | u(layout.exit_state, 4),
        "flags": u(layout.flags, 4),
        "mm": u(layout.mm, 8),
        "parent": u(layout.parent, 8),
        "cpu": u(layout.cpu, 4),
        "stack": u(layout.stack, 8),
    }


def _build(prog: drgn.Program) -> TaskTable:
    layout = _TaskLayout.of(prog)
    cpus = _cpu_count(prog)
    active, idle = _runqueue_tasks(prog, cpus)
    pid_size, _numbers, tasks_off, ns_off = _pid_struct_size(prog)
    init_ns = prog["init_pid_ns"].address_of_().value_()

    addresses: list[int] = []
    seen: set[int] = set()
    for cpu in range(cpus):
        task = idle.get(cpu)
        if task and task not in seen:
            seen.add(task)
            addresses.append(task)
    for pid_ptr in _idr_pid_pointers(prog):
        try:
            raw = prog.read(pid_ptr, pid_size)
        except drgn.FaultError:
            continue
        ns = struct.unpack_from("<Q", raw, ns_off)[0]
        if ns != init_ns:
            continue
        first = struct.unpack_from("<Q", raw, tasks_off)[0]
        if not first:
            continue
        task = first - layout.pid_links
        if task in seen:
            continue
        seen.add(task)
        addresses.append(task)

    records: list[dict[str, Any]] = []
    for task in addresses:
        try:
            raw = prog.read(task, layout.size)
        except drgn.FaultError:
            continue
        fields = _decode(raw, layout)
        fields["task"] = task
        records.append(fields)
    pid_of = {r["task"]: r["pid"] for r in records}
    active_set = set(active.values())
    infos = [
        TaskInfo(
            task=r["task"], pid=r["pid"], tgid=r["tgid"], ppid=pid_of.get(r["parent"], 0),
            parent=r["parent"], cpu=r["cpu"], comm=r["comm"], state=r["state"],
            flags=r["flags"], mm=r["mm"], active=r["task"] in active_set, stack=r["stack"],
        )
        for r in records
    ]
    # crash's sort_by_pid(): by PID, PID 0 (the idle tasks) by CPU.
    infos.sort(key=lambda t: (t.pid, t.cpu if t.pid == 0 else 0))
    return TaskTable(infos, active, _read_task_states(prog), cpus)


def task_table(session_or_prog: Session | drgn.Program) -> TaskTable:
    """The dump's task table, built once and cached on the Program."""
    prog = session_or_prog if isinstance(session_or_prog, drgn.Program) else session_or_prog.prog
    table = prog.cache.get(_CACHE_KEY)
    if table is None:
        table = _build(prog)
        prog.cache[_CACHE_KEY] = table
    return table


def resolve_task(table: TaskTable, word: str) -> list[TaskInfo]:
    """Tasks named by a crash-style argument: a PID, a task_struct address or a command.

    Mirrors crash's str_to_context(): a decimal number that is a PID wins; otherwise a
    hexadecimal value that is a task address; otherwise a command name (``\\`` escapes a
    numeric name).
    """
    if word.startswith("\\"):
        return table.comm(word[1:])
    if word.isdigit():
        found = table.pid(int(word))
        if found:
            return found
    try:
        value = int(word, 16)
    except ValueError:
        return table.comm(word)
    task = table.get(value)
    return [task] if task is not None else []


# -- memory usage (crash memory.c get_task_mem_usage) ------------------------------------


class TaskMemUsage(NamedTuple):
    """A task's resident and virtual size in pages, and %MEM as crash computes it."""

    rss: int
    total_vm: int
    pct_physmem: float


class _MmLayout(NamedTuple):
    mm_count: int
    total_vm: int
    rss_stat: int | None  # mm_struct.rss_stat.count[] (atomic_long_t, before 6.2)
    task_rss_stat: int | None  # task_struct.rss_stat.count[] (int, SPLIT_RSS_COUNTING)
    shmempages: int  # enum MM_SHMEMPAGES, -1 if absent
    total_pages: int

    @classmethod
    def of(cls, prog: drgn.Program) -> _MmLayout:
        mm_type = prog.type("struct mm_struct")
        task_type = prog.type("struct task_struct")
        rss_stat = task_rss = None
        if mm_type.has_member("rss_stat"):
            member_type = mm_type.member("rss_stat").type
            if member_type.kind == drgn.TypeKind.STRUCT:  # struct mm_rss_stat {count[]}
                rss_stat = drgn.offsetof(mm_type, "rss_stat") + drgn.offsetof(
                    member_type, "count")
        if task_type.has_member("rss_stat"):
            task_rss = drgn.offsetof(task_type, "rss_stat") + drgn.offsetof(
                task_type.member("rss_stat").type, "count")
        try:
            shmem = prog.constant("MM_SHMEMPAGES").value_()
        except LookupError:
            shmem = -1
        return cls(
            mm_count=drgn.offsetof(mm_type, "mm_count"),
            total_vm=drgn.offsetof(mm_type, "total_vm"),
            rss_stat=rss_stat,
            task_rss_stat=task_rss,
            shmempages=shmem,
            total_pages=_total_pages(prog),
        )


def _total_pages(prog: drgn.Program) -> int:
    """crash's vt->total_pages: BTOP(VTOP(high_memory)) (+ totalhigh_pages, 32-bit only)."""
    try:
        high = prog["high_memory"].value_()
    except (KeyError, LookupError, drgn.FaultError):
        return 0
    page_offset = None
    for name in ("page_offset_base", "PAGE_OFFSET"):  # x86-64: a variable since 4.8 (KASLR)
        try:
            page_offset = prog[name].value_()
            break
        except (KeyError, LookupError, TypeError, drgn.FaultError):
            continue
    if page_offset is None:
        return 0
    page_size = 4096
    try:
        page_size = int(prog["PAGE_SIZE"])
    except (KeyError, LookupError, TypeError, ValueError):
        pass
    return (high - page_offset) // page_size


def _mm_layout(prog: drgn.Program) -> _MmLayout:
    layout = prog.cache.get(_CACHE_KEY + ".mm")
    if layout is None:
        layout = _MmLayout.of(prog)
        prog.cache[_CACHE_KEY + ".mm"] = layout
    return layout


def _read_long(prog: drgn.Program, address: int, size: int = 8) -> int:
    return int.from_bytes(prog.read(address, size), "little", signed=True)


def task_mem_usage(prog: drgn.Program, table: TaskTable, info: TaskInfo) -> TaskMemUsage:
    """RSS, VSZ and %MEM of a task: the mm counters plus its thread group's cached counts.

    Zombies, tasks without an mm and exiting tasks whose mm is gone count as zero, as in
    crash.  With SPLIT_RSS_COUNTING every thread keeps unsynced counts in
    ``task_struct.rss_stat``; crash adds the positive ones of all threads of the group.
    """
    empty = TaskMemUsage(0, 0, 0.0)
    states = table.states
    if info.state & states.zombie or not info.mm:
        return empty
    layout = _mm_layout(prog)
    try:
        mm_count = _read_long(prog, info.mm + layout.mm_count, 4)
        if info.flags & PF_EXITING and mm_count <= 0:
            return empty
        rss = 0
        if layout.rss_stat is not None:
            counters = [0, 1] + ([layout.shmempages] if layout.shmempages >= 0 else [])
            for index in counters:
                count = _read_long(prog, info.mm + layout.rss_stat + 8 * index)
                if count > 0:
                    rss += count
        if layout.task_rss_stat is not None:
            counters = [0, 1] + ([layout.shmempages] if layout.shmempages >= 0 else [])
            for thread in table.thread_group(info.tgid):
                raw = prog.read(thread.task + layout.task_rss_stat,
                                4 * (max(counters) + 1))
                for index in counters:
                    count = int.from_bytes(raw[4 * index:4 * index + 4], "little", signed=True)
                    if count > 0:
                        rss += count
        total_vm = _read_long(prog, info.mm + layout.total_vm)
    except drgn.FaultError:
        return empty
    if info.is_kernel_thread and not rss:
        return TaskMemUsage(rss, total_vm, 0.0)
    pct = rss * 100.0 / layout.total_pages if layout.total_pages else 0.0
    return TaskMemUsage(rss, total_vm, pct)


# Where the scheduler stamps a task's last arrival on a CPU: sched_info.last_arrival (2.6.x on,
# with CONFIG_SCHED_INFO), task_struct.last_run (2.6.0-2.6.22) or .timestamp (older).
_LAST_RUN_MEMBERS = (("sched_info", "last_arrival"), ("last_run",), ("timestamp",))


def task_last_run(prog: drgn.Program, task: int) -> int:
    """crash's ``task_last_run()``: the task's last-arrival timestamp (ns), 0 if unknown."""
    obj = drgn.Object(prog, "struct task_struct *", task)
    for path in _LAST_RUN_MEMBERS:
        try:
            value = obj
            for part in path:
                value = getattr(value, part)
            return value.value_()
        except (AttributeError, LookupError):
            continue
        except drgn.FaultError:
            return 0
    return 0



def task_struct_size(prog: drgn.Program) -> int:
    """Bytes a task_struct really occupies: ``arch_task_struct_size`` where the architecture
    sizes the FPU state at boot (x86 since 4.2: the struct's last member is variable-sized),
    else ``sizeof(struct task_struct)`` (as crash's SIZE(task_struct))."""
    try:
        return int(prog["arch_task_struct_size"])
    except KeyError:
        return prog.type("struct task_struct").size
