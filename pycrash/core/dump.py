"""The :class:`Dump` facade: physical layer + caches + x86-64 translation.

Stack (volatility3-style): file bytes (plain or flattened) → container format
(:class:`~pycrash.core.kdump.KdumpFile`, :class:`~pycrash.core.elfdump.ElfDump`,
:class:`~pycrash.core.split.SplitDump`) → cached physical memory → kernel virtual memory
(:class:`~pycrash.core.x86_64.X86_64PageTable`).
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import kernel
from .cache import PageCache, TranslationCache
from .elfdump import ElfDump, is_elf
from .errors import (
    DumpFormatError,
    ExcludedPageError,
    FaultError,
    FileOffsetError,
    MissingPageError,
)
from .filebytes import FileBytes
from .flattened import FlatBytes, is_flattened
from .kdump import KdumpFile, is_kdump
from .layer import PhysicalLayer
from .notes import NT_PRSTATUS, CpuState, Note, cpus_from_notes, parse_notes, parse_prstatus
from .split import SplitDump
from .vmcoreinfo import VmcoreInfo
from .x86_64 import (
    START_KERNEL_MAP,
    Layout,
    Translation,
    X86_64PageTable,
    kernel_root_from_cr3,
)

__all__ = ["Dump", "open_dump", "open_layer"]

_U8 = struct.Struct("<B").unpack
_U16 = struct.Struct("<H").unpack
_U32 = struct.Struct("<I").unpack
_U64 = struct.Struct("<Q").unpack
_S64 = struct.Struct("<q").unpack
_TB = 1 << 40
_LARGE_SHIFT = 21  # x86-64 PMD mapping: 2 MiB
_LARGE_MASK = (1 << _LARGE_SHIFT) - 1
_U64_MASK = (1 << 64) - 1


def open_layer(path: str | os.PathLike[str]) -> PhysicalLayer:
    """Open one file as a physical layer, detecting the format by content."""
    src: Any = FileBytes(path)
    try:
        head = src.pread(0, 4096)
        flattened = False
        if is_flattened(head):
            src = FlatBytes(src)
            head = src.pread(0, 4096)
            flattened = True
        if is_kdump(head):
            return KdumpFile(src, flattened=flattened)
        if is_elf(head):
            return ElfDump(src, flattened=flattened)
        if not head:
            raise DumpFormatError(path, None, "empty file")
        raise DumpFormatError(path, 0, "not a kernel dump (no ELF, KDUMP or flattened "
                              "signature)")
    except BaseException:
        src.close()
        raise


def open_dump(path_or_paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
              zero_excluded: bool = False) -> Dump:
    """Open a dump by content: an ELF vmcore, a kdump-compressed file, a flattened file
    (either of those, streamed by ``makedumpfile -F``), ``/proc/kcore``, or — given a list
    of paths — the parts of a ``makedumpfile --split`` set.

    Args:
        zero_excluded: read pages excluded by filtering (and missing pages of an
            incomplete dump) as zeros instead of raising, like crash ``--zero_excluded``.

    Raises:
        DumpFormatError: a file is not a dump or its metadata is unreadable.
        OSError: a file cannot be opened.
    """
    if isinstance(path_or_paths, (str, os.PathLike)):
        paths = [path_or_paths]
    else:
        paths = list(path_or_paths)
    if not paths:
        raise DumpFormatError("(no file)", None, "no dump file given")
    layers: list[PhysicalLayer] = []
    try:
        for p in paths:
            layers.append(open_layer(p))
        if len(layers) == 1:
            layer = layers[0]
        else:
            for lay in layers:
                if not isinstance(lay, KdumpFile):
                    raise DumpFormatError(lay.paths[0], 0, "only kdump-compressed files can "
                                          "be opened as a split set")
            layer = SplitDump(layers)  # type: ignore[arg-type]
    except BaseException:
        for lay in layers:
            lay.close()
        raise
    # crash's pc->dumpfile (the file "rd -f" reads) is the last dump file argument.
    return Dump(layer, zero_excluded=zero_excluded, dumpfile=str(paths[-1]))


class Dump:
    """One opened kernel dump: physical and kernel-virtual reads, translation, metadata.

    Caches: ``cache_pages`` decoded pages (LRU; 8192 pages = 32 MiB by default) and
    ``tcache_pages`` per-page kernel translations (64 Ki entries).

    Attributes:
        format: "kdump", "elf" or "kcore" (a flattened file reports the format it
            contains, with ``flattened`` True).
        split: True for a ``--split`` set; ``paths`` lists its files in pfn order.
        compression: "zlib", "lzo", "snappy", "zstd", "none" or "mixed".
        dump_level: makedumpfile ``-d`` level, or None when the format doesn't record it.
        page_size: page size of the dumped kernel.
        vmcoreinfo: parsed VMCOREINFO (empty when the dump has none).
        kaslr_offset: KASLR virtual offset (``KERNELOFFSET``; 0 if unknown).
        phys_base: x86-64 ``phys_base`` (formats.md §3.5 order; 0 if unknown).
        paging_levels: 4 or 5.
        cpus: per-CPU register state from the NT_PRSTATUS notes.
        layout: the kernel virtual layout (randomized bases found in the dump).
        notes: every ELF note of the dump.
        warnings: one line per problem found at open (truncated or incomplete dump, a
            missing part of a split set, garbled metadata areas, slab pages filtered out,
            ``zero_excluded`` in effect); empty for an intact dump.
    """

    def __init__(self, layer: PhysicalLayer, *, zero_excluded: bool = False,
                 cache_pages: int = 8192, tcache_pages: int = 1 << 16,
                 dumpfile: str | None = None) -> None:
        self.layer = layer
        #: the file :meth:`read_file_offset` reads (of a split set: the last one given)
        self.dumpfile: str = dumpfile if dumpfile is not None else layer.paths[-1]
        self.format: str = layer.format
        self.flattened: bool = layer.flattened
        self.split: bool = isinstance(layer, SplitDump)
        self.paths: list[str] = list(layer.paths)
        self.compression: str = layer.compression
        self.dump_level: int | None = layer.dump_level
        self.page_size: int = layer.page_size
        self.incomplete: bool = layer.incomplete
        self.producer: str = layer.producer
        self.zero_excluded = zero_excluded
        self.notes: list[Note] = list(layer.notes)
        self._shift = layer.page_shift
        self._psize = layer.page_size
        self._mask = layer.page_size - 1
        self._zero_page = bytes(layer.page_size)
        self._explaining = False
        self._lock = threading.RLock()
        self._pcache = PageCache(cache_pages)
        self._tcache = TranslationCache(tcache_pages)
        # vaddr >> 21 -> physical base of that 2 MiB of a 2 MiB or 1 GiB kernel mapping (the
        # vmemmap array, for one), so one walk serves its 512 small pages
        self._large: dict[int, int] = {}
        self._ucache: dict[tuple[int, int], int] = {}

        vmci = VmcoreInfo(layer.vmcoreinfo_text or "")
        self.vmcoreinfo = vmci
        self.cpus: list[CpuState] = cpus_from_notes(
            self.notes, crash_dump=vmci.crashtime is not None)

        # KASLR offset and phys_base, first hit wins (formats.md §3.5).
        self.kaslr_offset: int = vmci.kerneloffset or 0
        pb = vmci.phys_base
        self.phys_base_source = "vmcoreinfo"
        if pb is None:
            pb = layer.phys_base_hint
            self.phys_base_source = ("kdump sub-header" if layer.format == "kdump"
                                     else "kernel-text PT_LOAD")
        if pb is None:
            pb, self.phys_base_source = 0, "default"
        self.phys_base: int = pb % (1 << 64)
        self.paging_levels: int = 5 if vmci.pgtable_l5_enabled else 4
        image = vmci.number("KERNEL_IMAGE_SIZE")
        if image is None:
            # CONFIG_RANDOMIZE_BASE sets KERNEL_IMAGE_SIZE to 1 GiB, else 512 MiB; with no
            # VMCOREINFO at all, assume KASLR.
            image = (512 << 20) if len(vmci) and vmci.kerneloffset is None else (1 << 30)
        self.layout = Layout(levels=self.paging_levels, phys_base=self.phys_base,
                             kernel_image_size=image)
        top = layer.max_paddr()
        self.layout.directmap_size = max(1, -(-top // _TB)) * _TB

        root = None
        for name in ("init_top_pgt", "init_level4_pgt", "swapper_pg_dir"):
            sym = vmci.symbol(name)
            if sym is not None:
                root = (sym - START_KERNEL_MAP + self.phys_base) & _U64_MASK
                break
        if root is None:
            for cpu in self.cpus:
                cr3 = cpu.registers.get("cr3")
                if cr3:
                    root = kernel_root_from_cr3(cr3)
                    break
        self.pgtable = X86_64PageTable(self.read_phys_u64, root, self.layout,
                                       vmci.number("sme_mask") or 0)
        self._text_lo = START_KERNEL_MAP
        self._text_hi = START_KERNEL_MAP + image
        self._dm_lo = self._dm_hi = 0
        self.kaslr_source = "vmcoreinfo" if vmci.kerneloffset is not None else "default"
        if vmci.kerneloffset is None and vmci.phys_base is None and root is not None:
            kernel.kernel_from_page_tables(self)
        kernel.discover_layout(self, layer.page_offset_hint)
        #: one line per problem found at open (truncation, a split part missing, pages
        #: the kernel needs filtered out, --zero-excluded in effect); nothing prints them
        #: here: the shell shows each once.
        self.warnings: list[str] = self._damage_report()

    def _damage_report(self) -> list[str]:
        out = list(self.layer.damage())
        try:
            slab = kernel.excluded_in_use(self)
        except FaultError:
            slab = None
        if slab is not None and slab[0]:
            found, examined, total = slab
            share = (f"{found} of the {total} excluded pages" if examined >= total else
                     f"about {found * total // max(1, examined)} of the {total} excluded "
                     f"pages ({found} of {examined} examined)")
            out.append(f"{share} are slab pages the kernel was using (makedumpfile older "
                       "than the kernel?): kernel data in them cannot be read")
        if self.zero_excluded:
            counts = self.layer.counts()
            absent = counts.get("excluded", 0) + counts.get("missing", 0)
            if absent:
                out.append(f"--zero-excluded: the {absent} pages excluded from or missing in "
                           "the dump read as zeroes")
        return out

    def set_layout(self, *, page_offset_base: int | None = None,
                   vmalloc_base: int | None = None, vmemmap_base: int | None = None,
                   phys_base: int | None = None) -> None:
        """Override layout values (for example from vmlinux symbols read by a higher
        layer). ``None`` leaves a value unchanged. Clears the translation cache."""
        if page_offset_base is not None:
            self.layout.page_offset_base = page_offset_base
            self._dm_lo = page_offset_base
            self._dm_hi = page_offset_base + (self.layout.directmap_size or 0)
        if vmalloc_base is not None:
            self.layout.vmalloc_base = vmalloc_base
        if vmemmap_base is not None:
            self.layout.vmemmap_base = vmemmap_base
        if phys_base is not None:
            self.phys_base = self.layout.phys_base = phys_base % (1 << 64)
            self.phys_base_source = "set_layout"
            sym = self.vmcoreinfo.symbol("init_top_pgt") or \
                self.vmcoreinfo.symbol("swapper_pg_dir")
            if sym is not None:  # the kernel root is a kernel-image address
                self.pgtable.root = (sym - START_KERNEL_MAP + self.phys_base) & _U64_MASK
        self._tcache.clear()
        self._large.clear()
        self._ucache.clear()

    # -- physical reads ------------------------------------------------------------------
    def _page(self, pfn: int) -> bytes:
        """Page ``pfn`` through the cache (raises FaultError)."""
        cache = self._pcache
        data = cache.get(pfn)
        if data is not None:
            try:
                cache.move_to_end(pfn)
            except KeyError:  # evicted meanwhile by another thread
                pass
            return data
        # Misses are serialized: decoders and the explaining flag are not shared safely.
        with self._lock:
            try:
                data = self.layer.read_page(pfn)
            except ExcludedPageError as exc:
                if not self.zero_excluded:
                    raise self._explain_excluded(exc, pfn) from None
                data = self._zero_page
            except MissingPageError:
                if not self.zero_excluded:
                    raise
                data = self._zero_page
            cache.put(pfn, data)
        return data

    def _read_phys(self, paddr: int, size: int) -> bytes:
        if size <= 0:
            if size < 0:
                raise ValueError("negative read size")
            return b""
        if paddr < 0:
            raise ValueError("negative address")
        layer = self.layer
        if layer.direct and size >= self._psize and not self.zero_excluded:
            try:
                return layer.read(paddr, size)
            except FaultError:
                pass  # the page-by-page loop below names the fault exactly
        if size > 2 * self._psize and hasattr(layer, "read_pages"):
            try:
                return self._read_phys_batched(paddr, size)
            except FaultError:
                pass  # the page-by-page loop below reports the exact fault
        shift, mask, psize = self._shift, self._mask, self._psize
        out = []
        pos, end = paddr, paddr + size
        while pos < end:
            off = pos & mask
            take = min(psize - off, end - pos)
            try:
                page = self._page(pos >> shift)
                out.append(page[off:off + take])
            except FaultError as exc:
                if not layer.direct:
                    raise exc.moved(max(exc.address, pos)) from None
                # A page only partly in the dump (ELF segment ends mid-page): read the
                # requested bytes alone, which faults with their exact address if absent.
                try:
                    out.append(layer.read(pos, take))
                except ExcludedPageError as exc2:
                    if not self.zero_excluded:
                        exc2 = self._explain_excluded(exc2, exc2.address >> shift)
                        raise exc2.moved(max(exc2.address, pos)) from None
                    out.append(bytes(take))
                except MissingPageError as exc2:
                    if not self.zero_excluded:
                        raise exc2.moved(max(exc2.address, pos)) from None
                    out.append(bytes(take))
                except FaultError as exc2:
                    raise exc2.moved(max(exc2.address, pos)) from None
            pos += take
        return b"".join(out)

    def _read_phys_batched(self, paddr: int, size: int) -> bytes:
        """Large physical read: cached pages from the cache, each uncached run of pages
        from the layer in one call (kdump: one descriptor read per run)."""
        shift = self._shift
        first, last = paddr >> shift, (paddr + size - 1) >> shift
        cache = self._pcache
        layer = self.layer
        pages: list[bytes] = []
        pfn = first
        while pfn <= last:
            data = cache.get(pfn)
            if data is not None:
                pages.append(data)
                pfn += 1
                continue
            run_end = pfn + 1
            while run_end <= last and run_end not in cache:
                run_end += 1
            with self._lock:
                got = layer.read_pages(pfn, run_end - pfn)  # type: ignore[attr-defined]
                for i, page in enumerate(got):
                    cache.put(pfn + i, page)
            pages.extend(got)
            pfn = run_end
        off = paddr & self._mask
        return b"".join(pages)[off:off + size]

    def _explain_excluded(self, exc: ExcludedPageError, pfn: int) -> ExcludedPageError:
        if self._explaining:
            return exc
        self._explaining = True
        try:
            kind = kernel.excluded_kind(self, pfn)
        finally:
            self._explaining = False
        self._lock = threading.RLock()
        if kind is None:
            return exc
        return ExcludedPageError(exc.address, exc.reason.replace(
            "page excluded (", f"page excluded ({kind} page; ", 1), physical=True)

    def excluded_kind(self, pfn: int) -> str | None:
        """Why makedumpfile probably left page ``pfn`` out: "free", "user", "cache",
        "cache private", or None (see :func:`pycrash.core.kernel.excluded_kind`)."""
        return kernel.excluded_kind(self, pfn)

    def read_phys_u64(self, paddr: int) -> int:
        off = paddr & self._mask
        if off <= self._psize - 8:
            return _U64(self._page(paddr >> self._shift)[off:off + 8])[0]
        return _U64(self._read_phys(paddr, 8))[0]

    # -- translation ------------------------------------------------------------------
    def _pfn_of(self, vaddr: int) -> int:
        """pfn backing kernel virtual ``vaddr`` (fills the translation cache)."""
        if self._text_lo <= vaddr < self._text_hi:
            pa = (vaddr - START_KERNEL_MAP + self.phys_base) & _U64_MASK
        elif self._dm_lo <= vaddr < self._dm_hi:
            pa = vaddr - self._dm_lo
        else:
            if not 0 <= vaddr < 1 << 64:
                raise ValueError(f"address {vaddr:#x} out of range")
            base = self._large.get(vaddr >> _LARGE_SHIFT)
            if base is not None:
                pa = base | (vaddr & _LARGE_MASK)
            else:
                with self._lock:
                    found = self.pgtable.walk(vaddr)
                pa = found.paddr
                if found.page_size > _LARGE_MASK:
                    if len(self._large) >= 4096:
                        self._large.clear()
                    self._large[vaddr >> _LARGE_SHIFT] = pa & ~_LARGE_MASK
        pfn = pa >> self._shift
        self._tcache.put(vaddr >> self._shift, pfn)
        return pfn

    def vtop(self, vaddr: int) -> int:
        """Physical address of kernel virtual ``vaddr`` (fast path; raises
        NotMappedError)."""
        pfn = self._tcache.get(vaddr >> self._shift)
        if pfn is None:
            pfn = self._pfn_of(vaddr)
        return (pfn << self._shift) | (vaddr & self._mask)

    def translate(self, vaddr: int, root: int | None = None) -> Translation:
        """Walk the page tables for ``vaddr`` and report every entry visited.

        Args:
            root: physical address of a page-table root (e.g. a task's ``mm->pgd``
                translated to physical; with PTI use the kernel copy, which maps user
                space too). Default: the kernel's ``init_top_pgt``.

        Without a known kernel root, kernel-text and direct-map addresses are
        translated arithmetically and ``entries`` is empty.
        """
        if root is None and self.pgtable.root is None:
            kind = self.layout.kind(vaddr)
            if kind in ("text", "directmap"):
                return Translation(vaddr, self.vtop(vaddr), self._psize, [], kind)
        return self.pgtable.walk(vaddr, root)

    # -- the read API -------------------------------------------------------------------
    def read_file_offset(self, offset: int, size: int) -> bytes:
        """``size`` bytes of the dump file itself at file ``offset``, as stored: headers,
        bitmaps, compressed page data, a flattened file's records (crash's ``FILEADDR`` reads,
        ``rd -f``/``struct -f``).  The file is :attr:`dumpfile`.

        Raises:
            FileOffsetError: the range does not lie entirely inside the file.
        """
        source = self._file_source(self.dumpfile)
        # checked before reading: a size past the end would otherwise read (and allocate)
        # everything up to the end of a dump of many gigabytes first
        if offset < 0 or size < 0 or offset + size > source.size:
            raise FileOffsetError(source.path, offset, size, source.size)
        with self._lock:
            data = source.pread(offset, size)
        if len(data) != size:
            raise FileOffsetError(source.path, offset, size, source.size)
        return data

    def _file_source(self, path: str) -> Any:
        """The raw file (not its flattened-stream view) of the part of the dump at ``path``."""
        layers = self.layer.parts if isinstance(self.layer, SplitDump) else [self.layer]
        sources = [getattr(lay, "src", None) for lay in layers]
        sources = [getattr(src, "raw", src) for src in sources if src is not None]
        for src in sources:
            if src.path == path:
                return src
        return sources[-1]

    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        """Read ``size`` bytes at a kernel virtual (default) or physical address.

        Raises:
            FaultError: one of its subclasses, with the address that failed.
        """
        if physical:
            return self._read_phys(address, size)
        off = address & self._mask
        if off + size <= self._psize and size > 0:
            pfn = self._tcache.get(address >> self._shift)
            if pfn is not None:
                cache = self._pcache
                data = cache.get(pfn)
                if data is not None:
                    try:
                        cache.move_to_end(pfn)
                    except KeyError:  # evicted meanwhile by another thread
                        pass
                    return data[off:off + size]
        return self._read_virtual(address, size)

    def _read_virtual(self, address: int, size: int) -> bytes:
        if size <= 0:
            if size < 0:
                raise ValueError("negative read size")
            return b""
        shift, mask, psize = self._shift, self._mask, self._psize
        out = []
        pos, end = address, address + size
        while pos < end:
            off = pos & mask
            take = min(psize - off, end - pos)
            pfn = self._tcache.get(pos >> shift)
            if pfn is None:
                pfn = self._pfn_of(pos)
            try:
                page = self._page(pfn)
                out.append(page[off:off + take])
            except FaultError as exc:
                try:
                    out.append(self._read_phys((pfn << shift) | off, take))
                except FaultError as exc2:
                    raise exc2.at_virtual(pos) from exc
            pos += take
        return b"".join(out)

    def read_user(self, address: int, size: int, root: int) -> bytes:
        """Read through another page-table root, e.g. a task's ``mm->pgd`` (physical
        address; with PTI the kernel copy). Faults carry the virtual address."""
        if size < 0:
            raise ValueError("negative read size")
        shift, mask, psize = self._shift, self._mask, self._psize
        cache = self._ucache
        out = []
        pos, end = address, address + size
        while pos < end:
            off = pos & mask
            take = min(psize - off, end - pos)
            key = (root, pos >> shift)
            pfn = cache.get(key)
            if pfn is None:
                with self._lock:
                    pfn = self.pgtable.walk(pos, root).paddr >> shift
                if len(cache) > 4096:
                    cache.clear()
                cache[key] = pfn
            try:
                out.append(self._read_phys((pfn << shift) | off, take))
            except FaultError as exc:
                raise exc.at_virtual(pos) from None
            pos += take
        return b"".join(out)

    def read_u8(self, address: int, physical: bool = False) -> int:
        return _U8(self.read(address, 1, physical))[0]

    def read_u16(self, address: int, physical: bool = False) -> int:
        return _U16(self.read(address, 2, physical))[0]

    def read_u32(self, address: int, physical: bool = False) -> int:
        return _U32(self.read(address, 4, physical))[0]

    def read_u64(self, address: int, physical: bool = False) -> int:
        return _U64(self.read(address, 8, physical))[0]

    def read_s64(self, address: int, physical: bool = False) -> int:
        return _S64(self.read(address, 8, physical))[0]

    def read_cstring(self, address: int, maxlen: int = 4096, physical: bool = False) -> bytes:
        """Bytes at ``address`` up to (not including) the first NUL, at most ``maxlen``."""
        out = b""
        pos = address
        while len(out) < maxlen:
            chunk = min(self._psize - (pos & self._mask), maxlen - len(out))
            data = self.read(pos, chunk, physical)
            nul = data.find(b"\0")
            if nul >= 0:
                return out + data[:nul]
            out += data
            pos += chunk
        return out

    # -- metadata -----------------------------------------------------------------------
    def physical_ranges(self) -> list[tuple[int, int]]:
        """``[start, end)`` physical ranges the dump describes (RAM incl. excluded pages)."""
        return self.layer.ranges()

    def present_ranges(self) -> list[tuple[int, int]]:
        """``[start, end)`` physical ranges whose data is in the dump (what ``search``
        should scan). Unlike :meth:`physical_ranges` this leaves out excluded pages."""
        return self.layer.present_ranges()

    def page_state(self, pfn: int) -> str:
        """"present", "excluded", "missing" or "beyond" (no memory in the dump)."""
        return self.layer.page_state(pfn)

    def page_counts(self) -> dict[str, int]:
        """Number of pages present / excluded (/ missing) in the dump."""
        return self.layer.counts()

    def header_info(self) -> dict[str, object]:
        """Format header fields, for ``help -D``-style displays."""
        info: dict[str, object] = {"format": self.format, "flattened": self.flattened,
                                   "split": self.split, "paths": self.paths}
        header = getattr(self.layer, "header", None)
        if header is not None:
            info.update(header.as_dict())
        if isinstance(self.layer, ElfDump):
            info["elf_header"] = dict(self.layer.ehdr)
            info["program_headers"] = [dict(p) for p in self.layer.phdrs]
        if isinstance(self.layer, (KdumpFile, SplitDump)):
            parts = self.layer.parts if isinstance(self.layer, SplitDump) else [self.layer]
            info["parts"] = [{"path": p.paths[0], "start_pfn": p.start_pfn,
                              "end_pfn": p.end_pfn, "data_offset": p.data_offset,
                              "max_mapnr": p.max_mapnr, "block_shift": p.page_shift,
                              "bitmap_len": len(p.bm_ram.data) * 2} for p in parts]
        info["notes"] = [{"name": n.name, "type": n.type, "size": len(n.desc),
                          "offset": n.offset} for n in self.notes]
        info["page_counts"] = self.page_counts()
        return info

    def cpus_from_crash_notes(self, crash_notes: int,
                              per_cpu_offsets: Sequence[int]) -> list[CpuState]:
        """Map registers to CPUs exactly, from each CPU's ``crash_notes`` buffer in memory.

        kdump's notes skip offline CPUs (and CPUs that missed the crash NMI), so the
        n-th note is not always CPU n. The per-CPU ``crash_notes`` buffers (``note_buf_t``
        at ``crash_notes + __per_cpu_offset[cpu]``) hold the same NT_PRSTATUS note for
        every CPU that saved its state. Replaces and returns :attr:`cpus`.

        Args:
            crash_notes: value of the kernel pointer ``crash_notes`` (a per-CPU address).
            per_cpu_offsets: ``__per_cpu_offset[]`` for every possible CPU.
        """
        cpus: list[CpuState] = []
        for cpu, offset in enumerate(per_cpu_offsets):
            addr = (crash_notes + offset) % (1 << 64)
            try:
                buf = self.read(addr, 12 + 8 + 336 + 12)
            except FaultError:
                continue
            for note in parse_notes(buf):
                if note.name == "CORE" and note.type == NT_PRSTATUS:
                    parsed = parse_prstatus(note.desc)
                    if parsed and any(parsed[1].values()):
                        cpus.append(CpuState(cpu, parsed[0], parsed[1], "crash_notes"))
                    break
        if cpus:
            self.cpus = cpus
        return cpus

    def cpu(self, n: int) -> CpuState | None:
        for c in self.cpus:
            if c.cpu == n:
                return c
        return None

    @property
    def eraseinfo(self) -> bytes:
        data = getattr(self.layer, "eraseinfo", b"")
        if not data:
            for note in self.notes:
                if note.name == "ERASEINFO":
                    return note.desc
        return data

    def cache_info(self) -> dict[str, int]:
        """Sizes and fixed bounds of the caches: ``pages``/``page_capacity`` (decoded
        pages), ``translations``/``translation_capacity`` (kernel), ``user_translations``
        (per-root walks, cleared past 4096 entries)."""
        return {"pages": len(self._pcache), "page_capacity": self._pcache.capacity,
                "translations": len(self._tcache),
                "translation_capacity": self._tcache.capacity,
                "user_translations": len(self._ucache)}

    def close(self) -> None:
        self._pcache.clear()
        self._tcache.clear()
        self._large.clear()
        self.layer.close()

    def __enter__(self) -> Dump:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        flags = " flattened" if self.flattened else ""
        flags += " split" if self.split else ""
        return (f"<Dump {self.format}{flags} {self.compression} "
                f"{', '.join(Path(p).name for p in self.paths)}>")

