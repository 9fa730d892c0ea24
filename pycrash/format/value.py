"""Values laid out exactly as crash's embedded gdb 10 prints them (``set print pretty on``).

crash prints data by asking gdb to ``print``/``output`` an expression; its settings are gdb's
defaults plus pretty structs, ``print elements 256`` and no ``<repeats N times>`` folding.
This module reproduces that text from the bytes of a value and its drgn type:

* structs/unions: ``{`` then one ``name = value`` per line at ``2 + 2*depth`` spaces, members
  separated by ``,``, closing ``}`` at ``2*depth``; anonymous members print without ``name =``;
* arrays: ``{a, b, c}`` on one line (at most 256 elements, then ``...``); char arrays as strings;
* pointers: ``0x...`` plus `` <symbol+off>`` when the address is inside a kernel symbol, plus the
  string for ``char *``; function pointers the same way;
* ``char``-sized integers: ``65 'A'``; ``_Bool``: ``true``/``false``; enums by enumerator name.

``fmt`` is gdb's ``/FMT`` letter (``p/x``); ``output_format`` is what ``set radix 16`` (crash's
``-x``) sets: it only changes how integers, chars and bools print, not strings or pointers.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable

import drgn
from drgn import TypeKind

from pycrash.format.cstring import PRINT_MAX, quote_char, quote_string

__all__ = ["PrintOptions", "ValuePrinter", "format_scalar"]


@dataclasses.dataclass
class PrintOptions:
    """gdb print settings that crash changes."""

    fmt: str | None = None  # "/x" style format letter: x d u o t c a z
    output_format: str | None = None  # "x" under radix 16 (crash -x), None under radix 10
    print_max: int = PRINT_MAX


def _strip(type_: drgn.Type) -> drgn.Type:
    while type_.kind == TypeKind.TYPEDEF:
        type_ = type_.type
    return type_


def _is_textual(type_: drgn.Type) -> bool:
    """gdb's c_textual_element_type without a format: one-byte integer types are characters."""
    real = _strip(type_)
    return real.kind == TypeKind.INT and real.size == 1


def format_scalar(value: int, size: int, signed: bool, fmt: str) -> str:
    """gdb's print_scalar_formatted for an integer of ``size`` bytes."""
    bits = size * 8
    mask = (1 << bits) - 1
    unsigned = value & mask
    if fmt == "x":
        return f"0x{unsigned:x}"
    if fmt == "z":
        return f"0x{unsigned:0{size * 2}x}"
    if fmt == "o":
        return f"0{unsigned:o}" if unsigned else "0"
    if fmt == "t":
        return f"{unsigned:b}"
    if fmt == "d":
        return str(unsigned - (1 << bits) if unsigned >> (bits - 1) else unsigned)
    if fmt == "u":
        return str(unsigned)
    if fmt == "c":
        return f"{unsigned & 0xFF if not signed else value} {quote_char(unsigned)}"
    if fmt == "a":
        return f"0x{unsigned:x}"
    return str(value if signed else unsigned)


class ValuePrinter:
    """Formats values of one drgn Program's types.

    ``symbolize(address)`` returns ``"name"`` or ``"name+offset"`` for a kernel address inside
    a symbol (or None); ``read(address, size)`` reads target memory (for ``char *`` strings)
    and raises on a fault.
    """

    def __init__(
        self,
        options: PrintOptions,
        symbolize: Callable[[int], str | None],
        read: Callable[[int, int], bytes],
    ) -> None:
        self.options = options
        self.symbolize = symbolize
        self.read = read

    # -- entry point -------------------------------------------------------------------------

    def format(self, type_: drgn.Type, data: bytes, address: int | None = None,
               recurse: int = 0) -> str:
        """The text of the value of ``type_`` held in ``data`` (at ``address`` in the target)."""
        return self._value(type_, data, 0, None, address, recurse)

    # -- dispatch ----------------------------------------------------------------------------

    def _value(self, type_: drgn.Type, data: bytes, bit_offset: int, bit_size: int | None,
               address: int | None, recurse: int) -> str:
        real = _strip(type_)
        kind = real.kind
        if kind in (TypeKind.STRUCT, TypeKind.UNION, TypeKind.CLASS):
            return self._struct(real, data, bit_offset, address, recurse)
        if kind == TypeKind.ARRAY:
            return self._array(type_, real, data, bit_offset, address, recurse)
        if kind == TypeKind.POINTER:
            return self._pointer(real, self._int(data, bit_offset, 8, None, False))
        if kind == TypeKind.INT:
            value = self._int(data, bit_offset, real.size, bit_size, real.is_signed)
            return self._integer(real, value, bit_size)
        if kind == TypeKind.BOOL:
            value = self._int(data, bit_offset, real.size, bit_size, False)
            fmt = self.options.fmt or self.options.output_format
            if fmt:
                return format_scalar(value, real.size, False, fmt)
            return {0: "false", 1: "true"}.get(value, str(value))
        if kind == TypeKind.ENUM:
            compatible = real.type
            signed = bool(compatible is not None and compatible.is_signed)
            size = compatible.size if compatible is not None else 4
            value = self._int(data, bit_offset, size, bit_size, signed)
            if self.options.fmt:
                return format_scalar(value, size, signed, self.options.fmt)
            return _enum_text(real, value)
        if kind == TypeKind.FLOAT:
            start = bit_offset // 8
            raw = data[start : start + real.size]
            if real.size not in (4, 8):
                return "<invalid float value>"
            number = struct.unpack("<d" if real.size == 8 else "<f", raw)[0]
            # gdb prints floats with %.9g and doubles with %.17g
            return f"{number:.17g}" if real.size == 8 else f"{number:.9g}"
        if kind == TypeKind.FUNCTION:
            text = f"{{{_type_text(type_)}}} 0x{address or 0:x}"
            sym = self.symbolize(address) if address else None
            return text + (f" <{sym}>" if sym else "")
        return "void"

    # -- scalars -----------------------------------------------------------------------------

    @staticmethod
    def _int(data: bytes, bit_offset: int, size: int, bit_size: int | None,
             signed: bool) -> int:
        if bit_size is None and bit_offset % 8 == 0:
            start = bit_offset // 8
            return int.from_bytes(data[start : start + size], "little", signed=signed)
        width = bit_size if bit_size is not None else size * 8
        start = bit_offset // 8
        end = (bit_offset + width + 7) // 8
        chunk = int.from_bytes(data[start:end], "little")
        value = (chunk >> (bit_offset % 8)) & ((1 << width) - 1)
        if signed and value >> (width - 1):
            value -= 1 << width
        return value

    def _integer(self, real: drgn.Type, value: int, bit_size: int | None) -> str:
        fmt = self.options.fmt or self.options.output_format
        size = real.size
        if fmt:
            if bit_size is not None and fmt in ("x", "z", "o", "t", "d", "u"):
                # gdb formats a bitfield as a value of its own width.
                return _format_bits(value, bit_size, fmt)
            return format_scalar(value, size, real.is_signed, fmt)
        text = str(value)
        if size == 1:
            text += " " + quote_char(value)
        return text

    def _pointer(self, real: drgn.Type, value: int) -> str:
        fmt = self.options.fmt
        if fmt and fmt != "a" and fmt != "s":
            return format_scalar(value, 8, False, fmt)
        target = _strip(real.type)
        text = f"0x{value:x}"
        sym = self.symbolize(value) if value else None
        if sym:
            text += f" <{sym}>"
        if target.kind != TypeKind.FUNCTION and _is_textual(real.type) and value:
            text += " " + self._target_string(value)
        return text

    def _target_string(self, address: int) -> str:
        """gdb's val_print_string: up to 256 chars from ``address`` up to a NUL."""
        limit = self.options.print_max
        data = b""
        error = None
        # Read page by page so a string near the end of a mapping still prints.
        while len(data) < limit + 1:
            here = address + len(data)
            chunk = min(limit + 1 - len(data), 4096 - (here & 4095))
            try:
                data += self.read(here, chunk)
            except Exception:  # noqa: BLE001 - any fault ends the string
                error = here
                break
            if 0 in data:
                break
        nul = data.find(0)
        if nul >= 0 and nul <= limit:
            return quote_string(data[:nul], terminated=False)
        if error is not None and len(data) <= limit:
            text = quote_string(data, terminated=False) if data else ""
            return text + f"<error: Cannot access memory at address 0x{error:x}>"
        return quote_string(data[:limit], terminated=False, force_ellipses=True)

    # -- aggregates --------------------------------------------------------------------------

    def _struct(self, real: drgn.Type, data: bytes, bit_offset: int, address: int | None,
                recurse: int) -> str:
        members = real.members or ()
        if not members:
            return "{<No data fields>}"
        out = ["{"]
        first = True
        for member in members:
            if not first:
                out.append(",")
            first = False
            out.append("\n" + " " * (2 + 2 * recurse))
            if member.name:
                out.append(member.name + " = ")
            child_offset = bit_offset + member.bit_offset
            child_address = None if address is None else address + member.bit_offset // 8
            out.append(
                self._value(member.type, data, child_offset, member.bit_field_size,
                            child_address, recurse + 1)
            )
        out.append("\n" + " " * (2 * recurse) + "}")
        return "".join(out)

    def _array(self, type_: drgn.Type, real: drgn.Type, data: bytes, bit_offset: int,
               address: int | None, recurse: int) -> str:
        element = real.type
        element_size = drgn.sizeof(element) if _strip(element).kind != TypeKind.FUNCTION else 0
        length = real.length
        if not length or not element_size:
            # gdb prints an array of unknown or zero length like a pointer to its first element.
            value = address or 0
            text = f"0x{value:x}"
            sym = self.symbolize(value) if value else None
            if sym:
                text += f" <{sym}>"
            if _is_textual(element) and not self.options.fmt and value:
                text += " " + self._target_string(value)
            return text
        start = bit_offset // 8
        if _is_textual(element) and not self.options.fmt:
            return quote_string(data[start : start + length])
        parts = []
        limit = min(length, self.options.print_max)
        for i in range(limit):
            child_address = None if address is None else address + i * element_size
            parts.append(
                self._value(element, data, bit_offset + i * element_size * 8, None,
                            child_address, recurse + 1)
            )
        text = "{" + ", ".join(parts)
        if limit < length:
            text += "..."
        return text + "}"


def _format_bits(value: int, bits: int, fmt: str) -> str:
    unsigned = value & ((1 << bits) - 1)
    if fmt in ("x", "z"):
        return f"0x{unsigned:x}"
    if fmt == "o":
        return f"0{unsigned:o}" if unsigned else "0"
    if fmt == "t":
        return f"{unsigned:b}"
    if fmt == "d":
        return str(unsigned - (1 << bits) if unsigned >> (bits - 1) else unsigned)
    return str(unsigned)


def _flag_enum(real: drgn.Type) -> bool:
    """gdb 10 treats an enum as a set of flags when its values are distinct single bits."""
    mask = 0
    for enumerator in real.enumerators or ():
        value = enumerator.value
        if value < 0 or bin(value).count("1") > 1 or mask & value:
            return False
        mask |= value
    return True


def _enum_text(real: drgn.Type, value: int) -> str:
    enumerators = real.enumerators or ()
    for enumerator in enumerators:
        if enumerator.value == value:
            return enumerator.name
    if _flag_enum(real) and value >= 0:
        names = []
        rest = value
        for enumerator in enumerators:
            if enumerator.value and rest & enumerator.value:
                names.append(enumerator.name)
                rest &= ~enumerator.value
        if rest:
            names.append(f"unknown: 0x{rest:x}")
        if not names:
            return "0"
        return "(" + " | ".join(names) + ")"
    return str(value)


def _type_text(type_: drgn.Type) -> str:
    from pycrash.format.ctype import type_name

    return type_name(type_)
