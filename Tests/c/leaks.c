/* Leaks and memory growth: CYCLES load/free cycles (a valid model, plus a missing file and a
 * corrupt one on the error paths) and CALLS certify calls on one model (every 10th call also a
 * predict with vote counts, a forward and a failing certify). Prints the resident set size (RSS)
 * after a warm-up tenth of each phase and at its end, and fails if it grew by more than
 * $RSC_LEAKS_RSS_LIMIT_KB (default 1024; 0 = report only, as under valgrind or ASan, whose own
 * bookkeeping moves RSS). scripts/leaks.sh runs it natively and under valgrind
 * (--errors-for-leak-kinds=definite); scripts/sanitize.sh under LeakSanitizer.
 *
 *   leaks [FIXTURES_DIR] [CYCLES] [CALLS]      defaults: Tests/Fixtures 10000 10000 */
#include <stdint.h>
#include <unistd.h>

#include "check.h"

static long rss_kb(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    if (f) fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* A copy of `src` whose layer 1 has an unknown kind (checksum fixed): fails deep in the parser,
 * after the strings and layer 0 (with its tensors) were read. */
static void write_corrupt(const char *src, const char *dst) {
    FILE *f = fopen(src, "rb");
    static uint8_t buf[1 << 20];
    const size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    if (n < 512) exit(2);
    buf[128 + 128] = 9;
    memset(buf + 12, 0, 4);
    const uint32_t crc = crc32_ieee(buf, n);
    for (int i = 0; i < 4; i++) buf[12 + i] = (uint8_t)(crc >> (8 * i));
    f = fopen(dst, "wb");
    if (!f || fwrite(buf, 1, n, f) != n) exit(2);
    fclose(f);
}

static int check_growth(const char *phase, int count, long warm, long end, long limit) {
    printf("%s: %d iterations, RSS %ld KB after the first tenth, %ld KB at the end: %+ld KB\n", phase, count, warm,
           end, end - warm);
    if (limit > 0 && end - warm > limit) {
        printf("%s: RSS grew by more than %ld KB\n", phase, limit);
        return 1;
    }
    return 0;
}

static bool cancel_half_way(float done, void *user) {
    (void)user;
    return done < 0.5f;
}

int main(int argc, char **argv) {
    const char *dir = fixtures_dir(argc, argv);
    const int cycles = argc > 2 ? atoi(argv[2]) : 10000, calls = argc > 3 ? atoi(argv[3]) : 10000;
    const long limit = getenv("RSC_LEAKS_RSS_LIMIT_KB") ? atol(getenv("RSC_LEAKS_RSS_LIMIT_KB")) : 1024;
    char good[4096], corrupt[64], missing[64];
    snprintf(good, sizeof good, "%s/conv_lif.rscm", dir);
    snprintf(corrupt, sizeof corrupt, "/tmp/rsc-leaks-%d.rscm", (int)getpid());
    snprintf(missing, sizeof missing, "/tmp/rsc-leaks-%d-missing.rscm", (int)getpid());
    write_corrupt(good, corrupt);

    long warm = 0;
    for (int i = 0; i < cycles; i++) {
        if (i == cycles / 10) warm = rss_kb();
        rsc_model *m = NULL;
        EXPECT(rsc_load(good, &m) == RSC_OK);
        struct rsc_model_info info = rsc_model_info_init();
        EXPECT(rsc_model_info(m, &info) == RSC_OK && info.num_classes == 10);
        rsc_free(m);
        EXPECT(rsc_load(missing, &m) == RSC_E_IO && m == NULL);
        EXPECT(rsc_load(corrupt, &m) == RSC_E_FORMAT && m == NULL);
    }
    int grew = check_growth("load/free", cycles, warm, rss_kb(), limit);
    unlink(corrupt);

    rsc_model *m = load_fixture(dir, "conv_lif.rscm");
    struct rsc_model_info info = rsc_model_info_init();
    EXPECT(rsc_model_info(m, &info) == RSC_OK);
    float *x = malloc(info.input_len * info.time_steps * sizeof *x), logits[10];
    uint64_t counts[10];
    for (size_t i = 0; i < info.input_len * info.time_steps; i++) x[i] = (float)(i % 7) / 7.0f;
    for (int i = 0; i < calls; i++) {
        if (i == calls / 10) warm = rss_kb();
        rsc_certify_params cp = rsc_certify_default_params();
        cp.n0 = 8, cp.n = 32, cp.seed = (uint64_t)i;
        rsc_certificate c = rsc_certificate_init();
        EXPECT(rsc_certify(m, x, info.input_len, &cp, &c) == RSC_OK);
        if (i % 10 == 0) {
            rsc_predict_params pp = rsc_predict_default_params();
            pp.n = 32, pp.seed = (uint64_t)i, pp.counts = counts;
            rsc_prediction p = rsc_prediction_init();
            EXPECT(rsc_predict(m, x, info.input_len, &pp, &p) == RSC_OK);
            EXPECT(rsc_forward(m, x, info.input_len * info.time_steps, logits, 10) == RSC_OK);
            EXPECT(rsc_certify(m, x, info.input_len + 1, &cp, &c) == RSC_E_INPUT_SIZE);
            const double radii[] = {0.0, 0.1};
            rsc_sequential_params sp = rsc_certify_sequential_default_params();
            sp.n0 = 8, sp.n_max = 200, sp.seed = (uint64_t)i, sp.radii = radii, sp.num_radii = 2;
            rsc_sequential_certificate sc = rsc_sequential_certificate_init();
            EXPECT(rsc_certify_sequential(m, x, info.input_len, &sp, &sc) == RSC_OK && sc.passes <= 200);
            sp.num_radii = 3000;  /* too many: an argument error, nothing allocated for it */
            EXPECT(rsc_certify_sequential(m, x, info.input_len, &sp, &sc) == RSC_E_ARG);
            /* Batches over the T inputs in x: success, a cancellation half-way (scratch and keys
             * allocated, then thrown away) and an overflowing length. */
            rsc_certificate cb[16];
            rsc_prediction pb[16];
            const size_t nb = info.time_steps < 16 ? info.time_steps : 16;
            for (size_t k = 0; k < nb; k++) cb[k] = rsc_certificate_init(), pb[k] = rsc_prediction_init();
            EXPECT(rsc_certify_batch(m, x, nb * info.input_len, nb, &cp, cb) == RSC_OK);
            pp.counts = NULL;
            EXPECT(rsc_predict_batch(m, x, nb * info.input_len, nb, &pp, pb) == RSC_OK);
            cp.progress = cancel_half_way;
            EXPECT(rsc_certify_batch(m, x, nb * info.input_len, nb, &cp, cb) == RSC_E_CANCELLED);
            cp.progress = NULL;
            EXPECT(rsc_certify_batch(m, x, nb * info.input_len, SIZE_MAX / 2, &cp, cb) == RSC_E_INPUT_SIZE);
        }
    }
    grew |= check_growth("certify", calls, warm, rss_kb(), limit);
    free(x);
    rsc_free(m);
    printf("leaks: %s\n", failures || grew ? "FAILED" : "ok");
    return failures != 0 || grew;
}
