"""A session over a real sample dump whose kernel memory a test can overwrite, in memory.

The committed dump files are never touched: :class:`MemoryOverlay` replaces the session's
``dump.read`` (the one door every byte goes through, drgn's reads included) by one that
returns the dump's bytes with the test's patches laid over them::

    session, overlay = overlay_session()
    with overlay.patched({address: struct.pack("<Q", address)}):   # next -> itself
        ...

Only kernel-virtual reads are patched (physical reads are what user-space walks use).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from typing import Any

from pycrash import testing

__all__ = ["MemoryOverlay", "overlay_session", "u64"]


def u64(value: int) -> bytes:
    return struct.pack("<Q", value & (2**64 - 1))


class MemoryOverlay:
    """Patches {kernel virtual address: bytes} over a Dump's ``read``."""

    def __init__(self, dump: Any) -> None:
        self.patches: dict[int, bytes] = {}
        self._read = dump.read
        dump.read = self.read  # an instance attribute: read_u64 & co. and drgn go through it

    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        data = self._read(address, size, physical)
        if physical or not self.patches:
            return data
        end = address + size
        for start, patch in self.patches.items():
            stop = start + len(patch)
            if start < end and stop > address:
                buf = bytearray(data)
                lo, hi = max(start, address), min(stop, end)
                buf[lo - address:hi - address] = patch[lo - start:hi - start]
                data = bytes(buf)
        return data

    @contextlib.contextmanager
    def patched(self, patches: dict[int, bytes]) -> Iterator[None]:
        saved = dict(self.patches)
        self.patches.update(patches)
        try:
            yield
        finally:
            self.patches = saved


def overlay_session(scenario: str = "sysrq", dumpname: str = "zlib31") -> tuple[Any, MemoryOverlay]:
    """A new Session (its own Dump and drgn Program) with a :class:`MemoryOverlay`."""
    from pycrash.core import open_dump
    from pycrash.plugins import load_builtins
    from pycrash.session import Session

    load_builtins(report=lambda message: None)
    paths = testing.dump_paths(scenario, dumpname)
    dump = open_dump(paths if len(paths) > 1 else paths[0])
    overlay = MemoryOverlay(dump)  # before the Program exists: it captures dump.read
    return Session(dump, testing.vmlinux_path()), overlay
