"""rd: crash's memory display, checked against the sysrq manifest (banner, module globals,
addresses) and crash's fixed layout."""

from __future__ import annotations

import io
import re

import pytest

from pycrash import testing


@pytest.fixture(scope="module")
def manifest():
    return testing.manifest("sysrq")


def _words(text: str) -> list[str]:
    return [w for line in text.splitlines() for w in line.split(":  ", 1)[1].split()[:2]]


def test_ascii_is_the_banner(run, manifest) -> None:
    banner = manifest["kernel"]["banner"]
    address = int(manifest["placeholders"]["linux_banner"], 16)
    text = run("rd -a linux_banner")
    chunks = [banner[:-1][i:i + 60] for i in range(0, len(banner) - 1, 60)]
    expected = "\n".join(f"{address + 60 * i:16x}:  {c}" for i, c in enumerate(chunks))
    # crash stops at the first unprintable byte (the banner's "\n") without ending the line
    assert text == expected


def test_hex_layout_and_ascii_column(run, manifest) -> None:
    banner = manifest["kernel"]["banner"].encode()
    address = int(manifest["placeholders"]["linux_banner"], 16)
    text = run("rd linux_banner 3")
    lines = text.splitlines()
    first = int.from_bytes(banner[0:8], "little")
    second = int.from_bytes(banner[8:16], "little")
    third = int.from_bytes(banner[16:24], "little")
    assert lines[0] == f"{address:16x}:  {first:016x} {second:016x}   {banner[:16].decode()}"
    assert lines[1] == f"{address + 16:16x}:  {third:016x}" + " " * 20 + banner[16:24].decode()
    eight = run("rd -8 linux_banner 4").splitlines()[0]
    assert eight.split(":  ")[1].split()[:4] == [f"{b:02x}" for b in banner[:4]]
    sixteen = run("rd -16 linux_banner 2").split(":  ")[1].split()
    assert sixteen[:2] == [f"{int.from_bytes(banner[i:i + 2], 'little'):04x}" for i in (0, 2)]


def test_physical_equals_virtual(run, manifest) -> None:
    virt = run(f"rd -x {manifest['placeholders']['linux_banner']} 6")
    phys = run(f"rd -x -p {manifest['placeholders']['linux_banner_phys']} 6")
    assert _words(virt) == _words(phys)


def test_module_global_and_symbols(run, manifest) -> None:
    value = manifest["ground_truth"]["module_globals"]["pycrash_test_value"]
    assert run("rd -x pycrash_test_value").split(":  ")[1].strip() == value[2:]
    text = run(f"rd -s {manifest['placeholders']['init_task']} 124")
    # init_task's parent pointers point at init_task itself, its list heads into it
    assert re.search(r"  init_task +ffff", text)
    assert re.search(r"init_task\+\d+ ", text)


def test_decimal_and_reverse(run) -> None:
    text = run("rd -d pycrash_test_value")
    assert text.split(":  ")[1].strip() == str(0xDEADBEEFCAFEF00D - (1 << 64))
    text = run("rd -D pycrash_test_value")
    assert text.split(":  ")[1].strip() == str(0xDEADBEEFCAFEF00D)


def test_fault_message() -> None:
    from conftest import open_sample

    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    status = Runner(open_sample(), registry, stdout=out, stderr=err).execute(
        "rd ffffffffff000000")
    assert status == 1
    assert err.getvalue() == (
        'pycrash: rd: invalid kernel virtual address: ffffffffff000000  type: "64-bit KVADDR"\n'
    )


def test_user_address_of_the_current_context(run, sample_session) -> None:
    """In the full dump, the `sleep` task's first mapping is /bin/busybox: an ELF header."""
    placeholders = testing.manifest("sysrq")["placeholders"]
    pid, user_addr = placeholders["sleep_pid"], placeholders["user_addr"]
    maps = testing.manifest("sysrq")["ground_truth"]["maps"][pid]
    assert maps[0].startswith(f"{int(user_addr, 16):08x}-") and maps[0].endswith("/bin/busybox")
    session = sample_session("sysrq", "full")
    try:
        run(f"set {pid}", dumpname="full")
        text = run(f"rd -u -8 {user_addr} 4", dumpname="full")
    finally:
        session.reset_context()
    assert text.split(":  ")[1].split()[:4] == ["7f", "45", "4c", "46"]
    assert text.rstrip("\n").endswith(".ELF")


def _dumpfile_words(dumpname: str, offset: int, count: int) -> list[str]:
    """The 64-bit words of the (last) dump file at ``offset``, read from disk here."""
    path = testing.dump_paths("sysrq", dumpname)[-1]
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(8 * count)
    return [f"{int.from_bytes(data[i:i + 8], 'little'):016x}" for i in range(0, len(data), 8)]


@pytest.mark.parametrize("dumpname", ["zlib31", "elf31", "flat31", "split31"])
def test_dumpfile_offset(run, dumpname: str) -> None:
    """rd -f shows the dump file's own bytes (a flattened file raw, a split set's last file)."""
    text = run("rd -f 0x10 4", dumpname=dumpname)
    assert _words(text) == _dumpfile_words(dumpname, 0x10, 4)
    assert [line.split(":")[0].strip() for line in text.splitlines()] == ["10", "20"]


def test_dumpfile_offset_past_the_end(run) -> None:
    """crash reports each unit past the end of the file and goes on (memory.c readmem)."""
    path = testing.dump_paths("sysrq", "zlib31")[0]
    end = path.stat().st_size
    text = run(f"rd -f {end - 8:x} 3")
    (word,) = _dumpfile_words("zlib31", end - 8, 1)
    data = bytes.fromhex(word)[::-1]
    ascii_ = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)
    assert text == (
        f"{end - 8:16x}:  {word} "
        f'rd: read error: dumpfile address: {end:x}  type: "64-bit FILEADDR"\n'
        f'rd: read error: dumpfile address: {end + 8:x}  type: "64-bit FILEADDR"\n'
        f"{' ' * 19}{ascii_}\n"
    )
