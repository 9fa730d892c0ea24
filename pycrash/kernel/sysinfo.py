"""
System summary
--------------

The figures crash's ``sys`` shows, each computed the way crash 8.0.6 computes it (``kernel.c``
``display_sys_stats``, ``get_uptime``, ``get_loadavg``; ``memory.c`` ``get_memory_size``;
``x86_64.c`` ``x86_64_get_smp_cpus``), so that the text matches line for line: CPU counts,
the dump date and uptime, the load average, memory size, the task count, taint flags, the
in-kernel config (IKCONFIG) and DMI strings.

Functions take the session and read the kernel through ``session.prog`` (the vmlinux types);
raw bytes come from ``session.dump``.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from pycrash.core.errors import PycrashError

__all__ = (
    "SyscallEntry",
    "SysinfoError",
    "boot_time",
    "cpu_counts",
    "crash_config_lines",
    "ctime_tz",
    "dmi_strings",
    "format_uptime",
    "has_taint_flags",
    "hz",
    "ikconfig_text",
    "load_average",
    "memory_size_text",
    "old_tainted",
    "pages_to_size",
    "pid_max",
    "processor_mhz",
    "syscall_table",
    "taint_letters",
    "tainted_mask",
    "task_count",
    "uptime_jiffies",
    "xtime_seconds",
)


class SysinfoError(PycrashError):
    """A figure cannot be computed on this dump (one line)."""


def _prog(session: Any) -> Any:
    if not getattr(session, "has_debuginfo", False):
        raise SysinfoError("needs the vmlinux debuginfo")
    return session.prog


def _lookup(prog: Any, name: str) -> Any | None:
    try:
        return prog[name]
    except KeyError:
        return None


# -- time ---------------------------------------------------------------------------------


def ctime_tz(seconds: int) -> str:
    """crash's ``ctime_tz()``: ``strftime("%a %b %e %T %Z %Y")`` in the local time zone."""
    return time.strftime("%a %b %e %T %Z %Y", time.localtime(seconds))


_hz_of: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def hz(session: Any) -> int:
    """The HZ crash assumes: ``CONFIG_HZ`` from IKCONFIG when present, else 1000.

    (crash's x86-64 default is 1000 for 2.6+ kernels; ``read_in_kernel_config(IKCFG_INIT)``
    overrides it from the in-kernel config.)  Found once per session: a dump's config never
    changes, and reading it means uncompressing the whole config.
    """
    try:
        return _hz_of[session]
    except (KeyError, TypeError):
        pass
    found = _config_hz(session)
    try:
        _hz_of[session] = found
    except TypeError:  # not weak-referenceable: not cached
        pass
    return found


def _config_hz(session: Any) -> int:
    try:
        text = ikconfig_text(session)
    except SysinfoError:
        return 1000
    for line in crash_config_lines(text):
        name, sep, value = line.partition("=")
        if sep and name.strip() == "CONFIG_HZ":
            try:
                return int(value.strip())
            except ValueError:
                break
    return 1000


def uptime_jiffies(session: Any) -> int:
    """Jiffies since boot: ``jiffies_64`` minus ``INITIAL_JIFFIES`` (-300 * HZ, 32-bit).

    jiffies start 5 minutes before the 32-bit wrap so that wrap bugs show early; crash
    undoes that offset the same way (``get_uptime()``).
    """
    prog = _prog(session)
    jiffies_64 = _lookup(prog, "jiffies_64")
    if jiffies_64 is None:
        return int(prog["jiffies"].value_())
    value = jiffies_64.value_() & 0xFFFFFFFFFFFFFFFF
    initial = (-300 * hz(session)) & 0xFFFFFFFF
    return (value - initial) & 0xFFFFFFFFFFFFFFFF


def format_uptime(jiffies: int, ticks_per_second: int) -> str:
    """crash's ``convert_time()``: ``[N days, ]HH:MM:SS``."""
    total = jiffies // ticks_per_second
    days, total = divmod(total, 86400)
    hours, total = divmod(total, 3600)
    minutes, seconds = divmod(total, 60)
    prefix = f"{days} days, " if days else ""
    return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}"


def xtime_seconds(session: Any) -> int:
    """The wall clock at the crash, as crash's ``get_xtime()`` reads it.

    Linux 3.17+ keeps the timekeeper inside the static ``tk_core``; crash then reads
    ``shadow_timekeeper.xtime_sec`` (the last copy ``timekeeping_update()`` made).
    """
    prog = _prog(session)
    for name in ("timekeeper", "shadow_timekeeper"):
        keeper = _lookup(prog, name)
        if keeper is None:
            continue
        try:
            return int(keeper.xtime.tv_sec)
        except AttributeError:
            pass
        try:
            return int(keeper.xtime_sec)
        except AttributeError:
            continue
    xtime = _lookup(prog, "xtime")
    if xtime is not None:
        return int(xtime.tv_sec)
    raise SysinfoError("cannot find the kernel's wall clock (timekeeper, xtime)")


def boot_time(session: Any) -> int:
    """crash's ``kt->boot_date``: the dump's date minus the uptime in whole seconds."""
    return xtime_seconds(session) - uptime_jiffies(session) // hz(session)


def load_average(session: Any) -> str:
    """``avenrun[]`` as crash prints it: ``a.bc, d.ef, g.hi`` (fixed point, 11 bits)."""
    prog = _prog(session)
    fshift = 11
    fixed_1 = 1 << fshift
    parts = []
    for value in prog["avenrun"]:
        value = int(value) + fixed_1 // 200  # round to two decimals
        whole = value >> fshift
        frac = ((value & (fixed_1 - 1)) * 100) >> fshift
        parts.append(f"{whole}.{frac:02d}")
    return ", ".join(parts)


# -- CPUs, memory, tasks --------------------------------------------------------------------


def _cpumask_bits(prog: Any, name: str) -> list[int]:
    if _lookup(prog, name) is None:
        return []
    from pycrash.kernel.masks import cpus_in_mask

    return cpus_in_mask(prog, name)  # bounded by NR_CPUS whatever nr_cpu_ids says


def cpu_counts(session: Any) -> tuple[int, int]:
    """(CPUs crash counts, online CPUs): ``CPUS: n [OFFLINE: n - online]``.

    crash's x86-64 count: consecutive CPUs whose per-CPU ``cpu_number`` equals their index,
    stopping at the first ``__per_cpu_offset`` still pointing at ``__per_cpu_load`` (a CPU
    never set up), raised to the highest present CPU + 1 when fewer are present.
    """
    prog = _prog(session)
    per_cpu_offset = _lookup(prog, "__per_cpu_offset")
    if per_cpu_offset is None:  # !CONFIG_SMP
        return 1, 1
    offsets = [int(v) for v in per_cpu_offset]
    per_cpu_load = session.symbol_address("__per_cpu_load") or 0
    cpu_number = None
    hot = _lookup(prog, "pcpu_hot")  # 6.2+: cpu_number moved into struct pcpu_hot
    if hot is not None:
        cpu_number = hot.cpu_number.address_
    else:
        variable = _lookup(prog, "cpu_number")
        if variable is not None:
            cpu_number = variable.address_
    cpus = 0
    if cpu_number is not None:
        for offset in offsets:
            if per_cpu_load and offset == per_cpu_load:
                break
            try:
                value = session.dump.read_u32((cpu_number + offset) & (2**64 - 1))
            except PycrashError:
                break
            if value != cpus:
                break
            cpus += 1
    else:
        cpus = 1
    present = _cpumask_bits(prog, "__cpu_present_mask")
    if present and (not cpus or len(present) < cpus):
        cpus = max(present) + 1
    online = len(_cpumask_bits(prog, "__cpu_online_mask"))
    return cpus, (online or cpus)


def pages_to_size(pages: int, page_size: int) -> str:
    """crash's ``pages_to_size()``: ``%.1f GB`` / ``%.1f MB`` / ``%ld KB``, ``.0`` dropped."""
    if pages == 0:
        return "0"
    total = pages * page_size
    if total >= 1 << 30:
        text = f"{total / (1 << 30):.1f} GB"
    elif total >= 1 << 20:
        text = f"{total / (1 << 20):.1f} MB"
    else:
        text = f"{total // 1024} KB"
    return text.replace(".0 ", " ", 1)


def memory_size_text(session: Any) -> str:
    """``MEMORY:``: present pages of every online node, rounded up to a GiB within 64 MiB."""
    prog = _prog(session)
    page_size = session.dump.page_size
    total = 0
    for pgdat in _online_nodes(prog):
        present = int(pgdat.node_present_pages)
        total += (present or int(pgdat.node_spanned_pages)) * page_size
    gig = 1 << 30
    next_gig = -(-total // gig) * gig
    if next_gig and next_gig - total <= 64 << 20:
        total = next_gig
    return pages_to_size(total // page_size, page_size)


def _online_nodes(prog: Any) -> Iterator[Any]:
    node_data = _lookup(prog, "node_data")
    if node_data is None:
        yield prog["contig_page_data"]
        return
    from pycrash.kernel.masks import online_nodes

    for node in online_nodes(prog):
        yield node_data[node][0]


def processor_mhz(session: Any) -> int:
    """``cpu_khz / 1000`` (crash's x86-64 processor speed); 0 when unknown."""
    khz = _lookup(_prog(session), "cpu_khz")
    return int(khz) // 1000 if khz is not None else 0


def _listed_tasks(session: Any) -> Iterator[int]:
    """Every thread by the task lists: ``init_task.tasks`` (thread-group leaders), then each
    leader's ``signal->thread_head`` (``task_struct.thread_node``, Linux 3.14+), walked by the
    bounded walker so a damaged list ends with a warning instead of a hang."""
    from pycrash.kernel.lists import entries, list_walk, warn_stderr

    prog = _prog(session)
    init_task = prog["init_task"]
    leaders = entries(prog, list_walk(prog, init_task.tasks.address_, on_stop=warn_stderr),
                      "struct task_struct", "tasks")
    for leader in [init_task.address_of_(), *leaders]:
        yield leader.value_()
        try:
            head = leader.signal.thread_head.address_
        except (AttributeError, LookupError):
            continue
        except Exception:  # noqa: BLE001 - drgn.FaultError: a leader whose signal is lost
            continue
        threads = list_walk(prog, head, on_stop=warn_stderr)
        for thread in entries(prog, threads, "struct task_struct", "thread_node"):
            if thread.value_() != leader.value_():  # the group's list holds its leader too
                yield thread.value_()


def task_count(session: Any) -> int:
    """``TASKS:`` as crash counts them: every thread plus one idle task per CPU.

    crash's task table holds each CPU's idle task (``swapper/N``, pid 0) and every task
    reachable from the pid namespace; ``cpus`` is :func:`cpu_counts`'s first figure.
    """
    prog = _prog(session)
    try:  # crash's own task table, shared with ps/bt (and cached on the Program)
        from pycrash.kernel.tasks import task_table

        return len(task_table(session))
    except Exception:  # noqa: BLE001 - fall back to counting here
        pass
    tasks = set(_listed_tasks(session))
    cpus, _ = cpu_counts(session)
    from pycrash.kernel.native_helpers import idle_task

    for cpu in range(cpus):
        try:
            tasks.add(idle_task(prog, cpu).value_())
        except (LookupError, ValueError, PycrashError):
            pass
        except Exception:  # drgn.FaultError: a CPU without a runqueue in the dump
            pass
    return len(tasks)


def pid_max(session: Any) -> int | None:
    """The kernel's ``pid_max`` (an ``int``), read through the ELF symbol table: no DWARF.

    None without a vmlinux: VMCOREINFO does not export it.
    """
    address = session.symbol_address("pid_max")
    if address is None:
        return None
    try:
        return session.dump.read_u32(address)
    except PycrashError:
        return None


# -- taints ---------------------------------------------------------------------------------


def tainted_mask(session: Any) -> int:
    """``tainted_mask`` (0 when clean)."""
    value = _lookup(_prog(session), "tainted_mask")
    return int(value) if value is not None else 0


def old_tainted(session: Any) -> int | None:
    """``int tainted`` of kernels before 2.6.28 (None when the kernel has ``tainted_mask``)."""
    value = _lookup(_prog(session), "tainted")
    return int(value) & 0xFFFFFFFF if value is not None else None


def has_taint_flags(session: Any) -> bool:
    """Whether the kernel names its taint bits (``taint_flags[]``, 4.10+; ``tnts[]`` before)."""
    prog = _prog(session)
    return _lookup(prog, "taint_flags") is not None or _lookup(prog, "tnts") is not None


def taint_letters(session: Any) -> str:
    """The taint letters as crash's ``show_kernel_taints()`` builds them.

    ``taint_flags[]`` (struct taint_flag, 4.10+: ``c_true``/``c_false``; earlier ``true``/
    ``false``): the true letter for each set bit, the false letter for clear bits unless it
    is ' ', '-' or 'G'.
    """
    prog = _prog(session)
    mask = tainted_mask(session)
    flags = _lookup(prog, "taint_flags")
    if flags is None:
        tnts = _lookup(prog, "tnts")  # 2.6.28 - 4.9: struct tnt {u8 bit; char true, false}
        if tnts is None:
            return ""
        entries = [(int(t.bit), int(t.member_("true")), int(t.member_("false")))
                   for t in tnts]
    else:
        entries = []
        for bit, flag in enumerate(flags):
            try:
                true, false = int(flag.c_true), int(flag.c_false)
            except AttributeError:
                true, false = int(flag.member_("true")), int(flag.member_("false"))
            entries.append((bit, true, false))
    letters = []
    for bit, true, false in entries:
        if mask >> bit & 1:
            letters.append(chr(true & 0xFF))
        elif chr(false & 0xFF) not in " -G":
            letters.append(chr(false & 0xFF))
    return "".join(letters)


# -- IKCONFIG and DMI -----------------------------------------------------------------------

_IKCFG_START = b"IKCFG_ST"
_IKCFG_END = b"IKCFG_ED"


def ikconfig_text(session: Any) -> str:
    """The kernel's ``.config`` from ``kernel_config_data`` (``CONFIG_IKCONFIG``).

    The gzip'd config sits between the markers ``IKCFG_ST`` and ``IKCFG_ED``; since 5.0
    (commit 13610aa908dc) the symbol points just past the start marker.
    """
    prog = _prog(session)
    start = session.symbol_address("kernel_config_data")
    if start is None:
        raise SysinfoError("kernel_config_data does not exist in this kernel")
    end = session.symbol_address("kernel_config_data_end")
    size = end - start if end is not None and end > start else 32 * 1024
    data = b""
    while True:
        try:
            data = prog.read(start, size)
        except Exception as exc:  # drgn.FaultError
            raise SysinfoError(f"cannot read kernel_config_data: {exc}") from None
        if data.startswith(_IKCFG_START):
            data = data[len(_IKCFG_START):]
        marker = data.find(_IKCFG_END)
        if marker >= 0:
            data = data[:marker]
            break
        if end is not None or size > 512 * 1024:
            break
        size *= 2
    try:
        return zlib.decompressobj(wbits=31).decompress(data).decode("utf-8", "replace")
    except zlib.error as exc:
        raise SysinfoError(f"zlib could not uncompress: {exc}") from None


_C_WHITESPACE = " \t\n\v\f\r"


def crash_config_lines(text: str) -> list[str]:
    """The config's lines as crash prints them for ``sys config``.

    crash reads them with ``sscanf("%511[^\\n]\\n")``: the trailing ``\\n`` directive skips
    *all* whitespace, so blank lines vanish and the next line's leading blanks are dropped;
    a line over 511 characters is cut in pieces.
    """
    lines = []
    pos = 0
    length = len(text)
    while pos < length:
        stop = text.find("\n", pos)
        if stop < 0:
            stop = length
        stop = min(stop, pos + 511)
        if stop == pos:
            break
        lines.append(text[pos:stop])
        pos = stop
        while pos < length and text[pos] in _C_WHITESPACE:
            pos += 1
    return lines


def dmi_strings(session: Any) -> list[tuple[str, str | None]]:
    """``dmi_ident[]`` named by ``enum dmi_field``: (name, value or None when unset).

    Names are ``dmi_ident[N]`` when the kernel's types lack ``enum dmi_field``.

    Raises SysinfoError with crash's message when the kernel has no DMI support.
    """
    prog = _prog(session)
    idents = _lookup(prog, "dmi_ident")
    if idents is None:
        raise SysinfoError("dmi_ident does not exist in this kernel")
    count = len(idents)
    try:
        enumerators = prog.type("enum dmi_field").enumerators or ()
    except LookupError:
        enumerators = ()
    names = []
    for enumerator in sorted(enumerators, key=lambda e: e.value):
        if enumerator.value >= count:
            break
        names.append((enumerator.name, enumerator.value))
    if not names:
        names = [(f"dmi_ident[{i}]", i) for i in range(count)]
    result = []
    for name, index in names:
        pointer = idents[index]
        value = pointer.string_().decode("utf-8", "replace") if pointer.value_() else None
        result.append((name, value))
    return result


# -- system call table ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SyscallEntry:
    """One ``sys_call_table`` slot as crash's ``sys -c`` shows it."""

    number: int
    address: int
    #: The handler's symbol (``sys_ni_syscall`` for unimplemented slots); None when the
    #: pointer is not the start of any symbol.
    name: str | None
    #: "file: line" relative to the build directory (``../fs/open.c: 1340``), or "".
    location: str


def syscall_table(
    session: Any, select: Callable[[int, str | None], bool] | None = None
) -> list[SyscallEntry]:
    """``sys_call_table[]`` with each handler's source file and line, as crash finds them.

    crash (``dump_sys_call_table``) walks the handler byte by byte up to the next symbol and
    takes the first line-table location that is not a header under ``include/``, shown
    relative to the kernel build directory.  Line lookups decode DWARF line programs (the
    slow part), so ``select(number, name)`` may limit them to the entries wanted; the others
    get an empty location.
    """
    from pycrash.kernel.symbols import symbol_table

    prog = _prog(session)
    table = _lookup(prog, "sys_call_table")
    if table is None:
        raise SysinfoError("sys_call_table does not exist in this kernel")
    handlers = [int(value) & 0xFFFFFFFFFFFFFFFF for value in table]
    symbols = symbol_table(session)
    sys_ni_syscall = session.symbol_address("sys_ni_syscall")
    build_dir = _build_directory(session)
    entries = []
    for number, address in enumerate(handlers):
        found = symbols.value_search(address)
        if found is None or found[1] != 0:
            entries.append(SyscallEntry(number, address, None, ""))
            continue
        symbol = found[0]
        name = "sys_ni_syscall" if sys_ni_syscall and address == sys_ni_syscall else symbol.name
        # crash's next_symbol(): the first symbol above this one (aliases skipped)
        _, following = symbols.neighbours(symbol)
        while following is not None and following.address <= address:
            _, following = symbols.neighbours(following)
        location = ""
        if following is not None and (select is None or select(number, name)):
            location = _first_source_line(session, address, following.address, build_dir)
        entries.append(SyscallEntry(number, address, name, location))
    return entries


def _line_of(session: Any, address: int) -> tuple[str, int] | None:
    """gdb's line-table answer for ``address`` (pycrash.kernel.symbols emulates it)."""
    from pycrash.kernel.symbols import source_line

    text = source_line(session, address)
    if not text:
        return None
    filename, _, line = text.rpartition(": ")
    try:
        return filename, int(line)
    except ValueError:
        return None


def _build_directory(session: Any) -> str | None:
    """crash's ``get_build_directory()``: ``schedule``'s file name cut at ``/kernel/``.

    A relative file name (no compile directory known) makes "" the build directory.
    """
    address = session.symbol_address("schedule") or session.symbol_address("do_schedule")
    if address is None:
        return None
    found = _line_of(session, address)
    if found is None:
        return None
    filename = found[0]
    if not filename.startswith("/"):
        return ""
    for marker in ("/kernel/", "/./arch/"):
        cut = filename.find(marker)
        if cut >= 0:
            return filename[:cut]
    return None


def _first_source_line(session: Any, start: int, end: int, build_dir: str | None) -> str:
    if build_dir is None:
        return ""
    for address in range(start, end):
        found = _line_of(session, address)
        if found is None:
            continue
        filename, line = found
        text = f"{filename}: {line}"
        if ".h: " in text and "include/" in text:
            continue  # an inline from a header: look further into the handler
        if not filename.startswith("/"):
            return f"../{text}"
        if build_dir and filename.startswith(build_dir):
            return f"..{text[len(build_dir):]}"
    return ""
