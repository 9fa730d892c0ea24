"""What a ``pycrash -c`` run imports, which drgn plugins its Program loads, how it ends.

Start-up cost is mostly imports: ``-c`` must not import the interactive shell's libraries,
drgn's helper package (whose ``__init__`` imports every helper module) or drgn's own command
plugins, and ``importlib.metadata`` only when some distribution declares a plugin.  Keeping
drgn's command plugins out must not keep out a third-party drgn plugin, nor leak into the
environment of shell commands.  A ``-c`` run skips the interpreter's teardown, except when a
plugin was loaded: what a plugin left unflushed must still reach its file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .helpers import pycrash, sample_files

NEVER_FOR_C = ("prompt_toolkit", "pygments", "drgn.helpers.linux", "drgn.commands",
               "importlib.metadata")


def _imported(stderr: str) -> set[str]:
    """Module names from ``python -X importtime``'s report."""
    return {m[1] for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", stderr, re.M)}


@pytest.mark.parametrize("command", ["log", "sys", "ps", "bt"])
def test_c_run_imports_no_shell_helpers_or_plugin_machinery(tmp_path: Path, command: str) -> None:
    result = pycrash("-s", "-c", command, *sample_files(), home=tmp_path,
                     PYTHONPROFILEIMPORTTIME="1")
    assert result.status == 0, result.stderr
    imported = _imported(result.stderr)
    assert "pycrash.cli" in imported  # the report is there
    assert not imported & set(NEVER_FOR_C)
    if command != "bt":  # bt's frame-size fallback disassembles with capstone
        assert "capstone" not in imported


def _site_with_drgn_plugin(tmp_path: Path) -> tuple[Path, Path]:
    """A distribution declaring a ``drgn.plugins`` entry point whose ``drgn_prog_set`` hook
    writes a marker file."""
    site = tmp_path / "site"
    dist = site / "pycrash_test_drgn_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    marker = tmp_path / "hook-ran"
    (site / "pycrash_test_drgn_plugin.py").write_text(
        "def drgn_prog_set(prog):\n"
        f"    open({str(marker)!r}, 'w').write('called')\n"
    )
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pycrash-test-drgn-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[drgn.plugins]\nmarker = pycrash_test_drgn_plugin\n")
    return site, marker


def test_third_party_drgn_plugin_still_runs(tmp_path: Path) -> None:
    site, marker = _site_with_drgn_plugin(tmp_path)
    result = pycrash("-s", "-c", "sys", *sample_files(), home=tmp_path, PYTHONPATH=str(site),
                     PYTHONPROFILEIMPORTTIME="1")
    assert result.status == 0, result.stderr
    assert marker.read_text() == "called"
    assert "drgn.commands" not in _imported(result.stderr)


def test_shell_commands_see_the_users_drgn_environment(tmp_path: Path) -> None:
    """The variable pycrash sets for its Program is put back before commands run."""
    script = "sys > /dev/null; !echo \"[${DRGN_DISABLE_PLUGINS-unset}]\""
    unset = pycrash("-s", "-c", script, *sample_files(), home=tmp_path)
    assert unset.status == 0, unset.stderr
    assert unset.stdout.splitlines()[-1] == "[unset]"
    mine = pycrash("-s", "-c", script, *sample_files(), home=tmp_path,
                   DRGN_DISABLE_PLUGINS="foo*")
    assert mine.stdout.splitlines()[-1] == "[foo*]"


def test_plugin_files_are_flushed_at_exit(tmp_path: Path) -> None:
    """A plugin's buffered, unclosed file is written out by the normal interpreter exit."""
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    log = tmp_path / "plugin.log"
    (plugin_dir / "sloppy.py").write_text(
        f"LOG = open({str(log)!r}, 'w')\n"
        "LOG.write('loaded\\n')\n"
    )
    result = pycrash("-s", "-c", "sys", *sample_files(), home=tmp_path,
                     PYCRASH_PLUGIN_PATH=str(plugin_dir))
    assert result.status == 0, result.stderr
    assert log.read_text() == "loaded\n"


def test_exit_status_and_output_of_a_c_run(tmp_path: Path) -> None:
    """The quick end of a -c run keeps the status and every line (stdout and stderr)."""
    result = pycrash("-s", "-c", "sys; nosuchcommand; ascii 0x41", *sample_files(),
                     home=tmp_path)
    assert result.status == 1
    assert result.stdout.splitlines()[-1] == "0000000000000041: A" + "<NUL>" * 7
    assert result.stderr_lines[-1] == "pycrash: command not found: nosuchcommand"
