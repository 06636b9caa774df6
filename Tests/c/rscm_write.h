/* A minimal .rscm v1 writer for the C tests (docs/format.md), so that tests can build models of
 * any size, valid or not, without Python. Little-endian hosts only (as the tests' machines). */
#ifndef RSC_C_RSCM_WRITE_H
#define RSC_C_RSCM_WRITE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tl_layer {
    uint32_t kind, neuron, reset;          /* 1 conv2d, 2 linear, 3 avgpool2d, 4 sumpool2d, 5 flatten */
    uint32_t in[3], out[3], k[2], s[2], p[2];
    float tau, v_threshold, v_reset;
    int8_t weight_fill;                    /* weighted layers: every weight has this value */
    float scale, bias;                     /* per output channel, all equal */
} tl_layer;

static uint32_t tl_crc32(const uint8_t *p, size_t n) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
            table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return ~c;
}

static inline void tl_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void tl_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline void tl_putf(uint8_t *p, float f) { memcpy(p, &f, 4); }
static inline size_t tl_align(size_t n) { return (n + 63) / 64 * 64; }

/* Recomputes the checksum after a patch. */
static inline void tl_fix_crc(uint8_t *f, size_t size) {
    memset(f + 12, 0, 4);
    tl_put32(f + 12, tl_crc32(f, size));
}

static inline int tl_weighted(const tl_layer *L) { return L->kind == 1 || L->kind == 2; }
static inline size_t tl_weights(const tl_layer *L) {
    return (size_t)L->out[0] * L->in[0] * (L->kind == 1 ? (size_t)L->k[0] * L->k[1] : 1);
}

/* The file image of a model (name "", classes "0", "1", ...); *out is malloc'd. */
static size_t tl_build(uint32_t coding, const uint32_t in[3], uint32_t classes, uint32_t T, float sigma,
                       const tl_layer *layers, uint32_t n, uint8_t **out) {
    size_t strings_size = 4;
    for (uint32_t k = 0; k < classes; k++) strings_size += 4 + (size_t)snprintf(NULL, 0, "%u", k);
    const size_t strings = 128 + 128 * (size_t)n;
    /* The canonical layout (docs/format.md): each tensor at the next multiple of 64, the file ending
     * with the last one. */
    size_t size = strings + strings_size;
    for (uint32_t i = 0; i < n; i++)
        if (tl_weighted(&layers[i]))
            size = tl_align(tl_align(tl_align(size) + tl_weights(&layers[i])) + 4 * layers[i].out[0]) + 4 * layers[i].out[0];
    uint8_t *f = calloc(1, size);
    if (!f) return 0;
    memcpy(f, "\x89RSCM\r\n\x1a", 8);
    tl_put32(f + 8, 1), tl_put64(f + 16, size), tl_put32(f + 24, 128), tl_put32(f + 28, 128), tl_put32(f + 32, n);
    tl_put32(f + 36, coding);
    for (int j = 0; j < 3; j++) tl_put32(f + 40 + 4 * j, in[j]);
    tl_put32(f + 52, classes), tl_put32(f + 56, T), tl_putf(f + 60, sigma);
    tl_put64(f + 64, strings), tl_put64(f + 72, strings_size);
    size_t at = strings + 4;  /* the empty model name */
    for (uint32_t k = 0; k < classes; k++) {
        const uint32_t len = (uint32_t)snprintf(NULL, 0, "%u", k);
        char buf[16];
        snprintf(buf, sizeof buf, "%u", k);
        tl_put32(f + at, len), memcpy(f + at + 4, buf, len), at += 4 + len;
    }
    for (uint32_t i = 0; i < n; i++) {
        const tl_layer *L = &layers[i];
        uint8_t *r = f + 128 + 128 * (size_t)i;
        tl_put32(r, L->kind), tl_put32(r + 4, L->neuron), tl_put32(r + 8, L->reset);
        for (int j = 0; j < 3; j++) tl_put32(r + 12 + 4 * j, L->in[j]), tl_put32(r + 24 + 4 * j, L->out[j]);
        tl_put32(r + 36, L->k[0]), tl_put32(r + 40, L->k[1]), tl_put32(r + 44, L->s[0]), tl_put32(r + 48, L->s[1]);
        tl_put32(r + 52, L->p[0]), tl_put32(r + 56, L->p[1]);
        tl_putf(r + 60, L->tau), tl_putf(r + 64, L->v_threshold), tl_putf(r + 68, L->v_reset);
        if (!tl_weighted(L)) continue;
        const size_t nw = tl_weights(L), oc = L->out[0];
        at = tl_align(at);
        tl_put64(r + 72, at), tl_put64(r + 80, nw);
        memset(f + at, (uint8_t)L->weight_fill, nw), at = tl_align(at + nw);
        tl_put64(r + 88, at);
        for (size_t o = 0; o < oc; o++) tl_putf(f + at + 4 * o, L->scale);
        at = tl_align(at + 4 * oc);
        tl_put64(r + 96, at);
        for (size_t o = 0; o < oc; o++) tl_putf(f + at + 4 * o, L->bias);
        at += 4 * oc;
    }
    tl_fix_crc(f, size);
    *out = f;
    return size;
}

static inline int tl_write(const char *path, const uint8_t *f, size_t size) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    const int ok = fwrite(f, 1, size, fp) == size;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

#endif
