"""The Runner in-process: parsing, crash's shortcuts, faults, interrupts, JSON."""

from __future__ import annotations

import io
import json

import pytest

from pycrash import api, plugins, testing
from pycrash.api import Arg, Command, CommandError
from pycrash.runner import Runner, parse_line, split_commands


@pytest.mark.parametrize(
    ("line", "words", "pipeline", "redirect", "append"),
    [
        ("p init_task->pid", ["p", "init_task->pid"], None, None, False),
        ("log | grep -i 'a|b'", ["log"], "grep -i 'a|b'", None, False),
        ("struct task_struct > /tmp/x", ["struct", "task_struct"], None, "/tmp/x", False),
        ("rd -s 0x10 >> out.txt", ["rd", "-s", "0x10"], None, "out.txt", True),
        ("search -c 'a > b'", ["search", "-c", "a > b"], None, None, False),
        ('eval "1 | 2"', ["eval", "1 | 2"], None, None, False),
    ],
)
def test_parse_line(line, words, pipeline, redirect, append) -> None:
    parsed = parse_line(line)
    assert (parsed.words, parsed.pipeline, parsed.redirect, parsed.append) == (
        words, pipeline, redirect, append
    )


def test_parse_shell_escape() -> None:
    assert parse_line("!ls -l | wc").shell == "ls -l | wc"


def test_split_commands() -> None:
    assert split_commands("sys; log | grep ';'\nps ;; bt") == ["sys", "log | grep ';'", "ps", "bt"]


# -- dispatch with commands of this test's own registry ---------------------------------------

class Echo(Command):
    """Prints the words it was given (stands for crash's p and struct)."""

    arguments = (Arg("words", nargs="*"),)
    needs_debuginfo = False

    def run(self, ctx, args):
        return {"command": self.name, "words": args.words}

    def render(self, ctx, data):
        ctx.out.write(f"{data['command']}: {' '.join(data['words'])}\n")


class P(Echo):
    name = "p"


class Struct(Echo):
    name = "struct"


class Union(Echo):
    name = "union"


class Fault(Command):
    name = "fault"
    needs_debuginfo = False
    arguments = (Arg("how"),)

    def run(self, ctx, args):
        ctx.out.write("partial output\n")
        if args.how == "core":
            ctx.session.dump.read(0x0000700000000000, 8)  # user half: no kernel mapping
        if args.how == "drgn":
            ctx.session.prog.read(0xFFFFFFFFFFFF0000, 8)
        if args.how == "interrupt":
            for _ in ctx.progress(range(10), "things"):
                raise KeyboardInterrupt
        if args.how == "bug":
            return {}["missing"]
        raise CommandError("told to fail")


@pytest.fixture
def runner(sample_session):
    registry = api.CommandRegistry()
    plugins.load_builtins(registry, report=lambda message: None)
    for cls in (P, Struct, Union, Fault):  # stand-ins for the real p, struct and union
        registry.add(cls, "test")
    session = sample_session()
    out, err = io.StringIO(), io.StringIO()
    runner = Runner(session, registry, stdout=out, stderr=err)
    yield runner
    session.settings["debug"] = False
    session.settings["json"] = False


def outputs(runner: Runner) -> tuple[str, str]:
    return runner.stdout.getvalue(), runner.stderr.getvalue()


def test_symbol_word_runs_p(runner) -> None:
    # jiffies is a kernel variable in every kernel; crash turns "jiffies" into "p jiffies".
    assert runner.execute("jiffies") == 0
    assert outputs(runner) == ("p: jiffies\n", "")


def test_type_word_runs_struct(runner) -> None:
    assert runner.execute("task_struct 0xffff888000000000") == 0
    assert outputs(runner) == ("struct: task_struct 0xffff888000000000\n", "")


def test_union_word_runs_union(runner) -> None:
    # include/uapi/asm-generic/siginfo.h: union sigval { int sival_int; void *sival_ptr; }
    assert runner.execute("sigval") == 0
    assert outputs(runner) == ("union: sigval\n", "")


def test_unknown_word(runner) -> None:
    assert runner.execute("no_such_symbol_or_command") == 1
    assert outputs(runner) == ("", "pycrash: command not found: no_such_symbol_or_command\n")


@pytest.mark.parametrize("how", ["core", "drgn"])
def test_faults_are_one_line_after_the_partial_output(runner, how) -> None:
    assert runner.execute(f"fault {how}") == 1
    out, err = outputs(runner)
    assert out == "partial output\n"
    assert err.startswith("pycrash: fault: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_fault_names_the_address(runner) -> None:
    runner.execute("fault drgn")
    assert "0xffffffffffff0000" in runner.stderr.getvalue()


def test_interrupt(runner) -> None:
    assert runner.execute("fault interrupt") == 1
    assert outputs(runner) == ("partial output\n", "pycrash: fault: interrupted\n")


def test_interrupt_stops_a_script(runner) -> None:
    assert runner.execute_script("p one; fault interrupt; p two") == 1
    assert runner.interrupted and not runner.exit_requested
    assert outputs(runner) == ("p: one\npartial output\n", "pycrash: fault: interrupted\n")


def test_command_error(runner) -> None:
    assert runner.execute("fault other") == 1
    assert outputs(runner) == ("partial output\n", "pycrash: fault: told to fail\n")


def test_bug_is_one_line_unless_debug(runner) -> None:
    assert runner.execute("fault bug") == 1
    assert runner.stderr.getvalue() == "pycrash: fault: KeyError: 'missing'\n"
    runner.session.settings["debug"] = True
    runner.execute("fault bug")
    err = runner.stderr.getvalue().splitlines()
    assert err[1] == "pycrash: fault: KeyError: 'missing'"
    assert err[2] == "Traceback (most recent call last):"
    assert err[-1] == "KeyError: 'missing'"


def test_fault_traceback_with_debug(runner) -> None:
    runner.session.settings["debug"] = True
    runner.execute("fault core")
    err = runner.stderr.getvalue().splitlines()
    assert err[0].startswith("pycrash: fault: ") and err[1].startswith("Traceback")


def test_bad_option(runner) -> None:
    assert runner.execute("set -z") == 1
    assert outputs(runner) == ("", "pycrash: set: unrecognized arguments: -z\n")


def test_json_per_runner_and_by_set(runner) -> None:
    runner.json = True
    assert runner.execute("p a b") == 0
    assert json.loads(runner.stdout.getvalue()) == {"command": "p", "words": ["a", "b"]}
    runner.json = False
    runner.stdout.truncate(0)
    runner.stdout.seek(0)
    assert runner.execute("set json on") == 0
    assert runner.stdout.getvalue() == "json: on\n"
    runner.stdout.truncate(0)
    runner.stdout.seek(0)
    assert runner.execute("struct x") == 0
    assert json.loads(runner.stdout.getvalue()) == {"command": "struct", "words": ["x"]}


def test_exit_requested(runner) -> None:
    assert runner.execute_script("p one; exit; p two") == 0
    assert runner.exit_requested
    assert runner.stdout.getvalue() == "p: one\n"


def test_pipeline_receives_the_output(runner) -> None:
    assert runner.execute("p alpha beta | tr a-z A-Z") == 0
    assert runner.stdout.getvalue() == "P: ALPHA BETA\n"


def test_symbol_address_without_dwarf(sample_session) -> None:
    """Symbols resolve from the ELF symbol table (KASLR applied) without loading DWARF."""
    from pycrash.session import open_session

    scenario = "sysrq"
    kallsyms = testing.manifest(scenario)["ground_truth"]["kallsyms"]
    dumpname = next(d["name"] for d in testing.manifest(scenario)["dumps"] if d["primary"])
    session = open_session(testing.dump_paths(scenario, dumpname), testing.vmlinux_path())
    for name in ("linux_banner", "init_task", "jiffies"):
        if name in kallsyms:
            assert session.symbol_address(name) == int(kallsyms[name]["address"], 16)
    assert not session.prog_loaded
    session.close()


def test_pipe_and_redirect_inside_parentheses_belong_to_the_expression() -> None:
    # crash's eval help: "An expression with redirection characters must be put in parentheses"
    from pycrash.runner import parse_line

    parsed = parse_line("eval (1 | 2) | cat")
    assert parsed.words == ["eval", "(1", "|", "2)"] and parsed.pipeline == "cat"
    parsed = parse_line("eval (0x10 >> 2) > /tmp/x")
    assert parsed.words == ["eval", "(0x10", ">>", "2)"] and parsed.redirect == "/tmp/x"
