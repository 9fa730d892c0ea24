"""The named types of an ELF file's DWARF (:class:`TypeTable`) and gdb's view of their fields.

See :mod:`pycrash.dwarf` for what is listed and why.
"""

from __future__ import annotations

import bisect
import dataclasses
import struct
import threading
from collections.abc import Generator, Iterator

from pycrash.dwarf.abbrev import Abbrev
from pycrash.dwarf.encoding import (
    DW_AT_name,
    DW_AT_type,
    DW_TAG_array_type,
    DW_TAG_member,
    DW_TAG_pointer_type,
    DW_TAG_structure_type,
    DW_TAG_subrange_type,
    LebTooLong,
    uleb,
)
from pycrash.dwarf.reader import DwarfError, Reader, Unit, read_sections

__all__ = ["NAME_KINDS", "NamedType", "TypeTable", "named_types"]

#: the kinds of a type name, in the order crash's ``struct`` command tries them
NAME_KINDS = ("struct", "union", "typedef", "enum")


@dataclasses.dataclass(frozen=True, slots=True)
class NamedType:
    """One named type DIE at the top level of a CU.

    Attributes:
        kind: "struct", "union", "enum", "typedef" or "base".
        name: the DW_AT_name (a tag without its keyword: ``list_head``).
        size: DW_AT_byte_size; None when the DIE has none (a typedef).
    """

    kind: str
    name: str
    size: int | None
    #: a typedef that is the element type of a sized array in its unit: gdb knows its length
    resolved: bool = False
    #: the DIE's offset in .debug_info (of its first occurrence)
    die: int = dataclasses.field(default=-1, compare=False)


class TypeTable:
    """The named top-level types of one ELF file (:attr:`types`), and on request the type
    names each struct or union holds (:meth:`member_type_names`).

    Raises (at construction):
        DwarfError: no ``.debug_info``, or DWARF that cannot be parsed.
        OSError: the file cannot be read.
    """

    def __init__(self, path: str) -> None:
        for _ in self._build(path):
            pass

    @classmethod
    def in_steps(cls, path: str) -> Generator[None, None, TypeTable]:
        """The table of ``path`` built one unit of ``.debug_info`` at a time: a generator that
        yields after each unit (about 2 ms each in a vmlinux) and returns the table, so that
        a background thread can stop between units and any thread go on later.

        Raises (while stepping): as the constructor.
        """
        table = cls.__new__(cls)
        yield from table._build(path)
        return table

    def _build(self, path: str) -> Iterator[None]:
        self.path = path
        reader = Reader(read_sections(path), path)
        # gdb dedups nothing here: every CU's symbol is visited in turn; keep each distinct
        # (kind, name, size) once, at its first occurrence in .debug_info.  Folded unit by
        # unit: the vmlinux's units hold 250,000 type DIEs for 3,500 distinct ones.
        keys: dict[tuple[str, int, object, int | None, bool], int] = {}
        for _ in _walk_steps(reader):
            for found, elements in reader.units_found:
                for kind, form, raw, size, die in found:
                    keys.setdefault(
                        (kind, form, raw, size, kind == "typedef" and die in elements), die)
            reader.units_found.clear()
            yield
        #: each distinct named type, in .debug_info order
        self.types: list[NamedType] = []
        for (kind, form, raw, size, resolved), die in keys.items():
            name = reader.string(form, raw)
            if name is not None:
                self.types.append(NamedType(kind, name, size, resolved, die))
        # .debug_info (most of the memory) is read again if member names are asked for
        reader.info = b""
        self._reader: Reader | None = reader
        self._members: dict[int, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def type_names(self) -> dict[str, tuple[str, ...]]:
        """The names a command can be given as ``struct NAME``, ``union NAME``, ``enum NAME``
        or a bare typedef NAME, each with its kinds in the order crash's ``struct`` command
        tries them (:data:`NAME_KINDS`).

        Base types are left out, and so are enums declared without their enumerators (gdb
        lists ``enum x86_intercept_stage;`` for ``whatis -r`` with length 0, but neither gdb
        nor drgn resolves the name).  Structs and unions without a size are never listed.
        """
        kinds: dict[str, set[str]] = {}
        for entry in self.types:
            if entry.kind == "base" or (entry.kind == "enum" and entry.size is None):
                continue
            kinds.setdefault(entry.name, set()).add(entry.kind)
        return {name: tuple(k for k in NAME_KINDS if k in found)
                for name, found in kinds.items()}

    def member_type_names(self, entry: NamedType) -> frozenset[str]:
        """The names gdb's ``lookup_struct_contents`` compares with ``whatis -m``'s argument
        for the struct or union ``entry`` (empty for other kinds).  Computed for every struct
        and union at the first call (reading ``.debug_info`` again); the DWARF sections are
        then let go."""
        with self._lock:
            if self._members is None:
                reader = self._reader
                members: dict[int, frozenset[str]] = {}
                if reader is not None:
                    reader.info = read_sections(self.path, (".debug_info",))[".debug_info"]
                    walker = _MemberNames(reader)
                    try:
                        for t in self.types:
                            if t.kind in ("struct", "union"):
                                members[t.die] = walker.names(t.die)
                    except _GARBLED as exc:
                        raise _garbled(self.path, exc) from None
                self._members = members
                self._reader = None
            return self._members.get(entry.die, frozenset())


class _MemberNames:
    """gdb's view of a struct's fields, read from the DWARF of one file.

    For each field: its type without const/volatile/restrict/atomic qualifiers (gdb keeps those
    in type instances that share one ``main_type``); an array's element type when it has one
    dimension (more make the element an array: no name); a struct field's own field names,
    recursively (not a union's); a pointer's target; then that type's name (``void`` for a
    missing type)."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.info = reader.info
        self.units = reader.unit_list
        self.starts = [u.start for u in self.units]
        self.memo: dict[int, frozenset[str]] = {}

    def _die(self, offset: int) -> tuple[Abbrev, int, Unit]:
        """(abbreviation, position of its attributes, unit) of the DIE at ``offset``."""
        unit = self.units[bisect.bisect_right(self.starts, offset) - 1]
        code, pos = uleb(self.info, offset)
        abbrev = unit.abbrevs.full(code)
        if abbrev is None:
            raise DwarfError(f"{self.reader.path}: unknown abbreviation {code} at "
                             f".debug_info offset {offset:#x}")
        return abbrev, pos, unit

    def _attrs(self, offset: int) -> tuple[Abbrev, Unit, int, dict[int, tuple[int, object]]]:
        abbrev, pos, unit = self._die(offset)
        after, attrs = self.reader.attributes(pos, abbrev, unit, _MEMBER_ATTRS)
        return abbrev, unit, after, attrs

    def _ref(self, attrs: dict[int, tuple[int, object]], unit: Unit) -> int | None:
        if DW_AT_type not in attrs:
            return None
        form, value = attrs[DW_AT_type]
        return self.reader.reference(form, value, unit, unit.start)

    def _unqualified(self, offset: int | None) -> int | None:
        """The DIE under any qualifier DIEs (None: void)."""
        for _ in range(64):
            if offset is None:
                return None
            abbrev, unit, _, attrs = self._attrs(offset)
            if abbrev.tag not in _QUALIFIERS:
                return offset
            offset = self._ref(attrs, unit)
        return offset

    def _name(self, offset: int | None) -> str | None:
        if offset is None:
            return "void"
        abbrev, unit, _, attrs = self._attrs(offset)
        if abbrev.tag in _UNNAMED_TAGS or DW_AT_name not in attrs:
            return None
        form, raw = attrs[DW_AT_name]
        return self.reader.string(form, raw, unit)

    def _children(self, offset: int) -> Iterator[tuple[int, Abbrev]]:
        """(offset, abbreviation) of each child of the DIE at ``offset``."""
        abbrev, unit, pos, _ = self._attrs(offset)
        if not abbrev.children:
            return
        data = self.info
        while pos < unit.end:
            child = pos
            code, pos = uleb(data, pos)
            if code == 0:
                return
            child_abbrev = unit.abbrevs.full(code)
            if child_abbrev is None:
                raise DwarfError(f"{self.reader.path}: unknown abbreviation {code} at "
                                 f".debug_info offset {child:#x}")
            yield child, child_abbrev
            pos = self.reader.next_sibling(pos, child_abbrev, unit)

    def names(self, offset: int) -> frozenset[str]:
        """The names of the field types of the struct or union DIE at ``offset``."""
        cached = self.memo.get(offset)
        if cached is not None:
            return cached
        self.memo[offset] = frozenset()  # a struct cannot hold itself; guards bad DWARF
        found: set[str] = set()
        for child, abbrev in self._children(offset):
            if abbrev.tag != DW_TAG_member:
                continue
            _, unit, _, attrs = self._attrs(child)
            if DW_AT_type not in attrs:
                continue  # gdb: a field without a type is skipped
            field = self._unqualified(self._ref(attrs, unit))
            tag = self._attrs(field)[0].tag if field is not None else None
            if tag == DW_TAG_array_type:
                dims = sum(1 for _, a in self._children(field) if a.tag == DW_TAG_subrange_type)
                if dims != 1:
                    continue  # an array of arrays: no name, not a struct
                _, unit, _, attrs = self._attrs(field)  # type: ignore[arg-type]
                field = self._unqualified(self._ref(attrs, unit))
                tag = self._attrs(field)[0].tag if field is not None else None
            if tag == DW_TAG_structure_type:
                found |= self.names(field)  # type: ignore[arg-type]
            if tag == DW_TAG_pointer_type:
                _, unit, _, attrs = self._attrs(field)  # type: ignore[arg-type]
                field = self._unqualified(self._ref(attrs, unit))
            name = self._name(field)
            if name is not None:
                found.add(name)
        result = frozenset(found)
        self.memo[offset] = result
        return result


def _walk_steps(reader: Reader) -> Iterator[None]:
    """``reader``'s walk, one unit per step, with a cut-short section as a DwarfError."""
    steps = reader.walk_in_steps()
    while True:
        try:
            next(steps)
        except StopIteration:
            return
        except _GARBLED as exc:
            raise _garbled(reader.path, exc) from None
        yield


# What reading garbled DWARF raises below the checks: reads past the end of a section
# (IndexError, struct.error), a string without its NUL (ValueError), a LEB128 number that
# never ends (LebTooLong, a ValueError), struct fields nested past Python's recursion limit.
_GARBLED = (IndexError, struct.error, ValueError, RecursionError)


def _garbled(path: str, exc: BaseException) -> DwarfError:
    """The DwarfError for an exception of :data:`_GARBLED` (a DwarfError stays itself)."""
    if isinstance(exc, DwarfError):
        return exc
    if isinstance(exc, LebTooLong):
        return DwarfError(f"{path}: {exc}")
    if isinstance(exc, RecursionError):
        return DwarfError(f"{path}: struct types nested too deep in .debug_info")
    if isinstance(exc, ValueError):
        return DwarfError(f"{path}: .debug_info cut short (a string without its end)")
    return DwarfError(f"{path}: .debug_info cut short ({exc})")


# DWARF 5 §5.2 type qualifiers, and the type DIEs gdb keeps no name for.
_QUALIFIERS = frozenset({0x26, 0x35, 0x37, 0x47, 0x4B})  # const volatile restrict atomic immutable
# array, pointer, subroutine, reference, rvalue reference
_UNNAMED_TAGS = frozenset({DW_TAG_array_type, DW_TAG_pointer_type, 0x15, 0x10, 0x42})
_MEMBER_ATTRS = frozenset({DW_AT_type, DW_AT_name})


def named_types(path: str) -> list[NamedType]:
    """The named struct, union, enum, typedef and base-type DIEs at the top level of every
    unit of the ELF file at ``path``, each distinct (kind, name, size) once, in the order
    they first appear in ``.debug_info``.

    Raises:
        DwarfError: no ``.debug_info``, or DWARF that cannot be parsed.
        OSError: the file cannot be read.
    """
    return TypeTable(path).types
