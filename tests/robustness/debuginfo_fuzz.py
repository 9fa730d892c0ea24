"""Fuzz targets for the parsers of the files pycrash is handed besides the dump, or writes
itself: the DWARF walk (:mod:`pycrash.dwarf`), ELF sections (:mod:`pycrash.elfsections`:
section headers, SHF_COMPRESSED, ``.rela`` of a module), the kernel symbol-table cache
(:mod:`pycrash.kernel.symbol_cache`) and the type-name cache (:mod:`pycrash.shell.typenames`).

Shared by the bounded hypothesis tests (``test_fuzz_debuginfo.py``) and the long campaign
(``bench/fuzz_campaign.py``).  Inputs are mutations of real files: the sample module
``pycrash_test.ko`` (relocatable, its ``.rela.debug_info`` applied), a zlib-compressed copy of
it (made with objcopy), the first units of the sample vmlinux's ``.debug_info`` with its
``.debug_abbrev`` and string sections in a small ELF file (:func:`tiny_elf`), and cache files
written by the code itself.  A target returns normally or raises one of :data:`TYPED`; anything
else is a bug, and so is a cache that comes back different from what was written.
"""

from __future__ import annotations

import functools
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from pycrash import testing
from pycrash.dwarf import DwarfError, TypeTable
from pycrash.dwarf.reader import read_sections
from pycrash.elfsections import (
    SHT_RELA,
    ElfFormatError,
    SectionHeader,
    find_section,
    read_section,
    section_headers,
)

__all__ = ["TYPED", "TARGETS", "Sample", "tiny_elf", "module_sample", "compressed_sample",
           "vmlinux_sample", "symtab_cache_sample", "typenames_cache_sample"]

#: what a damaged debug file may raise: one line, naming the file and the offset
TYPED = (DwarfError, ElfFormatError)
#: the first units of the sample vmlinux's .debug_info kept in :func:`vmlinux_sample` (up to
#: a unit boundary: 4 units, 54,896 bytes)
VMLINUX_UNITS = 4


class Sample:
    """One real input: its bytes, the offset ranges worth mutating, and where to write it."""

    def __init__(self, name: str, data: bytes, regions: list[tuple[int, int]]) -> None:
        self.name = name
        self.data = data
        self.regions = [(lo, hi) for lo, hi in regions if hi > lo]


def _headers(data: bytes) -> list[SectionHeader]:
    with tempfile.NamedTemporaryFile(suffix=".o") as f:
        f.write(data)
        f.flush()
        with open(f.name, "rb") as g:
            return section_headers(g)


def elf_regions(data: bytes, debug_bytes: int = 4096) -> list[tuple[int, int]]:
    """The ELF header, the section header table, the section-name table, and the first
    ``debug_bytes`` of each .debug_* and .rela.debug_* section (Elf64_Chdr included)."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    regions = [(0, 64), (shoff, shoff + shentsize * shnum)]
    for h in _headers(data):
        if h.name.startswith((".debug_", ".rela.debug_", ".shstrtab")):
            regions.append((h.offset, h.offset + min(h.size, debug_bytes)))
    return regions


def tiny_elf(sections: dict[str, bytes], flags: dict[str, int] | None = None) -> bytes:
    """A little-endian ELF64 relocatable file holding ``sections`` (PROGBITS) and its
    section-name table, as a test input (no program headers, no symbols)."""
    flags = flags or {}
    names = [""] + list(sections) + [".shstrtab"]
    shstrtab = b"\0".join(n.encode() for n in names) + b"\0"
    name_at = {}
    pos = 0
    for n in names:
        name_at[n] = pos
        pos += len(n) + 1
    body = bytearray(b"\0" * 64)
    offsets = {}
    for n, data in [*sections.items(), (".shstrtab", shstrtab)]:
        offsets[n] = len(body)
        body += data
    body += b"\0" * (-len(body) % 8)
    shoff = len(body)
    body += bytes(64)  # the null section
    for n in names[1:]:
        data = sections.get(n, shstrtab)
        body += struct.pack("<IIQQQQIIQQ", name_at[n], 3 if n == ".shstrtab" else 1,
                            flags.get(n, 0), 0, offsets[n], len(data), 0, 0, 1, 0)
    ehdr = bytearray(64)
    ehdr[:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", ehdr, 16, 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                     len(names), len(names) - 1)
    body[:64] = ehdr
    return bytes(body)


@functools.cache
def module_sample() -> Sample:
    data = Path(testing.module_path()).read_bytes()
    regions = elf_regions(data)
    # every relocation of .debug_info: r_offset, r_info, r_addend
    for h in _headers(data):
        if h.type == SHT_RELA and h.name == ".rela.debug_info":
            regions.append((h.offset, h.offset + h.size))
    return Sample("module", data, regions)


@functools.cache
def compressed_sample() -> Sample | None:
    """pycrash_test.ko with its debug sections zlib-compressed by objcopy (None without
    objcopy)."""
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "z.ko"
        done = subprocess.run([objcopy, "--compress-debug-sections=zlib",
                               str(testing.module_path()), str(out)], capture_output=True)
        if done.returncode:
            return None
        data = out.read_bytes()
    regions = elf_regions(data, debug_bytes=64)  # the Chdr and the start of the stream
    return Sample("compressed", data, regions)


@functools.cache
def vmlinux_sample() -> Sample:
    """The first :data:`VMLINUX_UNITS` units of the sample vmlinux's .debug_info with its
    whole .debug_abbrev, .debug_str and .debug_line_str, in a :func:`tiny_elf` file."""
    sections = read_sections(str(testing.vmlinux_path()))
    info = sections[".debug_info"]
    pos = 0
    abbrev_offsets = []
    for _ in range(VMLINUX_UNITS):
        (length,) = struct.unpack_from("<I", info, pos)
        (abbrev_off,) = struct.unpack_from("<I", info, pos + 8)  # DWARF 5 header
        abbrev_offsets.append(abbrev_off)
        pos += 4 + length
    keep = {".debug_info": info[:pos]}
    for name in (".debug_abbrev", ".debug_str", ".debug_line_str"):
        keep[name] = sections[name]
    data = tiny_elf(keep)
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        with open(f.name, "rb") as g:
            where = {h.name: h.offset for h in section_headers(g)}
    info_at, abbrev_at = where[".debug_info"], where[".debug_abbrev"]
    regions = elf_regions(data, debug_bytes=64)
    regions.append((info_at, info_at + pos))
    regions += [(abbrev_at + off, abbrev_at + off + 2048) for off in abbrev_offsets]
    return Sample("vmlinux", data, regions)


# -- targets: each takes the path of a (damaged) file --------------------------------------
def dwarf_target(path: str) -> None:
    """The walk behind ``whatis -r/-m`` and completion: every named type, the names a command
    can complete, and the member type names of the first structs and unions."""
    table = TypeTable(path)
    table.type_names()
    aggregates = [t for t in table.types if t.kind in ("struct", "union")]
    for entry in aggregates[:40]:
        table.member_type_names(entry)


def elf_target(path: str) -> None:
    """Section headers, each section (decompressed, relocated), the symbol names."""
    with open(path, "rb") as f:
        headers = section_headers(f)
        for h in headers:
            read_section(f, h)
    read_sections(path)
    find_section(path, ".strtab")


TARGETS: dict[str, tuple[Callable[[], Sample | None], Callable[[str], None]]] = {
    "dwarf-module": (module_sample, dwarf_target),
    "dwarf-vmlinux": (vmlinux_sample, dwarf_target),
    "elf-module": (module_sample, elf_target),
    "elf-compressed": (compressed_sample, elf_target),
}


def patched(data: bytes, patches: dict[int, bytes], size: int | None = None) -> bytes:
    """``data`` with ``patches`` {offset: bytes} written over it, then cut to ``size``."""
    buf = bytearray(data)
    for offset, chunk in sorted(patches.items()):
        chunk = chunk[:max(0, len(buf) - offset)]
        buf[offset:offset + len(chunk)] = chunk
    return bytes(buf[:size] if size is not None else buf)


def run_file_target(name: str, data: bytes, directory: str) -> BaseException | None:
    """Write ``data`` to a file in ``directory`` and run target ``name`` on it: None if it
    succeeded or raised a typed one-line error, else the exception."""
    path = os.path.join(directory, f"{name}.input")
    with open(path, "wb") as f:
        f.write(data)
    try:
        TARGETS[name][1](path)
    except TYPED as exc:
        if "\n" in str(exc):
            return AssertionError(f"a {type(exc).__name__} of several lines: {exc!r}")
    except Exception as exc:  # noqa: BLE001 - that is what a fuzzer looks for
        return exc
    return None


# -- caches written by the code itself -----------------------------------------------------
@functools.cache
def symtab_cache_sample() -> tuple[bytes, object]:
    """A symbol-table cache file written by symbol_cache for the sample vmlinux, and the
    table it holds (built from the vmlinux)."""
    from pycrash.kernel import symbol_cache
    from pycrash.kernel.symbols import kernel_columns

    vmlinux = testing.vmlinux_path()
    built = kernel_columns(vmlinux)
    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = tmp
        try:
            symbol_cache.cached_columns(vmlinux, lambda: built)
            path = symbol_cache.cache_path(vmlinux)
            assert path is not None
            data = path.read_bytes()
        finally:
            if old is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = old
    return data, built


def symtab_cache_target(data: bytes) -> BaseException | None:
    """A (damaged) cache file must read back as the table written, or as nothing."""
    from pycrash.kernel.symbol_cache import _decode

    _, built = symtab_cache_sample()
    try:
        found = _decode(data)
    except Exception as exc:  # noqa: BLE001
        return exc
    if found is not None and found != built:
        return AssertionError("a damaged symbol-table cache file was read as another table")
    return None


@functools.cache
def typenames_cache_sample() -> tuple[bytes, dict[str, tuple[str, ...]]]:
    """A type-name cache file written by typenames for the sample module, and its names
    (walked from the module)."""
    from pycrash.shell import typenames

    path = str(testing.module_path())
    names = TypeTable(path).type_names()
    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = tmp
        try:
            key = typenames._cache_key(path)
            typenames._save_cache(key, path, names)
            data = typenames._cache_path(key).read_bytes()
        finally:
            if old is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = old
    return data, names


def typenames_cache_target(data: bytes, directory: str) -> BaseException | None:
    """A (damaged) type-name cache file must read back as the names written, or as nothing."""
    from pycrash.shell import typenames

    _, names = typenames_cache_sample()
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = directory
    try:
        target = typenames._cache_path("fuzz")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        found = typenames._load_cache("fuzz")
    except Exception as exc:  # noqa: BLE001
        return exc
    finally:
        if old is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = old
    if found is not None and found != names:
        return AssertionError("a damaged type-name cache file was read as other names")
    return None
