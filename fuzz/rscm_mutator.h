/* Structure-aware mutations of .rscm files for fuzz_load (libFuzzer's LLVMFuzzerCustomMutator).
 *
 * Byte flips rarely get past the checksum and the record rules, so the attacks that matter are the
 * ones a mutator must build on purpose, from a file that already loads (the seed corpus has v1
 * chains and v2 graphs). Each operation keeps the file well formed (CRC, file_size, offsets) and
 * breaks one thing the loader must catch, one class of docs/reliability.md's attacks:
 *   - share:    a tensor offset set to another record's tensor (shared or overlapping tensors);
 *   - shape:    an input dimension or a node's kernel / stride / padding set to a large value
 *               (scratch memory, work per pass);
 *   - grow:     copies of a pooling node inserted, with windows up to 63 x 63 that keep the shape
 *               (work per pass; every later offset and input index is fixed up);
 *   - scale:    a scale or bias set to a huge finite value (float overflow of the logits);
 *   - layout:   trailing bytes, or a non-zero byte in the padding between tensors;
 *   - field:    any record or header field set to a value at an edge (0, 1, 2^16, 2^31, ...).
 * The rest of the time libFuzzer's own byte mutations run, followed by the same CRC fix-up. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static uint32_t mut_crc_table[256];

static void mut_crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        mut_crc_table[i] = c;
    }
}

/* CRC-32 (IEEE, as zlib's crc32), table-driven: no zlib headers needed. */
static uint32_t mut_crc32(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = mut_crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return ~c;
}

static uint32_t mut_rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t mut_rd64(const uint8_t *p) { return mut_rd32(p) | (uint64_t)mut_rd32(p + 4) << 32; }
static void mut_wr32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> 8 * i); }
static void mut_wr64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> 8 * i); }

/* file_size and checksum of the header made right for the bytes that are there. */
static void mut_fix_header(uint8_t *d, size_t size) {
    if (size < 24) return;
    mut_wr64(d + 16, size);
    memset(d + 12, 0, 4);
    mut_wr32(d + 12, mut_crc32(d, size));
}

static uint64_t mut_next(uint64_t *s) {  /* splitmix64: the mutation is a function of libFuzzer's seed */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static const uint32_t mut_edges[] = {0, 1, 2, 3, 7, 63, 64, 65, 255, 256, 4095, 4096, 65535, 65536,
                                     1u << 24, (1u << 24) + 1, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu};

/* Offsets of the tensor fields (weight, scale, bias) of a record: the same in both versions. */
static const size_t mut_tensor_fields[] = {72, 88, 96};

/* Insert a copy of record r after itself (v2: a pooling node reading the copied node; v1: a pool
 * layer repeated). Every offset behind the table moves by one record, every input index behind
 * the insertion point by one. Returns the new size, or 0 when it does not apply. */
static size_t mut_grow(uint8_t *d, size_t size, size_t max_size, uint32_t r, uint32_t s) {
    const uint32_t version = mut_rd32(d + 8), n = mut_rd32(d + 32);
    if (size + 128 > max_size || r >= n) return 0;
    uint8_t *rec = d + 128 + 128 * (size_t)r;
    const uint32_t kind = mut_rd32(rec);
    const int pool = kind == 3 || kind == 4 || (version == 2 && kind == 6);
    if (!pool) return 0;
    /* The copy keeps the shape (kernel 2s + 1, stride 1, padding s), so the file stays valid and
     * every copy adds C x H x W x (2s + 1)^2 window operations per step. */
    uint8_t copy[128];
    memcpy(copy, rec, 128);
    const size_t kf = version == 2 ? 28 : 36;
    if (version == 1) memcpy(copy + 12, copy + 24, 12);  /* in shape = the copied layer's out shape */
    mut_wr32(copy + kf, 2 * s + 1), mut_wr32(copy + kf + 4, 2 * s + 1);
    mut_wr32(copy + kf + 8, 1), mut_wr32(copy + kf + 12, 1);
    mut_wr32(copy + kf + 16, s), mut_wr32(copy + kf + 20, s);
    const size_t at = 128 + 128 * (size_t)(r + 1);
    memmove(d + at + 128, d + at, size - at);
    memcpy(d + at, copy, 128);
    size += 128;
    mut_wr32(d + 32, n + 1);
    mut_wr64(d + 64, mut_rd64(d + 64) + 128);
    for (uint32_t i = 0; i <= n; i++) {
        uint8_t *q = d + 128 + 128 * (size_t)i;
        for (size_t f = 0; f < 3; f++) {
            const uint64_t off = mut_rd64(q + mut_tensor_fields[f]);
            if (off) mut_wr64(q + mut_tensor_fields[f], off + 128);
        }
        if (version == 2 && i > r) {  /* node indices are 1-based: record i is node i + 1 */
            if (i == r + 1) {
                mut_wr32(q + 8, r + 1);  /* the copy reads the node it copies */
            } else {
                for (size_t f = 8; f <= 12; f += 4) {
                    const uint32_t in = mut_rd32(q + f);
                    if (in > r + 1) mut_wr32(q + f, in + 1);
                    else if (in == r + 1 && f == 8) mut_wr32(q + f, r + 2);  /* read the copy */
                }
            }
        }
    }
    return size;
}

static size_t mut_structural(uint8_t *d, size_t size, size_t max_size, uint64_t *rng) {
    if (size < 128 || memcmp(d, "\x89RSCM", 5) != 0) return 0;
    const uint32_t n = mut_rd32(d + 32);
    if (n == 0 || 128 + 128 * (uint64_t)n > size) return 0;
    const uint32_t r = (uint32_t)(mut_next(rng) % n);
    uint8_t *rec = d + 128 + 128 * (size_t)r;
    const uint32_t edge = mut_edges[mut_next(rng) % (sizeof mut_edges / sizeof *mut_edges)];
    switch (mut_next(rng) % 6) {
    case 0: {  /* share: point a tensor at another record's tensor, or into its middle */
        const uint32_t other = (uint32_t)(mut_next(rng) % n);
        const size_t fa = mut_tensor_fields[mut_next(rng) % 3], fb = mut_tensor_fields[mut_next(rng) % 3];
        uint64_t off = mut_rd64(d + 128 + 128 * (size_t)other + fb);
        if (!off) return 0;
        if (mut_next(rng) & 1) off += 64 * (mut_next(rng) % 4);
        mut_wr64(rec + fa, off);
        return size;
    }
    case 1:  /* shape: input dimensions or a windowed node's kernel, stride, padding */
        if (mut_next(rng) & 1) mut_wr32(d + 40 + 4 * (mut_next(rng) % 3), edge);
        else mut_wr32(rec + (mut_rd32(d + 8) == 2 ? 28 : 36) + 4 * (mut_next(rng) % 6), edge);
        return size;
    case 2: {  /* grow: repeat a pooling record, up to 8 times */
        size_t s = size;
        for (uint64_t k = 1 + mut_next(rng) % 8; k > 0; k--) {
            const uint64_t w = mut_next(rng);  /* half the copies 3 x 3: many maps, the others up to 63 x 63 */
            const size_t t = mut_grow(d, s, max_size, r, w & 1 ? 1 : 1 + (uint32_t)(w >> 1) % 31);
            if (!t) break;
            s = t;
        }
        return s == size ? 0 : s;
    }
    case 3: {  /* scale: a huge finite (or non-finite) scale or bias value */
        const uint64_t off = mut_rd64(rec + (mut_next(rng) & 1 ? 88 : 96));
        static const uint32_t floats[] = {0x7F7FFFFFu, 0x7F000000u, 0x5F000000u, 0x7F800000u, 0x7FC00000u,
                                          0x00000001u, 0xFF7FFFFFu};
        if (!off || off > size - 4) return 0;  /* size >= 128 here; off + 4 could wrap */
        mut_wr32(d + off, floats[mut_next(rng) % (sizeof floats / sizeof *floats)]);
        return size;
    }
    case 4: {  /* layout: trailing bytes, or a non-zero byte between tensors */
        if (mut_next(rng) & 1) {
            const size_t extra = 1 + mut_next(rng) % 256;
            if (size + extra > max_size) return 0;
            memset(d + size, (int)(mut_next(rng) & 0xFF), extra);
            return size + extra;
        }
        const uint64_t strings_end = mut_rd64(d + 64) + mut_rd64(d + 72);
        if (strings_end >= size) return 0;
        d[strings_end + mut_next(rng) % (size - strings_end)] ^= (uint8_t)(1 + mut_next(rng) % 255);
        return size;
    }
    default: {  /* field: an edge value in any u32 field of a record or of the header */
        /* header words 8..91: version to input_limit (arithmetic, input_shift, input_limit at 80..91) */
        if (mut_next(rng) % 4 == 0) mut_wr32(d + 4 * (2 + mut_next(rng) % 21), edge);
        else mut_wr32(rec + 4 * (mut_next(rng) % 26), edge);
        return size;
    }
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    uint64_t rng = seed;
    size_t out = 0;
    if (mut_next(&rng) % 2 == 0) {
        for (uint64_t k = 1 + mut_next(&rng) % 3; k > 0; k--) {
            const size_t s = mut_structural(data, out ? out : size, max_size, &rng);
            if (s) out = s;
        }
    }
    if (!out) out = LLVMFuzzerMutate(data, size, max_size);
    mut_fix_header(data, out);
    return out;
}
