#!/bin/sh
# Install the Debian 12 (bookworm) packages the generator needs, and fetch the
# trixie builds of crash 8.0.6 and makedumpfile 1.7.6 into $WORKDIR/trixie
# (unpacked with dpkg-deb -x; nothing is installed system-wide from trixie).
set -eu
WORKDIR=${PYCRASH_GEN_WORKDIR:-/work/kbuild}
mkdir -p "$WORKDIR"

if [ -z "${PYCRASH_SKIP_APT:-}" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends \
        linux-source-6.1 build-essential bc bison flex libelf-dev libssl-dev \
        dwarves cpio kmod xz-utils zstd python3 rsync file \
        qemu-system-x86 busybox-static kexec-tools makedumpfile
fi

T="$WORKDIR/trixie"
if [ ! -x "$T/root/usr/bin/crash" ] || [ ! -x "$T/root/usr/bin/makedumpfile" ]; then
    mkdir -p "$T/etc/apt/sources.list.d" "$T/etc/apt/preferences.d" "$T/lists/partial" \
             "$T/cache/archives/partial" "$T/debs" "$T/root"
    echo "deb http://deb.debian.org/debian trixie main" > "$T/sources.list"
    APTOPT="-o Dir::Etc::sourcelist=$T/sources.list -o Dir::Etc::sourceparts=$T/etc/apt/sources.list.d \
      -o Dir::Etc::preferencesparts=$T/etc/apt/preferences.d \
      -o Dir::State::Lists=$T/lists -o Dir::Cache=$T/cache -o Dir::State::status=/dev/null \
      -o APT::Architecture=amd64 -o APT::Architectures::=amd64"
    # shellcheck disable=SC2086
    apt-get $APTOPT update -q
    cd "$T/debs"
    # shellcheck disable=SC2086
    apt-get $APTOPT download crash makedumpfile libc6 libgcc-s1 libstdc++6 libsnappy1v5 \
        libzstd1 libncursesw6 libtinfo6 liblzo2-2 zlib1g libbz2-1.0 liblzma5 libelf1t64 libdw1t64 \
        libxxhash0 libbsd0 libmd0
    for d in ./*.deb; do dpkg-deb -x "$d" "$T/root"; done
fi
for tool in crash:usr/bin/crash makedumpfile:usr/bin/makedumpfile; do
    name=${tool%%:*}; path=${tool#*:}
    cat > "$T/$name" <<EOS
#!/bin/sh
R="$T/root"
exec "\$R/usr/lib64/ld-linux-x86-64.so.2" --library-path "\$R/usr/lib/x86_64-linux-gnu:\$R/lib/x86_64-linux-gnu" "\$R/$path" "\$@"
EOS
    chmod +x "$T/$name"
done
"$T/crash" --version | head -2
"$T/makedumpfile" -v | head -2
