"""What crash learns by disassembling kernel text (capstone here, gdb in crash): where a
switched-out task resumes, and a function's frame size at an address when ORC has none."""

from __future__ import annotations

import drgn

from pycrash.kernel.background_import import import_during_debuginfo_load
from pycrash.kernel.stack.symbolizer import symbol_value

# The frame-size fallback disassembles with capstone: import it while the DWARF loads.
import_during_debuginfo_load("capstone")


def find_thread_return(prog: drgn.Program) -> int:
    """Where a switched-out task resumes: the instruction after the call to __switch_to_asm
    (or __switch_to) in schedule()/__schedule(), as crash's search_for_switch_to() finds it."""
    address = symbol_value(prog, "thread_return")
    if address:
        return address
    targets = {symbol_value(prog, name) for name in ("__switch_to_asm", "__switch_to")} - {0}
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
    return symbol_value(prog, "schedule")


def replay_stack_moves(prog: drgn.Program, function: int, text: int, exception: bool) -> int:
    """x86_64_get_framesize()'s disassembly walk (see Machine.disassembly_framesize)."""
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
