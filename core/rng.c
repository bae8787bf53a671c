#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

uint32_t serc_rng_u32(uint64_t seed, uint64_t offset, uint64_t i) {
    uint64_t block = offset + i / 4;
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    philox4x32_10(ctr, key, out);
    return out[i % 4];
}

float serc_rng_uniform01(uint64_t seed, uint64_t offset, uint64_t i) {
    return (float)(serc_rng_u32(seed, offset, i) >> 8) * (1.0f / 16777216.0f);
}

void serc_rng_fill_uniform(float *out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = lo + (hi - lo) * serc_rng_uniform01(seed, offset, (uint64_t)i);
}

void serc_rng_fill_normal(float *out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std) {
    int64_t pairs = (n + 1) / 2;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < pairs; p++) {
        /* u1 in (0, 1] so that log(u1) is finite */
        double u1 = 1.0 - serc_rng_uniform01(seed, offset, (uint64_t)(2 * p));
        double u2 = serc_rng_uniform01(seed, offset, (uint64_t)(2 * p + 1));
        double r = sqrt(-2.0 * log(u1));
        double th = 2.0 * M_PI * u2;
        out[2 * p] = mean + std * (float)(r * cos(th));
        if (2 * p + 1 < n) out[2 * p + 1] = mean + std * (float)(r * sin(th));
    }
}
