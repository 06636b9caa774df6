/* Issue 15: a second rsc_free and calls after rsc_free read freed memory (undefined, a crash or
 * silent garbage under ASan: heap-use-after-free). The library now knows its live models: those
 * calls get RSC_E_ARG, a second rsc_free and a pointer that never was a model do nothing. */
#include "check.h"

int main(int argc, char **argv) {
    rsc_model *m = load_fixture(fixtures_dir(argc, argv), "conv_lif.rscm");
    struct rsc_model_info info = rsc_model_info_init();
    EXPECT(rsc_model_info(m, &info) == RSC_OK);
    float *x = calloc(info.input_len * info.time_steps, sizeof *x);
    rsc_free(m);
    rsc_free(m);  /* a no-op, not a double free */
    struct rsc_model_info after = rsc_model_info_init();
    EXPECT(rsc_model_info(m, &after) == RSC_E_ARG);
    EXPECT(strstr(rsc_last_error(), "not a loaded model") != NULL);
    rsc_predict_params pp = rsc_predict_default_params();
    pp.n = 4;
    rsc_prediction p = rsc_prediction_init();
    EXPECT(rsc_predict(m, x, info.input_len, &pp, &p) == RSC_E_ARG);
    rsc_certificate c = rsc_certificate_init();
    EXPECT(rsc_certify(m, x, info.input_len, NULL, &c) == RSC_E_ARG);
    float logits[16];
    EXPECT(rsc_forward(m, x, info.input_len * info.time_steps, logits, 16) == RSC_E_ARG);
    /* A pointer that never was a model. */
    double not_a_model[8] = {0};
    EXPECT(rsc_model_info((rsc_model *)not_a_model, &after) == RSC_E_ARG);
    rsc_free((rsc_model *)not_a_model);
    /* Models loaded afterwards work as usual. */
    rsc_model *again = load_fixture(fixtures_dir(argc, argv), "conv_lif.rscm");
    EXPECT(rsc_predict(again, x, info.input_len, &pp, &p) == RSC_OK);
    rsc_free(again);
    free(x);
    if (failures == 0) printf("regress_use_after_free: ok\n");
    return failures;
}
