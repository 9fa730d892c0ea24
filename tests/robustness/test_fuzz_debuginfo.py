"""Bounded fuzzing (hypothesis) of the parsers of debug files and of pycrash's own caches:
mutated copies of the sample module, of a zlib-compressed copy of it and of the first units of
the sample vmlinux's DWARF either parse or raise DwarfError/ElfFormatError on one line, within
a time and memory bound; a damaged cache file reads back as what was written or as nothing.

Inputs and targets are in ``debuginfo_fuzz.py`` (shared with ``bench/fuzz_campaign.py``)."""

from __future__ import annotations

import signal
import tracemalloc
from contextlib import contextmanager

import debuginfo_fuzz as fuzz
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HANG_SECONDS = 20  # far above any input's cost (a few ms): only a hang trips it
# the largest input is 3.5 MB of sections; a parser that allocates from a garbled length
# goes far past this
PEAK_BYTES = 256 << 20

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


class Hang(Exception):
    pass


@contextmanager
def bounded():
    """An alarm for hangs, and tracemalloc's peak for allocations from garbled lengths."""
    def alarm(signum, frame):
        raise Hang(f"one input ran for {HANG_SECONDS} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
        assert peak < PEAK_BYTES, f"one input allocated {peak >> 20} MiB"
    finally:
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check(target: str, data: bytes, directory) -> None:
    with bounded():
        failure = fuzz.run_file_target(target, data, str(directory))
    if failure is not None:
        raise failure


# -- strategies --------------------------------------------------------------------------
_BOUNDARY = [0, 1, 0x7F, 0x80, 0xFF, 0xFFF, 0x1000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
             1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]


def _field(width: int):
    top = 1 << (8 * width)
    return st.one_of(st.sampled_from([v % top for v in _BOUNDARY]), st.integers(0, top - 1))


def _patch(region: tuple[int, int]):
    """One patch in a region: an aligned boundary integer, random bytes, a LEB128 that never
    ends (a run of 0x80/0xFF), or a zeroed run."""
    lo, hi = region
    at = st.integers(lo, hi - 1)
    return st.one_of(
        st.tuples(at, st.sampled_from([1, 2, 4, 8])).flatmap(
            lambda a: _field(a[1]).map(lambda v: (a[0] - a[0] % a[1],
                                                  v.to_bytes(a[1], "little")))),
        st.tuples(at, st.binary(min_size=1, max_size=8)),
        st.tuples(at, st.sampled_from([b"\x80", b"\xff"]), st.integers(1, 4096)).map(
            lambda a: (a[0], a[1] * a[2])),
        st.tuples(at, st.sampled_from([1, 4, 8, 64])).map(lambda a: (a[0], bytes(a[1]))),
    )


def mutations(sample: fuzz.Sample):
    """Up to 4 patches over the sample's regions, and maybe a cut."""
    patches = st.lists(st.sampled_from(sample.regions).flatmap(_patch), min_size=1,
                       max_size=4).map(dict)
    cut = st.one_of(st.none(), st.none(), st.integers(0, len(sample.data)))
    return st.tuples(patches, cut).map(lambda pc: fuzz.patched(sample.data, *pc))


def _sample(target: str) -> fuzz.Sample:
    sample = fuzz.TARGETS[target][0]()
    if sample is None:
        pytest.skip("no objcopy to compress the module's debug sections")
    return sample


# -- the DWARF walk and ELF sections --------------------------------------------------------
@pytest.mark.parametrize("target", sorted(fuzz.TARGETS))
def test_mutated_debug_files(target: str, tmp_path) -> None:
    sample = _sample(target)
    check(target, sample.data, tmp_path)  # the intact file parses

    @FUZZ
    @given(mutations(sample))
    def run(data: bytes) -> None:
        check(target, data, tmp_path)

    run()


# -- caches pycrash writes itself --------------------------------------------------------
def _file_mutations(data: bytes):
    """Patches anywhere in a file, a cut, or bytes added at its end (a longer write)."""
    region = [(0, len(data))]
    patched = st.tuples(st.lists(st.sampled_from(region).flatmap(_patch), min_size=1,
                                 max_size=3).map(dict),
                        st.one_of(st.none(), st.integers(0, len(data))))
    return st.one_of(patched.map(lambda pc: fuzz.patched(data, *pc)),
                     st.binary(min_size=1, max_size=64).map(lambda tail: data + tail))


def test_symbol_cache_file_mutations() -> None:
    """A symbol-table cache file written by symbol_cache reads back as the table built from
    the vmlinux (kernel_columns), or as nothing: never as another table."""
    data, _ = fuzz.symtab_cache_sample()

    @settings(FUZZ, max_examples=100)
    @given(_file_mutations(data))
    def run(damaged: bytes) -> None:
        with bounded():
            failure = fuzz.symtab_cache_target(damaged)
        if failure is not None:
            raise failure

    run()


def test_type_name_cache_file_mutations(tmp_path) -> None:
    """A type-name cache file written by typenames reads back as the module's names (from
    the DWARF walk), or as nothing."""
    data, _ = fuzz.typenames_cache_sample()

    @settings(FUZZ, max_examples=100)
    @given(_file_mutations(data))
    def run(damaged: bytes) -> None:
        with bounded():
            failure = fuzz.typenames_cache_target(damaged, str(tmp_path))
        if failure is not None:
            raise failure

    run()


# -- Dump.read_file_offset -----------------------------------------------------------------
_OFFSETS = st.one_of(st.sampled_from([0, 1, 4095, 4096, (1 << 63) - 1, 1 << 63, 1 << 64, -1]),
                     st.integers(-16, 1 << 24), st.integers(0, 1 << 70))
_SIZES = st.one_of(st.sampled_from([0, 1, 8, 4096, 1 << 31, 1 << 40, (1 << 63) - 1, -1]),
                   st.integers(-8, 1 << 16))


@pytest.mark.parametrize("name", ["zlib31", "elf31", "flat31", "split31"])
def test_read_file_offset_any_range(name: str) -> None:
    """Any (offset, size): the file's own bytes, read here with open(), or a one-line
    FileOffsetError carrying the range, without reading past the end first."""
    from pycrash import testing
    from pycrash.core import FileOffsetError, open_dump

    paths = testing.dump_paths("sysrq", name)
    content = paths[-1].read_bytes()  # read_file_offset reads the last file given
    dump = open_dump(paths if len(paths) > 1 else paths[0])

    @settings(FUZZ, max_examples=150)
    @given(_OFFSETS, _SIZES)
    def run(offset: int, size: int) -> None:
        with bounded():
            try:
                data = dump.read_file_offset(offset, size)
            except FileOffsetError as err:
                assert (err.offset, err.size, err.file_size) == (offset, size, len(content))
                assert "\n" not in str(err)
                assert offset < 0 or size < 0 or offset + size > len(content)
                return
        assert data == content[offset:offset + size] and len(data) == size

    try:
        run()
    finally:
        dump.close()
