"""``vm``: a task's mm_struct, page directory, RSS, virtual size and VMAs, as crash 8.0.6
prints them (memory.c ``cmd_vm`` and ``vm_area_dump``)."""

from __future__ import annotations

import argparse
import dataclasses
import io
from typing import Any

from pycrash.commands.files import context_targets
from pycrash.commands.ps import task_header

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.format.columns import center
from pycrash.kernel.tasks import TaskInfo, task_mem_usage, task_table

_ADDR = 16  # crash's VADDR_PRLEN on x86-64
_UADDR = 10  # crash's UVADDR_PRLEN on x86-64
_PAGE_SIZE = 4096


@dataclasses.dataclass
class VmReferences:
    """``vm -R``: what in one task references the searched number or name."""

    mm: bool = False  # the mm_struct or page directory address itself
    # (vma, whether the VMA, its flags or its file matched, the pages that matched)
    vmas: list[tuple[Any, bool, list[Any]]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class VmBlock:
    """One task's part of the output (or a message line)."""

    info: TaskInfo | None
    newline_before: bool = False
    mm: int = 0
    pgd: int = 0
    rss_kb: int = 0
    total_vm_kb: int = 0
    vmas: list[Any] = dataclasses.field(default_factory=list)
    struct_text: str | None = None  # -m / -v: the struct command's output
    pages: list[list[Any]] | None = None  # -p / -P: the pages of each VMA
    single: bool = False  # -P: one VMA (the header is the VMA's, "(not found)" without it)
    ref: VmReferences | None = None  # -R: what references the search
    message: str | None = None


@register
class Vm(Command):
    name = "vm"
    summary = "virtual memory"
    synopsis = "[-p | -P vma | -m | -v | -x | -d | [-R reference] [pid | task]] [-f vm_flags]"
    description = """\
  This command displays basic virtual memory information of a context,
  consisting of a pointer to its mm_struct and page directory, its RSS and
  total virtual memory size; and a list of pointers to each vm_area_struct,
  its starting and ending address, vm_flags value, and file pathname.  If no
  arguments are entered, the current context is used.  Alternatively, the -m
  or -v options may be used to dump the task's mm_struct or all of its
  vm_area_structs respectively.

            -p  translate each virtual page to its physical address, or if
                the page is not mapped, its swap device and offset, or
                filename and offset.
        -P vma  similar to -p, but only translate the pages belonging to the
                specified VM area of a context.
  -R reference  search for references to this number or filename.
            -m  dump the mm_struct associated with the task.
            -v  dump all of the vm_area_structs associated with the task.
            -x  override the default output format for the -m or -v options
                with hexadecimal format.
            -d  override the default output format for the -m or -v options
                with decimal format.
   -f vm_flags  translate the bits of a FLAGS (vm_flags) value.
           pid  a process PID.
          task  a hexadecimal task_struct pointer.

  The -R option, typically invoked from "foreach vm", searches for
  references to a supplied number, address, or filename argument, and
  prints only the essential information leading up to and including the
  reference.

  pycrash does not implement -M (an mm_struct given by hand).  --json prints
  each task's mm_struct, page directory, sizes and VMAs (with -p, each VMA's
  pages).
"""
    arguments = (
        Arg("-m", dest="mm", action="store_true", help="dump the mm_struct"),
        Arg("-v", dest="vmas", action="store_true", help="dump every vm_area_struct"),
        Arg("-x", dest="hex", action="store_true", help="-m/-v in hexadecimal"),
        Arg("-d", dest="dec", action="store_true", help="-m/-v in decimal"),
        Arg("-f", dest="flags", metavar="vm_flags", help="translate a vm_flags value"),
        Arg("-p", dest="phys", action="store_true", help="each page's physical address"),
        Arg("-P", dest="single", metavar="vma", help="-p for one VMA"),
        Arg("-M", dest="force_mm", metavar="mm", help="(not supported)"),
        Arg("-R", dest="ref", metavar="reference", help="only what references this"),
        Arg("tasks", nargs="*", metavar="pid | task", complete=Complete.TASK),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> Any:
        from pycrash.kernel.fs import FsError

        if args.force_mm is not None:
            raise CommandError("-M: option not supported by pycrash")
        if args.hex and args.dec:
            raise CommandError("-d and -x are mutually exclusive")
        if sum(map(bool, (args.mm, args.vmas, args.phys or args.ref, args.single))) > 1:
            raise CommandError("-p, -P, -m, -v and -R are mutually exclusive")
        single = None
        if args.single is not None:
            try:
                single = int(args.single, 16)
            except ValueError:
                raise CommandError(f"invalid vma address: {args.single}") from None
        prog = ctx.session.prog
        if args.flags is not None:
            from pycrash.kernel.vma import vm_flag_names

            try:
                value = int(args.flags, 16)
            except ValueError:
                raise CommandError(f"invalid vm_flags value: {args.flags}") from None
            return f"{value:x}: ({'|'.join(vm_flag_names(prog, value))})"
        table = task_table(prog)
        blocks: list[VmBlock] = []
        subsequent = 0
        try:
            for kind, value in context_targets(ctx, table, args.tasks, self.name):
                if kind == "error":
                    blocks.append(VmBlock(None, message=("\n" if subsequent else "") + value))
                    subsequent += 1
                    continue
                for info in value if kind == "pid" else [value]:
                    blocks.append(self._block(ctx, args, table, info, bool(subsequent),
                                              single))
                    subsequent += kind != "current"
        except (FsError, LookupError, AttributeError) as err:
            raise CommandError(str(err)) from None
        return blocks

    @staticmethod
    def _block(ctx: CommandContext, args: argparse.Namespace, table: Any, info: TaskInfo,
               newline_before: bool, single: int | None) -> VmBlock:
        import drgn

        from pycrash.kernel.vma import VmError, mm_vmas

        prog = ctx.session.prog
        usage = task_mem_usage(prog, table, info)
        block = VmBlock(info, newline_before, rss_kb=usage.rss * _PAGE_SIZE // 1024,
                        total_vm_kb=usage.total_vm * _PAGE_SIZE // 1024)
        if not info.mm or info.state & table.states.zombie:
            return block  # crash's tm->mm_struct_addr is 0: sizes of zero, no VMAs
        block.mm = info.mm
        try:
            block.pgd = int(drgn.Object(prog, "struct mm_struct", address=info.mm).pgd)
        except drgn.FaultError as err:
            raise VmError(f"cannot read mm_struct {info.mm:x}: {err}") from None
        if args.mm:
            block.struct_text = _struct_text(ctx, args, "mm_struct", [info.mm])
            return block
        block.vmas = mm_vmas(prog, info.mm, progress=lambda v: ctx.progress(v, "vm"))
        if single is not None:
            block.vmas = [v for v in block.vmas if v.vma == single]
            block.single = True
        if args.phys or single is not None or args.ref is not None:
            from pycrash.kernel.vma import vma_pages

            block.pages = [list(ctx.progress(vma_pages(ctx.session, block.pgd, v), "vm -p"))
                           for v in block.vmas]
        if args.ref is not None:
            block.ref = _search(args.ref, block)
            block.pages = None
        if args.vmas:
            block.struct_text = _struct_text(ctx, args, "vm_area_struct",
                                             [v.vma for v in block.vmas])
        return block

    def render(self, ctx: CommandContext, data: Any) -> None:
        out = ctx.out
        if isinstance(data, str):
            out.write(data + "\n")
            return
        for block in data:
            if block.message is not None:
                out.write(block.message + "\n")
                continue
            if ctx.args.ref is not None:
                _render_references(out, block)
                continue
            out.write(("\n" if block.newline_before else "") + task_header(block.info) + "\n")
            if block.struct_text is not None:
                out.write(block.struct_text)
                continue
            if not block.single:
                out.write(_vm_data(block))
            if not block.mm:
                continue
            if block.pages is None:
                out.write(_VMA_HEADER)
            for n, v in enumerate(block.vmas):
                if block.pages is not None:
                    out.write(_VMA_HEADER)
                out.write(_vma_line(v))
                if block.pages is not None:
                    _render_pages(out, v, block.pages[n])
            if block.single and not block.vmas:
                out.write("(not found)\n")

    def to_json(self, ctx: CommandContext, data: Any) -> Any:
        from pycrash.api import jsonable

        if isinstance(data, str):
            value, names = data.split(": ", 1)
            return {"vm_flags": int(value, 16), "names": names.strip("()").split("|")}
        records = []
        for b in data:
            if b.message is not None:
                records.append({"message": b.message.strip()})
                continue
            record = {"pid": b.info.pid, "task": b.info.task, "comm": b.info.comm, "mm": b.mm,
                      "pgd": b.pgd, "rss_kb": b.rss_kb, "total_vm_kb": b.total_vm_kb,
                      "vmas": [jsonable(v) for v in b.vmas]}
            if b.pages is not None:
                for vma, pages in zip(record["vmas"], b.pages, strict=True):
                    vma["pages"] = [jsonable(p) for p in pages]
            if b.struct_text is not None:
                record["struct"] = b.struct_text
            records.append(record)
        return records


_VMA_HEADER = (f"{center('VMA', _ADDR)} {center('START', _UADDR, right=True)} "
               f"{center('END', _UADDR, right=True)}  FLAGS FILE\n")


def _vm_data(block: VmBlock) -> str:
    """crash's PRINT_VM_DATA: the MM PGD RSS TOTAL_VM header and line."""
    return (f"{center('MM', _ADDR)}  {center('PGD', _ADDR)}  "
            f"{center('RSS', 6)}  {center('TOTAL_VM', 8)}\n"
            f"{center(f'{block.mm:x}', _ADDR)}  {center(f'{block.pgd:x}', _ADDR)}  "
            f"{center(f'{block.rss_kb}k', 6)}  {center(f'{block.total_vm_kb}k', 8)}\n")


def _vma_line(v: Any) -> str:
    """crash's PRINT_VMA_DATA."""
    return (f"{center(f'{v.vma:x}', _ADDR)} {v.start:>{_UADDR}x} {v.end:>{_UADDR}x} "
            f"{v.flags:6x} {v.path}\n")


def _filename_component(path: str, ref: str) -> bool:
    """crash's FILENAME_COMPONENT(): "/" names only "/", other text matches inside a path."""
    return (path == "/" and ref == "/") or (ref != "/" and ref in path)


def _search(ref: str, block: VmBlock) -> VmReferences:
    """crash's vm -R search (vm_area_dump, handle_each_vm_area, vm_area_page_dump): a number
    matches the mm_struct or page directory address, a VMA's address or flags, a page's
    virtual or physical address, a swap offset (decimal) or a file offset; a name matches a
    part of a VMA's file or of a swap device."""
    text = ref[2:] if ref.lower().startswith("0x") else ref
    number = bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)
    hexval = int(text, 16) if number else None
    decval = int(ref) if ref.isdigit() else None
    found = VmReferences()
    if hexval is not None and block.mm and hexval in (block.mm, block.pgd):
        found.mm = True
        return found
    for vma, pages in zip(block.vmas, block.pages or [], strict=False):
        vma_match = (hexval is not None and hexval in (vma.vma, vma.flags)) or (
            bool(vma.path) and _filename_component(vma.path, ref))
        hits = []
        for page in pages:
            if hexval is not None and hexval == page.vaddr:
                hits.append(page)
            elif page.paddr is not None:
                if hexval is not None and hexval == page.paddr:
                    hits.append(page)
            elif page.swap is not None:
                if (decval is not None and decval == page.swap[1]) or \
                        _filename_component(page.swap[0], ref):
                    hits.append(page)
            elif page.file_offset is not None:
                if hexval is not None and hexval == page.file_offset:
                    hits.append(page)
        if vma_match or hits:
            found.vmas.append((vma, vma_match, hits))
    return found


def _render_references(out: Any, block: VmBlock) -> None:
    """What crash prints for one task under -R: nothing without a reference; else the task
    header, the MM line, each referencing VMA (under a VMA header) with its referencing
    pages, then a blank line."""
    refs = block.ref
    if refs is None:
        return
    if refs.mm:
        out.write(task_header(block.info) + "\n" + _vm_data(block) + "\n")
        return
    header = vma_shown = page_shown = False
    last_vma = None
    for vma, vma_match, pages in refs.vmas:
        if not header:
            out.write(task_header(block.info) + "\n" + _vm_data(block))
            header = True
        if vma_match:
            if not vma_shown or page_shown:
                out.write(_VMA_HEADER)
                vma_shown, page_shown, last_vma = True, False, vma.vma
            out.write(_vma_line(vma))
        if pages:
            page_shown = True
            if not vma_shown or last_vma != vma.vma:
                out.write(_VMA_HEADER + _vma_line(vma))
                vma_shown, last_vma = True, vma.vma
            _render_pages(out, vma, pages)
    if header:
        out.write("\n")


def _render_pages(out: Any, vma: Any, pages: list[Any]) -> None:
    """crash's vm_area_page_dump(): each page's physical address, swap entry, file offset
    or "(not mapped)"."""
    out.write(f"{'VIRTUAL':<{_UADDR}}  {'PHYSICAL':<8}\n")
    for page in pages:
        if page.paddr is not None:
            out.write(f"{page.vaddr:<{_UADDR}x}  {page.paddr:>8x}\n")
        elif page.swap is not None:
            out.write(f"{page.vaddr:<{_UADDR}x}  SWAP: {page.swap[0]}  OFFSET: {page.swap[1]}\n")
        elif page.file_offset is not None:
            out.write(f"{page.vaddr:<{_UADDR}x}  FILE: {vma.path}  "
                      f"OFFSET: {page.file_offset:x}\n")
        else:
            out.write(f"{page.vaddr:<{_UADDR}x}  (not mapped)\n")


def _struct_text(ctx: CommandContext, args: argparse.Namespace, type_name: str,
                 addresses: list[int]) -> str:
    """crash's dump_struct() of each address: the ``struct`` command's output."""
    from pycrash.api import CommandContext as Context
    from pycrash.api import registry

    struct_cls = registry.get("struct")
    if struct_cls is None:
        raise CommandError("struct: command not available")
    out = io.StringIO()
    radix = ["-x"] if args.hex else ["-d"] if args.dec else []
    for address in addresses:
        argv = [*radix, type_name, f"{address:x}"]
        sub_args = struct_cls.parse(argv)
        command = struct_cls()
        sub = Context(session=ctx.session, out=out, args=sub_args, command=command,
                      json=False, progress_hook=ctx.progress_hook)
        command.render(sub, command.run(sub, sub_args))
    return out.getvalue()
