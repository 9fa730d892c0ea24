#!/usr/bin/env python3
"""Record crash 8.0.6's output for sample-dumps/crash-commands.txt on every dump.

usage: record.py <scenario> [dumpname ...]

For each dump of the scenario's manifest, a staging directory is prepared in
$PYCRASH_GEN_WORKDIR/stage/<scenario>/<dump>/ holding `vmlinux`, `pycrash_test.ko` and the
dump file(s) under their committed names (xz'd ones decompressed), and crash runs there as
`crash -s vmlinux <dumpfile(s)>` so that no host path shows up in the output. Command lines
are fed to crash on stdin (no tty: no prompt, no echo, no pager) in three ways:
  - "session": one crash process runs all such lines of a dump, each as
    `<command line> > out/NNN.out` (crash's own redirection; error messages land in the
    file too);
  - "process": lines starting with p, p/, set or search each get their own crash process
    (gdb's value history $N restarts at $1, `set` changes the context) and their merged
    stdout+stderr is the output;
  - "mod-session": the "mod" lines, in one session that first ran
    `mod -s pycrash_test pycrash_test.ko > /dev/null` (so $N counts up there).
Outputs are stored verbatim:
    sample-dumps/<scenario>/crash/<dump>/NNN.out   + index.json
Placeholders ({linux_banner}, {panic_task}, ...) are computed here (ground truth from the
manifest plus a probe `ps`/`bt` run) and stored in manifest["placeholders"].
"""
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
WORKDIR = Path(os.environ.get("PYCRASH_GEN_WORKDIR", "/work/kbuild"))
CRASH = str(WORKDIR / "trixie" / "crash")
JOBS = int(os.environ.get("PYCRASH_CRASH_JOBS", "2"))
TIMEOUT = 300
MODLOAD = "mod -s pycrash_test pycrash_test.ko"
START_KERNEL_MAP = 0xffffffff80000000
THREAD_SIZE = 0x4000


def crash_env(stage):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(stage), "TERM": "dumb", "LANG": "C", "LC_ALL": "C"}
    return env


def run_crash(stage, dumpfiles, lines):
    script = "".join(line + "\n" for line in lines) + "exit\n"
    t0 = time.time()
    try:
        p = subprocess.run([CRASH, "-s", "vmlinux", *dumpfiles], input=script.encode(),
                           cwd=stage, env=crash_env(stage), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=TIMEOUT)
        return p.returncode, p.stdout, time.time() - t0
    except subprocess.TimeoutExpired as e:
        return "timeout", e.stdout or b"", time.time() - t0


def stage_dump(scenario, man, entry):
    stage = WORKDIR / "stage" / scenario / entry["name"]
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    os.symlink(WORKDIR / "vmlinux", stage / "vmlinux")
    shutil.copyfile(HERE / "build" / "pycrash_test.ko", stage / "pycrash_test.ko")
    files = []
    for f in entry["files"]:
        name = f["file"][:-3] if f["xz"] else f["file"]
        src = WORKDIR / "runs" / scenario / "dumps" / name
        if not src.exists() or src.stat().st_size != f["size"]:
            subprocess.run(f"xz -dc '{HERE / scenario / f['file']}' > '{stage / name}'",
                           shell=True, check=True)
        else:
            os.symlink(src, stage / name)
        files.append(name)
    return stage, files


def load_commands():
    out = []
    for line in (HERE / "crash-commands.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, _, cmd = line.partition(" ")
        out.append((kind, cmd.strip()))
    return out


def placeholders(scenario, man, stage, files):
    gt = man["ground_truth"]
    ks, mks = gt["kallsyms"], gt["module_kallsyms"]
    roles = gt["roles"]
    ph = {}
    ph["linux_banner"] = "0x{:x}".format(int(ks["linux_banner"]["address"], 16))
    ph["init_task"] = "0x{:x}".format(int(ks["init_task"]["address"], 16))
    sched = int(ks["schedule"]["address"], 16)
    ph["schedule_addr"] = f"0x{sched:x}"
    ph["schedule_plus"] = "0x%x" % (sched + 0x10)
    ph["module_data"] = "0x{:x}".format(int(mks["pycrash_test_value"]["address"], 16))
    ph["pycrash_test_value_hex"] = gt["module_globals"]["pycrash_test_value"]
    phys_base = int(man["phys_base"], 16)
    ph["linux_banner_phys"] = "0x%x" % ((int(ph["linux_banner"], 16) - START_KERNEL_MAP + phys_base)
                                        & 0xffffffffffffffff)
    ph["sleeper_pid"] = str(gt["sleeper_pid"])
    ph["dstate_pid"] = str(gt["dstate_pid"])
    for role in ("sleep", "fifo_cat"):
        if role in roles:
            ph[f"{role}_pid"] = str(roles[role])
    if "sleep" in roles and str(roles["sleep"]) in gt["maps"]:
        first = gt["maps"][str(roles["sleep"])][0]
        ph["user_addr"] = "0x{:x}".format(int(first.split("-")[0], 16))
    # probe: task addresses and the panic task from crash itself
    rc, out, _ = run_crash(stage, files, ["ps", "bt"])
    text = out.decode(errors="replace")
    tasks = {}
    for m in re.finditer(r"^[> ]\s*(\d+)\s+\d+\s+\d+\s+([0-9a-f]{16})\s", text, re.M):
        tasks.setdefault(int(m.group(1)), m.group(2))
    m = re.search(r"^PID: (\d+)\s+TASK: ([0-9a-f]+)\s+CPU: (\d+)", text, re.M)
    bt_pid = int(m.group(1))
    panic_pid = man["panic"]["pid"] if man.get("panic") else bt_pid
    ph["panic_pid"] = str(panic_pid)
    ph["panic_task"] = "0x" + tasks[panic_pid]
    ph["sleeper_task"] = "0x" + tasks[gt["sleeper_pid"]]
    tree = int(mks["pycrash_tree"]["address"], 16)
    rc, out, _ = run_crash(stage, files, [f"struct task_struct.stack {ph['panic_task']}",
                                          f"rd 0x{tree:x} 1"])
    text = out.decode(errors="replace")
    m = re.search(r"stack = (0x[0-9a-f]+)", text)
    ph["panic_stack_top"] = "0x%x" % (int(m.group(1), 16) + THREAD_SIZE - 0x100)
    m = re.search(rf"^{tree:x}:\s+([0-9a-f]{{16}})", text, re.M)
    ph["tree_root_node"] = "0x" + m.group(1)
    ph["linux_banner_end"] = "0x%x" % (int(ph["linux_banner"], 16) + 0x30)
    rc, out, _ = run_crash(stage, files, ["p &init_task.tasks"])
    m = re.search(r"\(struct list_head \*\) (0x[0-9a-f]+)", out.decode(errors="replace"))
    ph["init_task_tasks"] = m.group(1)
    return ph


def version():
    p = subprocess.run([CRASH, "--version"], capture_output=True, text=True)
    return p.stdout.split()[1]


SOLO = ("p ", "p/", "set ", "search ")  # value history ($N) / context / slow: own process


def record(scenario, man, entry):
    stage, files = stage_dump(scenario, man, entry)
    ph = man["placeholders"]
    outdir = HERE / scenario / "crash" / entry["name"]
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    (stage / "out").mkdir()
    jobs = []          # (kind, mode, command)
    skipped = []
    seen = set()
    for kind, cmd in load_commands():
        if kind != "all" and not entry["primary"]:
            continue
        try:
            filled = cmd.format_map(ph)
        except KeyError as e:
            skipped.append({"command": cmd, "reason": f"no value for {e}"})
            continue
        if kind == "mod":
            mode = "mod-session"
        elif filled.startswith(SOLO):
            mode = "process"
        else:
            mode = "session"
        if (mode == "mod-session", filled) in seen:
            continue
        seen.add((mode == "mod-session", filled))
        jobs.append((kind, mode, filled))
    names = [f"{i:03d}.out" for i in range(len(jobs))]
    # sessions: one crash process each, every command redirected to its own file
    sessions = {"session": [], "mod-session": []}
    for i, (_kind, mode, _cmd) in enumerate(jobs):
        if mode in sessions:
            sessions[mode].append(i)
    if sessions["mod-session"]:
        sessions["mod-session"].insert(0, None)  # the module load itself is not recorded here
    tasks = []
    for mode, idxs in sessions.items():
        if idxs:
            lines = [f"{MODLOAD} > /dev/null" if i is None else f"{jobs[i][2]} > out/{names[i]}"
                     for i in idxs]
            tasks.append((mode, [i for i in idxs if i is not None], lines))
    for i, (_kind, mode, cmd) in enumerate(jobs):
        if mode == "process":
            tasks.append((mode, [i], [cmd]))
    status = {}
    with concurrent.futures.ThreadPoolExecutor(JOBS) as ex:
        futs = {ex.submit(run_crash, stage, files, lines): (mode, idxs)
                for mode, idxs, lines in tasks}
        for fut in concurrent.futures.as_completed(futs):
            mode, idxs = futs[fut]
            rc, out, secs = fut.result()
            for i in idxs:
                status[i] = (rc, round(secs, 2))
                if mode == "process":
                    (stage / "out" / names[i]).write_bytes(out)
            if mode != "process":
                (stage / f"{mode}.console").write_bytes(out)
    index = {"crash_version": version(), "scenario": scenario, "dump": entry["name"],
             "crash_argv": ["crash", "-s", "vmlinux", *files],
             "working_directory_files": ["vmlinux", "pycrash_test.ko", *files],
             "commands": [], "skipped": skipped}
    for i, (kind, mode, cmd) in enumerate(jobs):
        src = stage / "out" / names[i]
        data = src.read_bytes() if src.exists() else b""
        (outdir / names[i]).write_bytes(data)
        rc, secs = status[i]
        index["commands"].append({
            "command": cmd, "file": names[i], "set": kind, "mode": mode,
            "session_prefix": [MODLOAD] if mode == "mod-session" else [],
            "exit_status": rc, "seconds": secs, "bytes": len(data),
            "missing": not src.exists()})
    (outdir / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    bad = [c["command"] for c in index["commands"] if c["exit_status"] != 0 or c["missing"]]
    print(f"{scenario}/{entry['name']}: {len(jobs)} commands, {len(tasks)} crash runs, "
          f"problems: {bad}", flush=True)


def main():
    scenario = sys.argv[1]
    only = set(sys.argv[2:])
    mpath = HERE / scenario / "manifest.json"
    man = json.loads(mpath.read_text())
    primary = next(d for d in man["dumps"] if d["primary"])
    if True:  # cheap: always recompute
        stage, files = stage_dump(scenario, man, primary)
        man["placeholders"] = placeholders(scenario, man, stage, files)
        mpath.write_text(json.dumps(man, indent=1) + "\n")
    for entry in man["dumps"]:
        if only and entry["name"] not in only:
            continue
        record(scenario, man, entry)
        if entry["primary"] and man.get("panic"):
            out = (HERE / scenario / "crash" / entry["name"] / "000.out").read_text()
            m = re.search(r'^\s+PANIC: (.*)$', out, re.M)
            man["panic"]["crash_sys_panic"] = m.group(1) if m else None
            mpath.write_text(json.dumps(man, indent=1) + "\n")


if __name__ == "__main__":
    main()
