"""Importing heavy libraries while drgn loads the DWARF.

A command module imported before the session's DWARF is loaded names a heavy library it will
need (``bt``: capstone, about 50 ms to import) with :func:`import_during_debuginfo_load`; the
session starts those imports in a thread just before it loads the DWARF
(:func:`start_wanted_imports`), so that they run while libdrgn indexes it (it releases the GIL
for that) instead of after.  Python's per-module import locks make a later ``import`` of the
same module in the main thread wait for this one to finish; an import that fails here fails
again, and is reported, where the module is really used.
"""

from __future__ import annotations

import importlib
import sys
import threading

__all__ = ["import_during_debuginfo_load", "start_wanted_imports"]

_wanted: list[str] = []


def import_during_debuginfo_load(name: str) -> None:
    """Ask for ``name`` to be imported while the next DWARF load runs."""
    if name not in _wanted:
        _wanted.append(name)


def start_wanted_imports() -> None:
    """Start importing the modules asked for (those not imported yet) in a daemon thread."""
    missing = [name for name in _wanted if name not in sys.modules]
    _wanted.clear()
    if not missing:
        return

    def run() -> None:
        for name in missing:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the import where it is used reports it
                pass

    threading.Thread(target=run, name="pycrash-import", daemon=True).start()
