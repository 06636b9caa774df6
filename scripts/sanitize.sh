#!/usr/bin/env bash
# The test suite under sanitizers (docs/reliability.md):
#   1. AddressSanitizer + UndefinedBehaviorSanitizer (ASan in Swift and C, UBSan in C; Swift's own
#      overflow and bounds checks are always on): `swift test`, the C tests of Tests/c (regression
#      reproducers, the 8-thread concurrency test, leaks under LeakSanitizer), the C example
#      bindings/c/certify.c, and the Python tests that drive librsc.so through ctypes, all against
#      one instrumented librsc.so;
#   2. ThreadSanitizer: Tests/c/concurrency.c, 8 threads sharing one model, results compared with
#      the same calls made sequentially; once with 1 OpenMP thread per call (the only concurrency is
#      the 8 caller threads) and once with 2 per call, OpenMP made visible to TSan by Archer
#      (libarcher.so from libomp-dev).
# Any sanitizer report fails the run (halt_on_error, -fno-sanitize-recover).
#
#   bash scripts/sanitize.sh            # everything (Python: all native tests; leaks: 10,000 cycles)
#   bash scripts/sanitize.sh --quick    # CI: the same steps, fewer Python tests and leak cycles
#
# Builds in $RSC_SANITIZE_BUILD (default /tmp/rsc-sanitize): asan/ and tsan/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
quick=0
case "${1:-}" in
    --quick) quick=1 ;;
    "") ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

bash scripts/setup.sh
BUILD=${RSC_SANITIZE_BUILD:-/tmp/rsc-sanitize}
ASAN=$BUILD/asan TSAN=$BUILD/tsan
TOOLBIN=$(dirname "$(readlink -f "$(command -v swift)")")
CC="$TOOLBIN/clang"
RTDIR=$(dirname "$("$CC" -print-file-name=libclang_rt.asan-x86_64.so)")
SWIFTLIB=$(dirname "$TOOLBIN")/lib/swift/linux
. scripts/openmp.sh
# Archer sits beside the OpenMP runtime the kernel links (Debian: /usr/lib/llvm-14/lib).
ARCHER=${RSC_ARCHER:-$(rsc_omp_dir || true)/libarcher.so}
mkdir -p "$BUILD"
t0=$(date +%s)
step() { echo "== [$(( $(date +%s) - t0 ))s] $*"; }

export SWIFT_BACKTRACE=enable=no  # the Swift backtracer and the sanitizers both want the signals
export KMP_BLOCKTIME=0
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

ASAN_FLAGS=(--sanitize=address -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined)
step "ASan+UBSan build (debug, tests included) in $ASAN"
swift build --build-tests --scratch-path "$ASAN" "${ASAN_FLAGS[@]}" >"$BUILD/asan-build.log" 2>&1 \
    || { tail -40 "$BUILD/asan-build.log"; exit 1; }
LIB=$ASAN/debug

step "swift test under ASan+UBSan"
# Leak checking is off for the XCTest process only: XCTest and Foundation leave objects behind at
# exit (and FoundationEssentials' Data(contentsOf:) leaks 4 KB per empty file it reads), which
# LeakSanitizer reports as leaks of the test runner. librsc's leaks are checked by the C tests below.
ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" swift test --skip-build --scratch-path "$ASAN" "${ASAN_FLAGS[@]}" >"$BUILD/swift-test.log" 2>&1 \
    || { grep -E -B5 -A40 'ERROR: |runtime error|error:|failed' "$BUILD/swift-test.log" | head -120; exit 1; }
grep -E "Executed [0-9]+ tests" "$BUILD/swift-test.log" | tail -1

cc_asan() {  # cc_asan SOURCE OUT
    "$CC" -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -fuse-ld=lld \
        -Wall -Wextra -Werror -I include "$1" -L "$LIB" -lrsc -lm -lpthread \
        -Wl,-rpath,"$LIB" -o "$2"
}

step "C tests (Tests/c) under ASan+UBSan+LSan"
mkdir -p "$BUILD/c"
for src in Tests/c/*.c; do  # regression reproducers and hostile models; the two below take arguments
    case $src in */concurrency.c|*/leaks.c) continue ;; esac
    exe=$BUILD/c/$(basename "$src" .c)
    cc_asan "$src" "$exe"
    "$exe" Tests/Fixtures
done
cc_asan Tests/c/concurrency.c "$BUILD/c/concurrency"
"$BUILD/c/concurrency" models/demo/fmnist_demo.rscm 1 3 models/demo/test_images.npy
"$BUILD/c/concurrency" Tests/Fixtures/conv_if_soft.rscm 2 4
cc_asan Tests/c/leaks.c "$BUILD/c/leaks"
if [ $quick = 1 ]; then cycles=1000; else cycles=10000; fi
echo "(leaks under LeakSanitizer; RSS here includes ASan's quarantine and is not checked: scripts/leaks.sh checks it natively)"
RSC_LEAKS_RSS_LIMIT_KB=0 "$BUILD/c/leaks" Tests/Fixtures $cycles $cycles

step "C example (bindings/c/certify.c) under ASan+UBSan"
cc_asan bindings/c/certify.c "$BUILD/c/certify"
# n = 100,000 passes (the example's defaults): the demo model, or in --quick the small conv_lif fixture.
if [ $quick = 1 ]; then
    example=Tests/Fixtures/conv_lif.rscm
    python3 -c "import numpy as np; np.linspace(0, 1, 144, dtype='<f4').tofile('$BUILD/c/x.f32')"
else
    example=models/demo/fmnist_demo.rscm
    python3 -c "import numpy as np; np.load('models/demo/test_images.npy')[3].astype('<f4').tofile('$BUILD/c/x.f32')"
fi
"$BUILD/c/certify" $example "$BUILD/c/x.f32" 42
if "$BUILD/c/certify" "$BUILD/c/missing.rscm" "$BUILD/c/x.f32" 2>/dev/null; then echo "certify.c accepted a missing model"; exit 1; fi

step "Python tests through ctypes under ASan+UBSan (LD_PRELOAD of the ASan runtime)"
pytests=(test_native_abi.py test_native_batch.py test_native_errors.py test_native_forward.py test_native_smoothing.py test_python_api.py)
[ $quick = 1 ] || pytests+=(test_demo_model.py test_format.py)
(cd bindings/python && RSC_LIBRARY="$LIB/librsc.so" LD_PRELOAD="$RTDIR/libclang_rt.asan-x86_64.so" \
    ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" python3 -m pytest -q -p no:cacheprovider "${pytests[@]/#/tests/}")

step "ThreadSanitizer build in $TSAN"
# -tsan-instrument-func-entry-exit=false: before 0.4 the kernel's target_clones ifunc resolvers ran
# while the library was relocated, before the TSan runtime was initialised, and crashed at load when
# instrumented; kept so that this build stays the one measured (memory accesses stay instrumented).
swift build --product rsc --scratch-path "$TSAN" --sanitize=thread \
    -Xcc -mllvm -Xcc -tsan-instrument-func-entry-exit=false >"$BUILD/tsan-build.log" 2>&1 \
    || { tail -40 "$BUILD/tsan-build.log"; exit 1; }
# The toolchain's TSan runtime carries libdispatch interceptors: link libdispatch and BlocksRuntime.
"$CC" -g -O1 -fsanitize=thread -fuse-ld=lld -Wall -Wextra -Werror -I include \
    Tests/c/concurrency.c -L "$TSAN/debug" -lrsc -L "$SWIFTLIB" -ldispatch -lBlocksRuntime -lpthread \
    -Wl,-rpath,"$TSAN/debug" -Wl,-rpath,"$SWIFTLIB" -o "$BUILD/c/concurrency-tsan"
step "TSan: 8 threads, 1 OpenMP thread per call"
TSAN_OPTIONS="halt_on_error=1:abort_on_error=1" \
    "$BUILD/c/concurrency-tsan" models/demo/fmnist_demo.rscm 1 3 models/demo/test_images.npy
step "TSan: 8 threads, 2 OpenMP threads per call, OpenMP synchronization from Archer"
[ -f "$ARCHER" ] || { echo "missing $ARCHER (Debian: libomp-N-dev, pulled in by libomp-dev; elsewhere set RSC_ARCHER)"; exit 1; }
OMP_TOOL_LIBRARIES="$ARCHER" TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:ignore_noninstrumented_modules=1" \
    "$BUILD/c/concurrency-tsan" models/demo/fmnist_demo.rscm 2 2 models/demo/test_images.npy

step "all sanitizer runs clean"
