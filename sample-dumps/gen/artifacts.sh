#!/bin/sh
# Copy the kernel build artifacts into sample-dumps/build/:
#   vmlinux.xz (vmlinux without .rela* sections, xz -9), System.map.xz, config, pycrash_test.ko
# and keep the uncompressed norela vmlinux in $WORKDIR/vmlinux for the crash recordings.
set -eu
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORKDIR=${PYCRASH_GEN_WORKDIR:-/work/kbuild}
B="$HERE/build"
mkdir -p "$B"
objcopy --remove-section='.rela*' "$WORKDIR/linux/vmlinux" "$WORKDIR/vmlinux"
xz -9 -T2 -c "$WORKDIR/vmlinux" > "$B/vmlinux.xz.tmp" && mv "$B/vmlinux.xz.tmp" "$B/vmlinux.xz"
xz -9 -c "$WORKDIR/linux/System.map" > "$B/System.map.xz"
cp "$WORKDIR/linux/.config" "$B/config"
cp "$WORKDIR/module/pycrash_test.ko" "$B/pycrash_test.ko"
cp "$WORKDIR/linux/arch/x86/boot/bzImage" "$WORKDIR/bzImage"
ls -l "$B"
