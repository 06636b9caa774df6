/* Minimal test support for the C tests of Tests/c (run by scripts/sanitize.sh and
 * scripts/leaks.sh): EXPECT prints the failed condition and counts it; tests exit with the count. */
#ifndef RSC_C_CHECK_H
#define RSC_C_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsc.h"

static int failures;

#define EXPECT(cond)                                                                          \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            failures++;                                                                       \
            fprintf(stderr, "%s:%d: FAILED: %s (rsc_last_error: %s)\n", __FILE__, __LINE__,   \
                    #cond, rsc_last_error());                                                 \
        }                                                                                     \
    } while (0)

/* The directory of the committed fixtures: argv[1] if given, else Tests/Fixtures (run from the
 * repository root). */
static inline const char *fixtures_dir(int argc, char **argv) { return argc > 1 ? argv[1] : "Tests/Fixtures"; }

static inline rsc_model *load_fixture(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rsc_model *m = NULL;
    if (rsc_load(path, &m) != RSC_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, rsc_last_error());
        exit(2);
    }
    return m;
}

#endif
