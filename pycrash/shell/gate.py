"""Keeping the shell's background drgn work out of the way of running commands.

A drgn Program is not meant to be used from two threads at once, and drgn calls back into
Python (the core's reads) in the middle of its own calls.  The shell's completion work (type
and task indexes) therefore runs drgn calls only while holding :data:`DRGN_GATE`, and the REPL
holds it for the whole of each command.  The type-name walk over the DWARF (no drgn, but
seconds of pure Python that would take the GIL from a command) runs in slices under it too.
The REPL announces that it wants the gate, so background work stops at its next chunk instead
of starving the command.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

__all__ = ["DRGN_GATE", "DrgnGate"]


class DrgnGate:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._command_waiting = threading.Event()
        self._command_thread: int | None = None

    @contextlib.contextmanager
    def command(self) -> Iterator[None]:
        """Held by the REPL while a command runs (background work pauses)."""
        self._command_waiting.set()
        try:
            with self._lock:
                self._command_thread = threading.get_ident()
                try:
                    yield
                finally:
                    self._command_thread = None
        finally:
            self._command_waiting.clear()

    @contextlib.contextmanager
    def background(self) -> Iterator[None]:
        """Held by completion work around a short batch of drgn calls.

        Called from the command's own thread (a command using a completion index), it just
        goes ahead: the gate is already that thread's.
        """
        if self._command_thread != threading.get_ident():
            while self._command_waiting.is_set():
                time.sleep(0.02)
        with self._lock:
            yield

    @property
    def command_waiting(self) -> bool:
        """True while a command runs or waits to: long background loops should stop early."""
        return self._command_waiting.is_set()


DRGN_GATE = DrgnGate()
