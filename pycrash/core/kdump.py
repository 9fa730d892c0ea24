"""kdump-compressed dumps (makedumpfile's default output, also QEMU ``-z/-l/-s``).

Layout (makedumpfile ``diskdump_mod.h``): block 0 is ``disk_dump_header``; block 1 starts
``kdump_sub_header`` followed by the copied ELF notes (``sub_hdr_size`` blocks in all);
then two bitmaps of ``bitmap_blocks / 2`` blocks each (1st: pfn is RAM; 2nd: pfn is
dumpable); then one 24-byte ``page_desc`` per set bit of the 2nd bitmap in pfn order;
then the page data. All integers are in the dumped machine's byte order; this reader
handles the 64-bit little-endian layout (x86-64, arm64).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from .bitmap import Bitmap
from .codecs import (
    COMPRESS_MASK,
    DUMP_DH_COMPRESSED_INCOMPLETE,
    CodecUnavailable,
    compression_name,
    decoder,
)
from .errors import (
    BeyondDumpError,
    CorruptPageError,
    DumpFormatError,
    ExcludedPageError,
    MissingPageError,
)
from .filebytes import ByteSource
from .layer import PhysicalLayer, describe_dump_level
from .notes import parse_notes

__all__ = ["KdumpFile", "KdumpHeader", "is_kdump", "KDUMP_SIGNATURES"]

KDUMP_SIGNATURES = (b"KDUMP   ", b"DISKDUMP")
_HDR_SIZE = 464
_UTS_LEN = 65
_PAGE_DESC = struct.Struct("<qIIQ")  # offset, size, flags, page_flags
# Bound on the metadata areas the sub-header points at (notes, VMCOREINFO, eraseinfo): the
# kernel's note area is one note_buf_t per possible CPU (~400 bytes each, 8192 CPUs at most
# on x86-64) plus VMCOREINFO (a page); anything far larger is a corrupt size field, and
# reading it would pull a whole (possibly sparse, zero-filled) file into memory.
_MAX_META = 16 << 20


def is_kdump(head: bytes) -> bool:
    return head[:8] in KDUMP_SIGNATURES


def _read_meta(src: ByteSource, offset: int, size: int, what: str) -> bytes:
    """A sub-header area (notes, VMCOREINFO, eraseinfo), its size checked first."""
    if size > _MAX_META or offset + size > src.size:
        raise DumpFormatError(src.path, offset, f"bad {what} size {size} in the kdump "
                              "sub-header")
    return src.pread(offset, size)


class KdumpHeader:
    """``disk_dump_header`` + ``kdump_sub_header`` fields (64-bit layout)."""

    def __init__(self, buf: bytes, sub: bytes, path: str) -> None:
        if len(buf) < _HDR_SIZE:
            raise DumpFormatError(path, 0, "kdump header truncated")
        self.signature = buf[:8].decode("ascii", "replace")
        (self.header_version,) = struct.unpack_from("<i", buf, 8)
        uts = [buf[12 + i * _UTS_LEN: 12 + (i + 1) * _UTS_LEN].split(b"\0", 1)[0]
               .decode("utf-8", "replace") for i in range(6)]
        (self.sysname, self.nodename, self.release, self.version, self.machine,
         self.domainname) = uts
        self.tv_sec, self.tv_usec = struct.unpack_from("<qq", buf, 408)
        (self.status, self.block_size, self.sub_hdr_size, self.bitmap_blocks,
         self.max_mapnr, self.total_ram_blocks, self.device_blocks, self.written_blocks,
         self.current_cpu, self.nr_cpus) = struct.unpack_from("<IiiIIIIIii", buf, 424)
        v = self.header_version
        # kdump_sub_header: fields appear with header versions 1..6 (see formats.md §1.4).
        sub = sub.ljust(104, b"\0")
        self.phys_base, self.dump_level, self.split = struct.unpack_from("<Qii", sub, 0)
        if v < 1:
            self.dump_level = 0
        if v < 2:
            self.split = 0
        # Raw fields as stored (0 = absent for this header version); the reader's
        # effective pfn range is KdumpFile.start_pfn/end_pfn.
        self.sub_start_pfn, self.sub_end_pfn = (
            struct.unpack_from("<QQ", sub, 16) if v >= 2 else (0, 0))
        self.offset_vmcoreinfo, self.size_vmcoreinfo = (
            struct.unpack_from("<qQ", sub, 32) if v >= 3 else (0, 0))
        self.offset_note, self.size_note = (
            struct.unpack_from("<qQ", sub, 48) if v >= 4 else (0, 0))
        self.offset_eraseinfo, self.size_eraseinfo = (
            struct.unpack_from("<qQ", sub, 64) if v >= 5 else (0, 0))
        self.start_pfn_64, self.end_pfn_64, self.max_mapnr_64 = (
            struct.unpack_from("<QQQ", sub, 80) if v >= 6 else (0, 0, 0))

    @property
    def pfn_range(self) -> tuple[int, int, int]:
        """``(start_pfn, end_pfn, max_mapnr)`` as readers use them: the 64-bit fields from
        version 6, else the obsolete 32-bit ones; a non-split file covers everything."""
        if self.header_version >= 6:
            start, end, maxnr = self.start_pfn_64, self.end_pfn_64, self.max_mapnr_64
        else:
            start, end, maxnr = self.sub_start_pfn, self.sub_end_pfn, self.max_mapnr
        if not self.split:
            start, end = 0, maxnr
        return start, end, maxnr

    @property
    def timestamp(self) -> float:
        return self.tv_sec + self.tv_usec / 1e6

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def describe(self) -> str:
        written = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.tv_sec))
        return (f"{self.signature.strip()} v{self.header_version} {self.machine} "
                f"{self.release} written {written}")


class KdumpFile(PhysicalLayer):
    """One kdump-compressed file (or one part of a ``--split`` set)."""

    format = "kdump"

    def __init__(self, src: ByteSource, *, flattened: bool = False) -> None:
        self.src = src
        self.flattened = flattened
        self.paths = [src.path]
        path = src.path
        head = src.pread(0, _HDR_SIZE)
        if not is_kdump(head):
            raise DumpFormatError(path, 0, "not a kdump-compressed file")
        if len(head) < _HDR_SIZE:
            raise DumpFormatError(path, None, f"kdump header truncated (file of {len(head)} "
                                  f"bytes, the header needs {_HDR_SIZE})")
        (version, ) = struct.unpack_from("<i", head, 8)
        if not 0 <= version < 64:
            # A byte-swapped version means a big-endian dump (ppc64, s390x): the 64-bit
            # little-endian layout read here does not apply.
            raise DumpFormatError(path, 8, f"unsupported header_version {version} "
                                  "(only 64-bit little-endian kdump files are read)")
        (bs,) = struct.unpack_from("<i", head, 428)
        if bs < 512 or bs > 1 << 20 or bs & (bs - 1):
            raise DumpFormatError(path, 428, f"bad block_size {bs}")
        hdr = KdumpHeader(head, src.pread(bs, 104), path)
        self.header = hdr
        self.page_size = bs
        self.page_shift = bs.bit_length() - 1
        if hdr.sub_hdr_size < 0 or hdr.bitmap_blocks == 0:
            raise DumpFormatError(path, 432, "bad sub_hdr_size/bitmap_blocks")
        self.start_pfn, end, self.max_mapnr = hdr.pfn_range
        self.end_pfn = min(end, self.max_mapnr) if end else self.max_mapnr
        self.split = bool(hdr.split)
        self.dump_level = hdr.dump_level
        self.incomplete = bool(hdr.status & DUMP_DH_COMPRESSED_INCOMPLETE)
        self.compression = compression_name(hdr.status)
        self.phys_base_hint = hdr.phys_base

        # Bitmaps: two halves if the file has room for two, else one used for both
        # (old diskdump), exactly as crash decides.
        bitmap_off = (1 + hdr.sub_hdr_size) * bs
        total = hdr.bitmap_blocks * bs
        if bitmap_off + total > src.size:
            # Checked before reading: a flattened stream zero-fills what no record wrote,
            # so a garbled bitmap_blocks would otherwise allocate that much memory.
            raise DumpFormatError(path, 436, f"bitmaps truncated (bitmap_blocks "
                                  f"{hdr.bitmap_blocks} end past the {src.size}-byte file)")
        bitmap_bytes = (self.max_mapnr + 7) // 8
        one = (bitmap_bytes + bs - 1) // bs * bs  # one bitmap, block aligned
        if hdr.bitmap_blocks >= 2 * (one // bs):
            half = total // 2
            bm1 = src.pread(bitmap_off, half)
            bm2 = src.pread(bitmap_off + half, half)
            if len(bm1) < half or len(bm2) < half:
                raise DumpFormatError(path, bitmap_off, "bitmaps truncated")
        else:
            bm1 = bm2 = src.pread(bitmap_off, total)
            if len(bm1) < total:
                raise DumpFormatError(path, bitmap_off, "bitmap truncated")
        self.bm_ram = Bitmap(bm1)
        self.bm_dump = Bitmap(bm2)
        # max_mapnr may not fill the last bitmap byte: pad so bit tests never overrun.
        self._ram = self.bm_ram.data + b"\0"
        self._dumpable = self.bm_dump.data + b"\0"
        self.end_pfn = min(self.end_pfn, self.bm_ram.nbits, self.bm_dump.nbits)
        self.data_offset = (1 + hdr.sub_hdr_size + hdr.bitmap_blocks) * bs
        self._rank_base = self.bm_dump.rank(self.start_pfn)

        # Notes and VMCOREINFO (header versions 3/4 and later). A garbled size or offset
        # costs only that area (said once by damage()): the memory may still be read.
        self._meta_damage: list[str] = []
        self.notes = []
        if hdr.offset_note > 0 and hdr.size_note:
            self.notes = parse_notes(self._meta(hdr.offset_note, hdr.size_note, "notes"),
                                     base_offset=hdr.offset_note)
        self.vmcoreinfo_text = None
        if hdr.offset_vmcoreinfo > 0 and hdr.size_vmcoreinfo:
            self.vmcoreinfo_text = self._meta(hdr.offset_vmcoreinfo, hdr.size_vmcoreinfo,
                                              "VMCOREINFO") or None
        if self.vmcoreinfo_text is None:
            for note in self.notes:
                if note.name == "VMCOREINFO":
                    self.vmcoreinfo_text = note.desc
        if any(n.name == "QEMU" for n in self.notes):
            self.producer = "qemu"
        self.eraseinfo = b""
        if hdr.offset_eraseinfo > 0 and hdr.size_eraseinfo:
            self.eraseinfo = self._meta(hdr.offset_eraseinfo, hdr.size_eraseinfo, "eraseinfo")
        self._decoders: dict[int, Callable[[bytes], bytes]] = {}
        self._excluded_reason = f"page excluded ({describe_dump_level(self.dump_level)})"
        self._pread = src.pread
        # A flattened stream that ended early: bytes no record wrote are missing, not 0.
        self._partial = getattr(src, "terminated", True) is False

    def _meta(self, offset: int, size: int, what: str) -> bytes:
        try:
            return _read_meta(self.src, offset, size, what)
        except DumpFormatError as exc:
            self._meta_damage.append(f"{exc.reason} at offset {offset:#x}: {what} ignored")
            return b""

    # -- page access ------------------------------------------------------------------
    def _decoder(self, flag: int, paddr: int, offset: int) -> Callable[[bytes], bytes]:
        try:
            dec = decoder(flag, self.page_size)
        except CodecUnavailable as exc:
            raise CorruptPageError(paddr, str(exc), offset=offset) from exc
        except ValueError as exc:
            raise CorruptPageError(paddr, str(exc), offset=offset) from exc
        self._decoders[flag] = dec
        return dec

    def descriptor(self, pfn: int) -> tuple[int, int, int, int] | None:
        """``(offset, size, flags, page_flags)`` of the page, or None if not dumpable."""
        if not self.bm_dump[pfn] or not self.start_pfn <= pfn < self.end_pfn:
            return None
        idx = self.bm_dump.rank(pfn) - self._rank_base
        raw = self._pread(self.data_offset + 24 * idx, 24)
        if len(raw) < 24:
            return (0, 0, 0, 0)
        return _PAGE_DESC.unpack(raw)

    def read_page(self, pfn: int) -> bytes:
        shift = self.page_shift
        byte, bit = pfn >> 3, 1 << (pfn & 7)
        if not self.start_pfn <= pfn < self.end_pfn or not self._ram[byte] & bit:
            if self.split and 0 <= pfn < self.max_mapnr and \
                    not self.start_pfn <= pfn < self.end_pfn:
                raise BeyondDumpError(pfn << shift, "not in the dump (in another part of the "
                                      "--split set)", physical=True)
            raise self.beyond(pfn << shift)
        if not self._dumpable[byte] & bit:
            raise ExcludedPageError(pfn << shift, self._excluded_reason, physical=True)
        idx = self.bm_dump.rank(pfn) - self._rank_base
        raw = self._pread(self.data_offset + 24 * idx, 24)
        if len(raw) < 24:
            raise MissingPageError(pfn << shift, "page missing (descriptor past the end of "
                                   "the truncated file)", physical=True)
        offset, size, flags, _ = _PAGE_DESC.unpack(raw)
        bs = self.page_size
        covered = getattr(self.src, "covered", None)
        if self._partial and covered is not None and not (
                covered(self.data_offset + 24 * idx, 24) and covered(offset, size)):
            raise MissingPageError(pfn << shift, "page missing (not in the truncated "
                                   "flattened stream)", physical=True)
        if offset == 0:
            # Descriptors after the point where writing stopped read back as zeros.
            raise MissingPageError(pfn << shift, "page missing (incomplete dump)", physical=True)
        if offset < 0 or size == 0 or size > bs:
            raise CorruptPageError(pfn << shift, f"bad page descriptor (size {size})",
                                   offset=offset)
        data = self._pread(offset, size)
        if len(data) < size:
            raise MissingPageError(pfn << shift, "page missing (page data past the end of "
                                   "the truncated file)", physical=True)
        flag = flags & COMPRESS_MASK
        if flag:
            dec = self._decoders.get(flag) or self._decoder(flag, pfn << shift, offset)
            try:
                data = dec(data)
            except Exception as exc:  # every codec has its own exception type
                raise CorruptPageError(pfn << shift, f"{compression_name(flag)} "
                                       f"decompression failed ({exc})", offset=offset) from exc
            if len(data) != bs:
                raise CorruptPageError(pfn << shift, f"page decompressed to {len(data)} bytes",
                                       offset=offset)
        elif size != bs:
            raise CorruptPageError(pfn << shift, f"uncompressed page of {size} bytes",
                                   offset=offset)
        return data

    def read_pages(self, pfn: int, count: int) -> list[bytes]:
        """Pages ``pfn .. pfn+count-1`` for large sequential reads: one descriptor read
        for the whole run instead of a rank and a bitmap test per page. Any page that is
        not plainly readable is delegated to :meth:`read_page`, which raises its fault."""
        end = pfn + count
        if not (self.start_pfn <= pfn and end <= self.end_pfn) or \
                self.bm_dump.count(pfn, end) != count or self._partial:
            return [self.read_page(p) for p in range(pfn, end)]
        idx = self.bm_dump.rank(pfn) - self._rank_base
        raw = self._pread(self.data_offset + 24 * idx, 24 * count)
        if len(raw) < 24 * count:
            return [self.read_page(p) for p in range(pfn, end)]
        bs = self.page_size
        pread = self._pread
        decoders = self._decoders
        out = []
        for i, (offset, size, flags, _) in enumerate(_PAGE_DESC.iter_unpack(raw)):
            flag = flags & COMPRESS_MASK
            if offset <= 0 or not 0 < size <= bs or (not flag and size != bs):
                out.append(self.read_page(pfn + i))  # raises the right fault
                continue
            data = pread(offset, size)
            if flag:
                dec = decoders.get(flag)
                if dec is None:
                    out.append(self.read_page(pfn + i))  # creates the decoder or raises
                    continue
                try:
                    data = dec(data)
                except Exception:  # noqa: BLE001 - read_page reports it properly
                    data = b""
            if len(data) != bs:
                data = self.read_page(pfn + i)
            out.append(data)
        return out

    def page_state(self, pfn: int) -> str:
        if not self.start_pfn <= pfn < self.end_pfn or not self.bm_ram[pfn]:
            return "beyond"
        if not self.bm_dump[pfn]:
            return "excluded"
        desc = self.descriptor(pfn)
        if desc is None or desc[0] == 0:
            return "missing"
        off, size = desc[0], desc[1]
        if off + size > self.src.size:
            return "missing"
        return "present"

    def ranges(self) -> list[tuple[int, int]]:
        s = self.page_shift
        return [(a << s, b << s) for a, b in self.bm_ram.runs(self.start_pfn, self.end_pfn)]

    def present_ranges(self) -> list[tuple[int, int]]:
        s = self.page_shift
        return [(a << s, b << s) for a, b in self.bm_dump.runs(self.start_pfn, self.end_pfn)]

    def max_paddr(self) -> int:
        return self.max_mapnr << self.page_shift

    def counts(self) -> dict[str, int]:
        present = self.bm_dump.count(self.start_pfn, self.end_pfn)
        excluded = self.bm_ram.and_not_count(self.bm_dump, self.start_pfn, self.end_pfn)
        out = {"present": present, "excluded": excluded}
        if self.incomplete:
            out["missing"] = self._count_missing()
        return out

    def _count_missing(self) -> int:
        """Dumped pages whose data is not in the file: descriptors never written (zero
        offset: an incomplete dump) or whose descriptor or data lies past the end of a
        truncated file. makedumpfile writes descriptors and data in pfn order, so the
        unreadable ones are a tail, found by binary search."""
        n = self.bm_dump.count(self.start_pfn, self.end_pfn)
        size = self.src.size
        covered = getattr(self.src, "covered", None) if self._partial else None
        lo, hi = 0, n  # first index whose page cannot be read
        while lo < hi:
            mid = (lo + hi) // 2
            pos = self.data_offset + 24 * mid
            raw = self._pread(pos, 24)
            ok = len(raw) == 24
            if ok:
                offset, dsize, _, _ = _PAGE_DESC.unpack(raw)
                ok = offset > 0 and offset + dsize <= size
                if ok and covered is not None:
                    ok = covered(pos, 24) and covered(offset, dsize)
            if ok:
                lo = mid + 1
            else:
                hi = mid
        return n - lo

    def damage(self) -> list[str]:
        """One line per problem a reader should hear about at open (empty if none)."""
        out = list(self._meta_damage)
        dumped = self.bm_dump.count(self.start_pfn, self.end_pfn)
        missing = self._count_missing()
        if self._partial:
            bad = getattr(self.src, "bad_record", None)
            why = ("ends without its end marker" if bad is None else
                   f"has a garbled record header at offset {bad:#x}")
            out.append(f"the flattened stream {why}: {missing} of {dumped} dumped pages "
                       "are missing")
        elif missing and self.incomplete:
            out.append(f"the dump is incomplete (makedumpfile could not finish it): {missing} "
                       f"of {dumped} dumped pages are missing")
        elif missing:
            out.append(f"the file is truncated ({self.src.size} bytes): {missing} of "
                       f"{dumped} dumped pages are missing")
        if self.split and (self.start_pfn > 0 or self.end_pfn < self.max_mapnr):
            out.append(f"only one part of a --split set (pfns {self.start_pfn:#x}-"
                       f"{self.end_pfn:#x} of {self.max_mapnr:#x}): memory outside it is "
                       "not in the dump")
        return out

    def close(self) -> None:
        self.src.close()
