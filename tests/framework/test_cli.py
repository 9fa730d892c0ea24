"""The pycrash program run as users run it: exit statuses, -c, pipes, redirection, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pycrash import debuginfo, testing

from .fake_vmlinux import write_fake_vmlinux
from .helpers import (
    EXAMPLE_PLUGIN,
    kthread_states,
    pycrash,
    sample_files,
    taskcount_text,
)


def test_version(tmp_path: Path) -> None:
    result = pycrash("--version", home=tmp_path)
    assert result.status == 0
    assert result.stdout.startswith("pycrash 0.1.0 (drgn 0.3.0")


@pytest.mark.parametrize("order", ["vmlinux-first", "dump-first"])
def test_files_in_any_order_and_several_commands(tmp_path: Path, order: str) -> None:
    files = sample_files()
    if order == "dump-first":
        files = files[1:] + files[:1]
    result = pycrash("-c", "set radix 16; set radix", "-c", "set scroll", *files, home=tmp_path)
    assert result.status == 0, result.stderr
    assert result.stdout == (
        # output not to a terminal: no pager, as crash ("scroll: off (none)")
        "output radix: 16 (hex)\noutput radix: 16 (hex)\nscroll: off (none)\n"
    )
    assert result.stderr_lines == []


def test_failed_command_gives_status_1_and_the_rest_runs(tmp_path: Path) -> None:
    result = pycrash("-c", "set radix 16; nosuchcommand; set radix", *sample_files(),
                     home=tmp_path)
    assert result.status == 1
    assert result.stdout == "output radix: 16 (hex)\noutput radix: 16 (hex)\n"
    assert result.stderr_lines == ["pycrash: command not found: nosuchcommand"]


def test_bad_arguments_of_a_command_are_one_line(tmp_path: Path) -> None:
    result = pycrash("-c", "set radix 12", *sample_files(), home=tmp_path)
    assert result.status == 1
    assert result.stderr_lines == ["pycrash: set: invalid radix: 12 (10 or 16)"]


def test_exit_stops_the_command_list(tmp_path: Path) -> None:
    result = pycrash("-c", "set radix; q; set scroll", "-c", "set prompt", *sample_files(),
                     home=tmp_path)
    assert result.status == 0
    assert result.stdout == "output radix: 10 (decimal)\n"


def test_pipe_and_redirections(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    result = pycrash(
        "-c", "set -v | grep -c o",
        "-c", f"set radix > {out}",
        "-c", f"set scroll >> {out}",
        "-c", "!echo from-the-shell",
        *sample_files(), home=tmp_path,
    )
    assert result.status == 0, result.stderr
    # set -v shows 7 variables; all of their lines hold an "o"
    assert result.stdout == "7\nfrom-the-shell\n"
    assert out.read_text() == "output radix: 10 (decimal)\nscroll: off (none)\n"


def test_unwritable_redirection_is_one_line(tmp_path: Path) -> None:
    result = pycrash("-c", "set radix > /nonexistent/dir/file", *sample_files(), home=tmp_path)
    assert result.status == 1
    assert result.stderr_lines == [
        "pycrash: set: /nonexistent/dir/file: No such file or directory"
    ]


def test_missing_file(tmp_path: Path) -> None:
    result = pycrash("-c", "help", str(tmp_path / "no-such-vmcore"), home=tmp_path)
    assert result.status == 2
    assert result.stderr_lines == [f"pycrash: {tmp_path}/no-such-vmcore: No such file or directory"]
    assert result.stdout == ""


def test_random_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(bytes(range(256)) * 64)
    result = pycrash("-c", "help", str(testing.vmlinux_path()), str(junk), home=tmp_path)
    assert result.status == 2
    assert len(result.stderr_lines) == 1
    assert result.stderr.startswith(f"pycrash: {junk}: not a kernel dump")


@pytest.mark.skipif(os.access("/proc/kcore", os.R_OK), reason="live /proc/kcore readable")
def test_no_files_is_a_usage_error(tmp_path: Path) -> None:
    result = pycrash("-c", "help", home=tmp_path)
    assert result.status == 2
    assert "usage: pycrash" in result.stderr
    assert result.stderr_lines[-1].startswith("pycrash: no dump file given")


def test_unknown_option(tmp_path: Path) -> None:
    result = pycrash("--no-such-option", home=tmp_path)
    assert result.status == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr


def _dump_identity() -> tuple[str, str]:
    kernel = testing.manifest("sysrq")["kernel"]
    return kernel["build_id"], kernel["banner"]


def test_vmlinux_with_another_build_id_is_refused(tmp_path: Path) -> None:
    build_id, _ = _dump_identity()
    fake = write_fake_vmlinux(tmp_path / "vmlinux-other", b"Linux version 9.9.9-other (x@y) #1",
                              bytes.fromhex("ab" * 20))
    result = pycrash("-c", "help", str(fake), *sample_files()[1:], home=tmp_path)
    assert result.status == 2
    assert len(result.stderr_lines) == 1
    line = result.stderr_lines[0]
    assert line.startswith(f"pycrash: {fake} does not match the dump: ")
    assert "ab" * 20 in line and build_id in line
    assert "Linux version 9.9.9-other" in line
    assert line.endswith("(use --force to use it anyway)")


def test_vmlinux_with_another_banner_is_refused(tmp_path: Path) -> None:
    """Same build-id as the dump, but the dump holds another linux_banner."""
    build_id, banner = _dump_identity()
    real = debuginfo.vmlinux_identity(testing.vmlinux_path())
    fake = write_fake_vmlinux(tmp_path / "vmlinux-patched", b"Linux version 6.1.192-patched",
                              bytes.fromhex(build_id), banner_address=real.banner_address)
    result = pycrash("-c", "help", str(fake), *sample_files()[1:], home=tmp_path)
    assert result.status == 2
    assert len(result.stderr_lines) == 1
    assert "6.1.192-patched" in result.stderr
    assert banner.strip()[:40] in result.stderr  # the dump's own banner, read from memory


def test_force_uses_a_mismatched_vmlinux(tmp_path: Path) -> None:
    fake = write_fake_vmlinux(tmp_path / "vmlinux-other", b"Linux version 9.9.9-other (x@y) #1",
                              bytes.fromhex("ab" * 20))
    result = pycrash("--force", "-c", "set radix", "-c", f"extend {EXAMPLE_PLUGIN}; taskcount",
                     str(fake), *sample_files()[1:], home=tmp_path)
    assert result.status == 1
    assert result.stdout.startswith("output radix: 10 (decimal)\n")
    assert result.stderr_lines[-1].startswith("pycrash: taskcount: no vmlinux debuginfo: ")


def test_without_vmlinux_commands_needing_debuginfo_fail_in_one_line(tmp_path: Path) -> None:
    result = pycrash("-c", "set radix", "-c", f"extend {EXAMPLE_PLUGIN}; taskcount",
                     *sample_files()[1:], home=tmp_path)
    build_id, _ = _dump_identity()
    assert result.status == 1
    assert result.stdout.startswith("output radix: 10 (decimal)\n")
    assert result.stderr_lines[0].startswith(f"pycrash: no vmlinux found for build-id {build_id}")
    assert result.stderr_lines[-1].startswith("pycrash: taskcount: no vmlinux debuginfo: ")


@pytest.mark.parametrize("layout", ["build-id", "release"])
def test_vmlinux_found_by_build_id_or_release(tmp_path: Path, layout: str) -> None:
    build_id, _ = _dump_identity()
    release = testing.manifest("sysrq")["kernel"]["release"]
    root = tmp_path / "debug"
    if layout == "build-id":
        link = root / ".build-id" / build_id[:2] / f"{build_id[2:]}.debug"
    else:
        link = root / "boot" / f"vmlinux-{release}"
    link.parent.mkdir(parents=True)
    link.symlink_to(testing.vmlinux_path())
    result = pycrash("-c", f"extend {EXAMPLE_PLUGIN}; taskcount -k", *sample_files()[1:],
                     home=tmp_path, PYCRASH_DEBUG_PATH=str(root))
    assert result.status == 0, result.stderr
    assert result.stderr_lines == [f"pycrash: using debuginfo {link} (by {layout})"]
    assert result.stdout.endswith(taskcount_text(kthread_states()))


def test_json_option(tmp_path: Path) -> None:
    result = pycrash("--json", "-c", "set -v", "-c", f"extend {EXAMPLE_PLUGIN}",
                     "-c", "taskcount -k", *sample_files(), home=tmp_path)
    assert result.status == 0, result.stderr
    decoder = json.JSONDecoder()
    text = result.stdout
    values = []
    while text.strip():
        value, end = decoder.raw_decode(text.lstrip())
        values.append(value)
        text = text.lstrip()[end:]
    variables, loaded, counts = values
    assert "output radix: 10 (decimal)" in variables["variables"]
    assert loaded["loaded"][0]["commands"] == ["taskcount"]
    assert counts == kthread_states()


def test_rc_files_run_at_start(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / ".pycrashrc").write_text("set radix 16 > /dev/null\n")
    (work / ".pycrashrc").write_text("# a comment\nset prompt 'rc> ' > /dev/null\n")
    result = pycrash("-c", "set radix; set prompt", *sample_files(), home=home, cwd=work)
    assert result.status == 0, result.stderr
    assert result.stdout == 'output radix: 16 (hex)\nprompt: "rc> "\n'


def test_input_file_then_stdin(tmp_path: Path) -> None:
    script = tmp_path / "cmds"
    script.write_text("set radix 16\n")
    result = pycrash("-s", "-i", str(script), *sample_files(), home=tmp_path,
                     stdin="set radix\nset scroll\n")
    assert result.status == 0, result.stderr
    assert result.stdout == (
        "output radix: 16 (hex)\noutput radix: 16 (hex)\nscroll: off (none)\n"
    )


def test_demo_opens_the_bundled_sysrq_dump(tmp_path: Path) -> None:
    result = pycrash("--demo", "-c", f"extend {EXAMPLE_PLUGIN} > /dev/null; taskcount -k",
                     home=tmp_path)
    assert result.status == 0, result.stderr
    assert result.stdout == taskcount_text(kthread_states("sysrq"))


def test_minimal_never_loads_dwarf(tmp_path: Path) -> None:
    result = pycrash("--minimal", "-c", "set radix", "-c", f"extend {EXAMPLE_PLUGIN}; taskcount",
                     *sample_files(), home=tmp_path)
    assert result.status == 1
    assert result.stdout.startswith("output radix: 10 (decimal)\n")
    assert result.stderr_lines == [
        "pycrash: taskcount: not available in --minimal mode (vmlinux DWARF not loaded)"
    ]


@pytest.mark.parametrize("kind", ["empty", "directory", "truncated"])
def test_unusable_dump_is_one_line(tmp_path: Path, kind: str) -> None:
    target = tmp_path / kind
    if kind == "directory":
        target.mkdir()
    elif kind == "empty":
        target.write_bytes(b"")
    else:  # the headers of a real kdump file, cut inside its bitmaps
        target.write_bytes(Path(sample_files()[1]).read_bytes()[:8192])
    result = pycrash("-c", "set radix", str(target), home=tmp_path)
    assert result.status == 2
    assert len(result.stderr_lines) == 1
    assert result.stderr_lines[0].startswith(f"pycrash: {target}")
    assert result.stdout == ""
