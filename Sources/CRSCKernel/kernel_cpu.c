/* Which hand-written paths this CPU runs: AVX-512 VNNI (dense spike-fed layers, the int16 input
 * layer) and AVX2 (the int16 input layer). Every path computes the same exact integer sums, so the
 * choice never changes a result; RSC_DISABLE_VNNI=1 and RSC_DISABLE_AVX2=1 (which also rules out
 * VNNI) switch them off, for tests that compare the paths and for users ruling out a CPU-specific
 * path when chasing a problem. Decided once; threads that race on the first call store the same
 * value. */
#include "kernel_internal.h"

#include <stdlib.h>

static int env_set(const char *name) {
    const char *v = getenv(name);
    return v && *v && *v != '0';
}

#if defined(__x86_64__) && defined(__clang__)
static int decide(int vnni) {
    if (env_set("RSC_DISABLE_AVX2") || !__builtin_cpu_supports("avx2")) return 0;
    if (!vnni) return 1;
    return !env_set("RSC_DISABLE_VNNI") && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
}
#else
static int decide(int vnni) { (void)vnni; return 0; }
#endif

static int cached(int *state, int vnni) {
    int s = __atomic_load_n(state, __ATOMIC_RELAXED); /* 0 unknown, 1 yes, 2 no */
    if (!s) {
        s = decide(vnni) ? 1 : 2;
        __atomic_store_n(state, s, __ATOMIC_RELAXED);
    }
    return s == 1;
}

int rsck_have_vnni(void) {
    static int state;
    return cached(&state, 1);
}

int rsck_have_avx2(void) {
    static int state;
    return cached(&state, 0);
}
