"""Page bitmaps (one bit per pfn, bit ``pfn & 7`` of byte ``pfn >> 3``, LSB first)
with constant-time rank queries, as kdump-compressed files need to locate a page's
descriptor (crash precomputes the same prefix sums per 4096-pfn section)."""

from __future__ import annotations

import re
from array import array

__all__ = ["Bitmap"]

_SECT_PFNS = 512  # pfns per prefix-sum section (crash uses 4096, BITMAP_SECT_LEN)
_SECT_BYTES = _SECT_PFNS // 8
_NONZERO = re.compile(rb"[^\x00]+")


class Bitmap:
    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.nbits = len(self.data) * 8
        self._prefix: array | None = None

    def __getitem__(self, pfn: int) -> bool:
        byte = pfn >> 3
        if byte >= len(self.data) or pfn < 0:
            return False
        return bool(self.data[byte] >> (pfn & 7) & 1)

    def _build_prefix(self) -> array:
        data = self.data
        prefix = array("Q", [0])
        total = 0
        append = prefix.append
        for start in range(0, len(data), _SECT_BYTES):
            total += int.from_bytes(data[start:start + _SECT_BYTES], "little").bit_count()
            append(total)
        self._prefix = prefix
        return prefix

    def rank(self, pfn: int) -> int:
        """Number of set bits for pfns ``< pfn``."""
        prefix = self._prefix
        if prefix is None:
            prefix = self._build_prefix()
        if pfn <= 0:
            return 0
        if pfn >= self.nbits:
            return prefix[-1]
        sect = pfn // _SECT_PFNS
        byte = pfn >> 3
        start = sect * _SECT_BYTES
        count = prefix[sect]
        if byte > start:
            count += int.from_bytes(self.data[start:byte], "little").bit_count()
        bit = pfn & 7
        if bit:
            count += (self.data[byte] & ((1 << bit) - 1)).bit_count()
        return count

    def count(self, start: int = 0, end: int | None = None) -> int:
        """Number of set bits in ``[start, end)``."""
        if end is None:
            end = self.nbits
        return max(0, self.rank(end) - self.rank(start))

    def runs(self, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        """Maximal runs ``[first, last+1)`` of set bits within ``[start, end)``."""
        if end is None:
            end = self.nbits
        end = min(end, self.nbits)
        out: list[tuple[int, int]] = []
        for m in _NONZERO.finditer(self.data, start >> 3, (end + 7) >> 3):
            base = m.start() * 8
            value = int.from_bytes(m.group(), "little")
            pos = 0
            while value:
                low = (value & -value).bit_length() - 1
                value >>= low
                pos += low
                inv = ~value
                length = (inv & -inv).bit_length() - 1  # number of trailing ones
                lo, hi = base + pos, base + pos + length
                value >>= length
                pos += length
                lo, hi = max(lo, start), min(hi, end)
                if lo < hi:
                    if out and out[-1][1] == lo:
                        out[-1] = (out[-1][0], hi)
                    else:
                        out.append((lo, hi))
        return out

    def and_not_count(self, other: Bitmap, start: int, end: int) -> int:
        """Number of pfns in ``[start, end)`` set here and clear in ``other``."""
        n = min(len(self.data), len(other.data))
        a = int.from_bytes(self.data[:n], "little")
        b = int.from_bytes(other.data[:n], "little")
        x = a & ~b
        if end < n * 8:
            x &= (1 << end) - 1
        return (x >> start).bit_count()
