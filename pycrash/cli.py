"""The ``pycrash`` program: ``pycrash [options] [VMLINUX] [DUMP...]``.

The files are told apart by content (a vmlinux is an ELF executable; anything else is a dump),
in any order.  Exit status: 0 when every command succeeded, 1 when one failed, 2 when the dump or
vmlinux could not be opened or the arguments were wrong.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pycrash import __version__

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# errno values of a write that cannot succeed later: a full disk or quota, a file too large,
# an I/O error (a terminal gone); EPIPE is BrokenPipeError, handled on its own
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})

DESCRIPTION = """\
A kernel crash-dump debugger in the style of crash(8).  Give the dump (and, optionally, its
vmlinux, in any order): without a vmlinux, pycrash looks for one matching the dump's build-id
and release in /usr/lib/debug, /boot and /lib/modules."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pycrash", description=DESCRIPTION)
    parser.add_argument("files", nargs="*", metavar="FILE", help="the dump and its vmlinux")
    parser.add_argument("-c", dest="commands", action="append", default=[], metavar="CMDS",
                        help="run these ';'-separated commands and exit (repeatable)")
    parser.add_argument("-i", dest="input_files", action="append", default=[], metavar="FILE",
                        help="run the commands in FILE, then stay interactive")
    parser.add_argument("-s", dest="silent", action="store_true",
                        help="no banner or startup summary, no pager")
    parser.add_argument("--demo", action="store_true",
                        help="open the bundled sample dump (sysrq crash)")
    parser.add_argument("--force", action="store_true",
                        help="use the given vmlinux even if it does not match the dump")
    parser.add_argument("--json", action="store_true",
                        help="print commands that support it as JSON")
    parser.add_argument("--zero-excluded", action="store_true",
                        help="read pages excluded from the dump as zeroes")
    parser.add_argument("--minimal", action="store_true",
                        help="never load the vmlinux DWARF: only commands that work from the "
                             "dump, VMCOREINFO and the ELF symbol table (log, rd, sym, ...)")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


def version_text() -> str:
    import drgn

    return f"pycrash {__version__} (drgn {drgn.__version__})"


def _say(message: str) -> None:
    print(f"pycrash: {message}", file=sys.stderr, flush=True)


def _demo_files() -> list[Path]:
    """The bundled sample: scenario "sysrq", its primary dump, and the sample vmlinux."""
    from pycrash import testing

    dumps = testing.manifest("sysrq")["dumps"]
    name = next((d["name"] for d in dumps if d.get("primary")), None)
    if name is None:
        raise FileNotFoundError("the sample manifest marks no primary dump")
    return [testing.vmlinux_path(), *testing.dump_paths("sysrq", name)]


def _split_files(files: Sequence[str]) -> tuple[Path | None, list[Path]]:
    """(vmlinux, dumps) from the command line's files, told apart by content."""
    from pycrash.debuginfo import is_vmlinux
    from pycrash.errors import UsageError

    vmlinux: Path | None = None
    dumps: list[Path] = []
    for name in files:
        path = Path(name)
        if not path.exists():
            raise UsageError(f"{name}: No such file or directory")
        if path.is_dir():
            raise UsageError(f"{name}: Is a directory")
        if not os.access(path, os.R_OK):
            raise UsageError(f"{name}: Permission denied")
        if is_vmlinux(path):
            if vmlinux is not None:
                raise UsageError(f"two kernel images given: {vmlinux} and {name}")
            vmlinux = path
        else:
            dumps.append(path)
    return vmlinux, dumps


def _rc_files() -> list[Path]:
    """~/.pycrashrc, then ./.pycrashrc (once if they are the same file)."""
    found = []
    for path in (Path.home() / ".pycrashrc", Path.cwd() / ".pycrashrc"):
        if path.is_file() and all(not path.samefile(p) for p in found):
            found.append(path)
    return found


def _startup_summary(runner: object, session: object, out: TextIO) -> None:
    """crash's start-up display: the ``sys`` output, then the panic context (indent 5)."""
    from pycrash.runner import Runner

    assert isinstance(runner, Runner)
    out.write(f"\n{version_text()}\n\n")
    out.flush()
    if runner.registry.get("sys") is None:
        return
    runner.execute("sys")
    try:
        from pycrash.commands.set import context_view, render_context

        view = context_view(runner.session, runner.session.context.task)
        render_context(out, view, indent=5)
    except Exception as err:  # noqa: BLE001 - the summary must not stop the session
        _say(f"cannot show the panic context: {str(err).splitlines()[0] if str(err) else err}")
    out.write("\n")
    out.flush()


def _plain_loop(runner: object, prompt_of: object) -> int:
    """The fallback interactive loop when pycrash.shell is not available."""
    from pycrash.runner import Runner

    assert isinstance(runner, Runner)
    while not runner.exit_requested:
        try:
            line = input(runner.session.settings.get("prompt", "crash> "))
        except EOFError:
            print()
            break
        except KeyboardInterrupt:
            print()
            continue
        runner.execute(line)
    return EXIT_OK


def _interactive(runner: object, session: object) -> int:
    try:
        from pycrash.shell.repl import run_repl
    except ImportError:
        return _plain_loop(runner, None)
    from pycrash.runner import WriteError

    try:
        result = run_repl(session, runner)
    except OSError as err:
        # the prompt itself could not be written (stdout on a full disk)
        if err.errno not in _WRITE_ERRNOS:
            raise
        raise WriteError(err.strerror or str(err)) from None
    return result if isinstance(result, int) else EXIT_OK


def _run_stream(runner: object, stream: TextIO) -> int:
    """Commands from a non-terminal stdin, one per line (crash < file)."""
    from pycrash.runner import Runner

    assert isinstance(runner, Runner)
    status = EXIT_OK
    for line in stream:
        status = max(status, runner.execute(line))
        if runner.exit_requested:
            break
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pycrash`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.version:
        print(version_text())
        return EXIT_OK
    from pycrash.runner import WriteError

    try:
        status = _main(args)
        _flush_stdout()
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as a program killed by SIGPIPE.
        _quiet_stdout()
        return EXIT_FAILED
    except WriteError as err:
        _say(f"write error: {err}")
        _quiet_stdout()
        return EXIT_FAILED
    if argv is None and args.commands:
        _end_process(status)
    return status


def _flush_stdout() -> None:
    """Flush ``sys.stdout``; a failure other than a broken pipe raises WriteError."""
    from pycrash.runner import WriteError

    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as err:
        raise WriteError(err.strerror or str(err)) from None


def _quiet_stdout() -> None:
    """The reader of our output went away (``| head``): write the rest nowhere, quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _end_process(status: int) -> None:
    """End a ``-c`` run of the program now that its output is written, skipping the
    interpreter's teardown: freeing the drgn Program, the symbol table and every module
    costs 15-50 ms and prints nothing.  Exit handlers still run.  Not when other threads are
    alive or a plugin was loaded (its unclosed files are flushed by the normal teardown),
    nor when ``main`` is called with arguments (from Python, not as the program)."""
    import atexit
    import threading

    from pycrash import plugins

    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None or threading.active_count() > 1 or \
            plugins.third_party_loaded():
        return
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def _main(args: argparse.Namespace) -> int:
    from pycrash import plugins
    from pycrash.errors import SessionError, UsageError
    from pycrash.runner import Runner, WriteError
    from pycrash.session import Settings, open_session

    try:
        files = list(args.files)
        if args.demo:
            if files:
                raise UsageError("--demo takes no files")
            try:
                files = [str(p) for p in _demo_files()]
            except (OSError, KeyError, ValueError, IndexError) as err:
                raise UsageError(f"--demo: the bundled sample is not available: {err}") from None
        vmlinux, dumps = _split_files(files)
        if not dumps:
            # crash's live form: only a vmlinux (or nothing) given means the running kernel.
            if os.access("/proc/kcore", os.R_OK):
                dumps = [Path("/proc/kcore")]
            else:
                what = "no dump file given" if vmlinux else "no dump file given (nothing to open)"
                print(_parser().format_usage().rstrip(), file=sys.stderr)
                raise UsageError(what)
        settings = Settings(debug=args.debug, json=args.json, silent=args.silent,
                            minimal=args.minimal)
        if sys.stdout.isatty():
            settings["pager"] = next(
                (p for p in ("/usr/bin/less", "/bin/more") if os.path.exists(p)), None
            )
            settings["scroll"] = settings["pager"] is not None and not args.silent
        session = open_session(dumps, vmlinux, force=args.force,
                               zero_excluded=args.zero_excluded, settings=settings)
    except SessionError as err:
        _say(str(err).splitlines()[0] if str(err) else type(err).__name__)
        return EXIT_USAGE
    except Exception as err:  # noqa: BLE001 - a damaged file must not give a traceback
        if args.debug:
            raise
        _say(f"cannot open the dump: {type(err).__name__}: {str(err).splitlines()[0]}")
        return EXIT_USAGE

    with session:
        paths = list(getattr(session.dump, "paths", ()))
        name = paths[0] if len(paths) == 1 else "split set"
        for warning in getattr(session.dump, "warnings", ()):
            _say(f"warning: {name}: {warning}")
        if session.vmlinux_how and session.vmlinux_how != "given":
            _say(f"using debuginfo {session.vmlinux_how}")
        elif session.vmlinux_path is None:
            _say(f"{session.debuginfo_note}; commands that need debuginfo will fail")
        plugins.load_all()
        runner = Runner(session, json=args.json)
        interactive = not args.commands and sys.stdin.isatty()
        if not args.silent and not args.commands and not args.minimal:
            try:
                _startup_summary(runner, session, sys.stdout)
            except BrokenPipeError:
                raise
            except OSError as err:
                raise WriteError(err.strerror or str(err)) from None
        for rc in _rc_files():
            runner.execute_script(rc.read_text(errors="replace"))
        status = EXIT_OK
        for name in args.input_files:
            try:
                text = Path(name).read_text(errors="replace")
            except OSError as err:
                _say(f"{name}: {err.strerror or err}")
                return EXIT_USAGE
            status = max(status, runner.execute_script(text))
            if runner.exit_requested:
                return status
        if args.commands:
            for text in args.commands:
                status = max(status, runner.execute_script(text))
                if runner.exit_requested or runner.interrupted:
                    break
            return status
        if interactive:
            if not args.minimal:
                session.load_in_background()
            return max(status, _interactive(runner, session))
        return max(status, _run_stream(runner, sys.stdin))
