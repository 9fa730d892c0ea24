"""The kernel's loaded modules: the ``modules`` list of ``struct module``.

Where a module's memory is described changed with the kernel version, and this module is the
one place that decides it, from the dump's types:

* Linux 4.5 – 6.3: ``module.core_layout`` (``struct module_layout``: ``base``, ``size``,
  ``text_size``, ``ro_size``...) and ``module.init_layout``;
* Linux 6.4+: ``module.mem[MOD_TEXT..]`` (``struct module_memory``: ``base``, ``size``); crash
  then shows the text base and the sum of the non-init regions' sizes;
* before 4.5: ``module.module_core`` / ``module.core_size``.

Module symbols come from ``module.core_kallsyms`` (``struct mod_kallsyms``: an ELF symbol table,
its string table and ``num_symtab``), which is what crash reads too. Their ``st_info`` is kept
raw: older kernels overwrote it with the symbol's nm letter, newer ones keep the letters apart
in ``mod_kallsyms.typetab`` (present in the sample 6.1 dumps) and leave the ELF byte alone.
crash 8.0.6 reads only ``st_info`` (``symbols.c:Elf64_Sym_to_common()``: a printable byte is the
letter, 0x02/0x12 are t/T, anything else '?'), so ``typetab`` is not read here either: its
letters would make ``sym`` differ from crash.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drgn import Object, Program, TypeKind

from pycrash.kernel.lists import WalkStop, entries, list_walk

if TYPE_CHECKING:
    from pycrash.session import Session

__all__ = ["LoadedModule", "ModuleSymbol", "loaded_modules", "module_symbols"]

# ELF64 symbol: st_name u32, st_info u8, st_other u8, st_shndx u16, st_value u64, st_size u64.
_ELF64_SYM = struct.Struct("<IBBHQQ")
SHN_UNDEF = 0
# The kernel has no limit on loaded modules, but module IDs and memory make more than a few
# thousand unheard of; a walk past this is walking garbage.
MODULE_LIMIT = 65536
# Bounds on a module's kallsyms (the largest in-tree modules have some 10^4 symbols and a few
# hundred KiB of names): garbage counts would otherwise ask the core for gigabytes.
MAX_MODULE_SYMBOLS = 1 << 20
MAX_MODULE_STRTAB = 64 << 20


@dataclass
class ModuleSymbol:
    """One symbol of a module's kallsyms table."""

    name: str
    address: int
    info: int  # ELF st_info (binding << 4 | type)
    shndx: int


@dataclass
class LoadedModule:
    """What crash's ``mod`` shows about one module, plus what symbol lookup needs."""

    name: str
    struct_address: int  # the struct module
    base: int  # core text base
    size: int  # core size (crash's SIZE column)
    text_size: int = 0  # core text size: [base, base + text_size) is the module's code
    init_base: int = 0
    init_size: int = 0
    percpu: int = 0
    percpu_size: int = 0
    taints: int = 0
    # Linux 6.4+ module.mem[] regions: crash then heads the base column TEXT_BASE.
    memory_regions: bool = False
    symbols: list[ModuleSymbol] = field(default_factory=list, repr=False)

    def contains(self, address: int) -> bool:
        return self.base <= address < self.base + self.size or (
            self.init_size > 0 and self.init_base <= address < self.init_base + self.init_size
        )


def _has_member(type_, name: str) -> bool:
    """Whether a struct type (or the struct a pointer type points to) has member ``name``."""
    if type_.kind == TypeKind.POINTER:
        type_ = type_.type
    return type_.has_member(name)


def _layout(mod: Object) -> tuple[int, int, int, int, int]:
    """(core base, core size, core text size, init base, init size) of a ``struct module``."""
    module_type = mod.type_
    if _has_member(module_type, "mem"):
        # Linux 6.4+: enum mod_mem_type orders MOD_TEXT, MOD_DATA, MOD_RODATA,
        # MOD_RO_AFTER_INIT, then MOD_INIT_TEXT, MOD_INIT_DATA, MOD_INIT_RODATA.
        prog = mod.prog_
        init_text = prog.constant("MOD_INIT_TEXT").value_()
        mem = mod.mem
        size = sum(int(mem[i].size) for i in range(init_text))
        init_size = sum(int(mem[i].size) for i in range(init_text, len(mem)))
        return (int(mem[0].base), size, int(mem[0].size), int(mem[init_text].base),
                init_size)
    if _has_member(module_type, "core_layout"):
        core, init = mod.core_layout, mod.init_layout
        return (int(core.base), int(core.size), int(core.text_size), int(init.base),
                int(init.size))
    return (int(mod.module_core), int(mod.core_size), int(mod.core_text_size),
            int(mod.module_init), int(mod.init_size))


def _kallsyms_symbols(prog: Program, mod: Object) -> list[ModuleSymbol]:
    """The module's ``core_kallsyms`` ELF symbols (index 0, the null symbol, skipped)."""
    if _has_member(mod.type_, "core_kallsyms"):
        kallsyms = mod.core_kallsyms
    else:  # before Linux 4.5 the same fields were members of struct module
        kallsyms = mod
    count = int(kallsyms.num_symtab)
    symtab = int(kallsyms.symtab)
    strtab = int(kallsyms.strtab)
    if not count or not symtab or not strtab:
        return []
    if count > MAX_MODULE_SYMBOLS:
        raise ValueError(f"num_symtab {count} is more than any module has")
    raw = prog.read(symtab, count * _ELF64_SYM.size)
    entries = list(_ELF64_SYM.iter_unpack(raw))
    longest = max((e[0] for e in entries), default=0)
    if longest > MAX_MODULE_STRTAB:
        raise ValueError(f"st_name offset {longest:#x} past any module's string table")
    # The string table is read in one piece: names are short and packed.
    strings = prog.read(strtab, longest + 256)
    symbols = []
    for st_name, info, _other, shndx, value, _size in entries[1:]:
        end = strings.find(b"\0", st_name)
        if end < 0:
            end = len(strings)
        name = strings[st_name:end].decode("latin-1")
        if name:
            symbols.append(ModuleSymbol(name, value, info, shndx))
    return symbols


def _module(prog: Program, mod: Object) -> LoadedModule:
    base, size, text_size, init_base, init_size = _layout(mod)
    percpu = percpu_size = 0
    if _has_member(mod.type_, "percpu"):
        percpu = int(mod.percpu.value_())
        percpu_size = int(mod.percpu_size)
    taints = int(mod.taints) if _has_member(mod.type_, "taints") else 0
    loaded = LoadedModule(
        name=mod.name.string_().decode("latin-1"),
        struct_address=int(mod.value_()),
        base=base,
        size=size,
        text_size=text_size,
        init_base=init_base,
        init_size=init_size,
        percpu=percpu,
        percpu_size=percpu_size,
        taints=taints,
        memory_regions=_has_member(mod.type_, "mem"),
    )
    try:
        loaded.symbols = _kallsyms_symbols(prog, mod)
    except Exception as err:  # noqa: BLE001 - a damaged table leaves the module without symbols
        loaded.symbols = []
        reason = str(getattr(err, "message", "") or err).splitlines()[0]
        _warn_once(f"module {loaded.name}: no symbols from its kallsyms: {reason}")
    return loaded


def for_each_module_struct(prog: Program, *, limit: int = MODULE_LIMIT) -> Iterator[Object]:
    """Every ``struct module *`` on the kernel's ``modules`` list, in list order.

    A damaged list (a loop, a garbage pointer) ends the walk with one warning naming the
    address where it stopped; the modules before it are still returned.
    """
    walk = list_walk(prog, prog["modules"].address_of_().value_(), limit=limit,
                     on_stop=_warn_module_list)
    return entries(prog, walk, "struct module", "list")


def _warn_module_list(stop: WalkStop) -> None:
    _warn_once(f"module list: {stop.message()}")


def _warn_once(message: str) -> None:
    if message not in _warned:  # the list is walked by several commands: say it once
        _warned.add(message)
        print(f"pycrash: WARNING: {message}", file=sys.stderr)


_warned: set[str] = set()


def loaded_modules(session: Session) -> list[LoadedModule]:
    """The loaded modules sorted by base address, as crash lists them."""
    prog = session.prog
    modules = [_module(prog, mod) for mod in for_each_module_struct(prog)]
    modules.sort(key=lambda m: m.base)
    return modules


def module_symbols(module: LoadedModule) -> list[ModuleSymbol]:
    """The module's defined kallsyms symbols inside its memory, as crash keeps them."""
    return [
        s for s in module.symbols if s.shndx != SHN_UNDEF and module.contains(s.address)
    ]
