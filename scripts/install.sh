#!/usr/bin/env bash
# Builds a self-contained librsc.so (Swift runtime linked in statically: the target machine needs
# no Swift toolchain, only libc, libstdc++ and libomp5) and the rsc command-line tool, and installs
#   PREFIX/lib/librsc.so.0.3.0 (+ librsc.so.0, librsc.so), PREFIX/include/rsc.h,
#   PREFIX/lib/pkgconfig/rsc.pc, PREFIX/bin/rsc
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
# Size and symbols (bench/RESULTS.md, "librsc.so: size and symbols"): RSC_NO_FOUNDATION leaves out the Swift-only
# Model(contentsOf: URL), whose FoundationEssentials was 7.4 of the 14 MB stripped; lld, unlike
# gold, leaves no local Swift or libdispatch symbols in .dynsym, so `nm -D` lists exactly the rsc_*
# calls of the version script.
swift build -c release --product rsc --scratch-path .build/dist-lib -Xswiftc -static-stdlib \
    -Xswiftc -DRSC_NO_FOUNDATION -Xswiftc -use-ld=lld \
    -Xlinker -soname=librsc.so.$MAJOR -Xlinker --version-script="$PWD/scripts/librsc.map"
swift build -c release --product rsc-cli --scratch-path .build/dist-cli -Xswiftc -static-stdlib

install -d "$PREFIX/lib/pkgconfig" "$PREFIX/include" "$PREFIX/bin"
install -m 0755 .build/dist-lib/release/librsc.so "$PREFIX/lib/librsc.so.$VERSION"
strip --strip-unneeded "$PREFIX/lib/librsc.so.$VERSION"
ln -sf "librsc.so.$VERSION" "$PREFIX/lib/librsc.so.$MAJOR"
ln -sf "librsc.so.$MAJOR" "$PREFIX/lib/librsc.so"
install -m 0644 include/rsc.h "$PREFIX/include/rsc.h"
install -m 0755 .build/dist-cli/release/rsc-cli "$PREFIX/bin/rsc"
strip "$PREFIX/bin/rsc"
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
