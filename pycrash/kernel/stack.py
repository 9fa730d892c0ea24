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
"""

from __future__ import annotations

import dataclasses
import struct
from typing import TYPE_CHECKING

import drgn

from pycrash.kernel.background_import import import_during_debuginfo_load
from pycrash.kernel.orc import ORC_REG_BP, ORC_REG_PREV_SP, ORC_REG_SP, ORC_REG_UNDEFINED, OrcTables
from pycrash.kernel.tasks import TaskInfo, task_table

# The frame-size fallback disassembles with capstone: import it while the DWARF loads.
import_during_debuginfo_load("capstone")

if TYPE_CHECKING:
    from pycrash.session import Session

__all__ = [
    "AddressSpace",
    "Backtrace",
    "ExceptionFrame",
    "Frame",
    "Note",
    "StackSwitch",
    "crash_backtrace",
    "pt_regs_from_cpu",
    "stack_trace",
]

# pt_regs field order (arch/x86/include/asm/ptrace.h), 8 bytes each: 168 bytes.
PT_REGS_FIELDS = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax",
                  "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss")
PT_REGS_SIZE = 8 * len(PT_REGS_FIELDS)
_PT = {name: 8 * i for i, name in enumerate(PT_REGS_FIELDS)}

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
# x86_64_get_dumpfile_stack_frame(): functions marking where a dumping CPU stopped.
_DUMP_FUNCTIONS = frozenset(("netconsole_netdump", "netpoll_start_netdump", "start_disk_dump",
                             "disk_dump", "crash_kexec", "machine_kexec", "try_crashdump"))
# RFLAGS bits that read as zero (crash's RAZ_MASK)
_RAZ_MASK = 0xFFFFFFFFFFC08028
_KERNEL_CS, _KERNEL_SS, _USER_CS, _USER_SS = 0x10, 0x18, 0x33, 0x2B
# include/uapi/linux/magic.h: written at the far end of every task stack
STACK_END_MAGIC = 0x57AC6E9D


# -- drgn view ------------------------------------------------------------------------------


def pt_regs_from_cpu(prog: drgn.Program, registers: dict[str, int]) -> drgn.Object:
    """A ``struct pt_regs`` value holding a CPU's NT_PRSTATUS registers."""
    aliases = {"bp": "rbp", "bx": "rbx", "ax": "rax", "cx": "rcx", "dx": "rdx", "si": "rsi",
               "di": "rdi", "ip": "rip", "sp": "rsp", "flags": "eflags", "orig_ax": "orig_rax"}
    raw = bytearray(PT_REGS_SIZE)
    for name in PT_REGS_FIELDS:
        value = registers.get(name)
        if value is None:
            value = registers.get(aliases.get(name, name), 0)
        struct.pack_into("<Q", raw, _PT[name], value & 0xFFFFFFFFFFFFFFFF)
    return drgn.Object.from_bytes_(prog, "struct pt_regs", bytes(raw))


def _cpu_registers(session: Session, cpu: int) -> dict[str, int] | None:
    for state in session.dump.cpus:
        if state.cpu == cpu:
            return dict(state.registers)
    return None


def stack_trace(session: Session, task_address: int) -> drgn.StackTrace:
    """drgn's unwind of a task: from its CPU's saved registers when it was running."""
    prog = session.prog
    table = task_table(prog)
    info = table.get(task_address)
    if info is not None and info.active:
        cpu = next((c for c, t in table.active.items() if t == task_address), info.cpu)
        registers = _cpu_registers(session, cpu)
        if registers:
            return prog.stack_trace(pt_regs_from_cpu(prog, registers))
    return prog.stack_trace(drgn.Object(prog, "struct task_struct *", task_address))


# -- crash's view: records ----------------------------------------------------------------


@dataclasses.dataclass
class Frame:
    """`` #N [slot] function at text``: a text address found on the stack."""

    level: int
    slot: int  # stack address holding ``text`` (for an exception RIP: the frame's sp)
    text: int
    name: str
    offset: int
    module: str | None = None
    words: list[tuple[int, int]] | None = None  # bt -f: the frame's stack words


@dataclasses.dataclass
class ExceptionFrame:
    """crash's register block (x86_64_exception_frame or diskdump_display_regs)."""

    registers: dict[str, int]
    kernel_mode: bool
    rip_name: str | None  # "[exception RIP: name+off]" (None: no such line)
    rip_offset: int = 0
    from_notes: bool = False  # the CPU's NT_PRSTATUS (no ORIG_RAX, "CS: %04x  SS: %04x")
    address: int | None = None  # where the pt_regs sits


@dataclasses.dataclass
class StackSwitch:
    """``--- <NAME> ---`` when the walk leaves an IRQ or exception stack."""

    label: str  # "NMI exception stack", "IRQ stack"


@dataclasses.dataclass
class Note:
    """A line crash prints instead of frames, e.g. ``(no stack)``."""

    text: str


Entry = Frame | ExceptionFrame | StackSwitch | Note


@dataclasses.dataclass
class Backtrace:
    task: int
    pid: int
    cpu: int
    comm: str
    entries: list[Entry]
    error: str | None = None  # crash's FATAL error for this task (stack transition, ...)

    @property
    def frames(self) -> list[Frame]:
        return [e for e in self.entries if isinstance(e, Frame)]


# -- crash's view: the machinery ----------------------------------------------------------


@dataclasses.dataclass
class _Stack:
    base: int
    top: int
    words: tuple[int, ...]

    def word(self, address: int) -> int:
        return self.words[(address - self.base) // 8]

    def contains(self, address: int) -> bool:
        return self.base <= address < self.top


@dataclasses.dataclass(frozen=True)
class AddressSpace:
    """crash's IS_KVADDR()/IS_UVADDR() on x86-64, from the dump's own layout.

    crash's ``machdep->kvbase`` is PAGE_OFFSET, the direct map's start (``page_offset_base``
    on KASLR kernels: 0xff11000000000000 unrandomized with 5-level paging, 0xffff888000000000
    with 4); user space ends at TASK_SIZE_MAX (1 << 56 with 5-level paging, 1 << 47 with 4).
    """

    kvbase: int
    user_top: int

    @classmethod
    def of(cls, session: Session) -> AddressSpace:
        layout = session.dump.layout
        user_top = layout.user_top
        # no direct-map base known: the kernel half, the mirror image of user space
        kvbase = layout.page_offset_base or (1 << 64) - user_top
        return cls(kvbase, user_top)

    def is_kvaddr(self, address: int) -> bool:
        return address >= self.kvbase

    def is_uvaddr(self, address: int) -> bool:
        return address < self.user_top


class _Symbolizer:
    """crash's value_search()/is_kernel_text() over pycrash's symbol table, memoized."""

    def __init__(self, session: Session) -> None:
        from pycrash.kernel.symbols import symbol_table

        self.prog = session.prog
        self.space = AddressSpace.of(session)
        self.table = symbol_table(session)
        self.cache: dict[int, tuple[str, int, int, bool] | None] = {}
        self.text_ranges: list[tuple[int, int]] = []
        try:  # crash: every SEC_CODE section of vmlinux, KASLR-relocated
            from pycrash.kernel.symbols import kernel_text_ranges

            self.text_ranges = kernel_text_ranges(session.vmlinux_path,
                                                  session.dump.kaslr_offset or 0)
        except Exception:  # noqa: BLE001 - no section headers: the text symbols' span
            for start, end in (("_stext", "_etext"), ("_sinittext", "_einittext")):
                first, last = self.table.lookup(start), self.table.lookup(end)
                if first and last:
                    self.text_ranges.append((first[0].address, last[0].address))
        self._module_structs: dict[str, drgn.Object] = {}

    def module_of(self, address: int) -> tuple[str, drgn.Object] | None:
        """(name, struct module *) of the module holding ``address``."""
        found = self.table.module_of(address)
        if found is None:
            return None
        name = found.name
        if name not in self._module_structs:
            self._module_structs[name] = drgn.Object(
                self.prog, "struct module *", found.module.struct_address)
        return name, self._module_structs[name]

    def _search(self, value: int) -> tuple[str, int, int, bool] | None:
        if value in self.cache:
            return self.cache[value]
        found = self.table.value_search(value) if self.space.is_kvaddr(value) else None
        result = None
        if found is not None:
            sym, offset = found
            result = (sym.name, offset, sym.address, sym.is_text or sym.type in ("W", "w"))
        self.cache[value] = result
        return result

    def is_kernel_text(self, value: int) -> bool:
        """crash's is_kernel_text(): vmlinux code sections, or a text symbol's address."""
        for start, end in self.text_ranges:
            if start <= value < end:
                return True
        found = self._search(value)
        return bool(found and found[3])

    def lookup(self, value: int) -> tuple[str, int, int] | None:
        """(name, offset, symbol address) as crash's value_search() finds it, or None."""
        found = self._search(value)
        return found[:3] if found else None

    def closest_name(self, value: int) -> str | None:
        found = self._search(value)
        return found[0] if found else None

    def _plausible(self, value: int) -> bool:
        return self.space.is_kvaddr(value)


class _Machine:
    """Per-dump facts crash's x86-64 tracer needs: stacks, ORC, symbols, pt_regs layout."""

    def __init__(self, session: Session) -> None:
        prog = session.prog
        self.prog = prog
        self.symbols = _Symbolizer(session)
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
        self.exception_functions = (EXCEPTION_FUNCTIONS if _has_symbol(prog, "asm_exc_page_fault")
                                    else EXCEPTION_FUNCTIONS_OLD)
        self.nested_nmi = _has_symbol(prog, "repeat_nmi")
        self.asm_common_interrupt = _has_symbol(prog, "asm_common_interrupt")
        # crash's irq_eframe_link: -64 with asm_call_on_stack (5.8-5.11), else -32 (5.12+)
        self.irq_eframe_link = -64 if _has_symbol(prog, "asm_call_on_stack") else -32
        self.has_fred = _has_type(prog, "struct fred_frame")
        self._stack_cache: dict[int, _Stack | None] = {}
        self._framesize_cache: dict[tuple[int, bool], int] = {}
        self._thread_return: int | None = None
        try:
            self.thread_info_size = prog.type("struct thread_info").size or 0
        except LookupError:
            self.thread_info_size = 0
        self.init_text = (_symbol_value(prog, "__init_begin"), _symbol_value(prog, "__init_end"))

    @classmethod
    def of(cls, session: Session) -> _Machine:
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
                if _has_symbol(prog, "pcpu_hot"):  # 6.2+
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
            self._thread_return = _find_thread_return(self.prog)
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
        framesize = _replay_stack_moves(self.prog, function, text, exception)
        self._framesize_cache[key] = framesize
        return framesize

    def read_stack(self, base: int, size: int) -> _Stack | None:
        key = base
        if key not in self._stack_cache:
            try:
                raw = self.prog.read(base, size)
                stack = _Stack(base, base + size, struct.unpack(f"<{size // 8}Q", raw))
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


def _has_symbol(prog: drgn.Program, name: str) -> bool:
    try:
        prog.symbol(name)
        return True
    except LookupError:
        return False


def _has_type(prog: drgn.Program, name: str) -> bool:
    try:
        prog.type(name)
        return True
    except LookupError:
        return False


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


def _exception_stack_names(prog: drgn.Program, symbols: _Symbolizer) -> dict[int, str]:
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


class _TraceError(Exception):
    """crash's error(FATAL) inside a back trace: the message replaces the frames."""


def _find_thread_return(prog: drgn.Program) -> int:
    """Where a switched-out task resumes: the instruction after the call to __switch_to_asm
    (or __switch_to) in schedule()/__schedule(), as crash's search_for_switch_to() finds it."""
    address = _symbol_value(prog, "thread_return")
    if address:
        return address
    targets = {_symbol_value(prog, name) for name in ("__switch_to_asm", "__switch_to")} - {0}
    try:
        import capstone
    except ImportError:
        capstone = None
    for name in ("schedule", "__schedule"):
        try:
            sym = prog.symbol(name)
        except LookupError:
            continue
        if capstone is None or not sym.size:
            continue
        try:
            code = prog.read(sym.address, sym.size)
        except drgn.FaultError:
            continue
        disassembler = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        for insn in disassembler.disasm(code, sym.address):
            if insn.mnemonic == "call":
                try:
                    target = int(insn.op_str, 16)
                except ValueError:
                    continue
                if target in targets:
                    return insn.address + insn.size
    return _symbol_value(prog, "schedule")


def _replay_stack_moves(prog: drgn.Program, function: int, text: int, exception: bool) -> int:
    """x86_64_get_framesize()'s disassembly walk (see _Machine.disassembly_framesize)."""
    try:
        import capstone
    except ImportError:
        return 0
    if not function or text <= function or text - function > 1 << 16:
        return 0
    try:
        code = prog.read(function, text - function + 16)
    except drgn.FaultError:
        return 0
    disassembler = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    disassembler.syntax = capstone.CS_OPT_SYNTAX_ATT
    framesize = largest = 0
    for insn in disassembler.disasm(code, function):
        if insn.address > text or (insn.address == text and not exception):
            break
        mnemonic = insn.mnemonic.split()[-1] if insn.mnemonic else ""
        operands = insn.op_str.replace(" ", "")
        if mnemonic.startswith("push"):
            framesize += 8
            largest = framesize
        elif mnemonic.startswith("pop") or mnemonic.startswith("leave"):
            if framesize > 0:
                framesize -= 8
        elif mnemonic.startswith(("add", "sub")) and operands.endswith(",%rsp"):
            source = operands[:-len(",%rsp")]
            if not source.startswith("$"):
                continue
            try:
                amount = int(source[1:], 16)
            except ValueError:
                continue
            if mnemonic.startswith("add"):
                if framesize > 0:
                    framesize -= amount
            else:
                framesize += amount
                largest = framesize
        elif mnemonic.startswith("ret"):
            if not exception:
                framesize = largest
    return framesize


def _regs_from_bytes(raw: bytes, offset: int = 0) -> dict[str, int]:
    values = struct.unpack_from("<21Q", raw, offset)
    return dict(zip(PT_REGS_FIELDS, values, strict=True))


def _regs_from_note(registers: dict[str, int]) -> dict[str, int]:
    aliases = {"bp": "rbp", "bx": "rbx", "ax": "rax", "cx": "rcx", "dx": "rdx", "si": "rsi",
               "di": "rdi", "ip": "rip", "sp": "rsp", "flags": "eflags", "orig_ax": "orig_rax"}
    return {name: registers.get(name, registers.get(aliases.get(name, name), 0))
            for name in PT_REGS_FIELDS}


class _Walker:
    """One run of crash's x86_64_low_budget_back_trace_cmd() for one task."""

    def __init__(self, machine: _Machine, info: TaskInfo, *, full: bool = False,
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
        self.stack: _Stack | None = None
        self.process: _Stack | None = None

    # -- helpers --------------------------------------------------------------------------

    def process_stack(self) -> _Stack | None:
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
            return _regs_from_bytes(self.m.prog.read(address, PT_REGS_SIZE))
        except drgn.FaultError:
            return None

    def eframe_verify(self, address: int, regs: dict[str, int], in_estack: bool,
                      search: bool = False) -> bool:
        """crash's x86_64_eframe_verify(), the cases that apply to 64-bit kernels."""
        cs, ss, rip, rsp, rflags = regs["cs"], regs["ss"], regs["ip"], regs["sp"], regs["flags"]
        if rflags & _RAZ_MASK or not rflags & 0x2:
            return False
        kvaddr = self.sym.space.is_kvaddr
        uvaddr = self.sym.space.is_uvaddr
        text = self.sym.is_kernel_text(rip)
        if cs == _KERNEL_CS and ss == _KERNEL_SS:
            if text and kvaddr(rsp):
                return True
            if self.sym.table.module_of(rip) and kvaddr(rsp) and rsp == address + PT_REGS_SIZE:
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

    def exception_frame(self, address: int, *, verify: bool,
                        in_estack: bool = False) -> tuple[bool, int]:
        """Print (record) the pt_regs at ``address``; returns (printed, cs)."""
        regs = self.read_regs(address)
        if regs is None:
            return False, 0
        verified = self.eframe_verify(address, regs, in_estack)
        if verify and not verified:
            return False, regs["cs"]
        kernel = not regs["cs"] & 3
        name = None
        offset = 0
        if kernel:
            found = self.sym.lookup(regs["ip"]) if self.sym._plausible(regs["ip"]) else None
            if found:
                name, offset = found[0], found[1]
                self.eframe_ip = regs["ip"]
            else:
                name = "unknown or invalid address"
        self.entries.append(ExceptionFrame(regs, kernel, name, offset, address=address))
        self.bptr = regs["bp"]
        return True, regs["cs"]

    def search_eframes(self, stack: _Stack, start: int = 0,
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
            if not self.eframe_verify(address, regs, in_estack, search=True):
                continue
            kernel = not regs["cs"] & 3
            name, offset = None, 0
            if kernel:
                located = self.sym.lookup(regs["ip"])
                if located:
                    name, offset = located[0], located[1]
                else:
                    name = "unknown or invalid address"
            found.append(ExceptionFrame(regs, kernel, name, offset, address=address))
        return found

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
            self.entries.append(ExceptionFrame(_regs_from_note(self.user_regs or {}), False,
                                               "user space", from_notes=True))
            return None
        elif "kernel" in flags:
            found = self.sym.lookup(rip)
            name = found[0] if found else "unknown or invalid address"
            self.entries.append(ExceptionFrame(_regs_from_note(self.user_regs or {}), True, name,
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
                    if self.stack.words[index] == _symbol_value(m.prog, "repeat_nmi"):
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
            if regs and self.eframe_verify(candidate, regs, False):
                return candidate
        base = link - self.m.irq_eframe_link
        for delta in (8, -8, 16, -16):
            regs = self.read_regs(base + delta)
            if regs and self.eframe_verify(base + delta, regs, False):
                return base + delta
        return base


def _symbol_value(prog: drgn.Program, name: str) -> int:
    try:
        return prog.symbol(name).address
    except LookupError:
        return 0


# -- where an active task's trace starts --------------------------------------------------


def _search_start(machine: _Machine, info: TaskInfo, panic_task: bool,
                  user_regs: dict[str, int] | None,
                  text_symbols: bool = False) -> tuple[int, int, set[str]]:
    """crash's x86_64_get_dumpfile_stack_frame(): (rip, rsp, flags) for an active task."""
    sym = machine.symbols
    flags: set[str] = set()
    ur_rip = ur_rsp = 0
    if user_regs:
        ur_rip, ur_rsp = user_regs.get("rip", 0), user_regs.get("rsp", 0)

    process = machine.read_stack(info.stack, machine.thread_size) if info.stack else None
    stacks: list[tuple[str, _Stack | None]] = [("process", process)]
    skip_to_irq = False
    if panic_task and user_regs:
        regs = _regs_from_note(user_regs)
        walker = _Walker(machine, info)
        if walker.eframe_verify(0, regs, False) and machine.in_irq_stack(ur_rsp):
            skip_to_irq = True
    irq = machine.irq_stacks.get(info.cpu)
    if irq:
        stacks.append(("irq", machine.read_stack(irq[0], irq[1] - irq[0])))
    for base, top, name in machine.exception_stacks.get(info.cpu, []):
        stacks.append((name, machine.read_stack(base, top - base)))

    crash_kexec = sysrq = notify_die = None
    call_function = halt = None
    panic = None
    for stage, (kind, stack) in enumerate(stacks):
        if skip_to_irq and stage == 0:
            continue
        if stack is None:
            continue
        if stack.top <= stack.base:
            # an IST slot of unknown size: crash's read of 0 bytes fails the whole trace
            raise _TraceError('invalid size request: 0  type: "stack contents"\n'
                              f"bt: read of stack at {stack.base:x} failed")
        in_nmi = kind == "NMI"
        words = stack.words
        for i, value in enumerate(words):
            name = sym.closest_name(value) if sym.space.is_kvaddr(value) else None
            if name is None:
                continue
            slot = stack.base + 8 * i
            if name in _DUMP_FUNCTIONS:
                if name == "crash_kexec" and not text_symbols:
                    if crash_kexec is None:
                        crash_kexec = (value, slot)
                        continue
                return value, slot, flags | {"searched"}
            if name == "panic":
                panic = (value, slot)
                continue
            if name == "die":
                later = [sym.closest_name(w) for w in words[i + 1:]]
                if "sysrq_handle_crash" not in later:
                    return value, slot, flags | {"searched"}
                for j in range(i + 1, len(words)):
                    if sym.closest_name(words[j]) == "sysrq_handle_crash":
                        sysrq = (words[j], stack.base + 8 * j)
                continue
            if name == "sysrq_handle_crash":
                sysrq = (value, slot)
                for j in range(i + 1, len(words)):
                    if sym.space.is_kvaddr(words[j]) and \
                            sym.closest_name(words[j]) == "sysrq_handle_crash":
                        sysrq = (words[j], stack.base + 8 * j)
            if not panic_task and stage > 0 and name in ("smp_call_function_interrupt",
                                                         "stop_this_cpu"):
                call_function = (value, slot)
            if not panic_task and name == "crash_nmi_callback":
                return value, slot, flags | {"searched"}
            if not panic_task and in_nmi and name == "notify_die":
                notify_die = (value, slot)
            if not panic_task and info.pid == 0 and halt is None and stage == 0 and \
                    name == "cpu_idle":
                halt = (value, slot)
        if stage == 0:
            if panic is not None:
                return panic[0], panic[1], flags | {"searched"}
            if crash_kexec is not None:
                return crash_kexec[0], crash_kexec[1], flags | {"searched"}
    for found in (sysrq, notify_die):
        if found is not None:
            return found[0], found[1], flags | {"searched"}
    if ur_rip and ur_rsp:
        in_stack = bool(info.stack) and info.stack <= ur_rsp < info.stack + machine.thread_size
        if sym.is_kernel_text(ur_rip) and (in_stack or
                                           machine.in_alternate_stack(info.cpu, ur_rsp)):
            flags.add("kernel")
        if not sym.is_kernel_text(ur_rip) and 0 < ur_rsp and sym.space.is_uvaddr(ur_rsp):
            flags.add("user")
        return ur_rip, ur_rsp, flags
    for found in (call_function, halt):
        if found is not None:
            return found[0], found[1], flags | {"searched"}
    return _inactive_start(machine, info, exact=text_symbols) + (flags,)


def _inactive_start(machine: _Machine, info: TaskInfo, exact: bool = True) -> tuple[int, int]:
    """A blocked task: thread.sp, with crash's thread_return as its PC.

    Only ``bt -t`` prints that PC; otherwise any address inside __schedule does (the walk
    just checks the function name), which spares disassembling __schedule.
    """
    try:
        sp = int.from_bytes(machine.prog.read(info.task + machine.thread_sp, 8), "little")
    except drgn.FaultError:
        sp = 0
    if exact:
        return machine.thread_return, sp
    schedule = _symbol_value(machine.prog, "__schedule") or _symbol_value(machine.prog,
                                                                          "schedule")
    return (schedule + 1 if schedule else machine.thread_return), sp


def _panic_task(session: Session | None) -> int | None:
    if session is None:
        return None
    try:
        panic = session.panic
    except Exception:  # noqa: BLE001 - a damaged dump still gets a trace
        return None
    if panic is None or panic.cpu is None:  # no crashing CPU: no panic task
        return None
    return panic.task


def crash_backtrace(session: Session, task_address: int, *, full: bool = False,
                    text_symbols: bool = False, text_all: bool = False) -> Backtrace:
    """The entries crash's ``bt`` prints for one task (see the module docstring)."""
    prog = session.prog
    machine = _Machine.of(session)
    table = task_table(prog)
    info = table.get(task_address)
    if info is None:
        raise LookupError(f"invalid task address: {task_address:x}")
    panic_task = _panic_task(session) == task_address
    user_regs = None
    if info.active:
        cpu = next((c for c, t in table.active.items() if t == task_address), info.cpu)
        user_regs = _cpu_registers(session, cpu)
        try:
            rip, rsp, flags = _search_start(machine, info, panic_task, user_regs,
                                            text_symbols or text_all)
        except _TraceError as exc:
            return Backtrace(task=info.task, pid=info.pid, cpu=info.cpu, comm=info.comm,
                             entries=[], error=str(exc))
    else:
        rip, rsp = _inactive_start(machine, info, exact=text_symbols or text_all)
        flags = set()
    if text_all and info.stack:
        # bt -T: from just above thread_info (crash's BT_TEXT_SYMBOLS_ALL)
        rip, rsp = 0, info.stack + machine.thread_info_size
    walker = _Walker(machine, info, full=full, user_regs=user_regs, panic_task=panic_task,
                     text_symbols=text_symbols, text_all=text_all)
    error = walker.run(rip, rsp, flags)
    return Backtrace(task=info.task, pid=info.pid, cpu=info.cpu, comm=info.comm,
                     entries=walker.entries, error=error)


def search_exception_frames(session: Session, task_address: int) -> list[ExceptionFrame]:
    """bt -e: the exception frames found anywhere on a task's kernel stack."""
    machine = _Machine.of(session)
    info = task_table(session.prog).get(task_address)
    if info is None:
        raise LookupError(f"invalid task address: {task_address:x}")
    walker = _Walker(machine, info)
    stack = walker.process_stack()
    if stack is None:
        return []
    return walker.search_eframes(stack)


@dataclasses.dataclass
class StackSearch:
    """One IRQ or exception stack searched by bt -E."""

    cpu: int
    label: str  # "IRQ" or "NMI EXCEPTION", "DOUBLEFAULT EXCEPTION", ...
    frames: list[ExceptionFrame]
    error: str | None = None  # crash stops the whole search here


def search_cpu_stacks(session: Session, cpus: list[int] | None = None) -> list[StackSearch]:
    """bt -E: every CPU's IRQ stack, then every CPU's exception stacks, searched for frames."""
    machine = _Machine.of(session)
    table = task_table(session.prog)
    info = table.get(next(iter(table.active.values()))) if table.active else None
    if info is None:
        return []
    walker = _Walker(machine, info)
    results: list[StackSearch] = []
    wanted = range(table.cpus) if cpus is None else cpus
    for cpu in wanted:
        irq = machine.irq_stacks.get(cpu)
        if irq is None:
            break
        stack = machine.read_stack(irq[0], irq[1] - irq[0])
        frames = walker.search_eframes(stack) if stack else []
        results.append(StackSearch(cpu, "IRQ", frames))
    for cpu in wanted:
        for base, top, name in machine.exception_stacks.get(cpu, []):
            label = f"{name} EXCEPTION"
            if top <= base:  # no known size: crash cannot place the address
                results.append(StackSearch(cpu, label, [],
                                           f"unrecognized stack address for this task: {base:x}"))
                return results
            stack = machine.read_stack(base, top - base)
            frames = walker.search_eframes(stack, in_estack=True) if stack else []
            results.append(StackSearch(cpu, label, frames))
    return results


def stack_overflow_report(session: Session) -> list[str]:
    """bt -v: crash's check_stack_overflow() (THREAD_INFO_IN_TASK kernels: STACK_END_MAGIC)."""
    prog = session.prog
    table = task_table(prog)
    init_task = _symbol_value(prog, "init_task")
    lines: list[str] = []
    total = 0
    for info in table:
        try:
            magic = int.from_bytes(prog.read(info.stack, 8), "little") if info.stack else None
        except drgn.FaultError:
            magic = None
        if magic is None:
            lines.append(f'bt: invalid kernel virtual address: {info.stack:x}  type: '
                         f'"stack overflow check"')
            continue
        if info.pid == 0 and info.task == init_task:
            continue
        if magic != STACK_END_MAGIC:
            lines.append(f'PID: {info.pid:<7d}  TASK: {info.task:<16x}  CPU: {info.cpu:<3d}  '
                         f'COMMAND: "{info.comm}"')
            lines.append(f"  possible stack overflow: {info.stack:x}: {magic:x} != "
                         "STACK_END_MAGIC")
            lines.append("")
            total += 1
    if not total:
        lines.append("No stack overflows detected")
    return lines
