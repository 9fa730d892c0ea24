#!/bin/sh
# Build the guest initramfs (busybox + kexec + trixie makedumpfile + pycrash_test.ko + /init)
# and the capture initrd (same tree without /boot).
# Output: $WORKDIR/initramfs.cpio.gz, $WORKDIR/capture.cpio.gz
set -eu
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORKDIR=${PYCRASH_GEN_WORKDIR:-/work/kbuild}
T="$WORKDIR/trixie/root"
R="$WORKDIR/initramfs-root"
rm -rf "$R"; mkdir -p "$R"
cd "$R"
mkdir -p bin sbin usr/bin usr/sbin proc sys dev tmp lib/modules boot opt/trixie/lib
cp /bin/busybox bin/busybox
for a in $(bin/busybox --list); do
    [ -e "bin/$a" ] || ln -s busybox "bin/$a"
done
# kexec (bookworm) + its shared libraries at their usual paths
cp /usr/sbin/kexec usr/sbin/kexec
for lib in $(ldd /usr/sbin/kexec | grep -o '/[^ ]*'); do
    mkdir -p ".$(dirname "$lib")"; cp -L "$lib" ".$lib"
done
# trixie makedumpfile 1.7.6 with its own loader and libraries
cp "$T/usr/bin/makedumpfile" opt/trixie/makedumpfile
cp -L "$T/usr/lib64/ld-linux-x86-64.so.2" opt/trixie/ld-linux-x86-64.so.2
for lib in $("$T/usr/lib64/ld-linux-x86-64.so.2" --library-path "$T/usr/lib/x86_64-linux-gnu" \
             --list "$T/usr/bin/makedumpfile" | grep '=>' | awk '{print $3}' | grep "^$T"); do
    cp -L "$lib" opt/trixie/lib/
done
cat > usr/bin/makedumpfile <<'EOS'
#!/bin/sh
exec /opt/trixie/ld-linux-x86-64.so.2 --library-path /opt/trixie/lib /opt/trixie/makedumpfile "$@"
EOS
chmod +x usr/bin/makedumpfile
cp "$WORKDIR/module/pycrash_test.ko" lib/modules/
cp "$HERE/guest/init" init; chmod +x init
# capture initrd: everything but /boot
find . -path ./boot -prune -o -print | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9 > "$WORKDIR/capture.cpio.gz"
cp "$WORKDIR/linux/arch/x86/boot/bzImage" boot/bzImage
cp "$WORKDIR/capture.cpio.gz" boot/capture.cpio.gz
find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9 > "$WORKDIR/initramfs.cpio.gz"
ls -l "$WORKDIR/initramfs.cpio.gz" "$WORKDIR/capture.cpio.gz"
