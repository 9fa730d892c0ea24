"""``ascii``: show the characters packed in a hexadecimal value, or the ASCII chart.

The bytes are shown in memory order (least significant first), as a little-endian kernel
stores them; control characters print as ``<NUL>``, ``<LF>``..., bytes above 0x7f as
``<xx>`` (crash's ``tools.c:cmd_ascii``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from pycrash.commands.eval import parse_hex

from pycrash.api import Arg, Command, CommandContext, register

CHART = """
      0    1   2   3   4   5   6   7
    +-------------------------------
  0 | NUL DLE  SP  0   @   P   '   p
  1 | SOH DC1  !   1   A   Q   a   q
  2 | STX DC2  "   2   B   R   b   r
  3 | ETX DC3  #   3   C   S   c   s
  4 | EOT DC4  $   4   D   T   d   t
  5 | ENQ NAK  %   5   E   U   e   u
  6 | ACK SYN  &   6   F   V   f   v
  7 | BEL ETB  `   7   G   W   g   w
  8 |  BS CAN  (   8   H   X   h   x
  9 |  HT  EM  )   9   I   Y   i   y
  A |  LF SUB  *   :   J   Z   j   z
  B |  VT ESC  +   ;   K   [   k   {
  C |  FF  FS  ,   <   L   \\   l   |
  D |  CR  GS  _   =   M   ]   m   }
  E |  SO  RS  .   >   N   ^   n   ~
  F |  SI  US  /   ?   O   -   o  DEL

"""

CONTROL_NAMES = (
    "NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI "
    "DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US"
).split()


def byte_text(byte: int) -> str:
    """One byte as crash's ascii shows it."""
    if 0x20 <= byte < 0x7F:
        return chr(byte)
    if byte > 0x7F:
        return f"<{byte:02x}>"
    if byte == 0x7F:
        return "<DEL>"
    return f"<{CONTROL_NAMES[byte]}>"


@dataclass
class AsciiValue:
    """A value and the characters of its bytes, least significant byte first."""

    value: int
    width: int  # hex digits shown: 16 for a long
    text: str


def ascii_value(word: str) -> AsciiValue:
    """Decode one ``ascii`` argument (hexadecimal, optional 0x)."""
    digits = word[2:] if word[:2] in ("0x", "0X") else word
    value = parse_hex(digits)
    # crash shows a long's 8 bytes; more than 16 digits would be a long long (same on 64-bit).
    return AsciiValue(value, 16, "".join(byte_text(value >> (8 * i) & 0xFF) for i in range(8)))


@register
class Ascii(Command):
    name = "ascii"
    summary = "translate a hexadecimal string to ASCII"
    description = (
        "Translates 32-bit or 64-bit hexadecimal values to ASCII. With no argument, shows an\n"
        "ASCII chart."
    )
    arguments = (Arg("value", nargs="*", help="hexadecimal value"),)
    needs_debuginfo = False
    json = False

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[AsciiValue] | None:
        if not args.value:
            return None
        return [ascii_value(word) for word in args.value]

    def render(self, ctx: CommandContext, data: list[AsciiValue] | None) -> None:
        if data is None:
            ctx.out.write(CHART)
            return
        for item in data:
            ctx.out.write(f"{item.value:0{item.width}x}: {item.text}\n")
