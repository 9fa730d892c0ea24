"""sym: the symbol table against nm's System.map, the guest's /proc/kallsyms and crash's own
recordings."""

from __future__ import annotations

import io
import json

import pytest

from pycrash import testing
from pycrash.kernel.symbols import symbol_table

SCENARIO = "sysrq"


def _manifest() -> dict:
    return testing.manifest(SCENARIO)


def _system_map() -> list[tuple[int, str, str]]:
    entries = []
    with open(testing.system_map_path()) as f:
        for line in f:
            value, letter, name = line.split()
            entries.append((int(value, 16), letter, name))
    return entries


@pytest.fixture(scope="module")
def table(sample_session):
    return symbol_table(sample_session(SCENARIO))


def test_kernel_letters_and_addresses_match_system_map(table) -> None:
    """Every symbol nm put in System.map once has nm's letter and address (+ KASLR) here."""
    kaslr = int(_manifest()["kaslr_offset"], 16)
    seen: dict[str, list[tuple[int, str]]] = {}
    for value, letter, name in _system_map():
        seen.setdefault(name, []).append((value, letter))
    checked = 0
    for name, entries in seen.items():
        if len(entries) != 1 or "." in name:
            continue
        value, letter = entries[0]
        if value < 0xFFFFFFFF80000000 and letter not in "dD":
            continue  # absolute values: crash keeps nothing below _text but per-CPU symbols
        ours = table.lookup(name)
        assert ours, f"{name} missing"
        expected = value + kaslr if value >= 0xFFFFFFFF80000000 else value
        # Several of ours when crash cut a ".part.N"-style suffix off another symbol.
        assert (expected, letter) in {(s.address, s.type) for s in ours}, name
        checked += 1
    assert checked > 20000


def test_kallsyms_addresses(run) -> None:
    """`sym NAME` prints the address the guest's /proc/kallsyms showed."""
    for name, info in _manifest()["ground_truth"]["kallsyms"].items():
        address = int(info["address"], 16)
        if address < 0xFFFFFFFF80000000:
            continue  # per-CPU offsets: kallsyms shows them absolute
        first = run(f"sym {name}").splitlines()[0]
        assert first.startswith(f"{address:x} (") and f") {name}" in first, first


def test_address_plus_offset(run) -> None:
    schedule = int(_manifest()["ground_truth"]["kallsyms"]["schedule"]["address"], 16)
    line = run(f"sym {schedule + 0x10:x}").splitlines()[0]
    # crash shows the offset in the output radix: decimal by default.
    assert line.startswith(f"{schedule + 0x10:x} (T) schedule+16 ")


def test_module_symbols_from_kallsyms(run) -> None:
    """`sym -m` lists each of the module's kallsyms symbols at its guest address."""
    text = run("sym -m pycrash_test")
    listed = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].startswith("("):
            listed[parts[2]] = int(parts[0], 16)
    truth = _manifest()["ground_truth"]["module_kallsyms"]
    for name, info in truth.items():
        assert listed.get(name) == int(info["address"], 16), name
    base = int(_manifest()["ground_truth"]["proc_modules"][0].split()[-2], 16)
    assert text.splitlines()[0] == f"{base:x} MODULE START: pycrash_test"


def test_not_found_and_query(run) -> None:
    assert run("sym no_such_symbol_xyz") == (
        "symbol not found: no_such_symbol_xyz\npossible alternatives:\n  (none found)\n")
    lines = run("sym -q linux_banne").splitlines()
    assert any(line.endswith(" linux_banner") for line in lines)


def test_prev_next(run, table) -> None:
    """-p is the entry before; -n the next symbol at a higher address (jiffies_64 shares
    jiffies's address and is skipped, as crash's next_symbol() does)."""
    jiffies = table.lookup("jiffies")[0]
    assert any(s.address == jiffies.address for s in table.lookup("jiffies_64"))
    lines = run("sym -p -n jiffies").splitlines()
    addresses = [int(line.split()[0], 16) for line in lines]
    assert lines[1].split()[2] == "jiffies"
    assert addresses[0] <= addresses[1] < addresses[2]
    # From the last kernel symbol, -n goes on to the first module symbol.
    module_first = run("sym -m pycrash_test").splitlines()[1]
    assert run("sym -n _end").splitlines()[1] == module_first.split(" [")[0] + " "


def test_json_matches_text(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    session = sample_session(SCENARIO)
    text, js = io.StringIO(), io.StringIO()
    Runner(session, registry, stdout=text).execute("sym schedule jiffies")
    Runner(session, registry, stdout=js, json=True).execute("sym schedule jiffies")
    records = json.loads(js.getvalue())
    lines = text.getvalue().splitlines()
    assert len(records) == len(lines) == 2
    for record, line in zip(records, lines, strict=True):
        assert line.startswith(f"{record['address']:x} ({record['type']}) {record['name']}")


@pytest.mark.parametrize("cmdline", ["sym schedule", "sym linux_banner"])
def test_recorded_by_crash(run, cmdline: str) -> None:
    """Where crash's recording exists, equal to it (line numbers included)."""
    dumpname = next(d["name"] for d in _manifest()["dumps"] if d.get("primary"))
    try:
        expected = testing.crash_output(SCENARIO, dumpname, cmdline)
    except (KeyError, FileNotFoundError):
        pytest.skip("no crash recording yet")
    assert run(cmdline) == expected


def test_listing_options_run_in_command_line_order(run) -> None:
    """crash's getopt loop prints -q/-m/-M/-l output in the order the options were given."""
    query_first = run("sym -q linux_banne -m pycrash_test").splitlines()
    module_first = run("sym -m pycrash_test -q linux_banne").splitlines()
    assert query_first[0].endswith(" linux_banner")
    assert module_first[0].endswith("MODULE START: pycrash_test")
    assert sorted(query_first) == sorted(module_first)


def test_section_option(run) -> None:
    """sym -s shows the section in place of the line: crash matches sections by link address,
    so only the zero-based per-CPU section matches once KASLR moved the kernel."""
    assert run("sym -s fixed_percpu_data") == "0 (D) fixed_percpu_data [.data..percpu]\n"
    if int(_manifest()["kaslr_offset"], 16):
        assert run("sym -s schedule").endswith(" (T) schedule []\n")
    assert run("sym -s pycrash_test_value").endswith(" [in pycrash_test module]\n")
