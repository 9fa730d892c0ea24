"""Finding and importing commands: the built-ins, then third-party plugins.

Order (a later command with the same name replaces an earlier one):

1. every module of ``pycrash.commands`` (the top-level ``commands/`` folder);
2. ``*.py`` files in ``$XDG_CONFIG_HOME/pycrash/plugins/`` (``~/.config/pycrash/plugins/``);
3. ``*.py`` files in each directory of ``PYCRASH_PLUGIN_PATH`` (``os.pathsep``-separated);
4. the ``pycrash.commands`` entry-point group of installed distributions;
5. at run time, ``extend FILE.py``.

A plugin is imported like any module; its ``@register`` classes become commands, and
``pycrash.api._current_origin`` records where each came from (shown by ``help NAME``).  A plugin
that fails to import is reported in one line on stderr and the rest of pycrash works.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pycrash import api

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginError",
    "declared_entry_points",
    "load_all",
    "load_builtin_commands",
    "load_builtins",
    "load_entry_points",
    "load_file",
    "plugin_dirs",
    "third_party_loaded",
]

ENTRY_POINT_GROUP = "pycrash.commands"

Report = Callable[[str], None]


class PluginError(Exception):
    """A plugin could not be loaded (one line)."""


# Whether code other than pycrash's own commands was imported (a plugin file, an entry point).
_third_party_loaded = False


def third_party_loaded() -> bool:
    """True once this process has imported (or tried to import) a plugin file or entry point."""
    return _third_party_loaded


def _stderr(message: str) -> None:
    print(f"pycrash: {message}", file=sys.stderr)


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


@contextmanager
def _origin(origin: str, registry: api.CommandRegistry) -> Iterator[None]:
    """Record ``origin`` for every @register during the block, and copy the commands it
    registered into ``registry`` when that is not the global one."""
    before = dict(api.registry._by_name)
    api._current_origin.append(origin)
    try:
        yield
    finally:
        api._current_origin.pop()
        if registry is not api.registry:
            for word, cls in api.registry._by_name.items():
                if before.get(word) is not cls and word == cls.name:
                    registry.add(cls, api.registry.origin(word) or origin)


def load_builtins(registry: api.CommandRegistry | None = None, report: Report = _stderr) -> int:
    """Make every module of ``pycrash.commands`` a source of commands; returns how many
    failed to import now.

    Modules listed in ``pycrash.commands.BUILTIN_COMMANDS`` are imported only when one of their
    words is first used (start-up pays for none of them); a module missing from that table is
    imported at once. A module that fails to import is reported in one line, when it is
    imported, and the rest works.
    """
    registry = registry if registry is not None else api.registry
    import pycrash.commands as package

    table: dict[str, tuple[str, ...]] = getattr(package, "BUILTIN_COMMANDS", {})
    failed = 0
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        words = table.get(info.name)
        if words:
            load = functools.partial(_import_builtin, info.name, registry, report)
            registry.add_lazy(words, load)
        elif not _import_builtin(info.name, registry, report):
            failed += 1
    return failed


def _import_builtin(name: str, registry: api.CommandRegistry, report: Report) -> bool:
    """Import (or, for a second registry, re-register) ``pycrash.commands.<name>``."""
    modname = f"pycrash.commands.{name}"
    with _origin("builtin", registry):
        try:
            if modname in sys.modules:
                _reregister(sys.modules[modname], registry, "builtin")
            else:
                importlib.import_module(modname)
        except Exception as err:  # noqa: BLE001 - one line, the rest works
            report(f"command module {name}: {_describe(err)}")
            return False
    return True


load_builtin_commands = load_builtins  # the name some callers know it by


def _reregister(module: object, registry: api.CommandRegistry, origin: str) -> None:
    """Add the commands an already-imported module defined (a second registry in tests)."""
    if registry is api.registry:
        return
    for value in vars(module).values():
        if (
            inspect.isclass(value)
            and issubclass(value, api.Command)
            and value is not api.Command
            and value.name
            and api.registry.get(value.name) is value
        ):
            registry.add(value, api.registry.origin(value.name) or origin)


def load_file(
    path: str | os.PathLike[str], registry: api.CommandRegistry | None = None
) -> list[str]:
    """Import the plugin file ``path``; returns the names of the commands it registered.

    Raises :class:`PluginError` (one line) when the file cannot be imported.
    """
    global _third_party_loaded
    registry = registry if registry is not None else api.registry
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise PluginError(f"{path}: No such file")
    _third_party_loaded = True
    import hashlib

    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    modname = f"pycrash_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    before = {word: cls for word, cls in registry._by_name.items()}
    sys.modules[modname] = module
    with _origin(f"plugin {path}", registry):
        try:
            spec.loader.exec_module(module)
        except Exception as err:  # noqa: BLE001
            sys.modules.pop(modname, None)
            raise PluginError(f"{path}: {_describe(err)}") from None
    return sorted(
        cls.name for word, cls in registry._by_name.items()
        if word == cls.name and before.get(word) is not cls
    )


def plugin_dirs() -> list[Path]:
    """The plugin directories, in loading order."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    dirs = [config / "pycrash" / "plugins"]
    dirs += [Path(p) for p in os.environ.get("PYCRASH_PLUGIN_PATH", "").split(os.pathsep) if p]
    return dirs


def load_directories(registry: api.CommandRegistry | None = None, report: Report = _stderr) -> int:
    """Load every ``*.py`` of the plugin directories; returns how many failed."""
    failed = 0
    for directory in plugin_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                load_file(path, registry)
            except PluginError as err:
                failed += 1
                report(f"plugin {err}")
    return failed


def _entry_point_names(text: str, group: str) -> list[str]:
    """The entry-point names of section ``[group]`` of an ``entry_points.txt`` (INI-style:
    ``name = module:attr`` lines; blank lines and ``#``/``;`` comments ignored)."""
    names: list[str] = []
    inside = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
        elif inside:
            names.append(line.partition("=")[0].strip())
    return names


def declared_entry_points(group: str) -> list[str] | None:
    """Names of the ``group`` entry points the distributions on ``sys.path`` declare, read
    from their ``*.dist-info``/``*.egg-info`` ``entry_points.txt`` without importing
    ``importlib.metadata`` (that import alone costs about 0.1 s of every start).

    It is a superset of what ``importlib.metadata.entry_points(group=group)`` returns (that
    drops all but the first copy of a distribution found twice); None when it cannot tell:
    a zip file or ``.egg`` on the path, or an import hook that supplies distributions of its
    own: then ask importlib.metadata.
    """
    from importlib.machinery import PathFinder

    for finder in sys.meta_path:
        if hasattr(finder, "find_distributions") and finder is not PathFinder:
            return None
    names: list[str] = []
    for entry in sys.path:
        directory = entry or "."
        if not os.path.isdir(directory):
            if os.path.exists(directory):
                return None  # a zip file: importlib.metadata reads those too
            continue
        try:
            children = os.listdir(directory)
        except OSError:
            continue
        for child in children:
            low = child.lower()
            if low.endswith(".egg"):
                return None
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(directory, child, "entry_points.txt"),
                          encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue  # no entry points (or an .egg-info file, which has none)
            names += _entry_point_names(text, group)
    return names


def load_entry_points(registry: api.CommandRegistry | None = None, report: Report = _stderr) -> int:
    """Load the ``pycrash.commands`` entry points; returns how many failed.

    An entry point may name a module (its ``@register`` classes count) or a Command class
    (registered if it was not already).
    """
    registry = registry if registry is not None else api.registry
    failed = 0
    if declared_entry_points(ENTRY_POINT_GROUP) == []:
        return failed
    import importlib.metadata

    global _third_party_loaded
    _third_party_loaded = True
    entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for ep in sorted(entry_points, key=lambda e: e.name):
        origin = f"entry point {ep.name} ({ep.value})"
        with _origin(origin, registry):
            try:
                obj = ep.load()
                if inspect.isclass(obj) and issubclass(obj, api.Command):
                    if registry.get(obj.name) is not obj:
                        registry.add(obj, origin)
                elif inspect.ismodule(obj):
                    _reregister(obj, registry, origin)
            except Exception as err:  # noqa: BLE001
                failed += 1
                report(f"plugin entry point {ep.name}: {_describe(err)}")
    return failed


def load_all(registry: api.CommandRegistry | None = None, report: Report = _stderr) -> int:
    """Built-ins, then plugin directories, then entry points; returns how many failed."""
    return (
        load_builtins(registry, report)
        + load_directories(registry, report)
        + load_entry_points(registry, report)
    )
