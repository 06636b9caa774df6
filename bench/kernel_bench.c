/* Kernel microbenchmark: achieved throughput of each layer kind of the shipped architecture
 * (conv 1->16, LIF, avgpool, conv 16->32, LIF, avgpool, linear 1568->128, LIF, linear 128->10;
 * 28x28 input), one thread, against this CPU's int8 peak measured with a dense dot-product loop,
 * and of the node kinds residual graphs add (max and global pooling, SEW ADD/IAND, residual sums
 * of currents, neurons on a summed current).
 *
 *   bash bench/kernel_bench.sh            # builds this file against the kernel sources and runs it
 *
 * The layers are the library's own functions (Sources/CRSCKernel/kernel_layers.c, same flags and
 * the same runtime dispatch), fed synthetic maps: spike-fed layers get inputs whose density is set
 * directly, so the cost per event can be read off as the firing rate varies. Not a test: it prints
 * numbers and asserts nothing about time. */
#include "kernel_internal.h"

#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void *xalloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) { perror("posix_memalign"); exit(1); }
    memset(p, 0, bytes);
    return p;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static double unif(void) { return rnd() / 4294967296.0; }

/* ---- layers built like the plan builds them (Sources/RSC/Network/NetworkPlan.swift) ---- */

static void geometry_table(int in, int out, int k, int stride, int pad, int32_t **map, int32_t **count) {
    *map = xalloc(sizeof(int32_t) * in * k);
    *count = xalloc(sizeof(int32_t) * in);
    for (int i = 0; i < in; i++)
        for (int kk = 0; kk < k; kk++) {
            int t = i + pad - kk;
            if (t < 0 || t % stride || t / stride >= out) continue;
            (*map)[i * k + (*count)[i]++] = (t / stride) * 64 + kk;
        }
}

static rsck_layer weighted(int kind, int analog, int in_c, int in_h, int in_w, int out_c, int k, int pad,
                           int neuron, int max_count) {
    rsck_layer L = {0};
    L.kind = kind; L.input_kind = analog ? RSCK_ANALOG : RSCK_COUNT;
    L.in_c = in_c; L.in_h = in_h; L.in_w = in_w; L.out_c = out_c;
    L.kh = L.kw = k; L.sh = L.sw = 1; L.ph = L.pw = pad;
    L.out_h = in_h + 2 * pad - k + 1; L.out_w = in_w + 2 * pad - k + 1;
    L.oc_stride = (out_c + RSCK_TILE - 1) / RSCK_TILE * RSCK_TILE;
    size_t rows = (size_t)k * k * in_c * L.oc_stride;
    if (analog) {
        float *w = xalloc(rows * sizeof *w);
        for (size_t i = 0; i < rows; i++) w[i] = (float)((int)(rnd() % 255) - 127);
        L.wf = w;
    } else {
        /* [kh*kw*in_c][oc_stride] rows, and the same weights in the VNNI layout (rsc_kernel.h). */
        int8_t *w = xalloc(rows);
        for (size_t i = 0; i < rows; i++) w[i] = (int8_t)((int)(rnd() % 255) - 127);
        L.w8 = w;
        const int c4 = (in_c + 3) / 4 * 4;
        int8_t *w4 = xalloc((size_t)k * k * c4 * L.oc_stride);
        for (int kk = 0; kk < k * k; kk++)
            for (int m = 0; m < in_c; m++)
                for (int o = 0; o < L.oc_stride; o++)
                    w4[(((size_t)kk * (c4 / 4) + m / 4) * L.oc_stride + o) * 4 + m % 4] = w[((size_t)kk * in_c + m) * L.oc_stride + o];
        if (max_count <= 255) L.w4 = w4;
        int32_t *m, *c;
        geometry_table(in_h, L.out_h, k, 1, pad, &m, &c); L.ymap = m; L.ycount = c;
        geometry_table(in_w, L.out_w, k, 1, pad, &m, &c); L.xmap = m; L.xcount = c;
        L.in_mult = 1.0f / max_count; L.binary_input = max_count == 1; L.max_count = max_count;
    }
    float *scale = xalloc(out_c * sizeof *scale), *bias = xalloc(out_c * sizeof *bias);
    for (int o = 0; o < out_c; o++) { scale[o] = 1e-3f; bias[o] = 0; }
    L.scale = scale; L.bias = bias;
    if (neuron) {
        /* Plausible fixed-point constants: the timing does not depend on their values. */
        L.neuron = RSCK_NEURON_LIF; L.decay_input = 1; L.leak = 1 << 29; L.v_th = 1 << 20; L.v_reset = 0;
        double *am = xalloc(out_c * sizeof *am), *ab = xalloc(out_c * sizeof *ab);
        int32_t *cm = xalloc(out_c * sizeof *cm), *cb = xalloc(out_c * sizeof *cb);
        for (int o = 0; o < out_c; o++) { am[o] = 4096.0; ab[o] = 0; cm[o] = 1 << 28; cb[o] = 0; }
        L.an_mult = am; L.an_bias = ab; L.cur_limit = 1e8; L.cur_mult = cm; L.cur_bias = cb; L.cur_shift = 16;
    }
    return L;
}

/* Counts as an avgpool of 2x2 spikes makes them: sum of four Bernoulli(rate). */
static size_t fill_counts(uint16_t *map, size_t n, double rate, int pooled) {
    size_t nz = 0;
    for (size_t i = 0; i < n; i++) {
        int c = 0;
        for (int j = 0; j < (pooled ? 4 : 1); j++) c += unif() < rate;
        map[i] = (uint16_t)c;
        nz += c != 0;
    }
    return nz;
}

/* Calls fn until at least min_s seconds have passed; returns seconds per call (best of 3). */
#define TIME_IT(result, min_s, body)                                              \
    do {                                                                          \
        double best_ = 1e30;                                                      \
        for (int rep_ = 0; rep_ < 3; rep_++) {                                    \
            long calls_ = 0;                                                      \
            double t0_ = now(), dt_;                                              \
            do { body; calls_++; } while ((dt_ = now() - t0_) < (min_s));         \
            if (dt_ / calls_ < best_) best_ = dt_ / calls_;                       \
        }                                                                         \
        (result) = best_;                                                         \
    } while (0)

/* Output positions and weight rows one event at each input pixel reaches (zero padding aware). */
static double adds_per_pixel_event(const rsck_layer *L, int iy, int ix) {
    return (double)L->ycount[iy] * L->xcount[ix] * L->out_c;
}

/* A spike-fed layer at several firing rates: the event path alone (cost proportional to the
 * events), the dense VNNI product alone (constant), and what the library runs (rsck_count_layer:
 * the cheaper of the two, chosen per step from the number of non-zero inputs). */
static void bench_event(const char *name, rsck_layer *L, int pooled, double peak) {
    const size_t n_in = (size_t)L->in_c * L->in_h * L->in_w;
    uint16_t *in = xalloc(n_in * sizeof *in);
    const size_t n_acc = (size_t)L->oc_stride * L->out_h * L->out_w;
    int32_t *acc = xalloc(n_acc * sizeof *acc), *acc2 = xalloc(n_acc * sizeof *acc2);
    int32_t *events = xalloc((3 * (size_t)L->in_c + 8) * sizeof *events);
    uint8_t *pad8 = xalloc(rsck_count_pad_size(L) + 64);
    const double dense = (double)L->out_c * L->out_h * L->out_w * L->kh * L->kw * L->in_c;
    static const double rates[] = {0.0, 0.01, 0.03, 0.1, 0.2, 0.4, 1.0};
    printf("\n%s (dense equivalent %.0f MAC per call)\n", name, dense);
    printf("| raw firing rate | non-zero inputs | row adds (events x outputs) | event path us | ns / event | dense us | dense %% of int8 peak | library us (path) |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t r = 0; r < sizeof rates / sizeof *rates; r++) {
        size_t nz = fill_counts(in, n_in, rates[r], pooled);
        double adds = 0;
        for (int iy = 0; iy < L->in_h; iy++)
            for (int ix = 0; ix < L->in_w; ix++)
                for (int c = 0; c < L->in_c; c++)
                    if (in[((size_t)iy * L->in_w + ix) * L->in_c + c]) adds += adds_per_pixel_event(L, iy, ix);
        double se, sd = 0, sl;
        TIME_IT(se, 0.2, rsck_event(L, in, acc, events));
        int has_dense = rsck_count_dense(L, in, acc2, pad8);
        if (has_dense) {
            if (memcmp(acc, acc2, n_acc * sizeof *acc)) { fprintf(stderr, "dense and event sums differ\n"); exit(1); }
            TIME_IT(sd, 0.2, rsck_count_dense(L, in, acc2, pad8));
        }
        TIME_IT(sl, 0.2, rsck_count_layer(L, in, acc2, events, pad8));
        char per_event[32] = "-", dcol[32] = "-", dpeak[32] = "-";
        if (nz) snprintf(per_event, sizeof per_event, "%.2f", se * 1e9 / nz);
        if (has_dense) {
            snprintf(dcol, sizeof dcol, "%.2f", sd * 1e6);
            snprintf(dpeak, sizeof dpeak, "%.1f%%", 100 * dense / sd / peak);
        }
        const char *path = rsck_count_dense_pays(L, in) ? "dense" : "event";
        printf("| %.2f | %zu (%.1f%%) | %.0f | %.2f | %s | %s | %s | %.2f (%s) |\n", rates[r], nz, 100.0 * nz / n_in,
               adds, se * 1e6, per_event, dcol, dpeak, sl * 1e6, path);
    }
    free(in); free(acc); free(acc2); free(events); free(pad8);
}

int main(void) {
    /* The peak the library's profiler uses (kernel_profile.c): the dense path's own inner step. */
    const char *what = "";
    const double peak = rsck_int8_peak(0.5, &what);
    printf("int8 peak, one thread: %.1f GMAC/s (%s)\n", peak * 1e-9, what);
    if (peak <= 0) return 0;

    /* conv 1 -> 16, 3x3, padding 1, on the noisy 28x28 input (float32), and its LIF update. */
    rsck_layer c1 = weighted(RSCK_CONV, 1, 1, 28, 28, 16, 3, 1, 1, 0);
    float *x = xalloc(28 * 28 * sizeof *x), *pad = xalloc(30 * 30 * sizeof *pad);
    float *accf = xalloc((size_t)16 * 28 * 28 * sizeof *accf);
    for (int i = 0; i < 28 * 28; i++) x[i] = (float)(unif() + 0.25 * (unif() - 0.5));
    const double mac1 = 16.0 * 9 * 28 * 28;
    double s;
    TIME_IT(s, 0.3, rsck_dense(&c1, x, pad, accf));
    printf("\n| layer | work per call | us / call | throughput | %% of int8 peak |\n|---|---:|---:|---:|---:|\n");
    printf("| conv 1->16 3x3 on 28x28, float32 (analog input) | %.0f MAC | %.2f | %.1f GMAC/s | %.1f%% |\n", mac1, s * 1e6,
           mac1 / s * 1e-9, 100 * mac1 / s / peak);
    int32_t *v = xalloc((size_t)32 * 28 * 28 * sizeof *v);
    uint16_t *spk = xalloc((size_t)32 * 28 * 28 * sizeof *spk), *pooled = xalloc((size_t)32 * 14 * 14 * sizeof *pooled);
    TIME_IT(s, 0.3, rsck_neuron_analog(&c1, accf, v, spk));
    printf("| LIF after conv 1 (16x28x28, float currents) | 12544 neurons | %.2f | %.2f Gneuron/s | |\n", s * 1e6, 12544 / s * 1e-9);
    rsck_layer p1 = {0};
    p1.kind = RSCK_AVGPOOL; p1.input_kind = RSCK_COUNT; p1.in_c = p1.out_c = 16; p1.in_h = p1.in_w = 28;
    p1.out_h = p1.out_w = 14; p1.kh = p1.kw = p1.sh = p1.sw = 2;
    fill_counts(spk, 16 * 28 * 28, 0.1, 0);
    TIME_IT(s, 0.3, rsck_pool_count(&p1, spk, pooled));
    printf("| avgpool 2x2 of spikes (16x28x28) | 12544 inputs | %.2f | %.2f Ginput/s | |\n", s * 1e6, 12544 / s * 1e-9);

    rsck_layer c2 = weighted(RSCK_CONV, 0, 16, 14, 14, 32, 3, 1, 1, 4);
    int32_t *acc = xalloc((size_t)32 * 14 * 14 * sizeof *acc);
    TIME_IT(s, 0.3, rsck_neuron_count(&c2, acc, v, spk));
    printf("| LIF after conv 2 (32x14x14, integer currents) | 6272 neurons | %.2f | %.2f Gneuron/s | |\n", s * 1e6, 6272 / s * 1e-9);
    float *noise = xalloc(784 * sizeof *noise);
    rsck_key key = rsck_derive_key(1, 2);
    uint32_t pass = 0;
    TIME_IT(s, 0.3, rsck_gaussian(key, 0, pass++, 0, noise, 784));
    printf("| Gaussian noise (Philox + Box-Muller), 784 values | 784 normals | %.2f | %.2f Gnormal/s | |\n", s * 1e6, 784 / s * 1e-9);

    /* The graph's node kinds (format v2), on maps of the shipped architecture's sizes. */
    printf("\n| graph node kind | work per call | us / call | throughput |\n|---|---:|---:|---:|\n");
    uint16_t *sa = xalloc((size_t)32 * 28 * 28 * sizeof *sa), *sb = xalloc((size_t)32 * 28 * 28 * sizeof *sb);
    int32_t *ca = xalloc((size_t)32 * 28 * 28 * sizeof *ca), *cb = xalloc((size_t)32 * 28 * 28 * sizeof *cb);
    int32_t *cc = xalloc((size_t)32 * 28 * 28 * sizeof *cc);
    fill_counts(sa, 32 * 28 * 28, 0.2, 0);
    fill_counts(sb, 32 * 28 * 28, 0.2, 0);
    for (size_t i = 0; i < 32 * 28 * 28; i++) ca[i] = (int32_t)(rnd() >> 12) - (1 << 19), cb[i] = (int32_t)(rnd() >> 12);
    rsck_layer mp = p1;
    mp.kind = RSCK_MAXPOOL;
    TIME_IT(s, 0.3, rsck_maxpool_count(&mp, spk, pooled));
    printf("| maxpool 2x2 of spikes (16x28x28) | 12544 inputs | %.2f | %.2f Ginput/s |\n", s * 1e6, 12544 / s * 1e-9);
    rsck_layer gp = {0};
    gp.kind = RSCK_AVGPOOL; gp.input_kind = RSCK_COUNT; gp.in_c = gp.out_c = 32; gp.in_h = gp.in_w = 7;
    gp.out_h = gp.out_w = 1; gp.kh = gp.kw = 7; gp.sh = gp.sw = 1;
    TIME_IT(s, 0.3, rsck_pool_count(&gp, sa, pooled));
    printf("| global average pool of counts (32x7x7) | 1568 inputs | %.2f | %.2f Ginput/s |\n", s * 1e6, 1568 / s * 1e-9);
    rsck_layer j = {0};
    j.out_c = 32; j.out_h = j.out_w = 14; j.kind = RSCK_ADD; j.input_kind = j.in1_kind = RSCK_COUNT; j.out_kind = RSCK_COUNT;
    TIME_IT(s, 0.3, rsck_combine(&j, sa, sb, pooled));
    printf("| SEW ADD of spike maps (32x14x14) | 6272 elements | %.2f | %.2f Gelement/s |\n", s * 1e6, 6272 / s * 1e-9);
    j.kind = RSCK_IAND;
    TIME_IT(s, 0.3, rsck_combine(&j, sa, sb, pooled));
    printf("| SEW IAND of spike maps (32x14x14) | 6272 elements | %.2f | %.2f Gelement/s |\n", s * 1e6, 6272 / s * 1e-9);
    j.kind = RSCK_ADD; j.input_kind = j.in1_kind = j.out_kind = RSCK_CURRENT;
    TIME_IT(s, 0.3, rsck_combine(&j, ca, cb, cc));
    printf("| residual sum of two currents (32x14x14) | 6272 elements | %.2f | %.2f Gelement/s |\n", s * 1e6, 6272 / s * 1e-9);
    j.in1_kind = RSCK_COUNT; j.add_m1 = 1 << 20;
    TIME_IT(s, 0.3, rsck_combine(&j, ca, sa, cc));
    printf("| residual sum of a current and spikes (32x14x14) | 6272 elements | %.2f | %.2f Gelement/s |\n", s * 1e6, 6272 / s * 1e-9);
    TIME_IT(s, 0.3, rsck_current_count(&c2, acc, cc));
    printf("| conv 2's currents for a residual sum (32x14x14) | 6272 neurons | %.2f | %.2f Gneuron/s |\n", s * 1e6, 6272 / s * 1e-9);
    rsck_layer nc = c2;
    nc.kind = RSCK_NEURON;
    for (size_t i = 0; i < 32 * 14 * 14; i++) cc[i] = (int32_t)(rnd() >> 10);
    TIME_IT(s, 0.3, rsck_neuron_current(&nc, cc, v, spk));
    printf("| LIF on a residual current (32x14x14) | 6272 neurons | %.2f | %.2f Gneuron/s |\n", s * 1e6, 6272 / s * 1e-9);
    nc.decay_input = 0;
    TIME_IT(s, 0.3, rsck_neuron_current(&nc, cc, v, spk));
    printf("| LIF without decay_input on a residual current (32x14x14) | 6272 neurons | %.2f | %.2f Gneuron/s |\n", s * 1e6,
           6272 / s * 1e-9);

    bench_event("conv 16->32 3x3, padding 1, on 14x14 pooled spike counts (event-driven int8)", &c2, 1, peak);
    rsck_layer f1 = weighted(RSCK_LINEAR, 0, 1568, 1, 1, 128, 1, 0, 1, 4);
    bench_event("linear 1568->128 on 32x7x7 pooled spike counts (event-driven int8)", &f1, 1, peak);
    rsck_layer f2 = weighted(RSCK_LINEAR, 0, 128, 1, 1, 10, 1, 0, 0, 1);
    bench_event("linear 128->10 on spikes (event-driven int8)", &f2, 0, peak);
    return 0;
}
