"""``vm``: each user task's VMAs against the guest's own /proc/PID/maps (the manifest's ground
truth), and the refusals and messages of options pycrash does not implement."""

from __future__ import annotations

import io
import json
import re

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


def test_vm_P_of_no_vma_of_the_task(run) -> None:
    pid = testing.manifest("sysrq")["ground_truth"]["roles"]["sleep"]
    assert run(f"vm -P 1234 {pid}").splitlines()[1:] == ["(not found)"]


def test_invalid_pid_and_unsupported_options(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    session = sample_session("sysrq")
    out, err = io.StringIO(), io.StringIO()
    Runner(session, registry, stdout=out, stderr=err).execute("vm 999999")
    assert out.getvalue() == "vm: invalid task or pid value: 999999\n"
    for option in ("-M ffff888000000000",):
        out, err = io.StringIO(), io.StringIO()
        assert Runner(session, registry, stdout=out, stderr=err).execute(f"vm {option}") == 1
        assert err.getvalue() == f"pycrash: vm: {option.split()[0]}: option not supported by " \
            "pycrash\n"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_vm_p_agrees_with_crashs_vtop(scenario: str, run) -> None:
    """``vm -p``'s physical address of the sleep task's first user page is the one crash's
    recorded ``vtop -c PID ADDR`` found; every page of each VMA is listed once."""
    placeholders = testing.manifest(scenario)["placeholders"]
    pid, user_addr = placeholders["sleep_pid"], int(placeholders["user_addr"], 16)
    try:
        vtop = testing.crash_output(scenario, "zlib31" if scenario != "live" else "qemu-zlib",
                                    f"vtop -c {pid} {placeholders['user_addr']}")
    except (KeyError, LookupError, FileNotFoundError) as exc:
        pytest.skip(f"no crash recording of vtop: {exc}")
    physical = vtop.splitlines()[1].split()[1]
    text = run(f"vm -p {pid}", scenario)
    pages = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and re.fullmatch(r"[0-9a-f]+", fields[0]) and len(fields[0]) <= 12:
            pages.setdefault(int(fields[0], 16), []).append(fields[1:])
    assert pages[user_addr] == [[physical]]
    for pid_maps in _maps(scenario).get(int(pid), []):
        start, end = (int(x, 16) for x in pid_maps.split()[0].split("-"))
        assert all(len(pages.get(a, [])) == 1 for a in range(start, end, 4096)), pid_maps


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_foreach_vm_R_finds_every_busybox_mapping(scenario: str, run) -> None:
    """Each user task of the ground truth maps /bin/busybox: ``foreach vm -R busybox`` lists
    it, and each VMA it prints is one of that task's /bin/busybox lines of /proc/PID/maps."""
    text = run("foreach vm -R busybox", scenario)
    blocks = {int(b.split()[1]): b for b in text.split("\n\n") if b.startswith("PID:")}
    for pid, lines in _maps(scenario).items():
        busybox = {tuple(int(x, 16) for x in line.split()[0].split("-"))
                   for line in lines if line.endswith("/bin/busybox")}
        if pid not in blocks:
            continue  # exited before the crash (vm PID says so in test_vmas_match_proc_maps)
        shown = {(int(f[1], 16), int(f[2], 16)) for f in map(str.split, blocks[pid].splitlines())
                 if len(f) == 5 and f[4] == "/bin/busybox"}
        assert shown == busybox, pid


def test_a_maple_tree_loop_is_one_line() -> None:
    """The sleep task's maple tree root made an internal node whose first slot points back at
    itself: the walk stops there and vm says so in one line (no hang, no traceback)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "robustness"))
    from overlay import overlay_session, u64

    from pycrash.api import registry
    from pycrash.runner import Runner

    pid = testing.manifest("sysrq")["ground_truth"]["roles"]["sleep"]
    session, overlay = overlay_session()
    try:
        prog = session.prog
        from pycrash.kernel.tasks import task_table

        info = task_table(prog).pid(pid)[0]
        mm_mt = info.mm + prog.type("struct mm_struct").member("mm_mt").offset
        root_at = mm_mt + prog.type("struct maple_tree").member("ma_root").offset
        node = prog.read_u64(root_at) & ~0xFF
        looping = node | (2 << 3) | 2  # maple_range_64, an internal node
        slot0 = node + prog.type("struct maple_node").member("mr64").offset + \
            prog.type("struct maple_range_64").member("slot").offset
        overlay.patches[root_at] = u64(looping)
        overlay.patches[slot0] = u64(looping)
        out, err = io.StringIO(), io.StringIO()
        status = Runner(session, registry, stdout=out, stderr=err).execute(f"vm {pid}")
    finally:
        session.close()
    assert status == 1
    assert err.getvalue() == (f"pycrash: vm: maple tree walk stopped at node {node:x}: "
                              "node already seen (a loop)\n")
