/* Tests for `serc robust` (train/robust.h, train/noise.h) and `serc prepare noise`: the SNR of a mix
 * measured back over speech-active samples equals the target; noisy audio is a function of (seed,
 * noise, utterance) alone; reverberation changes the signal and keeps its length and level; the
 * protocol end to end on a checkpoint trained for a few epochs (three files with the right rows, the
 * same numbers on 0 and 2 loader threads, UA at -5 dB white not above clean); cross-corpus scoring
 * through a label mapping; and a bad-input table for both commands.
 *
 * The corpus and checkpoint are made once per run in the runner process (a PRE_ALL hook) and shared
 * with every test through the environment (SERC_ROBUST_FIXTURE). */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio.h"
#include "json.h"
#include "manifest.h"
#include "noise.h"
#include "robust.h"
#include "synth.h"
#include "testutil.h"
#include "trainer.h"

#define SR 16000

/* ---- helpers ---- */

static char *make_tmpdir(void) {
    char *t = strdup("/tmp/serc_robust_XXXXXX");
    cr_assert_not_null(mkdtemp(t));
    return t;
}

/* "Speech": 0.3 s bursts of a 5-harmonic tone at f0 Hz (amplitude ~0.3) every 0.5 s, and between them a
 * -70 dB floor of white noise, so 60% of the samples (whole 20 ms frames) are speech-active. */
static float *speech_like(int64_t n, double f0, uint64_t seed) {
    float *x = malloc((size_t)n * sizeof *x);
    noise_white(x, n, seed, 0);
    for (int64_t i = 0; i < n; i++) {
        const int64_t in_period = i % (SR / 2);
        if (in_period < (int64_t)(0.3 * SR)) {
            double t = (double)i / SR, v = 0, env = sin(M_PI * (double)in_period / (0.3 * SR));
            for (int h = 1; h <= 5; h++) v += sin(2 * M_PI * f0 * h * t) / h;
            x[i] = (float)(0.15 * (0.3 + 0.7 * env) * v);
        } else {
            x[i] *= 1e-4f;
        }
    }
    return x;
}

static void write_wav_f32(const char *path, const float *x, int64_t n, int sr) {
    SercErr err;
    cr_assert_eq(audio_write_wav(path, x, n, sr, AUDIO_FLOAT32, &err), 0, "%s", err.msg);
}

/* A speech manifest of 4 utterances by 2 speakers in dir/speech.jsonl (for babble). */
static Manifest *write_speech_manifest(const char *dir) {
    char path[600];
    Manifest *m = manifest_new(dir);
    for (int i = 0; i < 4; i++) {
        float *x = speech_like(SR, 110.0 + 40 * i, 100 + (uint64_t)i);
        snprintf(path, sizeof path, "%s/s%d.wav", dir, i);
        write_wav_f32(path, x, SR, SR);
        free(x);
        Utterance *u = manifest_append(m);
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        u->id = strdup(id);
        u->speaker = strdup(i % 2 ? "b" : "a");
        u->label = strdup("neutral");
        snprintf(path, sizeof path, "s%d.wav", i);
        manifest_set_audio(m, u, path);
    }
    SercErr err;
    snprintf(path, sizeof path, "%s/speech.jsonl", dir);
    cr_assert_eq(manifest_write(path, m, &err), 0, "%s", err.msg);
    return m;
}

/* Noise recordings: a 3 s brown-ish noise at 16 kHz, a 0.4 s one at 8 kHz (shorter than an utterance:
 * looped), and dir/noise.jsonl listing both (via noise_import). */
static void write_noise_folder(const char *dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/noise", dir);
    mkdir(path, 0777);
    float *x = malloc(3 * SR * sizeof *x);
    noise_white(x, 3 * SR, 77, 0);
    for (int i = 1; i < 3 * SR; i++) x[i] = 0.98f * x[i - 1] + 0.02f * x[i];
    snprintf(path, sizeof path, "%s/noise/street.wav", dir);
    write_wav_f32(path, x, 3 * SR, SR);
    noise_pink(x, 3200, 78, 0);
    for (int i = 0; i < 3200; i++) x[i] *= 0.05f;
    snprintf(path, sizeof path, "%s/noise/fan.wav", dir);
    write_wav_f32(path, x, 3200, 8000);
    free(x);
    Manifest *m;
    NoiseImportReport rep;
    SercErr err;
    char root[600], out[600];
    snprintf(root, sizeof root, "%s/noise", dir);
    snprintf(out, sizeof out, "%s/noise.jsonl", dir);
    cr_assert_eq(noise_import(root, out, &m, &rep, &err), 0, "%s", err.msg);
    cr_assert_eq(manifest_write(out, m, &err), 0, "%s", err.msg);
    manifest_free(m);
    noise_import_report_free(&rep);
}

/* Runs `serc ARGS` in dir, stdout and stderr to dir/out.txt and dir/err.txt; returns the exit status. */
static int run_serc(const char *dir, const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s > out.txt 2> err.txt", dir, SERC_BINARY, args);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "serc did not exit normally: %s", args);
    return WEXITSTATUS(st);
}

static char *read_in(const char *dir, const char *name) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return test_read_file(p, NULL);
}

/* ---- the shared corpus and checkpoint ---- */

/* The tiny preset with 4 classes (12 speakers x 16 utterances; 32 test utterances) and a small TDNN
 * trained for 6 epochs: FIXTURE/corpus/, FIXTURE/run/best.safetensors. On failure FIXTURE/FAILED holds
 * the message. */
static int build_fixture(const char *dir, SercErr *err) {
    char corpus[600], run[600], kv[1024];
    snprintf(corpus, sizeof corpus, "%s/corpus", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    SynthOptions o;
    if (synth_preset(&o, "tiny", err)) return -1;
    o.n_classes = 4;
    o.n_conditions = 0;
    o.out_dir = corpus;
    SynthReport rep;
    if (synth_render(&o, &rep, err)) return -1;
    TrainConfig cfg;
    config_default(&cfg);
    static const char *const base[] = {"data.n_mels=24", "data.max_seconds=1.5", "data.workers=2",
                                       "model.frontend=tdnn", "model.tdnn_dims=[32, 32]", "model.dim=32",
                                       "model.heads=4", "model.head_hidden=16", "model.proj_dim=16",
                                       "optim.batch=8", "optim.epochs=6", NULL};
    const char *parts[3][2] = {{"data.train", "train"}, {"data.dev", "dev"}, {"data.test", "test"}};
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++) {
        snprintf(kv, sizeof kv, "%s=%s/%s.jsonl", parts[i][0], corpus, parts[i][1]);
        rc = config_set(&cfg, kv, err);
    }
    snprintf(kv, sizeof kv, "run.out=%s", run);
    if (!rc) rc = config_set(&cfg, kv, err);
    for (int i = 0; base[i] && !rc; i++) rc = config_set(&cfg, base[i], err);
    if (!rc) rc = config_validate(&cfg, err);
    FILE *null = fopen("/dev/null", "w");
    TrainOptions topt = {NULL, 0, 1, null};
    TrainResult res;
    if (!rc) {
        rc = train_run(&cfg, &topt, &res, err);
        if (!rc) train_result_free(&res);
    }
    fclose(null);
    config_free(&cfg);
    return rc;
}

ReportHook(PRE_ALL)(struct criterion_test_set *set) {
    (void)set;
    if (getenv("SERC_ROBUST_FIXTURE")) return;
    /* one compute thread per process (inherited by the tests and the serc they run): the loader's
     * workers are what these tests vary, and OpenMP threads spinning on a busy machine cost 10x */
    setenv("SERC_THREADS", "1", 0);
    char dir[] = "/tmp/serc_robust_fixture_XXXXXX";
    if (!mkdtemp(dir)) return;
    SercErr err;
    if (build_fixture(dir, &err)) {
        char p[600];
        snprintf(p, sizeof p, "%s/FAILED", dir);
        FILE *f = fopen(p, "w");
        if (f) fprintf(f, "%s\n", err.msg), fclose(f);
    }
    setenv("SERC_ROBUST_FIXTURE", dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
    (void)stats;
    const char *dir = getenv("SERC_ROBUST_FIXTURE");
    if (dir && !strncmp(dir, "/tmp/serc_robust_fixture_", 25)) test_remove_tree(dir);
}

static const char *fixture(void) {
    const char *dir = getenv("SERC_ROBUST_FIXTURE");
    cr_assert_not_null(dir, "no fixture (the PRE_ALL hook did not run)");
    char p[600];
    snprintf(p, sizeof p, "%s/FAILED", dir);
    FILE *f = fopen(p, "r");
    if (f) {
        char msg[1024] = "";
        if (!fgets(msg, sizeof msg, f)) msg[0] = '\0';
        fclose(f);
        cr_assert_fail("fixture could not be built: %s", msg);
    }
    return dir;
}

/* ---- signal-level properties ---- */

Test(robust, snr_over_speech_active_samples_hits_the_target) {
    char *dir = make_tmpdir();
    Manifest *speech = write_speech_manifest(dir);
    write_noise_folder(dir);
    const int64_t n = 2 * SR;
    float *x = speech_like(n, 140.0, 5), *y = malloc((size_t)n * sizeof *y), *d = malloc((size_t)n * sizeof *d);
    uint8_t *active = malloc((size_t)n);
    const int64_t n_active = noise_speech_activity(x, n, SR, ROBUST_VAD_FRAME_S, ROBUST_VAD_THRESHOLD_DB, active);
    cr_expect_eq(n_active, 4 * (int64_t)(0.3 * SR), "the bursts and only they are active: %lld", (long long)n_active);
    char real[700];
    snprintf(real, sizeof real, "real:%s/noise.jsonl", dir);
    const char *specs[] = {"white", "pink", "hum", "babble", real};
    const double snrs[] = {20, 10, 5, 0, -5};
    SercErr err;
    for (int s = 0; s < 5; s++) {
        RobustSource *src = robust_source_new(specs[s], speech, SR, 1, &err);
        cr_assert_not_null(src, "%s: %s", specs[s], err.msg);
        for (int k = 0; k < 5; k++) {
            memcpy(y, x, (size_t)n * sizeof *y);
            cr_assert_eq(robust_corrupt(src, snrs[k], 2, y, n, &err), 0, "%s", err.msg);
            for (int64_t i = 0; i < n; i++) d[i] = y[i] - x[i];
            const double snr = 10 * log10(noise_power_active(x, active, n) / noise_power_active(d, active, n));
            cr_expect(fabs(snr - snrs[k]) < 0.1, "%s at %g dB: measured %.4f dB over speech-active samples", specs[s],
                      snrs[k], snr);
            /* over the whole file (silences included) the same mix reads lower: activity matters */
            const double whole = 10 * log10(noise_power(x, n) / noise_power(d, n));
            if (s != 2) cr_expect(whole < snrs[k] - 1, "%s: whole-file SNR %.2f", specs[s], whole);
        }
        robust_source_free(src);
    }
    free(x), free(y), free(d), free(active);
    manifest_free(speech);
    test_remove_tree(dir);
    free(dir);
}

/* x corrupted by spec (seed, utterance index) at 5 dB (RT60 0.5 s for reverb). */
static float *corrupted(const char *spec, const Manifest *speech, uint64_t seed, int32_t index, const float *x, int64_t n) {
    SercErr err;
    RobustSource *src = robust_source_new(spec, speech, SR, seed, &err);
    cr_assert_not_null(src, "%s: %s", spec, err.msg);
    float *y = malloc((size_t)n * sizeof *y);
    memcpy(y, x, (size_t)n * sizeof *y);
    cr_assert_eq(robust_corrupt(src, robust_source_kind(src) == ROBUST_REVERB ? 0.5 : 5.0, index, y, n, &err), 0, "%s", err.msg);
    robust_source_free(src);
    return y;
}

Test(robust, same_seed_same_bits_different_seed_or_utterance_differs) {
    char *dir = make_tmpdir();
    Manifest *speech = write_speech_manifest(dir);
    write_noise_folder(dir);
    const int64_t n = SR + 123;
    float *x = speech_like(n, 180.0, 9);
    char real[700];
    snprintf(real, sizeof real, "real:%s/noise.jsonl", dir);
    const char *specs[] = {"white", "pink", "hum", "babble", real, "reverb"};
    const size_t bytes = (size_t)n * sizeof(float);
    for (int s = 0; s < 6; s++) {
        float *a = corrupted(specs[s], speech, 1, 3, x, n), *b = corrupted(specs[s], speech, 1, 3, x, n);
        float *c = corrupted(specs[s], speech, 2, 3, x, n), *e = corrupted(specs[s], speech, 1, 0, x, n);
        cr_expect_eq(memcmp(a, b, bytes), 0, "%s: same seed and utterance, different bits", specs[s]);
        cr_expect_neq(memcmp(a, c, bytes), 0, "%s: another seed gave the same bits", specs[s]);
        cr_expect_neq(memcmp(a, e, bytes), 0, "%s: another utterance gave the same bits", specs[s]);
        cr_expect_neq(memcmp(a, x, bytes), 0, "%s: the signal was not changed", specs[s]);
        free(a), free(b), free(c), free(e);
    }
    free(x);
    manifest_free(speech);
    test_remove_tree(dir);
    free(dir);
}

Test(robust, reverb_changes_the_signal_and_keeps_length_and_level) {
    const int64_t n = SR;
    float *x = speech_like(n, 200.0, 4);
    const int guard = 64;
    float *y = malloc((size_t)(n + guard) * sizeof *y);
    memcpy(y, x, (size_t)n * sizeof *y);
    for (int i = 0; i < guard; i++) y[n + i] = 12345.0f;
    SercErr err;
    RobustSource *src = robust_source_new("reverb", NULL, SR, 1, &err);
    cr_assert_not_null(src, "%s", err.msg);
    cr_assert_eq(robust_corrupt(src, 0.6, 0, y, n, &err), 0, "%s", err.msg);
    for (int i = 0; i < guard; i++) cr_assert_eq(y[n + i], 12345.0f, "wrote past the end of the signal");
    double diff = 0;
    for (int64_t i = 0; i < n; i++) diff += fabs((double)y[i] - x[i]);
    cr_expect_gt(diff / n, 1e-3, "reverberation left the signal nearly unchanged");
    cr_expect(fabs(noise_power(y, n) / noise_power(x, n) - 1) < 1e-3, "level changed");
    /* the tail: just after the first burst (0.30-0.35 s) x is at its floor, y rings on */
    const int64_t a = (int64_t)(0.30 * SR), b = (int64_t)(0.35 * SR);
    cr_expect_gt(noise_power(y + a, b - a), 1000 * noise_power(x + a, b - a), "no reverberant tail");
    robust_source_free(src);
    free(x);
    free(y);
}

/* ---- the protocol on a trained checkpoint ---- */

static const JsonValue *model_rows(const JsonValue *root, int k) {
    const JsonValue *models = json_get(root, "models");
    cr_assert(models && json_len(models) > (size_t)k);
    return json_get(json_at(models, (size_t)k), "rows");
}

static double row_ua(const JsonValue *rows, const char *cond, double snr) {
    for (size_t i = 0; i < json_len(rows); i++) {
        const JsonValue *r = json_at(rows, i);
        const JsonValue *s = json_get(r, "snr_db");
        if (strcmp(json_string(json_get(r, "condition")), cond)) continue;
        if (isnan(snr) ? json_type(s) == JSON_NULL : (json_type(s) == JSON_NUMBER && json_number(s) == snr))
            return json_number(json_get(r, "ua"));
    }
    cr_assert_fail("no row %s %g", cond, snr);
    return 0;
}

static int count_of(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

Test(robust, protocol_end_to_end_writes_three_files_with_the_right_rows, .timeout = 0) {
    const char *fx = fixture();
    char *dir = make_tmpdir();
    write_noise_folder(dir);
    char args[4096];
    snprintf(args, sizeof args,
             "robust --ckpt %s/run/best.safetensors --ckpt %s/run/last.safetensors --name base --name last "
             "--manifest %s/corpus/test.jsonl --noise white,babble,real:noise.jsonl --snr 20,5,-5 --reverb --rt60 0.6 "
             "--cross %s/corpus/dev.jsonl --workers 2 --out out",
             fx, fx, fx, fx);
    int rc = run_serc(dir, args);
    char *err_txt = read_in(dir, "err.txt"), *out_txt = read_in(dir, "out.txt");
    cr_assert_eq(rc, 0, "serc robust failed: %s", err_txt);
    cr_expect(strstr(out_txt, "[base] white") && strstr(out_txt, "-5 dB") && strstr(out_txt, "[last] cross"),
              "no progress lines: %s", out_txt);
    char *md = read_in(dir, "out/robust.md"), *js = read_in(dir, "out/robust.json"), *svg = read_in(dir, "out/robust_ua.svg");
    /* Markdown: one row per condition, a column pair per model */
    cr_expect(strstr(md, "| condition | level | base UA | base macro-F1 | last UA | last macro-F1 |"), "%s", md);
    const char *rows[] = {"| clean | - |", "| white | 20 dB |", "| white | -5 dB |", "| babble | 5 dB |",
                          "| real:noise | -5 dB |", "| reverb | RT60 0.6 s |", "| cross-corpus: `"};
    for (int i = 0; i < 7; i++) cr_expect(strstr(md, rows[i]), "no row '%s' in\n%s", rows[i], md);
    cr_expect_eq(count_of(md, "\n| "), 2 + 1 + 9 + 1 + 1, "row count:\n%s", md);
    /* JSON: both models, 1 clean + 3 noises x 3 SNRs + 1 reverb + 1 cross rows */
    SercErr err;
    JsonValue *root = json_parse(js, strlen(js), &err);
    cr_assert_not_null(root, "robust.json does not parse: %s", err.msg);
    cr_expect_eq(json_len(json_get(root, "models")), 2);
    for (int k = 0; k < 2; k++) cr_expect_eq(json_len(model_rows(root, k)), 12);
    const JsonValue *r0 = model_rows(root, 0);
    const double clean = row_ua(r0, "clean", NAN), white_m5 = row_ua(r0, "white", -5);
    cr_expect(white_m5 <= clean, "UA at -5 dB white %.4f above clean %.4f", white_m5, clean);
    const JsonValue *cross = json_get(json_at(json_get(root, "models"), 0), "cross_labels");
    cr_expect(cross && json_bool(json_get(cross, "identity")), "cross mapping not written out");
    /* SVG: one line per model and additive noise (reverb and cross are not on the SNR axis) */
    cr_expect(!strncmp(svg, "<?xml", 5) && strstr(svg, "</svg>"));
    cr_expect_eq(count_of(svg, "<polyline"), 2 * 3, "%s", svg);
    cr_expect(strstr(svg, "base / real:noise") && strstr(svg, ">clean</text>"));
    json_free(root);
    free(md), free(js), free(svg), free(err_txt), free(out_txt);
    test_remove_tree(dir);
    free(dir);
}

/* The same rows, to the bit, on 0 and 2 loader threads. */
Test(robust, results_do_not_depend_on_the_worker_count, .timeout = 0) {
    const char *fx = fixture();
    char ckpt[600], test[600];
    snprintf(ckpt, sizeof ckpt, "%s/run/best.safetensors", fx);
    snprintf(test, sizeof test, "%s/corpus/test.jsonl", fx);
    RobustReport rep[2];
    for (int w = 0; w < 2; w++) {
        RobustOptions o;
        robust_options_default(&o);
        o.ckpt[0] = ckpt, o.n_models = 1, o.manifest = test;
        o.noise[0] = "pink", o.noise[1] = "babble", o.n_noise = 2;
        o.snr_db[0] = 0, o.n_snr = 1;
        o.rt60_s[0] = 0.4, o.n_rt60 = 1;
        o.workers = 2 * w;
        SercErr err;
        cr_assert_eq(robust_run(&o, &rep[w], &err), 0, "%s", err.msg);
    }
    cr_assert_eq(rep[0].models[0].n_rows, 4);
    for (int j = 0; j < 4; j++) {
        const RobustRow *a = &rep[0].models[0].rows[j], *b = &rep[1].models[0].rows[j];
        cr_expect(a->ua == b->ua && a->macro_f1 == b->macro_f1 && a->utterances == b->utterances,
                  "%s: UA %.6f vs %.6f", a->condition, a->ua, b->ua);
    }
    robust_report_free(&rep[0]);
    robust_report_free(&rep[1]);
}

/* A copy of the dev manifest with short label names; the first `fru` utterances get the label "fru". */
static void write_renamed(const char *src, const char *dst, int fru) {
    SercErr err;
    Manifest *m = manifest_read(src, &err);
    cr_assert_not_null(m, "%s", err.msg);
    static const char *const LONG[] = {"neutral", "happy", "sad", "angry"}, *const SHORT[] = {"neu", "hap", "sad", "ang"};
    for (int i = 0; i < m->n; i++) {
        Utterance *u = &m->utts[i];
        for (int c = 0; c < 4; c++)
            if (u->label && !strcmp(u->label, LONG[c])) {
                free(u->label);
                u->label = strdup(i < fru ? "fru" : SHORT[c]);
                break;
            }
        for (int d = 0; d < u->n_dist; d++) free(u->label_dist[d].name);
        free(u->label_dist);
        u->label_dist = NULL, u->n_dist = 0;
    }
    cr_assert_eq(manifest_write(dst, m, &err), 0, "%s", err.msg);
    manifest_free(m);
}

static RobustRow cross_row(const char *ckpt, const char *test, const char *cross, const char *map, RobustMapping *mp) {
    RobustOptions o;
    robust_options_default(&o);
    o.ckpt[0] = ckpt, o.n_models = 1, o.manifest = test, o.n_noise = 0, o.cross = cross, o.map = map, o.workers = 0;
    RobustReport rep;
    SercErr err;
    cr_assert_eq(robust_run(&o, &rep, &err), 0, "%s", err.msg);
    const RobustModel *md = &rep.models[0];
    cr_assert_eq(md->n_rows, 2);
    cr_assert_str_eq(md->rows[1].condition, "cross");
    RobustRow r = md->rows[1];
    /* keep what the caller checks */
    mp->kept = md->cross_map.kept, mp->skipped = md->cross_map.skipped, mp->identity = md->cross_map.identity;
    robust_report_free(&rep);
    return r;
}

Test(robust, cross_corpus_through_a_label_mapping, .timeout = 0) {
    const char *fx = fixture();
    char *dir = make_tmpdir();
    char ckpt[600], test[600], dev[600], renamed[700], fru[700], mapfile[700];
    snprintf(ckpt, sizeof ckpt, "%s/run/best.safetensors", fx);
    snprintf(test, sizeof test, "%s/corpus/test.jsonl", fx);
    snprintf(dev, sizeof dev, "%s/corpus/dev.jsonl", fx);
    snprintf(renamed, sizeof renamed, "%s/renamed.jsonl", dir);
    snprintf(fru, sizeof fru, "%s/fru.jsonl", dir);
    snprintf(mapfile, sizeof mapfile, "%s/map.txt", dir);
    write_renamed(dev, renamed, 0);
    write_renamed(dev, fru, 5);
    test_put_file(dir, "map.txt", "# renamed corpus -> checkpoint\nneu = neutral\nhap=happy\nsad=sad\nang=angry\nfru=-\n");
    RobustMapping a = {0}, b = {0}, c = {0}, d = {0};
    /* the identity on the original names and the mapping on the renamed copy score the same */
    RobustRow same = cross_row(ckpt, test, dev, NULL, &a);
    RobustRow mapped = cross_row(ckpt, test, renamed, "neu=neutral,hap=happy,sad=sad,ang=angry", &b);
    cr_expect(a.identity && !b.identity);
    cr_expect_eq(same.utterances, mapped.utterances);
    cr_expect(same.ua == mapped.ua && same.macro_f1 == mapped.macro_f1, "UA %.6f vs %.6f", same.ua, mapped.ua);
    /* a label mapped to nothing is skipped and counted (mapping from a file) */
    RobustRow skipped = cross_row(ckpt, test, fru, mapfile, &c);
    cr_expect_eq(c.skipped, 5);
    cr_expect_eq(skipped.utterances, same.utterances - 5);
    /* the default identity on the renamed copy keeps only the shared name, sad */
    cross_row(ckpt, test, renamed, NULL, &d);
    cr_expect_gt(d.kept, 0);
    cr_expect_eq(d.kept + d.skipped, same.utterances);
    /* the mapping is written out in the report */
    char args[4096];
    snprintf(args, sizeof args, "robust --ckpt %s --manifest %s --noise none --cross %s --map %s --out out", ckpt, test,
             fru, mapfile);
    cr_assert_eq(run_serc(dir, args), 0, "%s", read_in(dir, "err.txt"));
    char *md = read_in(dir, "out/robust.md"), *js = read_in(dir, "out/robust.json");
    cr_expect(strstr(md, "`neu` -> `neutral`") && strstr(md, "`fru` -> nothing (5)"), "%s", md);
    cr_expect(strstr(js, "\"fru\": null") && strstr(js, "\"skipped_unmapped\": 5"), "%s", js);
    free(md), free(js);
    test_remove_tree(dir);
    free(dir);
}

/* ---- bad input ---- */

Test(robust, bad_input_fails_with_a_clear_message, .timeout = 0) {
    const char *fx = fixture();
    char *dir = make_tmpdir();
    char renamed[700];
    snprintf(renamed, sizeof renamed, "%s/fru.jsonl", dir);
    char dev[600];
    snprintf(dev, sizeof dev, "%s/corpus/dev.jsonl", fx);
    write_renamed(dev, renamed, 3);
    char empty[700];
    snprintf(empty, sizeof empty, "%s/empty", dir);
    mkdir(empty, 0777);
    test_put_file(dir, "broken/bad.wav", "RIFF....WAVEfmt this is not audio\n");
    test_put_file(dir, "bad_noise.jsonl", "{\"id\": \"bad\", \"audio\": \"broken/bad.wav\"}\n");
    test_put_file(dir, "empty_noise.jsonl", "");
    char base[2048];
    snprintf(base, sizeof base, "robust --ckpt %s/run/best.safetensors --manifest %s/corpus/test.jsonl --out out", fx, fx);
    const struct {
        const char *extra; /* appended to base, or a whole command when it starts with '!' */
        int status;
        const char *message;
    } cases[] = {
        {"!MISSING", 1, "/nonexistent/model.safetensors"},
        {"--cross fru.jsonl --map neu=neutral,hap=happy,sad=sad,ang=angry", 1, "label 'fru' is not in the label mapping"},
        {"--cross fru.jsonl --map neu=calm,fru=-", 1, "'calm' is not a class of the checkpoint"},
        {"--cross fru.jsonl --map nosuchfile.txt", 1, "nosuchfile.txt: cannot read"},
        {"--cross fru.jsonl --map neu=neutral,neu=sad", 1, "label 'neu' is mapped twice"},
        {"--snr 10,abc", 2, "'abc' is not a number"},
        {"--snr 10,10", 2, "10 is given twice"},
        {"--snr 100", 2, "outside [-30, 60]"},
        {"--snr ''", 2, "empty list"},
        {"--noise purple", 2, "unknown noise 'purple'"},
        {"--noise real:empty_noise.jsonl", 1, "empty_noise.jsonl"},
        {"--noise real:bad_noise.jsonl", 1, "bad_noise.jsonl:1: noise 'bad'"},
        {"--map a=b", 2, "--map needs --cross"},
        {"--name a --name b", 2, "give one name per checkpoint"},
        {"--rt60 0", 2, "outside [0.05, 5]"},
        {"!prepare noise --root empty --out n.jsonl", 1, "no audio files"},
        {"!prepare noise --root broken --out n.jsonl", 1, "none of the 1 audio files could be read"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[4096];
        const char *extra = cases[i].extra, *message = cases[i].message;
        if (!strcmp(extra, "!MISSING"))
            snprintf(args, sizeof args, "robust --ckpt /nonexistent/model.safetensors --manifest %s/corpus/test.jsonl --out out", fx);
        else if (extra[0] == '!') snprintf(args, sizeof args, "%s", extra + 1);
        else snprintf(args, sizeof args, "%s %s", base, extra);
        int rc = run_serc(dir, args);
        char *e = read_in(dir, "err.txt");
        cr_expect_eq(rc, cases[i].status, "%s: exit %d, expected %d (%s)", args, rc, cases[i].status, e);
        cr_expect(strstr(e, message) != NULL, "%s: message '%s' lacks '%s'", args, e, message);
        free(e);
    }
    test_remove_tree(dir);
    free(dir);
}

Test(robust, prepare_noise_lists_readable_files_and_reports_broken_ones) {
    char *dir = make_tmpdir();
    char p[700];
    float *x = speech_like(SR / 2, 100, 1);
    snprintf(p, sizeof p, "%s/musan/noise/free-sound", dir);
    test_put_file(dir, "musan/noise/free-sound/README", "not audio, not listed\n");
    snprintf(p, sizeof p, "%s/musan/noise/free-sound/a.wav", dir);
    write_wav_f32(p, x, SR / 2, SR);
    snprintf(p, sizeof p, "%s/musan/noise/free-sound/b.WAV", dir);
    write_wav_f32(p, x, SR / 4, 8000);
    snprintf(p, sizeof p, "%s/musan/noise/c.flac", dir);
    SercErr err;
    cr_assert_eq(audio_write_wav(p, x, SR / 2, SR, AUDIO_PCM16, &err), 0, "%s", err.msg); /* WAV content, .flac name */
    test_put_file(dir, "musan/noise/broken.wav", "RIFF\x10\0\0\0WAVEjunk");
    free(x);
    int rc = run_serc(dir, "prepare noise --root musan --out data/noise.jsonl");
    char *out = read_in(dir, "out.txt"), *e = read_in(dir, "err.txt");
    cr_assert_eq(rc, 0, "%s", e);
    cr_expect(strstr(out, "skipped (unreadable): musan/noise/broken.wav"), "%s", out);
    cr_expect(strstr(out, "3 noise files") && strstr(out, "of 4 found, 1 unreadable skipped"), "%s", out);
    snprintf(p, sizeof p, "%s/data/noise.jsonl", dir);
    Manifest *m = manifest_read(p, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(m->n, 3);
    cr_expect_str_eq(m->utts[0].id, "noise/c");
    cr_expect_str_eq(m->utts[1].id, "noise/free-sound/a");
    cr_expect_str_eq(m->utts[2].id, "noise/free-sound/b");
    cr_expect_str_eq(m->utts[1].audio, "../musan/noise/free-sound/a.wav");
    cr_expect(m->utts[1].has_end && fabs(m->utts[1].end - 0.5) < 1e-9, "duration %g", m->utts[1].end);
    cr_expect(fabs(m->utts[2].end - 0.5) < 1e-9, "8 kHz file: duration %g", m->utts[2].end);
    cr_expect_str_eq(m->utts[0].corpus, "noise");
    manifest_free(m);
    free(out), free(e);
    test_remove_tree(dir);
    free(dir);
}

/* --write: the noisy sets as WAV files and manifests, at the SNR asked over speech-active samples. */
Test(robust, write_noisy_sets_as_wav_and_manifests, .timeout = 0) {
    const char *fx = fixture();
    char *dir = make_tmpdir();
    char args[4096];
    snprintf(args, sizeof args,
             "robust --ckpt %s/run/best.safetensors --manifest %s/corpus/test.jsonl --noise pink --snr 5 --rt60 0.5 "
             "--workers 0 --write noisy --out out",
             fx, fx);
    cr_assert_eq(run_serc(dir, args), 0, "%s", read_in(dir, "err.txt"));
    char p[700];
    SercErr err;
    snprintf(p, sizeof p, "%s/corpus/test.jsonl", fx);
    Manifest *clean = manifest_read(p, &err);
    cr_assert_not_null(clean, "%s", err.msg);
    snprintf(p, sizeof p, "%s/noisy/test_pink_5dB.jsonl", dir);
    Manifest *noisy = manifest_read(p, &err);
    cr_assert_not_null(noisy, "%s", err.msg);
    snprintf(p, sizeof p, "%s/noisy/test_reverb_0.5s.jsonl", dir);
    Manifest *rev = manifest_read(p, &err);
    cr_assert_not_null(rev, "%s", err.msg);
    cr_assert_eq(noisy->n, clean->n);
    cr_assert_eq(rev->n, clean->n);
    for (int i = 0; i < clean->n; i += 7) {
        cr_expect_str_eq(noisy->utts[i].id, clean->utts[i].id);
        cr_expect_str_eq(noisy->utts[i].condition, "pink@5dB");
        cr_expect_str_eq(noisy->utts[i].label, clean->utts[i].label);
        float *x, *y, *z;
        int64_t nx, ny, nz;
        int sr;
        cr_assert_eq(audio_load(clean->utts[i].audio_path, 0, -1, SR, &x, &nx, &sr, &err), 0, "%s", err.msg);
        cr_assert_eq(audio_load(noisy->utts[i].audio_path, 0, -1, SR, &y, &ny, &sr, &err), 0, "%s", err.msg);
        cr_assert_eq(audio_load(rev->utts[i].audio_path, 0, -1, SR, &z, &nz, &sr, &err), 0, "%s", err.msg);
        cr_assert_eq(ny, nx);
        cr_assert_eq(nz, nx, "reverberation changed the length");
        uint8_t *active = malloc((size_t)nx);
        noise_speech_activity(x, nx, SR, ROBUST_VAD_FRAME_S, ROBUST_VAD_THRESHOLD_DB, active);
        for (int64_t t = 0; t < nx; t++) y[t] -= x[t];
        const double snr = 10 * log10(noise_power_active(x, active, nx) / noise_power_active(y, active, nx));
        cr_expect(fabs(snr - 5) < 0.1, "%s: %.3f dB in the written file", noisy->utts[i].id, snr);
        free(x), free(y), free(z), free(active);
    }
    manifest_free(clean);
    manifest_free(noisy);
    manifest_free(rev);
    test_remove_tree(dir);
    free(dir);
}
