/* Concurrency: 8 threads share one model and call rsc_certify, rsc_certify_sequential,
 * rsc_predict (with vote counts), rsc_certify_batch and rsc_predict_batch (whose input 0 must
 * equal the single calls),
 * rsc_forward, rsc_model_info and failing calls at the same time, each job with its own seed,
 * stream and input; every result must equal the same call made sequentially beforehand, and each
 * thread's rsc_last_error must describe its own failure. Run under ThreadSanitizer by
 * scripts/sanitize.sh, and under AddressSanitizer.
 *
 *   concurrency [MODEL] [OMP_THREADS_PER_CALL] [ROUNDS] [IMAGES.npy]
 *     defaults: Tests/Fixtures/conv_lif.rscm, 1, 6, synthetic inputs; with IMAGES (float32 .npy of
 *     N images of the model's input size, e.g. models/demo/test_images.npy) job i takes image i % N.
 * OMP_THREADS_PER_CALL = params.num_threads of every call; 1 keeps the OpenMP runtime (not built
 * with TSan) out of the picture so that the only concurrency is the 8 caller threads. */
#include <pthread.h>
#include <stdint.h>

#include "check.h"

#define THREADS 8
#define BATCH 3

typedef struct job {
    uint64_t seed, stream;
    float *x, *steps;             /* x: d floats; steps: T x d for rsc_forward */
    rsc_certificate cert;
    rsc_sequential_certificate seq;
    rsc_prediction pred;
    uint64_t *counts;
    float *logits;
    float *xb;                    /* BATCH inputs: x, then the first two steps of `steps` */
    rsc_certificate bcert[BATCH];
    rsc_prediction bpred[BATCH];
    uint64_t *bcounts;            /* BATCH x num_classes */
} job;

static rsc_model *model;
static struct rsc_model_info info;
static uint32_t omp_threads = 1;
static int rounds = 6;
static job *expected, *actual;    /* [THREADS * rounds] */
static pthread_barrier_t start;
static float *images;             /* optional: [num_images][d] */
static size_t num_images;

/* A float32, C-order .npy whose items have d values each (format version 1 or 2 header). */
static void read_npy(const char *path, size_t d) {
    FILE *f = fopen(path, "rb");
    unsigned char head[12];
    if (!f || fread(head, 1, 12, f) != 12 || memcmp(head, "\x93NUMPY", 6) != 0) goto bad;
    const size_t hlen = head[6] == 1 ? (size_t)(head[8] | head[9] << 8)
                                      : (size_t)(head[8] | head[9] << 8 | head[10] << 16 | (size_t)head[11] << 24);
    const long data = (long)(head[6] == 1 ? 10 + hlen : 12 + hlen);
    char *h = calloc(1, hlen + 1);
    if (fseek(f, head[6] == 1 ? 10 : 12, SEEK_SET) != 0 || fread(h, 1, hlen, f) != hlen || !strstr(h, "'<f4'") ||
        strstr(h, "True")) goto bad;
    free(h);
    if (fseek(f, 0, SEEK_END) != 0) goto bad;
    num_images = (size_t)(ftell(f) - data) / (d * sizeof(float));
    images = malloc(num_images * d * sizeof(float));
    if (num_images == 0 || fseek(f, data, SEEK_SET) != 0 || fread(images, sizeof(float) * d, num_images, f) != num_images) goto bad;
    fclose(f);
    return;
bad:
    fprintf(stderr, "cannot read %s as float32 .npy items of %zu values\n", path, d);
    exit(2);
}

static void run_job(job *j) {
    rsc_certify_params cp = rsc_certify_default_params();
    cp.n0 = 16, cp.n = 64, cp.alpha = 0.01, cp.seed = j->seed, cp.stream = j->stream, cp.num_threads = omp_threads;
    j->cert = rsc_certificate_init();
    EXPECT(rsc_certify(model, j->x, info.input_len, &cp, &j->cert) == RSC_OK);

    static const double radii[] = {0.0, 0.05, 0.2};
    rsc_sequential_params sp = rsc_certify_sequential_default_params();
    sp.n0 = 16, sp.n_max = 400, sp.alpha = 0.01, sp.seed = j->seed, sp.stream = j->stream;
    sp.num_threads = omp_threads, sp.radii = radii, sp.num_radii = 3;
    j->seq = rsc_sequential_certificate_init();
    EXPECT(rsc_certify_sequential(model, j->x, info.input_len, &sp, &j->seq) == RSC_OK);

    rsc_predict_params pp = rsc_predict_default_params();
    pp.n = 64, pp.alpha = 0.01, pp.seed = j->seed, pp.stream = j->stream, pp.num_threads = omp_threads;
    pp.counts = j->counts;
    j->pred = rsc_prediction_init();
    EXPECT(rsc_predict(model, j->x, info.input_len, &pp, &j->pred) == RSC_OK);

    EXPECT(rsc_forward(model, j->steps, info.input_len * info.time_steps, j->logits, info.num_classes) == RSC_OK);

    /* Batches: input i on stream j->stream + i, input 0 being x: the single calls' results. */
    for (int i = 0; i < BATCH; i++) j->bcert[i] = rsc_certificate_init(), j->bpred[i] = rsc_prediction_init();
    EXPECT(rsc_certify_batch(model, j->xb, BATCH * info.input_len, BATCH, &cp, j->bcert) == RSC_OK);
    pp.counts = j->bcounts;
    EXPECT(rsc_predict_batch(model, j->xb, BATCH * info.input_len, BATCH, &pp, j->bpred) == RSC_OK);
    EXPECT(memcmp(&j->bcert[0], &j->cert, sizeof j->cert) == 0);
    EXPECT(memcmp(&j->bpred[0], &j->pred, sizeof j->pred) == 0);
    EXPECT(memcmp(j->bcounts, j->counts, info.num_classes * sizeof *j->counts) == 0);
}

static void *worker(void *arg) {
    const int t = (int)(intptr_t)arg;
    pthread_barrier_wait(&start);
    for (int r = 0; r < rounds; r++) {
        job *j = &actual[t * rounds + r];
        run_job(j);
        /* A failure whose message names this thread's own length: thread-local last error. */
        char want[64];
        snprintf(want, sizeof want, "x has %d values", 1000 + t);
        rsc_prediction p = rsc_prediction_init();
        EXPECT(rsc_predict(model, j->x, (size_t)(1000 + t), NULL, &p) == RSC_E_INPUT_SIZE);
        struct rsc_model_info i = rsc_model_info_init();
        EXPECT(rsc_model_info(model, &i) == RSC_OK && i.input_len == info.input_len);
        EXPECT(strstr(rsc_last_error(), want) != NULL);
        rsc_certificate none = rsc_certificate_init();
        EXPECT(rsc_certify_batch(model, j->xb, 0, 0, NULL, &none) == RSC_E_ARG);
        EXPECT(strstr(rsc_last_error(), "rsc_certify_batch: num_inputs is 0") != NULL);
    }
    return NULL;
}

static void make_job(job *j, int index) {
    const size_t d = info.input_len, T = info.time_steps;
    j->seed = 1000003u * (uint64_t)index + 7;
    j->stream = (uint64_t)index;
    j->x = malloc(d * sizeof *j->x);
    j->steps = malloc(T * d * sizeof *j->steps);
    j->counts = calloc(info.num_classes, sizeof *j->counts);
    j->logits = calloc(info.num_classes, sizeof *j->logits);
    j->xb = malloc(BATCH * d * sizeof *j->xb);
    j->bcounts = calloc(BATCH * (size_t)info.num_classes, sizeof *j->bcounts);
    uint32_t s = (uint32_t)index * 2654435761u + 1;
    for (size_t i = 0; i < d; i++) {
        s = s * 1664525u + 1013904223u;
        j->x[i] = images ? images[(size_t)index % num_images * d + i] : (float)(s >> 8) / 16777216.0f;
    }
    for (size_t t = 0; t < T; t++)
        for (size_t i = 0; i < d; i++) j->steps[t * d + i] = j->x[i] + 0.25f * (float)((i + t) % 3) - 0.25f;
    memcpy(j->xb, j->x, d * sizeof *j->x);
    for (size_t i = 0; i < (BATCH - 1) * d; i++) j->xb[d + i] = j->steps[i % (T * d)];
}

static void free_job(job *j) { free(j->x), free(j->steps), free(j->counts), free(j->logits), free(j->xb), free(j->bcounts); }

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "Tests/Fixtures/conv_lif.rscm";
    if (argc > 2) omp_threads = (uint32_t)atoi(argv[2]);
    if (argc > 3) rounds = atoi(argv[3]);
    if (rsc_load(path, &model) != RSC_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, rsc_last_error());
        return 2;
    }
    info = rsc_model_info_init();
    EXPECT(rsc_model_info(model, &info) == RSC_OK);
    if (argc > 4) read_npy(argv[4], info.input_len);
    const int n = THREADS * rounds;
    expected = calloc((size_t)n, sizeof *expected);
    actual = calloc((size_t)n, sizeof *actual);
    for (int i = 0; i < n; i++) {
        make_job(&expected[i], i);
        make_job(&actual[i], i);
        run_job(&expected[i]);  /* sequential reference, on this thread */
    }

    pthread_t tid[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (int t = 0; t < THREADS; t++) pthread_create(&tid[t], NULL, worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&start);

    int differ = 0, certified = 0;
    for (int i = 0; i < n; i++) {
        const job *e = &expected[i], *a = &actual[i];
        const int same = memcmp(&e->cert, &a->cert, sizeof e->cert) == 0 &&
                         memcmp(&e->seq, &a->seq, sizeof e->seq) == 0 &&
                         memcmp(&e->pred, &a->pred, sizeof e->pred) == 0 &&
                         memcmp(e->counts, a->counts, info.num_classes * sizeof *e->counts) == 0 &&
                         memcmp(e->logits, a->logits, info.num_classes * sizeof *e->logits) == 0 &&
                         memcmp(e->bcert, a->bcert, sizeof e->bcert) == 0 &&
                         memcmp(e->bpred, a->bpred, sizeof e->bpred) == 0 &&
                         memcmp(e->bcounts, a->bcounts, BATCH * info.num_classes * sizeof *e->bcounts) == 0;
        differ += !same;
        certified += e->cert.label != RSC_ABSTAIN;
        if (!same)
            fprintf(stderr, "job %d: concurrent result differs: label %d/%d count %llu/%llu pred %d/%d\n", i,
                    e->cert.label, a->cert.label, (unsigned long long)e->cert.count_selected,
                    (unsigned long long)a->cert.count_selected, e->pred.top, a->pred.top);
    }
    EXPECT(differ == 0);
    printf("concurrency: %d threads x %d rounds on %s (num_threads %u per call): %d certify, %d predict, "
           "%d sequential, %d forward calls, %d batch pairs of %d inputs, %d certified; %s\n", THREADS, rounds, path,
           omp_threads, n, n, n, n, n, BATCH,
           certified,
           differ ? "RESULTS DIFFER from the sequential calls" : "all equal to the sequential calls");
    for (int i = 0; i < n; i++) free_job(&expected[i]), free_job(&actual[i]);
    free(expected), free(actual), free(images);
    rsc_free(model);
    return failures != 0;
}
