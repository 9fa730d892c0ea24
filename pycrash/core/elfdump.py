"""ELF dumps: ``/proc/vmcore`` copies, ``makedumpfile -E``, QEMU ``dump-guest-memory``
and ``/proc/kcore``.

pyelftools (imported only when an ELF dump is opened) parses the structure (ELF header,
program headers, notes) once at open; the read path then uses plain sorted tables and
:mod:`bisect`. Physical memory is indexed by
``p_paddr`` (formats.md §2.6): ``[p_paddr, p_paddr + p_filesz)`` is file data at
``p_offset``; ``[p_filesz, p_memsz)`` was excluded by makedumpfile filtering. Segments
whose ``p_paddr`` is all ones (kcore vmalloc/module entries) are not physical memory.
"""

from __future__ import annotations

import bisect
from collections import Counter

from .errors import DumpFormatError, ExcludedPageError, MissingPageError
from .filebytes import ByteSource
from .layer import PhysicalLayer
from .notes import NT_TASKSTRUCT, Note
from .vmcoreinfo import VmcoreInfo

__all__ = ["ElfDump", "is_elf", "START_KERNEL_MAP"]

START_KERNEL_MAP = 0xFFFFFFFF80000000  # x86-64 __START_KERNEL_map
# The 5-level kernel half: the paging mode is not known yet when the ELF headers are read, and
# with 4-level paging everything from here up to 0xffff800000000000 is non-canonical, so no
# PT_LOAD lies there; this bound fits both.
_KERNEL_HALF = 0xFF00000000000000
_MODULES_END = 0xFFFFFFFFFF000000
DUMP_ELF_INCOMPLETE = 0x1  # makedumpfile sets e_flags bit 0 on a truncated -E dump
_NO_PADDR = (1 << 64) - 1

# Piece kinds in the physical table.
_DATA, _EXCLUDED, _MISSING = 0, 1, 2


def is_elf(head: bytes) -> bool:
    return head[:4] == b"\x7fELF"


def _note_type(value: object) -> int:
    if isinstance(value, int):
        return value
    from elftools.elf.enums import ENUM_CORE_NOTE_N_TYPE

    v = ENUM_CORE_NOTE_N_TYPE.get(str(value))
    return v if isinstance(v, int) else -1


class ElfDump(PhysicalLayer):
    """Physical memory of an ELF core file."""

    format = "elf"
    direct = True

    def __init__(self, src: ByteSource, *, flattened: bool = False) -> None:
        # pyelftools is imported here, not with the module: importing it costs 50-80 ms,
        # which a kdump-compressed dump (the common case) need not pay at every start.
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile

        self.src = src
        self.flattened = flattened
        self.paths = [src.path]
        path = src.path
        try:
            elf = ELFFile(src.stream())  # type: ignore[arg-type]  # a seekable binary stream
            if elf["e_type"] != "ET_CORE":
                raise DumpFormatError(path, 16, f"ELF type {elf['e_type']} is not a core file")
            self.machine = elf["e_machine"]
            self.elfclass = elf.elfclass
            self.incomplete = bool(elf["e_flags"] & DUMP_ELF_INCOMPLETE)
            loads: list[tuple[int, int, int, int, int]] = []
            self.notes = []
            self.ehdr = {k: (v if isinstance(v, (int, str)) else str(v))
                         for k, v in elf.header.items() if k != "e_ident"}
            self.ehdr["ei_class"] = elf.header["e_ident"]["EI_CLASS"]
            self.ehdr["ei_data"] = elf.header["e_ident"]["EI_DATA"]
            self.phdrs: list[dict[str, object]] = []
            for seg in elf.iter_segments():
                ptype = seg["p_type"]
                self.phdrs.append({k: seg[k] for k in ("p_type", "p_offset", "p_vaddr",
                                                       "p_paddr", "p_filesz", "p_memsz",
                                                       "p_flags", "p_align")})
                if ptype == "PT_NOTE":
                    for n in seg.iter_notes():  # type: ignore[attr-defined]  # NoteSegment
                        if n["n_namesz"] == 0 and n["n_descsz"] == 0:
                            continue
                        self.notes.append(Note(n["n_name"] or "", _note_type(n["n_type"]),
                                               bytes(n["n_descdata"]), n["n_offset"]))
                elif ptype == "PT_LOAD":
                    loads.append((seg["p_paddr"], seg["p_vaddr"], seg["p_offset"],
                                  seg["p_filesz"], seg["p_memsz"]))
        except ELFError as exc:
            raise DumpFormatError(path, None, f"bad ELF core: {exc}") from exc
        except DumpFormatError:
            raise
        except Exception as exc:  # pyelftools/construct raise assorted errors on garbage
            raise DumpFormatError(path, None, f"bad ELF core: {exc}") from exc
        self.loads = loads
        self.page_size = 4096
        self.page_shift = 12
        self.vmcoreinfo_text = None
        for note in self.notes:
            if note.name == "VMCOREINFO":
                self.vmcoreinfo_text = note.desc
                # ELF has no page size of its own: use the kernel's (arm64 may be 16/64K).
                ps = VmcoreInfo(note.desc).page_size
                if ps and ps & (ps - 1) == 0 and 4096 <= ps <= 1 << 16:
                    self.page_size, self.page_shift = ps, ps.bit_length() - 1
        if any(n.name == "CORE" and n.type == NT_TASKSTRUCT for n in self.notes) or \
                path == "/proc/kcore":
            self.format = "kcore"
            self.producer = "kcore"
        elif any(n.name == "QEMU" for n in self.notes):
            self.producer = "qemu"
        self.dump_level = None
        self.compression = "none"
        self._hints()
        self._build_table()
        self._pread = src.pread

    def _hints(self) -> None:
        # The kernel-text PT_LOAD (p_vaddr in __START_KERNEL_map) gives phys_base;
        # direct-map PT_LOADs give page_offset_base (x86-64 only).
        offsets: Counter[int] = Counter()
        for paddr, vaddr, _off, _fsz, memsz in self.loads:
            if paddr == _NO_PADDR or vaddr == 0 or memsz == 0:
                continue
            if START_KERNEL_MAP <= vaddr < _MODULES_END:
                if self.phys_base_hint is None:
                    self.phys_base_hint = (paddr - (vaddr - START_KERNEL_MAP)) % (1 << 64)
            elif _KERNEL_HALF <= vaddr < START_KERNEL_MAP and vaddr >= paddr:
                offsets[vaddr - paddr] += 1
        if offsets and self.machine == "EM_X86_64":
            self.page_offset_hint = offsets.most_common(1)[0][0]

    def _build_table(self) -> None:
        """Disjoint, sorted pieces (start, end, kind, file offset) of physical memory.
        File data wins over excluded ranges where segments overlap (kexec's kernel-text
        segment repeats part of a RAM segment)."""
        fsize = self.src.size
        items: list[tuple[int, int, int, int]] = []
        for paddr, vaddr, off, filesz, memsz in self.loads:
            if paddr == _NO_PADDR or memsz == 0:
                continue
            if self.format == "kcore" and not (vaddr < START_KERNEL_MAP):
                # kcore TEXT duplicates RAM; keep only RAM entries (p_paddr = __pa(addr)).
                continue
            filesz = min(filesz, memsz)
            avail = max(0, min(filesz, fsize - off)) if self.format != "kcore" else filesz
            if avail:
                items.append((paddr, paddr + avail, _DATA, off))
            if avail < filesz:
                items.append((paddr + avail, paddr + filesz, _MISSING, -1))
            if filesz < memsz:
                items.append((paddr + filesz, paddr + memsz, _EXCLUDED, -1))
        items.sort(key=lambda it: (it[2], it[0]))  # priority: data, excluded, missing
        starts: list[int] = []
        ends: list[int] = []
        kinds: list[int] = []
        offs: list[int] = []
        for s, e, kind, off in items:
            pos = s
            while pos < e:
                i = bisect.bisect_right(starts, pos)
                if i > 0 and ends[i - 1] > pos:  # covered already
                    pos = ends[i - 1]
                    continue
                stop = min(e, starts[i]) if i < len(starts) else e
                starts.insert(i, pos)
                ends.insert(i, stop)
                kinds.insert(i, kind)
                offs.insert(i, off + (pos - s) if off >= 0 else -1)
                pos = stop
        self._starts, self._ends, self._kinds, self._offs = starts, ends, kinds, offs

    # -- reads --------------------------------------------------------------------------
    def _fault(self, i: int, paddr: int) -> Exception:
        kind = self._kinds[i]
        if kind == _EXCLUDED:
            return ExcludedPageError(paddr, "page excluded (filtered out of the ELF dump "
                                     "by makedumpfile)", physical=True)
        return MissingPageError(paddr, "page missing (past the end of the truncated file)"
                                if not self.incomplete else
                                "page missing (incomplete dump)", physical=True)

    def read_page(self, pfn: int) -> bytes:
        psize = self.page_size
        paddr = pfn << self.page_shift
        i = bisect.bisect_right(self._starts, paddr) - 1
        if i >= 0 and paddr + psize <= self._ends[i] and self._kinds[i] == _DATA:
            data = self._pread(self._offs[i] + paddr - self._starts[i], psize)
            if len(data) == psize:
                return data
        return self.read(paddr, psize)

    def read(self, paddr: int, size: int) -> bytes:
        starts, ends, kinds, offs = self._starts, self._ends, self._kinds, self._offs
        i = bisect.bisect_right(starts, paddr) - 1
        end = paddr + size
        if i >= 0 and end <= ends[i] and kinds[i] == _DATA:
            data = self._pread(offs[i] + paddr - starts[i], size)
            if len(data) == size:
                return data
        parts = []
        pos = paddr
        if i < 0:
            i = 0
        while pos < end:
            if i >= len(starts) or starts[i] > pos or ends[i] <= pos:
                raise self.beyond(pos)
            if kinds[i] != _DATA:
                raise self._fault(i, pos)
            take = min(end, ends[i]) - pos
            data = self._pread(offs[i] + pos - starts[i], take)
            if len(data) < take:
                raise MissingPageError(pos + len(data), "page missing (past the end of the "
                                       "truncated file)", physical=True)
            parts.append(data)
            pos += take
            i += 1
        return b"".join(parts)

    def page_state(self, pfn: int) -> str:
        paddr = pfn << self.page_shift
        i = bisect.bisect_right(self._starts, paddr) - 1
        if i < 0 or self._ends[i] <= paddr:
            return "beyond"
        return ("present", "excluded", "missing")[self._kinds[i]]

    def ranges(self) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for s, e in zip(self._starts, self._ends, strict=True):
            if out and out[-1][1] == s:
                out[-1] = (out[-1][0], e)
            else:
                out.append((s, e))
        return out

    def present_ranges(self) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for s, e, k in zip(self._starts, self._ends, self._kinds, strict=True):
            if k != _DATA:
                continue
            if out and out[-1][1] == s:
                out[-1] = (out[-1][0], e)
            else:
                out.append((s, e))
        return out

    def counts(self) -> dict[str, int]:
        c = {"present": 0, "excluded": 0, "missing": 0}
        names = ("present", "excluded", "missing")
        for s, e, k in zip(self._starts, self._ends, self._kinds, strict=True):
            c[names[k]] += (((e + self.page_size - 1) >> self.page_shift)
                            - (s >> self.page_shift))
        if not c["missing"]:
            del c["missing"]
        return c

    def damage(self) -> list[str]:
        if getattr(self.src, "terminated", True) is False:
            bad = getattr(self.src, "bad_record", None)
            why = ("ends without its end marker" if bad is None else
                   f"has a garbled record header at offset {bad:#x}")
            return [f"the flattened stream {why}: memory it did not reach reads as zeroes"]
        missing = self.counts().get("missing", 0)
        if not missing or self.format == "kcore":
            return []
        if self.incomplete:
            return [f"the dump is incomplete (makedumpfile could not finish it): {missing} "
                    "pages are missing"]
        return [f"the file is truncated ({self.src.size} bytes): {missing} pages of its "
                "PT_LOAD segments are missing"]

    def virtual_segments(self) -> list[tuple[int, int, int, int]]:
        """``(p_vaddr, p_memsz, p_offset, p_filesz)`` of every PT_LOAD (kcore reads
        vmalloc/module space through these)."""
        return [(v, m, o, f) for _p, v, o, f, m in self.loads]

    def close(self) -> None:
        self.src.close()
