"""Errors the framework raises on purpose, each printed as one line.

The exit statuses of the ``pycrash`` program come from here: a :class:`UsageError` or a
:class:`SessionError` (the dump or vmlinux could not be opened) ends the program with status 2;
a failed command (:class:`pycrash.api.CommandError`, a fault) makes it end with status 1.
"""

from __future__ import annotations

from pycrash.api import CommandError
from pycrash.core.errors import FaultError, PycrashError

__all__ = [
    "CommandError",
    "ExitRequested",
    "FaultError",
    "NoDebugInfoError",
    "PycrashError",
    "SessionError",
    "UsageError",
]


class SessionError(PycrashError):
    """The dump or the vmlinux cannot be used: not found, unreadable, or not matching."""


class UsageError(SessionError):
    """The command line itself is wrong (no dump given, two vmlinux files, ...)."""


class NoDebugInfoError(CommandError):
    """A command needs vmlinux DWARF and the session has none."""


class ExitRequested(Exception):  # noqa: N818 - a request, not an error
    """Raised by the ``exit``/``q`` command; the Runner records it and returns 0."""
