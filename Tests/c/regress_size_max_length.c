/* Regression: a length argument above INT64_MAX ((size_t)-1, a negative ptrdiff_t, SIZE_MAX / 2 + 1)
 * reached `UnsafeBufferPointer(start:count:)` as a negative Int, which traps in a debug build of
 * librsc ("Fatal error: UnsafeBufferPointer with negative count", SIGILL in the caller's process)
 * and printed "x has -1 values" in release. Found by fuzz/fuzz_certify.c (length modes 3 and 4).
 * Fixed in Sources/RSCCAPI/Exports.swift (length()): RSC_E_INPUT_SIZE naming the size. */
#include <stdint.h>

#include "check.h"

int main(int argc, char **argv) {
    rsc_model *m = load_fixture(fixtures_dir(argc, argv), "conv_lif.rscm");
    struct rsc_model_info info = rsc_model_info_init();
    EXPECT(rsc_model_info(m, &info) == RSC_OK);
    float *x = calloc(info.input_len * info.time_steps, sizeof *x);
    float logits[16];
    const size_t lens[] = {SIZE_MAX, SIZE_MAX - 1, (size_t)1 << 63, ((size_t)1 << 63) + 12345};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        rsc_predict_params pp = rsc_predict_default_params();
        pp.n = 4;
        rsc_prediction p = rsc_prediction_init();
        EXPECT(rsc_predict(m, x, lens[i], &pp, &p) == RSC_E_INPUT_SIZE);
        EXPECT(strstr(rsc_last_error(), "x_len is ") != NULL);
        rsc_certify_params cp = rsc_certify_default_params();
        cp.n0 = 2, cp.n = 4;
        rsc_certificate c = rsc_certificate_init();
        EXPECT(rsc_certify(m, x, lens[i], &cp, &c) == RSC_E_INPUT_SIZE);
        EXPECT(strstr(rsc_last_error(), "x_len") != NULL);
        EXPECT(rsc_forward(m, x, lens[i], logits, 16) == RSC_E_INPUT_SIZE);
        EXPECT(strstr(rsc_last_error(), "inputs_len") != NULL);
        EXPECT(rsc_forward(m, x, info.input_len * info.time_steps, logits, lens[i]) == RSC_E_INPUT_SIZE);
        EXPECT(strstr(rsc_last_error(), "logits_len") != NULL);
        EXPECT(strchr(rsc_last_error(), '-') == NULL);  /* no negative sizes in messages */
    }
    /* The library still works after the rejected calls. */
    EXPECT(rsc_forward(m, x, info.input_len * info.time_steps, logits, 16) == RSC_OK);
    free(x);
    rsc_free(m);
    if (failures == 0) printf("regress_size_max_length: ok\n");
    return failures != 0;
}
