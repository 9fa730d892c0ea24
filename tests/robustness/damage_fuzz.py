"""Fuzz targets for the core's parsers, shared by the bounded hypothesis tests
(``test_fuzz_parsers.py``) and the long campaign (``bench/fuzz_campaign.py``).

Each target takes one input, runs one parser on it and returns normally or raises one of
pycrash's typed errors (:data:`~damage.TYPED`); any other exception is a bug. Header
mutations are applied as :class:`~damage.PatchedBytes` patches over a real sample dump, so
an input is a few bytes, never a copy of the dump.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

from damage import TYPED, PatchedBytes, kdump_layout, open_patched, sample_bytes

from pycrash.core.elfdump import ElfDump
from pycrash.core.flattened import FlatBytes
from pycrash.core.kdump import KdumpFile
from pycrash.core.layer import PhysicalLayer
from pycrash.core.notes import (
    cpus_from_notes,
    parse_notes,
    parse_prstatus,
    parse_prstatus_fields,
    parse_qemu_cpustate,
)
from pycrash.core.vmcoreinfo import VmcoreInfo

__all__ = ["TARGETS", "Mutator", "run_target", "TYPED"]


def _touch_pages(layer: PhysicalLayer, count: int = 6) -> None:
    """Read a few pages through the layer: first present pages and a spread of pfns."""
    max_pfn = max(1, layer.max_paddr() >> layer.page_shift)
    for pfn in (0, 1, 0x100, max_pfn // 3, max_pfn // 2, max_pfn - 1)[:count]:
        try:
            layer.read_page(pfn)
        except TYPED:
            pass
    layer.counts()


def kdump_target(src: PatchedBytes) -> None:
    layer = KdumpFile(src)
    _touch_pages(layer)
    layer.ranges()
    layer.read_pages(0, 8) if layer.end_pfn >= 8 else None


def flat_target(src: PatchedBytes) -> None:
    flat = FlatBytes(src)
    flat.pread(0, 4096)
    flat.pread(flat.size // 2, 8192)
    try:
        layer = KdumpFile(flat, flattened=True)
    except TYPED:
        return
    _touch_pages(layer, 3)


def elf_target(src: PatchedBytes) -> None:
    layer = ElfDump(src)
    _touch_pages(layer)
    layer.ranges()


def full_target(src: PatchedBytes) -> None:
    """open_dump's whole path, kernel layout discovery included, then kernel reads."""
    dump = open_patched(src)
    for name in ("init_uts_ns", "_stext", "swapper_pg_dir"):
        addr = dump.vmcoreinfo.symbol(name)
        if addr is not None:
            try:
                dump.read(addr, 64)
            except TYPED:
                pass


def notes_target(data: bytes) -> None:
    notes = parse_notes(data, base_offset=0)
    for crash_dump in (True, False):
        cpus_from_notes(notes, crash_dump=crash_dump)


def vmcoreinfo_target(data: bytes) -> None:
    v = VmcoreInfo(data)
    v.osrelease, v.page_size, v.kerneloffset, v.crashtime, v.phys_base  # noqa: B018
    v.pgtable_l5_enabled  # noqa: B018
    v.symbol("init_top_pgt"), v.number("phys_base"), v.offset("page.flags")  # noqa: B018
    v.size("page"), v.length("mem_section")  # noqa: B018


def prstatus_target(data: bytes) -> None:
    parse_prstatus(data)
    parse_prstatus_fields(data)
    parse_qemu_cpustate(data)


# -- mutation of real headers ---------------------------------------------------------------
_INTERESTING = [0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0xFFF, 0x1000, 0x7FFF, 0x8000,
                0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, 1 << 40,
                (1 << 63) - 1, 1 << 63, (1 << 64) - 1]


class Mutator:
    """Mutations of one sample file's metadata regions (offset ranges that parsers read)."""

    def __init__(self, base: bytes, regions: list[tuple[int, int]], rng: random.Random) -> None:
        self.base = base
        self.regions = [(lo, hi) for lo, hi in regions if hi > lo]
        self.rng = rng

    def patches(self) -> tuple[dict[int, bytes], int | None]:
        rng = self.rng
        patches: dict[int, bytes] = {}
        for _ in range(rng.choice((1, 1, 1, 2, 3, 6))):
            lo, hi = rng.choice(self.regions)
            off = rng.randrange(lo, hi)
            kind = rng.randrange(6)
            if kind == 0:  # flip a bit
                patches[off] = bytes([self.base[off] ^ (1 << rng.randrange(8))])
            elif kind == 1:  # random bytes
                patches[off] = rng.randbytes(rng.choice((1, 2, 4, 8, 16)))
            elif kind in (2, 3):  # an interesting integer, aligned like a struct field
                width = rng.choice((4, 8))
                off -= off % width
                value = rng.choice(_INTERESTING)
                if rng.random() < 0.3:
                    value = (value + rng.choice((-1, 1))) % (1 << 64)
                patches[off] = (value % (1 << 8 * width)).to_bytes(width, "little")
            elif kind == 4:  # the same, big-endian (flattened records)
                off -= off % 8
                value = rng.choice(_INTERESTING) % (1 << 64)
                patches[off] = value.to_bytes(8, "big")
            else:  # zero a run
                patches[off] = bytes(rng.choice((1, 8, 24, 64)))
        size = None
        cut = rng.random()
        if cut < 0.05:  # inside the headers
            size = rng.randrange(min(len(self.base), 1 << 16))
        elif cut < 0.1:
            size = rng.randrange(len(self.base))
        return patches, size


def kdump_regions(data: bytes, ndesc_sample: int = 64) -> list[tuple[int, int]]:
    lay = kdump_layout(data)
    rng = random.Random(0)
    regions = [(0, 464), (lay.sub_header, lay.sub_header + 104),
               (lay.bitmap1, lay.bitmap1 + min(lay.bitmap_half, 4096)),
               (lay.bitmap2, lay.bitmap2 + min(lay.bitmap_half, 4096)),
               (lay.descriptors, lay.descriptors + 24 * 16)]
    # the note/VMCOREINFO area lives in the sub-header blocks
    (off_vmci, size_vmci, off_note, size_note) = struct.unpack_from("<qQqQ", data,
                                                                    lay.sub_header + 32)
    if 0 < off_note < len(data):
        regions.append((off_note, min(len(data), off_note + min(size_note, 2048))))
    if 0 < off_vmci < len(data):
        regions.append((off_vmci, min(len(data), off_vmci + min(size_vmci, 2048))))
    for _ in range(ndesc_sample):
        i = rng.randrange(lay.ndesc)
        regions.append((lay.descriptors + 24 * i, lay.descriptors + 24 * i + 24))
    return regions


def elf_regions(data: bytes) -> list[tuple[int, int]]:
    (phoff,) = struct.unpack_from("<Q", data, 32)
    (phentsize, phnum) = struct.unpack_from("<HH", data, 54)
    regions = [(0, 64), (phoff, phoff + phentsize * phnum)]
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data,
                                                                  phoff + i * phentsize)
        if p_type == 4:  # PT_NOTE
            regions.append((p_offset, min(len(data), p_offset + min(p_filesz, 4096))))
    return regions


def flat_regions(data: bytes, records: int = 64) -> list[tuple[int, int]]:
    regions = [(0, 32)]
    pos = 4096
    for _ in range(records):
        if pos + 16 > len(data):
            break
        dest, size = struct.unpack_from(">qq", data, pos)
        regions.append((pos, pos + 16))
        if dest < 0 or size < 0:
            break
        pos += 16 + size
    return regions


Target = Callable[[PatchedBytes], None]

#: name -> (sample dump, regions function, target)
TARGETS: dict[str, tuple[str, Callable[[bytes], list[tuple[int, int]]], Target]] = {
    "kdump": ("zlib31", kdump_regions, kdump_target),
    "split": ("split31", kdump_regions, kdump_target),
    "flat": ("flat31", flat_regions, flat_target),
    "elf": ("elf31", elf_regions, elf_target),
    "full": ("zlib31", kdump_regions, full_target),
}


def sample_for(target: str) -> bytes:
    return sample_bytes("sysrq", TARGETS[target][0])


def run_target(target: str, src: PatchedBytes) -> BaseException | None:
    """Run one input: None if it succeeded or raised a typed error, else the exception."""
    try:
        TARGETS[target][2](src)
    except TYPED:
        return None
    except Exception as exc:  # noqa: BLE001 - that is what a fuzzer looks for
        return exc
    return None
