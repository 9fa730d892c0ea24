"""Struct, union, enum and typedef names of the kernel's DWARF, for completion.

drgn 0.3.0 looks types up by name but cannot list them, and walking every DIE of a vmlinux
with pyelftools takes minutes.  Instead:

1. *Candidates* come from the DWARF string tables: every identifier that ends a string of
   ``.debug_str`` (the linker merges a string into the tail of a longer one, so
   ``list_head`` may only exist inside ``hlist_head``), plus the names of at most four
   characters that gcc writes inline in ``.debug_info`` (``page``, ``file``, ``cred``).
   Reading them is a regular-expression pass over two sections.
2. Each candidate is *checked* with drgn lookups (``struct X``, ``union X``, ``X``,
   ``enum X``): drgn's name index answers in microseconds and knows exactly what is a type.

A completion with a prefix checks only the candidates with that prefix (found with one
regex over the string table), so ``struct task_<TAB>`` is answered at once.  The full list
(needed only for a bare Tab) is checked once in a background thread, in batches that pause
while a command runs, and cached on disk by build-id.

Measured on the sample vmlinux (6.1 tinyconfig, 41 MB .debug_info, 1.3 MB .debug_str), idle
machine / two cores at load 7: string tables 1.5 s / 4 s, once, started with the prompt; a
two-letter prefix 0.05-0.1 s; a one-letter prefix 0.5-2 s (tens of thousands of candidates);
the full list (800,000 candidates, 3,400 types) 9 s / 36 s once per vmlinux, then read from
the cache.  Peak RSS of the whole process, drgn and its DWARF index included: 240 MB.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from elftools.elf.elffile import ELFFile

from pycrash.shell.gate import DRGN_GATE
from pycrash.shell.names import Lazy, SortedNames

__all__ = ["TypeNameIndex", "type_kinds"]

_IDENT_TAIL = re.compile(rb"[A-Za-z0-9_]*\Z")
# A name of at most four characters written inline (DW_FORM_string) in .debug_info: gcc
# moves longer names to .debug_str (see find_string_form in gcc's dwarf2out.c).
_SHORT_INLINE = re.compile(rb"([A-Za-z_][A-Za-z0-9_]{0,3})\0")
_IDENT = re.compile(r"[A-Za-z_]\w*\Z")

# Kinds in the order crash's "struct"/"union" commands try them.
KINDS = ("struct", "union", "typedef", "enum")
_LOOKUP_PREFIX = {"struct": "struct ", "union": "union ", "typedef": "", "enum": "enum "}
BATCH = 2000
# A bare Tab waits this long for the full list, then shows the types checked so far.
FULL_LIST_WAIT = 2.0
CACHE_VERSION = 1


def type_kinds(prog: Any, name: str) -> tuple[str, ...]:
    """Which of struct/union/typedef/enum ``name`` is in ``prog`` (maybe several, maybe none).

    The bare name counts as "typedef" only when it is one (base types like ``int`` do not).
    """
    import drgn

    kinds = []
    for kind in KINDS:
        try:
            type_ = prog.type(_LOOKUP_PREFIX[kind] + name)
        except (LookupError, SyntaxError, ValueError):
            continue
        if kind == "typedef" and type_.kind != drgn.TypeKind.TYPEDEF:
            continue
        kinds.append(kind)
    return tuple(kinds)


def _section_bytes(elf: ELFFile, mapped: mmap.mmap, name: str) -> bytes:
    section = elf.get_section_by_name(name)
    if section is None or section["sh_type"] == "SHT_NOBITS":
        return b""
    if section.compressed:
        return section.data()
    start = section["sh_offset"]
    return mapped[start : start + section["sh_size"]]


def string_table(path: str | os.PathLike[str]) -> bytes:
    """The candidate names of one ELF file as one NUL-separated blob (see module docstring).

    Every identifier suffix of the blob's strings is a candidate; the blob keeps them in
    their merged form so that a prefix search is one regex pass.
    """
    with open(path, "rb") as f:
        elf = ELFFile(f)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            strings = _section_bytes(elf, mapped, ".debug_str")
            info = elf.get_section_by_name(".debug_info")
            short: set[bytes] = set()
            if info is not None and not info.compressed:
                start = info["sh_offset"]
                end = start + info["sh_size"]
                short = {m.group(1) for m in _SHORT_INLINE.finditer(mapped, start, end)}
            elif info is not None:
                short = set(_SHORT_INLINE.findall(info.data()))
    return b"\0" + strings + b"\0" + b"\0".join(sorted(short)) + b"\0"


_STRING_TABLES: dict[str, Lazy[bytes]] = {}
_STRING_TABLES_LOCK = threading.Lock()


def string_table_lazy(path: str | os.PathLike[str]) -> Lazy[bytes]:
    """:func:`string_table` of ``path``, read once per process in a background thread.

    It needs only the file, not drgn, so the shell starts it before the DWARF is loaded.
    """
    key = str(path)
    with _STRING_TABLES_LOCK:
        lazy = _STRING_TABLES.get(key)
        if lazy is None:
            lazy = _STRING_TABLES[key] = Lazy(lambda: string_table(key), "pycrash-type-strings")
    return lazy


def all_candidates(blob: bytes) -> set[str]:
    """Every identifier suffix of every string in ``blob`` that starts with a letter or _."""
    result: set[str] = set()
    for string in blob.split(b"\0"):
        tail = _IDENT_TAIL.search(string)
        if tail is None:
            continue
        text = tail.group(0).decode("ascii")
        for i, ch in enumerate(text):
            if ch == "_" or ch.isalpha():
                result.add(text[i:])
    return result


def candidates_with_prefix(blob: bytes, prefix: str) -> set[str]:
    """The identifier suffixes of ``blob``'s strings that start with ``prefix``."""
    if not prefix:
        return all_candidates(blob)
    pattern = re.compile(b"(?=(" + re.escape(prefix.encode()) + rb"[A-Za-z0-9_]*)\0)")
    return {m.group(1).decode("ascii") for m in pattern.finditer(blob)}


def _cache_path(key: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pycrash"
    return base / f"typenames-{key}.json"


class TypeNameIndex:
    """The type names of a Program's debug files, by prefix, with their kinds.

    ``debug_files`` are the ELF files whose DWARF the Program loaded (vmlinux, modules);
    ``cache_key`` (the vmlinux build-id) names the on-disk cache of the full list, or None.
    """

    def __init__(
        self, prog: Any, debug_files: Iterable[str | os.PathLike[str]], cache_key: str | None
    ) -> None:
        self._prog = prog
        self._files = [str(p) for p in debug_files]
        self._cache_key = cache_key
        self._checked: dict[str, tuple[str, ...]] = {}
        self._blob = Lazy(self._read_blob, "pycrash-type-strings")
        self._full = Lazy(self._build_full, "pycrash-type-index")

    # -- building ------------------------------------------------------------------------

    def _read_blob(self) -> bytes:
        parts = [string_table_lazy(path).get(wait=600) for path in self._files]
        return b"".join(part for part in parts if part)

    def _check(self, names: Iterable[str]) -> None:
        """Check ``names`` with drgn, in batches that give way to a running command."""
        pending = [n for n in names if n not in self._checked and _IDENT.match(n)]
        for start in range(0, len(pending), BATCH):
            with DRGN_GATE.background():
                for name in pending[start : start + BATCH]:
                    self._checked[name] = type_kinds(self._prog, name)
            time.sleep(0.001)  # let other completion work take the gate between batches

    def _build_full(self) -> SortedNames:
        cached = self._load_cache()
        if cached is not None:
            return cached
        blob = self._blob.get(wait=600)
        if blob is None:
            raise RuntimeError("no DWARF strings")
        # Only the types are kept: 800,000 negative answers would cost ~100 MB.
        kinds = {n: k for n, k in list(self._checked.items()) if k}
        pending = [n for n in all_candidates(blob) if n not in self._checked and _IDENT.match(n)]
        for start in range(0, len(pending), BATCH):
            with DRGN_GATE.background():
                for name in pending[start : start + BATCH]:
                    found = type_kinds(self._prog, name)
                    if found:
                        kinds[name] = found
            time.sleep(0.001)  # let other completion work take the gate between batches
        self._save_cache(kinds)
        return SortedNames(kinds, {n: "/".join(k) for n, k in kinds.items()})

    def _load_cache(self) -> SortedNames | None:
        if not self._cache_key:
            return None
        try:
            data = json.loads(_cache_path(self._cache_key).read_text())
        except (OSError, ValueError):
            return None
        if data.get("version") != CACHE_VERSION or data.get("files") != self._files:
            return None
        kinds = {n: tuple(k) for n, k in data.get("types", {}).items()}
        return SortedNames(kinds, {n: "/".join(k) for n, k in kinds.items()})

    def _save_cache(self, kinds: dict[str, tuple[str, ...]]) -> None:
        if not self._cache_key:
            return
        path = _cache_path(self._cache_key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            payload = {"version": CACHE_VERSION, "files": self._files, "types": kinds}
            tmp.write_text(json.dumps(payload))
            os.replace(tmp, path)
        except OSError:
            pass

    # -- queries -------------------------------------------------------------------------

    def start(self) -> None:
        """Begin reading the string tables in the background (no drgn work yet)."""
        self._blob.start()

    def matching(
        self, prefix: str, kinds: Iterable[str] = KINDS, wait: float = 5.0
    ) -> list[tuple[str, str]]:
        """``[(name, kinds)]`` of the types starting with ``prefix`` whose kind is in
        ``kinds``, sorted; waits up to ``wait`` seconds for the string tables."""
        wanted = set(kinds)
        # Only a bare Tab needs (and starts building) the full list; a prefix is answered
        # exactly on its own, from the full list if that is ready.
        if prefix:
            full = self._full.get(wait=0) if self._full.started else None
        else:
            full = self._full.get(wait=min(wait, FULL_LIST_WAIT))
        if full is not None:
            names = full.starting_with(prefix)
            pairs = [(n, tuple(full.meta(n).split("/"))) for n in names]
        elif not prefix:  # the full list is still being built: what is known so far
            pairs = sorted((n, k) for n, k in list(self._checked.items()) if k)
        else:
            blob = self._blob.get(wait=wait)
            if blob is None:
                return []
            candidates = candidates_with_prefix(blob, prefix)
            self._check(sorted(candidates))
            pairs = [(n, self._checked.get(n, ())) for n in sorted(candidates)]
        return [(n, "/".join(k)) for n, k in pairs if wanted.intersection(k)]
