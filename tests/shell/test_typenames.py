"""The type names of one debug file: the on-disk cache, and the background walk giving way to
a running command.  Names are checked against pycrash_test.c (the sample module's source)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading

import pytest

from pycrash import testing
from pycrash.kernel import typeindex
from pycrash.shell import typenames
from pycrash.shell.gate import DRGN_GATE


def _module() -> str:
    return str(testing.module_path())


def _source_struct_names() -> set[str]:
    """The structs pycrash_test.c defines (``struct NAME {`` at the start of a line)."""
    source = (testing.sample_root() / "module" / "pycrash_test.c").read_text()
    return set(re.findall(r"^struct (\w+) \{", source, re.MULTILINE))


def _build_id(path: str) -> str:
    """The GNU build-id as binutils' readelf prints it."""
    out = subprocess.run(["readelf", "-n", path], check=True, capture_output=True,
                         text=True).stdout
    match = re.search(r"Build ID: ([0-9a-f]+)", out)
    if match is None:
        pytest.skip("no build-id note")
    return match.group(1)


def test_names_are_cached_by_build_id(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = _module()
    names = typenames.file_type_names(path)
    structs = {name for name, kinds in names.items() if "struct" in kinds}
    assert _source_struct_names() <= structs
    assert names["list_head"] == ("struct",)  # include/linux/types.h, used by the module
    assert "int" not in names  # a base type
    cache = tmp_path / "pycrash" / f"typenames-{_build_id(path)}.json"
    assert json.loads(cache.read_text())["version"] == typenames.CACHE_VERSION

    # The next session reads the names back without walking the file.
    def no_walk(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was walked again")

    monkeypatch.setattr(typenames, "file_types", no_walk)
    assert typenames.file_type_names(path) == names

    # An entry written under other rules is not used.
    data = json.loads(cache.read_text())
    data["version"] = typenames.CACHE_VERSION - 1
    cache.write_text(json.dumps(data))
    with pytest.raises(AssertionError, match="walked again"):
        typenames.file_type_names(path)


def test_a_damaged_cache_is_walked_again(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = _module()
    cache = tmp_path / "pycrash" / f"typenames-{_build_id(path)}.json"
    cache.parent.mkdir(parents=True)
    cache.write_text('{"version": 2, "types": [')
    assert "pycrash_item" in typenames.file_type_names(path)


def test_background_walk_waits_for_a_running_command(tmp_path, monkeypatch) -> None:
    """While a command holds the gate the walk does not advance, and a command that needs the
    table (``whatis -r``) walks it itself instead of waiting for the background."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = _module()
    typeindex._files.pop(os.path.realpath(path), None)  # a walk not done yet in this process
    result: dict[str, object] = {}
    background = threading.Thread(
        target=lambda: result.update(names=typenames.file_type_names(path)))
    with DRGN_GATE.command():
        background.start()
        background.join(1.0)
        assert background.is_alive()  # the module's walk takes milliseconds when it may run
        table = typeindex.file_types(path)
    background.join(60)
    assert not background.is_alive()
    assert table is not None and result["names"] == table.type_names()
