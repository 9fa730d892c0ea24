"""``mount``: the mounted file systems of a mount namespace, as crash 8.0.6 prints them
(filesys.c ``cmd_mount``, ``show_mounts`` and ``get_mount_list``)."""

from __future__ import annotations

import argparse
from typing import Any

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.format.columns import center
from pycrash.kernel.tasks import task_table

_ADDR = 16  # crash's VADDR_PRLEN on x86-64
_DEVLEN = len("DEVNAME") + 2
_UNSUPPORTED = "-{} option not supported or applicable on this architecture or kernel"


@register
class Mount(Command):
    name = "mount"
    summary = "mounted filesystem data"
    synopsis = "[-n pid|task] [mount|vfsmount|superblock|dev|dir]"
    description = """\
  This command displays basic information about the currently-mounted
  filesystems.

  For kernels supporting namespaces, the -n option may be used to
  display the mounted filesystems with respect to the namespace of a
  specified task:

     -n pid   a process PID.
     -n task  a hexadecimal task_struct pointer.

  Specific filesystems may be selected using the following forms:

    vfsmount  hexadecimal address of a filesystem vfsmount structure.
       mount  hexadecimal address of a filesystem mount structure.
  superblock  hexadecimal address of a filesystem super_block structure.
         dev  device name of a filesystem.
         dir  directory where a filesystem is mounted.

  The first column displays the filesystem's mount structure address,
  which contains an embedded vfsmount structure.  -f (open files) and -i
  (dirty inodes) need lists that kernels since 3.13 (-f) and 2.6.32 (-i)
  no longer have; pycrash refuses them, as crash does on those kernels.
  --json prints one record per mount.
"""
    arguments = (
        Arg("-f", dest="files", action="store_true", help="(kernels before 3.13 only)"),
        Arg("-i", dest="inodes", action="store_true", help="(kernels before 2.6.32 only)"),
        Arg("-n", dest="task", metavar="pid|task", complete=Complete.TASK,
            help="the mount namespace of this task"),
        Arg("filters", nargs="*", metavar="mount|vfsmount|superblock|dev|dir"),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> list[Any]:
        from pycrash.kernel.fs import FsError, mount_list

        prog = ctx.session.prog
        if args.inodes:
            raise CommandError(_UNSUPPORTED.format("i"))
        if args.files:
            try:
                has_s_files = prog.type("struct super_block").has_member("s_files")
            except LookupError:
                has_s_files = False
            if has_s_files:
                raise CommandError("-f: option not supported by pycrash")
            raise CommandError(_UNSUPPORTED.format("f"))
        table = task_table(prog)
        if args.task is not None:
            from pycrash.commands.ps import resolve_number

            found = resolve_number(table, args.task)
            if found is None:
                raise CommandError(f"invalid task or pid value: {args.task}")
            tasks = table.pid(found[1]) if found[0] == "pid" else [table.get(found[1])]
            task = tasks[0].task
        else:
            # crash's namespace context: the task of the lowest PID from 1 up
            first = next((t for t in table if t.pid >= 1), None)
            if first is None:
                raise CommandError("cannot determine mount list location!")
            task = first.task
        try:
            mounts = list(mount_list(prog, task, on_stop=lambda stop: ctx.warn(stop.message()),
                                     progress=lambda m: ctx.progress(m, "mount")))
        except (FsError, LookupError, AttributeError) as err:
            raise CommandError(str(err)) from None
        if args.filters:
            mounts = [m for m in mounts if any(_matches(m, word) for word in args.filters)]
        return mounts

    def render(self, ctx: CommandContext, data: list[Any]) -> None:
        out = ctx.out
        out.write(f"{center('MOUNT', _ADDR)} {center('SUPERBLK', _ADDR)} "
                  f"{'TYPE':<6} {'DEVNAME':<{_DEVLEN}} DIRNAME\n")
        for m in data:
            columns = (f"{m.type:<6} " if m.type is not None else "unknown ") + (
                f"{m.devname if m.devname is not None else '(unknown)':<{_DEVLEN}} ")
            # crash trims the padding of long type and device names, down to one space
            while len(columns) > 17 and columns[-2] == " ":
                columns = columns[:-1]
            out.write(f"{m.mount:>16x} {m.superblock:>16x} {columns}{m.dirname:<10}\n")


def _matches(mount: Any, word: str) -> bool:
    """crash's search of one ``mount`` line: a field equal to ``word`` (paths compared without
    a trailing "/"), or the address of the ``struct vfsmount`` inside the mount."""
    text = word[2:] if word.lower().startswith("0x") else word
    fields = [f"{mount.mount:x}", f"{mount.superblock:x}", mount.type or "unknown",
              mount.devname or "(unknown)", mount.dirname]
    if any(_path_eq(field, text) for field in fields):
        return True
    try:
        return int(text, 16) == mount.vfsmount
    except ValueError:
        return False


def _path_eq(a: str, b: str) -> bool:
    """crash's PATHEQ: equal, or equal but for one trailing "/"."""
    return a == b or a.rstrip("/") == b.rstrip("/") and bool(a.rstrip("/"))
