"""The full type-name list (a bare Tab) and its on-disk cache, on a reduced candidate set."""

from __future__ import annotations

import pytest

from pycrash.shell import typenames
from pycrash.shell.completer import _debug_files


@pytest.fixture(scope="module")
def session(sample_session):
    session = sample_session("sysrq")
    session.prog  # noqa: B018
    return session


class NoProgram:
    """Any drgn use fails: proves an answer came from the cache."""

    def __getattr__(self, name):
        raise AssertionError(f"drgn used: {name}")


def test_full_list_is_built_checked_and_cached(session, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(typenames, "FULL_LIST_WAIT", 300.0)
    # Checking every candidate of the vmlinux takes 10-30 s: use those starting with
    # "task_" plus two names that are not types.
    monkeypatch.setattr(
        typenames,
        "all_candidates",
        lambda blob: typenames.candidates_with_prefix(blob, "task_") | {"jiffies", "nosuch"},
    )
    files = _debug_files(session.prog, session)
    index = typenames.TypeNameIndex(session.prog, files, "test-build-id")
    full = index.matching("", ("struct", "union", "typedef", "enum"), wait=300)
    names = [name for name, _ in full]
    assert "task_struct" in names
    assert "jiffies" not in names and "nosuch" not in names
    assert all(name.startswith("task_") for name in names)
    # The same answer as the exact prefix search of a fresh index.
    fresh = typenames.TypeNameIndex(session.prog, files, None)
    assert fresh.matching("task_", ("struct", "union", "typedef", "enum"), wait=300) == full
    assert (tmp_path / "pycrash" / "typenames-test-build-id.json").is_file()

    # A later session with the same vmlinux reads the list back without drgn.
    cached = typenames.TypeNameIndex(NoProgram(), files, "test-build-id")
    assert cached.matching("", ("struct", "union", "typedef", "enum"), wait=300) == full
