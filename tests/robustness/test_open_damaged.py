"""Opening files that are not dumps, or dumps damaged on the way: one line naming the file
and the problem with exit status 2, or a session that opens with one warning line.

The damaged files are copies of the sysrq sample dump made in tmp_path by the tests."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from damage import (
    HDR_BITMAP_BLOCKS,
    HDR_BLOCK_SIZE,
    PatchedBytes,
    kdump_layout,
    sample_bytes,
    write_copy,
)

from pycrash import testing
from pycrash.core import DumpFormatError, open_dump
from pycrash.core.errors import CorruptPageError, FaultError, MissingPageError

VMLINUX = str(testing.vmlinux_path())


def one_error_line(result, path: Path | str) -> str:
    """The run failed to open ``path``: status 2 and exactly one line, naming the file."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("pycrash: ") and str(path) in lines[0], lines
    assert result.stdout == ""
    return lines[0]


# -- files that are not dumps -------------------------------------------------------------
def test_empty_file(cli, tmp_path):
    empty = tmp_path / "vmcore"
    empty.write_bytes(b"")
    assert "empty file" in one_error_line(cli("-c", "sys", VMLINUX, str(empty)), empty)


def test_random_file(cli, tmp_path):
    rand = tmp_path / "vmcore"
    rand.write_bytes(os.urandom(1 << 16))
    line = one_error_line(cli("-c", "sys", VMLINUX, str(rand)), rand)
    assert "not a kernel dump" in line


def test_non_dump_elf(cli):
    line = one_error_line(cli("-c", "sys", VMLINUX, "/bin/ls"), "/bin/ls")
    assert "not a core file" in line


def test_vmlinux_given_as_the_dump():
    # The kernel image itself is an ELF executable, not a core file.
    with pytest.raises(DumpFormatError, match="ET_EXEC is not a core file") as err:
        open_dump(VMLINUX)
    assert err.value.path == VMLINUX


# -- corrupt kdump metadata ------------------------------------------------------------------
KDUMP = sample_bytes("sysrq", "zlib31")
LAYOUT = kdump_layout(KDUMP)


@pytest.mark.parametrize("patch, message", [
    ({0: b"KDUMP  X"}, "not a kernel dump"),
    ({8: struct.pack("<i", 0x06000000)}, "unsupported header_version"),
    ({HDR_BLOCK_SIZE: struct.pack("<i", 0)}, "bad block_size 0"),
    ({HDR_BLOCK_SIZE: struct.pack("<i", 4095)}, "bad block_size 4095"),
    ({HDR_BITMAP_BLOCKS: struct.pack("<I", 0)}, "bad sub_hdr_size/bitmap_blocks"),
    ({HDR_BITMAP_BLOCKS: struct.pack("<I", 0xFFFFFFFF)}, "bitmaps truncated"),
], ids=["signature", "big-endian version", "block_size 0", "block_size odd",
        "no bitmap", "bitmap past EOF"])
def test_corrupt_header_is_one_line(cli, tmp_path, patch, message):
    dump = write_copy(tmp_path / "vmcore", KDUMP, patch)
    assert message in one_error_line(cli("-c", "sys", VMLINUX, str(dump)), dump)


@pytest.mark.parametrize("patch, message", [
    # kdump_sub_header.size_note (offset 56 of the sub-header, header version >= 4): the
    # registers are found in the kernel's crash_notes instead
    ({LAYOUT.sub_header + 56: struct.pack("<Q", 1 << 62)}, "bad notes size"),
    # size_vmcoreinfo (offset 40): the VMCOREINFO note in the note area is used instead
    ({LAYOUT.sub_header + 40: struct.pack("<Q", 1 << 40)}, "bad VMCOREINFO size"),
], ids=["notes size", "vmcoreinfo size"])
def test_corrupt_sub_header_area_opens_with_a_warning(cli, tmp_path, patch, message):
    dump = write_copy(tmp_path / "vmcore", KDUMP, patch)
    result = cli("-c", "sys; bt", VMLINUX, str(dump))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and message in warnings[0] and str(dump) in warnings[0]
    manifest = testing.manifest("sysrq")
    assert f"RELEASE: {manifest['kernel']['release']}" in result.stdout
    assert f"PID: {manifest['panic']['pid']} " in result.stdout  # bt of the panic task


def test_corrupt_page_descriptor_faults_at_its_address():
    # Descriptor of the first dumped pfn: size larger than a page.
    bitmap = KDUMP[LAYOUT.bitmap2:LAYOUT.bitmap2 + LAYOUT.bitmap_half]
    first = (int.from_bytes(bitmap, "little") & -int.from_bytes(bitmap, "little")).bit_length() - 1
    offset, size, flags, pflags = struct.unpack_from("<qIIQ", KDUMP, LAYOUT.descriptors)
    bad = {LAYOUT.descriptors: struct.pack("<qIIQ", offset, 1 << 20, flags, pflags)}
    # the first zlib-compressed page (flags & DUMP_DH_COMPRESSED_ZLIB): its data garbled
    index, pfn = 0, first
    while True:
        if LAYOUT.dumpable(KDUMP, pfn):
            d_off, d_size, d_flags, _ = struct.unpack_from(
                "<qIIQ", KDUMP, LAYOUT.descriptors + 24 * index)
            if d_flags & 1 and index > 0:
                break
            index += 1
        pfn += 1
    bad[d_off] = b"\xde\xad" * (d_size // 2)
    from pycrash.core.dump import Dump
    from pycrash.core.kdump import KdumpFile

    dump = Dump(KdumpFile(PatchedBytes(KDUMP, bad)))
    with pytest.raises(CorruptPageError, match="bad page descriptor") as err:
        dump.read((first << 12) + 16, 8, physical=True)
    assert err.value.address == (first << 12) + 16
    with pytest.raises(CorruptPageError, match="zlib decompression failed") as err:
        dump.read(pfn << 12, 8, physical=True)
    assert err.value.offset == d_off


def test_corrupt_bitmap_reads_fault_not_garbage():
    # Clear the whole "dumpable" bitmap: every page is excluded, and says so.
    patch = {LAYOUT.bitmap2: bytes(LAYOUT.bitmap_half)}
    from pycrash.core.dump import Dump
    from pycrash.core.kdump import KdumpFile

    dump = Dump(KdumpFile(PatchedBytes(KDUMP, patch)))
    uts = dump.vmcoreinfo.symbol("init_uts_ns")
    with pytest.raises(FaultError, match="page excluded") as err:
        dump.read(uts, 8)
    assert err.value.address == uts


# -- truncation ------------------------------------------------------------------------------
def _cut_points(size: int) -> list[int]:
    lay = LAYOUT
    return sorted({0, 1, 8, 100, 463, 464, lay.sub_header + 50, lay.bitmap1 + 10,
                   lay.bitmap2 + 10, lay.descriptors + 5, lay.descriptors + 24 * 100,
                   lay.page_data - 1, lay.page_data + 1,
                   *(size * k // 20 for k in range(1, 20)), size - 1})


def test_truncated_anywhere_is_an_error_or_a_warning():
    """Every cut: a DumpFormatError naming the file, or a dump that opens and warns how
    many pages are missing (and reads of those pages fault as missing, not as zeros)."""
    for cut in _cut_points(len(KDUMP)):
        src = PatchedBytes(KDUMP, size=cut, path=f"vmcore.cut{cut}")
        from pycrash.core.dump import Dump
        from pycrash.core.kdump import KdumpFile

        try:
            dump = Dump(KdumpFile(src))
        except DumpFormatError as err:
            assert err.path == f"vmcore.cut{cut}"
            assert cut < LAYOUT.page_data, cut  # the metadata is intact past this point
            continue
        assert cut >= LAYOUT.descriptors, cut
        assert len(dump.warnings) == 1, (cut, dump.warnings)
        assert "truncated" in dump.warnings[0] and "pages are missing" in dump.warnings[0]
        # the last dumped page is always cut off
        last = max(hi for _lo, hi in dump.layer.present_ranges()) - 4096
        with pytest.raises(MissingPageError):
            dump.read(last, 8, physical=True)


@pytest.mark.parametrize("fraction", [0.3, 0.8])
def test_truncated_dump_cli_warns_once(cli, tmp_path, fraction):
    cut = int(len(KDUMP) * fraction)
    dump = write_copy(tmp_path / "vmcore", KDUMP, size=cut)
    result = cli("-c", "sys; log; bt; ps", VMLINUX, str(dump))
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and str(dump) in warnings[0] and "truncated" in warnings[0]


def test_truncated_header_cli(cli, tmp_path):
    dump = write_copy(tmp_path / "vmcore", KDUMP, size=300)
    assert "kdump header truncated" in one_error_line(cli("-c", "sys", VMLINUX, str(dump)), dump)


# -- flattened and split ----------------------------------------------------------------------
def test_flattened_cut_in_the_middle(cli, tmp_path):
    flat = sample_bytes("sysrq", "flat31")
    dump = write_copy(tmp_path / "vmcore.flat", flat, size=len(flat) // 2 + 7)
    result = cli("-c", "log", VMLINUX, str(dump))
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "without its end marker" in warnings[0], result.stderr


def test_flattened_cut_in_its_header(cli, tmp_path):
    flat = sample_bytes("sysrq", "flat31")
    dump = write_copy(tmp_path / "vmcore.flat", flat, size=4096 + 16 + 100)
    line = one_error_line(cli("-c", "sys", VMLINUX, str(dump)), dump)
    assert "kdump header truncated" in line or "not a kernel dump" in line


def test_split_set_with_a_part_missing(cli):
    part2 = testing.dump_paths("sysrq", "split31")[1]
    result = cli("-c", "rd -p 0x100000", VMLINUX, str(part2))
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "only one part of a --split set" in warnings[0]
    # pfn 0x100 is in part 1, which was not given: crash's rd error for a BeyondDumpError
    assert 'rd: seek error: physical address: 100000  type: "64-bit PHYSADDR"' in result.stderr
    assert result.returncode == 1


def test_split_set_core_names_the_gap():
    first, _second = testing.dump_paths("sysrq", "split31")
    with open_dump([first]) as dump:
        assert len(dump.warnings) == 1
        assert "only one part of a --split set (pfns 0x0-" in dump.warnings[0]
        top = dump.layer.max_paddr() - 4096
        with pytest.raises(FaultError, match="in another part of the --split set"):
            dump.read(top, 8, physical=True)


def test_flattened_garbled_record_header_opens_with_a_warning():
    flat = sample_bytes("sysrq", "flat31")
    # the 20th record header: a negative offset
    pos = 4096
    for _ in range(20):
        _dest, size = struct.unpack_from(">qq", flat, pos)
        pos += 16 + size
    src = PatchedBytes(flat, {pos: struct.pack(">q", -5)}, path="vmcore.flat")
    from pycrash.core.dump import Dump
    from pycrash.core.flattened import FlatBytes
    from pycrash.core.kdump import KdumpFile

    dump = Dump(KdumpFile(FlatBytes(src), flattened=True))
    assert len(dump.warnings) == 1
    assert f"has a garbled record header at offset {pos:#x}" in dump.warnings[0]
    with pytest.raises(MissingPageError, match="not in the truncated flattened stream"):
        last = max(hi for _lo, hi in dump.layer.present_ranges()) - 4096
        dump.read(last, 8, physical=True)


def test_truncated_elf_dump_warns():
    elf = sample_bytes("sysrq", "elf31")
    from pycrash.core.dump import Dump
    from pycrash.core.elfdump import ElfDump

    dump = Dump(ElfDump(PatchedBytes(elf, size=len(elf) * 2 // 3, path="vmcore.elf")))
    assert len(dump.warnings) == 1 and "the file is truncated" in dump.warnings[0]
    last = max(hi for _lo, hi in dump.layer.ranges()) - 4096
    with pytest.raises(MissingPageError):
        dump.read(last, 8, physical=True)


def test_split_set_missing_its_middle_part(tmp_path):
    """tests/core/synth.py's three-part split set, opened without the part in the middle."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))
    import synth

    built = synth.build_set(tmp_path / "synth")
    machine = built["machine"]
    middle, first, last = built["files"]["split"]  # written in that order
    n = machine.mem_size // synth.PAGE
    with open_dump([first, last]) as dump:
        assert len(dump.warnings) == 1
        assert (f"the --split set has 2 parts and lacks pfns {n // 3:#x}-{2 * n // 3:#x} "
                "(a part is missing)") in dump.warnings[0]
        with pytest.raises(FaultError, match="not in the dump"):
            dump.read((n // 2) << 12, 8, physical=True)
        assert dump.read(0x200000, 64, physical=True) == machine.page(0x200)[:64]
    assert middle.exists()
