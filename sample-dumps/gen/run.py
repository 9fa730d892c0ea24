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
    "sysrq": (["zlib31", "lzo31", "zstd31", "plain31", "elf31", "split", "full", "zlib0"], "", "qemu64"),
    "oops": (["zlib31", "elf31"], "panic_on_oops=1", "qemu64"),
    "la57": (["zlib31"], "", "qemu64,+la57"),
    "live": ([], "", "qemu64"),
}
BASE_APPEND = "console=ttyS0 earlyprintk=serial crashkernel=48M panic=10 init_on_free=1"


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
    outputs, extra, cpu = SCENARIOS[scenario]
    run = WORKDIR / "runs" / scenario
    if run.exists():
        shutil.rmtree(run)
    (run / "disks").mkdir(parents=True)
    (run / "dumps").mkdir()
    serials = ["meta1", "meta2"] + outputs
    cmd = ["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-cpu", cpu, "-smp", "2",
           "-m", "128M", "-nic", "none", "-display", "none", "-monitor", "none",
           "-serial", f"file:{run / 'console.log'}", "-no-reboot",
           "-kernel", str(WORKDIR / "linux/arch/x86/boot/bzImage"),
           "-initrd", str(WORKDIR / "initramfs.cpio.gz"),
           "-append", f"{BASE_APPEND} pycrash_scenario={scenario} {extra}".strip()]
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
        while b"PYCRASH-LIVE-READY" not in (run / "console.log").read_bytes():
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
    try:
        rc = proc.wait(timeout=QEMU_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        sys.exit(f"QEMU timed out; see {run / 'console.log'}")
    wall = time.time() - t0
    print(f"QEMU exited rc={rc} after {wall:.1f}s", flush=True)
    console = (run / "console.log").read_text(errors="replace")
    if "PYCRASH-INIT: FAILED" in console:
        sys.exit("guest init failed: " + console[console.index("PYCRASH-INIT: FAILED"):][:300])

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


if __name__ == "__main__":
    main()
