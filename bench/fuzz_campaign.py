"""Long mutation-fuzzing campaign over the core's parsers.

    python bench/fuzz_campaign.py [--inputs N | --seconds S] [--targets kdump,flat,...]
                                  [--seed SEED]

Each input is a handful of mutations (bit flips, random bytes, boundary integers, zeroed
runs, truncation) of the metadata regions of a real sample dump: the kdump header,
sub-header, notes, VMCOREINFO, bitmaps and page descriptors; the ELF header, program
headers and notes; the flattened header and record headers. The targets are those of
``tests/robustness/damage_fuzz.py`` plus the raw-bytes parsers (notes, VMCOREINFO text,
prstatus). A failure is any exception other than DumpFormatError/FaultError; each distinct
one (type + raising line) is printed once with the input that reproduces it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "robustness"))

import damage_fuzz  # noqa: E402
from damage import PatchedBytes  # noqa: E402

SLOW_SECONDS = 2.0  # an input slower than this counts as a failure (a near-hang)

RAW_TARGETS = {
    "notes": damage_fuzz.notes_target,
    "vmcoreinfo": damage_fuzz.vmcoreinfo_target,
    "prstatus": damage_fuzz.prstatus_target,
}


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=0, help="stop after N inputs in all")
    ap.add_argument("--seconds", type=float, default=60.0, help="stop after S seconds")
    ap.add_argument("--targets", default="kdump,split,flat,elf,full,notes,vmcoreinfo,prstatus")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    targets = args.targets.split(",")
    kdump = damage_fuzz.sample_for("kdump")
    mutators: dict[str, object] = {}
    for name in targets:
        if name in RAW_TARGETS:
            mutators[name] = _raw_seed(name, kdump)
        else:
            base = damage_fuzz.sample_for(name)
            mutators[name] = damage_fuzz.Mutator(base, damage_fuzz.TARGETS[name][1](base), rng)
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
        if name in RAW_TARGETS:
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
