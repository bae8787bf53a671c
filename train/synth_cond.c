/* Evaluation conditions of `serc synth`: additive white, pink, babble and mains-hum noise at a given
 * SNR, and reverberation. All noise comes from Philox streams keyed by (seed, utterance), so a
 * condition file is reproducible on its own. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "synth_internal.h"

enum { STREAM_COND = 40 }; /* purposes 40..47 are this file's (synth.c uses lower ones) */

static double power(const float *x, int64_t n) {
    double e = 0;
    for (int64_t i = 0; i < n; i++) e += (double)x[i] * x[i];
    return n ? e / (double)n : 0;
}

/* Pink noise: Gaussian white noise through Paul Kellett's refined 1/f filter (7 first-order sections,
 * within 0.05 dB of -3 dB/octave above 10 Hz at 44.1 kHz; close enough at 16 kHz for a noise floor). */
static void pink_noise(float *y, int64_t n, uint64_t seed, uint64_t offset) {
    serc_rng_fill_normal(y, n, seed, offset, 0.0f, 1.0f);
    double b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0;
    for (int64_t i = 0; i < n; i++) {
        double w = y[i];
        b0 = 0.99886 * b0 + w * 0.0555179;
        b1 = 0.99332 * b1 + w * 0.0750759;
        b2 = 0.96900 * b2 + w * 0.1538520;
        b3 = 0.86650 * b3 + w * 0.3104856;
        b4 = 0.55000 * b4 + w * 0.5329522;
        b5 = -0.7616 * b5 - w * 0.0168980;
        y[i] = (float)(b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362);
        b6 = w * 0.115926;
    }
}

/* Mains hum: 50 Hz and harmonics 2-5 with amplitudes 1, 1/2, 1/3, 1/4, 1/5 and random phases, plus a
 * slow 10% amplitude wobble. */
static void hum_noise(float *y, int64_t n, SynthRng *r) {
    double ph[5];
    for (int h = 0; h < 5; h++) ph[h] = 2 * M_PI * synth_uniform(r);
    const double wobble = 0.3 + 0.4 * synth_uniform(r);
    for (int64_t i = 0; i < n; i++) {
        double t = (double)i / SYNTH_SR, v = 0;
        for (int h = 0; h < 5; h++) v += sin(2 * M_PI * 50.0 * (h + 1) * t + ph[h]) / (h + 1);
        y[i] = (float)(v * (1 + 0.1 * sin(2 * M_PI * wobble * t)));
    }
}

/* Babble: four pool utterances, each from a random start, looped to length n, summed. */
static void babble_noise(float *y, int64_t n, SynthRng *r, const SynthBabblePool *pool) {
    memset(y, 0, (size_t)n * sizeof *y);
    SERC_ASSERT(pool && pool->count > 0, "synth: babble needs a pool");
    for (int t = 0; t < 4; t++) {
        int k = synth_randint(r, pool->count);
        const float *b = pool->x[k];
        int64_t bn = pool->n[k], o = synth_randint(r, (int)bn);
        for (int64_t i = 0; i < n; i++) y[i] += b[(o + i) % bn];
    }
}

/* Room reverberation: y = x * h with h[0] = 1 (direct path) and, after a 5 ms gap, velvet noise (one
 * +-1 impulse at a random place in each 1 ms cell; Valimaki et al., "Late reverberation synthesis
 * using filtered velvet noise", 2017) decaying as exp(-6.91 t / RT60), scaled so the reverberant
 * energy is 1.5 x the direct energy. Sparse, so the direct convolution costs ~RT60 x 1000 taps. */
static void reverb(const float *x, int64_t n, float *y, double rt60, SynthRng *r) {
    const int cell = SYNTH_SR / 1000, gap = SYNTH_SR / 200;
    const int n_taps = (int)(rt60 * 1000);
    int *pos = serc_malloc((size_t)n_taps * sizeof *pos);
    double *amp = serc_malloc((size_t)n_taps * sizeof *amp), energy = 0;
    for (int k = 0; k < n_taps; k++) {
        pos[k] = gap + k * cell + synth_randint(r, cell);
        double t = (double)pos[k] / SYNTH_SR;
        amp[k] = (synth_uniform(r) < 0.5 ? -1 : 1) * exp(-6.907755 * t / rt60);
        energy += amp[k] * amp[k];
    }
    const double s = sqrt(1.5 / energy);
    for (int k = 0; k < n_taps; k++) amp[k] *= s;
    memcpy(y, x, (size_t)n * sizeof *y);
    for (int k = 0; k < n_taps; k++) {
        const float a = (float)amp[k];
        for (int64_t i = pos[k]; i < n; i++) y[i] += a * x[i - pos[k]];
    }
    /* keep the clean file's RMS so that reverberation is not also a level change */
    double p0 = power(x, n), p1 = power(y, n);
    if (p1 > 0) {
        float g = (float)sqrt(p0 / p1);
        for (int64_t i = 0; i < n; i++) y[i] *= g;
    }
    free(pos);
    free(amp);
}

void synth_apply_condition(const SynthCondition *c, const float *x, int64_t n, float *y, uint64_t seed,
                           uint64_t item, const SynthBabblePool *babble) {
    SynthRng r = synth_rng(seed, STREAM_COND + (uint32_t)c->kind, item);
    if (c->kind == SYNTH_REVERB) {
        reverb(x, n, y, c->rt60_s, &r);
        return;
    }
    float *noise = serc_malloc((size_t)n * sizeof *noise);
    switch (c->kind) {
    case SYNTH_WHITE: serc_rng_fill_normal(noise, n, seed, synth_rng_offset(STREAM_COND + 8, item), 0.0f, 1.0f); break;
    case SYNTH_PINK: pink_noise(noise, n, seed, synth_rng_offset(STREAM_COND + 9, item)); break;
    case SYNTH_HUM: hum_noise(noise, n, &r); break;
    case SYNTH_BABBLE: babble_noise(noise, n, &r, babble); break;
    case SYNTH_REVERB: break;
    }
    /* SNR over the whole file: 10 log10(P_speech / P_noise) = snr_db */
    const double ps = power(x, n), pn = power(noise, n);
    const double g = pn > 0 ? sqrt(ps / (pn * pow(10.0, c->snr_db / 10.0))) : 0;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] + (float)(g * noise[i]);
    free(noise);
}
