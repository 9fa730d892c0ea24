"""An on-disk copy of crash's kernel symbol table, one file per vmlinux.

Building the table from the vmlinux ``.symtab`` (:func:`pycrash.kernel.symbols.kernel_columns`)
takes 0.1-0.2 s, the largest part of a ``bt`` run; reading it back takes a few milliseconds.
The table depends only on the vmlinux and on the code that builds it, so it is kept in
``$XDG_CACHE_HOME/pycrash/symbols/`` (``~/.cache/pycrash/symbols/``), at link-time values
(the KASLR offset is a property of the dump, applied afterwards).

Invalidation: the file name is a hash of

* the vmlinux's GNU build-id, file size and ``.symtab``/``.strtab`` offsets and sizes (a
  stripped and an unstripped image share a build-id but not a symbol table);
* pycrash's version and the bytes of ``pycrash/kernel/symbols.py`` (an edited builder never
  reads a table an older one wrote) and :data:`FORMAT`.

A vmlinux without a build-id is never cached.  A file ends with the SHA-256 of everything
before it: one that is cut short, garbled (a flipped bit in a value would be a wrong symbol
address, not a parse error) or left half-written by a crash is ignored and written again.
Writers write a temporary file in the same directory and rename it into place, so concurrent
readers see a whole file or none, and concurrent writers write the same bytes.  Any failure to
read or write the cache only costs the rebuild.  Files of older pycrash versions stay (about
1 MB each); the directory may be deleted at any time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pycrash import __version__
from pycrash.cachedir import cache_dir
from pycrash.elfsections import SHT_SYMTAB, gnu_build_id, section_headers

if TYPE_CHECKING:
    from pycrash.kernel.symbols import KernelColumns

__all__ = ["FORMAT", "cache_path", "cached_columns"]

FORMAT = b"pycrash kernel symbols 2\n"
# count, image start, image end, length of the names blob
_HEADER = struct.Struct("<QQQQ")
_DIGEST_SIZE = 32  # SHA-256 of the file's other bytes, at its end


def _cache_dir() -> Path:
    return cache_dir("symbols")


def _builder_digest() -> bytes:
    """The bytes of the module that builds the table (pycrash/kernel/symbols.py)."""
    from pycrash.kernel import symbols

    with open(symbols.__file__, "rb") as f:
        return hashlib.sha256(f.read()).digest()


def cache_path(vmlinux: str | os.PathLike[str]) -> Path | None:
    """Where the table of ``vmlinux`` is cached, or None when it is not cached (no build-id,
    no symbol table, unreadable)."""
    try:
        with open(vmlinux, "rb") as f:
            sections = section_headers(f)
            build_id = gnu_build_id(f, sections)
            size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError, struct.error):
        return None
    symtab = next((s for s in sections if s.type == SHT_SYMTAB), None)
    if build_id is None or symtab is None or symtab.link >= len(sections):
        return None
    strtab = sections[symtab.link]
    key = hashlib.sha256()
    key.update(FORMAT)
    key.update(f"{__version__}\0{build_id}\0{size}\0{symtab.offset}:{symtab.size}\0"
               f"{strtab.offset}:{strtab.size}\0".encode())
    key.update(_builder_digest())
    return _cache_dir() / f"{build_id[:16]}-{key.hexdigest()[:24]}.symtab"


def _encode(columns: KernelColumns) -> bytes:
    blob = "\0".join(columns.names).encode("latin-1")
    count = len(columns.names)
    first, last = columns.image
    body = b"".join((FORMAT, _HEADER.pack(count, first, last, len(blob)), blob,
                     columns.letters.encode("latin-1"),
                     struct.pack(f"<{count}Q", *columns.values)))
    return body + hashlib.sha256(body).digest()


def _decode(data: bytes) -> KernelColumns | None:
    """The table a cache file holds; None unless the file is whole and as written."""
    from pycrash.kernel.symbols import KernelColumns

    if not data.startswith(FORMAT) or len(data) < len(FORMAT) + _DIGEST_SIZE:
        return None
    data, digest = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
    if hashlib.sha256(data).digest() != digest:
        return None
    pos = len(FORMAT)
    try:
        count, first, last, blob_size = _HEADER.unpack_from(data, pos)
    except struct.error:
        return None
    pos += _HEADER.size
    if len(data) != pos + blob_size + count + 8 * count:
        return None
    names = data[pos:pos + blob_size].decode("latin-1").split("\0") if count else []
    if len(names) != count:
        return None
    pos += blob_size
    letters = data[pos:pos + count].decode("latin-1")
    values = list(struct.unpack_from(f"<{count}Q", data, pos + count))
    return KernelColumns(names, values, letters, (first, last))


def cached_columns(vmlinux: str | os.PathLike[str],
                   build: Callable[[], KernelColumns]) -> KernelColumns:
    """``vmlinux``'s symbol table at link time: from the cache when it holds it, else from
    ``build()`` (and then stored)."""
    path = cache_path(vmlinux)
    if path is None:
        return build()
    try:
        found = _decode(path.read_bytes())
    except OSError:
        found = None
    if found is not None:
        return found
    columns = build()
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(_encode(columns))
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return columns
