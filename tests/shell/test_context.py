"""What the word under the cursor is expected to be, decided from the line alone."""

from __future__ import annotations

import pytest

from pycrash.api import Arg, Command, CommandRegistry, Complete
from pycrash.shell.context import Kind, expected_at


class _Struct(Command):
    name = "struct"
    arguments = (
        Arg("-o", action="store_true"),
        Arg("-l", dest="offset"),  # takes a value
        Arg("name", complete=Complete.MEMBER_PATH),
        Arg("address", nargs="?", complete=Complete.EXPRESSION),
    )


class _Rd(Command):
    name = "rd"
    arguments = (
        Arg("-8", action="store_true", dest="b8"),
        Arg("-p", action="store_true"),
        Arg("address", complete=Complete.SYMBOL),
        Arg("count", nargs="?"),
    )


class _Set(Command):
    name = "set"
    arguments = (Arg("-c", dest="cpu"), Arg("task", nargs="*", complete=Complete.TASK))


class _Help(Command):
    name = "help"
    aliases = ("h",)
    arguments = (Arg("command", nargs="*", complete=Complete.COMMAND),)


class _Extend(Command):
    name = "extend"
    arguments = (Arg("file", complete=Complete.FILE),)


class _Star(Command):
    name = "*"
    arguments = (Arg("name", complete=Complete.MEMBER_PATH),)


@pytest.fixture(scope="module")
def registry() -> CommandRegistry:
    reg = CommandRegistry()
    for cls in (_Struct, _Rd, _Set, _Help, _Extend, _Star):
        reg.add(cls)
    return reg


@pytest.mark.parametrize(
    ("line", "kind", "word"),
    [
        ("", Complete.COMMAND, ""),
        ("str", Complete.COMMAND, "str"),
        ("  he", Complete.COMMAND, "he"),
        ("struct ", Complete.MEMBER_PATH, ""),
        ("struct task_", Complete.MEMBER_PATH, "task_"),
        ("struct task_struct.se.vr", Complete.MEMBER_PATH, "task_struct.se.vr"),
        ("struct -o task", Complete.MEMBER_PATH, "task"),
        ("struct -l 8 task", Complete.MEMBER_PATH, "task"),  # -l's value is skipped
        ("struct task_struct init_t", Complete.EXPRESSION, "init_t"),
        ("struct -", Kind.OPTION, "-"),
        ("rd jiff", Complete.SYMBOL, "jiff"),
        ("rd -8 jiff", Complete.SYMBOL, "jiff"),  # -8 is a declared flag, not a number
        ("rd -p 0x1000 ", Complete.NONE, ""),  # count completes nothing
        ("set ", Complete.TASK, ""),
        ("set 1 2 ", Complete.TASK, ""),  # nargs="*" takes every word
        ("set -c ", Complete.NONE, ""),  # -c's value declares no completion
        ("help s", Complete.COMMAND, "s"),
        ("h s", Complete.COMMAND, "s"),  # aliases resolve to the command
        ("extend ~/pl", Complete.FILE, "~/pl"),
        ("rd jiffies > /tm", Complete.FILE, "/tm"),
        ("rd jiffies >> out", Complete.FILE, "out"),
        ("rd jiffies >/tm", Complete.FILE, "/tm"),
        ("rd jiffies | gr", Complete.NONE, "gr"),  # a shell pipeline is not ours
        ("!ls /t", Complete.NONE, "/t"),
        ("nosuch arg", Complete.NONE, "arg"),
        ("task_struct.pi", Complete.MEMBER_PATH, "task_struct.pi"),  # runs as struct
        ("*page.fl", Complete.MEMBER_PATH, "page.fl"),  # crash's "*" shortcut
        ("*page ", Complete.NONE, ""),
    ],
)
def test_expected_kind_and_word(registry: CommandRegistry, line: str, kind, word: str) -> None:
    expected = expected_at(line, registry)
    assert (expected.kind, expected.word) == (kind, word)


def test_command_is_reported(registry: CommandRegistry) -> None:
    assert expected_at("h s", registry).command is _Help
    assert expected_at("*page.fl", registry).command is _Star


def test_quoted_pipe_is_not_a_pipeline(registry: CommandRegistry) -> None:
    assert expected_at('rd "a|b" ', registry).kind is Complete.NONE  # count, not a shell
    assert expected_at('rd "a|b" ', registry).command is _Rd
