"""``swap`` on kernels without swap areas: the guest's init never runs swapon."""

from __future__ import annotations

import io
import json

import pytest

from pycrash import testing

SCENARIOS = testing.scenarios()


def _execute(session, cmdline: str, json_output: bool = False) -> tuple[int, str, str]:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    status = Runner(session, registry, stdout=out, stderr=err, json=json_output).execute(cmdline)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_swap_area_is_configured(scenario: str, sample_session) -> None:
    assert "swapon" not in (testing.sample_root() / "guest" / "init").read_text()
    status, out, _ = _execute(sample_session(scenario), "swap", json_output=True)
    assert status == 0 and json.loads(out) == []
