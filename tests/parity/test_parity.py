"""Parity with the real crash: pycrash's output equals crash 8.0.6's on the same dump.

The command lines come from the lists beside this file (``tests/parity/*.txt``: one command
line per line, ``#`` comments, ``{placeholders}`` filled from the scenario manifest exactly as
sample-dumps/gen/record.py filled them when it ran crash). Each line is checked on every sample
dump whose recordings hold that command; crash's output was recorded there at generation time.

Only fields that legitimately differ between the two runs are normalized, each with its reason
in ``normalize()``; everything else must be equal, line for line.
"""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path

import pytest

from pycrash import testing

HERE = Path(__file__).resolve().parent


def parity_lines() -> list[tuple[str, str]]:
    """(list file stem, command template) for every line of every list."""
    lines = []
    for path in sorted(HERE.glob("*.txt")):
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
            if line:
                lines.append((path.stem, line))
    return lines


def cases() -> list[pytest.param]:
    """Every (scenario, dump, recorded index entry) that some parity list asks for."""
    params = []
    templates = parity_lines()
    for scenario in testing.scenarios():
        placeholders = testing.manifest(scenario).get("placeholders", {})
        for dumpname in testing.dump_names(scenario):
            try:
                index = testing.crash_index(scenario, dumpname)
            except KeyError:
                continue  # not recorded: tests/test_samples.py says so if it should be
            recorded = {}
            for entry in index["commands"]:
                recorded.setdefault(entry["command"], entry)
            for group, template in templates:
                try:
                    command = template.format_map(placeholders)
                except KeyError:
                    continue  # this scenario lacks the value (e.g. no module in "live")
                entry = recorded.get(command)
                if entry is None:
                    continue
                params.append(
                    pytest.param(
                        scenario, dumpname, entry, id=f"{scenario}/{dumpname}/{group}: {command}"
                    )
                )
    return params


def run_pycrash(session, lines: list[str]) -> str:
    """Run ``lines`` in ``session`` as crash did: a fresh context, stdout and stderr merged."""
    from pycrash.api import registry
    from pycrash.runner import Runner

    # Each recording came from a fresh crash process: undo what an earlier test changed.
    session.reset_user_state()
    out = io.StringIO()
    runner = Runner(session, registry, stdout=out, stderr=out)
    for line in lines:
        runner.execute(line)
    return out.getvalue()


# crash names the files it was given; the recordings ran crash as `crash -s vmlinux DUMPFILE`
# in a directory holding them under their committed names, while pycrash is handed absolute
# paths in the sample cache. So file names are compared without their directories (the rest of
# those lines, such as "[TAINTED]" or "[PARTIAL DUMP]", still counts).
_FILE_LINE = re.compile(
    r"^(?P<label>\s*(?:KERNEL|DUMPFILES?|DEBUGINFO):\s+|\s{14})(?P<path>/\S+)", re.M
)

# Errors: crash prints "NAME: message"; pycrash prints "pycrash: NAME: message" by design
# (DEVELOPERS.md: a failing command says why in one line naming the program). The message
# after the prefix must be crash's.
_ERROR_PREFIX = re.compile(r"^pycrash: ", re.M)


def normalize(text: str) -> str:
    text = _FILE_LINE.sub(lambda m: m["label"] + Path(m["path"]).name, text)
    return _ERROR_PREFIX.sub("", text)


@pytest.mark.parametrize(("scenario", "dumpname", "entry"), cases())
def test_parity(sample_session, scenario: str, dumpname: str, entry: dict) -> None:
    session = sample_session(scenario, dumpname)
    expected = testing.crash_output(scenario, dumpname, entry["command"])
    prefix = [line.replace(" > /dev/null", "") for line in entry.get("session_prefix", [])]
    if prefix:
        # The recording ran the prefix (e.g. `mod -s ...`) with its output discarded.
        run_pycrash(session, prefix)
    actual = run_pycrash(session, [entry["command"]])
    want, got = normalize(expected), normalize(actual)
    if want != got:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(True), got.splitlines(True), "crash 8.0.6", "pycrash", n=2
            )
        )
        pytest.fail(f"{entry['command']!r} differs from crash:\n{diff[:6000]}", pytrace=False)


def test_every_parity_line_is_recorded() -> None:
    """A line no recording holds would silently test nothing: a typo or a missing recording."""
    used = {p.id.split(": ", 1)[1] for p in cases()}
    placeholders = [testing.manifest(s).get("placeholders", {}) for s in testing.scenarios()]
    unused = []
    for group, template in parity_lines():
        filled = set()
        for values in placeholders:
            try:
                filled.add(template.format_map(values))
            except KeyError:
                pass
        if not filled & used:
            unused.append(f"{group}: {template}")
    assert not unused, "parity lines with no crash recording:\n" + "\n".join(unused)
