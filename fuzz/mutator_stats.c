/* What rscm_mutator.h's structural operations make of the seed corpus: each seed mutated N times
 * (structural operations only: libFuzzer's byte mutation is replaced by a single bit flip), each
 * result loaded, the outcomes tallied by status and by the class of limit or rule that refused it
 * (docs/reliability.md, section 2). Not a test: a measurement of where the mutator reaches.
 *
 *   clang -O1 -I include fuzz/mutator_stats.c -L .build/release -lrsc -Wl,-rpath,.build/release \
 *       -o /tmp/mutator_stats && /tmp/mutator_stats 1000 fuzz/corpus/load/{fixture,valid,limit}-*.rscm */
#include <stdio.h>
#include <stdlib.h>

#include "rsc.h"
#include "rscm_mutator.h"

static uint64_t flip_state = 1;

size_t LLVMFuzzerMutate(uint8_t *d, size_t size, size_t max_size) {
    (void)max_size;
    if (size) {
        const uint64_t r = mut_next(&flip_state);
        d[r % size] ^= (uint8_t)(1u << (r >> 32) % 8);
    }
    return size;
}

static const struct { const char *name, *needle; } classes[] = {
    {"shared or misplaced tensor (class 1)", "tensors follow each other"},
    {"scratch per thread (class 2)", "bytes of scratch"},
    {"work per pass (class 4)", "operations"},
    {"float overflow of the logits (class 5)", "beyond float"},
    {"trailing bytes (class 7)", "after its last tensor"},
    {"non-zero padding (class 7)", "padding before"},
};

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: %s N SEED.rscm...\n", argv[0]), 2;
    const long per_seed = atol(argv[1]);
    enum { CAP = 1 << 16, NC = sizeof classes / sizeof *classes };
    static uint8_t orig[CAP], buf[CAP];
    long loaded = 0, refused = 0, by_status[32] = {0}, by_class[NC] = {0}, total = 0;
    mut_crc_init();
    for (int a = 2; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb");
        if (!f) continue;
        const size_t n = fread(orig, 1, CAP / 2, f);
        fclose(f);
        for (long it = 0; it < per_seed; it++, total++) {
            memcpy(buf, orig, n);
            const size_t size = LLVMFuzzerCustomMutator(buf, n, CAP, (unsigned)(it * 7919 + a));
            rsc_model *m = NULL;
            const rsc_status s = rsc_load_from_memory(buf, size, &m);
            if (s == RSC_OK) {
                loaded++;
                rsc_free(m);
                continue;
            }
            refused++;
            by_status[s < 32 ? s : 31]++;
            const char *msg = rsc_last_error();
            for (int c = 0; c < NC; c++)
                if (msg && strstr(msg, classes[c].needle)) by_class[c]++;
        }
    }
    printf("%ld mutations of %d seeds: %ld load, %ld refused\n", total, argc - 2, loaded, refused);
    for (int s = 1; s < 32; s++)
        if (by_status[s]) printf("  %-10ld %s\n", by_status[s], rsc_status_string((rsc_status)s));
    for (int c = 0; c < NC; c++) printf("  %-10ld %s\n", by_class[c], classes[c].name);
    return 0;
}
