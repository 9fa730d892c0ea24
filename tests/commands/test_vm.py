"""``vm``: each user task's VMAs against the guest's own /proc/PID/maps (the manifest's ground
truth), and the refusals and messages of options pycrash does not implement."""

from __future__ import annotations

import io
import json

import pytest

from pycrash import testing

SCENARIOS = testing.scenarios()
# include/linux/mm.h: VM_READ, VM_WRITE, VM_EXEC, VM_SHARED
VM_READ, VM_WRITE, VM_EXEC, VM_SHARED = 0x1, 0x2, 0x4, 0x8


def _vm_json(session, cmdline: str) -> list[dict]:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    assert Runner(session, registry, stdout=out, stderr=err, json=True).execute(cmdline) == 0, \
        err.getvalue()
    return json.loads(out.getvalue())


def _maps(scenario: str) -> dict[int, list[str]]:
    maps = testing.manifest(scenario)["ground_truth"].get("maps", {})
    if not maps:
        pytest.skip(f"{scenario}: no /proc/PID/maps in the ground truth")
    return {int(pid): lines for pid, lines in maps.items()}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_vmas_match_proc_maps(scenario: str, sample_session) -> None:
    """Every /proc/PID/maps line is one VMA: same range, permissions and file."""
    session = sample_session(scenario)
    checked = 0
    for pid, lines in _maps(scenario).items():
        records = _vm_json(session, f"vm {pid}")
        if not records or "vmas" not in records[0]:
            continue  # the task exited before the crash
        vmas = records[0]["vmas"]
        assert len(vmas) == len(lines), f"pid {pid}"
        for vma, line in zip(vmas, lines, strict=True):
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            perms = fields[1]
            assert (vma["start"], vma["end"]) == (start, end), f"pid {pid}: {line}"
            flags = vma["flags"]
            assert bool(flags & VM_READ) == (perms[0] == "r"), line
            assert bool(flags & VM_WRITE) == (perms[1] == "w"), line
            assert bool(flags & VM_EXEC) == (perms[2] == "x"), line
            assert bool(flags & VM_SHARED) == (perms[3] == "s"), line
            name = fields[5] if len(fields) > 5 else ""
            if name.startswith("/"):
                assert vma["path"] == name, line
            else:  # anonymous, [heap], [stack], [vvar], [vdso]: no file
                assert vma["file"] == 0 and vma["path"] == "", line
        checked += 1
    assert checked, "no user task of the ground truth was found"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_vm_header_names_the_sleep_task(scenario: str, run) -> None:
    truth = testing.manifest(scenario)["ground_truth"]
    pid = truth["roles"]["sleep"]
    text = run(f"vm {pid}", scenario)
    proc = next(p for p in truth["processes"] if p["pid"] == pid)
    assert text.startswith(f"PID: {pid:<7d}  TASK: ")
    assert f'COMMAND: "{proc["comm"]}"' in text.splitlines()[0]


def test_kernel_thread_has_no_mm(run) -> None:
    """A kernel thread (kthreadd, PID 2) has no mm: sizes of zero and no VMA table."""
    text = run("vm 2")
    assert text.splitlines()[1:] == [
        "       MM               PGD          RSS    TOTAL_VM",
        "       0                 0            0k       0k   ",
    ]


def test_vm_flags_translation(run) -> None:
    # the [vvar] mapping's flags: VM_READ|VM_MAYREAD|VM_PFNMAP|VM_IO|VM_DONTEXPAND|VM_DONTDUMP
    assert run("vm -f 4044411") == "4044411: (READ|MAYREAD|PFNMAP|IO|DONTEXPAND|ALWAYSDUMP)\n"


def test_vm_m_dumps_the_mm_struct(run) -> None:
    pid = testing.manifest("sysrq")["ground_truth"]["roles"]["sleep"]
    text = run(f"vm -m {pid}")
    assert text.splitlines()[1] == "struct mm_struct {"


def test_invalid_pid_and_unsupported_options(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    session = sample_session("sysrq")
    out, err = io.StringIO(), io.StringIO()
    Runner(session, registry, stdout=out, stderr=err).execute("vm 999999")
    assert out.getvalue() == "vm: invalid task or pid value: 999999\n"
    for option in ("-p", "-R 400000", "-P ffff888000000000", "-M ffff888000000000"):
        out, err = io.StringIO(), io.StringIO()
        assert Runner(session, registry, stdout=out, stderr=err).execute(f"vm {option}") == 1
        assert err.getvalue() == f"pycrash: vm: {option.split()[0]}: option not supported by " \
            "pycrash\n"
