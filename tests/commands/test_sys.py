"""``sys``: checked against what the guest recorded about itself and crash's recordings."""

from __future__ import annotations

import io
import json
import re

import pytest

from pycrash import testing
from pycrash.kernel import sysinfo

SCENARIOS = testing.scenarios()


def _primary(scenario: str) -> str:
    return next(d["name"] for d in testing.manifest(scenario)["dumps"] if d.get("primary"))


def _guest_file(scenario: str, name: str) -> str | None:
    path = testing.sample_root() / scenario / "guest" / "first-kernel" / name
    return path.read_text() if path.exists() else None


def _fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        label, sep, value = line.partition(": ")
        if sep:
            fields[label.strip()] = value
    return fields


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sys_matches_the_guest(scenario: str, run) -> None:
    manifest = testing.manifest(scenario)
    fields = _fields(run("sys", scenario))
    assert list(fields) == ["KERNEL", "DUMPFILE", "CPUS", "DATE", "UPTIME", "LOAD AVERAGE",
                            "TASKS", "NODENAME", "RELEASE", "VERSION", "MACHINE", "MEMORY",
                            "PANIC"]
    assert fields["RELEASE"] == manifest["kernel"]["release"]
    assert fields["CPUS"] == str(manifest["cpus"])
    # /proc/version: "Linux version RELEASE (builder) (compiler) VERSION"
    assert manifest["kernel"]["proc_version"].endswith(" " + fields["VERSION"])
    uname = _guest_file(scenario, "uname-a.txt")
    if uname:
        # busybox uname -a: sysname nodename release version... machine GNU/Linux
        words = uname.split()
        assert fields["NODENAME"] == words[1]
        assert fields["MACHINE"].split()[0] == words[-2]
    cpuinfo = _guest_file(scenario, "cpuinfo.txt")
    if cpuinfo:
        mhz = next(line.split(":")[1].strip() for line in cpuinfo.splitlines()
                   if line.startswith("cpu MHz"))
        # crash shows cpu_khz / 1000; /proc/cpuinfo shows cpu_khz / 1000 with decimals
        assert fields["MACHINE"].endswith(f"({mhz.split('.')[0]} Mhz)")
    # crash's PANIC is a whole log line holding one of its panic strings ("Kernel panic - ",
    # "Oops: ", ...): for the oops scenario that is the "Oops: " line, not the BUG line the
    # guest recorded as its panic message.
    panic = fields["PANIC"]
    assert panic.startswith('"')
    quoted, _, check = panic[1:].partition('"')
    log_lines = run("log -t", scenario).splitlines()
    if quoted:
        assert quoted in log_lines
    else:  # a dump of a live system (QEMU dump-guest-memory): no panic string in the log
        assert not (manifest.get("panic") or {}).get("message")
    assert check == (" (check log for details)" if "Oops: " in quoted else "")
    message = (manifest.get("panic") or {}).get("message")
    if message and "Kernel panic - " in quoted:
        assert message in quoted
    assert fields["KERNEL"].endswith("  [TAINTED]")  # the test module is out of tree
    dump_level = testing.dump_info(scenario, _primary(scenario)).get("dump_level")
    if dump_level:
        assert fields["DUMPFILE"].endswith("  [PARTIAL DUMP]")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sys_path_lines_match_crash(scenario: str, run) -> None:
    """The parity test blanks the KERNEL/DUMPFILE paths; their markers are checked here."""
    try:
        recorded = testing.crash_output(scenario, _primary(scenario), "sys")
    except (KeyError, FileNotFoundError, LookupError):
        pytest.skip("crash's sys was not recorded")
    want, got = _fields(recorded), _fields(run("sys", scenario))
    for label in ("KERNEL", "DUMPFILE"):
        assert got[label].split("  ", 1)[1:] == want[label].split("  ", 1)[1:]
    for label in want:
        if label not in ("KERNEL", "DUMPFILE"):
            assert got[label] == want[label], label


def test_sys_taint_names_the_out_of_tree_module(run) -> None:
    manifest = testing.manifest("sysrq")
    line = run("sys -t").rstrip("\n")
    mask, letters = line.removeprefix("TAINTED_MASK: ").split("  ")
    # include/linux/panic.h: TAINT_OOT_MODULE is bit 12, letter 'O'
    assert int(mask, 16) & 1 << 12
    assert "O" in letters
    assert any(entry.endswith("(O)") for entry in manifest["ground_truth"]["proc_modules"])


def test_sys_config_is_the_build_config(run) -> None:
    """IKCONFIG holds the .config the kernel was built with; crash drops blank lines."""
    built = testing.kernel_config_path().read_text()
    assert run("sys config").splitlines() == sysinfo.crash_config_lines(built)
    assert "CONFIG_HZ=250" in built  # so crash's uptime arithmetic uses HZ from IKCONFIG


def test_sys_without_dmi(sample_session) -> None:
    """The sample kernel has no CONFIG_DMI: crash's own error line."""
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    status = Runner(sample_session("sysrq"), registry, stdout=out, stderr=err).execute("sys -i")
    assert status == 1
    assert "dmi_ident does not exist in this kernel" in err.getvalue() + out.getvalue()


def test_sys_json_has_the_text_fields(sample_session, run) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out = io.StringIO()
    assert Runner(sample_session("sysrq"), registry, stdout=out, json=True).execute("sys") == 0
    data = json.loads(out.getvalue())
    fields = _fields(run("sys"))
    assert data["release"] == fields["RELEASE"]
    assert data["tasks"] == int(fields["TASKS"])
    assert data["uptime"] == fields["UPTIME"]
    assert data["date_text"] == fields["DATE"]
    assert f'"{data["panic"]}"' == fields["PANIC"]


def test_crash_number_formats() -> None:
    """crash's pages_to_size / convert_time / sscanf config reading, on known values."""
    assert sysinfo.pages_to_size(32617, 4096) == "127.4 MB"
    assert sysinfo.pages_to_size(262144, 4096) == "1 GB"
    assert sysinfo.pages_to_size(3, 4096) == "12 KB"
    assert sysinfo.format_uptime(2463, 250) == "00:00:09"
    assert sysinfo.format_uptime((2 * 86400 + 3 * 3600 + 4 * 60 + 5) * 100, 100) == \
        "2 days, 03:04:05"
    assert sysinfo.crash_config_lines("#\n# a\n\n  CONFIG_A=y\n\n\nCONFIG_B=m\n") == \
        ["#", "# a", "CONFIG_A=y", "CONFIG_B=m"]


def test_sys_c_finds_syscalls_by_number_and_name(run) -> None:
    """x86-64 ABI numbers (arch/x86/entry/syscalls/syscall_64.tbl): read 0, exit 60."""
    lines = run("sys -c 60 0").splitlines()
    assert lines[0] == "NUM  SYSTEM CALL                FILE AND LINE NUMBER"
    assert re.fullmatch(r" 60  __x64_sys_exit {13}\.\./kernel/exit\.c: \d+", lines[1])
    assert re.fullmatch(r"  0  __x64_sys_read {13}\.\./fs/read_write\.c: \d+", lines[2])
    assert len(lines) == 3
