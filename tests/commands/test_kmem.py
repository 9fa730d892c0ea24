"""``kmem``: memory totals against the guest's own /proc/meminfo, task_structs of the guest's
processes in the SLUB task_struct cache, crash's recorded ``kmem -s``/``kmem -p`` lines, and
the one-line refusals and errors."""

from __future__ import annotations

import io
import json
import re

import pytest

from pycrash import testing

SCENARIOS = testing.scenarios()


def _execute(session, cmdline: str, as_json: bool = False) -> tuple[int, str, str]:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    status = Runner(session, registry, stdout=out, stderr=err, json=as_json).execute(cmdline)
    return status, out.getvalue(), err.getvalue()


def _json(session, cmdline: str):
    status, out, err = _execute(session, cmdline, as_json=True)
    assert status == 0, err
    return json.loads(out)


def _proc_meminfo(scenario: str) -> dict[str, int]:
    path = testing.sample_root() / scenario / "guest" / "first-kernel" / "meminfo.txt"
    if not path.exists():
        pytest.skip(f"{scenario}: no meminfo.txt")
    values = {}
    for line in path.read_text().splitlines():
        match = re.match(r"(\S+):\s+(\d+)", line)
        if match:
            values[match[1]] = int(match[2])
    return values


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_meminfo_totals_match_proc_meminfo(scenario: str, sample_session) -> None:
    """MemTotal and SwapTotal do not change while the guest runs: kmem -i must equal them."""
    session = sample_session(scenario)
    proc = _proc_meminfo(scenario)
    info = _json(session, "kmem -i")
    kb_per_page = session.dump.page_size // 1024
    assert info["total"] * kb_per_page == proc["MemTotal"]
    assert info["swap_total"] * kb_per_page == proc["SwapTotal"]
    assert 0 < info["free"] < info["total"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_process_task_structs_are_allocated_task_struct_objects(scenario: str,
                                                                sample_session) -> None:
    """Each guest process alive in the dump has its task_struct allocated in "task_struct"."""
    from pycrash.kernel.tasks import task_table

    session = sample_session(scenario)
    table = task_table(session)
    checked = 0
    for process in testing.manifest(scenario)["ground_truth"]["processes"]:
        tasks = [t for t in table.pid(process["pid"]) if t.comm == process["comm"]]
        if not tasks:
            continue  # exited before the dump was taken
        (record,) = _json(session, f"kmem {tasks[0].task:#x}")
        assert record["slab"]["cache"]["name"] == "task_struct"
        assert record["slab"]["object"] == tasks[0].task
        assert record["slab"]["object_allocated"] is True
        assert record["task"] == tasks[0].task
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_task_struct_cache_counts_cover_the_processes(scenario: str, sample_session) -> None:
    """Every ground-truth process still in the dump is one allocated task_struct object, and
    the cache's figures are consistent with its slabs."""
    from pycrash.kernel.tasks import task_table

    session = sample_session(scenario)
    table = task_table(session)
    alive = [p for p in testing.manifest(scenario)["ground_truth"]["processes"]
             if any(t.comm == p["comm"] for t in table.pid(p["pid"]))]
    (cache,) = _json(session, "kmem -s task_struct")
    assert cache["allocated"] >= len(alive)
    assert cache["allocated"] <= cache["total"]
    assert cache["total"] % cache["slabs"] == 0


def test_kmem_s_lines_match_crash(sample_session) -> None:
    """The kmem -s lines crash recorded for task_struct, on every scenario's primary dump."""
    for scenario in SCENARIOS:
        dumps = [d["name"] for d in testing.manifest(scenario)["dumps"] if d.get("primary")]
        for dumpname in dumps:
            try:
                expected = testing.crash_output(scenario, dumpname, "kmem -s task_struct")
            except KeyError:
                continue
            _, out, _ = _execute(sample_session(scenario, dumpname), "kmem -s task_struct")
            assert out == expected


@pytest.mark.parametrize("option", ["-f", "-F", "-c", "-C", "-n",
                                    "-S", "-r", "-P"])
def test_unsupported_options_are_refused_in_one_line(option: str, sample_session) -> None:
    status, out, err = _execute(sample_session("sysrq"), f"kmem {option}")
    assert status != 0 and out == ""
    assert err == f"pycrash: kmem: option {option} is not supported\n"


def test_errors_are_one_line(sample_session) -> None:
    session = sample_session("sysrq")
    for cmdline, message in (
        ("kmem -s no_such_cache", "invalid slab cache name: no_such_cache"),
        ("kmem -s kmalloc-64 task_struct", "only one kmem_cache reference is allowed"),
    ):
        status, out, err = _execute(session, cmdline)
        assert status != 0 and out == ""
        assert err == f"pycrash: kmem: {message}\n"


def test_vm_stat_json_has_the_kernel_counters(sample_session) -> None:
    """-V --json: the NR_FREE_PAGES counter equals kmem -i's FREE (both the zone counter)."""
    session = sample_session("sysrq")
    tables = _json(session, "kmem -V")
    assert tables["VM_ZONE_STAT"]["NR_FREE_PAGES"] == _json(session, "kmem -i")["free"]


def test_whole_mem_map_holds_crash_page_line(sample_session) -> None:
    """kmem -p lists every page: crash's recorded line for linux_banner's page is among them,
    and there are at least as many pages as /proc/meminfo's MemTotal."""
    scenario = "sysrq"
    dumpname = next(d["name"] for d in testing.manifest(scenario)["dumps"] if d.get("primary"))
    phys = testing.manifest(scenario)["placeholders"]["linux_banner_phys"]
    header, banner_line = testing.crash_output(scenario, dumpname,
                                               f"kmem -p {phys}").splitlines()
    session = sample_session(scenario, dumpname)
    _, out, _ = _execute(session, "kmem -p")
    lines = out.splitlines()
    assert lines[0] == header
    assert banner_line in lines
    assert (len(lines) - 1) * session.dump.page_size // 1024 >= _proc_meminfo(scenario)["MemTotal"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_per_cpu_offsets_one_per_guest_cpu(scenario: str, sample_session) -> None:
    """kmem -o: one online offset per processor of the guest's /proc/cpuinfo, each distinct."""
    path = testing.sample_root() / scenario / "guest" / "first-kernel" / "cpuinfo.txt"
    processors = sum(1 for line in path.read_text().splitlines()
                     if line.startswith("processor"))
    records = _json(sample_session(scenario), "kmem -o")
    assert [r["cpu"] for r in records] == list(range(processors))
    assert all(r["online"] for r in records)
    assert len({r["offset"] for r in records}) == processors


def test_page_flag_bits_name_crash_page_flags(sample_session) -> None:
    """kmem -g FLAGS names the bits crash's recorded kmem -p line shows ("1000 reserved")."""
    scenario = "sysrq"
    dumpname = next(d["name"] for d in testing.manifest(scenario)["dumps"] if d.get("primary"))
    phys = testing.manifest(scenario)["placeholders"]["linux_banner_phys"]
    fields = testing.crash_output(scenario, dumpname, f"kmem -p {phys}").splitlines()[1].split()
    flags, names = fields[5], fields[6].split(",")
    records = _json(sample_session(scenario), f"kmem -g {flags}")
    assert [r["name"] for r in records] == [f"PG_{name}" for name in names]
    assert sum(r["value"] for r in records) == int(flags, 16)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_free_objects_of_the_panic_task_slab(scenario: str, sample_session) -> None:
    """The panic task's slab (crash's recorded kmem line): every object of the slab is either
    allocated or free, crash's ALLOCATED of them are allocated, and a free one is shown free."""
    dumpname = next(d["name"] for d in testing.manifest(scenario)["dumps"] if d.get("primary"))
    task = testing.manifest(scenario)["placeholders"]["panic_task"]
    recorded = testing.crash_output(scenario, dumpname, f"kmem {task}").splitlines()
    if len(recorded) < 4 or not recorded[2].startswith("  SLAB"):
        pytest.skip(f"{scenario}: the panic task is not a slab object")
    _, memory, _, total, allocated, free = recorded[3].split()
    session = sample_session(scenario, dumpname)
    (cache,) = _json(session, "kmem -s task_struct")
    size = cache["total"] // cache["slabs"]
    assert size == int(total)
    states = []
    for i in range(size):
        (record,) = _json(session, f"kmem -s {int(memory, 16) + i * cache['objsize']:#x}")
        states.append(record["object_allocated"])
    assert states.count(True) == int(allocated) and states.count(False) == int(free)


def test_one_flag_only(sample_session) -> None:
    status, out, err = _execute(sample_session("sysrq"), "kmem -V -i")
    assert status != 0 and out == ""
    assert err == "pycrash: kmem: only one flag allowed!\n"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_zones_hold_the_guest_memory(scenario: str, sample_session) -> None:
    """kmem -z: the populated zones' present pages hold /proc/meminfo's MemTotal (totalram is
    present pages less reserved ones), and their free counters its order of magnitude."""
    session = sample_session(scenario)
    zones = _json(session, "kmem -z")
    kb_per_page = session.dump.page_size // 1024
    present = sum(z["present"] for z in zones)
    assert present * kb_per_page >= _proc_meminfo(scenario)["MemTotal"]
    assert any(z["name"] == "DMA32" and z["spanned"] for z in zones)
    for zone in zones:
        low, mid, high = zone["watermarks"]
        assert low <= mid <= high


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_hstates_as_proc_meminfo(scenario: str, sample_session) -> None:
    """kmem -h: without hugetlbfs in the kernel (no HugePages_Total in /proc/meminfo) crash's
    one line; with it, the total of the default size's hstate."""
    proc = _proc_meminfo(scenario)
    status, out, err = _execute(sample_session(scenario), "kmem -h")
    if "HugePages_Total" not in proc:
        assert status != 0 and err == "pycrash: kmem: hstates[] array does not exist\n"
    else:
        assert status == 0 and out.startswith("     HSTATE")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_vmalloc_area_holds_the_module(scenario: str, sample_session) -> None:
    """kmem -v ADDR: the module's base from the guest's /proc/modules lies in one vmap area
    (module memory is vmalloc'ed in the modules range)."""
    lines = testing.manifest(scenario)["ground_truth"].get("proc_modules") or []
    if not lines:
        pytest.skip(f"{scenario}: no module loaded")
    base = int(lines[0].split()[5], 16)
    session = sample_session(scenario)
    (area,) = _json(session, f"kmem -v {base:#x}")
    assert area["start"] <= base < area["end"]
    assert area["vm_struct"]
    everything = _json(session, "kmem -v")
    assert area in everything
    starts = [a["start"] for a in everything]
    assert starts == sorted(set(starts))


def test_search_of_a_module_address_names_its_vmap_area(sample_session) -> None:
    """kmem ADDR in a module: crash's symbol line, then the vmap area holding it."""
    scenario = "sysrq"
    base = int(testing.manifest(scenario)["ground_truth"]["proc_modules"][0].split()[5], 16)
    (record,) = _json(sample_session(scenario), f"kmem {base:#x}")
    (area,) = record["vmalloc"]
    assert area["start"] <= base < area["end"]
    assert "slab" not in record
