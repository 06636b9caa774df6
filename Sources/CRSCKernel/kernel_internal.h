/* Internal to the kernel target: shared between its .c files, never exported. */
#ifndef RSC_KERNEL_INTERNAL_H
#define RSC_KERNEL_INTERNAL_H

#include "rsc_kernel.h"

#define RSCK_HIDDEN __attribute__((visibility("hidden")))

/* The instruction set the hot loops run with: 4 x86-64-v4 (AVX-512), 3 x86-64-v3 (AVX2, FMA),
 * 1 the x86-64 baseline (kernel_cpu.c). The CPU's best unless RSC_DISABLE_AVX512 or
 * RSC_DISABLE_AVX2 lowers it: tests force each level and compare the votes. */
RSCK_HIDDEN int rsck_isa(void);

/* Hot loops are compiled once per level and chosen at run time by rsck_isa(), so one library is
 * fast on new CPUs, runs on any x86-64 (a -march=native build would die with SIGILL on older
 * ones), and every variant can be forced in a test (target_clones, used before 0.4, picked by CPU
 * alone, through ifunc resolvers).
 *   RSCK_MULTI(linkage, name, (params), (args)) { body }
 * defines `linkage void name(params)`; linkage is `static` or empty, args the parameter names. */
#if defined(__x86_64__) && defined(__clang__)
#define RSCK_MULTI(linkage, name, params, args)                                              \
    static inline __attribute__((always_inline)) void name##_body params;                    \
    static __attribute__((target("arch=x86-64-v4"))) void name##_v4 params { name##_body args; } \
    static __attribute__((target("arch=x86-64-v3"))) void name##_v3 params { name##_body args; } \
    static void name##_v1 params { name##_body args; }                                       \
    linkage void name params {                                                               \
        const int isa_ = rsck_isa();                                                         \
        if (isa_ == 4) name##_v4 args;                                                       \
        else if (isa_ == 3) name##_v3 args;                                                  \
        else name##_v1 args;                                                                 \
    }                                                                                        \
    static inline __attribute__((always_inline)) void name##_body params
#else
#define RSCK_MULTI(linkage, name, params, args) linkage void name params
#endif

RSCK_HIDDEN void rsck_poisson(rsck_key key, uint32_t phase, uint32_t pass, uint32_t step,
                              const float *x, float *out, size_t n);

/* Per-layer kernels (kernel_layers.c). Maps are HWC. */
RSCK_HIDDEN void rsck_dense(const rsck_layer *L, const float *in, float *pad, float *acc);
RSCK_HIDDEN void rsck_event(const rsck_layer *L, const uint16_t *in, int32_t *acc, int32_t *events);
/* A spike-fed layer: event-driven row adds, or a dense product (VNNI or AVX2) when L->w4 is set,
 * the CPU has one and this input's events make it cheaper; returns 1 when the dense one ran.
 * pad8 holds rsck_count_pad_size(L) bytes. */
RSCK_HIDDEN int rsck_count_layer(const rsck_layer *L, const uint16_t *in, int32_t *acc, int32_t *events,
                                 uint8_t *pad8);
RSCK_HIDDEN size_t rsck_count_pad_size(const rsck_layer *L);
/* Whether rsck_count_layer runs this input densely (the choice, for benchmarks and tests). */
RSCK_HIDDEN int rsck_count_dense_pays(const rsck_layer *L, const uint16_t *in);
/* The dense path alone (benchmarks): 2 (VNNI) or 1 (AVX2) as run, 0 where none applies (no w4, a
 * CPU without them, counts above 128 without VNNI). */
RSCK_HIDDEN int rsck_count_dense(const rsck_layer *L, const uint16_t *in, int32_t *acc, uint8_t *pad8);
RSCK_HIDDEN void rsck_neuron_count(const rsck_layer *L, const int32_t *acc, int32_t *v, uint16_t *spikes);
RSCK_HIDDEN void rsck_neuron_analog(const rsck_layer *L, const float *acc, int32_t *v, uint16_t *spikes);
RSCK_HIDDEN void rsck_pool_count(const rsck_layer *L, const uint16_t *in, uint16_t *out);
RSCK_HIDDEN void rsck_pool_analog(const rsck_layer *L, const float *in, float *out);

/* The integer input of arithmetic 1 (kernel_quant.c). */
RSCK_HIDDEN void rsck_quantize(const rsck_net *net, const float *z, int16_t *q);
RSCK_HIDDEN void rsck_pool_quant(const rsck_layer *L, const int16_t *in, int16_t *out);
/* conv/linear on an int16 map: exact int32 sums; pad16 holds rsck_quant_pad_size(L) elements. */
RSCK_HIDDEN void rsck_quant_layer(const rsck_layer *L, const int16_t *in, int32_t *acc, int16_t *pad16);
RSCK_HIDDEN size_t rsck_quant_pad_size(const rsck_layer *L);
/* The hand-written AVX-512 VNNI and AVX2 paths may run (kernel_cpu.c: the CPU has them and the
 * RSC_DISABLE_* switches leave them on). */
RSCK_HIDDEN int rsck_have_vnni(void);
RSCK_HIDDEN int rsck_have_avx2(void);

/* The graph's operations (kernel_graph.c). */
/* Currents of a weighted layer without a neuron, in the unit of the neuron that reads them. */
RSCK_HIDDEN void rsck_current_count(const rsck_layer *L, const int32_t *acc, int32_t *cur);
RSCK_HIDDEN void rsck_current_analog(const rsck_layer *L, const float *acc, int32_t *cur);
/* A neuron on its own: spikes from a current map. */
RSCK_HIDDEN void rsck_neuron_current(const rsck_layer *L, const int32_t *cur, int32_t *v, uint16_t *spikes);
RSCK_HIDDEN void rsck_maxpool_count(const rsck_layer *L, const uint16_t *in, uint16_t *out);
RSCK_HIDDEN void rsck_maxpool_analog(const rsck_layer *L, const float *in, float *out);
/* ADD (counts + counts, or into a current), AND, IAND of two maps of L's output size. */
RSCK_HIDDEN void rsck_combine(const rsck_layer *L, const void *a, const void *b, void *out);

#endif
