/* Internal to the kernel target: shared between its .c files, never exported. */
#ifndef RSC_KERNEL_INTERNAL_H
#define RSC_KERNEL_INTERNAL_H

#include "rsc_kernel.h"

#define RSCK_HIDDEN __attribute__((visibility("hidden")))

/* Runtime dispatch to AVX-512 / AVX2 variants of the hot loops, with a baseline x86-64 fallback so
 * the library runs on any x86-64 CPU (a -march=native build would die with SIGILL on older ones). */
#if defined(__x86_64__) && defined(__clang__)
#define RSCK_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RSCK_CLONES
#endif

RSCK_HIDDEN void rsck_poisson(rsck_key key, uint32_t phase, uint32_t pass, uint32_t step,
                              const float *x, float *out, size_t n);

/* Per-layer kernels (kernel_layers.c). Maps are HWC. */
RSCK_HIDDEN void rsck_dense(const rsck_layer *L, const float *in, float *pad, float *acc);
RSCK_HIDDEN void rsck_event(const rsck_layer *L, const uint16_t *in, int32_t *acc, int32_t *events);
/* A spike-fed layer: event-driven row adds, or a dense VNNI product when L->w4 is set, the CPU has
 * AVX-512 VNNI and this input's events make it cheaper. pad8 holds rsck_count_pad_size(L) bytes. */
RSCK_HIDDEN void rsck_count_layer(const rsck_layer *L, const uint16_t *in, int32_t *acc, int32_t *events,
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
/* The CPU has AVX-512 VNNI (AVX2) and neither RSC_DISABLE_VNNI (RSC_DISABLE_AVX2) nor, for
 * VNNI, RSC_DISABLE_AVX2 is set (kernel_cpu.c): the hand-written paths, which tests switch off
 * to check that every path gives the same sums. */
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
