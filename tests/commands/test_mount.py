"""``mount``: the mount table against the file systems the guest's init script mounted
(sample-dumps/guest/init), and the options this kernel cannot support."""

from __future__ import annotations

import io
import json
import re

import pytest

from pycrash import testing

SCENARIOS = testing.scenarios()


def _init_mounts() -> list[tuple[str, str, str]]:
    """(type, device, directory) of each ``mount -t TYPE DEV DIR`` line of the guest's init."""
    text = (testing.sample_root() / "guest" / "init").read_text()
    return [m.groups() for m in re.finditer(r"^mount -t (\S+) (\S+) (\S+)", text, re.M)]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_mounts_are_the_guests(scenario: str, sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out = io.StringIO()
    assert Runner(sample_session(scenario), registry, stdout=out, json=True).execute(
        "mount") == 0
    records = json.loads(out.getvalue())
    # the initramfs root first, then the init script's mounts in the order it made them
    assert [(r["type"], r["devname"], r["dirname"]) for r in records] == [
        ("rootfs", "rootfs", "/"), *_init_mounts()]
    assert all(r["mount"] and r["superblock"] for r in records)


def test_filter_by_directory_and_superblock(run) -> None:
    text = run("mount /proc")
    lines = text.splitlines()
    assert len(lines) == 2 and lines[1].split()[2:] == ["proc", "proc", "/proc"]
    mount, superblock = lines[1].split()[:2]
    assert run(f"mount {superblock}") == text
    # the struct vfsmount embedded in the struct mount (fs/mount.h: mount.mnt)
    from conftest import open_sample

    mnt = open_sample("sysrq").prog.type("struct mount").member("mnt").offset
    assert run(f"mount {int(mount, 16) + mnt:x}") == text


def test_f_and_i_are_refused_on_this_kernel(sample_session) -> None:
    """super_block.s_files went in 3.13, s_dirty in 2.6.32: crash refuses -f and -i."""
    from pycrash.api import registry
    from pycrash.runner import Runner

    for option in ("f", "i"):
        err = io.StringIO()
        assert Runner(sample_session("sysrq"), registry, stdout=io.StringIO(),
                      stderr=err).execute(f"mount -{option}") == 1
        assert err.getvalue() == (f"pycrash: mount: -{option} option not supported or "
                                  "applicable on this architecture or kernel\n")


def test_a_looping_mount_list_ends_with_one_warning(capsys) -> None:
    """The second mount's mnt_list.next pointing at itself: the walk stops there, says so in
    one warning line, and the mounts before the loop are printed."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "robustness"))
    from overlay import overlay_session, u64

    from pycrash.api import registry
    from pycrash.runner import Runner

    session, overlay = overlay_session()
    try:
        prog = session.prog
        mnt_ns = prog["init_task"].nsproxy.mnt_ns
        first = int(mnt_ns.list.next)
        second = prog.read_u64(first)
        overlay.patches[second] = u64(second)
        out, err = io.StringIO(), io.StringIO()
        status = Runner(session, registry, stdout=out, stderr=err).execute("mount")
    finally:
        session.close()
    assert status == 0 and "Traceback" not in err.getvalue()
    assert [line.split()[4] for line in out.getvalue().splitlines()[1:]] == ["/", "/proc"]
    warnings = [line for line in capsys.readouterr().err.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and f"{second:x}" in warnings[0] and "loop" in warnings[0]
