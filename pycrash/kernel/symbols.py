"""Kernel and module symbols as crash sees them: address → symbol+offset, name → address.

crash builds its kernel symbol table from the vmlinux ELF ``.symtab`` through BFD
(``symbols.c:symtab_init``), and this module reproduces that table so that ``sym``, ``sym -l``
and every "symbol+offset" crash prints come out the same:

* symbols are sorted by link-time value, ties by name (``strcmp``), as binutils' nm does;
* nothing before ``_text``/``_stext`` is kept except the per-CPU symbols from
  ``__per_cpu_start`` on (zero-based ``.data..percpu`` offsets; ``x86_64_verify_symbol``);
* ``.isra.``, ``.part.`` and ``.llvm.`` suffixes are cut off names;
* the KASLR offset is added to values inside the kernel image sections only;
* each symbol gets BFD's nm letter (``bfd_decode_symclass``: T/t text, D/d data, R/r read-only,
  B/b bss, A/a absolute, W/V weak, ...), upper case for global symbols.

Module symbols come from each module's kallsyms table (``pycrash.kernel.modules``), with
crash's letters: the raw ELF ``st_info`` when printable, 't'/'T' for local/global functions,
'?' otherwise — or, after ``mod -s``, the letters of the module object file's own symbols.
"""

from __future__ import annotations

import bisect
import os
import struct
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from pycrash.elfsections import SectionHeader, read_section, section_headers

if TYPE_CHECKING:
    from pycrash.kernel.modules import LoadedModule
    from pycrash.session import Session

__all__ = [
    "KernelColumns",
    "KernelSymbols",
    "RuntimeAddresses",
    "Symbol",
    "SymbolTable",
    "kernel_columns",
    "kernel_symbols",
    "object_symbols",
    "invalidate_symbol_table",
    "unload_module_objects",
    "elf_sections",
    "kernel_text_ranges",
    "line_table",
    "source_line",
    "symbol_table",
]

SHN_UNDEF = 0
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2
SHT_SYMTAB = 2
SHT_NOBITS = 8
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 0, 1, 2, 10
STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE, STT_GNU_IFUNC = 1, 2, 3, 4, 10

# BFD's coff_section_type() table as in the binutils crash 8.0.6 is built with: only these
# (PE) names, matched when followed by nothing, a digit, '.' or '$'; every other section gets
# its letter from its flags (decode_section_type()).
_SECTION_PREFIX_LETTERS = ((".drectve", "i"), (".edata", "e"), (".idata", "i"), (".pdata", "p"))
_STRIPPED_SUFFIXES = (".isra.", ".part.", ".llvm.")


@dataclass(slots=True, eq=False)
class Symbol:
    """One symbol: its name, runtime address, nm letter and module (None for vmlinux)."""

    name: str
    address: int
    type: str
    module: str | None = None
    pseudo: bool = False  # crash's "_MODULE_START_name"-style markers

    @property
    def is_text(self) -> bool:
        return self.type in ("t", "T")


def _read_elf(path: str | os.PathLike[str]) -> tuple[list[SectionHeader], list[tuple], bytes]:
    """Sections, raw symbol entries and the string table of a little-endian ELF64 file."""
    with open(path, "rb") as f:
        sections = section_headers(f)
        symtab = next((s for s in sections if s.type == SHT_SYMTAB), None)
        if symtab is None:
            return sections, [], b""
        strings = read_section(f, sections[symtab.link])
        table = read_section(f, symtab)
    return sections, list(struct.iter_unpack("<IBBHQQ", table)), strings


def _section_letter(section: SectionHeader) -> str:
    """BFD's letter for a symbol defined in ``section`` (before upper-casing globals)."""
    for prefix, letter in _SECTION_PREFIX_LETTERS:
        rest = section.name[len(prefix):len(prefix) + 1]
        if section.name.startswith(prefix) and (not rest or rest in ".$0123456789"):
            return letter
    # decode_section_type() on the BFD flags an ELF section header maps to.
    has_contents = section.type != SHT_NOBITS
    alloc = bool(section.flags & SHF_ALLOC)
    if section.flags & SHF_EXECINSTR:
        return "t"
    if alloc and has_contents:  # SEC_DATA
        return "d" if section.flags & SHF_WRITE else "r"
    if not has_contents:
        return "b"
    if section.name.startswith((".debug", ".zdebug", ".gnu.linkonce.wi.", ".line", ".stab")):
        return "N"
    if not section.flags & SHF_WRITE:
        return "n"
    return "?"


def _nm_letter(info: int, shndx: int, sections: list[SectionHeader]) -> str:
    """BFD's ``bfd_decode_symclass()`` for one ELF symbol."""
    binding, kind = info >> 4, info & 0xF
    if shndx == SHN_COMMON:
        return "C"
    if shndx == SHN_UNDEF:
        if binding == STB_WEAK:
            return "v" if kind == STT_OBJECT else "w"
        return "U"
    if kind == STT_GNU_IFUNC:
        return "i"
    if binding == STB_WEAK:
        return "V" if kind == STT_OBJECT else "W"
    if binding == STB_GNU_UNIQUE:
        return "u"
    if binding not in (STB_LOCAL, STB_GLOBAL):
        return "?"
    if shndx == SHN_ABS:
        letter = "a"
    elif shndx < len(sections):
        letter = _section_letter(sections[shndx])
    else:
        return "?"
    return letter.upper() if binding == STB_GLOBAL else letter


def _symbol_name(info: int, shndx: int, st_name: int, strings: bytes,
                 sections: list[SectionHeader]) -> str:
    end = strings.find(b"\0", st_name)
    name = strings[st_name:end].decode("latin-1")
    # BFD names an unnamed section symbol after its section.
    if not name and info & 0xF == STT_SECTION and 0 < shndx < len(sections):
        name = sections[shndx].name
    return name


def strip_symbol_end(name: str) -> str:
    """crash's ``strip_symbol_end()``: cut ``.isra.``/``.part.``/``.llvm.`` suffixes."""
    for suffix in _STRIPPED_SUFFIXES:
        cut = name.find(suffix)
        if cut >= 0:
            return name[:cut]
    return name


def _kernel_image_range(sections: list[SectionHeader]) -> tuple[int, int]:
    """crash's first_section_start/last_section_end: ``.text`` start to the highest end of
    the sections from ``.text`` on (symbols outside are offsets or absolute values)."""
    start = end = 0
    for section in sections:
        if section.name == ".text":
            start = section.addr
        if start:
            end = max(end, section.addr + section.size)
    return start, end


class KernelColumns(NamedTuple):
    """crash's kernel symbol table of one vmlinux at link time, one list per column.

    ``values`` are link-time values in table order; the KASLR offset applies to those within
    ``image`` (crash's first_section_start..last_section_end) only.
    """

    names: list[str]
    values: list[int]
    letters: str  # one nm letter per symbol
    image: tuple[int, int]


def _symtab_columns(vmlinux: str | os.PathLike[str]
                    ) -> tuple[list[SectionHeader], list[int], list[int], bytes, list[int], str]:
    """(sections, st_name, st_shndx, st_info, st_value, string table) of every symbol but
    the null one, read column-wise (Elf64_Sym: u32 name, u8 info, u8 other, u16 shndx,
    u64 value, u64 size)."""
    with open(vmlinux, "rb") as f:
        sections = section_headers(f)
        symtab = next((s for s in sections if s.type == SHT_SYMTAB), None)
        if symtab is None:
            return sections, [], [], b"", [], ""
        strings = read_section(f, sections[symtab.link])
        table = read_section(f, symtab)
    if len(table) % 24:
        raise struct.error("the symbol table's size is not a multiple of Elf64_Sym's")
    count = len(table) // 24
    entries = memoryview(table)[24:count * 24]
    st_name = entries.cast("I")[0::6].tolist()
    st_shndx = entries.cast("H")[3::12].tolist()
    st_value = entries.cast("Q")[1::3].tolist()
    st_info = table[24 + 4:count * 24:24]
    # latin-1 keeps byte offsets as string offsets
    return sections, st_name, st_shndx, st_info, st_value, strings.decode("latin-1")


def _names(st_name: list[int], text: str) -> list[str]:
    """The NUL-terminated names at the ``st_name`` offsets of the string table ``text``."""
    pieces = text.split("\0")[:-1]  # the text after the last NUL ends no name
    by_start = dict(zip(accumulate((len(p) + 1 for p in pieces), initial=0), pieces,
                        strict=False))
    names = list(map(by_start.get, st_name))
    if None in names:  # an offset into the middle of a string (a shared suffix), or past
        # the last NUL: up to the next NUL, or (as bytes.find's -1 slices) all but the last
        names = [text[o:text.find("\0", o)] if n is None else n
                 for n, o in zip(names, st_name, strict=True)]
    return names  # type: ignore[return-value]


def kernel_columns(vmlinux: str | os.PathLike[str]) -> KernelColumns:
    """vmlinux's symbols as crash's ``store_symbols()`` keeps them, in table order."""
    sections, st_name, st_shndx, st_info, st_value, text = _symtab_columns(vmlinux)
    names = _names(st_name, text)
    if "" in names:  # BFD names an unnamed section symbol after its section
        for i, name in enumerate(names):
            shndx = st_shndx[i]
            if not name and st_info[i] & 0xF == STT_SECTION and 0 < shndx < len(sections):
                names[i] = sections[shndx].name
    # numeric_forward(): undefined symbols first, then by value, then by name (two stable
    # sorts: by name, then by (defined, value) as one integer).
    order = sorted(range(len(names)), key=names.__getitem__)
    keys = [value | (1 << 64) if shndx else value
            for value, shndx in zip(st_value, st_shndx, strict=True)]
    order.sort(key=keys.__getitem__)
    names = [names[i] for i in order]
    values = [st_value[i] for i in order]
    kinds = [st_info[i] << 16 | st_shndx[i] for i in order]
    # the letter depends on (st_info, section) only
    letter_of = {kind: _nm_letter(kind >> 16, kind & 0xFFFF, sections) for kind in set(kinds)}
    letters = list(map(letter_of.__getitem__, kinds))
    names = [strip_symbol_end(name) if "." in name else name for name in names]
    # x86_64_verify_symbol(): before _text/_stext only the per-CPU symbols are kept.
    keep: list[int] = []
    percpu = False
    start = len(names)
    for i, name in enumerate(names):
        if not name:
            continue
        if name in ("_text", "_stext"):
            start = i
            break
        if name == "__per_cpu_start":
            percpu = True
        elif not (percpu and (name.startswith("per_cpu") or name == "__per_cpu_end"
                              or letters[i] in ("V", "d", "D"))):
            continue
        keep.append(i)
    if keep != list(range(start)) or "" in names[start:]:
        keep += [i for i in range(start, len(names)) if names[i]]
        names = [names[i] for i in keep]
        values = [values[i] for i in keep]
        letters = [letters[i] for i in keep]
    return KernelColumns(names, values, "".join(letters), _kernel_image_range(sections))


class RuntimeAddresses(Sequence[int]):
    """The runtime address of each symbol of a :class:`KernelColumns`, computed when read
    (relocating all ~40,000 up front costs more than the few a command looks at; ``bisect``
    reads about 16 per search)."""

    def __init__(self, columns: KernelColumns, kaslr_offset: int) -> None:
        self._values = columns.values
        self._first, self._last = columns.image
        self._offset = kaslr_offset

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> list[int]: ...

    def __getitem__(self, index: int | slice) -> int | list[int]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        value = self._values[index]
        if self._first <= value <= self._last:
            return (value + self._offset) & 0xFFFFFFFFFFFFFFFF
        return value


class KernelSymbols(Sequence[Symbol]):
    """The kernel's symbol table at runtime addresses: columns, with each :class:`Symbol`
    made on first access and kept (the same entry is always the same object)."""

    def __init__(self, columns: KernelColumns, kaslr_offset: int) -> None:
        self.names = columns.names
        self.letters = columns.letters
        self.addresses = RuntimeAddresses(columns, kaslr_offset)
        self._made: list[Symbol | None] = [None] * len(self.names)
        self._index: dict[int, int] = {}  # id(Symbol) -> its index

    def __len__(self) -> int:
        return len(self.names)

    @overload
    def __getitem__(self, index: int) -> Symbol: ...

    @overload
    def __getitem__(self, index: slice) -> list[Symbol]: ...

    def __getitem__(self, index: int | slice) -> Symbol | list[Symbol]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        sym = self._made[index]
        if sym is None:
            if index < 0:
                index += len(self)
            sym = Symbol(self.names[index], self.addresses[index], self.letters[index])
            self._made[index] = sym
            self._index[id(sym)] = index
        return sym

    def __iter__(self) -> Iterator[Symbol]:
        return (self[i] for i in range(len(self)))

    def index_of(self, sym: Symbol) -> int | None:
        """The index of ``sym`` if it came from this table."""
        return self._index.get(id(sym))


def kernel_symbols(vmlinux: str | os.PathLike[str], kaslr_offset: int) -> KernelSymbols:
    """vmlinux's symbols as crash's ``store_symbols()`` keeps them, in table order."""
    return KernelSymbols(kernel_columns(vmlinux), kaslr_offset)


class ObjectSymbol(NamedTuple):
    """A defined symbol of a relocatable object (a module's .ko), as BFD reports it."""

    name: str
    value: int  # offset in its section
    section: str
    letter: str
    is_section: bool


def object_symbols(path: str | os.PathLike[str]) -> list[ObjectSymbol]:
    """The defined symbols of an ELF object sorted the way crash sorts a module's (by value,
    then name), section symbols included under their section's name."""
    sections, entries, strings = _read_elf(path)
    found = []
    for st_name, info, _other, shndx, value, _size in entries[1:]:
        if shndx == SHN_UNDEF or shndx >= len(sections) or info & 0xF == STT_FILE:
            continue
        section = sections[shndx]
        if not section.flags & SHF_ALLOC:
            continue
        name = _symbol_name(info, shndx, st_name, strings, sections)
        if not name:
            continue
        found.append(ObjectSymbol(name, value, section.name, _nm_letter(info, shndx, sections),
                                  info & 0xF == STT_SECTION))
    found.sort(key=lambda s: (s.value, s.name))
    return found


def kallsyms_letter(info: int) -> str:
    """crash's ``Elf64_Sym_to_common()`` letter for a module kallsyms ``st_info`` byte."""
    if 0x20 <= info < 0x7F:
        return chr(info)
    return {0x02: "t", 0x12: "T"}.get(info, "?")


@dataclass
class ModuleSymbols:
    """One module's symbol table: its start marker, its symbols by address, its end marker."""

    module: LoadedModule
    symbols: list[Symbol] = field(default_factory=list)
    object_file: str | None = None  # the .ko loaded with "mod -s", if any
    section_bases: dict[str, int] = field(default_factory=dict)  # its sections' load addresses
    section_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.module.name


def _module_table(module: LoadedModule, object_file: str | None = None,
                  section_base: dict[str, int] | None = None) -> list[Symbol]:
    """A module's symbols between its MODULE START/END markers.

    From kallsyms alone (crash's letters from ``st_info``, kallsyms order at equal addresses),
    or, once the object file is loaded (``mod -s``), from the object's own symbols the way
    crash's ``store_load_module_symbols()`` does: addresses from the matching kallsyms
    symbol, else the section's load address; names starting with "." skipped; sorted by
    address then name.
    """
    from pycrash.kernel.modules import module_symbols

    kallsyms = module_symbols(module)
    body: list[Symbol] = []
    if object_file is None:
        seen: set[tuple[int, str]] = set()
        for ks in kallsyms:
            name = strip_symbol_end(ks.name)
            if (ks.address, name) in seen:
                continue
            seen.add((ks.address, name))
            body.append(Symbol(name, ks.address, kallsyms_letter(ks.info), module.name))
        body.sort(key=lambda s: s.address)  # stable: kallsyms order at equal addresses
    else:
        by_name: dict[str, int] = {}
        for ks in kallsyms:
            by_name.setdefault(ks.name, ks.address)
        objects = object_symbols(object_file)
        # Where each section was loaded: from any of its symbols kallsyms knows.
        if section_base is None:
            section_base = {}
        for obj in objects:
            if not obj.is_section and obj.name in by_name:
                section_base.setdefault(obj.section, by_name[obj.name] - obj.value)
        for obj in objects:
            if obj.name.startswith("."):
                continue
            address = by_name.get(obj.name) if not obj.is_section else None
            if address is None:
                base = section_base.get(obj.section)
                if base is None:
                    continue
                address = base + obj.value
            body.append(Symbol(strip_symbol_end(obj.name), address, obj.letter, module.name))
        body.sort(key=lambda s: (s.address, s.name))
    start = Symbol(f"_MODULE_START_{module.name}", module.base, "m", module.name, True)
    end = Symbol(f"_MODULE_END_{module.name}", module.base + module.size, "m", module.name,
                 True)
    return [start, *body, end]


class SymbolTable:
    """crash's view of all symbols of one session (build with :func:`symbol_table`)."""

    def __init__(self, kernel: KernelSymbols, modules: list[LoadedModule]) -> None:
        self.kernel = kernel
        self._addresses = kernel.addresses
        names = kernel.names
        first = next((i for i, name in enumerate(names) if name in ("_text", "_stext")), None)
        self.first_ksymbol = (kernel.addresses[first] if first is not None else
                              kernel.addresses[0] if names else 0)
        self.percpu = "__per_cpu_start" in names
        self._kernel_names: dict[str, list[int]] | None = None  # built on first lookup
        self.modules: list[ModuleSymbols] = []
        for module in modules:
            self.modules.append(ModuleSymbols(module, _module_table(module)))
        self._index_modules()

    def _index_modules(self) -> None:
        self._module_names: dict[str, list[Symbol]] = {}
        for ms in self.modules:
            for s in ms.symbols:
                if not s.pseudo:
                    self._module_names.setdefault(s.name, []).append(s)

    # -- modules ---------------------------------------------------------------------------

    def module(self, name: str) -> ModuleSymbols | None:
        return next((m for m in self.modules if m.name == name), None)

    def module_of(self, address: int) -> ModuleSymbols | None:
        """The module whose memory holds ``address`` (crash's ``module_symbol()``)."""
        return next((m for m in self.modules if m.module.contains(address)), None)

    def load_module_object(self, name: str, path: str) -> None:
        """Take a module's symbol letters from its object file (after ``mod -s``)."""
        ms = self.module(name)
        if ms is None:
            raise LookupError(f"{name}: no such module")
        bases: dict[str, int] = {}
        ms.symbols = _module_table(ms.module, path, bases)
        ms.object_file = path
        ms.section_bases = bases
        ms.section_sizes = {name: size for name, _addr, size in elf_sections(path)}
        self._index_modules()

    def unload_module_object(self, name: str | None = None) -> None:
        """Forget the object file of one module (all modules if ``name`` is None)."""
        for ms in self.modules:
            if name is None or ms.name == name:
                ms.symbols = _module_table(ms.module)
                ms.object_file = None
                ms.section_bases = {}
        self._index_modules()

    # -- name → symbols --------------------------------------------------------------------

    def lookup(self, name: str) -> list[Symbol]:
        """Every symbol named ``name``: kernel ones in table order, then module ones."""
        if self._kernel_names is None:
            by_name: dict[str, list[int]] = {}
            for i, kernel_name in enumerate(self.kernel.names):
                by_name.setdefault(kernel_name, []).append(i)
            self._kernel_names = by_name
        kernel = [self.kernel[i] for i in self._kernel_names.get(name, ())]
        return kernel + self._module_names.get(name, [])

    def query(self, text: str) -> list[Symbol]:
        """Symbols whose names contain ``text`` (crash's ``symbol_query()``), kernel first."""
        found = [self.kernel[i] for i, name in enumerate(self.kernel.names) if text in name]
        for ms in self.modules:
            found.extend(s for s in ms.symbols if not s.pseudo and text in s.name)
        return found

    # -- address → symbol ------------------------------------------------------------------

    def in_ksymbol_range(self, address: int) -> bool:
        """crash's ``in_ksymbol_range()``: inside the kernel table's span, or a module's."""
        if self.kernel and self.kernel[0].address <= address <= self.kernel[-1].address:
            return not (self.percpu and address < self.first_ksymbol)
        return self.module_of(address) is not None

    def value_search(self, address: int) -> tuple[Symbol, int] | None:
        """The symbol containing ``address`` and the offset into it (crash's ``value_search``).

        An exact match returns the first symbol at that address (skipping ``.text.``
        section names, ``SyS_`` aliases and ``*_text_start`` markers as crash does); any
        other address returns the last symbol below it.
        """
        if not self.in_ksymbol_range(address):
            return None
        module = self.module_of(address)
        if module is not None:
            return self._module_search(module, address)
        kernel, addresses = self.kernel, self._addresses
        i = bisect.bisect_left(addresses, address)
        if i < len(kernel) and addresses[i] == address:
            sym = kernel[i]
            following = kernel[i + 1] if i + 1 < len(kernel) else None
            same = following is not None and following.address == address
            if same and (sym.name.startswith((".text.", "SyS_", "compat_SyS_"))
                         or sym.name.endswith("_text_start")):
                sym = following
            return sym, 0
        if i == 0:
            return None
        sym = kernel[i - 1]
        return sym, address - sym.address

    def symstr(self, address: int) -> str | None:
        """crash's ``value_to_symstr()`` in its default (decimal) radix: ``name`` or
        ``name+offset`` of the symbol containing ``address``; None outside the symbols."""
        found = self.value_search(address)
        if found is None:
            return None
        sym, offset = found
        return f"{sym.name}+{offset}" if offset else sym.name

    def _module_search(self, ms: ModuleSymbols, address: int) -> tuple[Symbol, int] | None:
        symbols = ms.symbols
        last = None
        for i, sym in enumerate(symbols):
            if sym.address == address:
                if sym.pseudo and sym.name.startswith("_MODULE_END_"):
                    break
                if sym.pseudo:
                    nxt = symbols[i + 1] if i + 1 < len(symbols) else None
                    if nxt is not None and nxt.address == address and not nxt.pseudo:
                        sym = nxt
                elif sym.name.startswith("."):
                    nxt = symbols[i + 1] if i + 1 < len(symbols) else None
                    if nxt is not None and nxt.address == address:
                        sym = nxt
                return sym, 0
            if sym.address > address:
                found = last if last is not None else symbols[max(i - 1, 0)]
                return found, address - found.address
            if not sym.pseudo:
                last = sym
        return None

    def neighbours(self, sym: Symbol) -> tuple[Symbol | None, Symbol | None]:
        """(previous, next) symbol of ``sym`` as crash's ``prev_symbol``/``next_symbol`` pick
        them (``sym -p``/``-n``): the previous entry of the table; the next kernel symbol at
        a higher address, else the next module symbol (module markers skipped)."""
        module_syms = [s for ms in self.modules for s in ms.symbols if not s.pseudo]
        if sym.module is None:
            i = self.kernel.index_of(sym)
            if i is None:
                return None, None
            prev = self.kernel[i - 1] if i > 0 else None
            addresses = self._addresses
            j = next((j for j in range(i + 1, len(addresses)) if addresses[j] > sym.address),
                     None)
            nxt = self.kernel[j] if j is not None else None
            if nxt is None and module_syms:
                nxt = module_syms[0]
            return prev, nxt
        for i, s in enumerate(module_syms):
            if s is sym:
                prev = module_syms[i - 1] if i > 0 else (self.kernel[-1] if self.kernel else None)
                nxt = module_syms[i + 1] if i + 1 < len(module_syms) else None
                return prev, nxt
        return None, None


_tables: weakref.WeakKeyDictionary[Any, SymbolTable] = weakref.WeakKeyDictionary()


def symbol_table(session: Session) -> SymbolTable:
    """The session's symbol table (built once: the vmlinux symtab plus module kallsyms)."""
    table = _tables.get(session)
    if table is not None:
        return table
    if session.vmlinux_path is None:
        from pycrash.api import CommandError

        raise CommandError("no vmlinux: symbols are not available")
    from pycrash.kernel.modules import loaded_modules
    from pycrash.kernel.symbol_cache import cached_columns

    vmlinux = session.vmlinux_path
    columns = cached_columns(vmlinux, lambda: kernel_columns(vmlinux))
    kernel = KernelSymbols(columns, session.dump.kaslr_offset or 0)
    try:
        modules = loaded_modules(session)
    except Exception:  # noqa: BLE001 - no module list readable: vmlinux symbols only
        modules = []
    table = SymbolTable(kernel, modules)
    _tables[session] = table
    return table


def unload_module_objects(session: Session) -> None:
    """Back to kallsyms-only module symbols, as in a fresh crash session (``mod -D``).

    For callers that replay independent crash recordings in one session (the parity tests):
    ``mod -s`` state otherwise carries over from one recording to the next.
    """
    table = _tables.get(session)
    if table is not None:
        table.unload_module_object(None)


def invalidate_symbol_table(session: Session) -> None:
    """Forget the cached table (``mod -R`` re-reads the module list)."""
    _tables.pop(session, None)


# -- source lines ------------------------------------------------------------------------

class LineTable:
    """Address → (file, line) from an ELF file's DWARF line programs, the way gdb reports it.

    gdb keeps one line table per source file and ends a file's entries where the program
    switches to another file at the same address; in effect the answer for a pc is the last
    row (in program order) at the highest address not above pc, statement rows preferred.
    File names are the line header's directory joined with the file name; relative ones get
    the compile directory in front (crash's ``gdb_get_line_number``).
    """

    def __init__(self, path: str) -> None:
        from elftools.elf.elffile import ELFFile

        self.path = path
        self._file = open(path, "rb")  # noqa: SIM115 - kept open for pyelftools' lazy reads
        elf = ELFFile(self._file)
        self.relocatable = elf["e_type"] == "ET_REL"
        self._dwarf = elf.get_dwarf_info(relocate_dwarf_sections=self.relocatable)
        self._aranges = self._dwarf.get_aranges()
        self._rows: dict[int, list] = {}
        self._comp_dirs: dict[int, str] = {}
        self._spans: list[tuple[int, int, int, int]] | None = None
        self._gdb_symtabs: dict[int, _GdbSymtab] = {}

    def _cu_rows(self, cu_offset: int) -> list:
        rows = self._rows.get(cu_offset)
        if rows is None:
            cu = self._dwarf.get_CU_at(cu_offset)
            top = cu.get_top_DIE()
            comp_dir = top.attributes.get("DW_AT_comp_dir")
            self._comp_dirs[cu_offset] = comp_dir.value.decode("utf-8", "replace") if comp_dir \
                else ""
            program = self._dwarf.line_program_for_CU(cu)
            rows = []
            if program is not None:
                version = program["version"]
                files = program["file_entry"]
                dirs = program["include_directory"]
                names: dict[int, str] = {}
                for address, file_index, line, is_stmt, end in _decode_line_rows(program):
                    name = names.get(file_index)
                    if name is None:
                        name = _line_file_name(files, dirs, file_index, version)
                        names[file_index] = name
                    rows.append((address, name, line, is_stmt, end))
            self._rows[cu_offset] = rows
        return rows

    def _cu_offset(self, address: int) -> int | None:
        if self._aranges is not None:
            return self._aranges.cu_offset_at_addr(address)
        for cu in self._dwarf.iter_CUs():  # no .debug_aranges: the first CU with the pc
            top = cu.get_top_DIE()
            low = top.attributes.get("DW_AT_low_pc")
            high = top.attributes.get("DW_AT_high_pc")
            if low and high:
                end = high.value if high.form == "DW_FORM_addr" else low.value + high.value
                if low.value <= address < end:
                    return cu.cu_offset
        return None

    def lookup(self, address: int) -> tuple[str, int] | None:
        """(file name as gdb shows it, line) for a link-time address, or None."""
        cu_offset = self._cu_offset(address)
        if cu_offset is None:
            return self._lookup_outside_every_cu(address)
        rows = self._cu_rows(cu_offset)
        best_address = None
        candidates: list = []
        sequence: list = []
        for row in rows:
            row_address, _name, _line, _stmt, end = row
            if end:
                if sequence and sequence[0][0] <= address < row_address:
                    for srow in sequence:
                        if srow[0] <= address:
                            if best_address is None or srow[0] > best_address:
                                best_address, candidates = srow[0], [srow]
                            elif srow[0] == best_address:
                                candidates.append(srow)
                    break
                sequence = []
                continue
            sequence.append(row)
        if not candidates:
            return None
        statements = [c for c in candidates if c[3]]
        chosen = (statements or candidates)[-1]
        name, line = chosen[1], chosen[2]
        if not line:
            return None
        return self._with_comp_dir(cu_offset, name), line

    def _with_comp_dir(self, cu_offset: int, name: str) -> str:
        """crash's gdb_get_line_number(): a relative symtab name gets the CU's directory."""
        if not name.startswith("/"):
            comp_dir = self._comp_dirs.get(cu_offset, "")
            if comp_dir:
                name = comp_dir + ("" if comp_dir.endswith("/") else "/") + name
        return name

    # A pc in no CU's ranges (padding after a function ending in a noreturn call, e.g. the
    # return address of rest_init's call to cpu_startup_entry) is answered the way gdb 10.2
    # (crash 8.0.6) answers it.  find_pc_line() -> find_pc_sect_compunit_symtab(): the
    # psymtab address map holds only the CUs' DW_AT_ranges, so it finds nothing, and gdb
    # falls back to the compunits it has already expanded, taking the one whose GLOBAL_BLOCK
    # -- [lowest, highest) address of the whole CU -- contains pc with the smallest span.
    # find_pc_sect_line() then looks at every symtab (file) of that CU: in each file's line
    # table the last entry at or before pc, skipped when it is a line-0 end marker; the
    # highest such entry wins (see _GdbSymtab).  Which CUs a gdb session has expanded
    # depends on its history, which pycrash cannot know: it takes the narrowest few CUs in
    # order of span and answers from the first whose line tables give a line (crash's
    # session, for the case above, had expanded kernel/locking/mutex.c, fourth by span, but
    # none of the three narrower CUs, none of which has a line for that pc).  Trying more
    # CUs answers more often where gdb, whose narrowest expanded CU had no line, did not.
    _SPANNING_CUS_TRIED = 4

    def _lookup_outside_every_cu(self, address: int) -> tuple[str, int] | None:
        for cu_offset in self._cus_spanning(address)[:self._SPANNING_CUS_TRIED]:
            found = self._gdb_symtab(cu_offset).find_line(address)
            if found is not None:
                self._cu_rows(cu_offset)  # fills the CU's compile directory
                return self._with_comp_dir(cu_offset, found[0]), found[1]
        return None

    def _cus_spanning(self, address: int) -> list[int]:
        """CU offsets whose [lowest, highest) address contains ``address``, narrowest first."""
        if self._spans is None:
            spans: dict[int, tuple[int, int]] = {}
            entries = self._aranges.entries if self._aranges is not None else []
            for entry in entries:
                if not entry.begin_addr or not entry.length:  # GC'd or empty: not in a block
                    continue
                low, high = spans.get(entry.info_offset, (entry.begin_addr, entry.begin_addr))
                spans[entry.info_offset] = (min(low, entry.begin_addr),
                                            max(high, entry.begin_addr + entry.length))
            self._spans = sorted((high - low, low, high, offset)
                                 for offset, (low, high) in spans.items())
        return [offset for _size, low, high, offset in self._spans if low <= address < high]

    def _gdb_symtab(self, cu_offset: int) -> _GdbSymtab:
        symtab = self._gdb_symtabs.get(cu_offset)
        if symtab is None:
            program = self._dwarf.line_program_for_CU(self._dwarf.get_CU_at(cu_offset))
            symtab = _GdbSymtab(program, relocatable=self.relocatable)
            self._gdb_symtabs[cu_offset] = symtab
        return symtab


class _GdbSymtab:
    """One CU's line tables as gdb 10.2 builds them: one table per source file (symtab).

    dwarf2/read.c ``lnp_state_machine`` and buildsym.c ``record_line``, in the parts that
    decide what gdb answers:

    * each DW_LNS_set_file makes the file current so far the "last subfile"; a row in
      another file than the last subfile first puts an end marker (line 0) into the last
      subfile at the row's address, and so does the end of a sequence;
    * a non-statement row that switches file at an address that already had a statement row
      is dropped (no marker either); so are rows of line 0;
    * a row repeating the last subfile's line is dropped once a non-zero discriminator was
      seen for that line (PR 17276);
    * an end marker first deletes the file's entries at its own address, and is not added
      when the file's table is empty or already ends with a marker;
    * each table is sorted by address, end markers first among equal addresses.
    """

    def __init__(self, program: Any, relocatable: bool = False) -> None:
        files, dirs = program["file_entry"], program["include_directory"]
        version = program["version"]
        first = 0 if version >= 5 else 1
        self.names: list[str] = []  # symtab order: the line header's, first of each name
        names: dict[int, str] = {}
        for index in range(first, first + len(files)):
            name = _line_file_name(files, dirs, index, version)
            names[index] = name
            if name not in self.names:
                self.names.append(name)
        tables: dict[str, list[tuple[int, int, bool]]] = {name: [] for name in self.names}

        def record(name: str, line: int, address: int, is_stmt: bool) -> None:
            table = tables.setdefault(name, [])
            if line == 0:
                last_line = None
                while table:
                    last_line = table[-1][1]
                    if table[-1][0] != address:
                        break
                    table.pop()
                if last_line is None or last_line == 0:
                    return
            table.append((address, line, is_stmt))

        last_subfile: str | None = None
        last_line = 0
        last_address = 0
        stmt_at_address = False
        skip_sequence = False
        for row in _decode_line_rows(program, gdb_state=True):
            address, file_index, line, is_stmt, end, switched_from, repeated_discriminator, \
                start = row
            if start:  # gdb runs a fresh state machine for every sequence
                last_subfile, last_line, last_address, stmt_at_address = None, 0, 0, False
                # check_line_address(): a sequence at address 0 is a GC'd function's
                skip_sequence = address == 0 and not relocatable
            if skip_sequence:
                continue
            current = names.get(file_index, "")
            if switched_from >= 0:
                last_subfile = names.get(switched_from, "")
            changed = last_subfile != current
            ignore = not end and (line == 0 or (changed and last_address == address
                                                and not is_stmt and stmt_at_address))
            if ((changed and not ignore) or end) and last_subfile is not None:
                record(last_subfile, 0, address, True)
            if not end and not ignore:
                if changed or line != last_line or not repeated_discriminator:
                    record(current, line, address, is_stmt)
                last_subfile, last_line = current, line
            if last_address != address:
                stmt_at_address, last_address = False, address
            stmt_at_address |= is_stmt
        self.tables = {}
        for name, table in tables.items():
            table.sort(key=lambda entry: (entry[0], entry[1] != 0))
            self.tables[name] = ([entry[0] for entry in table], table)

    def find_line(self, pc: int) -> tuple[str, int] | None:
        """symtab.c find_pc_sect_line(): (symtab name, line) for ``pc`` in this CU."""
        best: tuple[int, int, bool] | None = None
        best_name = ""
        for name in self.names:
            addresses, table = self.tables.get(name, ([], []))
            index = bisect.bisect_right(addresses, pc) - 1  # the last entry at or before pc
            if index < 0 or not table[index][1]:  # none, or an end marker: no line here
                continue
            if best is not None and table[index][0] <= best[0]:
                continue
            # a non-statement entry: a statement entry at the same address before it wins
            chosen = index
            while chosen > 0 and table[chosen - 1][0] == table[chosen][0] and \
                    table[chosen - 1][1] != 0 and not table[chosen][2]:
                chosen -= 1
            best = table[chosen] if table[chosen][2] else table[index]
            best_name = name
        if best is None:
            return None
        return best_name, best[1]


def _decode_line_rows(program: Any, gdb_state: bool = False) -> list[tuple]:
    """Rows (address, file, line, is_stmt, end_sequence) of a DWARF line program.

    A direct state machine over the program bytes (DWARF 2-5, section 6.2): several times
    faster than building pyelftools' entry objects, which matters for the kernel's big
    compile units.  pyelftools still parses the header (and relocates a .ko's section).

    ``gdb_state`` adds what gdb's state machine keeps between rows (see _GdbSymtab): the
    file that was current when the last DW_LNS_set_file since the previous row ran (-1:
    none), whether the row's line has had a non-zero discriminator, and whether the row
    opens a sequence.
    """
    header = program.header
    min_inst = header["minimum_instruction_length"]
    default_is_stmt = bool(header["default_is_stmt"])
    line_base = header["line_base"]
    line_range = header["line_range"]
    opcode_base = header["opcode_base"]
    std_lengths = header["standard_opcode_lengths"]
    address_size = program.structs.address_size
    stream = program.stream
    stream.seek(program.program_start_offset)
    data = stream.read(program.program_end_offset - program.program_start_offset)
    rows: list[tuple[int, int, int, bool, bool]] = []
    append = rows.append

    # LEB128: pycrash.dwarf's decoders (bounded against garbled runs of continuation bytes)
    from pycrash.dwarf.encoding import sleb, uleb

    address, file_index, line, is_stmt = 0, 1, 1, default_is_stmt
    # gdb_state only: lnp_state_machine's m_discriminator, m_line_has_non_zero_discriminator
    switched_from, discriminator, nonzero_discriminator, start = -1, 0, False, True

    def row(end_sequence: bool) -> None:
        nonlocal switched_from, discriminator, start
        if gdb_state:
            append((address, file_index, line, is_stmt, end_sequence, switched_from,
                    nonzero_discriminator, start))
            switched_from, discriminator, start = -1, 0, False
        else:
            append((address, file_index, line, is_stmt, end_sequence))

    pos, end = 0, len(data)
    while pos < end:
        opcode = data[pos]
        pos += 1
        if opcode >= opcode_base:
            adjusted = opcode - opcode_base
            address += (adjusted // line_range) * min_inst
            delta = line_base + adjusted % line_range
            line += delta
            if delta:
                nonzero_discriminator = discriminator != 0
            row(False)
        elif opcode == 0:  # extended
            length, pos = uleb(data, pos)
            sub = data[pos]
            if sub == 1:  # DW_LNE_end_sequence
                row(True)
                address, file_index, line, is_stmt = 0, 1, 1, default_is_stmt
                switched_from, discriminator, nonzero_discriminator, start = -1, 0, False, True
            elif sub == 2:  # DW_LNE_set_address
                address = int.from_bytes(data[pos + 1:pos + 1 + address_size], "little")
            elif sub == 4:  # DW_LNE_set_discriminator
                discriminator, _next = uleb(data, pos + 1)
                nonzero_discriminator |= discriminator != 0
            pos += length
        elif opcode == 1:  # DW_LNS_copy
            row(False)
        elif opcode == 2:  # DW_LNS_advance_pc
            advance, pos = uleb(data, pos)
            address += advance * min_inst
        elif opcode == 3:  # DW_LNS_advance_line
            delta, pos = sleb(data, pos)
            line += delta
            if delta:
                nonzero_discriminator = discriminator != 0
        elif opcode == 4:  # DW_LNS_set_file
            switched_from = file_index
            file_index, pos = uleb(data, pos)
            nonzero_discriminator = discriminator != 0
        elif opcode == 6:  # DW_LNS_negate_stmt
            is_stmt = not is_stmt
        elif opcode == 8:  # DW_LNS_const_add_pc
            address += ((255 - opcode_base) // line_range) * min_inst
        elif opcode == 9:  # DW_LNS_fixed_advance_pc
            address += int.from_bytes(data[pos:pos + 2], "little")
            pos += 2
        else:  # set_column, basic_block, prologue/epilogue flags, isa, unknown: skip args
            for _ in range(std_lengths[opcode - 1] if opcode - 1 < len(std_lengths) else 0):
                _skipped, pos = uleb(data, pos)
    return rows


def _line_file_name(files: Any, dirs: Any, index: int, version: int) -> str:
    """The file name of line-program file ``index``: directory + "/" + name."""
    position = index if version >= 5 else index - 1
    if not 0 <= position < len(files):
        return ""
    entry = files[position]
    name = entry.name.decode("utf-8", "replace")
    if name.startswith("/"):
        return name
    dir_index = entry.dir_index
    directory = ""
    if version >= 5:
        if 0 <= dir_index < len(dirs):
            directory = dirs[dir_index].decode("utf-8", "replace")
    elif dir_index > 0 and dir_index - 1 < len(dirs):
        directory = dirs[dir_index - 1].decode("utf-8", "replace")
    return f"{directory}/{name}" if directory else name


_line_tables: dict[str, LineTable | None] = {}


def line_table(path: str) -> LineTable | None:
    """The (cached) line table of an ELF file, or None when it has no usable DWARF."""
    if path not in _line_tables:
        try:
            _line_tables[path] = LineTable(path)
        except Exception:  # noqa: BLE001 - no or damaged DWARF: no line numbers
            _line_tables[path] = None
    return _line_tables[path]


def source_line(session: Session, address: int, object_file: str | None = None,
                object_base: int = 0) -> str:
    """gdb's "file: line" for a text address, as crash appends it to ``sym`` output.

    ``object_file``/``object_base``: a module's object file and the runtime address its
    ``.text`` was loaded at; otherwise the vmlinux (link address = runtime - KASLR offset).
    Empty when there is no line information.
    """
    if object_file is not None:
        table = line_table(object_file)
        link_address = address - object_base
    else:
        if session.vmlinux_path is None:
            return ""
        table = line_table(str(session.vmlinux_path))
        link_address = address - (session.dump.kaslr_offset or 0)
    if table is None:
        return ""
    try:
        found = table.lookup(link_address)
    except Exception:  # noqa: BLE001 - damaged line program: no line number
        return ""
    if found is None:
        return ""
    filename, line = found
    while "//" in filename:
        filename = filename.replace("//", "/")
    return f"{filename}: {line}"


def elf_sections(path: str | os.PathLike[str]) -> list[tuple[str, int, int]]:
    """(name, link address, size) of an ELF file's sections, in header order (no null one)."""
    with open(path, "rb") as f:
        sections = section_headers(f)
    return [(s.name, s.addr, s.size) for s in sections[1:]]


def kernel_text_ranges(vmlinux: str | os.PathLike[str], kaslr_offset: int) -> list[tuple[int, int]]:
    """Runtime [start, end) of the vmlinux's code sections (crash's ``is_kernel_text()``)."""
    with open(vmlinux, "rb") as f:
        sections = section_headers(f)
    mask = (1 << 64) - 1
    return [((s.addr + kaslr_offset) & mask, (s.addr + s.size + kaslr_offset) & mask)
            for s in sections if s.flags & SHF_EXECINSTR and s.flags & SHF_ALLOC and s.addr]
