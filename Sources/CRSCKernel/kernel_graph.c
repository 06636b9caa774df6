/* The operations residual and VGG-style graphs add to the chain: max pooling, and the
 * combination of two maps (residual sums of currents, SEW-ResNet's ADD / AND / IAND of spikes).
 * Maps are HWC, as everywhere in the kernel. */
#include "kernel_internal.h"

#include <math.h>

/* Max over each window, padding excluded (PyTorch pads with -inf; the format keeps padding at
 * most half the window, so every window holds an input). One body for both element types. */
#define POOL_MAX(T, LOWEST)                                                             \
    const int C = L->in_c, H = L->in_h, W = L->in_w;                                    \
    for (int oy = 0; oy < L->out_h; oy++)                                               \
        for (int ox = 0; ox < L->out_w; ox++) {                                         \
            T *o = out + ((size_t)oy * L->out_w + ox) * C;                              \
            for (int c = 0; c < C; c++) o[c] = LOWEST;                                  \
            for (int ky = 0; ky < L->kh; ky++) {                                        \
                const int iy = oy * L->sh - L->ph + ky;                                 \
                if (iy < 0 || iy >= H) continue;                                        \
                for (int kx = 0; kx < L->kw; kx++) {                                    \
                    const int ix = ox * L->sw - L->pw + kx;                             \
                    if (ix < 0 || ix >= W) continue;                                    \
                    const T *i = in + ((size_t)iy * W + ix) * C;                        \
                    for (int c = 0; c < C; c++) o[c] = i[c] > o[c] ? i[c] : o[c];       \
                }                                                                       \
            }                                                                           \
        }

RSCK_MULTI(, rsck_maxpool_count, (const rsck_layer *L, const uint16_t *in, uint16_t *out), (L, in, out)) {
    if (L->kh == 2 && L->kw == 2 && L->sh == 2 && L->sw == 2 && !L->ph && !L->pw) {
        /* The common case: four contiguous channel vectors per output pixel. */
        const int C = L->in_c, W = L->in_w;
        for (int oy = 0; oy < L->out_h; oy++)
            for (int ox = 0; ox < L->out_w; ox++) {
                uint16_t *restrict o = out + ((size_t)oy * L->out_w + ox) * C;
                const uint16_t *restrict i0 = in + ((size_t)(2 * oy) * W + 2 * ox) * C, *restrict i1 = i0 + (size_t)W * C;
                for (int c = 0; c < C; c++) {
                    const uint16_t a = i0[c] > i0[C + c] ? i0[c] : i0[C + c];
                    const uint16_t b = i1[c] > i1[C + c] ? i1[c] : i1[C + c];
                    o[c] = a > b ? a : b;
                }
            }
        return;
    }
    POOL_MAX(uint16_t, 0)
}

RSCK_MULTI(, rsck_maxpool_analog, (const rsck_layer *L, const float *in, float *out), (L, in, out)) {
    POOL_MAX(float, -INFINITY)
}

/* out = a (op) b elementwise. ADD of two COUNT maps stays counts (the plan bounded the sum below
 * 65536); ADD into a current converts a COUNT input with its multiplier (membrane units per
 * count) and adds a CURRENT input as it is (the plan bounded the sum within int32). AND and IAND
 * read 0/1 spike maps. */
RSCK_MULTI(, rsck_combine, (const rsck_layer *L, const void *a, const void *b, void *out), (L, a, b, out)) {
    const size_t n = (size_t)L->out_c * L->out_h * L->out_w;
    if (L->kind == RSCK_ADD && L->out_kind == RSCK_CURRENT) {
        int32_t *restrict o = out;
        if (L->input_kind == RSCK_CURRENT && L->in1_kind == RSCK_CURRENT) {
            const int32_t *restrict x = a, *restrict y = b;
            for (size_t j = 0; j < n; j++) o[j] = x[j] + y[j];
        } else if (L->input_kind == RSCK_CURRENT) {
            const int32_t *restrict x = a, m = L->add_m1;
            const uint16_t *restrict y = b;
            for (size_t j = 0; j < n; j++) o[j] = x[j] + m * (int32_t)y[j];
        } else {
            const uint16_t *restrict x = a;
            const int32_t *restrict y = b, m = L->add_m0;
            for (size_t j = 0; j < n; j++) o[j] = m * (int32_t)x[j] + y[j];
        }
        return;
    }
    const uint16_t *restrict x = a, *restrict y = b;
    uint16_t *restrict o = out;
    switch (L->kind) {
    case RSCK_ADD:
        for (size_t j = 0; j < n; j++) o[j] = (uint16_t)(x[j] + y[j]);
        break;
    case RSCK_AND:
        for (size_t j = 0; j < n; j++) o[j] = x[j] & y[j];
        break;
    default: /* RSCK_IAND: a * (1 - b) */
        for (size_t j = 0; j < n; j++) o[j] = x[j] & (uint16_t)(1 - y[j]);
        break;
    }
}
