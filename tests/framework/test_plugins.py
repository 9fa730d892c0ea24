"""The example plugin, loaded from each place pycrash looks, and the documented plugin API."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

from pycrash import api, plugins
from pycrash.runner import Runner

from .helpers import (
    EXAMPLE_PLUGIN,
    REPO,
    kthread_states,
    pycrash,
    sample_files,
    taskcount_text,
)

EXPECTED = taskcount_text(kthread_states())


def test_plugin_from_pycrash_plugin_path(tmp_path: Path) -> None:
    first, second = tmp_path / "empty", tmp_path / "mine"
    first.mkdir()
    second.mkdir()
    shutil.copy(EXAMPLE_PLUGIN, second / "taskcount.py")
    result = pycrash("-c", "taskcount -k", "-c", "help taskcount", *sample_files(),
                     home=tmp_path, PYCRASH_PLUGIN_PATH=f"{first}:{second}")
    assert result.status == 0, result.stderr
    assert result.stdout.startswith(EXPECTED)
    assert f"Loaded from plugin {second / 'taskcount.py'}." in result.stdout


def test_plugin_from_user_config_dir(tmp_path: Path) -> None:
    config = tmp_path / ".config" / "pycrash" / "plugins"
    config.mkdir(parents=True)
    shutil.copy(EXAMPLE_PLUGIN, config / "taskcount.py")
    result = pycrash("-c", "taskcount -k", *sample_files(), home=tmp_path)
    assert result.status == 0, result.stderr
    assert result.stdout == EXPECTED


def test_plugin_from_entry_point(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "pycrash_taskcount_example-1.0.dist-info"
    dist.mkdir(parents=True)
    shutil.copy(EXAMPLE_PLUGIN, site / "pycrash_taskcount_example.py")
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pycrash-taskcount-example\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[pycrash.commands]\ntaskcount = pycrash_taskcount_example\n"
    )
    result = pycrash("-c", "taskcount -k", "-c", "help taskcount", *sample_files(),
                     home=tmp_path, PYTHONPATH=str(site))
    assert result.status == 0, result.stderr
    assert result.stdout.startswith(EXPECTED)
    assert "Loaded from entry point taskcount (pycrash_taskcount_example)." in result.stdout


def test_plugin_from_extend(tmp_path: Path) -> None:
    result = pycrash("-c", f"extend {EXAMPLE_PLUGIN}", "-c", "taskcount -k", "-c", "extend",
                     *sample_files(), home=tmp_path)
    assert result.status == 0, result.stderr
    resolved = EXAMPLE_PLUGIN.resolve()
    assert result.stdout == (
        f"{EXAMPLE_PLUGIN}: plugin loaded (taskcount)\n"
        + EXPECTED
        + f"{'PLUGIN':<50} COMMANDS\n"
        + f"{'plugin ' + str(resolved):<50} taskcount\n"
    )


def test_broken_plugin_is_one_line_and_the_rest_works(tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "broken.py").write_text("import no_such_module_anywhere\n")
    shutil.copy(EXAMPLE_PLUGIN, plugin_dir / "taskcount.py")
    result = pycrash("-c", "taskcount -k", *sample_files(), home=tmp_path,
                     PYCRASH_PLUGIN_PATH=str(plugin_dir))
    assert result.status == 0
    assert result.stdout == EXPECTED
    broken = [line for line in result.stderr_lines if "broken.py" in line]
    assert broken == [
        f"pycrash: plugin {plugin_dir / 'broken.py'}: "
        "ModuleNotFoundError: No module named 'no_such_module_anywhere'"
    ]


def test_extend_of_a_broken_file_fails_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def oops(:\n")
    result = pycrash("-c", f"extend {bad}", *sample_files(), home=tmp_path)
    assert result.status == 1
    assert len(result.stderr_lines) == 1
    assert result.stderr.startswith(f"pycrash: extend: {bad}: SyntaxError: ")


def _documented_plugin() -> str:
    """The first python block of docs/plugins.md that registers a command."""
    text = (REPO / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return next(b for b in blocks if "@register" in b)


def test_documented_plugin_is_the_shipped_example() -> None:
    assert _documented_plugin() == EXAMPLE_PLUGIN.read_text()


def test_documented_plugin_runs(tmp_path: Path, sample_session) -> None:
    path = tmp_path / "documented_taskcount.py"
    path.write_text(_documented_plugin())
    registry = api.CommandRegistry()
    assert plugins.load_file(path, registry) == ["taskcount"]
    out = io.StringIO()
    runner = Runner(sample_session(), registry, stdout=out)
    assert runner.execute("taskcount -k") == 0
    assert out.getvalue() == EXPECTED
    assert registry.origin("taskcount") == f"plugin {path.resolve()}"


def test_extend_unload(sample_session) -> None:
    registry = api.CommandRegistry()
    plugins.load_builtins(registry)
    out = io.StringIO()
    runner = Runner(sample_session(), registry, stdout=out)
    assert runner.execute(f"extend {EXAMPLE_PLUGIN}") == 0
    assert registry.get("taskcount") is not None
    assert runner.execute("extend -u taskcount") == 0
    assert registry.get("taskcount") is None
    assert out.getvalue().endswith("taskcount: command removed\n")


@pytest.mark.parametrize("name", ["help", "set", "exit", "extend"])
def test_builtins_are_registered_with_their_origin(name: str) -> None:
    registry = api.CommandRegistry()
    plugins.load_builtins(registry, report=lambda message: None)
    assert registry.get(name) is not None
    assert registry.origin(name) == "builtin"
