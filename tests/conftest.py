"""Shared fixtures: sessions on the committed sample dumps, and a way to run command lines.

    def test_something(run):
        assert "PANIC" in run("sys")             # sysrq scenario, primary dump

    def test_other(sample_session):
        session = sample_session("oops", "zlib31")   # opened once per test run

Sessions are opened once per (scenario, dump) for the whole run: loading the vmlinux DWARF is
the expensive part.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from pycrash import testing

_sessions: dict[tuple[str, str], object] = {}


def primary_dump(scenario: str) -> str:
    """The scenario's primary dump (zlib31), as the manifest marks it."""
    dumps = testing.manifest(scenario)["dumps"]
    return next(d["name"] for d in dumps if d.get("primary"))


def open_sample(scenario: str = "sysrq", dumpname: str | None = None):
    """The (cached) Session of a sample dump, with the built-in commands loaded."""
    from pycrash.plugins import load_builtins
    from pycrash.session import open_session

    dumpname = dumpname or primary_dump(scenario)
    key = (scenario, dumpname)
    if key not in _sessions:
        load_builtins(report=lambda message: None)
        _sessions[key] = open_session(testing.dump_paths(scenario, dumpname),
                                      testing.vmlinux_path())
    return _sessions[key]


@pytest.fixture(scope="session")
def sample_session() -> Callable[..., object]:
    """``sample_session(scenario="sysrq", dumpname=None)`` -> Session (primary dump if None)."""
    return open_sample


@pytest.fixture
def run() -> Callable[..., str]:
    """``run(cmdline, scenario="sysrq", dumpname=None) -> str``: the command's output.

    Fails the test if the command reports an error (status 1).
    """
    from pycrash.api import registry
    from pycrash.runner import Runner

    def run_line(cmdline: str, scenario: str = "sysrq", dumpname: str | None = None) -> str:
        out, err = io.StringIO(), io.StringIO()
        status = Runner(open_sample(scenario, dumpname), registry, stdout=out,
                        stderr=err).execute(cmdline)
        assert status == 0, f"{cmdline!r} failed: {err.getvalue().strip()}"
        return out.getvalue()

    return run_line
