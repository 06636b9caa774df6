/* rsc: certifiably robust spiking neural networks (randomized smoothing coding).
 *
 * The C API of librsc.so. A model (.rscm file, docs/format.md) is loaded once and then queried:
 *   rsc_forward  - the base SNN on caller-given per-step inputs (debugging, custom noise, attacks);
 *   rsc_predict  - the smoothed classifier's prediction, which may abstain;
 *   rsc_certify  - prediction plus a certified L2 radius (Cohen, Rosenfeld, Kolter 2019);
 *   rsc_certify_sequential - whether chosen radii are certified, stopping as soon as that is
 *                  decided (docs/sequential.md): the same guarantee with far fewer passes;
 *   rsc_predict_batch, rsc_certify_batch - many inputs in one call, the same results as one call
 *                  per input, faster when each input has few passes.
 *
 * Conventions
 * - Every function that can fail returns an rsc_status; RSC_OK is 0. On failure,
 *   rsc_last_error() describes the problem on the calling thread, and outputs are left untouched
 *   (rsc_load's *out is set to NULL).
 * - Ownership: rsc_load gives the caller a model, released with rsc_free. Every other pointer
 *   argument is borrowed for the duration of the call only. Strings returned by the library are
 *   owned by it (lifetimes documented per function); never free them.
 * - Threads: a model is immutable after loading; any number of threads may call rsc_forward,
 *   rsc_predict, rsc_certify, rsc_certify_sequential, rsc_predict_batch, rsc_certify_batch and
 *   rsc_model_info on one model at the same time (each call has its own scratch memory; Tests/c/
 *   concurrency.c runs them all concurrently). Only rsc_free must not race with other calls on the
 *   same model.
 * - Versioning: params structs start with struct_size, set by the rsc_*_default_params()
 *   functions; output structs start with struct_size, set by the rsc_*_init() functions
 *   (`rsc_certificate c = rsc_certificate_init();`, which compiles clean as C and C++ under
 *   -Wall -Wextra -pedantic, unlike `= {sizeof c}`). Fields are only ever appended, so a program
 *   built against an older header keeps working with a newer library.
 * - Randomness: results depend only on (seed, stream) and the parameters, never on the thread count
 *   or on how a data set is split across calls, processes or machines. Use the input's index in
 *   a data set as its stream.
 */
#ifndef RSC_H
#define RSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define RSC_API __declspec(dllexport)
#else
#define RSC_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define RSC_VERSION_MAJOR 0
#define RSC_VERSION_MINOR 4
#define RSC_VERSION_PATCH 0

/* Status codes. Each names one kind of problem; rsc_last_error() gives the details. */
typedef enum rsc_status {
    RSC_OK = 0,
    RSC_E_NULL = 1,          /* a required pointer argument is NULL                             */
    RSC_E_ARG = 2,           /* an argument is out of range: n or n0 = 0, alpha not in (0,1), a
                                struct_size too small, ...; the message names it                 */
    RSC_E_IO = 3,            /* the model file is missing or unreadable                         */
    RSC_E_MAGIC = 4,         /* not an .rscm file                                               */
    RSC_E_VERSION = 5,       /* an .rscm format version this library does not read              */
    RSC_E_TRUNCATED = 6,     /* the file is shorter than its header says                        */
    RSC_E_BOUNDS = 7,        /* an offset or size in the file points past its end               */
    RSC_E_SHAPE = 8,         /* layer shapes do not fit together                                */
    RSC_E_LIMIT = 9,         /* a size beyond the library's limits (docs/format.md), rejected
                                before allocating                                               */
    RSC_E_CHECKSUM = 10,     /* the file's checksum does not match its content                  */
    RSC_E_FORMAT = 11,       /* a field has an invalid value (sigma <= 0, unknown layer kind...) */
    RSC_E_INPUT_SIZE = 12,   /* input length does not match the model                           */
    RSC_E_INPUT_VALUE = 13,  /* an input value is NaN, infinite or larger than 1e6 in magnitude */
    RSC_E_UNSUPPORTED = 14,  /* valid, but not supported (e.g. certify on a poisson model)     */
    RSC_E_NOMEM = 15,        /* out of memory                                                   */
    RSC_E_CANCELLED = 16,    /* the progress callback returned false                            */
    RSC_E_INTERNAL = 17      /* a bug in rsc: please report it                                  */
} rsc_status;

/* Input coding of a model: how a pass turns x into the T per-step inputs. */
typedef enum rsc_coding {
    RSC_CODING_DIRECT = 0,          /* x every step; no noise, no certificate            */
    RSC_CODING_GAUSSIAN = 1,        /* x + sigma * fresh noise every step (RSC)          */
    RSC_CODING_GAUSSIAN_SHARED = 2, /* x + sigma * one noise draw reused for all steps   */
    RSC_CODING_POISSON = 3          /* Bernoulli(clip(x, 0, 1)) spikes; no certificate   */
} rsc_coding;

/* The label of an abstaining prediction or certificate. */
#define RSC_ABSTAIN (-1)

/* An opaque, immutable, thread-safe loaded model. */
typedef struct rsc_model rsc_model;

/* Progress of a long call: done in [0, 1], non-decreasing. Return false to cancel (the call then
 * returns RSC_E_CANCELLED). Called on the calling thread, between chunks of passes and, while
 * passes run, about every 2^26 operations of that thread's work, so a cancellation takes effect
 * within a bounded time (docs/reliability.md, "Time"). It must not free the model.
 *
 * Threads (num_threads in the params below): 0 = the library default (rsc_set_num_threads);
 * any other value is used as given, capped at 1024 and at the number of passes. The results do
 * not depend on it. */
typedef bool (*rsc_progress_fn)(float done, void *user);

/* Like POSIX `struct stat` and stat(), the struct and the function share a name: write
 * `struct rsc_model_info info = rsc_model_info_init();` then `rsc_model_info(model, &info)`. */
struct rsc_model_info {
    uint32_t struct_size;       /* in: sizeof(struct rsc_model_info): rsc_model_info_init()      */
    uint32_t input_channels;    /* the input is C x H x W floats, channels first                */
    uint32_t input_height;
    uint32_t input_width;
    uint64_t input_len;         /* d = C * H * W                                                */
    uint32_t num_classes;
    uint32_t time_steps;        /* T                                                             */
    uint32_t coding;            /* an rsc_coding                                                 */
    uint32_t num_layers;
    double sigma;               /* noise scale per step (0 for direct / poisson)                 */
    double sigma_eff;           /* scale of the certified radius: sigma / sqrt(T) for gaussian,
                                   sigma for gaussian-shared, 0 when no certificate is possible */
    const char *name;           /* owned by the model, valid until rsc_free                      */
    const char *const *class_names; /* num_classes strings, owned by the model, until rsc_free */
    /* Since format version 2. A caller compiled against the older, shorter struct passes its
     * smaller struct_size and gets the fields above only. */
    uint32_t format_version;    /* 1: a chain of layers, 2: a graph of nodes (num_layers counts them) */
    uint32_t reserved;
    uint64_t scratch_bytes;     /* kernel scratch memory per thread of a call (docs/reliability.md) */
    uint64_t work_per_pass;     /* operations of one pass: multiply-accumulates, pooling and neuron
                                   updates over the T steps, at most 2^33 (checked at load)      */
    uint64_t plan_bytes;        /* memory the loaded network holds (repacked weights, tables)    */
    /* Since 0.3.0. */
    double noise_tail_mass;     /* Gaussian mass per pass the noise generator does not draw: a
                                   bound on the total variation distance from exact Gaussian
                                   noise, subtracted from pa_lower (docs/kernel.md, "Noise tail") */
    /* Since 0.4.0. */
    uint32_t arithmetic;        /* 0 float, 1 integer: the arithmetic that defines the classifier
                                   (docs/format.md, "Arithmetic")                                */
    uint32_t input_shift;       /* integer: the input grid's step is 2^-input_shift; else 0      */
    uint32_t input_limit;       /* integer: grid values are clamped to +-input_limit; else 0     */
    uint32_t reserved2;
};

typedef struct rsc_predict_params {
    uint32_t struct_size;       /* set by rsc_predict_default_params                             */
    uint32_t num_threads;       /* 0 = the library default (rsc_set_num_threads)                 */
    uint64_t n;                 /* noise passes (default 100000)                                 */
    double alpha;               /* test level, in (0, 1) (default 0.001)                         */
    uint64_t seed;              /* key the noise (default 0)                                     */
    uint64_t stream;
    rsc_progress_fn progress;   /* optional (default NULL)                                       */
    void *progress_user;        /* passed to progress                                            */
    uint64_t *counts;           /* optional: num_classes entries receive the vote counts         */
} rsc_predict_params;

typedef struct rsc_prediction {
    uint32_t struct_size;       /* in: sizeof(rsc_prediction): rsc_prediction_init()             */
    int32_t label;              /* the predicted class, or RSC_ABSTAIN                           */
    int32_t top;                /* most voted class (lowest index on ties)                       */
    int32_t runner_up;          /* second most voted class                                       */
    uint64_t count_top;
    uint64_t count_runner_up;
    double p_value;             /* two-sided binomial test of count_top vs count_runner_up       */
} rsc_prediction;

typedef struct rsc_certify_params {
    uint32_t struct_size;       /* set by rsc_certify_default_params                             */
    uint32_t num_threads;       /* 0 = the library default                                       */
    uint64_t n0;                /* selection passes (default 100)                                */
    uint64_t n;                 /* estimation passes (default 100000)                            */
    double alpha;               /* 1 - confidence, in (0, 1) (default 0.001)                     */
    uint64_t seed;
    uint64_t stream;
    rsc_progress_fn progress;   /* optional                                                      */
    void *progress_user;
} rsc_certify_params;

typedef struct rsc_certificate {
    uint32_t struct_size;       /* in: sizeof(rsc_certificate): rsc_certificate_init()           */
    int32_t label;              /* the certified class, or RSC_ABSTAIN when pa_lower < 1/2       */
    int32_t selected;           /* class chosen by the n0 selection passes                       */
    uint32_t reserved;          /* 0                                                             */
    uint64_t count_selected;    /* votes for `selected` among the n estimation passes            */
    uint64_t n;                 /* estimation passes                                              */
    double pa_lower;            /* one-sided (1 - alpha) Clopper-Pearson lower bound             */
    double radius;              /* certified L2 radius sigma_eff * PhiInv(pa_lower); 0 on abstain */
} rsc_certificate;

/* Sequential certification (docs/sequential.md; since 0.2.0). */
typedef struct rsc_sequential_params {
    uint32_t struct_size;       /* set by rsc_certify_sequential_default_params                  */
    uint32_t num_threads;       /* 0 = the library default                                       */
    uint64_t n0;                /* selection passes (default 100)                                */
    uint64_t n_max;             /* at most this many estimation passes (default 100000)          */
    double alpha;               /* 1 - confidence, in (0, 1) (default 0.001)                     */
    uint64_t seed;
    uint64_t stream;
    const double *radii;        /* num_radii L2 radii (finite, >= 0, any order) to decide;       */
    uint64_t num_radii;         /* borrowed for the call. 0 (default): only radius 0, the class  */
    rsc_progress_fn progress;   /* optional                                                      */
    void *progress_user;
} rsc_sequential_params;

typedef struct rsc_sequential_certificate {
    uint32_t struct_size;       /* in: sizeof(rsc_sequential_certificate):
                                   rsc_sequential_certificate_init()                             */
    int32_t label;              /* the certified class, or RSC_ABSTAIN (pa_lower never reached 1/2) */
    int32_t selected;           /* class chosen by the n0 selection passes                       */
    uint32_t num_certified;     /* how many of the requested radii are certified                 */
    uint64_t count_selected;    /* votes for `selected` among the `passes` estimation passes     */
    uint64_t passes;            /* estimation passes used (<= n_max)                             */
    double pa_lower;            /* the anytime-valid (1 - alpha) lower bound at stopping         */
    double radius;              /* the largest requested radius certified (every requested radius
                                   <= it is certified); 0 when none is, or on abstain            */
} rsc_sequential_certificate;

/* "0.4.0"; static storage. */
RSC_API const char *rsc_version(void);

/* A static description of a status ("RSC_E_ARG: invalid argument"); never NULL. */
RSC_API const char *rsc_status_string(rsc_status status);

/* The message of the last failed call on this thread ("" if none). Valid until the next failing
 * call on the same thread; owned by the library. */
RSC_API const char *rsc_last_error(void);

/* Loads and validates an .rscm file. On success *out owns a model; release it with rsc_free.
 * On failure *out is NULL and nothing is leaked. The path's bytes go to open() unchanged. */
RSC_API rsc_status rsc_load(const char *path, rsc_model **out);

/* The same from the bytes of an .rscm file in memory (embedded in a binary, read from an archive,
 * received over a network), validated exactly as a file is. data is borrowed for the call: the
 * model keeps no pointer into it. size 0 gives RSC_E_TRUNCATED, data NULL RSC_E_NULL. */
RSC_API rsc_status rsc_load_from_memory(const void *data, size_t size, rsc_model **out);

/* Load options (since 0.3.0): get the defaults from rsc_load_default_options, change fields. */
typedef struct rsc_load_options {
    uint32_t struct_size;       /* set by rsc_load_default_options                               */
    uint32_t reserved;          /* 0                                                             */
    uint64_t max_work_per_pass; /* refuse models whose work_per_pass is larger (RSC_E_LIMIT):
                                   default 2^33, accepted 1 .. 2^40 (docs/reliability.md)        */
} rsc_load_options;

RSC_API rsc_load_options rsc_load_default_options(void);

/* rsc_load / rsc_load_from_memory with options; options NULL means the defaults. */
RSC_API rsc_status rsc_load_with_options(const char *path, const rsc_load_options *options, rsc_model **out);
RSC_API rsc_status rsc_load_from_memory_with_options(const void *data, size_t size,
                                                     const rsc_load_options *options, rsc_model **out);

/* Releases a model and everything it owns (names included). NULL is a no-op, and so is a pointer
 * that is not a loaded model (freed already: a second rsc_free does nothing). Calls on a freed
 * model return RSC_E_ARG rather than touching freed memory, unless a later rsc_load has returned
 * the same address; a call racing with rsc_free on one model is undefined. */
RSC_API void rsc_free(rsc_model *model);

/* Output structs with struct_size set and every other field zero (since 0.3.0): initialise
 * outputs with these, e.g. `rsc_certificate cert = rsc_certificate_init();`. */
RSC_API struct rsc_model_info rsc_model_info_init(void);
RSC_API rsc_prediction rsc_prediction_init(void);
RSC_API rsc_certificate rsc_certificate_init(void);
RSC_API rsc_sequential_certificate rsc_sequential_certificate_init(void);

/* Describes a model. out->struct_size = sizeof(struct rsc_model_info) (rsc_model_info_init()). */
RSC_API rsc_status rsc_model_info(const rsc_model *model, struct rsc_model_info *out);

/* Runs the base SNN on caller-given per-step inputs: inputs holds T x d floats (step-major, each
 * step a C x H x W image), inputs_len = T * d. Writes the T-averaged logits to logits[0..K). */
RSC_API rsc_status rsc_forward(const rsc_model *model, const float *inputs, size_t inputs_len,
                               float *logits, size_t logits_len);

/* Defaults: n = 100000, alpha = 0.001, seed = stream = 0, num_threads = 0, no callback. */
RSC_API rsc_predict_params rsc_predict_default_params(void);
/* Defaults: n0 = 100, n = 100000, alpha = 0.001, seed = stream = 0, num_threads = 0. */
RSC_API rsc_certify_params rsc_certify_default_params(void);

/* PREDICT: params->n noisy passes of x (d floats); the top class if a two-sided binomial test of
 * the top two counts rejects equality at level alpha, else RSC_ABSTAIN. params may be NULL for the
 * defaults. Set out->struct_size = sizeof(rsc_prediction). */
RSC_API rsc_status rsc_predict(const rsc_model *model, const float *x, size_t x_len,
                               const rsc_predict_params *params, rsc_prediction *out);

/* CERTIFY: n0 passes select a class, n fresh passes give a Clopper-Pearson lower bound pa_lower
 * on its probability; abstains when pa_lower < 1/2, else radius = sigma_eff * PhiInv(pa_lower).
 * Models with direct or poisson coding give RSC_E_UNSUPPORTED. params may be NULL. */
RSC_API rsc_status rsc_certify(const rsc_model *model, const float *x, size_t x_len,
                               const rsc_certify_params *params, rsc_certificate *out);

/* Batches (since 0.3.0): num_inputs >= 1 inputs of d floats each, one after another in xs
 * (xs_len = num_inputs * d), input i on stream params->stream + i (which must not pass 2^64 - 1).
 * The results equal num_inputs single calls (rsc_predict / rsc_certify) with those streams, for
 * any num_threads. One call runs passes of several inputs at once, so all threads stay busy even
 * when each input has few passes. out points to num_inputs structs, out[0].struct_size bytes
 * apart: set it (rsc_prediction_init() / rsc_certificate_init() on every element does). In batch
 * calls struct_size is an input only: out[0].struct_size is the stride, at least this library's
 * sizeof (a caller built against a newer header passes its larger one) and a multiple of 8; the
 * other elements' struct_size is not read. On success every element gets this library's fields
 * (its first rsc_prediction_init().struct_size or rsc_certificate_init().struct_size bytes) except
 * struct_size, which stays as the caller set it on every element; bytes beyond this library's
 * struct are left untouched. So one array serves any number of batch calls. (Single calls, unlike
 * batch calls, set out->struct_size to the size they wrote.) rsc_predict_batch: params->counts, if
 * not NULL, receives num_inputs * num_classes counts (input-major). progress gets the fraction of
 * all the call's passes done, and cancels the whole call. On failure (RSC_E_NULL, RSC_E_ARG for
 * num_inputs = 0, a bad struct_size or num_inputs * passes above 2^63 - 1, RSC_E_INPUT_SIZE for xs_len != num_inputs * d or an overflowing length,
 * RSC_E_INPUT_VALUE naming xs[i], RSC_E_CANCELLED, ...) no output is written. */
RSC_API rsc_status rsc_predict_batch(const rsc_model *model, const float *xs, size_t xs_len, size_t num_inputs,
                                     const rsc_predict_params *params, rsc_prediction *out);
RSC_API rsc_status rsc_certify_batch(const rsc_model *model, const float *xs, size_t xs_len, size_t num_inputs,
                                     const rsc_certify_params *params, rsc_certificate *out);

/* Defaults: n0 = 100, n_max = 100000, alpha = 0.001, no radii, seed = stream = 0. */
RSC_API rsc_sequential_params rsc_certify_sequential_default_params(void);

/* Sequential CERTIFY: n0 passes select a class (as rsc_certify), then estimation passes are
 * counted in the blocks of a fixed schedule (64, 96, 144, ... passes, each look half again the
 * last, then n_max) with a Clopper-Pearson test at level alpha / J after each of its J looks. Each requested radius r is
 * certified once the lower bound reaches Phi(r / sigma_eff), or dropped once it cannot be reached
 * by n_max; the call returns when every radius is decided. Whatever the stopping time, the
 * probability of certifying a radius beyond the smoothed classifier's is at most alpha. The
 * result depends only on x, the model and the params (not on num_threads): the same seed and
 * stream give the same passes and certificate. Models with direct or poisson coding give
 * RSC_E_UNSUPPORTED. params may be NULL (the defaults). */
RSC_API rsc_status rsc_certify_sequential(const rsc_model *model, const float *x, size_t x_len,
                                          const rsc_sequential_params *params,
                                          rsc_sequential_certificate *out);

/* Sets the thread count that calls with num_threads = 0 use (process-wide; 0 = all hardware
 * threads, the initial setting). Thread-safe. */
RSC_API rsc_status rsc_set_num_threads(int num_threads);

#ifdef __cplusplus
}
#endif
#endif /* RSC_H */
