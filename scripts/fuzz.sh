#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer) of
#   fuzz_load     the model loader: rsc_load on mutated .rscm files (checksum fixed up, so the
#                 checks behind it are reached), then info/forward/predict/certify on what loads;
#   fuzz_certify  the input path: rsc_predict / rsc_certify / rsc_forward arguments on valid models.
# Seeds: fuzz/corpus/ (python3 fuzz/make_corpus.py). Findings stop the run with the input saved.
#
#   bash scripts/fuzz.sh [SECONDS]     # default 60, split 60/40 between the two targets
#   bash scripts/fuzz.sh --runs N      # N executions of each target instead (the long run: 1000000)
#   bash scripts/fuzz.sh --coverage    # source coverage (llvm-cov) reached by the corpus so far
#   bash scripts/fuzz.sh --run FILE..  # replay inputs (e.g. a crash-* artifact) through both targets
#   bash scripts/fuzz.sh --target T ...   # fuzz (or --runs N) one target only: fuzz_load or fuzz_certify
#
# Builds an instrumented librsc.so under $RSC_FUZZ_BUILD (default /tmp/rsc-fuzz-build); the
# corpus grows in $RSC_FUZZ_BUILD/corpus across runs. Needs the Swift toolchain (its clang ships
# libFuzzer and the sanitizer runtimes) and libomp-dev (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

mode=fuzz seconds=60 runs= targets=(fuzz_load fuzz_certify)
if [ "${1:-}" = --target ]; then
    case ${2:-} in fuzz_load|fuzz_certify) targets=("$2") ;; *) echo "usage: $0 --target fuzz_load|fuzz_certify ..." >&2; exit 2 ;; esac
    shift 2
fi
case "${1:-}" in
    --coverage) mode=coverage ;;
    --runs) [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "usage: $0 --runs N" >&2; exit 2; }; runs=$2 ;;
    --run) mode=run; shift ;;
    "") ;;
    *) [[ $1 =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS] | --coverage | --run FILE..." >&2; exit 2; }
       seconds=$1 ;;
esac

BUILD=${RSC_FUZZ_BUILD:-/tmp/rsc-fuzz-build}
TOOLBIN=$(dirname "$(readlink -f "$(command -v swift)")")
CC="$TOOLBIN/clang"
. scripts/openmp.sh
rsc_omp_lib >/dev/null || bash scripts/setup.sh
mkdir -p "$BUILD"

# A release build (the shipped optimization level: Swift's overflow and bounds traps stay on)
# with ASan in Swift and C, UBSan in C, and libFuzzer's coverage feedback in both.
build_lib() {
    swift build -c release --product rsc --scratch-path "$BUILD" \
        -Xswiftc -sanitize=address \
        -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
        -Xcc -fsanitize=address,undefined,fuzzer-no-link -Xcc -fno-sanitize-recover=all >"$BUILD/build.log" 2>&1 \
        || { tail -30 "$BUILD/build.log"; exit 1; }
}

harness() {  # harness NAME LIBDIR OUT EXTRA_FLAGS...
    local name=$1 lib=$2 out=$3; shift 3
    "$CC" -g -O1 -fuse-ld=lld -Wall -Wextra -Werror -Wno-missing-field-initializers "$@" -I include \
        "fuzz/$name.c" -L "$lib" -lrsc -Wl,-rpath,"$lib" -o "$out"
}

export KMP_BLOCKTIME=0  # OpenMP workers sleep at once instead of spinning 200 ms between calls
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Any single allocation above this is a finding: a file of a few KB must not make rsc allocate more.
COMMON=(-timeout=30 -rss_limit_mb=3072 -malloc_limit_mb=512 -print_final_stats=1 -dict=fuzz/rscm.dict)

if [ "$mode" = coverage ]; then
    cov="$BUILD/coverage"
    echo "== coverage build (llvm source coverage) in $cov"
    swift build -c release --product rsc --scratch-path "$cov" -Xswiftc -profile-generate \
        -Xswiftc -profile-coverage-mapping -Xcc -fprofile-instr-generate -Xcc -fcoverage-mapping >"$BUILD/cov-build.log" 2>&1 \
        || { tail -30 "$BUILD/cov-build.log"; exit 1; }
    rm -rf "$cov/profiles"; mkdir -p "$cov/profiles"
    for t in fuzz_load fuzz_certify; do
        harness $t "$cov/release" "$cov/$t" -fsanitize=fuzzer
        mkdir -p "$BUILD/corpus/$t"
        LLVM_PROFILE_FILE="$cov/profiles/%m-%p.profraw" "$cov/$t" -runs=0 "$BUILD/corpus/$t" \
            "fuzz/corpus/${t#fuzz_}" >"$cov/$t.log" 2>&1
        echo "$t: $(ls "$BUILD/corpus/$t" | wc -l) grown + $(ls "fuzz/corpus/${t#fuzz_}" | wc -l) seed inputs replayed"
    done
    "$TOOLBIN/llvm-profdata" merge -o "$cov/merged.profdata" "$cov"/profiles/*.profraw
    "$TOOLBIN/llvm-cov" report "$cov/release/librsc.so" -instr-profile="$cov/merged.profdata" \
        | awk 'BEGIN { printf "%-40s %9s %10s %9s %9s\n", "file", "regions", "functions", "lines", "branches" }
               $4 ~ /%$/ { printf "%-40s %9s %10s %9s %9s\n", $1, $4, $7, $10, $13 }'
    exit 0
fi

echo "== build instrumented librsc.so in $BUILD"
build_lib
for t in fuzz_load fuzz_certify; do harness $t "$BUILD/release" "$BUILD/$t" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all; done

if [ "$mode" = run ]; then
    for t in fuzz_load fuzz_certify; do "$BUILD/$t" "${COMMON[@]}" "$@"; done
    exit 0
fi

status=0
for t in "${targets[@]}"; do
    if [ $t = fuzz_load ]; then secs=$(( seconds * 6 / 10 )); extra=(-max_len=8192); else secs=$(( seconds - seconds * 6 / 10 )); extra=(-max_len=4096); fi
    [ ${#targets[@]} = 2 ] || secs=$seconds
    [ "$secs" -ge 5 ] || secs=5
    mkdir -p "$BUILD/corpus/$t" "$BUILD/artifacts/$t"
    log="$BUILD/$t.log"
    if [ -n "$runs" ]; then limit=(-runs="$runs"); what="$runs executions"; else limit=(-max_total_time="$secs"); what="${secs}s"; fi
    echo "== $t for $what (log: $log)"
    start=$(date +%s)
    set +e
    "$BUILD/$t" "${COMMON[@]}" "${extra[@]}" "${limit[@]}" -artifact_prefix="$BUILD/artifacts/$t/" \
        "$BUILD/corpus/$t" "fuzz/corpus/${t#fuzz_}" >"$log" 2>&1
    rc=$?
    set -e
    done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\)\/.*/edges \1, features \2, corpus \3/p' <<<"$last")
    echo "   $t: ${done_runs:-?} executions in $(( $(date +%s) - start ))s (${rate:-?}/s), $cov"
    if [ $rc -ne 0 ]; then
        status=1
        echo "   $t FAILED (exit $rc):"
        grep -E -A25 'ERROR: |runtime error|contract violated|==[0-9]+==' "$log" | head -60
        ls "$BUILD/artifacts/$t/"
        echo "   reproduce: bash scripts/fuzz.sh --run $BUILD/artifacts/$t/<file>; then add a regression test under Tests/c/"
    fi
done
exit $status
