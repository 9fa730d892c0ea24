"""Section headers of a vmlinux or .ko, read directly (little-endian ELF64 only).

pycrash reads the symbol table, the build-id note and the string tables of vmlinux on paths that
must start fast (``log`` without DWARF, the vmlinux identity check), where importing pyelftools
costs more than the read itself; this small reader serves all of them. Dumps are never read
here: they go through :mod:`pycrash.core`.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import BinaryIO

__all__ = ["SectionHeader", "find_section", "gnu_build_id", "read_section", "section_headers"]

SHT_SYMTAB = 2
SHT_NOTE = 7
SHT_NOBITS = 8
NT_GNU_BUILD_ID = 3


@dataclasses.dataclass(frozen=True, slots=True)
class SectionHeader:
    """One Elf64_Shdr, with its name resolved from the section-name string table."""

    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int


def section_headers(f: BinaryIO) -> list[SectionHeader]:
    """The section headers of the open file ``f`` ([] if it has no section table).

    Raises ValueError if ``f`` is not a little-endian ELF64 file."""
    f.seek(0)
    ehdr = f.read(64)
    if len(ehdr) < 64 or ehdr[:4] != b"\x7fELF" or ehdr[4] != 2 or ehdr[5] != 1:
        raise ValueError(f"{getattr(f, 'name', 'file')}: not a little-endian ELF64 file")
    (shoff,) = struct.unpack_from("<Q", ehdr, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ehdr, 0x3A)
    if not shoff or shentsize < 64 or shstrndx >= shnum:
        return []
    f.seek(shoff)
    table = f.read(shentsize * shnum)
    if len(table) < shentsize * shnum:
        raise ValueError(f"{getattr(f, 'name', 'file')}: section header table cut short")
    raw = [struct.unpack_from("<IIQQQQI", table, i * shentsize) for i in range(shnum)]
    f.seek(raw[shstrndx][4])
    names = f.read(raw[shstrndx][5])
    headers = []
    for name, typ, flags, addr, offset, size, link in raw:
        end = names.find(b"\0", name)
        headers.append(SectionHeader(names[name:end].decode("latin-1"), typ, flags, addr,
                                     offset, size, link))
    return headers


def read_section(f: BinaryIO, header: SectionHeader) -> bytes:
    """The contents of one section (empty for SHT_NOBITS)."""
    if header.type == SHT_NOBITS:
        return b""
    f.seek(header.offset)
    return f.read(header.size)


def find_section(path: str, name: str) -> bytes | None:
    """The contents of the section called ``name`` in the file at ``path`` (None if absent)."""
    with open(path, "rb") as f:
        for header in section_headers(f):
            if header.name == name:
                return read_section(f, header)
    return None


def gnu_build_id(f: BinaryIO, sections: list[SectionHeader]) -> str | None:
    """The GNU build-id (hex) from the file's note sections, or None."""
    for sec in sections:
        if sec.type != SHT_NOTE:
            continue
        f.seek(sec.offset)
        data = f.read(sec.size)
        pos = 0
        while pos + 12 <= len(data):
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name_start = pos + 12
            desc_start = name_start + ((namesz + 3) & ~3)
            name = data[name_start : name_start + namesz].rstrip(b"\0")
            if ntype == NT_GNU_BUILD_ID and name == b"GNU":
                return data[desc_start : desc_start + descsz].hex()
            pos = desc_start + ((descsz + 3) & ~3)
    return None
