"""``dis``: against the guest's /proc/kallsyms (manifest ground truth) and gdb's own text.

Whole-output parity with crash 8.0.6 is in tests/parity/dis.txt; these check addresses and
targets against the kernel's own symbol values, the options crash has, and the AT&T rules
(the expected instruction texts are gdb 10.2's, as crash 8.0.6 printed them on the sysrq
dump).
"""

from __future__ import annotations

import io
import json
import re

import pytest

from pycrash import testing

SCENARIOS = ("sysrq", "oops", "la57", "live")
LINE = re.compile(r"^0x([0-9a-f]+) <([^>]+)>:\t(.*)$")


def _lines(output: str) -> list[tuple[int, str, str]]:
    found = []
    for text in output.splitlines():
        match = LINE.match(text)
        assert match, f"not a dis line: {text!r}"
        found.append((int(match.group(1), 16), match.group(2), match.group(3)))
    return found


def _ground(scenario: str, name: str, table: str = "module_kallsyms") -> int:
    return int(testing.manifest(scenario)["ground_truth"][table][name]["address"], 16)


def _run_status(sample_session, cmdline: str, scenario: str = "sysrq") -> tuple[int, str, str]:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    status = Runner(sample_session(scenario), registry, stdout=out, stderr=err).execute(cmdline)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_module_function_starts_at_its_kallsyms_address(run, scenario: str) -> None:
    lines = _lines(run("dis pycrash_do_oops", scenario))
    assert lines[0][0] == _ground(scenario, "pycrash_do_oops")
    assert lines[0][1] == "pycrash_do_oops"
    # offsets count the bytes from the function's start
    for address, where, _text in lines[1:]:
        assert where == f"pycrash_do_oops+{address - lines[0][0]}"
    # the %rip-relative load of pycrash_null_item names it, at the guest's address
    loads = [text for _a, _w, text in lines if "(%rip)" in text and "pycrash_null_item" in text]
    assert loads, lines
    target = int(loads[0].split("# 0x")[1].split()[0], 16)
    assert target == _ground(scenario, "pycrash_null_item")
    # a whole function ends with its last instruction: a tail jump to _printk
    assert lines[-1][2].startswith("jmp    ") and lines[-1][2].endswith("<_printk>")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_call_target_is_the_guests_schedule(run, scenario: str) -> None:
    lines = _lines(run("dis pycrash_sleeper_wait", scenario))
    schedule = _ground(scenario, "schedule", "kallsyms")
    calls = [text for _a, _w, text in lines if text.endswith("<schedule>")]
    assert calls == [f"call   0x{schedule:x} <schedule>"]


def test_count_from_an_address(run) -> None:
    schedule = _ground("sysrq", "schedule", "kallsyms")
    lines = _lines(run(f"dis 0x{schedule:x} 3"))
    assert [where for _a, where, _t in lines] == ["schedule", "schedule+1", "schedule+4"]
    # gdb's text, as crash printed it (sample-dumps/sysrq/crash/zlib31/120.out)
    assert [text for _a, _w, text in lines] == ["push   %rbp", "mov    %rsp,%rbp",
                                                "push   %r12"]


def test_reverse_and_forward(run) -> None:
    schedule = _ground("sysrq", "schedule", "kallsyms")
    reverse = _lines(run("dis -r schedule+21"))
    assert reverse[0][:2] == (schedule, "schedule")
    assert reverse[-1][:2] == (schedule + 21, "schedule+21")
    assert len(_lines(run("dis -r schedule+21 3"))) == 3
    forward = _lines(run("dis -f schedule+21"))
    assert forward[0][:2] == (schedule + 21, "schedule+21")
    whole = _lines(run("dis schedule"))
    assert forward[-1] == whole[-1]
    assert whole[: len(reverse)] == reverse


def test_hex_offsets(run) -> None:
    assert [w for _a, w, _t in _lines(run("dis -x schedule 3"))] == [
        "schedule", "schedule+0x1", "schedule+0x4"]


def test_source_lines_before_changed_lines(run) -> None:
    out = run("dis -l schedule 8").splitlines()
    assert out[0].endswith("/arch/x86/include/asm/current.h: 15")
    assert sum(1 for line in out if not line.startswith("0x")) == 2


def test_unknown_symbol_lists_alternatives(run) -> None:
    assert run("dis pycrash_no_such_function") == (
        "symbol not found: pycrash_no_such_function\npossible alternatives:\n  (none found)\n")


@pytest.mark.parametrize(("cmdline", "message"), [
    ("dis schedule 0", "pycrash: dis: invalid count argument: 0"),
    ("dis -r -f schedule+21", "pycrash: dis: -r and -f are mutually exclusive"),
    ("dis -s schedule", "pycrash: dis: option -s is not supported"),
    ("dis -U schedule", "pycrash: dis: option -U is not supported"),
    # crash 8.0.6 on this dump: the user page was filtered out by makedumpfile
    ("dis -u 0x400000 2", "pycrash: dis: page excluded: user virtual address: 400000  "
                          'type: "gdb_readmem_callback"'),
])
def test_errors_are_one_line(sample_session, cmdline: str, message: str) -> None:
    status, out, err = _run_status(sample_session, cmdline)
    assert status == 1 and out == ""
    assert err.strip() == message


def test_json_records(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out = io.StringIO()
    session = sample_session("sysrq")
    Runner(session, registry, stdout=out, stderr=out, json=True).execute("dis schedule 2")
    records = json.loads(out.getvalue())
    schedule = _ground("sysrq", "schedule", "kallsyms")
    assert [r["address"] for r in records] == [schedule, schedule + 1]
    assert records[1]["instruction"] == "mov    %rsp,%rbp"


# (bytes, gdb 10.2's text) from crash 8.0.6's "dis" of do_exit, copy_process, memset and
# jiffies on the sysrq dump: where capstone's AT&T spelling differs from gdb's.
GDB_TEXT = [
    ("9c", "pushf  "),
    ("488d78ff", "lea    -0x1(%rax),%rdi"),
    ("f348ab", "rep stos %rax,%es:(%rdi)"),
    ("f3aa", "rep stos %al,%es:(%rdi)"),
    ("f348a5", "rep movsq %ds:(%rsi),%es:(%rdi)"),
    ("a7", "cmpsl  %es:(%rdi),%ds:(%rsi)"),
    ("0f1f440000", "nopl   0x0(%rax,%rax,1)"),
    ("65488b1c2500ac0100", "mov    %gs:0x1ac00,%rbx"),
    ("48c74340dec0ad0b", "movq   $0xbadc0de,0x40(%rbx)"),
    ("c3", "ret    "),
    # memmove+180, memmove+191, copy_page, __sw_hweight64+15
    ("66662e0f1f840000000000", "data16 nopw %cs:0x0(%rax,%rax,1)"),
    ("90", "nop"),
    ("6690", "xchg   %ax,%ax"),
    ("48d1ea", "shr    %rdx"),
    # acpi_processor_ffh_cstate_enter, futex_requeue, per_cpu_pages_init,
    # quirk_disable_broadcom_boot_interrupt, ioread64be_hi_lo, startup_64_setup_env
    ("0f01c8", "monitor %rax,%ecx,%edx"),
    ("0f01c9", "mwait  %eax,%ecx"),
    ("f0ff0b", "lock decl (%rbx)"),
    ("f0ff4d00", "lock decl 0x0(%rbp)"),
    ("f3ab", "rep stos %eax,%es:(%rdi)"),
    ("ee", "out    %al,(%dx)"),
    ("ed", "in     (%dx),%eax"),
    ("0f0118", "lidt   (%rax)"),
]


@pytest.mark.parametrize(("code", "text"), GDB_TEXT)
def test_gdb_spelling(code: str, text: str) -> None:
    from pycrash.kernel.disasm import disassemble

    (insn,) = disassemble(bytes.fromhex(code), 0xFFFFFFFF81000000)
    assert insn.text == text


def test_bug_bytes(run) -> None:
    # crash 8.0.6 on the sysrq dump: a 6.1 kernel keeps BUG() data in __bug_table
    assert run("dis -b") == "encoded bytes being skipped after ud2a: 0\n"
    try:
        assert run("dis -b 3") == ""
        assert run("dis -b") == "encoded bytes being skipped after ud2a: 3\n"
    finally:
        run("dis -b 0")


def test_bytes_after_ud2_are_skipped() -> None:
    from pycrash.kernel.disasm import disassemble

    code = bytes.fromhex("0f0b" "ffffff" "c3")
    insns = disassemble(code, 0x1000, bug_bytes=3)
    assert [(i.address, i.text) for i in insns] == [(0x1000, "ud2    "), (0x1005, "ret    ")]


def test_duplicate_text_symbols(run) -> None:
    # crash 8.0.6 on the sysrq dump ("dis inv_show")
    assert run("dis inv_show") == """\
dis: inv_show: duplicate text symbols found:
ffffffff9f606200 (t) inv_show /usr/src/linux-6.1/arch/x86/events/amd/core.c: 1014
ffffffff9f609660 (t) inv_show /usr/src/linux-6.1/arch/x86/events/intel/core.c: 4525
ffffffff9f610030 (t) inv_show /usr/src/linux-6.1/arch/x86/events/intel/knc.c: 278
ffffffff9f612790 (t) inv_show /usr/src/linux-6.1/arch/x86/events/intel/p6.c: 188
ffffffff9f61cd10 (t) inv_show /usr/src/linux-6.1/arch/x86/events/zhaoxin/core.c: 440
"""


def test_local_labels_are_not_named(run) -> None:
    # crash 8.0.6 on the sysrq dump: gdb names no ".LC0" string label
    assert run("dis acpi_ec_space_handler+390 1") == (
        "0xffffffff9f8000b6 <acpi_ec_space_handler+390>:\t"
        "movzwl 0x6e1479(%rip),%ecx        # 0xffffffff9fee1536\n")


def test_unreadable_text_is_crashs_read_error(sample_session) -> None:
    # memblock_isolate_range is __init text, freed after boot and not in the dump
    status, out, err = _run_status(sample_session, "dis memblock_isolate_range")
    assert status == 1 and out == ""
    assert err.strip() == ("pycrash: dis: page excluded: kernel virtual address: "
                           'ffffffffa026c06a  type: "gdb_readmem_callback"')
