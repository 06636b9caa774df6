/* Hostile models: files that declare huge tensors, layer counts, strings, offsets or maps must be
 * rejected (with the status that names the problem) before anything large is allocated, and a
 * small file whose declared maps are within the format's limits but need more scratch per thread
 * than the runtime's limit is refused at load, and one within it fails with RSC_E_NOMEM, not an
 * abort, when that memory is not there. Every load here runs with the
 * address space capped at its current size + 64 MB: an allocation beyond that fails, and
 * allocation failures inside Swift arrays would abort the process (see
 * regress_plan_alloc_failure.c), so passing shows that nothing large was allocated. */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "rscm_write.h"

const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static char path[64];

static void cap_address_space(size_t extra) {
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld", &pages) != 1) exit(2);
    fclose(f);
    const struct rlimit r = {(rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + extra, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &r) != 0) exit(2);
}

static void uncap(void) {
    const struct rlimit r = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_AS, &r);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A small valid model: (1, 8, 8) -> conv 3x3 pad 1 (4, 8, 8) LIF -> flatten -> linear 256 -> 2. */
static size_t base(uint8_t **out) {
    const tl_layer layers[] = {
        {.kind = 1, .neuron = 1, .in = {1, 8, 8}, .out = {4, 8, 8}, .k = {3, 3}, .s = {1, 1}, .p = {1, 1}, .tau = 2.0f,
         .v_threshold = 1.0f, .weight_fill = 3, .scale = 0.1f},
        {.kind = 5, .in = {4, 8, 8}, .out = {256, 1, 1}, .k = {1, 1}, .s = {1, 1}},
        {.kind = 2, .in = {256, 1, 1}, .out = {2, 1, 1}, .k = {1, 1}, .s = {1, 1}, .weight_fill = 1, .scale = 0.5f},
    };
    return tl_build(1, (const uint32_t[]){1, 8, 8}, 2, 4, 0.25f, layers, 3, out);
}

typedef struct patch { const char *what; size_t offset; int bytes; uint64_t value; rsc_status expect; } patch;

#define L0 128
#define L2 (128 + 256)
static const patch patches[] = {
    {"num_layers 2^32-1", 32, 4, 0xFFFFFFFFu, RSC_E_LIMIT},
    {"num_layers 257", 32, 4, 257, RSC_E_LIMIT},
    {"time_steps 2^31", 56, 4, 0x80000000u, RSC_E_LIMIT},
    {"num_classes 2^32-1", 52, 4, 0xFFFFFFFFu, RSC_E_LIMIT},
    {"input height 65536", 44, 4, 65536, RSC_E_LIMIT},
    {"input width 2^32-1", 48, 4, 0xFFFFFFFFu, RSC_E_LIMIT},
    {"input 65535 x 65535 x 8", 40, 4, 65535, RSC_E_LIMIT},  /* with height patched below */
    {"strings_size 2^63", 72, 8, 1ull << 63, RSC_E_BOUNDS},
    {"model name 4 GB", 128 + 3 * 128, 4, 0xFFFFFFF0u, RSC_E_LIMIT},
    {"layer 0 out_channels 65535", L0 + 24, 4, 65535, RSC_E_SHAPE},
    {"layer 0 weight_size 2^60", L0 + 80, 8, 1ull << 60, RSC_E_SHAPE},
    /* Tensors sit where the canonical layout puts them: any other offset is a wrong field. */
    {"layer 0 weight_offset 2^63", L0 + 72, 8, 1ull << 63, RSC_E_FORMAT},
    {"layer 0 scale_offset 2^64-64", L0 + 88, 8, ~0ull << 6, RSC_E_FORMAT},
    {"layer 0 kernel 2^31", L0 + 36, 4, 0x80000000u, RSC_E_LIMIT},
    {"layer 0 output 65535^3", L0 + 28, 4, 65535, RSC_E_LIMIT},  /* with out_c, out_w patched below */
    {"layer 2 weight_size 2^64-1", L2 + 80, 8, ~0ull, RSC_E_SHAPE},
};

static void expect_rejected(const uint8_t *f, size_t size, const char *what, rsc_status expect) {
    if (tl_write(path, f, size) != 0) exit(2);
    cap_address_space(64u << 20);
    rsc_model *m = (rsc_model *)&m;
    const double t = now();
    const rsc_status s = rsc_load(path, &m);
    const double dt = now() - t;
    uncap();
    printf("  %-30s -> %-17s %6.1f ms  %s\n", what, rsc_status_string(s), dt * 1e3, rsc_last_error());
    EXPECT(s == expect);
    EXPECT(m == NULL);
    EXPECT(dt < 1.0);
}

int main(int argc, char **argv) {
    (void)argc, (void)argv;
    snprintf(path, sizeof path, "/tmp/rsc-hostile-%d.rscm", (int)getpid());
    uint8_t *f;
    const size_t size = base(&f);
    EXPECT(size > 0);
    rsc_model *m;
    if (tl_write(path, f, size) != 0) return 2;
    EXPECT(rsc_load(path, &m) == RSC_OK);  /* the base model is valid */
    rsc_free(m);

    cap_address_space(64u << 20);  /* the cap leaves room for a normal load */
    EXPECT(rsc_load(path, &m) == RSC_OK);
    uncap();
    rsc_free(m);

    printf("hostile declarations (address space capped at +64 MB):\n");
    uint8_t *g = malloc(size);
    for (size_t i = 0; i < sizeof patches / sizeof *patches; i++) {
        const patch *p = &patches[i];
        memcpy(g, f, size);
        if (p->bytes == 4) tl_put32(g + p->offset, (uint32_t)p->value); else tl_put64(g + p->offset, p->value);
        if (p->offset == 40) tl_put32(g + 44, 65535);
        if (p->offset == L0 + 28) tl_put32(g + L0 + 24, 65535), tl_put32(g + L0 + 32, 65535);
        tl_fix_crc(g, size);
        expect_rejected(g, size, p->what, p->expect);
    }
    free(g), free(f);

    /* 2^24-element input and two 2^24-element pools (the sum of maps at the 2^26 limit) in a 25 KB file:
     * every call would need ~330 MB of scratch per thread, more than the 256 MiB limit: refused at
     * load, with the figure (before the limit, the load succeeded and each call asked for it). */
    for (int half = 0; half < 2; half++) {
        const uint32_t H = half ? 2048 : 4096;
        const tl_layer maps[] = {
            {.kind = 3, .in = {1, H, 4096}, .out = {1, H, 4096}, .k = {1, 1}, .s = {1, 1}},
            {.kind = 3, .in = {1, H, 4096}, .out = {1, H, 4096}, .k = {1, 1}, .s = {1, 1}},
            {.kind = 1, .neuron = 1, .in = {1, H, 4096}, .out = {2, H / 64, 64}, .k = {64, 64}, .s = {64, 64},
             .tau = 2.0f, .v_threshold = 1.0f, .weight_fill = 1, .scale = 1e-3f},
            {.kind = 5, .in = {2, H / 64, 64}, .out = {2 * H / 64 * 64, 1, 1}, .k = {1, 1}, .s = {1, 1}},
            {.kind = 2, .in = {2 * H / 64 * 64, 1, 1}, .out = {2, 1, 1}, .k = {1, 1}, .s = {1, 1}, .weight_fill = 1,
             .scale = 1e-3f},
        };
        const size_t msize = tl_build(1, (const uint32_t[]){1, H, 4096}, 2, 1, 0.5f, maps, 5, &f);
        if (tl_write(path, f, msize) != 0) return 2;
        cap_address_space(64u << 20);
        const rsc_status ls = rsc_load(path, &m);
        uncap();
        if (!half) {
            printf("  %-30s -> %-17s %s\n", "25 KB file, 2^26 elements of maps", rsc_status_string(ls), rsc_last_error());
            EXPECT(ls == RSC_E_LIMIT && strstr(rsc_last_error(), "scratch"));
            free(f);
            continue;
        }
        /* Half of it (~160 MB per thread) loads; with the memory capped the call fails cleanly. */
        EXPECT(ls == RSC_OK);
        struct rsc_model_info info = rsc_model_info_init();
        EXPECT(rsc_model_info(m, &info) == RSC_OK && info.scratch_bytes > (96u << 20) && info.scratch_bytes < (256u << 20));
        const size_t d = (size_t)H * 4096u;
        float *x = calloc(d, sizeof *x);  /* allocated with the cap lifted */
        cap_address_space(64u << 20);
        rsc_predict_params pp = rsc_predict_default_params();
        pp.n = 2, pp.num_threads = 2;
        rsc_prediction pr = rsc_prediction_init();
        const rsc_status s = rsc_predict(m, x, d, &pp, &pr);
        printf("  %-30s -> %-17s %s\n", "half of it, memory capped", rsc_status_string(s), rsc_last_error());
        EXPECT(s == RSC_E_NOMEM);
        uncap();
        rsc_free(m);
        free(x), free(f);
    }
    unlink(path);
    if (failures == 0) printf("hostile_models: ok\n");
    return failures != 0;
}
