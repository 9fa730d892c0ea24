"""Per-dump facts crash's x86-64 tracer needs: the task, IRQ and exception stacks of every
CPU, ORC, frame sizes, and the kernel's pt_regs/inactive_task_frame layout."""

from __future__ import annotations

import dataclasses
import struct
from typing import TYPE_CHECKING

import drgn

from pycrash.kernel.orc import OrcTables
from pycrash.kernel.stack.disassembly import find_thread_return, replay_stack_moves
from pycrash.kernel.stack.eframes import EXCEPTION_FUNCTIONS, EXCEPTION_FUNCTIONS_OLD
from pycrash.kernel.stack.symbolizer import Symbolizer, has_symbol, has_type, symbol_value
from pycrash.kernel.tasks import task_table

if TYPE_CHECKING:
    from pycrash.session import Session


@dataclasses.dataclass
class KernelStack:
    """A kernel stack's words, read once: [base, top)."""

    base: int
    top: int
    words: tuple[int, ...]

    def word(self, address: int) -> int:
        return self.words[(address - self.base) // 8]

    def contains(self, address: int) -> bool:
        return self.base <= address < self.top


class Machine:
    """Per-dump facts crash's x86-64 tracer needs: stacks, ORC, symbols, pt_regs layout."""

    def __init__(self, session: Session) -> None:
        prog = session.prog
        self.prog = prog
        self.symbols = Symbolizer(session)
        self.orc = OrcTables.of(prog)
        self.thread_size = _thread_size(prog)
        self.irq_stacks: dict[int, tuple[int, int]] = {}
        self.exception_stacks: dict[int, list[tuple[int, int, str]]] = {}
        self.exception_names = _exception_stack_names(prog, self.symbols)
        table = task_table(prog)
        self._per_cpu_stacks(table.cpus)
        task_type = prog.type("struct task_struct")
        self.thread_sp = drgn.offsetof(task_type, "thread") + drgn.offsetof(
            prog.type("struct thread_struct"), "sp")
        try:
            self.ret_addr_offset: int | None = drgn.offsetof(
                prog.type("struct inactive_task_frame"), "ret_addr")
        except LookupError:
            self.ret_addr_offset = None
        self.exception_functions = (EXCEPTION_FUNCTIONS if has_symbol(prog, "asm_exc_page_fault")
                                    else EXCEPTION_FUNCTIONS_OLD)
        self.nested_nmi = has_symbol(prog, "repeat_nmi")
        self.asm_common_interrupt = has_symbol(prog, "asm_common_interrupt")
        # crash's irq_eframe_link: -64 with asm_call_on_stack (5.8-5.11), else -32 (5.12+)
        self.irq_eframe_link = -64 if has_symbol(prog, "asm_call_on_stack") else -32
        self.has_fred = has_type(prog, "struct fred_frame")
        self._stack_cache: dict[int, KernelStack | None] = {}
        self._framesize_cache: dict[tuple[int, bool], int] = {}
        self._thread_return: int | None = None
        try:
            self.thread_info_size = prog.type("struct thread_info").size or 0
        except LookupError:
            self.thread_info_size = 0
        self.init_text = (symbol_value(prog, "__init_begin"), symbol_value(prog, "__init_end"))

    @classmethod
    def of(cls, session: Session) -> Machine:
        cache = session.prog.cache
        machine = cache.get("pycrash.kernel.stack")
        if machine is None:
            machine = cls(session)
            cache["pycrash.kernel.stack"] = machine
        return machine

    def _per_cpu_stacks(self, cpus: int) -> None:
        from pycrash.kernel.native_helpers import per_cpu

        prog = self.prog
        try:
            isize = prog.type("struct irq_stack").size
        except LookupError:
            isize = 16384
        esizes = _exception_stack_sizes(prog)
        for cpu in range(cpus):
            try:
                if has_symbol(prog, "pcpu_hot"):  # 6.2+
                    pointer = per_cpu(prog["pcpu_hot"], cpu).hardirq_stack_ptr.value_()
                else:
                    pointer = per_cpu(prog["hardirq_stack_ptr"], cpu).value_()
                if pointer:
                    if pointer & 0xFFF:
                        pointer += 8
                    self.irq_stacks[cpu] = (pointer - isize, pointer)
            except (KeyError, LookupError, drgn.FaultError):
                pass
            try:
                ist = per_cpu(prog["cpu_tss_rw"], cpu).x86_tss.ist
                stacks = []
                for i in range(len(ist)):
                    top = ist[i].value_()
                    name = self.exception_names.get(i, "(unknown)")
                    if top == 0:
                        break
                    # an IST slot no IDT vector names ("(unknown)") keeps size 0, as in crash
                    size = esizes.get(name, 0) if esizes else 4096
                    stacks.append((top - size, top, name))
                self.exception_stacks[cpu] = stacks
            except (KeyError, LookupError, drgn.FaultError):
                pass

    @property
    def thread_return(self) -> int:
        """crash's machdep->machspec->thread_return: the address after __schedule's call to
        __switch_to_asm (``thread_return`` where that label exists)."""
        if self._thread_return is None:
            self._thread_return = find_thread_return(self.prog)
        return self._thread_return

    def in_init_text(self, address: int) -> bool:
        return self.init_text[0] <= address < self.init_text[1]

    def disassembly_framesize(self, function: int, text: int, exception: bool) -> int:
        """crash's fallback when ORC gives no CALL frame: replay the function's stack moves.

        gdb disassembles from the function's start up to ``text`` (included for an exception
        address); each push adds 8, pop/leave take 8 back, ``sub $n,%rsp``/``add $n,%rsp``
        move by n, and a ``ret`` on the way restores the largest size seen.  Cached per
        (address, exception) like crash's framesize cache.
        """
        key = (text, exception)
        cached = self._framesize_cache.get(key)
        if cached is not None:
            return cached
        framesize = replay_stack_moves(self.prog, function, text, exception)
        self._framesize_cache[key] = framesize
        return framesize

    def read_stack(self, base: int, size: int) -> KernelStack | None:
        key = base
        if key not in self._stack_cache:
            try:
                raw = self.prog.read(base, size)
                stack = KernelStack(base, base + size, struct.unpack(f"<{size // 8}Q", raw))
            except drgn.FaultError:
                stack = None
            self._stack_cache[key] = stack
        return self._stack_cache[key]

    def in_exception_stack(self, rsp: int) -> tuple[int, int, str] | None:
        for stacks in self.exception_stacks.values():
            for base, top, name in stacks:
                if base <= rsp < top:
                    return base, top, name
        return None

    def in_irq_stack(self, rsp: int) -> tuple[int, int] | None:
        for base, top in self.irq_stacks.values():
            if base <= rsp < top:
                return base, top
        return None

    def in_alternate_stack(self, cpu: int, rsp: int) -> bool:
        irq = self.irq_stacks.get(cpu)
        if irq and irq[0] <= rsp < irq[1]:
            return True
        return any(base <= rsp < top for base, top, _ in self.exception_stacks.get(cpu, []))


def _thread_size(prog: drgn.Program) -> int:
    try:
        return int(prog["THREAD_SIZE"])
    except (KeyError, LookupError, TypeError):
        return 16384


def _exception_stack_sizes(prog: drgn.Program) -> dict[str, int]:
    """crash's esize[]: member sizes of struct cea_exception_stacks (4.20+)."""
    members = {"DEBUG": "DB_stack", "NMI": "NMI_stack", "DOUBLEFAULT": "DF_stack",
               "MCE": "MCE_stack", "VC": "VC_stack"}
    sizes: dict[str, int] = {}
    for struct_name in ("struct cea_exception_stacks", "struct exception_stacks"):
        try:
            stype = prog.type(struct_name)
        except LookupError:
            continue
        for name, member in members.items():
            try:
                sizes[name] = drgn.sizeof(stype.member(member).type)
            except (LookupError, ValueError):
                pass
        break
    return sizes


def _exception_stack_names(prog: drgn.Program, symbols: Symbolizer) -> dict[int, str]:
    """crash's x86_64_exception_stacks_init(): name IST slot n-1 after its IDT handler."""
    names: dict[int, str] = {}
    try:
        idt = prog.symbol("idt_table").address
        raw = prog.read(idt, 16 * 256)
    except (LookupError, drgn.FaultError):
        return names
    for vector in range(256):
        low, high = struct.unpack_from("<QQ", raw, 16 * vector)
        ist = (low >> 32) & 0x7
        if not ist:
            continue
        handler = (low & 0xFFFF) | ((low >> 32) & 0xFFFF0000) | ((high & 0xFFFFFFFF) << 32)
        found = symbols.lookup(handler)
        name = found[0] if found else ""
        for needle, label in (("nmi", "NMI"), ("debug", "DEBUG"), ("stack", "STACKFAULT"),
                              ("double", "DOUBLEFAULT"), ("machine", "MCE"), ("vmm", "VC")):
            if needle in name:
                names[ist - 1] = label
    return names
