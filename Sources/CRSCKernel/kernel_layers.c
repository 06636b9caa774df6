/* The per-layer loops: dense float32 layers on analog maps, event-driven int8 row adds for
 * spike-fed layers, fixed-point LIF/IF updates and pools. All maps are HWC so the
 * innermost loop runs over output channels, contiguous in both weights and accumulators. */
#include "kernel_internal.h"

#include <math.h>
#include <string.h>

/* Dense (analog-fed) conv or linear, as a gather per output position: acc[o] = sum_k in[k] w[k][o].
 * Float32: the coded input is real-valued, and quantizing it to int16 flipped a spike in ~1.5% of
 * passes against the float64 reference (measured, docs/kernel.md); float32 keeps that near 0. */
RSCK_CLONES void rsck_dense(const rsck_layer *L, const float *in, float *acc) {
    const int C = L->in_c, H = L->in_h, W = L->in_w, OC = L->out_c;
    for (int oy = 0; oy < L->out_h; oy++) {
        for (int ox = 0; ox < L->out_w; ox++) {
            float *restrict a = acc + ((size_t)oy * L->out_w + ox) * OC;
            for (int o = 0; o < OC; o++) a[o] = 0.0f;
            for (int ky = 0; ky < L->kh; ky++) {
                const int iy = oy * L->sh - L->ph + ky;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < L->kw; kx++) {
                    const int ix = ox * L->sw - L->pw + kx;
                    if (ix < 0 || ix >= W) continue;
                    const float *ip = in + ((size_t)iy * W + ix) * C;
                    const float *wr = L->wf + ((size_t)(ky * L->kw + kx) * C) * OC;
                    for (int c = 0; c < C; c++) {
                        const float v = ip[c];
                        const float *restrict w = wr + (size_t)c * OC;
                        for (int o = 0; o < OC; o++) a[o] += v * w[o];
                    }
                }
            }
        }
    }
}

/* Event-driven (spike-fed) conv or linear: for every non-zero input, add its weight row (times the
 * count, which is 1 for spikes) into each output position it reaches. Cost is proportional to the
 * number of events, not to the size of the layer. */
RSCK_CLONES void rsck_event(const rsck_layer *L, const uint16_t *in, int32_t *acc, int32_t *events) {
    const int C = L->in_c, W = L->in_w, OC = L->out_c, OW = L->out_w;
    const size_t n_in = (size_t)L->in_c * L->in_h * L->in_w;
    const size_t n_out = (size_t)L->out_c * L->out_h * L->out_w;
    memset(acc, 0, n_out * sizeof *acc);
    size_t n_ev = 0;
    for (size_t i = 0; i < n_in; i++) {
        events[n_ev] = (int32_t)i;
        n_ev += in[i] != 0;
    }
    for (size_t e = 0; e < n_ev; e++) {
        const size_t i = (size_t)events[e];
        const int32_t cnt = in[i];
        const int c = (int)(i % C);
        const size_t pix = i / C;
        const int iy = (int)(pix / W), ix = (int)(pix % W);
        for (int ky = 0; ky < L->kh; ky++) {
            const int ty = iy + L->ph - ky;
            if (ty < 0) break;
            if (ty % L->sh) continue;
            const int oy = ty / L->sh;
            if (oy >= L->out_h) continue;
            for (int kx = 0; kx < L->kw; kx++) {
                const int tx = ix + L->pw - kx;
                if (tx < 0) break;
                if (tx % L->sw) continue;
                const int ox = tx / L->sw;
                if (ox >= OW) continue;
                const int8_t *restrict w = L->w8 + ((size_t)(ky * L->kw + kx) * C + c) * OC;
                int32_t *restrict a = acc + ((size_t)oy * OW + ox) * OC;
                if (cnt == 1)
                    for (int o = 0; o < OC; o++) a[o] += w[o];
                else
                    for (int o = 0; o < OC; o++) a[o] += cnt * (int32_t)w[o];
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
        const int32_t *a = acc + p * OC;
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
        const float *a = acc + p * OC;
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
