"""The named types declared at the top level of each DWARF compilation unit of an ELF file.

drgn 0.3.0 finds a type by name but cannot list them, and walking every DIE of a vmlinux in
Python (pyelftools) takes minutes.  The types crash's ``whatis -r``/``-m`` lists are gdb's
``LOC_TYPEDEF`` symbols of each CU's global and static blocks: the struct, union and enum tags,
typedefs and base types declared directly under ``DW_TAG_compile_unit``.  So this reader visits
only those top-level DIEs and jumps over everything below them with ``DW_AT_sibling`` (which gcc
writes on every DIE that has children and a next sibling), parsing children only when it is
absent.  Each abbreviation is compiled once into fixed attribute offsets when its forms all have
a fixed size, so most DIEs cost one table lookup.

Abbreviations are shared between the units whose tables repeat them byte for byte.  On the
sample 6.1 vmlinux (41 MB of .debug_info in 1,000 units) the walk takes about 2 s of CPU, the
member names of every struct and union (:meth:`TypeTable.member_type_names`) 1 s more
(``bench/type_index.py``).

DWARF 2 to 5 compile and type units are read, 32- and 64-bit, from a vmlinux or a relocatable
``.ko`` (its ``.rela.debug_info`` applied), with compressed sections decompressed by
:mod:`pycrash.elfsections`.  Only the ELF file is read here, never a dump.
"""

from __future__ import annotations

import bisect
import dataclasses
import struct
import threading
from collections.abc import Callable, Iterator

from pycrash.elfsections import relocated_section, section_headers

__all__ = ["NamedType", "DwarfError", "TypeTable", "named_types", "KINDS"]

# DWARF 5 §7.5.3 tags, and the kind crash/gdb reports for each.
DW_TAG_array_type = 0x01
DW_TAG_enumeration_type = 0x04
DW_TAG_member = 0x0D
DW_TAG_pointer_type = 0x0F
DW_TAG_structure_type = 0x13
DW_TAG_typedef = 0x16
DW_TAG_union_type = 0x17
DW_TAG_subrange_type = 0x21
DW_TAG_base_type = 0x24
KINDS = {
    DW_TAG_structure_type: "struct",
    DW_TAG_union_type: "union",
    DW_TAG_enumeration_type: "enum",
    DW_TAG_typedef: "typedef",
    DW_TAG_base_type: "base",
}

DW_AT_sibling = 0x01
DW_AT_name = 0x03
DW_AT_byte_size = 0x0B
DW_AT_upper_bound = 0x2F
DW_AT_count = 0x37
DW_AT_declaration = 0x3C
DW_AT_type = 0x49
DW_AT_str_offsets_base = 0x72

# DWARF 5 §7.5.6 forms.
DW_FORM_addr = 0x01
DW_FORM_block2 = 0x03
DW_FORM_block4 = 0x04
DW_FORM_data2 = 0x05
DW_FORM_data4 = 0x06
DW_FORM_data8 = 0x07
DW_FORM_string = 0x08
DW_FORM_block = 0x09
DW_FORM_block1 = 0x0A
DW_FORM_data1 = 0x0B
DW_FORM_flag = 0x0C
DW_FORM_sdata = 0x0D
DW_FORM_strp = 0x0E
DW_FORM_udata = 0x0F
DW_FORM_ref_addr = 0x10
DW_FORM_ref1 = 0x11
DW_FORM_ref2 = 0x12
DW_FORM_ref4 = 0x13
DW_FORM_ref8 = 0x14
DW_FORM_ref_udata = 0x15
DW_FORM_indirect = 0x16
DW_FORM_sec_offset = 0x17
DW_FORM_exprloc = 0x18
DW_FORM_flag_present = 0x19
DW_FORM_strx = 0x1A
DW_FORM_addrx = 0x1B
DW_FORM_ref_sup4 = 0x1C
DW_FORM_strp_sup = 0x1D
DW_FORM_data16 = 0x1E
DW_FORM_line_strp = 0x1F
DW_FORM_ref_sig8 = 0x20
DW_FORM_implicit_const = 0x21
DW_FORM_loclistx = 0x22
DW_FORM_rnglistx = 0x23
DW_FORM_ref_sup8 = 0x24
DW_FORM_strx1 = 0x25
DW_FORM_strx2 = 0x26
DW_FORM_strx3 = 0x27
DW_FORM_strx4 = 0x28
DW_FORM_addrx1 = 0x29
DW_FORM_addrx2 = 0x2A
DW_FORM_addrx3 = 0x2B
DW_FORM_addrx4 = 0x2C
DW_FORM_GNU_addr_index = 0x1F01
DW_FORM_GNU_str_index = 0x1F02
DW_FORM_GNU_ref_alt = 0x1F20
DW_FORM_GNU_strp_alt = 0x1F21

# DWARF 5 §7.5.1 unit types with extra header fields.
DW_UT_type = 0x02
DW_UT_skeleton = 0x04
DW_UT_split_compile = 0x05
DW_UT_split_type = 0x06

_FIXED_SIZE = {
    DW_FORM_data1: 1, DW_FORM_ref1: 1, DW_FORM_flag: 1, DW_FORM_strx1: 1, DW_FORM_addrx1: 1,
    DW_FORM_data2: 2, DW_FORM_ref2: 2, DW_FORM_strx2: 2, DW_FORM_addrx2: 2,
    DW_FORM_strx3: 3, DW_FORM_addrx3: 3,
    DW_FORM_data4: 4, DW_FORM_ref4: 4, DW_FORM_ref_sup4: 4, DW_FORM_strx4: 4,
    DW_FORM_addrx4: 4,
    DW_FORM_data8: 8, DW_FORM_ref8: 8, DW_FORM_ref_sig8: 8, DW_FORM_ref_sup8: 8,
    DW_FORM_data16: 16,
    DW_FORM_flag_present: 0, DW_FORM_implicit_const: 0,
}
# Forms whose size is the unit's offset size (4 or 8); DW_FORM_ref_addr is the address size
# in DWARF 2.
_OFFSET_SIZED = {DW_FORM_strp, DW_FORM_line_strp, DW_FORM_sec_offset, DW_FORM_strp_sup,
                 DW_FORM_ref_addr, DW_FORM_GNU_ref_alt, DW_FORM_GNU_strp_alt}
_LEB = {DW_FORM_sdata, DW_FORM_udata, DW_FORM_ref_udata, DW_FORM_strx, DW_FORM_addrx,
        DW_FORM_loclistx, DW_FORM_rnglistx, DW_FORM_GNU_addr_index, DW_FORM_GNU_str_index}
_UNSIGNED = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from


class DwarfError(ValueError):
    """The file has no DWARF, or its DWARF cannot be read (one line, with the offset)."""


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


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if byte & 0x40:
                result -= 1 << shift
            return result, pos


def _u24(data: bytes, pos: int) -> tuple[int]:
    return (int.from_bytes(data[pos:pos + 3], "little"),)


_UNPACK = {1: struct.Struct("<B").unpack_from, 2: _U16, 3: _u24, 4: _U32, 8: _U64}


class _Abbrev:
    """One abbreviation, compiled for one unit's offset and address sizes.

    When every form has a fixed size, ``size`` is the size of a DIE's attributes and the
    ``*_at`` fields the offsets of the attributes the walk reads (-1 when absent)."""

    __slots__ = ("tag", "kind", "children", "specs", "size", "decl", "name_at", "name_form",
                 "name_unpack", "size_at", "size_unpack", "size_const", "sib_at",
                 "sib_unpack", "sib_absolute", "type_at", "type_unpack", "type_absolute",
                 "step", "program")

    def __init__(self, tag: int, children: bool, specs: list[tuple[int, int, int]],
                 offset_size: int, addr_size: int, version: int) -> None:
        self.tag = tag
        self.kind = KINDS.get(tag)
        self.children = children
        self.specs = specs
        self.size: int | None = None
        self.decl = any(attr == DW_AT_declaration for attr, _, _ in specs)
        self.name_at = self.size_at = self.sib_at = -1
        self.name_form = 0
        self.name_unpack: Callable | None = None
        self.size_unpack: Callable | None = None
        self.size_const: int | None = None
        self.sib_unpack: Callable | None = None
        self.sib_absolute = False
        self.type_at = -1
        self.type_unpack: Callable | None = None
        self.type_absolute = False
        #: the attributes' size when the walk only steps over such a DIE (fixed size, no
        #: children, no name or array type to read), else None
        self.step: int | None = None
        #: for a DIE of variable size: how to step over its attributes (see _Reader._skip);
        #: None when a form is DW_FORM_indirect or unknown
        self.program: tuple[int, ...] | None = None
        pos = 0
        for attr, form, value in specs:
            size = _form_size(form, offset_size, addr_size, version)
            if size is None:
                self.program = _skip_program(specs, offset_size, addr_size, version)
                return
            if attr == DW_AT_name and self.name_at < 0:
                self.name_at, self.name_form = pos, form
                self.name_unpack = _UNPACK.get(size)
            elif attr == DW_AT_byte_size and self.size_at < 0:
                self.size_at = pos
                if form == DW_FORM_implicit_const:
                    self.size_const = value
                else:
                    self.size_unpack = _UNPACK.get(size)
            elif attr == DW_AT_sibling and self.sib_at < 0:
                self.sib_at = pos
                self.sib_unpack = _UNPACK.get(size)
                self.sib_absolute = form in (DW_FORM_ref_addr, DW_FORM_GNU_ref_alt)
            elif attr == DW_AT_type and self.type_at < 0 and tag == DW_TAG_array_type:
                self.type_at = pos
                self.type_unpack = _UNPACK.get(size)
                self.type_absolute = form in (DW_FORM_ref_addr, DW_FORM_GNU_ref_alt)
            pos += size
        self.size = pos
        if not children and self.type_at < 0 and tag != DW_TAG_subrange_type and (
                self.kind is None or self.name_at < 0):
            self.step = pos


# Steps of a skip program: n >= 0 skips n bytes; the negative codes below skip a value of a
# variable form; _SIBLING - n (_ABSOLUTE_SIBLING - n) reads an n-byte DW_AT_sibling.
_LEB_STEP, _STRING_STEP, _BLOCK_STEP, _BLOCK1_STEP, _BLOCK2_STEP, _BLOCK4_STEP = range(-1, -7, -1)
_SIBLING = -10
_ABSOLUTE_SIBLING = -20
_VARIABLE_STEPS = {
    DW_FORM_string: _STRING_STEP, DW_FORM_block: _BLOCK_STEP, DW_FORM_exprloc: _BLOCK_STEP,
    DW_FORM_block1: _BLOCK1_STEP, DW_FORM_block2: _BLOCK2_STEP, DW_FORM_block4: _BLOCK4_STEP,
}


def _skip_program(specs: list[tuple[int, int, int]], offset_size: int, addr_size: int,
                  version: int) -> tuple[int, ...] | None:
    program: list[int] = []
    for attr, form, _ in specs:
        size = _form_size(form, offset_size, addr_size, version)
        if attr == DW_AT_sibling and size in (1, 2, 4, 8):
            absolute = form in (DW_FORM_ref_addr, DW_FORM_GNU_ref_alt)
            program.append((_ABSOLUTE_SIBLING if absolute else _SIBLING) - size)
        elif size is not None:
            if program and program[-1] >= 0:
                program[-1] += size
            else:
                program.append(size)
        elif form in _LEB:
            program.append(_LEB_STEP)
        elif form in _VARIABLE_STEPS:
            program.append(_VARIABLE_STEPS[form])
        else:
            return None
    return tuple(program)


def _form_size(form: int, offset_size: int, addr_size: int, version: int) -> int | None:
    """The size of an attribute of this form, None when it varies from DIE to DIE."""
    if form in _FIXED_SIZE:
        return _FIXED_SIZE[form]
    if form == DW_FORM_addr or (form == DW_FORM_ref_addr and version == 2):
        return addr_size
    if form in _OFFSET_SIZED:
        return offset_size
    return None


class _AbbrevTable:
    """The abbreviation table at one offset of .debug_abbrev (DWARF 5 §7.5.3), parsed only as
    far as the codes asked for so far and compiled one code at a time (a unit's top-level
    DIEs use about half of its codes).

    :meth:`get` answers an int for a DIE the walk only steps over (fixed size, no children,
    not a named type: the size of its attributes), else the compiled :class:`_Abbrev`."""

    __slots__ = ("data", "pos", "raw", "entries", "compiled", "sizes", "done", "shared")

    def __init__(self, data: bytes, offset: int, sizes: tuple[int, int, int],
                 shared: dict[tuple[int, bool, bytes, tuple[int, int, int]], _Abbrev]) -> None:
        self.data = data
        self.pos = offset
        #: code -> (tag, has children, the bytes of its attribute specifications)
        self.raw: dict[int, tuple[int, bool, bytes]] = {}
        self.entries: dict[int, _Abbrev | int] = {}
        self.compiled: dict[int, _Abbrev] = {}
        self.sizes = sizes
        self.done = False
        #: compiled abbreviations of every table of the file, by content: units repeat them
        self.shared = shared

    def get(self, code: int) -> _Abbrev | int | None:
        entry = self.entries.get(code)
        if entry is not None:
            return entry
        abbrev = self.full(code)
        if abbrev is None:
            return None
        entry = self.entries[code] = abbrev.step if abbrev.step is not None else abbrev
        return entry

    def full(self, code: int) -> _Abbrev | None:
        """The compiled abbreviation of ``code``, whatever its kind."""
        abbrev = self.compiled.get(code)
        if abbrev is None:
            raw = self.raw.get(code)
            if raw is None and not self.done:
                self._parse_until(code)
                raw = self.raw.get(code)
            if raw is None:
                return None
            key = (*raw, self.sizes)
            abbrev = self.shared.get(key)  # type: ignore[arg-type]
            if abbrev is None:
                abbrev = self.shared[key] = _Abbrev(raw[0], raw[1], _specs(raw[2]),  # type: ignore
                                                    *self.sizes)
            self.compiled[code] = abbrev
        return abbrev

    def _parse_until(self, code: int) -> None:
        data = self.data
        pos = self.pos
        raw = self.raw
        while True:
            number = data[pos]
            if number < 0x80:
                pos += 1
            else:
                number, pos = _uleb(data, pos)
            if number == 0:
                self.done = True
                break
            tag = data[pos]
            if tag < 0x80:
                pos += 1
            else:
                tag, pos = _uleb(data, pos)
            children = data[pos] != 0
            pos += 1
            # Usually every attribute and form fits in one byte and no DW_FORM_implicit_const
            # value follows: the list is then the pairs before the first aligned (0, 0).
            end = data.find(b"\0\0", pos)
            chunk = data[pos:end]
            if end < 0 or (end - pos) & 1 or not chunk.isascii() or (
                    DW_FORM_implicit_const in chunk[1::2]):
                end = _specs_end(data, pos)
                chunk = data[pos:end]
            pos = end + 2
            raw[number] = (tag, children, chunk)
            if number == code:
                break
        self.pos = pos


def _specs_end(data: bytes, pos: int) -> int:
    """The position of the (0, 0) pair that ends the attribute specifications at ``pos``."""
    while True:
        start = pos
        attr = data[pos]
        form = data[pos + 1]
        if attr < 0x80 and form < 0x80:
            pos += 2
        else:
            attr, pos = _uleb(data, pos)
            form, pos = _uleb(data, pos)
        if attr == 0 and form == 0:
            return start
        if form == DW_FORM_implicit_const:
            while data[pos] & 0x80:
                pos += 1
            pos += 1


def _specs(chunk: bytes) -> list[tuple[int, int, int]]:
    """(attribute, form, implicit_const value) of each attribute specification in ``chunk``."""
    specs = []
    pos = 0
    while pos < len(chunk):
        attr, pos = _uleb(chunk, pos)
        form, pos = _uleb(chunk, pos)
        value = 0
        if form == DW_FORM_implicit_const:
            value, pos = _sleb(chunk, pos)
        specs.append((attr, form, value))
    return specs


class _Unit:
    """What reading one unit's DIEs needs: sizes, sections, string-offsets base."""

    __slots__ = ("start", "end", "offset_size", "addr_size", "version", "abbrevs",
                 "str_offsets_base")

    def __init__(self, start: int, end: int, offset_size: int, addr_size: int,
                 version: int, abbrevs: _AbbrevTable) -> None:
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


class _Reader:
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
        self.unit_list: list[_Unit] = []
        self._tables: dict[tuple[int, int, int, int], _AbbrevTable] = {}
        self._shared: dict[tuple[int, bool, bytes, tuple[int, int, int]], _Abbrev] = {}

    def _table(self, offset: int, offset_size: int, addr_size: int,
               version: int) -> _AbbrevTable:
        key = (offset, offset_size, addr_size, version)
        table = self._tables.get(key)
        if table is None:
            if offset >= len(self.abbrev):
                raise DwarfError(f"{self.path}: abbreviation table offset {offset:#x} is "
                                 "past the end of .debug_abbrev")
            table = _AbbrevTable(self.abbrev, offset, (offset_size, addr_size, version),
                                 self._shared)
            self._tables[key] = table
        return table

    def string(self, form: int, raw: object, unit: _Unit | None = None) -> str | None:
        """The text of a name attribute's raw value."""
        if form == DW_FORM_string:
            return raw  # type: ignore[return-value]
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
            if where + unit.offset_size > len(self.str_offsets):
                return None
            table = self.str
            offset = (_U32 if unit.offset_size == 4 else _U64)(self.str_offsets, where)[0]
        else:
            return None  # DW_FORM_GNU_strp_alt: the name is in a dwz supplementary file
        end = table.find(b"\0", offset)
        if offset >= len(table) or end < 0:
            return None
        return table[offset:end].decode("utf-8", "replace")

    def _keep(self, found: list[_Found], kind: str, form: int, raw: object,
              size: int | None, die: int, unit: _Unit) -> None:
        if form not in (DW_FORM_strp, DW_FORM_line_strp):
            raw = self.string(form, raw, unit)
            form = DW_FORM_string
            if raw is None:
                return
        found.append((kind, form, raw, size, die))

    def _attributes(self, pos: int, abbrev: _Abbrev, unit: _Unit,
                    wanted: frozenset[int]) -> tuple[int, dict[int, tuple[int, object]]]:
        """Parse one DIE's attributes (slow path): (position after them, {attr: (form,
        value)}) for the ``wanted`` attributes; a string form's value is its raw offset or
        index, DW_FORM_string's the decoded text."""
        data = self.info
        found: dict[int, tuple[int, object]] = {}
        for attr, form, implicit in abbrev.specs:
            while form == DW_FORM_indirect:
                form, pos = _uleb(data, pos)
            value: object = None
            size = _form_size(form, unit.offset_size, unit.addr_size, unit.version)
            if size is not None:
                if form == DW_FORM_implicit_const:
                    value = implicit
                elif form == DW_FORM_flag_present:
                    value = 1
                elif attr in wanted and size in _UNPACK:
                    value = _UNPACK[size](data, pos)[0]
                pos += size
            elif form in _LEB:
                if form == DW_FORM_sdata:
                    value, pos = _sleb(data, pos)
                else:
                    value, pos = _uleb(data, pos)
            elif form == DW_FORM_string:
                end = data.index(b"\0", pos)
                if attr in wanted:
                    value = data[pos:end].decode("utf-8", "replace")
                pos = end + 1
            elif form in (DW_FORM_block, DW_FORM_exprloc):
                length, pos = _uleb(data, pos)
                pos += length
            elif form == DW_FORM_block1:
                pos += 1 + data[pos]
            elif form == DW_FORM_block2:
                pos += 2 + _U16(data, pos)[0]
            elif form == DW_FORM_block4:
                pos += 4 + _U32(data, pos)[0]
            else:
                raise DwarfError(f"{self.path}: unknown DWARF form {form:#x} at .debug_info "
                                 f"offset {pos:#x}")
            if attr in wanted:
                found.setdefault(attr, (form, value))
        return pos, found

    def _skip_children(self, pos: int, unit: _Unit) -> int:
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
                code, pos = _uleb(data, pos)
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
            pos = self._next(pos, abbrev, unit)  # type: ignore[arg-type]
        return pos

    def _skip(self, pos: int, program: tuple[int, ...], unit: _Unit) -> tuple[int, int | None]:
        """Run a skip program: (position after the attributes, DW_AT_sibling target or
        None)."""
        data = self.info
        sibling = None
        for step in program:
            if step >= 0:
                pos += step
            elif step == _LEB_STEP:
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
            elif step == _STRING_STEP:
                pos = data.index(b"\0", pos) + 1
            elif step == _BLOCK_STEP:
                length, pos = _uleb(data, pos)
                pos += length
            elif step == _BLOCK1_STEP:
                pos += 1 + data[pos]
            elif step == _BLOCK2_STEP:
                pos += 2 + _U16(data, pos)[0]
            elif step == _BLOCK4_STEP:
                pos += 4 + _U32(data, pos)[0]
            else:
                absolute = step <= _ABSOLUTE_SIBLING
                size = (_ABSOLUTE_SIBLING if absolute else _SIBLING) - step
                value = _UNPACK[size](data, pos)[0]
                sibling = value if absolute else unit.start + value
                pos += size
        return pos, sibling

    def _next(self, pos: int, abbrev: _Abbrev, unit: _Unit) -> int:
        """The position of the next sibling of the DIE whose attributes start at ``pos``."""
        if abbrev.size is not None:
            if not abbrev.children:
                return pos + abbrev.size
            if abbrev.sib_at >= 0:
                target = abbrev.sib_unpack(self.info, pos + abbrev.sib_at)[0]  # type: ignore
                return target if abbrev.sib_absolute else unit.start + target
            return self._skip_children(pos + abbrev.size, unit)
        if abbrev.program is not None:
            end, sibling = self._skip(pos, abbrev.program, unit)
            if not abbrev.children:
                return end
            if sibling is not None:
                return sibling
            return self._skip_children(end, unit)
        end, found = self._attributes(pos, abbrev, unit, _SIBLING_ONLY)
        if not abbrev.children:
            return end
        if DW_AT_sibling in found:
            form, value = found[DW_AT_sibling]
            absolute = form in (DW_FORM_ref_addr, DW_FORM_GNU_ref_alt)
            return int(value) if absolute else unit.start + int(value)  # type: ignore
        return self._skip_children(end, unit)

    def units(self) -> Iterator[tuple[_Unit, int]]:
        """Yield each unit with the position of its first DIE."""
        data = self.info
        pos = 0
        while pos + 11 <= len(data):
            start = pos
            length = _U32(data, pos)[0]
            pos += 4
            offset_size = 4
            if length == 0xFFFFFFFF:
                length = _U64(data, pos)[0]
                pos += 8
                offset_size = 8
            elif length >= 0xFFFFFFF0:
                raise DwarfError(f"{self.path}: bad unit length {length:#x} at .debug_info "
                                 f"offset {start:#x}")
            end = pos + length
            if end > len(data):
                raise DwarfError(f"{self.path}: unit at .debug_info offset {start:#x} runs "
                                 "past the end of the section")
            version = _U16(data, pos)[0]
            pos += 2
            unpack_off = _U32 if offset_size == 4 else _U64
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
            table = self._table(abbrev_off, offset_size, addr_size, version)
            unit = _Unit(start, end, offset_size, addr_size, version, table)
            self.unit_list.append(unit)
            yield unit, pos
            pos = end

    def walk(self) -> None:
        """Collect into :attr:`units_found` each named type DIE at the top level of each
        unit, and the element types of its array types."""
        data = self.info
        for unit, pos in self.units():
            if pos >= unit.end:
                continue
            code, pos = _uleb(data, pos)
            unit_die = unit.abbrevs.get(code) if code else None
            if unit_die is None or isinstance(unit_die, int):
                continue
            pos, found = self._attributes(pos, unit_die, unit, _UNIT_ATTRS)
            if DW_AT_str_offsets_base in found:
                unit.str_offsets_base = int(found[DW_AT_str_offsets_base][1])  # type: ignore
            if unit_die.children:
                self._top_level(pos, unit)

    def _top_level(self, pos: int, unit: _Unit) -> None:
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
                code, pos = _uleb(data, pos)
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
                pos = self._next(pos, abbrev, unit)
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
                pos = target if abbrev.sib_absolute else start + target
            else:
                pos = self._skip_children(pos + abbrev.size, unit)

    def _sized_array(self, pos: int, unit: _Unit) -> bool:
        """Whether the innermost dimension of an array type (whose subrange children start at
        ``pos``) has a constant bound: only then does gdb's ``create_array_type`` compute the
        array's length, resolving a typedef element type (``check_typedef``)."""
        data = self.info
        table = unit.abbrevs
        sized = False
        while pos < unit.end:
            code, pos = _uleb(data, pos)
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
                _, attrs = self._attributes(pos, abbrev, unit, _BOUND_ATTRS)
                sized = any(form in _CONSTANT_FORMS for form, _ in attrs.values())
            pos = self._next(pos, abbrev, unit)
        return sized

    def _slow_top_level(self, pos: int, die: int, abbrev: _Abbrev, unit: _Unit,
                        found: list[_Found], elements: set[int]) -> None:
        if abbrev.tag == DW_TAG_array_type:
            after, attrs = self._attributes(pos, abbrev, unit, _ARRAY_ATTRS)
            if DW_AT_type in attrs and abbrev.children and self._sized_array(after, unit):
                form, value = attrs[DW_AT_type]
                absolute = form in (DW_FORM_ref_addr, DW_FORM_GNU_ref_alt)
                elements.add(int(value) if absolute else unit.start + int(value))  # type: ignore
            return
        if abbrev.kind is None:
            return
        _, attrs = self._attributes(pos, abbrev, unit, _TYPE_ATTRS)
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


def _read_sections(path: str, names: tuple[str, ...] = _SECTIONS) -> dict[str, bytes]:
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


class TypeTable:
    """The named top-level types of one ELF file (:attr:`types`), and on request the type
    names each struct or union holds (:meth:`member_type_names`).

    Raises (at construction):
        DwarfError: no ``.debug_info``, or DWARF that cannot be parsed.
        OSError: the file cannot be read.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        reader = _Reader(_read_sections(path), path)
        try:
            reader.walk()
        except (IndexError, struct.error) as exc:
            raise DwarfError(f"{path}: .debug_info cut short ({exc})") from None
        # gdb dedups nothing here: every CU's symbol is visited in turn; keep each distinct
        # (kind, name, size) once, at its first occurrence in .debug_info.
        keys: dict[tuple[str, int, object, int | None, bool], int] = {}
        for found, elements in reader.units_found:
            for kind, form, raw, size, die in found:
                keys.setdefault((kind, form, raw, size, kind == "typedef" and die in elements),
                                die)
        reader.units_found = []
        #: each distinct named type, in .debug_info order
        self.types: list[NamedType] = []
        for (kind, form, raw, size, resolved), die in keys.items():
            name = reader.string(form, raw)
            if name is not None:
                self.types.append(NamedType(kind, name, size, resolved, die))
        # .debug_info (most of the memory) is read again if member names are asked for
        reader.info = b""
        self._reader: _Reader | None = reader
        self._members: dict[int, frozenset[str]] | None = None
        self._lock = threading.Lock()

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
                    reader.info = _read_sections(self.path, (".debug_info",))[".debug_info"]
                    walker = _MemberNames(reader)
                    try:
                        for t in self.types:
                            if t.kind in ("struct", "union"):
                                members[t.die] = walker.names(t.die)
                    except (IndexError, struct.error) as exc:
                        raise DwarfError(f"{self.path}: .debug_info cut short ({exc})") from None
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

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader
        self.info = reader.info
        self.units = reader.unit_list
        self.starts = [u.start for u in self.units]
        self.memo: dict[int, frozenset[str]] = {}

    def _die(self, offset: int) -> tuple[_Abbrev, int, _Unit]:
        """(abbreviation, position of its attributes, unit) of the DIE at ``offset``."""
        unit = self.units[bisect.bisect_right(self.starts, offset) - 1]
        code, pos = _uleb(self.info, offset)
        abbrev = unit.abbrevs.full(code)
        if abbrev is None:
            raise DwarfError(f"{self.reader.path}: unknown abbreviation {code} at "
                             f".debug_info offset {offset:#x}")
        return abbrev, pos, unit

    def _attrs(self, offset: int) -> tuple[_Abbrev, _Unit, int, dict[int, tuple[int, object]]]:
        abbrev, pos, unit = self._die(offset)
        after, attrs = self.reader._attributes(pos, abbrev, unit, _MEMBER_ATTRS)
        return abbrev, unit, after, attrs

    @staticmethod
    def _ref(attrs: dict[int, tuple[int, object]], unit: _Unit) -> int | None:
        if DW_AT_type not in attrs:
            return None
        form, value = attrs[DW_AT_type]
        if form in (DW_FORM_ref_addr, DW_FORM_GNU_ref_alt):
            return int(value)  # type: ignore[call-overload]
        return unit.start + int(value)  # type: ignore[call-overload]

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

    def _children(self, offset: int) -> Iterator[tuple[int, _Abbrev]]:
        """(offset, abbreviation) of each child of the DIE at ``offset``."""
        abbrev, unit, pos, _ = self._attrs(offset)
        if not abbrev.children:
            return
        data = self.info
        while pos < unit.end:
            child = pos
            code, pos = _uleb(data, pos)
            if code == 0:
                return
            child_abbrev = unit.abbrevs.full(code)
            if child_abbrev is None:
                raise DwarfError(f"{self.reader.path}: unknown abbreviation {code} at "
                                 f".debug_info offset {child:#x}")
            yield child, child_abbrev
            pos = self.reader._next(pos, child_abbrev, unit)

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
