"""Highlighting adds colour on a terminal and never changes the text."""

from __future__ import annotations

import io
import os

import pytest

from pycrash.shell.highlight import (
    highlight,
    highlight_asm,
    highlight_c,
    should_highlight,
    strip_ansi,
)

# Shapes of crash 8.0.6 output (struct, p, dis).
STRUCT_TEXT = """struct list_head {
    struct list_head *next;
    struct list_head *prev;
}
SIZE: 16
"""
P_TEXT = """$1 = {
  counter = 0x1
}
"""
DIS_TEXT = """0xffffffff9f6c3c10 <schedule>:\tpush   %rbx
0xffffffff9f6c3c11 <schedule+1>:\tmov    %gs:0x1f000,%rbx
0xffffffff9f6c3c1a <schedule+10>:\tcall   *0xffffffff9fe4c060(,%rax,8)  # comment
"""


@pytest.mark.parametrize("text", [STRUCT_TEXT, P_TEXT, "", "\n\n", "no newline at end"])
def test_c_highlighting_only_adds_colour(text: str) -> None:
    coloured = highlight_c(text)
    assert strip_ansi(coloured) == text


def test_c_keywords_are_coloured() -> None:
    coloured = highlight_c(STRUCT_TEXT)
    assert "\x1b[" in coloured
    # "struct" is wrapped in a colour sequence, the member name is left as text.
    assert re_search(r"\x1b\[[0-9;]+mstruct\x1b\[", coloured)


def test_dis_highlighting_only_adds_colour() -> None:
    coloured = highlight_asm(DIS_TEXT)
    assert strip_ansi(coloured) == DIS_TEXT
    assert re_search(r"\x1b\[[0-9;]+m%rbx\x1b\[", coloured)  # registers
    assert re_search(r"\x1b\[[0-9;]+mschedule\+1\x1b\[", coloured)  # symbol+offset


def test_unknown_kind_is_left_alone() -> None:
    assert highlight("struct x;", "cobol") == "struct x;"


def test_never_on_a_pipe_or_a_buffer(monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert not should_highlight(io.StringIO())
    read_fd, write_fd = os.pipe()
    try:
        with os.fdopen(write_fd, "w") as pipe:
            assert not should_highlight(pipe)
    finally:
        os.close(read_fd)


def test_on_a_terminal_unless_switched_off(monkeypatch) -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w") as tty:
            monkeypatch.delenv("NO_COLOR", raising=False)
            assert should_highlight(tty)

            class Session:
                settings = {"color": "off"}

            assert not should_highlight(tty, Session())
            monkeypatch.setenv("NO_COLOR", "1")
            assert not should_highlight(tty)
    finally:
        os.close(master)


def re_search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_colour_for_terminal_follows_the_command_attribute(monkeypatch) -> None:
    from pycrash.api import Command
    from pycrash.shell.highlight import colour_for_terminal

    class Struct(Command):
        name = "struct"
        highlight = "c"

    class Log(Command):
        name = "log"

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert Command.highlight is None  # the default: no colour
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w") as tty:
            assert colour_for_terminal(STRUCT_TEXT, Struct, tty) == highlight_c(STRUCT_TEXT)
            assert colour_for_terminal(STRUCT_TEXT, Log, tty) == STRUCT_TEXT
        assert colour_for_terminal(STRUCT_TEXT, Struct, io.StringIO()) == STRUCT_TEXT
    finally:
        os.close(master)
