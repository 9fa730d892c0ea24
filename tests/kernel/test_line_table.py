"""Source lines of return addresses, checked against the lines crash 8.0.6 printed in ``bt -l``.

Each recorded frame line ``#N [slot] function at ADDRESS`` is followed by gdb's
``FILE: LINE`` for that address; pycrash.kernel.symbols.source_line must give the same.
"""

from __future__ import annotations

import re

import pytest

from pycrash import testing
from pycrash.kernel.symbols import line_table, source_line

_FRAME = re.compile(r"^\s*#\d+ \[[0-9a-f]+\] \S+ at ([0-9a-f]+)(?: \[\S+\])?$")


def _recorded_lines(scenario: str, dumpname: str) -> list[tuple[str, int, str]]:
    """(command, address, line crash printed) for every frame of a ``bt -l`` recorded
    without ``mod -s`` (module frames then have no line)."""
    found = []
    for command in testing.crash_commands(scenario, dumpname, module_loaded=False):
        if not command.startswith("bt -l"):
            continue
        lines = testing.crash_output(scenario, dumpname, command).splitlines()
        for frame, following in zip(lines, lines[1:] + [""], strict=True):
            match = _FRAME.match(frame)
            if match and following.startswith("    /"):
                found.append((command, int(match.group(1), 16), following.strip()))
    return found


CASES = [(s, d) for s in testing.scenarios() for d in testing.dump_names(s)
         if any(c.startswith("bt -l") for c in testing.crash_commands(s, d))]


@pytest.mark.parametrize(("scenario", "dumpname"), CASES)
def test_every_recorded_frame_line(scenario: str, dumpname: str, sample_session) -> None:
    session = sample_session(scenario, dumpname)
    recorded = _recorded_lines(scenario, dumpname)
    assert recorded, "no frame with a source line in the recording"
    for command, address, line in recorded:
        assert source_line(session, address) == line, (command, hex(address))


def test_a_return_address_outside_every_cu(sample_session) -> None:
    """rest_init ends with a call to a noreturn function: its return address is padding that
    no CU's ranges cover, and gdb still answers with a line (see LineTable)."""
    session = sample_session("live", "qemu-zlib")
    table = line_table(str(session.vmlinux_path))
    kaslr = session.dump.kaslr_offset or 0
    outside = [(address, line) for _c, address, line in _recorded_lines("live", "qemu-zlib")
               if table._cu_offset(address - kaslr) is None]
    assert outside, "the recording no longer has a frame outside every CU"
    for address, line in outside:
        assert source_line(session, address) == line, hex(address)
