"""The on-disk kernel symbol table (pycrash.kernel.symbol_cache): whether the table was just
built, read back from the cache, or rebuilt over a damaged cache file, symbol lookups and
back traces print what crash 8.0.6 printed on the same dump."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pycrash import testing
from pycrash.kernel import symbols
from pycrash.kernel.symbol_cache import cache_path

SCENARIO = "sysrq"
# Recorded crash commands that go through the kernel symbol table: name -> address and
# address -> symbol+offset (sym), and every frame of a back trace (bt -s prints offsets).
COMMANDS = ("sym schedule", "sym jiffies", "sym 0xffffffff9f8efe30", "bt -s", "bt -a")


def _primary() -> str:
    return next(d["name"] for d in testing.manifest(SCENARIO)["dumps"] if d.get("primary"))


def _outputs(session) -> dict[str, str]:
    from pycrash.api import registry
    from pycrash.runner import Runner

    session.reset_user_state()
    symbols.invalidate_symbol_table(session)
    found = {}
    for command in COMMANDS:
        out = io.StringIO()
        Runner(session, registry, stdout=out, stderr=out).execute(command)
        found[command] = out.getvalue()
    symbols.invalidate_symbol_table(session)  # the other tests get a table of their own
    return found


def _assert_like_crash(found: dict[str, str]) -> None:
    for command, text in found.items():
        assert text == testing.crash_output(SCENARIO, _primary(), command), command


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "pycrash" / "symbols"


def test_built_then_cached_table_prints_like_crash(sample_session, cache_home: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    session = sample_session(SCENARIO)
    _assert_like_crash(_outputs(session))  # built, and written to the cache
    written = list(cache_home.glob("*.symtab"))
    assert written == [cache_path(session.vmlinux_path)]

    def no_build(vmlinux: object) -> None:
        raise AssertionError("the table was built again instead of read from the cache")

    monkeypatch.setattr(symbols, "kernel_columns", no_build)
    _assert_like_crash(_outputs(session))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_cache_file_is_rebuilt(sample_session, cache_home: Path, damage: str) -> None:
    session = sample_session(SCENARIO)
    path = cache_path(session.vmlinux_path)
    assert path is not None and path.parent == cache_home
    cache_home.mkdir(parents=True)
    good = None
    if damage == "truncated":
        _outputs(session)
        good = path.read_bytes()
        path.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a symbol table\n" * 100)
    else:
        path.write_bytes(b"")
    _assert_like_crash(_outputs(session))
    if good is not None:
        assert path.read_bytes() == good  # written again, whole


def test_key_follows_the_vmlinux_and_the_builder(sample_session, cache_home: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A different builder (pycrash/kernel/symbols.py edited) or version never reads an old
    table; the same vmlinux always maps to the same file."""
    from pycrash.kernel import symbol_cache

    vmlinux = sample_session(SCENARIO).vmlinux_path
    first = cache_path(vmlinux)
    assert first is not None and first == cache_path(vmlinux)
    monkeypatch.setattr(symbol_cache, "_builder_digest", lambda: b"another builder")
    assert cache_path(vmlinux) != first
    monkeypatch.undo()
    monkeypatch.setattr(symbol_cache, "__version__", "0.0.0-other")
    assert cache_path(vmlinux) != first
