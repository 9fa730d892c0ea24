"""pycrash's memory-access core: every dump format, VMCOREINFO, x86-64 translation.

Usage::

    from pycrash.core import open_dump

    with open_dump("vmcore") as dump:          # or open_dump([part1, part2]) for --split
        v = dump.vmcoreinfo
        uts = v.symbol("init_uts_ns") + v.offset("uts_namespace.name")
        sysname = dump.read_cstring(uts)       # b"Linux" (kernel virtual, translated)
        t = dump.translate(v.symbol("_stext"))  # Translation: paddr, page_size, entries
        regs = dump.cpus[0].registers           # {"rip": ..., "rsp": ..., ...}
        head = dump.read_file_offset(0, 8)      # the dump file's own bytes (rd -f)

Everything that reads a dump file goes through this package; nothing in it prints.

Layers (volatility3-style), bottom up:

* ``filebytes`` / ``flattened``: bytes of a file, or of a ``makedumpfile -F`` stream as
  ``makedumpfile -R`` would rebuild it (indexed once, read in place);
* ``kdump`` (+ ``bitmap``, ``codecs``), ``elfdump``, ``split``: container formats →
  physical pages, with typed faults (``layer`` is their common interface);
* ``dump``: the :class:`Dump` facade — page cache, translation cache, kernel-virtual
  reads through ``x86_64`` page-table walks; ``kernel`` finds the randomized bases and
  names excluded pages from the dump's own memory; ``vmcoreinfo`` and ``notes`` parse
  the metadata (VMCOREINFO, NT_PRSTATUS, QEMU CPU state);
* ``cli`` (``python -m pycrash.core info|read|vtop``).
"""

from __future__ import annotations

from .dump import Dump, open_dump
from .errors import (
    BeyondDumpError,
    CorruptPageError,
    DumpFormatError,
    ExcludedPageError,
    FaultError,
    FileOffsetError,
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
    "MissingPageError", "BeyondDumpError", "CorruptPageError", "FileOffsetError",
]
