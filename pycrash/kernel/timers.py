"""The timer wheel: pending ``struct timer_list`` timers per CPU, as crash's ``timer`` reads
them (kernel.c ``dump_timer_data_timer_bases``).

Since Linux 4.8 (commit 500462a9de65, "timers: Switch to a non-cascading wheel") each CPU
has ``struct timer_base timer_bases[NR_BASES]`` (kernel/time/timer.c): ``BASE_STD`` and, with
CONFIG_NO_HZ_COMMON, ``BASE_DEF`` for deferrable timers (crash tells the two cases apart by
the symbol ``sysctl_timer_migration``, which exists exactly then).  ``vectors[WHEEL_SIZE]``
are ``hlist_head``s linking ``timer_list.entry``; ``timer_list.expires`` is in jiffies.
Every chain is walked with :func:`pycrash.kernel.lists.hlist_walk` (bounded, loop-safe).
"""

from __future__ import annotations

import dataclasses
import struct

import drgn

from pycrash.kernel.lists import hlist_walk, rbtree_walk
from pycrash.kernel.native_helpers import per_cpu_ptr

__all__ = [
    "HrClockBase", "HrCpuBase", "HrTimer", "PendingTimer", "TimerBase", "TimerError",
    "hrtimer_bases", "jiffies", "timer_bases",
]


class TimerError(Exception):
    """The dump lacks the timer wheel structures (one line)."""


@dataclasses.dataclass(frozen=True)
class PendingTimer:
    address: int  # the struct timer_list
    expires: int  # jiffies
    function: int


@dataclasses.dataclass
class TimerBase:
    cpu: int
    base: str  # "BASE_STD" or "BASE_DEF"
    address: int
    timers: list[PendingTimer]  # by expiry, ties in wheel order (crash's stable qsort)
    stops: list[str] = dataclasses.field(default_factory=list)


def jiffies(prog: drgn.Program) -> int:
    """The ``jiffies`` counter (an ``unsigned long`` read in full, as crash does)."""
    return prog.read_u64(prog.symbol("jiffies").address)


def _read_base(prog: drgn.Program, cpu: int, name: str, address: int) -> TimerBase:
    base_type = prog.type("struct timer_base")
    vectors = base_type.member("vectors")
    count = vectors.type.length or 0
    entry = drgn.offsetof(prog.type("struct timer_list"), "entry")
    expires = drgn.offsetof(prog.type("struct timer_list"), "expires")
    function = drgn.offsetof(prog.type("struct timer_list"), "function")
    heads = struct.unpack(f"<{count}Q", prog.read(address + vectors.offset, 8 * count))
    result = TimerBase(cpu, name, address, [])
    for i, first in enumerate(heads):
        if not first:
            continue
        walk = hlist_walk(prog, address + vectors.offset + 8 * i,
                          on_stop=lambda stop: result.stops.append(stop.message()))
        for node in walk:
            timer = node - entry
            try:
                result.timers.append(PendingTimer(timer, prog.read_u64(timer + expires),
                                                  prog.read_u64(timer + function)))
            except drgn.FaultError:
                continue  # crash skips a timer_list it cannot read
    result.timers.sort(key=lambda t: t.expires)
    return result


def timer_bases(prog: drgn.Program, cpus: list[int]) -> list[TimerBase]:
    """Each CPU's timer bases (BASE_STD, then BASE_DEF when the kernel has it)."""
    try:
        bases = prog["timer_bases"]
        prog.type("struct timer_base").member("vectors")
    except (KeyError, LookupError):
        raise TimerError("per-cpu timer_bases do not exist") from None
    try:
        prog.symbol("sysctl_timer_migration")
        names = ("BASE_STD", "BASE_DEF")
    except LookupError:
        names = ("BASE_STD",)
    size = prog.type("struct timer_base").size
    result = []
    for cpu in cpus:
        first = per_cpu_ptr(bases.address_of_(), cpu).value_()
        for i, name in enumerate(names):
            result.append(_read_base(prog, cpu, name, first + i * size))
    return result


# -- hrtimers ----------------------------------------------------------------------------
#
# Each CPU's ``struct hrtimer_cpu_base hrtimer_bases`` (kernel/time/hrtimer.c) has
# ``clock_base[HRTIMER_MAX_CLOCK_BASES]``; each ``struct hrtimer_clock_base`` queues its
# ``struct hrtimer``s in ``active``, a ``struct timerqueue_head`` (an rb-tree by expiry:
# ``rb_root_cached rb_root`` since 5.3, ``rb_root head`` before).  ``hrtimer.node`` is a
# ``timerqueue_node`` whose ``expires`` is the hard expiry; ``_softexpires`` the soft one
# (ktime_t nanoseconds); ``hrtimer_clock_base.offset`` is the clock's offset from
# CLOCK_MONOTONIC.  Until 6.18 a base names its clock by ``get_time`` (ktime_get,
# ktime_get_real...), since then by ``index`` into ``enum hrtimer_base_type``.


@dataclasses.dataclass(frozen=True)
class HrTimer:
    address: int  # struct hrtimer
    softexpires: int | None  # ns; None when the kernel has no soft expiry
    expires: int
    function: int | None


@dataclasses.dataclass
class HrClockBase:
    index: int
    address: int
    clock: int | None  # get_time (a function address)
    clock_name: str | None  # the hrtimer_base_type enumerator, when there is no get_time
    offset: int  # ns
    timers: list[HrTimer]
    stops: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class HrCpuBase:
    cpu: int
    address: int
    clocks: list[HrClockBase]


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >> 63 else value


def _hrtimers(prog: drgn.Program, base: drgn.Object, stops: list[str]) -> list[HrTimer]:
    active = base.active
    root = active.rb_root.rb_root if active.type_.has_member("rb_root") else active.head
    hrtimer = prog.type("struct hrtimer")
    node = drgn.offsetof(hrtimer, "node") + drgn.offsetof(
        prog.type("struct timerqueue_node"), "node")
    expires = drgn.offsetof(hrtimer, "node.expires")
    soft = drgn.offsetof(hrtimer, "_softexpires") if hrtimer.has_member("_softexpires") \
        else None
    function = drgn.offsetof(hrtimer, "function")
    result = []
    walk = rbtree_walk(prog, root.address_of_().value_(),
                       on_stop=lambda stop: stops.append(stop.message()))
    for rb in walk:
        timer = rb - node
        try:
            fn: int | None = prog.read_u64(timer + function)
        except drgn.FaultError:
            fn = None
        try:
            result.append(HrTimer(
                timer,
                _signed64(prog.read_u64(timer + soft)) if soft is not None else None,
                _signed64(prog.read_u64(timer + expires)), fn))
        except drgn.FaultError:
            continue
    return result


def hrtimer_bases(prog: drgn.Program, cpus: list[int]) -> list[HrCpuBase]:
    """Each CPU's hrtimer clock bases and their queued hrtimers, in expiry order."""
    try:
        bases = prog["hrtimer_bases"]
        clock_type = prog.type("struct hrtimer_clock_base")
    except (KeyError, LookupError):
        raise TimerError("-r option not supported or applicable on this architecture or "
                         "kernel") from None
    # crash: every clock_base[] entry when ktime_get_boottime exists (2.6.33+), else 2
    try:
        prog.symbol("ktime_get_boottime")
        count = bases.clock_base.type_.length or 0
    except LookupError:
        count = 2
    names: dict[int, str] = {}
    if not clock_type.has_member("get_time"):
        try:
            enum = prog.type("enum hrtimer_base_type")
            names = {value: name for name, value in enum.enumerators or ()}
        except LookupError:
            pass
    result = []
    for cpu in cpus:
        cpu_base = per_cpu_ptr(bases.address_of_(), cpu)
        clocks = []
        for i in range(count):
            base = cpu_base.clock_base[i]
            stops: list[str] = []
            clocks.append(HrClockBase(
                index=i, address=base.address_of_().value_(),
                clock=base.get_time.value_() if clock_type.has_member("get_time") else None,
                clock_name=names.get(base.index.value_()) if names else None,
                offset=_signed64(base.offset.value_() & ((1 << 64) - 1))
                if clock_type.has_member("offset") else 0,
                timers=_hrtimers(prog, base, stops), stops=stops))
        result.append(HrCpuBase(cpu, cpu_base.value_(), clocks))
    return result
