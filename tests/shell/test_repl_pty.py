"""The real REPL in a pseudo-terminal: ``python -m pycrash VMLINUX DUMP`` driven by pexpect.

prompt_toolkit draws with cursor movements, so matches are on text fragments ("crash>"
without its trailing space, a command's output line, completion candidates).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from pycrash import testing

# A fresh prompt: bracketed paste switched back on, then (after more escapes) the text.  The
# redraw of an accepted line also shows "crash>", but without the bracketed-paste switch.
PROMPT = r"\x1b\[\?2004h(?:\x1b\[[0-9;?]*[A-Za-z])*crash>"
TIMEOUT = 60
HERE = Path(__file__).resolve().parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _builtin_names() -> set[str]:
    from pycrash.api import CommandRegistry
    from pycrash.plugins import load_builtins

    registry = CommandRegistry()
    load_builtins(registry, report=lambda message: None)
    return set(registry.names())


def _spawn(tmp_path: Path, *extra: str, **env: str) -> pexpect.spawn:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("PYCRASH_") and k != "NO_COLOR"
    }
    environ.update(
        TERM="xterm",
        HOME=str(home),
        PROMPT_TOOLKIT_NO_CPR="1",  # pexpect does not answer cursor-position requests
        PYCRASH_HISTORY=str(tmp_path / "history"),
        PYCRASH_PLUGIN_PATH=str(HERE / "plugins"),
        PYCRASH_SAMPLE_CACHE=str(testing.cache_dir()),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    environ.update(env)
    files = [str(testing.vmlinux_path()), *map(str, testing.dump_paths("sysrq", "zlib31"))]
    child = pexpect.spawn(
        sys.executable,
        ["-m", "pycrash", "-s", *extra, *files],
        env=environ,
        cwd=str(home),
        dimensions=(60, 200),  # tall enough that no output goes through the pager
        encoding="utf-8",
        codec_errors="replace",
        timeout=TIMEOUT,
    )
    child.expect(PROMPT)
    return child


@pytest.fixture(scope="module")
def repl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pexpect.spawn]:
    """One REPL shared by the tests that leave it at an empty prompt."""
    child = _spawn(tmp_path_factory.mktemp("repl"))
    yield child
    if child.isalive():
        child.terminate(force=True)


def _run(child: pexpect.spawn, line: str) -> str:
    """Type ``line`` + Enter; return the plain text the command printed."""
    return ANSI.sub("", _raw_output(child, line))


def _raw_output(child: pexpect.spawn, line: str) -> str:
    """What the command printed, escapes included: after the terminal leaves the prompt
    (bracketed paste switched off), before the next prompt."""
    child.send(line + "\r")
    child.expect(PROMPT)
    return child.before.split("\x1b[?2004l", 1)[-1]


def _abandon_line(child: pexpect.spawn) -> None:
    """Ctrl-C: drop what is typed and wait for the fresh prompt."""
    child.sendintr()
    child.expect(PROMPT)


def _spins(child: pexpect.spawn) -> int:
    match = re.search(r"interrupted spins: (\d+)", _run(child, "spun"))
    assert match
    return int(match.group(1))


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.replace("\r", "").splitlines() if line.strip()]


@pytest.mark.parametrize("line", ["sym jiffies", "struct list_head"])
def test_command_output_is_crashs(repl: pexpect.spawn, line: str) -> None:
    """What the REPL prints (colour stripped) is crash 8.0.6's recorded output."""
    text = _run(repl, line)
    assert _lines(text) == _lines(testing.crash_output("sysrq", "zlib31", line))


def test_command_output_matches_the_guest(repl: pexpect.spawn) -> None:
    # /proc/kallsyms recorded in the guest: jiffies' address; sym prints "ADDR (T) NAME".
    address = testing.manifest("sysrq")["ground_truth"]["kallsyms"]["jiffies"]["address"]
    text = _run(repl, "sym jiffies")
    assert re.search(rf"{int(address, 16):x} \(\w\) jiffies", text), text


def test_command_names_complete(repl: pexpect.spawn) -> None:
    repl.send("sy\t")
    repl.expect("sym")  # "sym" and "sys" share "sy": both are listed
    repl.expect("sys")
    _abandon_line(repl)


@pytest.mark.skipif("struct" not in _builtin_names(), reason="no struct command yet")
def test_tab_after_str_offers_struct(repl: pexpect.spawn) -> None:
    repl.send("str\t")
    repl.expect("struct")
    _abandon_line(repl)


def _tab_until(child: pexpect.spawn, pattern: str, tries: int = 30) -> int:
    """Press Tab until ``pattern`` shows: the type list is built in the background when the
    prompt first shows (this REPL has a cache of its own), and a Tab that comes before it is
    ready offers only the typed word.  Returns how many Tabs it took."""
    for count in range(1, tries + 1):
        child.send("\t")
        if child.expect([pattern, pexpect.TIMEOUT], timeout=3) == 0:
            return count
    pytest.fail(f"{pattern!r} was never offered")


@pytest.mark.skipif("struct" not in _builtin_names(), reason="no struct command yet")
def test_struct_name_completion(repl: pexpect.spawn) -> None:
    repl.send("struct task_")
    # include/linux/sched.h; the listing is sorted
    _tab_until(repl, "task_cputime")
    repl.expect("task_struct")
    _abandon_line(repl)


@pytest.mark.skipif("whatis" not in _builtin_names(), reason="no whatis command yet")
def test_bare_tab_lists_every_type(repl: pexpect.spawn) -> None:
    # crash's recorded "whatis -r 3000-9000" alone lists 32 types; the kernel has thousands.
    recorded = testing.crash_output("sysrq", "zlib31", "whatis -r 3000-9000").splitlines()
    repl.send("whatis ")
    _tab_until(repl, r"Display all \d+ possibilities")
    count = int(re.search(r"Display all (\d+)", repl.after).group(1))  # type: ignore[union-attr]
    assert count > 20 * (len(recorded) - 1)
    repl.send("n")
    repl.expect(PROMPT)  # the line drawn again after the question
    _abandon_line(repl)


@pytest.mark.skipif("whatis" not in _builtin_names(), reason="no whatis command yet")
def test_whatis_during_the_background_type_walk(tmp_path: Path) -> None:
    """A fresh REPL (no cache) walks the DWARF for completion when the prompt shows; a
    ``whatis -r`` typed at once takes that walk over instead of waiting, and prints crash's
    table; Tab then offers the names."""
    child = _spawn(tmp_path)
    try:
        line = "whatis -r 3000-9000"
        assert _lines(_run(child, line)) == _lines(testing.crash_output("sysrq", "zlib31", line))
        child.send("struct task_")
        _tab_until(child, "task_cputime")
        _abandon_line(child)
    finally:
        child.terminate(force=True)


@pytest.mark.parametrize("line", ["task_struct.", "struct task_struct."])
def test_member_path_completion(repl: pexpect.spawn, line: str) -> None:
    if line.startswith("struct ") and "struct" not in _builtin_names():
        pytest.skip("no struct command yet")
    repl.send(line + "\t")
    # Readline-style listing below the line; with many candidates it asks first.
    listing = ""
    while True:
        index = repl.expect([r"Display all \d+ possibilities", r"--MORE--", PROMPT])
        listing += repl.before
        if index == 2:
            break
        repl.send("y" if index == 0 else " ")
    members = set(re.findall(r"\b\w+\b", ANSI.sub("", listing)))
    assert {"pid", "comm", "tasks", "__state"} <= members
    _abandon_line(repl)


def test_nested_member_completion_inserts_the_name(repl: pexpect.spawn) -> None:
    repl.send("task_struct.se.vrunt\t")
    repl.expect("vruntime")
    _abandon_line(repl)


def test_ctrl_c_interrupts_a_long_command(repl: pexpect.spawn) -> None:
    before = _spins(repl)
    repl.send("spin\r")
    repl.expect(r"spin: \d+")  # the progress line of the walk
    repl.sendintr()
    repl.expect("interrupted")
    repl.expect(PROMPT)
    # The command saw KeyboardInterrupt, and the session goes on: the next command runs.
    assert _spins(repl) == before + 1


def test_ctrl_c_at_the_prompt_gives_a_fresh_prompt(repl: pexpect.spawn) -> None:
    before = _spins(repl)
    repl.send("spin")
    _abandon_line(repl)
    assert _spins(repl) == before  # the abandoned line did not run


def _highlighted_commands() -> set[str]:
    from pycrash.api import CommandRegistry
    from pycrash.plugins import load_builtins

    registry = CommandRegistry()
    load_builtins(registry, report=lambda message: None)
    return {name for name in registry.names() if getattr(registry.get(name), "highlight", None)}


@pytest.mark.skipif(
    "struct" not in _highlighted_commands(), reason="struct does not ask for highlighting yet"
)
def test_struct_output_is_coloured_on_the_terminal_only(repl: pexpect.spawn) -> None:
    colour = re.compile(r"\x1b\[[0-9;]*m")
    on_terminal = _raw_output(repl, "struct list_head")
    assert colour.search(on_terminal)
    assert "next;" in ANSI.sub("", on_terminal)
    piped = _raw_output(repl, "struct list_head | cat")
    assert "next;" in piped
    assert not colour.search(piped)
    assert ANSI.sub("", on_terminal).replace("\r", "") == piped.replace("\r", "")


def test_prompt_follows_set_prompt(repl: pexpect.spawn) -> None:
    repl.send('set prompt "dump1> "\r')  # quoted: a bare ">" redirects
    repl.expect(r"\x1b\[\?2004h(?:\x1b\[[0-9;?]*[A-Za-z])*dump1>")
    repl.send('set prompt "crash> "\r')
    repl.expect(PROMPT)


def test_ctrl_d_exits(tmp_path: Path) -> None:
    child = _spawn(tmp_path)
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_history_persists_and_ctrl_r_searches_it(tmp_path: Path) -> None:
    child = _spawn(tmp_path)
    _run(child, "sym jiffies_64")
    _run(child, "spun")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert (tmp_path / "history").read_text().rstrip().endswith("+spun")

    child = _spawn(tmp_path)
    try:
        child.send("\x1b[A")  # Up: the previous session's last line comes back
        child.expect("spun")
        _abandon_line(child)
        child.send("\x12")  # Ctrl-R
        child.expect("reverse-i-search")
        child.send("jiffies_")
        child.expect("sym ")  # found (drawn with the match highlighted)
        child.send("\r")  # Enter ends the search and runs the found line, as readline does
        child.expect(r"\(\w\) jiffies_64")
        child.expect(PROMPT)
    finally:
        child.terminate(force=True)
