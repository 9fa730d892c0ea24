"""p / whatis / struct after ``mod -s``: crash recorded these in ONE session, so gdb's ``$N``
numbering runs across them.  Replaying them in the recorded order must give crash's output,
line for line, on every scenario."""

from __future__ import annotations

import io

import pytest

from pycrash import testing

# The value commands of the recorded module session (sample-dumps/crash-commands.txt, "mod").
VALUE_COMMANDS = {
    "p -x pycrash_test_value", "p pycrash_test_string", "p pycrash_items", "p pycrash_tree",
    "whatis struct pycrash_item", "struct pycrash_item", "struct -o pycrash_item",
}


def _scenarios() -> list[str]:
    found = []
    for scenario in testing.scenarios():
        try:
            if testing.crash_commands(scenario, "zlib31", module_loaded=True):
                found.append(scenario)
        except (KeyError, FileNotFoundError, LookupError):
            continue
    return found


@pytest.mark.parametrize("scenario", _scenarios())
def test_module_session_replay(sample_session, scenario: str) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    session = sample_session(scenario, "zlib31")
    session.reset_user_state()
    commands = [c for c in testing.crash_commands(scenario, "zlib31", module_loaded=True)
                if c in VALUE_COMMANDS]
    assert len(commands) == len(VALUE_COMMANDS)
    try:
        for command in commands:
            out = io.StringIO()
            Runner(session, registry, stdout=out, stderr=out).execute(command)
            want = testing.crash_output(scenario, "zlib31", command, module_loaded=True)
            assert out.getvalue() == want, command
    finally:
        session.reset_user_state()
