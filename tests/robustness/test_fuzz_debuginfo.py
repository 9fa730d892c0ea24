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
