/* Noise and reverberation generators (train/noise.h), shared by `serc synth` and `serc robust`. */
#include "noise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rng.h"

double noise_uniform(NoiseRng *r) { return serc_rng_uniform01(r->seed, r->offset, r->i++); }

int noise_randint(NoiseRng *r, int n) {
    int k = (int)(noise_uniform(r) * n);
    return k < n ? k : n - 1;
}

double noise_power(const float *x, int64_t n) {
    double e = 0;
    for (int64_t i = 0; i < n; i++) e += (double)x[i] * x[i];
    return n ? e / (double)n : 0;
}

void noise_white(float *y, int64_t n, uint64_t seed, uint64_t offset) {
    serc_rng_fill_normal(y, n, seed, offset, 0.0f, 1.0f);
}

void noise_pink(float *y, int64_t n, uint64_t seed, uint64_t offset) {
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

void noise_hum(float *y, int64_t n, int sample_rate, NoiseRng *r) {
    double ph[5];
    for (int h = 0; h < 5; h++) ph[h] = 2 * M_PI * noise_uniform(r);
    const double wobble = 0.3 + 0.4 * noise_uniform(r);
    for (int64_t i = 0; i < n; i++) {
        double t = (double)i / sample_rate, v = 0;
        for (int h = 0; h < 5; h++) v += sin(2 * M_PI * 50.0 * (h + 1) * t + ph[h]) / (h + 1);
        y[i] = (float)(v * (1 + 0.1 * sin(2 * M_PI * wobble * t)));
    }
}

void noise_babble(float *y, int64_t n, const NoisePool *pool, int talkers, NoiseRng *r) {
    SERC_ASSERT(pool && pool->count > 0, "noise_babble: empty pool");
    memset(y, 0, (size_t)n * sizeof *y);
    for (int t = 0; t < talkers; t++) {
        int k = noise_randint(r, pool->count);
        const float *b = pool->x[k];
        int64_t bn = pool->n[k], o = noise_randint(r, (int)bn);
        for (int64_t i = 0; i < n; i++) y[i] += b[(o + i) % bn];
    }
}

void noise_reverb(const float *x, int64_t n, float *y, double rt60_s, int sample_rate, NoiseRng *r) {
    const int cell = sample_rate / 1000, gap = sample_rate / 200;
    const int n_taps = (int)(rt60_s * 1000);
    SERC_ASSERT(n_taps >= 1 && cell >= 1, "noise_reverb: RT60 %g s at %d Hz gives no taps", rt60_s, sample_rate);
    int *pos = serc_malloc((size_t)n_taps * sizeof *pos);
    double *amp = serc_malloc((size_t)n_taps * sizeof *amp), energy = 0;
    for (int k = 0; k < n_taps; k++) {
        pos[k] = gap + k * cell + noise_randint(r, cell);
        double t = (double)pos[k] / sample_rate;
        amp[k] = (noise_uniform(r) < 0.5 ? -1 : 1) * exp(-6.907755 * t / rt60_s);
        energy += amp[k] * amp[k];
    }
    const double s = sqrt(1.5 / energy);
    for (int k = 0; k < n_taps; k++) amp[k] *= s;
    memcpy(y, x, (size_t)n * sizeof *y);
    for (int k = 0; k < n_taps; k++) {
        const float a = (float)amp[k];
        for (int64_t i = pos[k]; i < n; i++) y[i] += a * x[i - pos[k]];
    }
    double p0 = noise_power(x, n), p1 = noise_power(y, n);
    if (p1 > 0) {
        float g = (float)sqrt(p0 / p1);
        for (int64_t i = 0; i < n; i++) y[i] *= g;
    }
    free(pos);
    free(amp);
}

void noise_mix_snr_whole(const float *x, const float *noise, int64_t n, double snr_db, float *y) {
    const double ps = noise_power(x, n), pn = noise_power(noise, n);
    const double g = pn > 0 ? sqrt(ps / (pn * pow(10.0, snr_db / 10.0))) : 0;
    for (int64_t i = 0; i < n; i++) y[i] = x[i] + (float)(g * noise[i]);
}

int64_t noise_speech_activity(const float *x, int64_t n, int sample_rate, double frame_s, double threshold_db,
                              uint8_t *active) {
    int64_t frame = (int64_t)llround(frame_s * sample_rate);
    if (frame < 1) frame = 1;
    const int64_t n_frames = (n + frame - 1) / frame;
    double *e = serc_malloc((size_t)(n_frames ? n_frames : 1) * sizeof *e), peak = 0;
    for (int64_t f = 0; f < n_frames; f++) {
        int64_t a = f * frame, b = a + frame < n ? a + frame : n;
        e[f] = noise_power(x + a, b - a);
        if (e[f] > peak) peak = e[f];
    }
    const double floor_e = peak * pow(10.0, -threshold_db / 10.0);
    int64_t count = 0;
    for (int64_t f = 0; f < n_frames; f++) {
        int64_t a = f * frame, b = a + frame < n ? a + frame : n;
        uint8_t on = e[f] > 0 && e[f] >= floor_e;
        memset(active + a, on, (size_t)(b - a));
        if (on) count += b - a;
    }
    free(e);
    return count;
}

double noise_power_active(const float *x, const uint8_t *active, int64_t n) {
    double e = 0;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (active[i]) e += (double)x[i] * x[i], k++;
    return k ? e / (double)k : 0;
}

double noise_mix_snr_active(const float *x, const float *noise, const uint8_t *active, int64_t n, double snr_db,
                            float *y) {
    const double ps = noise_power_active(x, active, n), pn = noise_power_active(noise, active, n);
    if (!(ps > 0) || !(pn > 0)) {
        if (y != x) memcpy(y, x, (size_t)n * sizeof *y);
        return 0;
    }
    const double g = sqrt(ps / (pn * pow(10.0, snr_db / 10.0)));
    for (int64_t i = 0; i < n; i++) y[i] = x[i] + (float)(g * noise[i]);
    return g;
}
