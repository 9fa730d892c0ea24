"""Bounded fuzzing of every parser of the core (hypothesis): random and mutated inputs
either parse or raise pycrash's typed errors (DumpFormatError, FaultError), never another
exception, and never hang (each input runs under an alarm).

Mutations are patches over the real sysrq sample dumps' metadata (tests/robustness/
damage_fuzz.py); bench/fuzz_campaign.py runs the same targets for long campaigns."""

from __future__ import annotations

import signal
import struct
from contextlib import contextmanager

import damage_fuzz
import pytest
from damage import TYPED, PatchedBytes, kdump_layout
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycrash.core.flattened import FLAT_HEADER_SIZE, FlatBytes

HANG_SECONDS = 20  # far above any input's cost: only a hang trips it

FUZZ = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Hang(Exception):
    pass


@contextmanager
def bounded():
    def alarm(signum, frame):
        raise Hang(f"one input ran for {HANG_SECONDS} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check(fn, *args) -> None:
    """Run one input: typed errors are fine, anything else fails the test."""
    with bounded():
        try:
            fn(*args)
        except TYPED:
            pass


# -- strategies --------------------------------------------------------------------------
_BOUNDARY = [0, 1, 0x7F, 0x80, 0xFF, 0xFFF, 0x1000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
             1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]


def field_values(width: int):
    top = 1 << (8 * width)
    return st.one_of(st.sampled_from([v % top for v in _BOUNDARY]),
                     st.integers(0, top - 1))


def patches_in(regions: list[tuple[int, int]], *, endian: str = "little"):
    """Up to 4 patches: an aligned integer field or a few random bytes inside a region."""
    def one(draw_region):
        lo, hi = draw_region
        return st.tuples(st.integers(lo, hi - 1), st.sampled_from([1, 4, 8, 0])).flatmap(
            lambda at: (st.binary(min_size=1, max_size=8).map(lambda b: (at[0], b))
                        if at[1] == 0 else
                        field_values(at[1]).map(lambda v: (at[0] - at[0] % at[1],
                                                           v.to_bytes(at[1], endian)))))

    return st.lists(st.sampled_from(regions).flatmap(one), min_size=1, max_size=4).map(dict)


def cut_or_not(size: int):
    return st.one_of(st.none(), st.integers(0, 1 << 16), st.integers(0, size))


KDUMP = damage_fuzz.sample_for("kdump")
LAY = kdump_layout(KDUMP)
KDUMP_REGIONS = {
    "header": [(0, 464)],
    "sub-header": [(LAY.sub_header, LAY.sub_header + 104)],
    "bitmaps": [(LAY.bitmap1, LAY.bitmap1 + 4096), (LAY.bitmap2, LAY.bitmap2 + 4096)],
    "descriptors": [(LAY.descriptors, LAY.descriptors + 24 * 64),
                    (LAY.page_data - 24 * 64, LAY.page_data)],
    "notes": damage_fuzz.kdump_regions(KDUMP, 0)[5:],
}


# -- kdump-compressed ----------------------------------------------------------------------
@pytest.mark.parametrize("part", sorted(KDUMP_REGIONS))
def test_kdump_metadata(part):
    @FUZZ
    @given(patches_in(KDUMP_REGIONS[part]), cut_or_not(len(KDUMP)))
    def run(patches, size):
        check(damage_fuzz.kdump_target, PatchedBytes(KDUMP, patches, size=size))

    run()


SPLIT = damage_fuzz.sample_for("split")


@FUZZ
@given(patches_in(damage_fuzz.kdump_regions(SPLIT, 16)), cut_or_not(len(SPLIT)))
def test_split_part_metadata(patches, size):
    check(damage_fuzz.kdump_target, PatchedBytes(SPLIT, patches, size=size))


@settings(FUZZ, max_examples=40)
@given(patches_in(damage_fuzz.kdump_regions(KDUMP, 16)), cut_or_not(len(KDUMP)))
def test_whole_open_path(patches, size):
    """open_dump's path end to end: layout discovery reads kernel memory too."""
    check(damage_fuzz.full_target, PatchedBytes(KDUMP, patches, size=size))


# -- flattened -----------------------------------------------------------------------------
FLAT = damage_fuzz.sample_for("flat")


@FUZZ
@given(patches_in(damage_fuzz.flat_regions(FLAT, 32), endian="big"), cut_or_not(len(FLAT)))
def test_flattened_records(patches, size):
    check(damage_fuzz.flat_target, PatchedBytes(FLAT, patches, size=size))


_REC = struct.Struct(">qq")


@FUZZ
@given(st.lists(st.tuples(st.one_of(st.integers(-2, 1 << 20), st.sampled_from(
    [(1 << 62), (1 << 63) - 1, -1])), st.binary(max_size=64), st.integers(-2, 200)),
    max_size=12), st.booleans())
def test_flattened_streams_from_scratch(records, terminated):
    """Random record lists (any offsets, sizes that lie about their data, overlaps)."""
    head = b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)
    body = bytearray(head.ljust(FLAT_HEADER_SIZE, b"\0"))
    for dest, data, claimed in records:
        size = len(data) if claimed < 0 else claimed
        body += _REC.pack(dest, size) + data
    if terminated:
        body += _REC.pack(-1, -1)

    def parse(src):
        flat = FlatBytes(src)
        flat.pread(0, 64)
        flat.pread(max(0, flat.size - 100), 200)
        flat.covered(0, 16)

    check(parse, PatchedBytes(bytes(body)))


# -- ELF -----------------------------------------------------------------------------------
ELF = damage_fuzz.sample_for("elf")


@settings(FUZZ, max_examples=50)
@given(patches_in(damage_fuzz.elf_regions(ELF)), cut_or_not(len(ELF)))
def test_elf_headers_and_notes(patches, size):
    check(damage_fuzz.elf_target, PatchedBytes(ELF, patches, size=size))


# -- raw parsers: notes, VMCOREINFO, prstatus ------------------------------------------------
_NOTE = struct.Struct("<III")


@FUZZ
@given(st.lists(st.tuples(field_values(4), field_values(4), field_values(4),
                          st.binary(max_size=48)), max_size=8), st.binary(max_size=16))
def test_note_records(records, tail):
    data = b"".join(_NOTE.pack(n, d, t) + payload for n, d, t, payload in records) + tail
    check(damage_fuzz.notes_target, data)


@FUZZ
@given(st.binary(max_size=2048))
def test_note_bytes(data):
    check(damage_fuzz.notes_target, data)


_KEYS = ["OSRELEASE", "PAGESIZE", "KERNELOFFSET", "CRASHTIME", "SYMBOL(init_top_pgt)",
         "NUMBER(phys_base)", "OFFSET(page.flags)", "SIZE(page)", "LENGTH(mem_section)",
         "NUMBER(pgtable_l5_enabled)", "BUILD-ID"]


@settings(FUZZ, max_examples=50)
@given(st.lists(st.tuples(st.one_of(st.sampled_from(_KEYS), st.text(max_size=12)),
                          st.one_of(st.text(max_size=24), st.integers().map(str),
                                    st.integers().map(hex))), max_size=16),
       st.binary(max_size=64))
def test_vmcoreinfo_text(entries, junk):
    text = "\n".join(f"{k}={v}" for k, v in entries).encode("utf-8", "surrogatepass")
    check(damage_fuzz.vmcoreinfo_target, text + junk)
    check(damage_fuzz.vmcoreinfo_target, text.decode("utf-8", "replace"))


@FUZZ
@given(st.binary(max_size=800))
def test_prstatus_and_qemu_state(data):
    check(damage_fuzz.prstatus_target, data)


def test_campaign_script_counts_inputs_and_failures():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "fuzz_campaign.py"
    out = subprocess.run([sys.executable, str(script), "--inputs", "300", "--seed", "5",
                          "--targets", "kdump,notes,vmcoreinfo"], capture_output=True,
                         text=True, timeout=300).stdout
    assert "inputs run: 300 " in out and "(kdump 100, notes 100, vmcoreinfo 100)" in out
    assert "failures found: 0 (0 distinct)" in out
