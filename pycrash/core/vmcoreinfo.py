"""VMCOREINFO: the ``KEY=value`` text the kernel publishes for dump tools.

Line formats come from ``include/linux/vmcore_info.h``: ``SYMBOL(name)`` and
``KERNELOFFSET`` are hex without ``0x``; ``SIZE``/``OFFSET``/``LENGTH`` are unsigned
decimal; ``NUMBER`` is signed decimal except where architecture code appends ``0x``
strings, so it is parsed with base auto-detection.
"""

from __future__ import annotations

__all__ = ["VmcoreInfo"]


class VmcoreInfo:
    """Parsed VMCOREINFO text with typed accessors; ``raw`` keeps the original text."""

    def __init__(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            raw = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        self.raw: str = raw
        self._entries: dict[str, str] = {}
        for line in raw.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                self._entries[key.strip()] = value.strip()

    # -- generic access ---------------------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        """The raw value of ``key`` (e.g. ``"SYMBOL(init_top_pgt)"``), or ``default``."""
        return self._entries.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> list[str]:
        return list(self._entries)

    def items(self) -> list[tuple[str, str]]:
        return list(self._entries.items())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"VmcoreInfo(osrelease={self.osrelease!r}, {len(self)} keys)"

    @staticmethod
    def _int(text: str | None, base: int) -> int | None:
        if text is None:
            return None
        try:
            return int(text, base)
        except ValueError:
            return None

    # -- typed keys -------------------------------------------------------------------
    def symbol(self, name: str) -> int | None:
        """``SYMBOL(name)``: runtime (KASLR-relocated) address."""
        return self._int(self._entries.get(f"SYMBOL({name})"), 16)

    def number(self, name: str) -> int | None:
        """``NUMBER(name)``: signed, decimal or ``0x`` hex."""
        return self._int(self._entries.get(f"NUMBER({name})"), 0)

    def offset(self, name: str) -> int | None:
        """``OFFSET(struct.member)``."""
        return self._int(self._entries.get(f"OFFSET({name})"), 10)

    def size(self, name: str) -> int | None:
        """``SIZE(name)``."""
        return self._int(self._entries.get(f"SIZE({name})"), 10)

    def length(self, name: str) -> int | None:
        """``LENGTH(name)``."""
        return self._int(self._entries.get(f"LENGTH({name})"), 10)

    @property
    def osrelease(self) -> str | None:
        return self._entries.get("OSRELEASE")

    @property
    def page_size(self) -> int | None:
        return self._int(self._entries.get("PAGESIZE"), 10)

    @property
    def kerneloffset(self) -> int | None:
        """``KERNELOFFSET`` (x86-64 KASLR virtual offset), hex."""
        return self._int(self._entries.get("KERNELOFFSET"), 16)

    @property
    def crashtime(self) -> int | None:
        """``CRASHTIME`` (epoch seconds); present only in dumps taken by the crash path."""
        return self._int(self._entries.get("CRASHTIME"), 10)

    @property
    def build_id(self) -> str | None:
        return self._entries.get("BUILD-ID")

    @property
    def phys_base(self) -> int | None:
        """``NUMBER(phys_base)`` (x86-64, 4.10+)."""
        return self.number("phys_base")

    @property
    def pgtable_l5_enabled(self) -> bool | None:
        value = self.number("pgtable_l5_enabled")
        return None if value is None else bool(value)
