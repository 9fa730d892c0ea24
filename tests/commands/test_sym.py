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


# crash 8.0.6's `sym -l` on sysrq/zlib31, run by hand (`crash -s vmlinux vmcore.zlib31.kdump`
# in the recording's staging directory, no `mod -s` before it): the first lines (zero-based
# per-CPU symbols), the start of the kernel text, and the end with the module part. The whole
# listing (39,730 lines) is too large for the recordings. The module symbols come from the
# module's kallsyms: crash 8.0.6's Elf64_Sym_to_common() turns st_info 0x02/0x12 (local/global
# function) into t/T and every other st_info into '?'; it never reads mod_kallsyms.typetab.
# At equal addresses they keep kallsyms order (pycrash_test_exit before cleanup_module).
CRASH_SYM_L_HEAD = """\
0 (D) __per_cpu_start
0 (D) fixed_percpu_data
1000 (D) cpu_debug_store
2000 (D) irq_stack_backing_store
6000 (D) cpu_tss_rw
"""
CRASH_SYM_L_TEXT_START = """\
1fc00 (d) call_single_queue
1fc40 (d) cfd_data
1fc58 (D) __per_cpu_end
ffffffff9f600000 (T) _stext
ffffffff9f600000 (T) _text
ffffffff9f600000 (T) startup_64
ffffffff9f600060 (T) secondary_startup_64
"""
CRASH_SYM_L_TAIL = """\
ffffffffa0410000 (b) __brk_early_pgt_alloc
ffffffffa0420000 (B) __brk_limit
ffffffffa0420000 (B) _end
ffffffffc023a000 MODULE START: pycrash_test
ffffffffc023a000 (t) pycrash_oops_set
ffffffffc023a040 (T) pycrash_sleeper_wait
ffffffffc023a0e0 (t) pycrash_sleeper_fn
ffffffffc023a100 (T) pycrash_dstate_wait
ffffffffc023a120 (t) pycrash_dstate_fn
ffffffffc023a140 (T) pycrash_do_oops
ffffffffc023a170 (T) pycrash_oops_wait
ffffffffc023a220 (t) pycrash_oops_fn
ffffffffc023a244 (t) pycrash_free_items
ffffffffc023a2bf (t) pycrash_test_exit
ffffffffc023a2bf (T) cleanup_module
ffffffffc023b024 (?) _note_10
ffffffffc023b03c (?) _note_9
ffffffffc023b1a8 (?) __param_oops
ffffffffc023b1e0 (?) __param_str_oops
ffffffffc023b200 (?) pycrash_oops_ops
ffffffffc023b220 (?) pycrash_tree_order
ffffffffc023b240 (?) pycrash_names
ffffffffc023c000 (?) pycrash_dstate_done
ffffffffc023c020 (?) pycrash_wq
ffffffffc023c040 (?) pycrash_items
ffffffffc023c060 (?) pycrash_test_string
ffffffffc023c0a0 (?) pycrash_test_value
ffffffffc023c0a8 (?) __UNIQUE_ID___addressable_cleanup_module178
ffffffffc023c0c0 (?) __this_module
ffffffffc023c3c0 (?) pycrash_oops_task
ffffffffc023c3c8 (?) pycrash_dstate_task
ffffffffc023c3d0 (?) pycrash_sleeper_task
ffffffffc023c3d8 (?) pycrash_null_item
ffffffffc023c3e0 (?) pycrash_oops_wakeups
ffffffffc023c3e8 (?) pycrash_dstate_wakeups
ffffffffc023c3f0 (?) pycrash_sleeper_wakeups
ffffffffc023c3f8 (?) pycrash_tree
ffffffffc023c400 (?) pycrash_items_by_id
ffffffffc023c428 (?) pycrash_oops_requested
ffffffffc023e000 MODULE END: pycrash_test
"""
START_KERNEL_MAP = 0xFFFFFFFF80000000


def _crash_symbol_name(name: str) -> str:
    """crash's strip_symbol_end(): cut at the first ".isra.", else ".part.", else ".llvm."."""
    for clutter in (".isra.", ".part.", ".llvm."):
        if clutter in name:
            return name[: name.index(clutter)]
    return name


@pytest.fixture(scope="module")
def sym_l(sample_session) -> list[str]:
    """pycrash's `sym -l` on the primary sysrq dump, as in a fresh session (no `mod -s`)."""
    from pycrash.api import registry
    from pycrash.runner import Runner

    session = sample_session(SCENARIO, "zlib31")
    session.reset_user_state()
    out = io.StringIO()
    assert Runner(session, registry, stdout=out).execute("sym -l") == 0
    return out.getvalue().splitlines()


def test_sym_l_holds_system_map_in_order(sym_l: list[str]) -> None:
    """Every System.map symbol, moved by the dump's KASLR offset, is a `sym -l` line in
    crash's format, and they come in System.map's (nm -n) order. crash adds what nm's map
    leaves out (section symbols, .LC labels) and drops the absolute symbols below _text."""
    kaslr = int(_manifest()["kaslr_offset"], 16)
    assert testing.dump_info(SCENARIO, "zlib31")["primary"]
    position = 0
    checked = 0
    for value, letter, name in _system_map():
        if value < START_KERNEL_MAP and letter in "aA":
            continue  # crash keeps nothing below _text but the zero-based per-CPU symbols
        address = value + kaslr if value >= START_KERNEL_MAP else value
        line = f"{address:x} ({letter}) {_crash_symbol_name(name)}"
        try:
            position = sym_l.index(line, position) + 1
        except ValueError:
            where = "at all" if line not in sym_l else "after the line before it"
            pytest.fail(f"System.map's {name!r}: {line!r} not in sym -l {where}")
        checked += 1
    assert checked > 30000


def test_sym_l_matches_crash_excerpts(sym_l: list[str]) -> None:
    """The head, the start of the kernel text and the module part, as crash printed them."""
    text = "\n".join(sym_l) + "\n"
    assert text.startswith(CRASH_SYM_L_HEAD)
    assert CRASH_SYM_L_TEXT_START in text
    assert text.endswith(CRASH_SYM_L_TAIL)


def test_sym_m_without_object_is_kallsyms(run, sample_session) -> None:
    """Without `mod -s`, `sym -M` is crash's module part of `sym -l` (kallsyms letters)."""
    sample_session(SCENARIO, "zlib31").reset_user_state()
    module_part = CRASH_SYM_L_TAIL[CRASH_SYM_L_TAIL.index("ffffffffc023a000 MODULE START"):]
    assert run("sym -M", SCENARIO, "zlib31") == module_part
    assert run("sym -q pycrash_test_", SCENARIO, "zlib31") == (
        "ffffffffc023a2bf (t) pycrash_test_exit [pycrash_test]\n"
        "ffffffffc023c060 (?) pycrash_test_string [pycrash_test]\n"
        "ffffffffc023c0a0 (?) pycrash_test_value [pycrash_test]\n"
    )
