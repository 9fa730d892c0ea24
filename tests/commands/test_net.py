"""``net`` on a kernel built without CONFIG_NET, and ``net -N``."""

from __future__ import annotations

import io

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
def test_net_says_which_symbols_are_missing(scenario: str, sample_session) -> None:
    config = testing.kernel_config_path().read_text().splitlines()
    assert "# CONFIG_NET is not set" in config
    status, out, err = _execute(sample_session(scenario), "net")
    assert status != 0 and out == ""
    assert err.splitlines() == ["pycrash: net: dev_base, dev_base_head or init_net do not exist!"]


@pytest.mark.parametrize(("value", "dotted"), [
    ("0x0100007f", "127.0.0.1"),  # INADDR_LOOPBACK as stored (network order, little-endian)
    ("16777343", "127.0.0.1"),
    ("0xffffffffc0a80001", "1.0.168.192"),  # only the low 32 bits are an in_addr
])
def test_net_n_translates_addresses(value: str, dotted: str, run) -> None:
    assert run(f"net -N {value}") == f"{dotted}\n"


def test_net_refuses_sockets(sample_session) -> None:
    status, _, err = _execute(sample_session("sysrq"), "net -s")
    assert status != 0
    assert err.splitlines() == ["pycrash: net: -s option not supported by pycrash"]
