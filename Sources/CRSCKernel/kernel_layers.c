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

/* Dense (analog-fed) conv or linear, as a gather per output position: acc[o] = sum_k in[k] w[k][o].
 * Float32: the coded input is real-valued, and quantizing it to int16 flipped a spike in ~1.5% of
 * passes against the float64 reference (measured, docs/kernel.md); float32 keeps that near 0. */
RSCK_CLONES void rsck_dense(const rsck_layer *L, const float *in, float *acc) {
    const int C = L->in_c, H = L->in_h, W = L->in_w, OC = L->out_c, S = L->oc_stride;
    for (int oy = 0; oy < L->out_h; oy++) {
        for (int ox = 0; ox < L->out_w; ox++) {
            float *restrict a = acc + ((size_t)oy * L->out_w + ox) * S;
            for (int o0 = 0; o0 < OC; o0 += TILE) {
                float t[TILE] = {0};
                for (int ky = 0; ky < L->kh; ky++) {
                    const int iy = oy * L->sh - L->ph + ky;
                    if (iy < 0 || iy >= H) continue;
                    for (int kx = 0; kx < L->kw; kx++) {
                        const int ix = ox * L->sw - L->pw + kx;
                        if (ix < 0 || ix >= W) continue;
                        const float *ip = in + ((size_t)iy * W + ix) * C;
                        const float *wr = L->wf + ((size_t)(ky * L->kw + kx) * C) * S + o0;
                        for (int c = 0; c < C; c++) {
                            const float v = ip[c];
                            const float *restrict w = wr + (size_t)c * S;
                            for (int o = 0; o < TILE; o++) t[o] += v * w[o];
                        }
                    }
                }
                for (int o = 0; o < TILE; o++) a[o0 + o] = t[o];
            }
        }
    }
}

/* a[0..TILE) += sum over events e of count[e] * w[row[e]][0..TILE), the rows `stride` apart. */
static inline __attribute__((always_inline)) void add_rows(int32_t *restrict a, const int8_t *restrict w0,
                                                          int stride, const int32_t *row,
                                                          const int32_t *count, int ne, int binary) {
    int32_t t[TILE];
    for (int o = 0; o < TILE; o++) t[o] = a[o];
    if (binary) {
        for (int e = 0; e < ne; e++) {
            const int8_t *restrict w = w0 + (size_t)row[e] * stride;
            for (int o = 0; o < TILE; o++) t[o] += w[o];
        }
    } else {
        for (int e = 0; e < ne; e++) {
            const int8_t *restrict w = w0 + (size_t)row[e] * stride;
            const int32_t k = count[e];
            for (int o = 0; o < TILE; o++) t[o] += k * w[o];
        }
    }
    for (int o = 0; o < TILE; o++) a[o] = t[o];
}

/* Event-driven (spike-fed) conv or linear: for every non-zero input, add its weight row (times the
 * count, which is 1 for spikes) into each output position it reaches. Cost is proportional to the
 * number of events, not to the size of the layer. Events are gathered per input pixel, so each
 * output tile is loaded and stored once per pixel, not once per event. */
RSCK_CLONES void rsck_event(const rsck_layer *L, const uint16_t *in, int32_t *acc, int32_t *events) {
    const int C = L->in_c, W = L->in_w, OC = L->out_c, OW = L->out_w, S = L->oc_stride;
    const size_t n_out = (size_t)S * L->out_h * L->out_w;
    int32_t *chan = events, *count = events + C;  /* 2 * in_c entries (the plan sizes it) */
    memset(acc, 0, n_out * sizeof *acc);
    for (int iy = 0; iy < L->in_h; iy++) {
        const int32_t *ys = L->ymap + (size_t)iy * L->kh;
        const int ny = L->ycount[iy];
        for (int ix = 0; ix < W; ix++) {
            const uint16_t *px = in + ((size_t)iy * W + ix) * C;
            int ne = 0;
            for (int c = 0; c < C; c++) {
                chan[ne] = c;
                count[ne] = px[c];
                ne += px[c] != 0;
            }
            if (!ne) continue;
            const int32_t *xs = L->xmap + (size_t)ix * L->kw;
            const int nx = L->xcount[ix];
            for (int j = 0; j < ny; j++) {
                const int oy = ys[j] >> 6, ky = ys[j] & 63;
                for (int k = 0; k < nx; k++) {
                    const int ox = xs[k] >> 6, kx = xs[k] & 63;
                    int32_t *a = acc + ((size_t)oy * OW + ox) * S;
                    const int8_t *w = L->w8 + (size_t)(ky * L->kw + kx) * C * S;
                    for (int o0 = 0; o0 < OC; o0 += TILE)
                        add_rows(a + o0, w + o0, S, chan, count, ne, L->binary_input);
                }
            }
        }
    }
}

/* LIF (SpikingJelly decay_input: h = v + (I - (v - v_reset)) / tau, 1/tau as a Q16 multiplier) or
 * IF (h = v + I), then spike on h >= v_th with hard or soft reset. Fixed point: the plan chose the
 * membrane unit so that no intermediate leaves int32 (docs/kernel.md). */
static inline int32_t neuron_step(const rsck_layer *L, int32_t I, int32_t *v, uint16_t *s) {
    const int32_t vr = L->v_reset, vth = L->v_th;
    int32_t h;
    if (L->neuron == RSCK_NEURON_LIF)
        h = *v + (int32_t)(((int64_t)(I - *v + vr) * L->leak + 32768) >> 16);
    else
        h = *v + I;
    const int32_t spike = h >= vth;
    *v = L->soft_reset ? h - (spike ? vth : 0) : (spike ? vr : h);
    *s = (uint16_t)spike;
    return spike;
}

RSCK_CLONES void rsck_neuron_count(const rsck_layer *L, const int32_t *acc, int32_t *v, uint16_t *spikes) {
    const int OC = L->out_c;
    const int shift = L->cur_shift;
    const int64_t half = shift ? (int64_t)1 << (shift - 1) : 0;
    const size_t npos = (size_t)L->out_h * L->out_w;
    for (size_t p = 0; p < npos; p++) {
        const int32_t *a = acc + p * L->oc_stride;
        int32_t *vp = v + p * OC;
        uint16_t *sp = spikes + p * OC;
        for (int o = 0; o < OC; o++) {
            const int32_t I = (int32_t)(((int64_t)a[o] * L->cur_mult[o] + half) >> shift) + L->cur_bias[o];
            neuron_step(L, I, vp + o, sp + o);
        }
    }
}

RSCK_CLONES void rsck_neuron_analog(const rsck_layer *L, const float *acc, int32_t *v, uint16_t *spikes) {
    const int OC = L->out_c;
    const size_t npos = (size_t)L->out_h * L->out_w;
    const double lim = L->cur_limit;
    for (size_t p = 0; p < npos; p++) {
        const float *a = acc + p * L->oc_stride;
        int32_t *vp = v + p * OC;
        uint16_t *sp = spikes + p * OC;
        for (int o = 0; o < OC; o++) {
            double I = (double)a[o] * L->an_mult[o] + L->an_bias[o];
            I = fmin(fmax(I, -lim), lim);
            neuron_step(L, (int32_t)nearbyint(I), vp + o, sp + o);
        }
    }
}

/* Window sums with zero padding; avgpool's 1/(kh*kw) is folded into the next layer's in_mult. */
RSCK_CLONES void rsck_pool_count(const rsck_layer *L, const uint16_t *in, uint16_t *out) {
    const int C = L->in_c, H = L->in_h, W = L->in_w;
    for (int oy = 0; oy < L->out_h; oy++)
        for (int ox = 0; ox < L->out_w; ox++) {
            uint16_t *o = out + ((size_t)oy * L->out_w + ox) * C;
            for (int c = 0; c < C; c++) o[c] = 0;
            for (int ky = 0; ky < L->kh; ky++) {
                const int iy = oy * L->sh - L->ph + ky;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < L->kw; kx++) {
                    const int ix = ox * L->sw - L->pw + kx;
                    if (ix < 0 || ix >= W) continue;
                    const uint16_t *i = in + ((size_t)iy * W + ix) * C;
                    for (int c = 0; c < C; c++) o[c] = (uint16_t)(o[c] + i[c]);
                }
            }
        }
}

RSCK_CLONES void rsck_pool_analog(const rsck_layer *L, const float *in, float *out) {
    const int C = L->in_c, H = L->in_h, W = L->in_w;
    const float div = L->kind == RSCK_AVGPOOL ? (float)(L->kh * L->kw) : 1.0f;
    for (int oy = 0; oy < L->out_h; oy++)
        for (int ox = 0; ox < L->out_w; ox++) {
            float *o = out + ((size_t)oy * L->out_w + ox) * C;
            for (int c = 0; c < C; c++) o[c] = 0.0f;
            for (int ky = 0; ky < L->kh; ky++) {
                const int iy = oy * L->sh - L->ph + ky;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < L->kw; kx++) {
                    const int ix = ox * L->sw - L->pw + kx;
                    if (ix < 0 || ix >= W) continue;
                    const float *i = in + ((size_t)iy * W + ix) * C;
                    for (int c = 0; c < C; c++) o[c] += i[c];
                }
            }
            for (int c = 0; c < C; c++) o[c] /= div;
        }
}
