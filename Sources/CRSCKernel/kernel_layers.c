/* The per-layer loops: dense float32 layers on analog maps, event-driven int8 row adds for
 * spike-fed layers, fixed-point LIF/IF updates and pools. All maps are HWC so the
 * innermost loop runs over output channels, contiguous in both weights and accumulators. */
#include "kernel_internal.h"

#include <math.h>
#include <string.h>

/* Output channels are processed in tiles of TILE accumulators that stay in registers while every
 * contributing input is added, instead of a load and store of the accumulator per input. Rows and
 * accumulators are padded to whole tiles, so there is no remainder loop. */
#define TILE RSCK_TILE

/* Dense (analog-fed) conv or linear: acc[o] = sum_k in[k] w[k][o] per output position, in float32
 * (quantizing the coded input to int16 flipped a spike in ~1.5% of passes against the float64
 * reference, docs/kernel.md). The input is first copied into a zero-padded map so the inner loops
 * have no bounds checks, and POS output positions of a row are computed together: each weight row
 * is loaded once for POS accumulator tiles, which are independent chains for the FPU. */
#define POS 4

/* The helpers below are always inlined, so their 64-byte vector arguments never cross a call
 * boundary and the psABI note about them does not apply. */
#pragma clang diagnostic ignored "-Wpsabi"

/* One tile as a vector (GCC/Clang vector extensions): each RSCK_MULTI variant lowers it to its
 * own registers (one zmm, two ymm or four xmm), and the compiler cannot re-vectorize it wrongly. */
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef int8_t v16c __attribute__((vector_size(16)));

#define RSCK_INLINE static inline __attribute__((always_inline))
RSCK_INLINE v16f load16f(const float *p) { v16f v; memcpy(&v, p, sizeof v); return v; }
RSCK_INLINE void store16f(float *p, v16f v) { memcpy(p, &v, sizeof v); }
RSCK_INLINE v16i load16i(const int32_t *p) { v16i v; memcpy(&v, p, sizeof v); return v; }
RSCK_INLINE void store16i(int32_t *p, v16i v) { memcpy(p, &v, sizeof v); }
RSCK_INLINE v16i load16c(const int8_t *p) { v16c v; memcpy(&v, p, sizeof v); return __builtin_convertvector(v, v16i); }

static inline __attribute__((always_inline)) void dense_block(const rsck_layer *L, const float *pad, int Wp,
                                                             int oy, int ox, int npos, float *acc) {
    const int C = L->in_c, OC = L->out_c, S = L->oc_stride;
    const size_t step = (size_t)L->sw * C;
    for (int o0 = 0; o0 < OC; o0 += TILE) {
        v16f t[POS] = {0};
        for (int ky = 0; ky < L->kh; ky++) {
            for (int kx = 0; kx < L->kw; kx++) {
                const float *ip = pad + ((size_t)(oy * L->sh + ky) * Wp + (size_t)ox * L->sw + kx) * C;
                const float *wr = L->wf + ((size_t)(ky * L->kw + kx) * C) * S + o0;
                for (int c = 0; c < C; c++) {
                    const v16f w = load16f(wr + (size_t)c * S);
                    if (npos == POS) {
                        for (int j = 0; j < POS; j++) t[j] += ip[j * step + c] * w;
                    } else {
                        for (int j = 0; j < npos; j++) t[j] += ip[j * step + c] * w;
                    }
                }
            }
        }
        for (int j = 0; j < npos; j++) store16f(acc + ((size_t)oy * L->out_w + ox + j) * S + o0, t[j]);
    }
}

RSCK_MULTI(, rsck_dense, (const rsck_layer *L, const float *in, float *pad, float *acc), (L, in, pad, acc)) {
    const int C = L->in_c, H = L->in_h, W = L->in_w;
    const int Wp = W + 2 * L->pw, Hp = H + 2 * L->ph;
    if (L->ph || L->pw) {
        memset(pad, 0, (size_t)Hp * Wp * C * sizeof *pad);
        for (int y = 0; y < H; y++)
            memcpy(pad + ((size_t)(y + L->ph) * Wp + L->pw) * C, in + (size_t)y * W * C, (size_t)W * C * sizeof *pad);
        in = pad;
    }
    for (int oy = 0; oy < L->out_h; oy++) {
        int ox = 0;
        for (; ox + POS <= L->out_w; ox += POS) dense_block(L, in, Wp, oy, ox, POS, acc);
        for (; ox < L->out_w; ox++) dense_block(L, in, Wp, oy, ox, 1, acc);
    }
}

/* a[0..TILE) += the rows of single events (count 1: a plain add) and count[e] times the rows of
 * multi events (pooled spike counts > 1), the rows `stride` apart. */
static inline __attribute__((always_inline)) void add_rows(int32_t *restrict a, const int8_t *restrict w0,
                                                          int stride, const int32_t *ones, int n1,
                                                          const int32_t *multi, const int32_t *count, int nm) {
    v16i t = load16i(a);
    for (int e = 0; e < n1; e++) t += load16c(w0 + (size_t)ones[e] * stride);
    for (int e = 0; e < nm; e++) t += count[e] * load16c(w0 + (size_t)multi[e] * stride);
    store16i(a, t);
}

/* Event-driven (spike-fed) conv or linear: for every non-zero input, add its weight row (times the
 * count, which is 1 for spikes) into each output position it reaches. Cost is proportional to the
 * number of events, not to the size of the layer. Events are gathered per input pixel, so each
 * output tile is loaded and stored once per pixel, not once per event. */
RSCK_MULTI(, rsck_event, (const rsck_layer *L, const uint16_t *in, int32_t *acc, int32_t *events), (L, in, acc, events)) {
    const int C = L->in_c, W = L->in_w, OC = L->out_c, OW = L->out_w, S = L->oc_stride;
    const size_t n_out = (size_t)S * L->out_h * L->out_w;
    /* 3 * in_c entries (the plan sizes it): channels with count 1, channels with more, counts. */
    int32_t *ones = events, *multi = events + C, *count = events + 2 * C;
    memset(acc, 0, n_out * sizeof *acc);
    for (int iy = 0; iy < L->in_h; iy++) {
        const int32_t *ys = L->ymap + (size_t)iy * L->kh;
        const int ny = L->ycount[iy];
        for (int ix = 0; ix < W; ix++) {
            const uint16_t *px = in + ((size_t)iy * W + ix) * C;
            int n1 = 0, nm = 0;
            for (int c = 0; c < C; c++) {
                const int32_t k = px[c];
                ones[n1] = c;
                multi[nm] = c;
                count[nm] = k;
                n1 += k == 1;
                nm += k > 1;
            }
            if (!(n1 | nm)) continue;
            const int32_t *xs = L->xmap + (size_t)ix * L->kw;
            const int nx = L->xcount[ix];
            for (int j = 0; j < ny; j++) {
                const int oy = ys[j] >> 6, ky = ys[j] & 63;
                for (int k = 0; k < nx; k++) {
                    const int ox = xs[k] >> 6, kx = xs[k] & 63;
                    int32_t *a = acc + ((size_t)oy * OW + ox) * S;
                    const int8_t *w = L->w8 + (size_t)(ky * L->kw + kx) * C * S;
                    for (int o0 = 0; o0 < OC; o0 += TILE) add_rows(a + o0, w + o0, S, ones, n1, multi, count, nm);
                }
            }
        }
    }
}

/* Neuron kinds of the instances below: IF, LIF with any leak (Q30, 64-bit products), LIF whose
 * Q30 leak is a whole Q16 one below 2^16 (tau = 4, 2.5, ...: 32-bit arithmetic, the same
 * results), LIF with tau = 2 (leak 2^29: a shift, the same results again). */
enum { NEURON_IF = 0, LIF_WIDE = 1, LIF_SPLIT = 2, LIF_NODECAY = 3, LIF_HALF = 4 };

/* floor((d * leak + 2^29) / 2^30): the LIF leak, 1/tau as a Q30 multiplier, rounded half up. With
 * leak = l16 2^14 this is floor((d * l16 + 2^15) / 2^16) exactly, which LIF_SPLIT computes (it is
 * passed l16). */
static inline __attribute__((always_inline)) int32_t leak_step(int lif, int32_t d, int32_t leak) {
    /* leak = 2^29: floor((d 2^29 + 2^29) / 2^30) = floor((d + 1) / 2), no product at all. */
    if (lif == LIF_HALF) return (d + 1) >> 1;
    if (lif == LIF_SPLIT) {
        /* The same in 32-bit lanes (twice as many per vector as 64-bit products): with
         * d = dh 2^16 + dl, 0 <= dl < 2^16, it is dh * leak (exact in int32
         * for leak < 2^16) plus (dl * leak + 2^15) >> 16 (below 2^32 unsigned). */
        const int32_t dh = d >> 16;
        const uint32_t dl = (uint32_t)d & 0xffffu;
        return dh * leak + (int32_t)((dl * (uint32_t)leak + 32768u) >> 16);
    }
    return (int32_t)(((int64_t)d * leak + (1 << 29)) >> 30);
}

/* LIF (SpikingJelly decay_input: h = v + (I - (v - v_reset)) / tau, 1/tau as a Q16 multiplier) or
 * IF (h = v + I), then spike on h >= v_th with hard or soft reset. Fixed point: the plan chose the
 * membrane unit so that no intermediate leaves int32 (docs/kernel.md). Branch-free, and the neuron
 * kind and reset are compile-time constants in each instance below, so the loops over a position's
 * channels vectorize. */
static inline __attribute__((always_inline)) uint16_t neuron_step(int lif, int soft, int32_t leak, int32_t vr,
                                                                  int32_t vth, int32_t I, int32_t *v) {
    /* LIF_NODECAY (SpikingJelly decay_input=False): the leak acts on v alone, I adds in full. */
    const int32_t h = lif == LIF_NODECAY ? *v + leak_step(LIF_WIDE, vr - *v, leak) + I
                      : lif ? *v + leak_step(lif, I - *v + vr, leak) : *v + I;
    const int32_t spike = h >= vth;
    *v = soft ? h - (spike ? vth : 0) : (spike ? vr : h);
    return (uint16_t)spike;
}

/* The current of an integer accumulator: arithmetic 1 in binary32 (no FMA: -ffp-contract=off),
 * else round(acc * cur_mult / 2^cur_shift) + cur_bias with 64-bit products. */
static inline __attribute__((always_inline)) int32_t count_current(int fcur, int32_t a, int32_t mult, int32_t bias,
                                                                   float multf, float biasf, int64_t half, int shift) {
    if (fcur) return (int32_t)nearbyintf((float)a * multf + biasf);
    return (int32_t)(((int64_t)a * mult + half) >> shift) + bias;
}

/* Currents from COUNT accumulators (count_current), then the neuron. */
static inline __attribute__((always_inline)) void neuron_count_map_(const rsck_layer *L, int lif, int soft, int oc, int fcur,
                                                                    const int32_t *acc, int32_t *v, uint16_t *spikes) {
    const int OC = oc ? oc : L->out_c, S = oc ? oc : L->oc_stride, shift = L->cur_shift;
    const int64_t half = shift ? (int64_t)1 << (shift - 1) : 0;
    const int32_t leak = lif == LIF_SPLIT ? L->leak >> 14 : L->leak, vr = L->v_reset, vth = L->v_th;
    const int32_t *restrict mult = L->cur_mult, *restrict bias = L->cur_bias;
    const float *restrict multf = L->cur_multf, *restrict biasf = L->cur_biasf;
    const size_t npos = (size_t)L->out_h * L->out_w;
    for (size_t p = 0; p < npos; p++) {
        const int32_t *restrict a = acc + p * S;
        int32_t *restrict vp = v + p * OC;
        uint16_t *restrict sp = spikes + p * OC;
        for (int o = 0; o < OC; o++) {
            const int32_t I = fcur ? count_current(1, a[o], 0, 0, multf[o], biasf[o], 0, 0)
                                   : count_current(0, a[o], mult[o], bias[o], 0, 0, half, shift);
            sp[o] = neuron_step(lif, soft, leak, vr, vth, I, vp + o);
        }
    }
}

static inline __attribute__((always_inline)) void neuron_count_map(const rsck_layer *L, int lif, int soft, int oc,
                                                                   const int32_t *acc, int32_t *v, uint16_t *spikes) {
    if (L->cur_multf) neuron_count_map_(L, lif, soft, oc, 1, acc, v, spikes);
    else neuron_count_map_(L, lif, soft, oc, 0, acc, v, spikes);
}

/* Currents from float accumulators, in double: I = clamp(acc * an_mult + an_bias), rounded to even. */
static inline __attribute__((always_inline)) void neuron_analog_map(const rsck_layer *L, int lif, int soft, int oc,
                                                                    const float *acc, int32_t *v, uint16_t *spikes) {
    const int OC = oc ? oc : L->out_c, S = oc ? oc : L->oc_stride;
    const double lim = L->cur_limit;
    const int32_t leak = lif == LIF_SPLIT ? L->leak >> 14 : L->leak, vr = L->v_reset, vth = L->v_th;
    const double *restrict mult = L->an_mult, *restrict bias = L->an_bias;
    const size_t npos = (size_t)L->out_h * L->out_w;
    for (size_t p = 0; p < npos; p++) {
        const float *restrict a = acc + p * S;
        int32_t *restrict vp = v + p * OC;
        uint16_t *restrict sp = spikes + p * OC;
        for (int o = 0; o < OC; o++) {
            /* Written as the operand order of maxpd/minpd (fmax/fmin's NaN rules cost a compare
             * and a blend per vector); a NaN, which validated inputs never make, saturates. */
            double I = (double)a[o] * mult[o] + bias[o];
            I = I > -lim ? I : -lim;
            I = I < lim ? I : lim;
            sp[o] = neuron_step(lif, soft, leak, vr, vth, (int32_t)nearbyint(I), vp + o);
        }
    }
}

/* Currents computed beforehand (a residual sum, kernel_graph.c): I = cur. */
static inline __attribute__((always_inline)) void neuron_current_map(const rsck_layer *L, int lif, int soft, int oc,
                                                                     const int32_t *cur, int32_t *v, uint16_t *spikes) {
    const int OC = oc ? oc : L->out_c;
    const int32_t leak = lif == LIF_SPLIT ? L->leak >> 14 : L->leak, vr = L->v_reset, vth = L->v_th;
    const size_t n = (size_t)L->out_h * L->out_w * OC;
    for (size_t j = 0; j < n; j++) spikes[j] = neuron_step(lif, soft, leak, vr, vth, cur[j], v + j);
}

/* Instances per neuron kind and reset, and for a whole number of tiles of channels (oc = 16 or 32,
 * where out_c == oc_stride) one with the channel count known: the channel loop is then unrolled
 * and the per-channel constants stay in registers across positions. */
#define NEURON_OC(map, L, lif, soft, ...)                                               \
    do {                                                                                \
        if ((L)->out_c == 16 && (L)->oc_stride == 16) map(L, lif, soft, 16, __VA_ARGS__); \
        else if ((L)->out_c == 32 && (L)->oc_stride == 32) map(L, lif, soft, 32, __VA_ARGS__); \
        else map(L, lif, soft, 0, __VA_ARGS__);                                         \
    } while (0)
#define NEURON_DISPATCH(map, L, ...)                                                    \
    do {                                                                                \
        const int lif_ = (L)->neuron != RSCK_NEURON_LIF ? NEURON_IF                   \
                         : !(L)->decay_input ? LIF_NODECAY                              \
                         : (L)->leak == (1 << 29) ? LIF_HALF                            \
                         : (L)->leak >= 0 && (L)->leak % 16384 == 0 && ((L)->leak >> 14) < 65536 \
                           ? LIF_SPLIT : LIF_WIDE;                                      \
        if (lif_ == LIF_NODECAY && (L)->soft_reset) map(L, LIF_NODECAY, 1, 0, __VA_ARGS__); \
        else if (lif_ == LIF_NODECAY) map(L, LIF_NODECAY, 0, 0, __VA_ARGS__);          \
        else if (lif_ == LIF_HALF && (L)->soft_reset) NEURON_OC(map, L, LIF_HALF, 1, __VA_ARGS__); \
        else if (lif_ == LIF_HALF) NEURON_OC(map, L, LIF_HALF, 0, __VA_ARGS__);         \
        else if (lif_ == LIF_SPLIT && (L)->soft_reset) NEURON_OC(map, L, LIF_SPLIT, 1, __VA_ARGS__); \
        else if (lif_ == LIF_SPLIT) NEURON_OC(map, L, LIF_SPLIT, 0, __VA_ARGS__);       \
        else if (lif_ && (L)->soft_reset) NEURON_OC(map, L, LIF_WIDE, 1, __VA_ARGS__);  \
        else if (lif_) NEURON_OC(map, L, LIF_WIDE, 0, __VA_ARGS__);                     \
        else if ((L)->soft_reset) NEURON_OC(map, L, NEURON_IF, 1, __VA_ARGS__);         \
        else NEURON_OC(map, L, NEURON_IF, 0, __VA_ARGS__);                              \
    } while (0)

RSCK_MULTI(, rsck_neuron_count, (const rsck_layer *L, const int32_t *acc, int32_t *v, uint16_t *spikes), (L, acc, v, spikes)) {
    NEURON_DISPATCH(neuron_count_map, L, acc, v, spikes);
}

RSCK_MULTI(, rsck_neuron_analog, (const rsck_layer *L, const float *acc, int32_t *v, uint16_t *spikes), (L, acc, v, spikes)) {
    NEURON_DISPATCH(neuron_analog_map, L, acc, v, spikes);
}

RSCK_MULTI(, rsck_neuron_current, (const rsck_layer *L, const int32_t *cur, int32_t *v, uint16_t *spikes), (L, cur, v, spikes)) {
    NEURON_DISPATCH(neuron_current_map, L, cur, v, spikes);
}

/* The currents of a weighted layer that a residual add reads, computed as the fused neuron layers
 * above compute theirs, into a map of out_c channels per position. */
RSCK_MULTI(, rsck_current_count, (const rsck_layer *L, const int32_t *acc, int32_t *cur), (L, acc, cur)) {
    const int OC = L->out_c, S = L->oc_stride, shift = L->cur_shift;
    const int64_t half = shift ? (int64_t)1 << (shift - 1) : 0;
    const int32_t *restrict mult = L->cur_mult, *restrict bias = L->cur_bias;
    const float *restrict multf = L->cur_multf, *restrict biasf = L->cur_biasf;
    const size_t npos = (size_t)L->out_h * L->out_w;
    if (multf) {
        for (size_t p = 0; p < npos; p++)
            for (int o = 0; o < OC; o++) cur[p * OC + o] = count_current(1, acc[p * S + o], 0, 0, multf[o], biasf[o], 0, 0);
        return;
    }
    for (size_t p = 0; p < npos; p++)
        for (int o = 0; o < OC; o++) cur[p * OC + o] = count_current(0, acc[p * S + o], mult[o], bias[o], 0, 0, half, shift);
}

RSCK_MULTI(, rsck_current_analog, (const rsck_layer *L, const float *acc, int32_t *cur), (L, acc, cur)) {
    const int OC = L->out_c, S = L->oc_stride;
    const double lim = L->cur_limit;
    const double *restrict mult = L->an_mult, *restrict bias = L->an_bias;
    const size_t npos = (size_t)L->out_h * L->out_w;
    for (size_t p = 0; p < npos; p++)
        for (int o = 0; o < OC; o++) {
            double I = (double)acc[p * S + o] * mult[o] + bias[o];
            I = I > -lim ? I : -lim;
            I = I < lim ? I : lim;
            cur[p * OC + o] = (int32_t)nearbyint(I);
        }
}

/* Window sums with zero padding, one body for both element types; the caller scales. */
#define POOL_SUM(T)                                                                     \
    const int C = L->in_c, H = L->in_h, W = L->in_w;                                    \
    for (int oy = 0; oy < L->out_h; oy++)                                               \
        for (int ox = 0; ox < L->out_w; ox++) {                                         \
            T *o = out + ((size_t)oy * L->out_w + ox) * C;                              \
            for (int c = 0; c < C; c++) o[c] = 0;                                       \
            for (int ky = 0; ky < L->kh; ky++) {                                        \
                const int iy = oy * L->sh - L->ph + ky;                                 \
                if (iy < 0 || iy >= H) continue;                                        \
                for (int kx = 0; kx < L->kw; kx++) {                                    \
                    const int ix = ox * L->sw - L->pw + kx;                             \
                    if (ix < 0 || ix >= W) continue;                                    \
                    const T *i = in + ((size_t)iy * W + ix) * C;                        \
                    for (int c = 0; c < C; c++) o[c] = (T)(o[c] + i[c]);                \
                }                                                                       \
            }                                                                           \
        }

/* Spike counts: avgpool's 1/(kh*kw) is folded into the next layer's in_mult. The common case, 2x2
 * windows with stride 2 and no padding, sums four contiguous channel vectors per output pixel. */
RSCK_MULTI(, rsck_pool_count, (const rsck_layer *L, const uint16_t *in, uint16_t *out), (L, in, out)) {
    if (L->kh == 2 && L->kw == 2 && L->sh == 2 && L->sw == 2 && !L->ph && !L->pw) {
        const int C = L->in_c, W = L->in_w;
        for (int oy = 0; oy < L->out_h; oy++)
            for (int ox = 0; ox < L->out_w; ox++) {
                uint16_t *restrict o = out + ((size_t)oy * L->out_w + ox) * C;
                const uint16_t *restrict i0 = in + ((size_t)(2 * oy) * W + 2 * ox) * C, *restrict i1 = i0 + (size_t)W * C;
                for (int c = 0; c < C; c++) o[c] = (uint16_t)(i0[c] + i0[C + c] + i1[c] + i1[C + c]);
            }
        return;
    }
    POOL_SUM(uint16_t)
}

RSCK_MULTI(, rsck_pool_analog, (const rsck_layer *L, const float *in, float *out), (L, in, out)) {
    POOL_SUM(float)
    if (L->kind == RSCK_AVGPOOL) {
        const float div = (float)(L->kh * L->kw);
        const size_t n = (size_t)L->out_c * L->out_h * L->out_w;
        for (size_t j = 0; j < n; j++) out[j] /= div;
    }
}
