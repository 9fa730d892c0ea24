"""Characters and strings quoted the way gdb 10 prints them (C language, ``LANG=C``).

crash runs gdb with ``repeat_count_threshold`` set to its maximum, so runs of equal characters
are never folded into ``<repeats N times>``; it caps ``print elements`` at 256.
"""

from __future__ import annotations

__all__ = ["PRINT_MAX", "quote_char", "quote_string"]

PRINT_MAX = 256  # crash sets gdb's "print elements" to 256

# gdb's print_wchar: these control characters get their C escape letter.
_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


def _emit(byte: int, quoter: str) -> str:
    if byte in _ESCAPES:
        return _ESCAPES[byte]
    if 0x20 <= byte < 0x7F:
        ch = chr(byte)
        if ch == "\\" or ch == quoter:
            return "\\" + ch
        return ch
    return f"\\{byte:03o}"


def quote_char(byte: int) -> str:
    """A one-byte character in single quotes: ``'A'``, ``'\\000'``, ``'\\n'``."""
    return "'" + _emit(byte & 0xFF, "'") + "'"


def quote_string(data: bytes, *, force_ellipses: bool = False, terminated: bool = True,
                 print_max: int = PRINT_MAX) -> str:
    """gdb's generic_printstr for a C char array's bytes.

    One trailing NUL is dropped (C's terminator) unless ``force_ellipses``; characters are
    consumed a run of equal bytes at a time until ``print_max`` is reached, and ``...`` follows
    when the string was not consumed to its end.
    """
    length = len(data)
    if terminated and not force_ellipses and length > 0 and data[-1] == 0:
        length -= 1
    if length == 0:
        return '""'
    out = []
    printed = 0
    i = 0
    while printed < print_max and i < length:
        j = i + 1
        while j < length and data[j] == data[i]:
            j += 1
        out.append(_emit(data[i], '"') * (j - i))
        printed += j - i
        i = j
    # gdb reads one character past each run, so it knows the string ended when the last
    # run it took was the final one, even if that run took it past print_max.
    finished = i >= length
    text = '"' + "".join(out) + '"'
    if force_ellipses or not finished:
        text += "..."
    return text
