"""``bt``: frames against the guest's ground truth, crash's recordings and --json."""

from __future__ import annotations

import io
import json
import re

import pytest

from pycrash import testing
from pycrash.testing import primary_crash_output as _recorded  # fails if not recorded

SCENARIOS = testing.scenarios()
FRAME = re.compile(r"^ ?#(\d+) \[([0-9a-f]+)\] (\S+) at ([0-9a-f]+)( \[\S+\])?$")


def _frames(text: str) -> list[tuple[int, int, str, int, str | None]]:
    frames = []
    for line in text.splitlines():
        m = FRAME.match(line)
        if m:
            module = m.group(5)[2:-1] if m.group(5) else None
            frames.append((int(m.group(1)), int(m.group(2), 16), m.group(3),
                           int(m.group(4), 16), module))
    return frames



@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sleeping_kthreads_wait_where_the_guest_saw_them(scenario: str, run) -> None:
    truth = testing.manifest(scenario)["ground_truth"]
    for pid, function in ((truth["dstate_pid"], truth["dstate_function"]),
                          (truth["sleeper_pid"], truth["sleeper_function"])):
        if scenario == "oops" and function == truth["sleeper_function"]:
            continue  # woken (runnable) by the oops trigger on the same wait queue
        text = run(f"bt {pid}", scenario)
        assert text.startswith(f"PID: {pid:<7d}  TASK: ")
        frames = _frames(text)
        names = [f[2] for f in frames]
        assert names[0] == "__schedule" and function in names
        assert [f[4] for f in frames if f[2] == function] == ["pycrash_test"]
        # levels count up and stack slots grow towards the stack top
        assert [f[0] for f in frames] == list(range(len(frames)))
        assert [f[1] for f in frames] == sorted(f[1] for f in frames)


def test_sysrq_panic_trace(run) -> None:
    frames = _frames(run("bt"))
    names = [f[2] for f in frames]
    assert names[:3] == ["machine_kexec", "__crash_kexec", "panic"]
    assert "sysrq_handle_crash" in names and names[-1] == "entry_SYSCALL_64_after_hwframe"


def test_oops_exception_frame(run) -> None:
    truth = testing.manifest("oops")["ground_truth"]
    text = run("bt", "oops")
    m = re.search(r"^    \[exception RIP: (\w+)\+(\d+)\]$", text, re.M)
    assert m and m.group(1) == truth["oops_function"]
    assert re.search(r"^    ORIG_RAX: ffffffffffffffff  CS: 0010  SS: 0018$", text, re.M)
    names = [f[2] for f in _frames(text)]
    assert "asm_exc_page_fault" in names and names[-1] == "ret_from_fork"


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("command", ["bt", "bt -a", "bt -f", "bt -t", "bt -sx", "foreach bt"])
def test_bt_equals_crash(scenario: str, command: str, run) -> None:
    assert run(command, scenario) == _recorded(scenario, command)


def test_bt_offsets_and_lines(run) -> None:
    plain, dec, hexa = run("bt"), run("bt -s"), run("bt -sx")
    for (a, b, c) in zip(_frames(plain), _frames(dec), _frames(hexa), strict=True):
        name, off = b[2].split("+")
        hname, hoff = c[2].split("+")
        assert a[2] == name == hname and int(off) == int(hoff, 16)
    lines = run("bt -l").splitlines()
    frame_rows = [i for i, line in enumerate(lines) if FRAME.match(line)]
    assert frame_rows and len(frame_rows) == len(_frames(plain))
    for i in frame_rows:  # every frame of the panic trace has a source line below it
        assert re.match(r"^    /\S+\.[chS]: \d+$", lines[i + 1]), lines[i + 1]


def test_bt_json_matches_text(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    session = sample_session("oops")
    out, text = io.StringIO(), io.StringIO()
    Runner(session, registry, stdout=out, json=True).execute("bt -a")
    Runner(session, registry, stdout=text).execute("bt -a")
    traces = json.loads(out.getvalue())
    frames = [(e["level"], e["slot"], e["name"], e["text"], e["module"])
              for t in traces for e in t["entries"] if e["kind"] == "frame"]
    assert frames == _frames(text.getvalue())
    kinds = {e["kind"] for t in traces for e in t["entries"]}
    assert kinds == {"frame", "exception"}


def test_bt_task_selection(run) -> None:
    cpus = testing.manifest("sysrq")["cpus"]
    assert run("bt -a").count("PID: ") == cpus
    assert run("bt -c 1") == run("bt -p") == run("bt")
    assert run("bt 0").count("COMMAND: \"swapper/") == cpus
    assert run("bt 99999") == "bt: invalid task or pid value: 99999\n"
