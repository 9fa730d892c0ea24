"""Consistency checks of the committed sample dumps (sample-dumps/) and pycrash.testing."""

import hashlib
import json
import time

import pytest

from pycrash import testing

SCENARIOS = testing.scenarios()


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_have_samples():
    assert "sysrq" in SCENARIOS
    assert testing.dump_names("sysrq")[0] == "zlib31"


def test_vmlinux():
    path = testing.vmlinux_path()
    with open(path, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    for s in SCENARIOS:
        k = testing.manifest(s)["kernel"]
        assert path.stat().st_size == k["vmlinux_size"]
    assert _sha256(path) == testing.manifest(SCENARIOS[0])["kernel"]["vmlinux_sha256"]
    # second call is served from the cache
    t0 = time.time()
    assert testing.vmlinux_path() == path
    assert time.time() - t0 < 1.0


def test_build_artifacts():
    assert testing.module_path().read_bytes()[:4] == b"\x7fELF"
    assert "CONFIG_CRASH_DUMP=y" in testing.kernel_config_path().read_text()
    assert " linux_banner\n" in testing.system_map_path().read_text()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_manifest_fields(scenario):
    m = testing.manifest(scenario)
    assert m["scenario"] == scenario
    k = m["kernel"]
    assert k["banner"].startswith("Linux version " + k["release"])
    assert m["paging"] in ("4-level", "5-level")
    assert m["cpus"] == 2
    assert int(m["kaslr_offset"], 16) > 0
    assert sum(d["primary"] for d in m["dumps"]) == 1
    gt = m["ground_truth"]
    pids = {p["pid"]: p for p in gt["processes"]}
    assert pids[gt["sleeper_pid"]]["comm"] == "pycrash_sleeper"
    assert pids[gt["dstate_pid"]]["state"] == "D"
    assert [i["name"] for i in gt["items"]] == ["alpha", "bravo", "charlie", "delta", "echo"]
    if scenario == "live":
        assert m["panic"] is None
    else:
        assert m["panic"]["message"]
        # the sysrq shell is started after the process list was taken
        if m["panic"]["pid"] in pids:
            assert pids[m["panic"]["pid"]]["comm"] == m["panic"]["comm"]
    if scenario == "la57":
        assert m["paging"] == "5-level"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_dumps_match_manifest(scenario):
    for name in testing.dump_names(scenario):
        info = testing.dump_info(scenario, name)
        paths = testing.dump_paths(scenario, name)
        assert len(paths) == len(info["files"]) == (2 if info["format"] == "split" else 1)
        for path, f in zip(paths, info["files"], strict=False):
            assert path.stat().st_size == f["size"], path
            assert _sha256(path) == f["sha256"], path


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_crash_recordings(scenario):
    m = testing.manifest(scenario)
    banner = m["kernel"]["banner"].rstrip("\n")
    for name in testing.dump_names(scenario):
        idx = testing.crash_index(scenario, name)
        assert idx["crash_version"] == "8.0.6"
        cmds = testing.crash_commands(scenario, name)
        assert "sys" in cmds and "log" in cmds and "bt" in cmds
        for loaded in (False, True):
            sub = testing.crash_commands(scenario, name, module_loaded=loaded)
            assert len(sub) == len(set(sub))
            for c in sub:
                testing.crash_output(scenario, name, c, module_loaded=loaded)  # file exists
        assert testing.crash_record(scenario, name, "sys")["exit_status"] == 0
        sys_out = testing.crash_output(scenario, name, "sys")
        assert "RELEASE: " + m["kernel"]["release"] in sys_out
        assert banner in testing.crash_output(scenario, name, "log")
        if m["panic"]:
            assert "PANIC: " + m["panic"]["crash_sys_panic"] in sys_out


def test_full_command_list_on_primary():
    for scenario in SCENARIOS:
        m = testing.manifest(scenario)
        primary = next(d["name"] for d in m["dumps"] if d["primary"])
        cmds = testing.crash_commands(scenario, primary)
        assert len(cmds) > 50
        assert "mod -s pycrash_test pycrash_test.ko" in cmds
        out = testing.crash_output(scenario, primary, "p -x pycrash_test_value",
                                   module_loaded=True)
        assert m["ground_truth"]["module_globals"]["pycrash_test_value"] in out


def test_index_files_exist():
    root = testing.sample_root()
    for idx_path in root.glob("*/crash/*/index.json"):
        idx = json.loads(idx_path.read_text())
        for c in idx["commands"]:
            assert (idx_path.parent / c["file"]).is_file()
