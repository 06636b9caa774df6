/* The OpenMP runtime calls the kernel makes, declared here instead of including omp.h: the
 * toolchain's clang does not ship omp.h and distributions put it in version-specific places
 * (Debian: /usr/lib/llvm-14/lib/clang/14.0.6/include). These are the OpenMP API's C signatures
 * (and one libomp extension); -fopenmp itself needs no header for the pragmas. */
#ifndef RSC_KERNEL_OMP_H
#define RSC_KERNEL_OMP_H

#include <stddef.h>

int omp_get_max_threads(void);
int omp_get_thread_num(void);
/* libomp's stack size for worker threads (OMP_STACKSIZE; by default the process's stack limit,
 * 8 MiB on Linux), an extension libomp exports and declares in its omp.h. */
size_t kmp_get_stacksize_s(void);

#endif
