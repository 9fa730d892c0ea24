"""End-to-end run of sample-dumps/generate.sh (slow: ~10-20 min; needs root + network).

Skipped unless PYCRASH_RUN_GENERATOR=1. It writes into a scratch copy of sample-dumps/
(PYCRASH_GEN_WORKDIR defaults to a temporary directory) so the committed samples stay
untouched, then checks that the layout is reproduced.
"""

import json
import os
import shutil
import subprocess

import pytest

from pycrash import testing

pytestmark = pytest.mark.skipif(os.environ.get("PYCRASH_RUN_GENERATOR") != "1",
                                reason="set PYCRASH_RUN_GENERATOR=1 to run the generator")


def test_generator_end_to_end(tmp_path):
    src = testing.sample_root()
    copy = tmp_path / "sample-dumps"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("build", "sysrq", "oops", "la57",
                                                             "live"))
    env = dict(os.environ)
    env.setdefault("PYCRASH_GEN_WORKDIR", str(tmp_path / "work"))
    env.setdefault("PYCRASH_SCENARIOS", "sysrq")
    subprocess.run(["sh", str(copy / "generate.sh")], env=env, check=True, timeout=4 * 3600)
    assert (copy / "build" / "vmlinux.xz").stat().st_size > 10_000_000
    for scenario in env["PYCRASH_SCENARIOS"].split():
        m = json.loads((copy / scenario / "manifest.json").read_text())
        assert m["scenario"] == scenario
        for d in m["dumps"]:
            for f in d["files"]:
                assert (copy / scenario / f["file"]).is_file()
            idx = json.loads((copy / scenario / "crash" / d["name"] / "index.json").read_text())
            assert idx["commands"]
            sys_out = (copy / scenario / "crash" / d["name"] /
                       next(c["file"] for c in idx["commands"] if c["command"] == "sys"))
            assert "RELEASE: " + m["kernel"]["release"] in sys_out.read_text()
