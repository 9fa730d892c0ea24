"""x86-64 ORC unwind tables (CONFIG_UNWINDER_ORC, 4.14+), read from the dump's memory.

vmlinux keeps two parallel arrays sorted by address: ``__start_orc_unwind_ip`` (s32 each,
self-relative: entry i covers IPs from ``&ip[i] + ip[i]``) and ``__start_orc_unwind``
(6-byte ``struct orc_entry``).  Each module has its own pair in ``module.arch``
(``orc_unwind_ip``, ``orc_unwind``, ``num_orcs``).  crash's x86_64_get_framesize() asks
for the entry covering a return address; this module answers the same question.

``struct orc_entry`` (arch/x86/include/asm/orc_types.h): ``s16 sp_offset; s16 bp_offset;``
then a 16-bit bitfield word.  4.14-6.2: sp_reg:4 bp_reg:4 type:2 end:1 (types CALL 0,
REGS 1, REGS_PARTIAL 2).  6.3: a signal bit before end.  6.4+: type:3 (UNDEFINED 0,
END_OF_STACK 1, CALL 2, REGS 3, REGS_PARTIAL 4) then signal.  Register numbers are the
same in all of these: UNDEFINED 0, PREV_SP 1, DX 2, DI 3, BP 4, SP 5, R10 6, R13 7,
BP_INDIRECT 8, SP_INDIRECT 9.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import drgn

__all__ = ["OrcEntry", "OrcTables", "ORC_REG_BP", "ORC_REG_PREV_SP", "ORC_REG_SP",
           "ORC_REG_UNDEFINED"]

ORC_REG_UNDEFINED = 0
ORC_REG_PREV_SP = 1
ORC_REG_BP = 4
ORC_REG_SP = 5

_CACHE_KEY = "pycrash.kernel.orc"


class OrcEntry(NamedTuple):
    """One decoded orc_entry; ``is_call`` is the CALL type of whichever layout."""

    sp_offset: int
    bp_offset: int
    sp_reg: int
    bp_reg: int
    type: int
    is_call: bool


class _Table:
    """One ORC table, searched in place in the dump: the kernel sorts both arrays at build
    time (and crash's __orc_find() binary-searches the in-memory copy the same way), so
    nothing is decoded up front, and only the parts of the ip array the search visits are
    read (the kernel's table is over 1 MiB; a lookup visits about 17 of its entries).
    Reads raise drgn.FaultError."""

    _CHUNK = 1024  # ip entries read at once (4 KiB)

    def __init__(self, prog: drgn.Program, base: int, entries: int, count: int) -> None:
        self.prog = prog
        self.base = base  # address of the ip table: entry i covers base + 4*i + ip[i]
        self.entries = entries  # address of the orc_entry array
        self.count = count
        self._chunks: dict[int, bytes] = {}

    def ip(self, index: int) -> int:
        chunk, at = divmod(index, self._CHUNK)
        raw = self._chunks.get(chunk)
        if raw is None:
            first = chunk * self._CHUNK
            raw = self.prog.read(self.base + 4 * first,
                                 4 * min(self._CHUNK, self.count - first))
            self._chunks[chunk] = raw
        return self.base + 4 * index + struct.unpack_from("<i", raw, 4 * at)[0]

    def lookup(self, ip: int) -> tuple[int, int, int] | None:
        """The entry of the last IP <= ``ip`` (the first entry if none, as crash)."""
        if not self.count:
            return None
        low, high, found = 0, self.count - 1, 0
        while low <= high:
            mid = (low + high) // 2
            if self.ip(mid) <= ip:
                found = mid
                low = mid + 1
            else:
                high = mid - 1
        return struct.unpack("<hhH", self.prog.read(self.entries + 6 * found, 6))


class OrcTables:
    """The kernel's and the modules' ORC tables, decoded on demand."""

    def __init__(self, prog: drgn.Program) -> None:
        self.prog = prog
        self._kernel: _Table | None = None
        self._modules: dict[int, _Table | None] = {}
        self.version = self._layout_version()
        try:
            self.text_start = prog.symbol("_stext").address
            self.text_end = prog.symbol("_etext").address
        except LookupError:
            self.text_start = self.text_end = 0

    @classmethod
    def of(cls, prog: drgn.Program) -> OrcTables:
        tables = prog.cache.get(_CACHE_KEY)
        if tables is None:
            tables = cls(prog)
            prog.cache[_CACHE_KEY] = tables
        return tables

    def _layout_version(self) -> int:
        """1 (4.14-6.2: type:2 end:1), 2 (6.3: signal before end) or 3 (6.4+: type:3)."""
        try:
            entry_type = self.prog.type("struct orc_entry")
        except LookupError:
            return 1
        if entry_type.has_member("end"):
            return 2 if entry_type.has_member("signal") else 1
        return 3

    def _decode(self, raw: tuple[int, int, int]) -> OrcEntry:
        sp_offset, bp_offset, bits = raw
        if self.version >= 3:
            kind = (bits >> 8) & 7
            is_call = kind == 2
        else:
            kind = (bits >> 8) & 3
            is_call = kind == 0
        return OrcEntry(sp_offset, bp_offset, bits & 0xF, (bits >> 4) & 0xF, kind, is_call)

    def _read_table(self, ip_table: int, entries: int, count: int) -> _Table | None:
        if count <= 0 or count > 1 << 24:
            return None
        return _Table(self.prog, ip_table, entries, count)

    def _kernel_table(self) -> _Table | None:
        if self._kernel is None:
            try:
                start = self.prog.symbol("__start_orc_unwind_ip").address
                stop = self.prog.symbol("__stop_orc_unwind_ip").address
                entries = self.prog.symbol("__start_orc_unwind").address
            except LookupError:
                return None
            table = self._read_table(start, entries, (stop - start) // 4)
            self._kernel = table if table is not None else _Table(self.prog, 0, 0, 0)
        return self._kernel

    def _module_table(self, module: drgn.Object) -> _Table | None:
        key = module.value_()
        if key not in self._modules:
            try:
                arch = module.arch
                table = self._read_table(arch.orc_unwind_ip.value_(), arch.orc_unwind.value_(),
                                         arch.num_orcs.value_())
            except (AttributeError, LookupError, drgn.FaultError):
                table = None
            self._modules[key] = table
        return self._modules[key]

    def find(self, ip: int, module: drgn.Object | None = None) -> OrcEntry | None:
        """The entry covering ``ip`` (crash's orc_find(): kernel text, else the module)."""
        if self.text_start <= ip < self.text_end:
            table = self._kernel_table()
        elif module is not None:
            table = self._module_table(module)
        else:
            return None
        if table is None or not table.count:
            return None
        try:
            raw = table.lookup(ip)
        except drgn.FaultError:  # the part of the table the search needs is unreadable
            return None
        return self._decode(raw) if raw is not None else None
