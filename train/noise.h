/* Noise and reverberation generators shared by the embedded corpus (`serc synth`, train/synth_cond.c)
 * and the robustness protocol (`serc robust`, train/robust.c): white, pink, mains-hum and babble noise,
 * synthetic room reverberation, speech activity, and mixing at a signal-to-noise ratio.
 *
 * Every random draw comes from Philox 4x32-10 (core/rng.h): a caller hands each generator its own
 * stream, so a noisy utterance is a function of (seed, stream) alone, never of the thread or the order
 * in which utterances are processed. Signals are mono float32, full scale 1.0. */
#ifndef SERC_NOISE_H
#define SERC_NOISE_H

#include <stdint.h>

/* A Philox stream read one uniform at a time: element i of (seed, offset). */
typedef struct NoiseRng {
    uint64_t seed, offset, i;
} NoiseRng;

/* Uniform in [0, 1): element r->i of the stream, then r->i advances. */
double noise_uniform(NoiseRng *r);
/* Integer in [0, n) from one uniform (n >= 1). */
int noise_randint(NoiseRng *r, int n);

/* Mean square of x[0..n) (0 for n = 0). */
double noise_power(const float *x, int64_t n);

/* y[0..n) = Gaussian white noise N(0, 1) from the stream (seed, offset): ceil(n / 4) Philox blocks. */
void noise_white(float *y, int64_t n, uint64_t seed, uint64_t offset);

/* y[0..n) = pink noise: white noise N(0, 1) of (seed, offset) through Paul Kellett's refined 1/f
 * filter (7 first-order sections, within 0.05 dB of -3 dB/octave above 10 Hz at 44.1 kHz; close enough
 * at 16 kHz for a noise floor). */
void noise_pink(float *y, int64_t n, uint64_t seed, uint64_t offset);

/* y[0..n) = mains hum at sample_rate Hz: 50 Hz and harmonics 2-5 with amplitudes 1, 1/2, ..., 1/5 and
 * random phases, times a slow 10% amplitude wobble (0.3-0.7 Hz). Draws 6 uniforms from r. */
void noise_hum(float *y, int64_t n, int sample_rate, NoiseRng *r);

/* A pool of speech signals that babble is made of. */
typedef struct NoisePool {
    const float *const *x; /* x[k][0..n[k]) */
    const int64_t *n;      /* each >= 1 */
    int count;             /* >= 1 */
} NoisePool;

/* y[0..n) = babble: the sum of `talkers` pool signals, each chosen with noise_randint(count), read from
 * a random start (noise_randint(n[k])) and looped to length n. Draws 2 x talkers uniforms from r. */
void noise_babble(float *y, int64_t n, const NoisePool *pool, int talkers, NoiseRng *r);

/* y[0..n) = x * h, room reverberation with reverberation time rt60_s (> 0) at sample_rate Hz; x and y
 * must not overlap; the length is kept (the tail past n is cut). h[0] = 1 (the direct path) and, after
 * a 5 ms gap, velvet noise: one +-1 impulse at a random place in each 1 ms cell (Valimaki et al., "Late
 * reverberation synthesis using filtered velvet noise", 2017) decaying as exp(-6.91 t / RT60), i.e. by
 * 60 dB over RT60, scaled so that the reverberant energy is 1.5 x the direct energy. The result is
 * scaled back to x's RMS (reverberation is not also a level change). round(rt60_s x 1000) taps, two
 * uniforms each from r; the direct convolution is sparse, ~RT60 x 1000 multiply-adds per sample. */
void noise_reverb(const float *x, int64_t n, float *y, double rt60_s, int sample_rate, NoiseRng *r);

/* y[i] = x[i] + g noise[i] with g chosen so that 10 log10(P_x / P_gnoise) = snr_db, both powers taken
 * over the whole signal (silences included): the rule of the embedded corpus's conditions. g = 0 when
 * the noise is silent. */
void noise_mix_snr_whole(const float *x, const float *noise, int64_t n, double snr_db, float *y);

/* Speech activity by frame energy: x is cut into frames of frame_s seconds (the last one may be short);
 * a frame is active when its mean square is within threshold_db of the loudest frame's and above 0
 * (digital silence is never active). active[0..n) gets 1 on every sample of an active frame, 0
 * elsewhere. Returns the number of active samples (0 only for an all-zero signal or n = 0). */
int64_t noise_speech_activity(const float *x, int64_t n, int sample_rate, double frame_s, double threshold_db,
                              uint8_t *active);

/* Mean square of x over the samples where active[i] is 1 (0 when none is). */
double noise_power_active(const float *x, const uint8_t *active, int64_t n);

/* y[i] = x[i] + g noise[i] with g chosen so that the SNR over the speech-active samples is snr_db:
 *   10 log10( sum_{i active} x[i]^2 / sum_{i active} (g noise[i])^2 ) = snr_db,
 * i.e. g = sqrt(P_x,active / (P_noise,active 10^(snr_db / 10))). Noise is added on every sample, active
 * or not. Returns g; when no sample is active or the noise is silent over them, y = x and 0 is
 * returned (no SNR can be set). x and y may be the same array. */
double noise_mix_snr_active(const float *x, const float *noise, const uint8_t *active, int64_t n, double snr_db,
                            float *y);

#endif
