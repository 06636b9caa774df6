#!/usr/bin/env bash
# Builds bench/kernel_bench.c against the kernel sources with the library's flags (Package.swift)
# and runs it on one thread. Prints Markdown tables (bench/RESULTS.md quotes them).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/openmp.sh
CC=$(dirname "$(readlink -f "$(command -v swift)")")/clang
out=${TMPDIR:-/tmp}/rsc-kernel-bench
mkdir -p "$out.o"
# Compiled and linked apart: clang -fopenmp at link time adds -lomp, which Debian lacks (libomp5).
objs=()
for src in bench/kernel_bench.c Sources/CRSCKernel/kernel_layers.c Sources/CRSCKernel/kernel_dense.c Sources/CRSCKernel/kernel_cpu.c Sources/CRSCKernel/kernel_quant.c Sources/CRSCKernel/kernel_profile.c \
           Sources/CRSCKernel/kernel_graph.c Sources/CRSCKernel/philox.c; do
    obj=$out.o/$(basename "$src" .c).o
    "$CC" -O3 -ffp-contract=off -fno-math-errno -fopenmp -I Sources/CRSCKernel -I Sources/CRSCKernel/include \
        -c "$src" -o "$obj"
    objs+=("$obj")
done
"$CC" "${objs[@]}" -l"$(rsc_omp_lib)" -lm -o "$out"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(date -u +%Y-%m-%d)"
"$out"
