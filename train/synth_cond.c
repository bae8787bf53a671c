/* Evaluation conditions of `serc synth`: additive white, pink, babble and mains-hum noise at a given
 * SNR, and reverberation. The generators live in train/noise.c (shared with `serc robust`); this file
 * keys them to the corpus's Philox streams, (seed, utterance), so a condition file is reproducible on
 * its own. */
#include <stdlib.h>

#include "noise.h"
#include "synth_internal.h"

enum { STREAM_COND = 40 }; /* purposes 40..49 are this file's (synth.c uses lower ones) */

static NoiseRng noise_rng_of(SynthRng r) { return (NoiseRng){r.seed, r.offset, r.i}; }

void synth_apply_condition(const SynthCondition *c, const float *x, int64_t n, float *y, uint64_t seed,
                           uint64_t item, const SynthBabblePool *babble) {
    NoiseRng r = noise_rng_of(synth_rng(seed, STREAM_COND + (uint32_t)c->kind, item));
    if (c->kind == SYNTH_REVERB) {
        noise_reverb(x, n, y, c->rt60_s, SYNTH_SR, &r);
        return;
    }
    float *noise = serc_malloc((size_t)n * sizeof *noise);
    switch (c->kind) {
    case SYNTH_WHITE: noise_white(noise, n, seed, synth_rng_offset(STREAM_COND + 8, item)); break;
    case SYNTH_PINK: noise_pink(noise, n, seed, synth_rng_offset(STREAM_COND + 9, item)); break;
    case SYNTH_HUM: noise_hum(noise, n, SYNTH_SR, &r); break;
    case SYNTH_BABBLE: {
        SERC_ASSERT(babble && babble->count > 0, "synth: babble needs a pool");
        NoisePool pool = {(const float *const *)babble->x, babble->n, babble->count};
        noise_babble(noise, n, &pool, 4, &r);
        break;
    }
    case SYNTH_REVERB: break;
    }
    /* SNR over the whole file: 10 log10(P_speech / P_noise) = snr_db */
    noise_mix_snr_whole(x, noise, n, c->snr_db, y);
    free(noise);
}
