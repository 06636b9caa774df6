#!/usr/bin/env bash
# Builds a self-contained librsc.so (Swift runtime linked in statically: the target machine needs
# no Swift toolchain, only libc, libstdc++ and the OpenMP runtime: libomp, Debian's libomp5) and the rsc command-line tool, and installs
#   PREFIX/lib/librsc.so.0.3.0 (+ librsc.so.0, librsc.so), PREFIX/include/rsc.h,
#   PREFIX/lib/pkgconfig/rsc.pc, PREFIX/bin/rsc-cli
# Usage: bash scripts/install.sh PREFIX        (e.g. /usr/local, $HOME/.local)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 PREFIX" >&2; exit 2; }
cd "$(dirname "$0")/.."
mkdir -p "$1"
PREFIX=$(cd "$1" && pwd)

version() { sed -n "s/^#define RSC_VERSION_$1 \([0-9]*\)$/\1/p" include/rsc.h; }
MAJOR=$(version MAJOR) MINOR=$(version MINOR) PATCH=$(version PATCH)
VERSION=$MAJOR.$MINOR.$PATCH

bash scripts/setup.sh
# Separate scratch paths: these flags would otherwise force rebuilds of the development build.
bash scripts/build_lib.sh .build/dist-lib
swift build -c release --product rsc-cli --scratch-path .build/dist-cli -Xswiftc -static-stdlib

install -d "$PREFIX/lib/pkgconfig" "$PREFIX/include" "$PREFIX/bin"
install -m 0755 .build/dist-lib/release/librsc.so "$PREFIX/lib/librsc.so.$VERSION"
strip --strip-unneeded "$PREFIX/lib/librsc.so.$VERSION"
ln -sf "librsc.so.$VERSION" "$PREFIX/lib/librsc.so.$MAJOR"
ln -sf "librsc.so.$MAJOR" "$PREFIX/lib/librsc.so"
install -m 0644 include/rsc.h "$PREFIX/include/rsc.h"
install -m 0755 .build/dist-cli/release/rsc-cli "$PREFIX/bin/rsc-cli"
strip "$PREFIX/bin/rsc-cli"
cat > "$PREFIX/lib/pkgconfig/rsc.pc" <<PC
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: rsc
Description: Certifiably robust spiking neural networks (randomized smoothing coding)
Version: $VERSION
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lrsc
Cflags: -I\${includedir}
PC
echo "installed rsc $VERSION under $PREFIX"
