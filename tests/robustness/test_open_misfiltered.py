"""A mis-filtered dump: slab pages dropped the way a makedumpfile older than the kernel
drops them (it misreads the page flags and takes them for unnecessary pages).

The dump is the sysrq sample with every PG_slab page taken out of the dumpable bitmap and
the page-descriptor table; expected values come from the scenario's manifest."""

from __future__ import annotations

import pytest
from damage import drop_pages, sample_bytes, slab_pfns

from pycrash import testing
from pycrash.core import ExcludedPageError, open_dump

VMLINUX = str(testing.vmlinux_path())
MANIFEST = testing.manifest("sysrq")


@pytest.fixture(scope="module")
def misfiltered(tmp_path_factory):
    data = sample_bytes("sysrq", "zlib31")
    dropped = slab_pfns(data)
    assert len(dropped) > 100  # a 6.1 kernel has plenty of slab pages
    path = tmp_path_factory.mktemp("misfiltered") / "vmcore"
    path.write_bytes(drop_pages(data, set(dropped)))
    return path, dropped


def test_core_names_what_is_missing(misfiltered):
    path, dropped = misfiltered
    with open_dump(path) as dump:
        assert len(dump.warnings) == 1
        assert dump.warnings[0].startswith(f"{len(dropped)} of the ")
        assert "slab pages the kernel was using" in dump.warnings[0]
        addr = (dropped[len(dropped) // 2] << 12) + 0x18
        with pytest.raises(ExcludedPageError) as err:
            dump.read(addr, 8, physical=True)
        assert err.value.address == addr
        assert err.value.reason.startswith("page excluded (slab page; dump level 31")


def test_intact_pages_read_as_in_the_original(misfiltered):
    path, dropped = misfiltered
    gone = set(dropped)
    with open_dump(path) as damaged, \
            open_dump(testing.dump_paths("sysrq", "zlib31")[0]) as original:
        kept = [pfn for lo, hi in original.layer.present_ranges()
                for pfn in range(lo >> 12, hi >> 12) if pfn not in gone]
        for pfn in kept[::7]:
            assert damaged.read(pfn << 12, 4096, physical=True) == \
                original.read(pfn << 12, 4096, physical=True)


def test_cli_commands_that_need_no_slab_page_work(cli, misfiltered):
    path, dropped = misfiltered
    slab = dropped[len(dropped) // 2] << 12
    result = cli("-c", f"sys; log; rd -a linux_banner; rd -p {slab:#x}", VMLINUX, str(path))
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "slab pages the kernel was using" in warnings[0]
    out = result.stdout
    assert f"RELEASE: {MANIFEST['kernel']['release']}" in out  # sys
    assert f"PANIC: {MANIFEST['panic']['crash_sys_panic']}" in out
    assert MANIFEST["panic"]["message"] in out  # log: the panic line of the kernel log
    assert MANIFEST["kernel"]["banner"].split(" (")[0] in out  # rd -a linux_banner
    # rd of the dropped page: crash's message for a page excluded from the dump
    assert f"rd: page excluded: physical address: {slab:x}" in result.stderr
    assert result.returncode == 1


def test_cli_zero_excluded_reads_zeros_and_says_so_once(cli, misfiltered):
    path, dropped = misfiltered
    slab = dropped[len(dropped) // 2] << 12
    result = cli("--zero-excluded", "-c", f"rd -p {slab:#x} 2; rd -p {slab + 4096:#x}",
                 VMLINUX, str(path))
    assert result.returncode == 0, result.stderr
    assert f"{slab:x}:  0000000000000000 0000000000000000" in result.stdout
    zero_lines = [line for line in result.stderr.splitlines() if "--zero-excluded" in line]
    assert len(zero_lines) == 1 and "read as zeroes" in zero_lines[0]
