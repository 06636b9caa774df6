/* rsc kernel: the hot loops of one noisy forward pass and of vote counting.
 *
 * Policy-free: no allocation, no I/O, no validation. The Swift side (Sources/RSC) validates the
 * model file, builds an rsck_net whose memory it owns, allocates per-thread scratch of
 * rsck_scratch_size() bytes, and calls in here. Numerics are described in docs/kernel.md. */
#ifndef RSC_KERNEL_H
#define RSC_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Operations of the plan, run in order at every step; each reads earlier outputs (in0, in1). A
 * conv/linear with a neuron is one fused operation; RSCK_NEURON is a neuron on its own, reading
 * a current (a residual sum of currents before a neuron). */
enum { RSCK_CONV = 1, RSCK_LINEAR = 2, RSCK_AVGPOOL = 3, RSCK_SUMPOOL = 4, RSCK_MAXPOOL = 5,
       RSCK_ADD = 6, RSCK_AND = 7, RSCK_IAND = 8, RSCK_NEURON = 9 };
enum { RSCK_NEURON_NONE = 0, RSCK_NEURON_LIF = 1, RSCK_NEURON_IF = 2 };
/* What an operation reads or writes: real-valued maps (the coded input, or pools of it; float),
 * small non-negative integer maps (spikes, pooled spikes, sums of spike maps; uint16), added as
 * int8 weight rows into int32, or currents (int32, in the membrane unit of the neuron that reads
 * them, through adds), or the integer input of arithmetic 1 and pools of it (int16, signed; read
 * by dense int16 x int8 products). */
enum { RSCK_ANALOG = 0, RSCK_COUNT = 1, RSCK_CURRENT = 2, RSCK_QUANT = 3 };
enum { RSCK_DIRECT = 0, RSCK_GAUSSIAN = 1, RSCK_GAUSSIAN_SHARED = 2, RSCK_POISSON = 3 };

/* One operation of the plan. Maps are stored HWC (channels innermost); flatten is a no-op on
 * memory (linear weights are permuted accordingly when the plan is built). */
/* Output channels are processed in tiles of this many accumulators, held in registers. */
#define RSCK_TILE 16

typedef struct rsck_layer {
    int32_t kind, neuron, soft_reset, input_kind;
    int32_t in_c, in_h, in_w, out_c, out_h, out_w;
    int32_t kh, kw, sh, sw, ph, pw;

    /* Weighted layers. Rows are indexed (ky, kx, in channel), each row holds out_c weights padded
     * with zeros to oc_stride (a multiple of RSCK_TILE), as are the accumulators of each position. */
    int32_t oc_stride;
    const int8_t *w8;       /* [kh*kw*in_c][oc_stride], COUNT input: event-driven row adds     */
    const float *wf;        /* [kh*kw*in_c][oc_stride], ANALOG input: the int8 weights as floats */
    const float *scale;     /* [out_c] real weight = w * scale                                */
    const float *bias;      /* [out_c]                                                        */
    float in_mult;          /* COUNT input: real value of one count (1, or 1/(kh*kw) per avgpool) */
    int32_t max_count;      /* COUNT input: the largest count (1 for spikes); dense AVX2 needs <= 128 */
    int32_t binary_input;   /* COUNT input holds only 0/1 (spikes): rows are added, not scaled   */
    /* COUNT input whose counts fit a byte: the same weights laid out for dense u8 x s8 dot
     * products (AVX-512 VNNI), [kh*kw][in_c4 / 4][oc_stride][4] with in_c4 = in_c rounded up to 4
     * and zeros in the padding. A step whose events are dense enough runs as a dense product
     * instead of row adds (the integer sums are the same). NULL: event-driven only. */
    const int8_t *w4;
    /* QUANT input (arithmetic 1): the weights as int16 pairs for vpdpwssd, [kh][P][oc_stride][2]
     * with P = ceil(kw*in_c / 2): pair p of kernel row ky meets inputs 2p and 2p + 1 of the
     * kw*in_c consecutive HWC values the row covers, zero past the end. The portable path reads w8. */
    const int16_t *w2;
    /* Conv geometry without divisions: input row iy reaches ycount[iy] (output row, kernel row)
     * pairs ymap[iy*kh + j] = oy * 64 + ky; likewise columns (xmap, xcount). */
    const int32_t *ymap, *ycount, *xmap, *xcount;

    /* Neuron layers, fixed point: membrane unit u = S * 2^-frac_bits (S = max scale of the layer). */
    const int32_t *cur_mult;  /* [out_c] COUNT input: current = round(acc * cur_mult / 2^cur_shift) */
    const int32_t *cur_bias;  /* [out_c]                                  + cur_bias              */
    int32_t cur_shift;        /* extra precision of cur_mult (the multipliers are ~2^30)          */
    /* Arithmetic 1 instead (docs/format.md): current = rint(f32(acc) * cur_multf + cur_biasf) in
     * binary32, eight lanes per AVX2 instruction where the 64-bit products above take several. */
    const float *cur_multf, *cur_biasf;
    const double *an_mult;    /* [out_c] ANALOG input: current = acc * an_mult + an_bias          */
    const double *an_bias;    /* [out_c]                                                          */
    double cur_limit;         /* ANALOG input: currents saturate at +-cur_limit units            */
    int32_t v_th, v_reset;    /* in membrane units                                              */
    int32_t leak;             /* LIF: round(2^30 / tau)                                          */
    int32_t last;             /* 1 for the last weighted layer (no neuron: its output is logits) */

    /* The graph. */
    int32_t in0, in1;         /* inputs: -1 = the coded input, else an earlier operation's output */
    int32_t in1_kind;         /* binary operations: the second input's kind (input_kind: the first) */
    int32_t out_kind;         /* RSCK_ANALOG, RSCK_COUNT or RSCK_CURRENT                          */
    int32_t add_m0, add_m1;   /* ADD into a current: membrane units per count of a COUNT input    */
    int32_t decay_input;      /* LIF: 1 h = v + (I - (v - v_reset))/tau, 0 h = v - (v - v_reset)/tau + I */
} rsck_layer;

typedef struct rsck_net {
    int32_t n_layers;
    const rsck_layer *layers;
    int32_t in_c, in_h, in_w;   /* model input, given channels-first (CHW) */
    int32_t num_classes, time_steps, coding;
    float sigma;
    /* Arithmetic 1 (docs/format.md): the coded input becomes clamp(rint(u * 2^input_shift),
     * +-input_limit), an int16 map, before the first operation. 0: arithmetic 0, float input. */
    int32_t integer, input_shift, input_limit;
} rsck_net;

/* Philox4x32-10 key: derive with rsck_derive_key(seed, stream). */
typedef struct rsck_key { uint32_t k0, k1; } rsck_key;

/* Counter-based random numbers (Salmon et al. 2011, Random123's Philox4x32-10). */
void rsck_philox4x32_10(const uint32_t ctr[4], rsck_key key, uint32_t out[4]);
rsck_key rsck_derive_key(uint64_t seed, uint64_t stream);

/* Standard normals for elements [0, n) of (pass, step) in phase: element i comes from counter
 * (i / 4, step, pass, phase), lane i % 4, through Box-Muller on lane pairs. Exposed for tests. */
void rsck_gaussian(rsck_key key, uint32_t phase, uint32_t pass, uint32_t step, float *out, size_t n);
/* The generator of rsc <= 0.2.0 (the radius uniform on a 2^-24 grid only): rsck_gaussian with
 * its tail refinement off. Not used by the library; for tests and for auditing old results. */
void rsck_gaussian_24bit(rsck_key key, uint32_t phase, uint32_t pass, uint32_t step, float *out, size_t n);
/* Gaussian mass per Box-Muller pair that rsck_gaussian does not draw: u >= 2^-40, so r never
 * exceeds sqrt(80 ln 2) = 7.45 and P(R > that) = 2^-40 is missing. */
#define RSCK_GAUSSIAN_TAIL_PER_PAIR 0x1p-40

/* Bytes of scratch one thread needs for this net (64-byte aligned memory expected). */
size_t rsck_scratch_size(const rsck_net *net);

/* One pass of the base SNN on caller-given inputs: T steps of d CHW floats (d = in_c*in_h*in_w).
 * Writes the T-averaged logits. Single-threaded; scratch of rsck_scratch_size bytes. */
void rsck_forward(const rsck_net *net, const float *inputs, void *scratch, double *logits);

/* Cancellation inside a call: the calling thread (thread 0 of the OpenMP team) calls fn(ctx,
 * done) each time its own work since the last call reaches `every` operations (counted as
 * rsc_model_info.work_per_pass counts them, checked before each operation of a step), with done
 * the passes of this call finished so far by all threads. A nonzero return stops every thread
 * before its next operation; the votes are then incomplete. So the latency of a cancellation is
 * bounded by `every` plus the work of the largest single operation of one step. */
typedef struct rsck_poll {
    int (*fn)(void *ctx, uint64_t done);
    void *ctx;
    uint64_t every;
} rsck_poll;

/* Runs passes [first_pass, first_pass + count) of phase with the model's coding on x (d CHW
 * floats) and adds each pass's argmax to votes[num_classes]. Parallel over passes with nthreads
 * OpenMP threads, each using scratch[thread]; the votes do not depend on nthreads. poll: NULL,
 * or cancellation as above. Returns 0, or 1 when poll stopped it (votes then unusable). */
int rsck_count_votes(const rsck_net *net, const float *x, rsck_key key, uint32_t phase,
                     uint32_t first_pass, uint32_t count, int nthreads, void *const *scratch,
                     uint64_t *votes, const rsck_poll *poll);

/* The same over many inputs: item j of [first_item, first_item + count) is pass j % passes of
 * input j / passes (d floats at xs + (j / passes) * d, keyed by keys[j / passes]), its vote added
 * to votes[(j / passes) * num_classes + class]. The votes do not depend on nthreads, nor on how
 * the items are split into calls. rsck_count_votes is this with one input. */
int rsck_count_votes_batch(const rsck_net *net, const float *xs, const rsck_key *keys, uint32_t phase,
                           uint64_t passes, uint64_t first_item, uint64_t count, int nthreads,
                           void *const *scratch, uint64_t *votes, const rsck_poll *poll);

/* Profiling (rsc-cli profile): passes [0, passes) of phase 0 on x, single-threaded and otherwise
 * as rsck_count_votes runs them, adding each operation's time in seconds to op_seconds[i] and the
 * number of its steps that ran a dense product (kernel_dense.c) to op_dense[i], i < n_layers;
 * coding_seconds gets the time spent drawing and coding the input. Timing costs a clock read per
 * operation and step (tens of nanoseconds). */
void rsck_profile(const rsck_net *net, const float *x, rsck_key key, uint32_t passes, void *scratch,
                  double *op_seconds, uint64_t *op_dense, double *coding_seconds);

/* One thread's peak rate of int8 products per second in the dense product this CPU runs (VNNI
 * vpdpbusd, or AVX2 vpmaddubsw with an int16 add), measured for about `seconds`; *what names it.
 * 0 where neither runs. */
double rsck_int8_peak(double seconds, const char **what);

/* Operations of one step of op (the unit of rsc_model_info.work_per_pass and of rsck_poll). */
uint64_t rsck_op_work(const rsck_layer *op);

/* Hardware threads OpenMP would use by default. */
int rsck_max_threads(void);

/* The largest team of at most `requested` threads that can be created now (at least 1): calls
 * ask for their team through this, because libomp aborts the process when it cannot create a
 * thread (kernel_threads.c). At most RSCK_MAX_THREADS. */
#define RSCK_MAX_THREADS 1024
int rsck_usable_threads(int requested);

#ifdef __cplusplus
}
#endif
#endif
