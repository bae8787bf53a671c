/* Energy-adaptive mixup (EAM) on raw waveforms, after Wang et al., "Multi-Loss Learning for Speech
 * Emotion Recognition with Energy-Adaptive Mixup and Frame-Level Attention" (arXiv 2512.04551).
 *
 * A segment of L samples (L < n_a / 2, L <= n_b) is cut from utterance B, scaled so that
 *   SNR = 10 log10(P_A / P_B')  with SNR ~ U[snr_min, snr_max] dB,
 * where P_A is the mean power of A's samples at the mix position and P_B' that of the scaled segment,
 * and added into A at that position. The soft label (the paper's formula was not found; ours, with the
 * reasoning, in docs/methods.md "Energy-adaptive mixup (EAM)"):
 *   coverage_B = L / n_a                          (B's share of the mixed signal's duration)
 *   share_B    = P_B' / (P_A + P_B') = 1 / (1 + 10^(SNR/10))   (B's share of the energy in the segment)
 *   lambda_B   = coverage_B * share_B,   lambda_A = 1 - lambda_B
 * so lambda_B < 0.5 * 1/(1 + 10^(snr_min/10)) (0.38 at -5 dB): A's emotion always dominates.
 *
 * Silence: when either segment's mean power is below EAM_SILENT_POWER the SNR is undefined (or the
 * gain infinite); A is left untouched and lambda_B = 0. Likewise when no segment fits (n_a < 3, n_b < 1).
 *
 * Randomness: every draw comes from Philox stream (seed, offset = counter), elements 0..7, i.e. counter
 * blocks [counter, counter + EAM_RNG_BLOCKS). Callers give each mix its own counter, advancing it by
 * EAM_RNG_BLOCKS, and the result depends on nothing else.
 */
#ifndef SERC_EAM_H
#define SERC_EAM_H

#include <stdint.h>

/* Mean power (mean square, full scale = 1.0) under which a segment counts as silent: -100 dBFS. */
#define EAM_SILENT_POWER 1e-10
#define EAM_RNG_BLOCKS 2

/* EAM settings; the [eam] section of the training config (train/config.h) is this struct.
 * enabled and prob are read by the batch builder (whether to mix a given utterance); eam_mix reads
 * snr_min, snr_max and min_fraction. */
typedef struct EamConfig {
    int enabled;          /* mix at all */
    double prob;          /* probability that a training utterance is mixed */
    double snr_min;       /* dB, lower end of the SNR draw */
    double snr_max;       /* dB, upper end */
    double min_fraction;  /* shortest segment as a fraction of n_a (L >= ceil(min_fraction n_a)), < 0.5 */
} EamConfig;

/* enabled 0, prob 0.5, snr [-5, 10] dB, min_fraction 0.1. */
EamConfig eam_config_default(void);

/* What one call did. Positions and lengths in samples; powers are mean squares over the segment. */
typedef struct EamInfo {
    int mixed;           /* 1 when B was added into A, 0 when skipped (silence, nothing fits) */
    int64_t length;      /* L */
    int64_t pos_a;       /* first sample of A that received B */
    int64_t pos_b;       /* first sample of the segment cut from B */
    double snr_db;       /* drawn SNR */
    double power_a;      /* P_A: A's segment before mixing */
    double power_b;      /* B's segment before scaling */
    double gain;         /* amplitude factor applied to B: sqrt(P_A / (power_b 10^(SNR/10))) */
    double coverage;     /* L / n_a */
    double energy_share; /* 1 / (1 + 10^(SNR/10)) */
    double lambda_b;     /* returned weight of B's label */
} EamInfo;

/* Mixes a segment of b (n_b samples) into a (n_a samples) in place and returns lambda_B in [0, 0.5).
 * Draws, from (seed, counter): L uniform in [L_lo, L_hi] with L_hi = min(ceil(n_a / 2) - 1, n_b) and
 * L_lo = min(L_hi, max(1, ceil(min_fraction n_a))); pos_b uniform in [0, n_b - L]; pos_a uniform in
 * [0, n_a - L]; SNR uniform in [snr_min, snr_max). info may be NULL. The soft target of the mixed
 * utterance is (1 - lambda_B) onehot(label_A) + lambda_B onehot(label_B). */
double eam_mix(float *a, int64_t n_a, const float *b, int64_t n_b, const EamConfig *cfg, uint64_t seed,
               uint64_t counter, EamInfo *info);

/* The soft-label rule alone: lambda_B for a segment of L samples in an utterance of n_a at SNR dB. */
double eam_lambda(int64_t length, int64_t n_a, double snr_db);

#endif
