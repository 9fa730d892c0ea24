"""``files``: open files against what the guest's init script opened (sample-dumps/guest/init,
roles from the manifest's ground truth), and -d, -c and the error lines."""

from __future__ import annotations

import io
import json

import pytest

from pycrash import testing

SCENARIOS = testing.scenarios()


def _files_json(session, cmdline: str) -> list[dict]:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    assert Runner(session, registry, stdout=out, stderr=err, json=True).execute(cmdline) == 0, \
        err.getvalue()
    return json.loads(out.getvalue())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fifo_cat_writes_to_dev_null(scenario: str, sample_session) -> None:
    """init runs ``cat /tmp/w/fifo > /dev/null &``: cat sleeps opening the fifo, so its
    descriptors are the shell's, with stdout on /dev/null (a character device)."""
    pid = testing.manifest(scenario)["ground_truth"]["roles"]["fifo_cat"]
    [record] = _files_json(sample_session(scenario), f"files {pid}")
    assert record["pid"] == pid and record["comm"] == "cat"
    assert (record["root"], record["cwd"]) == ("/", "/")
    by_fd = {f["fd"]: f for f in record["files"]}
    assert (by_fd[1]["type"], by_fd[1]["path"]) == ("CHR ", "/dev/null")
    assert 3 not in by_fd  # the fifo is not open yet: cat sleeps in its open()


def test_sysrq_shell_has_the_trigger_open(run) -> None:
    """The sysrq scenario's panic task is the shell running ``echo c > /proc/sysrq-trigger``."""
    pid = testing.manifest("sysrq")["ground_truth"]["roles"]["crash"]
    lines = run(f"files {pid}").splitlines()
    fd1 = next(line for line in lines if line.split()[:1] == ["1"])
    assert fd1.split()[4:] == ["REG", "/proc/sysrq-trigger"]


def test_kernel_thread_has_no_open_files(run) -> None:
    assert run("files 2").splitlines()[1:] == ["ROOT: /    CWD: /", "No open files", ""]


def test_d_and_c_name_the_same_inode(run) -> None:
    pid = testing.manifest("sysrq")["ground_truth"]["roles"]["fifo_cat"]
    fd1 = run(f"files {pid}").splitlines()[4].split()
    dentry, inode = fd1[2], fd1[3]
    d_lines = run(f"files -d {dentry}").splitlines()
    assert d_lines[1].split()[:2] == [dentry, inode]
    assert d_lines[1].split()[3:] == ["CHR", "/dev/null"]
    c_line = run(f"files -c {pid}").splitlines()[4].split()
    assert c_line[0] == "1" and c_line[1] == inode and c_line[4:] == ["CHR", "/dev/null"]


def test_invalid_pid_and_unsupported_options(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    session = sample_session("sysrq")
    out = io.StringIO()
    Runner(session, registry, stdout=out, stderr=io.StringIO()).execute("files 999999")
    assert out.getvalue() == "files: invalid task or pid value: 999999\n"
    for option in ("-p", "-n"):
        err = io.StringIO()
        assert Runner(session, registry, stdout=io.StringIO(), stderr=err).execute(
            f"files {option} 1") == 1
        assert err.getvalue() == f"pycrash: files: {option}: option not supported by pycrash\n"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_foreach_files_R_finds_the_dev_null_writers(scenario: str, run) -> None:
    """init runs ``cat /tmp/w/fifo > /dev/null &`` and ``yes > /dev/null &``: both tasks
    reference /dev/null, and every file line printed is a /dev/null one."""
    roles = testing.manifest(scenario)["ground_truth"]["roles"]
    text = run("foreach files -R null", scenario)
    pids = {int(line.split()[1]) for line in text.splitlines() if line.startswith("PID:")}
    assert {roles["fifo_cat"], roles["yes"]} <= pids
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0].isdigit():
            assert fields[4:] == ["CHR", "/dev/null"], line
    assert "ROOT: /    CWD: / \n" in text  # crash's -R line, with its trailing space


def test_files_R_by_descriptor_number(run) -> None:
    """A decimal reference no larger than the file table is a descriptor number."""
    pid = testing.manifest("sysrq")["ground_truth"]["roles"]["fifo_cat"]
    lines = run(f"files -R 1 {pid}").splitlines()
    assert [line.split()[0] for line in lines[3:] if line.strip()] == ["1"]
    assert run(f"files -R nothing-like-this {pid}") == "\n"
