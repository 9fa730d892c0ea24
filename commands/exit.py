"""exit / q: leave pycrash (the rest of a -c list or script is not run)."""

from __future__ import annotations

from typing import Any

from pycrash.api import Command, CommandContext, register
from pycrash.errors import ExitRequested


@register
class Exit(Command):
    name = "exit"
    aliases = ("q", "quit")
    summary = "exit this session"
    description = """
    Bail out of the current crash session.

NOTE
    This command is equivalent to the "q" command."""
    needs_debuginfo = False
    json = False

    def run(self, ctx: CommandContext, args: Any) -> Any:
        raise ExitRequested()
