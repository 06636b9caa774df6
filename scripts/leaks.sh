#!/usr/bin/env bash
# Leaks and memory growth of librsc.so (docs/reliability.md): Tests/c/leaks.c runs CYCLES
# load/free cycles (plus failing loads) and CALLS certify calls (plus predict, forward and failing
# calls) against a release build,
#   1. natively: the resident set size must stay flat (growth after warm-up <= 1024 KB), and
#   2. under valgrind memcheck: no memory errors and nothing "definitely lost".
#
#   bash scripts/leaks.sh [CYCLES [CALLS]]     # default 10000 10000 (valgrind: ~15-20 min on 2 cores)
#
# Builds in $RSC_LEAKS_BUILD (default /tmp/rsc-leaks-build), with DWARF 4 debug information: the
# valgrind of Debian 12 (3.19) cannot read the DWARF 5 that the Swift 6.3 toolchain emits.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-10000} calls=${2:-${1:-10000}}
BUILD=${RSC_LEAKS_BUILD:-/tmp/rsc-leaks-build}

. scripts/openmp.sh
rsc_omp_lib >/dev/null || bash scripts/setup.sh
if ! command -v valgrind >/dev/null; then
    echo "leaks: apt-get install valgrind" >&2
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends valgrind >/dev/null 2>&1 \
        || { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends valgrind; }
fi

echo "== release build in $BUILD"
swift build -c release --product rsc --scratch-path "$BUILD" -Xswiftc -dwarf-version=4 -Xcc -gdwarf-4 \
    >"$BUILD.log" 2>&1 || { tail -30 "$BUILD.log"; exit 1; }
LIB=$BUILD/release
cc -O2 -g -gdwarf-4 -Wall -Wextra -Werror -I include Tests/c/leaks.c \
    -L "$LIB" -lrsc -Wl,-rpath,"$LIB" -o "$BUILD/leaks"

echo "== native: $cycles load/free cycles, $calls certify calls; RSS must stay flat"
start=$(date +%s)
"$BUILD/leaks" Tests/Fixtures "$cycles" "$calls"
echo "   ($(( $(date +%s) - start ))s)"

echo "== valgrind memcheck: the same"
start=$(date +%s)
set +e
KMP_BLOCKTIME=0 RSC_LEAKS_RSS_LIMIT_KB=0 valgrind --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=99 --log-file="$BUILD/valgrind.log" "$BUILD/leaks" Tests/Fixtures "$cycles" "$calls"
rc=$?
set -e
sed 's/^==[0-9]*== //' "$BUILD/valgrind.log" | grep -E 'in use at exit|total heap usage|definitely lost:|indirectly lost:|possibly lost:|still reachable:|ERROR SUMMARY'
echo "   ($(( $(date +%s) - start ))s; full log: $BUILD/valgrind.log)"
if [ $rc -ne 0 ]; then
    echo "leaks: valgrind reported errors or definite leaks (exit $rc)"
    exit 1
fi
echo "leaks: nothing definitely lost, no memory errors"
