"""The VFS as crash's ``files`` and ``mount`` see it: dentry paths, open files, the mount list.

Kernel layouts read here (include/linux/dcache.h, fs/mount.h, include/linux/fdtable.h,
include/linux/fs_struct.h), every kernel since 3.3 (``struct mount`` split out of
``struct vfsmount``):

* a ``struct dentry`` names itself in ``d_name`` (a ``struct qstr``: ``len``, ``name``; short
  names live in the dentry's own ``d_iname``) and points at its ``d_parent``; a file system's
  root dentry is its own parent;
* a ``struct mount`` embeds the ``struct vfsmount`` (``mnt``) that files and paths point at;
  ``mnt_mountpoint`` is the dentry it covers in ``mnt_parent``; the root mount is its own
  parent;
* ``task->fs`` holds ``root`` and ``pwd`` (``struct path``: ``mnt``, ``dentry``);
* ``task->files->fdt`` is the ``struct fdtable``: ``max_fds``, the ``fd[]`` array of
  ``struct file *`` and the ``open_fds`` bitmap;
* ``nsproxy->mnt_ns`` lists its mounts on ``list`` through ``mount.mnt_list`` (before 6.8;
  6.8 keeps them in the ``mounts`` rbtree through ``mount.mnt_node``).

Paths are built as crash's ``get_pathname()`` builds them (filesys.c), crossing mount points
upwards until the root mount.
"""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Callable, Iterator
from typing import Any

import drgn

__all__ = [
    "FsError",
    "MountInfo",
    "OpenFile",
    "TaskFiles",
    "dentry_info",
    "dentry_path",
    "inode_type",
    "mount_list",
    "read_cstring",
    "task_files",
    "task_root_pwd",
]

# crash's BUFSIZE: the longest path or string it builds.
BUFSIZE = 1500
# Bound on the dentries and mounts one path crosses: a damaged d_parent chain must end.
MAX_PATH_DEPTH = 4096
# Bound on the file descriptors looked at (the kernel's sysctl_nr_open maximum is 2^30).
MAX_FDS = 1 << 20


class FsError(Exception):
    """The dump lacks a structure a VFS walk needs (one line for the user)."""


def read_cstring(prog: drgn.Program, address: int, maxlen: int = BUFSIZE - 1) -> str | None:
    """The NUL-terminated string at ``address`` (at most ``maxlen`` bytes), None if unreadable.

    Read a page at a time, as crash's read_string() does, so a string that ends just before an
    unreadable page is still read."""
    if not address:
        return None
    data = b""
    while len(data) < maxlen:
        chunk = min(maxlen - len(data), 4096 - ((address + len(data)) & 4095))
        try:
            piece = prog.read(address + len(data), chunk)
        except drgn.FaultError:
            if not data:
                return None
            break
        end = piece.find(b"\0")
        if end >= 0:
            data += piece[:end]
            break
        data += piece
    return data.decode("utf-8", "replace")


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Offsets of the members a path walk reads."""

    d_name_len: int
    d_name_name: int
    d_iname: int
    d_parent: int
    d_inode: int
    mount_mnt: int  # offsetof(struct mount, mnt)
    mnt_parent: int
    mnt_mountpoint: int
    mnt_devname: int

    @classmethod
    def of(cls, prog: drgn.Program) -> _Layout:
        try:
            dentry = prog.type("struct dentry")
            qstr = prog.type("struct qstr")
            mount = prog.type("struct mount")
            d_name = drgn.offsetof(dentry, "d_name")
            return cls(
                d_name_len=d_name + drgn.offsetof(qstr, "len"),
                d_name_name=d_name + drgn.offsetof(qstr, "name"),
                d_iname=drgn.offsetof(dentry, "d_iname"),
                d_parent=drgn.offsetof(dentry, "d_parent"),
                d_inode=drgn.offsetof(dentry, "d_inode"),
                mount_mnt=drgn.offsetof(mount, "mnt"),
                mnt_parent=drgn.offsetof(mount, "mnt_parent"),
                mnt_mountpoint=drgn.offsetof(mount, "mnt_mountpoint"),
                mnt_devname=drgn.offsetof(mount, "mnt_devname"),
            )
        except (LookupError, ValueError) as err:
            raise FsError(f"no struct dentry/mount layout in the debuginfo: {err}") from None


def _layout(prog: drgn.Program) -> _Layout:
    key = "pycrash.kernel.fs.layout"
    layout = prog.cache.get(key)
    if layout is None:
        layout = prog.cache[key] = _Layout.of(prog)
    return layout


def _u64(prog: drgn.Program, address: int) -> int:
    return int.from_bytes(prog.read(address, 8), "little")


def _u32(prog: drgn.Program, address: int) -> int:
    return int.from_bytes(prog.read(address, 4), "little")


def _component(prog: drgn.Program, name: int, length: int) -> str | None:
    """crash's get_pathname_component(): the name (in the dentry's ``d_iname`` or outside
    it), None unless it has ``length`` bytes."""
    text = read_cstring(prog, name)
    if text is None or len(text.encode("utf-8", "surrogateescape")) != length:
        return None
    return text


def dentry_path(prog: drgn.Program, dentry: int, vfsmnt: int = 0) -> str:
    """The path of ``dentry`` as crash's ``get_pathname(dentry, ..., full=1, vfsmnt)`` builds
    it: components up to the file system's root, then on through the mount points of
    ``vfsmnt`` (a ``struct vfsmount *``) and its parents; "" if the dentry has no name."""
    layout = _layout(prog)
    pathname = ""
    parent = dentry
    vfs = vfsmnt
    try:
        for _ in range(MAX_PATH_DEPTH):
            current = parent
            length = _u32(prog, current + layout.d_name_len)
            if not length:
                break
            name = _u64(prog, current + layout.d_name_name)
            if not name:
                break
            component = _component(prog, name, length)
            if component is None:
                break
            if current != dentry:
                if len(pathname) + length < BUFSIZE:
                    if (length > 1 or component != "/") and not pathname.startswith("/"):
                        pathname = f"{component}/{pathname}"
                    else:
                        pathname = component + pathname
            else:
                pathname = component
            parent = _u64(prog, current + layout.d_parent)
            if current == parent and vfs:
                # the root of a mounted file system: go on from the dentry it covers
                if pathname.startswith("//"):
                    pathname = pathname[1:]
                mount = vfs - layout.mount_mnt
                parent = _u64(prog, mount + layout.mnt_mountpoint)
                mnt_parent = _u64(prog, mount + layout.mnt_parent)
                if mount == mnt_parent:
                    break
                vfs = mnt_parent + layout.mount_mnt
                continue
            if current == parent or not parent:
                break
    except drgn.FaultError:
        pass
    if pathname != "/" and pathname.endswith("/"):
        pathname = pathname[:-1]
    return pathname


def vfsmount_devname(prog: drgn.Program, vfsmnt: int) -> str:
    """The device name a ``struct vfsmount *`` was mounted from ("" if unreadable)."""
    layout = _layout(prog)
    try:
        devname = _u64(prog, vfsmnt - layout.mount_mnt + layout.mnt_devname)
    except drgn.FaultError:
        return ""
    return read_cstring(prog, devname) or ""


def _root_vfsmount(prog: drgn.Program, vfsmnt: int) -> int:
    """crash's get_root_vfsmount(): a devtmpfs (or udev) mount over another one of the same
    name names its files from the parent mount."""
    name = vfsmount_devname(prog, vfsmnt)
    if name not in ("udev", "devtmpfs"):
        return vfsmnt
    layout = _layout(prog)
    try:
        mnt_parent = _u64(prog, vfsmnt - layout.mount_mnt + layout.mnt_parent)
    except drgn.FaultError:
        return vfsmnt
    # crash hands the struct mount pointer to vfsmount_devname() as it is
    parent_name = vfsmount_devname(prog, mnt_parent)
    return mnt_parent if parent_name and parent_name == name else vfsmnt


# -- inode types (crash's inode_type()) ------------------------------------------------------


def inode_type(prog: drgn.Program, inode: drgn.Object, path: str) -> tuple[str, str]:
    """crash's inode_type(): the four-letter file type of ``inode`` (a ``struct inode``) and
    the path to print with it (none for a pipe, nor for a socket whose path is "/")."""
    mode = int(inode.i_mode)
    if stat.S_ISREG(mode):
        return "REG ", path
    if stat.S_ISLNK(mode):
        return "LNK ", path
    if stat.S_ISDIR(mode):
        return "DIR ", path
    if stat.S_ISCHR(mode):
        return "CHR ", path
    if stat.S_ISBLK(mode):
        return "BLK ", path
    if stat.S_ISFIFO(mode):
        try:
            pipe_ops = prog.symbol("pipe_inode_operations").address
        except LookupError:
            pipe_ops = None
        if pipe_ops is not None and int(inode.i_op) == pipe_ops:
            return "PIPE", ""
        return "FIFO", path
    if stat.S_ISSOCK(mode):
        return "SOCK", "" if path == "/" else path
    return "UNKN", path


# -- open files ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OpenFile:
    """One open file descriptor, as crash's file_dump() prints it."""

    fd: int
    file: int  # struct file *
    dentry: int  # 0 when the file has none
    inode: int  # 0 when the dentry has none
    type: str  # "REG ", "CHR ", "PIPE", ... ("?   " without an inode)
    path: str
    i_mapping: int = 0  # -c: inode->i_mapping
    nrpages: int = 0  # -c: i_mapping->nrpages


@dataclasses.dataclass(frozen=True)
class TaskFiles:
    """What ``files`` shows for one task."""

    root: str | None  # None: the task has no fs_struct
    cwd: str | None
    files: list[OpenFile]
    max_fds: int = 0  # fdtable.max_fds (0 without a file table)


def task_root_pwd(prog: drgn.Program, task: drgn.Object) -> tuple[str, str] | None:
    """The paths of ``task->fs->root`` and ``->pwd`` ("" for a NULL dentry), None without
    an fs_struct."""
    fs = int(task.fs)
    if not fs:
        return None
    fs_struct = drgn.Object(prog, "struct fs_struct", address=fs)
    paths = []
    for path in (fs_struct.root, fs_struct.pwd):
        dentry = int(path.dentry)
        paths.append(dentry_path(prog, dentry, int(path.mnt)) if dentry else "")
    return paths[0], paths[1]


def _file_entry(prog: drgn.Program, fd: int, file: int, nrpages: bool) -> OpenFile:
    """crash's file_dump(file, 0, 0, fd, DUMP_FULL_NAME|DUMP_EMPTY_FILE)."""
    obj = drgn.Object(prog, "struct file", address=file)
    dentry = int(obj.f_path.dentry)
    if not dentry:
        return OpenFile(fd, file, 0, 0, "?   ", "?")
    inode = int(obj.f_path.dentry.d_inode)
    if not inode:
        return OpenFile(fd, file, dentry, 0, "?   ", "?")
    vfsmnt = _root_vfsmount(prog, int(obj.f_path.mnt))
    path = dentry_path(prog, dentry, vfsmnt)
    if path.startswith("/pts/") and vfsmount_devname(prog, vfsmnt) == "devpts":
        path = "/dev" + path
    inode_obj = drgn.Object(prog, "struct inode", address=inode)
    kind, path = inode_type(prog, inode_obj, path)
    mapping = pages = 0
    if nrpages:
        mapping = int(inode_obj.i_mapping)
        if mapping:
            pages = int(drgn.Object(prog, "struct address_space", address=mapping).nrpages)
    return OpenFile(fd, file, dentry, inode, kind, path, mapping, pages)


def task_files(prog: drgn.Program, task_address: int, *, nrpages: bool = False,
               progress: Callable[[Iterator[int]], Iterator[int]] | None = None) -> TaskFiles:
    """The root, working directory and open files of the task at ``task_address``."""
    task = drgn.Object(prog, "struct task_struct", address=task_address)
    try:
        paths = task_root_pwd(prog, task)
    except (drgn.FaultError, LookupError, AttributeError) as err:
        raise FsError(f"cannot read the fs_struct of task {task_address:x}: {err}") from None
    root, cwd = paths if paths is not None else (None, None)
    files: list[OpenFile] = []
    try:
        files_struct = task.files
        if not int(files_struct):
            return TaskFiles(root, cwd, files)
        fdt = files_struct.fdt
        if not int(fdt):
            return TaskFiles(root, cwd, files)
        max_fds = min(int(fdt.max_fds), MAX_FDS)
        open_fds = int(fdt.open_fds)
        fd_array = int(fdt.fd)
        if not max_fds or not open_fds or not fd_array:
            return TaskFiles(root, cwd, files)
        bitmap = int.from_bytes(prog.read(open_fds, max_fds // 8), "little")
    except (drgn.FaultError, AttributeError, LookupError) as err:
        raise FsError(f"cannot read the files_struct of task {task_address:x}: {err}") from None
    fds: Iterator[int] = (fd for fd in range(max_fds) if bitmap >> fd & 1)
    if progress is not None:
        fds = progress(fds)
    for fd in fds:
        try:
            file = _u64(prog, fd_array + 8 * fd)
            if file:
                files.append(_file_entry(prog, fd, file, nrpages))
        except drgn.FaultError as err:
            raise FsError(f"cannot read open file {fd} of task {task_address:x}: "
                          f"{err}") from None
    return TaskFiles(root, cwd, files, max_fds)


# -- mounts ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MountInfo:
    """One mount as crash's ``mount`` prints it."""

    mount: int  # struct mount *
    vfsmount: int  # &mount->mnt, the struct vfsmount * that paths and files point at
    superblock: int  # mnt.mnt_sb
    type: str | None  # file_system_type name, None if unreadable
    devname: str | None  # None if unreadable
    dirname: str


def _mount_addresses(prog: drgn.Program, mnt_ns: drgn.Object,
                     on_stop: Callable[[Any], None] | None) -> Iterator[int]:
    """The ``struct mount`` addresses of a mount namespace, in crash's order."""
    from pycrash.kernel.lists import list_walk, rbtree_walk

    mount_type = prog.type("struct mount")
    if mount_type.has_member("mnt_node") and not mnt_ns.type_.type.has_member("list"):
        # 6.8+: the rbtree of mounts, walked in order (rb_first, rb_next)
        offset = drgn.offsetof(mount_type, "mnt_node")
        walk = rbtree_walk(prog, int(mnt_ns.mounts.address_of_()), on_stop=on_stop)
    else:
        offset = drgn.offsetof(mount_type, "mnt_list")
        walk = list_walk(prog, int(mnt_ns.list.address_of_()), on_stop=on_stop)
    for node in walk:
        yield node - offset


def mount_list(prog: drgn.Program, task_address: int,
               on_stop: Callable[[Any], None] | None = None,
               progress: Callable[[Iterator[int]], Iterator[int]] | None = None,
               ) -> Iterator[MountInfo]:
    """The mounts of the namespace of the task at ``task_address``
    (``task->nsproxy->mnt_ns``), as crash's get_mount_list() and show_mounts() read them."""
    layout = _layout(prog)
    try:
        task = drgn.Object(prog, "struct task_struct", address=task_address)
        mnt_ns = task.nsproxy.mnt_ns
        int(mnt_ns)  # a fault here: no namespace to list
    except (drgn.FaultError, AttributeError, LookupError):
        raise FsError("cannot determine mount list location!") from None
    addresses = _mount_addresses(prog, mnt_ns, on_stop)
    if progress is not None:
        addresses = progress(addresses)
    for mount in addresses:
        obj = drgn.Object(prog, "struct mount", address=mount)
        try:
            superblock = int(obj.mnt.mnt_sb)
            devname = read_cstring(prog, int(obj.mnt_devname))
            fstype = read_cstring(prog, int(obj.mnt.mnt_sb.s_type.name)) if superblock else None
            dirname = dentry_path(prog, int(obj.mnt_mountpoint),
                                  int(obj.mnt_parent) + layout.mount_mnt)
        except drgn.FaultError as err:
            raise FsError(f"cannot read mount {mount:x}: {err}") from None
        yield MountInfo(mount, mount + layout.mount_mnt, superblock, fstype, devname, dirname)


def dentry_info(prog: drgn.Program, dentry: int,
                namespace_task: int) -> tuple[int, int, int, str, str]:
    """crash's display_dentry_info() (``files -d``): the dentry, its inode, super block,
    type ("N/A" without an inode) and path, named through the mount of the namespace of
    ``namespace_task`` whose super block is the dentry's (the last one, as crash walks)."""
    layout = _layout(prog)
    try:
        obj = drgn.Object(prog, "struct dentry", address=dentry)
        inode = int(obj.d_inode)
        superblock = int(obj.d_inode.i_sb) if inode else int(obj.d_sb)
    except drgn.FaultError as err:
        raise FsError(f"cannot read dentry {dentry:x}: {err}") from None
    path = ""
    if superblock:
        for mount in list(mount_list(prog, namespace_task)):
            if mount.superblock == superblock:
                path = dentry_path(prog, dentry, mount.mount + layout.mount_mnt)
        if not path:
            for name in ("pipe_mnt", "sock_mnt"):
                try:
                    vfs = int(prog[name])
                    sb = int(drgn.Object(prog, "struct vfsmount", address=vfs).mnt_sb)
                except (KeyError, LookupError, drgn.FaultError):
                    continue
                if sb == superblock:
                    path = dentry_path(prog, dentry, vfs)
                    break
    kind = "N/A"
    if inode:
        kind, path = inode_type(prog, drgn.Object(prog, "struct inode", address=inode), path)
    return dentry, inode, superblock, kind, path
