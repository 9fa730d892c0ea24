"""``dev``: character and block device majors, as crash 8.0.6 prints them (dev.c ``cmd_dev``,
``dump_chrdevs``, ``dump_blkdevs_v3``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import drgn

from pycrash.api import Arg, Command, CommandContext, CommandError, register
from pycrash.format.columns import center
from pycrash.kernel.devices import (
    DeviceError,
    Major,
    Resource,
    block_devices,
    char_devices,
    resource_tree,
)
from pycrash.kernel.pci import PciBus

_WIDTH = 16  # crash's VADDR_PRLEN on 64-bit kernels


@dataclasses.dataclass
class DevData:
    chars: list[Major]
    blocks: list[Major]
    symbols: dict[int, str]  # fops address -> crash's value_to_symstr()
    # -i: (root end, resources) of ioport_resource and iomem_resource
    io: list[tuple[int, list[Resource]]] = dataclasses.field(default_factory=list)
    pci: list[PciBus] = dataclasses.field(default_factory=list)  # -p: the root buses


@register
class Dev(Command):
    name = "dev"
    summary = "device data"
    synopsis = "[-i | -p | -d | -D ] [-V | -v index [file]]"
    description = """\
  If no argument is entered, this command dumps character and block
  device data.

    -i  display I/O port and I/O memory usage.
    -p  display PCI device data.
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
        if args.io:
            prog = ctx.session.prog
            try:
                return DevData([], [], {}, [resource_tree(prog, "ioport_resource"),
                                            resource_tree(prog, "iomem_resource")])
            except DeviceError as err:
                raise CommandError(str(err)) from None
        if args.pci:
            from pycrash.kernel.pci import PciError, pci_root_buses

            try:
                return DevData([], [], {}, pci=pci_root_buses(ctx.session.prog))
            except PciError as err:
                raise CommandError(str(err)) from None
        for flag, option in (("diskio", "-d"),
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
        if data.io:
            for n, (end, resources) in enumerate(data.io):
                _render_resources(out, end, resources, blank=n > 0)
            return
        if data.pci:
            for bus in data.pci:
                # crash's do_pci2(): each root bus, its devices, then its child buses
                out.write(center("ROOT BUS", _WIDTH) + " " + center("BUSNAME", 7) + "\n")
                out.write(f"{bus.address:<{_WIDTH}x} {center(bus.name, 7)}\n")
                _render_pci_devices(out, bus)
                _render_pci_buses(out, bus)
                out.write("\n")
            return
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
        if data.pci:
            return [dataclasses.asdict(bus) for bus in data.pci]
        if data.io:
            return {kind: [{"resource": r.address, "start": r.start, "end": r.end,
                            "name": r.name} for r in resources]
                    for kind, (_, resources) in zip(("ioport", "iomem"), data.io, strict=True)}
        def record(kind: str, holder: str, major: Major) -> dict[str, Any]:
            return {"type": kind, "major": major.major, "name": major.name,
                    holder: major.holder or None, "operations": major.fops or None,
                    "operations_symbol": data.symbols.get(major.fops)}

        return ([record("char", "cdev", m) for m in data.chars]
                + [record("block", "gendisk", m) for m in data.blocks])


def _render_resources(out: Any, end: int, resources: list[Resource], blank: bool) -> None:
    """crash's do_io()/do_resource_list(): a name that would pass column 80 is cut at a
    space and goes on, aligned, on the next line."""
    size = 8 if end > 0xFFFF else 4  # crash prints at least `size` digits per bound
    digits = size
    out.write(("\n" if blank else "") + center("RESOURCE", _WIDTH) + "  "
              + center("RANGE", size * 2 + 1) + "  NAME\n")
    wrap = _WIDTH + 2 + size * 2 + 1 + 2
    for res in resources:
        name = res.name if res.name is not None else "(unknown)"
        out.write(f"{res.address:8x}  {res.start:0{digits}x}-{res.end:0{digits}x}")
        if wrap + len(name) <= 80:
            out.write(f"  {name}\n")
            continue
        excess = wrap + len(name) - 80
        cut = None
        for count, index in enumerate(range(len(name) - 1, 0, -1)):
            if name[index] == " " and count >= excess:
                cut = index
                break
        if cut is None:
            out.write(f"  {name}\n")
        else:
            out.write(f"  {name[:cut]}\n{' ' * wrap}{name[cut + 1:]}\n")


def _render_pci_devices(out: Any, bus: PciBus) -> None:
    """crash's walk_devices(): the bridge leading to the bus, then its devices."""
    header = (center("PCI DEV", _WIDTH) + " " + center("DO:BU:SL.FN", 12) + " "
              + center("CLASS", 6) + " " + center("PCI_ID", 9))
    out.write("  " + header + (" " + center("TYPE", 10) if bus.pcie else "") + "\n")
    for dev in ([bus.self_dev] if bus.self_dev else []) + bus.devices:
        line = (f"  {dev.address:<{_WIDTH}x} {center(dev.name, 12)} {center(dev.pci_class, 6)} "
                f"{center(dev.pci_id, 9)} {center(dev.pcie_type, 10)}")
        out.write(line + "\n")


def _render_pci_buses(out: Any, bus: PciBus) -> None:
    """crash's walk_buses(): each child bus with its parent, its devices, then its own
    children."""
    for child in bus.children:
        out.write("  " + center("PCI BUS", _WIDTH) + " " + center("PARENT BUS", _WIDTH) + "\n")
        out.write(f"  {child.address:<{_WIDTH}x} {child.parent:<{_WIDTH}x}\n")
        _render_pci_devices(out, child)
        out.write("\n")
        _render_pci_buses(out, child)


def _row(major: Major, symbols: dict[int, str]) -> str:
    name = major.name or "(unknown)"
    if not major.fops:
        return f" {major.major:3d}      {name:<13s}  {center('(none)', _WIDTH)}\n"
    return f" {major.major:3d}      {name:<13s}  {major.holder:{_WIDTH}x}  {symbols[major.fops]}\n"
