#!/bin/sh
# Regenerate pycrash's sample dumps from nothing (Debian 12, root, network to Debian's archive).
#
#   sample-dumps/generate.sh [step ...]
#
# Steps (default: all, in this order):
#   deps       apt packages + trixie crash 8.0.6 / makedumpfile 1.7.6 (unpacked, not installed)
#   kernel     unpack linux-source-6.1, tinyconfig + kernel/config-fragment, build (-j2)
#   module     build module/pycrash_test.ko out of tree
#   initramfs  busybox initramfs + capture initrd
#   artifacts  build/vmlinux.xz (no .rela*), System.map.xz, config, pycrash_test.ko
#   run        boot QEMU for each scenario, crash, capture dumps        (gen/run.py)
#   assemble   copy dumps (xz where it pays) + manifest.json            (gen/assemble.py)
#   record     crash 8.0.6 output for crash-commands.txt                (gen/record.py)
#
# Environment: PYCRASH_GEN_WORKDIR (default /work/kbuild; the build tree and all
# intermediate files live there, never in the repository), PYCRASH_GEN_JOBS (make -j, 2),
# PYCRASH_SCENARIOS (default "sysrq oops la57 live").
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
export PYCRASH_GEN_WORKDIR=${PYCRASH_GEN_WORKDIR:-/work/kbuild}
SCENARIOS=${PYCRASH_SCENARIOS:-sysrq oops la57 live}
STEPS=${*:-deps kernel module initramfs artifacts run assemble record}
mkdir -p "$PYCRASH_GEN_WORKDIR"
for step in $STEPS; do
    echo "=== $step ($(date -u +%H:%M:%S))"
    case $step in
        deps) "$HERE/gen/deps.sh" ;;
        kernel) "$HERE/gen/kernel.sh" ;;
        module) "$HERE/gen/module.sh" ;;
        initramfs) "$HERE/gen/initramfs.sh" ;;
        artifacts) "$HERE/gen/artifacts.sh" ;;
        run) for s in $SCENARIOS; do python3 "$HERE/gen/run.py" "$s"; done ;;
        assemble) for s in $SCENARIOS; do python3 "$HERE/gen/assemble.py" "$s"; done ;;
        record) for s in $SCENARIOS; do python3 "$HERE/gen/record.py" "$s"; done ;;
        *) echo "unknown step $step" >&2; exit 2 ;;
    esac
done
echo "=== done ($(date -u +%H:%M:%S))"
du -sh "$HERE"
