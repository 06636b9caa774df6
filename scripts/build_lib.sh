#!/usr/bin/env bash
# The self-contained release build of librsc.so, in one place for scripts/install.sh and the
# Python package's build (bindings/python/setup.py), so both ship the same library and share the
# scratch path without rebuilding over each other:
#   bash scripts/build_lib.sh [SCRATCH]     # default .build/dist-lib; result SCRATCH/release/librsc.so
# -static-stdlib: the Swift runtime linked in (the target needs libc, libstdc++ and libomp, no
# Swift). RSC_NO_FOUNDATION leaves out the Swift-only Model(contentsOf: URL), whose
# FoundationEssentials was 7.4 of the 14 MB stripped; lld, unlike gold, leaves no local Swift or
# libdispatch symbols in .dynsym, so `nm -D` lists exactly the rsc_* calls of the version script
# (bench/RESULTS.md, "librsc.so: size and symbols").
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=${1:-.build/dist-lib}
MAJOR=$(sed -n 's/^#define RSC_VERSION_MAJOR \([0-9]*\)$/\1/p' include/rsc.h)
swift build -c release --product rsc --scratch-path "$SCRATCH" -Xswiftc -static-stdlib \
    -Xswiftc -DRSC_NO_FOUNDATION -Xswiftc -use-ld=lld \
    -Xlinker -soname=librsc.so.$MAJOR -Xlinker --version-script="$PWD/scripts/librsc.map"
