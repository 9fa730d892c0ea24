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
    Bring the session to an end: the commands after it on a -c line or in an input
    file are not run."""
    needs_debuginfo = False
    json = False

    def run(self, ctx: CommandContext, args: Any) -> Any:
        raise ExitRequested()
