"""help (crash's table and page layout) and set (context and variables), in-process."""

from __future__ import annotations

import io

import pytest

from pycrash import api, plugins, testing
from pycrash.runner import Runner

from .helpers import pycrash, sample_files

# /proc state letters (ground truth recorded in the guest) -> crash's verbose STATE
# (task.c task_state_string_verbose); "I" is TASK_IDLE = TASK_UNINTERRUPTIBLE|TASK_NOLOAD.
VERBOSE_STATE = {
    "S": "TASK_INTERRUPTIBLE",
    "D": "TASK_UNINTERRUPTIBLE",
    "I": "TASK_UNINTERRUPTIBLE|TASK_NOLOAD",
}  # crash prints "%s " and then the (PANIC)/(ACTIVE) mark, if any


@pytest.fixture
def runner(sample_session):
    registry = api.CommandRegistry()
    plugins.load_builtins(registry, report=lambda message: None)
    session = sample_session()
    runner = Runner(session, registry, stdout=io.StringIO(), stderr=io.StringIO())
    yield runner
    session.reset_context()
    session.settings.update(radix=10, scroll=False, pager=None, prompt="crash> ")


def test_help_table_layout(runner) -> None:
    assert runner.execute("help") == 0
    text = runner.stdout.getvalue()
    names = sorted(cls.name for cls in runner.registry.commands() if "/" not in cls.name)
    assert {"help", "set", "exit", "extend"} <= set(names)
    rows = (len(names) + 4) // 5
    lines = text.split("\n")
    assert lines[0] == ""
    table = lines[1 : 1 + rows]
    # crash's display_help_screen(): "%-15s" cells, filled column by column
    for r, line in enumerate(table):
        cells = names[r::rows]
        assert line == "".join(f"{c:<15}" for c in cells)
    assert lines[1 + rows] == ""
    assert lines[2 + rows].startswith("pycrash version: 0.1.0    drgn version: 0.3.0")
    assert lines[3 + rows :] == [
        'For help on any command above, enter "help <command>".',
        'For help on input options, enter "help input".',
        'For help on output options, enter "help output".',
        "",
        "",
    ]


def test_help_page_layout(runner) -> None:
    """crash 8.0.6's "help exit", character for character."""
    assert runner.execute("help exit") == 0
    assert runner.stdout.getvalue() == (
        "\nNAME\n  exit - exit this session\n"
        "\nSYNOPSIS\n  exit  \n"
        "\nDESCRIPTION\n"
        "  Bail out of the current crash session.\n"
        "\nNOTE\n"
        '  This command is equivalent to the "q" command.\n\n'
    )


def test_help_of_an_alias_and_of_input(runner) -> None:
    assert runner.execute("help q") == 0
    assert "NAME\n  exit - exit this session\n" in runner.stdout.getvalue()
    assert runner.execute("help input") == 0
    assert "cmd args | shell cmd" in runner.stdout.getvalue()


def test_help_of_an_unknown_command(runner) -> None:
    assert runner.execute("help nosuch") == 1
    assert runner.stderr.getvalue() == 'pycrash: help: No help data for "nosuch" is available.\n'


def context_lines(pid: int, comm: str, cpu: int, state: str, indent: int = 0) -> list[str]:
    pad = " " * indent
    return [f"{pad}    PID: {pid}", f'{pad}COMMAND: "{comm}"', f"{pad}    CPU: {cpu}",
            f"{pad}  STATE: {state}"]


def without_task_line(text: str) -> list[str]:
    return [line for line in text.splitlines() if "TASK: " not in line or "STATE" in line]


def test_set_shows_the_panic_context(runner) -> None:
    panic = testing.manifest("sysrq")["panic"]
    assert runner.execute("set") == 0
    # crash 8.0.6 marks the panic task of this sysrq crash "(PANIC)": with NT_PRSTATUS
    # registers it never searches the stack for sysrq_handle_crash
    assert without_task_line(runner.stdout.getvalue()) == context_lines(
        panic["pid"], panic["comm"], panic["cpu"], "TASK_RUNNING (PANIC)"
    )


@pytest.mark.parametrize("role", ["pycrash_sleeper", "pycrash_dstate", "sleep"])
def test_set_pid_switches_context(runner, role: str) -> None:
    truth = testing.manifest("sysrq")["ground_truth"]
    pid = truth["roles"][role]
    proc = next(p for p in truth["processes"] if p["pid"] == pid)
    assert runner.execute(f"set {pid}") == 0
    text = runner.stdout.getvalue()
    assert without_task_line(text) == context_lines(pid, proc["comm"], proc["cpu"],
                                                    VERBOSE_STATE[proc["state"]] + " ")
    task = int(text.split("TASK: ")[1].split()[0], 16)
    assert runner.session.context.task == task and runner.session.context.pid == pid
    # set TASK gives the same context; set -p goes back to the panic task
    runner.stdout.truncate(0)
    runner.stdout.seek(0)
    assert runner.execute(f"set {task:x}") == 0
    assert runner.stdout.getvalue() == text
    assert runner.execute("set -p") == 0
    assert runner.session.context.pid == testing.manifest("sysrq")["panic"]["pid"]


def test_set_of_an_unknown_pid(runner) -> None:
    assert runner.execute("set 99999") == 1
    assert runner.stderr.getvalue() == "pycrash: set: invalid task or pid value: 99999\n"


def test_set_variables(runner) -> None:
    # no terminal, no pager: crash 8.0.6 then answers "scroll: off (none)" whatever is asked
    assert runner.execute("set scroll on") == 0
    runner.session.settings["pager"] = "/usr/bin/less"  # as on a terminal
    for line in ("set radix 16", "set scroll on", "set scroll off", "set prompt 'pycrash> '"):
        assert runner.execute(line) == 0
    assert runner.stdout.getvalue() == (
        "scroll: off (none)\noutput radix: 16 (hex)\nscroll: on (/usr/bin/less)\n"
        "scroll: off (/usr/bin/less)\nprompt: \"pycrash> \"\n"
    )
    assert runner.session.settings["radix"] == 16
    assert runner.session.settings["prompt"] == "pycrash> "


def test_startup_summary(tmp_path) -> None:
    """Without -c and -s: the sys output, then the panic context indented by 5, as crash."""
    panic = testing.manifest("sysrq")["panic"]
    plain = pycrash("-c", "sys", *sample_files(), home=tmp_path)
    started = pycrash(*sample_files(), home=tmp_path, stdin="")
    assert started.status == 0, started.stderr
    head = "\npycrash 0.1.0 (drgn 0.3.0)\n\n"
    assert started.stdout.startswith(head + plain.stdout)
    context = started.stdout[len(head + plain.stdout) :]
    assert without_task_line(context) == context_lines(
        panic["pid"], panic["comm"], panic["cpu"], "TASK_RUNNING (PANIC)", indent=5
    ) + [""]


def _recorded(scenario: str, dumpname: str, command: str) -> str:
    try:
        return testing.crash_output(scenario, dumpname, command)
    except KeyError:
        pytest.skip(f"no crash recording of {command!r} for {scenario}/{dumpname} yet")


def test_help_r_equals_crash(sample_session) -> None:
    """help -r: the NT_PRSTATUS registers of each CPU, as crash 8.0.6 printed them."""
    dumpname = "zlib31"  # crash's "help -r" was recorded on the primary dump only
    expected = _recorded("sysrq", dumpname, "help -r")
    out = io.StringIO()
    registry = api.CommandRegistry()
    plugins.load_builtins(registry, report=lambda message: None)
    assert Runner(sample_session("sysrq", dumpname), registry, stdout=out).execute("help -r") == 0
    assert out.getvalue() == expected


def test_set_pid_equals_crash(runner) -> None:
    """set PID: crash 8.0.6's recorded output, when the recordings hold it."""
    pid = testing.manifest("sysrq")["ground_truth"]["roles"]["pycrash_sleeper"]
    expected = _recorded("sysrq", "zlib31", f"set {pid}")
    assert runner.execute(f"set {pid}") == 0
    assert runner.stdout.getvalue() == expected
