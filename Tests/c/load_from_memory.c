/* rsc_load_from_memory and the load options (issue 15 item 4, issue 16): the bytes of a file
 * give the same model as the file, the caller's buffer is not kept, bad buffers and options get
 * their status, and the work limit is an option. */
#include <stdint.h>

#include "check.h"

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(2); }
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*size);
    if (fread(b, 1, *size, f) != *size) { fprintf(stderr, "cannot read %s\n", path); exit(2); }
    fclose(f);
    return b;
}

static void votes(rsc_model *m, uint64_t *counts) {
    struct rsc_model_info info = rsc_model_info_init();
    EXPECT(rsc_model_info(m, &info) == RSC_OK);
    float *x = calloc(info.input_len, sizeof *x);
    for (uint64_t i = 0; i < info.input_len; i++) x[i] = (float)(i % 7) / 7.0f;
    rsc_predict_params p = rsc_predict_default_params();
    p.n = 300, p.seed = 5, p.counts = counts;
    rsc_prediction out = rsc_prediction_init();
    EXPECT(rsc_predict(m, x, info.input_len, &p, &out) == RSC_OK);
    free(x);
}

int main(int argc, char **argv) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", fixtures_dir(argc, argv), "conv_lif.rscm");
    size_t size;
    unsigned char *bytes = read_file(path, &size);

    rsc_model *a = NULL, *b = NULL;
    EXPECT(rsc_load(path, &a) == RSC_OK);
    EXPECT(rsc_load_from_memory(bytes, size, &b) == RSC_OK);
    memset(bytes, 0xAB, size);  /* the model keeps no pointer into the caller's buffer */
    uint64_t ca[64] = {0}, cb[64] = {0};
    votes(a, ca);
    votes(b, cb);
    EXPECT(memcmp(ca, cb, sizeof ca) == 0);
    struct rsc_model_info ia = rsc_model_info_init(), ib = rsc_model_info_init();
    EXPECT(rsc_model_info(a, &ia) == RSC_OK && rsc_model_info(b, &ib) == RSC_OK);
    EXPECT(ia.work_per_pass == ib.work_per_pass && ia.plan_bytes == ib.plan_bytes);
    EXPECT(strcmp(ia.name, ib.name) == 0);
    rsc_free(b);

    free(bytes);
    bytes = read_file(path, &size);
    rsc_model *m = (rsc_model *)1;
    EXPECT(rsc_load_from_memory(NULL, size, &m) == RSC_E_NULL && m == NULL);
    EXPECT(rsc_load_from_memory(bytes, size, NULL) == RSC_E_NULL);
    EXPECT(rsc_load_from_memory(bytes, 0, &m) == RSC_E_TRUNCATED && m == NULL);
    EXPECT(rsc_load_from_memory(bytes, size - 1, &m) != RSC_OK && m == NULL);
    EXPECT(rsc_load_from_memory(bytes, SIZE_MAX, &m) == RSC_E_INPUT_SIZE && m == NULL);
    EXPECT(rsc_load_from_memory(bytes, (size_t)1 << 40, &m) == RSC_E_LIMIT && m == NULL);
    bytes[200] ^= 1;
    EXPECT(rsc_load_from_memory(bytes, size, &m) == RSC_E_CHECKSUM && m == NULL);
    bytes[200] ^= 1;

    /* Options: NULL is the defaults; the work limit can be lowered below the model's work. */
    rsc_load_options o = rsc_load_default_options();
    EXPECT(o.struct_size == sizeof o && o.max_work_per_pass == (uint64_t)1 << 33);
    EXPECT(rsc_load_with_options(path, NULL, &m) == RSC_OK);
    rsc_free(m);
    o.max_work_per_pass = ia.work_per_pass;
    EXPECT(rsc_load_from_memory_with_options(bytes, size, &o, &m) == RSC_OK);
    rsc_free(m);
    o.max_work_per_pass = ia.work_per_pass - 1;
    EXPECT(rsc_load_with_options(path, &o, &m) == RSC_E_LIMIT && m == NULL);
    EXPECT(strstr(rsc_last_error(), "raises the limit") != NULL);
    EXPECT(rsc_load_from_memory_with_options(bytes, size, &o, &m) == RSC_E_LIMIT && m == NULL);
    o.max_work_per_pass = 0;
    EXPECT(rsc_load_with_options(path, &o, &m) == RSC_E_ARG && m == NULL);
    o.max_work_per_pass = ((uint64_t)1 << 40) + 1;
    EXPECT(rsc_load_with_options(path, &o, &m) == RSC_E_ARG && m == NULL);
    o = rsc_load_default_options();
    o.struct_size = 4;
    EXPECT(rsc_load_with_options(path, &o, &m) == RSC_E_ARG && m == NULL);

    rsc_free(a);
    free(bytes);
    if (failures == 0) printf("load_from_memory: ok\n");
    return failures;
}
