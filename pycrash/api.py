"""The public API for pycrash commands: built-ins and third-party plugins use exactly this.

A command is a class that declares its names, arguments and help, then does one thing in two
steps kept apart on purpose:

* ``run(ctx, args)`` gathers data from the dump (through ``ctx.session``) and returns it;
* ``render(ctx, data)`` writes crash-style text for that data to ``ctx.out``.

``--json`` skips ``render`` and prints ``to_json(data)`` instead, so the text and the JSON are
always two views of the same records.  A complete plugin::

    from pycrash.api import Arg, Command, CommandError, Complete, register

    @register
    class Jiffies(Command):
        name = "jiffies"
        summary = "print the jiffies counter"
        arguments = (Arg("-x", action="store_true", help="hexadecimal"),)

        def run(self, ctx, args):
            return {"jiffies": int(ctx.session.prog["jiffies"])}

        def render(self, ctx, data):
            value = data["jiffies"]
            ctx.out.write(f"{value:#x}\\n" if ctx.args.x else f"{value}\\n")

Errors the user can act on are raised as :class:`CommandError` (one line, no traceback): the shell
prints ``pycrash: NAME: message`` and the session goes on.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TextIO, TypeVar

if TYPE_CHECKING:
    from pycrash.session import Session

__all__ = [
    "Arg",
    "Command",
    "CommandContext",
    "CommandError",
    "Complete",
    "jsonable",
    "register",
    "registry",
]


class CommandError(Exception):
    """A failure to report in one line as ``pycrash: <command>: <message>``."""


class Complete(enum.Enum):
    """What an argument's value completes to at the prompt."""

    NONE = "none"
    COMMAND = "command"  # a pycrash command name
    SYMBOL = "symbol"  # a kernel symbol (vmlinux or module)
    TYPE = "type"  # a type name: "task_struct", "struct page", typedefs
    MEMBER_PATH = "member_path"  # "task_struct.pid", "task_struct.se.vruntime"
    EXPRESSION = "expression"  # a C expression: symbols, then members after "." / "->"
    PID = "pid"
    TASK = "task"  # a task_struct address, a pid or a command name
    FILE = "file"  # a path on the local file system


class Arg:
    """One argument, declared with argparse's own keywords plus what it completes.

    ``Arg("-x", action="store_true", help=...)`` is an option, ``Arg("address", nargs="?")`` a
    positional.  Option names that look like numbers (``-8``, ``-16``) work as crash's do.
    """

    def __init__(self, *names: str, complete: Complete = Complete.NONE, **kwargs: Any) -> None:
        if not names:
            raise ValueError("Arg needs at least one name")
        self.names = names
        self.complete = complete
        self.kwargs = kwargs

    @property
    def is_option(self) -> bool:
        return self.names[0].startswith("-")

    def __repr__(self) -> str:
        return f"Arg({', '.join(map(repr, self.names))})"


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that raises CommandError instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CommandError(message)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise CommandError(message.strip() if message else f"exit {status}")


@dataclasses.dataclass
class CommandContext:
    """What a running command sees: the session, its parsed arguments and its output stream."""

    session: Session
    out: TextIO
    args: argparse.Namespace
    command: Command
    json: bool = False
    # Set by the shell: calls back for progress on long walks and raises KeyboardInterrupt
    # promptly when the user pressed Ctrl-C.
    progress_hook: Callable[[str, int, int | None], None] | None = None
    # The registry the command was found in (``help`` lists it, ``extend`` adds to it).
    registry: CommandRegistry | None = None

    def progress(self, items: Iterable[Any], label: str, total: int | None = None) -> Iterator[Any]:
        """Iterate ``items``, reporting progress of a long walk (shown only on a terminal)."""
        hook = self.progress_hook
        try:
            for done, item in enumerate(items, 1):
                yield item
                if hook is not None and done % 64 == 0:
                    hook(label, done, total)
        finally:
            if hook is not None:
                # -1: finished (or failed); the shell clears its progress line before any
                # error message is printed
                hook(label, -1, total)

    def warn(self, message: str) -> None:
        """A one-line warning that does not stop the command (goes to stderr)."""
        import sys

        print(f"pycrash: {self.command.name}: WARNING: {message}", file=sys.stderr)


C = TypeVar("C", bound=type["Command"])


class Command:
    """Base class of every command. Subclasses set the class attributes and override run/render.

    Class attributes:

    ``name``             the command word typed at the prompt
    ``aliases``          other words for it
    ``summary``          one line for ``help``'s table
    ``synopsis``         the arguments part of ``help NAME``'s SYNOPSIS, crash style
                         (``"[-a] [pid | taskp]"``); generated from ``arguments`` when empty
    ``description``      the body of ``help NAME`` (crash's text style: SYNOPSIS is generated)
    ``arguments``        a sequence of :class:`Arg`
    ``needs_debuginfo``  False for commands that work from the dump and vmcoreinfo alone (log,
                         rd of kernel addresses): the shell then does not wait for DWARF.
    ``json``             False if the command has no record-shaped output worth JSON.
    ``highlight``        "c" (struct, union, whatis, p) or "asm" (dis): the shell colours the
                         output with pycrash.shell.highlight when it goes to a terminal.
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[Sequence[str]] = ()
    summary: ClassVar[str] = ""
    synopsis: ClassVar[str] = ""
    description: ClassVar[str] = ""
    arguments: ClassVar[Sequence[Arg]] = ()
    needs_debuginfo: ClassVar[bool] = True
    json: ClassVar[bool] = True
    keep_quotes: ClassVar[bool] = False
    highlight: ClassVar[str | None] = None

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> Any:
        """Gather the data. Return it (dataclasses, dicts, lists, ints, strings)."""
        raise NotImplementedError

    def render(self, ctx: CommandContext, data: Any) -> None:
        """Write crash-style text for ``data`` to ``ctx.out``."""
        ctx.out.write(f"{data}\n")

    def to_json(self, ctx: CommandContext, data: Any) -> Any:
        """The JSON view of ``data``; by default its fields, recursively."""
        return jsonable(data)

    # -- framework helpers -----------------------------------------------------------------

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = _ArgumentParser(
            prog=cls.name, add_help=False, allow_abbrev=False, exit_on_error=False
        )
        for arg in cls.arguments:
            parser.add_argument(*arg.names, **arg.kwargs)
        return parser

    @classmethod
    def parse(cls, argv: Sequence[str]) -> argparse.Namespace:
        """Parse the words after the command name; bad arguments raise CommandError.

        Options may follow positional arguments, as with crash's GNU getopt
        (``rd linux_banner -8 4``); a parser argparse cannot intermix (REMAINDER) parses
        the plain way."""
        parser = cls.parser()
        try:
            try:
                return parser.parse_intermixed_args(list(argv))
            except TypeError:
                return parser.parse_args(list(argv))
        except argparse.ArgumentError as exc:
            raise CommandError(str(exc)) from None


def jsonable(value: Any) -> Any:
    """Turn dataclasses, enums, tuples, bytes and ints into JSON-ready values.

    drgn Objects become their integer value (addresses) when they are pointers or integers.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:  # a drgn Object or anything else with an integer value
        return int(value)
    except (TypeError, ValueError):
        return str(value)


class CommandRegistry:
    """All commands known to the session, by name and alias.

    A word may be known before its command is imported (:meth:`add_lazy`): the built-ins are
    registered that way so that start-up imports none of them; the first :meth:`get` of one of
    a module's words imports it.
    """

    def __init__(self) -> None:
        self._by_name: dict[str, type[Command]] = {}
        self._origin: dict[str, str] = {}
        self._lazy: dict[str, Callable[[], object]] = {}

    def add(self, cls: type[Command], origin: str = "builtin") -> None:
        if not cls.name:
            raise ValueError(f"{cls.__qualname__} has no name")
        for word in (cls.name, *cls.aliases):
            self._by_name[word] = cls
            self._origin[word] = origin
            self._lazy.pop(word, None)

    def add_lazy(self, words: Sequence[str], load: Callable[[], object]) -> None:
        """Know ``words`` now; call ``load`` (which must :meth:`add` their commands) when one
        of them is first looked up. Words that already have a command keep it."""
        for word in words:
            if word not in self._by_name:
                self._lazy[word] = load

    def _load(self, word: str) -> None:
        load = self._lazy.get(word)
        if load is None:
            return
        # Every word this loader serves is settled by one call, whether it works or not.
        for other in [w for w, fn in self._lazy.items() if fn is load]:
            del self._lazy[other]
        # A command added after the lazy one was declared (a plugin) keeps its words.
        later = {w: (c, self._origin[w]) for w, c in self._by_name.items()
                 if self._origin.get(w) != "builtin"}
        try:
            load()
        finally:
            for w, (c, origin) in later.items():
                self._by_name[w], self._origin[w] = c, origin

    def _load_all(self) -> None:
        while self._lazy:
            self._load(next(iter(self._lazy)))

    def remove(self, word: str) -> type[Command] | None:
        """Forget the command ``word`` names, with all its names (``extend -u``)."""
        cls = self.get(word)
        if cls is not None:
            for name in [w for w, c in self._by_name.items() if c is cls]:
                del self._by_name[name]
                self._origin.pop(name, None)
        return cls

    def get(self, word: str) -> type[Command] | None:
        if word not in self._by_name and word in self._lazy:
            self._load(word)
        return self._by_name.get(word)

    def origin(self, word: str) -> str | None:
        if word in self._lazy:
            return "builtin"
        return self._origin.get(word)

    def names(self) -> list[str]:
        """Every word that runs a command, sorted (imports nothing)."""
        return sorted(set(self._by_name) | set(self._lazy))

    def commands(self) -> list[type[Command]]:
        """Each command class once, sorted by name (imports every lazy command)."""
        self._load_all()
        seen = {id(c): c for c in self._by_name.values()}
        return sorted(seen.values(), key=lambda c: c.name)


registry = CommandRegistry()

# Set by the plugin loader while it imports a file, so @register can record where a command
# came from ("builtin", "plugin:/path/to/file.py", "entry-point:name").
_current_origin: list[str] = ["builtin"]


def register(cls: C) -> C:
    """Class decorator: make ``cls`` a command of every session in this process."""
    registry.add(cls, _current_origin[-1])
    return cls
