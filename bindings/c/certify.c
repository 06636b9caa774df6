/* certify: load an rsc model, certify one input, print the class, radius and pA bound.
 *
 *   cc certify.c $(pkg-config --cflags --libs rsc) -o certify
 *   ./certify MODEL.rscm INPUT.f32 [SEED]
 *
 * INPUT.f32 holds the input as raw little-endian float32 values, C*H*W of them, channels first
 * (numpy: x.astype("<f4").tofile("input.f32")). Prints "class K (NAME) radius R pA P", or
 * "abstain pA P". Every status is checked; everything is freed. Compiles clean as C99 and as
 * C++17 under -Wall -Wextra -Werror -pedantic (tests/test_embedding.py builds it so). */
#include <rsc.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.rscm INPUT.f32 [SEED]\n", argv[0]);
        return 2;
    }
    rsc_model *model = NULL;
    if (rsc_load(argv[1], &model) != RSC_OK) {
        fprintf(stderr, "%s\n", rsc_last_error());
        return 1;
    }
    struct rsc_model_info info = rsc_model_info_init();
    if (rsc_model_info(model, &info) != RSC_OK) {
        fprintf(stderr, "%s\n", rsc_last_error());
        rsc_free(model);
        return 1;
    }

    float *x = (float *)malloc(info.input_len * sizeof *x); /* the cast: valid C++ too */
    FILE *f = fopen(argv[2], "rb");
    size_t got = (x && f) ? fread(x, sizeof *x, info.input_len, f) : 0;
    if (f) fclose(f);
    if (got != info.input_len) {
        fprintf(stderr, "%s: expected %llu float32 values\n", argv[2], (unsigned long long)info.input_len);
        free(x);
        rsc_free(model);
        return 1;
    }

    rsc_certify_params params = rsc_certify_default_params(); /* n0 100, n 100000, alpha 0.001 */
    if (argc > 3) params.seed = strtoull(argv[3], NULL, 10);
    rsc_certificate cert = rsc_certificate_init();
    rsc_status status = rsc_certify(model, x, info.input_len, &params, &cert);
    free(x);
    if (status != RSC_OK) {
        fprintf(stderr, "%s\n", rsc_last_error());
        rsc_free(model);
        return 1;
    }
    if (cert.label == RSC_ABSTAIN)
        printf("abstain pA %.9f\n", cert.pa_lower);
    else
        printf("class %d (%s) radius %.9f pA %.9f\n", cert.label, info.class_names[cert.label],
               cert.radius, cert.pa_lower);
    rsc_free(model);
    return 0;
}
