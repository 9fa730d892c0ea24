"""A task's virtual memory areas, as crash's ``vm`` reads them (memory.c vm_area_dump).

``task->mm`` (``struct mm_struct``) holds the VMAs: since 6.1 in the maple tree ``mm_mt``
(indexed by address, so walked in address order), before that on the ``mmap`` list through
``vm_area_struct.vm_next``.  Each ``struct vm_area_struct`` has ``vm_start``, ``vm_end``,
``vm_flags`` and ``vm_file`` (the mapped ``struct file``, NULL for anonymous memory).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import drgn

from pycrash.kernel.fs import FsError, dentry_path

__all__ = ["PageMapping", "Vma", "VmError", "mm_vmas", "swap_entry", "vm_flag_names",
           "vma_pages"]

# Bound on the VMAs of one mm: the kernel's default vm.max_map_count is 65530.
MAX_VMAS = 1 << 20


class VmError(FsError):
    """The dump lacks what a VMA walk needs (one line for the user)."""


@dataclasses.dataclass(frozen=True)
class Vma:
    """One ``struct vm_area_struct``."""

    vma: int
    start: int
    end: int
    flags: int
    file: int  # struct file *, 0 for anonymous memory
    path: str  # the file's path ("" for anonymous memory)
    pgoff: int = 0  # vm_pgoff: the file offset of vm_start, in pages


def _vma_addresses(prog: drgn.Program, mm: drgn.Object) -> Iterator[int]:
    """The VMA addresses of ``mm`` in address order."""
    mm_type = mm.type_
    if mm_type.has_member("mmap"):
        # before 6.1: the NULL-terminated vm_next list.  vm_next points at the next VMA, not
        # at its vm_next member, so lists.list_walk (next pointer at offset 0) cannot walk
        # it; the same bounds apply here: a loop or MAX_VMAS ends the walk.
        offset = drgn.offsetof(prog.type("struct vm_area_struct"), "vm_next")
        head = int(mm.mmap)
        seen: set[int] = set()
        while head and head not in seen and len(seen) < MAX_VMAS:
            seen.add(head)
            yield head
            head = prog.read_u64(head + offset)
        return
    if not mm_type.has_member("mm_mt"):
        raise VmError("no mm_struct.mmap or mm_struct.mm_mt in this kernel")
    from pycrash.kernel.mapletree import MapleTreeError, mt_entries

    try:
        for count, (_first, _last, entry) in enumerate(
                mt_entries(prog, int(mm.mm_mt.address_of_()))):
            if count >= MAX_VMAS:
                break
            yield entry
    except MapleTreeError as err:
        raise VmError(str(err)) from None


def mm_vmas(prog: drgn.Program, mm_address: int,
            progress: Callable[[Iterator[int]], Iterator[int]] | None = None) -> list[Vma]:
    """The VMAs of the ``struct mm_struct`` at ``mm_address``, with their files' paths."""
    mm = drgn.Object(prog, "struct mm_struct", address=mm_address)
    addresses = _vma_addresses(prog, mm)
    if progress is not None:
        addresses = progress(addresses)
    vmas = []
    try:
        for address in addresses:
            vma = drgn.Object(prog, "struct vm_area_struct", address=address)
            file = int(vma.vm_file)
            path = ""
            if file:
                f_path = vma.vm_file.f_path
                dentry = int(f_path.dentry)
                if dentry:
                    path = dentry_path(prog, dentry, int(f_path.mnt))
            vmas.append(Vma(address, int(vma.vm_start), int(vma.vm_end), int(vma.vm_flags),
                            file, path, int(vma.vm_pgoff)))
    except drgn.FaultError as err:
        raise VmError(f"cannot read the VMAs of mm_struct {mm_address:x}: {err}") from None
    return vmas


# include/linux/mm.h VM_* bits, with the names crash's do_vm_flags() prints for them (in its
# order); bits that changed meaning over time are named as on kernels after 2.6.17.
_VM_FLAGS = (
    (0x1, "READ"), (0x2, "WRITE"), (0x4, "EXEC"), (0x8, "SHARED"),
    (0x10, "MAYREAD"), (0x20, "MAYWRITE"), (0x40, "MAYEXEC"), (0x80, "MAYSHARE"),
    (0x100, "GROWSDOWN"),
)
_VM_FLAGS_AFTER = (
    (0x400, "PFNMAP"), (0x800, "DENYWRITE"), (0x1000, "EXECUTABLE"), (0x2000, "LOCKED"),
    (0x4000, "IO"), (0x8000, "SEQ_READ"), (0x10000, "RAND_READ"), (0x20000, "DONTCOPY"),
    (0x40000, "DONTEXPAND"), (0x80000, "RESERVED"), (0x400000, "HUGETLB"),
    (0x100000, "ACCOUNT"), (0x800000, "NONLINEAR"),
)
_VM_FLAGS_LAST = (
    (0x2000000, "INSERTPAGE"), (0x4000000, "ALWAYSDUMP"), (0x8000000, "CAN_NONLINEAR"),
    (0x10000000, "MIXEDMAP"), (0x20000000, "SAO"), (0x40000000, "PFN_AT_MMAP"),
    (0x80000000, "MERGEABLE"),
)


def vm_flag_names(prog: drgn.Program, flags: int) -> list[str]:
    """crash's do_vm_flags() names for ``flags`` (``vm -f``), in its order.

    0x200 is GROWSUP where the kernel can grow stacks upwards (``expand_upwards`` exists),
    NOHUGEPAGE otherwise; 0x01000000 is HUGEPAGE with transparent huge pages
    (``mm_struct.pmd_huge_pte``), MAPPED_COPY without."""
    names = [name for bit, name in _VM_FLAGS if flags & bit]
    try:
        prog.symbol("expand_upwards")
        grows_up = True
    except LookupError:
        grows_up = False
    if flags & 0x200:
        names.append("GROWSUP" if grows_up else "NOHUGEPAGE")
    names += [name for bit, name in _VM_FLAGS_AFTER if flags & bit]
    if flags & 0x1000000:
        try:
            thp = prog.type("struct mm_struct").has_member("pmd_huge_pte")
        except LookupError:
            thp = False
        names.append("HUGEPAGE" if thp else "MAPPED_COPY")
    names += [name for bit, name in _VM_FLAGS_LAST if flags & bit]
    return names


@dataclasses.dataclass(frozen=True)
class PageMapping:
    """Where one user page of a VMA is, as crash's vm_area_page_dump() tells it."""

    vaddr: int
    paddr: int | None  # the physical address when the page is mapped
    pte: int  # the leaf page-table entry when it is not present but not empty (swap), else 0
    file_offset: int | None  # not mapped, file-backed: the offset in the file
    swap: tuple[str, int] | None = None  # a swap entry's device and offset


# arch/x86/include/asm/pgtable_types.h: _PAGE_PRESENT, and _PAGE_PROTNONE (the GLOBAL bit,
# which crash's x86-64 uvtop takes as "mapped" in a PMD or PTE that is not present).
_PAGE_PRESENT = 0x1
_PAGE_PROTNONE = 0x100
_PAGE_SHIFT = 12


def vma_pages(session: Any, pgd: int, vma: Vma) -> Iterator[PageMapping]:
    """Each page of ``vma`` translated through the page tables at ``pgd`` (``mm->pgd``, a
    kernel virtual address).  The walk is the memory core's (``session.dump.translate``)."""
    from pycrash.core.errors import FaultError, NotMappedError

    try:
        root = session.dump.vtop(pgd)
    except FaultError as err:
        raise VmError(f"cannot translate the page directory {pgd:x}: {err}") from None
    for vaddr in range(vma.start, vma.end, 1 << _PAGE_SHIFT):
        try:
            translation = session.dump.translate(vaddr, root)
            yield PageMapping(vaddr, translation.paddr, 0, None)
            continue
        except NotMappedError as err:
            entries = list(err.entries or [])
        except FaultError:
            entries = []
        last = entries[-1] if entries else None
        pte = 0
        if last is not None and last.level in ("PMD", "PTE") and last.value & _PAGE_PROTNONE \
                and not last.value & _PAGE_PRESENT:
            from pycrash.kernel.memory import PHYSICAL_MASK

            mask = ~0xFFF & PHYSICAL_MASK
            yield PageMapping(vaddr, (last.value & mask) + (vaddr & 0xFFF), 0, None)
            continue
        swap = None
        if last is not None and last.level == "PTE" and last.value:
            pte = last.value
            swap = swap_entry(session.prog, pte)
        offset = None
        if vma.path:
            offset = (((vaddr - vma.start) >> _PAGE_SHIFT) + vma.pgoff) << _PAGE_SHIFT
        yield PageMapping(vaddr, None, pte, offset, swap)


def swap_entry(prog: drgn.Program, pte: int) -> tuple[str, int] | None:
    """(device, offset) of the swap entry in a non-present PTE, as crash's swap_location()
    names it; None when the kernel has no swap (no ``nr_swapfiles`` or ``swap_info``).

    x86-64 swap entries since the L1TF mitigation (4.18, arch/x86/include/asm/pgtable_64.h):
    the type in the top 5 bits, the offset stored inverted from bit 9 up.  The device is the
    path of ``swap_info[type]->swap_file``; "(unknown swap location)" when there is none."""
    from pycrash.kernel.fs import vfsmount_devname

    try:
        prog.symbol("nr_swapfiles")
        swap_info = prog["swap_info"]
    except (KeyError, LookupError):
        return None
    swap_type = pte >> 59
    offset = ((~pte << 5) & ((1 << 64) - 1)) >> 14
    device = "(unknown swap location)"
    try:
        if swap_type < len(swap_info) and int(swap_info[swap_type]):
            swap_file = swap_info[swap_type].swap_file
            if int(swap_file):
                f_path = swap_file.f_path
                vfsmnt = int(f_path.mnt)
                device = dentry_path(prog, int(f_path.dentry), vfsmnt)
                if vfsmount_devname(prog, vfsmnt) in ("devtmpfs", "udev") \
                        and not device.startswith("/dev/"):
                    device = "/dev" + device
    except (drgn.FaultError, TypeError, AttributeError):
        pass
    return device, offset
