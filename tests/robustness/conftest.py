"""Fixtures for the damaged-dump tests: running the ``pycrash`` program on a file.

    def test_x(cli, tmp_path):
        result = cli("-c", "sys", vmlinux, dump)      # subprocess, bounded by a timeout
        assert result.returncode == 2
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# The helpers beside the tests (damage*.py, overlay.py) are imported by bare name; with
# this folder a package, pytest would put only tests/ on sys.path.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

CLI_TIMEOUT = 120  # seconds: generous for a loaded machine; a hang fails the test


def run_cli(*args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``python -m pycrash ARGS`` with stdin closed; raises TimeoutExpired on a hang."""
    return subprocess.run([sys.executable, "-m", "pycrash", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli
