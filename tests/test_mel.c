/* Tests for core/fft.c, core/mel.c and core/npy.c.
 *
 * - FFT and real FFT against a plain double DFT for lengths with small factors, large primes
 *   (Bluestein) and the STFT sizes 400 and 512.
 * - Log-mel parity with the references in tests/fixtures/mel (made by make_mel_fixtures.py from
 *   torchaudio, torchaudio.compliance.kaldi, whisper's formula and librosa). Criterion, on every
 *   element: |ours - ref| <= 1e-4 * max(1, |ref|) (docs/features.md).
 * - Configuration validation, frame counts, CMVN, dither, thread-count independence.
 * - .npy round trips and a table of malformed .npy files.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#else
static void omp_set_num_threads(int n) { (void)n; }
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fft.h"
#include "json.h"
#include "mel.h"
#include "npy.h"

#define MEL_DIR SERC_FIXTURES_DIR "/mel"
#define PARITY_TOL 1e-4

/* ---- FFT ---- */

/* X[k] = sum_j x[j] exp(-2 pi i jk/n), angles reduced mod n, accumulated in long double. */
static void dft_ref(const double *x, double *X, int n) {
    for (int k = 0; k < n; k++) {
        long double re = 0, im = 0;
        for (int j = 0; j < n; j++) {
            long double a = -2.0L * 3.14159265358979323846264338327950288L * (long double)(((int64_t)j * k) % n) / n;
            re += x[2 * j] * cosl(a) - x[2 * j + 1] * sinl(a);
            im += x[2 * j] * sinl(a) + x[2 * j + 1] * cosl(a);
        }
        X[2 * k] = (double)re, X[2 * k + 1] = (double)im;
    }
}

static const int FFT_SIZES[] = {1, 2, 3, 4, 5, 6, 7, 8, 12, 25, 30, 49, 97, 121, 127, 194, 400, 512, 1000, 1024, 2048};

static double rand_sym(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (double)(*s >> 8) / (double)(1u << 24) * 2.0 - 1.0;
}

Test(fft, complex_matches_plain_dft) {
    unsigned seed = 7;
    for (size_t t = 0; t < sizeof FFT_SIZES / sizeof FFT_SIZES[0]; t++) {
        int n = FFT_SIZES[t];
        double *x = malloc(sizeof(double) * 2 * n), *X = malloc(sizeof(double) * 2 * n),
               *R = malloc(sizeof(double) * 2 * n);
        for (int i = 0; i < 2 * n; i++) x[i] = rand_sym(&seed);
        FftPlan *p = fft_plan_new(n);
        size_t wl = fft_work_len(p);
        double *work = wl ? malloc(sizeof(double) * wl) : NULL;
        fft_forward(p, x, X, work);
        dft_ref(x, R, n);
        double err = 0, norm = 0;
        for (int i = 0; i < 2 * n; i++) err = fmax(err, fabs(X[i] - R[i])), norm = fmax(norm, fabs(R[i]));
        cr_expect(err <= 1e-13 * fmax(1.0, norm) * log2(n + 1.0), "n = %d: max error %.3g (max |X| %.3g)", n, err,
                  norm);
        free(work);
        fft_plan_free(p);
        free(x), free(X), free(R);
    }
}

Test(fft, real_matches_plain_dft) {
    unsigned seed = 11;
    for (size_t t = 0; t < sizeof FFT_SIZES / sizeof FFT_SIZES[0]; t++) {
        int n = FFT_SIZES[t], nb = n / 2 + 1;
        double *xr = malloc(sizeof(double) * n), *xc = calloc(2 * (size_t)n, sizeof(double)),
               *X = malloc(sizeof(double) * 2 * nb), *R = malloc(sizeof(double) * 2 * n);
        for (int i = 0; i < n; i++) xc[2 * i] = xr[i] = rand_sym(&seed);
        RfftPlan *p = rfft_plan_new(n);
        double *work = malloc(sizeof(double) * rfft_work_len(p));
        rfft_forward(p, xr, X, work);
        dft_ref(xc, R, n);
        double err = 0, norm = 0;
        for (int i = 0; i < 2 * nb; i++) err = fmax(err, fabs(X[i] - R[i])), norm = fmax(norm, fabs(R[i]));
        cr_expect(err <= 1e-13 * fmax(1.0, norm) * log2(n + 1.0), "rfft n = %d: max error %.3g", n, err);
        free(work);
        rfft_plan_free(p);
        free(xr), free(xc), free(X), free(R);
    }
}

Test(fft, impulse_and_constant) {
    /* delta -> all ones; constant -> n at bin 0 */
    int n = 400;
    double *x = calloc(2 * (size_t)n, sizeof(double)), *X = malloc(sizeof(double) * 2 * n);
    FftPlan *p = fft_plan_new(n);
    x[0] = 1;
    fft_forward(p, x, X, NULL);
    for (int k = 0; k < n; k++) cr_assert(fabs(X[2 * k] - 1) < 1e-14 && fabs(X[2 * k + 1]) < 1e-14);
    for (int j = 0; j < n; j++) x[2 * j] = 1, x[2 * j + 1] = 0;
    fft_forward(p, x, X, NULL);
    cr_assert(fabs(X[0] - n) < 1e-11);
    for (int k = 1; k < n; k++) cr_assert(hypot(X[2 * k], X[2 * k + 1]) < 1e-11, "bin %d", k);
    fft_plan_free(p);
    free(x), free(X);
}

/* ---- fixtures ---- */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

static NpyArray load_npy(const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", MEL_DIR, file);
    NpyArray a;
    SercErr err = {{0}};
    cr_assert_eq(npy_read(path, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(a.dtype, SERC_F32, "%s: not float32", path);
    return a;
}

/* The preset of a fixture case with its overrides applied. */
static MelConfig case_config(const JsonValue *c) {
    MelConfig cfg;
    SercErr err = {{0}};
    cr_assert_eq(mel_config_preset(json_string(json_get(c, "preset")), &cfg, &err), 0, "%s", err.msg);
    const JsonValue *ov = json_get(c, "overrides");
    for (size_t i = 0; i < json_len(ov); i++) {
        const char *k = json_key_at(ov, i);
        const JsonValue *v = json_value_at(ov, i);
        if (strcmp(k, "n_mels") == 0) cfg.n_mels = (int)json_int(v);
        else if (strcmp(k, "delta_order") == 0) cfg.delta_order = (int)json_int(v);
        else if (strcmp(k, "snip_edges") == 0) cfg.snip_edges = json_bool(v);
        else cr_assert_fail("fixture override '%s' is not known to the test", k);
    }
    return cfg;
}

typedef struct ParityStat {
    char preset[32];
    double max_abs, max_crit; /* max |a - b| and max |a - b| / max(1, |b|) */
    int cases;
} ParityStat;

Test(mel, parity_with_reference_libraries) {
    size_t len;
    char *text = slurp(MEL_DIR "/index.json", &len);
    SercErr err = {{0}};
    JsonValue *idx = json_parse(text, len, &err);
    cr_assert(idx, "index.json: %s", err.msg);
    const JsonValue *inputs = json_get(idx, "inputs"), *cases = json_get(idx, "cases");
    cr_assert(json_len(cases) >= 20);
    ParityStat stats[16];
    int nstats = 0, failures = 0;
    for (size_t ci = 0; ci < json_len(cases); ci++) {
        const JsonValue *c = json_at(cases, ci);
        const char *cname = json_string(json_get(c, "case")), *iname = json_string(json_get(c, "input"));
        MelConfig cfg = case_config(c);
        NpyArray in = load_npy(json_string(json_get(json_get(inputs, iname), "file")));
        NpyArray ref = load_npy(json_string(json_get(c, "file")));
        int64_t frames = mel_num_frames(&cfg, in.numel);
        int nf = mel_num_features(&cfg);
        cr_assert(ref.ndim == 2 && ref.shape[0] == frames && ref.shape[1] == nf,
                  "%s/%s: shape (%lld, %lld), we produce (%lld, %d)", cname, iname, (long long)ref.shape[0],
                  (long long)ref.shape[1], (long long)frames, nf);
        float *out = malloc(sizeof(float) * (size_t)(frames * nf + 1));
        logmel_compute(&cfg, in.data, in.numel, out);
        const float *r = ref.data;
        double max_abs = 0, max_crit = 0;
        int64_t worst = 0;
        for (int64_t i = 0; i < frames * nf; i++) {
            double d = fabs((double)out[i] - r[i]), crit = d / fmax(1.0, fabs(r[i]));
            if (!(crit <= max_crit)) max_crit = crit, worst = i; /* NaN counts as worst */
            max_abs = fmax(max_abs, d);
        }
        if (!(max_crit <= PARITY_TOL)) {
            failures++;
            cr_log_error("%s/%s: max |a-b|/max(1,|b|) = %.3g at frame %lld, mel %lld: ours %.7g, reference %.7g",
                         cname, iname, max_crit, (long long)(worst / nf), (long long)(worst % nf), out[worst],
                         r[worst]);
        }
        int s = 0;
        while (s < nstats && strcmp(stats[s].preset, cname)) s++;
        if (s == nstats) {
            memset(&stats[nstats], 0, sizeof stats[0]);
            snprintf(stats[nstats++].preset, sizeof stats[0].preset, "%s", cname);
        }
        stats[s].max_abs = fmax(stats[s].max_abs, max_abs);
        stats[s].max_crit = fmax(stats[s].max_crit, max_crit);
        stats[s].cases++;
        free(out);
        npy_array_free(&in);
        npy_array_free(&ref);
    }
    for (int s = 0; s < nstats; s++)
        fprintf(stderr, "parity %-18s %d inputs: max |a-b| = %.3g, max |a-b|/max(1,|b|) = %.3g\n", stats[s].preset,
                stats[s].cases, stats[s].max_abs, stats[s].max_crit);
    cr_expect_eq(failures, 0, "%d fixture cases outside the tolerance", failures);
    json_free(idx);
    free(text);
}

/* ---- configuration ---- */

Test(mel, preset_frame_counts) {
    MelConfig c;
    SercErr err;
    cr_assert_eq(mel_config_preset("torchaudio", &c, &err), 0);
    cr_assert_eq(mel_num_frames(&c, 16000), 81); /* 1 + n / hop */
    cr_assert_eq(mel_num_features(&c), 128);
    cr_assert_eq(mel_config_preset("kaldi", &c, &err), 0);
    cr_assert_eq(mel_num_frames(&c, 16000), 98); /* 1 + (n - 400) / 160 */
    cr_assert_eq(mel_num_frames(&c, 399), 0);
    cr_assert_eq(mel_num_features(&c), 23);
    MelConfig r;
    cr_assert_eq(mel_config_resolve(&c, &r, &err), 0);
    cr_assert_eq(r.n_fft, 512);
    cr_assert_eq(r.f_max, 8000.0);
    c.sample_rate = 8000; /* 25 ms / 10 ms stay: 200 / 80 samples, n_fft 256 */
    cr_assert_eq(mel_config_resolve(&c, &r, &err), 0);
    cr_assert(r.win_length == 200 && r.hop_length == 80 && r.n_fft == 256 && r.f_max == 4000.0);
    cr_assert_eq(mel_config_preset("whisper", &c, &err), 0);
    cr_assert_eq(mel_num_frames(&c, 480000), 3000); /* 30 s -> 3000 frames, as whisper */
    cr_assert_eq(mel_config_preset("librosa", &c, &err), 0);
    cr_assert_eq(mel_num_frames(&c, 16000), 32);
    cr_assert_eq(mel_num_frames(&c, 0), 0);
    cr_assert_neq(mel_config_preset("htk", &c, &err), 0);
    cr_assert(strstr(err.msg, "unknown feature preset 'htk'") && strstr(err.msg, "kaldi"), "%s", err.msg);
}

typedef struct BadConfig {
    const char *what;
    void (*edit)(MelConfig *c);
    const char *keyword;
} BadConfig;

static void bad_sr(MelConfig *c) { c->sample_rate = 0; }
static void bad_hop(MelConfig *c) { c->hop_length = 0; }
static void bad_win(MelConfig *c) { c->win_length = 512; }
static void bad_nfft(MelConfig *c) { c->n_fft = 0; }
static void bad_fmax(MelConfig *c) { c->f_max = 9000; }
static void bad_fmin(MelConfig *c) { c->f_min = -1; }
static void bad_frange(MelConfig *c) { c->f_min = 5000, c->f_max = 4000; }
static void bad_mels(MelConfig *c) { c->n_mels = 0; }
static void bad_power(MelConfig *c) { c->power = 0; }
static void bad_preemph(MelConfig *c) { c->preemphasis = 1.5; }
static void bad_dither(MelConfig *c) { c->dither = -1; }
static void bad_window(MelConfig *c) { c->window = (MelWindow)9; }
static void bad_log(MelConfig *c) { c->log_offset = 0, c->log_floor = 0; }
static void bad_amin(MelConfig *c) { c->log = MEL_LOG_DB, c->db_amin = 0; }
static void bad_delta(MelConfig *c) { c->delta_order = 1, c->delta_win = 4; }
static void bad_order(MelConfig *c) { c->delta_order = 3; }
static void bad_center_kaldi(MelConfig *c) { c->framing = MEL_FRAMING_KALDI, c->center = 1; }
static void bad_ms(MelConfig *c) { c->frame_length_ms = NAN; }

Test(mel, config_validation_errors) {
    static const BadConfig table[] = {
        {"sample rate 0", bad_sr, "sample_rate"},
        {"hop 0", bad_hop, "hop_length"},
        {"win > n_fft", bad_win, "win_length (512) must be <= n_fft (400)"},
        {"n_fft 0", bad_nfft, "n_fft"},
        {"f_max > nyquist", bad_fmax, "Nyquist"},
        {"f_min < 0", bad_fmin, "f_min"},
        {"f_min >= f_max", bad_frange, "f_min (5000 Hz) must be < f_max"},
        {"n_mels 0", bad_mels, "n_mels"},
        {"power 0", bad_power, "power"},
        {"preemphasis 1.5", bad_preemph, "preemphasis"},
        {"dither < 0", bad_dither, "dither"},
        {"window 9", bad_window, "window"},
        {"log(0)", bad_log, "log_offset"},
        {"amin 0", bad_amin, "db_amin"},
        {"even delta window", bad_delta, "delta_win"},
        {"delta order 3", bad_order, "delta_order"},
        {"center with kaldi framing", bad_center_kaldi, "center"},
        {"NaN frame length", bad_ms, "frame_length_ms"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        MelConfig c;
        SercErr err = {{0}};
        cr_assert_eq(mel_config_preset("torchaudio", &c, &err), 0);
        table[i].edit(&c);
        cr_expect_neq(mel_config_validate(&c, &err), 0, "%s: accepted", table[i].what);
        cr_expect(strstr(err.msg, table[i].keyword) != NULL, "%s: message '%s' lacks '%s'", table[i].what, err.msg,
                  table[i].keyword);
        cr_expect(strncmp(err.msg, "mel config: ", 12) == 0, "%s: '%s'", table[i].what, err.msg);
        cr_expect_null(mel_plan_new(&c, &err), "%s: plan built", table[i].what);
    }
}

/* ---- behaviour ---- */

static float *test_signal(int64_t n, unsigned seed) {
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(0.3 * sin(0.05 * i) + 0.05 * rand_sym(&seed));
    return x;
}

Test(mel, cmvn_and_deltas) {
    MelConfig c;
    SercErr err;
    cr_assert_eq(mel_config_preset("kaldi", &c, &err), 0);
    c.cmvn = MEL_CMVN_MEAN_VAR;
    c.delta_order = 1;
    int64_t n = 16000, F = mel_num_frames(&c, n);
    int nm = c.n_mels, nf = mel_num_features(&c);
    cr_assert_eq(nf, 2 * nm);
    float *x = test_signal(n, 3), *y = malloc(sizeof(float) * (size_t)(F * nf));
    logmel_compute(&c, x, n, y);
    for (int m = 0; m < nm; m++) {
        double mean = 0, var = 0, dsum = 0;
        for (int64_t t = 0; t < F; t++) mean += y[t * nf + m];
        mean /= F;
        for (int64_t t = 0; t < F; t++) var += (y[t * nf + m] - mean) * (y[t * nf + m] - mean);
        var /= F;
        cr_expect(fabs(mean) < 1e-5 && fabs(var - 1) < 1e-4, "mel %d: mean %g var %g", m, mean, var);
        /* delta of the normalised features at an interior frame */
        int64_t t = F / 2;
        for (int k = 1; k <= 2; k++) dsum += k * (y[(t + k) * nf + m] - y[(t - k) * nf + m]);
        cr_expect(fabs(y[t * nf + nm + m] - dsum / 10.0) < 1e-5);
    }
    free(x), free(y);
}

Test(mel, dither_is_seeded_and_thread_count_does_not_matter) {
    MelConfig c;
    SercErr err;
    cr_assert_eq(mel_config_preset("kaldi", &c, &err), 0);
    int64_t n = 8000, F = mel_num_frames(&c, n);
    size_t N = (size_t)(F * c.n_mels);
    float *zeros = calloc((size_t)n, sizeof(float));
    float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N), *d = malloc(sizeof(float) * N);
    logmel_compute(&c, zeros, n, a);
    for (size_t i = 0; i < N; i++) cr_assert_eq(a[i], logf(FLT_EPSILON), "silence without dither sits at the floor");
    c.dither = 1e-3, c.dither_seed = 42;
    omp_set_num_threads(1);
    logmel_compute(&c, zeros, n, a);
    omp_set_num_threads(4);
    logmel_compute(&c, zeros, n, b);
    cr_assert_eq(memcmp(a, b, sizeof(float) * N), 0, "1 thread and 4 threads differ");
    cr_assert(a[0] > logf(FLT_EPSILON) + 1, "dither did not lift silence off the floor");
    c.dither_seed = 43;
    logmel_compute(&c, zeros, n, d);
    cr_assert_neq(memcmp(a, d, sizeof(float) * N), 0, "another seed gives the same noise");
    free(zeros), free(a), free(b), free(d);
}

Test(mel, filterbank_shapes) {
    /* Slaney-normalised filters integrate to ~ the same area; HTK filters peak at 1 */
    MelConfig c;
    SercErr err;
    cr_assert_eq(mel_config_preset("whisper", &c, &err), 0);
    MelPlan *p = mel_plan_new(&c, &err);
    cr_assert(p);
    int nb = 201;
    double *fb = malloc(sizeof(double) * 80 * nb);
    mel_plan_filterbank(p, fb);
    for (int m = 0; m < 80; m++) {
        double s = 0;
        for (int k = 0; k < nb; k++) s += fb[m * nb + k] * 40.0; /* bin width 40 Hz */
        cr_expect(s > 0.5 && s < 1.5, "slaney filter %d area %g", m, s);
    }
    mel_plan_free(p);
    free(fb);
}

Test(mel, short_and_empty_input) {
    MelConfig c;
    SercErr err;
    for (const char *const *name = mel_preset_names; *name; name++) {
        cr_assert_eq(mel_config_preset(*name, &c, &err), 0);
        float x[3] = {0.1f, -0.2f, 0.3f}, out[4096];
        cr_assert_eq(mel_num_frames(&c, 0), 0);
        logmel_compute(&c, x, 0, out); /* nothing to do, must not crash */
        int64_t F = mel_num_frames(&c, 3);
        cr_assert(F * mel_num_features(&c) <= 4096);
        logmel_compute(&c, x, 3, out); /* reflect padding of a 3-sample signal wraps around */
        for (int64_t i = 0; i < F * mel_num_features(&c); i++) cr_assert(isfinite(out[i]), "%s", *name);
    }
}

/* ---- npy ---- */

static char tmpdir[64];

static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/serc_test_mel_XXXXXX");
    cr_assert(mkdtemp(tmpdir));
}

Test(npy, roundtrip_f32_and_i64, .init = make_tmpdir) {
    char path[128];
    snprintf(path, sizeof path, "%s/a.npy", tmpdir);
    float f[6] = {1, -2, 3.5f, 0, 1e-30f, -7};
    int64_t shape[2] = {2, 3};
    SercErr err = {{0}};
    cr_assert_eq(npy_write_f32(path, f, 2, shape, &err), 0, "%s", err.msg);
    size_t len;
    char *raw = slurp(path, &len);
    cr_assert_eq(len % 64, (size_t)(6 * 4 % 64), "data does not start on a 64-byte boundary");
    cr_assert(strstr(raw + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), "%s", raw + 10);
    free(raw);
    NpyArray a;
    cr_assert_eq(npy_read(path, &a, &err), 0, "%s", err.msg);
    cr_assert(a.dtype == SERC_F32 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.numel == 6);
    cr_assert_eq(memcmp(a.data, f, sizeof f), 0);
    npy_array_free(&a);
    int64_t ids[5] = {0, -1, INT64_MAX, 42, INT64_MIN};
    int64_t s1[1] = {5};
    cr_assert_eq(npy_write_i64(path, ids, 1, s1, &err), 0, "%s", err.msg);
    cr_assert_eq(npy_read(path, &a, &err), 0, "%s", err.msg);
    cr_assert(a.dtype == SERC_I64 && a.ndim == 1 && a.shape[0] == 5);
    cr_assert_eq(memcmp(a.data, ids, sizeof ids), 0);
    npy_array_free(&a);
    unlink(path);
    rmdir(tmpdir);
}

typedef struct BadNpy {
    const char *what, *header; /* header dict text, padded by the test; NULL: raw bytes below */
    int64_t data_bytes;
    const char *keyword;
} BadNpy;

Test(npy, malformed_files_rejected, .init = make_tmpdir) {
    static const BadNpy table[] = {
        {"fortran order", "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, "Fortran"},
        {"big endian", "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, "big-endian"},
        {"complex64", "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16, "unsupported dtype '<c8'"},
        {"object", "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16, "unsupported dtype"},
        {"truncated data", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20, "truncated"},
        {"trailing data", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 12, "trailing"},
        {"missing shape", "{'descr': '<f4', 'fortran_order': False, }", 4, "lacks 'shape'"},
        {"extra key", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1, }", 4, "unexpected key"},
        {"duplicate key", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, "duplicate"},
        {"negative dim", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 4, "shape"},
        {"six dims", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1), }", 4, "dimensions"},
        {"not a tuple", "{'descr': '<f4', 'fortran_order': False, 'shape': (1), }", 4, "shape"},
        {"huge dims", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", 4,
         "overflows"},
        {"not a dict", "['<f4']", 4, "dict"},
    };
    char path[128];
    snprintf(path, sizeof path, "%s/bad.npy", tmpdir);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        char hdr[256];
        int k = snprintf(hdr, sizeof hdr, "%s", table[i].header);
        while ((10 + k + 1) % 64) hdr[k++] = ' ';
        hdr[k++] = '\n';
        FILE *f = fopen(path, "wb");
        unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)k, 0};
        fwrite(pre, 1, 10, f);
        fwrite(hdr, 1, (size_t)k, f);
        for (int64_t b = 0; b < table[i].data_bytes; b++) fputc(0, f);
        fclose(f);
        NpyArray a;
        SercErr err = {{0}};
        cr_expect_neq(npy_read(path, &a, &err), 0, "%s: accepted", table[i].what);
        cr_expect(strncmp(err.msg, path, strlen(path)) == 0, "%s: message does not start with the path: %s",
                  table[i].what, err.msg);
        cr_expect(strstr(err.msg, table[i].keyword), "%s: '%s' lacks '%s'", table[i].what, err.msg, table[i].keyword);
    }
    /* preamble problems */
    static const struct {
        const char *what;
        unsigned char bytes[12];
        size_t n;
        const char *keyword;
    } raw[] = {
        {"bad magic", {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}, 10, "bad magic"},
        {"short file", {0x93, 'N', 'U'}, 3, "bad magic"},
        {"version 9", {0x93, 'N', 'U', 'M', 'P', 'Y', 9, 0, 0, 0}, 10, "version 9.0"},
        {"header past end", {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xFF, 0x7F}, 10, "past the end"},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        FILE *f = fopen(path, "wb");
        fwrite(raw[i].bytes, 1, raw[i].n, f);
        fclose(f);
        NpyArray a;
        SercErr err = {{0}};
        cr_expect_neq(npy_read(path, &a, &err), 0, "%s: accepted", raw[i].what);
        cr_expect(strstr(err.msg, raw[i].keyword), "%s: '%s' lacks '%s'", raw[i].what, err.msg, raw[i].keyword);
    }
    NpyArray a;
    SercErr err = {{0}};
    cr_expect_neq(npy_read("/nonexistent/x.npy", &a, &err), 0);
    cr_expect(strstr(err.msg, "/nonexistent/x.npy: cannot open"), "%s", err.msg);
    unlink(path);
    rmdir(tmpdir);
}
