"""``kernel.excluded_in_use``: the start-up look for slab pages a makedumpfile dropped.

It reads the struct-page array one vmemmap page at a time and, where such a read faults, one
struct page at a time.  Expected counts come from the dump's own page bitmap (which pages are
excluded), and the sample's makedumpfile knows its kernel: none of them is a slab page.
"""

from __future__ import annotations

import pytest

from pycrash import testing
from pycrash.core import NotMappedError, open_dump
from pycrash.core import kernel as core_kernel

try:
    HAS_SAMPLE = "zlib31" in testing.dump_names("sysrq")
except Exception:  # noqa: BLE001 - no sample set in this checkout
    HAS_SAMPLE = False

pytestmark = pytest.mark.skipif(not HAS_SAMPLE, reason="no sysrq/zlib31 sample")


@pytest.fixture
def dump():
    with open_dump(testing.dump_paths("sysrq", "zlib31")) as opened:
        yield opened


def _excluded_pfns(dump) -> list[int]:
    shift = dump.layer.page_shift
    return [pfn for lo, hi in dump.layer.ranges() for pfn in range(lo >> shift, hi >> shift)
            if dump.layer.page_state(pfn) == "excluded"]


def _struct_page_size(dump) -> int:
    return dump.vmcoreinfo.size("page")


def test_every_excluded_page_is_examined(dump) -> None:
    excluded = len(_excluded_pfns(dump))
    assert excluded == dump.layer.counts()["excluded"] > 0
    assert core_kernel.excluded_in_use(dump) == (0, excluded, excluded)


def test_a_faulting_page_read_falls_back_to_single_struct_pages(dump, monkeypatch) -> None:
    base, size = dump.layout.vmemmap_base, _struct_page_size(dump)
    real = dump.read

    def read(address: int, count: int, physical: bool = False) -> bytes:
        if not physical and address >= base and count > size:
            raise NotMappedError(address, "not mapped (test)")
        return real(address, count, physical)

    monkeypatch.setattr(dump, "read", read)
    excluded = len(_excluded_pfns(dump))
    assert core_kernel.excluded_in_use(dump) == (0, excluded, excluded)


def test_unreadable_struct_pages_are_not_counted(dump, monkeypatch) -> None:
    base, size = dump.layout.vmemmap_base, _struct_page_size(dump)
    excluded = _excluded_pfns(dump)
    per_page = dump.page_size // size
    block = excluded[len(excluded) // 2] // per_page  # the vmemmap page made unreadable
    lost = sum(1 for pfn in excluded if pfn // per_page == block)
    first, end = base + block * per_page * size, base + (block + 1) * per_page * size
    real = dump.read

    def read(address: int, count: int, physical: bool = False) -> bytes:
        if not physical and address < end and address + count > first:
            raise NotMappedError(address, "not mapped (test)")
        return real(address, count, physical)

    monkeypatch.setattr(dump, "read", read)
    assert core_kernel.excluded_in_use(dump) == (0, len(excluded) - lost, len(excluded))
