"""Damaged copies of the sample dumps, built in memory or in a test's tmp_path.

Nothing here writes to ``sample-dumps/``: a sample is read once (through the core's own
:class:`~pycrash.core.filebytes.FileBytes`, so the read-only open is exercised too) and
the damage is applied to a private copy.

:class:`PatchedBytes` is a :class:`~pycrash.core.filebytes.ByteSource` that serves a sample
file with a few bytes overwritten and/or cut at some length: the fuzzers mutate headers
without copying megabytes per input.
"""

from __future__ import annotations

import io
import lzma
import struct
from pathlib import Path

from pycrash import testing
from pycrash.core.filebytes import FileBytes, SourceStream

__all__ = [
    "PatchedBytes", "sample_bytes", "sample_path", "kdump_layout", "KdumpLayout",
    "open_patched", "TYPED", "write_copy", "slab_pfns", "drop_pages", "grow_kdump",
]

# disk_dump_header (makedumpfile diskdump_mod.h, 64-bit): block_size at 428,
# sub_hdr_size at 432, bitmap_blocks at 436, max_mapnr at 440.
HDR_BLOCK_SIZE, HDR_SUB_HDR_SIZE, HDR_BITMAP_BLOCKS, HDR_MAX_MAPNR = 428, 432, 436, 440


def sample_path(scenario: str = "sysrq", name: str = "zlib31") -> Path:
    paths = testing.dump_paths(scenario, name)
    return Path(paths[0])


_BYTES: dict[tuple[str, str], bytes] = {}


def sample_bytes(scenario: str = "sysrq", name: str = "zlib31") -> bytes:
    """The whole (decompressed) sample dump file, cached per test run."""
    key = (scenario, name)
    if key not in _BYTES:
        path = sample_path(scenario, name)
        src = FileBytes(path)
        try:
            data = src.pread(0, src.size)
        finally:
            src.close()
        if path.suffix == ".xz":
            data = lzma.decompress(data)
        _BYTES[key] = data
    return _BYTES[key]


class PatchedBytes:
    """A ByteSource: ``base`` cut to ``size`` bytes with ``patches`` {offset: bytes} applied."""

    def __init__(self, base: bytes, patches: dict[int, bytes] | None = None, *,
                 size: int | None = None, path: str = "fuzz.vmcore") -> None:
        self.base = base
        self.patches = sorted((patches or {}).items())
        self.size = len(base) if size is None else min(size, len(base))
        self.path = path

    def pread(self, offset: int, size: int) -> bytes:
        if offset < 0 or size <= 0 or offset >= self.size:
            return b""
        end = min(self.size, offset + size)
        data = self.base[offset:end]
        for poff, pdata in self.patches:
            if poff < end and poff + len(pdata) > offset:
                buf = bytearray(data)
                lo = max(poff, offset)
                hi = min(poff + len(pdata), end)
                buf[lo - offset:hi - offset] = pdata[lo - poff:hi - poff]
                data = bytes(buf)
        return data

    def stream(self) -> io.RawIOBase:
        return SourceStream(self)

    def close(self) -> None:
        pass


class KdumpLayout:
    """Where the parts of a kdump-compressed file are (from its own header)."""

    def __init__(self, data: bytes) -> None:
        (self.block_size,) = struct.unpack_from("<i", data, HDR_BLOCK_SIZE)
        (self.sub_hdr_size, self.bitmap_blocks, self.max_mapnr) = struct.unpack_from(
            "<iII", data, HDR_SUB_HDR_SIZE)
        bs = self.block_size
        self.sub_header = bs
        self.bitmap1 = (1 + self.sub_hdr_size) * bs
        self.bitmap_half = self.bitmap_blocks * bs // 2
        self.bitmap2 = self.bitmap1 + self.bitmap_half
        self.descriptors = self.bitmap1 + self.bitmap_blocks * bs
        self.ndesc = int.from_bytes(data[self.bitmap2:self.bitmap2 + self.bitmap_half],
                                    "little").bit_count()
        self.page_data = self.descriptors + 24 * self.ndesc

    def dumpable(self, data: bytes, pfn: int) -> bool:
        return bool(data[self.bitmap2 + (pfn >> 3)] >> (pfn & 7) & 1)


def kdump_layout(data: bytes) -> KdumpLayout:
    return KdumpLayout(data)


def open_patched(src: PatchedBytes, *, zero_excluded: bool = False):
    """Open a patched source as the core's open_dump would a file: flattened or not, kdump
    or ELF, then the Dump facade (layout discovery reads kernel memory)."""
    from pycrash.core.dump import Dump
    from pycrash.core.elfdump import ElfDump, is_elf
    from pycrash.core.errors import DumpFormatError
    from pycrash.core.flattened import FlatBytes, is_flattened
    from pycrash.core.kdump import KdumpFile, is_kdump

    head = src.pread(0, 4096)
    source = src
    flattened = False
    if is_flattened(head):
        source = FlatBytes(src)
        head = source.pread(0, 4096)
        flattened = True
    if is_kdump(head):
        layer = KdumpFile(source, flattened=flattened)
    elif is_elf(head):
        layer = ElfDump(source, flattened=flattened)
    else:
        raise DumpFormatError(src.path, 0, "not a kernel dump")
    return Dump(layer, zero_excluded=zero_excluded)


def typed_errors() -> tuple[type[BaseException], ...]:
    from pycrash.core.errors import DumpFormatError, FaultError

    return (DumpFormatError, FaultError)


TYPED = typed_errors()


def write_copy(path: Path, data: bytes, patches: dict[int, bytes] | None = None, *,
               size: int | None = None) -> Path:
    """Write ``data`` cut to ``size`` with ``patches`` applied to ``path``."""
    src = PatchedBytes(data, patches, size=size)
    path.write_bytes(src.pread(0, src.size))
    return path


def slab_pfns(data: bytes) -> list[int]:
    """Dumped pfns whose ``struct page`` has PG_slab (read through the core, from the
    sample's own VMCOREINFO and vmemmap)."""
    from pycrash.core.dump import Dump
    from pycrash.core.errors import FaultError
    from pycrash.core.kdump import KdumpFile

    dump = Dump(KdumpFile(PatchedBytes(data)))
    v = dump.vmcoreinfo
    base, size = dump.layout.vmemmap_base, v.size("page")
    off_flags, off_head, pg_slab = (v.offset("page.flags"), v.offset("page.compound_head"),
                                    v.number("PG_slab"))
    assert None not in (base, size, off_flags, off_head, pg_slab)
    out = []
    shift = dump.layer.page_shift
    for lo, hi in dump.layer.present_ranges():
        for pfn in range(lo >> shift, hi >> shift):
            try:
                raw = dump.read(base + pfn * size, size)
                head = struct.unpack_from("<Q", raw, off_head)[0]
                if head & 1:
                    raw = dump.read(head - 1, size)
            except FaultError:
                continue
            if struct.unpack_from("<Q", raw, off_flags)[0] >> pg_slab & 1:
                out.append(pfn)
    dump.close()
    return out


def drop_pages(data: bytes, pfns: set[int]) -> bytes:
    """A kdump file with ``pfns`` removed from the dumpable bitmap and their page
    descriptors taken out of the table, as a makedumpfile that judged them unnecessary
    would have written it (page data stays where it is: descriptors hold file offsets)."""
    lay = kdump_layout(data)
    buf = bytearray(data)
    kept: list[bytes] = []
    index = 0
    bm = int.from_bytes(data[lay.bitmap2:lay.bitmap2 + lay.bitmap_half], "little")
    pfn = 0
    while bm:
        low = (bm & -bm).bit_length() - 1
        pfn += low
        bm >>= low
        desc = data[lay.descriptors + 24 * index:lay.descriptors + 24 * index + 24]
        if pfn in pfns:
            buf[lay.bitmap2 + (pfn >> 3)] &= ~(1 << (pfn & 7)) & 0xFF
        else:
            kept.append(desc)
        index += 1
        bm >>= 1
        pfn += 1
    table = b"".join(kept)
    buf[lay.descriptors:lay.descriptors + len(table)] = table
    return bytes(buf)


def grow_kdump(data: bytes, max_mapnr: int) -> bytes:
    """The same kdump file claiming ``max_mapnr`` pfns of RAM, of which only the pages
    it already holds are dumpable: both bitmaps grow (the RAM bitmap all ones past the
    original, the
    dumpable bitmap zero past the original), page-data offsets move by the growth, and
    the header's max_mapnr / end_pfn fields follow (``max_mapnr`` multiple of 8)."""
    lay = kdump_layout(data)
    bs = lay.block_size
    bm_bytes = -(-(max_mapnr // 8) // bs) * bs
    kept = lay.max_mapnr // 8  # the original RAM bits (holes stay holes)
    ram = (data[lay.bitmap1:lay.bitmap1 + kept] + b"\xff" * (max_mapnr // 8 - kept)).ljust(
        bm_bytes, b"\0")
    dumpable = data[lay.bitmap2:lay.bitmap2 + lay.bitmap_half].ljust(bm_bytes, b"\0")
    blocks = 2 * bm_bytes // bs
    delta = (blocks - lay.bitmap_blocks) * bs
    descs = bytearray(data[lay.descriptors:lay.page_data])
    for i in range(lay.ndesc):
        (offset,) = struct.unpack_from("<q", descs, 24 * i)
        if offset:
            struct.pack_into("<q", descs, 24 * i, offset + delta)
    head = bytearray(data[:lay.bitmap1])
    struct.pack_into("<II", head, HDR_BITMAP_BLOCKS, blocks, max_mapnr & 0xFFFFFFFF)
    # kdump_sub_header: end_pfn (32-bit era) at 24, end_pfn_64 and max_mapnr_64 at 88/96
    struct.pack_into("<Q", head, bs + 24, max_mapnr)
    struct.pack_into("<QQ", head, bs + 88, max_mapnr, max_mapnr)
    return bytes(head) + ram + dumpable + bytes(descs) + data[lay.page_data:]
