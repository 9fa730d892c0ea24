#!/bin/sh
# Unpack linux-source-6.1, configure (tinyconfig + kernel/config-fragment) and build
# bzImage + vmlinux with host paths mapped out of the DWARF.
set -eu
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORKDIR=${PYCRASH_GEN_WORKDIR:-/work/kbuild}
JOBS=${PYCRASH_GEN_JOBS:-2}
SRC="$WORKDIR/linux"
PREFIX=/usr/src/linux-6.1
mkdir -p "$WORKDIR"
if [ ! -f "$SRC/Makefile" ]; then
    tarball=$(ls /usr/src/linux-source-6.1.tar.* | head -1)
    rm -rf "$WORKDIR/linux.tmp"; mkdir -p "$WORKDIR/linux.tmp"
    tar -xf "$tarball" -C "$WORKDIR/linux.tmp"
    mv "$WORKDIR/linux.tmp"/linux-source-6.1 "$SRC"; rmdir "$WORKDIR/linux.tmp"
fi
cd "$SRC"
M="make ARCH=x86_64"
if [ ! -f .config.pycrash ] || ! cmp -s "$HERE/kernel/config-fragment" .config.pycrash; then
    $M tinyconfig >/dev/null
    apply() {
        grep -v '^#' "$HERE/kernel/config-fragment" | grep . | while IFS='=' read -r k v; do
            k=${k#CONFIG_}
            case "$v" in
                y) scripts/config --enable "$k" ;;
                n) scripts/config --disable "$k" ;;
                *) scripts/config --set-val "$k" "$v" ;;
            esac
        done
    }
    apply; $M olddefconfig >/dev/null
    apply; $M olddefconfig >/dev/null
    # verify
    bad=0
    grep -v '^#' "$HERE/kernel/config-fragment" | grep . | while IFS='=' read -r k v; do
        if [ "$v" = n ]; then
            if grep -q "^$k=" .config; then echo "config: $k still set" >&2; fi
        elif ! grep -q "^$k=$v\$" .config; then echo "config: $k != $v" >&2; fi
    done
    cp "$HERE/kernel/config-fragment" .config.pycrash
fi
MAP="-fdebug-prefix-map=$SRC=$PREFIX"
# KBUILD_BUILD_* make uname -v / the banner independent of the build host
export KBUILD_BUILD_USER=pycrash KBUILD_BUILD_HOST=pycrash
$M -j"$JOBS" KCFLAGS="$MAP" KAFLAGS="$MAP" bzImage vmlinux modules
ls -l vmlinux arch/x86/boot/bzImage
