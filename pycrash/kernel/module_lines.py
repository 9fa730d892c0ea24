"""Source lines of a loaded module's code, from its relocatable object (``mod -s``).

In a ``.ko`` every line-number sequence starts at address 0 of its own section (.text,
.init.text, .exit.text, .text.unlikely...): only the relocation of the sequence's
DW_LNE_set_address says which section it belongs to.  gdb (inside crash, after
``add-symbol-file``) places each sequence at its section's load address, so sequences of
different sections never overlap; looking a pc up in the object's unrelocated line table
mixes them.  Here each sequence is decoded on its own, with gdb's per-file line tables
(:class:`pycrash.kernel.symbols._GdbSymtab`), and chosen by its section's load address.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

# x86-64 relocation type of an absolute 64-bit address (DW_LNE_set_address operand)
_R_X86_64_64 = 1
# DW_LNE_end_sequence as encoded: extended opcode 0, length 1, sub-opcode 1
_END_SEQUENCE = b"\x00\x01\x01"


class _SequenceProgram:
    """A line program narrowed to the bytes of one of its sequences (same header)."""

    def __init__(self, program: Any, start: int, end: int) -> None:
        self._program = program
        self.header = program.header
        self.structs = program.structs
        self.stream = program.stream
        self.program_start_offset = start
        self.program_end_offset = end

    def __getitem__(self, key: str) -> Any:
        return self._program[key]


@dataclass
class _Sequence:
    cu_offset: int
    program: _SequenceProgram
    section: str
    low: int  # link addresses (section offsets) it covers
    high: int


def _sequences_of(program: Any, cu_offset: int) -> list[_Sequence]:
    """Split one CU's line program into its sequences (section names filled in later)."""
    from pycrash.kernel.symbols import _decode_line_rows

    start = program.program_start_offset
    end = program.program_end_offset
    program.stream.seek(start)
    data = program.stream.read(end - start)
    found = []
    seq_start = start
    search = 0
    while True:
        hit = data.find(_END_SEQUENCE, search)
        if hit < 0:
            break
        search = hit + 1
        candidate = _SequenceProgram(program, seq_start, start + hit + len(_END_SEQUENCE))
        try:
            rows = _decode_line_rows(candidate)
        except (IndexError, ValueError):
            continue
        # the three bytes really are an end_sequence (not operand bytes) when the slice
        # decodes to exactly one sequence ending there
        if not rows or not rows[-1][4] or any(r[4] for r in rows[:-1]):
            continue
        found.append(_Sequence(cu_offset, candidate, "", rows[0][0], rows[-1][0]))
        seq_start = start + hit + len(_END_SEQUENCE)
        search = hit + len(_END_SEQUENCE)
    return found


class ModuleLines:
    """pc -> (file, line) for one module object whose sections were loaded at known bases."""

    def __init__(self, path: str) -> None:
        from pycrash.kernel.symbols import line_table

        self.table = line_table(path)
        self.sequences: list[_Sequence] = []
        if self.table is None:
            return
        sections = self._set_address_sections(path)
        dwarf = self.table._dwarf
        for cu in dwarf.iter_CUs():
            program = dwarf.line_program_for_CU(cu)
            if program is None:
                continue
            # a sequence's section: the set_address relocation inside its bytes
            for seq in _sequences_of(program, cu.cu_offset):
                lo, hi = seq.program.program_start_offset, seq.program.program_end_offset
                seq.section = next((name for offset, name in sections if lo <= offset < hi), "")
                self.sequences.append(seq)

    @staticmethod
    def _set_address_sections(path: str) -> list[tuple[int, str]]:
        """(offset in .debug_line, section name) of every 64-bit address relocation."""
        from elftools.elf.elffile import ELFFile
        from elftools.elf.relocation import RelocationSection

        with open(path, "rb") as f:
            elf = ELFFile(f)
            names = [s.name for s in elf.iter_sections()]
            found = []
            for section in elf.iter_sections():
                if not isinstance(section, RelocationSection):
                    continue
                if names[section["sh_info"]] != ".debug_line":
                    continue
                symtab = elf.get_section(section["sh_link"])
                for reloc in section.iter_relocations():
                    if reloc["r_info_type"] != _R_X86_64_64:
                        continue
                    shndx = symtab.get_symbol(reloc["r_info_sym"])["st_shndx"]
                    if isinstance(shndx, int) and shndx < len(names):
                        found.append((reloc["r_offset"], names[shndx]))
        return sorted(found)

    def lookup(self, address: int, section_bases: dict[str, int]) -> tuple[str, int] | None:
        """gdb's find_pc_line() for a runtime ``address`` (None: no line there)."""
        from pycrash.kernel.symbols import _GdbSymtab

        for seq in self.sequences:
            base = section_bases.get(seq.section)
            if base is None:
                continue
            link = address - base
            if not seq.low <= link < seq.high:
                continue
            found = _GdbSymtab(seq.program, relocatable=True).find_line(link)
            if found is None:
                return None
            self.table._cu_rows(seq.cu_offset)  # fills the CU's compile directory
            return self.table._with_comp_dir(seq.cu_offset, found[0]), found[1]
        return None


@functools.lru_cache(maxsize=8)
def module_lines(path: str) -> ModuleLines:
    """The (cached) line lookup of one module object file."""
    return ModuleLines(path)


def module_source_line(path: str, address: int, section_bases: dict[str, int]) -> str:
    """gdb's "FILE: LINE" for a runtime address in a module loaded from ``path`` ("" when
    there is no line information)."""
    try:
        found = module_lines(path).lookup(address, section_bases)
    except Exception:  # noqa: BLE001 - damaged DWARF: no line number
        return ""
    if found is None:
        return ""
    filename, line = found
    while "//" in filename:
        filename = filename.replace("//", "/")
    return f"{filename}: {line}"
