"""Long mutation-fuzzing campaign over the core's parsers and those of debug files and caches.

    python bench/fuzz_campaign.py [--inputs N | --seconds S] [--targets kdump,flat,...]
                                  [--seed SEED] [--memory-mb MB]

Each input is a handful of mutations (bit flips, random bytes, boundary integers, zeroed
runs, truncation) of the metadata regions of a real sample dump: the kdump header,
sub-header, notes, VMCOREINFO, bitmaps and page descriptors; the ELF header, program
headers and notes; the flattened header and record headers. The targets are those of
``tests/robustness/damage_fuzz.py`` plus the raw-bytes parsers (notes, VMCOREINFO text,
prstatus). A failure is any exception other than DumpFormatError/FaultError; each distinct
one (type + raising line) is printed once with the input that reproduces it.

The debug-file targets (``tests/robustness/debuginfo_fuzz.py``) mutate the sample module
(``dwarf-module``, ``elf-module``), a zlib-compressed copy of it (``elf-compressed``) and the
first units of the sample vmlinux's DWARF (``dwarf-vmlinux``) the same way, plus LEB128 runs
that never end, and run the DWARF walk or the ELF section reader on the file: DwarfError and
ElfFormatError (one line) are fine.  ``symtab-cache`` and ``typenames-cache`` mutate cache
files the code wrote: reading one back must give what was written or nothing.  The process's
address space is limited to ``--memory-mb`` (a MemoryError is a failure: a garbled length
allocated it).
"""

from __future__ import annotations

import argparse
import random
import resource
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "robustness"))

import damage_fuzz  # noqa: E402
import debuginfo_fuzz  # noqa: E402
from damage import PatchedBytes  # noqa: E402

SLOW_SECONDS = 2.0  # an input slower than this counts as a failure (a near-hang)
HANG_SECONDS = 20.0  # an input still running after this is stopped (a hang)

RAW_TARGETS = {
    "notes": damage_fuzz.notes_target,
    "vmcoreinfo": damage_fuzz.vmcoreinfo_target,
    "prstatus": damage_fuzz.prstatus_target,
}
FILE_TARGETS = debuginfo_fuzz.TARGETS
CACHE_TARGETS = {"symtab-cache", "typenames-cache"}
ALL_TARGETS = ("kdump,split,flat,elf,full,notes,vmcoreinfo,prstatus,"
               + ",".join(FILE_TARGETS) + "," + ",".join(sorted(CACHE_TARGETS)))


def _raw_seed(target: str, kdump: bytes) -> bytes:
    """A real input for the raw parsers: the kdump's note area (notes, prstatus) or its
    VMCOREINFO text."""
    import struct

    lay = damage_fuzz.kdump_layout(kdump)
    off_vmci, size_vmci, off_note, size_note = struct.unpack_from("<qQqQ", kdump,
                                                                  lay.sub_header + 32)
    if target == "vmcoreinfo":
        return kdump[off_vmci:off_vmci + size_vmci]
    notes = kdump[off_note:off_note + size_note]
    if target == "prstatus":
        from pycrash.core.notes import parse_notes

        return parse_notes(notes)[0].desc
    return notes


def _mutate_raw(seed: bytes, rng: random.Random) -> bytes:
    buf = bytearray(seed)
    for _ in range(rng.choice((1, 2, 4, 8))):
        kind = rng.randrange(5)
        pos = rng.randrange(len(buf) + 1)
        if kind == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 1:
            buf[pos:pos + 4] = rng.randbytes(4)
        elif kind == 2:
            buf[pos:pos + 4] = rng.choice((0, 0xFFFFFFFF, 0x7FFFFFFF, 12, 4096)).to_bytes(4,
                                                                                        "little")
        elif kind == 3:
            del buf[pos:pos + rng.randrange(1, 64)]
        else:
            buf[pos:pos] = rng.choice((b"=", b"\n", b"\0", b"SYMBOL(x)=", b"0x", b"\xff"))
    return bytes(buf)


def _file_input(mut: damage_fuzz.Mutator, rng: random.Random) -> tuple[bytes, str]:
    """A mutated debug file: the Mutator's patches, sometimes a LEB128 run that never ends."""
    patches, size = mut.patches()
    if rng.random() < 0.2:
        lo, hi = rng.choice(mut.regions)
        patches[rng.randrange(lo, hi)] = rng.choice((b"\x80", b"\xff")) * rng.choice(
            (2, 16, 4096))
    data = debuginfo_fuzz.patched(mut.base, patches, size)
    shown = {k: f"{v[:1]!r} * {len(v)}" if len(v) > 16 and len(set(v)) == 1 else repr(v)
             for k, v in patches.items()}
    repro = f"patches={shown} size={size}"
    return data, repro


def _cache_run(name: str, data: bytes, directory: str) -> BaseException | None:
    if name == "symtab-cache":
        return debuginfo_fuzz.symtab_cache_target(data)
    return debuginfo_fuzz.typenames_cache_target(data, directory)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=0, help="stop after N inputs in all")
    ap.add_argument("--seconds", type=float, default=60.0, help="stop after S seconds")
    ap.add_argument("--targets", default=ALL_TARGETS)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--memory-mb", type=int, default=2048,
                    help="address-space limit of the process (0: none)")
    args = ap.parse_args()
    if args.memory_mb:
        limit = args.memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    scratch = tempfile.TemporaryDirectory(prefix="pycrash-fuzz-")

    def hang(signum: int, frame: object) -> None:
        raise TimeoutError(f"one input ran for {HANG_SECONDS:.0f} s")

    signal.signal(signal.SIGALRM, hang)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    targets = args.targets.split(",")
    kdump = damage_fuzz.sample_for("kdump")
    mutators: dict[str, object] = {}
    for name in targets:
        if name in RAW_TARGETS:
            mutators[name] = _raw_seed(name, kdump)
        elif name in FILE_TARGETS:
            sample = FILE_TARGETS[name][0]()
            if sample is None:
                print(f"skipping {name}: no objcopy", flush=True)
                continue
            mutators[name] = damage_fuzz.Mutator(sample.data, sample.regions, rng)
        elif name == "symtab-cache":
            mutators[name] = debuginfo_fuzz.symtab_cache_sample()[0]
        elif name == "typenames-cache":
            mutators[name] = debuginfo_fuzz.typenames_cache_sample()[0]
        else:
            base = damage_fuzz.sample_for(name)
            mutators[name] = damage_fuzz.Mutator(base, damage_fuzz.TARGETS[name][1](base), rng)
    targets = [name for name in targets if name in mutators]
    print(f"fuzz campaign: seed {seed}, targets {', '.join(targets)}", flush=True)
    counts = dict.fromkeys(targets, 0)
    failures: dict[tuple[str, str, str, int], int] = {}
    start = time.monotonic()
    last_report = start
    total = 0
    while True:
        now = time.monotonic()
        if args.inputs and total >= args.inputs:
            break
        if not args.inputs and now - start >= args.seconds:
            break
        name = targets[total % len(targets)]
        total += 1
        counts[name] += 1
        t0 = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
        if name in FILE_TARGETS:
            data, repro = _file_input(mutators[name], rng)  # type: ignore[arg-type]
            exc = debuginfo_fuzz.run_file_target(name, data, scratch.name)
        elif name in CACHE_TARGETS:
            data = _mutate_raw(mutators[name], rng)  # type: ignore[arg-type]
            exc = _cache_run(name, data, scratch.name)
            repro = f"data={data[:64]!r}... ({len(data)} bytes)"
        elif name in RAW_TARGETS:
            data = _mutate_raw(mutators[name], rng)  # type: ignore[arg-type]
            try:
                RAW_TARGETS[name](data)
                exc = None
            except damage_fuzz.TYPED:
                exc = None
            except Exception as err:  # noqa: BLE001
                exc = err
            repro = f"data={data[:64]!r}..."
        else:
            mut = mutators[name]
            patches, size = mut.patches()  # type: ignore[attr-defined]
            src = PatchedBytes(mut.base, patches, size=size)  # type: ignore[attr-defined]
            exc = damage_fuzz.run_target(name, src)
            repro = f"patches={patches!r} size={size}"
        signal.setitimer(signal.ITIMER_REAL, 0)
        took = time.monotonic() - t0
        if exc is None and took > SLOW_SECONDS:
            exc = TimeoutError(f"one input took {took:.1f} s")
        if exc is not None:
            tb = traceback.extract_tb(exc.__traceback__)
            where = (tb[-1].filename, tb[-1].lineno or 0) if tb else ("(slow)", 0)
            key = (name, type(exc).__name__, *where)
            if key not in failures:
                print(f"FAILURE {name}: {type(exc).__name__}: {exc} at "
                      f"{where[0]}:{where[1]}\n    {repro}", flush=True)
            failures[key] = failures.get(key, 0) + 1
        if now - last_report >= 30:
            last_report = now
            print(f"  {total} inputs, {sum(failures.values())} failures "
                  f"({len(failures)} distinct), {total / (now - start):.0f}/s", flush=True)
    elapsed = time.monotonic() - start
    per = ", ".join(f"{k} {v}" for k, v in counts.items())
    print(f"inputs run: {total} in {elapsed:.0f} s ({per})")
    print(f"failures found: {sum(failures.values())} ({len(failures)} distinct)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
