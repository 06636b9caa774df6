/* Helper of scripts/noise_audit.py: which passes the radius-uniform refinement of rsck_gaussian
 * changes (a Box-Muller pair whose radius word is below 2^16), and the coded inputs of a pass
 * under either generator, computed by the kernel's own code (philox.c is included, not copied). */
#include "../Sources/CRSCKernel/philox.c"

#include <string.h>

/* Passes [first, first + count) of phase whose noise differs between the two generators, for a
 * model with d inputs and `steps` noisy steps (T, or 1 for gaussian-shared): written to out (at
 * most max_out), their number returned. */
size_t audit_changed_passes(uint64_t seed, uint64_t stream, uint32_t phase, uint32_t first, uint32_t count,
                            uint32_t steps, size_t d, uint32_t *out, size_t max_out) {
    const rsck_key key = rsck_derive_key(seed, stream);
    const size_t blocks = (d + 3) / 4;
    size_t found = 0;
    for (uint32_t p = first; p < first + count; p++) {
        int changed = 0;
        for (uint32_t t = 0; t < steps && !changed; t++) {
            for (size_t b0 = 0; b0 < blocks && !changed; b0 += 16) {
                v16u c[4];
                for (int i = 0; i < 16; i++) c[0][i] = (uint32_t)(b0 + i);
                c[1] = (v16u){0} + t;
                c[2] = (v16u){0} + p;
                c[3] = (v16u){0} + phase;
                philox16(c, key.k0, key.k1);
                for (int i = 0; i < 16 && b0 + i < blocks; i++) {
                    const size_t e = 4 * (b0 + i);  /* pair 0: elements e, e+1; pair 1: e+2, e+3 */
                    if (c[0][i] < 0x10000u || (e + 2 < d && c[2][i] < 0x10000u)) changed = 1;
                }
            }
        }
        if (changed) {
            if (found < max_out) out[found] = p;
            found++;
        }
    }
    return found;
}

/* The T x d coded inputs of pass p of phase, as the kernel's code_input builds them: x + sigma *
 * noise at each step (gaussian), or one draw for all steps (gaussian-shared). refine = 1: today's
 * generator, 0: the 24-bit one of rsc <= 0.2.0. */
void audit_inputs(uint64_t seed, uint64_t stream, uint32_t phase, uint32_t pass, const float *x, size_t d,
                  uint32_t T, int shared, float sigma, int refine, float *noise, float *out) {
    const rsck_key key = rsck_derive_key(seed, stream);
    for (uint32_t t = 0; t < T; t++) {
        float *z = out + (size_t)t * d;
        if (shared && t > 0) {
            memcpy(z, out, d * sizeof(float));
            continue;
        }
        if (refine) rsck_gaussian(key, phase, pass, t, noise, d);
        else rsck_gaussian_24bit(key, phase, pass, t, noise, d);
        for (size_t i = 0; i < d; i++) z[i] = x[i] + sigma * noise[i];
    }
}
