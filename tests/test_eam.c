/* Tests for train/eam.c: the SNR measured on the mixed signal equals the drawn one, segments are
 * shorter than half of A and fit in B, draws are deterministic in (seed, counter), silence is skipped,
 * and lambda_B lies in [0, 1) and falls as the SNR rises. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eam.h"
#include "rng.h"

/* A speech-like test signal: a few harmonics under an amplitude envelope, plus noise. */
static float *make_signal(int64_t n, uint64_t seed, float amp) {
    float *x = malloc((size_t)n * sizeof(float));
    serc_rng_fill_normal(x, n, seed, 0, 0.0f, 0.05f);
    for (int64_t i = 0; i < n; i++) {
        double t = (double)i / 16000.0, env = 0.5 + 0.5 * sin(2 * M_PI * 3.0 * t + (double)seed);
        x[i] = amp * (x[i] + (float)(env * (0.3 * sin(2 * M_PI * 140.0 * t) + 0.1 * sin(2 * M_PI * 420.0 * t))));
    }
    return x;
}

static double power(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s / (double)n;
}

Test(eam, achieved_snr_matches_draw) {
    const int64_t n_a = 16000, n_b = 12000;
    float *a0 = make_signal(n_a, 1, 1.0f), *b = make_signal(n_b, 2, 0.2f);
    float *a = malloc((size_t)n_a * sizeof(float)), *diff = malloc((size_t)n_a * sizeof(float));
    EamConfig cfg = eam_config_default();
    double snr_lo = 1e9, snr_hi = -1e9;
    for (uint64_t k = 0; k < 100; k++) {
        memcpy(a, a0, (size_t)n_a * sizeof(float));
        EamInfo info;
        double lambda = eam_mix(a, n_a, b, n_b, &cfg, 7, k * EAM_RNG_BLOCKS, &info);
        cr_assert_eq(info.mixed, 1);
        cr_assert_eq(lambda, info.lambda_b);
        cr_assert(info.snr_db >= -5.0 && info.snr_db < 10.0, "snr %g", info.snr_db);
        for (int64_t i = 0; i < n_a; i++) diff[i] = a[i] - a0[i];
        /* nothing changes outside the segment */
        for (int64_t i = 0; i < n_a; i++)
            if (i < info.pos_a || i >= info.pos_a + info.length) cr_assert_eq(diff[i], 0.0f, "sample %ld", (long)i);
        double pa = power(a0 + info.pos_a, info.length), pb = power(diff + info.pos_a, info.length);
        cr_assert_float_eq(pa, info.power_a, 1e-9 * pa);
        cr_assert_float_eq(power(b + info.pos_b, info.length), info.power_b, 1e-9 * info.power_b);
        double measured = 10.0 * log10(pa / pb);
        cr_assert_float_eq(measured, info.snr_db, 1e-3, "measured %g dB, drawn %g dB", measured, info.snr_db);
        /* the label's energy share is what the mixed segment holds */
        cr_assert_float_eq(pb / (pa + pb), info.energy_share, 1e-4);
        if (info.snr_db < snr_lo) snr_lo = info.snr_db;
        if (info.snr_db > snr_hi) snr_hi = info.snr_db;
    }
    cr_assert(snr_lo < -4.0 && snr_hi > 9.0, "draws cover [%g, %g]", snr_lo, snr_hi);
    free(a0), free(b), free(a), free(diff);
}

Test(eam, segment_bounds) {
    EamConfig cfg = eam_config_default();
    float *b = make_signal(5000, 3, 0.5f);
    int64_t sizes_a[] = {3, 4, 5, 7, 10, 11, 100, 1001, 16000}, sizes_b[] = {1, 2, 3, 50, 5000};
    for (size_t i = 0; i < sizeof sizes_a / sizeof *sizes_a; i++)
        for (size_t j = 0; j < sizeof sizes_b / sizeof *sizes_b; j++) {
            int64_t n_a = sizes_a[i], n_b = sizes_b[j];
            float *a = malloc((size_t)n_a * sizeof(float));
            for (uint64_t k = 0; k < 40; k++) {
                /* fresh A each time: mixing at 0 dB can cancel a one-sample segment to silence */
                float *a0 = make_signal(n_a, 4, 1.0f);
                memcpy(a, a0, (size_t)n_a * sizeof(float));
                free(a0);
                EamInfo info;
                eam_mix(a, n_a, b, n_b, &cfg, 11, k * EAM_RNG_BLOCKS, &info);
                cr_assert_eq(info.mixed, 1, "n_a %ld n_b %ld", (long)n_a, (long)n_b);
                cr_assert(info.length >= 1 && 2 * info.length < n_a && info.length <= n_b,
                          "L %ld for n_a %ld n_b %ld", (long)info.length, (long)n_a, (long)n_b);
                cr_assert(info.pos_a >= 0 && info.pos_a + info.length <= n_a);
                cr_assert(info.pos_b >= 0 && info.pos_b + info.length <= n_b);
                int64_t l_lo = (int64_t)ceil(0.1 * (double)n_a);
                if (l_lo <= (n_a - 1) / 2 && l_lo <= n_b) cr_assert(info.length >= l_lo);
                cr_assert_float_eq(info.coverage, (double)info.length / (double)n_a, 1e-15);
            }
            free(a);
        }
    free(b);
}

Test(eam, nothing_fits) {
    EamConfig cfg = eam_config_default();
    float a[2] = {0.5f, -0.5f}, b[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    EamInfo info;
    cr_assert_eq(eam_mix(a, 2, b, 4, &cfg, 0, 0, &info), 0.0);
    cr_assert_eq(info.mixed, 0);
    cr_assert_eq(a[0], 0.5f);
    cr_assert_eq(eam_mix(a, 2, b, 0, &cfg, 0, 0, NULL), 0.0);
}

Test(eam, deterministic_in_seed_and_counter) {
    const int64_t n_a = 8000, n_b = 9000;
    float *a0 = make_signal(n_a, 5, 1.0f), *b = make_signal(n_b, 6, 0.3f);
    float *x = malloc((size_t)n_a * 4), *y = malloc((size_t)n_a * 4);
    EamConfig cfg = eam_config_default();
    EamInfo ix, iy;
    memcpy(x, a0, (size_t)n_a * 4), memcpy(y, a0, (size_t)n_a * 4);
    double lx = eam_mix(x, n_a, b, n_b, &cfg, 42, 1000, &ix);
    double ly = eam_mix(y, n_a, b, n_b, &cfg, 42, 1000, &iy);
    cr_assert_eq(lx, ly);
    cr_assert_eq(memcmp(x, y, (size_t)n_a * 4), 0);
    cr_assert_eq(memcmp(&ix, &iy, sizeof ix), 0);
    /* another counter or seed draws something else */
    memcpy(y, a0, (size_t)n_a * 4);
    eam_mix(y, n_a, b, n_b, &cfg, 42, 1000 + EAM_RNG_BLOCKS, &iy);
    cr_assert(iy.pos_a != ix.pos_a || iy.length != ix.length || iy.snr_db != ix.snr_db);
    memcpy(y, a0, (size_t)n_a * 4);
    eam_mix(y, n_a, b, n_b, &cfg, 43, 1000, &iy);
    cr_assert(iy.pos_a != ix.pos_a || iy.length != ix.length || iy.snr_db != ix.snr_db);
    free(a0), free(b), free(x), free(y);
}

Test(eam, silent_segments_are_skipped) {
    const int64_t n = 4000;
    float *a = calloc((size_t)n, sizeof(float)), *b = make_signal(n, 8, 0.5f);
    EamConfig cfg = eam_config_default();
    EamInfo info;
    /* A silent: no SNR can be reached by scaling B, nothing is added */
    double lambda = eam_mix(a, n, b, n, &cfg, 1, 0, &info);
    cr_assert_eq(lambda, 0.0);
    cr_assert_eq(info.mixed, 0);
    cr_assert_eq(info.gain, 0.0);
    cr_assert(info.length > 0, "the draw is still reported");
    for (int64_t i = 0; i < n; i++) cr_assert_eq(a[i], 0.0f);
    /* B silent: the gain would be infinite */
    float *a2 = make_signal(n, 9, 1.0f), *a2c = malloc((size_t)n * 4), *zeros = calloc((size_t)n, 4);
    memcpy(a2c, a2, (size_t)n * 4);
    lambda = eam_mix(a2, n, zeros, n, &cfg, 1, 0, &info);
    cr_assert_eq(lambda, 0.0);
    cr_assert_eq(info.mixed, 0);
    cr_assert_eq(memcmp(a2, a2c, (size_t)n * 4), 0);
    /* below the -100 dBFS floor counts as silent too */
    for (int64_t i = 0; i < n; i++) zeros[i] = 1e-6f;
    cr_assert_eq(eam_mix(a2, n, zeros, n, &cfg, 1, 0, &info), 0.0);
    free(a), free(b), free(a2), free(a2c), free(zeros);
}

Test(eam, lambda_bounded_and_monotone_in_snr) {
    /* the rule alone */
    double prev = 1.0;
    for (double snr = -20.0; snr <= 20.0; snr += 0.5) {
        double l = eam_lambda(7999, 16000, snr);
        cr_assert(l >= 0.0 && l < 0.5 && l < prev, "lambda %g at %g dB", l, snr);
        prev = l;
    }
    cr_assert_float_eq(eam_lambda(4000, 16000, 0.0), 0.25 * 0.5, 1e-15);
    cr_assert_eq(eam_lambda(0, 16000, 0.0), 0.0);
    /* through eam_mix: a fixed SNR per run; the same (seed, counter) gives the same segment */
    const int64_t n_a = 12000, n_b = 12000;
    float *a0 = make_signal(n_a, 10, 1.0f), *b = make_signal(n_b, 11, 0.4f), *a = malloc((size_t)n_a * 4);
    EamConfig cfg = eam_config_default();
    for (uint64_t k = 0; k < 10; k++) {
        prev = 1.0;
        int64_t length = -1;
        for (double snr = -5.0; snr <= 10.0; snr += 1.0) {
            cfg.snr_min = cfg.snr_max = snr;
            memcpy(a, a0, (size_t)n_a * 4);
            EamInfo info;
            double l = eam_mix(a, n_a, b, n_b, &cfg, 3, k * EAM_RNG_BLOCKS, &info);
            cr_assert(length < 0 || info.length == length);
            length = info.length;
            cr_assert_float_eq(info.snr_db, snr, 1e-12);
            cr_assert(l >= 0.0 && l <= 1.0);
            cr_assert(l < prev, "lambda %g at %g dB not below %g", l, snr, prev);
            cr_assert_float_eq(l, info.coverage * info.energy_share, 1e-15);
            prev = l;
        }
    }
    free(a0), free(b), free(a);
}
