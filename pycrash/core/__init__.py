"""pycrash's memory-access core: every dump format, VMCOREINFO, x86-64 translation.

Usage::

    from pycrash.core import open_dump

    with open_dump("vmcore") as dump:
        banner = dump.read_cstring(dump.vmcoreinfo.symbol("init_uts_ns") + 0x4)
        t = dump.translate(0xffffffff81000000)

Everything that reads a dump file goes through this package; nothing in it prints.
"""

from __future__ import annotations

from .dump import Dump, open_dump
from .errors import (
    BeyondDumpError,
    CorruptPageError,
    DumpFormatError,
    ExcludedPageError,
    FaultError,
    MissingPageError,
    NotMappedError,
    PycrashError,
)
from .notes import CpuState
from .vmcoreinfo import VmcoreInfo
from .x86_64 import Layout, TableEntry, Translation

__all__ = [
    "open_dump", "Dump", "VmcoreInfo", "CpuState", "Translation", "TableEntry", "Layout",
    "PycrashError", "DumpFormatError", "FaultError", "NotMappedError", "ExcludedPageError",
    "MissingPageError", "BeyondDumpError", "CorruptPageError",
]
