"""Swap devices, as crash's memory.c ``dump_swap_info()`` reads them.

Kernel facts (mm/swapfile.c, include/linux/swap.h): ``swap_info[MAX_SWAPFILES]`` points to
one ``struct swap_info_struct`` per swap area, the first ``nr_swapfiles`` slots in use;
``flags & SWP_USED`` marks a live one.  ``pages`` counts usable pages, ``inuse_pages`` the
pages in use (crash's SWAPINFO_V2 reads it rather than scanning ``swap_map``), ``prio`` its
priority; ``swap_file`` is the opened ``struct file``.  Before v6.10 ``swap_device`` (older:
``old_block_size``) tells a partition from a file; from v6.10 crash looks at the file's inode
mode.
"""

from __future__ import annotations

import dataclasses
from typing import Any

SWP_USED = 1
S_IFMT = 0o170000
S_IFBLK = 0o060000


class SwapError(Exception):
    """A structure crash's swap needs is missing from this kernel."""


@dataclasses.dataclass
class SwapArea:
    address: int  # struct swap_info_struct *
    partition: bool
    size_kb: int
    used_kb: int
    priority: int
    filename: str


def _file_path(prog: Any, file: Any) -> str:
    """crash's get_pathname() of the swap file, "/dev" prefixed on a devtmpfs mount."""
    from pycrash.kernel.fs import dentry_path, vfsmount_devname

    vfsmnt = file.f_path.mnt.value_()
    path = dentry_path(prog, file.f_path.dentry.value_(), vfsmnt)
    if vfsmount_devname(prog, vfsmnt) in ("devtmpfs", "udev") and not path.startswith("/dev/"):
        path = "/dev" + path
    return path


def swap_areas(prog: Any) -> list[SwapArea]:
    """Each used swap area of ``swap_info[0 .. nr_swapfiles)``."""
    import drgn

    for name in ("nr_swapfiles", "swap_info"):
        try:
            prog[name]
        except KeyError:
            raise SwapError(f"{name} doesn't exist in this kernel!") from None
    swap_info = prog["swap_info"]
    page_shift = prog["PAGE_SHIFT"].value_() if _constant(prog, "PAGE_SHIFT") else 12
    type_ = prog.type("struct swap_info_struct")
    areas: list[SwapArea] = []
    for slot in range(prog["nr_swapfiles"].value_()):
        try:
            si = swap_info[slot]
            if not si.value_() or not si.flags.value_() & SWP_USED:
                continue
            file = si.swap_file
            if type_.has_member("swap_device"):
                partition = bool(si.swap_device.value_())
            elif type_.has_member("old_block_size"):
                partition = bool(si.old_block_size.value_())
            else:
                partition = file.f_inode.i_mode.value_() & S_IFMT == S_IFBLK
            pages = si.pages.value_()
            used = si.inuse_pages.value_()
            filename = _file_path(prog, file) if file.value_() else "(unknown)"
        except drgn.FaultError:
            continue
        shift = page_shift - 10
        areas.append(SwapArea(si.value_(), partition, pages << shift, used << shift,
                              si.prio.value_(), filename))
    return areas


def _constant(prog: Any, name: str) -> bool:
    try:
        prog[name]
    except KeyError:
        return False
    return True
