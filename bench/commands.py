"""End-to-end timings of whole commands: pycrash vs crash 8.0.6 vs drgn 0.3.0's crash mode.

For each command (``log``, ``sys``, ``bt``, ``ps``, ``foreach bt``) on one sample dump this runs,
N times each, as a fresh process every time, the tools taking turns run by run (so that the
load other work puts on the machine weighs on each alike):

* ``pycrash -s -c CMD DUMP VMLINUX``, with the ``pycrash`` script installed beside this
  Python (the venv's own; else ``python -m pycrash``);
* ``crash -s VMLINUX DUMP`` with CMD on stdin (the trixie crash 8.0.6 build the sample-dumps
  generator uses: ``$PYCRASH_CRASH``, else ``$PYCRASH_GEN_WORKDIR/trixie/crash``, else
  ``/work/kbuild/trixie/crash``, else ``crash`` on PATH; skipped with a note when absent);
* ``drgn-crash VMLINUX DUMP`` with CMD on stdin (drgn 0.3.0's console script for its crash
  compatibility mode, the one beside this Python first; it prints ``sys`` at start, which is
  part of its cost);

and prints the executables, whether Python writes bytecode (``PYTHONDONTWRITEBYTECODE``: unset
it to measure what users get), the load average, then the median wall-clock seconds (and CPU
seconds, user + system, which other work on the machine disturbs less) and the wall-clock
ratios pycrash/crash and pycrash/drgn.
A tool whose run fails (non-zero exit, or it lacks the command) shows "-".

Figures, not a test: ``python bench/commands.py [--runs N] [--scenario S] [--dump NAME]
[--commands "log;sys"] [--no-crash]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pycrash import testing  # noqa: E402

COMMANDS = ("log", "sys", "bt", "ps", "foreach bt")


def find_crash() -> str | None:
    """The crash 8.0.6 executable (or wrapper) to compare with, if any."""
    candidates = [os.environ.get("PYCRASH_CRASH")]
    workdir = os.environ.get("PYCRASH_GEN_WORKDIR", "/work/kbuild")
    candidates.append(str(Path(workdir) / "trixie" / "crash"))
    candidates.append(shutil.which("crash"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def beside_python(name: str) -> str | None:
    """The console script ``name`` installed with this Python (the venv's own), if any.

    ``sys.executable`` is not resolved: in a venv it is the venv's ``bin/python`` link."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if os.access(beside, os.X_OK) else None


def find_pycrash() -> list[str]:
    """The pycrash command to time: this environment's console script, as a user runs it."""
    script = beside_python("pycrash")
    return [script] if script else [sys.executable, "-m", "pycrash"]


def find_drgn_crash() -> str | None:
    """drgn 0.3.0's crash-mode script of this environment first, else the one on PATH."""
    return beside_python("drgn-crash") or shutil.which("drgn-crash")


def time_run(argv: Sequence[str], stdin: str | None) -> tuple[float, float, bool]:
    """Wall-clock and CPU (user + system) seconds of one run and whether it produced the
    command's output.

    crash reading commands from stdin exits with status 1 at end of input, so success is
    "printed something and did not say the command is unknown".
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    unknown = "command not found" in (proc.stdout + proc.stderr).lower()
    ok = bool(proc.stdout.strip()) and not unknown and (stdin is not None or
                                                       proc.returncode == 0)
    return elapsed, cpu, ok


Medians = dict[str, tuple[float, float] | None]


def medians_of(runs_of: dict[str, tuple[Sequence[str], str | None]], runs: int) -> Medians:
    """Median (wall-clock, CPU) seconds of each tool's run, the tools taking turns (pycrash,
    crash, drgn, pycrash, ...) so that a change in the machine's load weighs on all of them
    alike.  A tool with a failed run gets None."""
    times: dict[str, list[tuple[float, float]] | None] = {name: [] for name in runs_of}
    for _ in range(runs):
        for name, (argv, stdin) in runs_of.items():
            found = times[name]
            if found is None:
                continue
            elapsed, cpu, ok = time_run(argv, stdin)
            if ok:
                found.append((elapsed, cpu))
            else:
                times[name] = None
    return {name: (statistics.median(t[0] for t in found), statistics.median(t[1] for t in found))
            if found else None for name, found in times.items()}


def drgn_has(drgn_crash: str, vmlinux: str, dump: str, command: str) -> bool:
    """Whether drgn's crash mode knows the command's first word (from its ``help``)."""
    proc = subprocess.run([drgn_crash, vmlinux, dump], input="help\n", capture_output=True,
                          text=True, timeout=300)
    words = proc.stdout.split("Commands:", 1)[-1].split()
    return command.split()[0] in words


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", default="sysrq")
    parser.add_argument("--dump", default=None, help="sample dump name (default: primary)")
    parser.add_argument("--commands", default=";".join(COMMANDS))
    parser.add_argument("--no-crash", action="store_true",
                        help="skip crash 8.0.6 (about 4 s a run)")
    args = parser.parse_args()

    dumps = testing.manifest(args.scenario)["dumps"]
    dumpname = args.dump or next(d["name"] for d in dumps if d.get("primary"))
    paths = [str(p) for p in testing.dump_paths(args.scenario, dumpname)]
    vmlinux = str(testing.vmlinux_path())
    commands = [c.strip() for c in args.commands.split(";") if c.strip()]
    pycrash = find_pycrash()
    crash = find_crash()
    drgn_crash = find_drgn_crash()
    print(f"pycrash: {' '.join(pycrash)}")
    print(f"crash: {crash or '-'}")
    print(f"drgn-crash: {drgn_crash or '-'}")
    bytecode = "off (PYTHONDONTWRITEBYTECODE set)" if os.environ.get(
        "PYTHONDONTWRITEBYTECODE") else "on"
    print(f"bytecode caching: {bytecode}; load average: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    notes = []
    if crash is None:
        notes.append("crash 8.0.6 not installed: its column is skipped")
    elif args.no_crash:
        notes.append("--no-crash: crash's column is skipped")
    if drgn_crash is None:
        notes.append("drgn-crash not installed: its column is skipped")
    if len(paths) > 1:
        notes.append("split dump: crash and drgn-crash get its first file only")

    print(f"{args.scenario}/{dumpname}, median of {args.runs} runs, seconds: wall clock "
          "(CPU, user + system, in parentheses: less sensitive to other work on the machine)")
    header = f"{'command':<12} {'pycrash':>13} {'crash':>13} {'drgn':>13} {'py/crash':>9} " \
             f"{'py/drgn':>8}"
    print(header)
    print("-" * len(header))

    def cell(value: tuple[float, float] | None) -> str:
        return f"{value[0]:6.2f} ({value[1]:4.2f})" if value is not None else f"{'-':>13}"

    def ratio(a: tuple[float, float] | None, b: tuple[float, float] | None,
              width: int) -> str:
        return f"{a[0] / b[0]:{width}.2f}" if a is not None and b else f"{'-':>{width}}"

    for command in commands:
        runs_of: dict[str, tuple[Sequence[str], str | None]] = {
            "pycrash": ([*pycrash, "-s", "-c", command, *paths, vmlinux], None)}
        if crash is not None and not args.no_crash:
            runs_of["crash"] = ([crash, "-s", vmlinux, paths[0]], f"{command}\n")
        if drgn_crash is not None and drgn_has(drgn_crash, vmlinux, paths[0], command):
            runs_of["drgn"] = ([drgn_crash, vmlinux, paths[0]], f"{command}\n")
        medians = medians_of(runs_of, args.runs)
        ours, theirs, drgn = (medians.get(name) for name in ("pycrash", "crash", "drgn"))
        print(f"{command:<12} {cell(ours)} {cell(theirs)} {cell(drgn)} "
              f"{ratio(ours, theirs, 9)} {ratio(ours, drgn, 8)}", flush=True)
    for note in notes:
        print(f"note: {note}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
