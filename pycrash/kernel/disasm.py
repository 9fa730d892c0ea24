"""x86-64 disassembly in gdb's AT&T text (capstone decodes, this module spells).

crash's ``dis`` prints what gdb 10.2's ``x/Ni`` prints (binutils ``opcodes/i386-dis.c``);
capstone decodes the same instructions but writes some operands differently.  The rules
applied here, each one of i386-dis.c's:

* the mnemonic (with its prefixes) is padded to 6 columns, then one space, then the
  operands, separated by a bare comma;
* a memory operand with an index register always shows its scale (``(%rax,%rax,1)``) and a
  displacement encoded in the instruction is shown even when it is zero (``0x0(%rax)``);
* a %rip-relative operand is followed by ``        # ADDRESS`` (its absolute target);
* immediates are shown unsigned in the operand size (``$0xffffffffffffffff``).

Symbol names (``<schedule+21>``) are added by the caller, which knows the symbols.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# gdb pads "mnemonic" to this many columns before the operands (i386-dis.c print_insn).
MNEMONIC_WIDTH = 6
_MASK64 = (1 << 64) - 1


@dataclass
class Instruction:
    """One decoded instruction: where, how long, and gdb's text for it."""

    address: int
    size: int
    text: str  # "mov    0x18(%rbx),%eax" (no symbol annotations)
    mnemonic: str
    # the address a direct call/jump goes to, or a %rip-relative operand points at
    target: int | None = None
    rip_relative: bool = False  # target came from a %rip-relative operand ("# 0x...")


def _disassembler():  # noqa: ANN202 - capstone.Cs; capstone is imported lazily
    import capstone

    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    cs.syntax = capstone.CS_OPT_SYNTAX_ATT
    cs.detail = True
    return cs


_IMMEDIATE = re.compile(r"\$(-?)0x([0-9a-f]+)|\$(-?)(\d+)\b")


def _unsigned_immediates(operands: str, width: int) -> str:
    """``$-0x10`` -> ``$0xfffffffffffffff0`` and ``$5`` -> ``$0x5``, as gdb prints them."""
    mask = (1 << (8 * width)) - 1 if width else _MASK64

    def fix(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            negative, value = match.group(1), int(match.group(2), 16)
        else:
            negative, value = match.group(3), int(match.group(4))
        if negative:
            value = -value & mask
        return f"$0x{value:x}"

    return _IMMEDIATE.sub(fix, operands)


def _memory_operand_text(insn, op) -> str:  # noqa: ANN001 - capstone objects
    """One memory operand in gdb's spelling: ``%seg:disp(base,index,scale)``."""
    mem = op.mem
    segment = insn.reg_name(mem.segment) if mem.segment else ""
    base = insn.reg_name(mem.base) if mem.base else ""
    index = insn.reg_name(mem.index) if mem.index else ""
    disp = mem.disp
    encoded_disp = insn.disp_size > 0 if hasattr(insn, "disp_size") else disp != 0
    text = f"%{segment}:" if segment else ""
    if encoded_disp or not (base or index):
        if base or index:
            text += f"-0x{-disp:x}" if disp < 0 else f"0x{disp:x}"
        else:
            text += f"0x{disp & _MASK64:x}"
    if base or index:
        inner = f"%{base}" if base else ""
        if index:
            inner += f",%{index},{mem.scale}"
        text += f"({inner})"
    return text


def mnemonic_base(insn) -> str:  # noqa: ANN001 - a capstone instruction
    """The instruction's name without prefixes and size suffix ("stosq" -> "stos")."""
    name = insn.mnemonic.split(" ")[-1]
    if name[:-1] in _STRING_OPS and name[-1] in "bwlq":
        return name[:-1]
    return name


def _operands_text(insn) -> str:  # noqa: ANN001 - a capstone instruction
    """The operands in gdb's order and spelling (capstone's text with i386-dis.c's rules)."""
    from capstone import x86

    text = insn.op_str.replace(", ", ",")
    mems = [op for op in insn.operands if op.type == x86.X86_OP_MEM]
    if len(mems) == 1:
        # capstone drops a zero displacement and a scale of 1: respell the memory operand
        mem_text = _memory_operand_text(insn, mems[0])
        star = "*" if text.startswith("*") else ""
        pattern = re.compile(r"(%[a-z]+:)?(-?(0x[0-9a-f]+|\d+))?\([^)]*\)|%[a-z]+:-?0x[0-9a-f]+")
        match = pattern.search(text)
        if match is None and re.fullmatch(r"\*?(%[a-z]+:)?-?(0x[0-9a-f]+|\d+)", text):
            # an absolute address alone ("%gs:0x1ac00", or "*0x..." as a jump's operand)
            match = re.search(r"(%[a-z]+:)?-?(0x[0-9a-f]+|\d+)", text)
        if match is not None:
            text = text[: match.start()] + mem_text + text[match.end():]
            if star and not text.startswith("*"):
                text = "*" + text
    if mnemonic_base(insn) in _STRING_OPS:
        text = re.sub(r"(?<![:\w])\((%[re]di)\)", r"%es:(\1)", text)
        text = re.sub(r"(?<![:\w])\((%[re]si)\)", r"%ds:(\1)", text)
    imm_width = next((op.size for op in insn.operands if op.type == x86.X86_OP_IMM), 8)
    return _unsigned_immediates(text, imm_width)


# String instructions: gdb names their implied segments (%ds:(%rsi), %es:(%rdi)).
_STRING_OPS = ("movs", "stos", "lods", "scas", "cmps", "ins", "outs")
# capstone's name -> gdb's (64-bit operand size implied)
_RENAMED = {"pushfq": "pushf", "popfq": "popf", "lgdtq": "lgdt", "lidtq": "lidt",
            "sgdtq": "sgdt", "sidtq": "sidt"}

# Always printed without a size suffix in 64-bit mode (their operand size is implied).
_NO_SUFFIX = frozenset(("call", "ret", "jmp", "push", "pop", "leave", "lret", "iret"))


def _gdb_mnemonic(insn) -> str:  # noqa: ANN001 - a capstone instruction
    """capstone's AT&T mnemonic without the size suffix gdb leaves out.

    i386-dis.c prints the b/w/l/q suffix only when no register operand gives the operand
    size (``movq $0x0,(%rsp)`` but ``mov %rsp,%rdi``); suffixes that are part of the name
    (``movzbl``, ``movslq``, ``cltq``) stay.
    """
    from capstone import x86

    mnemonic = insn.mnemonic
    words = mnemonic.split(" ")
    last = words[-1]
    if last in _RENAMED:
        words[-1] = _RENAMED[last]
        return " ".join(words)
    base = insn.insn_name()
    if last[:-1] in _STRING_OPS and last[-1] in "bwlq":
        base = last[:-1]
    if len(last) == len(base) + 1 and last.startswith(base) and last[-1] in "bwlq":
        # a register operand, explicit or implied ("rep stos %rax,(%rdi)")
        has_register = any(op.type == x86.X86_OP_REG for op in insn.operands) or bool(
            re.search(r"(^|,)\*?%[a-z0-9]+(,|$)",
                      re.sub(r"\([^)]*\)", "", insn.op_str.replace(" ", ""))))
        if has_register or base in _NO_SUFFIX:
            words[-1] = base
    return " ".join(words)


# Operands capstone leaves implied but gdb prints (i386-dis.c OP_Monitor, OP_Mwait)
_IMPLIED_OPERANDS = {"monitor": "%rax,%ecx,%edx", "mwait": "%eax,%ecx"}

_PREFIX_BYTES = frozenset((0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x2E, 0x3E, 0x26, 0x64, 0x65, 0x36))


def _extra_data16(code: bytes) -> int:
    """0x66 prefixes beyond the one an instruction uses: gdb shows each as ``data16``."""
    prefixes = 0
    while prefixes < len(code) and code[prefixes] in _PREFIX_BYTES:
        prefixes += 1
    return max(0, code[:prefixes].count(0x66) - 1)


def gdb_instruction(insn) -> Instruction:  # noqa: ANN001 - a capstone instruction
    """gdb's text for one capstone instruction (without symbol names)."""
    from capstone import x86

    code = bytes(insn.bytes)
    extra = _extra_data16(code)
    core = code.replace(b"\x66", b"", extra) if extra else code
    # 0x90 is "nop" alone (i386-dis.c NOP_Fixup: no operand padding); with an operand-size
    # prefix it is what it encodes, xchg %ax,%ax
    if core == b"\x90":
        return Instruction(insn.address, insn.size, "data16 " * extra + "nop", "nop")
    if core == b"\x66\x90":
        text = f"{'data16 ' * extra + 'xchg':<{MNEMONIC_WIDTH}} %ax,%ax"
        return Instruction(insn.address, insn.size, text, "xchg")
    mnemonic = "data16 " * extra + _gdb_mnemonic(insn)
    operands = _IMPLIED_OPERANDS.get(insn.mnemonic) or _operands_text(insn)
    # the I/O port register is shown as a memory operand: "in (%dx),%al", "out %al,(%dx)"
    if mnemonic.split(" ")[-1].rstrip("bwl") in ("in", "out", "ins", "outs"):
        operands = re.sub(r"(^|,)%dx($|,)", r"\1(%dx)\2", operands)
    # shifts and rotates by one (opcodes 0xd0/0xd1) show no count
    if insn.opcode[0] in (0xD0, 0xD1) and operands.startswith("$0x1,"):
        operands = operands[len("$0x1,"):]
    target = None
    rip_relative = False
    for op in insn.operands:
        if op.type == x86.X86_OP_MEM and op.mem.base == x86.X86_REG_RIP:
            target = (insn.address + insn.size + op.mem.disp) & _MASK64
            rip_relative = True
    if target is None and (mnemonic.startswith("j") or mnemonic in ("call", "loop", "loope",
                                                                   "loopne", "jrcxz")):
        if len(insn.operands) == 1 and insn.operands[0].type == x86.X86_OP_IMM:
            target = insn.operands[0].imm & _MASK64
            operands = f"0x{target:x}"
    text = f"{mnemonic:<{MNEMONIC_WIDTH}} {operands}"
    if rip_relative:
        text += f"        # 0x{target:x}"
    return Instruction(insn.address, insn.size, text, mnemonic, target, rip_relative)


def default_bug_bytes(prog: Any) -> int:
    """Bytes encoded after a BUG()'s ``ud2`` that the disassembler must skip (crash's
    ``BUG_x86_64()``): none since the kernel keeps BUG() data in ``__bug_table`` (struct
    bug_entry, 2.6.20); before, the inline ``struct bug_frame`` after the 2-byte ud2."""
    try:
        prog.type("struct bug_entry")
        return 0
    except LookupError:
        pass
    try:
        return max(0, prog.type("struct bug_frame").size - 2)
    except LookupError:
        return 0


def disassemble(code: bytes, address: int, count: int | None = None,
                bug_bytes: int = 0) -> list[Instruction]:
    """Decode ``code`` (loaded at ``address``): at most ``count`` instructions, or all.

    ``bug_bytes`` after each ``ud2`` are skipped (crash's patched gdb makes them part of the
    ud2).  Bytes capstone cannot decode are gdb's ``(bad)``.
    """
    cs = _disassembler()
    found: list[Instruction] = []
    offset = 0
    while offset < len(code) and (count is None or len(found) < count):
        insn = next(cs.disasm(code[offset:], address + offset, 1), None)
        if insn is None:
            found.append(Instruction(address + offset, 1, "(bad)", "(bad)"))
            offset += 1
            continue
        found.append(gdb_instruction(insn))
        offset += insn.size
        if bug_bytes and insn.mnemonic == "ud2":
            offset += bug_bytes
    return found
