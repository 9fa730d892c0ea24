"""``ps``: its rows against the guest's own process list, crash's recordings and --json."""

from __future__ import annotations

import io
import json

import pytest

from pycrash import testing
from pycrash.testing import primary_crash_output as _recorded  # fails if not recorded

SCENARIOS = testing.scenarios()
HEADER = "      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM"


def _rows(text: str) -> dict[int, list[str]]:
    """pid -> fields of each table row (idle tasks keyed by -1 - cpu)."""
    rows = {}
    for line in text.splitlines()[1:]:
        fields = line[2:].split()
        pid = int(fields[0])
        rows[pid if pid else -1 - int(fields[2])] = [line[:2]] + fields
    return rows



@pytest.mark.parametrize("scenario", SCENARIOS)
def test_ps_rows_match_the_guest(scenario: str, run) -> None:
    text = run("ps", scenario)
    assert text.splitlines()[0] == HEADER
    rows = _rows(text)
    truth = testing.manifest(scenario)["ground_truth"]
    for proc in truth["processes"]:
        marker, pid, ppid, cpu, _task, _state, *_rest = rows[proc["pid"]]
        assert (int(pid), int(ppid)) == (proc["pid"], proc["ppid"])
        comm = rows[proc["pid"]][-1]
        kthread = bool(int(proc["flags"], 16) & 0x00200000)
        assert comm.startswith("[") == kthread
    panic = testing.manifest(scenario)["panic"]
    running = truth["roles"]["yes1"] if panic is None else panic["pid"]
    assert rows[running][0] == "> "
    assert rows[truth["roles"]["yes"]][0] == "> "
    assert sum(1 for r in rows.values() if r[0] == "> ") == 2


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("command", ["ps", "ps -k", "ps -u", "ps -S", "ps -p", "ps -c"])
def test_ps_equals_crash(scenario: str, command: str, run) -> None:
    assert run(command, scenario) == _recorded(scenario, command)


def test_ps_summary_counts_every_task(run) -> None:
    total = len(run("ps").splitlines()) - 1
    counts = [int(line.split(":")[1]) for line in run("ps -S").splitlines()]
    assert sum(counts) == total


def test_ps_filters(run) -> None:
    sleeper = testing.manifest("sysrq")["ground_truth"]["sleeper_pid"]
    by_pid = run(f"ps {sleeper}")
    assert by_pid == run("ps pycrash_sleeper")
    assert by_pid.splitlines()[1].endswith("[pycrash_sleeper]")
    kernel, user = _rows(run("ps -k")), _rows(run("ps -u"))
    assert not set(kernel) & set(user)
    assert all(r[-1].startswith("[") for r in kernel.values())
    assert len(kernel) + len(user) == len(_rows(run("ps")))


def test_ps_regex_and_command_names(run) -> None:
    """'regex' (quoted, as crash requires) and plain command names select by comm."""
    truth = testing.manifest("sysrq")["ground_truth"]
    regex = _rows(run("ps 'pycrash_(sleeper|dstate)'"))
    assert set(regex) == {truth["sleeper_pid"], truth["dstate_pid"]}
    sleeps = {p["pid"] for p in truth["processes"] if p["comm"] == "sleep"}
    assert sleeps <= set(_rows(run("ps sleep")))


def test_ps_json_has_the_text_rows(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    session = sample_session("sysrq")
    out = io.StringIO()
    assert Runner(session, registry, stdout=out, json=True).execute("ps") == 0
    records = json.loads(out.getvalue())
    text = io.StringIO()
    Runner(session, registry, stdout=text).execute("ps")
    rows = text.getvalue().splitlines()[1:]
    assert len(records) == len(rows)
    for record, row in zip(records, rows, strict=True):
        fields = row[2:].split()
        assert record["pid"] == int(fields[0]) and record["ppid"] == int(fields[1])
        assert f"{record['task']:x}" == fields[3] and record["state"] == fields[4]
        assert record["rss_kb"] == int(fields[7]) and record["active"] == (row[0] == ">")


def test_ps_errors(run, sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    err = io.StringIO()
    status = Runner(sample_session("sysrq"), registry, stdout=io.StringIO(),
                    stderr=err).execute("ps -k -u")
    assert status == 1 and "-u and -k are mutually exclusive" in err.getvalue()
    assert run("ps 99999").startswith("ps: invalid task or pid value: 99999\n\n" + HEADER)
