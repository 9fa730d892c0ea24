"""Exception frames: where crash expects a ``struct pt_regs`` on a stack, and whether the
words there look like one (x86_64.c x86_64_eframe_verify, x86_64_eframe_search)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pycrash.kernel.stack.records import ExceptionFrame
from pycrash.kernel.stack.registers import PT_REGS_FIELDS, PT_REGS_SIZE

if TYPE_CHECKING:
    from pycrash.kernel.stack.machine import KernelStack
    from pycrash.kernel.stack.symbolizer import Symbolizer

# crash x86_64.c exception_functions_5_8[]: entry points (5.8+) whose return address sits
# just below a pt_regs.
EXCEPTION_FUNCTIONS = frozenset((
    "asm_exc_invalid_tss", "asm_exc_segment_not_present", "asm_exc_alignment_check",
    "asm_exc_general_protection", "asm_exc_page_fault", "asm_exc_divide_error",
    "asm_exc_overflow", "asm_exc_bounds", "asm_exc_invalid_op", "asm_exc_device_not_available",
    "asm_exc_coproc_segment_overrun", "asm_exc_spurious_interrupt_bug",
    "asm_exc_coprocessor_error", "asm_exc_simd_coprocessor_error", "asm_exc_debug",
    "xen_asm_exc_stack_segment", "xen_asm_exc_xen_hypervisor_callback", "xen_asm_exc_int3",
))
# pre-5.8 names (exception_functions_orig[])
EXCEPTION_FUNCTIONS_OLD = frozenset((
    "invalid_TSS", "segment_not_present", "alignment_check", "xen_stack_segment",
    "general_protection", "page_fault", "divide_error", "overflow", "bounds", "invalid_op",
    "device_not_available", "coprocessor_segment_overrun", "spurious_interrupt_bug",
    "coprocessor_error", "simd_coprocessor_error", "xen_hypervisor_callback", "xen_debug",
    "xen_int3", "async_page_fault",
))
# RFLAGS bits that read as zero (crash's RAZ_MASK)
_RAZ_MASK = 0xFFFFFFFFFFC08028
_KERNEL_CS, _KERNEL_SS, _USER_CS, _USER_SS = 0x10, 0x18, 0x33, 0x2B


def eframe_verify(symbols: Symbolizer, address: int, regs: dict[str, int], in_estack: bool,
                  search: bool = False) -> bool:
    """crash's x86_64_eframe_verify(), the cases that apply to 64-bit kernels."""
    cs, ss, rip, rsp, rflags = regs["cs"], regs["ss"], regs["ip"], regs["sp"], regs["flags"]
    if rflags & _RAZ_MASK or not rflags & 0x2:
        return False
    kvaddr = symbols.space.is_kvaddr
    uvaddr = symbols.space.is_uvaddr
    text = symbols.is_kernel_text(rip)
    if cs == _KERNEL_CS and ss == _KERNEL_SS:
        if text and kvaddr(rsp):
            return True
        if symbols.table.module_of(rip) and kvaddr(rsp) and rsp == address + PT_REGS_SIZE:
            return True
        if text and in_estack:
            return True
        if text and not kvaddr(rsp) and search and in_estack:
            return True
        if address + PT_REGS_SIZE == rsp:
            return True
    if cs == _KERNEL_CS and address:
        if text and kvaddr(rsp) and rsp in (address + PT_REGS_SIZE + 8,
                                             address + PT_REGS_SIZE):
            return True
        if text and kvaddr(rsp) and in_estack:
            return True
    if cs == _USER_CS and ss == _USER_SS:
        if uvaddr(rip) and uvaddr(rsp):
            return True
    if cs == 0x23 and ss == _USER_SS and uvaddr(rip) and uvaddr(rsp):
        return True
    return False


def search_eframes(symbols: Symbolizer, stack: KernelStack, start: int = 0,
                   in_estack: bool = False) -> list[ExceptionFrame]:
    """crash's x86_64_eframe_search(): every verified pt_regs on ``stack`` (bt -e/-E)."""
    found = []
    words = stack.words
    first = (start - stack.base) // 8 if start else 0
    last = (stack.top - stack.base - PT_REGS_SIZE) // 8
    for index in range(first, last + 1):
        chunk = words[index:index + 21]
        if len(chunk) < 21:
            break
        regs = dict(zip(PT_REGS_FIELDS, chunk, strict=True))
        address = stack.base + 8 * index
        if not eframe_verify(symbols, address, regs, in_estack, search=True):
            continue
        kernel = not regs["cs"] & 3
        name, offset = None, 0
        if kernel:
            located = symbols.lookup(regs["ip"])
            if located:
                name, offset = located[0], located[1]
            else:
                name = "unknown or invalid address"
        found.append(ExceptionFrame(regs, kernel, name, offset, address=address))
    return found
