"""Random-access byte sources a container format is parsed from.

:class:`FileBytes` is a plain file (memory-mapped up to :data:`MMAP_MAX_SIZE`, ``os.pread``
otherwise and for ``/proc/kcore``, whose reported size is not its content).
:class:`~pycrash.core.flattened.FlatBytes` presents a makedumpfile flattened stream as
the file ``makedumpfile -R`` would rebuild. Both offer ``pread(offset, size)``, which
returns fewer bytes only at the end of the data, and a file-like ``stream()`` for
pyelftools.
"""

from __future__ import annotations

import io
import mmap
import os
from typing import Protocol

__all__ = ["ByteSource", "FileBytes", "SourceStream", "MMAP_MAX_SIZE"]


class ByteSource(Protocol):
    path: str
    size: int

    def pread(self, offset: int, size: int) -> bytes: ...

    def stream(self) -> io.RawIOBase: ...

    def close(self) -> None: ...


#: Files up to this size are memory-mapped (slicing is cheaper than a pread per small
#: read); larger ones are read with ``os.pread``: every mapped page that was touched counts
#: in the process's resident memory until unmapped, so reading across a 64 GiB dump
#: through a mapping would grow it without bound.
MMAP_MAX_SIZE = 256 << 20


class FileBytes:
    """A regular file (or character device) read by offset."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self._fd = os.open(self.path, os.O_RDONLY)
        self._map: mmap.mmap | None = None
        st = os.fstat(self._fd)
        self.size = st.st_size
        if hasattr(os, "posix_fadvise"):
            # Reads jump between page descriptors and scattered page data: kernel
            # read-ahead would only fill the page cache (and, for a sparse file, zero-fill
            # holes) with pages nobody asked for.
            try:
                os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_RANDOM)
            except OSError:
                pass
        if 0 < self.size <= MMAP_MAX_SIZE and not self.path.startswith("/proc/"):
            try:
                self._map = mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                self._map = None
            if self._map is not None and hasattr(self._map, "madvise"):
                try:
                    self._map.madvise(mmap.MADV_RANDOM)
                except (OSError, AttributeError):
                    pass

    def pread(self, offset: int, size: int) -> bytes:
        m = self._map
        if m is not None:
            return m[offset:offset + size]
        if offset < 0 or size <= 0:
            return b""
        if self.size and offset + size > self.size:
            # A garbled size field must not become a multi-gigabyte buffer (the end of
            # the file is where a short read would stop anyway).
            size = max(0, self.size - offset)
        return os.pread(self._fd, size, offset) if size else b""

    def stream(self) -> io.RawIOBase:
        return SourceStream(self)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __repr__(self) -> str:
        return f"FileBytes({self.path!r}, size={self.size})"


class SourceStream(io.RawIOBase):
    """Minimal seekable read-only file object over a :class:`ByteSource` (for pyelftools)."""

    def __init__(self, source: ByteSource) -> None:
        super().__init__()
        self._src = source
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = pos
        elif whence == io.SEEK_CUR:
            self._pos += pos
        else:
            self._pos = self._src.size + pos
        return self._pos

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self._src.size - self._pos)
        data = self._src.pread(self._pos, size)
        self._pos += len(data)
        return data

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

