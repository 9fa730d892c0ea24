"""``timer``: the timer wheel against crash's recordings and the guest's CPU count."""

from __future__ import annotations

import io
import json
import re

import pytest

from pycrash import testing
from pycrash.testing import primary_crash_output as _recorded  # fails if not recorded

SCENARIOS = testing.scenarios()
_BASE = re.compile(r"^TIMER_BASES\[(\d+)\]\[(BASE_STD|BASE_DEF)\]: [0-9a-f]+$", re.M)
_ROW = re.compile(r"^  (\d+)\s+(-?\d+)\s+([0-9a-f]{16})\s+([0-9a-f]{16})  <(.*)>$", re.M)



@pytest.mark.parametrize("scenario", SCENARIOS)
def test_timer_has_a_base_per_guest_cpu(scenario: str, run) -> None:
    text = run("timer", scenario)
    cpus = sorted({int(cpu) for cpu, _ in _BASE.findall(text)})
    assert cpus == list(range(testing.manifest(scenario)["cpus"]))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_timer_rows_are_crash_rows(scenario: str, run) -> None:
    """Every timer crash found, with its expiry, TTE and function, in crash's order."""
    assert _ROW.findall(run("timer", scenario)) == _ROW.findall(_recorded(scenario, "timer"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_timer_c_is_crash_block_of_that_cpu(scenario: str, run) -> None:
    whole = _recorded(scenario, "timer")
    header = whole[:whole.index("TIMER_BASES[0]")]
    cpu1 = whole[whole.index("TIMER_BASES[1]"):]
    assert run("timer -C 1", scenario) == header + cpu1


def test_timer_json_matches_crash(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out = io.StringIO()
    assert Runner(sample_session("la57"), registry, stdout=out, json=True).execute("timer") == 0
    record = json.loads(out.getvalue())
    crash = _recorded("la57", "timer")
    assert record["jiffies"] == int(crash.splitlines()[1])
    rows = [(str(t["expires"]), str(t["tte"]), f"{t['address']:016x}", f"{t['function']:016x}",
             t["symbol"]) for b in record["bases"] for t in b["timers"]]
    assert rows == _ROW.findall(crash)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_timer_r_holds_the_sleeping_shell_loop_hrtimer(scenario: str, run, sample_session) -> None:
    """The guest's ``sleep`` role sleeps in nanosleep(): an ``hrtimer_sleeper`` on its kernel
    stack, queued with ``hrtimer_wakeup``, on some CPU's CLOCK_MONOTONIC base."""
    from pycrash.kernel.tasks import task_table

    roles = testing.manifest(scenario)["ground_truth"]["roles"]
    (sleeper,) = task_table(sample_session(scenario).prog).pid(roles["sleep"])
    text = run("timer -r", scenario)
    cpus = re.findall(r"^CPU: (\d+)  HRTIMER_CPU_BASE: [0-9a-f]+$", text, re.M)
    assert [int(c) for c in cpus] == list(range(testing.manifest(scenario)["cpus"]))
    wakeups = [int(a, 16) for a in re.findall(
        r"^\s+\d+\s+\d+\s+-?\d+  ([0-9a-f]{16})  [0-9a-f]{16}  <hrtimer_wakeup>$", text, re.M)]
    assert any(sleeper.stack <= a < sleeper.stack + 16384 for a in wakeups)


def test_timer_on_a_looping_timer_chain(capsys) -> None:
    """A timer whose ``entry.next`` points at itself: the chain walk stops with one warning
    naming it, and every timer crash listed is still printed."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "robustness"))
    from overlay import overlay_session, u64

    from pycrash.api import registry
    from pycrash.runner import Runner

    session, overlay = overlay_session("sysrq", "zlib31")
    try:
        crash = _recorded("sysrq", "timer")
        first = int(_ROW.findall(crash)[0][2], 16)  # struct timer_list; entry.next is at 0
        overlay.patches[first] = u64(first)
        out = io.StringIO()
        assert Runner(session, registry, stdout=out).execute("timer") == 0
    finally:
        session.close()
    assert _ROW.findall(out.getvalue()) == _ROW.findall(crash)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and f"{first:x}" in warnings[0] and "loop" in warnings[0]
