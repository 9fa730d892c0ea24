"""gdb-style text for C values and types, as crash prints them.

* :mod:`pycrash.format.value`   values (``print``/``output``) from bytes and a drgn type
* :mod:`pycrash.format.ctype`   type names and declarations (``ptype``/``whatis``)
* :mod:`pycrash.format.cstring` gdb's quoting of characters and strings
* :mod:`pycrash.format.layout`  crash's line editing of gdb's text (member picking, offsets)

:func:`value_printer` binds a printer to a session: symbols come from the session's drgn
program and every byte read comes through the session's core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import drgn

from pycrash.format.value import PrintOptions, ValuePrinter

if TYPE_CHECKING:
    from pycrash.session import Session

__all__ = [
    "PrintOptions",
    "ValuePrinter",
    "kernel_space_start",
    "symbolize",
    "value_printer",
]

# The 4-level kernel half, for callers without a session.  gdb is only asked for <symbol>
# annotations of kernel addresses.
KERNEL_SPACE_START = 0xFFFF800000000000


def kernel_space_start(session: Session) -> int:
    """The lowest kernel virtual address of the dump's paging mode (the core's layout)."""
    return session.dump.layout.kernel_half


def symbolize(prog: drgn.Program, address: int,
              kernel_start: int = KERNEL_SPACE_START) -> str | None:
    """``name`` or ``name+offset`` (decimal) of the symbol containing ``address``, as gdb's
    ``<...>`` annotation shows it; None outside kernel space or any symbol."""
    if address < kernel_start:
        return None
    try:
        sym = prog.symbol(address)
    except LookupError:
        return None
    if sym.size == 0 and sym.kind != drgn.SymbolKind.FUNC:
        # gdb ignores zero-sized data symbols (linker labels such as __start_init_task).
        return None
    offset = address - sym.address
    return f"{sym.name}+{offset}" if offset else sym.name


def radix_format(radix: int | None) -> str | None:
    """gdb's output format for crash's output radix: ``"x"`` for 16, None for 10."""
    return "x" if radix == 16 else None


def value_printer(session: Session, *, fmt: str | None = None, radix: int | None = None
                  ) -> ValuePrinter:
    """A printer for ``session``'s values: ``fmt`` is a ``p/FMT`` letter, ``radix`` 10 or 16
    (default: the session's ``set radix``)."""
    prog = session.prog
    if radix is None:
        radix = int(session.settings.get("radix", 10))
    options = PrintOptions(fmt=fmt, output_format=radix_format(radix))

    kernel_start = kernel_space_start(session)

    def annotate(address: int) -> str | None:
        if address < kernel_start:
            return None
        found = _module_symbol(session, address)
        if found is None:
            return symbolize(prog, address, kernel_start)
        # Inside a module: gdb's own symbol if it has one (named as crash's module table
        # names that address: "pycrash_test_exit", not its alias "cleanup_module"), else
        # crash's fallback, the nearest module symbol below ("<_note_9+332>").
        name, offset = found
        own = symbolize(prog, address, kernel_start)
        if own is not None and offset and own.partition("+")[2] != str(offset):
            return own
        return f"{name}+{offset}" if offset else name

    return ValuePrinter(options, annotate, prog.read)


# x86-64 MODULES_VADDR: __START_KERNEL_map + KERNEL_IMAGE_SIZE (1 GiB with KASLR); modules
# live above it, so lower addresses need no module symbol table.
MODULES_VADDR = 0xFFFFFFFFC0000000


def _module_symbol(session: Session, address: int) -> tuple[str, int] | None:
    """crash's value_search_module: the nearest module symbol at or below ``address``."""
    if address < MODULES_VADDR:
        return None
    try:
        from pycrash.kernel.symbols import symbol_table

        table = symbol_table(session)
        if table.module_of(address) is None:
            return None
        found = table.value_search(address)
    except Exception:  # noqa: BLE001 - no module table: no annotation
        return None
    if found is None:
        return None
    sym, offset = found
    return sym.name, offset


def module_symbolize(session: Session, address: int) -> str | None:
    """crash's fallback for addresses gdb has no symbol for: inside a module, the nearest
    module symbol below (``<_note_9+332>`` for a module's string literal)."""
    if address < kernel_space_start(session):
        return None
    found = _module_symbol(session, address)
    if found is None:
        return None
    name, offset = found
    return f"{name}+{offset}" if offset else name
