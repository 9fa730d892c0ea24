"""DWARF numbers (DWARF 5 §7: tags, attributes, forms, unit types) and how values are encoded:
LEB128, little-endian integers of 1 to 8 bytes, the size of each attribute form.

Only what :mod:`pycrash.dwarf` reads is named here.
"""

from __future__ import annotations

import struct

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

FIXED_SIZE = {
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
OFFSET_SIZED = {DW_FORM_strp, DW_FORM_line_strp, DW_FORM_sec_offset, DW_FORM_strp_sup,
                 DW_FORM_ref_addr, DW_FORM_GNU_ref_alt, DW_FORM_GNU_strp_alt}
LEB_FORMS = {DW_FORM_sdata, DW_FORM_udata, DW_FORM_ref_udata, DW_FORM_strx, DW_FORM_addrx,
             DW_FORM_loclistx, DW_FORM_rnglistx, DW_FORM_GNU_addr_index, DW_FORM_GNU_str_index}
U16 = struct.Struct("<H").unpack_from
U32 = struct.Struct("<I").unpack_from
U64 = struct.Struct("<Q").unpack_from


class LebTooLong(ValueError):
    """A LEB128 number longer than any DWARF value (garbled data: a run of bytes with the
    continuation bit set); the walk reports it as a DwarfError with the file's name."""

    def __init__(self, pos: int) -> None:
        self.pos = pos
        super().__init__(f"LEB128 number longer than {LEB_MAX_BYTES} bytes at offset {pos:#x}")


#: DWARF's widest values are 128 bits (19 LEB128 bytes): a longer number is garbled, and
#: decoding a run of megabytes of continuation bytes would take quadratic time
LEB_MAX_BYTES = 20
_LEB_MAX_SHIFT = 7 * LEB_MAX_BYTES


def uleb(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned LEB128 number at ``pos``, and the position after it."""
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= _LEB_MAX_SHIFT:
            raise LebTooLong(pos - LEB_MAX_BYTES)


def sleb(data: bytes, pos: int) -> tuple[int, int]:
    """The signed LEB128 number at ``pos``, and the position after it."""
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
        if shift >= _LEB_MAX_SHIFT:
            raise LebTooLong(pos - LEB_MAX_BYTES)


def skip_leb(data: bytes, pos: int) -> int:
    """The position after the LEB128 number at ``pos`` (its value unread)."""
    start = pos
    while data[pos] & 0x80:
        pos += 1
    if pos - start >= LEB_MAX_BYTES:
        raise LebTooLong(start)
    return pos + 1


def u24(data: bytes, pos: int) -> tuple[int]:
    """A 3-byte little-endian number (DW_FORM_strx3), shaped like ``unpack_from``'s result."""
    return (int.from_bytes(data[pos:pos + 3], "little"),)


UNPACK = {1: struct.Struct("<B").unpack_from, 2: U16, 3: u24, 4: U32, 8: U64}


def form_size(form: int, offset_size: int, addr_size: int, version: int) -> int | None:
    """The size of an attribute of this form, None when it varies from DIE to DIE."""
    if form in FIXED_SIZE:
        return FIXED_SIZE[form]
    if form == DW_FORM_addr or (form == DW_FORM_ref_addr and version == 2):
        return addr_size
    if form in OFFSET_SIZED:
        return offset_size
    return None
