"""crash's x86_64_low_budget_back_trace_cmd() for one task: the word-by-word scan of its
stacks, frame sizes from ORC, exception frames, and the transitions from the IST exception
stacks and the IRQ stack back to the process stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

import drgn

from pycrash.kernel.orc import ORC_REG_BP, ORC_REG_PREV_SP, ORC_REG_SP, ORC_REG_UNDEFINED
from pycrash.kernel.stack.eframes import eframe_verify
from pycrash.kernel.stack.records import Entry, ExceptionFrame, Frame, Note, StackSwitch
from pycrash.kernel.stack.registers import (
    PT_REGS_FIELDS,
    PT_REGS_SIZE,
    regs_from_bytes,
    regs_from_note,
)
from pycrash.kernel.stack.symbolizer import symbol_value

if TYPE_CHECKING:
    from pycrash.kernel.stack.machine import KernelStack, Machine
    from pycrash.kernel.tasks import TaskInfo


class Walker:
    """One run of crash's x86_64_low_budget_back_trace_cmd() for one task."""

    def __init__(self, machine: Machine, info: TaskInfo, *, full: bool = False,
                 user_regs: dict[str, int] | None = None, panic_task: bool = False,
                 text_symbols: bool = False, text_all: bool = False) -> None:
        self.m = machine
        self.sym = machine.symbols
        self.info = info
        self.full = full
        self.user_regs = user_regs
        self.panic_task = panic_task
        self.text_symbols = text_symbols or text_all
        self.text_all = text_all
        self.entries: list[Entry] = []
        self.level = 0
        self.bptr = 0
        self.eframe_ip = 0
        self.frameptr = 0
        self.stack: KernelStack | None = None
        self.process: KernelStack | None = None

    # -- helpers --------------------------------------------------------------------------

    def process_stack(self) -> KernelStack | None:
        if self.process is None and self.info.stack:
            self.process = self.m.read_stack(self.info.stack, self.m.thread_size)
        return self.process

    def _in_process_stack(self, address: int) -> bool:
        stack = self.info.stack
        return bool(stack) and stack <= address < stack + self.m.thread_size

    def read_regs(self, address: int) -> dict[str, int] | None:
        stack = self.stack
        if stack is not None and stack.base <= address and address + PT_REGS_SIZE <= stack.top:
            index = (address - stack.base) // 8
            return dict(zip(PT_REGS_FIELDS, stack.words[index:index + 21], strict=True))
        try:
            return regs_from_bytes(self.m.prog.read(address, PT_REGS_SIZE))
        except drgn.FaultError:
            return None

    def exception_frame(self, address: int, *, verify: bool,
                        in_estack: bool = False) -> tuple[bool, int]:
        """Print (record) the pt_regs at ``address``; returns (printed, cs)."""
        regs = self.read_regs(address)
        if regs is None:
            return False, 0
        verified = eframe_verify(self.sym, address, regs, in_estack)
        if verify and not verified:
            return False, regs["cs"]
        kernel = not regs["cs"] & 3
        name = None
        offset = 0
        if kernel:
            found = self.sym.lookup(regs["ip"]) if self.sym.space.is_kvaddr(regs["ip"]) else None
            if found:
                name, offset = found[0], found[1]
                self.eframe_ip = regs["ip"]
            else:
                name = "unknown or invalid address"
        self.entries.append(ExceptionFrame(regs, kernel, name, offset, address=address))
        self.bptr = regs["bp"]
        return True, regs["cs"]

    def framesize(self, text: int, rsp: int, stack_ptr: bool) -> int:
        """crash's x86_64_get_framesize() on an ORC kernel; -1 when it cannot tell."""
        if self.text_symbols:  # BT_FRAMESIZE_IGNORE_MASK: -t/-T show every text word
            return 0
        found = self.sym.lookup(text)
        if found is None:
            return 0
        module = self.sym.module_of(text)
        if self.m.in_init_text(found[2]):
            return 0
        entry = self.m.orc.find(text, module[1] if module else None)
        if entry is None or not entry.is_call:
            return self.m.disassembly_framesize(found[2], text, text == self.eframe_ip)
        framesize = -1
        prev_sp = 0
        stack = self.stack
        if entry.sp_reg == ORC_REG_SP:
            framesize = entry.sp_offset - 8
            prev_sp = rsp + 8 + entry.sp_offset
        elif entry.sp_reg == ORC_REG_BP and self.bptr and stack and stack.contains(self.bptr):
            prev_sp = self.bptr + entry.sp_offset
            framesize = prev_sp - (rsp + 8) - 8
        if entry.bp_reg == ORC_REG_PREV_SP and prev_sp:
            prev_bp = prev_sp + entry.bp_offset
            if stack_ptr and stack and stack.contains(prev_bp):
                self.bptr = stack.word(prev_bp)
            else:
                self.bptr = 0
        elif entry.bp_reg != ORC_REG_UNDEFINED:
            self.bptr = 0
        if framesize < 0:
            return self.m.disassembly_framesize(found[2], text, text == self.eframe_ip)
        return framesize

    # -- crash's print_stack_entry --------------------------------------------------------

    def stack_entry(self, slot: int, text: int, *, start: bool = False,
                    exception: bool = False, in_irq: bool = False) -> str:
        """Returns "ignored", "displayed", "eframe" (entry + exception frame) or "complete"."""
        if not exception:
            self.eframe_ip = 0
        found = self.sym.lookup(text)
        if found is None:
            return "ignored"
        name, offset, _ = found
        if self.text_symbols:
            self.entries.append(Frame(self.level, slot, text, name, offset,
                                      self._module_name(text)))
            return "displayed"
        eframe_check = -1
        if not offset and not exception and not start:
            if name == "child_rip":
                name = "kernel_thread"
            elif name == "error_exit":
                eframe_check = 8
            else:
                return "ignored"
        if eframe_check == -1 and offset and not (exception or start):
            if name in self.m.exception_functions:
                eframe_check = 8
            if in_irq and "_interrupt" in name:
                eframe_check = 0
        result = "displayed"
        if name in ("kernel_thread", "cpu_idle", "system_call_fastpath"):
            result = "complete"
        words = None
        if self.full:
            if self.frameptr and self.stack is not None:
                words = self._frame_words(self.frameptr, slot)
            self.frameptr = slot + 8
        self.entries.append(Frame(self.level, slot, text, name, offset, self._module_name(text),
                                  words))
        if eframe_check >= 0:
            printed, _ = self.exception_frame(slot + eframe_check, verify=True)
            if printed:
                result = "eframe"
        return result

    def _frame_words(self, start: int, end: int) -> list[tuple[int, int]] | None:
        stack = self.stack
        if stack is None or end < start or not stack.contains(start) or not stack.contains(end):
            return None
        return [(address, stack.word(address)) for address in range(start, end + 8, 8)]

    def _module_name(self, text: int) -> str | None:
        found = self.sym.table.module_of(text)
        return found.name if found else None

    # -- the scan -------------------------------------------------------------------------

    def scan(self, rsp: int, stacktop: int, *, process: bool, in_irq: bool = False) -> tuple[
            int, bool, int]:
        """Walk ``[rsp, stacktop)`` of the current stack; returns (rsp, done, last eframe)."""
        stack = self.stack
        assert stack is not None
        done = False
        last_eframe = 0
        while not done and rsp < stacktop:
            value = stack.word(rsp)
            if not self.sym.is_kernel_text(value):
                rsp += 8
                continue
            result = self.stack_entry(rsp, value, in_irq=in_irq)
            if result == "eframe":
                if process:
                    last_eframe = rsp + 8
                rsp += PT_REGS_SIZE
                self.level += 1
                if self.eframe_ip:
                    rsp += self.framesize(self.eframe_ip, rsp, process)
            elif result == "displayed":
                self.level += 1
                rsp += self.framesize(self.eframe_ip or value, rsp, process)
            elif result == "complete":
                done = True
            rsp += 8
        return rsp, done, last_eframe

    # -- x86_64_low_budget_back_trace_cmd -------------------------------------------------

    def run(self, rip: int, rsp: int, flags: set[str]) -> str | None:
        """Trace from (rip, rsp); returns crash's FATAL message if the walk must stop."""
        m = self.m
        info = self.info
        process = self.process_stack()
        if process is None:
            self.entries.append(Note("(no stack)"))
            return None
        self.stack = process
        done = False
        irq_eframe = 0
        last_process_eframe = 0
        self.level = 0
        in_stacks: set[str] = set()
        start_rsp = rsp

        if "user" not in flags and not self._accessible(rsp):
            self.entries.append(Note("cannot determine starting stack pointer"))
            return None
        if self.text_symbols:
            if "user" in flags and not self.text_all:
                return None
            if not self.text_all:
                name = self.sym.closest_name(rip) or ""
                suffix = " (schedule)" if name == "thread_return" else ""
                self.entries.append(Note(f"{' ' * 14}START: {name}{suffix} at {rip:x}"))
        elif "user" in flags:
            self.entries.append(ExceptionFrame(regs_from_note(self.user_regs or {}), False,
                                               "user space", from_notes=True))
            return None
        elif "kernel" in flags:
            found = self.sym.lookup(rip)
            name = found[0] if found else "unknown or invalid address"
            self.entries.append(ExceptionFrame(regs_from_note(self.user_regs or {}), True, name,
                                               found[1] if found else 0, from_notes=True))

        while True:
            estack = m.in_exception_stack(rsp)
            if estack is not None:
                base, top, name = estack
                in_stacks.add("exception")
                self.stack = m.read_stack(base, top - base)
                if self.stack is None:
                    return f"read of exception stack at {base:x} failed"
                if irq_eframe:
                    self.stack_entry(irq_eframe, rip, exception=True)
                    self.exception_frame(irq_eframe, verify=False, in_estack=True)
                    rsp += PT_REGS_SIZE
                    if self.eframe_ip:
                        rsp += self.framesize(self.eframe_ip, rsp, False)
                    self.level += 1
                    irq_eframe = 0
                stacktop = top - PT_REGS_SIZE
                if self.m.nested_nmi and name == "NMI":
                    stacktop -= 12 * 8
                rsp, done, _ = self.scan(rsp, stacktop, process=False)
                _, cs = self.exception_frame(stacktop, verify=False, in_estack=True)
                self.entries.append(StackSwitch(f"{name} exception stack"))
                # the CPU-saved iret frame: RIP CS RFLAGS RSP SS at the stack's top
                index = (top - base) // 8 - 5
                if self.m.nested_nmi and name == "NMI" and start_rsp <= top - 17 * 8:
                    index -= 12
                    if self.stack.words[index] == symbol_value(m.prog, "repeat_nmi"):
                        index += 5
                words = self.stack.words
                rsp = words[index + 3]
                rip = words[index]
                self.frameptr = 0
                done = bool(cs & 3)
                if not done:
                    self.stack = process
                    self.entries.append(Frame(self.level, rsp, rip,
                                              *self._name_offset(rip),
                                              module=self._module_name(rip)))
                    self.eframe_ip = rip
                    self.level += 1
                    rsp += self.framesize(rip, rsp, False)
                    self.eframe_ip = 0
            if not done:
                irq = m.in_irq_stack(rsp)
                if irq is not None:
                    base, top = irq
                    in_stacks.add("irq")
                    self.stack = m.read_stack(base, top - base)
                    if self.stack is None:
                        return f"read of IRQ stack at {base:x} failed"
                    rsp, done, _ = self.scan(rsp, top, process=False, in_irq=True)
                    self.entries.append(StackSwitch("IRQ stack"))
                    link = self.stack.words[(top - base) // 8 - 1]
                    irq_eframe = rsp = self._irq_eframe_link(link)
                    rip = self.stack.words[(top - base) // 8 - 2]
                    found = self.sym.lookup(rip)
                    if found and found[0] in ("do_softirq", "do_softirq_own_stack",
                                              "call_softirq"):
                        irq_eframe = 0
                    self.frameptr = 0
                    done = False
                    if m.in_exception_stack(rsp) is not None:
                        continue
            break

        if not done and in_stacks:
            if not self._in_process_stack(rsp):
                if "exception" in in_stacks and "irq" in in_stacks:
                    return ("cannot transition from exception stack to IRQ stack to current "
                            "process stack")
                if "exception" in in_stacks:
                    if 0 < rsp and self.sym.space.is_uvaddr(rsp):
                        done = True
                    else:
                        return ("cannot transition from exception stack to current process "
                                f"stack:\n    exception stack pointer: {rsp:x}")
                else:
                    return "cannot transition from IRQ stack to current process stack"
        self.stack = process

        if not done and not in_stacks and not self.text_symbols and \
                "searched" not in flags and "kernel" not in flags:
            # a blocked task: start at inactive_task_frame.ret_addr
            name = self.sym.closest_name(rip)
            if name in ("thread_return", "schedule", "__schedule") and \
                    m.ret_addr_offset is not None:
                rsp += m.ret_addr_offset

        if irq_eframe and not done:
            # 5.8+ (asm_common_interrupt): the interrupted entry's return address sits just
            # below the pt_regs; crash prints it at the pt_regs address (bt->stkptr)
            if self.m.asm_common_interrupt and process.contains(irq_eframe - 8):
                rip = process.word(irq_eframe - 8)
            self.stack_entry(irq_eframe, rip, exception=True)
            _, cs = self.exception_frame(irq_eframe, verify=False)
            if cs & 3:
                done = True
            else:
                rsp += PT_REGS_SIZE
                if self.eframe_ip:
                    rsp += self.framesize(self.eframe_ip, rsp, True)
            self.level += 1

        if not done:
            rsp, done, last_process_eframe = self.scan(rsp, process.top, process=True)

        if not irq_eframe and not info.is_kernel_thread:
            padding = 16 if self.m.has_fred else 0
            user_frame = process.top - PT_REGS_SIZE
            if last_process_eframe < user_frame:
                self.exception_frame(process.top - padding - PT_REGS_SIZE, verify=False)
        return None

    def _name_offset(self, text: int) -> tuple[str, int]:
        found = self.sym.lookup(text)
        return (found[0], found[1]) if found else (f"{text:x}", 0)

    def _accessible(self, address: int) -> bool:
        try:
            self.m.prog.read(address, 1)
            return True
        except drgn.FaultError:
            return False

    def _irq_eframe_link(self, link: int) -> int:
        """crash's x86_64_irq_eframe_link(): find the pt_regs near the saved stack pointer."""
        for candidate in (link, link - self.m.irq_eframe_link):
            regs = self.read_regs(candidate)
            if regs and eframe_verify(self.sym, candidate, regs, False):
                return candidate
        base = link - self.m.irq_eframe_link
        for delta in (8, -8, 16, -16):
            regs = self.read_regs(base + delta)
            if regs and eframe_verify(self.sym, base + delta, regs, False):
                return base + delta
        return base
