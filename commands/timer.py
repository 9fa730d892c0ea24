"""``timer``: the pending timer_list timers of each CPU, as crash 8.0.6 prints them (kernel.c
``cmd_timer``, ``dump_timer_data_timer_bases``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import drgn

from pycrash.api import Arg, Command, CommandContext, CommandError, register
from pycrash.format.columns import center
from pycrash.kernel.timers import (
    HrClockBase,
    HrCpuBase,
    TimerBase,
    TimerError,
    hrtimer_bases,
    jiffies,
    timer_bases,
)


@dataclasses.dataclass
class HrTimerData:
    """``timer -r``: each CPU's hrtimer bases and crash's "now" (uptime in ns)."""

    uptime_ns: int
    cpus: list[HrCpuBase]
    functions: dict[int, str]


@dataclasses.dataclass
class TimerData:
    jiffies: int
    bases: list[TimerBase]
    functions: dict[int, str]  # function address -> crash's value_to_symstr()


def _signed(value: int) -> int:
    """A C ``long`` from an unsigned 64-bit difference (crash's ``tte``)."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


@register
class Timer(Command):
    name = "timer"
    summary = "timer queue data"
    synopsis = "[-r][-C cpu]"
    description = """\
  This command displays the timer queue entries in chronological order:
  for each cpu and timer base, the timer_list address, its expiry time in
  jiffies, the time to expire (TTE) and the timer function.

    -r  Display hrtimer timer queue entries in chronological order: for each
        cpu and clock base, the soft and hard expiry times, the time to expire
        (TTE) from the current uptime, the hrtimer address and its function.
 -C cpu Restrict the output to one or more CPUs, where multiple cpu[s] can
        be specified, for example, as "1,3,5", "1-3", or "1,3,5-7,10".

  --json prints the timer bases and their timers as records.
"""
    arguments = (
        Arg("-r", dest="hrtimers", action="store_true", help="hrtimers"),
        Arg("-C", dest="cpus", metavar="cpu", help="cpus to show"),
    )

    def run(self, ctx: CommandContext, args: Any) -> TimerData | HrTimerData:
        from pycrash.kernel.tasks import task_table

        prog = ctx.session.prog
        ncpus = task_table(prog).cpus
        cpus = list(range(ncpus))
        if args.cpus:
            from pycrash.expr.numbers import cpus_of_spec

            cpus = cpus_of_spec(args.cpus, ncpus, None)
        if args.hrtimers:
            return self._hrtimers(ctx, prog, cpus)
        try:
            now = jiffies(prog)
            bases = [base for cpu in ctx.progress(cpus, "timer", len(cpus))
                     for base in timer_bases(prog, [cpu])]
        except TimerError as err:
            raise CommandError(str(err)) from None
        except (drgn.FaultError, LookupError) as err:
            raise CommandError(f"cannot read the timer bases: {err}") from None
        functions = {t.function: _symstr(ctx, t.function) for b in bases for t in b.timers}
        return TimerData(now, bases, functions)

    @staticmethod
    def _hrtimers(ctx: CommandContext, prog: drgn.Program, cpus: list[int]) -> HrTimerData:
        from pycrash.kernel.sysinfo import hz, uptime_jiffies

        try:
            bases = [base for cpu in ctx.progress(cpus, "timer", len(cpus))
                     for base in hrtimer_bases(prog, [cpu])]
            # crash's get_uptime(): jiffies since boot, in ns at HZ
            now = uptime_jiffies(ctx.session) * (1_000_000_000 // hz(ctx.session))
        except TimerError as err:
            raise CommandError(str(err)) from None
        except (drgn.FaultError, LookupError) as err:
            raise CommandError(f"cannot read the hrtimer bases: {err}") from None
        functions = {fn: _symstr(ctx, fn) for b in bases for c in b.clocks
                     for fn in [c.clock, *(t.function for t in c.timers)] if fn is not None}
        return HrTimerData(now, bases, functions)

    def render(self, ctx: CommandContext, data: TimerData | HrTimerData) -> None:
        if isinstance(data, HrTimerData):
            self._render_hrtimers(ctx, data)
            return
        out = ctx.out
        flen = max(len(str(data.jiffies)), len("JIFFIES"))
        out.write(f"{'JIFFIES':<{flen}}\n{data.jiffies:>{flen}}\n\n")
        previous = None
        for base in data.bases:
            if previous is not None and base.cpu != previous:
                out.write("\n")
            previous = base.cpu
            out.write(f"TIMER_BASES[{base.cpu}][{base.base}]: {base.address:x}\n")
            ttes = [_signed(t.expires - data.jiffies) for t in base.timers]
            tlen = max(len(str(max((abs(t) for t in ttes), default=0))) + 1, len("TTE"))
            out.write(f"  {'EXPIRES':<{flen}}     {'TTE':<{tlen}}     TIMER_LIST     FUNCTION\n")
            for timer, tte in zip(base.timers, ttes, strict=True):
                out.write(f"  {timer.expires:>{flen}}  {tte:>{tlen}}  {timer.address:>16x}  "
                          f"{timer.function:>16x}  <{data.functions[timer.function]}>\n")
            if not base.timers:
                out.write("  (none)\n")
            for stop in base.stops:
                ctx.warn(stop)

    @staticmethod
    def _render_hrtimers(ctx: CommandContext, data: HrTimerData) -> None:
        out = ctx.out
        for n, cpu in enumerate(data.cpus):
            out.write(f"{chr(10) if n else ''}CPU: {cpu.cpu}  HRTIMER_CPU_BASE: {cpu.address:x}\n")
            for i, clock in enumerate(cpu.clocks):
                if i:
                    out.write("\n")
                _render_clock(ctx, data, clock)

    def to_json(self, ctx: CommandContext, data: TimerData | HrTimerData) -> Any:
        if isinstance(data, HrTimerData):
            return {"uptime_ns": data.uptime_ns, "cpus": [
                {"cpu": c.cpu, "address": c.address, "clocks": [
                    {"index": b.index, "address": b.address, "offset": b.offset,
                     "now": data.uptime_ns + b.offset, "warnings": b.stops,
                     "timers": [dataclasses.asdict(t) for t in b.timers]}
                    for b in c.clocks]}
                for c in data.cpus]}
        return {
            "jiffies": data.jiffies,
            "bases": [
                {"cpu": b.cpu, "base": b.base, "address": b.address, "warnings": b.stops,
                 "timers": [{"address": t.address, "expires": t.expires,
                             "tte": _signed(t.expires - data.jiffies), "function": t.function,
                             "symbol": data.functions[t.function]} for t in b.timers]}
                for b in data.bases
            ],
        }


def _symstr(ctx: CommandContext, address: int) -> str:
    """crash's value_to_symstr(): ``name`` or ``name+offset``, "" outside the symbols."""
    from pycrash.kernel.symbols import symbol_table

    return symbol_table(ctx.session).symstr(address) or ""


def _render_clock(ctx: CommandContext, data: HrTimerData, clock: HrClockBase) -> None:
    """crash's dump_hrtimer_clock_base() and dump_active_timers()."""
    out = ctx.out
    if clock.clock is not None:
        name = f"  [{data.functions[clock.clock]}]"
    else:
        name = f"  [{clock.clock_name}]" if clock.clock_name else ""
    out.write(f"  CLOCK: {clock.index}  HRTIMER_CLOCK_BASE: {clock.address:x}{name}\n")
    for stop in clock.stops:
        ctx.warn(stop)
    if not clock.timers:
        out.write("  (empty)\n")
        return
    now = data.uptime_ns + clock.offset
    last = clock.timers[-1]
    # crash sizes the columns from the last (latest) timer only
    elen = max(len(str(last.expires)), 7)
    tlen = len(str(last.expires - now))
    soft = last.softexpires is not None
    slen = max(len(str(last.softexpires)), 11) if soft else elen
    out.write(f"  {center('CURRENT', slen, right=True)}\n  {center(str(now), slen, right=True)}\n")
    columns = [center("SOFTEXPIRES", slen, right=True)] if soft else []
    columns += [center("EXPIRES", elen, right=True), center("TTE", tlen, right=True),
                center("HRTIMER", 16), center("FUNCTION", 16)]
    out.write("  " + "  ".join(columns) + "\n")
    for timer in clock.timers:
        line = "  "
        if soft:
            line += f"{center(str(timer.softexpires), slen, right=True)}  "
        line += f"{center(str(timer.expires), elen, right=True)}  "
        line += f"{timer.expires - now:>{tlen}d}  {timer.address:x}  "
        if timer.function is not None:
            line += f"{timer.function:x}  <{data.functions[timer.function]}>"
        out.write(line + "\n")
