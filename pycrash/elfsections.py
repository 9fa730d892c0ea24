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
from typing import Any, BinaryIO

__all__ = [
    "ElfFormatError",
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
R_X86_64_NONE = 0
R_X86_64_64 = 1
R_X86_64_32 = 10
R_X86_64_32S = 11
_RELOCATION_SIZE = {R_X86_64_64: 8, R_X86_64_32: 4, R_X86_64_32S: 4}


class ElfFormatError(ValueError):
    """An ELF file that cannot be read as one: one line naming the file, what is wrong and,
    when known, the file offset where it was found (:attr:`offset`)."""

    def __init__(self, path: object, offset: int | None, reason: str) -> None:
        self.path = str(path)
        self.offset = offset
        self.reason = reason
        where = f" at offset {offset:#x}" if offset is not None else ""
        super().__init__(f"{self.path}: {reason}{where}")


def _name(f: BinaryIO) -> str:
    return str(getattr(f, "name", "file"))


def _file_size(f: BinaryIO) -> int:
    import os

    try:
        return os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, ValueError):  # not a real file (BytesIO)
        position = f.tell()
        size = f.seek(0, 2)
        f.seek(position)
        return size


def _read_at(f: BinaryIO, offset: int, size: int, what: str) -> bytes:
    """``size`` bytes of ``f`` at ``offset``; a range past the end of the file (a garbled
    offset or size) is an ElfFormatError, never a read of that size."""
    if offset + size > _file_size(f):
        raise ElfFormatError(_name(f), offset, f"{what} ({size} bytes) runs past the end of "
                             "the file")
    f.seek(offset)
    return f.read(size)


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

    Raises ElfFormatError (a ValueError) if ``f`` is not a little-endian ELF64 file or its
    section header table or section-name table lies past the end of the file."""
    f.seek(0)
    ehdr = f.read(64)
    if len(ehdr) < 64 or ehdr[:4] != b"\x7fELF" or ehdr[4] != 2 or ehdr[5] != 1:
        raise ElfFormatError(_name(f), None, "not a little-endian ELF64 file")
    (shoff,) = struct.unpack_from("<Q", ehdr, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ehdr, 0x3A)
    if not shoff or shentsize < 64 or shstrndx >= shnum:
        return []
    table = _read_at(f, shoff, shentsize * shnum, "section header table")
    raw = [struct.unpack_from("<IIQQQQII", table, i * shentsize) for i in range(shnum)]
    names_type, names_offset, names_size = raw[shstrndx][1], raw[shstrndx][4], raw[shstrndx][5]
    names = b"" if names_type == SHT_NOBITS else _read_at(f, names_offset, names_size,
                                                          "section-name table")
    headers = []
    for name, typ, flags, addr, offset, size, link, info in raw:
        end = names.find(b"\0", name)
        # a name offset past the table (garbled) names no section anyone looks for
        text = names[name:end].decode("latin-1") if end >= 0 else ""
        headers.append(SectionHeader(text, typ, flags, addr, offset, size, link, info))
    return headers


def read_section(f: BinaryIO, header: SectionHeader) -> bytes:
    """The contents of one section (empty for SHT_NOBITS), decompressed if SHF_COMPRESSED.

    Raises ElfFormatError (a ValueError) if the section lies past the end of the file or a
    compressed section cannot be decompressed."""
    if header.type == SHT_NOBITS:
        return b""
    data = _read_at(f, header.offset, header.size, f"section {header.name or '(unnamed)'}")
    if header.flags & SHF_COMPRESSED:
        return _decompress(data, _name(f), header)
    return data


# deflate's largest expansion: a 258-byte match coded in 2 bits, 1032 bytes out per byte in
# (zlib's technical details); a ch_size above this ratio is garbled
_ZLIB_MAX_RATIO = 1032
# zstd frames can expand far more (RLE blocks); bound only what a process could hold
_ZSTD_MAX_SIZE = 1 << 40
_CHUNK = 1 << 20


def _decompress(data: bytes, path: str, header: SectionHeader) -> bytes:
    """The payload of an SHF_COMPRESSED section: an Elf64_Chdr (ch_type, ch_reserved,
    ch_size, ch_addralign) followed by the compressed stream, which must decompress to exactly
    ch_size bytes.  Memory is bounded by ch_size (checked against what the stream could hold)
    and by the stream itself, never by a garbled header alone."""
    name = header.name
    if len(data) < 24:
        raise ElfFormatError(path, header.offset, f"{name}: compressed section header cut "
                             "short")
    ch_type, _, ch_size, _ = struct.unpack_from("<IIQQ", data, 0)
    stream = memoryview(data)[24:]
    if ch_type == ELFCOMPRESS_ZLIB:
        import zlib  # only compressed sections need it: not on the start-up path

        if ch_size > _ZLIB_MAX_RATIO * len(stream) + 64:
            raise ElfFormatError(path, header.offset, f"{name}: compressed section claims "
                                 f"{ch_size} bytes from a {len(stream)}-byte stream")
        inflate = zlib.decompressobj()
        try:
            out = inflate.decompress(stream, ch_size + 1)
        except zlib.error as exc:
            raise ElfFormatError(path, header.offset, f"{name}: {exc}") from None
        if not inflate.eof and len(out) <= ch_size:
            raise ElfFormatError(path, header.offset, f"{name}: compressed stream cut short")
    elif ch_type == ELFCOMPRESS_ZSTD:
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            raise ElfFormatError(path, header.offset, f"{name} is zstd-compressed; install the "
                                 "'zstandard' package") from None
        if ch_size > _ZSTD_MAX_SIZE:
            raise ElfFormatError(path, header.offset, f"{name}: compressed section claims "
                                 f"{ch_size} bytes")
        out = _unzstd(zstandard, stream, ch_size + 1, path, header)
    else:
        raise ElfFormatError(path, header.offset, f"{name}: unknown section compression type "
                             f"{ch_type}")
    if len(out) != ch_size:
        raise ElfFormatError(path, header.offset, f"{name}: decompressed to "
                             f"{'more than ' if len(out) > ch_size else ''}"
                             f"{min(len(out), ch_size)} bytes, header says {ch_size}")
    return out


def _unzstd(zstandard: Any, stream: memoryview, limit: int, path: str,
            header: SectionHeader) -> bytes:
    """At most ``limit`` bytes of a zstd stream, read a chunk at a time (``decompress`` with
    ``max_output_size`` would allocate that size at once for a frame without its size)."""
    parts = []
    total = 0
    try:
        with zstandard.ZstdDecompressor().stream_reader(bytes(stream)) as reader:
            while total < limit:
                chunk = reader.read(min(_CHUNK, limit - total))
                if not chunk:
                    break
                parts.append(chunk)
                total += len(chunk)
    except zstandard.ZstdError as exc:
        raise ElfFormatError(path, header.offset, f"{header.name}: {exc}") from None
    return b"".join(parts)


def relocated_section(f: BinaryIO, headers: list[SectionHeader], header: SectionHeader) -> bytes:
    """The contents of one section with its ``SHT_RELA`` relocations applied (as the section
    is for a debugger once the object is linked; unchanged when there are none).

    Only the absolute x86-64 types debug sections use are applied (64-, 32- and signed 32-bit
    ``S + A``); a symbol's value is its ``st_value`` (0 for the section symbols debug
    relocations refer to).

    Raises ElfFormatError (a ValueError) for a relocation of another type, one outside the
    section, one naming a symbol the symbol table does not hold, or a value its field cannot
    hold (as the linker would refuse them), with the file offset of the relocation."""
    data = read_section(f, header)
    index = headers.index(header)
    relas = [h for h in headers if h.type == SHT_RELA and h.info == index]
    if not relas:
        return data
    out = bytearray(data)
    path = _name(f)
    for rela in relas:
        if rela.link >= len(headers):
            raise ElfFormatError(path, None, f"{rela.name}: symbol table index {rela.link} "
                                 "is not a section")
        symtab = read_section(f, headers[rela.link])
        entries = read_section(f, rela)
        count = len(entries) // 24
        for i, (r_offset, r_info, r_addend) in enumerate(struct.iter_unpack(
                "<QQq", entries[:count * 24])):
            sym, rtype = r_info >> 32, r_info & 0xFFFFFFFF
            if rtype == R_X86_64_NONE:
                continue
            where = rela.offset + 24 * i
            value = r_addend
            if sym:
                if (sym + 1) * 24 > len(symtab):
                    raise ElfFormatError(path, where, f"{rela.name}: relocation names symbol "
                                         f"{sym}, past the symbol table")
                value += struct.unpack_from("<Q", symtab, sym * 24 + 8)[0]
            size = _RELOCATION_SIZE.get(rtype)
            if size is None:
                raise ElfFormatError(path, where, f"{rela.name}: relocation type {rtype} is "
                                     "not one a debug section uses")
            if r_offset + size > len(out):
                raise ElfFormatError(path, where, f"{rela.name}: relocation at {r_offset:#x} "
                                     f"is outside {header.name} ({len(out)} bytes)")
            if rtype == R_X86_64_64:
                struct.pack_into("<Q", out, r_offset, value & (1 << 64) - 1)
            elif not (0 <= value < 1 << 32 if rtype == R_X86_64_32 else
                      -(1 << 31) <= value < 1 << 31):
                raise ElfFormatError(path, where, f"{rela.name}: value {value:#x} does not fit "
                                     "its 32-bit field")
            else:
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
        # a garbled size reads to the end of the file at most
        f.seek(sec.offset)
        data = f.read(max(0, min(sec.size, _file_size(f) - sec.offset)))
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
