"""makedumpfile flattened format (``makedumpfile -F``), read in place.

Layout (makedumpfile ``IMPLEMENTATION``/``makedumpfile.h``): a 4096-byte header whose
first 16 bytes are ``"makedumpfile"`` NUL-padded, then big-endian int64 ``type`` (1) and
``version`` (1); then records ``{int64 offset, int64 buf_size}`` (big-endian) each
followed by ``buf_size`` bytes that belong at ``offset`` of the rearranged file; a record
with ``offset == buf_size == -1`` ends the stream. Records come in write order, may
overlap (later writes win, as with ``makedumpfile -R``); bytes never written read as zero.

:class:`FlatBytes` indexes every record header once and then serves ``pread`` of the
rearranged file by binary search, like crash's ``read_flattened_format``.
"""

from __future__ import annotations

import bisect
import struct

from .errors import DumpFormatError
from .filebytes import ByteSource, SourceStream

__all__ = ["FlatBytes", "is_flattened", "FLAT_SIGNATURE"]

FLAT_SIGNATURE = b"makedumpfile"
FLAT_HEADER_SIZE = 4096  # MAX_SIZE_MDF_HEADER
TYPE_FLAT_HEADER = 1
_REC = struct.Struct(">qq")


def is_flattened(head: bytes) -> bool:
    """True if ``head`` (the first bytes of a file) is a flattened-format header."""
    if len(head) < 32 or not head.startswith(FLAT_SIGNATURE):
        return False
    if head[12:16].strip(b"\0"):
        return False
    (ftype,) = struct.unpack_from(">q", head, 16)
    return ftype == TYPE_FLAT_HEADER


class FlatBytes:
    """The rearranged view of a flattened file.

    Attributes:
        raw: the underlying flattened file.
        records: number of data records found.
        terminated: False if the stream ended without the end marker (truncated, or a
            garbled record header: ``bad_record``).
    """

    def __init__(self, raw: ByteSource) -> None:
        self.raw = raw
        self.path = raw.path
        head = raw.pread(0, FLAT_HEADER_SIZE)
        if not is_flattened(head):
            raise DumpFormatError(raw.path, 0, "not a makedumpfile flattened file")
        recs: list[tuple[int, int, int, int]] = []  # (dest, size, src, seq)
        pos = FLAT_HEADER_SIZE
        self.terminated = False
        #: file offset of a garbled record header where indexing stopped, or None
        self.bad_record: int | None = None
        seq = 0
        while True:
            hdr = raw.pread(pos, 16)
            if len(hdr) < 16:
                break
            dest, size = _REC.unpack(hdr)
            if dest == -1 and size == -1:
                self.terminated = True
                break
            if dest < 0 or size < 0:
                # Garbage where a record header should be: keep what came before, as for a
                # stream cut at this point (reads past it fault as missing).
                self.bad_record = pos
                break
            src = pos + 16
            avail = min(size, max(0, raw.size - src))
            if avail:
                recs.append((dest, avail, src, seq))
            seq += 1
            pos = src + size
            if avail < size:
                break
        self.records = seq
        self._build(recs)

    def _build(self, recs: list[tuple[int, int, int, int]]) -> None:
        recs.sort(key=lambda r: (r[0], r[3]))
        out: list[list[int]] = []  # [start, end, src, seq], disjoint and sorted
        for dest, size, src, seq in recs:
            end = dest + size
            if not out or out[-1][1] <= dest:
                if out and out[-1][1] == dest and out[-1][2] + (dest - out[-1][0]) == src:
                    out[-1][1] = end  # contiguous in both files: merge
                    out[-1][3] = max(out[-1][3], seq)
                else:
                    out.append([dest, end, src, seq])
                continue
            # Overlap with the tail of the (sorted, disjoint) output: re-resolve that tail.
            k = len(out)
            while k > 0 and out[k - 1][1] > dest:
                k -= 1
            pieces = out[k:] + [[dest, end, src, seq]]
            del out[k:]
            bounds = sorted({p[0] for p in pieces} | {p[1] for p in pieces})
            for lo, hi in zip(bounds, bounds[1:], strict=False):
                best = None
                for p in pieces:
                    if p[0] <= lo and hi <= p[1] and (best is None or p[3] > best[3]):
                        best = p
                if best is None:
                    continue
                s = best[2] + (lo - best[0])
                if out and out[-1][1] == lo and out[-1][2] + (lo - out[-1][0]) == s:
                    out[-1][1] = hi
                else:
                    out.append([lo, hi, s, best[3]])
        self._starts = [p[0] for p in out]
        self._ends = [p[1] for p in out]
        self._srcs = [p[2] for p in out]
        self.size = self._ends[-1] if out else 0

    def pread(self, offset: int, size: int) -> bytes:
        if offset >= self.size or size <= 0:
            return b""
        size = min(size, self.size - offset)
        starts, ends, srcs = self._starts, self._ends, self._srcs
        i = bisect.bisect_right(starts, offset) - 1
        if i >= 0 and offset + size <= ends[i]:
            # Fast path: the whole range lies in one record.
            return self.raw.pread(srcs[i] + offset - starts[i], size)
        parts = []
        pos = offset
        end = offset + size
        if i < 0:
            i = 0
        n = len(starts)
        while pos < end:
            while i < n and ends[i] <= pos:
                i += 1
            if i >= n or starts[i] >= end:
                parts.append(bytes(end - pos))
                break
            if starts[i] > pos:
                parts.append(bytes(starts[i] - pos))
                pos = starts[i]
            take = min(end, ends[i]) - pos
            parts.append(self.raw.pread(srcs[i] + pos - starts[i], take))
            pos += take
        return b"".join(parts)

    def covered(self, offset: int, size: int) -> bool:
        """True if every byte of ``[offset, offset + size)`` was written by a record
        (in a stream cut short, unwritten page data must not read as zeros)."""
        starts, ends = self._starts, self._ends
        i = bisect.bisect_right(starts, offset) - 1
        end = offset + size
        pos = offset
        while pos < end:
            if i < 0 or i >= len(starts) or starts[i] > pos or ends[i] <= pos:
                return False
            pos = ends[i]
            i += 1
        return True

    def stream(self) -> SourceStream:
        return SourceStream(self)

    def close(self) -> None:
        self.raw.close()

    def __repr__(self) -> str:
        return f"FlatBytes({self.path!r}, {len(self._starts)} extents, size={self.size})"
