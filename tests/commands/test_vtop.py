"""vtop/ptov/btop/ptob against the manifest's addresses and the guest's /proc/PID/maps."""

from __future__ import annotations

import io
import json

import pytest

from pycrash import testing

SCENARIO = "sysrq"


def _placeholders(scenario: str = SCENARIO) -> dict[str, str]:
    placeholders = testing.manifest(scenario).get("placeholders", {})
    if "linux_banner" not in placeholders or "sleep_pid" not in placeholders:
        pytest.skip(f"{scenario}: no addresses recorded for it")  # e.g. the "live" capture
    return placeholders


@pytest.mark.parametrize("scenario", testing.scenarios())
def test_vtop_kernel_text(run, scenario: str) -> None:
    p = _placeholders(scenario)
    banner, phys = int(p["linux_banner"], 16), int(p["linux_banner_phys"], 16)
    lines = run(f"vtop {p['linux_banner']}", scenario).splitlines()
    assert lines[0] == "VIRTUAL           PHYSICAL        "
    assert lines[1] == f"{banner:<16x}  {phys:<16x}"
    assert lines[3].startswith("PGD DIRECTORY: ")
    # crash names the level below the top one P4D with 5-level paging (la57).
    five_level = testing.manifest(scenario)["paging"] == "5-level"
    assert any(line.startswith("   P4D: ") for line in lines) == five_level
    # The last page-table entry maps the page holding the banner.
    pte = next(line for line in lines if line.startswith("   PTE: ") or "(2MB)" in line)
    assert pte
    assert f"  PAGE: {phys & ~0xFFF:x}" in lines
    flags_line = lines[lines.index("      PTE         PHYSICAL  FLAGS") + 1]
    assert "(PRESENT|" in flags_line and flags_line.endswith("|NX)")
    page_row = lines[-1].split()
    assert int(page_row[1], 16) == phys & ~0xFFF


@pytest.mark.parametrize("scenario", testing.scenarios())
def test_vtop_user_address_vma_matches_maps(run, scenario: str) -> None:
    """vtop -c PID ADDR shows the VMA /proc/PID/maps listed in the guest."""
    p = _placeholders(scenario)
    pid, addr = p["sleep_pid"], int(p["user_addr"], 16)
    maps = testing.manifest(scenario)["ground_truth"]["maps"][pid]
    start, end, path = None, None, None
    for line in maps:
        fields = line.split()
        low, high = (int(x, 16) for x in fields[0].split("-"))
        if low <= addr < high:
            start, end, path = low, high, fields[-1]
    lines = run(f"vtop -c {pid} {p['user_addr']}", scenario).splitlines()
    assert lines[0] == "VIRTUAL     PHYSICAL        "
    vma_row = lines[lines.index("      VMA           START       END     FLAGS FILE") + 1]
    fields = vma_row.split()
    assert (int(fields[1], 16), int(fields[2], 16), fields[4]) == (start, end, path)
    assert lines[3].startswith("   PGD: ")
    assert "USER" in lines[lines.index("      PTE         PHYSICAL  FLAGS") + 1]


def test_vtop_not_kernel_address(run) -> None:
    assert run("vtop -k 0x400000") == (
        "VIRTUAL           PHYSICAL        \n400000    (not a kernel virtual address)\n\n")


def test_ptov_btop_ptob(run) -> None:
    p = _placeholders()
    phys = int(p["linux_banner_phys"], 16)
    lines = run(f"ptov {p['linux_banner_phys']}").splitlines()
    vaddr = int(lines[1].split()[0], 16)
    # The direct-map address of the banner reads the same bytes as the banner itself.
    assert run(f"vtop {vaddr:x}").splitlines()[1].split()[1] == f"{phys:x}"
    assert run(f"btop {phys:x}") == f"{phys:x}: {phys >> 12:x}\n"
    assert run("ptob 0x1234") == "1234: 1234000\n"
    assert run("ptob 512") == "200: 200000\n"  # decimal unless it can only be hex


def test_ptov_per_cpu(run) -> None:
    lines = run("ptov 0x10:a").splitlines()
    assert lines[0] == "PER-CPU OFFSET: 10"
    cpus = testing.manifest(SCENARIO)["cpus"]
    assert len(lines) == 2 + cpus


def test_vtop_json(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    p = _placeholders()
    out = io.StringIO()
    Runner(sample_session(SCENARIO), registry, stdout=out, json=True).execute(
        f"vtop {p['linux_banner']}")
    record = json.loads(out.getvalue())[0]
    assert record["paddr"] == int(p["linux_banner_phys"], 16)
    assert record["entries"][-1]["value"] == record["pte"]
    assert record["page"]["paddr"] == record["paddr"] & ~0xFFF


def test_vtop_user_file_offset_matches_maps(run) -> None:
    """Each page of a file mapping either translates or names its file offset, which is the
    maps offset plus the distance into the mapping."""
    p = _placeholders()
    pid = p["sleep_pid"]
    line = next(m for m in testing.manifest(SCENARIO)["ground_truth"]["maps"][pid]
                if "r-xp" in m and m.split()[-1].startswith("/"))
    fields = line.split()
    start, end = (int(x, 16) for x in fields[0].split("-"))
    for addr in range(start, end, max(0x1000, (end - start) // 16 & ~0xFFF)):
        lines = run(f"vtop -c {pid} {addr:x}").splitlines()
        if "(not mapped)" in lines[1]:
            expected = int(fields[2], 16) + (addr - start)
            assert f"FILE: {fields[-1]}  OFFSET: {expected:x}" in lines
        else:
            physical = int(lines[1].split()[1], 16)
            assert int(lines[-1].split()[1], 16) == physical & ~0xFFF  # its struct page row
