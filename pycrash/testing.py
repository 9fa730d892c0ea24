"""Test fixtures for pycrash's committed sample dumps (sample-dumps/).

Pure standard library. Compressed artifacts (``*.xz``) are decompressed once into a
cache directory outside the repository and reused afterwards:

* ``$PYCRASH_SAMPLE_CACHE`` if set, else ``~/.cache/pycrash/samples``;
* each file lands in ``<cache>/<sha256>/<name>``, where ``<sha256>`` is the hash of the
  ``.xz`` file (vmlinux, System.map) or of the decompressed dump (as the manifest records
  it), so a regenerated sample set never reuses stale files;
* writes go to a temporary file in the same directory followed by ``os.replace``, so
  parallel test processes are safe.

``$PYCRASH_SAMPLE_ROOT`` overrides the location of ``sample-dumps/``.

API::

    sample_root() -> Path
    vmlinux_path() -> Path                      # decompressed vmlinux (no .rela* sections)
    system_map_path() -> Path                   # decompressed System.map
    module_path() -> Path                       # pycrash_test.ko (with debuginfo)
    kernel_config_path() -> Path                # the kernel .config
    scenarios() -> list[str]                    # e.g. ["la57", "live", "oops", "sysrq"]
    manifest(scenario) -> dict                  # sample-dumps/<scenario>/manifest.json
    dump_names(scenario) -> list[str]           # e.g. ["zlib31", "lzo31", ...]
    dump_info(scenario, name) -> dict           # that dump's manifest entry
    dump_paths(scenario, name) -> list[Path]    # one path, or several for split dumps
    crash_commands(scenario, dumpname, module_loaded=None) -> list[str]
    crash_output(scenario, dumpname, cmdline, module_loaded=False) -> str
    crash_record(scenario, dumpname, cmdline, module_loaded=False) -> dict

Recorded command lines are unique per (command line, module_loaded): lines recorded in the
session that first ran ``mod -s pycrash_test pycrash_test.ko`` (index "mode" ==
"mod-session") are selected with ``module_loaded=True``; some lines exist both ways
(e.g. ``bt -l <pid>`` with and without the module's debuginfo).
"""

from __future__ import annotations

import functools
import hashlib
import json
import lzma
import os
import tempfile
from pathlib import Path

__all__ = [
    "sample_root", "cache_dir", "vmlinux_path", "system_map_path", "module_path",
    "kernel_config_path", "scenarios", "manifest", "dump_names", "dump_info", "dump_paths",
    "crash_commands", "crash_output", "crash_record", "crash_index", "primary_dump",
    "primary_crash_output",
]


def sample_root() -> Path:
    """The committed ``sample-dumps/`` directory."""
    env = os.environ.get("PYCRASH_SAMPLE_ROOT")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "sample-dumps"


def cache_dir() -> Path:
    """Where decompressed samples are kept (outside the repository)."""
    env = os.environ.get("PYCRASH_SAMPLE_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "pycrash" / "samples"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.cache
def _xz_sha256(path: Path) -> str:
    return _sha256_file(path)


def _decompress(src: Path, key: str, name: str, size: int | None = None) -> Path:
    """Decompress ``src`` (xz) to ``<cache>/<key>/<name>`` once, atomically."""
    dest = cache_dir() / key / name
    if dest.exists() and (size is None or dest.stat().st_size == size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, lzma.open(src, "rb") as inp:
            while True:
                chunk = inp.read(1 << 22)
                if not chunk:
                    break
                out.write(chunk)
        if size is not None and os.path.getsize(tmp) != size:
            raise RuntimeError(f"{src}: decompressed to {os.path.getsize(tmp)} bytes, "
                               f"expected {size}")
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return dest


@functools.cache
def _cached_xz(relpath: str) -> Path:
    src = sample_root() / relpath
    name = Path(relpath).name[:-3]
    return _decompress(src, _xz_sha256(src), name)


def vmlinux_path() -> Path:
    """Path of the decompressed sample vmlinux (ELF with DWARF, ``.rela*`` removed)."""
    return _cached_xz("build/vmlinux.xz")


def system_map_path() -> Path:
    """Path of the decompressed System.map of the sample kernel."""
    return _cached_xz("build/System.map.xz")


def module_path() -> Path:
    """Path of ``pycrash_test.ko`` (the test module, with debuginfo)."""
    return sample_root() / "build" / "pycrash_test.ko"


def kernel_config_path() -> Path:
    """Path of the sample kernel's ``.config``."""
    return sample_root() / "build" / "config"


def scenarios() -> list[str]:
    """Names of the scenarios that have a manifest."""
    root = sample_root()
    return sorted(p.parent.name for p in root.glob("*/manifest.json"))


@functools.cache
def _manifest(scenario: str) -> dict:
    path = sample_root() / scenario / "manifest.json"
    if not path.exists():
        raise KeyError(f"no sample scenario {scenario!r} (have {scenarios()})")
    return json.loads(path.read_text())


def manifest(scenario: str) -> dict:
    """The parsed ``sample-dumps/<scenario>/manifest.json`` (shared; do not modify)."""
    return _manifest(scenario)


def dump_names(scenario: str) -> list[str]:
    """Names of the dumps of a scenario, in manifest order."""
    return [d["name"] for d in manifest(scenario)["dumps"]]


def dump_info(scenario: str, name: str) -> dict:
    """The manifest entry of one dump."""
    for d in manifest(scenario)["dumps"]:
        if d["name"] == name:
            return d
    raise KeyError(f"{scenario}: no dump {name!r} (have {dump_names(scenario)})")


@functools.cache
def _dump_paths(scenario: str, name: str) -> tuple[Path, ...]:
    paths = []
    for f in dump_info(scenario, name)["files"]:
        src = sample_root() / scenario / f["file"]
        if f["xz"]:
            paths.append(_decompress(src, f["sha256"], f["file"][:-3], f["size"]))
        else:
            paths.append(src)
    return tuple(paths)


def dump_paths(scenario: str, name: str) -> list[Path]:
    """Paths of a dump's file(s), decompressed if committed xz'd (split dumps: several)."""
    return list(_dump_paths(scenario, name))


@functools.cache
def _crash_index(scenario: str, dumpname: str) -> dict:
    path = sample_root() / scenario / "crash" / dumpname / "index.json"
    if not path.exists():
        raise KeyError(f"no crash recordings for {scenario}/{dumpname}")
    return json.loads(path.read_text())


def crash_index(scenario: str, dumpname: str) -> dict:
    """The parsed ``<scenario>/crash/<dumpname>/index.json``."""
    return _crash_index(scenario, dumpname)


def _module_loaded(entry: dict) -> bool:
    return entry.get("mode") == "mod-session"


def crash_commands(scenario: str, dumpname: str, module_loaded: bool | None = None) -> list[str]:
    """The exact (filled-in) command lines recorded for a dump, in recording order.

    ``module_loaded``: None = all lines; True/False = only those recorded with/without
    ``mod -s pycrash_test pycrash_test.ko`` run first in the same crash session.
    """
    return [c["command"] for c in crash_index(scenario, dumpname)["commands"]
            if module_loaded is None or _module_loaded(c) == module_loaded]


def crash_record(scenario: str, dumpname: str, cmdline: str,
                 module_loaded: bool = False) -> dict:
    """The index entry of one recorded command line."""
    for c in crash_index(scenario, dumpname)["commands"]:
        if c["command"] == cmdline and _module_loaded(c) == module_loaded:
            return c
    raise KeyError(f"{scenario}/{dumpname}: command {cmdline!r} was not recorded"
                   + (" after mod -s" if module_loaded else ""))


def crash_output(scenario: str, dumpname: str, cmdline: str,
                 module_loaded: bool = False) -> str:
    """crash 8.0.6's verbatim output (stdout + stderr) for a recorded command line."""
    rec = crash_record(scenario, dumpname, cmdline, module_loaded)
    path = sample_root() / scenario / "crash" / dumpname / rec["file"]
    return path.read_text(encoding="utf-8", errors="surrogateescape")


def primary_dump(scenario: str) -> str:
    """The name of the scenario's primary dump (the one with the full crash recording)."""
    return next(d["name"] for d in manifest(scenario)["dumps"] if d.get("primary"))


def primary_crash_output(scenario: str, cmdline: str, module_loaded: bool = False) -> str:
    """crash's output for ``cmdline`` on the scenario's primary dump; KeyError if the line was
    not recorded there (a test built on a recording fails rather than skips without it)."""
    return crash_output(scenario, primary_dump(scenario), cmdline, module_loaded)
