#!/usr/bin/env python3
"""Copy one scenario's dumps into sample-dumps/<scenario>/ and write its manifest.json.

usage: assemble.py <scenario>

Reads $PYCRASH_GEN_WORKDIR/runs/<scenario>/{dumps,meta1,meta2}, $WORKDIR/vmlinux (norela)
and sample-dumps/build/. Placeholder values for the crash recordings are added later by
record.py (manifest key "placeholders").
"""
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent          # sample-dumps/
WORKDIR = Path(os.environ.get("PYCRASH_GEN_WORKDIR", "/work/kbuild"))

# dump name -> (work file(s), format, compression, dump level, xz it?, makedumpfile options)
DUMPS = {
    "zlib31": (["vmcore.zlib31.kdump"], "kdump", "zlib", 31, False, "-c -d 31"),
    "lzo31": (["vmcore.lzo31.kdump"], "kdump", "lzo", 31, False, "-l -d 31"),
    "zstd31": (["vmcore.zstd31.kdump"], "kdump", "zstd", 31, False, "-z -d 31"),
    "plain31": (["vmcore.plain31.kdump"], "kdump", "none", 31, True, "-d 31"),
    "flat31": (["vmcore.zlib31.flat"], "flattened", "zlib", 31, False, "-F -c -d 31"),
    "split31": (["vmcore.zlib31.split1.kdump", "vmcore.zlib31.split2.kdump"], "split", "zlib", 31,
                False, "-c -d 31 --splitblock-size 4096 --split"),
    "elf31": (["vmcore.elf31.elf"], "elf", "none", 31, True, "-E -d 31"),
    "full": (["vmcore.full.elf"], "elf", "none", 0, True, "(dd of /proc/vmcore)"),
    "zlib0": (["vmcore.zlib0.kdump"], "kdump", "zlib", 0, False, "-c -d 0"),
    "qemu-elf": (["vmcore.qemu.elf"], "elf", "none", 0, True,
                 "(QEMU dump-guest-memory, paging=false)"),
    "qemu-zlib": (["vmcore.qemu-zlib.kdump"], "kdump", "zlib", 0, False,
                  "(QEMU dump-guest-memory format=kdump-zlib; QEMU 7.2 writes it flattened, "
                  "reassembled with makedumpfile -R)"),
}
DESCRIPTIONS = {
    "sysrq": "echo c > /proc/sysrq-trigger from a busybox sh pinned to CPU 1; `yes` busy on CPU 0",
    "oops": "pycrash_test's kthread pycrash_oops (bound to CPU 1) dereferences NULL in "
            "pycrash_do_oops(); oops=panic (panic_on_oops=1)",
    "la57": "as sysrq, but the guest CPU has LA57 (-cpu qemu64,+la57): 5-level paging",
    "live": "live guest (not crashed), dumped by QEMU dump-guest-memory with -device vmcoreinfo",
}
ITEMS = [(1, "alpha"), (2, "bravo"), (3, "charlie"), (4, "delta"), (5, "echo")]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def elf_symbol_string(vmlinux, symbol):
    """Read a NUL-terminated string at a symbol's link-time address from vmlinux."""
    nm = subprocess.run(["nm", str(vmlinux)], capture_output=True, text=True, check=True).stdout
    addr = next(int(row.split()[0], 16) for row in nm.splitlines()
                if row.endswith(" " + symbol))
    with open(vmlinux, "rb") as f:
        data = f.read(64)
        e_shoff, = struct.unpack_from("<Q", data, 0x28)
        e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
        for i in range(e_shnum):
            f.seek(e_shoff + i * e_shentsize)
            sh = f.read(e_shentsize)
            _, sh_type, _, sh_addr, sh_offset, sh_size = struct.unpack_from("<IIQQQQ", sh)
            if sh_type != 8 and sh_addr <= addr < sh_addr + sh_size:
                f.seek(sh_offset + addr - sh_addr)
                return f.read(512).split(b"\0")[0].decode()
    raise KeyError(symbol)


def build_id(vmlinux):
    out = subprocess.run(["readelf", "-n", str(vmlinux)], capture_output=True, text=True,
                         check=True).stdout
    return re.search(r"Build ID: ([0-9a-f]+)", out).group(1)


def kdump_info(path):
    """phys_base, nr_cpus, vmcoreinfo text from a kdump-compressed file."""
    with open(path, "rb") as f:
        hdr = f.read(4096)
        assert hdr[:8] in (b"KDUMP   ", b"DISKDUMP"), hdr[:8]
        block_size, = struct.unpack_from("<i", hdr, 428)
        nr_cpus, = struct.unpack_from("<i", hdr, 460)
        f.seek(block_size)
        sub = f.read(104)
        phys_base, dump_level = struct.unpack_from("<Qi", sub, 0)
        off_vmci, size_vmci = struct.unpack_from("<QQ", sub, 32)
        f.seek(off_vmci)
        vmci = f.read(size_vmci).decode()
    return {"phys_base": phys_base, "nr_cpus": nr_cpus, "dump_level": dump_level,
            "vmcoreinfo": vmci}


def parse_stat(line):
    lp, rp = line.index("("), line.rindex(")")
    pid = int(line[:lp])
    comm = line[lp + 1:rp]
    rest = line[rp + 2:].split()
    # rest[0] = state (field 3), rest[1] = ppid, rest[36] = processor (field 39)
    return {"pid": pid, "ppid": int(rest[1]), "comm": comm, "state": rest[0],
            "cpu": int(rest[36]), "flags": f"0x{int(rest[6]):x}"}


def main():
    scenario = sys.argv[1]
    run = WORKDIR / "runs" / scenario
    meta1, meta2 = run / "meta1", run / "meta2"
    out = HERE / scenario
    out.mkdir(exist_ok=True)
    def rd(d, n, default=""):
        return (d / n).read_text().strip() if (d / n).exists() else default

    vmlinux = WORKDIR / "vmlinux"
    vmlinux_xz = HERE / "build" / "vmlinux.xz"

    # ---- ground truth from the first kernel ----
    procs = []
    for line in (meta1 / "proc-stat.txt").read_text().splitlines():
        if line.strip():
            procs.append(parse_stat(line))
    wchan = {}
    for line in (meta1 / "proc-wchan.txt").read_text().splitlines():
        p, _, w = line.partition(" ")
        wchan[int(p)] = w.strip()
    cmdlines = {}
    for line in (meta1 / "proc-cmdline.txt").read_text().splitlines():
        p, _, c = line.partition(" ")
        cmdlines[int(p)] = c.strip()
    for p in procs:
        p["wchan"] = wchan.get(p["pid"], "")
        p["cmdline"] = cmdlines.get(p["pid"], "")
    bycomm = {}
    for p in procs:
        bycomm.setdefault(p["comm"], []).append(p["pid"])
    roles = {}
    for r in ("sleep", "fifo_cat", "shloop", "stopped", "zombie_parent", "yes", "yes1"):
        v = rd(meta1, f"pid.{r}")
        if v:
            roles[r] = int(v)
    for c in ("pycrash_sleeper", "pycrash_dstate", "pycrash_oops"):
        roles[c] = bycomm[c][0]
    zombies = [p["pid"] for p in procs if p["state"] == "Z"]
    if zombies:
        roles["zombie"] = zombies[0]
    maps = {}
    if (meta1 / "maps").is_dir():
        for m in sorted((meta1 / "maps").iterdir(), key=lambda x: int(x.name)):
            maps[m.name] = m.read_text().splitlines()

    def kallsyms(name):
        d = {}
        for line in (meta1 / name).read_text().splitlines():
            parts = line.split()
            d[parts[2]] = {"address": "0x" + parts[0], "type": parts[1]}
        return d

    sections = {}
    for line in rd(meta1, "module-sections.txt").splitlines():
        k, v = line.split()
        sections[k] = v

    # ---- kernel facts ----
    kernel = {
        "release": rd(meta1, "uname-r.txt"),
        "proc_version": rd(meta1, "proc-version.txt"),
        "banner": elf_symbol_string(vmlinux, "linux_banner"),
        "build_id": build_id(vmlinux),
        "vmlinux": "build/vmlinux.xz",
        "vmlinux_sha256": sha256(vmlinux),
        "vmlinux_size": vmlinux.stat().st_size,
        "vmlinux_xz_sha256": sha256(vmlinux_xz),
        "system_map": "build/System.map.xz",
        "config": "build/config",
        "module": "build/pycrash_test.ko",
        "module_sha256": sha256(HERE / "build" / "pycrash_test.ko"),
    }
    assert kernel["banner"].startswith(kernel["proc_version"]), (
        kernel["banner"], kernel["proc_version"])

    # ---- dumps ----
    dumps = []
    primary_info = None
    for name, (files, fmt, comp, level, do_xz, opts) in DUMPS.items():
        if name == "flat31" and scenario != "sysrq":
            continue  # one flattened sample is enough
        src = [run / "dumps" / f for f in files]
        if not all(p.exists() for p in src):
            continue
        entry = {"name": name, "format": fmt, "compression": comp, "dump_level": level,
                 "producer": opts if opts.startswith("(") else f"makedumpfile {opts} (1.7.6)",
                 "files": []}
        for p in src:
            fe = {"file": p.name + (".xz" if do_xz else ""), "xz": do_xz,
                  "size": p.stat().st_size, "sha256": sha256(p)}
            dst = out / fe["file"]
            if do_xz:
                subprocess.run(f"xz -9 -T2 -c '{p}' > '{dst}.tmp' && mv '{dst}.tmp' '{dst}'",
                               shell=True, check=True)
            else:
                shutil.copyfile(p, dst)
            fe["committed_size"] = dst.stat().st_size
            entry["files"].append(fe)
        if fmt == "kdump" and primary_info is None:
            primary_info = kdump_info(src[0])
        dumps.append(entry)
    primary = "qemu-zlib" if scenario == "live" else "zlib31"
    for d in dumps:
        d["primary"] = d["name"] == primary

    vmci = {}
    for line in primary_info["vmcoreinfo"].splitlines():
        k, _, v = line.partition("=")
        vmci[k] = v
    l5 = vmci.get("NUMBER(pgtable_l5_enabled)", "0") == "1"
    kaslr = int(vmci.get("KERNELOFFSET", "0"), 16)

    # ---- panic ----
    dmesg = rd(meta2, "dmesg.txt")
    # the panic() message; an oops with panic_on_oops goes to crash_kexec() straight from
    # oops_end(), without a "Kernel panic" line: then the oops headline ("BUG: ...")
    m = re.search(r"Kernel panic - not syncing: (.*)", dmesg) or re.search(r"(BUG: .*)", dmesg)
    panic = None
    if scenario != "live":
        panic = {
            "cpu": int(rd(meta1, "crash-cpu.txt")),
            "pid": int(rd(meta1, "crash-pid.txt")),
            "comm": rd(meta1, "crash-comm.txt"),
            "message": m.group(1).strip() if m else None,
        }
        roles["crash"] = panic["pid"]

    times = rd(meta2, "times.txt")
    manifest = {
        "schema_version": 1,
        "scenario": scenario,
        "description": DESCRIPTIONS[scenario],
        "kernel": kernel,
        "kaslr_offset": f"0x{kaslr:x}",
        # vmcoreinfo prints phys_base signed (%ld); stored here as unsigned 64-bit
        "phys_base": "0x%x" % (int(vmci.get("NUMBER(phys_base)", str(primary_info["phys_base"])))
                               & 0xffffffffffffffff),
        "paging": "5-level" if l5 else "4-level",
        "cpus": primary_info["nr_cpus"],
        "guest": {
            "qemu": "qemu-system-x86_64 -machine pc -accel tcg -smp 2 -m 128M",
            "qemu_cpu": "qemu64,+la57" if scenario == "la57" else "qemu64",
            "memory_mib": 128,
            "cmdline": rd(meta1, "cmdline.txt"),
            "capture_cmdline": rd(meta2, "capture-cmdline.txt") or None,
            "capture_times": times.splitlines() if times else [],
            "qemu_wall_seconds": float(rd(run, "qemu-wall.txt", "0")),
        },
        "panic": panic,
        "vmcoreinfo": vmci,
        "dumps": dumps,
        "ground_truth": {
            "processes": procs,
            "roles": roles,
            "maps": maps,
            "proc_modules": rd(meta1, "modules.txt").splitlines(),
            "module_sections": sections,
            "kallsyms": kallsyms("kallsyms-selected.txt"),
            "module_kallsyms": kallsyms("kallsyms-module.txt"),
            "module_globals": {
                "pycrash_test_value": "0xdeadbeefcafef00d",
                "pycrash_test_string": "pycrash test string: the quick brown fox",
            },
            "items": [{"id": i, "name": n, "value": "0x%016x" % (0x1111111111111111 * i)}
                      for i, n in ITEMS],
            "tree_insert_order": [3, 1, 4, 5, 2],
            "sleeper_pid": roles["pycrash_sleeper"],
            "sleeper_function": "pycrash_sleeper_wait",
            "dstate_pid": roles["pycrash_dstate"],
            "dstate_function": "pycrash_dstate_wait",
            "oops_pid": roles["pycrash_oops"],
            "oops_function": "pycrash_do_oops",
        },
    }
    old = out / "manifest.json"
    if old.exists():  # keep placeholders from an earlier record.py run only if dumps are unchanged
        prev = json.loads(old.read_text())
        if prev.get("dumps") == dumps and "placeholders" in prev:
            manifest["placeholders"] = prev["placeholders"]
    # ground-truth raw files and the guest logs
    gt = out / "guest"
    if gt.exists():
        shutil.rmtree(gt)
    shutil.copytree(meta1, gt / "first-kernel")
    if meta2.exists():
        shutil.copytree(meta2, gt / "capture-kernel")
    shutil.copyfile(run / "console.log", gt / "console.log")
    old.write_text(json.dumps(manifest, indent=1) + "\n")
    for d in dumps:
        for f in d["files"]:
            print(f"{f['committed_size']:>12} {scenario}/{f['file']}")


if __name__ == "__main__":
    main()
