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

from pycrash.kernel.lists import hlist_walk
from pycrash.kernel.native_helpers import per_cpu_ptr

__all__ = ["PendingTimer", "TimerBase", "TimerError", "jiffies", "timer_bases"]


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
