"""crash's IS_KVADDR()/IS_UVADDR() bounds for bt, checked against crash's own ``help -m``."""

from __future__ import annotations

import re

import pytest

from pycrash import testing
from pycrash.kernel.stack import AddressSpace, search_exception_frames
from pycrash.kernel.tasks import task_table

SCENARIOS = [s for s in testing.scenarios() if "zlib31" in testing.dump_names(s)]


def _machdep(scenario: str, field: str) -> int:
    """A ``help -m`` field (hex) as crash 8.0.6 printed it for the scenario's zlib31 dump."""
    text = testing.crash_output(scenario, "zlib31", "help -m")
    match = re.search(rf"^\s*{field}: ([0-9a-f]+)$", text, re.MULTILINE)
    assert match, f"no {field} in help -m"
    return int(match.group(1), 16)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_bounds_are_crashs_kvbase_and_userspace_top(scenario: str, sample_session) -> None:
    space = AddressSpace.of(sample_session(scenario, "zlib31"))
    assert space.kvbase == _machdep(scenario, "kvbase")
    assert space.user_top == _machdep(scenario, "userspace_top")


def test_la57_panic_stack_has_the_crash_setup_regs_frame(sample_session) -> None:
    """5-level paging: the stack lives below 0xffff800000000000, yet is kernel space."""
    session = sample_session("la57", "zlib31")
    panic = testing.manifest("la57")["panic"]
    recorded = testing.crash_output("la57", "zlib31", "bt -e")
    wanted = re.search(r"KERNEL-MODE EXCEPTION FRAME AT: ([0-9a-f]+)", recorded)
    assert wanted, "crash recorded no kernel-mode frame"
    task = next(t for t in task_table(session.prog) if t.pid == panic["pid"])
    frames = search_exception_frames(session, task.task)
    kernel = [f.address for f in frames if f.kernel_mode]
    assert kernel == [int(wanted.group(1), 16)]

