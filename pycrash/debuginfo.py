"""Finding and checking the vmlinux that goes with a dump.

The files on the command line are told apart by content, as crash does: a vmlinux is an ELF
executable (``ET_EXEC``) with a ``.text`` section; a compressed one (xz or gzip) is unpacked once
into the user's cache.  With no vmlinux given, the dump's VMCOREINFO ``BUILD-ID`` and
``OSRELEASE`` name the candidates in the places distributions install kernel debuginfo.

A vmlinux is accepted only if it is the kernel that wrote the dump: its GNU build-id equals the
dump's ``BUILD-ID`` (when both are known) and the ``linux_banner`` string stored in the vmlinux
equals the bytes the dump holds at ``linux_banner`` (read through the core, KASLR applied).

Only the vmlinux is parsed here, with a few ``struct`` reads of its ELF headers: the dump itself is
read through :mod:`pycrash.core` alone.
"""

from __future__ import annotations

import dataclasses
import lzma
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pycrash.cachedir import cache_dir
from pycrash.elfsections import ElfFormatError, SectionHeader, read_section, section_headers
from pycrash.elfsections import gnu_build_id as _build_id
from pycrash.errors import SessionError

if TYPE_CHECKING:
    from pycrash.core import Dump

__all__ = [
    "VmlinuxIdentity",
    "check_vmlinux_matches",
    "debuginfo_candidates",
    "find_vmlinux",
    "is_vmlinux",
    "prepare_vmlinux",
    "vmlinux_identity",
]

ELF_MAGIC = b"\x7fELF"
XZ_MAGIC = b"\xfd7zXZ\x00"
GZIP_MAGIC = b"\x1f\x8b"
ET_EXEC = 2
SHT_SYMTAB = 2
SHT_NOTE = 7
NT_GNU_BUILD_ID = 3

# Where distributions put kernel debuginfo (the places crash and drgn look).
DEBUG_ROOT = "/usr/lib/debug"


def _read_head(path: Path, size: int = 64) -> bytes:
    """The first bytes of ``path``, decompressed when it is an xz or gzip file."""
    with open(path, "rb") as f:
        head = f.read(size)
    try:
        if head.startswith(XZ_MAGIC):
            with lzma.open(path, "rb") as f:
                return f.read(size)
        if head.startswith(GZIP_MAGIC):
            import gzip

            with gzip.open(path, "rb") as f:
                return f.read(size)
    except (OSError, lzma.LZMAError, EOFError):
        return b""
    return head


def _is_elf64_exec(head: bytes) -> bool:
    # e_ident[EI_CLASS] == ELFCLASS64, e_ident[EI_DATA] == ELFDATA2LSB, then e_type.
    return (
        len(head) >= 18
        and head.startswith(ELF_MAGIC)
        and head[4] == 2
        and head[5] == 1
        and struct.unpack_from("<H", head, 16)[0] == ET_EXEC
    )


def is_vmlinux(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a (possibly xz/gzip-compressed) x86-64 kernel image.

    ELF vmcores are ``ET_CORE`` and kdump-compressed dumps are not ELF, so checking ``e_type``
    and the presence of ``.text`` tells the two apart without reading the dump.
    """
    path = Path(path)
    try:
        if not _is_elf64_exec(_read_head(path)):
            return False
        real = prepare_vmlinux(path)
        with open(real, "rb") as f:
            return any(s.name == ".text" for s in section_headers(f))
    except (OSError, struct.error, ValueError, lzma.LZMAError, EOFError):
        return False


def prepare_vmlinux(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or for a compressed vmlinux its unpacked copy in the user's cache."""
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(6)
    if not (magic.startswith(XZ_MAGIC) or magic.startswith(GZIP_MAGIC)):
        return path
    import gzip  # only a compressed vmlinux needs these
    import hashlib

    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    cache = cache_dir()
    target = cache / f"vmlinux-{key[:16]}"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    opener = lzma.open if magic.startswith(XZ_MAGIC) else gzip.open
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    with opener(path, "rb") as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.replace(tmp, target)
    return target


def _symbol_value(f: BinaryIO, sections: list[SectionHeader], wanted: str) -> int | None:
    symtab = next((s for s in sections if s.type == SHT_SYMTAB), None)
    if symtab is None:
        return None
    strtab = sections[symtab.link]
    f.seek(strtab.offset)
    strings = f.read(strtab.size)
    needle = b"\0" + wanted.encode() + b"\0"
    name_offsets = set()
    start = 0
    while (hit := strings.find(needle, start)) >= 0:
        name_offsets.add(hit + 1)
        start = hit + 1
    if not name_offsets:
        return None
    f.seek(symtab.offset)
    table = f.read(symtab.size)
    if len(table) % 24:
        raise struct.error("symbol table size is not a multiple of Elf64_Sym")
    # The first Elf64_Sym (u32 st_name, ..., u64 st_value) with one of those names and a value,
    # searched column-wise: a Python loop over every symbol costs ~20 ms at every start.
    entries = memoryview(table)
    st_names = entries.cast("I")[0::6].tolist()
    st_values = entries.cast("Q")[1::3]
    found = None
    for offset in name_offsets:
        index = -1
        while True:
            try:
                index = st_names.index(offset, index + 1)
            except ValueError:
                break
            if st_values[index]:
                found = index if found is None else min(found, index)
                break
    return st_values[found] if found is not None else None


def _read_cstring_at(
    f: BinaryIO, sections: list[SectionHeader], addr: int, limit: int = 512
) -> bytes:
    for sec in sections:
        if sec.addr and sec.addr <= addr < sec.addr + sec.size and sec.type != 8:  # not NOBITS
            f.seek(sec.offset + addr - sec.addr)
            data = f.read(min(limit, sec.addr + sec.size - addr))
            return data.split(b"\0", 1)[0]
    return b""


@dataclasses.dataclass(frozen=True)
class VmlinuxIdentity:
    """What identifies a kernel build: its GNU build-id and its ``linux_banner`` text."""

    path: Path
    build_id: str | None
    banner_address: int | None  # link-time address of linux_banner (before KASLR)
    banner: bytes

    @property
    def release(self) -> str | None:
        """The release from the banner: ``Linux version 6.1.0 (...)`` -> ``6.1.0``."""
        words = self.banner.split()
        return words[2].decode("utf-8", "replace") if len(words) >= 3 else None


def vmlinux_identity(path: str | os.PathLike[str]) -> VmlinuxIdentity:
    """Build-id and banner of a vmlinux (``path`` must already be uncompressed)."""
    path = Path(path)
    with open(path, "rb") as f:
        sections = section_headers(f)
        build_id = _build_id(f, sections)
        banner_address = _symbol_value(f, sections, "linux_banner")
        banner = _read_cstring_at(f, sections, banner_address) if banner_address else b""
    return VmlinuxIdentity(path, build_id, banner_address, banner)


def _describe_dump(dump: Dump, banner: bytes | None) -> str:
    info = dump.vmcoreinfo
    parts = []
    if info.build_id:
        parts.append(f"build-id {info.build_id}")
    if banner:
        parts.append(repr(banner.decode("utf-8", "replace").strip()))
    elif info.osrelease:
        parts.append(f"release {info.osrelease}")
    return ", ".join(parts) or "unknown kernel"


def _describe_vmlinux(ident: VmlinuxIdentity) -> str:
    parts = []
    if ident.build_id:
        parts.append(f"build-id {ident.build_id}")
    if ident.banner:
        parts.append(repr(ident.banner.decode("utf-8", "replace").strip()))
    return ", ".join(parts) or "no build-id or banner"


def _dump_banner(dump: Dump, ident: VmlinuxIdentity) -> bytes | None:
    """The bytes the dump holds at linux_banner, or None if they cannot be read."""
    if ident.banner_address is None:
        return None
    address = ident.banner_address + (dump.kaslr_offset or 0)
    # The whole string (banners are ~150 bytes), or just as many bytes as the vmlinux's.
    for size in (max(len(ident.banner) + 1, 256), len(ident.banner) + 1):
        try:
            return dump.read(address, size).split(b"\0", 1)[0]
        except Exception:  # noqa: BLE001 - a fault just means "cannot compare"
            continue
    return None


def mismatch_reason(dump: Dump, vmlinux: str | os.PathLike[str]) -> str | None:
    """None if ``vmlinux`` is the dump's kernel, else one line naming both identities."""
    ident = vmlinux_identity(vmlinux)
    dump_build_id = dump.vmcoreinfo.build_id
    banner = _dump_banner(dump, ident)
    differs = False
    if dump_build_id and ident.build_id and dump_build_id.lower() != ident.build_id.lower():
        differs = True
    if banner is not None and ident.banner and banner != ident.banner:
        differs = True
    if not ident.banner and not ident.build_id:
        return f"{vmlinux}: not a kernel image (no build-id, no linux_banner)"
    if not differs:
        return None
    return (
        f"{vmlinux} does not match the dump: vmlinux has {_describe_vmlinux(ident)}; "
        f"dump has {_describe_dump(dump, banner)}"
    )


def check_vmlinux_matches(dump: Dump, vmlinux: str | os.PathLike[str]) -> None:
    """Raise :class:`SessionError` (one line) unless ``vmlinux`` is the dump's kernel."""
    reason = mismatch_reason(dump, vmlinux)
    if reason is not None:
        raise SessionError(f"{reason} (use --force to use it anyway)")


def debuginfo_candidates(build_id: str | None, release: str | None) -> Iterator[tuple[Path, str]]:
    """Paths where a vmlinux for this build could be, with how each was derived.

    ``PYCRASH_DEBUG_PATH`` (os.pathsep-separated directories) is searched first, laid out like
    ``/usr/lib/debug``; then the standard places.
    """
    roots = [Path(p) for p in os.environ.get("PYCRASH_DEBUG_PATH", "").split(os.pathsep) if p]
    roots.append(Path(DEBUG_ROOT))
    for root in roots:
        if build_id:
            yield root / ".build-id" / build_id[:2] / f"{build_id[2:]}.debug", "build-id"
        if release:
            yield root / "boot" / f"vmlinux-{release}", "release"
            yield root / "lib" / "modules" / release / "vmlinux", "release"
    if release:
        yield Path("/boot") / f"vmlinux-{release}", "release"
        yield Path("/lib/modules") / release / "build" / "vmlinux", "release"


def find_vmlinux(dump: Dump) -> tuple[Path, str]:
    """The first matching vmlinux for ``dump`` and how it was found; SessionError if none."""
    info = dump.vmcoreinfo
    tried = []
    for path, how in debuginfo_candidates(info.build_id, info.osrelease):
        if not path.is_file():
            continue
        try:
            real = prepare_vmlinux(path)
            if mismatch_reason(dump, real) is None:
                return real, f"{path} (by {how})"
        except (OSError, struct.error, ValueError, lzma.LZMAError, EOFError):
            pass
        tried.append(str(path))
    ident = " ".join(
        x for x in (f"build-id {info.build_id}" if info.build_id else "",
                    f"release {info.osrelease}" if info.osrelease else "") if x
    )
    rejected = f" (rejected, not matching: {', '.join(tried)})" if tried else ""
    raise SessionError(f"no vmlinux found for {ident or 'this dump'}{rejected}")


def elf_symbols(path: str | os.PathLike[str]) -> dict[str, int]:
    """``{name: link-time address}`` of the vmlinux's ELF symbol table (no DWARF involved).

    Only symbols with a non-zero value are kept; for a name defined twice (static symbols in
    different files) the first one wins, as in ``/proc/kallsyms`` order.
    """
    with open(path, "rb") as f:
        sections = section_headers(f)
        symtab = next((s for s in sections if s.type == SHT_SYMTAB), None)
        if symtab is None:
            return {}
        if not 0 < symtab.link < len(sections):
            raise ElfFormatError(path, None, f".symtab links to no section ({symtab.link})")
        # read_section refuses a table that runs past the end of the file (a garbled size)
        strings = read_section(f, sections[symtab.link])
        table = read_section(f, symtab)
        table = table[: len(table) - len(table) % 24]  # whole Elf64_Sym entries only
    symbols: dict[str, int] = {}
    for st_name, info, _other, shndx, value, _size in struct.iter_unpack("<IBBHQQ", table):
        # STT_FILE (4) and STT_SECTION (3) entries name files and sections, not symbols;
        # SHN_ABS (0xfff1) values are constants, not addresses.
        if not value or not st_name or (info & 0xF) in (3, 4) or shndx == 0xFFF1:
            continue
        if st_name >= len(strings):
            continue  # a name past the string table: garbled, not a symbol
        end = strings.find(b"\0", st_name)
        name = strings[st_name:end].decode("latin-1")
        symbols.setdefault(name, value)
    return symbols
