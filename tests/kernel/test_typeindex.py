"""pycrash.kernel.typeindex: crash's GNU_ITERATE_DATATYPES answers, against crash 8.0.6's
recorded ``whatis -r``/``-m`` tables on the sysrq dump."""

from __future__ import annotations

import pytest

from pycrash import testing
from pycrash.kernel.typeindex import matching_types, type_index


def _recorded_rows(cmdline: str) -> list[tuple[int, str]]:
    lines = testing.crash_output("sysrq", "zlib31", cmdline).splitlines()
    assert lines[0].split() == ["SIZE", "TYPE"]
    return [(int(size), name) for size, name in (line.split() for line in lines[1:])]


@pytest.mark.parametrize(("cmdline", "lowest", "highest", "member"), [
    ("whatis -r 3000-9000", 3000, 9000, None),
    ("whatis -m rb_root_cached", 0, 0, "rb_root_cached"),
    ("whatis -r 16 -m list_head", 16, 16, "list_head"),
])
def test_finds_every_type_crash_lists(sample_session, cmdline: str, lowest: int, highest: int,
                                      member: str | None) -> None:
    session = sample_session("sysrq", "zlib31")
    assert matching_types(session, lowest, highest, member) == _recorded_rows(cmdline)


def test_index_is_built_once_per_session(sample_session) -> None:
    session = sample_session("sysrq", "zlib31")
    assert type_index(session) is type_index(session)
    assert type_index(session).paths == [str(session.vmlinux_path)]
