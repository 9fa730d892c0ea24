#!/bin/sh
# Build sample-dumps/module out of tree (in $WORKDIR/module) against $WORKDIR/linux.
set -eu
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORKDIR=${PYCRASH_GEN_WORKDIR:-/work/kbuild}
rm -rf "$WORKDIR/module"; mkdir -p "$WORKDIR/module"
cp "$HERE/module/pycrash_test.c" "$HERE/module/Makefile" "$WORKDIR/module/"
make -C "$WORKDIR/module" KDIR="$WORKDIR/linux" SRCMAP=/usr/src/pycrash_test KPREFIX=/usr/src/linux-6.1
ls -l "$WORKDIR/module/pycrash_test.ko"
