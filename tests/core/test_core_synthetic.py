"""The core against synthetic dumps whose every byte the test knows (tests/core/synth.py)."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest
import synth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycrash.core import (
    BeyondDumpError,
    CorruptPageError,
    DumpFormatError,
    ExcludedPageError,
    FaultError,
    MissingPageError,
    NotMappedError,
    VmcoreInfo,
    open_dump,
)
from pycrash.core.cli import main as cli_main

PAGE = synth.PAGE
FORMATS = ["elf", "elf-filtered", "kdump-zlib", "kdump-lzo", "kdump-snappy", "kdump-zstd",
           "kdump-none", "flat-kdump", "flat-elf", "split"]


@pytest.fixture(scope="module", params=[4, 5], ids=["4level", "5level"])
def dset(request, tmp_path_factory):
    return synth.build_set(tmp_path_factory.getbasetemp() / f"synth{request.param}",
                           request.param)


def _open(dset, name, **kw):
    paths = dset["files"][name]
    return open_dump(paths if len(paths) > 1 else paths[0], **kw)


def _expected_state(m: synth.Machine, fmt: str, pfn: int) -> str:
    if not m.is_ram(pfn):
        return "beyond"
    if fmt.startswith(("kdump", "flat-kdump", "split")) and synth.excluded_user(pfn):
        return "excluded"
    if fmt == "elf-filtered" and 0x180 <= pfn < 0x200:
        return "excluded"
    return "present"


# -- detection and metadata -------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_detect_and_metadata(dset, fmt):
    m = dset["machine"]
    with _open(dset, fmt) as d:
        assert d.format == ("elf" if "elf" in fmt else "kdump")
        assert d.flattened == fmt.startswith("flat")
        assert d.split == (fmt == "split")
        expect_comp = {"kdump-lzo": "lzo", "kdump-snappy": "snappy", "kdump-zstd": "zstd",
                       "kdump-none": "none", "elf": "none", "elf-filtered": "none",
                       "flat-elf": "none"}.get(fmt, "zlib")
        assert d.compression == expect_comp
        assert d.dump_level == (None if "elf" in fmt else 31)
        assert d.page_size == PAGE
        assert d.kaslr_offset == m.kaslr_offset
        assert d.phys_base == m.phys_base
        assert d.paging_levels == m.levels
        assert d.vmcoreinfo.osrelease == "6.1.0-synthetic"
        assert d.layout.page_offset_base == m.page_offset_base
        assert d.layout.vmemmap_base == m.vmemmap_base
        assert d.layout.vmalloc_base == m.vmalloc_base
        assert d.physical_ranges() == [(0, m.hole[0]), (m.hole[1], m.mem_size)]
        if fmt == "split":
            assert [Path(p).name for p in d.paths] == ["vmcore.split1", "vmcore.split0",
                                                       "vmcore.split2"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_page_matches_machine(dset, fmt):
    m = dset["machine"]
    with _open(dset, fmt) as d:
        for pfn in range(m.mem_size // PAGE):
            state = _expected_state(m, fmt, pfn)
            assert d.page_state(pfn) == state, hex(pfn)
            if state == "present":
                assert d.read(pfn * PAGE, PAGE, physical=True) == m.page(pfn), hex(pfn)
        counts = d.page_counts()
        n_ram = sum(1 for pfn in range(m.mem_size // PAGE) if m.is_ram(pfn))
        n_excl = sum(1 for pfn in range(m.mem_size // PAGE)
                     if _expected_state(m, fmt, pfn) == "excluded")
        assert counts["present"] == n_ram - n_excl
        assert counts["excluded"] == n_excl


@pytest.mark.parametrize("fmt", ["elf", "kdump-zlib", "flat-kdump", "split"])
def test_large_reads_across_pages(dset, fmt):
    m = dset["machine"]
    with _open(dset, fmt) as d:
        assert d.read(0x200000 + 123, 3 * PAGE + 7, physical=True) == \
            bytes(m.mem[0x200000 + 123:0x200000 + 123 + 3 * PAGE + 7])
        if fmt == "elf":
            whole = d.read(m.hole[1], m.mem_size - m.hole[1], physical=True)
            assert whole == bytes(m.mem[m.hole[1]:])


# -- virtual memory ----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["elf", "kdump-zlib", "split"])
def test_known_virtual_bytes(dset, fmt):
    m = dset["machine"]
    with _open(dset, fmt) as d:
        assert d.read_cstring(m.symbols["linux_banner"]) == synth.BANNER
        for va, expect in m.known.items():
            assert d.read(va, len(expect)) == expect, hex(va)
        # A read crossing from a 4 KiB vmalloc page into the next, unmapped one faults at
        # the first unmapped byte.
        with pytest.raises(NotMappedError) as ei:
            d.read(m.vmalloc_page + 0xFF8, 16)
        assert ei.value.address == m.vmalloc_page + 0x1000
        assert ei.value.level == "PTE"
        assert d.read_u64(m.page_offset_base + 0x200000) == m.r64(0x200000)
        assert d.read_u32(m.vmalloc_huge + 4) == struct.unpack_from("<I", m.mem, 0x600004)[0]


def test_walk_entries_and_sizes(dset):
    m = dset["machine"]
    cases = [
        (m.vmalloc_page + 0x10, 4096, "vmalloc"),
        (m.vmalloc_huge + 0x12345, 2 << 20, "vmalloc"),
        (m.page_offset_base + 0x345678, 1 << 30, "directmap"),
        (m.symbols["linux_banner"], 2 << 20, "text"),
        (m.vmemmap_base + 0x40, 4096, "vmemmap"),
    ]
    with _open(dset, "kdump-zlib") as d:
        for va, size, kind in cases:
            t = d.translate(va)
            assert t.paddr == m.translate(va), hex(va)
            assert t.page_size == size
            assert t.kind == kind
            walk = [(e.level, e.entry_paddr, e.value) for e in t.entries]
            assert walk == m.expected_walk(va)
            assert t.entries[0].table_paddr == m.root
            assert d.vtop(va) == m.translate(va)
        levels = [e.level for e in d.translate(m.vmalloc_page).entries]
        assert levels == (["PML5"] if m.levels == 5 else []) + ["PGD", "PUD", "PMD", "PTE"]


def test_unmapped_levels(dset):
    m = dset["machine"]
    with _open(dset, "elf") as d:
        with pytest.raises(NotMappedError) as ei:
            d.translate(m.vmalloc_unmapped)
        assert ei.value.level == "PTE" and ei.value.address == m.vmalloc_unmapped
        assert f"{m.vmalloc_unmapped:#x}" in str(ei.value)
        far = m.vmalloc_base + (7 << 30)  # same PGD entry, empty PUD slot
        with pytest.raises(NotMappedError) as ei:
            d.read(far, 8)
        assert ei.value.level == "PUD" and ei.value.address == far
        top = "PML5" if m.levels == 5 else "PGD"
        with pytest.raises(NotMappedError) as ei:
            d.read(0xFFFFC00000000000 if m.levels == 4 else 0xFF90000000000000, 8)
        assert ei.value.level == top
        with pytest.raises(NotMappedError):
            d.read(0x0000800000000000 if m.levels == 4 else 0x0100000000000000, 8)  # hole


def test_user_root(dset):
    """A separate root (a user pgd) translates user addresses; the kernel root doesn't."""
    m = dset["machine"]
    saved_root = m.root
    with _open(dset, "elf") as d:
        # Build nothing new: reuse the kernel root as "user" root for a kernel address.
        t = d.translate(m.vmalloc_page, root=saved_root | 0x5)  # low flag bits ignored
        assert t.paddr == m.vmalloc_pa
        assert d.read_user(m.vmalloc_page + 0x10, 32, saved_root) == \
            m.known[m.vmalloc_page + 0x10][:32]
        with pytest.raises(NotMappedError) as ei:
            d.read_user(m.vmalloc_page + 0xFF0, 32, saved_root)
        assert ei.value.address == m.vmalloc_page + 0x1000
        with pytest.raises(NotMappedError):
            d.translate(0x400000)


# -- faults --------------------------------------------------------------------------------
def test_excluded_kdump(dset):
    m = dset["machine"]
    pfn = next(p for p in range(0x300, 0x800) if synth.excluded_user(p))
    with _open(dset, "kdump-zlib") as d:
        with pytest.raises(ExcludedPageError) as ei:
            d.read(pfn * PAGE + 8, 8, physical=True)
        assert ei.value.address == pfn * PAGE + 8 and ei.value.physical
        assert "dump level 31" in str(ei.value) and f"{pfn * PAGE + 8:#x}" in str(ei.value)
        va = m.page_offset_base + pfn * PAGE + 16
        with pytest.raises(ExcludedPageError) as ei:
            d.read(va, 8)
        assert ei.value.address == va and not ei.value.physical
        assert f"{va:#x}" in str(ei.value)
    with _open(dset, "kdump-zlib", zero_excluded=True) as d:
        assert d.read(pfn * PAGE, 16, physical=True) == bytes(16)


def test_excluded_filtered_elf(dset):
    m = dset["machine"]
    with _open(dset, "elf-filtered") as d:
        with pytest.raises(ExcludedPageError) as ei:
            d.read(0x180000 - 4, 8, physical=True)
        assert ei.value.address == 0x180000
        assert d.read(0x180000 - 4, 4, physical=True) == bytes(m.mem[0x180000 - 4:0x180000])
    with _open(dset, "elf-filtered", zero_excluded=True) as d:
        assert d.read(0x180000 - 4, 8, physical=True) == bytes(m.mem[0x17FFFC:0x180000]) + \
            bytes(4)


@pytest.mark.parametrize("fmt", ["elf", "kdump-zlib", "split", "flat-elf"])
def test_beyond_and_hole(dset, fmt):
    m = dset["machine"]
    with _open(dset, fmt) as d:
        with pytest.raises(BeyondDumpError) as ei:
            d.read(m.mem_size + 0x10, 8, physical=True)
        assert ei.value.address == m.mem_size + 0x10
        assert "beyond the end" in str(ei.value)
        with pytest.raises(BeyondDumpError) as ei:
            d.read(m.hole[0] + 0x100, 8, physical=True)
        assert ei.value.address == m.hole[0] + 0x100
        assert d.page_state(m.mem_size // PAGE + 5) == "beyond"
        # virtual read through the 1 GiB direct-map page past the end of RAM
        va = m.page_offset_base + m.mem_size + 0x20
        with pytest.raises(BeyondDumpError) as ei:
            d.read(va, 8)
        assert ei.value.address == va


def test_truncated_kdump(tmp_path, dset):
    full = dset["files"]["kdump-none"][0].read_bytes()
    m = dset["machine"]
    cut = len(full) - 10 * PAGE - 100
    p = tmp_path / "trunc.kdump"
    p.write_bytes(full[:cut])
    with open_dump(p) as d:
        last = max(pfn for pfn in range(m.mem_size // PAGE)
                   if m.is_ram(pfn) and not synth.excluded_user(pfn)
                   and m.page(pfn) != bytes(PAGE))
        assert d.page_state(last) == "missing"
        with pytest.raises(MissingPageError) as ei:
            d.read(last * PAGE, 8, physical=True)
        assert ei.value.address == last * PAGE
        assert d.read(0x1000, 16, physical=True) == bytes(m.mem[0x1000:0x1010])
    p.write_bytes(full[:3 * PAGE])
    with pytest.raises(DumpFormatError):
        open_dump(p)


def test_truncated_elf(tmp_path, dset):
    m = dset["machine"]
    p = synth.write_elf(tmp_path / "trunc.elf", m, truncate_to=2 << 20)
    with open_dump(p) as d:
        top = max(s for s, _e in d.physical_ranges())
        with pytest.raises(MissingPageError) as ei:
            d.read(m.mem_size - PAGE, 8, physical=True)
        assert ei.value.address == m.mem_size - PAGE
        assert top == m.hole[1]
        assert d.page_state(m.mem_size // PAGE - 1) == "missing"
        assert d.read(0x2000, 16, physical=True) == bytes(m.mem[0x2000:0x2010])


def test_incomplete_kdump(tmp_path):
    m = synth.Machine(seed=7)
    p = synth.machine_kdump(tmp_path / "inc.kdump", m, flag=1, incomplete_after=1000)
    with open_dump(p) as d:
        assert d.incomplete
        dumpable = [pfn for pfn in range(m.mem_size // PAGE) if m.is_ram(pfn)]
        missing = dumpable[1000]
        with pytest.raises(MissingPageError) as ei:
            d.read(missing * PAGE + 3, 1, physical=True)
        assert ei.value.address == missing * PAGE + 3 and "incomplete" in str(ei.value)
        assert d.page_state(missing) == "missing"
        assert d.page_state(dumpable[999]) == "present"
        assert d.page_counts()["missing"] == len(dumpable) - 1000
    with open_dump(p, zero_excluded=True) as d:
        assert d.read(missing * PAGE, 8, physical=True) == bytes(8)


def test_corrupt_page(tmp_path):
    m = synth.Machine(seed=3)
    bad = 0x300  # pfn with random (compressible? no) data: pick a compressible one
    bad = next(p for p in range(0x300, 0x400) if p % 5 == 1)
    p = synth.machine_kdump(tmp_path / "bad.kdump", m, flag=1, corrupt_pfn=bad)
    with open_dump(p) as d:
        with pytest.raises(CorruptPageError) as ei:
            d.read(bad * PAGE, 8, physical=True)
        assert ei.value.address == bad * PAGE
        assert ei.value.offset > 0 and f"{ei.value.offset:#x}" in str(ei.value)
        assert d.read((bad + 1) * PAGE, 8, physical=True) == m.page(bad + 1)[:8]


def test_garbage_and_empty(tmp_path):
    p = tmp_path / "junk"
    p.write_bytes(b"hello world" * 100)
    with pytest.raises(DumpFormatError) as ei:
        open_dump(p)
    assert ei.value.offset == 0
    p.write_bytes(b"")
    with pytest.raises(DumpFormatError):
        open_dump(p)
    p.write_bytes(b"\x7fELF" + bytes(60))
    with pytest.raises(DumpFormatError):
        open_dump(p)


# -- CPUs ---------------------------------------------------------------------------------
def test_cpu_registers(dset):
    m = dset["machine"]
    for fmt in ("elf", "kdump-lzo"):
        with _open(dset, fmt) as d:
            assert [c.cpu for c in d.cpus] == list(range(m.ncpus))
            for c in d.cpus:
                assert c.registers == m.cpu_regs(c.cpu)
                assert c.pid == 100 + c.cpu
                assert c.rip == m.cpu_regs(c.cpu)["rip"]


def test_cpus_skipped_and_crash_notes(tmp_path):
    m = synth.Machine(ncpus=3, seed=5)
    # CPU 1 was offline: kdump wrote notes for CPUs 0 and 2 only; per-CPU crash_notes
    # buffers in memory tell which is which.
    bufs = 0x1E0000
    for cpu in (0, 2):
        n = synth.note(b"CORE", 1, synth.prstatus(100 + cpu, m.cpu_regs(cpu)))
        m.mem[bufs + cpu * 0x1000: bufs + cpu * 0x1000 + len(n) + 12] = n + bytes(12)
    m.mem[bufs + 0x1000: bufs + 0x2000] = bytes(0x1000)
    p = synth.write_kdump(tmp_path / "cpus.kdump", max_mapnr=m.mem_size // PAGE,
                          is_ram=m.is_ram, page=m.page, notes=m.notes(skip_cpus=[1]),
                          vmcoreinfo=m.vmcoreinfo(), phys_base=m.phys_base)
    with open_dump(p) as d:
        assert [c.cpu for c in d.cpus] == [0, 1]  # presumed: n-th note = CPU n
        assert d.cpus[1].registers == m.cpu_regs(2)
        cpus = d.cpus_from_crash_notes(m.page_offset_base + bufs, [0, 0x1000, 0x2000])
        assert [c.cpu for c in cpus] == [0, 2]
        assert d.cpus == cpus
        assert d.cpu(2).registers == m.cpu_regs(2) and d.cpu(1) is None


def test_qemu_notes(tmp_path):
    m = synth.Machine(crashtime=False, ncpus=2, seed=9)
    notes = b""
    for cpu in (1, 0):  # QEMU numbering is by pr_pid = index + 1, whatever the order
        notes += synth.note(b"CORE", 1, synth.prstatus(cpu + 1, m.cpu_regs(cpu)))
    for cpu in (1, 0):
        st = bytearray(8 + 18 * 8 + 10 * 24 + 5 * 8)
        struct.pack_into("<II", st, 0, 1, len(st))
        struct.pack_into("<Q", st, 8 + 16 * 8, m.cpu_regs(cpu)["rip"])
        struct.pack_into("<Q", st, 8 + 18 * 8 + 9 * 24 + 16, 0xFFFFFE0000000000)  # idt base
        struct.pack_into("<5Q", st, 8 + 18 * 8 + 10 * 24, 0x80050033, 0, 0, m.root | 0x801,
                         0x3506F0)
        notes += synth.note(b"QEMU", 0, bytes(st))
    p = synth.write_elf(tmp_path / "qemu.elf", m, notes=notes, text_segment=False)
    with open_dump(p) as d:
        assert d.producer == "qemu"
        assert [c.cpu for c in d.cpus] == [0, 1]
        for c in d.cpus:
            assert c.registers["rip"] == m.cpu_regs(c.cpu)["rip"]
            assert c.registers["cr3"] == m.root | 0x801
            assert c.registers["idt_base"] == 0xFFFFFE0000000000
        # No VMCOREINFO: the kernel root comes from CR3, and the walk still works; the
        # kernel image mapping gives the KASLR offset and phys_base.
        assert len(d.vmcoreinfo) == 0
        assert d.translate(m.vmalloc_page).paddr == m.vmalloc_pa
        assert d.kaslr_offset == m.kaslr_offset and d.phys_base == m.phys_base
        assert d.read_cstring(m.symbols["linux_banner"]) == synth.BANNER
        assert d.layout.page_offset_base == m.page_offset_base


# -- flattened ------------------------------------------------------------------------------
def test_flattened_unterminated(tmp_path, dset):
    m = dset["machine"]
    good = dset["files"]["flat-kdump"][0].read_bytes()
    p = tmp_path / "cut.flat"
    p.write_bytes(good[:-16])  # drop the end marker
    with open_dump(p) as d:
        assert d.flattened and not d.layer.src.terminated
        assert d.read(0x3000, 32, physical=True) == bytes(m.mem[0x3000:0x3020])


def test_flattened_cut_short(tmp_path):
    """Records in file order; the stream stops part-way: the pages whose data was never
    streamed are missing (not zeros), the others read normally."""
    m = synth.Machine(seed=17)
    raw = synth.machine_kdump(tmp_path / "src.kdump", m, flag=0).read_bytes()
    flat = synth.flatten(raw, tmp_path / "full.flat", chunk=4096, rewrite_header=False,
                         seed=None).read_bytes()
    p = tmp_path / "cut.flat"
    p.write_bytes(flat[: len(flat) * 3 // 4])
    with open_dump(p) as d:
        states = {}
        for pfn in range(m.mem_size // PAGE):
            if not m.is_ram(pfn) or m.page(pfn) == bytes(PAGE):
                continue
            try:
                assert d.read(pfn * PAGE, PAGE, physical=True) == m.page(pfn)
                states[pfn] = "ok"
            except MissingPageError as exc:
                assert exc.address == pfn * PAGE
                states[pfn] = "missing"
        assert "ok" in states.values() and "missing" in states.values()
        first_missing = min(p for p, s in states.items() if s == "missing")
        assert all(s == "missing" for p, s in states.items() if p > first_missing)


# -- vmcoreinfo ---------------------------------------------------------------------------
def test_vmcoreinfo_typed():
    v = VmcoreInfo(b"OSRELEASE=6.1.0\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffffa2a0a000\n"
                   b"NUMBER(phys_base)=-1073741824\nNUMBER(KERNELPACMASK)=0xffffff8000000000\n"
                   b"OFFSET(page.flags)=0\nSIZE(page)=64\nLENGTH(zone.free_area)=11\n"
                   b"KERNELOFFSET=21000000\nCRASHTIME=1700000000\nCONFIG_X86_PAE=y\n"
                   b"BUILD-ID=abcdef\n\0\0garbage")
    assert v.osrelease == "6.1.0" and v.page_size == 4096
    assert v.symbol("init_top_pgt") == 0xFFFFFFFFA2A0A000
    assert v.number("phys_base") == -(1 << 30) and v.phys_base == -(1 << 30)
    assert v.number("KERNELPACMASK") == 0xFFFFFF8000000000
    assert v.offset("page.flags") == 0 and v.size("page") == 64
    assert v.length("zone.free_area") == 11
    assert v.kerneloffset == 0x21000000 and v.crashtime == 1700000000
    assert v.build_id == "abcdef" and v.get("CONFIG_X86_PAE") == "y"
    assert v.symbol("nope") is None and v.number("nope") is None
    assert "garbage" not in v.raw


# -- random reads ---------------------------------------------------------------------------
@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.integers(0, (8 << 20) - 1), st.integers(1, 3 * PAGE))
def test_random_physical_reads_agree(tmp_path_factory, addr, size):
    dset = synth.build_set(tmp_path_factory.getbasetemp() / "synth4", 4)
    m = dset["machine"]
    end = min(addr + size, m.mem_size)
    pfns = range(addr // PAGE, (end - 1) // PAGE + 1)
    for fmt in ("elf", "kdump-snappy", "split", "flat-kdump"):
        d = _cached_open(dset, fmt)
        states = [_expected_state(m, fmt, p) for p in pfns]
        if all(s == "present" for s in states) and addr + size <= m.mem_size:
            assert d.read(addr, size, physical=True) == bytes(m.mem[addr:addr + size])
        else:
            with pytest.raises(FaultError):
                d.read(addr, size, physical=True)


_OPEN: dict[tuple[int, str], object] = {}


def _cached_open(dset, fmt):
    key = (id(dset), fmt)
    if key not in _OPEN:
        _OPEN[key] = _open(dset, fmt)
    return _OPEN[key]


# -- CLI ------------------------------------------------------------------------------------
def _cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli_main([str(a) for a in argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_cli(dset, tmp_path):
    m = dset["machine"]
    f = dset["files"]["kdump-zlib"][0]
    code, out, err = _cli("info", f)
    assert code == 0 and "format:        kdump" in out and "zlib" in out
    assert f"{m.kaslr_offset:#x}" in out and f"{m.levels}-level" in out
    assert f"RIP {m.cpu_regs(1)['rip']:016x}" in out
    code, out, err = _cli("read", f, f"{m.symbols['linux_banner']:x}", "32")
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith(f"{m.symbols['linux_banner']:016x}:  4c 69 6e 75 78 20")
    assert first.endswith("Linux version 6.")
    code, out, err = _cli("read", f, "0x3000", "0x10", "--physical")
    assert code == 0 and out.startswith("00003000:  ")
    code, out, err = _cli("read", f, f"{m.vmalloc_unmapped:x}", "8")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert f"{m.vmalloc_unmapped:#x}" in err
    code, out, err = _cli("vtop", f, f"{m.vmalloc_page + 0x10:x}")
    assert code == 0 and f"{m.vmalloc_pa + 0x10:x}" in out.splitlines()[1]
    walk = m.expected_walk(m.vmalloc_page)
    assert f"PGD DIRECTORY: {m.symbols['init_top_pgt']:x}" in out
    assert f"PAGE DIRECTORY: {walk[0][2]:x}\n" in out
    for level, entry_pa, value in walk[1:]:
        level = "P4D" if m.levels == 5 and level == "PGD" else level
        assert f"   {level}: {entry_pa:x} => {value:x}\n" in out
    assert f"  PAGE: {m.vmalloc_pa:x}\n" in out
    code, out, err = _cli("vtop", f, f"{m.vmalloc_unmapped:x}")
    assert code == 1 and "(not mapped)" in out and "PTE entry not present" in err
    junk = tmp_path / "junk"
    junk.write_bytes(b"x" * 5000)
    code, out, err = _cli("info", junk)
    assert code == 2 and err.count("\n") == 1
    code, out, err = _cli("info", tmp_path / "does-not-exist")
    assert code == 2
    parts = dset["files"]["split"]
    code, out, err = _cli("read", *parts, "0x1000", "16", "-p")
    assert code == 0 and out.startswith("00001000:  ")
    code, out, err = _cli("info", *parts)
    assert code == 0 and "format:        kdump (split, 3 files)" in out
    pfn = next(p for p in range(0x300, 0x800) if synth.excluded_user(p))
    code, out, err = _cli("read", f, f"{pfn * PAGE:x}", "16", "-p")
    assert code == 1 and "page excluded" in err and f"{pfn * PAGE:#x}" in err
    code, out, err = _cli("read", f, f"{pfn * PAGE:x}", "16", "-p", "--zero-excluded")
    assert code == 0 and " 00" * 15 in out


def test_random_virtual_cache_consistency(dset):
    """Many random cached reads through every mapping type return the machine's bytes."""
    m = dset["machine"]
    rng = random.Random(42)
    bases = [(m.page_offset_base + 0x200000, 0x600000), (m.vmalloc_huge, 2 << 20),
             (m.text_va, 4 << 20)]
    with _open(dset, "kdump-zstd") as d:
        for _ in range(3000):
            base, span = rng.choice(bases)
            va = base + rng.randrange(span - 8)
            pa = m.translate(va)
            if synth.excluded_user(pa // PAGE):
                continue
            assert d.read(va, 8) == bytes(m.mem[pa:pa + 8]), hex(va)


def test_kcore_layout(tmp_path):
    """A /proc/kcore-shaped ELF: NT_TASKSTRUCT note, RAM + TEXT + vmalloc (p_paddr -1)."""
    m = synth.Machine(crashtime=False, seed=11)
    notes = synth.note(b"CORE", 1, bytes(336)) + synth.note(b"CORE", 4, bytes(64)) + \
        synth.note(b"VMCOREINFO", 0, m.vmcoreinfo())
    p = synth.write_elf(tmp_path / "kcore", m, notes=notes,
                        extra_loads=[(-1, m.vmalloc_base, 1 << 30, PAGE)])
    with open_dump(p) as d:
        assert d.format == "kcore" and d.producer == "kcore"
        assert d.physical_ranges() == [(0, m.hole[0]), (m.hole[1], m.mem_size)]
        assert d.read(m.vmalloc_page + 0x10, 32) == m.known[m.vmalloc_page + 0x10][:32]
        assert d.read_cstring(m.symbols["linux_banner"]) == synth.BANNER
        assert d.layout.page_offset_base == m.page_offset_base


@pytest.mark.parametrize("xnum", [False, True], ids=["phnum", "pn_xnum"])
def test_many_segments(tmp_path, xnum):
    """makedumpfile -E can write thousands of PT_LOADs (65535 or more: e_phnum is
    PN_XNUM and the count lives in section header 0); one per page here."""
    m = synth.Machine(seed=13)
    segs = [(pfn * PAGE, PAGE, PAGE if pfn % 3 else 0) for pfn in range(0x100, 0x800)]
    p = synth.write_elf(tmp_path / "many.elf", m, segments=segs, text_segment=False,
                        xnum=xnum)
    with open_dump(p) as d:
        for pfn in (0x101, 0x103, 0x7FF):
            assert d.read(pfn * PAGE, PAGE, physical=True) == m.page(pfn)
        with pytest.raises(ExcludedPageError) as ei:
            d.read(0x101 * PAGE + 4090, 16, physical=True)
        assert ei.value.address == 0x102 * PAGE
        assert d.page_counts() == {"present": 0x700 - 0x700 // 3, "excluded": 0x700 // 3}


def test_threads_share_a_dump(dset):
    """The session reads from a loader thread while commands read: no torn state."""
    import threading

    m = dset["machine"]
    d = open_dump(dset["files"]["kdump-zstd"][0])
    d._pcache.capacity = 16  # force constant eviction
    d._tcache.capacity = 8
    vas = [m.page_offset_base + 0x200000 + i * PAGE + 8 for i in range(0x180)]
    vas = [va for va in vas if not synth.excluded_user((va - m.page_offset_base) // PAGE)]
    errors = []

    def work(seed):
        rng = random.Random(seed)
        try:
            for _ in range(3000):
                va = rng.choice(vas)
                pa = va - m.page_offset_base
                assert d.read(va, 8) == bytes(m.mem[pa:pa + 8])
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    d.close()
    assert not errors


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, 6])
def test_kdump_header_versions(tmp_path, version):
    """Older sub-header versions: fields appear version by version (formats.md §1.4)."""
    m = synth.Machine(seed=21)
    p = synth.machine_kdump(tmp_path / f"v{version}.kdump", m, flag=1,
                            header_version=version)
    with open_dump(p) as d:
        assert d.read(0x5000, PAGE, physical=True) == m.page(5)
        assert d.dump_level == (31 if version >= 1 else 0)
        assert (len(d.vmcoreinfo) > 0) == (version >= 3)
        assert (len(d.cpus) == 2) == (version >= 4)
        if version >= 3:
            assert d.read_cstring(m.symbols["linux_banner"]) == synth.BANNER


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 700), st.integers(0, 255)),
                min_size=1, max_size=25),
       st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 900)), min_size=1,
                max_size=10))
def test_flattened_overlaps_replay(tmp_path_factory, records, reads):
    """Overlapping records resolve like ``makedumpfile -R`` (replay in order, later wins,
    never-written bytes are zero)."""
    from pycrash.core.filebytes import FileBytes
    from pycrash.core.flattened import FlatBytes

    image = bytearray()
    blob = bytearray(b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1))
    blob = blob.ljust(4096, b"\0")
    for off, size, fill in records:
        data = bytes([fill]) * size
        blob += struct.pack(">qq", off, size) + data
        if len(image) < off + size:
            image.extend(bytes(off + size - len(image)))
        image[off:off + size] = data
    blob += struct.pack(">qq", -1, -1)
    path = tmp_path_factory.mktemp("flat") / "f"
    path.write_bytes(bytes(blob))
    flat = FlatBytes(FileBytes(path))
    try:
        assert flat.size == len(image) and flat.terminated
        for off, size in reads:
            assert flat.pread(off, size) == bytes(image[off:off + size])
    finally:
        flat.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_present_ranges(dset, fmt):
    """present_ranges() covers exactly the pages whose state is "present"."""
    m = dset["machine"]
    with _open(dset, fmt) as d:
        covered = set()
        for start, end in d.present_ranges():
            covered.update(range(start // PAGE, -(-end // PAGE)))
        want = {pfn for pfn in range(m.mem_size // PAGE)
                if _expected_state(m, fmt, pfn) == "present"}
        assert covered == want
