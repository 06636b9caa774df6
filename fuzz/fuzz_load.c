/* libFuzzer target: the model loader. Each input is an .rscm file image, tried twice:
 *   1. as is (magic, version, size and checksum checks), and
 *   2. with file_size and the CRC-32 fixed up, so that mutations reach every check behind the
 *      checksum (layer table, strings, shapes, tensor bounds, the network plan).
 * A model that loads is described (rsc_model_info) and, when small enough to run quickly, run
 * through rsc_forward, rsc_predict and rsc_certify, with 1 and 2 threads, whose results must
 * agree. Any crash, sanitizer report, RSC_E_INTERNAL or broken API contract is a finding.
 *
 *   bash scripts/fuzz.sh 60          # builds everything and runs both targets */
#include "fuzz_common.h"


/* CRC-32 (IEEE, as zlib's crc32), table-driven: no zlib headers needed. */
static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        crc_table[i] = c;
    }
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return ~c;
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* Work of one pass, from the layer table of a file that loaded (so every field is valid):
 * multiply-adds of the weighted layers plus pool window adds, times T. */
static double pass_cost(const uint8_t *d, size_t size) {
    const uint32_t layers = rd32(d + 32), T = rd32(d + 56);
    double cost = (double)rd32(d + 40) * rd32(d + 44) * rd32(d + 48);
    for (uint32_t i = 0; i < layers && 128 + 128 * (size_t)(i + 1) <= size; i++) {
        const uint8_t *L = d + 128 + 128 * (size_t)i;
        const double out = (double)rd32(L + 24) * rd32(L + 28) * rd32(L + 32);
        const double k = (double)rd32(L + 36) * rd32(L + 40);
        cost += out * (rd32(L) <= 2 ? rd32(L + 12) * k : k) + out;
    }
    return cost * T;
}

static void exercise(rsc_model *m, const uint8_t *data, size_t size) {
    struct rsc_model_info info = {sizeof info};
    CHECK(rsc_model_info(m, &info) == RSC_OK);
    fuzz_check_info(&info);
    if (pass_cost(data, size) > 2e5) return;  /* valid but slow: not what this target is for */

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
    crc_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    try_load(data, size);
    if (size < 24) return 0;
    uint8_t *fixed = malloc(size);
    CHECK(fixed);
    memcpy(fixed, data, size);
    for (int i = 0; i < 8; i++) fixed[16 + i] = (uint8_t)((uint64_t)size >> (8 * i));
    memset(fixed + 12, 0, 4);
    const uint32_t crc = crc32_ieee(fixed, size);
    for (int i = 0; i < 4; i++) fixed[12 + i] = (uint8_t)(crc >> (8 * i));
    if (memcmp(fixed, data, size) != 0) try_load(fixed, size);
    free(fixed);
    return 0;
}
