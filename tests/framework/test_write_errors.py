"""pycrash's own output failing: stdout on a full device (``/dev/full``) or a reader that
went away (``| head``).  Like a coreutils program: one line ``pycrash: write error: REASON``,
or nothing at all for a broken pipe, and exit status 1; never a traceback."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import clean_env, sample_files

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")

FULL = "pycrash: write error: No space left on device"


def _run_to_full(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    with open("/dev/full", "w") as full:
        return subprocess.run([sys.executable, "-m", "pycrash", *args], input=stdin,
                              stdout=full, stderr=subprocess.PIPE, text=True,
                              env=clean_env(tmp_path), cwd=tmp_path, timeout=120)


def test_c_command_to_a_full_device(tmp_path: Path) -> None:
    result = _run_to_full(tmp_path, "-c", "sys", *sample_files())
    assert result.stderr.splitlines() == [FULL]
    assert result.returncode == 1


def test_commands_on_stdin_to_a_full_device(tmp_path: Path) -> None:
    # not -s: the start-up summary is the first thing written
    result = _run_to_full(tmp_path, *sample_files(), stdin="sys\nset radix\n")
    assert result.stderr.splitlines() == [FULL]
    assert result.returncode == 1


def test_interactive_prompt_to_a_full_device(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    try:
        with open("/dev/full", "w") as full:
            proc = subprocess.Popen([sys.executable, "-m", "pycrash", "-s", *sample_files()],
                                    stdin=slave, stdout=full, stderr=subprocess.PIPE,
                                    env=clean_env(tmp_path), cwd=tmp_path)
        os.close(slave)
        slave = -1
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            os.write(master, b"set radix\n")  # in case the prompt got written after all
            time.sleep(0.5)
        _, err = proc.communicate(timeout=10)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert err.decode().splitlines() == [FULL]
    assert proc.returncode == 1


def test_reader_gone_is_silent(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pycrash", "-c", "log; sys", *sample_files()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=clean_env(tmp_path), cwd=tmp_path)
    assert proc.stdout is not None
    proc.stdout.close()  # before anything is written: the first write gets EPIPE
    _, err = proc.communicate(timeout=120)
    assert err == b""
    assert proc.returncode == 1


def test_redirection_to_a_full_device_fails_that_command_only(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pycrash", "-c", "sys > /dev/full; set radix",
                           *sample_files()], capture_output=True, text=True,
                          env=clean_env(tmp_path), cwd=tmp_path, timeout=120)
    assert proc.stderr.splitlines() == ["pycrash: sys: /dev/full: No space left on device"]
    assert proc.stdout == "output radix: 10 (decimal)\n"
    assert proc.returncode == 1
