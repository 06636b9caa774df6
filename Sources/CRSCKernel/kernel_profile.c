/* The int8 peak that rsc-cli profile compares each dense layer with: one thread issuing the dense
 * path's own inner step (kernel_dense.c) on independent registers, nothing else. */
#include "kernel_internal.h"

#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile int32_t sink;

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>

/* vpdpbusd zmm: 64 u8 x s8 products, ten independent chains. */
static __attribute__((target("avx512f,avx512bw,avx512vnni"))) double peak_vnni(double seconds) {
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2), acc[10];
    for (int j = 0; j < 10; j++) acc[j] = _mm512_setzero_si512();
    long iters = 0;
    const double t0 = now();
    double dt;
    do {
        for (int r = 0; r < 1000; r++) {
            __asm__ volatile("" : "+v"(a), "+v"(b)); /* opaque operands: nothing is hoisted */
            for (int j = 0; j < 10; j++) acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
        }
        iters += 1000;
    } while ((dt = now() - t0) < seconds);
    __m512i s = acc[0];
    for (int j = 1; j < 10; j++) s = _mm512_add_epi32(s, acc[j]);
    sink = _mm512_reduce_add_epi32(s);
    return 64.0 * 10 * (double)iters / dt;
}

/* vpmaddubsw ymm (32 products into 16 int16 pair sums) and an int16 add, six chains. */
static __attribute__((target("avx2"))) double peak_avx2(double seconds) {
    __m256i a = _mm256_set1_epi8(3), b[6], acc[6];
    for (int j = 0; j < 6; j++) b[j] = _mm256_set1_epi8((char)(j - 2)), acc[j] = _mm256_setzero_si256();
    long iters = 0;
    const double t0 = now();
    double dt;
    do {
        for (int r = 0; r < 1000; r++) {
            __asm__ volatile("" : "+x"(a));
            for (int j = 0; j < 6; j++) acc[j] = _mm256_add_epi16(acc[j], _mm256_maddubs_epi16(a, b[j]));
        }
        iters += 1000;
    } while ((dt = now() - t0) < seconds);
    __m256i s = acc[0];
    for (int j = 1; j < 6; j++) s = _mm256_add_epi16(s, acc[j]);
    int16_t out[16];
    _mm256_storeu_si256((__m256i *)out, s);
    sink = out[0];
    return 32.0 * 6 * (double)iters / dt;
}
#endif

double rsck_int8_peak(double seconds, const char **what) {
#if defined(__x86_64__) && defined(__clang__)
    if (rsck_have_vnni()) {
        *what = "AVX-512 VNNI vpdpbusd";
        return peak_vnni(seconds);
    }
    if (rsck_have_avx2()) {
        *what = "AVX2 vpmaddubsw + int16 add";
        return peak_avx2(seconds);
    }
#endif
    (void)seconds;
    *what = "none (events only)";
    return 0;
}
