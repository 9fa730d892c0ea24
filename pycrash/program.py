"""The drgn Program of a session, fed by pycrash's own memory-access core.

drgn supplies types, objects, symbols and unwinding; every byte it reads comes from
:mod:`pycrash.core` through two kinds of memory segments:

* physical segments over the dump's RAM ranges (``Program.set_linux_kernel_custom`` requires
  them; drgn's own page-table walker reads through them);
* one virtual segment over the kernel half of the address space whose callback calls
  ``dump.read(address, count)``, so kernel-virtual reads use the core's translation and caches
  instead of drgn's page-table walk.  drgn's memory reader gives a segment added later
  precedence over an earlier one that overlaps it, and ``set_linux_kernel_custom`` registers its
  page-table reader over the whole address space first; user addresses (below the kernel half)
  still go through drgn's walker, which reads the physical segments.

A fault in the core becomes a ``drgn.FaultError`` carrying the same one-line reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import drgn

from pycrash.core.errors import FaultError as CoreFaultError

if TYPE_CHECKING:
    from pycrash.core import Dump

__all__ = ["ReadCounter", "create_program", "kernel_half_start", "load_kernel_debuginfo"]

X86_64 = drgn.Platform(
    drgn.Architecture.X86_64,
    drgn.PlatformFlags.IS_64_BIT | drgn.PlatformFlags.IS_LITTLE_ENDIAN,
)


@dataclasses.dataclass
class ReadCounter:
    """How many times and how many bytes drgn asked the core for (for measurements)."""

    virtual_calls: int = 0
    virtual_bytes: int = 0
    physical_calls: int = 0
    physical_bytes: int = 0


def kernel_half_start(dump: Dump) -> int:
    """Start of the kernel half of the virtual address space for this dump's paging mode."""
    return dump.layout.kernel_half


def _reason(err: CoreFaultError) -> str:
    return str(getattr(err, "reason", "") or err)


def _reader(dump: Dump, physical: bool, counter: ReadCounter) -> Callable[..., bytes]:
    read = dump.read

    if physical:

        def read_fn(address: int, count: int, offset: int, is_physical: bool) -> bytes:
            counter.physical_calls += 1
            counter.physical_bytes += count
            try:
                return read(address, count, physical=True)
            except CoreFaultError as err:
                # drgn appends ": <address>" itself
                raise drgn.FaultError(f"{_reason(err)} (physical address)", err.address) from None

    else:

        def read_fn(address: int, count: int, offset: int, is_physical: bool) -> bytes:
            counter.virtual_calls += 1
            counter.virtual_bytes += count
            try:
                return read(address, count)
            except CoreFaultError as err:
                raise drgn.FaultError(_reason(err), err.address) from None

    return read_fn


class _DrgnLogHandler(logging.Handler):
    """drgn reports through the ``drgn`` logger (e.g. "can't find kernel modules: ..." when a
    damaged dump's module list can't be read); with no handler Python would print the bare
    text. Say it the way pycrash says everything: one ``pycrash: WARNING:`` line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage().strip().splitlines()
        except Exception:  # noqa: BLE001 - a malformed record is not worth a traceback
            return
        if text:
            print(f"pycrash: WARNING: {text[0]}", file=sys.stderr)


def route_drgn_log() -> None:
    """Send drgn's log records (warnings and worse) through :class:`_DrgnLogHandler`."""
    logger = logging.getLogger("drgn")
    if not any(isinstance(h, _DrgnLogHandler) for h in logger.handlers):
        handler = _DrgnLogHandler(logging.WARNING)
        logger.addHandler(handler)
        logger.propagate = False


# drgn's own entry points in the "drgn.plugins" group (drgn 0.3.0's entry_points.txt): they
# register drgn's CLI commands on import and define no Program hooks, so pycrash, which has its
# own commands, never needs them; importing them costs about 0.1 s per start.
DRGN_COMMAND_PLUGINS = ("builtin_commands", "crash_commands")


def _drgn_plugins_to_disable(saved: str | None) -> str:
    """The ``DRGN_DISABLE_PLUGINS`` value for pycrash's Program: the user's, plus drgn's command
    plugins; "*" when those are the only drgn plugins installed, which spares drgn its
    entry-point scan (and the ``importlib.metadata`` import) while loading the same set."""
    from pycrash.plugins import declared_entry_points

    declared = declared_entry_points("drgn.plugins")
    if declared is not None and set(declared) <= set(DRGN_COMMAND_PLUGINS):
        return "*"
    return ",".join(filter(None, (saved, *DRGN_COMMAND_PLUGINS)))


@contextlib.contextmanager
def _drgn_command_plugins_disabled() -> Iterator[None]:
    """Keep drgn's command plugins out of the Program created in the block.

    drgn reads ``DRGN_DISABLE_PLUGINS`` once per process, when a Program first calls its plugin
    hooks (``_drgn_util.plugins``); every other plugin is still loaded, as are those the user
    names in ``DRGN_PLUGINS``.  The user's own setting is restored afterwards, so shell
    commands run from pycrash see the environment unchanged.
    """
    saved = os.environ.get("DRGN_DISABLE_PLUGINS")
    if saved == "*":
        yield
        return
    os.environ["DRGN_DISABLE_PLUGINS"] = _drgn_plugins_to_disable(saved)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("DRGN_DISABLE_PLUGINS", None)
        else:
            os.environ["DRGN_DISABLE_PLUGINS"] = saved


def create_program(dump: Dump, counter: ReadCounter | None = None) -> drgn.Program:
    """A drgn Program for ``dump`` with no debuginfo loaded yet."""
    route_drgn_log()
    counter = counter if counter is not None else ReadCounter()
    prog = drgn.Program(X86_64)
    for start, end in dump.physical_ranges():
        if end > start:
            prog.add_memory_segment(start, end - start, _reader(dump, True, counter), True)
    raw = dump.vmcoreinfo.raw
    with _drgn_command_plugins_disabled():
        prog.set_linux_kernel_custom(raw.encode() if isinstance(raw, str) else raw, False)
    start = kernel_half_start(dump)
    # Added after set_linux_kernel_custom so that it takes precedence over drgn's page-table
    # reader for kernel addresses.
    prog.add_memory_segment(start, (1 << 64) - start, _reader(dump, False, counter), False)
    return prog


def _module_files(search_dirs: Iterable[Path]) -> dict[str, Path]:
    """``{module name: path}`` of the ``.ko`` files under ``search_dirs`` (first one wins)."""
    found: dict[str, Path] = {}
    for base in search_dirs:
        if not base.is_dir():
            continue
        for dirpath, _dirnames, filenames in os.walk(base):
            for filename in filenames:
                if filename.endswith(".ko"):
                    # The kernel names a module by its file name with '-' turned into '_'.
                    name = filename[:-3].replace("-", "_")
                    found.setdefault(name, Path(dirpath) / filename)
    return found


def load_kernel_debuginfo(
    prog: drgn.Program,
    vmlinux: Path,
    module_dirs: Iterable[Path] = (),
    *,
    force: bool = False,
) -> list[str]:
    """Load the vmlinux DWARF and module debuginfo found in ``module_dirs``.

    Returns the names of loaded modules whose debuginfo was not found.  ``force`` makes drgn use
    the vmlinux even when its build-id differs from the dump's (``--force``).
    """
    ko_files = _module_files(module_dirs)
    try:
        prog.load_debug_info([str(vmlinux), *map(str, ko_files.values())])
    except drgn.MissingDebugInfoError:
        pass  # reported below, module by module
    main = prog.main_module()
    if force and main.wants_debug_file():
        main.try_file(str(vmlinux), force=True)
    if main.wants_debug_file():
        raise drgn.MissingDebugInfoError(f"could not use {vmlinux} as the kernel's debuginfo")
    missing = []
    for module in prog.modules():
        if module is main or not isinstance(module, drgn.RelocatableModule):
            continue
        if module.wants_debug_file():
            missing.append(module.name)
    return sorted(missing)
