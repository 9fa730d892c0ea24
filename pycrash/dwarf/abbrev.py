"""Abbreviation tables (DWARF 5 §7.5.3), compiled for a fast walk over DIEs.

An abbreviation whose forms all have a fixed size becomes fixed offsets of the attributes the
walk reads; one with variable-size forms becomes a *skip program* (:func:`skip_attributes`).
Tables are parsed only as far as the codes asked for, and compiled abbreviations are shared
between all the tables of a file that repeat them byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable

from pycrash.dwarf.encoding import (
    KINDS,
    LEB_FORMS,
    U16,
    U32,
    UNPACK,
    DW_AT_byte_size,
    DW_AT_declaration,
    DW_AT_name,
    DW_AT_sibling,
    DW_AT_type,
    DW_FORM_block,
    DW_FORM_block1,
    DW_FORM_block2,
    DW_FORM_block4,
    DW_FORM_exprloc,
    DW_FORM_GNU_ref_alt,
    DW_FORM_implicit_const,
    DW_FORM_ref_addr,
    DW_FORM_string,
    DW_TAG_array_type,
    DW_TAG_subrange_type,
    form_size,
    skip_leb,
    sleb,
    uleb,
)

__all__ = ["Abbrev", "AbbrevTable", "skip_attributes"]


class Abbrev:
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
        #: for a DIE of variable size: how to step over its attributes (see Reader._skip);
        #: None when a form is DW_FORM_indirect or unknown
        self.program: tuple[int, ...] | None = None
        pos = 0
        for attr, form, value in specs:
            size = form_size(form, offset_size, addr_size, version)
            if size is None or (size not in UNPACK and attr in _READ_ATTRIBUTES and not (
                    attr == DW_AT_byte_size and form == DW_FORM_implicit_const)):
                # variable size, or an attribute the walk reads in a form no number fits
                # (garbled: a 16-byte DW_AT_name): the slow path parses it
                self.program = _skip_program(specs, offset_size, addr_size, version)
                return
            if attr == DW_AT_name and self.name_at < 0:
                self.name_at, self.name_form = pos, form
                self.name_unpack = UNPACK.get(size)
            elif attr == DW_AT_byte_size and self.size_at < 0:
                self.size_at = pos
                if form == DW_FORM_implicit_const:
                    self.size_const = value
                else:
                    self.size_unpack = UNPACK.get(size)
            elif attr == DW_AT_sibling and self.sib_at < 0:
                self.sib_at = pos
                self.sib_unpack = UNPACK.get(size)
                self.sib_absolute = form in (DW_FORM_ref_addr, DW_FORM_GNU_ref_alt)
            elif attr == DW_AT_type and self.type_at < 0 and tag == DW_TAG_array_type:
                self.type_at = pos
                self.type_unpack = UNPACK.get(size)
                self.type_absolute = form in (DW_FORM_ref_addr, DW_FORM_GNU_ref_alt)
            pos += size
        self.size = pos
        if not children and self.type_at < 0 and tag != DW_TAG_subrange_type and (
                self.kind is None or self.name_at < 0):
            self.step = pos


_READ_ATTRIBUTES = frozenset({DW_AT_name, DW_AT_byte_size, DW_AT_sibling, DW_AT_type})

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
        size = form_size(form, offset_size, addr_size, version)
        if attr == DW_AT_sibling and size in (1, 2, 4, 8):
            absolute = form in (DW_FORM_ref_addr, DW_FORM_GNU_ref_alt)
            program.append((_ABSOLUTE_SIBLING if absolute else _SIBLING) - size)
        elif size is not None:
            if program and program[-1] >= 0:
                program[-1] += size
            else:
                program.append(size)
        elif form in LEB_FORMS:
            program.append(_LEB_STEP)
        elif form in _VARIABLE_STEPS:
            program.append(_VARIABLE_STEPS[form])
        else:
            return None
    return tuple(program)


def skip_attributes(data: bytes, pos: int, program: tuple[int, ...],
                    unit_start: int) -> tuple[int, int | None]:
    """Run an abbreviation's skip program over the DIE attributes at ``pos``: (position after
    them, DW_AT_sibling target or None)."""
    sibling = None
    for step in program:
        if step >= 0:
            pos += step
        elif step == _LEB_STEP:
            pos = skip_leb(data, pos)
        elif step == _STRING_STEP:
            pos = data.index(b"\0", pos) + 1
        elif step == _BLOCK_STEP:
            length, pos = uleb(data, pos)
            pos += length
        elif step == _BLOCK1_STEP:
            pos += 1 + data[pos]
        elif step == _BLOCK2_STEP:
            pos += 2 + U16(data, pos)[0]
        elif step == _BLOCK4_STEP:
            pos += 4 + U32(data, pos)[0]
        else:
            absolute = step <= _ABSOLUTE_SIBLING
            size = (_ABSOLUTE_SIBLING if absolute else _SIBLING) - step
            value = UNPACK[size](data, pos)[0]
            sibling = value if absolute else unit_start + value
            pos += size
    return pos, sibling


class AbbrevTable:
    """The abbreviation table at one offset of .debug_abbrev (DWARF 5 §7.5.3), parsed only as
    far as the codes asked for so far and compiled one code at a time (a unit's top-level
    DIEs use about half of its codes).

    :meth:`get` answers an int for a DIE the walk only steps over (fixed size, no children,
    not a named type: the size of its attributes), else the compiled :class:`Abbrev`."""

    __slots__ = ("data", "pos", "raw", "entries", "compiled", "sizes", "done", "shared")

    def __init__(self, data: bytes, offset: int, sizes: tuple[int, int, int],
                 shared: dict[tuple[int, bool, bytes, tuple[int, int, int]], Abbrev]) -> None:
        self.data = data
        self.pos = offset
        #: code -> (tag, has children, the bytes of its attribute specifications)
        self.raw: dict[int, tuple[int, bool, bytes]] = {}
        self.entries: dict[int, Abbrev | int] = {}
        self.compiled: dict[int, Abbrev] = {}
        self.sizes = sizes
        self.done = False
        #: compiled abbreviations of every table of the file, by content: units repeat them
        self.shared = shared

    def get(self, code: int) -> Abbrev | int | None:
        entry = self.entries.get(code)
        if entry is not None:
            return entry
        abbrev = self.full(code)
        if abbrev is None:
            return None
        entry = self.entries[code] = abbrev.step if abbrev.step is not None else abbrev
        return entry

    def full(self, code: int) -> Abbrev | None:
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
                abbrev = self.shared[key] = Abbrev(raw[0], raw[1], _specs(raw[2]),  # type: ignore
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
                number, pos = uleb(data, pos)
            if number == 0:
                self.done = True
                break
            tag = data[pos]
            if tag < 0x80:
                pos += 1
            else:
                tag, pos = uleb(data, pos)
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
            attr, pos = uleb(data, pos)
            form, pos = uleb(data, pos)
        if attr == 0 and form == 0:
            return start
        if form == DW_FORM_implicit_const:
            pos = skip_leb(data, pos)


def _specs(chunk: bytes) -> list[tuple[int, int, int]]:
    """(attribute, form, implicit_const value) of each attribute specification in ``chunk``."""
    specs = []
    pos = 0
    while pos < len(chunk):
        attr, pos = uleb(chunk, pos)
        form, pos = uleb(chunk, pos)
        value = 0
        if form == DW_FORM_implicit_const:
            value, pos = sleb(chunk, pos)
        specs.append((attr, form, value))
    return specs
