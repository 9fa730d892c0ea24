"""Cost of the type index behind ``whatis -r``/``-m`` (pycrash/dwarf/).

Times, in one process, on the sample vmlinux (or ``--file``): the top-level DWARF walk that lists
every named type (paid by the first ``whatis -r``/``-m`` of a process), then the member-type
names of every struct and union (paid by the first ``-m``), as wall-clock and CPU seconds, and
the peak resident memory after both.

``--completion`` times instead what the shell's type-name completion pays on the sample dump
(pycrash/shell/typenames.py): the first full list of names with an empty cache (the walk of
the vmlinux and module), then the same list read from the cache, and the peak resident memory
of the process with drgn's own type index built (as after any command that used a type).

Not a test: ``python bench/type_index.py [--file ELF] [--runs N] [--completion]``.

Measured 2026-11-23 on the project machine (2 shared CPUs, load average ~1.5), sample 6.1
vmlinux (41 MB .debug_info, 1,000 units, 3,491 distinct named types): walk 2.0 s wall / 2.0 s
CPU; member names of 2,394 structs and unions 0.9 s; peak RSS 90 MB (drgn not loaded; 128 MB
before each unit's type DIEs were folded as the walk goes).  ``--completion``: 3,424 names in
2.2 s wall / 2.0 s CPU with an empty cache, 0.01 s from the cache; peak RSS 185 MB with the
session and drgn loaded (102 MB before the walk).
crash 8.0.6 on the same dump: ``whatis -r 3000-9000`` as the first command takes about 9 s
(gdb expands every symtab) on top of its 4 s start.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pycrash import testing  # noqa: E402
from pycrash.dwarf import TypeTable  # noqa: E402


def _timed(action):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def completion(runs: int) -> None:
    """The shell's full list of type names: built (empty cache), then from the cache."""
    from pycrash.kernel import typeindex
    from pycrash.session import open_session
    from pycrash.shell import typenames
    from pycrash.shell.completer import _debug_files

    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        session = open_session(testing.dump_paths("sysrq", "zlib31"), testing.vmlinux_path())
        prog = session.prog
        prog.type("struct task_struct")  # drgn indexes the DWARF at its first lookup
        print(f"peak RSS with drgn's index: {_peak_rss_mb()} MB")
        files = _debug_files(prog, session)
        built, cached = [], []
        count = 0
        for _ in range(runs):
            for path in os.listdir(cache + "/pycrash") if os.path.isdir(cache + "/pycrash") else ():
                os.unlink(os.path.join(cache, "pycrash", path))
            for memo in (typenames._FILES, typeindex._files):
                memo.clear()
            full, wall, cpu = _timed(
                lambda: typenames.TypeNameIndex(prog, files).full_list(wait=600))
            built.append((wall, cpu))
            typenames._FILES.clear()
            full, wall, cpu = _timed(
                lambda: typenames.TypeNameIndex(prog, files).full_list(wait=600))
            cached.append((wall, cpu))
            count = len(full or ())
        print(f"{', '.join(files)}: {count} type names")
        for label, timings in (("no cache", built), ("from cache", cached)):
            wall = statistics.median(w for w, _ in timings)
            cpu = statistics.median(c for _, c in timings)
            print(f"{label:>12}: {wall:.2f} s wall, {cpu:.2f} s CPU (median of {runs})")
        print(f"peak RSS: {_peak_rss_mb()} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", help="ELF file with DWARF (default: the sample vmlinux)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--completion", action="store_true",
                        help="time the shell's type-name list on the sample dump")
    args = parser.parse_args()
    if args.completion:
        completion(args.runs)
        return
    path = args.file or str(testing.vmlinux_path())
    walks, members = [], []
    table = None
    for _ in range(args.runs):
        table, wall, cpu = _timed(lambda: TypeTable(path))
        walks.append((wall, cpu))
        first = next(t for t in table.types if t.kind in ("struct", "union"))
        _, wall, cpu = _timed(lambda t=table, f=first: t.member_type_names(f))
        members.append((wall, cpu))
    assert table is not None
    structs = sum(1 for t in table.types if t.kind in ("struct", "union"))
    print(f"{path}: {len(table.types)} named types, {structs} structs/unions")
    for label, runs in (("walk", walks), ("member names", members)):
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{label:>12}: {wall:.2f} s wall, {cpu:.2f} s CPU (median of {len(runs)})")
    print(f"peak RSS: {_peak_rss_mb()} MB")


if __name__ == "__main__":
    main()
