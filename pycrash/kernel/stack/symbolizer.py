"""Addresses as crash's x86-64 tracer judges them: kernel or user space (IS_KVADDR,
IS_UVADDR), kernel text (is_kernel_text), and the symbol holding a value (value_search)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import drgn

if TYPE_CHECKING:
    from pycrash.session import Session


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


class Symbolizer:
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
        """The name crash's value_search() finds for ``value``, or None."""
        found = self._search(value)
        return found[0] if found else None


def symbol_value(prog: drgn.Program, name: str) -> int:
    """A symbol's address, 0 when the kernel has no such symbol."""
    try:
        return prog.symbol(name).address
    except LookupError:
        return 0


def has_symbol(prog: drgn.Program, name: str) -> bool:
    """Whether the kernel has a symbol of that name (feature detection)."""
    try:
        prog.symbol(name)
        return True
    except LookupError:
        return False


def has_type(prog: drgn.Program, name: str) -> bool:
    """Whether the kernel's debuginfo has that type (feature detection)."""
    try:
        prog.type(name)
        return True
    except LookupError:
        return False
