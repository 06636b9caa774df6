/* One forward pass of the SNN over T steps, and the OpenMP loop over noisy passes that counts the
 * base classifier's votes. Scratch memory is carved from a caller-provided block: nothing here
 * allocates, so the per-pass loop never touches the allocator. */
#include "kernel_internal.h"

#include "kernel_omp.h"
#include <string.h>
#include <time.h>

#define ALIGN 64
#define MAX_OPS 1024 /* the format's node limit: one operation per node at most */

/* Pointers into one thread's scratch block. */
typedef struct workspace {
    float *z;          /* coded input u_t, CHW, d floats               */
    float *noise;      /* Gaussian draws, d floats                      */
    float *xin;        /* u_t as HWC (aliases z when C == 1)            */
    int32_t *acc;      /* int32 accumulators of a spike-fed layer       */
    float *accf;       /* float accumulators of an analog-fed layer     */
    float *pad;        /* zero-padded copy of an analog-fed layer's input */
    int32_t *events;   /* channels and counts of one pixel's events     */
    uint8_t *pad8;     /* byte copy of a spike-fed layer's input (dense path) */
    int16_t *q;        /* arithmetic 1: the coded input on its int16 grid, HWC        */
    int16_t *pad16;    /* zero-padded copy of an int16-fed layer's input              */
    double *logits;    /* running sum over steps of the last layer      */
    uint64_t *votes;   /* per-thread vote counts                        */
    void *out[MAX_OPS];         /* outputs: uint16 (COUNT), float (ANALOG), int32 (CURRENT), int16 (QUANT) */
    int32_t *v[MAX_OPS];        /* membranes of neuron operations                                */
    /* Profiling (rsck_profile): per-operation seconds and dense steps, else NULL. */
    double *op_time;
    uint64_t *op_dense;
    double *coding_time;
    /* Cancellation (rsck_poll): set only while rsck_count_votes runs with a poll. */
    const rsck_poll *poll;
    int leader;                 /* thread 0: the calling thread, which calls poll->fn       */
    uint64_t work;              /* the leader's operations since its last poll               */
    int *stop;                  /* shared: set when poll->fn asks to stop                    */
    const uint64_t *finished;   /* shared: passes finished by all threads                    */
} workspace;

static size_t layer_out_n(const rsck_layer *L) { return (size_t)L->out_c * L->out_h * L->out_w; }
static size_t layer_in_n(const rsck_layer *L) { return (size_t)L->in_c * L->in_h * L->in_w; }
static size_t up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static size_t out_elem_size(const rsck_layer *L) {
    switch (L->out_kind) {
    case RSCK_ANALOG: return sizeof(float);
    case RSCK_CURRENT: return sizeof(int32_t);
    case RSCK_QUANT: return sizeof(int16_t);
    default: return sizeof(uint16_t);
    }
}

static int has_membrane(const rsck_layer *L) { return L->neuron != RSCK_NEURON_NONE; }

/* Walks the layout once; with base == NULL it only measures. */
static size_t carve(const rsck_net *net, char *base, workspace *ws) {
    const size_t d = (size_t)net->in_c * net->in_h * net->in_w;
    size_t off = 0, max_accf = 0, max_acc = 0, max_ev = 0, max_pad = 0, max_pad8 = 0, max_pad16 = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const rsck_layer *L = &net->layers[i];
        if (L->kind == RSCK_CONV || L->kind == RSCK_LINEAR) {
            const size_t n_acc = (size_t)L->oc_stride * L->out_h * L->out_w;
            if (L->input_kind == RSCK_ANALOG && n_acc > max_accf) max_accf = n_acc;
            if (L->input_kind != RSCK_ANALOG && n_acc > max_acc) max_acc = n_acc;
            if (L->input_kind == RSCK_QUANT && rsck_quant_pad_size(L) > max_pad16) max_pad16 = rsck_quant_pad_size(L);
            if (L->input_kind == RSCK_COUNT && 3 * (size_t)L->in_c > max_ev) max_ev = 3 * (size_t)L->in_c;
            const size_t n_pad = (size_t)(L->in_h + 2 * L->ph) * (L->in_w + 2 * L->pw) * L->in_c;
            if (L->input_kind == RSCK_ANALOG && n_pad > max_pad) max_pad = n_pad;
            if (L->input_kind == RSCK_COUNT && rsck_count_pad_size(L) > max_pad8) max_pad8 = rsck_count_pad_size(L);
        }
    }
#define TAKE(field, type, count)                                        \
    do {                                                                \
        if (base) ws->field = (type *)(void *)(base + off);             \
        off += up((size_t)(count) * sizeof(type));                      \
    } while (0)
    TAKE(z, float, d);
    TAKE(noise, float, d);
    TAKE(xin, float, net->in_c > 1 ? d : 0);  /* the HWC copy; a single channel is HWC already */
    TAKE(acc, int32_t, max_acc);
    TAKE(accf, float, max_accf);
    TAKE(pad, float, max_pad);
    TAKE(events, int32_t, max_ev);
    TAKE(pad8, uint8_t, max_pad8);
    TAKE(q, int16_t, net->integer ? d : 0);
    TAKE(pad16, int16_t, max_pad16);
    TAKE(logits, double, net->num_classes);
    TAKE(votes, uint64_t, net->num_classes);
#undef TAKE
    for (int i = 0; i < net->n_layers; i++) {
        const rsck_layer *L = &net->layers[i];
        const size_t n = layer_out_n(L);
        if (base) ws->out[i] = base + off;
        off += up(n * out_elem_size(L));
        if (has_membrane(L)) {
            if (base) ws->v[i] = (int32_t *)(void *)(base + off);
            off += up(n * sizeof(int32_t));
        }
    }
    return off;
}

size_t rsck_scratch_size(const rsck_net *net) { return carve(net, NULL, NULL); }

int rsck_max_threads(void) { return omp_get_max_threads(); }

static void pass_begin(const rsck_net *net, workspace *ws) {
    for (int i = 0; i < net->n_layers; i++) {
        const rsck_layer *L = &net->layers[i];
        if (!has_membrane(L)) continue;
        int32_t *v = ws->v[i];
        const size_t n = layer_out_n(L);
        for (size_t j = 0; j < n; j++) v[j] = L->v_reset;
    }
    memset(ws->logits, 0, (size_t)net->num_classes * sizeof(double));
}

static const void *input_of(const workspace *ws, const void *coded, int32_t op) {
    return op < 0 ? coded : ws->out[op];
}

uint64_t rsck_op_work(const rsck_layer *L) {
    const uint64_t out = (uint64_t)L->out_c * L->out_h * L->out_w;
    switch (L->kind) {
    case RSCK_CONV:
    case RSCK_LINEAR: return out * (uint64_t)L->in_c * L->kh * L->kw;
    case RSCK_AVGPOOL:
    case RSCK_SUMPOOL:
    case RSCK_MAXPOOL: return out * (uint64_t)L->kh * L->kw;
    default: return out;
    }
}

/* Before each operation: whether to stop. Only the leader counts work and calls back. */
static int should_stop(workspace *ws, const rsck_layer *L) {
    if (ws->leader) {
        ws->work += rsck_op_work(L);
        if (ws->work >= ws->poll->every) {
            ws->work = 0;
            if (ws->poll->fn(ws->poll->ctx, __atomic_load_n(ws->finished, __ATOMIC_RELAXED)))
                __atomic_store_n(ws->stop, 1, __ATOMIC_RELAXED);
        }
    }
    return __atomic_load_n(ws->stop, __ATOMIC_RELAXED);
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Operation i of a step; returns 1 when a spike-fed layer ran its dense product. */
static int operation(const rsck_net *net, workspace *ws, const void *coded, int i) {
    int dense = 0;
    const rsck_layer *L = &net->layers[i];
    const void *in = input_of(ws, coded, L->in0);
    switch (L->kind) {
    case RSCK_AVGPOOL:
    case RSCK_SUMPOOL:
        if (L->input_kind == RSCK_QUANT)
            rsck_pool_quant(L, (const int16_t *)in, (int16_t *)ws->out[i]);
        else if (L->input_kind == RSCK_ANALOG)
            rsck_pool_analog(L, (const float *)in, (float *)ws->out[i]);
        else
            rsck_pool_count(L, (const uint16_t *)in, (uint16_t *)ws->out[i]);
        return 0;
    case RSCK_MAXPOOL:
        if (L->input_kind == RSCK_QUANT)
            rsck_pool_quant(L, (const int16_t *)in, (int16_t *)ws->out[i]);
        else if (L->input_kind == RSCK_ANALOG)
            rsck_maxpool_analog(L, (const float *)in, (float *)ws->out[i]);
        else
            rsck_maxpool_count(L, (const uint16_t *)in, (uint16_t *)ws->out[i]);
        return 0;
    case RSCK_ADD:
    case RSCK_AND:
    case RSCK_IAND:
        rsck_combine(L, in, input_of(ws, coded, L->in1), ws->out[i]);
        return 0;
    case RSCK_NEURON:
        rsck_neuron_current(L, (const int32_t *)in, ws->v[i], (uint16_t *)ws->out[i]);
        return 0;
    default:
        break;
    }
    /* conv2d / linear: with a fused neuron, giving the logits, or giving a current. */
    if (L->input_kind == RSCK_ANALOG) {
        rsck_dense(L, (const float *)in, ws->pad, ws->accf);
        if (L->last) {
            for (int o = 0; o < L->out_c; o++)
                ws->logits[o] += (double)ws->accf[o] * (double)L->scale[o] + (double)L->bias[o];
            return dense;
        }
        if (L->neuron != RSCK_NEURON_NONE)
            rsck_neuron_analog(L, ws->accf, ws->v[i], (uint16_t *)ws->out[i]);
        else
            rsck_current_analog(L, ws->accf, (int32_t *)ws->out[i]);
    } else {
        if (L->input_kind == RSCK_QUANT)
            rsck_quant_layer(L, (const int16_t *)in, ws->acc, ws->pad16);
        else
            dense = rsck_count_layer(L, (const uint16_t *)in, ws->acc, ws->events, ws->pad8);
        if (L->last) {
            const double m = (double)L->in_mult;
            for (int o = 0; o < L->out_c; o++)
                ws->logits[o] += (double)ws->acc[o] * (m * (double)L->scale[o]) + (double)L->bias[o];
            return dense;
        }
        if (L->neuron != RSCK_NEURON_NONE)
            rsck_neuron_count(L, ws->acc, ws->v[i], (uint16_t *)ws->out[i]);
        else
            rsck_current_count(L, ws->acc, (int32_t *)ws->out[i]);
    }
    return dense;
}

/* One time step on the coded input ws->z (CHW): the operations in order, each reading the
 * outputs of earlier ones at this step. Returns early (output unusable) when told to stop. */
static void step(const rsck_net *net, workspace *ws) {
    const int C = net->in_c;
    const size_t hw = (size_t)net->in_h * net->in_w;
    const double t0 = ws->op_time ? seconds_now() : 0;
    const void *coded = ws->z;
    if (net->integer) {
        rsck_quantize(net, ws->z, ws->q);
        coded = ws->q;
    } else if (C > 1) {
        for (int c = 0; c < C; c++)
            for (size_t p = 0; p < hw; p++) ws->xin[p * C + c] = ws->z[(size_t)c * hw + p];
        coded = ws->xin;
    }
    if (ws->op_time) *ws->coding_time += seconds_now() - t0;
    for (int i = 0; i < net->n_layers; i++) {
        const rsck_layer *L = &net->layers[i];
        if (ws->poll && should_stop(ws, L)) return;
        if (ws->op_time) {
            const double t0 = seconds_now();
            ws->op_dense[i] += (uint64_t)operation(net, ws, coded, i);
            ws->op_time[i] += seconds_now() - t0;
            continue;
        }
        operation(net, ws, coded, i);
    }
}

/* Mean logits over T; returns the argmax (lowest index on ties). */
static int pass_end(const rsck_net *net, workspace *ws, double *logits) {
    int best = 0;
    for (int k = 0; k < net->num_classes; k++) {
        const double l = ws->logits[k] / net->time_steps;
        if (logits) logits[k] = l;
        if (l > ws->logits[best] / net->time_steps) best = k;
    }
    return best;
}

void rsck_forward(const rsck_net *net, const float *inputs, void *scratch, double *logits) {
    workspace ws;
    carve(net, (char *)scratch, &ws);
    ws.poll = NULL;
    ws.op_time = NULL;
    const size_t d = (size_t)net->in_c * net->in_h * net->in_w;
    pass_begin(net, &ws);
    for (int t = 0; t < net->time_steps; t++) {
        memcpy(ws.z, inputs + (size_t)t * d, d * sizeof(float));
        step(net, &ws);
    }
    pass_end(net, &ws, logits);
}

/* The coded input of step t of a pass into ws->z. Direct and shared-noise coding build it at t = 0
 * only: it is the same for every step of the pass. */
static void code_input(const rsck_net *net, const float *x, rsck_key key, uint32_t phase,
                       uint32_t pass, uint32_t t, workspace *ws) {
    const size_t d = (size_t)net->in_c * net->in_h * net->in_w;
    const float sigma = net->sigma;
    switch (net->coding) {
    case RSCK_GAUSSIAN:
        rsck_gaussian(key, phase, pass, t, ws->noise, d);
        for (size_t i = 0; i < d; i++) ws->z[i] = x[i] + sigma * ws->noise[i];
        break;
    case RSCK_GAUSSIAN_SHARED:
        if (t == 0) {
            rsck_gaussian(key, phase, pass, 0, ws->noise, d);
            for (size_t i = 0; i < d; i++) ws->z[i] = x[i] + sigma * ws->noise[i];
        }
        break;
    case RSCK_POISSON:
        rsck_poisson(key, phase, pass, t, x, ws->z, d);
        break;
    default: /* direct */
        if (t == 0) memcpy(ws->z, x, d * sizeof(float));
        break;
    }
}

int rsck_count_votes(const rsck_net *net, const float *x, rsck_key key, uint32_t phase,
                     uint32_t first_pass, uint32_t count, int nthreads, void *const *scratch,
                     uint64_t *votes, const rsck_poll *poll) {
    /* One input: with passes = first_pass + count every item j is pass j of input 0. */
    return rsck_count_votes_batch(net, x, &key, phase, (uint64_t)first_pass + count, first_pass, count,
                                  nthreads, scratch, votes, poll);
}

/* Adds a thread's votes for one input to the shared counts and clears them. Integer adds commute,
 * so the totals do not depend on which thread ran which pass. */
static void flush_votes(int K, uint64_t input, uint64_t *mine, uint64_t *votes) {
    for (int k = 0; k < K; k++) {
        if (mine[k]) __atomic_fetch_add(&votes[input * (uint64_t)K + (uint64_t)k], mine[k], __ATOMIC_RELAXED);
        mine[k] = 0;
    }
}

int rsck_count_votes_batch(const rsck_net *net, const float *xs, const rsck_key *keys, uint32_t phase,
                           uint64_t passes, uint64_t first_item, uint64_t count, int nthreads,
                           void *const *scratch, uint64_t *votes, const rsck_poll *poll) {
    const int K = net->num_classes;
    const size_t d = (size_t)net->in_c * net->in_h * net->in_w;
    /* Items (input, pass) are handed out in blocks from a shared counter: spike counts, hence pass
     * costs, vary with the noise, so a static split would leave threads idle. Items are numbered
     * input-major, so with few passes per input the threads work on different inputs, and with
     * many they share the passes of one input. (Hand-rolled rather than schedule(dynamic): clang
     * >= 19 emits __kmpc_dispatch_deinit, absent from Debian's libomp 14.) */
    const uint64_t block = 16;
    uint64_t next = 0, finished = 0;
    int stop = 0;
#pragma omp parallel num_threads(nthreads)
    {
        workspace ws;
        carve(net, (char *)scratch[omp_get_thread_num()], &ws);
        ws.poll = poll;
        ws.op_time = NULL;
        ws.leader = omp_get_thread_num() == 0;
        ws.work = 0;
        ws.stop = &stop;
        ws.finished = &finished;
        memset(ws.votes, 0, (size_t)K * sizeof(uint64_t));
        uint64_t current = UINT64_MAX; /* the input ws.votes counts for */
        for (;;) {
            uint64_t begin;
#pragma omp atomic capture
            { begin = next; next += block; }
            if (begin >= count) break;
            const uint64_t end = count - begin < block ? count : begin + block;
            for (uint64_t i = begin; i < end; i++) {
                const uint64_t item = first_item + i, input = item / passes;
                const uint32_t pass = (uint32_t)(item % passes);
                if (input != current) {
                    if (current != UINT64_MAX) flush_votes(K, current, ws.votes, votes);
                    current = input;
                }
                const float *x = xs + input * d;
                pass_begin(net, &ws);
                for (int t = 0; t < net->time_steps; t++) {
                    code_input(net, x, keys[input], phase, pass, (uint32_t)t, &ws);
                    step(net, &ws);
                }
                if (poll && __atomic_load_n(&stop, __ATOMIC_RELAXED)) break;
                ws.votes[pass_end(net, &ws, NULL)]++;
            }
            if (poll) {
                if (__atomic_load_n(&stop, __ATOMIC_RELAXED)) break;
                __atomic_fetch_add(&finished, end - begin, __ATOMIC_RELAXED);
            }
        }
        if (current != UINT64_MAX) flush_votes(K, current, ws.votes, votes);
    }
    return stop;
}

void rsck_profile(const rsck_net *net, const float *x, rsck_key key, uint32_t passes, void *scratch,
                  double *op_seconds, uint64_t *op_dense, double *coding_seconds) {
    workspace ws;
    carve(net, (char *)scratch, &ws);
    ws.poll = NULL;
    ws.op_time = op_seconds;
    ws.op_dense = op_dense;
    ws.coding_time = coding_seconds;
    for (uint32_t pass = 0; pass < passes; pass++) {
        pass_begin(net, &ws);
        for (int t = 0; t < net->time_steps; t++) {
            const double t0 = seconds_now();
            code_input(net, x, key, 0, pass, (uint32_t)t, &ws);
            *coding_seconds += seconds_now() - t0;
            step(net, &ws);
        }
        pass_end(net, &ws, NULL);
    }
}
