"""Synthetic kernel dumps built by the tests themselves.

:class:`Machine` is a small fake x86-64 machine: physical memory with a kernel image,
page tables (4- or 5-level, with 4 KiB, 2 MiB and 1 GiB mappings), a VMCOREINFO text
and per-CPU NT_PRSTATUS notes. Writers turn it (or any page source) into an ELF vmcore,
a kdump-compressed file (any codec, dump level, incomplete, split) or a flattened
stream. Every expected value a test checks comes from here, never from pycrash.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

PAGE = 4096
START_KERNEL_MAP = 0xFFFFFFFF80000000
P, RW, PSE = 1, 2, 0x80
BANNER = b"Linux version 6.1.0-synthetic (pycrash@tests) #1 SMP PREEMPT_NONE\n"
PRSTATUS_REGS = (
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
    "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
    "fs_base", "gs_base", "ds", "es", "fs", "gs",
)


def note(name: bytes, ntype: int, desc: bytes) -> bytes:
    n = name + b"\0"
    out = struct.pack("<III", len(n), len(desc), ntype)
    out += n.ljust((len(n) + 3) & ~3, b"\0")
    out += desc.ljust((len(desc) + 3) & ~3, b"\0")
    return out


def prstatus(pid: int, regs: dict[str, int]) -> bytes:
    buf = bytearray(336)
    struct.pack_into("<i", buf, 32, pid)
    struct.pack_into("<27Q", buf, 112, *(regs.get(r, 0) for r in PRSTATUS_REGS))
    return bytes(buf)


@dataclass
class Machine:
    """A fake machine. Addresses are chosen like a KASLR'd 6.x kernel's."""

    levels: int = 4
    mem_size: int = 8 << 20
    seed: int = 1
    hole: tuple[int, int] = (0xA0000, 0x100000)  # legacy VGA/BIOS hole: not RAM
    kaslr_offset: int = 0x2E000000
    text_pa: int = 0x400000  # where the kernel image sits physically (2 MiB aligned)
    page_offset_base: int = 0xFFFF9A0000000000
    vmalloc_base: int = 0xFFFFB48000000000
    vmemmap_base: int = 0xFFFFE3C000000000
    ncpus: int = 2
    crashtime: bool = True
    mem: bytearray = field(init=False)
    symbols: dict[str, int] = field(init=False, default_factory=dict)
    known: dict[int, bytes] = field(init=False, default_factory=dict)  # vaddr -> bytes

    def __post_init__(self) -> None:
        if self.levels == 5:
            self.page_offset_base = 0xFF11000000000000 + (0x5A << 40)
            self.vmalloc_base = 0xFFA0000000000000 + (0x33 << 40)
            self.vmemmap_base = 0xFFD4000000000000 + (0x11 << 40)
        self.mem = bytearray(self.mem_size)
        rng = random.Random(self.seed)
        # Fill most RAM with random bytes; leave some pages zero (zero-page filtering).
        for pfn in range(self.mem_size // PAGE):
            pa = pfn * PAGE
            if self.hole[0] <= pa < self.hole[1]:
                continue
            if pfn % 7 == 3:
                continue  # zero page
            if pfn % 5 == 1:  # compressible text-ish page
                self.mem[pa:pa + PAGE] = (b"pycrash page %6d " % pfn) * (PAGE // 20) + \
                    b"\0" * (PAGE % 20)
            else:
                self.mem[pa:pa + PAGE] = rng.randbytes(PAGE)
        self._next_free = 0x200000  # page-table pages come from here (below text_pa)
        self.text_va = 0xFFFFFFFF81000000 + self.kaslr_offset
        # phys_base: pa = va - __START_KERNEL_map + phys_base (may be "negative").
        self.phys_base = (self.text_pa - (self.text_va - START_KERNEL_MAP)) % (1 << 64)
        self.root = self.alloc()
        self.build()

    # -- memory helpers ---------------------------------------------------------------
    def alloc(self) -> int:
        pa = self._next_free
        self._next_free += PAGE
        self.mem[pa:pa + PAGE] = bytes(PAGE)
        return pa

    def w64(self, pa: int, value: int) -> None:
        struct.pack_into("<Q", self.mem, pa, value)

    def r64(self, pa: int) -> int:
        return struct.unpack_from("<Q", self.mem, pa)[0]

    def text_pa_of(self, va: int) -> int:
        return (va - START_KERNEL_MAP + self.phys_base) % (1 << 64)

    def _shifts(self) -> list[int]:
        return [48, 39, 30, 21, 12] if self.levels == 5 else [39, 30, 21, 12]

    def map(self, va: int, pa: int, size: int = PAGE) -> None:
        """Map one page of ``size`` (4 KiB, 2 MiB or 1 GiB) at ``va`` → ``pa``."""
        leaf_shift = {PAGE: 12, 2 << 20: 21, 1 << 30: 30}[size]
        table = self.root
        for shift in self._shifts():
            idx = (va >> shift) & 511
            ent_pa = table + 8 * idx
            if shift == leaf_shift:
                self.w64(ent_pa, pa | P | RW | (PSE if shift != 12 else 0) | (1 << 63))
                return
            ent = self.r64(ent_pa)
            if not ent & P:
                new = self.alloc()
                self.w64(ent_pa, new | P | RW | 0x60)
                ent = self.r64(ent_pa)
            table = ent & 0x000FFFFFFFFFF000

    def expected_walk(self, va: int) -> list[tuple[str, int, int]]:
        """(level, entry_paddr, value) for each level visited, computed independently."""
        names = (["PML5"] if self.levels == 5 else []) + ["PGD", "PUD", "PMD", "PTE"]
        out = []
        table = self.root
        for name, shift in zip(names, self._shifts(), strict=True):
            ent_pa = table + 8 * ((va >> shift) & 511)
            ent = self.r64(ent_pa)
            out.append((name, ent_pa, ent))
            if not ent & P or shift == 12 or (shift in (21, 30) and ent & PSE):
                break
            table = ent & 0x000FFFFFFFFFF000
        return out

    # -- the fake kernel --------------------------------------------------------------
    def build(self) -> None:
        sym = self.symbols
        # Kernel image: text_va.. mapped with 2 MiB pages (like the real kernel).
        for i in range(2):
            self.map(self.text_va + i * (2 << 20), self.text_pa + i * (2 << 20), 2 << 20)
        # init_top_pgt is kernel data: make its symbol point at the root we built.
        sym["init_top_pgt"] = self.root - self.phys_base + START_KERNEL_MAP
        sym["init_top_pgt"] %= 1 << 64
        sym["linux_banner"] = self.text_va + 0x1000
        pa = self.text_pa_of(sym["linux_banner"])
        self.mem[pa:pa + len(BANNER) + 1] = BANNER + b"\0"
        # Direct map: the first 1 GiB with one 1 GiB page.
        self.map(self.page_offset_base, 0, 1 << 30)
        # vmalloc: a 4 KiB page, and a 2 MiB page.
        self.vmalloc_page = self.vmalloc_base + 0x3000
        self.vmalloc_pa = 0x5F4000
        self.map(self.vmalloc_page, self.vmalloc_pa)
        self.vmalloc_huge = self.vmalloc_base + (8 << 20)
        self.map(self.vmalloc_huge, 0x600000, 2 << 20)
        # an unmapped address next to a mapped one (PTE not present)
        self.vmalloc_unmapped = self.vmalloc_base + 0x5000
        # mem_section (SPARSEMEM_EXTREME): VMCOREINFO's SYMBOL(mem_section) is the value of
        # the pointer, i.e. the root array; its first root points at mem_section[0].
        roots_pa, sect_pa = 0x1000, 0x2000
        sym["mem_section"] = self.page_offset_base + roots_pa
        self.w64(roots_pa, self.page_offset_base + sect_pa)
        self.w64(sect_pa, self.vmemmap_base | 0x7)  # section_mem_map + flag bits
        self.map(self.vmemmap_base, 0x7F0000)
        # vmap_area_list (a list_head in kernel data) → first vmap_area (list at +40),
        # whose va_start is the first vmalloc allocation, at VMALLOC_START.
        sym["vmap_area_list"] = self.text_va + 0x2100
        area_pa = 0x3000
        self.w64(self.text_pa_of(sym["vmap_area_list"]), self.page_offset_base + area_pa + 40)
        self.w64(area_pa, self.vmalloc_base + 0x3000)
        # known bytes for cross checks
        for va in (sym["linux_banner"], self.vmalloc_page + 0x10, self.vmalloc_huge + 0x12345,
                   self.page_offset_base + 0x345678):
            self.known[va] = bytes(self.read_v(va, 64))

    def translate(self, va: int) -> int:
        walk = self.expected_walk(va)
        level, _, ent = walk[-1]
        if not ent & P:
            raise KeyError(level)
        if level == "PUD":
            return (ent & 0x000FFFFFC0000000) | (va & ((1 << 30) - 1))
        if level == "PMD":
            return (ent & 0x000FFFFFFFE00000) | (va & ((1 << 21) - 1))
        return (ent & 0x000FFFFFFFFFF000) | (va & 0xFFF)

    def read_v(self, va: int, n: int) -> bytes:
        pa = self.translate(va)
        return bytes(self.mem[pa:pa + n])

    def vmcoreinfo(self) -> bytes:
        signed_phys_base = self.phys_base - (1 << 64) if self.phys_base >> 63 else self.phys_base
        lines = [
            "OSRELEASE=6.1.0-synthetic",
            "BUILD-ID=0123456789abcdef0123456789abcdef01234567",
            f"PAGESIZE={PAGE}",
            f"SYMBOL(init_top_pgt)={self.symbols['init_top_pgt']:x}",
            f"SYMBOL(swapper_pg_dir)={self.symbols['init_top_pgt']:x}",
            f"SYMBOL(mem_section)={self.symbols['mem_section']:x}",
            "LENGTH(mem_section)=2048",
            "SIZE(mem_section)=16",
            "OFFSET(mem_section.section_mem_map)=0",
            f"SYMBOL(_stext)={self.text_va:x}",
            "OFFSET(list_head.next)=0",
            f"SYMBOL(vmap_area_list)={self.symbols['vmap_area_list']:x}",
            "OFFSET(vmap_area.va_start)=0",
            "OFFSET(vmap_area.list)=40",
            "NUMBER(PG_lru)=4",
            "NUMBER(KERNELPACMASK)=0xffffff8000000000",
            f"NUMBER(phys_base)={signed_phys_base}",
            f"NUMBER(pgtable_l5_enabled)={1 if self.levels == 5 else 0}",
            f"KERNELOFFSET={self.kaslr_offset:x}",
            "NUMBER(KERNEL_IMAGE_SIZE)=1073741824",
            "NUMBER(sme_mask)=0",
        ]
        if self.crashtime:
            lines.append("CRASHTIME=1700000000")
        return ("\n".join(lines) + "\n").encode()

    def cpu_regs(self, cpu: int) -> dict[str, int]:
        base = 0x1000 * (cpu + 1)
        regs = {r: base + i for i, r in enumerate(PRSTATUS_REGS)}
        regs["rip"] = self.text_va + 0x1234 + cpu
        regs["rsp"] = self.page_offset_base + 0x7FF000 - cpu * 0x4000
        regs["cs"], regs["ss"], regs["eflags"] = 0x10, 0x18, 0x46
        return regs

    def notes(self, skip_cpus: Iterable[int] = ()) -> bytes:
        out = b""
        for cpu in range(self.ncpus):
            if cpu in set(skip_cpus):
                continue
            out += note(b"CORE", 1, prstatus(100 + cpu, self.cpu_regs(cpu)))
        out += note(b"VMCOREINFO", 0, self.vmcoreinfo())
        return out

    # -- page source view -------------------------------------------------------------
    def is_ram(self, pfn: int) -> bool:
        pa = pfn * PAGE
        return pa < self.mem_size and not self.hole[0] <= pa < self.hole[1]

    def page(self, pfn: int) -> bytes:
        return bytes(self.mem[pfn * PAGE:(pfn + 1) * PAGE])


# -- ELF writer ---------------------------------------------------------------------------
def write_elf(path: Path, m: Machine, *, segments: list[tuple[int, int, int]] | None = None,
              e_flags: int = 0, notes: bytes | None = None, text_segment: bool = True,
              truncate_to: int | None = None,
              extra_loads: list[tuple[int, int, int, int]] = (), xnum: bool = False) -> Path:
    """ELF64 ET_CORE. ``segments``: (paddr, memsz, filesz) per PT_LOAD; default: one per
    RAM range, full. A kexec-style kernel-text segment (vaddr in the text mapping)
    is added when ``text_segment``."""
    if segments is None:
        segments = [(0, m.hole[0], m.hole[0]), (m.hole[1], m.mem_size - m.hole[1],
                                                 m.mem_size - m.hole[1])]
    loads = [(pa, m.page_offset_base + pa, memsz, filesz) for pa, memsz, filesz in segments]
    if text_segment:
        loads.append((m.text_pa, m.text_va, 4 << 20, 4 << 20))
    loads += list(extra_loads)  # (paddr, vaddr, memsz, filesz); paddr -1 = none
    notes = m.notes() if notes is None else notes
    phnum = 1 + len(loads)
    phoff = 64
    off = phoff + 56 * phnum
    note_off = off
    off += len(notes)
    off = (off + PAGE - 1) & ~(PAGE - 1)
    body = bytearray()
    phdrs = struct.pack("<IIQQQQQQ", 4, 0, note_off, 0, 0, len(notes), len(notes), 0)
    data_off = off
    for pa, va, memsz, filesz in loads:
        phdrs += struct.pack("<IIQQQQQQ", 1, 7, data_off if filesz else 0, va,
                             pa % (1 << 64), filesz, memsz, PAGE)
        body += m.mem[pa:pa + filesz] if pa >= 0 else bytes(filesz)
        data_off += filesz
    # PN_XNUM: e_phnum = 0xffff and the real count in section header 0's sh_info, as
    # makedumpfile -E writes when there are 65535 or more program headers.
    shoff = off + len(body) if xnum else 0
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, phoff, shoff, e_flags, 64, 56,
                        0xFFFF if xnum else phnum, 64, 1 if xnum else 0, 0)
    blob = ehdr + phdrs + notes
    blob = blob.ljust(off, b"\0") + body
    if xnum:
        blob += struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, phnum, 0, 0)
    if truncate_to is not None:
        blob = blob[:truncate_to]
    path.write_bytes(blob)
    return path


# -- kdump writer -------------------------------------------------------------------------
def _compressor(flag: int) -> Callable[[bytes], bytes]:
    if flag == 1:
        return lambda d: zlib.compress(d, 1)
    if flag == 2:
        import lzallright

        c = lzallright.LZOCompressor()
        return lambda d: bytes(c.compress(d))
    if flag == 4:
        import cramjam

        return lambda d: bytes(cramjam.snappy.compress_raw(d))
    if flag == 0x20:
        import zstandard

        c = zstandard.ZstdCompressor(level=1)
        return c.compress
    return lambda d: d


def write_kdump(path: Path, *, max_mapnr: int, is_ram: Callable[[int], bool],
                page: Callable[[int], bytes | None], notes: bytes, vmcoreinfo: bytes,
                phys_base: int = 0, flag: int = 1, dump_level: int = 31,
                excluded: Callable[[int], bool] = lambda pfn: False,
                incomplete_after: int | None = None, split: tuple[int, int] | None = None,
                header_version: int = 6, release: str = "6.1.0-synthetic",
                corrupt_pfn: int | None = None) -> Path:
    """A makedumpfile-style kdump-compressed file (64-bit little endian, version 6)."""
    bs = PAGE
    start, end = split if split else (0, max_mapnr)
    comp = _compressor(flag)
    sub_len = 104 + len(notes)
    sub_hdr_size = (sub_len + bs - 1) // bs
    bm_bytes = ((max_mapnr + 7) // 8 + bs - 1) // bs * bs
    bitmap_blocks = 2 * bm_bytes // bs
    bm1 = bytearray(bm_bytes)
    bm2 = bytearray(bm_bytes)
    for pfn in range(max_mapnr):
        if is_ram(pfn):
            bm1[pfn >> 3] |= 1 << (pfn & 7)
            # Zero pages stay dumpable: they share one stored zero page (pd_zero).
            if not excluded(pfn):
                bm2[pfn >> 3] |= 1 << (pfn & 7)
    dumpable = [pfn for pfn in range(start, end) if bm2[pfn >> 3] >> (pfn & 7) & 1]
    data_off = (1 + sub_hdr_size + bitmap_blocks) * bs
    desc_size = 24 * len(dumpable)
    pos = data_off + desc_size
    descs = bytearray()
    data = bytearray()
    zero = bytes(bs)
    pd_zero = None
    if dump_level & 1:
        pd_zero = struct.pack("<qIIQ", pos, bs, 0, 0)
        data += zero
        pos += bs
    status = flag
    for i, pfn in enumerate(dumpable):
        if incomplete_after is not None and i >= incomplete_after:
            descs += bytes(24)  # never written
            status |= 0x08
            continue
        content = page(pfn) or zero
        if pd_zero is not None and content == zero:
            descs += pd_zero
            continue
        c = comp(content)
        if flag and len(c) < bs:
            stored, fl = c, flag
        else:
            stored, fl = content, 0
        if pfn == corrupt_pfn and fl:
            stored = b"\xff" * len(stored)
        descs += struct.pack("<qIIQ", pos, len(stored), fl, 0)
        data += stored
        pos += len(stored)
    hdr = bytearray(bs)
    hdr[0:8] = b"KDUMP   "
    struct.pack_into("<i", hdr, 8, header_version)
    uts = [b"Linux", b"synthetic", release.encode(), b"#1 SMP", b"x86_64", b"(none)"]
    for i, u in enumerate(uts):
        hdr[12 + 65 * i: 12 + 65 * i + len(u)] = u
    struct.pack_into("<qq", hdr, 408, 1700000001, 5)
    struct.pack_into("<IiiIIIIIii", hdr, 424, status, bs, sub_hdr_size, bitmap_blocks,
                     max_mapnr & 0xFFFFFFFF, 0, 0, 0, 0, 2)
    sub = bytearray(sub_hdr_size * bs)
    note_off = bs + 104
    vmci_at = notes.find(vmcoreinfo)
    struct.pack_into("<Qii", sub, 0, phys_base, dump_level, 1 if split else 0)
    struct.pack_into("<QQ", sub, 16, start, end)
    struct.pack_into("<qQqQqQ", sub, 32, note_off + vmci_at, len(vmcoreinfo), note_off,
                     len(notes), 0, 0)
    struct.pack_into("<QQQ", sub, 80, start, end, max_mapnr)
    sub[104:104 + len(notes)] = notes
    blob = bytes(hdr) + bytes(sub) + bytes(bm1) + bytes(bm2) + bytes(descs) + bytes(data)
    path.write_bytes(blob)
    return path


def machine_kdump(path: Path, m: Machine, **kw: object) -> Path:
    max_mapnr = m.mem_size // PAGE

    def page(pfn: int) -> bytes | None:
        d = m.page(pfn)
        return None if d == bytes(PAGE) else d

    return write_kdump(path, max_mapnr=max_mapnr, is_ram=m.is_ram, page=page,
                       notes=m.notes(), vmcoreinfo=m.vmcoreinfo(), phys_base=m.phys_base,
                       **kw)  # type: ignore[arg-type]


def flatten(src: bytes, path: Path, *, chunk: int = 10000, seed: int | None = 0,
            rewrite_header: bool = True) -> Path:
    """Write ``src`` as a makedumpfile flattened stream: records in shuffled order (file
    order if ``seed`` is None), the first 4 KiB first written as garbage and rewritten
    later (later writes win)."""
    recs = [(o, src[o:o + chunk]) for o in range(0, len(src), chunk)]
    if seed is not None:
        random.Random(seed).shuffle(recs)
    out = bytearray(b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1))
    out = out.ljust(4096, b"\0")
    if rewrite_header:
        out += struct.pack(">qq", 0, 4096) + b"\xee" * 4096
    for off, buf in recs:
        out += struct.pack(">qq", off, len(buf)) + buf
    if rewrite_header:
        out += struct.pack(">qq", 100, 50) + src[100:150]
    out += struct.pack(">qq", -1, -1)
    path.write_bytes(bytes(out))
    return path


# -- cached fixture sets -------------------------------------------------------------------
_SETS: dict[tuple[object, ...], dict[str, object]] = {}


def excluded_user(pfn: int) -> bool:
    """The synthetic 'user/cache/free' pages a -d 31 dump leaves out."""
    return pfn % 11 == 5 and pfn > 0x240  # page tables live at 0x200000+


def build_set(tmp: Path, levels: int = 4) -> dict[str, object]:
    """Every format of one synthetic machine, written once per test session."""
    key = (str(tmp), levels)
    if key in _SETS:
        return _SETS[key]
    tmp.mkdir(parents=True, exist_ok=True)
    m = Machine(levels=levels)
    files: dict[str, list[Path]] = {}
    files["elf"] = [write_elf(tmp / "vmcore.elf", m)]
    # makedumpfile -E style: the excluded pages are the tail of each segment.
    files["elf-filtered"] = [write_elf(tmp / "vmcore.elf-d", m, segments=[
        (0, m.hole[0], m.hole[0]),
        (0x100000, 0x100000, 0x80000),  # [0x180000, 0x200000) excluded tail
        (0x200000, m.mem_size - 0x200000, m.mem_size - 0x200000),
    ])]
    for name, flag in (("zlib", 1), ("lzo", 2), ("snappy", 4), ("zstd", 0x20), ("none", 0)):
        files[f"kdump-{name}"] = [machine_kdump(tmp / f"vmcore.{name}", m, flag=flag,
                                                excluded=excluded_user)]
    raw = files["kdump-zlib"][0].read_bytes()
    files["flat-kdump"] = [flatten(raw, tmp / "vmcore.flat")]
    files["flat-elf"] = [flatten(files["elf"][0].read_bytes(), tmp / "vmcore.elf.flat",
                                 chunk=65536)]
    n = m.mem_size // PAGE
    files["split"] = [machine_kdump(tmp / f"vmcore.split{i}", m, flag=1, excluded=excluded_user,
                                    split=(lo, hi))
                      for i, (lo, hi) in enumerate(((n // 3, 2 * n // 3), (0, n // 3),
                                                    (2 * n // 3, n)))]
    result = {"machine": m, "files": files}
    _SETS[key] = result
    return result
