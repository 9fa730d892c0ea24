"""``dev``: the device majors every sample kernel registers, by their fixed numbers
(include/uapi/linux/major.h) and the drivers the kernel config builds in, and the options
pycrash refuses."""

from __future__ import annotations

import io
import json

import pytest

from pycrash import testing

SCENARIOS = testing.scenarios()


def _config(option: str) -> bool:
    return f"{option}=y" in testing.kernel_config_path().read_text().splitlines()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fixed_majors_and_builtin_drivers(scenario: str, sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out = io.StringIO()
    assert Runner(sample_session(scenario), registry, stdout=out, json=True).execute("dev") == 0
    records = json.loads(out.getvalue())
    chars = {(r["major"], r["name"]): r for r in records if r["type"] == "char"}
    blocks = {(r["major"], r["name"]): r for r in records if r["type"] == "block"}
    # MEM_MAJOR 1 (drivers/char/mem.c registers "mem" with memory_fops), TTY_MAJOR 4,
    # TTYAUX_MAJOR 5 ("/dev/tty", "/dev/console"), MISC_MAJOR 10
    assert chars[(1, "mem")]["operations_symbol"] == "memory_fops"
    assert chars[(5, "/dev/tty")]["operations_symbol"] == "tty_fops"
    assert chars[(5, "/dev/console")]["operations_symbol"] == "console_fops"
    assert chars[(10, "misc")]["operations_symbol"] == "misc_fops"
    if _config("CONFIG_SERIAL_8250"):
        assert chars[(4, "ttyS")]["operations_symbol"] == "tty_fops"
    # BLOCK_EXT_MAJOR 259 has no gendisk of its own
    assert blocks[(259, "blkext")]["gendisk"] is None
    if _config("CONFIG_VIRTIO_BLK"):
        virtblk = [r for (major, name), r in blocks.items() if name == "virtblk"]
        assert len(virtblk) == 1 and virtblk[0]["operations_symbol"] == "virtblk_fops"
        assert virtblk[0]["gendisk"]


@pytest.mark.parametrize("option", ["-d", "-D", "-V"])
def test_unsupported_options_are_one_line(option: str, sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    out, err = io.StringIO(), io.StringIO()
    assert Runner(sample_session("sysrq"), registry, stdout=out, stderr=err).execute(
        f"dev {option}") != 0
    assert err.getvalue().splitlines() == [
        f"pycrash: dev: {option} option not supported by pycrash"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_io_resources_hold_the_kernel_image_and_pci_conf1(scenario: str, sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    manifest = testing.manifest(scenario)
    phys_base = int(str(manifest["phys_base"]), 0)
    text = int(manifest["ground_truth"]["kallsyms"]["_text"]["address"], 16)
    out = io.StringIO()
    assert Runner(sample_session(scenario), registry, stdout=out, json=True).execute(
        "dev -i") == 0
    records = json.loads(out.getvalue())
    # kernel/resource.c: "Kernel code" starts at __pa_symbol(_text)
    code = [r for r in records["iomem"] if r["name"] == "Kernel code"]
    start = (text - 0xFFFFFFFF80000000 + phys_base) & ((1 << 64) - 1)
    assert [r["start"] for r in code] == [start]
    # arch/x86/pci/direct.c claims the type-1 configuration ports 0xcf8-0xcff
    assert {"start": 0xCF8, "end": 0xCFF} in [
        {"start": r["start"], "end": r["end"]} for r in records["ioport"]
        if r["name"] == "PCI conf1"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pci_devices_of_the_qemu_pc_machine(scenario: str, sample_session) -> None:
    from pycrash.api import registry
    from pycrash.runner import Runner

    assert "-machine pc " in testing.manifest(scenario)["guest"]["qemu"]
    out = io.StringIO()
    assert Runner(sample_session(scenario), registry, stdout=out, json=True).execute(
        "dev -p") == 0
    buses = json.loads(out.getvalue())
    assert [bus["name"] for bus in buses] == ["0000:00"]
    devices = {d["name"]: d for d in buses[0]["devices"]}
    # QEMU's pc machine: the i440FX host bridge (8086:1237, class 0600) at 00:00.0 and the
    # PIIX3 ISA bridge (8086:7000, class 0601) at 00:01.0
    assert (devices["0000:00:00.0"]["pci_id"], devices["0000:00:00.0"]["pci_class"]) == (
        "8086:1237", "0600")
    assert (devices["0000:00:01.0"]["pci_id"], devices["0000:00:01.0"]["pci_class"]) == (
        "8086:7000", "0601")
    if _config("CONFIG_VIRTIO_BLK") and _config("CONFIG_VIRTIO_PCI"):
        # virtio-blk over PCI (legacy id 1af4:1001, mass storage class 0100)
        assert any(d["pci_id"] == "1af4:1001" and d["pci_class"] == "0100"
                   for d in devices.values())
