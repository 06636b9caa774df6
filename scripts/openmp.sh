# Sourced by scripts that build or run the kernel outside SwiftPM: where the OpenMP runtime is,
# found as Package.swift finds it (no omp.h needed: Sources/CRSCKernel/kernel_omp.h).
#   rsc_omp_lib   the -l name: $RSC_OPENMP_LIB, else omp where a libomp.so is on the linker's
#                 path (upstream LLVM, Fedora, Arch, Alpine), else omp5 where Debian/Ubuntu's
#                 libomp-dev put libomp5.so; status 1 when neither is there
#   rsc_omp_dir   the directory of the runtime rsc_omp_lib links (symlinks resolved): Debian's
#                 /usr/lib/llvm-14/lib, where libarcher.so (ThreadSanitizer's OpenMP tool) sits too
rsc_omp_dirs() {
    local d
    for d in /usr/local/lib /usr/local/lib64 /usr/lib64 /usr/lib /lib64 /lib \
             /usr/lib/*-linux-gnu /usr/lib/*-linux-musl /lib/*-linux-gnu /lib/*-linux-musl; do
        [ -d "$d" ] && echo "$d"
    done
    return 0
}

rsc_omp_lib() {
    if [ -n "${RSC_OPENMP_LIB:-}" ]; then echo "$RSC_OPENMP_LIB"; return 0; fi
    local name d
    for name in omp omp5; do
        for d in $(rsc_omp_dirs); do
            [ -e "$d/lib$name.so" ] && { echo "$name"; return 0; }
        done
    done
    return 1
}

rsc_omp_dir() {
    local name d
    name=$(rsc_omp_lib) || return 1
    for d in $(rsc_omp_dirs); do
        [ -e "$d/lib$name.so" ] && { dirname "$(readlink -f "$d/lib$name.so")"; return 0; }
    done
    return 1
}
