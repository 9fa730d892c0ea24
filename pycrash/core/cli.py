"""``python -m pycrash.core info|read|vtop DUMP...`` — the core's own command line.

Exit status: 0 success, 1 a read/translation fault (one line on stderr), 2 a file that
is not a readable dump.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from .dump import Dump, open_dump
from .errors import DumpFormatError, FaultError, NotMappedError, PycrashError
from .layer import describe_dump_level
from .x86_64 import TableEntry, Translation

__all__ = ["main", "format_hexdump", "format_vtop", "format_info"]


def parse_address(text: str, dump: Dump | None = None) -> int:
    """Hex address (``0x`` optional, as in crash), or a VMCOREINFO symbol name."""
    t = text.strip()
    try:
        return int(t, 16)
    except ValueError:
        pass
    if dump is not None:
        value = dump.vmcoreinfo.symbol(t)
        if value is not None:
            return value
    raise ValueError(f"invalid address or unknown symbol: {text}")


def parse_length(text: str) -> int:
    value = int(text, 0)
    if value < 0:
        raise ValueError(f"invalid length: {text}")
    return value


def format_hexdump(address: int, data: bytes, width: int = 16) -> str:
    """crash ``rd -8``-style lines: ``ADDR:  xx xx …   ASCII``."""
    lines = []
    addr_w = 16 if address + len(data) > 0xFFFFFFFF else 8
    for i in range(0, len(data), width):
        chunk = data[i:i + width]
        hexpart = " ".join(f"{b:02x}" for b in chunk).ljust(width * 3 - 1)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{address + i:0{addr_w}x}:  {hexpart}   {text}")
    return "\n".join(lines)


def format_walk(entries: Sequence[TableEntry], root_label: int | None = None) -> list[str]:
    """Table entries as crash's ``vtop`` prints them: ``PGD DIRECTORY`` (the root; crash
    shows the kernel's as the virtual address of ``init_top_pgt``), ``PAGE DIRECTORY``
    (the top-level entry), then ``LEVEL: entry address => value`` (in 5-level mode crash
    calls the 4th level ``P4D``; pycrash's ``TableEntry.level`` calls it ``PGD``)."""
    if not entries:
        return []
    five = entries[0].level == "PML5"
    root = entries[0].table_paddr if root_label is None else root_label
    out = [f"PGD DIRECTORY: {root:x}", f"PAGE DIRECTORY: {entries[0].value:x}"]
    for e in entries[1:]:
        name = "P4D" if five and e.level == "PGD" else e.level
        out.append(f"   {name}: {e.entry_paddr:x} => {e.value:x}")
    return out


def format_vtop(t: Translation, root_label: int | None = None) -> str:
    """The walk, level by level, in the layout of crash's ``vtop``."""
    size = {2 << 20: "  (2MB)", 1 << 30: "  (1GB)"}.get(t.page_size, "")
    out = [f"{'VIRTUAL':<16}  {'PHYSICAL':<16}", f"{t.vaddr:<16x}  {t.paddr:<16x}", ""]
    out += format_walk(t.entries, root_label)
    out.append(f"  PAGE: {t.paddr & ~(t.page_size - 1):x}{size}")
    out.append(f"  KIND: {t.kind}")
    return "\n".join(out)


def format_info(dump: Dump) -> str:
    v = dump.vmcoreinfo
    counts = dump.page_counts()
    fmt = dump.format + (" (flattened)" if dump.flattened else "") + \
        (f" (split, {len(dump.paths)} files)" if dump.split else "")
    lines = [
        f"file:          {' '.join(dump.paths)}",
        f"format:        {fmt}",
        f"producer:      {dump.producer}",
        f"compression:   {dump.compression}",
        "dump level:    " + (describe_dump_level(dump.dump_level)
                             if dump.dump_level is not None else "n/a"),
        f"page size:     {dump.page_size}",
        "pages:         " + ", ".join(f"{v2} {k}" for k, v2 in counts.items()),
        f"incomplete:    {'yes' if dump.incomplete else 'no'}",
        f"release:       {v.osrelease or '?'}",
        f"build id:      {v.build_id or '?'}",
        f"crash time:    {v.crashtime if v.crashtime is not None else '-'}",
        f"KASLR offset:  {dump.kaslr_offset:#x}",
        f"phys_base:     {dump.phys_base:#x} ({dump.phys_base_source})",
        f"paging:        {dump.paging_levels}-level",
    ]
    lay = dump.layout
    for name in ("page_offset_base", "vmalloc_base", "vmemmap_base"):
        value = getattr(lay, name)
        shown = "?" if value is None else f"{value:#x}"
        lines.append(f"{name + ':':<18}{shown}")
    ranges = dump.physical_ranges()
    lines.append(f"memory:        {len(ranges)} ranges, up to {ranges[-1][1]:#x}" if ranges
                 else "memory:        none")
    lines.append(f"cpus:          {len(dump.cpus)}")
    for c in dump.cpus:
        lines.append(f"  CPU {c.cpu}: pid {c.pid:<6} RIP {c.rip:016x}  RSP {c.rsp:016x}")
    if dump.eraseinfo:
        lines.append("WARNING: kernel data has been erased from this dump (eraseinfo present)")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pycrash.core",
                                description="pycrash memory-access core")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("info", help="describe a dump")
    s.add_argument("dump", nargs="+", help="dump file (several: a --split set)")
    s = sub.add_parser("read", help="hex+ASCII dump of memory")
    s.add_argument("dump", nargs="+")
    s.add_argument("address", help="hex address or VMCOREINFO symbol")
    s.add_argument("length", help="byte count (decimal or 0x hex)")
    s.add_argument("--physical", "-p", action="store_true", help="ADDRESS is physical")
    s.add_argument("--zero-excluded", action="store_true",
                   help="read excluded/missing pages as zeros")
    s = sub.add_parser("vtop", help="translate a virtual address, showing the walk")
    s.add_argument("dump", nargs="+")
    s.add_argument("address")
    s.add_argument("--root", help="physical address of a user page-table root (hex)")
    return p


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _parser().parse_args(argv)
    try:
        dump = open_dump(args.dump, zero_excluded=getattr(args, "zero_excluded", False))
    except (DumpFormatError, OSError) as exc:
        err.write(f"pycrash: {exc}\n")
        return 2
    try:
        if args.cmd == "info":
            out.write(format_info(dump) + "\n")
        elif args.cmd == "read":
            addr = parse_address(args.address, dump)
            data = dump.read(addr, parse_length(args.length), physical=args.physical)
            if data:
                out.write(format_hexdump(addr, data) + "\n")
        elif args.cmd == "vtop":
            addr = parse_address(args.address, dump)
            root = int(args.root, 16) if args.root else None
            # crash labels the kernel root with init_top_pgt's virtual address
            label = dump.vmcoreinfo.symbol("init_top_pgt") if root is None else None
            try:
                t = dump.translate(addr, root)
            except NotMappedError as exc:
                if exc.entries:
                    out.write(f"{'VIRTUAL':<16}  {'PHYSICAL':<16}\n"
                              f"{addr:<16x}  (not mapped)\n\n")
                    out.write("\n".join(format_walk(exc.entries, label)) + "\n")
                raise
            out.write(format_vtop(t, label) + "\n")
    except (FaultError, ValueError) as exc:
        err.write(f"pycrash: {args.cmd}: {exc}\n")
        return 1
    except PycrashError as exc:
        err.write(f"pycrash: {args.cmd}: {exc}\n")
        return 1
    finally:
        dump.close()
    return 0
