"""vmalloc regions: the ``struct vmap_area`` list of mapped kernel virtual ranges.

Kernel facts (mm/vmalloc.c): busy areas are on ``vmap_area_list`` through ``vmap_area.list``
(until 6.9, which moved them into per-node ``vmap_nodes[].busy`` trees), sorted by address;
``va_start``/``va_end`` bound the range (guard page included) and ``vm`` is its
``struct vm_struct`` (NULL for areas not made by vmalloc/vmap, e.g. vm_map_ram, skipped as
crash does; before 4.x a ``flags`` word with VM_VM_AREA said the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycrash.kernel.lists import entries, list_walk

__all__ = ["VmapArea", "VmallocError", "vmap_areas"]

# mm/vmalloc.c before 4.x: the vmap_area.flags bit of areas that have a vm_struct.
VM_VM_AREA = 0x4


class VmallocError(Exception):
    """The kernel keeps its vmap areas where pycrash does not look."""


@dataclass
class VmapArea:
    vmap_area: int
    vm_struct: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def vmap_areas(prog: Any) -> list[VmapArea]:
    try:
        head = prog["vmap_area_list"]
    except KeyError:
        raise VmallocError("vmap_area_list does not exist (vmap_nodes kernels are not "
                           "supported)") from None
    va_type = prog.type("struct vmap_area")
    try:
        va_type.member("flags")
        va_type.member("purge_list")
        use_flags = True
    except LookupError:
        use_flags = False
    areas = []
    for va in entries(prog, list_walk(prog, head.address_), "struct vmap_area", "list"):
        if use_flags:
            if int(va.flags) != VM_VM_AREA:
                continue
        elif not va.vm:
            continue
        areas.append(VmapArea(va.value_(), va.vm.value_(), int(va.va_start), int(va.va_end)))
    return areas
