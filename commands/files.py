"""``files``: a task's root, working directory and open files, as crash 8.0.6 prints them
(filesys.c ``cmd_files``, ``open_files_dump`` and ``file_dump``)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from pycrash.commands.ps import task_header

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.format.columns import center
from pycrash.kernel.tasks import TaskInfo, TaskTable, task_table

_ADDR = 16  # crash's VADDR_PRLEN on x86-64


def context_targets(ctx: CommandContext, table: TaskTable, words: list[str],
                    command: str) -> list[tuple[str, Any]]:
    """crash's str_to_context() over each argument, in order: ("pid", [tasks]) for a PID
    (several tasks for PID 0), ("task", info) for a task_struct address, ("error", text)
    for neither; the current context alone when there are no arguments."""
    from pycrash.commands.ps import resolve_number

    if not words:
        info = table.get(ctx.session.context.task)
        if info is None:
            raise CommandError("no current context")
        return [("current", info)]
    targets: list[tuple[str, Any]] = []
    for word in words:
        found = resolve_number(table, word) if _is_number(word) else None
        if found is None:
            targets.append(("error", f"{command}: invalid task or pid value: {word}"))
        elif found[0] == "pid":
            targets.append(("pid", table.pid(found[1])))
        else:
            targets.append(("task", table.get(found[1])))
    return targets


def _is_number(word: str) -> bool:
    text = word[2:] if word.lower().startswith("0x") else word
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def _hex(value: int) -> str:
    """crash's mkstring(VADDR_PRLEN, CENTER|RJUST|LONG_HEX)."""
    return center(f"{value:x}", _ADDR, right=True)


def _file_columns(f: Any) -> str:
    """FILE DENTRY INODE TYPE PATH of file_dump(): a file without a dentry, or a dentry
    without an inode, shows zeroes for the missing address and "?" for the rest."""
    if not f.dentry:
        return f"{_hex(f.file)} {'0' * _ADDR} {center('?', _ADDR)} ?    ?"
    if not f.inode:
        return f"{_hex(f.file)} {_hex(f.dentry)} {'0' * _ADDR} ?    ?"
    return f"{_hex(f.file)} {_hex(f.dentry)} {_hex(f.inode)} {f.type} {f.path}"


def _files_header(nrpages: bool) -> str:
    if nrpages:
        return (f" FD {center('INODE', _ADDR)} {center('I_MAPPING', _ADDR)} "
                "NRPAGES TYPE PATH\n")
    return (f" FD {center('FILE', _ADDR)} {center('DENTRY', _ADDR)} "
            f"{center('INODE', _ADDR)} TYPE PATH\n")


def _file_line(f: Any, nrpages: bool) -> str:
    if nrpages:
        return (f"{f.fd:3d} {_hex(f.inode)} {_hex(f.i_mapping)} {f.nrpages:>7d} "
                f"{f.type} {f.path}\n")
    return f"{f.fd:3d} {_file_columns(f)}\n"


def _filename_component(path: str | None, ref: str) -> bool:
    """crash's FILENAME_COMPONENT(): "/" names only "/", other text matches inside a path."""
    if path is None:
        return False
    return (path == "/" and ref == "/") or (ref != "/" and ref in path)


def _references(f: Any, ref: str, max_fds: int) -> bool:
    """crash's open_file_reference() on one open file: its descriptor number (a decimal
    reference no larger than the table), its file, dentry or inode address (hexadecimal), its
    type, or a part of its path."""
    text = ref[2:] if ref.lower().startswith("0x") else ref
    if text and all(c in "0123456789abcdefABCDEF" for c in text):
        decimal = text.isdigit() and not ref.lower().startswith("0x") and int(text) <= max_fds
        value = int(text, 10 if decimal else 16)
        if f.fd == value:
            return True
        if not decimal:
            columns = [f.file] + ([f.dentry] if f.dentry else []) + (
                [f.inode] if f.inode else [])
            if value in columns:
                return True
    if ref == (f.type.strip() if f.dentry and f.inode else "?"):
        return True
    return bool(f.dentry and f.inode and f.path) and _filename_component(f.path, ref)


@dataclasses.dataclass
class FilesBlock:
    """One task's part of the output (or a message line)."""

    info: TaskInfo | None
    newline_before: bool = False  # print_task_header(..., subsequent)
    newline_after: bool = False  # after each task of a PID argument
    root: str | None = None
    cwd: str | None = None
    files: list[Any] = dataclasses.field(default_factory=list)
    message: str | None = None
    # -R: whether the root or working directory matched, and whether anything did
    ref_root: bool = False
    ref_found: bool = False


@dataclasses.dataclass
class DentryInfo:
    """``files -d``: one dentry."""

    dentry: int
    inode: int
    superblock: int
    type: str
    path: str


@register
class Files(Command):
    name = "files"
    summary = "open files"
    synopsis = "[-d dentry] | [-c] [-R reference] [pid | taskp] ..."
    description = """\
  This command displays information about open files of a context.
  It prints the context's current root directory and current working
  directory, and then for each open file descriptor it prints a pointer
  to its file struct, a pointer to its dentry struct, a pointer to the
  inode, the file type, and the pathname.  If no arguments are entered,
  the current context is used.  The -d option is not context specific,
  and only shows the data requested.

     -d dentry  given a hexadecimal dentry address, display its inode,
                super block, file type, and full pathname.
     -c         for each open file descriptor, prints a pointer to its
                inode, a pointer to the inode's i_mapping address_space
                structure, the number of pages of the inode that are in
                the page cache, the file type, and the pathname.
           pid  a process PID.
         taskp  a hexadecimal task_struct pointer.

  -R reference  search for references to this file descriptor number,
                filename, file type, dentry, inode, or file structure
                address.

  pycrash does not implement -p (page cache pages) nor -n (their NUMA
  nodes).  --json prints each task's root, working directory and open
  files (with -R, only the tasks and files that reference it).
"""
    arguments = (
        Arg("-d", dest="dentry", metavar="dentry", help="one dentry's inode, type and path"),
        Arg("-c", dest="nrpages", action="store_true", help="inode, i_mapping and NRPAGES"),
        Arg("-p", dest="inode", metavar="inode", help="(not supported)"),
        Arg("-n", dest="numa", metavar="inode", help="(not supported)"),
        Arg("-R", dest="ref", metavar="reference",
            help="only files referencing this fd, address, type or name"),
        Arg("tasks", nargs="*", metavar="pid | taskp", complete=Complete.TASK),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> Any:
        from pycrash.kernel.fs import FsError

        for option, value in (("-p", args.inode), ("-n", args.numa)):
            if value is not None:
                raise CommandError(f"{option}: option not supported by pycrash")
        prog = ctx.session.prog
        try:
            if args.dentry is not None:
                return self._dentry(ctx, args.dentry)
            table = task_table(prog)
            blocks: list[FilesBlock] = []
            subsequent = 0
            targets = context_targets(ctx, table, args.tasks, self.name)
            for kind, value in targets:
                if kind == "error":
                    blocks.append(FilesBlock(None, message=value))
                elif kind == "pid":
                    for info in value:
                        blocks.append(self._block(ctx, info, bool(subsequent), True,
                                                  args.nrpages))
                else:
                    blocks.append(self._block(ctx, value, bool(subsequent), False,
                                              args.nrpages))
                subsequent += kind != "current"
        except (FsError, LookupError, AttributeError) as err:
            raise CommandError(str(err)) from None
        return blocks

    @staticmethod
    def _block(ctx: CommandContext, info: TaskInfo, newline_before: bool, newline_after: bool,
               nrpages: bool) -> FilesBlock:
        from pycrash.kernel.fs import task_files

        found = task_files(ctx.session.prog, info.task, nrpages=nrpages,
                           progress=lambda fds: ctx.progress(fds, "files"))
        block = FilesBlock(info, newline_before, newline_after, found.root, found.cwd,
                           found.files)
        ref = ctx.args.ref
        if ref is not None:
            block.ref_root = found.root is not None and (
                _filename_component(found.root, ref) or _filename_component(found.cwd, ref))
            block.files = [f for f in found.files if _references(f, ref, found.max_fds)]
            block.ref_found = block.ref_root or bool(block.files)
        return block

    @staticmethod
    def _dentry(ctx: CommandContext, text: str) -> DentryInfo:
        from pycrash.kernel.fs import dentry_info

        try:
            address = int(text, 16)
        except ValueError:
            raise CommandError(f"invalid hexadecimal dentry address: {text}") from None
        table = task_table(ctx.session.prog)
        first = next((t for t in table if t.pid >= 1), None)
        info = dentry_info(ctx.session.prog, address, first.task if first else 0)
        return DentryInfo(*info)

    def render(self, ctx: CommandContext, data: Any) -> None:
        out = ctx.out
        if isinstance(data, DentryInfo):
            out.write(f"{center('DENTRY', _ADDR)} {center('INODE', _ADDR)} "
                      f"{center('SUPERBLK', _ADDR)} TYPE PATH\n")
            out.write(f"{data.dentry:>16x} {data.inode:>16x} "
                      f"{center(f'{data.superblock:x}', _ADDR)} {data.type} {data.path}\n")
            return
        nrpages = ctx.args.nrpages
        ref = ctx.args.ref is not None
        for block in data:
            if block.message is not None:
                out.write(block.message + "\n")
                continue
            if ref:
                self._render_references(ctx, block)
                continue
            out.write(("\n" if block.newline_before else "") + task_header(block.info) + "\n")
            if block.root is not None:
                out.write(f"ROOT: {block.root}    CWD: {block.cwd}\n")
            if not block.files:
                out.write("No open files\n")
            else:
                out.write(_files_header(nrpages))
                for f in block.files:
                    out.write(_file_line(f, nrpages))
            if block.newline_after:
                out.write("\n")

    @staticmethod
    def _render_references(ctx: CommandContext, block: FilesBlock) -> None:
        """crash's -R output: only a task with a reference, under its header and its
        "ROOT: ...    CWD: ... " line (with crash's trailing space), then a blank line."""
        out = ctx.out
        if block.ref_found:
            out.write(task_header(block.info) + "\n")
            out.write(f"ROOT: {block.root}    CWD: {block.cwd} \n")
            if block.files:
                out.write(_files_header(ctx.args.nrpages))
                for f in block.files:
                    out.write(_file_line(f, ctx.args.nrpages))
            out.write("\n")
        if block.newline_after:
            out.write("\n")

    def to_json(self, ctx: CommandContext, data: Any) -> Any:
        from pycrash.api import jsonable

        if isinstance(data, DentryInfo):
            return jsonable(data)
        if ctx.args.ref is not None:
            data = [b for b in data if b.message is not None or b.ref_found]
        return [m for m in (
            {"message": b.message} if b.message is not None else
            {"pid": b.info.pid, "task": b.info.task, "comm": b.info.comm, "root": b.root,
             "cwd": b.cwd, "files": [jsonable(f) for f in b.files]}
            for b in data)]
