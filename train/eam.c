/* Energy-adaptive mixup; the rule and its reasoning are in eam.h and docs/methods.md. */
#include "eam.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "rng.h"

EamConfig eam_config_default(void) {
    EamConfig c = {.enabled = 0, .prob = 0.5, .snr_min = -5.0, .snr_max = 10.0, .min_fraction = 0.1};
    return c;
}

/* Uniform in [0, 1) with 53 bits from elements i and i + 1 of the stream. */
static double uniform53(uint64_t seed, uint64_t counter, uint64_t i) {
    uint64_t hi = serc_rng_u32(seed, counter, i), lo = serc_rng_u32(seed, counter, i + 1);
    uint64_t bits = ((hi << 32) | lo) >> 11;
    return (double)bits * (1.0 / 9007199254740992.0); /* 2^53 */
}

/* Uniform integer in [lo, hi] (hi >= lo). */
static int64_t uniform_int(uint64_t seed, uint64_t counter, uint64_t i, int64_t lo, int64_t hi) {
    double span = (double)(hi - lo + 1);
    int64_t k = (int64_t)floor(uniform53(seed, counter, i) * span);
    if (k > hi - lo) k = hi - lo;
    return lo + k;
}

static double mean_power(const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return n > 0 ? s / (double)n : 0.0;
}

double eam_lambda(int64_t length, int64_t n_a, double snr_db) {
    if (length <= 0 || n_a <= 0) return 0.0;
    double coverage = (double)length / (double)n_a;
    double share = 1.0 / (1.0 + pow(10.0, snr_db / 10.0));
    return coverage * share;
}

double eam_mix(float *a, int64_t n_a, const float *b, int64_t n_b, const EamConfig *cfg, uint64_t seed,
               uint64_t counter, EamInfo *info) {
    SERC_ASSERT(cfg->snr_min <= cfg->snr_max, "eam_mix: snr_min %g > snr_max %g", cfg->snr_min,
                cfg->snr_max);
    EamInfo r;
    memset(&r, 0, sizeof r);
    r.pos_a = r.pos_b = -1;
    /* L < n_a / 2 strictly: the largest integer below n_a / 2 is (n_a - 1) / 2 */
    int64_t l_hi = (n_a - 1) / 2;
    if (l_hi > n_b) l_hi = n_b;
    if (l_hi >= 1) {
        int64_t l_lo = (int64_t)ceil(cfg->min_fraction * (double)n_a);
        if (l_lo < 1) l_lo = 1;
        if (l_lo > l_hi) l_lo = l_hi;
        r.length = uniform_int(seed, counter, 0, l_lo, l_hi);
        r.pos_b = uniform_int(seed, counter, 2, 0, n_b - r.length);
        r.pos_a = uniform_int(seed, counter, 4, 0, n_a - r.length);
        r.snr_db = cfg->snr_min + (cfg->snr_max - cfg->snr_min) * uniform53(seed, counter, 6);
        r.power_a = mean_power(a + r.pos_a, r.length);
        r.power_b = mean_power(b + r.pos_b, r.length);
        r.coverage = (double)r.length / (double)n_a;
        r.energy_share = 1.0 / (1.0 + pow(10.0, r.snr_db / 10.0));
        if (r.power_a >= EAM_SILENT_POWER && r.power_b >= EAM_SILENT_POWER) {
            /* P_B' = g^2 P_B must equal P_A / 10^(SNR/10) */
            r.gain = sqrt(r.power_a / (r.power_b * pow(10.0, r.snr_db / 10.0)));
            float g = (float)r.gain;
            for (int64_t i = 0; i < r.length; i++) a[r.pos_a + i] += g * b[r.pos_b + i];
            r.mixed = 1;
            r.lambda_b = r.coverage * r.energy_share;
        }
    }
    if (info) *info = r;
    return r.lambda_b;
}
