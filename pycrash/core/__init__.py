"""pycrash's memory-access core: every dump format, VMCOREINFO, x86-64 translation.

Usage::

    from pycrash.core import open_dump

    with open_dump("vmcore") as dump:          # or open_dump([part1, part2]) for --split
        v = dump.vmcoreinfo
        uts = v.symbol("init_uts_ns") + v.offset("uts_namespace.name")
        sysname = dump.read_cstring(uts)       # b"Linux" (kernel virtual, translated)
        t = dump.translate(v.symbol("_stext"))  # Translation: paddr, page_size, entries
        regs = dump.cpus[0].registers           # {"rip": ..., "rsp": ..., ...}

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
