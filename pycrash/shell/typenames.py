"""Struct, union, enum and typedef names of the kernel's DWARF, for completion.

drgn 0.3.0 looks types up by name but cannot list them.  The names come from the walk
:mod:`pycrash.dwarf` does over the top-level DIEs of each debug file
(:meth:`~pycrash.dwarf.TypeTable.type_names`): every struct, union and enum definition and
every typedef of the vmlinux and of the module files drgn loaded.  The walk is the one behind
``whatis -r/-m``: one :class:`~pycrash.dwarf.TypeTable` per file and per process
(:func:`pycrash.kernel.typeindex.file_types`), whichever of the two needs it first.

* **Background.**  Each file's names are built once per process, in a thread started when the
  prompt first shows (the vmlinux at once, the modules once drgn has loaded them).  The walk
  runs in slices of at most :data:`SLICE` seconds holding :data:`~pycrash.shell.gate.DRGN_GATE`
  and stops at the next unit boundary when a command wants the gate; a command that needs the
  table itself (``whatis -r``) finishes the walk from where it stopped.
* **Tab.**  With prompt_toolkit's readline-style completion, Tab waits for its answer, so
  it waits at most :data:`FULL_LIST_WAIT` for the list (a prefix and a bare Tab alike).  If
  the list is still not ready (the first session on a vmlinux, a Tab in the first seconds),
  the typed word alone is looked up with drgn: offered if it is a type, nothing otherwise.
* **Cache.**  Each file's names are kept in ``$XDG_CACHE_HOME/pycrash/typenames-KEY.json``
  (default ``~/.cache``).  KEY is the file's GNU build-id: the linker's hash of its whole
  contents, so the same build-id means the same DWARF wherever the file lies; a file without
  one is keyed by the hash of its real path, size and modification time.  An entry is used
  only if its ``version`` is :data:`CACHE_VERSION`, raised whenever the rule of what is
  listed changes; nothing else invalidates it (a different build is a different key).  It
  holds the SHA-256 of its names: a file cut short, garbled (a changed letter in a name is
  still JSON) or half-written is walked again, and so is one whose kinds are not
  :data:`KINDS`.

Measured 2026-11-23 on the sample vmlinux and pycrash_test.ko (6.1 tinyconfig, 41 MB of
.debug_info, 3,424 names), two shared cores at load average 1.5-2, with
``bench/type_index.py --completion`` (the "before" column: the same steps run on the previous
mechanism, which listed ``.debug_str`` identifiers and short inline names, 800,000
candidates, and checked each with drgn lookups):

==========================  ============================  ============================
                            before                        after
==========================  ============================  ============================
first full list, no cache   11.7 s wall, 11.2 s CPU       2.2 s wall, 2.0 s CPU
full list from the cache    0.01 s                        0.01 s
peak RSS of the process     205 MB                        170-185 MB
==========================  ============================  ============================

(RSS with the session open and drgn's index built: 102 MB; the walk holds ``.debug_info``,
39 MB, while it runs.)  The names are the same 3,424 with the same kinds: both lists equal
crash's ``whatis -r 0`` without its 15 base types and ``x86_intercept_stage`` (an enum only
declared, see :meth:`~pycrash.dwarf.TypeTable.type_names`).  The cache still pays: without
it the first Tab of every session waits for 2 s of CPU (more on a busy machine) or finds only
the typed word.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pycrash.cachedir import cache_dir
from pycrash.dwarf import NAME_KINDS
from pycrash.elfsections import gnu_build_id, section_headers
from pycrash.kernel.typeindex import file_types
from pycrash.shell.gate import DRGN_GATE
from pycrash.shell.names import Lazy, SortedNames

__all__ = ["TypeNameIndex", "file_type_names", "file_type_names_lazy", "type_kinds"]

# Kinds in the order crash's "struct"/"union" commands try them.
KINDS = NAME_KINDS
_KIND_SET = frozenset(KINDS)
_LOOKUP_PREFIX = {"struct": "struct ", "union": "union ", "typedef": "", "enum": "enum "}
# A Tab waits this long for the list of names, then looks up the typed word alone.
FULL_LIST_WAIT = 2.0
# The background walk holds the gate at most this long at a time.
SLICE = 0.05
CACHE_VERSION = 3
# Waiting on a file's names from the thread that merges them: they come or fail.
_FOREVER = 86400.0


def type_kinds(prog: Any, name: str) -> tuple[str, ...]:
    """Which of struct/union/typedef/enum ``name`` is in ``prog`` (maybe several, maybe none),
    by drgn lookups.  The bare name counts as "typedef" only when it is one (base types like
    ``int`` do not)."""
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


# -- one file ------------------------------------------------------------------------------


def _cache_key(path: str) -> str:
    """The file's GNU build-id, else a hash of its real path, size and mtime."""
    try:
        with open(path, "rb") as f:
            build_id = gnu_build_id(f, section_headers(f))
    except (OSError, ValueError):
        build_id = None
    if build_id:
        return build_id
    real = os.path.realpath(path)
    stat = os.stat(real)
    return hashlib.sha1(f"{real}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()


def _cache_path(key: str) -> Path:
    return cache_dir(f"typenames-{key}.json")


def _digest(types: object) -> str:
    """The SHA-256 of the names as JSON with sorted keys (what a file's ``sha256`` holds)."""
    return hashlib.sha256(json.dumps(types, sort_keys=True).encode()).hexdigest()


def _load_cache(key: str) -> dict[str, tuple[str, ...]] | None:
    """The names a cache file holds; None unless it is whole and as written."""
    try:
        data = json.loads(_cache_path(key).read_text())
        if data.get("version") != CACHE_VERSION or data.get("sha256") != _digest(
                data["types"]):
            return None
        names = {name: tuple(kinds) for name, kinds in data["types"].items()}
        if not all(found and _KIND_SET.issuperset(found) for found in names.values()):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None  # RecursionError: brackets nested past json's recursion limit
    return names


def _save_cache(key: str, path: str, names: dict[str, tuple[str, ...]]) -> None:
    target = _cache_path(key)
    types = {name: list(kinds) for name, kinds in names.items()}
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "file": path, "types": types,
                                   "sha256": _digest(types)}))
        os.replace(tmp, target)
    except OSError:
        pass  # no cache: the next session walks again


def _walk_in_slices(path: str) -> dict[str, tuple[str, ...]]:
    """The names of ``path`` from the shared walk, advanced a slice at a time and only while
    no command runs or waits to."""
    while True:
        with DRGN_GATE.background():
            table = file_types(path, stop=_slice_over(time.monotonic() + SLICE))
        if table is not None:
            return table.type_names()
        time.sleep(0.001)  # let a command or other completion work take the gate


def _slice_over(deadline: float) -> Callable[[], bool]:
    """True once a command wants the gate or the slice has lasted until ``deadline``."""
    return lambda: DRGN_GATE.command_waiting or time.monotonic() > deadline


def file_type_names(path: str) -> dict[str, tuple[str, ...]]:
    """``{name: kinds}`` of the types of the ELF file at ``path`` (see the module docstring),
    from the cache or by the walk (then cached).

    Raises:
        DwarfError: no ``.debug_info``, or DWARF that cannot be parsed.
        OSError: the file cannot be read.
    """
    key = _cache_key(path)
    names = _load_cache(key)
    if names is None:
        names = _walk_in_slices(path)
        _save_cache(key, path, names)
    return names


_FILES: dict[str, Lazy[dict[str, tuple[str, ...]]]] = {}
_FILES_LOCK = threading.Lock()


def file_type_names_lazy(path: str) -> Lazy[dict[str, tuple[str, ...]]]:
    """:func:`file_type_names` of ``path``, built once per process in a background thread
    (its value is None if the file has no readable DWARF)."""
    key = os.path.realpath(path)
    with _FILES_LOCK:
        lazy = _FILES.get(key)
        if lazy is None:
            lazy = _FILES[key] = Lazy(lambda: file_type_names(path), "pycrash-type-names")
    return lazy


# -- a Program's files ---------------------------------------------------------------------


class TypeNameIndex:
    """The type names of a Program's debug files, by prefix, with their kinds.

    ``debug_files`` are the ELF files whose DWARF the Program loaded (vmlinux first, then
    modules); ``prog`` answers for the typed word while the list is being built.
    """

    def __init__(self, prog: Any, debug_files: Iterable[str | os.PathLike[str]]) -> None:
        self._prog = prog
        self._files = [str(p) for p in debug_files]
        self._full: Lazy[SortedNames] = Lazy(self._merge, "pycrash-type-index")

    def _merge(self) -> SortedNames:
        found: dict[str, set[str]] = {}
        for path in self._files:
            names = file_type_names_lazy(path).get(wait=_FOREVER)
            for name, kinds in (names or {}).items():
                found.setdefault(name, set()).update(kinds)
        meta = {name: "/".join(k for k in KINDS if k in kinds) for name, kinds in found.items()}
        return SortedNames(meta, meta)

    def start(self) -> None:
        """Begin building the list in the background."""
        self._full.start()

    def full_list(self, wait: float) -> SortedNames | None:
        """Every name, once built; None if that takes longer than ``wait`` seconds."""
        return self._full.get(wait=wait)

    def matching(
        self, prefix: str, kinds: Iterable[str] = KINDS, wait: float = FULL_LIST_WAIT
    ) -> list[tuple[str, str]]:
        """``[(name, kinds)]`` of the types starting with ``prefix`` whose kind is in
        ``kinds``, sorted; waits up to ``wait`` seconds for the list, then answers for
        ``prefix`` itself only (by drgn lookups)."""
        wanted = set(kinds)
        full = self._full.get(wait=wait)
        if full is not None:
            pairs = [(n, full.meta(n)) for n in full.starting_with(prefix)]
        elif prefix and self._prog is not None:
            with DRGN_GATE.background():
                pairs = [(prefix, "/".join(type_kinds(self._prog, prefix)))]
        else:
            pairs = []
        return [(n, k) for n, k in pairs if wanted.intersection(k.split("/"))]
