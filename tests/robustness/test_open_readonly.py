"""Safety: the dump and the vmlinux are opened read-only and never modified.

A copy of the sample dump (and of the vmlinux) is made read-only (mode 0444) in tmp_path;
a session runs many commands on it; size, mtime and SHA-256 are unchanged afterwards."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat

import pytest
from damage import sample_bytes

from pycrash import testing
from pycrash.core import open_dump
from pycrash.core.filebytes import FileBytes

COMMANDS = ("sys; log; ps; bt; bt -a; rd -a linux_banner; rd -p 0x100000 64; sym schedule; "
            "struct task_struct.comm init_task; p jiffies; kmem -i; mod; vtop init_task; "
            "foreach bt; dis schedule 4; help -D")


def _identity(path) -> tuple[int, int, str]:
    st = os.stat(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return st.st_size, st.st_mtime_ns, digest


@pytest.fixture(scope="module")
def readonly_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("readonly")
    dump = tmp / "vmcore"
    dump.write_bytes(sample_bytes("sysrq", "zlib31"))
    vmlinux = tmp / "vmlinux"
    shutil.copyfile(testing.vmlinux_path(), vmlinux)
    for path in (dump, vmlinux):
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return dump, vmlinux


def test_many_commands_leave_both_files_untouched(cli, readonly_files):
    dump, vmlinux = readonly_files
    before = [_identity(dump), _identity(vmlinux)]
    result = cli("-c", COMMANDS, str(vmlinux), str(dump))
    assert "Traceback" not in result.stderr
    assert "Linux version" in result.stdout and "PANIC" in result.stdout
    assert [_identity(dump), _identity(vmlinux)] == before
    assert stat.S_IMODE(os.stat(dump).st_mode) == 0o444


def test_core_opens_files_read_only(readonly_files, monkeypatch):
    """Every open of the dump asks for O_RDONLY (no O_RDWR, O_WRONLY, O_CREAT, O_TRUNC)."""
    dump, _ = readonly_files
    flags_seen: list[int] = []
    real_open = os.open

    def spy(path, flags, *args, **kwargs):
        if str(path) == str(dump):
            flags_seen.append(flags)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    with open_dump(dump) as opened:
        opened.read(opened.vmcoreinfo.symbol("init_uts_ns"), 64)
    assert flags_seen
    forbidden = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    assert all(f & os.O_ACCMODE == os.O_RDONLY and not f & forbidden for f in flags_seen)


def test_the_mapping_is_read_only(readonly_files):
    dump, _ = readonly_files
    src = FileBytes(dump)
    try:
        if src._map is not None:  # noqa: SLF001 - the mapping itself is what is checked
            with pytest.raises(TypeError):
                src._map[0:1] = b"X"  # noqa: SLF001
    finally:
        src.close()
