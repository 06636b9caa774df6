/* How many OpenMP threads a call can have without libomp aborting the process.
 *
 * libomp has no error path for a failed thread creation: when pthread_create fails (an address
 * space cap with 1024 threads of 8 MiB stacks, RLIMIT_NPROC, a cgroup's pid limit) it prints
 * "OMP: Error #34" and calls abort(), killing the embedding program. So before a team larger than
 * any this thread has run, the kernel first creates the workers itself, with libomp's stack size,
 * each beside a reservation of the address space a libomp worker may need besides its stack (a
 * glibc malloc arena: 64 MiB, mapped as 128 MiB while it is created), holds them all at once and
 * releases them: libomp then finds what they held. A failure at the k-th worker gives a team of
 * k (the calling thread and k - 1 workers); 1 when none can be created.
 *
 * libomp keeps the workers of a thread's largest team alive for its next regions (its "hot
 * team"), so a team no larger than the largest this thread has run needs no probe. The probe is
 * conservative (arenas are shared, at most 8 per core); it cannot rule out another thread of the
 * process using up the resources between the probe and libomp's creation (docs/reliability.md). */
#include "kernel_omp.h"
#include "rsc_kernel.h"

#include <pthread.h>
#include <sys/mman.h>

#define ARENA_RESERVE ((size_t)128 << 20)

static _Thread_local int proven = 1;

typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t open_cond;
    int open;
} gate;

static void *wait_at_gate(void *arg) {
    gate *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->open) pthread_cond_wait(&g->open_cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int rsck_usable_threads(int requested) {
    if (requested <= proven) return requested < 1 ? 1 : requested;
    if (requested > RSCK_MAX_THREADS) requested = RSCK_MAX_THREADS;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return proven;
    const size_t stack = kmp_get_stacksize_s();
    if (stack > 0) pthread_attr_setstacksize(&attr, stack);
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    pthread_t workers[RSCK_MAX_THREADS];
    void *reserved[RSCK_MAX_THREADS];
    int created = 0;
    while (created < requested - 1) {
        void *r = mmap(NULL, ARENA_RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (r == MAP_FAILED) break;
        if (pthread_create(&workers[created], &attr, wait_at_gate, &g) != 0) {
            munmap(r, ARENA_RESERVE);
            break;
        }
        reserved[created++] = r;
    }
    pthread_mutex_lock(&g.lock);
    g.open = 1;
    pthread_cond_broadcast(&g.open_cond);
    pthread_mutex_unlock(&g.lock);
    for (int i = 0; i < created; i++) {
        pthread_join(workers[i], NULL);
        munmap(reserved[i], ARENA_RESERVE);
    }
    pthread_attr_destroy(&attr);
    const int team = created + 1;
    if (team > proven) proven = team;
    return team;
}
