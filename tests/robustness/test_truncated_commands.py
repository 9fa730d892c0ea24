"""A sample dump cut short at many points, opened by the real command line.

``pycrash -s -c sys -c log -c bt -c ps -c mod ... VMLINUX CUT`` runs in a subprocess with a
timeout (a hang fails the test).  Whatever the cut, there is no traceback, and the exit status
says what happened, as README.md documents: 2 when the dump cannot be opened (one
``pycrash:`` line naming the file), else 0 when every command printed its output and 1 when
some command could not: each command either prints its output or says ``pycrash: CMD: ...``
on one line.

The cuts are copies made in tmp_path; the committed dumps are only read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pycrash import testing

TIMEOUT = 180  # seconds: a run takes 1-3 s; only a hang comes near this
# A pattern of what each command prints when it works: sys's first field, log's first
# record, the headers of bt, ps and mod, sym's "ADDR (T) NAME", rd's ASCII column, p's
# "NAME = VALUE", list's first entry.
OUTPUT_MARK = {
    "sys": r"KERNEL:",
    "log": r"Linux version",
    "bt": r"PID:",
    "ps": r"PPID",
    "mod": r"MODULE +NAME|no modules installed",
    "sym jiffies": r"[0-9a-f]{16} \(\w\) jiffies",
    "rd linux_banner 2": r"[0-9a-f]{16}: .*Linux ver",
    "p jiffies": r"jiffies = (\$\d+ = )?\d+",
    "list -H pycrash_items": r"(?m)^[0-9a-f]{16}$",
}
COMMANDS = tuple(OUTPUT_MARK)


def _cuts(name: str) -> list[int]:
    """Offsets to cut at: in the headers, in the metadata that follows, and in the pages."""
    size = os.path.getsize(testing.dump_paths("sysrq", name)[0])
    head = [0, 64, 1000, 5000] if name == "zlib31" else [0, 40, 200, 3000]
    return head + [size * 3 // 10, size // 2 + 1, size * 8 // 10, size - 4096]


CASES = [
    pytest.param(name, offset, id=f"{name}-{offset}")
    for name in ("zlib31", "elf31") for offset in _cuts(name)
]


def _cut_copy(name: str, offset: int, directory: Path) -> Path:
    source = testing.dump_paths("sysrq", name)[0]
    cut = directory / f"vmcore.{name}.cut{offset}"
    with open(source, "rb") as src, open(cut, "wb") as dst:
        remaining = offset
        while remaining:
            chunk = src.read(min(remaining, 1 << 20))
            if not chunk:
                break
            dst.write(chunk)
            remaining -= len(chunk)
    return cut


@pytest.mark.parametrize(("name", "offset"), CASES)
def test_truncated_dump(name: str, offset: int, tmp_path: Path) -> None:
    cut = _cut_copy(name, offset, tmp_path)
    argv = [sys.executable, "-m", "pycrash", "-s"]
    for command in COMMANDS:
        argv += ["-c", command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCRASH_")}
    env.update(HOME=str(tmp_path), PYCRASH_SAMPLE_CACHE=str(testing.cache_dir()))
    run = subprocess.run([*argv, str(testing.vmlinux_path()), str(cut)], capture_output=True,
                         text=True, timeout=TIMEOUT, env=env, cwd=tmp_path)
    assert "Traceback" not in run.stderr + run.stdout
    errors = [line for line in run.stderr.splitlines() if line.startswith("pycrash: ")]
    assert run.returncode in (0, 1, 2), run.stderr
    if run.returncode == 2:  # could not open: one line naming the file, no command ran
        assert run.stdout == ""
        assert len(errors) == 1 and str(cut) in errors[0], run.stderr
        return
    failed = set()
    for command in COMMANDS:
        word = command.split()[0]
        said = [e for e in errors if e.startswith(f"pycrash: {word}: ")]
        if said:
            failed.add(command)
        else:
            assert re.search(OUTPUT_MARK[command], run.stdout), f"{command}: no output, no message"
    # one line per command that failed (sym and p both name jiffies: counted by word)
    words = [command.split()[0] for command in failed]
    assert len([e for e in errors if e.split(":")[1].strip() in words]) == len(words)
    assert run.returncode == (1 if failed else 0), run.stderr


def test_every_message_is_a_pycrash_line(tmp_path: Path) -> None:
    name = "zlib31"
    size = os.path.getsize(testing.dump_paths("sysrq", name)[0])
    cut = _cut_copy(name, size // 2, tmp_path)
    run = subprocess.run([sys.executable, "-m", "pycrash", "-s", "-c", "sys",
                          str(testing.vmlinux_path()), str(cut)], capture_output=True,
                         text=True, timeout=TIMEOUT, cwd=tmp_path)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("pycrash: ") for line in lines), run.stderr
