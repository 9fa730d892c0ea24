"""Kernel stack back traces: drgn's unwinder, and crash's own x86-64 stack walk.

Two views of a task's stack live here:

* :func:`stack_trace` -- a :class:`drgn.StackTrace` (what ``session.stack_trace()`` returns):
  tasks active on a CPU start from that CPU's NT_PRSTATUS registers, the others from their
  switch frame (``inactive_task_frame``, 4.9+), both unwound by drgn (ORC / DWARF CFI).
* :func:`crash_backtrace` -- the frames crash 8's ``bt`` prints.  crash does not unwind on
  x86-64: its "low budget" tracer (x86_64.c x86_64_low_budget_back_trace_cmd) scans the
  stack word by word, shows every word that is a kernel text address with a non-zero
  offset into its function, and after each one skips the function's frame size (from ORC:
  ``sp_offset - 8`` for CALL entries).  Each frame line's ``[address]`` is the stack slot
  holding the return address; the starting slot of an active task is found by searching
  its stacks for known symbols (crash_kexec, panic, crash_nmi_callback, ...), exactly as
  x86_64_get_dumpfile_stack_frame() does.  Exception frames (``struct pt_regs`` above the
  return address into an ``asm_exc_*`` entry), IST exception stacks and the IRQ stack are
  handled as crash handles them.

The modules, each for one part of that:

* ``unwind`` -- drgn's unwind of a task (from its switch frame or its CPU's registers);
* ``registers`` -- ``struct pt_regs``: layout, and register blocks from bytes or a note;
* ``records`` -- what a trace is made of (frame lines, register blocks, stack switches);
* ``symbolizer`` -- addresses as crash judges them (IS_KVADDR, is_kernel_text, value_search);
* ``machine`` -- per-dump facts: the task, IRQ and exception stacks, ORC, sizes;
* ``disassembly`` -- what crash learns by disassembling (thread_return, frame sizes);
* ``eframes`` -- exception-frame detection (x86_64_eframe_verify, x86_64_eframe_search);
* ``start`` -- where an active or blocked task's trace starts;
* ``walker`` -- the scan itself, with the IRQ/exception stack transitions;
* ``backtrace``, ``search``, ``overflow`` -- ``bt``, ``bt -e``/``-E`` and ``bt -v``.

Names are imported from their module on first use, so importing this package is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AddressSpace",
    "Backtrace",
    "ExceptionFrame",
    "Frame",
    "Note",
    "StackSearch",
    "StackSwitch",
    "crash_backtrace",
    "pt_regs_from_cpu",
    "search_cpu_stacks",
    "search_exception_frames",
    "stack_overflow_report",
    "stack_trace",
]

_HOME = {
    "AddressSpace": "symbolizer",
    "Backtrace": "records",
    "ExceptionFrame": "records",
    "Frame": "records",
    "Note": "records",
    "StackSearch": "records",
    "StackSwitch": "records",
    "crash_backtrace": "backtrace",
    "pt_regs_from_cpu": "registers",
    "search_cpu_stacks": "search",
    "search_exception_frames": "search",
    "stack_overflow_report": "overflow",
    "stack_trace": "unwind",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
