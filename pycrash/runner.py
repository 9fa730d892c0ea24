"""Running one command line with crash's input/output conventions.

A line is ``WORD ARGS... [| shell pipeline]`` or ``WORD ARGS... [> file | >> file]`` or
``!shell command``.  The command's output is collected, then handed to the pipeline, the file,
the pager (``less -E -X -R`` when ``set scroll on`` and the output is a terminal taller than the
screen) or the output stream.  Only the text the user typed after ``|`` or ``!`` ever reaches a
shell; the dump's contents are written to the pipeline's standard input.

An unknown first word that names a struct/union type runs ``struct WORD``, one that names a
kernel symbol runs ``p WORD`` (when those commands exist), as in crash.

Failures are one line on stderr, ``pycrash: NAME: message``; tracebacks only with
``set debug on`` / ``--debug``.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shlex
import shutil
import sys
import traceback
import types
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from pycrash import api
from pycrash.api import CommandContext, CommandError, CommandRegistry
from pycrash.errors import ExitRequested

if TYPE_CHECKING:
    from pycrash.session import Session

__all__ = ["CommandLine", "Runner", "WriteError", "parse_line", "split_commands"]

# -R: let highlighted output keep its colours
PAGER = ["less", "-E", "-X", "-R"]


class WriteError(Exception):
    """pycrash's own output stream could not be written (a full disk, a terminal that went
    away): the session cannot go on.  ``str()`` is the system's reason, e.g. "No space left
    on device".  A reader that went away (``| head``) raises BrokenPipeError instead."""


@dataclasses.dataclass
class CommandLine:
    """One parsed input line."""

    words: list[str]
    # the same words with their quotes kept, for commands that hand text to an expression
    # parser as crash hands it to gdb (``p 'A' + 1``, ``p "abc"``)
    quoted_words: list[str] = dataclasses.field(default_factory=list)
    pipeline: str | None = None  # shell text after an unquoted "|"
    redirect: str | None = None  # file after an unquoted ">" or ">>"
    append: bool = False  # ">>"
    shell: str | None = None  # "!shell command": the text after "!"


def _unquoted(text: str) -> Iterator[tuple[int, str]]:
    """``(index, char)`` of the characters of ``text`` outside single and double quotes."""
    quote = None
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
            continue
        if ch == "\\" and quote != "'":
            escaped = True
            continue
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
            continue
        yield i, ch


def split_commands(text: str) -> list[str]:
    """Split ``-c`` text or a script into command lines at unquoted ``;`` and newlines."""
    lines = []
    for raw in text.splitlines():
        start = 0
        for i, ch in _unquoted(raw):
            if ch == ";":
                lines.append(raw[start:i])
                start = i + 1
        lines.append(raw[start:])
    return [line.strip() for line in lines if line.strip()]


def parse_line(line: str) -> CommandLine:
    """Split a command line into words, pipeline and redirection (CommandError if malformed)."""
    line = line.strip()
    if line.startswith("!"):
        return CommandLine(words=[], shell=line[1:].strip())
    command, pipeline, redirect, append = line, None, None, False
    depth = 0  # crash: "|" and ">" inside parentheses belong to the expression, not the shell
    for i, ch in _unquoted(line):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        if depth:
            continue
        if ch == "|":
            command, pipeline = line[:i], line[i + 1 :].strip()
            if not pipeline:
                raise CommandError("no shell command after '|'")
            break
        # '>' is a redirection unless it is the arrow of "a->b".
        if ch == ">" and not (i > 0 and line[i - 1] == "-"):
            command = line[:i]
            rest = line[i + 1 :]
            if rest.startswith(">"):
                append, rest = True, rest[1:]
            try:
                targets = shlex.split(rest)
            except ValueError as err:
                raise CommandError(f"bad redirection: {err}") from None
            if len(targets) != 1:
                raise CommandError("redirection needs exactly one file name")
            redirect = os.path.expanduser(targets[0])
            break
    try:
        words = shlex.split(command)
        lexer = shlex.shlex(command, posix=False)
        lexer.whitespace_split = True
        quoted_words = list(lexer)
    except ValueError as err:
        raise CommandError(f"cannot parse command line: {err}") from None
    return CommandLine(
        words=words, quoted_words=quoted_words, pipeline=pipeline, redirect=redirect,
        append=append,
    )


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    return first or type(err).__name__


class Runner:
    """Runs command lines against a session; ``execute`` returns 0 (ok) or 1 (failed).

    ``exit_requested`` becomes True after ``q``/``exit``: the caller stops reading input;
    ``interrupted`` after Ctrl-C stopped a command: a script or ``-c`` list stops there.
    ``progress_hook`` (set by the interactive shell) is passed to every command's context.
    """

    def __init__(
        self,
        session: Session,
        registry: CommandRegistry | None = None,
        stdout: TextIO | None = None,
        json: bool = False,
        *,
        stderr: TextIO | None = None,
    ) -> None:
        self.session = session
        self.registry = registry if registry is not None else api.registry
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr
        self.json = json
        self.exit_requested = False
        # Long walks (ctx.progress) draw a progress line when stderr is a terminal: at the
        # prompt and for -c / -i commands alike.
        self.progress_hook: Any = _terminal_progress(self.stderr or sys.stderr)
        self._pending: list[str] = []
        # Set by Ctrl-C during a command: execute_script() stops there (the REPL just goes on).
        self.interrupted = False

    # -- entry points ----------------------------------------------------------------------

    def execute(self, line: str) -> int:
        """Run one command line (no ``;`` splitting)."""
        line = line.strip()
        if not line or line.startswith("#"):
            return 0
        try:
            parsed = parse_line(line)
        except CommandError as err:
            self._error(None, str(err))
            return 1
        if parsed.shell is not None:
            return self._run_shell(parsed.shell)
        return self._run_command(parsed)

    def execute_script(self, text: str) -> int:
        """Run every command of ``text`` (``;``/newline separated); 1 if any failed."""
        status = 0
        self.interrupted = False
        for line in split_commands(text):
            status = max(status, self.execute(line))
            if self.exit_requested or self.interrupted:
                break
        return status

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _err(self) -> TextIO:
        return self.stderr if self.stderr is not None else sys.stderr

    def _error(self, name: str | None, message: str) -> None:
        prefix = f"pycrash: {name}: " if name else "pycrash: "
        self._flush_stdout()
        print(prefix + message, file=self._err, flush=True)

    def _defer(self, name: str | None, message: str) -> None:
        """An error of the running command, printed once its output has been delivered."""
        prefix = f"pycrash: {name}: " if name else "pycrash: "
        self._pending.append(prefix + message)

    def _flush_stdout(self) -> None:
        try:
            self.stdout.flush()
        except (OSError, ValueError):
            pass

    def _stdout_fd(self) -> int | None:
        """The file descriptor behind ``stdout``, if it is a real file (not a StringIO)."""
        try:
            return self.stdout.fileno()
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            return None

    def _resolve(self, words: list[str]) -> tuple[type[api.Command] | None, list[str]]:
        """The command class for the words, trying crash's type/symbol shortcuts."""
        word = words[0]
        cls = self.registry.get(word)
        if cls is not None:
            return cls, words[1:]
        for kind in ("struct", "union"):
            if self.registry.get(kind) is not None and self._names_type(kind, word):
                return self.registry.get(kind), words
        if self.registry.get("p") is not None and self._names_symbol(word):
            return self.registry.get("p"), words
        return None, words

    def _names_type(self, kind: str, word: str) -> bool:
        if not word.isidentifier() or not self.session.has_debuginfo:
            return False
        try:
            self.session.prog.type(f"{kind} {word}")
            return True
        except LookupError:
            return False
        except Exception:  # noqa: BLE001 - no debuginfo: not a type we can show
            return False

    def _names_symbol(self, word: str) -> bool:
        if not word.isidentifier():
            return False
        try:
            return self.session.symbol_address(word) is not None
        except Exception:  # noqa: BLE001
            return False

    def _run_shell(self, text: str) -> int:
        import subprocess  # only shell escapes, pipelines and the pager start processes

        command = text or os.environ.get("SHELL", "/bin/sh")
        self._flush_stdout()
        fd = self._stdout_fd()
        try:
            if fd is not None:
                proc = subprocess.run(command, shell=True, stdout=fd)
            else:
                proc = subprocess.run(command, shell=True, stdout=subprocess.PIPE)
                self.stdout.write(proc.stdout.decode("utf-8", "replace"))
        except KeyboardInterrupt:
            self._error(None, "interrupted")
            return 1
        except OSError as err:
            self._error(None, f"!{command}: {err.strerror or err}")
            return 1
        return 0 if proc.returncode == 0 else 1

    def _run_command(self, parsed: CommandLine) -> int:
        cls, argv = self._resolve(parsed.words)
        if cls is not None and cls.keep_quotes and len(parsed.quoted_words) == len(parsed.words):
            argv = parsed.quoted_words[len(parsed.words) - len(argv) :]
        if cls is None:
            self._error(None, f"command not found: {parsed.words[0]}")
            return 1
        name = cls.name
        redirect_file = None
        if parsed.redirect is not None:
            try:
                redirect_file = open(parsed.redirect, "a" if parsed.append else "w")  # noqa: SIM115
            except OSError as err:
                self._error(name, f"{parsed.redirect}: {err.strerror or err}")
                return 1
        buffer = io.StringIO()
        self._pending = []
        written = True
        try:
            status = self._invoke(cls, argv, buffer)
        finally:
            try:
                written = self._deliver(buffer.getvalue(), parsed, redirect_file, cls)
            finally:
                if redirect_file is not None:
                    try:
                        redirect_file.close()
                    except OSError:  # its write error was reported by _deliver
                        written = False
                # errors after the output they interrupted, as on a terminal they happened
                pending, self._pending = self._pending, []
                for message in pending:
                    self._flush_stdout()
                    print(message, file=self._err, flush=True)
        return status if written else max(status, 1)

    def _invoke(self, cls: type[api.Command], argv: list[str], out: io.StringIO) -> int:
        """Parse, run and render one command into ``out``; report failures in one line."""
        from pycrash.core.errors import PycrashError

        name = cls.name
        settings = self.session.settings
        json_mode = (self.json or bool(settings.get("json"))) and cls.json
        command = cls()
        self.session.wait_for_background_load()
        try:
            args = cls.parse(argv)
            ctx = CommandContext(
                session=self.session,
                out=out,
                args=args,
                command=command,
                json=json_mode,
                progress_hook=self.progress_hook,
                registry=self.registry,
            )
            if cls.needs_debuginfo:
                self.session.prog  # noqa: B018 - load DWARF now; raises if there is none
            data = command.run(ctx, args)
            if json_mode:
                import json

                if isinstance(data, (types.GeneratorType, Iterator)):
                    data = list(data)
                json.dump(command.to_json(ctx, data), out, indent=2, default=str)
                out.write("\n")
            else:
                command.render(ctx, data)
            return 0
        except ExitRequested:
            self.exit_requested = True
            return 0
        except KeyboardInterrupt:
            clear = getattr(self.progress_hook, "clear", None)
            if clear is not None:  # "interrupted" must not land on the progress line
                clear()
            self._defer(name, "interrupted")
            self.interrupted = True
            return 1
        except CommandError as err:
            self._defer(name, _one_line(err))
            return 1
        except (PycrashError, OSError) as err:  # core faults, session errors, files
            self._defer(name, _one_line(err))
            self._defer_traceback()
            return 1
        except Exception as err:  # noqa: BLE001 - drgn errors and bugs alike: one line
            if _is_drgn_fault(err):
                self._defer(name, _one_line(err))
            elif _is_bad_debuginfo(err):
                # drgn parses DWARF lazily: a damaged vmlinux shows up in whichever command
                # first needs the broken type, as drgn.BadDataError.
                self._defer(name, f"damaged debuginfo: {_one_line(err)}")
            else:
                self._defer(name, f"{type(err).__name__}: {_one_line(err)}")
            self._defer_traceback()
            return 1

    def _defer_traceback(self) -> None:
        """With ``set debug on``: the traceback of the exception being handled, after its line."""
        if self.session.settings.get("debug"):
            self._pending.append(traceback.format_exc().rstrip("\n"))

    def _deliver(
        self,
        text: str,
        parsed: CommandLine,
        redirect_file: TextIO | None,
        cls: type[api.Command] | None = None,
    ) -> bool:
        """Send a command's output to the pipeline, the file, the pager or ``stdout``.

        Only output going straight to a terminal (the pager included) is highlighted; a pipe or
        a file gets crash's plain text.  False when the ``> file`` could not be written (the
        error is reported after the output, as the command's own); raises WriteError (or
        BrokenPipeError) when ``stdout`` cannot be written."""
        if not text:
            return True
        if redirect_file is not None:
            try:
                redirect_file.write(text)
                redirect_file.flush()
            except OSError as err:
                self._defer(cls.name if cls is not None else None,
                            f"{parsed.redirect}: {err.strerror or err}")
                return False
            return True
        if parsed.pipeline is None and not self._wants_pager(text):
            try:
                self.stdout.write(self._coloured(text, cls, self.stdout))
                self.stdout.flush()
            except BrokenPipeError:
                raise  # the reader went away (| head): the program ends quietly
            except OSError as err:
                raise WriteError(err.strerror or str(err)) from None
            return True
        try:
            if parsed.pipeline is not None:
                self._pipe(text, parsed.pipeline)
            else:
                self._page(self._coloured(text, cls, sys.stdout))
        except BrokenPipeError:
            pass
        return True

    def _coloured(self, text: str, cls: type[api.Command] | None, stream: TextIO) -> str:
        if cls is None or not getattr(cls, "highlight", None):
            return text  # pygments is imported only for commands that ask for colour
        from pycrash.shell.highlight import colour_for_terminal

        return colour_for_terminal(text, cls, stream, self.session)

    def _pipe(self, text: str, pipeline: str) -> None:
        import subprocess

        self._flush_stdout()
        fd = self._stdout_fd()
        data = text.encode("utf-8", "replace")
        try:
            if fd is not None:
                subprocess.run(pipeline, shell=True, input=data, stdout=fd)
            else:
                proc = subprocess.run(pipeline, shell=True, input=data, stdout=subprocess.PIPE)
                self.stdout.write(proc.stdout.decode("utf-8", "replace"))
        except (OSError, KeyboardInterrupt) as err:
            self._error(None, f"| {pipeline}: {_one_line(err) or 'interrupted'}")

    def _wants_pager(self, text: str) -> bool:
        if not self.session.settings.get("scroll") or self.stdout is not sys.stdout:
            return False
        try:
            if not (sys.stdout.isatty() and sys.stdin.isatty()):
                return False
        except (AttributeError, ValueError):
            return False
        rows = shutil.get_terminal_size((80, 24)).lines
        return text.count("\n") >= rows - 1 and bool(self.session.settings.get("pager"))

    def _page(self, text: str) -> None:
        import subprocess

        self._flush_stdout()
        pager = str(self.session.settings.get("pager"))
        command = [pager, *PAGER[1:]] if pager.endswith("less") else [pager]
        try:
            subprocess.run(command, input=text.encode("utf-8", "replace"))
        except (OSError, KeyboardInterrupt):
            pass


def _terminal_progress(stream: TextIO) -> Any:
    """The progress hook for ``stream``: a progress line on a terminal, else None."""
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    from pycrash.shell.progress import make_progress_hook

    return make_progress_hook(stream)


def _is_bad_debuginfo(err: BaseException) -> bool:
    """drgn's ``BadDataError`` or pycrash's ``ElfFormatError``: the vmlinux or a module
    object (not the dump) is malformed."""
    from pycrash.elfsections import ElfFormatError

    kind = type(err)
    return isinstance(err, ElfFormatError) or (
        kind.__name__ == "BadDataError" and kind.__module__ in ("_drgn", "drgn"))


def _is_drgn_fault(err: BaseException) -> bool:
    try:
        import drgn
    except ImportError:  # pragma: no cover
        return False
    return isinstance(err, (drgn.FaultError, drgn.ObjectAbsentError))
