"""The transient progress line of long walks (``ctx.progress``) and Ctrl-C.

``make_progress_hook(sys.stderr)`` gives the callable the Runner puts in
``CommandContext.progress_hook``.  It draws ``label: done/total`` on one line of the terminal
with a carriage return, redraws at most a few times a second, and erases the line when the walk
reports ``done == -1``.  A walk that ends quickly never shows anything, so short commands do
not flicker.  When the stream is not a terminal the hook does nothing.

Ctrl-C needs no help from the hook: outside the prompt, SIGINT raises KeyboardInterrupt in the
main thread at the next Python bytecode, and walks run Python code between reads (drgn calls
back into the core for every read).  ``interrupt_guard`` installs such a handler while a command
runs (whatever a library may have set) and lets the shell erase the progress line first.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

__all__ = ["ProgressLine", "interrupt_guard", "make_progress_hook"]

ProgressHook = Callable[[str, int, "int | None"], None]

# Seconds a walk must last before its line appears, and between two redraws.
SHOW_AFTER = 0.3
REDRAW_EVERY = 0.1
CLEAR_LINE = "\r\x1b[K"


class ProgressLine:
    """One progress line on a terminal stream (call it like the hook)."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._started: dict[str, float] = {}
        self._last_draw = 0.0
        self._shown = False

    def __call__(self, label: str, done: int, total: int | None) -> None:
        if done < 0:
            self._started.pop(label, None)
            self.clear()
            return
        now = self._clock()
        started = self._started.setdefault(label, now)
        if now - started < SHOW_AFTER or (self._shown and now - self._last_draw < REDRAW_EVERY):
            return
        self._draw(self.text(label, done, total))
        self._last_draw = now

    @staticmethod
    def text(label: str, done: int, total: int | None) -> str:
        """``tasks: 128/1042 (12%)``, or ``tasks: 128`` when the total is unknown."""
        if total:
            percent = min(100, done * 100 // total)
            return f"{label}: {done}/{total} ({percent}%)"
        return f"{label}: {done}"

    def _draw(self, text: str) -> None:
        try:
            self._stream.write(CLEAR_LINE + text)
            self._stream.flush()
        except (OSError, ValueError):
            return
        self._shown = True

    def clear(self) -> None:
        """Erase the line if it was drawn (the command's own output then starts clean)."""
        if not self._shown:
            return
        self._shown = False
        try:
            self._stream.write(CLEAR_LINE)
            self._stream.flush()
        except (OSError, ValueError):
            pass


def _no_progress(label: str, done: int, total: int | None) -> None:
    return None


def make_progress_hook(stream: TextIO) -> ProgressHook:
    """The hook for ``CommandContext.progress_hook``: a ProgressLine when ``stream`` is a
    terminal, else a function that does nothing."""
    try:
        is_tty = stream.isatty()
    except (AttributeError, ValueError):
        is_tty = False
    return ProgressLine(stream) if is_tty else _no_progress


@contextlib.contextmanager
def interrupt_guard(on_interrupt: Callable[[], None] | None = None) -> Iterator[None]:
    """Run a command with a SIGINT handler that raises KeyboardInterrupt (Python's default),
    first calling ``on_interrupt`` (the shell erases its progress line there, before the
    Runner prints "interrupted").

    A no-op outside the main thread (signal handlers can only be set there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if on_interrupt is not None:
            try:
                on_interrupt()
            except Exception:  # noqa: BLE001 - never lose the interrupt itself
                pass
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
