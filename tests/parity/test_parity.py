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
import functools
import io
import os
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


# Known differences, each with its reason; strict, so a fix shows up as XPASS → failure and the
# entry must go. Keys: (scenario, dump, command line).
KNOWN_DIFFERENCES = {
}


def cases() -> list[pytest.param]:
    """Every (scenario, dump, recorded index entry) that some parity list asks for.

    A command line recorded both on its own and inside the module session is checked in both.
    """
    params = []
    templates = parity_lines()
    for scenario in testing.scenarios():
        placeholders = testing.manifest(scenario).get("placeholders", {})
        for dumpname in testing.dump_names(scenario):
            try:
                index = testing.crash_index(scenario, dumpname)
            except KeyError:
                continue  # not recorded: tests/test_samples.py says so if it should be
            wanted = {}
            for group, template in templates:
                try:
                    wanted.setdefault(template.format_map(placeholders), group)
                except KeyError:
                    continue  # this scenario lacks the value (e.g. no module in "live")
            for entry in index["commands"]:
                group = wanted.get(entry["command"])
                if group is None:
                    continue
                where = " [mod session]" if _in_mod_session(entry) else ""
                known = KNOWN_DIFFERENCES.get((scenario, dumpname, entry["command"]))
                params.append(
                    pytest.param(
                        scenario,
                        dumpname,
                        entry,
                        id=f"{scenario}/{dumpname}/{group}: {entry['command']}{where}",
                        marks=[pytest.mark.xfail(strict=True, reason=known)] if known else [],
                    )
                )
    return params


def _in_mod_session(entry: dict) -> bool:
    """Recorded in the one crash session that first ran ``mod -s pycrash_test ...``."""
    return entry.get("mode") == "mod-session"


def run_pycrash(session, lines: list[str]) -> list[str]:
    """Run ``lines`` in ``session`` as one fresh crash process would: stdout and stderr
    merged, one output per line."""
    from pycrash.api import registry
    from pycrash.runner import Runner

    # Each recording came from a fresh crash process: undo what an earlier test changed.
    session.reset_user_state()
    outputs = []
    for line in lines:
        out = io.StringIO()
        Runner(session, registry, stdout=out, stderr=out).execute(line)
        outputs.append(out.getvalue())
    # The session is shared with other tests: leave no `mod -s` object loaded behind.
    session.reset_user_state()
    return outputs


def module_state_lines(scenario: str, dumpname: str, entry: dict) -> list[str]:
    """The ``mod`` lines that ran before ``entry`` in the same crash process.

    A "session" recording shares one crash process with every other session line of its dump,
    in index order, ``mod -s pycrash_test pycrash_test.ko`` among them: what came after it was
    recorded with the module's object file loaded (``sym -M`` shows the object's own symbol
    letters and section symbols, not kallsyms'). ``mod`` is the only command that changes
    which module symbols crash has, so replaying the earlier ``mod`` lines (output discarded)
    recreates that state.
    """
    if entry.get("mode") != "session":
        return []
    lines = []
    for earlier in testing.crash_index(scenario, dumpname)["commands"]:
        if earlier is entry or earlier["command"] == entry["command"]:
            break
        if earlier.get("mode") == "session" and earlier["command"].split()[0] == "mod":
            lines.append(earlier["command"])
    return lines


_mod_sessions: dict[tuple[str, str], dict[str, str]] = {}


def mod_session_output(session, scenario: str, dumpname: str, command: str) -> str:
    """pycrash's output for ``command`` in a replay of the whole recorded module session.

    The session's commands ran in one crash process, so their state carries over (``$N`` of
    ``p``, the context of ``set``); the replay runs them all once per dump, in order.
    """
    key = (scenario, dumpname)
    if key not in _mod_sessions:
        entries = [e for e in testing.crash_index(scenario, dumpname)["commands"]
                   if _in_mod_session(e)]
        prefix = [line.replace(" > /dev/null", "") for line in entries[0]["session_prefix"]]
        lines = prefix + [e["command"] for e in entries]
        outputs = run_pycrash(session, lines)[len(prefix):]
        _mod_sessions[key] = {e["command"]: out for e, out in zip(entries, outputs, strict=True)}
    return _mod_sessions[key][command]


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


def startup_preamble(scenario: str, dumpname: str, entry: dict) -> str:
    """What crash printed while starting on this dump, before running the command.

    Lines recorded as a process of their own (``mode: process``: p, set, ... whose state must
    start fresh) hold crash's whole stdout, start-up messages included (on the live QEMU dump:
    "bt: read of stack at ... failed" while crash looks for the panic task); the whole lines
    that all of a dump's process recordings begin with are start-up, not command output.
    Session recordings were redirected by crash itself and hold the command's output only.
    """
    if entry.get("mode") != "process":
        return ""
    return _process_preamble(scenario, dumpname)


@functools.cache
def _process_preamble(scenario: str, dumpname: str) -> str:
    texts = [
        testing.crash_output(scenario, dumpname, e["command"])
        for e in testing.crash_index(scenario, dumpname)["commands"]
        if e.get("mode") == "process"
    ]
    if len(texts) < 2:
        return ""
    shared = os.path.commonprefix(texts)
    return shared[: shared.rfind("\n") + 1]


@pytest.fixture(scope="module")
def crash_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory like the recordings' one: crash ran where ``vmlinux`` and
    ``pycrash_test.ko`` lay under those names, so ``mod -s pycrash_test pycrash_test.ko``
    named a file relative to it (and crash printed it as given)."""
    workdir = tmp_path_factory.mktemp("crash-workdir")
    (workdir / "vmlinux").symlink_to(testing.vmlinux_path())
    (workdir / "pycrash_test.ko").symlink_to(testing.module_path())
    return workdir


@pytest.mark.parametrize(("scenario", "dumpname", "entry"), cases())
def test_parity(
    sample_session, crash_workdir: Path, monkeypatch: pytest.MonkeyPatch,
    scenario: str, dumpname: str, entry: dict,
) -> None:
    monkeypatch.chdir(crash_workdir)
    session = sample_session(scenario, dumpname)
    command = entry["command"]
    if _in_mod_session(entry):
        expected = testing.crash_output(scenario, dumpname, command, module_loaded=True)
        actual = mod_session_output(session, scenario, dumpname, command)
    else:
        expected = testing.crash_output(scenario, dumpname, command)
        expected = expected.removeprefix(startup_preamble(scenario, dumpname, entry))
        actual = run_pycrash(session, module_state_lines(scenario, dumpname, entry)
                             + [command])[-1]
    want, got = normalize(expected), normalize(actual)
    if want != got:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(True), got.splitlines(True), "crash 8.0.6", "pycrash", n=2
            )
        )
        pytest.fail(f"{command!r} differs from crash:\n{diff[:6000]}", pytrace=False)


def test_every_parity_line_is_recorded() -> None:
    """A line no recording holds would silently test nothing: a typo or a missing recording."""
    used = {p.values[2]["command"] for p in cases()}
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
