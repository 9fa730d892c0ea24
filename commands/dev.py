"""``dev``: character and block device majors, as crash 8.0.6 prints them (dev.c ``cmd_dev``,
``dump_chrdevs``, ``dump_blkdevs_v3``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import drgn

from pycrash.api import Arg, Command, CommandContext, CommandError, register
from pycrash.format.columns import center
from pycrash.kernel.devices import DeviceError, Major, block_devices, char_devices

_WIDTH = 16  # crash's VADDR_PRLEN on 64-bit kernels


@dataclasses.dataclass
class DevData:
    chars: list[Major]
    blocks: list[Major]
    symbols: dict[int, str]  # fops address -> crash's value_to_symstr()


@register
class Dev(Command):
    name = "dev"
    summary = "device data"
    synopsis = "[-i | -p | -d | -D ] [-V | -v index [file]]"
    description = """\
  If no argument is entered, this command dumps character and block
  device data.

    -i  display I/O port usage (not supported by pycrash).
    -p  display PCI device data (not supported by pycrash).
    -d  display disk I/O statistics (not supported by pycrash).
    -D  same as -d, but filter out disks with no in-progress I/O requests.
    -V  display an indexed list of all device dumps present in the vmcore.
  -v index  select and display one device dump (not supported by pycrash).

  --json prints one record per character and block device major.
"""
    arguments = (
        Arg("-i", dest="io", action="store_true", help="I/O port usage"),
        Arg("-p", dest="pci", action="store_true", help="PCI device data"),
        Arg("-d", dest="diskio", action="store_true", help="disk I/O statistics"),
        Arg("-D", dest="diskio_nonzero", action="store_true", help="disk I/O, busy disks"),
        Arg("-V", dest="list_dumps", action="store_true", help="list device dumps"),
        Arg("-v", dest="dump_index", metavar="index", help="show one device dump"),
        Arg("file", nargs="?", help="output file for -v"),
    )

    def run(self, ctx: CommandContext, args: Any) -> DevData:
        for flag, option in (("io", "-i"), ("pci", "-p"), ("diskio", "-d"),
                             ("diskio_nonzero", "-D"), ("dump_index", "-v")):
            if getattr(args, flag):
                raise CommandError(f"{option} option not supported by pycrash")
        if args.list_dumps:
            # pycrash's sample dumps carry no device dumps (no vmcoredd notes)
            raise CommandError("-V option not supported by pycrash")
        if args.file:
            raise CommandError(f"Usage: dev {self.synopsis}")
        prog = ctx.session.prog
        try:
            chars = char_devices(prog, lambda items, label: ctx.progress(items, label))
            blocks = block_devices(prog)
        except DeviceError as err:
            raise CommandError(str(err)) from None
        except (drgn.FaultError, LookupError) as err:
            raise CommandError(f"cannot read the device tables: {err}") from None
        from pycrash.kernel.symbols import symbol_table

        table = symbol_table(ctx.session)
        symbols = {}
        for major in chars + blocks:
            if major.fops and major.fops not in symbols:
                symbols[major.fops] = table.symstr(major.fops) or f"{major.fops:x}"
        return DevData(chars, blocks, symbols)

    def render(self, ctx: CommandContext, data: DevData) -> None:
        out = ctx.out
        out.write("CHRDEV    NAME           " + center("CDEV", _WIDTH) + "  "
                  + f"{'OPERATIONS':<{_WIDTH}s}\n")
        for major in data.chars:
            out.write(_row(major, data.symbols))
        out.write("\n")
        out.write("BLKDEV    NAME           " + center("GENDISK", _WIDTH, right=True) + "  "
                  + f"{'OPERATIONS':<{_WIDTH}s}\n")
        for major in data.blocks:
            out.write(_row(major, data.symbols))

    def to_json(self, ctx: CommandContext, data: DevData) -> Any:
        def record(kind: str, holder: str, major: Major) -> dict[str, Any]:
            return {"type": kind, "major": major.major, "name": major.name,
                    holder: major.holder or None, "operations": major.fops or None,
                    "operations_symbol": data.symbols.get(major.fops)}

        return ([record("char", "cdev", m) for m in data.chars]
                + [record("block", "gendisk", m) for m in data.blocks])


def _row(major: Major, symbols: dict[int, str]) -> str:
    name = major.name or "(unknown)"
    if not major.fops:
        return f" {major.major:3d}      {name:<13s}  {center('(none)', _WIDTH)}\n"
    return f" {major.major:3d}      {name:<13s}  {major.holder:{_WIDTH}x}  {symbols[major.fops]}\n"
