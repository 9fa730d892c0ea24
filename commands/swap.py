"""``swap``: swap device information, as crash 8.0.6 prints it (memory.c ``cmd_swap``,
``dump_swap_info``)."""

from __future__ import annotations

from typing import Any

import drgn

from pycrash.api import Command, CommandContext, CommandError, register
from pycrash.format.columns import center
from pycrash.kernel.swap import SwapArea, SwapError, swap_areas

HEADER = "SWAP_INFO_STRUCT    TYPE       SIZE       USED     PCT  PRI  FILENAME\n"


@register
class Swap(Command):
    name = "swap"
    summary = "swap device information"
    synopsis = ""
    description = """\
  This command displays information for each configured swap device.

  --json prints one record per swap area.
"""
    arguments = ()

    def run(self, ctx: CommandContext, args: Any) -> list[SwapArea]:
        try:
            return swap_areas(ctx.session.prog)
        except SwapError as err:
            raise CommandError(str(err)) from None
        except (drgn.FaultError, LookupError) as err:
            raise CommandError(f"cannot read swap_info: {err}") from None

    def render(self, ctx: CommandContext, data: list[SwapArea]) -> None:
        ctx.out.write(HEADER)
        for area in data:
            pct = area.used_kb * 100 // area.size_kb if area.size_kb else 0
            ctx.out.write(
                f"{center(f'{area.address:x}', 16)}  "
                f"{'PARTITION' if area.partition else '  FILE   '} "
                f"{center(f'{area.size_kb}k', 10, right=True)} "
                f"{center(f'{area.used_kb}k', 10, right=True)} "
                f"{center(f'{pct:2d}%', 4, right=True)} {area.priority:>4d}  {area.filename}\n")

    def to_json(self, ctx: CommandContext, data: list[SwapArea]) -> Any:
        return [{"swap_info_struct": a.address, "type": "partition" if a.partition else "file",
                 "size_kb": a.size_kb, "used_kb": a.used_kb, "priority": a.priority,
                 "filename": a.filename} for a in data]
