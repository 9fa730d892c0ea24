"""PCI buses and devices, as crash's dev.c ``do_pci2()`` walks them.

Kernel facts (include/linux/pci.h, drivers/pci/probe.c): ``pci_root_buses`` lists the root
``struct pci_bus`` through ``node``; each bus lists its ``struct pci_dev`` on ``devices``
(through ``bus_list``) and its child buses on ``children`` (through ``node``); ``self`` is
the bridge device leading to a bus.  A device's name is its ``dev.kobj`` name
("0000:00:01.1"), ``class >> 8`` its class code, ``pcie_flags_reg`` bits 4-7 its PCIe port
type (include/uapi/linux/pci_regs.h PCI_EXP_FLAGS_TYPE) and ``hdr_type`` 1 or 2 a bridge.
"""

from __future__ import annotations

import dataclasses
from typing import Any

# PCI_EXP_TYPE_* (pci_regs.h) by value, as crash's fill_pcie_type() names them
_PCIE_TYPES = {0: "ENDPOINT", 1: "LEG_END", 4: "ROOT_PORT", 5: "UPSTREAM", 6: "DOWNSTREAM",
               7: "PCI_BRIDGE", 8: "PCIE_BRIDGE", 9: "RC_END", 0xA: "RC_EC"}
_BRIDGE_HEADERS = (1, 2)  # PCI_HEADER_TYPE_BRIDGE, PCI_HEADER_TYPE_CARDBUS


class PciError(Exception):
    """No PCI data in this kernel (one line for the user)."""


@dataclasses.dataclass
class PciDev:
    address: int
    name: str
    pci_class: str  # "%04x" of class >> 8
    pci_id: str  # "vendor:device" in hex
    pcie_type: str  # "" when pci_dev has no pcie_flags_reg and it is no bridge


@dataclasses.dataclass
class PciBus:
    address: int
    name: str  # root buses only
    parent: int
    self_dev: PciDev | None
    devices: list[PciDev]
    children: list[PciBus]
    pcie: bool  # pci_dev has pcie_flags_reg: crash's header then has a TYPE column


def _kobj_name(obj: Any) -> str:
    name = obj.dev.kobj.name
    return name.string_().decode("latin-1") if name.value_() else ""


def _device(dev: Any, has_pcie: bool) -> PciDev:
    pcie_type = ""
    if has_pcie:
        pcie_type = _PCIE_TYPES.get((dev.pcie_flags_reg.value_() & 0xF0) >> 4, "")
    if dev.hdr_type.value_() in _BRIDGE_HEADERS:
        pcie_type += " [BRIDGE]"
    return PciDev(dev.address_of_().value_(), _kobj_name(dev),
                  f"{dev.member_('class').value_() >> 8:04x}",
                  f"{dev.vendor.value_():x}:{dev.device.value_():x}", pcie_type)


def _bus(prog: Any, bus: Any, has_pcie: bool) -> PciBus:
    from pycrash.kernel.lists import entries, list_walk

    self_dev = _device(bus.self[0], has_pcie) if bus.self.value_() else None
    devices = [_device(dev[0], has_pcie) for dev in entries(
        prog, list_walk(prog, bus.devices.address_of_().value_()), "struct pci_dev",
        "bus_list")]
    children = [_bus(prog, child[0], has_pcie) for child in entries(
        prog, list_walk(prog, bus.children.address_of_().value_()), "struct pci_bus", "node")]
    return PciBus(bus.address_of_().value_(), _kobj_name(bus), bus.parent.value_(), self_dev,
                  devices, children, has_pcie)


def pci_root_buses(prog: Any) -> list[PciBus]:
    """Every root bus with its devices and child buses."""
    from pycrash.kernel.lists import entries, list_walk

    try:
        head = prog["pci_root_buses"]
    except KeyError:
        raise PciError("-p option not supported or applicable on this architecture or "
                       "kernel") from None
    head_address = head.address_of_().value_()
    if head.next.value_() == head_address:
        raise PciError("no PCI devices found on this system.")
    try:
        prog.type("struct pci_dev").member("pcie_flags_reg")
        has_pcie = True
    except LookupError:
        has_pcie = False
    return [_bus(prog, bus[0], has_pcie)
            for bus in entries(prog, list_walk(prog, head_address), "struct pci_bus", "node")]
