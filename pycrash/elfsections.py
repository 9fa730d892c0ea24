"""Section headers of a vmlinux or .ko, read directly (little-endian ELF64 only).

pycrash reads the symbol table, the build-id note and the string tables of vmlinux on paths that
must start fast (``log`` without DWARF, the vmlinux identity check), where importing pyelftools
costs more than the read itself; this small reader serves all of them. Dumps are never read
here: they go through :mod:`pycrash.core`.

Sections marked ``SHF_COMPRESSED`` (``.debug_*`` of a vmlinux linked with
``--compress-debug-sections``) are returned decompressed; :func:`relocated_section` also applies
the ``.rela`` section of a relocatable object (a module's ``.debug_info`` holds its string
offsets only as relocations).
"""

from __future__ import annotations

import dataclasses
import struct
from typing import BinaryIO

__all__ = [
    "SectionHeader",
    "find_section",
    "gnu_build_id",
    "read_section",
    "relocated_section",
    "section_headers",
]

SHT_SYMTAB = 2
SHT_RELA = 4
SHT_NOTE = 7
SHT_NOBITS = 8
NT_GNU_BUILD_ID = 3
SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB = 1
ELFCOMPRESS_ZSTD = 2
# x86-64 relocation types that occur in a module's debug sections (psABI table 4.9).
R_X86_64_64 = 1
R_X86_64_32 = 10
R_X86_64_32S = 11


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
    #: for SHT_RELA: the index of the section the relocations apply to
    info: int = 0


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
    raw = [struct.unpack_from("<IIQQQQII", table, i * shentsize) for i in range(shnum)]
    f.seek(raw[shstrndx][4])
    names = f.read(raw[shstrndx][5])
    headers = []
    for name, typ, flags, addr, offset, size, link, info in raw:
        end = names.find(b"\0", name)
        headers.append(SectionHeader(names[name:end].decode("latin-1"), typ, flags, addr,
                                     offset, size, link, info))
    return headers


def read_section(f: BinaryIO, header: SectionHeader) -> bytes:
    """The contents of one section (empty for SHT_NOBITS), decompressed if SHF_COMPRESSED.

    Raises ValueError if a compressed section cannot be decompressed."""
    if header.type == SHT_NOBITS:
        return b""
    f.seek(header.offset)
    data = f.read(header.size)
    if header.flags & SHF_COMPRESSED:
        return _decompress(data, header.name)
    return data


def _decompress(data: bytes, name: str) -> bytes:
    """The payload of an SHF_COMPRESSED section: an Elf64_Chdr (ch_type, ch_reserved,
    ch_size, ch_addralign) followed by the compressed stream."""
    if len(data) < 24:
        raise ValueError(f"{name}: compressed section header cut short")
    ch_type, _, ch_size, _ = struct.unpack_from("<IIQQ", data, 0)
    if ch_type == ELFCOMPRESS_ZLIB:
        import zlib  # only compressed sections need it: not on the start-up path

        try:
            out = zlib.decompress(data[24:])
        except zlib.error as exc:
            raise ValueError(f"{name}: {exc}") from None
    elif ch_type == ELFCOMPRESS_ZSTD:
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            raise ValueError(f"{name} is zstd-compressed; install the 'zstandard' "
                             "package") from None
        try:
            out = zstandard.ZstdDecompressor().decompress(data[24:], max_output_size=ch_size)
        except zstandard.ZstdError as exc:
            raise ValueError(f"{name}: {exc}") from None
    else:
        raise ValueError(f"{name}: unknown section compression type {ch_type}")
    if len(out) != ch_size:
        raise ValueError(f"{name}: decompressed to {len(out)} bytes, header says {ch_size}")
    return out


def relocated_section(f: BinaryIO, headers: list[SectionHeader], header: SectionHeader) -> bytes:
    """The contents of one section with its ``SHT_RELA`` relocations applied (as the section
    is for a debugger once the object is linked; unchanged when there are none).

    Only the absolute x86-64 types debug sections use are applied (64-, 32- and signed 32-bit
    ``S + A``); a symbol's value is its ``st_value`` (0 for the section symbols debug
    relocations refer to)."""
    data = read_section(f, header)
    index = headers.index(header)
    relas = [h for h in headers if h.type == SHT_RELA and h.info == index]
    if not relas:
        return data
    out = bytearray(data)
    for rela in relas:
        symtab = read_section(f, headers[rela.link]) if rela.link < len(headers) else b""
        entries = read_section(f, rela)
        for r_offset, r_info, r_addend in struct.iter_unpack("<QQq", entries[:len(entries)
                                                                         // 24 * 24]):
            sym, rtype = r_info >> 32, r_info & 0xFFFFFFFF
            value = r_addend
            if sym and (sym + 1) * 24 <= len(symtab):
                value += struct.unpack_from("<Q", symtab, sym * 24 + 8)[0]
            if rtype == R_X86_64_64 and r_offset + 8 <= len(out):
                struct.pack_into("<Q", out, r_offset, value & (1 << 64) - 1)
            elif rtype in (R_X86_64_32, R_X86_64_32S) and r_offset + 4 <= len(out):
                struct.pack_into("<I", out, r_offset, value & 0xFFFFFFFF)
    return bytes(out)


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
