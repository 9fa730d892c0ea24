"""``vtop``, ``ptov``, ``btop``, ``ptob``: address translation and page arithmetic.

``vtop`` prints what crash's ``memory.c:do_vtop`` and ``x86_64.c:x86_64_kvtop/uvtop`` print:
the translation, every page-table entry visited (entry address => value), the decoded PTE
flags and the ``struct page`` line of the physical page (``kmem -p`` format).  The entries
come from the core's own walk (``session.dump.translate``): this module never reads page
tables.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from pycrash.commands.eval import parse_hex, parse_number

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.format.columns import center
from pycrash.kernel import memory

VADDR_PRLEN = 16
UVADDR_PRLEN = 10  # crash's x86-64 width for user addresses
# Page-table entry bits (arch/x86/include/asm/pgtable_types.h).
_PAGE_PRESENT = 1 << 0
_PAGE_PSE = 1 << 7
_PAGE_PROTNONE = 1 << 8  # the GLOBAL bit, meaning PROTNONE when not present
_PTE_FLAG_NAMES = (
    (1 << 0, "PRESENT"), (1 << 1, "RW"), (1 << 2, "USER"), (1 << 3, "PWT"), (1 << 4, "PCD"),
    (1 << 5, "ACCESSED"), (1 << 6, "DIRTY"),
)
PHYSICAL_PAGE_MASK = ~0xFFF & memory.PHYSICAL_MASK


def user_top(session: Any) -> int:
    """TASK_SIZE_MAX: 47-bit user space with 4-level paging, 56-bit with 5-level."""
    return session.dump.layout.user_top


def kernel_start(session: Any) -> int:
    """The lowest kernel virtual address: the top half of the 48- or 57-bit address space."""
    return session.dump.layout.kernel_half


def pte_flag_names(pte: int) -> list[str]:
    """crash's ``x86_64_translate_pte()`` flag list."""
    names = [name for bit, name in _PTE_FLAG_NAMES if pte & bit]
    if pte & _PAGE_PSE and pte & _PAGE_PRESENT:
        names.append("PSE")
    if pte & _PAGE_PROTNONE and not pte & _PAGE_PRESENT:
        names.append("PROTNONE")
    if pte & (1 << 8):
        names.append("GLOBAL")
    if pte & (1 << 63):
        names.append("NX")
    return names


def translate_pte_lines(pte: int) -> list[str]:
    """The two-line ``PTE PHYSICAL FLAGS`` table for one entry."""
    pte_text = f"{pte:x}"
    physical = f"{pte & PHYSICAL_PAGE_MASK:x}"
    len1 = max(len(pte_text), 3)
    len2 = max(len(physical), 8)
    flags = "|".join(pte_flag_names(pte)) if pte else "no mapping"
    return [
        f"{center('PTE', len1)}  {center('PHYSICAL', len2)}  FLAGS",
        f"{center(pte_text, len1, right=True)}  {center(physical, len2, right=True)}  ({flags})",
    ]


def page_table_header(session: Any) -> str:
    width = max(memory.paddr_print_width(session), len("PHYSICAL"))
    return (f"{center('PAGE', VADDR_PRLEN)} {'PHYSICAL':>{width}} "
            f"{center('MAPPING', VADDR_PRLEN, right=True)} {center('INDEX', 8, right=True)}"
            "CNT FLAGS")


def page_line(session: Any, info: memory.PageInfo) -> str:
    """One row of the ``PAGE PHYSICAL MAPPING INDEX CNT FLAGS`` table (crash's style4)."""
    width = max(memory.paddr_print_width(session), len("PHYSICAL"))
    flags = f"{info.flags:x}"
    if info.flags and info.flag_names:
        flags += " " + ",".join(info.flag_names)
    return (f"{info.page:<{VADDR_PRLEN}x} {info.paddr:>{width}x} {info.mapping:>{VADDR_PRLEN}x} "
            f"{info.index:>8x} {info.count:>2d} {flags}")


@dataclass
class VtopRecord:
    """One address's translation: text lines as crash prints them, plus the facts."""

    vaddr: int
    space: str  # "kernel" or "user"
    paddr: int | None
    page_size: int | None
    entries: list[dict] = field(default_factory=list)
    pte: int | None = None
    pte_flags: list[str] = field(default_factory=list)
    page: dict | None = None
    vma: dict | None = None
    lines: list[str] = field(default_factory=list, repr=False)


def _level_names(levels: int) -> list[str]:
    """crash's names for the entries after the top one (4-level: PUD PMD PTE)."""
    return ["P4D", "PUD", "PMD", "PTE"] if levels == 5 else ["PUD", "PMD", "PTE"]


def _walk(session: Any, vaddr: int, root: int | None) -> tuple[Any, list, bool]:
    """(translation or None, entries visited, mapped) from the core."""
    from pycrash.core.errors import NotMappedError

    try:
        translation = session.dump.translate(vaddr, root)
    except NotMappedError as err:
        return None, list(getattr(err, "entries", None) or []), False
    return translation, list(translation.entries), True


def _entry_lines(session: Any, entries: list, user: bool) -> tuple[list[str], int | None]:
    """The verbose walk lines, and the leaf entry value (None if the walk stopped early)."""
    lines: list[str] = []
    levels = session.dump.paging_levels
    names = _level_names(levels)
    leaf = None
    for i, entry in enumerate(entries):
        value = entry.value
        if i == 0:
            if user:
                lines.append(f"   PGD: {entry.entry_paddr:x} => {value:x}")
            else:
                lines.append(f"PAGE DIRECTORY: {value:x}")
        else:
            name = names[i - 1] if i - 1 < len(names) else entry.level
            lines.append(f"   {name}: {entry.entry_paddr:x} => {value:x}")
        # crash's user walk takes a PROT_NONE PMD/PTE (GLOBAL bit, not present) as mapped.
        present = value & _PAGE_PRESENT or (
            user and entry.level in ("PMD", "PTE") and value & _PAGE_PROTNONE)
        if not present:
            if i == len(entries) - 1 and value and entry.level == "PTE":
                leaf = value
            break
        is_pte = entry.level == "PTE"
        if is_pte or (entry.level in ("PUD", "PMD") and value & _PAGE_PSE):
            leaf = value
            page = value & PHYSICAL_PAGE_MASK
            if entry.level == "PUD":
                lines.append(f"  PAGE: {page:x}  (1GB)")
            elif entry.level == "PMD":
                suffix = ", ZERO PAGE" if user and _is_zero_page(session, page) else ""
                lines.append(f"  PAGE: {page:x}  (2MB{suffix})")
            elif user:
                zero = "(ZERO PAGE)" if _is_zero_page(session, page) else ""
                lines.append(f"  PAGE: {page:x}  {zero}")
            else:
                lines.append(f"  PAGE: {page:x}")
            lines.append("")
            lines.extend(translate_pte_lines(value))
            break
    return lines, leaf


def _is_zero_page(session: Any, paddr: int) -> bool:
    address = session.symbol_address("empty_zero_page")
    if address is None:
        return False
    try:
        return session.dump.vtop(address) == paddr
    except Exception:  # noqa: BLE001 - unknown: not the zero page
        return False


def _page_lines(session: Any, paddr: int, header_done: list[bool]) -> tuple[list[str], dict | None]:
    """The struct page table lines (header once per command, as crash's HEADER_PRINTED)."""
    from pycrash.core.errors import FaultError

    try:
        info = memory.page_info(session, paddr)
    except (FaultError, LookupError) as err:
        # The struct page is not in the dump (a filtered vmemmap page): say so, keep the rest.
        return [f"vtop: cannot read struct page of {paddr:x}: {err}"], None
    lines = []
    if not header_done[0]:
        lines.append(page_table_header(session))
        header_done[0] = True
    lines.append(page_line(session, info))
    return lines, {"page": info.page, "paddr": info.paddr, "mapping": info.mapping,
                   "index": info.index, "count": info.count, "flags": info.flags,
                   "flag_names": info.flag_names}


def kernel_vtop(session: Any, vaddr: int, header_done: list[bool]) -> VtopRecord:
    """``vtop`` of a kernel virtual address through the kernel page tables."""
    record = VtopRecord(vaddr, "kernel", None, None)
    lines = record.lines
    lines.append(f"{'VIRTUAL':<{VADDR_PRLEN}}  {'PHYSICAL':<{VADDR_PRLEN}}")
    if vaddr < kernel_start(session):
        lines.append(f"{vaddr:<8x}  (not a kernel virtual address)")
        lines.append("")
        return record
    translation, entries, mapped = _walk(session, vaddr, None)
    if mapped:
        record.paddr, record.page_size = translation.paddr, translation.page_size
        lines.append(f"{vaddr:<{VADDR_PRLEN}x}  {translation.paddr:<{VADDR_PRLEN}x}")
    else:
        lines.append(f"{vaddr:<{VADDR_PRLEN}x}  (not mapped)")
    lines.append("")
    pgd = session.symbol_address("init_top_pgt") or session.symbol_address("swapper_pg_dir")
    if pgd is not None:
        lines.append(f"PGD DIRECTORY: {pgd:x}")
    walk, leaf = _entry_lines(session, entries, user=False)
    lines.extend(walk)
    _record_entries(record, entries, leaf)
    lines.append("")
    if mapped:
        page, record.page = _page_lines(session, translation.paddr, header_done)
        lines.extend(page)
    return record


def _record_entries(record: VtopRecord, entries: list, leaf: int | None) -> None:
    record.entries = [{"level": e.level, "table": e.table_paddr, "index": e.index,
                       "entry": e.entry_paddr, "value": e.value} for e in entries]
    record.pte = leaf
    record.pte_flags = pte_flag_names(leaf) if leaf else []


def _task_mm(session: Any, task: int) -> Any:
    from drgn import Object

    mm = Object(session.prog, "struct task_struct *", task).mm
    return mm if mm else None


def _find_vma(mm: Any, vaddr: int) -> Any:
    from drgn.helpers.linux.mm import for_each_vma

    for vma in for_each_vma(mm):
        if vma.vm_start <= vaddr < vma.vm_end:
            return vma
    return None


def _vma_file(vma: Any) -> str:
    if not vma.vm_file:
        return ""
    from drgn.helpers.linux.fs import d_path

    try:
        return d_path(vma.vm_file.f_path).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - an unreadable path prints as nothing
        return ""


def user_vtop(session: Any, task: int, vaddr: int, header_done: list[bool]) -> VtopRecord:
    """``vtop`` of a user address through a task's page tables (``mm->pgd``)."""
    record = VtopRecord(vaddr, "user", None, None)
    lines = record.lines
    lines.append(f"{'VIRTUAL':<{UVADDR_PRLEN}}  {'PHYSICAL':<{VADDR_PRLEN}}")
    mm = _task_mm(session, task)
    vma = _find_vma(mm, vaddr) if mm is not None else None
    if vma is None:
        lines.append(f"{vaddr:<{UVADDR_PRLEN}x}  (not accessible)")
        lines.append("")
        return record
    root = session.dump.vtop(int(mm.pgd.value_()))
    translation, entries, mapped = _walk(session, vaddr, root)
    if mapped:
        record.paddr, record.page_size = translation.paddr, translation.page_size
        lines.append(f"{vaddr:<{UVADDR_PRLEN}x}  {translation.paddr:<{VADDR_PRLEN}x}")
    else:
        lines.append(f"{vaddr:<{UVADDR_PRLEN}x}  (not mapped)")
    lines.append("")
    walk, leaf = _entry_lines(session, entries, user=True)
    lines.extend(walk)
    _record_entries(record, entries, leaf)
    lines.append("")
    vm_start, vm_end, vm_flags = int(vma.vm_start), int(vma.vm_end), int(vma.vm_flags)
    path = _vma_file(vma)
    lines.append(f"{center('VMA', VADDR_PRLEN)} {center('START', UVADDR_PRLEN, right=True)} "
                 f"{center('END', UVADDR_PRLEN, right=True)}  FLAGS FILE")
    lines.append(f"{center(f'{int(vma.value_()):x}', VADDR_PRLEN)} {vm_start:>{UVADDR_PRLEN}x} "
                 f"{vm_end:>{UVADDR_PRLEN}x} {vm_flags:6x} {path}")
    record.vma = {"vma": int(vma.value_()), "start": vm_start, "end": vm_end,
                  "flags": vm_flags, "file": path}
    if not mapped and path and not leaf:
        # Never faulted in: crash names the file page it would come from.
        offset = (((vaddr - vm_start) >> 12) + int(vma.vm_pgoff)) << 12
        lines.extend(["", f"FILE: {path}  OFFSET: {offset:x}"])
    lines.append("")
    if mapped:
        page, record.page = _page_lines(session, translation.paddr, header_done)
        lines.extend(page)
    return record


def resolve_task(session: Any, word: str) -> int:
    """A pid or a task_struct address (crash's ``str_to_context``) → task address."""
    from drgn import Object
    from drgn.helpers.linux.pid import find_task

    prog = session.prog
    try:
        value = int(word, 10)
        task = find_task(prog, value)
        if task:
            return int(task.value_())
    except ValueError:
        pass
    try:
        address = parse_hex(word)
    except CommandError:
        address = None
    if address is not None and address >= kernel_start(session):
        task = Object(prog, "struct task_struct *", address)
        try:
            int(task.pid)
            return address
        except Exception:  # noqa: BLE001 - not readable: not a task
            pass
    raise CommandError(f"invalid task or pid value: {word}")


@register
class Vtop(Command):
    name = "vtop"
    summary = "virtual to physical"
    description = (
        "Translates a user or kernel virtual address to its physical address, showing every\n"
        "page-table entry used, the PTE's flags and the page's struct page. For a user\n"
        "address the vm_area_struct holding it is shown as well. Without -c, user addresses\n"
        "are translated in the current context's address space."
    )
    arguments = (
        Arg("-u", dest="user", action="store_true", help="the address is a user address"),
        Arg("-k", dest="kernel", action="store_true", help="the address is a kernel address"),
        Arg("-c", dest="context", metavar="pid|taskp", complete=Complete.TASK,
            help="translate in this task's address space"),
        Arg("address", nargs="+", help="virtual address (hexadecimal)"),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[VtopRecord]:
        if args.user and args.kernel:
            raise CommandError("-u and -k options are mutually exclusive")
        session = ctx.session
        # The task matters for user addresses only: resolved when one comes up.
        task = resolve_task(session, args.context) if args.context else None
        header_done = [False]
        records = []
        for word in args.address:
            vaddr = parse_hex(word)
            user = args.user or (not args.kernel and vaddr < user_top(session))
            if user and vaddr >= kernel_start(session) and not args.user:
                user = False
            if user:
                if task is None:
                    task = session.context.task
                records.append(user_vtop(session, task, vaddr, header_done))
            else:
                records.append(kernel_vtop(session, vaddr, header_done))
        return records

    def render(self, ctx: CommandContext, data: list[VtopRecord]) -> None:
        for i, record in enumerate(data):
            if i:
                ctx.out.write("\n")
            for line in record.lines:
                ctx.out.write(line + "\n")

    def to_json(self, ctx: CommandContext, data: list[VtopRecord]) -> list[dict]:
        return [{"vaddr": r.vaddr, "space": r.space, "paddr": r.paddr,
                 "page_size": r.page_size, "entries": r.entries, "pte": r.pte,
                 "pte_flags": r.pte_flags, "vma": r.vma, "page": r.page} for r in data]


@dataclass
class PtovResult:
    paddr: int
    vaddr: int | None = None
    cpus: list[tuple[int, int, bool]] | None = None  # (cpu, vaddr, offline) for a per-CPU offset
    ncpus: int = 0


def _cpu_list(spec: str, ncpus: int, current: int) -> list[int]:
    """crash's cpu specifier: "" (current CPU), "a"/"all", "1", "0,2", "0-3"."""
    if spec == "":
        return [current]
    if spec in ("a", "all"):
        return list(range(ncpus))
    cpus: set[int] = set()
    for part in spec.split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            cpus.update(range(int(low), int(high) + 1))
        elif part:
            cpus.add(int(part))
    if any(c >= ncpus or c < 0 for c in cpus):
        raise CommandError(f"invalid cpu specification: {spec}")
    return sorted(cpus)


@register
class Ptov(Command):
    name = "ptov"
    summary = "physical to virtual"
    description = (
        "Translates a physical address into its kernel (direct-map) virtual address, or a\n"
        "per-cpu offset with a cpu specifier (offset:cpuspec) into each CPU's address."
    )
    arguments = (Arg("address", nargs="+", help="physical address or offset:cpuspec"),)

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[PtovResult]:
        session = ctx.session
        results = []
        for word in args.address:
            if ":" in word:
                offset_text, spec = word.split(":", 1)
                offset = parse_hex(offset_text)
                prog = session.prog
                from drgn.helpers.linux.cpumask import for_each_online_cpu, for_each_possible_cpu

                ncpus = max(for_each_possible_cpu(prog), default=0) + 1
                online = set(for_each_online_cpu(prog))
                current = session.context.cpu or 0
                offsets = prog["__per_cpu_offset"]
                cpus = [(c, (offset + int(offsets[c])) & ((1 << 64) - 1), c not in online)
                        for c in _cpu_list(spec, ncpus, current)]
                results.append(PtovResult(offset, cpus=cpus, ncpus=ncpus))
            else:
                paddr = parse_hex(word)
                results.append(PtovResult(paddr, memory.ptov(session, paddr)))
        return results

    def render(self, ctx: CommandContext, data: list[PtovResult]) -> None:
        write = ctx.out.write
        for i, result in enumerate(data):
            blank = "\n" if i else ""
            if result.cpus is None:
                write(f"{blank}{'VIRTUAL':<{VADDR_PRLEN}}  {'PHYSICAL':<{VADDR_PRLEN}}\n")
                write(f"{result.vaddr:<{VADDR_PRLEN}x}  {result.paddr:<{VADDR_PRLEN}x}\n")
                continue
            width = len(f"[{result.ncpus - 1}]") + 2
            write(f"{blank}PER-CPU OFFSET: {result.paddr:x}\n")
            write(f"  {'CPU':<{width}}  {'VIRTUAL':<{VADDR_PRLEN}}\n")
            for cpu, vaddr, offline in result.cpus:
                write(f"  {f'[{cpu}]':<{width}}{vaddr:x}{' [OFFLINE]' if offline else ''}\n")

    def to_json(self, ctx: CommandContext, data: list[PtovResult]) -> list[dict]:
        out = []
        for r in data:
            if r.cpus is None:
                out.append({"paddr": r.paddr, "vaddr": r.vaddr})
            else:
                out.append({"offset": r.paddr, "cpus": [
                    {"cpu": c, "vaddr": v, "offline": off} for c, v, off in r.cpus]})
        return out


@register
class Btop(Command):
    name = "btop"
    summary = "bytes to page"
    description = "Translates a hexadecimal address to its page frame number."
    arguments = (Arg("address", nargs="+", help="hexadecimal address"),)
    needs_debuginfo = False
    json = False

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[tuple[int, int]]:
        values = [parse_hex(word) for word in args.address]
        return [(v, memory.btop(ctx.session, v)) for v in values]

    def render(self, ctx: CommandContext, data: list[tuple[int, int]]) -> None:
        for value, pfn in data:
            ctx.out.write(f"{value:x}: {pfn:x}\n")


@register
class Ptob(Command):
    name = "ptob"
    summary = "page to bytes"
    description = (
        "Translates a page frame number to its physical address. The number is decimal\n"
        "unless it can only be hexadecimal (or has a 0x prefix)."
    )
    arguments = (Arg("pfn", nargs="+", help="page frame number"),)
    needs_debuginfo = False
    json = False

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[tuple[int, int]]:
        values = [parse_number(word) for word in args.pfn]
        return [(v, memory.ptob(ctx.session, v)) for v in values]

    def render(self, ctx: CommandContext, data: list[tuple[int, int]]) -> None:
        for value, paddr in data:
            ctx.out.write(f"{value:x}: {paddr:x}\n")
