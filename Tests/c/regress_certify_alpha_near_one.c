/* Regression: rsc_certify with alpha within ~1e-16 of 1 (any alpha in (0, 1) is accepted) and all
 * n votes for one class returned pa_lower = 1.0 and radius = +inf, an unbounded certificate: the
 * Clopper-Pearson bound alpha^(1/n) < 1 rounded up to 1.0 and PhiInv(1) = inf. Found while
 * writing the invariants of fuzz/fuzz_certify.c (alpha is fuzzed as a raw double). Fixed in
 * Sources/RSC/Smoothing/Smoothing.swift: the bound is rounded down to the largest double below 1,
 * still a valid lower bound; the radius is finite. */
#include <math.h>

#include "check.h"

int main(int argc, char **argv) {
    rsc_model *m = load_fixture(fixtures_dir(argc, argv), "tiny_linear.rscm");
    const float x[4] = {50, -50, 50, 0};  /* far on class 0's side: every noisy pass votes 0 */
    /* 0.6, not 0.5: at n = 1 the bound 0.5^1 minus the noise tail mass is below 1/2 (abstain) */
    const double alphas[] = {nextafter(1.0, 0.0), 1.0 - 0x1p-52, 0.999999999, 0.6};
    for (size_t i = 0; i < sizeof alphas / sizeof *alphas; i++) {
        for (uint64_t n = 1; n <= 1000; n *= 10) {
            rsc_certify_params p = rsc_certify_default_params();
            p.n0 = 2, p.n = n, p.alpha = alphas[i];
            rsc_certificate c = rsc_certificate_init();
            EXPECT(rsc_certify(m, x, 4, &p, &c) == RSC_OK);
            EXPECT(c.count_selected == n && c.label == 0);
            EXPECT(c.pa_lower < 1.0 && c.pa_lower >= 0.5);
            EXPECT(isfinite(c.radius) && c.radius >= 0);
        }
    }
    rsc_free(m);
    if (failures == 0) printf("regress_certify_alpha_near_one: ok\n");
    return failures != 0;
}
