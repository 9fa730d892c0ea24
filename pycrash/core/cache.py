"""Bounded caches for decompressed pages and per-page translations.

Both are plain dicts underneath so that the read fast path in
:meth:`pycrash.core.dump.Dump.read` is a couple of dict lookups. The page cache is an
LRU (:class:`collections.OrderedDict`, refreshed on every hit); the translation cache
evicts in insertion order (entries are tiny and re-walking is cheap).
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["PageCache", "TranslationCache"]


class PageCache(OrderedDict[int, bytes]):
    """pfn → page bytes, at most ``capacity`` pages (least recently used evicted)."""

    def __init__(self, capacity: int = 8192) -> None:
        super().__init__()
        self.capacity = max(1, capacity)
        self.misses = 0

    def put(self, pfn: int, data: bytes) -> None:
        self[pfn] = data
        self.misses += 1
        while len(self) > self.capacity:
            try:
                self.popitem(last=False)
            except KeyError:
                break


class TranslationCache(dict[int, int]):
    """virtual page number → pfn, at most ``capacity`` entries (oldest evicted)."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        super().__init__()
        self.capacity = max(1, capacity)

    def put(self, vpn: int, pfn: int) -> None:
        if len(self) >= self.capacity:
            try:
                del self[next(iter(self))]
            except (KeyError, RuntimeError, StopIteration):  # another thread got there
                pass
        self[vpn] = pfn
