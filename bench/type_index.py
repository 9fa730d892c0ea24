"""Cost of the type index behind ``whatis -r``/``-m`` (pycrash/dwarf/).

Times, in one process, on the sample vmlinux (or ``--file``): the top-level DWARF walk that lists
every named type (paid by the first ``whatis -r``/``-m`` of a process), then the member-type
names of every struct and union (paid by the first ``-m``), as wall-clock and CPU seconds, and
the peak resident memory after both.

Not a test: ``python bench/type_index.py [--file ELF] [--runs N]``.

Measured 2026-11-23 on the project machine (2 shared CPUs, load average ~2.5), sample 6.1
vmlinux (41 MB .debug_info, 1,000 units, 3,491 distinct named types): walk 2.2 s wall / 2.2 s
CPU; member names of 2,394 structs and unions 0.9 s; peak RSS 128 MB (drgn not loaded).
crash 8.0.6 on the same dump: ``whatis -r 3000-9000`` as the first command takes about 9 s
(gdb expands every symtab) on top of its 4 s start.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pycrash import testing  # noqa: E402
from pycrash.dwarf import TypeTable  # noqa: E402


def _timed(action):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", help="ELF file with DWARF (default: the sample vmlinux)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
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
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
