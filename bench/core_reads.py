"""Benchmark pycrash's memory-access core against drgn 0.3.0 reading the same dumps.

For every sample dump (``sample-dumps/<scenario>``) this prints:

* sequential physical reads: every run of present pages read in chunks of up to
  ``--chunk`` bytes (≥ 4 KiB), MB/s, pycrash vs drgn (``prog.read(addr, n, True)``);
* random 8-byte kernel-virtual reads per second over a working set of direct-map and
  kernel-text addresses small enough to stay cached (after one warm-up pass), pycrash
  vs drgn on the same addresses; plus pycrash's uncached rate on a fresh Dump.

Not a test: run ``python bench/core_reads.py [--scenario S] [--dump NAME]``.

Measured 2026-11-23 on the project machine (2 CPUs, shared: load average ~7; CPU-time
clock), sample dumps of a 128 MiB 6.1 guest, 200,000 random reads over 2,048+256 pages:

=================  ===========================  =================================
dump               seq MB/s pycrash/drgn (x)    random 8 B reads/s pycrash/drgn (x)
=================  ===========================  =================================
sysrq/zlib31       215 / 209 (1.03)             762,278 / 61,398 (12.4)
sysrq/lzo31        611 / 443 (1.38)             855,938 / 107,964 (7.9)
sysrq/zstd31       401 / 271 (1.48)             722,965 / 78,299 (9.2)
sysrq/plain31      1272 / 683 (1.86)            910,210 / 134,427 (6.8)
sysrq/flat31       209 / 201 (1.04)             769,911 / 64,487 (11.9)
sysrq/split31      216 / - (drgn: one file)     786,153 / -
sysrq/elf31        5903 / 6346 (0.93)           761,758 / 788,994 (0.97)
sysrq/full         6429 / 6086 (1.06)           761,085 / 777,451 (0.98)
sysrq/zlib0        243 / 222 (1.09)             757,573 / 61,796 (12.3)
oops/zlib31        184 / 196 (0.94)             762,662 / 59,152 (12.9)
oops/elf31         5323 / 5902 (0.90)           768,993 / 764,021 (1.01)
la57/zlib31        200 / 199 (1.00)             749,843 / 58,787 (12.8)
live/qemu-elf      7672 / 9626 (0.80)           740,157 / 302,055 (2.5)
live/qemu-zlib     474 / - (drgn can't open)    720,922 / -
=================  ===========================  =================================

Uncached random reads (fresh Dump): 315,000-545,000/s. On live/qemu-elf drgn faults on
~9% of the addresses: direct-map addresses of non-RAM ranges QEMU dumps (BIOS/ROM), which
pycrash, like crash, translates arithmetically.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pycrash import testing  # noqa: E402
from pycrash.core import open_dump  # noqa: E402

PAGE = 4096
# Process CPU time by default: the machine is shared (other jobs skew wall time), and the
# reads are single-threaded, so CPU seconds measure what a read costs. --clock wall too.
clock = time.process_time


def present_runs(dump, max_bytes: int) -> list[tuple[int, int]]:
    """Page-aligned runs [start, end) of present pages, up to ``max_bytes`` in total."""
    runs: list[tuple[int, int]] = []
    total = 0
    for start, end in dump.present_ranges():
        start, end = -(-start // PAGE) * PAGE, end // PAGE * PAGE
        if end > start:
            runs.append((start, end))
            total += end - start
            if total >= max_bytes:
                break
    return runs


def chunks(runs: list[tuple[int, int]], chunk: int) -> list[tuple[int, int]]:
    out = []
    for start, end in runs:
        pos = start
        while pos < end:
            n = min(chunk, end - pos)
            out.append((pos, n))
            pos += n
    return out


def time_seq(open_fn, work, repeat: int) -> float:
    """Best MB/s over ``repeat`` passes, each on a freshly opened reader (cold caches)."""
    best = 0.0
    for _ in range(repeat):
        reader = open_fn()
        t0 = clock()
        nbytes = 0
        for addr, n in work:
            nbytes += len(reader(addr, n, True))
        best = max(best, nbytes / (clock() - t0) / 1e6)
    return best


def drgn_program(paths: list[Path]):
    if len(paths) != 1:
        return None, "split set: drgn opens one file"
    try:
        import drgn
    except ImportError:
        return None, "drgn not installed"
    prog = drgn.Program()
    try:
        prog.set_core_dump(str(paths[0]))
    except Exception as exc:  # noqa: BLE001 - report and go on
        return None, f"drgn cannot open: {exc}"
    return prog, ""


def virtual_addresses(dump, n: int, working_pages: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    pob = dump.layout.page_offset_base
    present = [pfn for start, end in present_runs(dump, 1 << 62)
               for pfn in range(start // PAGE, end // PAGE)]
    rng.shuffle(present)
    pages = [pob + pfn * PAGE for pfn in present[:working_pages]]
    sym = dump.vmcoreinfo.symbol("_stext")
    if sym:
        pages += [sym + i * PAGE for i in range(min(256, working_pages // 8))]
    return [rng.choice(pages) + rng.randrange(0, PAGE // 8) * 8 for _ in range(n)]


def bench_dump(scenario: str, name: str, args) -> dict[str, object]:
    paths = testing.dump_paths(scenario, name)
    row: dict[str, object] = {"dump": f"{scenario}/{name}"}
    dump = open_dump(paths)
    runs = present_runs(dump, args.max_mb << 20)
    work = chunks(runs, args.chunk)
    dump.close()

    row["py_seq_MBps"] = time_seq(lambda: open_dump(paths).read, work, args.repeat)
    dump = open_dump(paths)
    addrs = virtual_addresses(dump, args.reads, args.working_pages, args.seed)
    fresh = open_dump(paths)
    t0 = clock()
    for a in addrs[: args.reads // 4]:
        fresh.read(a, 8)
    row["py_rand_uncached_per_s"] = (args.reads // 4) / (clock() - t0)
    fresh.close()
    read = dump.read
    for a in addrs:  # warm the caches
        read(a, 8)
    t0 = clock()
    for a in addrs:
        read(a, 8)
    row["py_rand_per_s"] = len(addrs) / (clock() - t0)
    dump.close()

    prog, why = drgn_program(paths)
    if prog is None:
        row["note"] = why
        return row
    row["drgn_seq_MBps"] = time_seq(lambda: drgn_program(paths)[0].read, work, args.repeat)
    dread = prog.read
    ok = []
    for a in addrs:  # warm-up; keep only the addresses drgn can read too
        try:
            dread(a, 8)
            ok.append(a)
        except Exception:  # noqa: BLE001 - drgn.FaultError
            pass
    if len(ok) < len(addrs):
        row["note"] = f"drgn faulted on {len(addrs) - len(ok)} of {len(addrs)} addresses"
        addrs = ok
    t0 = clock()
    for a in addrs:
        dread(a, 8)
    row["drgn_rand_per_s"] = len(addrs) / (clock() - t0)
    row["seq_ratio"] = row["py_seq_MBps"] / row["drgn_seq_MBps"]
    row["rand_ratio"] = row["py_rand_per_s"] / row["drgn_rand_per_s"]
    # Same bytes? (a benchmark that reads wrong data would be meaningless)
    for addr, n in work[:: max(1, len(work) // 50)]:
        with open_dump(paths) as d:
            assert d.read(addr, n, physical=True) == prog.read(addr, n, True), hex(addr)
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", action="append")
    p.add_argument("--dump", action="append")
    p.add_argument("--chunk", type=int, default=1 << 20, help="sequential read size")
    p.add_argument("--max-mb", type=int, default=512, help="cap on sequential bytes")
    p.add_argument("--reads", type=int, default=200_000)
    p.add_argument("--working-pages", type=int, default=2048)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3, help="sequential passes (best kept)")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="time by process CPU time (default) or wall clock")
    args = p.parse_args()
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    rows = []
    for scenario in args.scenario or testing.scenarios():
        for name in testing.dump_names(scenario):
            if args.dump and name not in args.dump:
                continue
            row = bench_dump(scenario, name, args)
            rows.append(row)
            print(format_row(row), flush=True)
    print()
    print(markdown(rows))
    try:
        print(f"\n(clock: {args.clock}; load average while measuring: "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    except OSError:
        pass
    return 0


def markdown(rows: list[dict[str, object]]) -> str:
    def f(row: dict[str, object], key: str, fmt: str) -> str:
        v = row.get(key)
        return format(v, fmt) if isinstance(v, float) else "-"

    out = ["| dump | seq MB/s pycrash | seq MB/s drgn | ratio | rand 8 B/s pycrash (cached) "
           "| uncached | rand 8 B/s drgn | ratio |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['dump']} | {f(r, 'py_seq_MBps', '.0f')} | "
                   f"{f(r, 'drgn_seq_MBps', '.0f')} | {f(r, 'seq_ratio', '.2f')} | "
                   f"{f(r, 'py_rand_per_s', ',.0f')} | {f(r, 'py_rand_uncached_per_s', ',.0f')} "
                   f"| {f(r, 'drgn_rand_per_s', ',.0f')} | {f(r, 'rand_ratio', '.2f')} |")
    return "\n".join(out)


def format_row(row: dict[str, object]) -> str:
    def f(key: str, fmt: str) -> str:
        v = row.get(key)
        return format(v, fmt) if isinstance(v, float) else "-"

    return (f"{row['dump']:<22} seq MB/s pycrash {f('py_seq_MBps', '8.1f')} drgn "
            f"{f('drgn_seq_MBps', '8.1f')} ratio {f('seq_ratio', '5.2f')} | "
            f"rand 8B/s pycrash {f('py_rand_per_s', '9.0f')} (uncached "
            f"{f('py_rand_uncached_per_s', '8.0f')}) drgn {f('drgn_rand_per_s', '9.0f')} "
            f"ratio {f('rand_ratio', '5.2f')} {row.get('note', '')}")


if __name__ == "__main__":
    sys.exit(main())
