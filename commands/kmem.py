"""``kmem``: kernel memory, as crash 8.0.6 prints it (memory.c ``cmd_kmem``).

Implemented: ``-i`` (dump_kmeminfo), ``-V`` (dump_vm_stat), ``-p [address]`` (dump_mem_map of
one page), ``-s [cache|list] [address]`` (SLUB: dump_kmem_cache_slub), and a bare ``address``
(kmem_search: symbol, slab object, task context, mem_map page).  crash's other options are
refused with one line naming them.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from typing import Any

from pycrash.commands.eval import parse_hex

from pycrash.api import Arg, Command, CommandContext, CommandError, register
from pycrash.kernel import memory

KMEMINFO_HEADER = "                 PAGES        TOTAL      PERCENTAGE\n"
CACHE_HEADER = "CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME\n"
SLAB_HEADER = "  SLAB              MEMORY            NODE  TOTAL  ALLOCATED  FREE\n"
UNSUPPORTED = "fFcCnmSrIP"


@dataclass
class KmemOutput:
    """What one ``kmem`` invocation found: a kind and its records (for --json) and text."""

    kind: str
    records: Any = None
    lines: list[str] = field(default_factory=list)


def _kmeminfo(ctx: CommandContext) -> KmemOutput:
    from pycrash.kernel.sysinfo import pages_to_size
    from pycrash.kernel.vmstat import VmStatError, mem_info

    session = ctx.session
    try:
        info = mem_info(session, lambda chunks: ctx.progress(chunks, "mem_map"))
    except (VmStatError, LookupError) as err:
        raise CommandError(str(err)) from None
    psize = session.dump.page_size
    total = info.total or 1

    def row(label: str, pages: int, of: str | None, base: int) -> str:
        size = pages_to_size(pages, psize)
        if of is None:
            return f"{label:>13}  {pages:7d}  {size:>11}         ----"
        pct = pages * 100 // base if base else 0
        return f"{label:>13}  {pages:7d}  {size:>11}  {pct:3d}% of {of}"

    lines = [KMEMINFO_HEADER.rstrip("\n"), row("TOTAL MEM", info.total, None, 0)]
    for label, pages in (("FREE", info.free), ("USED", info.total - info.free),
                         ("SHARED", info.shared), ("BUFFERS", info.buffers),
                         ("CACHED", info.cached), ("SLAB", info.slab)):
        lines.append(row(label, pages, "TOTAL MEM", total))
    if info.huge_total is not None:
        lines += ["", row("TOTAL HUGE", info.huge_total, None, 0),
                  row("HUGE FREE", info.huge_free or 0, "TOTAL HUGE", info.huge_total)]
    if info.swap_total is not None:
        used = info.swap_used or 0
        lines += ["", row("TOTAL SWAP", info.swap_total, None, 0),
                  row("SWAP USED", used, "TOTAL SWAP", info.swap_total),
                  row("SWAP FREE", info.swap_total - used, "TOTAL SWAP", info.swap_total)]
    if info.commit_limit is not None:
        committed = info.committed or 0
        lines += ["", row("COMMIT LIMIT", info.commit_limit, None, 0),
                  row("COMMITTED", committed, "TOTAL LIMIT", info.commit_limit)
                  if info.commit_limit else row("COMMITTED", committed, None, 0)]
    return KmemOutput("meminfo", asdict(info), lines)


def _vm_stat(ctx: CommandContext) -> KmemOutput:
    from pycrash.kernel.vmstat import VmStatError, vm_stat_groups

    try:
        groups = vm_stat_groups(ctx.session.prog)
    except VmStatError as err:
        raise CommandError(str(err)) from None
    width = max(len(name) for group in groups for name, _ in group.items)
    lines: list[str] = []
    for group in groups:
        if lines:
            lines.append("")
        lines.append(f"  {group.title}:")
        lines += [f"{name:>{width}}: {value}" for name, value in group.items]
    records = {group.title: dict(group.items) for group in groups}
    return KmemOutput("vm_stat", records, lines)


def _zones(ctx: CommandContext) -> KmemOutput:
    """``kmem -z``: each zone's size, watermarks and vm_stat counters."""
    from pycrash.kernel.vmstat import zone_stats

    zones = zone_stats(ctx.session.prog)
    lines: list[str] = []
    for zone in zones:
        lines.append(f'NODE: {zone.node}  ZONE: {zone.index}  ADDR: {zone.address:x}  '
                     f'NAME: "{zone.name}"')
        if not zone.spanned:
            lines += ["  [unpopulated]", ""]
            continue
        size = f"  SIZE: {zone.spanned}"
        if zone.present < zone.spanned:
            size += f"  PRESENT: {zone.present}"
        low_high = "/".join(str(v) for v in zone.watermarks)
        lines += [f"{size}  MIN/LOW/HIGH: {low_high}", "  VM_STAT:"]
        width = max(len(name) for name, _ in zone.vm_stat)
        lines += [f"{name:>{width}}: {value}" for name, value in zone.vm_stat]
        lines += ["", ""]
    return KmemOutput("zones", [asdict(zone) for zone in zones], lines)


def _hstates(ctx: CommandContext) -> KmemOutput:
    """``kmem -h``: each huge page size's ``struct hstate`` (crash's dump_hstates())."""
    from pycrash.format.columns import center
    from pycrash.kernel.sysinfo import pages_to_size

    prog = ctx.session.prog
    try:
        hstates = prog["hstates"]
    except KeyError:
        raise CommandError("hstates[] array does not exist") from None
    lines = [f"{center('HSTATE', 16)}   SIZE    FREE   TOTAL  NAME"]
    records = []
    for hstate in hstates:
        order = int(hstate.order)
        if not order:
            continue
        size = pages_to_size(1 << order, ctx.session.dump.page_size).replace(" ", "", 1)
        free, total = int(hstate.free_huge_pages), int(hstate.nr_huge_pages)
        name = hstate.name.string_().decode("latin-1")
        lines.append(f"{hstate.address_:x}  {size:>5}  {free:>6}  {total:>6}  {name}")
        records.append({"hstate": hstate.address_, "size": ctx.session.dump.page_size << order,
                        "free": free, "total": total, "name": name})
    return KmemOutput("hstates", records, lines)


def _vmalloc(ctx: CommandContext, words: list[str]) -> KmemOutput:
    """``kmem -v [address]``: the vmap areas (those holding the address)."""
    from pycrash.format.columns import center
    from pycrash.kernel.vmalloc import VmallocError, vmap_areas

    addresses = [parse_hex(word) for word in words]
    try:
        areas = vmap_areas(ctx.session.prog)
    except VmallocError as err:
        raise CommandError(str(err)) from None
    if addresses:
        areas = [a for a in areas if any(a.start <= x < a.end for x in addresses)]
    lines = [f"{center('VMAP_AREA', 16)}  {center('VM_STRUCT', 16)}  "
             f"{center('ADDRESS RANGE', 35)}     SIZE"] if areas else []
    lines += [f"{a.vmap_area:<16x}  {a.vm_struct:<16x}  {a.start:>16x} - {a.end:<16x}  "
              f"{a.size:7d}" for a in areas]
    return KmemOutput("vmalloc", [asdict(a) | {"size": a.size} for a in areas], lines)


def _per_cpu_offsets(ctx: CommandContext) -> KmemOutput:
    """``kmem -o``: ``__per_cpu_offset[cpu]`` of each CPU crash counts."""
    from pycrash.kernel.masks import online_cpus
    from pycrash.kernel.sysinfo import cpu_counts

    prog = ctx.session.prog
    try:
        offsets = prog["__per_cpu_offset"]
    except KeyError:
        raise CommandError("__per_cpu_offset: symbol not found (!CONFIG_SMP)") from None
    online = set(online_cpus(prog))
    lines = ["PER-CPU OFFSET VALUES:"]
    records = []
    for cpu in range(cpu_counts(ctx.session)[0]):
        value = int(offsets[cpu])
        mark = "" if cpu in online else " [OFFLINE]"
        lines.append(f"{f'CPU {cpu}':>7}: {value:x}{mark}")
        records.append({"cpu": cpu, "offset": value, "online": cpu in online})
    return KmemOutput("per_cpu_offsets", records, lines)


def _page_flags(ctx: CommandContext, word: str | None) -> KmemOutput:
    """``kmem -g [flags]``: the ``enum pageflags`` bits (crash's dump_page_flags())."""
    flags = parse_hex(word) if word else 0
    try:
        enum = ctx.session.prog.type("enum pageflags")
    except LookupError:
        raise CommandError("enum pageflags does not exist in this kernel") from None
    names = [(name, value) for name, value in enum.enumerators]
    longest = max(len(name) for name, _ in names)
    bits = [(name, value) for name, value in names if "PG_" in name]
    digits = (max(value for _, value in bits) + 1) // 4 + 1
    pad = "  " if flags else ""
    lines = [f"FLAGS: {flags:x}"] if flags else []
    lines.append(f"{pad}{'PAGE-FLAG':<{longest}} BIT  VALUE")
    records = []
    for name, value in bits:
        if flags and not flags & (1 << value):
            continue
        lines.append(f"{pad}{name:<{longest}}  {value:2d}  {1 << value:0{digits}x}")
        records.append({"name": name, "bit": value, "value": 1 << value})
    if flags and not records:
        lines.append("  (none found)")
    return KmemOutput("page_flags", records, lines)


def _page_lines(ctx: CommandContext, paddr: int) -> tuple[list[str], dict]:
    from pycrash.commands.vtop import page_line, page_table_header

    info = memory.page_info(ctx.session, paddr)
    return [page_table_header(ctx.session), page_line(ctx.session, info)], asdict(info)


def _page(ctx: CommandContext, word: str) -> KmemOutput:
    """``kmem -p ADDR``: ADDR is a page pointer, a physical or a kernel virtual address."""
    from pycrash.core.errors import FaultError

    session = ctx.session
    address = parse_hex(word)
    paddr = _to_physical(session, address)
    try:
        lines, record = _page_lines(ctx, paddr)
    except (FaultError, LookupError) as err:
        raise CommandError(f"{address:x}: cannot read struct page: {err}") from None
    return KmemOutput("page", [record], lines)


def _mem_map(ctx: CommandContext) -> KmemOutput:
    """``kmem -p``: every page of the mem_map."""
    from pycrash.commands.vtop import page_line, page_table_header

    from pycrash.kernel.memmap import node_pfn_chunks, pages_in

    session = ctx.session
    chunks = node_pfn_chunks(session)
    pages = list(pages_in(session, ctx.progress(chunks, "mem_map", len(chunks))))
    lines = [page_table_header(session)] + [page_line(session, info) for info in pages]
    return KmemOutput("page", [asdict(info) for info in pages], lines)


def _to_physical(session: Any, address: int) -> int:
    """crash's reading of an address argument of -p: a page pointer, a kernel virtual
    address (above PAGE_OFFSET) or else a physical address."""
    vmemmap = memory.vmemmap_base(session)
    size = memory.page_struct_size(session)
    if address >= vmemmap and address < vmemmap + (1 << 46) and (address - vmemmap) % size == 0:
        return memory.ptob(session, (address - vmemmap) // size)
    if address >= memory.page_offset_base(session):
        return session.dump.vtop(address)
    return address


def _cache_line(counts: Any) -> str:
    return (f"{counts.cache:x} {counts.objsize:8d} {counts.allocated:10d} {counts.total:9d} "
            f"{counts.slabs:6d} {counts.slab_size // 1024:5d}k  {counts.name}")


def _slab_lines(ctx: CommandContext, address: int) -> tuple[list[str], dict] | None:
    from pycrash.kernel import slub

    info = slub.slab_of(ctx.session, address)
    if info is None:
        return None
    counts = slub.cache_counts(ctx.session.prog, info.cache, ctx.session.dump.page_size)
    if info.object_allocated:
        mark = f"[{info.object:x}]"
    else:
        mark = f" {info.object:x}  " + (f"(cpu {info.cpu} cache)" if info.cpu is not None else "")
    lines = [CACHE_HEADER.rstrip("\n"), _cache_line(counts), SLAB_HEADER.rstrip("\n"),
             f"  {info.slab:x}  {info.memory:x}  {info.node:4d}  {info.total:5d}  "
             f"{info.allocated:9d}  {info.free:4d}",
             "  FREE / [ALLOCATED]", f"  {mark}"]
    record = {"cache": asdict(counts), "slab": info.slab, "memory": info.memory,
              "node": info.node, "total": info.total, "allocated": info.allocated,
              "free": info.free, "object": info.object, "object_allocated": info.object_allocated,
              "cpu": info.cpu}
    return lines, record


def _slabs(ctx: CommandContext, words: list[str]) -> KmemOutput:
    from pycrash.kernel import slub

    prog = ctx.session.prog
    psize = ctx.session.dump.page_size
    try:
        if words and words[0] == "list":
            caches = slub.slab_caches(prog)
            lines = [f"{c.value_():x} {slub.cache_name(c)}" for c in caches]
            return KmemOutput("caches", [{"cache": c.value_(), "name": slub.cache_name(c)}
                                         for c in caches], lines)
        caches = slub.slab_caches(prog)
        names = {slub.cache_name(c) for c in caches}
        if words and words[0] not in names and _is_address(words[0]):
            address = parse_hex(words[0])
            if address < memory.page_offset_base(ctx.session):  # physical: its direct map
                address = memory.ptov(ctx.session, address)
            found = _slab_lines(ctx, address)
            if found is None:
                raise CommandError(f"address is not allocated in slab subsystem: {address:x}")
            return KmemOutput("slab", [found[1]], found[0])
        if len(words) > 1:
            raise CommandError("only one kmem_cache reference is allowed")
        if words:
            caches = [c for c in caches if slub.cache_name(c) == words[0]]
            if not caches:
                raise CommandError(f"invalid slab cache name: {words[0]}")
        records = [slub.cache_counts(prog, c, psize)
                   for c in ctx.progress(caches, "slab caches", len(caches))]
    except slub.SlubError as err:
        raise CommandError(str(err)) from None
    lines = [CACHE_HEADER.rstrip("\n")] + [_cache_line(r) for r in records]
    return KmemOutput("caches", [asdict(r) for r in records], lines)


def _is_address(word: str) -> bool:
    try:
        parse_hex(word)
    except CommandError:
        return False
    return True


def _task_of(session: Any, address: int) -> int | None:
    """The task whose task_struct or kernel stack holds ``address`` (crash's
    vaddr_in_task_struct(), then stkptr_to_task())."""
    from pycrash.kernel.tasks import task_struct_size, task_table

    table = task_table(session)
    size = task_struct_size(session.prog)
    # THREAD_SIZE on x86-64: 16 KiB (4 pages) without KASAN.
    stack_size = 4 * session.dump.page_size
    for info in table:
        if info.task <= address < info.task + size:
            return info.task
    for info in table:
        if info.stack and info.stack <= address < info.stack + stack_size:
            return info.task
    return None


def _search(ctx: CommandContext, word: str) -> KmemOutput:
    import io

    from pycrash.commands.set import context_view, render_context
    from pycrash.commands.sym import symbol_line

    from pycrash.core.errors import FaultError, NotMappedError
    from pycrash.kernel.symbols import symbol_table

    session = ctx.session
    address = parse_hex(word)
    lines: list[str] = []
    record: dict[str, Any] = {"address": address}
    table = symbol_table(session)
    # Below the kernel's address space an argument is physical: crash searches its direct-map
    # address (PTOV) and shows the page of the physical address itself.
    physical = address < memory.page_offset_base(session)
    if physical:
        record["physical"] = True
        address = memory.ptov(session, address)
    if table.in_ksymbol_range(address):
        found = table.value_search(address)
        if found is not None:
            sym, offset = found
            lines += [symbol_line(ctx, table, sym, offset).text, ""]
            record["symbol"] = sym.name
    areas = [] if physical else _vmalloc_areas_of(ctx, address)
    if areas:
        task = _task_of(session, address)  # a vmalloc'ed (CONFIG_VMAP_STACK) kernel stack
        if task is not None:
            out = io.StringIO()
            render_context(out, context_view(session, task))
            lines += out.getvalue().splitlines() + [""]
            record["task"] = task
        lines += areas[0].lines + [""]
        record["vmalloc"] = areas[0].records
    slab = None
    if not areas and not table.in_ksymbol_range(address):
        slab = _slab_lines(ctx, address)
        if slab is not None:
            lines += slab[0] + [""]
            record["slab"] = slab[1]
    task = None if areas else _task_of(session, address)
    if task is not None:
        out = io.StringIO()
        render_context(out, context_view(session, task))
        lines += out.getvalue().splitlines() + [""]
        record["task"] = task
    kind = "physical" if physical else "kernel virtual"
    shown = record["address"]
    try:
        paddr = record["address"] if physical else session.dump.vtop(address)
        if areas:  # crash looks the page of a vmalloc address up by its physical address
            kind, shown = "physical", paddr
        if not _in_mem_map(session, paddr):
            raise LookupError(paddr)
        page_lines, page = _page_lines(ctx, paddr)
    except (FaultError, LookupError, NotMappedError):
        lines.append(f"{shown:x}: {kind} address not found in mem map")
    else:
        lines += page_lines
        record["page"] = page
    return KmemOutput("search", [record], lines)


def _vmalloc_areas_of(ctx: CommandContext, address: int) -> list[KmemOutput]:
    from pycrash.kernel.vmalloc import VmallocError

    try:
        found = _vmalloc(ctx, [f"{address:x}"])
    except (CommandError, VmallocError):
        return []
    return [found] if found.records else []


def _in_mem_map(session: Any, paddr: int) -> bool:
    """Whether a physical address has a struct page: inside a node's memory sections."""
    from pycrash.kernel.memmap import node_pfn_chunks

    pfn = memory.btop(session, paddr)
    return any(first <= pfn < end for first, end in node_pfn_chunks(session))


@register
class Kmem(Command):
    name = "kmem"
    summary = "kernel memory"
    synopsis = ("[-i|-V|-z|-o|-h|-v [address]] | -p [address ...] | -s [cache|list|address]"
                " | -g [flags] | address ...")
    description = """\
  This command displays information about the use of kernel memory.

        -i  displays general memory usage information.
        -V  displays the kernel vm_zone_stat, vm_node_stat and vm_numa_stat tables
            (vm_stat on older kernels).
        -p  displays basic information about each page structure in the mem_map
            (address, physical address, mapping, index, count and flags); with an
            address (a page pointer, a physical or a kernel virtual address), of its
            page only.
        -s  displays basic slab data of every SLUB cache, or of the caches named; with
            "list", every cache name and address; with an address, the slab holding it.
   address  without a flag: the symbol, slab object, task and mem_map page of the
            kernel virtual address.

        -o  displays each cpu's offset value that is added to per-cpu symbol
            values to translate them into kernel virtual addresses.
        -z  displays per-zone memory statistics.
        -v  displays the mapped virtual memory regions allocated by vmalloc(); with
            an address, the region holding it.
        -h  display the address of hugepage hstate array entries, along with
            their hugepage size, total and free counts, and name.
        -g  displays the enumerator value of all bits in the page structure's
            "flags" field; with a hexadecimal flags value, only the bits set in it.

  pycrash does not implement -f, -F, -c, -C, -n, -m, -S, -r, -I or -P.
  --json prints the records (meminfo figures in pages, the vm_stat tables, page, cache,
  vmap area, zone, hstate, per-cpu offset, page flag or search records).
"""
    arguments = (
        Arg("-i", dest="info", action="store_true", help="memory usage"),
        Arg("-V", dest="vmstat", action="store_true", help="vm_stat tables"),
        Arg("-p", dest="page", action="store_true", help="mem_map page of an address"),
        Arg("-s", dest="slab", action="store_true", help="slab cache data"),
        Arg("-o", dest="offsets", action="store_true", help="per-cpu offsets"),
        Arg("-g", dest="flags", action="store_true", help="page flag bits"),
        Arg("-z", dest="zones", action="store_true", help="per-zone statistics"),
        Arg("-h", dest="hstates", action="store_true", help="hugepage hstates"),
        Arg("-v", dest="vmalloc", action="store_true", help="vmalloc regions"),
        *(Arg(f"-{c}", dest=f"opt_{c}", action="store_true", help=argparse.SUPPRESS)
          for c in UNSUPPORTED if c != "S"),
        # crash's -S takes an optional "=cpu[s]" glued to it.
        Arg("-S", dest="opt_S", nargs="?", const=True, default=None, help=argparse.SUPPRESS),
        Arg("words", nargs="*", help="address or slab cache name"),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> KmemOutput:
        for c in UNSUPPORTED:
            if getattr(args, f"opt_{c}"):
                raise CommandError(f"option -{c} is not supported")
        if sum((args.info, args.vmstat, args.page, args.slab, args.offsets, args.flags,
                args.zones, args.hstates, args.vmalloc)) > 1:
            raise CommandError("only one flag allowed!")
        from pycrash.core.errors import FaultError

        try:
            if args.info:
                return _kmeminfo(ctx)
            if args.vmstat:
                return _vm_stat(ctx)
            if args.offsets:
                return _per_cpu_offsets(ctx)
            if args.zones:
                return _zones(ctx)
            if args.hstates:
                return _hstates(ctx)
            if args.vmalloc:
                return _vmalloc(ctx, args.words)
            if args.flags:
                return _page_flags(ctx, args.words[0] if args.words else None)
            if args.slab:
                return _slabs(ctx, args.words)
            if args.page:
                if not args.words:
                    return _mem_map(ctx)
                pages = [_page(ctx, word) for word in args.words]
                return KmemOutput("page", [r for p in pages for r in p.records],
                                  pages[0].lines[:1] + [p.lines[1] for p in pages])
            if not args.words:
                raise CommandError("usage: kmem [-i|-V|-s|-p] [address|cache]")
            found = [_search(ctx, word) for word in args.words]
            lines: list[str] = []
            for one in found:
                lines += ([""] if lines else []) + one.lines
            return KmemOutput("search", [r for one in found for r in one.records], lines)
        except FaultError as err:
            raise CommandError(str(err)) from None
        except LookupError as err:
            raise CommandError(f"the dump lacks {err}") from None

    def render(self, ctx: CommandContext, data: KmemOutput) -> None:
        ctx.out.write("".join(f"{line}\n" for line in data.lines))

    def to_json(self, ctx: CommandContext, data: KmemOutput) -> Any:
        return data.records
