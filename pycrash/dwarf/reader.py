"""Walking the units of ``.debug_info``: the named types at the top level of each unit.

:class:`Reader` visits only the DIEs directly under each ``DW_TAG_compile_unit`` and jumps over
everything below them with ``DW_AT_sibling`` (which gcc writes on every DIE that has children
and a next sibling), parsing children only when it is absent.  It also notes which DIEs are the
element type of an array type with a constant bound (gdb resolves those typedefs) and parses
single DIEs on demand (:meth:`Reader.attributes`, :meth:`Reader.next_sibling`).
"""

from __future__ import annotations

from collections.abc import Iterator

from pycrash.dwarf.abbrev import Abbrev, AbbrevTable, skip_attributes
from pycrash.dwarf.encoding import (
    LEB_FORMS,
    U16,
    U32,
    U64,
    UNPACK,
    DW_AT_byte_size,
    DW_AT_count,
    DW_AT_declaration,
    DW_AT_name,
    DW_AT_sibling,
    DW_AT_str_offsets_base,
    DW_AT_type,
    DW_AT_upper_bound,
    DW_FORM_block,
    DW_FORM_block1,
    DW_FORM_block2,
    DW_FORM_block4,
    DW_FORM_data1,
    DW_FORM_data2,
    DW_FORM_data4,
    DW_FORM_data8,
    DW_FORM_exprloc,
    DW_FORM_flag_present,
    DW_FORM_GNU_ref_alt,
    DW_FORM_GNU_str_index,
    DW_FORM_implicit_const,
    DW_FORM_indirect,
    DW_FORM_line_strp,
    DW_FORM_ref_addr,
    DW_FORM_sdata,
    DW_FORM_string,
    DW_FORM_strp,
    DW_FORM_strx,
    DW_FORM_strx1,
    DW_FORM_strx2,
    DW_FORM_strx3,
    DW_FORM_strx4,
    DW_FORM_udata,
    DW_TAG_array_type,
    DW_TAG_subrange_type,
    DW_UT_skeleton,
    DW_UT_split_compile,
    DW_UT_split_type,
    DW_UT_type,
    form_size,
    sleb,
    uleb,
)
from pycrash.elfsections import relocated_section, section_headers

__all__ = ["DwarfError", "Reader", "Unit", "read_sections"]


class DwarfError(ValueError):
    """The file has no DWARF, or its DWARF cannot be read (one line, with the offset)."""


class Unit:
    """What reading one unit's DIEs needs: sizes, sections, string-offsets base."""

    __slots__ = ("start", "end", "offset_size", "addr_size", "version", "abbrevs",
                 "str_offsets_base")

    def __init__(self, start: int, end: int, offset_size: int, addr_size: int,
                 version: int, abbrevs: AbbrevTable) -> None:
        self.start = start
        self.end = end
        self.offset_size = offset_size
        self.addr_size = addr_size
        self.version = version
        self.abbrevs = abbrevs
        self.str_offsets_base: int | None = None


#: a type found in a unit: (kind, name form, raw name, size, DIE offset); a name of another
#: form than strp/line_strp is decoded at once and stored with form DW_FORM_string
_Found = tuple[str, int, object, "int | None", int]


class Reader:
    """One ELF file's DWARF sections and the walk over their units."""

    def __init__(self, sections: dict[str, bytes], path: str) -> None:
        self.path = path
        self.info = sections[".debug_info"]
        self.abbrev = sections.get(".debug_abbrev", b"")
        self.str = sections.get(".debug_str", b"")
        self.line_str = sections.get(".debug_line_str", b"")
        self.str_offsets = sections.get(".debug_str_offsets", b"")
        #: per unit: the types found, and the DIEs some array type has as element type
        self.units_found: list[tuple[list[_Found], set[int]]] = []
        self.unit_list: list[Unit] = []
        self._tables: dict[tuple[int, int, int, int], AbbrevTable] = {}
        self._shared: dict[tuple[int, bool, bytes, tuple[int, int, int]], Abbrev] = {}

    def _table(self, offset: int, offset_size: int, addr_size: int,
               version: int) -> AbbrevTable:
        key = (offset, offset_size, addr_size, version)
        table = self._tables.get(key)
        if table is None:
            if offset >= len(self.abbrev):
                raise DwarfError(f"{self.path}: abbreviation table offset {offset:#x} is "
                                 "past the end of .debug_abbrev")
            table = AbbrevTable(self.abbrev, offset, (offset_size, addr_size, version),
                                 self._shared)
            self._tables[key] = table
        return table

    def string(self, form: int, raw: object, unit: Unit | None = None) -> str | None:
        """The text of a name attribute's raw value."""
        if form == DW_FORM_string:
            return raw  # type: ignore[return-value]
        if not isinstance(raw, int):
            return None  # a name in a form that holds no offset (garbled)
        if form == DW_FORM_strp:
            table, offset = self.str, int(raw)  # type: ignore[call-overload]
        elif form == DW_FORM_line_strp:
            table, offset = self.line_str, int(raw)  # type: ignore[call-overload]
        elif unit is not None and form in (DW_FORM_strx, DW_FORM_strx1, DW_FORM_strx2,
                                           DW_FORM_strx3, DW_FORM_strx4,
                                           DW_FORM_GNU_str_index):
            base = unit.str_offsets_base
            if base is None:
                base = 8 if unit.offset_size == 4 else 16  # past the DWARF 5 header
            where = base + int(raw) * unit.offset_size  # type: ignore[call-overload]
            if where < 0 or where + unit.offset_size > len(self.str_offsets):
                return None
            table = self.str
            offset = (U32 if unit.offset_size == 4 else U64)(self.str_offsets, where)[0]
        else:
            return None  # DW_FORM_GNU_strp_alt: the name is in a dwz supplementary file
        end = table.find(b"\0", offset)
        if offset >= len(table) or end < 0:
            return None
        return table[offset:end].decode("utf-8", "replace")

    def _keep(self, found: list[_Found], kind: str, form: int, raw: object,
              size: int | None, die: int, unit: Unit) -> None:
        if form not in (DW_FORM_strp, DW_FORM_line_strp):
            raw = self.string(form, raw, unit)
            form = DW_FORM_string
            if raw is None:
                return
        found.append((kind, form, raw, size, die))

    def attributes(self, pos: int, abbrev: Abbrev, unit: Unit,
                    wanted: frozenset[int]) -> tuple[int, dict[int, tuple[int, object]]]:
        """Parse one DIE's attributes (slow path): (position after them, {attr: (form,
        value)}) for the ``wanted`` attributes; a string form's value is its raw offset or
        index, DW_FORM_string's the decoded text."""
        data = self.info
        found: dict[int, tuple[int, object]] = {}
        for attr, form, implicit in abbrev.specs:
            while form == DW_FORM_indirect:
                form, pos = uleb(data, pos)
            value: object = None
            size = form_size(form, unit.offset_size, unit.addr_size, unit.version)
            if size is not None:
                if form == DW_FORM_implicit_const:
                    value = implicit
                elif form == DW_FORM_flag_present:
                    value = 1
                elif attr in wanted and size in UNPACK:
                    value = UNPACK[size](data, pos)[0]
                pos += size
            elif form in LEB_FORMS:
                if form == DW_FORM_sdata:
                    value, pos = sleb(data, pos)
                else:
                    value, pos = uleb(data, pos)
            elif form == DW_FORM_string:
                end = data.index(b"\0", pos)
                if attr in wanted:
                    value = data[pos:end].decode("utf-8", "replace")
                pos = end + 1
            elif form in (DW_FORM_block, DW_FORM_exprloc):
                length, pos = uleb(data, pos)
                pos += length
            elif form == DW_FORM_block1:
                pos += 1 + data[pos]
            elif form == DW_FORM_block2:
                pos += 2 + U16(data, pos)[0]
            elif form == DW_FORM_block4:
                pos += 4 + U32(data, pos)[0]
            else:
                raise DwarfError(f"{self.path}: unknown DWARF form {form:#x} at .debug_info "
                                 f"offset {pos:#x}")
            if attr in wanted:
                found.setdefault(attr, (form, value))
        return pos, found

    def _skip_children(self, pos: int, unit: Unit) -> int:
        """Position after the children of a DIE whose children start at ``pos``."""
        data = self.info
        depth = 1
        table = unit.abbrevs
        entries = table.entries
        while depth and pos < unit.end:
            code = data[pos]
            if code < 0x80:
                pos += 1
            else:
                code, pos = uleb(data, pos)
            if code == 0:
                depth -= 1
                continue
            abbrev = entries.get(code) or table.get(code)
            if abbrev.__class__ is int:
                pos += abbrev  # type: ignore[operator]
                continue
            if abbrev is None:
                raise DwarfError(f"{self.path}: unknown abbreviation {code} at .debug_info "
                                 f"offset {pos:#x}")
            pos = self.next_sibling(pos, abbrev, unit)  # type: ignore[arg-type]
        return pos

    def next_sibling(self, pos: int, abbrev: Abbrev, unit: Unit) -> int:
        """The position of the next sibling of the DIE whose attributes start at ``pos``."""
        if abbrev.size is not None:
            if not abbrev.children:
                return pos + abbrev.size
            if abbrev.sib_at >= 0:
                target = abbrev.sib_unpack(self.info, pos + abbrev.sib_at)[0]  # type: ignore
                return self.sibling(pos, target if abbrev.sib_absolute else unit.start + target,
                                    unit)
            return self._skip_children(pos + abbrev.size, unit)
        if abbrev.program is not None:
            end, sibling = skip_attributes(self.info, pos, abbrev.program, unit.start)
            if not abbrev.children:
                return end
            if sibling is not None:
                return self.sibling(pos, sibling, unit)
            return self._skip_children(end, unit)
        end, found = self.attributes(pos, abbrev, unit, _SIBLING_ONLY)
        if not abbrev.children:
            return end
        if DW_AT_sibling in found:
            form, value = found[DW_AT_sibling]
            return self.sibling(pos, self.reference(form, value, unit, pos), unit)
        return self._skip_children(end, unit)

    def sibling(self, pos: int, target: int, unit: Unit) -> int:
        """``target``, the DW_AT_sibling of the DIE whose attributes start at ``pos``, checked:
        a sibling lies after the DIE and inside its unit (one pointing back would make the
        walk loop forever)."""
        if not pos < target <= unit.end:
            raise DwarfError(f"{self.path}: DW_AT_sibling at .debug_info offset {pos:#x} "
                             f"points to {target:#x}, outside the rest of its unit (ending "
                             f"at {unit.end:#x})")
        return target

    def reference(self, form: int, value: object, unit: Unit, pos: int) -> int:
        """The .debug_info offset a reference attribute's value points to."""
        if not isinstance(value, int):
            raise DwarfError(f"{self.path}: a reference of form {form:#x} at .debug_info "
                             f"offset {pos:#x}")
        return value if form in (DW_FORM_ref_addr, DW_FORM_GNU_ref_alt) else unit.start + value

    def units(self) -> Iterator[tuple[Unit, int]]:
        """Yield each unit with the position of its first DIE."""
        data = self.info
        pos = 0
        while pos + 11 <= len(data):
            start = pos
            length = U32(data, pos)[0]
            pos += 4
            offset_size = 4
            if length == 0xFFFFFFFF:
                length = U64(data, pos)[0]
                pos += 8
                offset_size = 8
            elif length >= 0xFFFFFFF0:
                raise DwarfError(f"{self.path}: bad unit length {length:#x} at .debug_info "
                                 f"offset {start:#x}")
            end = pos + length
            if end > len(data):
                raise DwarfError(f"{self.path}: unit at .debug_info offset {start:#x} runs "
                                 "past the end of the section")
            if length < 2:
                raise DwarfError(f"{self.path}: unit at .debug_info offset {start:#x} is "
                                 f"{length} bytes long, shorter than its header")
            version = U16(data, pos)[0]
            pos += 2
            unpack_off = U32 if offset_size == 4 else U64
            if version >= 5:
                unit_type = data[pos]
                addr_size = data[pos + 1]
                abbrev_off = unpack_off(data, pos + 2)[0]
                pos += 2 + offset_size
                if unit_type in (DW_UT_skeleton, DW_UT_split_compile):
                    pos += 8
                elif unit_type in (DW_UT_type, DW_UT_split_type):
                    pos += 8 + offset_size
            elif 2 <= version <= 4:
                abbrev_off = unpack_off(data, pos)[0]
                addr_size = data[pos + offset_size]
                pos += offset_size + 1
            else:
                pos = end  # an unknown DWARF version: its types are not listed
                continue
            if pos > end:
                raise DwarfError(f"{self.path}: unit at .debug_info offset {start:#x} is "
                                 f"{length} bytes long, shorter than its header")
            if addr_size not in (2, 4, 8):
                raise DwarfError(f"{self.path}: unit at .debug_info offset {start:#x} has "
                                 f"address size {addr_size}")
            table = self._table(abbrev_off, offset_size, addr_size, version)
            unit = Unit(start, end, offset_size, addr_size, version, table)
            self.unit_list.append(unit)
            yield unit, pos
            pos = end

    def walk(self) -> None:
        """Collect into :attr:`units_found` each named type DIE at the top level of each
        unit, and the element types of its array types."""
        for _ in self.walk_in_steps():
            pass

    def walk_in_steps(self) -> Iterator[None]:
        """:meth:`walk`, one unit per step: yields after each unit, so that a caller can
        stop between units and go on later (from another thread, too)."""
        data = self.info
        for unit, pos in self.units():
            if pos < unit.end:
                self._unit(data, unit, pos)
            yield

    def _unit(self, data: bytes, unit: Unit, pos: int) -> None:
        code, pos = uleb(data, pos)
        unit_die = unit.abbrevs.get(code) if code else None
        if unit_die is None or isinstance(unit_die, int):
            return
        pos, found = self.attributes(pos, unit_die, unit, _UNIT_ATTRS)
        base = found.get(DW_AT_str_offsets_base, (0, None))[1]
        if isinstance(base, int):
            unit.str_offsets_base = base
        if unit_die.children:
            self._top_level(pos, unit)

    def _top_level(self, pos: int, unit: Unit) -> None:
        data = self.info
        table = unit.abbrevs
        entries = table.entries
        end = unit.end
        start = unit.start
        found: list[_Found] = []
        elements: set[int] = set()
        self.units_found.append((found, elements))
        while pos < end:
            die = pos
            code = data[pos]
            if code < 0x80:
                pos += 1
            else:
                code, pos = uleb(data, pos)
            if code == 0:
                return
            abbrev = entries.get(code) or table.get(code)
            if abbrev.__class__ is int:
                pos += abbrev  # type: ignore[operator]
                continue
            if abbrev is None:
                raise DwarfError(f"{self.path}: unknown abbreviation {code} at .debug_info "
                                 f"offset {pos:#x}")
            if abbrev.size is None:
                self._slow_top_level(pos, die, abbrev, unit, found, elements)
                pos = self.next_sibling(pos, abbrev, unit)
                continue
            kind = abbrev.kind
            if kind is not None and abbrev.name_at >= 0:
                if abbrev.size_at >= 0:
                    size = (abbrev.size_const if abbrev.size_unpack is None
                            else abbrev.size_unpack(data, pos + abbrev.size_at)[0])
                else:
                    size = None
                if size is not None or not abbrev.decl or kind == "enum":
                    raw = abbrev.name_unpack(data, pos + abbrev.name_at)[0]  # type: ignore
                    form = abbrev.name_form
                    if form == DW_FORM_strp or form == DW_FORM_line_strp:
                        found.append((kind, form, raw, size, die))
                    else:
                        self._keep(found, kind, form, raw, size, die, unit)
            elif abbrev.type_at >= 0 and abbrev.children and self._sized_array(
                    pos + abbrev.size, unit):
                target = abbrev.type_unpack(data, pos + abbrev.type_at)[0]  # type: ignore
                elements.add(target if abbrev.type_absolute else start + target)
            if not abbrev.children:
                pos += abbrev.size
            elif abbrev.sib_at >= 0:
                target = abbrev.sib_unpack(data, pos + abbrev.sib_at)[0]  # type: ignore
                target = target if abbrev.sib_absolute else start + target
                if not pos < target <= end:
                    self.sibling(pos, target, unit)  # raises
                pos = target
            else:
                pos = self._skip_children(pos + abbrev.size, unit)

    def _sized_array(self, pos: int, unit: Unit) -> bool:
        """Whether the innermost dimension of an array type (whose subrange children start at
        ``pos``) has a constant bound: only then does gdb's ``create_array_type`` compute the
        array's length, resolving a typedef element type (``check_typedef``)."""
        data = self.info
        table = unit.abbrevs
        sized = False
        while pos < unit.end:
            code, pos = uleb(data, pos)
            if code == 0:
                break
            abbrev = table.get(code)
            if abbrev is None:
                raise DwarfError(f"{self.path}: unknown abbreviation {code} at .debug_info "
                                 f"offset {pos:#x}")
            if isinstance(abbrev, int):
                pos += abbrev
                continue
            if abbrev.tag == DW_TAG_subrange_type:
                _, attrs = self.attributes(pos, abbrev, unit, _BOUND_ATTRS)
                sized = any(form in _CONSTANT_FORMS for form, _ in attrs.values())
            pos = self.next_sibling(pos, abbrev, unit)
        return sized

    def _slow_top_level(self, pos: int, die: int, abbrev: Abbrev, unit: Unit,
                        found: list[_Found], elements: set[int]) -> None:
        if abbrev.tag == DW_TAG_array_type:
            after, attrs = self.attributes(pos, abbrev, unit, _ARRAY_ATTRS)
            if DW_AT_type in attrs and abbrev.children and self._sized_array(after, unit):
                form, value = attrs[DW_AT_type]
                elements.add(self.reference(form, value, unit, pos))
            return
        if abbrev.kind is None:
            return
        _, attrs = self.attributes(pos, abbrev, unit, _TYPE_ATTRS)
        if DW_AT_name not in attrs:
            return
        form, raw = attrs[DW_AT_name]
        size = attrs.get(DW_AT_byte_size, (0, None))[1]
        if size is not None or DW_AT_declaration not in attrs or abbrev.kind == "enum":
            self._keep(found, abbrev.kind, form, raw, size, die, unit)  # type: ignore


_SIBLING_ONLY = frozenset({DW_AT_sibling})
_ARRAY_ATTRS = frozenset({DW_AT_type})
_BOUND_ATTRS = frozenset({DW_AT_upper_bound, DW_AT_count})
_CONSTANT_FORMS = frozenset({DW_FORM_data1, DW_FORM_data2, DW_FORM_data4, DW_FORM_data8,
                             DW_FORM_sdata, DW_FORM_udata, DW_FORM_implicit_const})
_TYPE_ATTRS = frozenset({DW_AT_sibling, DW_AT_name, DW_AT_byte_size, DW_AT_declaration})
_UNIT_ATTRS = frozenset({DW_AT_str_offsets_base})
_SECTIONS = (".debug_info", ".debug_abbrev", ".debug_str", ".debug_line_str",
             ".debug_str_offsets")


def read_sections(path: str, names: tuple[str, ...] = _SECTIONS) -> dict[str, bytes]:
    try:
        with open(path, "rb") as f:
            headers = section_headers(f)
            sections = {}
            for header in headers:
                if header.name in names and header.name not in sections:
                    sections[header.name] = relocated_section(f, headers, header)
    except ValueError as exc:
        raise DwarfError(str(exc)) from None
    if ".debug_info" not in sections:
        raise DwarfError(f"{path}: no .debug_info section")
    return sections
