/* Regression: a 16 MB model within every documented limit (an analog conv over a 2^24-element
 * input with one output channel) made rsc_load allocate ~2.3 GB: the plan pads output channels to
 * tiles of 16 and holds analog weights as float32 (64x the file's weights, 1 GiB), built through
 * temporary Swift arrays. When memory ran out, Swift's allocator aborted the caller's process
 * ("Fatal error: failed to allocate 1073741856 bytes") instead of rsc_load failing. Found by
 * measuring allocations of hostile models (docs/reliability.md). Fixed in
 * Sources/RSC/Network/NetworkPlan.swift: the repacked weights are written in place into
 * posix_memalign'd memory, whose failure is RSC_E_NOMEM; peak memory drops to ~1.1 GB.
 *
 * Since format v2 the plan is also bounded by 16 x the file size + 64 MiB (docs/format.md), so
 * that 16 MB file is refused with RSC_E_LIMIT before anything is allocated; a 64 MB file with four
 * output channels is within the bound and still needs a 1 GiB plan.
 *
 * The test writes the models, caps the address space at the current size + 640 MB (so ASan builds
 * work too), and expects RSC_E_LIMIT and RSC_E_NOMEM, not an abort; then a normal model still
 * loads. */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "rscm_write.h"

/* ASan builds: a failed allocation returns NULL (like malloc) instead of ending the process. */
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* conv2d (4096, 64, 64) -> (channels, 1, 1), 64x64 kernel, LIF; then linear -> 2. Gaussian, T = 1. */
static size_t build(uint32_t channels, uint8_t **out) {
    const tl_layer layers[] = {
        {.kind = 1, .neuron = 1, .in = {4096, 64, 64}, .out = {channels, 1, 1}, .k = {64, 64}, .s = {1, 1},
         .tau = 2.0f, .v_threshold = 1.0f, .weight_fill = 1, .scale = 1e-3f},
        {.kind = 2, .in = {channels, 1, 1}, .out = {2, 1, 1}, .k = {1, 1}, .s = {1, 1}, .weight_fill = 1, .scale = 1.0f},
    };
    return tl_build(1, (const uint32_t[]){4096, 64, 64}, 2, 1, 0.5f, layers, 2, out);
}

static int write_model(const char *path, uint32_t channels) {
    uint8_t *bytes;
    const size_t size = build(channels, &bytes);
    const int bad = size == 0 || tl_write(path, bytes, size) != 0;
    free(bytes);
    return bad;
}

int main(int argc, char **argv) {
    char small[64], path[64];
    snprintf(small, sizeof small, "/tmp/rsc-regress-plan-%d-1.rscm", (int)getpid());
    snprintf(path, sizeof path, "/tmp/rsc-regress-plan-%d-4.rscm", (int)getpid());
    if (write_model(small, 1) || write_model(path, 4)) return 2;
    const size_t size = (size_t)4 * 4096 * 64 * 64;

    long vm_pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm || fscanf(statm, "%ld", &vm_pages) != 1) return 2;
    fclose(statm);
    const struct rlimit cap = {(rlim_t)vm_pages * (rlim_t)sysconf(_SC_PAGESIZE) + (640ull << 20), RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &cap) != 0) return 2;

    rsc_model *m = (rsc_model *)&m;
    EXPECT(rsc_load(small, &m) == RSC_E_LIMIT);  /* a plan of 64x the file: beyond the bound */
    EXPECT(m == NULL);
    EXPECT(strstr(rsc_last_error(), "network plan needs") != NULL);
    unlink(small);
    m = (rsc_model *)&m;
    const rsc_status s = rsc_load(path, &m);  /* before the fix: abort() in Swift's allocator */
    EXPECT(s == RSC_E_NOMEM);
    EXPECT(m == NULL);
    EXPECT(strstr(rsc_last_error(), "cannot allocate") != NULL);
    unlink(path);

    rsc_model *ok = load_fixture(fixtures_dir(argc, argv), "conv_lif.rscm");
    rsc_free(ok);
    if (failures == 0) printf("regress_plan_alloc_failure: ok (%zu bytes of weights, RSC_E_NOMEM under a 640 MB cap)\n", size);
    return failures != 0;
}
