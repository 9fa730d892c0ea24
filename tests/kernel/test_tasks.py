"""The task table and panic context, checked against what the guest recorded about itself."""

from __future__ import annotations

import pytest

from pycrash import testing
from pycrash.kernel.panic import find_panic
from pycrash.kernel.tasks import resolve_task, task_table

SCENARIOS = testing.scenarios()
CRASHED = [s for s in SCENARIOS if testing.manifest(s).get("panic")]
# /proc/PID/stat's state letter -> crash's state name
_PROC_STATE = {"S": "IN", "D": "UN", "I": "ID", "R": "RU", "T": "ST", "Z": "ZO"}


def _truth(scenario: str) -> dict:
    return testing.manifest(scenario)["ground_truth"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_recorded_process_is_in_the_table(scenario: str, sample_session) -> None:
    table = task_table(sample_session(scenario))
    by_pid = {t.pid: t for t in table if t.pid}
    for proc in _truth(scenario)["processes"]:
        task = by_pid.get(proc["pid"])
        assert task is not None, f"pid {proc['pid']} ({proc['comm']}) missing"
        assert task.ppid == proc["ppid"], proc
        # /proc shows kworker names with their workqueue ("kworker/0:1-events")
        assert proc["comm"].startswith(task.comm), (task.comm, proc["comm"])
        assert task.is_kernel_thread == bool(int(proc["flags"], 16) & 0x00200000), proc


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_states_of_the_planted_tasks(scenario: str, sample_session) -> None:
    """The module's kthreads, the stopped sleep and the zombie keep their state to the end."""
    truth = _truth(scenario)
    table = task_table(sample_session(scenario))
    roles = truth["roles"]
    expected = {truth["dstate_pid"]: "UN", roles["stopped"]: "ST", roles["zombie"]: "ZO"}
    if scenario != "oops":
        # the oops trigger wakes everything on pycrash_wq, the sleeper included
        expected[truth["sleeper_pid"]] = "IN"
    recorded = {p["pid"]: _PROC_STATE[p["state"]] for p in truth["processes"]}
    for pid, state in expected.items():
        (task,) = table.pid(pid)
        assert table.state_name(task) == state == recorded[pid], pid


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_idle_tasks_one_per_cpu_first(scenario: str, sample_session) -> None:
    cpus = testing.manifest(scenario)["cpus"]
    table = task_table(sample_session(scenario))
    idle = table.tasks[:cpus]
    assert [(t.pid, t.cpu, t.comm) for t in idle] == [
        (0, cpu, f"swapper/{cpu}") for cpu in range(cpus)]
    pids = [t.pid for t in table.tasks]
    assert pids == sorted(pids)
    assert table.cpus == cpus


@pytest.mark.parametrize("scenario", CRASHED)
def test_panic_task_and_cpu(scenario: str, sample_session) -> None:
    session = sample_session(scenario)
    panic = testing.manifest(scenario)["panic"]
    found = find_panic(session)
    assert (found.cpu, found.pid, found.comm) == (panic["cpu"], panic["pid"], panic["comm"])
    table = task_table(session)
    assert table.active[panic["cpu"]] == found.task
    assert table.get(found.task).active


@pytest.mark.parametrize("scenario", CRASHED)
def test_panic_message_is_crashs_choice(scenario: str, sample_session) -> None:
    """crash's PANIC line (recorded in the manifest) quotes the message crash picked."""
    found = find_panic(sample_session(scenario))
    recorded = testing.manifest(scenario)["panic"]["crash_sys_panic"]
    assert recorded.startswith(f'"{found.message}"')


@pytest.mark.skipif("live" not in SCENARIOS, reason="no live sample dump")
def test_live_dump_has_no_panic_task(sample_session) -> None:
    """No CPU crashed: crash starts in the first task's context, swapper/0."""
    session = sample_session("live")
    found = find_panic(session)
    assert found.cpu is None
    first = task_table(session).tasks[0]
    assert (found.task, found.pid, found.comm) == (first.task, 0, "swapper/0")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_active_tasks_are_the_running_ones(scenario: str, sample_session) -> None:
    truth = _truth(scenario)
    table = task_table(sample_session(scenario))
    active = {table.get(t).pid for t in table.active.values()}
    panic = testing.manifest(scenario).get("panic")
    # a crash: `yes` on CPU 0 and the crashing task; live: a `yes` on each CPU
    expected = {truth["roles"]["yes"], panic["pid"] if panic else truth["roles"]["yes1"]}
    assert active == expected


def test_resolve_task_by_pid_address_and_name(sample_session) -> None:
    table = task_table(sample_session("sysrq"))
    sleeper = _truth("sysrq")["sleeper_pid"]
    (task,) = resolve_task(table, str(sleeper))
    assert task.comm == "pycrash_sleeper"
    assert resolve_task(table, f"{task.task:x}") == [task]
    assert resolve_task(table, "pycrash_sleeper") == [task]
    assert len(resolve_task(table, "0")) == testing.manifest("sysrq")["cpus"]
