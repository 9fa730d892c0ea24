"""``foreach``: task selection as crash does it, checked against the guest's ground truth."""

from __future__ import annotations

from pycrash import testing


def _headers(text: str) -> list[int]:
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith("PID: ")]


def test_foreach_state_selects_the_dstate_kthread(run) -> None:
    truth = testing.manifest("sysrq")["ground_truth"]
    text = run("foreach UN bt")
    assert _headers(text) == [truth["dstate_pid"]]
    assert text == run(f"bt {truth['dstate_pid']}")


def test_foreach_bt_covers_every_task_once(run) -> None:
    text = run("foreach bt")
    ps_rows = run("ps").splitlines()[1:]
    assert len(_headers(text)) == len(ps_rows)
    # tasks are separated by exactly one blank line
    assert text.count("\n\nPID: ") == len(ps_rows) - 1


def test_foreach_ps_is_one_table(run) -> None:
    text = run("foreach RU ps")
    lines = text.splitlines()
    assert lines[0].startswith("      PID    PPID  CPU")
    assert lines[1:] and all(line[2:].split()[4] == "RU" for line in lines[1:])
    roles = testing.manifest("sysrq")["ground_truth"]["roles"]
    marked = {int(line[2:].split()[0]) for line in lines[1:] if line.startswith(">")}
    assert marked == {roles["yes"], roles["crash"]}


def test_foreach_selectors(run) -> None:
    truth = testing.manifest("sysrq")["ground_truth"]
    by_regex = _headers(run("foreach 'pycrash_.*' bt"))
    assert by_regex == sorted([truth["sleeper_pid"], truth["dstate_pid"], truth["oops_pid"]])
    kernel = set(_headers(run("foreach kernel bt -s")))
    user = set(_headers(run("foreach user bt -s")))
    assert not kernel & user and truth["sleeper_pid"] in kernel
    assert truth["roles"]["yes"] in user
    assert _headers(run(f"foreach {truth['sleeper_pid']} bt")) == [truth["sleeper_pid"]]


def test_foreach_sig_drops_sigs_closing_blank_line(run) -> None:
    """crash's sig ends with a blank line; under foreach the blank line between tasks takes
    its place (checked with crash 8.0.6: `foreach pycrash_sleeper sig` is the recorded
    `sig PID` without its last line, and `foreach sig` has one blank line between tasks)."""
    pid = testing.manifest("sysrq")["ground_truth"]["sleeper_pid"]
    alone = testing.crash_output("sysrq", "zlib31", f"sig {pid}")
    assert alone.endswith("\n\n")
    assert run("foreach pycrash_sleeper sig") == alone[:-1]
    everyone = run("foreach sig")
    assert "\n\n\n" not in everyone and not everyone.endswith("\n\n")
    assert everyone.count("\nPID: ") + 1 == len(run("ps").splitlines()) - 1
