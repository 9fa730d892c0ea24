"""``makedumpfile --split`` sets: several kdump-compressed files opened as one.

Each part is a complete kdump file with ``split = 1`` and its own pfn range
``[start_pfn_64, end_pfn_64)``; the ranges partition memory, and a pfn is read from the
part whose range contains it (crash's ``dd_list`` routing).
"""

from __future__ import annotations

import bisect

from .errors import DumpFormatError
from .kdump import KdumpFile
from .layer import PhysicalLayer

__all__ = ["SplitDump"]


class SplitDump(PhysicalLayer):
    format = "kdump"

    def __init__(self, parts: list[KdumpFile]) -> None:
        if not parts:
            raise DumpFormatError("(split set)", None, "no files given")
        parts = sorted(parts, key=lambda p: p.start_pfn)
        for p in parts:
            if not p.split and len(parts) > 1:
                raise DumpFormatError(p.paths[0], 12, "not part of a --split set")
        for a, b in zip(parts, parts[1:], strict=False):
            if a.end_pfn > b.start_pfn:
                raise DumpFormatError(b.paths[0], None,
                                      f"split ranges overlap ({a.paths[0]} ends at pfn "
                                      f"{a.end_pfn:#x}, this one starts at {b.start_pfn:#x})")
            if a.page_size != b.page_size:
                raise DumpFormatError(b.paths[0], 428, "page size differs between parts")
        first = parts[0]
        self.parts = parts
        self.paths = [p.paths[0] for p in parts]
        self.flattened = any(p.flattened for p in parts)
        self.page_size = first.page_size
        self.page_shift = first.page_shift
        self.dump_level = first.dump_level
        self.incomplete = any(p.incomplete for p in parts)
        names = {p.compression for p in parts}
        self.compression = names.pop() if len(names) == 1 else "mixed"
        self.notes = first.notes
        self.vmcoreinfo_text = first.vmcoreinfo_text
        self.phys_base_hint = first.phys_base_hint
        self.producer = first.producer
        self.header = first.header
        self.max_mapnr = max(p.max_mapnr for p in parts)
        self._starts = [p.start_pfn for p in parts]

    def _part(self, pfn: int) -> KdumpFile | None:
        i = bisect.bisect_right(self._starts, pfn) - 1
        if i < 0:
            return None
        part = self.parts[i]
        return part if pfn < part.end_pfn else None

    def read_page(self, pfn: int) -> bytes:
        part = self._part(pfn)
        if part is None:
            raise self.beyond(pfn << self.page_shift)
        return part.read_page(pfn)

    def read_pages(self, pfn: int, count: int) -> list[bytes]:
        out: list[bytes] = []
        end = pfn + count
        while pfn < end:
            part = self._part(pfn)
            if part is None:
                raise self.beyond(pfn << self.page_shift)
            n = min(end, part.end_pfn) - pfn
            out += part.read_pages(pfn, n)
            pfn += n
        return out

    def page_state(self, pfn: int) -> str:
        part = self._part(pfn)
        return "beyond" if part is None else part.page_state(pfn)

    def ranges(self) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for p in self.parts:
            for s, e in p.ranges():
                if out and out[-1][1] == s:
                    out[-1] = (out[-1][0], e)
                else:
                    out.append((s, e))
        return out

    def present_ranges(self) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for p in self.parts:
            for s, e in p.present_ranges():
                if out and out[-1][1] == s:
                    out[-1] = (out[-1][0], e)
                else:
                    out.append((s, e))
        return out

    def max_paddr(self) -> int:
        return self.max_mapnr << self.page_shift

    def counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for p in self.parts:
            for k, v in p.counts().items():
                total[k] = total.get(k, 0) + v
        return total

    def damage(self) -> list[str]:
        """Problems of the parts, and pfn ranges no given part covers (a part missing)."""
        out: list[str] = []
        for p in self.parts:
            out += [f"{p.paths[0]}: {line}" for line in p.damage()
                    if not line.startswith("only one part")]
        gaps = []
        pos = 0
        for p in self.parts:
            if p.start_pfn > pos:
                gaps.append((pos, p.start_pfn))
            pos = max(pos, p.end_pfn)
        if pos < self.max_mapnr:
            gaps.append((pos, self.max_mapnr))
        if gaps:
            where = ", ".join(f"{a:#x}-{b:#x}" for a, b in gaps)
            out.append(f"the --split set has {len(self.parts)} parts and lacks pfns {where} "
                       "(a part is missing): memory there is not in the dump")
        return out

    def close(self) -> None:
        for p in self.parts:
            p.close()
