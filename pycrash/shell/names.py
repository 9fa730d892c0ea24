"""Sorted name lists for completion, each built once and then searched by prefix.

* :class:`SortedNames`  a sorted list with prefix search (bisect, no scan);
* :func:`symbol_names`  kernel symbols: drgn's symbol table once the Program exists, else the
  vmlinux ELF symbol table the session reads anyway, else VMCOREINFO ``SYMBOL()`` names;
* :func:`task_names`    pids and comms of the task list (only once debuginfo is loaded).

Builders never create ``session.prog``: completion must not start a DWARF load.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from pycrash.shell.gate import DRGN_GATE

__all__ = ["Lazy", "SortedNames", "loaded_program", "symbol_names", "task_names"]

T = TypeVar("T")

_VMCOREINFO_SYMBOL = re.compile(r"^SYMBOL\(([^)]+)\)=", re.MULTILINE)
# Bound on the task walk done for completion (a real system may have many thousands).
MAX_TASKS = 20000


class SortedNames:
    """Names in sorted order, each with an optional one-word description (``meta``)."""

    def __init__(self, names: Iterable[str], meta: dict[str, str] | None = None) -> None:
        self._names = sorted(set(names))
        self._meta = meta or {}

    def __len__(self) -> int:
        return len(self._names)

    def starting_with(self, prefix: str, limit: int | None = None) -> list[str]:
        """The names that start with ``prefix``, sorted (at most ``limit``)."""
        start = bisect.bisect_left(self._names, prefix)
        result = []
        for name in self._names[start:]:
            if not name.startswith(prefix) or (limit is not None and len(result) >= limit):
                break
            result.append(name)
        return result

    def meta(self, name: str) -> str:
        return self._meta.get(name, "")


class Lazy(Generic[T]):
    """A value computed once, in a background thread, on first request.

    ``get(wait)`` starts the build if needed and waits up to ``wait`` seconds for it; it returns
    None while the value is not ready (the completer then offers what it has) or if the
    build failed.
    """

    def __init__(self, build: Callable[[], T], name: str = "pycrash-index") -> None:
        self._build = build
        self._name = name
        self._done = threading.Event()
        self._started = False
        self._start_lock = threading.Lock()
        self._value: T | None = None

    def start(self) -> None:
        with self._start_lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _run(self) -> None:
        try:
            self._value = self._build()
        except Exception:  # noqa: BLE001 - a failed index only means fewer completions
            self._value = None
        finally:
            self._done.set()

    def get(self, wait: float = 0.0) -> T | None:
        self.start()
        self._done.wait(wait)
        return self._value if self._done.is_set() else None

    @property
    def started(self) -> bool:
        return self._started

    @property
    def ready(self) -> bool:
        return self._done.is_set()


def loaded_program(session: Any) -> Any | None:
    """``session.prog`` if it already exists, else None (never triggers the DWARF load)."""
    if session is None:
        return None
    loaded = getattr(session, "prog_loaded", None)
    if loaded is None or not loaded:
        return None
    try:
        return session.prog
    except Exception:  # noqa: BLE001 - no debuginfo after all
        return None


def symbol_names(session: Any) -> SortedNames:
    """Kernel symbol names from the best source available without loading DWARF."""
    prog = loaded_program(session)
    if prog is not None:
        with DRGN_GATE.background():
            symbols = prog.symbols()
        return SortedNames(s.name for s in symbols if s.name)
    names: Iterable[str] = ()
    if getattr(session, "vmlinux_path", None) is not None:
        try:
            names = session.symbols.keys()  # the vmlinux ELF .symtab: no DWARF involved
        except Exception:  # noqa: BLE001
            names = ()
    if not names:
        names = vmcoreinfo_symbols(session)
    return SortedNames(names)


def vmcoreinfo_symbols(session: Any) -> list[str]:
    """The ``SYMBOL(name)=`` names of the dump's VMCOREINFO."""
    try:
        raw = session.vmcoreinfo.raw
    except Exception:  # noqa: BLE001
        return []
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return _VMCOREINFO_SYMBOL.findall(raw or "")


def task_names(session: Any) -> SortedNames | None:
    """Pids (meta: comm) and comms (meta: pid) of the dump's tasks; None without debuginfo.

    The task list is crash's, as ``ps`` shows it (pycrash.kernel.tasks, cached on the
    Program, idle tasks included); drgn's ``for_each_task`` if that is not available.
    """
    prog = loaded_program(session)
    if prog is None:
        return None
    pairs: list[tuple[int, str]] = []
    with DRGN_GATE.background():
        try:
            from pycrash.kernel.tasks import task_table

            pairs = [(t.pid, t.comm) for t in task_table(prog)][:MAX_TASKS]
        except Exception:  # noqa: BLE001 - fall back to drgn's own walk
            pairs = list(_drgn_tasks(prog))
    meta: dict[str, str] = {}
    for pid, comm in pairs:
        meta.setdefault(str(pid), comm)
        if comm:
            meta.setdefault(comm, f"pid {pid}")
    return SortedNames(meta, meta)


def _drgn_tasks(prog: Any) -> Iterator[tuple[int, str]]:
    """``(pid, comm)`` by drgn's ``for_each_task`` (init_task.tasks and thread groups)."""
    from drgn.helpers.linux.pid import for_each_task

    for count, task in enumerate(for_each_task(prog)):
        if count >= MAX_TASKS:
            return
        try:
            yield int(task.pid), task.comm.string_().decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - a damaged task: skip it
            continue
