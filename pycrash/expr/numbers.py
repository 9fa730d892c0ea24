"""Numbers and CPU lists on crash command lines (``htol``, ``stol``, ``make_cpumask``).

crash reads an address argument as hexadecimal whether or not it has ``0x``; a count is
decimal when it can be, else hexadecimal; a ``:cpuspec`` is ``""`` (the current task's CPU),
``a``/``all``, or a list of CPUs and ranges (``1,3,5-7``).
"""

from __future__ import annotations

from pycrash.api import CommandError

__all__ = ["cpus_of_spec", "is_number", "parse_count", "parse_hex_address"]

_HEX = frozenset("0123456789abcdefABCDEF")


def is_number(text: str) -> bool:
    """crash's IS_A_NUMBER: decimal digits, or hexadecimal digits with an optional ``0x``."""
    body = text[2:] if text[:2] in ("0x", "0X") else text
    return bool(body) and all(c in _HEX for c in body)


def parse_hex_address(text: str) -> int:
    """crash's ``htol``: hexadecimal with or without ``0x``, at most 16 digits."""
    body = text[2:] if text[:2] in ("0x", "0X") else text
    if not body or not all(c in _HEX for c in body):
        raise CommandError(f"invalid address: {text}")
    if len(body) > 16:
        raise CommandError(f'input string too large: "{body}" ({len(body)} vs 16)')
    return int(body, 16)


def parse_count(text: str) -> int:
    """crash's ``stol``: decimal if every character is a digit, else hexadecimal."""
    negative = text.startswith("-")
    body = text[1:] if negative else text
    if body.isdigit():
        value = int(body)
    elif body[:2] in ("0x", "0X") and body[2:] and all(c in _HEX for c in body[2:]):
        value = int(body[2:], 16)
    elif body and all(c in _HEX for c in body):
        value = int(body, 16)
    else:
        raise CommandError(f"invalid count: {text}")
    return -value if negative else value


def cpus_of_spec(spec: str, ncpus: int, current: int | None) -> list[int]:
    """The CPUs a ``:cpuspec`` names, in order."""
    spec = spec.strip()
    if spec == "":
        return [current or 0]
    if spec in ("a", "all"):
        return list(range(ncpus))
    cpus: set[int] = set()
    for part in spec.split(","):
        low, dash, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise CommandError(f"invalid cpu specification: {spec}") from None
        if first > last or last >= ncpus:
            raise CommandError(f"invalid cpu specification: {spec}")
        cpus.update(range(first, last + 1))
    return sorted(cpus)
