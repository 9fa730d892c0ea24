"""A tiny synthetic "vmlinux": an x86-64 ET_EXEC ELF with .text, a linux_banner and a build-id.

Enough for pycrash to take it for a kernel image and to compare its identity with a dump's,
without shipping a second 100 MB kernel.
"""

from __future__ import annotations

import struct
from pathlib import Path

TEXT_ADDR = 0xFFFFFFFF81000000
RODATA_ADDR = 0xFFFFFFFF82000000


def _section(name, typ, flags, addr, offset, size, link=0, info=0, align=1, entsize=0):
    return struct.pack("<IIQQQQIIQQ", name, typ, flags, addr, offset, size, link, info, align,
                       entsize)


def write_fake_vmlinux(path: Path, banner: bytes, build_id: bytes | None,
                       banner_address: int = RODATA_ADDR) -> Path:
    """Write the file and return ``path``; ``banner`` is stored at the symbol linux_banner,
    placed at ``banner_address``."""
    text = b"\x90" * 16
    rodata = banner + b"\0"
    notes = b""
    if build_id is not None:
        notes = struct.pack("<III", 4, len(build_id), 3) + b"GNU\0" + build_id
        notes += b"\0" * (-len(notes) % 4)
    strtab = b"\0linux_banner\0"
    symtab = b"\0" * 24 + struct.pack("<IBBHQQ", 1, 0x11, 0, 2, banner_address, len(rodata))
    names = [b"", b".text", b".rodata", b".notes", b".symtab", b".strtab", b".shstrtab"]
    shstrtab = b"\0".join(names) + b"\0"
    name_off = {}
    pos = 0
    for n in names:
        name_off[n] = pos
        pos += len(n) + 1
    blobs = [text, rodata, notes, symtab, strtab, shstrtab]
    offset = 64
    offsets = []
    body = b""
    for blob in blobs:
        offsets.append(offset + len(body))
        body += blob + b"\0" * (-len(blob) % 8)
    shoff = offset + len(body)
    shdrs = _section(0, 0, 0, 0, 0, 0)
    shdrs += _section(name_off[b".text"], 1, 6, TEXT_ADDR, offsets[0], len(text))
    shdrs += _section(name_off[b".rodata"], 1, 2, banner_address, offsets[1], len(rodata))
    shdrs += _section(name_off[b".notes"], 7, 2, 0, offsets[2], len(notes), align=4)
    shdrs += _section(name_off[b".symtab"], 2, 0, 0, offsets[3], len(symtab), link=5, info=1,
                      align=8, entsize=24)
    shdrs += _section(name_off[b".strtab"], 3, 0, 0, offsets[4], len(strtab))
    shdrs += _section(name_off[b".shstrtab"], 3, 0, 0, offsets[5], len(shstrtab))
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, TEXT_ADDR, 0, shoff, 0, 64, 0, 0,
                               64, 7, 6)
    path.write_bytes(ehdr + body + shdrs)
    return path
