"""ascii: bytes of a value in memory order, crash's escapes, and the chart."""

from __future__ import annotations

from pycrash.commands.ascii import ascii_value


def test_value_is_read_little_endian() -> None:
    # "Version" packed into a long, as crash's help example shows it.
    assert ascii_value("0x6e6f6973726556").text == "Version<NUL>"


def test_escapes() -> None:
    assert ascii_value("ff7f0a00").text == "<NUL><LF><DEL><ff><NUL><NUL><NUL><NUL>"


def test_command(run) -> None:
    assert run("ascii 0x6e6f6973726556") == "006e6f6973726556: Version<NUL>\n"
    chart = run("ascii").splitlines()
    assert chart[0] == "" and chart[1] == "      0    1   2   3   4   5   6   7"
    assert chart[-2:] == ["  F |  SI  US  /   ?   O   -   o  DEL", ""]
