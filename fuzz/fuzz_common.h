/* Shared by the libFuzzer harnesses (fuzz/fuzz_load.c, fuzz/fuzz_certify.c): load .rscm bytes
 * through the public rsc_load (via an in-memory file), and check the C API's contract on every
 * result. A violated contract calls abort(), which libFuzzer reports as a crash with the input
 * that caused it. Built by scripts/fuzz.sh. */
#ifndef RSC_FUZZ_COMMON_H
#define RSC_FUZZ_COMMON_H

#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rsc.h"

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "contract violated at %s:%d: %s (last error: %s)\n", __FILE__,   \
                    __LINE__, #cond, rsc_last_error());                                      \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* One memfd reused for every input: rsc_load opens /proc/self/fd/N, a fresh open file
 * description of the same in-memory file, so the fuzzer never touches the disk. */
static int fuzz_fd = -1;
static char fuzz_path[64];

static inline void fuzz_file_init(void) {
    if (fuzz_fd >= 0) return;
    fuzz_fd = memfd_create("rscm", MFD_CLOEXEC);
    CHECK(fuzz_fd >= 0);
    snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
}

/* The status of rsc_load on exactly these bytes; *out is the model or NULL. */
static inline rsc_status fuzz_load_bytes(const uint8_t *data, size_t size, rsc_model **out) {
    fuzz_file_init();
    CHECK(ftruncate(fuzz_fd, 0) == 0);
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fuzz_fd, data + done, size - done, (off_t)done);
        CHECK(n > 0);
        done += (size_t)n;
    }
    *out = (rsc_model *)(uintptr_t)1;  /* must be overwritten: NULL on failure */
    rsc_status s = rsc_load(fuzz_path, out);
    if (s == RSC_OK) {
        CHECK(*out != NULL);
    } else {
        CHECK(*out == NULL);
        CHECK(s >= RSC_E_NULL && s <= RSC_E_INTERNAL);
        CHECK(s != RSC_E_INTERNAL);           /* "a bug in rsc" */
        CHECK(rsc_last_error()[0] != '\0');   /* every failure explains itself */
        CHECK(strstr(rsc_status_string(s), "RSC_E_") != NULL);
    }
    return s;
}

/* A failed call: a known status with a message, never the internal-error status. */
static inline void fuzz_check_failure(rsc_status s) {
    CHECK(s >= RSC_E_NULL && s <= RSC_E_CANCELLED);
    CHECK(rsc_last_error()[0] != '\0');
}

static inline void fuzz_check_info(const struct rsc_model_info *i) {
    CHECK(i->input_len == (uint64_t)i->input_channels * i->input_height * i->input_width);
    CHECK(i->input_len >= 1 && i->input_len <= (1u << 24));
    CHECK(i->num_classes >= 2 && i->num_classes <= 65536);
    CHECK(i->time_steps >= 1 && i->time_steps <= 4096);
    CHECK(i->num_layers >= 1 && i->num_layers <= 256);
    CHECK(i->coding <= RSC_CODING_POISSON);
    CHECK(i->name != NULL && i->class_names != NULL);
    for (uint32_t k = 0; k < i->num_classes; k++) CHECK(i->class_names[k] != NULL && strlen(i->class_names[k]) <= 4096);
    CHECK(isfinite(i->sigma) && i->sigma >= 0);
    CHECK(isfinite(i->sigma_eff) && i->sigma_eff >= 0);
}

static inline void fuzz_check_prediction(const rsc_prediction *p, uint64_t n, uint32_t K) {
    CHECK(p->label == RSC_ABSTAIN || p->label == p->top);
    CHECK(p->top >= 0 && (uint32_t)p->top < K);
    CHECK(p->runner_up >= 0 && (uint32_t)p->runner_up < K && p->runner_up != p->top);
    CHECK(p->count_top >= p->count_runner_up && p->count_top + p->count_runner_up <= n);
    CHECK(p->p_value >= 0 && p->p_value <= 1);
}

static inline void fuzz_check_certificate(const rsc_certificate *c, uint64_t n, uint32_t K) {
    CHECK(c->label == RSC_ABSTAIN || c->label == c->selected);
    CHECK(c->selected >= 0 && (uint32_t)c->selected < K);
    CHECK(c->count_selected <= n && c->n == n);
    CHECK(c->pa_lower >= 0 && c->pa_lower <= 1);
    CHECK(isfinite(c->radius) && c->radius >= 0);
    CHECK((c->label == RSC_ABSTAIN) == (c->pa_lower < 0.5));
    CHECK(c->label != RSC_ABSTAIN || c->radius == 0);
}

#endif
