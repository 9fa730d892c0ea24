"""``task``: members of the task_struct against the guest's process list, and crash's rules."""

from __future__ import annotations

import io
import json
import re

import pytest

from pycrash import testing

SCENARIOS = testing.scenarios()
ROLES = ("pycrash_sleeper", "pycrash_dstate", "sleep", "stopped", "yes", "zombie")


def _members(text: str) -> dict[str, str]:
    """``  name = value,`` lines of a ``task -R`` output: the task_struct's (first) ones; a
    name also in the thread_info (flags) follows them."""
    found: dict[str, str] = {}
    for match in re.finditer(r"^  (\w+) = (.*?),?$", text, re.M):
        found.setdefault(match[1], match[2])
    return found


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_task_members_match_the_guest(scenario: str, run) -> None:
    truth = testing.manifest(scenario)["ground_truth"]
    procs = {p["pid"]: p for p in truth["processes"]}
    for role in ROLES:
        pid = truth["roles"][role]
        text = run(f"task -x -R pid,tgid,comm,flags {pid}", scenario)
        header, *_ = text.splitlines()
        assert header.startswith(f"PID: {pid:<7d}  TASK: ")
        assert header.endswith(f'COMMAND: "{procs[pid]["comm"]}"')
        members = _members(text)
        assert int(members["pid"], 16) == pid
        assert members["comm"].strip('"').split("\\000")[0] == procs[pid]["comm"]
        assert int(members["flags"], 16) == int(procs[pid]["flags"], 16)


def test_task_prints_task_struct_then_thread_info(run) -> None:
    """The full dump: header, the task_struct, a blank line, the thread_info, a blank line."""
    truth = testing.manifest("sysrq")["ground_truth"]
    text = run(f"task {truth['sleeper_pid']}")
    lines = text.split("\n")
    assert lines[1] == "struct task_struct {"
    assert "struct thread_info {" in lines
    start = lines.index("struct thread_info {")
    assert lines[start - 1] == "" and lines[start - 2] == "}"
    assert text.endswith("}\n\n")
    # the thread_info's cpu is the header's CPU
    header_cpu = int(lines[0].split("CPU:")[1].split()[0])
    assert f"  cpu = {header_cpu}" in lines[start:]


def test_task_radix_options(run) -> None:
    sleeper = testing.manifest("sysrq")["ground_truth"]["sleeper_pid"]
    assert f"  pid = {sleeper:#x}," in run(f"task -x -R pid {sleeper}")
    assert f"  pid = {sleeper}," in run(f"task -d -R pid {sleeper}")


def test_task_x_and_d_are_exclusive(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    status = Runner(sample_session("sysrq"), registry, stdout=out, stderr=err).execute(
        "task -x -d")
    assert (status, out.getvalue()) == (1, "")
    assert err.getvalue() == "pycrash: task: -d and -x are mutually exclusive\n"


def test_task_without_argument_is_the_panic_task(run) -> None:
    panic = testing.manifest("sysrq")["panic"]
    assert run("task -R pid").splitlines()[0].startswith(f"PID: {panic['pid']:<7d}")


def test_task_bad_words(run) -> None:
    assert run("task 999999") == "task: invalid task or pid value: 999999\n\n"
    assert run("task nosuch").startswith(
        "task: invalid task, pid, or task_struct member: nosuch\n\n")
    assert run("task -z").startswith("Usage:\n  task [-R member[,member]] [-dx]")


def test_task_json(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    truth = testing.manifest("sysrq")["ground_truth"]
    out = io.StringIO()
    assert Runner(sample_session("sysrq"), registry, stdout=out, json=True).execute(
        f"task -R comm {truth['sleeper_pid']}") == 0
    (record,) = json.loads(out.getvalue())
    assert record["pid"] == truth["sleeper_pid"]
    assert record["comm"] == "pycrash_sleeper"
    assert record["text"].startswith('  comm = "pycrash_sleeper')
