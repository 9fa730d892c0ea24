"""extend: load a plugin file at run time, list loaded plugins, or unload one.

crash's extend loads shared objects; pycrash's loads Python files that register commands
with :func:`pycrash.api.register` (see docs/plugins.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pycrash import api
from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.plugins import PluginError, load_file


@dataclasses.dataclass
class Loaded:
    path: str
    commands: list[str]


@register
class Extend(Command):
    name = "extend"
    summary = "extend the command set with plugins"
    synopsis = "[plugin.py] ... | -u command ..."
    description = """
    With file names, import each Python file and add the commands it registers.
    With no argument, list the commands that do not come with pycrash and where
    each came from.  With -u, remove the named commands."""
    arguments = (
        Arg("-u", dest="unload", action="store_true", help="unload the named commands"),
        Arg("files", nargs="*", metavar="plugin.py", complete=Complete.FILE),
    )
    needs_debuginfo = False

    def run(self, ctx: CommandContext, args: Any) -> Any:
        registry = ctx.registry if ctx.registry is not None else api.registry
        if args.unload:
            if not args.files:
                raise CommandError("-u needs the names of the commands to remove")
            removed = []
            for word in args.files:
                if registry.remove(word) is None:
                    raise CommandError(f"{word}: no such command")
                removed.append(word)
            return {"removed": removed}
        if not args.files:
            loaded: dict[str, list[str]] = {}
            for cls in registry.commands():
                origin = registry.origin(cls.name) or "builtin"
                if origin != "builtin":
                    loaded.setdefault(origin, []).append(cls.name)
            return [Loaded(origin, names) for origin, names in loaded.items()]
        results = []
        for path in args.files:
            try:
                names = load_file(path, registry)
            except PluginError as err:
                raise CommandError(str(err)) from None
            results.append(Loaded(path, names))
        return {"loaded": results}

    def render(self, ctx: CommandContext, data: Any) -> None:
        out = ctx.out
        if isinstance(data, list):
            if not data:
                out.write("no plugins loaded\n")
                return
            out.write(f"{'PLUGIN':<50} COMMANDS\n")
            for item in data:
                out.write(f"{item.path:<50} {' '.join(item.commands)}\n")
        elif "removed" in data:
            for word in data["removed"]:
                out.write(f"{word}: command removed\n")
        else:
            for item in data["loaded"]:
                names = " ".join(item.commands) or "no commands"
                out.write(f"{item.path}: plugin loaded ({names})\n")
