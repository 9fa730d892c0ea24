"""The interactive read-execute loop: ``run_repl(session, runner)``.

The CLI calls it when standard input is a terminal and no ``-c`` was given.  Each line goes to
``runner.execute`` (pipes, redirection, ``!``, errors: the Runner's business).  Around each
command the loop:

* restores Python's SIGINT handler, so Ctrl-C raises KeyboardInterrupt inside the command
  (the Runner reports ``interrupted``; anything that escapes it is caught here) and the next
  prompt follows at once;
* holds the drgn gate, so background completion work never touches drgn at the same time;
* gives the Runner a progress hook drawing on stderr.

Ctrl-C at the prompt abandons the line; Ctrl-D on an empty line, ``q`` and ``exit`` leave.
"""

from __future__ import annotations

import sys
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import ThreadedCompleter
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.output import create_output
from prompt_toolkit.shortcuts import CompleteStyle

from pycrash.shell import config
from pycrash.shell.completer import PycrashCompleter
from pycrash.shell.gate import DRGN_GATE
from pycrash.shell.keys import shell_key_bindings
from pycrash.shell.progress import ProgressLine, interrupt_guard, make_progress_hook

__all__ = ["build_prompt_session", "run_repl"]

_COMPLETE_STYLES = {
    "readline": CompleteStyle.READLINE_LIKE,
    "column": CompleteStyle.COLUMN,
    "multi": CompleteStyle.MULTI_COLUMN,
}


def _history() -> History:
    path = config.history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        return FileHistory(str(path))
    except OSError:  # read-only home: keep history for this session only
        return InMemoryHistory()


def _registry(runner: Any) -> Any:
    registry = getattr(runner, "registry", None)
    if registry is None:
        from pycrash.api import registry
    return registry


def build_prompt_session(session: Any, runner: Any, **kwargs: Any) -> PromptSession[str]:
    """The PromptSession of the shell (``kwargs`` go to PromptSession: tests pass input/output)."""
    if "output" not in kwargs:
        # The prompt belongs on the terminal even when stdout is redirected (pycrash > log).
        kwargs["output"] = create_output(always_prefer_tty=True)
    completer = PycrashCompleter(session, _registry(runner))
    style = config.completion_style(session)
    prompt_session: PromptSession[str] = PromptSession(
        history=_history(),
        completer=ThreadedCompleter(completer),
        complete_while_typing=False,
        complete_style=_COMPLETE_STYLES.get(style, CompleteStyle.READLINE_LIKE),
        auto_suggest=AutoSuggestFromHistory(),
        key_bindings=shell_key_bindings(),
        editing_mode=EditingMode.VI if config.vi_mode(session) else EditingMode.EMACS,
        enable_history_search=False,  # Up/Down walk the history; Ctrl-R searches it
        enable_suspend=True,  # Ctrl-Z, as in readline
        **kwargs,
    )
    completer.candidates.warm_up()
    return prompt_session


def _report(message: str) -> None:
    print(f"pycrash: {message}", file=sys.stderr, flush=True)


def run_one(session: Any, runner: Any, line: str) -> int:
    """Run one command line the way the REPL does (Ctrl-C safe); returns its status."""
    progress = getattr(runner, "progress_hook", None)
    clear = progress.clear if isinstance(progress, ProgressLine) else None
    with DRGN_GATE.command(), interrupt_guard(clear):
        try:
            return int(runner.execute(line) or 0)
        except KeyboardInterrupt:
            sys.stdout.flush()
            _report("interrupted")
            return 1
        finally:
            if clear is not None:
                clear()  # a walk that failed never reported its end


def run_repl(session: Any, runner: Any, **prompt_kwargs: Any) -> int:
    """Read and run command lines until Ctrl-D, ``q`` or ``exit``; returns the exit status."""
    if getattr(runner, "progress_hook", None) is None:
        runner.progress_hook = make_progress_hook(sys.stderr)
    prompt_session = build_prompt_session(session, runner, **prompt_kwargs)
    while not getattr(runner, "exit_requested", False):
        try:
            prompt_session.editing_mode = (
                EditingMode.VI if config.vi_mode(session) else EditingMode.EMACS
            )
            line = prompt_session.prompt(config.prompt_text(session))
        except KeyboardInterrupt:
            continue  # Ctrl-C at the prompt: a fresh prompt
        except EOFError:  # Ctrl-D on an empty line: leave the terminal on a fresh line
            prompt_session.output.write_raw("\n")
            prompt_session.output.flush()
            break
        if not line.strip():
            continue
        try:
            run_one(session, runner, line)
        except SystemExit as exit_:
            code = exit_.code
            return code if isinstance(code, int) else 0
        except KeyboardInterrupt:  # pressed again while reporting the first one
            _report("interrupted")
    return 0
