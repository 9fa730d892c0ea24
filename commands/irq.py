"""``irq``: interrupt descriptors, counts and softirqs, as crash 8.0.6 prints them (kernel.c
``cmd_irq``, ``generic_dump_irq``, ``generic_show_interrupts``, ``display_bh_4``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import drgn

from pycrash.api import Arg, Command, CommandContext, CommandError, register
from pycrash.format.columns import center
from pycrash.kernel.irq import (
    IrqDesc,
    IrqError,
    idt_handlers,
    irq_descs,
    nr_irqs,
    softirq_actions,
)

_UNUSED = center("(unused)", 16)


@dataclasses.dataclass
class IrqData:
    mode: str  # "list", "stats", "affinity", "softirqs", "idt"
    irqs: list[int] = dataclasses.field(default_factory=list)  # IRQ numbers to show
    descs: dict[int, IrqDesc] = dataclasses.field(default_factory=dict)
    cpus: list[int] = dataclasses.field(default_factory=list)
    in_use: bool = False
    softirqs: list[tuple[int, int, str, str | None]] = dataclasses.field(
        default_factory=list)  # (index, action, symbol, module)
    gates: list[tuple[int, str]] = dataclasses.field(default_factory=list)  # (handler, text)


@register
class Irq(Command):
    name = "irq"
    summary = "IRQ data"
    synopsis = "[[[index ...] | -u ] | -d | -b | -a | -s [-c cpu]]"
    description = """\
  This command collaborates the data in an irq_desc_t, along with its
  associated hw_interrupt_type and irqaction structure data, into a
  consolidated per-IRQ display.  If no index value argument(s) nor any options
  are entered, the IRQ data for all IRQs will be displayed.

    index   a valid IRQ index.
       -u   dump data for in-use IRQs only.
       -d   dump the intel interrupt descriptor table.
       -b   dump bottom half data.
       -a   dump cpu affinity for in-use IRQs.
       -s   dump the kernel irq stats; if no cpu specified with -c, the
            irq stats of all cpus will be displayed.
   -c cpu   only usable with the -s option, dump the irq stats of the
            specified cpu[s]; cpu can be specified as "1,3,5", "1-3",
            "1,3,5-7,10", "all", or "a" (shortcut for "all").

  --json prints the descriptors (or the softirq vector) as records.
"""
    arguments = (
        Arg("-u", dest="in_use", action="store_true", help="in-use IRQs only"),
        Arg("-d", dest="idt", action="store_true", help="interrupt descriptor table"),
        Arg("-b", dest="bottom", action="store_true", help="bottom half (softirq) data"),
        Arg("-a", dest="affinity", action="store_true", help="cpu affinity"),
        Arg("-s", dest="stats", action="store_true", help="irq stats per cpu"),
        Arg("-c", dest="cpus", metavar="cpu", action="append", help="cpus for -s"),
        Arg("index", nargs="*", help="IRQ numbers"),
    )

    def run(self, ctx: CommandContext, args: Any) -> IrqData:
        if args.cpus and len(args.cpus) > 1:
            raise CommandError("only one -c option allowed")
        prog = ctx.session.prog
        try:
            if args.idt:
                return self._idt(ctx, prog)
            if args.bottom:
                return self._softirqs(ctx, prog)
            count = nr_irqs(prog)
            if args.affinity:
                from pycrash.kernel.tasks import task_table

                ncpus = task_table(prog).cpus
                descs = irq_descs(prog, [], ncpus)
                if any(d.affinity is None for d in descs.values()):
                    raise CommandError("-a option not supported or applicable on this "
                                       "architecture or kernel")
                return IrqData("affinity", list(range(count)), descs, list(range(ncpus)))
            if args.stats:
                from pycrash.kernel.tasks import task_table

                ncpus = task_table(prog).cpus
                cpus = list(range(ncpus))
                if args.cpus:
                    from pycrash.expr.numbers import cpus_of_spec

                    cpus = cpus_of_spec(args.cpus[0], ncpus, None)
                return IrqData("stats", list(range(count)), irq_descs(prog, cpus), cpus)
            irqs = list(range(count))
            if args.index:
                irqs = [_irq_number(word, count) for word in args.index]
            return IrqData("list", irqs, irq_descs(prog, []),
                           in_use=args.in_use and not args.index)
        except IrqError as err:
            raise CommandError(str(err)) from None
        except (drgn.FaultError, LookupError) as err:
            raise CommandError(f"cannot read the interrupt descriptors: {err}") from None

    @staticmethod
    def _idt(ctx: CommandContext, prog: drgn.Program) -> IrqData:
        """crash's x86_64_display_idt_table(): each gate's handler as value_to_symstr(), or
        its address and the symbol of the same physical page's direct-map alias."""
        from pycrash.kernel.memory import page_offset_base
        from pycrash.kernel.symbols import symbol_table

        table = symbol_table(ctx.session)

        def symstr(address: int) -> str:
            found = table.value_search(address)
            if found is None:
                return ""
            return f"{found[0].name}+{found[1]}" if found[1] else found[0].name

        data = IrqData("idt")
        for address in idt_handlers(prog):
            text = symstr(address)
            if not text:
                text = f"{address:016x}"
                try:
                    alias = page_offset_base(ctx.session) + \
                        ctx.session.dump.translate(address).paddr
                except Exception:  # noqa: BLE001 - unmapped: the address alone, as crash
                    alias = None
                if alias is not None and symstr(alias):
                    text += f"  <{symstr(alias)}>"
            data.gates.append((address, text))
        return data

    @staticmethod
    def _softirqs(ctx: CommandContext, prog: drgn.Program) -> IrqData:
        from pycrash.kernel.symbols import symbol_table

        table = symbol_table(ctx.session)
        data = IrqData("softirqs")
        for index, action in softirq_actions(prog):
            found = table.value_search(action)
            # crash's value_symbol(): the name of a symbol starting exactly there
            symbol = found[0].name if found and not found[1] else "(null)"
            module = table.module_of(action)
            data.softirqs.append((index, action, symbol, module.name if module else None))
        return data

    def render(self, ctx: CommandContext, data: IrqData) -> None:
        getattr(self, f"_render_{data.mode}")(ctx.out, data)

    @staticmethod
    def _render_stats(out: Any, data: IrqData) -> None:
        out.write("     " + "".join(f"{f'CPU{cpu}':>10s} " for cpu in data.cpus) + "\n")
        for irq in data.irqs:
            desc = data.descs.get(irq)
            if desc is None or not desc.actions:
                continue
            line = f"{irq:3d}: " + "".join(f"{desc.counts.get(cpu, 0):10d} "
                                           for cpu in data.cpus)
            if desc.chip is not None:
                line += f"{desc.chip:>8s}"
                if desc.flow is not None:
                    line += f"-{desc.flow:<8s}"
            names = ",".join(name for _, name in desc.actions if name is not None)
            out.write(f"{line} {names}\n")

    @staticmethod
    def _render_affinity(out: Any, data: IrqData) -> None:
        out.write("IRQ NAME                 AFFINITY\n")
        for irq in data.irqs:
            desc = data.descs.get(irq)
            if desc is None or not desc.actions:
                continue
            names = ",".join(name for _, name in desc.actions if name is not None)
            out.write(f"{irq:3d} {names:<20s} {_cpu_ranges(desc.affinity or [])}\n")

    @staticmethod
    def _render_list(out: Any, data: IrqData) -> None:
        out.write(f" IRQ  {center('IRQ_DESC/_DATA', 16)}  "
                  f"{center('IRQACTION', 16)}  NAME\n")
        for irq in data.irqs:
            desc = data.descs.get(irq)
            if desc is None and data.in_use:
                continue
            line = f"{center(str(irq), 4, right=True)}  "
            line += f"{desc.address:x}  " if desc else f"{_UNUSED}  "
            actions = desc.actions if desc else []
            if not actions:
                line += f"{_UNUSED}  "
            for n, (action, name) in enumerate(actions):
                if n:
                    line += "\n" + " " * (4 + 2 + 16 + 2)
                line += f"{action:x}  " + (f'"{name}"' if name is not None else "")
            out.write(line + "\n")

    @staticmethod
    def _render_idt(out: Any, data: IrqData) -> None:
        for i, (_, text) in enumerate(data.gates):
            out.write(f"{' ' * (2 if i < 10 else 1 if i < 100 else 0)}[{i}] {text}\n")

    @staticmethod
    def _render_softirqs(out: Any, data: IrqData) -> None:
        out.write(f"SOFTIRQ_VEC {center('ACTION', 16, right=True)}\n")
        for index, action, symbol, module in data.softirqs:
            pad = " " * (4 if index < 10 else 3)
            tail = f"  [{module}]" if module else ""
            out.write(f"    [{index}]{pad} {action:16x}  <{symbol}>{tail}\n")

    def to_json(self, ctx: CommandContext, data: IrqData) -> Any:
        if data.mode == "idt":
            return [{"vector": i, "handler": a, "text": t} for i, (a, t) in enumerate(data.gates)]
        if data.mode == "softirqs":
            return [{"index": i, "action": a, "symbol": s, "module": m}
                    for i, a, s, m in data.softirqs]
        rows = []
        for irq in data.irqs:
            desc = data.descs.get(irq)
            if desc is None:
                continue
            if data.mode in ("stats", "affinity") and not desc.actions:
                continue
            row = {"irq": irq, "irq_desc": desc.address, "chip": desc.chip, "flow": desc.flow,
                   "actions": [{"irqaction": a, "name": n} for a, n in desc.actions]}
            if data.mode == "affinity":
                row["affinity"] = desc.affinity
            if data.mode == "stats":
                row["counts"] = {str(cpu): desc.counts.get(cpu, 0) for cpu in data.cpus}
            rows.append(row)
        return rows


def _irq_number(word: str, count: int) -> int:
    """crash's dtoi() of an IRQ index, checked against nr_irqs."""
    if not word.isdigit():
        raise CommandError(f"invalid decimal argument: {word}")
    irq = int(word)
    if irq >= count:
        raise CommandError(f"invalid IRQ value: {irq}  ({count - 1} max)")
    return irq


def _cpu_ranges(cpus: list[int]) -> str:
    """crash's display_cpu_affinity(): "0-1", "0,2-3"."""
    parts: list[tuple[int, int]] = []
    for cpu in cpus:
        if parts and parts[-1][1] == cpu - 1:
            parts[-1] = (parts[-1][0], cpu)
        else:
            parts.append((cpu, cpu))
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)
