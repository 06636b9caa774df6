/* libFuzzer target: the model loader. Each input is an .rscm file image, tried twice:
 *   1. as is (magic, version, size and checksum checks), and
 *   2. with file_size and the CRC-32 fixed up, so that mutations reach every check behind the
 *      checksum (layer table, strings, shapes, tensor bounds, the network plan).
 * Half the mutations are structural (rscm_mutator.h: shared tensors, huge shapes, chains of
 * pools, overflowing scales, trailing bytes), the others libFuzzer's own.
 * A model that loads is described (rsc_model_info) and, when small enough to run quickly, run
 * through rsc_forward, rsc_predict and rsc_certify, with 1 and 2 threads, whose results must
 * agree. Any crash, sanitizer report, RSC_E_INTERNAL or broken API contract is a finding.
 *
 *   bash scripts/fuzz.sh 60          # builds everything and runs both targets */
#include "fuzz_common.h"
#include "rscm_mutator.h"

static void exercise(rsc_model *m, const uint8_t *data, size_t size) {
    struct rsc_model_info info = {sizeof info};
    CHECK(rsc_model_info(m, &info) == RSC_OK);
    fuzz_check_info(&info);
    if (info.work_per_pass > 200000) return;  /* valid but slow: not what this target is for */

    const size_t d = info.input_len, T = info.time_steps, K = info.num_classes;
    float *x = malloc(d * T * sizeof *x), *logits = malloc(K * sizeof *logits);
    uint64_t *c1 = calloc(K, sizeof *c1), *c2 = calloc(K, sizeof *c2);
    CHECK(x && logits && c1 && c2);
    for (size_t i = 0; i < d * T; i++) x[i] = (float)data[(i * 7 + 3) % size] / 128.0f - 0.5f;

    CHECK(rsc_forward(m, x, d * T, logits, K) == RSC_OK);
    for (size_t k = 0; k < K; k++) CHECK(!isnan(logits[k]));

    rsc_predict_params pp = rsc_predict_default_params();
    pp.n = 3;
    pp.alpha = 0.25;
    pp.seed = size;
    pp.num_threads = 1;
    pp.counts = c1;
    rsc_prediction p1 = {sizeof p1}, p2 = {sizeof p2};
    CHECK(rsc_predict(m, x, d, &pp, &p1) == RSC_OK);
    fuzz_check_prediction(&p1, pp.n, (uint32_t)K);
    pp.num_threads = 2;
    pp.counts = c2;
    CHECK(rsc_predict(m, x, d, &pp, &p2) == RSC_OK);
    CHECK(memcmp(&p1, &p2, sizeof p1) == 0 && memcmp(c1, c2, K * sizeof *c1) == 0);

    rsc_certify_params cp = rsc_certify_default_params();
    cp.n0 = 2;
    cp.n = 3;
    cp.alpha = 0.25;
    cp.num_threads = 1;
    rsc_certificate r = {sizeof r};
    const rsc_status s = rsc_certify(m, x, d, &cp, &r);
    if (info.coding == RSC_CODING_GAUSSIAN || info.coding == RSC_CODING_GAUSSIAN_SHARED) {
        CHECK(s == RSC_OK);
        fuzz_check_certificate(&r, cp.n, (uint32_t)K);
    } else {
        CHECK(s == RSC_E_UNSUPPORTED);
    }
    free(x), free(logits), free(c1), free(c2);
}

static void try_load(const uint8_t *data, size_t size) {
    rsc_model *m;
    if (fuzz_load_bytes(data, size, &m) == RSC_OK) {
        exercise(m, data, size);
        rsc_free(m);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_file_init();
    mut_crc_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try_load(data, size);
    if (size < 24) return 0;
    uint8_t *fixed = malloc(size);
    CHECK(fixed);
    memcpy(fixed, data, size);
    mut_fix_header(fixed, size);
    if (memcmp(fixed, data, size) != 0) try_load(fixed, size);
    free(fixed);
    return 0;
}
