"""What the word under the cursor is expected to be: the pure half of completion.

``expected_at(text_before_cursor, registry)`` looks at the command line typed so far and
returns an :class:`Expected`: the kind of name to offer (a :class:`pycrash.api.Complete`
member, or OPTION), the word being completed and, for arguments, the command.  It knows
crash's line syntax (``cmd | pipeline``, ``> file``, ``!shell``, ``;``) and the command's
declared :class:`pycrash.api.Arg` list; it knows nothing of drgn or prompt_toolkit, so it is
tested on strings alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
from collections.abc import Sequence

from pycrash.api import Arg, Command, CommandRegistry, Complete

__all__ = ["Expected", "Kind", "expected_at"]


class Kind(enum.Enum):
    """Kinds beyond :class:`Complete`: the word is an option of the command."""

    OPTION = "option"


@dataclasses.dataclass(frozen=True)
class Expected:
    """What to complete: ``kind`` for ``word`` (the text from the word's start to the cursor)."""

    kind: Complete | Kind
    word: str
    command: type[Command] | None = None


# argparse actions that take no value after the option.
_FLAG_ACTIONS = frozenset(
    {"store_true", "store_false", "store_const", "append_const", "count", "help", "version"}
)
_STAR_COMMAND = "*"


def _split_last_segment(text: str) -> tuple[str, str | None]:
    """The part of ``text`` after the last ``;`` or ``|`` and what separated it.

    Quotes are honoured so ``p "a|b"`` stays one segment.
    """
    quote = None
    start, separator = 0, None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in ";|":
            start, separator = i + 1, ch
    return text[start:], separator


def _takes_value(arg: Arg) -> bool:
    if arg.kwargs.get("action") in _FLAG_ACTIONS:
        return False
    return arg.kwargs.get("nargs") != 0


def _option_arg(command: type[Command], word: str) -> Arg | None:
    for arg in command.arguments:
        if arg.is_option and word in arg.names:
            return arg
    return None


def _positional_for(command: type[Command], index: int) -> Arg | None:
    """The positional Arg that the ``index``-th positional word fills (0-based)."""
    positionals = [a for a in command.arguments if not a.is_option]
    position = 0
    for arg in positionals:
        nargs = arg.kwargs.get("nargs")
        if nargs in ("*", "+", argparse.REMAINDER):
            return arg  # takes every remaining word
        width = nargs if isinstance(nargs, int) else 1
        if index < position + width:
            return arg
        position += width
    return None


def _looks_like_option(word: str, command: type[Command]) -> bool:
    """``-x`` is an option; ``-8``/``-16`` only when the command declares them (crash's rd)."""
    if not word.startswith("-") or word == "-":
        return False
    if word[1:2].isdigit():
        return _option_arg(command, word) is not None
    return True


def _argument_expected(
    command: type[Command], previous: Sequence[str], word: str
) -> Complete | Kind:
    if word.startswith("-") and any(a.is_option for a in command.arguments):
        if not word[1:2].isdigit():
            return Kind.OPTION
    # The value of an option that takes one?
    if previous:
        option = _option_arg(command, previous[-1])
        if option is not None and _takes_value(option):
            return option.complete
    positional_index = 0
    skip_value = False
    for w in previous:
        if skip_value:
            skip_value = False
            continue
        if _looks_like_option(w, command):
            option = _option_arg(command, w)
            skip_value = option is not None and _takes_value(option)
            continue
        positional_index += 1
    arg = _positional_for(command, positional_index)
    return arg.complete if arg is not None else Complete.NONE


def expected_at(text: str, registry: CommandRegistry) -> Expected:
    """What the word that ends ``text`` (the line up to the cursor) should complete to."""
    segment, separator = _split_last_segment(text)
    if separator == "|":
        return Expected(Complete.NONE, _current_word(segment))  # a shell pipeline: not ours
    stripped = segment.lstrip()
    if stripped.startswith("!"):
        return Expected(Complete.NONE, _current_word(segment))

    words = segment.split()
    word = _current_word(segment)
    before = words[:-1] if word else words

    # Redirection: "cmd > fi", "cmd >> fi", "cmd >fi".
    if before and before[-1] in (">", ">>"):
        return Expected(Complete.FILE, word)
    if word.startswith(">"):
        return Expected(Complete.FILE, word.lstrip(">"))

    if not before:
        # The command word.  "*page.flags" is crash's struct/union shortcut.
        if word.startswith(_STAR_COMMAND) and len(word) > 1:
            star = registry.get(_STAR_COMMAND)
            kind = _first_positional_kind(star) if star else Complete.MEMBER_PATH
            return Expected(kind, word[1:], star)
        if "." in word or "->" in word:
            # An unknown first word naming a type/symbol runs as struct/p: "task_struct.pid".
            return Expected(Complete.MEMBER_PATH, word)
        return Expected(Complete.COMMAND, word)

    name = before[0]
    command = registry.get(name)
    args = before[1:]
    if command is None and name.startswith(_STAR_COMMAND) and registry.get(_STAR_COMMAND):
        command = registry.get(_STAR_COMMAND)
        args = ([name[1:]] if len(name) > 1 else []) + args
    if command is None:
        return Expected(Complete.NONE, word)
    return Expected(_argument_expected(command, args, word), word, command)


def _first_positional_kind(command: type[Command] | None) -> Complete:
    arg = _positional_for(command, 0) if command is not None else None
    return arg.complete if arg is not None else Complete.MEMBER_PATH


def _current_word(segment: str) -> str:
    if not segment or segment[-1].isspace():
        return ""
    return segment.split()[-1]
