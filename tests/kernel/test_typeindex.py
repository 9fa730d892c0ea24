"""pycrash.kernel.typeindex: crash's GNU_ITERATE_DATATYPES answers, against crash 8.0.6's
recorded ``whatis -r``/``-m`` tables on the sysrq dump."""

from __future__ import annotations

import pytest

from pycrash import testing
from pycrash.dwarf import TypeTable
from pycrash.kernel import typeindex
from pycrash.kernel.typeindex import file_types, matching_types, type_index


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


def test_a_stopped_walk_goes_on_from_another_thread() -> None:
    """The shell's background walk stops between units; the next caller finishes it."""
    import os
    import threading

    path = str(testing.module_path())
    typeindex._files.pop(os.path.realpath(path), None)
    calls = []

    def stop_after_one_unit() -> bool:
        calls.append(1)
        return len(calls) > 1

    assert file_types(path, stop=stop_after_one_unit) is None
    finished: list[TypeTable | None] = []
    thread = threading.Thread(target=lambda: finished.append(file_types(path)))
    thread.start()
    thread.join(60)
    assert finished and finished[0] is not None
    assert finished[0].types == TypeTable(path).types
    assert file_types(path) is finished[0]  # walked once, then shared
