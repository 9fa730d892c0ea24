"""``sig``: dispositions against what the guest's processes are known to have set, the signal
numbering of Linux (include/uapi/asm-generic/signal.h), and crash's argument rules."""

from __future__ import annotations

import io
import json
import re

import pytest

from pycrash import testing

SCENARIOS = testing.scenarios()
PF_KTHREAD = 0x00200000  # include/linux/sched.h


def _handlers(text: str) -> dict[int, str]:
    """signal number -> HANDLER column of a ``sig`` output."""
    return {int(m[1]): m[2] for m in re.finditer(r"^ ?\[(\d+)\] [0-9a-f]+ +(\S+) ", text, re.M)}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_kernel_threads_ignore_every_signal(scenario: str, run) -> None:
    """kthreadd runs ignore_signals() and every kthread inherits it (kernel/kthread.c)."""
    truth = testing.manifest(scenario)["ground_truth"]
    for role in ("pycrash_sleeper", "pycrash_dstate"):
        pid = truth["roles"][role]
        flags = next(int(p["flags"], 16) for p in truth["processes"] if p["pid"] == pid)
        assert flags & PF_KTHREAD
        handlers = _handlers(run(f"sig {pid}", scenario))
        assert sorted(handlers) == list(range(1, 65))
        assert set(handlers.values()) == {"SIG_IGN"}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_background_jobs_ignore_sigint_and_sigquit(scenario: str, run) -> None:
    """The guest's init script starts ``sleep 100000 &`` without job control: POSIX sh gives
    an asynchronous command SIGINT and SIGQUIT ignored, every other signal at its default."""
    pid = testing.manifest(scenario)["ground_truth"]["roles"]["sleep"]
    text = run(f"sig {pid}", scenario)
    assert text.splitlines()[0].endswith('COMMAND: "sleep"')
    handlers = _handlers(text)
    assert {n for n, h in handlers.items() if h == "SIG_IGN"} == {2, 3}
    assert {h for n, h in handlers.items() if n not in (2, 3)} == {"SIG_DFL"}
    assert "SIGNAL_STRUCT: " in text and "NR_THREADS: 1\n" in text  # a single thread


def test_sig_s_names_linux_signals(run) -> None:
    # bit n-1 is signal n: SIGKILL 9, SIGSTOP 19, SIGRTMIN 32 (as crash names it), 64 SIGRTMAX
    assert run("sig -s 100") == "SIGKILL\n"
    assert run("sig -s 0x40100") == "SIGKILL SIGSTOP\n"
    assert run("sig -s 8000000180000000") == "SIGRTMIN SIGRTMIN+1 SIGRTMAX\n"
    assert run("sig -s 0") == "(none)\n"
    every = run("sig -s ffffffffffffffff").splitlines()
    assert all(len(line) <= 80 for line in every) and len(every) > 1
    assert " ".join(every).split() == [line.split()[1].split("/")[0]
                                       for line in run("sig -l").splitlines()]


def test_sig_l_lists_the_64_signals(run) -> None:
    lines = run("sig -l").splitlines()
    assert len(lines) == 64
    assert lines[0] == " [1] SIGHUP" and lines[8] == " [9] SIGKILL"
    assert lines[16] == "[17] SIGCHLD/SIGCLD" and lines[63] == "[64] SIGRTMAX"


def test_sig_g_shows_the_group_then_its_threads(run) -> None:
    pid = testing.manifest("sysrq")["ground_truth"]["roles"]["sleep"]
    text = run(f"sig -g {pid}")
    assert text.count("PID: ") == 2  # the leader, then (indented) its only thread
    assert "\n  PID: " in text and "\n  SIGPENDING: no\n" in text


def test_sig_bad_words(run, sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    assert run("sig 999999") == "sig: invalid task or pid value: 999999\n\n"
    assert run("sig -z").startswith("Usage:\n  sig [[-l] | [-s sigset]]")
    err = io.StringIO()
    assert Runner(sample_session("sysrq"), registry, stdout=io.StringIO(),
                  stderr=err).execute("sig -s zz") == 1
    assert err.getvalue() == 'pycrash: sig: invalid input: "zz"\n'


def test_sig_json(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    truth = testing.manifest("sysrq")["ground_truth"]
    out = io.StringIO()
    assert Runner(sample_session("sysrq"), registry, stdout=out, json=True).execute(
        f"sig {truth['roles']['sleep']}") == 0
    ((record,),) = json.loads(out.getvalue())
    assert record["pid"] == truth["roles"]["sleep"]
    actions = record["signals"]["actions"]
    assert [a["signal"] for a in actions] == list(range(1, 65))
    assert [a["handler"] for a in actions[:3]] == [0, 1, 1]  # SIG_DFL, SIG_IGN, SIG_IGN
