/* Which code this CPU runs: the instruction-set level of the hot loops (rsck_isa, for RSCK_MULTI)
 * and the hand-written AVX-512 VNNI and AVX2 paths. Every variant and path computes the same
 * results (exact integer sums; float code without contraction), so the choice never changes a
 * vote. RSC_DISABLE_VNNI=1, RSC_DISABLE_AVX512=1 (which also rules out VNNI) and
 * RSC_DISABLE_AVX2=1 (all of them: the x86-64 baseline) lower it, for tests that compare the
 * variants and for users ruling out a CPU-specific path when chasing a problem. Decided once;
 * threads that race on the first call store the same value. */
#include "kernel_internal.h"

#include <stdlib.h>

static int env_set(const char *name) {
    const char *v = getenv(name);
    return v && *v && *v != '0';
}

enum { ISA, VNNI };

#if defined(__x86_64__) && defined(__clang__)
static int decide(int what) {
    int isa = 1;
    if (!env_set("RSC_DISABLE_AVX2") && __builtin_cpu_supports("x86-64-v3")) {
        isa = 3;
        if (!env_set("RSC_DISABLE_AVX512") && __builtin_cpu_supports("x86-64-v4")) isa = 4;
    }
    if (what == ISA) return isa;
    return isa == 4 && !env_set("RSC_DISABLE_VNNI") && __builtin_cpu_supports("avx512vnni");
}
#else
static int decide(int what) { return what == ISA ? 1 : 0; }
#endif

static int cached(int *state, int what) {
    int s = __atomic_load_n(state, __ATOMIC_RELAXED); /* 0 unknown, else the value + 1 */
    if (!s) {
        s = decide(what) + 1;
        __atomic_store_n(state, s, __ATOMIC_RELAXED);
    }
    return s - 1;
}

int rsck_isa(void) {
    static int state;
    return cached(&state, ISA);
}

int rsck_have_vnni(void) {
    static int state;
    return cached(&state, VNNI);
}

int rsck_have_avx2(void) { return rsck_isa() >= 3; }
