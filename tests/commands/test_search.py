"""``search``: matches against the manifest's ground truth (the test module's
``pycrash_test_value`` lies at ``module_data``; ``linux_banner`` starts with "Linux" at the
recorded virtual and physical addresses), and the options pycrash refuses."""

from __future__ import annotations

import io
import json

import pytest

from pycrash import testing

SCENARIOS = testing.scenarios()
LINU = "756e694c"  # "Linu" as a little-endian u32


def _json(session, cmdline: str) -> list[dict]:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out = io.StringIO()
    assert Runner(session, registry, stdout=out, json=True).execute(cmdline) == 0
    return json.loads(out.getvalue())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_vmalloc_search_finds_the_module_value(scenario: str, sample_session) -> None:
    placeholders = testing.manifest(scenario)["placeholders"]
    value = int(testing.manifest(scenario)["ground_truth"]["module_globals"][
        "pycrash_test_value"], 16)
    module_data = int(placeholders["module_data"], 16)
    # -V: vmalloc'ed memory only, where module memory lives
    records = _json(sample_session(scenario), f"search -V {value:x}")
    assert {r["address"] for r in records} == {module_data}
    assert all(r["value"] == value for r in records)


def test_unity_search_leaves_module_memory_out(sample_session) -> None:
    placeholders = testing.manifest("sysrq")["placeholders"]
    value = placeholders["pycrash_test_value_hex"]
    records = _json(sample_session("sysrq"), f"search -K {value}")
    assert int(placeholders["module_data"], 16) not in {r["address"] for r in records}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_banner_is_found_virtually_and_physically(scenario: str, run) -> None:
    placeholders = testing.manifest(scenario)["placeholders"]
    banner = int(placeholders["linux_banner"], 16)
    phys = int(placeholders["linux_banner_phys"], 16)
    # kernel text lies inside both crash's vmalloc range (vmalloc_base .. the last module)
    # and its start map, and crash reads an arithmetically mapped start in both: twice
    assert run(f"search -s {banner:x} -l 8 -w {LINU}", scenario) == 2 * f"{banner:x}: {LINU} \n"
    assert run(f"search -p -s {phys:x} -l 8 -w {LINU}", scenario) == f"{phys:x}: {LINU} \n"


def test_expressions_are_labelled_and_masks_ignore_bits(run) -> None:
    banner = int(testing.manifest("sysrq")["placeholders"]["linux_banner"], 16)
    assert run(f"search -s {banner:x} -l 8 -w ({LINU}&ffffffff)") == 2 * (
        f"{banner:x}: {LINU} ({LINU}&ffffffff)\n")
    # the low 16 bits masked off: "Li" no longer matters, the word shows as it is
    assert run(f"search -s {banner:x} -l 8 -m ffff -w 756e0000") == 2 * f"{banner:x}: {LINU} \n"
    assert run(f"search -s {banner:x} -l 8 -w 756e0000") == ""


@pytest.mark.parametrize(("cmdline", "message"), [
    ("search -c -x 1 linux", "search: -x option is not allowed with -c"),
    ("search -e 0 1", "search: invalid ending address: 0"),
    ("search -s 1000 1", "search: invalid kernel virtual address: 1000"),
    ("search -w 1ffffffff", "search: value too large for -w option: 1ffffffff"),
])
def test_refusals_are_one_line(cmdline: str, message: str, sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    assert Runner(sample_session("sysrq"), registry, stdout=out, stderr=err).execute(
        cmdline) != 0
    assert err.getvalue().strip().splitlines() == [f"pycrash: {message}"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_stack_search_finds_the_sleeper_in_its_own_stack(scenario: str, sample_session) -> None:
    placeholders = testing.manifest(scenario)["placeholders"]
    pid = int(testing.manifest(scenario)["ground_truth"]["sleeper_pid"])
    task = int(placeholders["sleeper_task"], 16)
    # a sleeping task's schedule() frames keep its own task_struct pointer (current)
    records = _json(sample_session(scenario), f"search -t {task:x}")
    assert any(r["pid"] == pid and r["task"] == task for r in records)
    assert all(r["value"] == task for r in records)


def test_stack_search_takes_no_range(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    err = io.StringIO()
    assert Runner(sample_session("sysrq"), registry, stdout=io.StringIO(), stderr=err).execute(
        "search -t -s ffffffff81000000 0") != 0
    assert err.getvalue().splitlines() == [
        "pycrash: search: -t option cannot be used with other memory-selection options"]


def test_context_shows_the_neighbouring_module_data(run) -> None:
    placeholders = testing.manifest("sysrq")["placeholders"]
    value = int(placeholders["pycrash_test_value_hex"], 16)
    module_data = int(placeholders["module_data"], 16)
    lines = run(f"search -V -x 1 -w {value & 0xffffffff:x}").splitlines()
    # the u64's low half matches; its high half is the next u32 (little-endian)
    assert lines[1] == f"{module_data:16x}:  {value & 0xffffffff:x} "
    assert lines[2].startswith(f"{module_data + 4:x}:  {value >> 32:08x} ")
    assert lines[3] == ""


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_string_search_finds_the_module_string(scenario: str, sample_session) -> None:
    truth = testing.manifest(scenario)["ground_truth"]
    string = truth["module_globals"]["pycrash_test_string"]
    sections = {name: int(address, 16) for name, address in truth["module_sections"].items()}
    records = _json(sample_session(scenario), f'search -V -c "{string[:19]}"')
    # in the module's .data (pycrash_test_string is an initialized char array), shown with
    # the rest of the string (crash shows up to 56 characters from the match)
    hits = [r for r in records if sections[".data"] <= r["address"] < sections[".bss"]]
    assert len(hits) == 1 and hits[0]["text"].startswith(string)


def test_user_search_finds_the_elf_header_of_busybox(sample_session) -> None:
    """On the live dump (user pages kept), the sleep process maps /bin/busybox at
    offset 0 at the first line of its maps: the ELF magic "\\x7fELF" is there."""
    from pycrash.api import registry
    from pycrash.runner import Runner

    truth = testing.manifest("live")["ground_truth"]
    pid = truth["roles"]["sleep"]
    first = truth["maps"][str(pid)][0].split()
    start = int(first[0].split("-")[0], 16)
    assert first[2] == "00000000" and first[-1] == "/bin/busybox"
    session = sample_session("live")
    out = io.StringIO()
    try:
        runner = Runner(session, registry, stdout=out, stderr=out)
        assert runner.execute(f"set {pid}") == 0
        out.truncate(0)
        out.seek(0)
        assert runner.execute(f"search -u -s {start:x} -l 8 -w 464c457f") == 0
    finally:
        session.reset_user_state()
    assert out.getvalue() == f"{start:x}: 464c457f \n"


def test_user_search_needs_a_user_context(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    session = sample_session("sysrq")
    err = io.StringIO()
    try:
        runner = Runner(session, registry, stdout=io.StringIO(), stderr=err)
        assert runner.execute("set 0") == 0
        assert runner.execute("search -u 0") != 0
    finally:
        session.reset_user_state()
    assert err.getvalue().splitlines() == [
        "pycrash: search: current context has no user address space"]
