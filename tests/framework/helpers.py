"""Running the real ``pycrash`` program in a subprocess, in a clean environment."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from pycrash import testing

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_PLUGIN = REPO / "plugins" / "taskcount.py"

# include/linux/sched.h: PF_KTHREAD
PF_KTHREAD = 0x00200000


@dataclasses.dataclass
class Result:
    status: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        """stderr without the reports of built-in command modules that failed to import
        (other commands' work in progress must not fail the framework's tests)."""
        return [line for line in self.stderr.splitlines()
                if not line.startswith("pycrash: command module ")]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a pycrash run: a private HOME (no rc files, no user plugins), the
    shared sample cache, no plugin path."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYCRASH_") and k not in ("XDG_CONFIG_HOME", "PYTHONPATH")}
    env["HOME"] = str(home)
    env["PYCRASH_SAMPLE_CACHE"] = str(testing.cache_dir())
    env.update(extra)
    return env


def pycrash(*args: str, home: Path, cwd: Path | None = None, stdin: str | None = None,
            **env: str) -> Result:
    """Run ``python -m pycrash ARGS`` and return its status and output."""
    proc = subprocess.run(
        [sys.executable, "-m", "pycrash", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=clean_env(home, **env),
        cwd=cwd or home,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return Result(proc.returncode, proc.stdout, proc.stderr)


def primary(scenario: str = "sysrq") -> str:
    return next(d["name"] for d in testing.manifest(scenario)["dumps"] if d.get("primary"))


def sample_files(scenario: str = "sysrq", dumpname: str | None = None) -> list[str]:
    """The vmlinux and dump file(s) of a sample, as command-line arguments."""
    paths = testing.dump_paths(scenario, dumpname or primary(scenario))
    return [str(testing.vmlinux_path()), *map(str, paths)]


def kthread_states(scenario: str = "sysrq") -> dict[str, int]:
    """Ground truth recorded in the guest: kernel threads by /proc state letter."""
    procs = testing.manifest(scenario)["ground_truth"]["processes"]
    counts = Counter(p["state"] for p in procs if int(p["flags"], 16) & PF_KTHREAD)
    return dict(sorted(counts.items()))


def taskcount_text(counts: dict[str, int]) -> str:
    """The example plugin's output for these counts."""
    lines = ["STATE  TASKS"] + [f"{s:>5}  {n:5}" for s, n in counts.items()]
    lines.append(f"total  {sum(counts.values()):5}")
    return "\n".join(lines) + "\n"
