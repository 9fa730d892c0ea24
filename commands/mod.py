"""``mod``: list the loaded modules, load or drop their object files' symbols and debuginfo.

Table format from crash's ``kernel.c:do_module_cmd``: ``MODULE`` (struct module) and ``BASE``
centred in 16 columns, ``NAME`` as wide as the longest name, ``SIZE`` right-aligned as wide as
the longest size, then the object file ("(not loaded)  [CONFIG_KALLSYMS]" until ``mod -s``).
``mod -s`` also loads the object's DWARF into ``session.prog`` so that the module's types and
variables work in every other command.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pycrash.api import Arg, Command, CommandContext, CommandError, Complete, register
from pycrash.format.columns import center
from pycrash.kernel.symbols import ModuleSymbols, invalidate_symbol_table, symbol_table

USAGE = "mod -s module [objfile] | -d module | -S [directory] [-D|-t|-r|-R|-o|-g]"


@dataclass
class ModuleRow:
    """One line of ``mod``'s table."""

    module: int  # struct module address
    name: str
    base: int
    size: int
    object_file: str | None


@dataclass
class ModTable:
    rows: list[ModuleRow] = field(default_factory=list)
    header: bool = True
    name_width: int = 4
    size_width: int = 4
    message: str | None = None  # instead of a table
    base_label: str = "BASE"  # "TEXT_BASE" for Linux 6.4+ module memory regions


@dataclass
class TaintRow:
    name: str
    taints: str


@dataclass
class TaintTable:
    rows: list[TaintRow] = field(default_factory=list)


def _table(modules: list[ModuleSymbols], only: set[str] | None = None) -> ModTable:
    table = ModTable()
    # Column widths come from every module, as in crash, even when one row is shown.
    table.name_width = max((len(m.name) for m in modules), default=0)
    table.size_width = max((len(str(m.module.size)) for m in modules), default=0)
    if any(m.module.memory_regions for m in modules):
        table.base_label = "TEXT_BASE"
    for ms in modules:
        if only is not None and ms.name not in only:
            continue
        table.rows.append(ModuleRow(ms.module.struct_address, ms.name, ms.module.base,
                                    ms.module.size, ms.object_file))
    return table


def _module_search_dirs(ctx: CommandContext) -> list[Path]:
    """Module trees searched recursively (the session's: beside the vmlinux, /lib/modules)."""
    session = ctx.session
    dirs: list[Path] = []
    try:
        from pycrash.session import _module_search_dirs

        dirs += _module_search_dirs(getattr(session, "vmlinux_origin", None),
                                    session.vmcoreinfo.osrelease)
    except Exception:  # noqa: BLE001 - the search list is a convenience
        pass
    return dirs


def find_module_object(ctx: CommandContext, name: str, tree: str | None = None) -> str | None:
    """The object file of module ``name``: under directory ``tree`` as crash's ``mod -S DIR``
    finds it (see :func:`find_in_tree`), else a ``NAME.ko`` (or ``NAME-with-dashes.ko``)
    under the session's module search directories."""
    if tree is not None:
        return find_in_tree(tree, name)
    wanted = {f"{name}.ko", f"{name.replace('_', '-')}.ko", f"{name}.ko.debug"}
    for base in _module_search_dirs(ctx):
        if not base.is_dir():
            continue
        for candidate in wanted:
            if (base / candidate).is_file():
                return str(base / candidate)
        for dirpath, _dirs, files in os.walk(base):
            for filename in files:
                if filename in wanted:
                    return str(Path(dirpath) / filename)
    # Last resort: the working directory itself (not below it).
    for candidate in sorted(wanted):
        if Path(candidate).is_file():
            return str(Path(candidate).resolve())
    return None


def _object_file_patterns(name: str) -> list[re.Pattern[str]]:
    """The file names crash's ``find_module_objfile()`` looks for, for module ``name``, in order.

    For each spelling of the name (as is; '_' as '-'; '_' as "[_-]" when it has more than one
    '_'), ``module_objfile_search()`` runs ``find -name`` for NAME.o, NAME.ko, NAME.ko.debug.
    find's -name is a whole-name glob, so the "[_-]" spelling matches either character.
    """
    spellings = [re.escape(name), re.escape(name.replace("_", "-"))]
    if name.count("_") > 1:
        spellings.append("[_-]".join(re.escape(part) for part in name.split("_")))
    return [re.compile(spelling + re.escape(suffix))
            for spelling in spellings for suffix in (".o", ".ko", ".ko.debug")]


def find_in_tree(tree: str, name: str) -> str | None:
    """crash's ``mod -S DIR`` search (``search_directory_tree()``): for each candidate file
    name in order, the first path ``/usr/bin/find -L DIR -name FILE -print`` prints, spelled
    as find spells it (``./pycrash_test.ko`` for DIR ".")."""
    paths = list(walk_like_find(tree))
    for pattern in _object_file_patterns(name):
        for path in paths:
            if pattern.fullmatch(os.path.basename(path)):
                return path
    return None


def walk_like_find(root: str) -> Iterator[str]:
    """The paths ``find -L ROOT -print`` prints, in its order: ROOT, then depth first in
    directory order; a child's path is its parent's (less one trailing '/') + '/' + name.
    Symbolic links are followed; a directory that is its own ancestor is left out (find
    reports "File system loop detected" and prints nothing for it)."""
    def children(path: str, ancestors: frozenset[tuple[int, int]]) -> Iterator[str]:
        try:
            with os.scandir(path) as entries:
                names = [entry.name for entry in entries]
        except OSError:
            return
        prefix = path[:-1] if path.endswith("/") else path
        for name in names:
            child = f"{prefix}/{name}"
            key = _directory_key(child)
            if key is None:
                yield child
            elif key not in ancestors:
                yield child
                yield from children(child, ancestors | {key})

    def walk() -> Iterator[str]:
        yield root
        key = _directory_key(root)
        if key is not None:
            yield from children(root, frozenset({key}))

    return walk()


def _directory_key(path: str) -> tuple[int, int] | None:
    """(device, inode) of the directory ``path`` leads to (links followed), None if it is
    not one."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def load_module_debuginfo(ctx: CommandContext, name: str, path: str) -> None:
    """Give drgn the module's object file so that its types and variables resolve."""
    import drgn

    prog = ctx.session.prog
    for module in prog.modules():
        if isinstance(module, drgn.RelocatableModule) and module.name == name:
            if module.wants_debug_file():
                module.try_file(path, force=True)
            return


def load_module_symbols(ctx: CommandContext, name: str, path: str) -> None:
    """``mod -s``: the object file's symbols for ``sym`` and its DWARF for everything else."""
    if not _is_elf(path):
        raise CommandError(f"{path}: not an ELF format object file")
    table = symbol_table(ctx.session)
    table.load_module_object(name, path)
    try:
        load_module_debuginfo(ctx, name, path)
    except Exception as err:  # noqa: BLE001 - symbols loaded; types may still be missing
        ctx.warn(f"{name}: debuginfo not loaded: {err}")


def module_taints(ctx: CommandContext, ms: ModuleSymbols) -> str:
    """The taint letters of a module: ``taint_flags[i].c_true`` for each module taint bit set
    in ``module.taints`` (kernel/panic.c, Linux 4.10+)."""
    taints = ms.module.taints
    if not taints:
        return ""
    prog = ctx.session.prog
    letters = []
    for bit, flag in enumerate(prog["taint_flags"]):
        if flag.module and taints >> bit & 1:
            letters.append(chr(int(flag.c_true)))
    return "".join(letters)


class _InOrder(argparse.Action):
    """Stores an action option (its value, or True for a flag) and notes it in ``modes`` in
    command-line order: crash's getopt loop acts on the options in the order given."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, True if self.nargs == 0 else values)
        namespace.modes = [*(getattr(namespace, "modes", None) or []), self.dest]


@register
class Mod(Command):
    name = "mod"
    summary = "module information and loading of symbols and debugging data"
    description = (
        "With no argument, displays basic information about the currently installed modules:\n"
        "the address of the module structure, its name, base address, size, and the object\n"
        "file whose symbols and debuginfo are loaded. Loading a module's object file (-s, -S)\n"
        "gives sym its symbols and source lines, and every other command its types and\n"
        "variables."
    )
    arguments = (
        Arg("-s", dest="load", action=_InOrder, metavar="module",
            help="load the module's symbols and debuginfo (from file)"),
        Arg("-d", dest="delete", action=_InOrder, metavar="module",
            help="drop the module's symbols and debuginfo"),
        Arg("-S", dest="load_all", action=_InOrder, nargs=0, default=False,
            help="load every module's symbols and debuginfo (from the directory in file)"),
        Arg("-D", dest="delete_all", action=_InOrder, nargs=0, default=False,
            help="drop every module's symbols and debuginfo"),
        Arg("-t", dest="taints", action=_InOrder, nargs=0, default=False,
            help="show the modules' taint flags"),
        Arg("-r", dest="readnow", action="store_true", help="read debuginfo now (no effect)"),
        Arg("-R", dest="reinit", action=_InOrder, nargs=0, default=False,
            help="re-read the module list"),
        Arg("-o", dest="old", action=_InOrder, nargs=0, default=False,
            help="old-style (add-symbol-file) loading from now on (no effect)"),
        Arg("-g", dest="sections", action="store_true", help="section symbols (no effect)"),
        Arg("file", nargs="?", complete=Complete.FILE, help="object file or directory"),
    )

    def run(self, ctx: CommandContext, args: argparse.Namespace) -> ModTable | TaintTable | None:
        modes = getattr(args, "modes", None) or []
        if modes == ["reinit"]:
            invalidate_symbol_table(ctx.session)  # mod -R: read the module list again
        table = symbol_table(ctx.session)
        if not table.modules:
            return ModTable(message="no modules installed")
        # crash's getopt loop: a second action option is a usage error, except that -o
        # returns at once (it only switches later loads to gdb's add-symbol-file), so
        # whatever follows it on the line is not looked at.
        for index, mode in enumerate(modes):
            if mode == "old" and index == 0:
                return None
            if index > 0:
                raise CommandError(f"usage: {USAGE}")
        if args.load is not None:
            return self._load_one(ctx, table, args.load, args.file)
        if args.file is not None and not args.load_all:
            raise CommandError(f"usage: {USAGE}")
        if args.delete is not None:
            name = self._module_name(table, args.delete)
            table.unload_module_object(name)
            return None
        if args.delete_all:
            table.unload_module_object(None)
            return None
        if args.taints:
            return self._taints(ctx, table)
        if args.load_all:
            return self._load_all(ctx, table, args.file)
        return _table(table.modules)

    @staticmethod
    def _module_name(table, word: str) -> str:
        """A module named ``word``, or the module at hexadecimal address ``word``."""
        if table.module(word) is not None:
            return word
        try:
            address = int(word, 16)
        except ValueError:
            raise CommandError(f"usage: {USAGE}") from None
        ms = table.module_of(address)
        if ms is None:
            raise CommandError(f"usage: {USAGE}")
        return ms.name

    def _load_one(self, ctx: CommandContext, table, word: str, path: str | None) -> ModTable:
        name = self._module_name(table, word)
        if path is not None and not os.path.exists(path):
            found = find_module_object(ctx, name)
            if found is None:
                raise CommandError(f"{name}: cannot find or load object file: {path}")
            path = found
        elif path is None:
            path = find_module_object(ctx, name)
            if path is None:
                raise CommandError(f"cannot find or load object file for {name} module")
        load_module_symbols(ctx, name, path)
        return _table(table.modules, {name})

    def _load_all(self, ctx: CommandContext, table, tree: str | None) -> ModTable:
        if tree is not None and not os.path.isdir(tree):
            raise CommandError(f"{tree} is not a directory")
        loaded = set()
        for ms in table.modules:
            path = find_module_object(ctx, ms.name, tree)
            if path is None:
                if ms.object_file:
                    loaded.add(ms.name)
                else:
                    ctx.warn(f"cannot find or load object file for {ms.name} module")
                continue
            try:
                load_module_symbols(ctx, ms.name, path)
                loaded.add(ms.name)
            except CommandError as err:
                ctx.warn(str(err))
        return _table(table.modules, loaded)

    def _taints(self, ctx: CommandContext, table) -> TaintTable:
        out = TaintTable()
        for ms in table.modules:
            if ms.module.taints:
                out.rows.append(TaintRow(ms.name, module_taints(ctx, ms)))
        return out

    def render(self, ctx: CommandContext, data: ModTable | TaintTable | None) -> None:
        if data is None:
            return
        write = ctx.out.write
        if isinstance(data, TaintTable):
            if not data.rows:
                write("no tainted modules\n")
                return
            width = max(len(r.name) for r in data.rows)
            write(f"{'NAME':<{width}}  TAINTS\n")
            for row in data.rows:
                write(f"{row.name:<{width}}  {row.taints}\n")
            return
        if data.message:
            write(data.message + "\n")
            return
        if not data.rows:
            return
        base = center(data.base_label, 16)
        write(f"{center('MODULE', 16)}  {'NAME':<{data.name_width}}  {base}  "
              f"{'SIZE':>{data.size_width}}  OBJECT FILE\n")
        for row in data.rows:
            obj = f"{row.object_file} " if row.object_file else "(not loaded)  [CONFIG_KALLSYMS]"
            write(f"{row.module:>16x}  {row.name:<{data.name_width}}  {row.base:>16x}  "
                  f"{row.size:>{data.size_width}}  {obj}\n")

    def to_json(self, ctx: CommandContext, data: ModTable | TaintTable | None) -> object:
        if data is None:
            return []
        if isinstance(data, TaintTable):
            return [{"name": r.name, "taints": r.taints} for r in data.rows]
        return [{"module": r.module, "name": r.name, "base": r.base, "size": r.size,
                 "object_file": r.object_file} for r in data.rows]
