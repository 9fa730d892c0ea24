"""Damaged debug files, one by one: the inputs the fuzzers found or the brief names (a
DW_AT_sibling pointing back, a LEB128 number that never ends, a unit shorter than its header,
a compressed section claiming 2^63 bytes, a section or a relocation outside the file), each
giving one line naming the file and the offset, in bounded memory; and ``whatis -r`` over a
vmlinux whose DWARF is damaged, run by the real command line.

The damaged copies are made in tmp_path from the sample module and vmlinux."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import debuginfo_fuzz as fuzz
import pytest

from pycrash import testing
from pycrash.dwarf import DwarfError, TypeTable
from pycrash.elfsections import ElfFormatError, relocated_section, section_headers


def _write(tmp_path: Path, data: bytes, name: str = "damaged.o") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _header(data: bytes, name: str, tmp_path: Path):
    with open(_write(tmp_path, data, "intact.o"), "rb") as f:
        return next(h for h in section_headers(f) if h.name == name), section_headers(f)


def _shdr_offset(data: bytes, name: str, tmp_path: Path) -> int:
    """The file offset of the section header of ``name``."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    header, headers = _header(data, name, tmp_path)
    return shoff + 64 * headers.index(header)


def _walk_error(tmp_path: Path, data: bytes) -> str:
    path = _write(tmp_path, data)
    tracemalloc.start()
    try:
        with pytest.raises(DwarfError) as err:
            fuzz.dwarf_target(path)
        assert tracemalloc.get_traced_memory()[1] < 64 << 20
    finally:
        tracemalloc.stop()
    text = str(err.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    return text


# -- DWARF (first units of the sample vmlinux; .debug_info starts at file offset 64) ---------
INFO = 64


def test_sibling_pointing_back_is_an_error_not_a_loop(tmp_path: Path) -> None:
    # found by bench/fuzz_campaign.py (seed 1): a top-level DIE's DW_AT_sibling (ref4) set to
    # 0x80, before the DIE; the walk jumped back and went round forever
    data = fuzz.patched(fuzz.vmlinux_sample().data, {8896: b"\0\0\0\0\x80\0\0\0"})
    assert "DW_AT_sibling at .debug_info offset 0x2277 points to 0x91" in _walk_error(
        tmp_path, data)


def test_leb128_that_never_ends(tmp_path: Path) -> None:
    # found by the campaign: 4096 bytes of 0xff as an abbreviation code decoded to a
    # 28,000-bit number (quadratic time), then could not be printed in the error
    data = fuzz.patched(fuzz.vmlinux_sample().data, {44426: b"\xff" * 4096})
    assert "LEB128 number longer than 20 bytes at offset 0xb130" in _walk_error(tmp_path, data)


def test_unit_shorter_than_its_header(tmp_path: Path) -> None:
    # a zeroed .debug_info was a run of "units" of unknown version 0, skipped: no types at all
    data = fuzz.patched(fuzz.vmlinux_sample().data, {INFO: bytes(64)})
    assert "unit at .debug_info offset 0x0 is 0 bytes long" in _walk_error(tmp_path, data)


def test_unit_with_a_garbled_address_size(tmp_path: Path) -> None:
    data = fuzz.patched(fuzz.vmlinux_sample().data, {INFO + 7: b"\x05"})
    assert "unit at .debug_info offset 0x0 has address size 5" in _walk_error(tmp_path, data)


def test_unit_length_past_the_section(tmp_path: Path) -> None:
    data = fuzz.patched(fuzz.vmlinux_sample().data, {INFO: b"\xf0\xff\xff\x7f"})
    assert "runs past the end of the section" in _walk_error(tmp_path, data)


# -- ELF sections ------------------------------------------------------------------------
def test_section_size_past_the_file_is_not_read(tmp_path: Path) -> None:
    """sh_size 2^62 was handed to f.read() (OverflowError, or gigabytes allocated)."""
    data = fuzz.module_sample().data
    at = _shdr_offset(data, ".debug_info", tmp_path)
    damaged = fuzz.patched(data, {at + 32: struct.pack("<Q", 1 << 62)})
    text = _walk_error(tmp_path, damaged)
    assert "section .debug_info (4611686018427387904 bytes) runs past the end of the file" \
        in text


@pytest.mark.parametrize("ch_size", [1 << 63, (1 << 64) - 1, 1 << 40])
def test_compressed_section_claiming_huge_size(tmp_path: Path, ch_size: int) -> None:
    sample = fuzz.compressed_sample()
    if sample is None:
        pytest.skip("no objcopy")
    info, _ = _header(sample.data, ".debug_info", tmp_path)
    damaged = fuzz.patched(sample.data, {info.offset + 8: struct.pack("<Q", ch_size)})
    text = _walk_error(tmp_path, damaged)
    assert f".debug_info: compressed section claims {ch_size} bytes" in text
    assert f"at offset {info.offset:#x}" in text


def test_compressed_stream_longer_than_its_header_says(tmp_path: Path) -> None:
    sample = fuzz.compressed_sample()
    if sample is None:
        pytest.skip("no objcopy")
    info, _ = _header(sample.data, ".debug_info", tmp_path)
    (ch_size,) = struct.unpack_from("<Q", sample.data, info.offset + 8)
    damaged = fuzz.patched(sample.data, {info.offset + 8: struct.pack("<Q", ch_size - 1)})
    assert f"decompressed to more than {ch_size - 1} bytes" in _walk_error(tmp_path, damaged)


def _rela(data: bytes, tmp_path: Path):
    rela, headers = _header(data, ".rela.debug_info", tmp_path)
    return rela, headers


@pytest.mark.parametrize(("field", "value", "message"), [
    (0, struct.pack("<Q", 0xFFFFFFF0), "relocation at 0xfffffff0 is outside .debug_info"),
    (8, struct.pack("<Q", 99 << 32 | 10), "relocation names symbol 99, past the symbol table"),
    (8, struct.pack("<Q", 2), "relocation type 2 is not one a debug section uses"),
    (16, struct.pack("<q", 1 << 40), "does not fit its 32-bit field"),
])
def test_bad_relocation_of_the_module(tmp_path: Path, field: int, value: bytes,
                                      message: str) -> None:
    """A relocation the linker would refuse was skipped, leaving a string offset unrelocated:
    a wrong name, silently."""
    data = fuzz.module_sample().data
    rela, headers = _rela(data, tmp_path)
    first = struct.unpack_from("<QQq", data, rela.offset)
    assert first[1] & 0xFFFFFFFF == 10 and first[1] >> 32 < 99  # R_X86_64_32
    damaged = fuzz.patched(data, {rela.offset + field: value})
    path = _write(tmp_path, damaged)
    with open(path, "rb") as f, pytest.raises(ElfFormatError) as err:
        relocated_section(f, headers, headers[rela.info])
    assert message in str(err.value) and err.value.offset == rela.offset
    assert "\n" not in str(err.value)


# -- end to end ------------------------------------------------------------------------------
def _damaged_vmlinux(tmp_path: Path) -> Path:
    """A copy of the sample vmlinux whose first unit's first top-level DIE after the unit DIE
    has a DW_AT_sibling pointing back (what the fuzzer found in the same bytes)."""
    vmlinux = testing.vmlinux_path()
    with open(vmlinux, "rb") as f:
        info = next(h for h in section_headers(f) if h.name == ".debug_info")
    copy = tmp_path / "vmlinux"
    shutil.copyfile(vmlinux, copy)
    # the tiny ELF of debuginfo_fuzz holds the same .debug_info at file offset 64
    with open(copy, "r+b") as f:
        f.seek(info.offset + 8896 - INFO)
        f.write(b"\0\0\0\0\x80\0\0\0")
    return copy


def test_whatis_over_damaged_dwarf_is_one_line_and_the_session_goes_on(tmp_path: Path) -> None:
    damaged = _damaged_vmlinux(tmp_path)
    with pytest.raises(DwarfError, match="DW_AT_sibling at .debug_info offset 0x2277"):
        TypeTable(str(damaged))
    primary = next(d["name"] for d in testing.manifest("sysrq")["dumps"] if d.get("primary"))
    dump = testing.dump_paths("sysrq", primary)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCRASH_")}
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"),
               PYCRASH_SAMPLE_CACHE=str(testing.cache_dir()))
    run = subprocess.run([sys.executable, "-m", "pycrash", "-c", "whatis -r 16",
                          "-c", "rd -f 0 2", "-c", "whatis -r 16", str(damaged),
                          *map(str, dump)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
                         stdin=subprocess.DEVNULL)
    assert "Traceback" not in run.stdout + run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("pycrash: whatis: ")]
    assert len(errors) == 2 and errors[0] == errors[1], run.stderr
    # drgn meets the same DIE when the command looks a type up (before or after the walk)
    assert str(damaged) in errors[0] and "DW_AT_sibling" in errors[0]
    # said as what it is, not as a Python exception class
    assert errors[0].startswith("pycrash: whatis: damaged debuginfo: "), errors[0]
    # the session went on: rd -f printed the dump file's first two words
    words = struct.unpack("<QQ", Path(dump[0]).read_bytes()[:16])
    assert f"0:  {words[0]:016x} {words[1]:016x}" in run.stdout
    assert run.returncode == 1


# -- caches ----------------------------------------------------------------------------------
def test_symbol_cache_with_a_flipped_bit_is_rebuilt(tmp_path: Path, monkeypatch) -> None:
    """A cache file as written but for one bit of the last symbol's value parsed as a table
    with a wrong address; it is now rebuilt (the table compared: kernel_columns' from the
    vmlinux) and written again whole."""
    from pycrash.kernel import symbol_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    good, built = fuzz.symtab_cache_sample()
    vmlinux = testing.vmlinux_path()
    path = symbol_cache.cache_path(vmlinux)
    assert path is not None
    path.parent.mkdir(parents=True)
    flipped = bytearray(good)
    flipped[-symbol_cache._DIGEST_SIZE - 1] ^= 0x10  # high byte of the last value
    path.write_bytes(bytes(flipped))
    assert symbol_cache.cached_columns(vmlinux, lambda: built) is built
    assert path.read_bytes() == good


def test_symbol_cache_written_while_read(tmp_path: Path, monkeypatch) -> None:
    """Readers of a cache file being written by other threads see the whole table or none."""
    import threading

    from pycrash.kernel import symbol_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    good, built = fuzz.symtab_cache_sample()
    vmlinux = testing.vmlinux_path()
    path = symbol_cache.cache_path(vmlinux)
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            path.unlink(missing_ok=True)
            symbol_cache.cached_columns(vmlinux, lambda: built)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    seen = {"whole": 0, "absent": 0}
    try:
        for _ in range(20_000):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                seen["absent"] += 1
                continue
            assert data == good
            seen["whole"] += 1
            if seen["whole"] >= 50:
                break
    finally:
        stop.set()
        for t in threads:
            t.join()
    # Every read above saw the whole table or no file (asserted as it went); how many saw
    # which depends on the scheduler, so the count is not asserted.  Each writer's last step
    # is a write: the file left behind is whole.
    assert path.read_bytes() == good, seen


def test_type_name_cache_with_a_changed_name_is_walked_again(tmp_path: Path,
                                                             monkeypatch) -> None:
    """A changed letter keeps the file JSON: it was read as a name the module does not have."""
    from pycrash.shell import typenames

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    good, names = fuzz.typenames_cache_sample()
    module = str(testing.module_path())
    target = typenames._cache_path(typenames._cache_key(module))
    target.parent.mkdir(parents=True)
    assert b'"pycrash_item"' in good
    target.write_bytes(good.replace(b'"pycrash_item"', b'"pycrash_itex"'))
    found = typenames.file_type_names(module)
    assert found == TypeTable(module).type_names() == names
    assert "pycrash_itex" not in found
    target.write_text("[" * 100_000)  # json.loads: RecursionError
    assert typenames.file_type_names(module) == names


def test_read_file_offset_past_the_end_reads_nothing(tmp_path: Path) -> None:
    """A size past the end of the file raised only after reading up to the end (gigabytes on
    a large dump)."""
    from pycrash.core import FileOffsetError, open_dump

    (path,) = testing.dump_paths("sysrq", "zlib31")
    with open_dump(path) as dump:
        tracemalloc.start()
        try:
            with pytest.raises(FileOffsetError):
                dump.read_file_offset(0, 1 << 40)
            assert tracemalloc.get_traced_memory()[1] < 1 << 20
        finally:
            tracemalloc.stop()


# -- the vmlinux's ELF symbol table (debuginfo.elf_symbols, read before any DWARF) -----------
def _vmlinux_with_symtab_size(tmp_path: Path, size: int) -> Path:
    """A copy of the sample vmlinux whose .symtab section header says ``size`` bytes."""
    vmlinux = testing.vmlinux_path()
    with open(vmlinux, "rb") as f:
        index = next(i for i, h in enumerate(section_headers(f)) if h.name == ".symtab")
        f.seek(0x28)
        (shoff,) = struct.unpack("<Q", f.read(8))
    copy = tmp_path / "vmlinux"
    shutil.copyfile(vmlinux, copy)
    with open(copy, "r+b") as f:
        f.seek(shoff + index * 64 + 0x20)  # Elf64_Shdr.sh_size
        f.write(struct.pack("<Q", size))
    return copy


def test_elf_symbols_refuses_a_symtab_past_the_end_of_the_file(tmp_path: Path) -> None:
    from pycrash import debuginfo

    damaged = _vmlinux_with_symtab_size(tmp_path, 1 << 62)
    with pytest.raises(ElfFormatError) as err:
        debuginfo.elf_symbols(damaged)
    assert "\n" not in str(err.value) and str(damaged) in str(err.value)


def test_elf_symbols_of_a_cut_symtab_are_the_whole_entries(tmp_path: Path) -> None:
    """A size that is no multiple of an Elf64_Sym keeps the whole entries before it."""
    from pycrash import debuginfo

    whole = debuginfo.elf_symbols(testing.vmlinux_path())
    cut = debuginfo.elf_symbols(_vmlinux_with_symtab_size(tmp_path, 24 * 1000 + 7))
    assert cut and len(cut) < len(whole)
    assert all(whole[name] == address for name, address in cut.items())
