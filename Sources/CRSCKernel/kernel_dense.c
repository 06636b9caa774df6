/* Spike-fed layers as dense u8 x s8 products, for steps whose events are dense.
 *
 * Event-driven row adds cost in proportion to the spikes, but each event pays for gathering and
 * for one 16-lane add per output tile it reaches; once a large share of the inputs are non-zero
 * (pooled spike counts of a busy layer), a dense product does the same integer sums faster:
 * AVX-512 VNNI's vpdpbusd multiplies 4 input bytes by 4 int8 weights for 16 output channels in
 * one instruction; AVX2 does the same for 8 channels with vpmaddubsw (pairs of products into
 * int16, exact while counts are <= 128: |2 * 128 * -128| fits) and vpmaddwd against ones. The
 * sums are exact int32 in every path, so the choice, made per step from the number of non-zero
 * inputs, never changes a result (bit-identical votes, tested). CPUs without AVX2, and layers
 * whose counts can exceed a byte (128 for AVX2), use the event path only. */
#include "kernel_internal.h"

#include <stdlib.h>
#include <string.h>

/* Output positions per block (independent accumulator chains), and output-channel tiles per block
 * where a row has fewer positions (a linear layer has one). */
#define POS 4
#define TILES 4

/* An event costs about this many dense dot-product instructions per output tile it reaches
 * (measured with bench/kernel_bench.c on AMD EPYC with AVX-512: gathering, then one add per tile
 * and position): the step runs dense when events * EVENT_COST exceed the dense work. AVX2 needs
 * two instructions' worth of time per VNNI one (half the lanes, the widening vpmaddwd), measured
 * likewise on an AVX2-only AMD EPYC. */
#define EVENT_COST 6
#define EVENT_COST_AVX2 3

static int in_c4(const rsck_layer *L) { return (L->in_c + 3) & ~3; }
static int pad_w(const rsck_layer *L) { return L->in_w + 2 * L->pw; }

size_t rsck_count_pad_size(const rsck_layer *L) {
    if (!L->w4) return 0;
    return (size_t)(L->in_h + 2 * L->ph) * pad_w(L) * in_c4(L);
}

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define VNNI_INLINE static inline __attribute__((always_inline)) VNNI

VNNI_INLINE __m512i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

/* POS consecutive output positions of row oy from ox, one tile of 16 channels at a time. */
VNNI_INLINE void block_positions(const rsck_layer *L, const uint8_t *pad, int C4, int oy, int ox, int32_t *acc) {
    const int G = C4 / 4, S = L->oc_stride, Wp = pad_w(L);
    const size_t pstep = (size_t)L->sw * C4;
    for (int o0 = 0; o0 < S; o0 += 16) {
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        for (int ky = 0; ky < L->kh; ky++)
            for (int kx = 0; kx < L->kw; kx++) {
                const uint8_t *ip = pad + ((size_t)(oy * L->sh + ky) * Wp + (size_t)ox * L->sw + kx) * C4;
                const int8_t *wp = L->w4 + ((size_t)(ky * L->kw + kx) * G * S + o0) * 4;
                for (int g = 0; g < G; g++) {
                    const __m512i w = _mm512_loadu_si512(wp + (size_t)g * S * 4);
                    a0 = _mm512_dpbusd_epi32(a0, bcast4(ip + 4 * g), w);
                    a1 = _mm512_dpbusd_epi32(a1, bcast4(ip + pstep + 4 * g), w);
                    a2 = _mm512_dpbusd_epi32(a2, bcast4(ip + 2 * pstep + 4 * g), w);
                    a3 = _mm512_dpbusd_epi32(a3, bcast4(ip + 3 * pstep + 4 * g), w);
                }
            }
        int32_t *out = acc + ((size_t)oy * L->out_w + ox) * S + o0;
        _mm512_storeu_si512(out, a0);
        _mm512_storeu_si512(out + S, a1);
        _mm512_storeu_si512(out + 2 * (size_t)S, a2);
        _mm512_storeu_si512(out + 3 * (size_t)S, a3);
    }
}

/* One output position, nt (<= TILES, a constant in each instance) tiles from o0. */
VNNI_INLINE void block_tiles(const rsck_layer *L, const uint8_t *pad, int C4, int oy, int ox, int o0, int nt,
                             int32_t *acc) {
    const int G = C4 / 4, S = L->oc_stride, Wp = pad_w(L);
    __m512i a[TILES];
    for (int t = 0; t < nt; t++) a[t] = _mm512_setzero_si512();
    for (int ky = 0; ky < L->kh; ky++)
        for (int kx = 0; kx < L->kw; kx++) {
            const uint8_t *ip = pad + ((size_t)(oy * L->sh + ky) * Wp + (size_t)ox * L->sw + kx) * C4;
            const int8_t *wp = L->w4 + ((size_t)(ky * L->kw + kx) * G * S + o0) * 4;
            for (int g = 0; g < G; g++) {
                const __m512i x = bcast4(ip + 4 * g);
                for (int t = 0; t < nt; t++)
                    a[t] = _mm512_dpbusd_epi32(a[t], x, _mm512_loadu_si512(wp + ((size_t)g * S + 16 * t) * 4));
            }
        }
    int32_t *out = acc + ((size_t)oy * L->out_w + ox) * S + o0;
    for (int t = 0; t < nt; t++) _mm512_storeu_si512(out + 16 * t, a[t]);
}

static VNNI void position_all_tiles(const rsck_layer *L, const uint8_t *pad, int C4, int oy, int ox, int32_t *acc) {
    int o0 = 0;
    for (; o0 + 16 * TILES <= L->oc_stride; o0 += 16 * TILES) block_tiles(L, pad, C4, oy, ox, o0, TILES, acc);
    switch ((L->oc_stride - o0) / 16) {
    case 3: block_tiles(L, pad, C4, oy, ox, o0, 3, acc); break;
    case 2: block_tiles(L, pad, C4, oy, ox, o0, 2, acc); break;
    case 1: block_tiles(L, pad, C4, oy, ox, o0, 1, acc); break;
    default: break;
    }
}

static VNNI void dense_vnni(const rsck_layer *L, const uint8_t *pad, int32_t *acc) {
    const int C4 = in_c4(L);
    for (int oy = 0; oy < L->out_h; oy++) {
        int ox = 0;
        for (; ox + POS <= L->out_w; ox += POS) block_positions(L, pad, C4, oy, ox, acc);
        for (; ox < L->out_w; ox++) position_all_tiles(L, pad, C4, oy, ox, acc);
    }
}

#define AVX2 __attribute__((target("avx2")))
#define AVX2_INLINE static inline __attribute__((always_inline)) AVX2

/* 8 channels of 4 inputs: vpmaddubsw gives 16 int16 sums of 2 products (|.| <= 256 * max_count).
 * Up to n16 of them are summed in int16 lanes (exact while n16 * 256 * max_count <= 32767),
 * then vpmaddwd against ones adds the pairs into the 8 int32 accumulators in memory: one
 * widening per n16 products instead of one per product. */
AVX2_INLINE __m256i prod4(__m256i x, const int8_t *w) {
    return _mm256_maddubs_epi16(x, _mm256_loadu_si256((const __m256i *)w));
}

AVX2_INLINE void widen_add(int32_t *out, __m256i s) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)out);
    _mm256_storeu_si256((__m256i *)out, _mm256_add_epi32(a, _mm256_madd_epi16(s, _mm256_set1_epi16(1))));
}

static int sums_per_widening(const rsck_layer *L) {
    const int n = 32767 / (256 * (L->max_count > 0 ? L->max_count : 1));
    return n > 0 ? n : 1;
}

AVX2_INLINE __m256i bcast4_avx2(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

/* POS consecutive output positions of row oy from ox, 16 channels (two halves) at a time. */
AVX2_INLINE void avx2_positions(const rsck_layer *L, const uint8_t *pad, int C4, int oy, int ox, int n16,
                                int32_t *acc) {
    const int G = C4 / 4, S = L->oc_stride, Wp = pad_w(L);
    const size_t pstep = (size_t)L->sw * C4;
    for (int o0 = 0; o0 < S; o0 += 16) {
        int32_t *out = acc + ((size_t)oy * L->out_w + ox) * S + o0;
        for (int j = 0; j < POS; j++) memset(out + (size_t)j * S, 0, 16 * sizeof *out);
        __m256i s[POS][2];
        for (int j = 0; j < POS; j++) s[j][0] = s[j][1] = _mm256_setzero_si256();
        int left = n16;
        for (int ky = 0; ky < L->kh; ky++)
            for (int kx = 0; kx < L->kw; kx++) {
                const uint8_t *ip = pad + ((size_t)(oy * L->sh + ky) * Wp + (size_t)ox * L->sw + kx) * C4;
                const int8_t *wp = L->w4 + ((size_t)(ky * L->kw + kx) * G * S + o0) * 4;
                for (int g = 0; g < G; g++) {
                    const int8_t *w = wp + (size_t)g * S * 4;
                    for (int j = 0; j < POS; j++) {
                        const __m256i x = bcast4_avx2(ip + j * pstep + 4 * g);
                        s[j][0] = _mm256_add_epi16(s[j][0], prod4(x, w));
                        s[j][1] = _mm256_add_epi16(s[j][1], prod4(x, w + 32));
                    }
                    if (--left == 0) {
                        for (int j = 0; j < POS; j++) {
                            widen_add(out + (size_t)j * S, s[j][0]);
                            widen_add(out + (size_t)j * S + 8, s[j][1]);
                            s[j][0] = s[j][1] = _mm256_setzero_si256();
                        }
                        left = n16;
                    }
                }
            }
        if (left != n16)
            for (int j = 0; j < POS; j++) {
                widen_add(out + (size_t)j * S, s[j][0]);
                widen_add(out + (size_t)j * S + 8, s[j][1]);
            }
    }
}

/* One output position, nt (<= TILES, a constant in each instance) tiles of 16 channels from o0. */
AVX2_INLINE void avx2_tiles(const rsck_layer *L, const uint8_t *pad, int C4, int oy, int ox, int o0, int nt,
                            int n16, int32_t *acc) {
    const int G = C4 / 4, S = L->oc_stride, Wp = pad_w(L);
    int32_t *out = acc + ((size_t)oy * L->out_w + ox) * S + o0;
    memset(out, 0, (size_t)16 * nt * sizeof *out);
    __m256i s[2 * TILES];
    for (int t = 0; t < 2 * nt; t++) s[t] = _mm256_setzero_si256();
    int left = n16;
    for (int ky = 0; ky < L->kh; ky++)
        for (int kx = 0; kx < L->kw; kx++) {
            const uint8_t *ip = pad + ((size_t)(oy * L->sh + ky) * Wp + (size_t)ox * L->sw + kx) * C4;
            const int8_t *wp = L->w4 + ((size_t)(ky * L->kw + kx) * G * S + o0) * 4;
            for (int g = 0; g < G; g++) {
                const __m256i x = bcast4_avx2(ip + 4 * g);
                for (int t = 0; t < 2 * nt; t++) s[t] = _mm256_add_epi16(s[t], prod4(x, wp + ((size_t)g * S + 8 * t) * 4));
                if (--left == 0) {
                    for (int t = 0; t < 2 * nt; t++) {
                        widen_add(out + 8 * t, s[t]);
                        s[t] = _mm256_setzero_si256();
                    }
                    left = n16;
                }
            }
        }
    if (left != n16)
        for (int t = 0; t < 2 * nt; t++) widen_add(out + 8 * t, s[t]);
}

static AVX2 void avx2_all_tiles(const rsck_layer *L, const uint8_t *pad, int C4, int oy, int ox, int n16,
                                int32_t *acc) {
    int o0 = 0;
    for (; o0 + 16 * TILES <= L->oc_stride; o0 += 16 * TILES) avx2_tiles(L, pad, C4, oy, ox, o0, TILES, n16, acc);
    switch ((L->oc_stride - o0) / 16) {
    case 3: avx2_tiles(L, pad, C4, oy, ox, o0, 3, n16, acc); break;
    case 2: avx2_tiles(L, pad, C4, oy, ox, o0, 2, n16, acc); break;
    case 1: avx2_tiles(L, pad, C4, oy, ox, o0, 1, n16, acc); break;
    default: break;
    }
}

static AVX2 void dense_avx2(const rsck_layer *L, const uint8_t *pad, int32_t *acc) {
    const int C4 = in_c4(L), n16 = sums_per_widening(L);
    for (int oy = 0; oy < L->out_h; oy++) {
        int ox = 0;
        for (; ox + POS <= L->out_w; ox += POS) avx2_positions(L, pad, C4, oy, ox, n16, acc);
        for (; ox < L->out_w; ox++) avx2_all_tiles(L, pad, C4, oy, ox, n16, acc);
    }
}

#else
static void dense_vnni(const rsck_layer *L, const uint8_t *pad, int32_t *acc) { (void)L; (void)pad; (void)acc; }
static void dense_avx2(const rsck_layer *L, const uint8_t *pad, int32_t *acc) { (void)L; (void)pad; (void)acc; }
#endif

/* Which dense product this layer gets on this CPU: 2 VNNI, 1 AVX2, 0 none (events only). */
static int dense_kind(const rsck_layer *L) {
    if (!L->w4) return 0;
    if (rsck_have_vnni()) return 2;
    return L->max_count <= 128 && rsck_have_avx2() ? 1 : 0;
}

static void run_dense(int kind, const rsck_layer *L, const uint8_t *pad, int32_t *acc) {
    if (kind == 2) dense_vnni(L, pad, acc);
    else dense_avx2(L, pad, acc);
}

/* The count map as bytes (the plan set w4 only where counts fit), zero-padded around and to 4
 * channels; returns the number of non-zero inputs, which decides the path. One pass, vectorized
 * per CPU: it runs at every step of every spike-fed layer that has a dense path. */
RSCK_MULTI(static, fill_pad_, (const rsck_layer *L, const uint16_t *in, uint8_t *pad, size_t *nonzero),
           (L, in, pad, nonzero)) {
    const int C = L->in_c, C4 = in_c4(L), W = L->in_w, Wp = pad_w(L);
    memset(pad, 0, rsck_count_pad_size(L));
    size_t nz = 0;
    for (int y = 0; y < L->in_h; y++) {
        const uint16_t *restrict s = in + (size_t)y * W * C;
        uint8_t *restrict d = pad + ((size_t)(y + L->ph) * Wp + L->pw) * C4;
        if (C == C4) {
            for (int i = 0; i < W * C; i++) {
                d[i] = (uint8_t)s[i];
                nz += s[i] != 0;
            }
            continue;
        }
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++) {
                d[(size_t)x * C4 + c] = (uint8_t)s[(size_t)x * C + c];
                nz += s[(size_t)x * C + c] != 0;
            }
    }
    *nonzero = nz;
}

static size_t fill_pad(const rsck_layer *L, const uint16_t *in, uint8_t *pad) {
    size_t nz;
    fill_pad_(L, in, pad, &nz);
    return nz;
}

/* Per output tile: an event reaches about kh*kw / (sh*sw) positions, one add each; the dense
 * product costs kh*kw*in_c4/4 instructions per position. */
static int dense_pays(int kind, const rsck_layer *L, size_t nz) {
    const size_t dense = (size_t)L->out_h * L->out_w * (size_t)in_c4(L) / 4 * L->sh * L->sw;
    return nz * (kind == 2 ? EVENT_COST : EVENT_COST_AVX2) >= dense;
}

int rsck_count_dense(const rsck_layer *L, const uint16_t *in, int32_t *acc, uint8_t *pad8) {
    const int kind = dense_kind(L);
    if (!kind) return 0;
    fill_pad(L, in, pad8);
    run_dense(kind, L, pad8, acc);
    return kind;
}

int rsck_count_dense_pays(const rsck_layer *L, const uint16_t *in) {
    const int kind = dense_kind(L);
    if (!kind) return 0;
    const size_t n = (size_t)L->in_c * L->in_h * L->in_w;
    size_t nz = 0;
    for (size_t i = 0; i < n; i++) nz += in[i] != 0;
    return dense_pays(kind, L, nz);
}

int rsck_count_layer(const rsck_layer *L, const uint16_t *in, int32_t *acc, int32_t *events, uint8_t *pad8) {
    const int kind = dense_kind(L);
    if (kind && dense_pays(kind, L, fill_pad(L, in, pad8))) {
        run_dense(kind, L, pad8, acc);
        return 1;
    }
    rsck_event(L, in, acc, events);
    return 0;
}
