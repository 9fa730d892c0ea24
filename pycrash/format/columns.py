"""crash's column helpers: centred headers (``mkstring()``) and time spans.

Several commands lay out columns the way crash's ``mkstring(buf, width, CENTER|LJUST)`` and
``translate_nanoseconds()`` do; they share these.
"""

from __future__ import annotations

__all__ = ["center", "translate_nanoseconds"]


def center(text: str, width: int, right: bool = False) -> str:
    """crash's ``mkstring(text, width, CENTER|LJUST)`` (odd padding goes right) or, with
    ``right``, ``CENTER|RJUST`` (odd padding goes left); text at least ``width`` long is
    returned as it is."""
    extra = width - len(text)
    if extra <= 0:
        return text
    left = extra // 2 + (extra % 2 if right else 0)
    return " " * left + text + " " * (extra - left)


def translate_nanoseconds(value: int) -> str:
    """crash's ``translate_nanoseconds()``: ``D HH:MM:SS.mmm``."""
    value //= 1_000_000
    ms = value % 1000
    value //= 1000
    secs, value = value % 60, value // 60
    mins, value = value % 60, value // 60
    hours, days = value % 24, value // 24
    return f"{days} {hours:02d}:{mins:02d}:{secs:02d}.{ms:03d}"
