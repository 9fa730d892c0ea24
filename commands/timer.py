"""``timer``: the pending timer_list timers of each CPU, as crash 8.0.6 prints them (kernel.c
``cmd_timer``, ``dump_timer_data_timer_bases``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import drgn

from pycrash.api import Arg, Command, CommandContext, CommandError, register
from pycrash.kernel.timers import TimerBase, TimerError, jiffies, timer_bases


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

    -r  Display hrtimer timer queue entries (not supported by pycrash).
 -C cpu Restrict the output to one or more CPUs, where multiple cpu[s] can
        be specified, for example, as "1,3,5", "1-3", or "1,3,5-7,10".

  --json prints the timer bases and their timers as records.
"""
    arguments = (
        Arg("-r", dest="hrtimers", action="store_true", help="hrtimers"),
        Arg("-C", dest="cpus", metavar="cpu", help="cpus to show"),
    )

    def run(self, ctx: CommandContext, args: Any) -> TimerData:
        if args.hrtimers:
            raise CommandError("-r option (hrtimers) is not supported by pycrash")
        from pycrash.kernel.tasks import task_table

        prog = ctx.session.prog
        ncpus = task_table(prog).cpus
        cpus = list(range(ncpus))
        if args.cpus:
            from pycrash.expr.numbers import cpus_of_spec

            cpus = cpus_of_spec(args.cpus, ncpus, None)
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

    def render(self, ctx: CommandContext, data: TimerData) -> None:
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
                out.write(f"timer: WARNING: {stop}\n")

    def to_json(self, ctx: CommandContext, data: TimerData) -> Any:
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

    found = symbol_table(ctx.session).value_search(address)
    if found is None:
        return ""
    sym, offset = found
    return f"{sym.name}+{offset}" if offset else sym.name
