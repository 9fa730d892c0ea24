"""``runq``: the run queues against the guest's process list and crash's recordings."""

from __future__ import annotations

import io
import json
import re

import pytest

from pycrash import testing
from pycrash.testing import primary_crash_output as _recorded  # fails if not recorded

SCENARIOS = testing.scenarios()
_BLOCK = re.compile(r"^CPU (\d+) RUNQUEUE: [0-9a-f]+\n  CURRENT: PID: (\d+) ", re.M)
_QUEUED = re.compile(r"^     \[\s*\d+\] PID: (\d+) ", re.M)



def _running(scenario: str) -> dict[int, int]:
    """cpu -> pid of the tasks the guest saw in state R (the CPU-bound ``yes`` loops)."""
    truth = testing.manifest(scenario)["ground_truth"]
    return {p["cpu"]: p["pid"] for p in truth["processes"] if p["state"] == "R"}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_runq_current_is_the_running_task(scenario: str, run) -> None:
    text = run("runq", scenario)
    current = {int(cpu): int(pid) for cpu, pid in _BLOCK.findall(text)}
    manifest = testing.manifest(scenario)
    assert sorted(current) == list(range(manifest["cpus"]))
    for cpu, pid in _running(scenario).items():
        assert current[cpu] == pid
    roles = manifest["ground_truth"]["roles"]
    other = roles.get("crash", roles.get("yes1"))
    assert set(current.values()) == {roles["yes"], other}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_runq_never_queues_sleeping_stopped_or_dead_tasks(scenario: str, run) -> None:
    truth = testing.manifest(scenario)["ground_truth"]
    roles = truth["roles"]
    never = {roles["stopped"], roles["zombie"], roles["pycrash_dstate"]}
    never |= {p["pid"] for p in truth["processes"] if p["state"] in "DTZ"}
    queued = {int(pid) for pid in _QUEUED.findall(run("runq", scenario))}
    assert not queued & never


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_runq_d_lists_each_running_task_on_its_cpu(scenario: str, run) -> None:
    text = run("runq -d", scenario)
    blocks = re.split(r"^CPU (\d+)\n", text, flags=re.M)[1:]
    by_cpu = {int(cpu): {int(p) for p in _QUEUED.findall(body)}
              for cpu, body in zip(blocks[::2], blocks[1::2], strict=True)}
    for cpu, pid in _running(scenario).items():
        assert pid in by_cpu[cpu]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_runq_c_is_crash_block_of_that_cpu(scenario: str, run) -> None:
    whole = _recorded(scenario, "runq")
    cpu1 = whole[whole.index("CPU 1 RUNQUEUE"):]
    assert run("runq -c 1", scenario) == cpu1
    assert run("runq -c 0,1", scenario) == whole


def test_runq_m_is_rq_clock_minus_last_run(run) -> None:
    stamps = re.findall(r"^ CPU (\d+): (\d+)\n\s+(\d+)", _recorded("oops", "runq -t"), re.M)
    text = run("runq -m", "oops")
    for cpu, clock, last in stamps:
        ms = (int(clock) - int(last)) // 1_000_000
        want = f"{ms // 3_600_000 % 24:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}." \
               f"{ms % 1000:03d}"
        assert re.search(rf"^ CPU {cpu}: \[0 {re.escape(want)}\]", text, re.M)


def test_runq_json_has_the_queues(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out = io.StringIO()
    assert Runner(sample_session("oops"), registry, stdout=out, json=True).execute("runq") == 0
    records = json.loads(out.getvalue())
    roles = testing.manifest("oops")["ground_truth"]["roles"]
    assert [r["cpu"] for r in records] == [0, 1]
    assert {r["current"]["pid"] for r in records} == {roles["yes"], roles["crash"]}
    crash_queued = [int(p) for p in _QUEUED.findall(_recorded("oops", "runq"))]
    assert [t["pid"] for r in records for t in r["rt"] + r["cfs"]] == crash_queued


@pytest.mark.parametrize(("command", "message"), [
    ("runq -g", "pycrash: runq: -g option not supported or applicable on this architecture "
                "or kernel"),
    ("runq -c 5", "pycrash: runq: invalid cpu specification: 5"),
    ("runq -c 0 -c 1", "pycrash: runq: only one -c option allowed"),
])
def test_runq_refusals_are_one_line(sample_session, command: str, message: str) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    assert Runner(sample_session("sysrq"), registry, stdout=out, stderr=err).execute(
        command) == 1
    assert (out.getvalue() + err.getvalue()).strip() == message


def test_runq_on_a_looping_cfs_tree(capsys) -> None:
    """A CFS rb_node whose rb_left points at itself: one warning naming it, and the command
    still prints every CPU's queue."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "robustness"))
    from overlay import overlay_session, u64

    from pycrash.api import registry
    from pycrash.runner import Runner

    session, overlay = overlay_session("oops", "zlib31")
    try:
        prog = session.prog
        rq1 = re.search(r"^CPU 1 RUNQUEUE: ([0-9a-f]+)", _recorded("oops", "runq"), re.M)
        from drgn import offsetof

        timeline = offsetof(prog.type("struct rq"), "cfs.tasks_timeline")
        root = prog.read_u64(int(rq1.group(1), 16) + timeline)  # its rb_root.rb_node
        overlay.patches[root + 16] = u64(root)  # rb_left
        out = io.StringIO()
        assert Runner(session, registry, stdout=out).execute("runq") == 0
    finally:
        session.close()
    assert [cpu for cpu, _ in _BLOCK.findall(out.getvalue())] == ["0", "1"]
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and f"{root:x}" in warnings[0] and "loop" in warnings[0]
