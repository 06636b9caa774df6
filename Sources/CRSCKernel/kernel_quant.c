/* The integer input of arithmetic 1 (docs/format.md, "Arithmetic"): the coded input rounded to an
 * int16 grid, pools of it, and conv/linear layers on it as exact int16 x int8 sums into int32.
 *
 * The sums are exact in every path (the plan refuses models whose bound M * sum|w| can pass
 * 2^31 - 1), so the AVX-512 VNNI path (vpdpwssd: two int16 products per lane and instruction) and
 * the portable one give the same accumulators, and the neurons after them are the integer ones of
 * spike-fed layers (kernel_layers.c). */
#include "kernel_internal.h"

#include <math.h>
#include <string.h>

#pragma clang diagnostic ignored "-Wpsabi"

/* q = clamp(rint(z * 2^shift), -limit, limit), channels-first z into an HWC map. The product is
 * exact (a power of two), the clamp happens before the conversion so no value overflows int16,
 * and nearbyintf rounds half to even in the default rounding mode. */
RSCK_MULTI(, rsck_quantize, (const rsck_net *net, const float *z, int16_t *q), (net, z, q)) {
    const int C = net->in_c;
    const size_t hw = (size_t)net->in_h * net->in_w;
    const float s = ldexpf(1.0f, net->input_shift), lim = (float)net->input_limit;
    for (int c = 0; c < C; c++) {
        const float *restrict zc = z + (size_t)c * hw;
        int16_t *restrict qc = q + c;
        for (size_t p = 0; p < hw; p++) {
            float v = zc[p] * s;
            v = v > -lim ? v : -lim;
            v = v < lim ? v : lim;
            qc[p * (size_t)C] = (int16_t)nearbyintf(v);
        }
    }
}

/* Window sums (avgpool's 1/(kh*kw) is in the next layer's multiplier) and maxima, padding
 * excluded from the maxima; the plan keeps sums within int16. */
RSCK_MULTI(, rsck_pool_quant, (const rsck_layer *L, const int16_t *in, int16_t *out), (L, in, out)) {
    const int C = L->in_c, H = L->in_h, W = L->in_w, max = L->kind == RSCK_MAXPOOL;
    for (int oy = 0; oy < L->out_h; oy++)
        for (int ox = 0; ox < L->out_w; ox++) {
            int16_t *o = out + ((size_t)oy * L->out_w + ox) * C;
            int first = 1;
            for (int c = 0; c < C; c++) o[c] = 0;
            for (int ky = 0; ky < L->kh; ky++) {
                const int iy = oy * L->sh - L->ph + ky;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < L->kw; kx++) {
                    const int ix = ox * L->sw - L->pw + kx;
                    if (ix < 0 || ix >= W) continue;
                    const int16_t *i = in + ((size_t)iy * W + ix) * C;
                    if (!max) {
                        for (int c = 0; c < C; c++) o[c] = (int16_t)(o[c] + i[c]);
                    } else if (first) {
                        for (int c = 0; c < C; c++) o[c] = i[c];
                    } else {
                        for (int c = 0; c < C; c++) o[c] = i[c] > o[c] ? i[c] : o[c];
                    }
                    first = 0;
                }
            }
        }
}

/* Elements of the zero-padded copy: the padded map, plus one so that the last pair of a kernel
 * row may read one element past its span (its weight is zero). */
size_t rsck_quant_pad_size(const rsck_layer *L) {
    return (size_t)(L->in_h + 2 * L->ph) * (L->in_w + 2 * L->pw) * L->in_c + 2;
}

static void fill_pad16(const rsck_layer *L, const int16_t *in, int16_t *pad) {
    const int C = L->in_c, W = L->in_w, Wp = W + 2 * L->pw;
    memset(pad, 0, rsck_quant_pad_size(L) * sizeof *pad);
    for (int y = 0; y < L->in_h; y++)
        memcpy(pad + ((size_t)(y + L->ph) * Wp + L->pw) * C, in + (size_t)y * W * C, (size_t)W * C * sizeof *pad);
}

#define POS 4

typedef int32_t v16i __attribute__((vector_size(64)));
typedef int8_t v16c __attribute__((vector_size(16)));
static inline __attribute__((always_inline)) v16i load16c(const int8_t *p) {
    v16c v;
    memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, v16i);
}

/* Portable path: one product per weight and input, rows (ky, kx, c) of oc_stride int8 weights. */
static inline __attribute__((always_inline)) void quant_block(const rsck_layer *L, const int16_t *pad, int Wp,
                                                             int oy, int ox, int npos, int32_t *acc) {
    const int C = L->in_c, S = L->oc_stride;
    const size_t step = (size_t)L->sw * C;
    for (int o0 = 0; o0 < L->out_c; o0 += RSCK_TILE) {
        v16i t[POS] = {0};
        for (int ky = 0; ky < L->kh; ky++)
            for (int kx = 0; kx < L->kw; kx++) {
                const int16_t *ip = pad + ((size_t)(oy * L->sh + ky) * Wp + (size_t)ox * L->sw + kx) * C;
                const int8_t *wr = L->w8 + ((size_t)(ky * L->kw + kx) * C) * S + o0;
                for (int c = 0; c < C; c++) {
                    const v16i w = load16c(wr + (size_t)c * S);
                    if (npos == POS) {
                        for (int j = 0; j < POS; j++) t[j] += (int32_t)ip[j * step + c] * w;
                    } else {
                        for (int j = 0; j < npos; j++) t[j] += (int32_t)ip[j * step + c] * w;
                    }
                }
            }
        for (int j = 0; j < npos; j++) memcpy(acc + ((size_t)oy * L->out_w + ox + j) * S + o0, &t[j], sizeof t[j]);
    }
}

RSCK_MULTI(static, quant_portable, (const rsck_layer *L, const int16_t *pad, int32_t *acc), (L, pad, acc)) {
    const int Wp = L->in_w + 2 * L->pw;
    for (int oy = 0; oy < L->out_h; oy++) {
        int ox = 0;
        for (; ox + POS <= L->out_w; ox += POS) quant_block(L, pad, Wp, oy, ox, POS, acc);
        for (; ox < L->out_w; ox++) quant_block(L, pad, Wp, oy, ox, 1, acc);
    }
}

#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define VNNI_INLINE static inline __attribute__((always_inline)) VNNI

/* A kernel row's inputs at one output position are kw * C consecutive int16 of the HWC map: its
 * pairs (2p, 2p + 1) meet the pairs of w2, [ky][pair][oc_stride][2], one vpdpwssd per pair and 16
 * channels. POS positions share each weight load. */
VNNI_INLINE void vnni_block(const rsck_layer *L, const int16_t *pad, int Wp, int oy, int ox, int npos,
                            int32_t *acc) {
    const int C = L->in_c, S = L->oc_stride, P = (L->kw * C + 1) / 2;
    const size_t step = (size_t)L->sw * C;
    for (int o0 = 0; o0 < S; o0 += 16) {
        __m512i t[POS];
        for (int j = 0; j < POS; j++) t[j] = _mm512_setzero_si512();
        for (int ky = 0; ky < L->kh; ky++) {
            const int16_t *ip = pad + ((size_t)(oy * L->sh + ky) * Wp + (size_t)ox * L->sw) * C;
            const int16_t *wp = L->w2 + ((size_t)ky * P * S + o0) * 2;
            for (int p = 0; p < P; p++) {
                const __m512i w = _mm512_loadu_si512(wp + (size_t)p * S * 2);
                for (int j = 0; j < npos; j++) {
                    int32_t pair;
                    memcpy(&pair, ip + j * step + 2 * p, sizeof pair);
                    t[j] = _mm512_dpwssd_epi32(t[j], _mm512_set1_epi32(pair), w);
                }
            }
        }
        for (int j = 0; j < npos; j++) _mm512_storeu_si512(acc + ((size_t)oy * L->out_w + ox + j) * S + o0, t[j]);
    }
}

static VNNI void quant_vnni(const rsck_layer *L, const int16_t *pad, int32_t *acc) {
    const int Wp = L->in_w + 2 * L->pw;
    for (int oy = 0; oy < L->out_h; oy++) {
        int ox = 0;
        for (; ox + POS <= L->out_w; ox += POS) vnni_block(L, pad, Wp, oy, ox, POS, acc);
        for (; ox < L->out_w; ox++) vnni_block(L, pad, Wp, oy, ox, 1, acc);
    }
}

#define AVX2 __attribute__((target("avx2")))
#define AVX2_INLINE static inline __attribute__((always_inline)) AVX2

/* The same pairs with AVX2's vpmaddwd (two int16 products summed into each int32 lane, exact
 * here) and an add: 16 channels are two registers, so POS positions hold 2 * POS accumulators. */
AVX2_INLINE void avx2_block(const rsck_layer *L, const int16_t *pad, int Wp, int oy, int ox, int npos,
                            int32_t *acc) {
    const int C = L->in_c, S = L->oc_stride, P = (L->kw * C + 1) / 2;
    const size_t step = (size_t)L->sw * C;
    for (int o0 = 0; o0 < S; o0 += 16) {
        __m256i lo[POS], hi[POS];
        for (int j = 0; j < POS; j++) lo[j] = hi[j] = _mm256_setzero_si256();
        for (int ky = 0; ky < L->kh; ky++) {
            const int16_t *ip = pad + ((size_t)(oy * L->sh + ky) * Wp + (size_t)ox * L->sw) * C;
            const int16_t *wp = L->w2 + ((size_t)ky * P * S + o0) * 2;
            for (int p = 0; p < P; p++) {
                const __m256i w0 = _mm256_loadu_si256((const __m256i *)(wp + (size_t)p * S * 2));
                const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wp + (size_t)p * S * 2 + 16));
                for (int j = 0; j < npos; j++) {
                    int32_t pair;
                    memcpy(&pair, ip + j * step + 2 * p, sizeof pair);
                    const __m256i x = _mm256_set1_epi32(pair);
                    lo[j] = _mm256_add_epi32(lo[j], _mm256_madd_epi16(x, w0));
                    hi[j] = _mm256_add_epi32(hi[j], _mm256_madd_epi16(x, w1));
                }
            }
        }
        for (int j = 0; j < npos; j++) {
            int32_t *out = acc + ((size_t)oy * L->out_w + ox + j) * S + o0;
            _mm256_storeu_si256((__m256i *)out, lo[j]);
            _mm256_storeu_si256((__m256i *)(out + 8), hi[j]);
        }
    }
}

static AVX2 void quant_avx2(const rsck_layer *L, const int16_t *pad, int32_t *acc) {
    const int Wp = L->in_w + 2 * L->pw;
    for (int oy = 0; oy < L->out_h; oy++) {
        int ox = 0;
        for (; ox + POS <= L->out_w; ox += POS) avx2_block(L, pad, Wp, oy, ox, POS, acc);
        for (; ox < L->out_w; ox++) avx2_block(L, pad, Wp, oy, ox, 1, acc);
    }
}
#endif

void rsck_quant_layer(const rsck_layer *L, const int16_t *in, int32_t *acc, int16_t *pad16) {
    fill_pad16(L, in, pad16);
#if defined(__x86_64__) && defined(__clang__)
    if (L->w2 && rsck_have_vnni()) {
        quant_vnni(L, pad16, acc);
        return;
    }
    if (L->w2 && rsck_have_avx2()) {
        quant_avx2(L, pad16, acc);
        return;
    }
#endif
    quant_portable(L, pad16, acc);
}
