#!/usr/bin/env python3
"""Boot the sample kernel under QEMU/TCG for one scenario and extract the dumps.

usage: run.py <scenario>      (sysrq | oops | la57 | live)

Work files go to $PYCRASH_GEN_WORKDIR/runs/<scenario>/ (default /work/kbuild):
  disks/<serial>.img   raw virtio disks (one per output, identified by serial=)
  console.log          serial console
  meta1/               ground truth written by the first kernel
  meta2/               capture-kernel notes (makedumpfile stderr, timings, dmesg)
  dumps/               extracted dump files (see DUMPS below)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

WORKDIR = Path(os.environ.get("PYCRASH_GEN_WORKDIR", "/work/kbuild"))
TRIXIE = WORKDIR / "trixie"
QEMU_TIMEOUT = int(os.environ.get("PYCRASH_QEMU_TIMEOUT", "600"))

# serial -> (disk size in MiB, output file name(s))
DISKS = {
    "meta1": 8, "meta2": 8,
    "zlib31": 64, "lzo31": 64, "zstd31": 64, "plain31": 64, "elf31": 160,
    "zlib0": 128, "zstd0": 128, "zlib23": 64, "split": 64, "full": 200,
}
SCENARIOS = {
    # name: (disks, extra kernel args, -cpu)
    "sysrq": (["zlib31", "lzo31", "zstd31", "plain31", "elf31", "split", "full", "zlib0"], "",
              "qemu64"),
    "oops": (["zlib31", "elf31"], "oops=panic", "qemu64"),
    "la57": (["zlib31"], "", "qemu64,+la57"),
    "live": ([], "", "qemu64"),
}
BASE_APPEND = ("console=ttyS0 earlyprintk=serial crashkernel=48M panic=10 init_on_free=1 "
               "no_timer_check")


def mdf(*args, **kw):
    return subprocess.run([str(TRIXIE / "makedumpfile"), *args], check=True, **kw)


def qmp(sock_path, commands, timeout=300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(100):
        try:
            s.connect(str(sock_path))
            break
        except OSError:
            time.sleep(0.2)
    s.settimeout(timeout)
    f = s.makefile("rw")

    def recv():
        while True:
            msg = json.loads(f.readline())
            if "event" in msg:
                continue
            return msg

    recv()  # greeting
    results = []
    for cmd in [{"execute": "qmp_capabilities"}] + commands:
        f.write(json.dumps(cmd) + "\n")
        f.flush()
        r = recv()
        if "error" in r:
            raise RuntimeError(f"QMP {cmd}: {r}")
        results.append(r)
    s.close()
    return results


def main():
    scenario = sys.argv[1]
    for attempt in range(1, 7):
        if boot(scenario, attempt):
            return
    sys.exit("crashkernel reservation kept failing")


def boot(scenario, attempt):
    outputs, extra, cpu = SCENARIOS[scenario]
    run = WORKDIR / "runs" / scenario
    if run.exists():
        shutil.rmtree(run)
    (run / "disks").mkdir(parents=True)
    (run / "dumps").mkdir()
    serials = ["meta1", "meta2"] + outputs
    # the live guest loads no capture kernel: no crashkernel= (its payload would not compress)
    append = BASE_APPEND.replace(" crashkernel=48M", "") if scenario == "live" else BASE_APPEND
    cmd = ["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-cpu", cpu, "-smp", "2",
           "-m", "128M", "-nic", "none", "-display", "none", "-monitor", "none",
           "-serial", f"file:{run / 'console.log'}", "-no-reboot",
           "-kernel", str(WORKDIR / "linux/arch/x86/boot/bzImage"),
           "-initrd", str(WORKDIR / "initramfs.cpio.gz"),
           "-append", f"{append} pycrash_scenario={scenario} {extra}".strip()]
    for s in serials:
        img = run / "disks" / f"{s}.img"
        with open(img, "wb") as fh:
            fh.truncate(DISKS[s] << 20)
        cmd += ["-drive", f"file={img},format=raw,if=none,id={s},cache=unsafe",
                "-device", f"virtio-blk-pci,drive={s},serial={s}"]
    if scenario == "live":
        cmd += ["-device", "vmcoreinfo", "-qmp", f"unix:{run / 'qmp.sock'},server=on,wait=off"]
    t0 = time.time()
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd)
    if scenario == "live":
        deadline = time.time() + QEMU_TIMEOUT
        console = run / "console.log"
        while not console.exists() or b"PYCRASH-LIVE-READY" not in console.read_bytes():
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                sys.exit("live guest did not become ready")
            time.sleep(0.5)
        time.sleep(2)
        qmp(run / "qmp.sock", [
            {"execute": "stop"},
            {"execute": "dump-guest-memory",
             "arguments": {"paging": False, "protocol": f"file:{run / 'dumps/vmcore.qemu.elf'}"}},
            {"execute": "dump-guest-memory",
             "arguments": {"paging": False, "format": "kdump-zlib",
                           "protocol": f"file:{run / 'dumps/vmcore.qemu-zlib.kdump'}"}},
            {"execute": "quit"},
        ])
        # QEMU 7.2 writes kdump formats flattened: reassemble like makedumpfile -R
        flat = run / "dumps/vmcore.qemu-zlib.flat"
        (run / "dumps/vmcore.qemu-zlib.kdump").rename(flat)
        with open(flat, "rb") as fin:
            mdf("-R", str(run / "dumps/vmcore.qemu-zlib.kdump"), stdin=fin,
                stdout=subprocess.DEVNULL)
        flat.unlink()
    try:
        rc = proc.wait(timeout=QEMU_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        sys.exit(f"QEMU timed out; see {run / 'console.log'}")
    wall = time.time() - t0
    print(f"QEMU exited rc={rc} after {wall:.1f}s", flush=True)
    console = (run / "console.log").read_text(errors="replace")
    if "PYCRASH-INIT: FAILED: crashkernel reservation failed" in console:
        print(f"attempt {attempt}: crashkernel reservation failed (physical KASLR); retrying")
        return False
    if "PYCRASH-INIT: FAILED" in console:
        sys.exit("guest init failed: " + console[console.index("PYCRASH-INIT: FAILED"):][:300])
    if scenario != "live" and "PYCRASH-INIT: capture done" not in console:
        # e.g. "IO-APIC + timer doesn't work!" when the host is very busy (TCG)
        print(f"attempt {attempt}: no complete capture; retrying", flush=True)
        return False

    for m in ("meta1", "meta2"):
        if scenario == "live" and m == "meta2":
            continue
        with tarfile.open(run / "disks" / f"{m}.img") as tf:
            tf.extractall(run / m)
    (run / "qemu-wall.txt").write_text(f"{wall:.1f}\n")
    d = run / "dumps"
    meta2 = run / "meta2"
    for s in outputs:
        img = run / "disks" / f"{s}.img"
        if s == "split":
            with tarfile.open(img) as tf:
                tf.extractall(d)
            for p in ("vmcore.split1", "vmcore.split2"):
                (d / p).rename(d / (p.replace("vmcore.split", "vmcore.zlib31.split") + ".kdump"))
        elif s == "full":
            size = int((meta2 / "vmcore-size.txt").read_text())
            with open(img, "rb") as src, open(d / "vmcore.full.elf", "wb") as dst:
                left = size
                while left:
                    buf = src.read(min(left, 1 << 20))
                    dst.write(buf)
                    left -= len(buf)
        else:
            rc = int((meta2 / f"{s}.rc").read_text())
            if rc != 0:
                sys.exit(f"makedumpfile for {s} failed: {(meta2 / f'{s}.stderr').read_text()}")
            nbytes = int((meta2 / f"{s}.bytes").read_text())
            flat = d / f"vmcore.{s}.flat"
            with open(img, "rb") as src, open(flat, "wb") as dst:
                dst.write(src.read(nbytes))
            out = d / (f"vmcore.{s}.elf" if s == "elf31" else f"vmcore.{s}.kdump")
            with open(flat, "rb") as fin:
                mdf("-R", str(out), stdin=fin, stdout=subprocess.DEVNULL)
            if s != "zlib31":
                flat.unlink()
    for p in sorted(d.iterdir()):
        print(f"{p.stat().st_size:>12} {p.name}")
    return True


if __name__ == "__main__":
    main()
