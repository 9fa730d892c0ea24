"""``net``: network devices, as crash 8.0.6's net.c ``cmd_net`` finds them.

The sample kernels are built without networking: crash's ``show_net_devices()`` then finds
none of ``dev_base_head``, ``init_net`` or ``dev_base`` and says so; pycrash does the same.
Listing devices of a kernel with networking, sockets (-s/-S) and the ARP cache (-a) are not
implemented yet and are refused with one line.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from pycrash.api import Arg, Command, CommandContext, CommandError, register


@register
class Net(Command):
    name = "net"
    summary = "network command"
    synopsis = "[[-s | -S] [-xd] [-R ref] [pid | task]] [-a] [ -n [pid | task]] [-N addr]"
    description = """\
  Displays various network related data.

  If no arguments are entered, the list of network devices, names and IP
  addresses are displayed.

    -n [pid | task]  the network devices of a task's namespace (not supported by pycrash).
    -s, -S           open network sockets (not supported by pycrash).
    -a               the ARP cache (not supported by pycrash).
    -N addr          translates an IPv4 address expressed as a decimal or
                     hexadecimal value into a standard numbers-and-dots notation.
"""
    arguments = (
        Arg("-s", dest="sockets", action="store_true", help="open sockets"),
        Arg("-S", dest="sockets_full", action="store_true", help="open sockets, with dumps"),
        Arg("-x", dest="hex", action="store_true", help="radix 16"),
        Arg("-d", dest="dec", action="store_true", help="radix 10"),
        Arg("-R", dest="ref", metavar="ref", help="search sockets for a reference"),
        Arg("-a", dest="arp", action="store_true", help="ARP cache"),
        Arg("-n", dest="namespace", action="store_true", help="a task's network namespace"),
        Arg("-N", dest="address", metavar="addr", help="IPv4 address as a number"),
        Arg("task", nargs="?", help="pid or task address"),
    )

    def run(self, ctx: CommandContext, args: Any) -> str:
        if args.hex and args.dec:
            raise CommandError("-d and -x are mutually exclusive")
        if args.address is not None:
            return _ntoa(args.address)
        for flag, option in (("sockets", "-s"), ("sockets_full", "-S"), ("ref", "-R"),
                             ("arp", "-a")):
            if getattr(args, flag):
                raise CommandError(f"{option} option not supported by pycrash")
        if args.task is not None and not args.namespace:
            raise CommandError(f"Usage: net {self.synopsis}")
        prog = ctx.session.prog
        for name in ("dev_base_head", "init_net", "dev_base"):
            try:
                prog[name]
            except KeyError:
                continue
            raise CommandError("network device listing not supported by pycrash")
        raise CommandError("dev_base, dev_base_head or init_net do not exist!")

    def render(self, ctx: CommandContext, data: str) -> None:
        ctx.out.write(data + "\n")


def _ntoa(text: str) -> str:
    """crash's ``inet_ntoa(stol(addr))``: the low 32 bits as an in_addr stored on x86_64
    (little-endian: the lowest byte is the first dotted number)."""
    from pycrash.expr.numbers import parse_count

    value = parse_count(text)  # crash's stol()
    return socket.inet_ntoa(struct.pack("<I", value & 0xFFFFFFFF))
