"""Every named data type of the kernel, by size and by member type: crash's ``whatis -r/-m``.

crash answers ``whatis -r SIZE|LOW-HIGH`` and ``whatis -m TYPE`` with gdb's
``GNU_ITERATE_DATATYPES`` (crash's gdb-10.2.patch, ``iterate_datatypes``): every ``LOC_TYPEDEF``
symbol of the global and static block of every compilation unit of every objfile — the
vmlinux, and each module's object file once ``mod -s`` loaded it.  Those symbols are the
struct, union and enum tags, typedefs and base types declared at the top level of a CU
(:mod:`pycrash.dwarf` lists them).  For each:

* ``-r``: its length must lie in ``[LOW, HIGH]`` (no bound when HIGH is 0).  gdb reads a
  typedef with length 0 and fills it in only once something resolves the typedef: reading
  its unit resolves those that are the element type of an array with a constant bound
  (``create_array_type``), which here get their target's size, every other typedef 0.  An
  enum declared without enumerators has length 0 too;
* ``-m``: one of its fields must have a type whose name contains TYPE (``strstr``), gdb's
  ``lookup_struct_contents``: an array field is looked at through its element type, a
  pointer field through its target (one level each), and a struct field (not a union) is
  also searched member by member.  Typedefs, enums and base types have no such fields;
* a name already collected is not collected again (``append_struct_symbol``), and the list is
  sorted by size, then by name (``compare_size_name``).  Definitions are visited in
  .debug_info order, which is what decides between a name's resolved and unresolved
  typedefs the way crash 8.0.6 did on the sample dumps.

Distinct definitions of one name with the same size are checked for ``-m`` through the first
one only (gdb checks each CU's).

Sizes and member types come from the DWARF of each definition (drgn's type names are not gdb's:
``unsigned short`` for ``short unsigned int``), a resolved typedef's size from drgn.  The DWARF
walk is done once per object file and kept for the process.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from drgn import sizeof

from pycrash.dwarf import DwarfError, NamedType, TypeTable

if TYPE_CHECKING:
    import drgn

    from pycrash.session import Session

__all__ = ["TypeIndex", "file_types", "type_index", "matching_types"]


class _FileWalk:
    """One file's :class:`~pycrash.dwarf.TypeTable`, built in steps by whichever thread asks
    first and finished by whichever asks next (the shell's background thread stops between
    units while a command runs, and the command may finish the walk itself)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._steps: Generator[None, None, TypeTable] | None = None
        self._table: TypeTable | None = None
        self._error: DwarfError | OSError | None = None

    def table(self, stop: Callable[[], bool] | None = None) -> TypeTable | None:
        """The table; None if ``stop()`` became true at a unit boundary before the walk was
        done (the next call goes on from there)."""
        with self._lock:
            while self._table is None and self._error is None:
                if self._steps is None:
                    self._steps = TypeTable.in_steps(self.path)
                try:
                    while stop is None or not stop():
                        next(self._steps)
                    return None
                except StopIteration as done:
                    self._table = done.value  # None only if an interrupted walk ended it
                    self._steps = None
                except (DwarfError, OSError) as exc:
                    self._error = exc
                    self._steps = None
                except BaseException:  # Ctrl-C inside a step ends the generator: start over
                    self._steps = None
                    raise
            if self._error is not None:
                raise self._error
            return self._table


_files: dict[str, _FileWalk] = {}
_files_lock = threading.Lock()


def file_types(path: str, stop: Callable[[], bool] | None = None) -> TypeTable | None:
    """The :class:`~pycrash.dwarf.TypeTable` of ``path``, walked once per process and shared
    by ``whatis`` and the shell's completion; None if ``stop()`` became true first (see
    :meth:`_FileWalk.table`).

    Raises:
        DwarfError: no ``.debug_info``, or DWARF that cannot be parsed.
        OSError: the file cannot be read.
    """
    key = os.path.realpath(path)
    with _files_lock:
        walk = _files.get(key)
        if walk is None:
            walk = _files[key] = _FileWalk(path)
    return walk.table(stop)


def _file_types(path: str) -> TypeTable:
    """:func:`file_types`, walked to the end by this thread if need be."""
    table = file_types(path)
    assert table is not None  # no stop: the walk ran to its end
    return table


class TypeIndex:
    """The named types of a set of object files, in gdb's objfile order."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.tables = [_file_types(path) for path in paths]

    def matching(self, prog: drgn.Program, lowest: int, highest: int,
                 member: str | None) -> list[tuple[int, str]]:
        """crash's ``request_types``: (size, name) of every type in the size range (no
        bound when ``highest`` is 0) with a member of a type whose name contains
        ``member`` (when given), each name once, sorted by size and name."""
        chosen: dict[str, int] = {}
        for table in self.tables:
            for entry in table.types:
                if entry.name in chosen:
                    continue
                size = _gdb_length(prog, entry)
                if highest and not lowest <= size <= highest:
                    continue
                if member is not None and not any(
                        member in name for name in table.member_type_names(entry)):
                    continue
                chosen[entry.name] = size
        return sorted(((size, name) for name, size in chosen.items()),
                      key=lambda item: (item[0], item[1].encode()))


def _gdb_length(prog: drgn.Program, entry: NamedType) -> int:
    """The length gdb has for a symbol's type: a typedef's only once resolved (the element
    type of a sized array in its unit), 0 for an enum declared without its enumerators."""
    if entry.kind != "typedef":
        return entry.size or 0
    if not entry.resolved:
        return 0
    try:
        return sizeof(prog.type(entry.name))
    except (LookupError, SyntaxError, ValueError, TypeError):
        return 0


_indexes: weakref.WeakKeyDictionary[Any, tuple[tuple[str, ...], TypeIndex]] = (
    weakref.WeakKeyDictionary())


def type_index(session: Session) -> TypeIndex:
    """The session's type index: the vmlinux and the module object files ``mod -s`` loaded
    (rebuilt from the per-file cache when that set changes)."""
    from pycrash.kernel.symbols import symbol_table

    if session.vmlinux_path is None:
        raise LookupError("no vmlinux: types are not available")
    paths = [str(session.vmlinux_path)]
    try:
        paths += [os.path.abspath(ms.object_file) for ms in symbol_table(session).modules
                  if ms.object_file]
    except Exception:  # noqa: BLE001 - no module list: the vmlinux's types only
        pass
    key = tuple(paths)
    cached = _indexes.get(session)
    if cached is not None and cached[0] == key:
        return cached[1]
    index = TypeIndex(paths)
    _indexes[session] = (key, index)
    return index


def matching_types(session: Session, lowest: int, highest: int,
                   member: str | None) -> list[tuple[int, str]]:
    """:meth:`TypeIndex.matching` over the session's types."""
    return type_index(session).matching(session.prog, lowest, highest, member)
