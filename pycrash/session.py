"""A debugging session: one dump, its kernel's debuginfo, and the current task context.

Everything a command needs is reached from :class:`Session`:

* ``session.dump`` is the memory-access core, the only way to the dump's bytes;
* ``session.prog`` is a drgn Program fed by that core, created on first use so that commands
  which need only the dump and VMCOREINFO (``log``, ``rd``) never index DWARF;
* ``session.context`` is the current task, the panic task until ``set`` changes it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pycrash import debuginfo
from pycrash.errors import NoDebugInfoError, SessionError

if TYPE_CHECKING:
    import drgn

    from pycrash.core import Dump
    from pycrash.program import ReadCounter

__all__ = ["PanicInfo", "Session", "Settings", "TaskContext", "open_session"]


@dataclasses.dataclass(frozen=True)
class TaskContext:
    """The task commands act on by default (crash's "current context")."""

    task: int  # address of the task_struct
    pid: int
    comm: str
    cpu: int | None


@dataclasses.dataclass(frozen=True)
class PanicInfo:
    """Where the kernel panicked, as crash derives it (see pycrash.kernel.panic)."""

    cpu: int | None
    task: int
    pid: int
    comm: str
    # Reads the message from the kernel log when first asked for: bt and set need only the
    # task, and reading the log costs a tenth of a bt run.
    message_reader: Callable[[], str] = dataclasses.field(default=lambda: "", repr=False,
                                                          compare=False)

    @functools.cached_property
    def message(self) -> str:
        """The panic message crash's ``get_panicmsg()`` picks ("" if none)."""
        return self.message_reader()


class Settings(dict[str, Any]):
    """Session variables changed by ``set`` (crash's internal variables) and by options."""

    DEFAULTS: dict[str, Any] = {
        # crash's defaults: output to a terminal is paged through less (or more); otherwise
        # there is no pager at all and "set scroll on" cannot turn one on.
        "scroll": False,
        "pager": None,  # "/usr/bin/less", "/bin/more" or None
        "radix": 10,  # default output radix of p/rd-style commands
        "prompt": "crash> ",
        "json": False,  # render every command that supports it as JSON
        "debug": False,  # show tracebacks of unexpected errors
        "zero_excluded": False,  # excluded pages read as zeroes
        "silent": False,
        "minimal": False,  # --minimal: never load DWARF (symbols from the ELF symtab only)
    }

    def __init__(self, **overrides: Any) -> None:
        super().__init__(self.DEFAULTS)
        self.update(overrides)


def _module_search_dirs(vmlinux_origin: Path | None, release: str | None) -> list[Path]:
    """Directories that may hold the dump's module ``.ko`` files with debuginfo."""
    dirs = []
    if vmlinux_origin is not None:
        dirs.append(vmlinux_origin.parent)
    if release:
        dirs += [Path("/usr/lib/debug/lib/modules") / release, Path("/lib/modules") / release]
    sample_build = Path(__file__).resolve().parent.parent / "sample-dumps" / "build"
    dirs.append(sample_build)
    return dirs


class Session:
    """One open dump plus its kernel's debuginfo and the current context.

    Build one with :func:`open_session`.  ``prog`` and ``panic`` are computed on first access;
    reading them from several threads is safe (the first access does the work).
    """

    def __init__(
        self,
        dump: Dump,
        vmlinux: Path | None,
        *,
        vmlinux_origin: Path | None = None,
        vmlinux_how: str | None = None,
        debuginfo_note: str | None = None,
        force: bool = False,
        settings: Settings | None = None,
    ) -> None:
        self.dump = dump
        self.vmlinux_path = vmlinux
        self.vmlinux_origin = vmlinux_origin or vmlinux
        self.vmlinux_how = vmlinux_how  # "given", or where the search found it
        self.debuginfo_note = debuginfo_note  # why there is no vmlinux, if there is none
        self.force = force
        self.settings = settings if settings is not None else Settings()
        self.missing_module_debuginfo: list[str] = []
        self.read_counter: ReadCounter | None = None
        self._prog: drgn.Program | None = None
        self._prog_error: Exception | None = None
        self._lock = threading.RLock()
        self._panic: PanicInfo | None = None
        self._context: TaskContext | None = None
        self._symbols: dict[str, int] | None = None
        self._loader: threading.Thread | None = None
        # gdb's value history: `p` prints $1, $2, ... numbered per session.
        self.value_history_count = 0

    # -- the dump ------------------------------------------------------------------------

    @property
    def vmcoreinfo(self) -> Any:
        return self.dump.vmcoreinfo

    @property
    def dump_paths(self) -> list[Path]:
        return [Path(p) for p in getattr(self.dump, "paths", ())]

    # -- debuginfo -----------------------------------------------------------------------

    @property
    def has_debuginfo(self) -> bool:
        """True if a vmlinux is known (its DWARF may not be loaded yet)."""
        return self.vmlinux_path is not None

    @property
    def prog_loaded(self) -> bool:
        """True once ``prog`` has been created (never forces the load)."""
        return self._prog is not None

    @property
    def prog(self) -> drgn.Program:
        """The drgn Program, with the vmlinux (and module) debuginfo loaded on first access."""
        prog = self._prog
        if prog is not None:
            return prog
        with self._lock:
            if self._prog is None:
                if self._prog_error is not None:
                    raise self._prog_error
                try:
                    self._prog = self._load_program()
                except NoDebugInfoError as err:
                    self._prog_error = err
                    raise
            return self._prog

    def _load_program(self) -> drgn.Program:
        import drgn

        from pycrash.kernel.background_import import start_wanted_imports
        from pycrash.program import ReadCounter, create_program, load_kernel_debuginfo

        if self.vmlinux_path is None:
            raise NoDebugInfoError(f"no vmlinux debuginfo: {self.debuginfo_note or 'none given'}")
        if self.settings.get("minimal"):
            raise NoDebugInfoError("not available in --minimal mode (vmlinux DWARF not loaded)")
        start_wanted_imports()  # heavy imports a command asked for run while drgn works
        self.read_counter = ReadCounter()
        prog = create_program(self.dump, self.read_counter)
        dirs = _module_search_dirs(self.vmlinux_origin, self.vmcoreinfo.osrelease)
        try:
            missing = load_kernel_debuginfo(prog, self.vmlinux_path, dirs, force=self.force)
        except drgn.MissingDebugInfoError as err:
            raise NoDebugInfoError(f"no vmlinux debuginfo: {err}") from None
        self.missing_module_debuginfo = missing
        if missing:
            print(f"pycrash: WARNING: no debuginfo for modules: {', '.join(missing)}",
                  file=sys.stderr)
        return prog

    def load_in_background(self) -> threading.Thread | None:
        """Start loading ``prog`` in a thread (the prompt stays responsive); None if nothing to do.

        Loading reads the dump (the kernel's module list) through the core from that thread.
        """
        if self._prog is not None or self.vmlinux_path is None:
            return None

        def load() -> None:
            try:
                self.prog  # noqa: B018 - the access does the work
            except Exception:  # noqa: BLE001 - reported again when a command needs it
                pass

        thread = threading.Thread(target=load, name="pycrash-debuginfo", daemon=True)
        self._loader = thread
        thread.start()
        return thread

    def wait_for_background_load(self) -> None:
        """Wait for :meth:`load_in_background` to finish: the core is read by one thread at a
        time, so a command never runs while the loader reads the dump."""
        thread = self._loader
        if thread is not None:
            thread.join()  # a Ctrl-C here leaves it tracked: the next command waits again
            self._loader = None

    @property
    def symbols(self) -> dict[str, int]:
        """``{name: runtime address}`` from the vmlinux's ELF symbol table, KASLR applied.

        Cheap compared with DWARF: used to resolve names before (or without) ``prog``.
        """
        if self._symbols is None:
            symbols: dict[str, int] = {}
            if self.vmlinux_path is not None:
                offset = self.dump.kaslr_offset or 0
                raw = debuginfo.elf_symbols(self.vmlinux_path)
                symbols = {name: addr + offset for name, addr in raw.items()}
            self._symbols = symbols
        return self._symbols

    def symbol_address(self, name: str) -> int | None:
        """Runtime address of a kernel symbol: from debuginfo if loaded, else the vmlinux's
        symbol table, else VMCOREINFO ``SYMBOL(name)``; None if unknown."""
        if self._prog is not None:
            try:
                return self._prog.symbol(name).address
            except LookupError:
                pass
        address = self.symbols.get(name)
        if address is None:
            address = self.vmcoreinfo.symbol(name)
        return address

    # -- panic and context ---------------------------------------------------------------

    @property
    def panic(self) -> PanicInfo:
        """The panic task, CPU and message (computed once, by pycrash.kernel.panic)."""
        if self._panic is None:
            from pycrash.kernel.panic import find_panic

            self._panic = find_panic(self)
        return self._panic

    def task_context(self, task: int) -> TaskContext:
        """The context of the task_struct at ``task`` (pid, comm, CPU)."""
        from drgn import Object

        from pycrash.kernel.native_helpers import task_cpu

        obj = Object(self.prog, "struct task_struct *", task)
        comm = obj.comm.string_().decode("utf-8", "replace")
        try:
            cpu: int | None = task_cpu(obj)
        except (LookupError, AttributeError):
            cpu = None
        return TaskContext(task=task, pid=int(obj.pid), comm=comm, cpu=cpu)

    @property
    def context(self) -> TaskContext:
        """The current task (the panic task until ``set`` changes it)."""
        if self._context is None:
            panic = self.panic
            self._context = TaskContext(panic.task, panic.pid, panic.comm, panic.cpu)
        return self._context

    def set_context(self, task_address: int) -> TaskContext:
        """Make the task_struct at ``task_address`` the current context and return it."""
        self._context = self.task_context(task_address)
        return self._context

    def reset_context(self) -> TaskContext:
        """Back to the panic task (``set -p``)."""
        self._context = None
        return self.context

    def reset_user_state(self) -> None:
        """Forget what commands changed, as if crash had just started on this dump: the
        context goes back to the panic task, the ``$N`` value history starts over and module
        objects loaded by ``mod -s`` are dropped from the symbol table.
        Loaded debuginfo and caches stay (they change no output)."""
        self._context = None
        self.value_history_count = 0
        # `mod -s` objects: the symbol table (if one was built) goes back to kallsyms only
        if "pycrash.kernel.symbols" in sys.modules:
            sys.modules["pycrash.kernel.symbols"].unload_module_objects(self)

    def stack_trace(self, task_address: int) -> drgn.StackTrace:
        """The task's stack: from its CPU's saved registers if it was running, else from its
        switch frame (pycrash.kernel.stack)."""
        from pycrash.kernel.stack import stack_trace

        return stack_trace(self, task_address)

    def close(self) -> None:
        close = getattr(self.dump, "close", None)
        if close is not None:
            close()
        self._prog = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _one_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


def open_session(
    dump_paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    vmlinux: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    zero_excluded: bool = False,
    settings: Settings | None = None,
) -> Session:
    """Open a dump (one file, or the files of a split dump) and find or check its vmlinux.

    With no ``vmlinux``, the dump's VMCOREINFO build-id and release name the candidates
    (:func:`pycrash.debuginfo.find_vmlinux`); none found means a session without debuginfo
    (``session.debuginfo_note`` says why).  A given vmlinux that is not the dump's kernel
    raises SessionError unless ``force``.
    """
    from pycrash.core import open_dump
    from pycrash.core.errors import PycrashError

    if isinstance(dump_paths, (str, os.PathLike)):
        dump_paths = [dump_paths]
    paths = [Path(p) for p in dump_paths]
    if not paths:
        raise SessionError("no dump file given")
    for path in paths:
        if not path.exists():
            raise SessionError(f"{path}: No such file or directory")
        if not os.access(path, os.R_OK):
            raise SessionError(f"{path}: Permission denied")
    try:
        dump = open_dump(paths if len(paths) > 1 else paths[0], zero_excluded=zero_excluded)
    except (PycrashError, OSError, ValueError) as err:
        raise SessionError(_one_line(err)) from None
    settings = settings if settings is not None else Settings()
    settings["zero_excluded"] = zero_excluded

    how = note = None
    origin = real = None
    try:
        if vmlinux is not None:
            origin = Path(vmlinux)
            if not origin.exists():
                raise SessionError(f"{origin}: No such file or directory")
            if not debuginfo.is_vmlinux(origin):
                raise SessionError(f"{origin}: not a vmlinux (an x86-64 ELF kernel image)")
            real = debuginfo.prepare_vmlinux(origin)
            if not force:
                debuginfo.check_vmlinux_matches(dump, real)
            how = "given"
        else:
            try:
                real, how = debuginfo.find_vmlinux(dump)
                origin = real
            except SessionError as err:
                note = str(err)
    except OSError as err:
        _close_quietly(dump)
        raise SessionError(_one_line(err)) from None
    except SessionError:
        _close_quietly(dump)
        raise
    return Session(
        dump, real, vmlinux_origin=origin, vmlinux_how=how, debuginfo_note=note, force=force,
        settings=settings,
    )


def _close_quietly(dump: Any) -> None:
    close = getattr(dump, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001
            pass
