/* Counter-based random numbers: Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC 2011). Element i of a draw depends only on (seed, counter offset, i), never on which
 * thread computes it, so a seed gives the same dropout masks and initial weights on any thread count
 * and, later, on the GPU.
 *
 * Counter layout: block c = offset + i / 4 fills ctr = {lo32(c), hi32(c), 0, 0}; element i is lane
 * i % 4 of philox(ctr, key = {lo32(seed), hi32(seed)}).
 */
#ifndef SERC_RNG_H
#define SERC_RNG_H

#include <stdint.h>

/* One Philox 4x32-10 block. */
void philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Raw 32-bit value of element i of the stream (seed, offset). */
uint32_t serc_rng_u32(uint64_t seed, uint64_t offset, uint64_t i);
/* Uniform in [0, 1) with 24 random bits. */
float serc_rng_uniform01(uint64_t seed, uint64_t offset, uint64_t i);

/* Fills out[0..n) with uniforms in [lo, hi) / normals N(mean, std^2) (Box-Muller on element pairs). */
void serc_rng_fill_uniform(float *out, int64_t n, uint64_t seed, uint64_t offset, float lo, float hi);
void serc_rng_fill_normal(float *out, int64_t n, uint64_t seed, uint64_t offset, float mean, float std);

/* Counter blocks needed for n elements: ceil(n / 4). */
static inline uint64_t serc_rng_blocks(int64_t n) { return (uint64_t)((n + 3) / 4); }

#endif
