"""Character and block device majors, as crash's dev.c finds them.

Kernel facts (fs/char_dev.c, block/genhd.c, block/bdev.c):

* ``chrdevs[CHRDEV_MAJOR_HASH_SIZE]`` (255) hashes ``struct char_device_struct`` by major;
  each chains further majors through ``next``.  A region's ``cdev`` pointer gives the
  ``file_operations``; a region registered without one (``register_chrdev_region``) is found
  through ``cdev_map->probes[major]`` (``struct probe``: ``next``, ``dev``, ``data`` = cdev).
* ``major_names[BLKDEV_MAJOR_HASH_SIZE]`` holds ``struct blk_major_name`` (``major``,
  ``name[16]``); crash shows only each slot's first entry.  The gendisk of a block major is
  found through ``bdev_map->probes[]`` before v5.11, and from v5.11 on among the inodes of
  ``blockdev_superblock``: each is the ``vfs_inode`` of a ``struct bdev_inode`` that starts
  with its ``struct block_device`` (``bd_disk``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

# crash's MAX_DEV: how many chrdevs[]/probes[] slots it reads.
MAX_DEV = 255
MINORBITS = 20
MINORMASK = (1 << MINORBITS) - 1


class DeviceError(Exception):
    """A structure crash's dev needs is missing from this kernel."""


@dataclasses.dataclass
class Major:
    major: int
    name: str
    holder: int  # cdev (char) or gendisk (block) address, 0 when none was found
    fops: int  # file_operations / block_device_operations address, 0 when none


def _string(obj: Any, limit: int) -> str:
    """A char array member or a char pointer, at most ``limit`` bytes (crash's snprintf)."""
    if obj.type_.kind.name != "ARRAY" and not obj.value_():
        return ""
    return obj.string_()[:limit].decode("latin-1")


def _cdev_map_probe(prog: Any, major: int, minor: int) -> tuple[int, int]:
    """crash's search_cdev_map_probes(): (cdev, ops) of the probe for major:minor."""
    import drgn

    try:
        cdev_map = prog["cdev_map"]
        node = cdev_map.probes[major]
        seen: set[int] = set()
        while node.value_() and node.value_() not in seen:
            seen.add(node.value_())
            dev = node.dev.value_()
            if dev >> MINORBITS == major and dev & MINORMASK == minor:
                data = node.data.value_()
                cdev = drgn.Object(prog, "struct cdev *", data)
                return data, cdev.ops.value_()
            node = node.next
    except (KeyError, LookupError, drgn.FaultError):
        pass
    return 0, 0


def char_devices(prog: Any, progress: Callable[[Any, str], Any] = lambda it, _: it,
                 ) -> list[Major]:
    """Every registered character-device region in crash's order: hash slot, then chain."""
    import drgn

    try:
        chrdevs = prog["chrdevs"]
    except KeyError:
        raise DeviceError("chrdevs: symbol does not exist") from None
    name_size = drgn.sizeof(prog.type("struct char_device_struct").member("name").type)
    out: list[Major] = []
    for slot in progress(range(MAX_DEV), "chrdevs"):
        node = chrdevs[slot]
        seen: set[int] = set()
        while node.value_() and node.value_() not in seen:
            seen.add(node.value_())
            name = _string(node.name, name_size - 1)
            major, minor = node.major.value_(), node.baseminor.value_()
            cdev = node.cdev.value_()
            fops = drgn.Object(prog, "struct cdev *", cdev).ops.value_() if cdev else 0
            if not fops:
                cdev, fops = _cdev_map_probe(prog, major, minor)
            out.append(Major(major, name, cdev, fops))
            node = node.next
    return out


def _bdev_map_gendisk(prog: Any, major: int) -> tuple[int, int]:
    """crash's search_bdev_map_probes() (before v5.11)."""
    import drgn

    node = prog["bdev_map"].probes[major]
    seen: set[int] = set()
    while node.value_() and node.value_() not in seen:
        seen.add(node.value_())
        data = node.data.value_()
        if data and node.dev.value_() >> MINORBITS == major:
            try:
                fops = drgn.Object(prog, "struct gendisk *", data).fops.value_()
            except drgn.FaultError:
                break
            if fops:
                return data, fops
        node = node.next
    return 0, 0


def _block_disks(prog: Any) -> Iterator[Any]:
    """Each ``struct gendisk *`` of a block_device on blockdev_superblock (v5.11+)."""
    import drgn

    from pycrash.kernel.lists import list_walk

    sb = prog["blockdev_superblock"]
    head = sb.s_inodes.address_of_().value_()
    inode_offset = prog.type("struct inode").member("i_sb_list").offset
    bdev_size = prog.type("struct block_device").size
    for node in list_walk(prog, head):
        inode = node - inode_offset
        try:
            disk = drgn.Object(prog, "struct block_device", address=inode - bdev_size).bd_disk
            if disk.value_():
                yield disk
        except drgn.FaultError:
            continue


def block_devices(prog: Any) -> list[Major]:
    """The first ``blk_major_name`` of every ``major_names[]`` slot, with its gendisk."""
    import drgn

    try:
        major_names = prog["major_names"]
    except KeyError:
        raise DeviceError("major_names: symbol does not exist") from None
    use_bdev_map = _exists(prog, "bdev_map")
    if not use_bdev_map and not _exists(prog, "blockdev_superblock"):
        raise DeviceError("bdev_map or blockdev_superblock: symbols do not exist")
    disks: list[Any] | None = None
    out: list[Major] = []
    try:
        slots = len(major_names)
    except (TypeError, ValueError):
        # declared without a length in a header: the symbol's size says (crash: MAX_DEV)
        try:
            slots = prog.symbol("major_names").size // 8 or MAX_DEV
        except LookupError:
            slots = MAX_DEV
    for slot in range(slots):
        entry = major_names[slot]
        if not entry.value_():
            continue
        major = entry.major.value_()
        name = _string(entry.name, 16)
        if use_bdev_map:
            gendisk, fops = _bdev_map_gendisk(prog, major if major == slot else slot)
        else:
            if disks is None:
                disks = list(_block_disks(prog))
            gendisk = fops = 0
            for disk in disks:
                try:
                    if disk.major.value_() == major and disk.fops.value_():
                        gendisk, fops = disk.value_(), disk.fops.value_()
                        break
                except drgn.FaultError:
                    continue
        out.append(Major(major, name, gendisk, fops))
    return out


def _exists(prog: Any, name: str) -> bool:
    try:
        prog[name]
    except KeyError:
        return False
    return True


@dataclasses.dataclass
class Resource:
    address: int  # struct resource *
    start: int
    end: int
    name: str | None  # None when unreadable (crash: "(unknown)")


def resource_tree(prog: Any, symbol: str, limit: int = 100_000) -> tuple[int, list[Resource]]:
    """``(end of the root, every struct resource under it)`` from ``ioport_resource`` or
    ``iomem_resource`` (kernel/resource.c: ``child``/``sibling`` links), depth first as
    crash's do_resource_list() prints them: an entry, its children, then its siblings."""
    import drgn

    try:
        root = prog[symbol]
    except KeyError:
        raise DeviceError(f"{symbol}: symbol does not exist") from None
    out: list[Resource] = []
    seen: set[int] = set()

    def walk(address: int) -> None:
        while address and address not in seen and len(seen) < limit:
            seen.add(address)
            entry = drgn.Object(prog, "struct resource", address=address)
            try:
                name = entry.name.string_().decode("latin-1") if entry.name.value_() else None
            except drgn.FaultError:
                name = None
            out.append(Resource(address, entry.start.value_(), entry.end.value_(), name))
            child = entry.child.value_()
            if child and child != address:
                walk(child)
            address = entry.sibling.value_()

    walk(root.address_of_().value_())
    return root.end.value_(), out
