/* libFuzzer target: the input path of rsc_predict, rsc_certify and rsc_forward on fixed, valid
 * models (the .rscm files of Tests/Fixtures, or the directory in $RSC_FUZZ_MODELS). The fuzz input picks the
 * model, the call, NULL pointers, struct sizes, lengths (including SIZE_MAX), n, n0, alpha
 * (any double), seed, stream, thread count, a cancelling progress callback and the raw bits of
 * the input floats (NaN, infinities, huge values, subnormals). Checks: every call returns OK or
 * the status its arguments call for, a successful result satisfies the API's invariants, and the
 * same call on another thread count gives the same result.
 *
 * Input layout (missing bytes read as 0):
 *   0 model   1 call and flags   2 length mode   3 n   4 n0   5 threads   6 cancel after
 *   7 value/alpha flags   8..15 alpha (raw double)   16..23 seed   24..31 stream   32.. x */
#include "fuzz_common.h"

#include <dirent.h>

#define MAX_MODELS 16
static rsc_model *models[MAX_MODELS];
static struct rsc_model_info infos[MAX_MODELS];
static int num_models;

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("RSC_FUZZ_MODELS") ? getenv("RSC_FUZZ_MODELS") : "Tests/Fixtures";
    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr, "fuzz_certify: cannot open %s (run from the repository root or set RSC_FUZZ_MODELS)\n", dir);
        exit(1);
    }
    char *names[MAX_MODELS];
    int n = 0;
    for (struct dirent *e; (e = readdir(dp)) && n < MAX_MODELS;) {
        const size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".rscm") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(dp);
    qsort(names, (size_t)n, sizeof *names, cmp_names);  /* the same model index on every machine */
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rsc_load(path, &models[num_models]) != RSC_OK) {
            fprintf(stderr, "fuzz_certify: %s: %s\n", path, rsc_last_error());
            exit(1);
        }
        infos[num_models].struct_size = sizeof infos[0];
        CHECK(rsc_model_info(models[num_models], &infos[num_models]) == RSC_OK);
        fprintf(stderr, "fuzz_certify: model %d = %s\n", num_models, names[i]);
        num_models++;
        free(names[i]);
    }
    if (num_models == 0) {
        fprintf(stderr, "fuzz_certify: no .rscm files in %s\n", dir);
        exit(1);
    }
    return 0;
}

static int cancel_after, progress_calls;
static bool progress(float done, void *user) {
    CHECK(user == &progress_calls);
    CHECK(done >= 0 && done <= 1);
    return progress_calls++ < cancel_after;
}

static uint8_t byte_at(const uint8_t *d, size_t size, size_t i) { return i < size ? d[i] : 0; }
static uint64_t u64_at(const uint8_t *d, size_t size, size_t i) {
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--) v = v << 8 | byte_at(d, size, i + (size_t)k);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const int mi = byte_at(data, size, 0) % num_models;
    rsc_model *m = models[mi];
    const struct rsc_model_info *info = &infos[mi];
    const size_t d = info->input_len, T = info->time_steps, K = info->num_classes;

    const uint8_t call = byte_at(data, size, 1);
    const int op = (call & 3) % 3;                     /* 0 predict, 1 certify, 2 forward */
    const bool null_params = call & 0x04, null_x = call & 0x08, null_out = call & 0x10;
    const bool with_progress = call & 0x20, small_out = call & 0x40, small_params = call & 0x80;
    const size_t want = op == 2 ? T * d : d;
    size_t len;
    switch (byte_at(data, size, 2) % 12) {
    case 0: len = want - 1; break;
    case 1: len = want + 1; break;
    case 2: len = 0; break;
    case 3: len = SIZE_MAX; break;                     /* (size_t)-1: a negative length */
    case 4: len = (size_t)1 << 63; break;
    case 5: len = d == want ? d * 2 : d; break;        /* forward given d, predict given 2d */
    default: len = want; break;
    }
    const uint8_t nb = byte_at(data, size, 3), n0b = byte_at(data, size, 4);
    const uint64_t n = nb == 255 ? 0 : nb == 254 ? (uint64_t)1 << 40 : nb % 8 + 1;
    const uint64_t n0 = n0b == 255 ? 0 : n0b % 4 + 1;
    const uint32_t threads = byte_at(data, size, 5) % 4;
    cancel_after = byte_at(data, size, 6) % 4;
    const uint8_t vf = byte_at(data, size, 7);
    double alpha = 0.01 + 0.98 * (vf >> 2) / 63.0;
    if (vf & 1) memcpy(&alpha, (uint64_t[]){u64_at(data, size, 8)}, sizeof alpha);
    const uint64_t seed = u64_at(data, size, 16), stream = u64_at(data, size, 24);

    /* The buffer holds exactly `want` floats (ASan flags any read past it). */
    float *x = malloc(want * sizeof *x);
    CHECK(x);
    bool values_ok = true;
    const size_t nx = size > 32 ? size - 32 : 0;
    for (size_t i = 0; i < want; i++) {
        if (vf & 2) {
            uint32_t bits = 0;
            for (int k = 0; k < 4; k++) bits |= (uint32_t)byte_at(data + 32, nx, (4 * i + (size_t)k) % (nx ? nx : 1)) << (8 * k);
            memcpy(&x[i], &bits, sizeof bits);
        } else {
            x[i] = nx ? data[32 + i % nx] / 255.0f : 0.0f;
        }
        values_ok &= fabsf(x[i]) <= 1e6f;
    }
    const float *xp = null_x ? NULL : x;

    rsc_status s, s2;
    const bool lengths_ok = len == want;
    if (op == 2) {
        float *logits = malloc(K * sizeof *logits), *logits2 = malloc(K * sizeof *logits2);
        CHECK(logits && logits2);
        const size_t klen = small_out ? K - 1 : K;
        s = rsc_forward(m, xp, len, null_out ? NULL : logits, klen);
        if (s == RSC_OK) {
            CHECK(!null_x && !null_out && lengths_ok && !small_out && values_ok);
            for (size_t k = 0; k < K; k++) CHECK(!isnan(logits[k]));
            CHECK(rsc_forward(m, xp, len, logits2, klen) == RSC_OK);
            CHECK(memcmp(logits, logits2, K * sizeof *logits) == 0);
        } else {
            fuzz_check_failure(s);
            CHECK(null_x || null_out || !lengths_ok || small_out || !values_ok);
        }
        free(logits), free(logits2);
    } else if (op == 0) {
        rsc_predict_params p = rsc_predict_default_params();
        p.n = n, p.alpha = alpha, p.seed = seed, p.stream = stream, p.num_threads = threads;
        uint64_t *counts = calloc(K, sizeof *counts), *counts2 = calloc(K, sizeof *counts2);
        CHECK(counts && counts2);
        p.counts = counts;
        if (with_progress) p.progress = progress, p.progress_user = &progress_calls;
        if (small_params) p.struct_size = 4;
        rsc_prediction r = {small_out ? 8 : sizeof r}, r2 = {sizeof r2};
        progress_calls = 0;
        if (null_params) {
            /* NULL params means the defaults (n = 100000): only the failing paths are cheap. */
            s = null_x || null_out || !lengths_ok || !values_ok ? rsc_predict(m, xp, len, NULL, null_out ? NULL : &r) : RSC_E_ARG;
            CHECK(s != RSC_OK);
            if (s != RSC_E_ARG) fuzz_check_failure(s);
        } else {
            s = rsc_predict(m, xp, len, &p, null_out ? NULL : &r);
            const bool args_ok = !null_x && !null_out && lengths_ok && !small_out && !small_params && values_ok &&
                                 n >= 1 && n <= 0xFFFFFFFFu && alpha > 0 && alpha < 1;
            if (s == RSC_OK) {
                CHECK(args_ok && (!with_progress || cancel_after > 0));
                fuzz_check_prediction(&r, n, (uint32_t)K);
                uint64_t total = 0;
                for (size_t k = 0; k < K; k++) total += counts[k];
                CHECK(total == n && counts[r.top] == r.count_top && counts[r.runner_up] == r.count_runner_up);
                p.num_threads = threads == 1 ? 2 : 1;
                p.counts = counts2;
                p.progress = NULL;
                CHECK((s2 = rsc_predict(m, xp, len, &p, &r2)) == RSC_OK);
                CHECK(memcmp(&r, &r2, sizeof r) == 0 && memcmp(counts, counts2, K * sizeof *counts) == 0);
            } else {
                fuzz_check_failure(s);
                CHECK(!args_ok || (with_progress && s == RSC_E_CANCELLED));
            }
        }
        free(counts), free(counts2);
    } else {
        rsc_certify_params p = rsc_certify_default_params();
        p.n0 = n0, p.n = n, p.alpha = alpha, p.seed = seed, p.stream = stream, p.num_threads = threads;
        if (with_progress) p.progress = progress, p.progress_user = &progress_calls;
        if (small_params) p.struct_size = 4;
        rsc_certificate r = {small_out ? 8 : sizeof r}, r2 = {sizeof r2};
        progress_calls = 0;
        const bool certifiable = info->coding == RSC_CODING_GAUSSIAN || info->coding == RSC_CODING_GAUSSIAN_SHARED;
        if (null_params) {
            s = null_x || null_out || !lengths_ok || !values_ok || !certifiable ? rsc_certify(m, xp, len, NULL, null_out ? NULL : &r) : RSC_E_ARG;
            CHECK(s != RSC_OK);
            if (s != RSC_E_ARG) fuzz_check_failure(s);
        } else {
            s = rsc_certify(m, xp, len, &p, null_out ? NULL : &r);
            const bool args_ok = !null_x && !null_out && lengths_ok && !small_out && !small_params && values_ok &&
                                 certifiable && n >= 1 && n0 >= 1 && n <= 0xFFFFFFFFu && alpha > 0 && alpha < 1;
            if (s == RSC_OK) {
                CHECK(args_ok && (!with_progress || cancel_after > 0));
                fuzz_check_certificate(&r, n, (uint32_t)K);
                p.num_threads = threads == 1 ? 2 : 1;
                p.progress = NULL;
                CHECK((s2 = rsc_certify(m, xp, len, &p, &r2)) == RSC_OK);
                CHECK(memcmp(&r, &r2, sizeof r) == 0);
            } else {
                fuzz_check_failure(s);
                CHECK(!args_ok || (with_progress && s == RSC_E_CANCELLED));
            }
        }
    }
    free(x);
    return 0;
}
