"""The core against the committed sample dumps (sample-dumps/, see pycrash.testing).

Expected values come from the guest (manifest), from System.map, and from crash 8.0.6's
recorded output — never from pycrash itself.
"""

from __future__ import annotations

import io
import random
import re

import pytest
import synth

from pycrash import testing
from pycrash.core import (
    BeyondDumpError,
    ExcludedPageError,
    MissingPageError,
    NotMappedError,
    open_dump,
)

try:
    SCENARIOS = testing.scenarios()
except Exception:  # noqa: BLE001 - no sample set in this checkout
    SCENARIOS = []

pytestmark = pytest.mark.skipif(not SCENARIOS, reason="no sample dumps")
# scenarios with a makedumpfile -c -d 31 dump of a crashed kernel
KDUMP_SCENARIOS = [s for s in SCENARIOS if "zlib31" in testing.dump_names(s)]
PAGE = 4096
_OPEN: dict[tuple[str, str], object] = {}


def dump_of(scenario: str, name: str):
    key = (scenario, name)
    if key not in _OPEN:
        _OPEN[key] = open_dump(testing.dump_paths(scenario, name))
    return _OPEN[key]


def all_dumps():
    return [(s, n) for s in SCENARIOS for n in testing.dump_names(s)]


def manifest_int(text: str) -> int:
    """Manifest numbers are hex strings, possibly written as ``0x-1cc00000``."""
    text = text.strip()
    neg = "-" in text
    value = int(text.replace("-", ""), 16)
    return -value if neg else value


def system_map() -> dict[str, int]:
    out = {}
    for line in testing.system_map_path().read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.setdefault(parts[2], int(parts[0], 16))
    return out


def runtime_symbol(scenario: str, name: str) -> int:
    """System.map address + the KASLR offset the guest reported."""
    return system_map()[name] + manifest_int(testing.manifest(scenario)["kaslr_offset"])


def crash_out(scenario: str, name: str, cmdline: str) -> str:
    try:
        return testing.crash_output(scenario, name, cmdline)
    except (KeyError, FileNotFoundError, OSError) as exc:
        pytest.skip(f"crash output for {cmdline!r} not recorded: {exc}")


def find_cmd(scenario: str, name: str, prefix: str) -> list[str]:
    try:
        cmds = testing.crash_commands(scenario, name)
    except (KeyError, FileNotFoundError, OSError) as exc:
        pytest.skip(f"no crash recordings: {exc}")
    return [c for c in cmds if c == prefix or c.startswith(prefix + " ")]


# -- metadata ---------------------------------------------------------------------------
@pytest.mark.parametrize("scenario,name", all_dumps())
def test_metadata_matches_manifest(scenario, name):
    m = testing.manifest(scenario)
    info = next(d for d in m["dumps"] if d["name"] == name)
    d = dump_of(scenario, name)
    if info["format"] == "flattened":
        assert d.flattened and d.format == "kdump"
    elif info["format"] == "split":
        assert d.split and d.format == "kdump" and len(d.paths) == len(info["files"])
    else:
        assert d.format == info["format"] and not d.flattened
    assert d.compression == info["compression"]
    if d.format == "kdump" and info.get("producer", "").startswith("makedumpfile"):
        assert d.dump_level == info["dump_level"]  # (QEMU writes its own level, 1)
    assert d.kaslr_offset == manifest_int(m["kaslr_offset"])
    assert d.phys_base == manifest_int(m["phys_base"]) % (1 << 64)
    assert d.paging_levels == int(m["paging"][0])
    assert d.vmcoreinfo.osrelease == m["kernel"]["release"]
    assert d.vmcoreinfo.build_id == m["kernel"]["build_id"]
    assert len(d.cpus) == m["cpus"]
    assert d.page_size == PAGE


@pytest.mark.parametrize("scenario,name", all_dumps())
def test_banner_at_symbol(scenario, name):
    m = testing.manifest(scenario)
    d = dump_of(scenario, name)
    addr = runtime_symbol(scenario, "linux_banner")
    assert d.read_cstring(addr).decode() == m["kernel"]["banner"]
    # the same bytes through the direct map and physically
    pa = d.vtop(addr)
    assert d.read(pa, 64, physical=True) == d.read(addr, 64)
    assert d.read(d.layout.page_offset_base + pa, 64) == d.read(addr, 64)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_layout_matches_kernel_variables(scenario):
    """Bases found without vmlinux equal the kernel's own variables (System.map)."""
    name = testing.dump_names(scenario)[0]
    d = dump_of(scenario, name)
    for var in ("page_offset_base", "vmemmap_base", "vmalloc_base"):
        actual = d.read_u64(runtime_symbol(scenario, var))
        assert getattr(d.layout, var) == actual, var
    assert d.pgtable.root == d.vtop(runtime_symbol(scenario, "init_top_pgt"))
    assert d.layout.kind(d.layout.vmalloc_base + 0x1000) == "vmalloc"
    assert d.layout.kind(d.layout.vmemmap_base + 0x1000) == "vmemmap"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_module_globals(scenario):
    """The test module's globals (vmalloc'd module space: a real page-table walk)."""
    m = testing.manifest(scenario)
    gt = m["ground_truth"]
    syms = gt.get("module_kallsyms", {})
    if "pycrash_test_value" not in syms:
        pytest.skip("module symbols not recorded")
    for name in testing.dump_names(scenario):
        d = dump_of(scenario, name)
        addr = int(syms["pycrash_test_value"]["address"], 16)
        assert d.translate(addr).kind == "module"
        assert d.read_u64(addr) == int(gt["module_globals"]["pycrash_test_value"], 16)
        text = d.read_cstring(int(syms["pycrash_test_string"]["address"], 16))  # char[]
        assert text.decode() == gt["module_globals"]["pycrash_test_string"]


# -- cross-format identity ----------------------------------------------------------------
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_formats_byte_identical(scenario):
    names = testing.dump_names(scenario)
    dumps = {n: dump_of(scenario, n) for n in names}
    ranges = dumps[names[0]].physical_ranges()
    common = []
    for start, end in ranges:
        for pfn in range(-(-start // PAGE), end // PAGE):
            if all(d.page_state(pfn) == "present" for d in dumps.values()):
                common.append(pfn)
    assert len(common) > 1000
    rng = random.Random(1234)
    sample = rng.sample(common, min(len(common), 2500))
    ref = dumps[names[0]]
    for pfn in sample:
        want = ref.read(pfn * PAGE, PAGE, physical=True)
        for n, d in dumps.items():
            assert d.read(pfn * PAGE, PAGE, physical=True) == want, (n, hex(pfn))
    # Excluded pages of the -d 31 kdump are reported as such, with the address.
    kd = dumps.get("zlib31")
    if kd is not None:
        pfn = next(p for s, e in ranges for p in range(s // PAGE, e // PAGE)
                   if kd.page_state(p) == "excluded")
        with pytest.raises(ExcludedPageError) as ei:
            kd.read(pfn * PAGE + 0x10, 8, physical=True)
        assert ei.value.address == pfn * PAGE + 0x10
        assert "dump level 31" in str(ei.value)
        full = dumps.get("full")
        if full is not None:  # the unfiltered dump has that page
            assert len(full.read(pfn * PAGE, PAGE, physical=True)) == PAGE


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_beyond_end(scenario):
    for name in testing.dump_names(scenario):
        d = dump_of(scenario, name)
        top = d.physical_ranges()[-1][1]
        with pytest.raises(BeyondDumpError) as ei:
            d.read(top + 0x123000, 8, physical=True)
        assert ei.value.address == top + 0x123000
        va = d.layout.page_offset_base + top + 0x5000
        with pytest.raises(BeyondDumpError) as ei:
            d.read(va, 8)
        assert ei.value.address == va


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_unmapped_vmalloc(scenario):
    d = dump_of(scenario, testing.dump_names(scenario)[0])
    vmalloc_base = d.read_u64(runtime_symbol(scenario, "vmalloc_base"))
    addr = vmalloc_base + (31 << 40)  # near the end of the 32 TB vmalloc area: unused
    with pytest.raises(NotMappedError) as ei:
        d.read(addr, 8)
    assert ei.value.address == addr and ei.value.level in ("PGD", "PUD", "PMD", "PTE")


# -- snappy: re-encode a real dump --------------------------------------------------------
@pytest.mark.parametrize("scenario", KDUMP_SCENARIOS[:1])
def test_snappy_reencoded(scenario, tmp_path):
    src = dump_of(scenario, "zlib31")
    layer = src.layer
    notes = layer.src.pread(layer.header.offset_note, layer.header.size_note)

    def page(pfn):
        return src.read(pfn * PAGE, PAGE, physical=True)

    path = synth.write_kdump(
        tmp_path / "snappy.kdump", max_mapnr=layer.max_mapnr,
        is_ram=lambda pfn: layer.bm_ram[pfn], page=page, notes=notes,
        vmcoreinfo=layer.vmcoreinfo_text, phys_base=layer.header.phys_base, flag=4,
        excluded=lambda pfn: not layer.bm_dump[pfn], dump_level=31)
    m = testing.manifest(scenario)
    with open_dump(path) as d:
        assert d.compression == "snappy"
        assert d.read_cstring(runtime_symbol(scenario, "linux_banner")).decode() == \
            m["kernel"]["banner"]
        rng = random.Random(5)
        present = [p for p in range(layer.max_mapnr) if src.page_state(p) == "present"]
        for pfn in rng.sample(present, 800):
            assert d.read(pfn * PAGE, PAGE, physical=True) == page(pfn)
        assert d.page_counts() == src.page_counts()


# -- crash's recorded output ---------------------------------------------------------------
_REG_NAMES = {"RFLAGS": "eflags", "CS": "cs", "SS": "ss"}


def parse_help_r(text: str) -> dict[int, dict[str, int]]:
    cpus: dict[int, dict[str, int]] = {}
    cur = None
    for line in text.splitlines():
        mo = re.match(r"\s*CPU (\d+):", line)
        if mo:
            cur = cpus.setdefault(int(mo.group(1)), {})
            line = line[mo.end():]
        if cur is None:
            continue
        for reg, val in re.findall(r"\b([A-Z][A-Z0-9]*):\s+([0-9a-f]+)\b", line):
            cur[_REG_NAMES.get(reg, reg.lower())] = int(val, 16)
    return cpus


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_registers_match_crash_help_r(scenario):
    m = testing.manifest(scenario)
    name = next(d["name"] for d in m["dumps"] if d.get("primary"))
    if "help -r" not in find_cmd(scenario, name, "help"):
        pytest.skip("help -r not recorded")
    expected = parse_help_r(crash_out(scenario, name, "help -r"))
    assert expected, "could not parse crash's help -r"
    d = dump_of(scenario, name)
    panic = m.get("panic")  # None for a live (not crashed) guest
    panic_cpu = panic["cpu"] if panic else None
    for cpu, regs in expected.items():
        if cpu != panic_cpu and len(d.cpus) < len(expected):
            continue
        mine = d.cpu(cpu)
        assert mine is not None, cpu
        for reg, value in regs.items():
            assert mine.registers[reg] == value, (cpu, reg)
    assert len(expected) == m["cpus"]
    if panic:
        assert panic_cpu in expected
        assert d.cpu(panic_cpu).pid == panic["pid"]


def parse_vtop(text: str) -> tuple[int, int, list[tuple[str, int, int]], str | None]:
    """(vaddr, paddr, [(level, entry_paddr, value)], page size) from crash's vtop."""
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("VIRTUAL"))
    vaddr, paddr = (int(x, 16) for x in lines[i + 1].split()[:2])
    entries = []
    size = None
    for line in lines[i + 2:]:
        mo = re.match(r"\s*(PGD|P4D|PUD|PMD|PTE): ([0-9a-f]+) => ([0-9a-f]+)", line)
        if mo:
            entries.append((mo.group(1), int(mo.group(2), 16), int(mo.group(3), 16)))
        mo = re.match(r"PAGE DIRECTORY: ([0-9a-f]+)", line)
        if mo:
            entries.append(("TOP", -1, int(mo.group(1), 16)))
        mo = re.match(r"\s*PAGE: [0-9a-f]+\s*(\((\w+)\))?", line)
        if mo:
            size = mo.group(2) or "4KB"
            break
    return vaddr, paddr, entries, size


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_vtop_matches_crash(scenario):
    m = testing.manifest(scenario)
    name = next(d["name"] for d in m["dumps"] if d.get("primary"))
    cmds = find_cmd(scenario, name, "vtop")
    if not cmds:
        pytest.skip("no vtop recorded")
    d = dump_of(scenario, name)
    checked = 0
    for cmd in cmds:
        text = crash_out(scenario, name, cmd)
        if "VIRTUAL" not in text:
            continue
        vaddr, paddr, entries, size = parse_vtop(text)
        if entries[0][0] == "TOP":
            # Kernel address: crash prints the top-level entry as "PAGE DIRECTORY: value"
            # (no address), then "LEVEL: entry_paddr => value" (5-level: "P4D" for our
            # PGD).
            t = d.translate(vaddr)
            assert entries[0][2] == t.entries[0].value, cmd
            pairs = zip(entries[1:], t.entries[1:], strict=True)
        else:
            # User address (vtop -c PID): every level as "LEVEL: entry_paddr => value",
            # starting with the task's pgd, which gives the root.
            root = entries[0][1] & ~0xFFF
            t = d.translate(vaddr, root)
            pairs = zip(entries, t.entries, strict=True)
            if d.page_state(paddr // PAGE) == "present":  # -d 31 leaves user pages out
                assert d.read_user(vaddr, 8, root) == d.read(paddr, 8, physical=True)
            else:
                with pytest.raises(ExcludedPageError) as ei:
                    d.read_user(vaddr, 8, root)
                assert ei.value.address == vaddr
        assert t.paddr == paddr, cmd
        assert {"4KB": 4096, "2MB": 2 << 20, "1GB": 1 << 30}[size or "4KB"] == t.page_size
        for (lvl, epa, val), e in pairs:
            assert (epa, val) == (e.entry_paddr, e.value), (cmd, lvl)
        checked += 1
    assert checked


def parse_rd_line(line: str) -> tuple[int, bytes] | None:
    """``ADDR:  w w w ...   ascii`` → (ADDR, bytes); word width from the digits."""
    mo = re.match(r"([0-9a-f]+):\s+((?:[0-9a-f]+ ?)+?)(?:\s{2,}.*)?$", line)
    if not mo:
        return None
    out = b""
    for word in mo.group(2).split():
        width = len(word) // 2
        if width not in (1, 2, 4, 8):
            return None
        out += int(word, 16).to_bytes(width, "little")
    return int(mo.group(1), 16), out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rd_matches_crash(scenario):
    m = testing.manifest(scenario)
    name = next(d["name"] for d in m["dumps"] if d.get("primary"))
    d = dump_of(scenario, name)
    cmds = [c for c in find_cmd(scenario, name, "rd")
            if re.fullmatch(r"rd( -p)?( -(8|16|32|64|x))? 0x[0-9a-f]+ \d+", c)]
    if not cmds:
        pytest.skip("no rd recorded")
    checked = 0
    for cmd in cmds:
        physical = " -p " in cmd
        for line in crash_out(scenario, name, cmd).splitlines():
            parsed = parse_rd_line(line)
            if parsed is None:
                continue
            addr, want = parsed
            assert d.read(addr, len(want), physical=physical) == want, cmd
            checked += 1
    assert checked >= len(cmds)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_excluded_pages_explained(scenario):
    """Every page a -d 31 kdump left out is free, user or page cache by its struct page
    (kdump files keep zero pages, as one shared stored page)."""
    if "zlib31" not in testing.dump_names(scenario):
        pytest.skip("no makedumpfile -d 31 dump in this scenario")
    d = dump_of(scenario, "zlib31")
    excluded = [p for s, e in d.physical_ranges() for p in range(s // PAGE, e // PAGE)
                if d.page_state(p) == "excluded"]
    kinds = {p: d.excluded_kind(p) for p in excluded}
    assert None not in kinds.values()
    assert set(kinds.values()) <= {"free", "user", "cache", "cache private"}
    user = next((p for p, k in kinds.items() if k == "user"), None)
    if user is not None:
        with pytest.raises(ExcludedPageError, match=r"^page excluded \(user page; dump "
                           r"level 31: .*\): physical address 0x"):
            d.read(user * PAGE, 8, physical=True)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_cpus_from_crash_notes(scenario):
    """Per-CPU crash_notes buffers in memory hold the same NT_PRSTATUS as the ELF notes."""
    m = testing.manifest(scenario)
    if "zlib31" not in testing.dump_names(scenario):
        pytest.skip("not a kdump of a crashed kernel (no crash_notes were saved)")
    d = open_dump(testing.dump_paths(scenario, "zlib31"))
    try:
        from_notes = {c.cpu: c.registers for c in d.cpus}
        crash_notes = d.read_u64(runtime_symbol(scenario, "crash_notes"))
        base = runtime_symbol(scenario, "__per_cpu_offset")
        offsets = [d.read_u64(base + 8 * i) for i in range(m["cpus"])]
        cpus = d.cpus_from_crash_notes(crash_notes, offsets)
        assert [c.cpu for c in cpus] == list(range(m["cpus"]))
        for c in cpus:
            assert c.registers == from_notes[c.cpu]
        assert d.cpu(m["panic"]["cpu"]).pid == m["panic"]["pid"]
    finally:
        d.close()



@pytest.mark.parametrize("scenario", KDUMP_SCENARIOS[:1])
def test_truncated_real_kdump(scenario, tmp_path):
    """A copy of a real dump cut at 60%: earlier pages read as before, the rest are
    missing (makedumpfile writes page data in pfn order), each fault with its address."""
    src = testing.dump_paths(scenario, "zlib31")[0]
    data = src.read_bytes()
    cut = tmp_path / "cut.kdump"
    cut.write_bytes(data[: len(data) * 6 // 10])
    ref = dump_of(scenario, "zlib31")
    present = [p for s, e in ref.physical_ranges() for p in range(s // PAGE, e // PAGE)
               if ref.page_state(p) == "present"]
    states = []
    with open_dump(cut) as d:
        for pfn in present:
            want = ref.read(pfn * PAGE, PAGE, physical=True)
            try:
                got = d.read(pfn * PAGE, PAGE, physical=True)
            except MissingPageError as exc:
                assert exc.address == pfn * PAGE
                states.append("missing")
                continue
            assert got == want, hex(pfn)
            states.append("ok" if want.strip(b"\0") else "zero")
    real = [s for s in states if s != "zero"]  # zero pages share one early stored page
    first = real.index("missing")
    assert first > 100 and all(s == "missing" for s in real[first:])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_cli_vtop_and_rd_like_crash(scenario):
    """``python -m pycrash.core vtop`` prints the walk lines exactly as crash's vtop does,
    and ``read`` prints crash's ``rd -8`` lines."""
    from pycrash.core.cli import main as cli_main

    m = testing.manifest(scenario)
    name = next(d["name"] for d in m["dumps"] if d.get("primary"))
    paths = [str(p) for p in testing.dump_paths(scenario, name)]
    cmds = [c for c in find_cmd(scenario, name, "vtop") if "-c" not in c.split()]
    if not cmds:
        pytest.skip("no kernel vtop recorded")
    for cmd in cmds:
        want = crash_out(scenario, name, cmd).splitlines()
        if not want or not want[0].startswith("VIRTUAL"):
            continue
        want = want[: next(i for i, line in enumerate(want) if line.startswith("  PAGE:")) + 1]
        out = io.StringIO()
        assert cli_main(["vtop", *paths, cmd.split()[-1]], stdout=out) == 0
        assert out.getvalue().splitlines()[: len(want)] == want, cmd
    for cmd in find_cmd(scenario, name, "rd"):
        mo = re.fullmatch(r"rd -8 0x([0-9a-f]+) (\d+)", cmd)
        if mo:
            out = io.StringIO()
            assert cli_main(["read", *paths, mo.group(1), mo.group(2)], stdout=out) == 0
            assert out.getvalue() == crash_out(scenario, name, cmd).rstrip("\n") + "\n"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_header_info_matches_crash_help_d(scenario):
    """The kdump header fields crash's ``help -D`` shows, from header_info()/notes."""
    from pycrash.core.notes import parse_prstatus_fields

    m = testing.manifest(scenario)
    name = next(d["name"] for d in m["dumps"] if d.get("primary"))
    if "help -D" not in find_cmd(scenario, name, "help"):
        pytest.skip("help -D not recorded")
    text = crash_out(scenario, name, "help -D")
    d = dump_of(scenario, name)
    info = d.header_info()

    def field(key: str) -> str:
        mo = re.search(rf"^\s*{re.escape(key)}: (\S+)", text, re.M)
        assert mo, key
        return mo.group(1)

    for key in ("header_version", "block_size", "sub_hdr_size", "bitmap_blocks",
                "max_mapnr", "nr_cpus", "offset_vmcoreinfo", "size_vmcoreinfo",
                "offset_note", "size_note", "split"):
        assert int(field(key)) == info[key], key
    assert int(field("phys_base"), 16) == info["phys_base"]  # raw sub-header field
    # (QEMU writes its own guess there; VMCOREINFO's NUMBER(phys_base) comes first)
    assert d.phys_base == (info["phys_base"] if d.vmcoreinfo.phys_base is None
                           else d.vmcoreinfo.phys_base % (1 << 64))
    assert int(field("dump_level")) == info["dump_level"] == d.dump_level
    assert int(field("data_offset"), 16) == info["parts"][0]["data_offset"]
    assert int(field("bitmap_len")) == info["parts"][0]["bitmap_len"]
    assert int(field("status"), 16) == info["status"]
    offsets = re.search(r"NOTE offsets: ((?:[0-9a-f]+ \(\w+\)\s*)+)", text).group(1)
    want = [int(x, 16) for x in re.findall(r"([0-9a-f]+) \(NT_PRSTATUS\)", offsets)]
    assert want == [n.offset for n in d.notes if n.type == 1 and n.name == "CORE"]
    pids = [int(x) for x in re.findall(r"pid: (\d+)\s+ppid", text)]
    assert pids == [parse_prstatus_fields(n.desc)["pid"] for n in d.notes if n.type == 1]


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if any(
    "QEMU" in (d.get("producer") or "") for d in testing.manifest(s)["dumps"])])
def test_qemu_dumps(scenario):
    """QEMU dump-guest-memory (ELF and kdump): per-CPU QEMU notes, numbering by pr_pid,
    CR3 roots that translate like init_top_pgt."""
    m = testing.manifest(scenario)
    for info in m["dumps"]:
        if "QEMU" not in (info.get("producer") or ""):
            continue
        d = dump_of(scenario, info["name"])
        assert d.producer == "qemu"
        assert [c.cpu for c in d.cpus] == list(range(m["cpus"]))
        assert [c.pid for c in d.cpus] == [c + 1 for c in range(m["cpus"])]
        banner = runtime_symbol(scenario, "linux_banner")
        for c in d.cpus:
            assert c.source == "prstatus+qemu" and "cr3" in c.registers
            root = c.registers["cr3"] & ((1 << 52) - 1) & ~0xFFF
            assert d.translate(banner, root).paddr == d.translate(banner).paddr
        assert d.read_cstring(banner).decode() == m["kernel"]["banner"]
