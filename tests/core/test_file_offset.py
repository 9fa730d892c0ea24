"""Dump.read_file_offset: the dump file's own bytes (crash's FILEADDR), compared with the file
as read from disk here, and crash's choice of file for flattened and split dumps."""

from __future__ import annotations

import pytest

from pycrash import testing
from pycrash.core import FileOffsetError, open_dump

try:
    SYSRQ = testing.dump_names("sysrq")
except Exception:  # noqa: BLE001 - no sample set in this checkout
    SYSRQ = []

pytestmark = pytest.mark.skipif(not SYSRQ, reason="no sample dumps")


def _file_bytes(path, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


@pytest.mark.parametrize("name", ["zlib31", "elf31", "flat31"])
def test_reads_the_file_as_stored(name: str) -> None:
    (path,) = testing.dump_paths("sysrq", name)
    with open_dump(path) as dump:
        for offset, size in ((0, 64), (0x10, 16), (4093, 9)):
            assert dump.read_file_offset(offset, size) == _file_bytes(path, offset, size)
    # the formats' signatures: a flattened file is read raw, not as makedumpfile -R rebuilds it
    signature = {"zlib31": b"KDUMP   ", "elf31": b"\x7fELF", "flat31": b"makedumpfile"}[name]
    with open_dump(path) as dump:
        assert dump.read_file_offset(0, len(signature)) == signature


def test_split_set_reads_the_last_file_given() -> None:
    first, second = testing.dump_paths("sysrq", "split31")
    end = second.stat().st_size
    with open_dump([first, second]) as dump:
        assert dump.read_file_offset(end - 8, 8) == _file_bytes(second, end - 8, 8)
    with open_dump([second, first]) as dump:
        end = first.stat().st_size
        assert dump.read_file_offset(end - 8, 8) == _file_bytes(first, end - 8, 8)


def test_past_the_end() -> None:
    (path,) = testing.dump_paths("sysrq", "zlib31")
    size = path.stat().st_size
    with open_dump(path) as dump:
        assert dump.read_file_offset(size - 4, 4) == _file_bytes(path, size - 4, 4)
        with pytest.raises(FileOffsetError) as err:
            dump.read_file_offset(size - 4, 8)
        assert (err.value.offset, err.value.size, err.value.file_size) == (size - 4, 8, size)
        assert "\n" not in str(err.value)
        with pytest.raises(FileOffsetError):
            dump.read_file_offset(-1, 1)
        with pytest.raises(FileOffsetError):
            dump.read_file_offset(1 << 62, 8)
