"""``log``: the printk buffer, checked against crash's recordings, the guest's own dmesg and
hand-built buffers of the layouts the sample kernel does not use."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest

from pycrash import testing
from pycrash.kernel import printk

sys.path.insert(0, str(Path(__file__).resolve().parent))
import printk_synth  # noqa: E402

SCENARIOS = testing.scenarios()


def _primary(scenario: str) -> str:
    return next(d["name"] for d in testing.manifest(scenario)["dumps"] if d.get("primary"))


def _run(session, line: str, *, json_output: bool = False) -> str:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    status = Runner(session, registry, stdout=out, json=json_output, stderr=err).execute(line)
    assert status == 0, f"{line!r} failed: {err.getvalue().strip()}"
    return out.getvalue()


def _fresh_session(scenario: str, *, with_vmlinux: bool):
    from pycrash.plugins import load_builtins
    from pycrash.session import open_session

    load_builtins(report=lambda message: None)
    paths = testing.dump_paths(scenario, _primary(scenario))
    return open_session(paths, testing.vmlinux_path() if with_vmlinux else None)


def _recorded(scenario: str, cmdline: str) -> str | None:
    try:
        return testing.crash_output(scenario, _primary(scenario), cmdline)
    except (KeyError, FileNotFoundError, LookupError):
        return None


# -- the sample dumps ----------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_log_without_vmlinux_equals_log_with_vmlinux(scenario: str) -> None:
    """No DWARF is needed, or loaded, for ``log``: the output is the same either way."""
    bare = _fresh_session(scenario, with_vmlinux=False)
    if bare.has_debuginfo:
        pytest.skip("a vmlinux was found on this machine for the sample kernel")
    with_vmlinux = _fresh_session(scenario, with_vmlinux=True)
    without = _run(bare, "log")
    with_ = _run(with_vmlinux, "log")
    assert without == with_
    assert not with_vmlinux.prog_loaded, "log loaded the vmlinux DWARF"
    recorded = _recorded(scenario, "log")
    if recorded is not None:
        assert without == recorded


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_log_holds_the_guest_ground_truth(scenario: str, run) -> None:
    """Printk-independent microcheck: what the guest recorded must be in the log."""
    manifest = testing.manifest(scenario)
    text = run("log -t", scenario)
    lines = text.splitlines()
    assert lines[0] == manifest["kernel"]["proc_version"]
    assert f"Command line: {manifest['guest']['cmdline']}" in lines
    truth = manifest["ground_truth"]
    if "items" in truth:
        for item in truth["items"]:
            wanted = (f"pycrash_test: item id={item['id']} name={item['name']} "
                      f"value={item['value']} at ")
            assert any(line.startswith(wanted) for line in lines), wanted
        value = truth["module_globals"]["pycrash_test_value"]
        loaded = (f"pycrash_test: loaded, value={value} sleeper={truth['sleeper_pid']} "
                  f"dstate={truth['dstate_pid']} oops={truth['oops_pid']} ")
        assert any(line.startswith(loaded) for line in lines), loaded
    message = (manifest.get("panic") or {}).get("message")
    if message:
        assert any(message in line for line in lines)


_DMESG_LINE = re.compile(r"^\[\s*(\d+)\.(\d{6})\] \[\s*([TC]\d+)\] (.*)$")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_records_match_makedumpfile_dump_dmesg(scenario: str, sample_session) -> None:
    """The capture kernel's ``makedumpfile --dump-dmesg`` of the same /proc/vmcore."""
    dmesg = testing.sample_root() / scenario / "guest" / "capture-kernel" / "dmesg.txt"
    if not dmesg.exists():
        pytest.skip("no dmesg.txt recorded for this scenario")
    expected = []
    for line in dmesg.read_text(errors="replace").splitlines():
        match = _DMESG_LINE.match(line)
        if match:
            seconds, micros, caller, text = match.groups()
            if text:
                expected.append((int(seconds), int(micros), caller, text))
    records = json.loads(_run(sample_session(scenario), "log", json_output=True))
    got = [(r["ts_nsec"] // 10**9, r["ts_nsec"] % 10**9 // 1000, r["caller"],
            r["text"].split("\n")[0]) for r in records if r["text"]]
    assert len(expected) > 100
    assert got == expected


@pytest.mark.parametrize("option", ["", " -m", " -t", " -d", " -c"])
def test_json_round_trips_to_the_text(option: str, sample_session) -> None:
    """The JSON records, laid out crash's way, give back the text output exactly."""
    session = sample_session("sysrq")
    text = _run(session, f"log{option}")
    records = json.loads(_run(session, "log", json_output=True))
    caller_width = 6 if option == " -c" else None
    rebuilt = []
    for r in records:
        record = printk.PrintkRecord(
            seq=r["seq"], ts_nsec=r["ts_nsec"], level=r["level"], facility=r["facility"],
            flags=0, caller_id=_caller_id(r["caller"]), text=r["text"].encode(),
            dict_entries=tuple(f"{k}={v}".encode() for k, v in r["dict"].items()),
            dataless=False,
        )
        rebuilt.append(printk.crash_log_line(
            record, show_time=option != " -t", caller_width=caller_width,
            show_level=option == " -m", show_dict=option == " -d"))
    assert "".join(rebuilt) == text


def _caller_id(caller: str | None) -> int | None:
    if caller is None:
        return None
    number = int(caller[1:])
    return number | 0x80000000 if caller[0] == "C" else number


@pytest.mark.parametrize("cmdline", ["log -T", "log -m", "log -d", "log -c", "log -tm"])
def test_options_match_crash_recording(cmdline: str, run) -> None:
    recorded = _recorded("sysrq", cmdline)
    if recorded is None:
        pytest.skip(f"crash's output for {cmdline!r} was not recorded")
    assert run(cmdline) == recorded


def test_audit_is_not_in_the_sample_kernel(sample_session) -> None:
    """CONFIG_AUDIT is off in the sample kernel: crash's option_not_supported('a')."""
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    runner = Runner(sample_session("sysrq"), registry, stdout=out, stderr=err)
    status = runner.execute("log -a")
    assert status == 1
    assert "-a option not supported or applicable on this architecture or kernel" in (
        err.getvalue() + out.getvalue())


# -- hand-built buffers -------------------------------------------------------------------


def test_structured_records_walk_the_wrap_marker() -> None:
    """3.5-5.9 ``struct printk_log``: a zero-length record sends the reader to index 0."""
    session = printk_synth.structured_session()
    assert printk.printk_layout(session) == "structured"
    records = printk.get_printk_records(session)
    assert [r.text for r in records] == [b"first", b"second\nline", b"x\x01y"]
    assert [r.level for r in records] == [6, 4, 3]
    text = "".join(printk.crash_log_line(r, show_level=True, show_dict=True) for r in records)
    # crash 8.0.6 -m on this layout shows the low 3 bits of the byte holding "level:3",
    # i.e. of flags (LOG_NEWLINE = 2 here), not the level
    assert text == (
        "[    1.500000] <2>first\n"
        "[    2.000000] <2>second\n"
        "                  line\n"
        "                  SUBSYSTEM=usb\n"
        "                  DEVICE=c189:1\n"
        # dict_len 32: crash tests "dict_len & SHOW_LOG_DICT" (2), so this dict is not shown
        "[   12.345678] <2>x.y\n"
    )


def test_lockless_corner_cases() -> None:
    """Reused descriptors are skipped, data-less ones print an empty line, a block that
    wrapped is read from the ring start, and text_len is clamped to the block."""
    session = printk_synth.lockless_session()
    assert printk.printk_layout(session) == "lockless"
    records = printk.get_printk_records(session)
    assert [r.seq for r in records] == [100, 101, 103]
    text = "".join(printk.crash_log_line(r, caller_width=6, show_dict=True) for r in records)
    assert text == (
        "[    1.000000] [    T1] hello\n"
        "                        SUBSYSTEM=pci\n"
        "                        DEVICE=+pci:0000:00:02.0\n"
        "\n"
        "[    3.000000] [    C1] 0123456789abcdef\n"
    )
    assert records[0].dict == {"SUBSYSTEM": "pci", "DEVICE": "+pci:0000:00:02.0"}
    assert records[2].caller == "C1"


def test_panic_message_prefers_crash_order() -> None:
    """crash looks for "Kernel panic - " before "Oops: " whatever comes first in the log."""
    def rec(text: bytes) -> printk.PrintkRecord:
        return printk.PrintkRecord(0, 0, 0, 0, 0, 0, text)

    records = [rec(b"Oops: 0002 [#1] SMP"), rec(b"Kernel panic - not syncing: Fatal exception")]
    assert printk.crash_panic_message(records) == "Kernel panic - not syncing: Fatal exception"
    assert printk.crash_panic_message([rec(b"BUG: kernel NULL pointer"), rec(b"an Oops")]) \
        == "an Oops"
    assert printk.crash_panic_message([rec(b"nothing here")]) == ""


def test_plain_ring_before_3_5() -> None:
    """The pre-3.5 character ring: oldest byte at log_end, "<N>" prefixes dropped unless -m."""
    session = printk_synth.plain_session()
    assert printk.printk_layout(session) == "plain"
    assert printk.plain_log_text(session) == "llo\nworld\nthird line\nx\n"
    assert printk.plain_log_text(session, show_level=True) == \
        "llo\n<4>world\n<6>third line\n<5>x\n"
    assert [r.text for r in printk.get_printk_records(session)] == \
        [b"llo", b"world", b"third line", b"x"]


def test_log_command_on_the_plain_ring() -> None:
    """crash refuses -T, -d and -t for the pre-3.5 ring; -m keeps the prefixes."""
    from pycrash.api import CommandContext, CommandError, registry

    command_class = registry.get("log")
    if command_class is None:
        from pycrash.plugins import load_builtins

        load_builtins(report=lambda message: None)
        command_class = registry.get("log")
    session = printk_synth.plain_session()

    def log(*argv: str) -> str:
        args = command_class.parse(list(argv))
        command = command_class()
        out = io.StringIO()
        ctx = CommandContext(session=session, out=out, args=args, command=command)
        command.render(ctx, command.run(ctx, args))
        return out.getvalue()

    assert log() == "llo\nworld\nthird line\nx\n"
    assert log("-m") == "llo\n<4>world\n<6>third line\n<5>x\n"
    for flag in ("-T", "-d", "-t"):
        with pytest.raises(CommandError, match=f"^{flag} option not supported"):
            log(flag)


def test_offsets_from_dwarf_when_vmcoreinfo_lacks_them(sample_session) -> None:
    """A dump without VMCOREINFO (e.g. QEMU's without the vmcoreinfo device): the same
    records from the vmlinux types and symbols."""
    from pycrash.core.vmcoreinfo import VmcoreInfo

    real = sample_session("sysrq")

    class BareDump:
        vmcoreinfo = VmcoreInfo("")
        page_size = real.dump.page_size

        def read(self, address: int, size: int, physical: bool = False) -> bytes:
            return real.dump.read(address, size, physical)

    class BareSession:
        dump = BareDump()
        vmcoreinfo = dump.vmcoreinfo
        has_debuginfo = True
        prog = real.prog
        symbol_address = staticmethod(real.symbol_address)

    assert printk.get_printk_records(BareSession()) == printk.get_printk_records(real)


def test_strtab_scan_finds_symbols_and_misses_removed_ones(sample_session) -> None:
    """The quick .strtab check that spares `log` the DWARF: printk_safe buffers were removed
    in 5.15, so the 6.1 sample lacks them; ordinary symbols (tail-merged or not) are found."""
    session = sample_session("sysrq")
    assert printk._vmlinux_mentions(session, ("schedule",))
    assert printk._vmlinux_mentions(session, ("init_task",))
    assert not printk._vmlinux_mentions(session, ("nmi_print_seq", "safe_print_seq"))
