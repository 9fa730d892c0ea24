"""Bounded resources: 64 GiB dumps that hold little data open and read in a subprocess
whose peak resident memory stays under 300 MB, and the page cache keeps its fixed bound.

Two synthetic 64 GiB machines (tests/core/synth.py's 8 MiB machine, grown): a kdump file
whose bitmaps say RAM is 64 GiB of which 8 MiB was dumped, and a sparse ELF file whose
PT_LOAD covers 64 GiB of (mostly hole) file data."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from damage import grow_kdump

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core"))
import synth  # noqa: E402

from pycrash.core import ExcludedPageError, open_dump  # noqa: E402

GIB = 1 << 30
SIZE = 64 * GIB
RSS_LIMIT_KB = 300 * 1024


@pytest.fixture(scope="module")
def machine():
    return synth.Machine()


@pytest.fixture(scope="module")
def big_kdump(machine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sparse")
    small = synth.machine_kdump(tmp / "small.kdump", machine)
    path = tmp / "vmcore.64g.kdump"
    path.write_bytes(grow_kdump(small.read_bytes(), SIZE // synth.PAGE))
    return path


@pytest.fixture(scope="module")
def big_elf(machine, tmp_path_factory):
    """An ELF core with one more PT_LOAD: [mem_size, 64 GiB) as file data in a hole."""
    tmp = tmp_path_factory.mktemp("sparse")
    rest = SIZE - machine.mem_size
    path = synth.write_elf(tmp / "vmcore.64g.elf", machine, extra_loads=[
        (machine.mem_size, machine.page_offset_base + machine.mem_size, rest, 0)])
    data = bytearray(path.read_bytes())
    (phoff,) = struct.unpack_from("<Q", data, 32)
    (phnum,) = struct.unpack_from("<H", data, 56)
    start = -(-len(data) // synth.PAGE) * synth.PAGE
    for i in range(phnum):
        at = phoff + 56 * i
        if struct.unpack_from("<Q", data, at + 24)[0] == machine.mem_size:  # p_paddr
            struct.pack_into("<Q", data, at + 8, start)  # p_offset
            struct.pack_into("<Q", data, at + 32, rest)  # p_filesz
    path.write_bytes(data)
    os.truncate(path, start + rest)  # sparse: no blocks behind the hole
    return path


def test_64g_kdump_reads_like_the_8m_machine(machine, big_kdump):
    with open_dump(big_kdump) as dump:
        assert dump.layer.max_paddr() == SIZE
        assert dump.read(machine.text_va, 64) == machine.read_v(machine.text_va, 64)
        assert dump.read(0x200000, 4096, physical=True) == machine.page(0x200)
        with pytest.raises(ExcludedPageError) as err:
            dump.read(40 * GIB + 8, 8, physical=True)
        assert err.value.address == 40 * GIB + 8


_PROBE = textwrap.dedent("""
    import sys
    from pycrash.core import open_dump
    from pycrash.core.errors import FaultError
    path, step = sys.argv[1], int(sys.argv[2])
    with open_dump(path) as dump:
        size = dump.layer.max_paddr()
        faults = read = 0
        for paddr in range(0, size, step):
            try:
                dump.read(paddr, 4096, physical=True)
                read += 1
            except FaultError:
                faults += 1
        info = dump.cache_info()
    # Peak resident memory of this process image. ru_maxrss would also count the forking
    # parent's (Linux keeps it across execve); VmHWM belongs to the new address space.
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
               if line.startswith("VmHWM:"))
    print(read, faults, info["pages"], info["page_capacity"], hwm)
""")


@pytest.mark.parametrize("which", ["big_kdump", "big_elf"])
def test_64g_dump_stays_under_300mb(which, request):
    path = request.getfixturevalue(which)
    # 16384 pages spread over all 64 GiB: twice the page cache's capacity
    step = SIZE // 16384
    out = subprocess.run([sys.executable, "-c", _PROBE, str(path), str(step)],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    read, faults, cached, capacity, maxrss_kb = map(int, out.split())
    assert read + faults == 16384
    if which == "big_elf":
        assert faults == 0  # every page is file data (zeros in the hole)
    else:
        assert read == 2  # 0 and 4 MiB: the only dumped pages on this grid
    assert cached <= capacity
    assert maxrss_kb < RSS_LIMIT_KB, f"peak RSS {maxrss_kb // 1024} MB"


def test_cli_rd_on_the_64g_dump(cli, big_kdump):
    result = cli("-s", "-c", f"rd -p 0x200000 2; rd -p {40 * GIB:#x}", str(big_kdump))
    assert "Traceback" not in result.stderr
    first = struct.unpack_from("<2Q", synth.Machine().page(0x200))
    assert f"200000:  {first[0]:016x} {first[1]:016x}" in result.stdout
    assert f"rd: page excluded: physical address: {40 * GIB:x}" in result.stderr


def test_page_cache_has_a_fixed_bound(machine, big_elf):
    from pycrash.core.dump import Dump, open_layer

    dump = Dump(open_layer(big_elf), cache_pages=64)
    try:
        for pfn in range(0, 2048):
            dump.read(pfn << 12, 8, physical=True) if machine.is_ram(pfn) else None
        info = dump.cache_info()
        assert info["page_capacity"] == 64 and info["pages"] == 64
        for vpn in range(4096):  # kernel translations: bounded as well
            try:
                dump.vtop(machine.page_offset_base + (vpn << 12))
            except Exception:  # noqa: BLE001, S110 - only the bound matters here
                pass
        info = dump.cache_info()
        assert info["translations"] <= info["translation_capacity"]
    finally:
        dump.close()
    with open_dump(big_elf) as default:
        assert default.cache_info()["page_capacity"] == 8192  # 32 MiB of 4 KiB pages
