#!/usr/bin/env bash
# Builds bench/kernel_bench.c against the kernel sources with the library's flags (Package.swift)
# and runs it on one thread. Prints Markdown tables (bench/RESULTS.md quotes them).
set -euo pipefail
cd "$(dirname "$0")/.."
CC=$(dirname "$(readlink -f "$(command -v swift)")")/clang
out=${TMPDIR:-/tmp}/rsc-kernel-bench
"$CC" -O3 -ffp-contract=off -fno-math-errno -fopenmp -idirafter /usr/lib/llvm-14/lib/clang/14.0.6/include \
    -I Sources/CRSCKernel -I Sources/CRSCKernel/include \
    bench/kernel_bench.c Sources/CRSCKernel/kernel_layers.c Sources/CRSCKernel/kernel_vnni.c Sources/CRSCKernel/kernel_graph.c \
    Sources/CRSCKernel/philox.c \
    -L /usr/lib/llvm-14/lib -lomp -lm -o "$out"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(date -u +%Y-%m-%d)"
"$out"
