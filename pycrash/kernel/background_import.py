"""Importing a module in a thread while the main thread waits on something else.

A command whose module is imported before the session's DWARF is loaded can start the import
of a heavy library it will need (``bt``: capstone, about 50 ms) so that it runs while drgn
indexes the DWARF (libdrgn releases the GIL for that).  Python's per-module import locks make
a later ``import`` of the same module in the main thread wait for this one to finish; an import
that fails here fails again, and is reported, where the module is really used.
"""

from __future__ import annotations

import importlib
import sys
import threading

__all__ = ["import_in_background"]


def import_in_background(*names: str) -> None:
    """Start importing the modules ``names`` (those not imported yet) in a daemon thread."""
    missing = [name for name in names if name not in sys.modules]
    if not missing:
        return

    def run() -> None:
        for name in missing:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the import where it is used reports it
                pass

    threading.Thread(target=run, name="pycrash-import", daemon=True).start()
