"""``waitq``: the waiters of the test module's ``pycrash_wq`` against what the guest's
processes were waiting in, and crash's argument forms."""

from __future__ import annotations

import io
import json

import pytest

from pycrash import testing

SCENARIOS = testing.scenarios()
# pycrash_test.c: these two kthreads wait_event_interruptible(pycrash_wq, ...)
WAITERS = ("pycrash_sleeper_wait", "pycrash_oops_wait")


def _pids(text: str) -> set[int]:
    return {int(line.split()[1]) for line in text.splitlines() if line.startswith("PID: ")}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_waitq_lists_the_tasks_sleeping_on_it(scenario: str, run) -> None:
    manifest = testing.manifest(scenario)
    truth = manifest["ground_truth"]
    waiting = {p["pid"] for p in truth["processes"] if p["wchan"] in WAITERS}
    assert waiting  # the guest saw them waiting
    text = run("waitq pycrash_wq", scenario)
    if truth.get("oops_pid") == (manifest["panic"] or {}).get("pid"):
        # the oops scenario: the module's wake_up_all() emptied the queue just before the oops
        address = int(truth["module_kallsyms"]["pycrash_wq"]["address"], 16)
        assert text == f'wait queue "pycrash_wq" ({address:x}) is empty\n'
    else:
        assert _pids(text) == waiting


def test_waitq_by_address_and_by_member(run) -> None:
    truth = testing.manifest("sysrq")["ground_truth"]
    address = truth["module_kallsyms"]["pycrash_wq"]["address"]
    by_symbol = run("waitq pycrash_wq")
    assert run(f"waitq {address}") == by_symbol
    # struct.member ADDRESS: the head inside a structure (here one at offset 0 of itself)
    assert run(f"waitq wait_queue_head.lock {address}") == by_symbol
    assert run(f"waitq wait_queue_head.nosuch {address}") == \
        "nosuch is not a member of wait_queue_head\n"
    assert run("waitq wait_queue_head.lock") == "must supply an address for wait_queue_head\n"


def test_waitq_usage_and_unknown_symbol(run, sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    assert run("waitq").startswith("Usage:\n  waitq  [ symbol ]")
    err = io.StringIO()
    assert Runner(sample_session("sysrq"), registry, stdout=io.StringIO(),
                  stderr=err).execute("waitq no_such_symbol") == 1
    assert err.getvalue() == 'pycrash: waitq: cannot resolve "no_such_symbol"\n'


def test_waitq_json(sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    truth = testing.manifest("sysrq")["ground_truth"]
    out = io.StringIO()
    assert Runner(sample_session("sysrq"), registry, stdout=out, json=True).execute(
        "waitq pycrash_wq") == 0
    record = json.loads(out.getvalue())
    assert record["name"] == "pycrash_wq"
    assert record["address"] == int(truth["module_kallsyms"]["pycrash_wq"]["address"], 16)
    assert {t["comm"] for t in record["tasks"]} == {"pycrash_sleeper", "pycrash_oops"}
