"""Page decompression for kdump-compressed dumps.

The ``page_desc.flags`` bit says how each page was stored (``diskdump_mod.h``):
0x01 zlib (a normal zlib stream, written at ``Z_BEST_SPEED``), 0x02 LZO1X
(``lzo1x_1_compress``), 0x04 raw snappy (no framing), 0x20 zstd (one frame with its
content size); 0 means the page is stored raw. Optional codecs are imported lazily so
that a missing package only matters for dumps that use it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

__all__ = [
    "COMPRESS_ZLIB", "COMPRESS_LZO", "COMPRESS_SNAPPY", "COMPRESS_ZSTD",
    "DUMP_DH_COMPRESSED_INCOMPLETE", "DUMP_DH_EXCLUDED_VMEMMAP",
    "CodecUnavailable", "decoder", "compression_name",
]

COMPRESS_ZLIB = 0x01
COMPRESS_LZO = 0x02
COMPRESS_SNAPPY = 0x04
DUMP_DH_COMPRESSED_INCOMPLETE = 0x08
DUMP_DH_EXCLUDED_VMEMMAP = 0x10
COMPRESS_ZSTD = 0x20
COMPRESS_MASK = COMPRESS_ZLIB | COMPRESS_LZO | COMPRESS_SNAPPY | COMPRESS_ZSTD

_NAMES = {COMPRESS_ZLIB: "zlib", COMPRESS_LZO: "lzo", COMPRESS_SNAPPY: "snappy",
          COMPRESS_ZSTD: "zstd"}
_PACKAGES = {COMPRESS_LZO: "lzallright", COMPRESS_SNAPPY: "cramjam", COMPRESS_ZSTD: "zstandard"}


class CodecUnavailable(ImportError):
    """The Python package needed to decode a compression method is not installed."""


def compression_name(flags: int) -> str:
    """Name of the single compression bit in ``flags`` ("none" if no bit is set)."""
    for bit, name in _NAMES.items():
        if flags & bit:
            return name
    return "none"


def _zlib(page_size: int) -> Callable[[bytes], bytes]:
    decompress = zlib.decompress

    def dec(data: bytes) -> bytes:
        return decompress(data, 15, page_size)

    return dec


def _lzo(page_size: int) -> Callable[[bytes], bytes]:
    from lzallright import LZOCompressor  # type: ignore[import-not-found]

    comp = LZOCompressor()

    def dec(data: bytes) -> bytes:
        return comp.decompress(data, output_size_hint=page_size)

    return dec


def _snappy(page_size: int) -> Callable[[bytes], bytes]:
    import cramjam  # type: ignore[import-not-found]

    raw = cramjam.snappy.decompress_raw

    def dec(data: bytes) -> bytes:
        return bytes(raw(data))

    return dec


def _zstd(page_size: int) -> Callable[[bytes], bytes]:
    import zstandard  # type: ignore[import-not-found]

    d = zstandard.ZstdDecompressor()

    def dec(data: bytes) -> bytes:
        return d.decompress(data, max_output_size=page_size)

    return dec


_FACTORIES = {COMPRESS_ZLIB: _zlib, COMPRESS_LZO: _lzo, COMPRESS_SNAPPY: _snappy,
              COMPRESS_ZSTD: _zstd}


def decoder(flag: int, page_size: int) -> Callable[[bytes], bytes]:
    """Return a function decoding one stored page compressed with ``flag``.

    Raises:
        CodecUnavailable: the package for this codec is missing.
        ValueError: ``flag`` is not a known single compression bit.
    """
    factory = _FACTORIES.get(flag)
    if factory is None:
        raise ValueError(f"unknown page compression flags {flag:#x}")
    try:
        return factory(page_size)
    except ImportError as exc:
        raise CodecUnavailable(
            f"pages are {_NAMES[flag]}-compressed; install the '{_PACKAGES[flag]}' package"
        ) from exc
