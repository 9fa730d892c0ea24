"""Long walks report progress and stop on Ctrl-C, leaving the session usable.

In process: ``rd`` of many units reports its progress through the shell's hook.  In a
pseudo-terminal (the real REPL, driven by pexpect): ``rd`` of a hundred million units over
memory read as zeroes (``--zero-excluded``, so no fault ends it) shows its progress line,
Ctrl-C stops it with "interrupted", and the next command prints what crash printed.
"""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pexpect
import pytest

from pycrash import testing

PROMPT = r"\x1b\[\?2004h(?:\x1b\[[0-9;?]*[A-Za-z])*crash>"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
HUGE = 100_000_000  # 800 MB of 64-bit words: far longer than any test waits


def _progress_calls(session, line: str) -> tuple[str, list[tuple[str, int, int | None]]]:
    from pycrash.api import registry
    from pycrash.runner import Runner

    calls: list[tuple[str, int, int | None]] = []
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(session, registry, stdout=out, stderr=err)
    runner.progress_hook = lambda label, done, total: calls.append((label, done, total))
    assert runner.execute(line) == 0, err.getvalue()
    return out.getvalue(), calls


def test_struct_with_a_count_reports_progress(sample_session):
    init_task = testing.manifest("sysrq")["placeholders"]["init_task"]
    out, calls = _progress_calls(sample_session(), f"struct list_head {init_task} 200")
    assert out.count("struct list_head {") == 200
    assert [c for c in calls if c[1] >= 0] == [("struct", n, 200) for n in (64, 128, 192)]
    assert calls[-1] == ("struct", -1, 200)


def test_rd_reports_progress(sample_session):
    from pycrash.api import registry
    from pycrash.runner import Runner

    calls: list[tuple[str, int, int | None]] = []
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(sample_session(), registry, stdout=out, stderr=err)
    runner.progress_hook = lambda label, done, total: calls.append((label, done, total))
    assert runner.execute("rd linux_banner 1000") == 0, err.getvalue()
    assert len(out.getvalue().splitlines()) == 500  # two 64-bit words a line
    walked = [c for c in calls if c[1] >= 0]
    assert walked and {c[0] for c in walked} == {"rd"} and {c[2] for c in walked} == {1000}
    assert [c[1] for c in walked] == list(range(64, 1001, 64))
    assert calls[-1] == ("rd", -1, 1000)  # the line is cleared when the walk ends


@pytest.fixture
def repl(tmp_path: Path):
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("PYCRASH_") and k != "NO_COLOR"
    }
    environ.update(TERM="xterm", HOME=str(tmp_path), PROMPT_TOOLKIT_NO_CPR="1",
                   PYCRASH_HISTORY=str(tmp_path / "history"),
                   PYCRASH_SAMPLE_CACHE=str(testing.cache_dir()),
                   XDG_CACHE_HOME=str(tmp_path / "cache"))
    files = [str(testing.vmlinux_path()), *map(str, testing.dump_paths("sysrq", "zlib31"))]
    child = pexpect.spawn(sys.executable, ["-m", "pycrash", "-s", "--zero-excluded", *files],
                          env=environ, cwd=str(tmp_path), dimensions=(60, 200),
                          encoding="utf-8", codec_errors="replace", timeout=60)
    child.expect(PROMPT)
    yield child
    if child.isalive():
        child.terminate(force=True)


def test_ctrl_c_stops_a_long_rd(repl):
    repl.send(f"rd linux_banner {HUGE}\r")
    repl.expect(rf"rd: \d+/{HUGE} \(\d+%\)")  # the progress line
    repl.sendintr()
    # a hang-detector, not a timing: the walk checks for Ctrl-C between two reads
    repl.expect("interrupted", timeout=10)
    repl.expect(PROMPT)
    repl.send("sym jiffies\r")
    repl.expect(PROMPT)
    text = ANSI.sub("", repl.before.split("\x1b[?2004l", 1)[-1])
    lines = [line.strip() for line in text.replace("\r", "").splitlines() if line.strip()]
    assert lines == testing.crash_output("sysrq", "zlib31", "sym jiffies").strip().splitlines()


def test_ctrl_c_stops_a_long_rd_given_with_c(tmp_path):
    """``pycrash -c 'rd ...; sym jiffies'`` on a terminal: the rd shows its progress, Ctrl-C
    stops it with one "interrupted" line, and the -c list stops there (exit status 1), as
    README.md documents for scripts."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYCRASH_")}
    environ.update(TERM="dumb", HOME=str(tmp_path),
                   PYCRASH_SAMPLE_CACHE=str(testing.cache_dir()))
    files = [str(testing.vmlinux_path()), *map(str, testing.dump_paths("sysrq", "zlib31"))]
    child = pexpect.spawn(sys.executable, ["-m", "pycrash", "-s", "--zero-excluded", "-c",
                                           f"rd linux_banner {HUGE}; sym jiffies", *files],
                          env=environ, cwd=str(tmp_path), dimensions=(60, 200),
                          encoding="utf-8", codec_errors="replace", timeout=60)
    try:
        child.expect(rf"rd: \d+/{HUGE}")
        child.sendintr()
        child.expect("interrupted", timeout=10)
        child.expect(pexpect.EOF)
        text = ANSI.sub("", child.before).replace("\r", "")
        assert "jiffies" not in text
        child.close()
        assert child.exitstatus == 1
    finally:
        if child.isalive():
            child.terminate(force=True)
