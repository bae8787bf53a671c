/* Tests for `serc features MANIFEST.jsonl --out FILE.safetensors`: the built binary (SERC_BINARY) runs on a
 * small manifest of generated WAVs (one with a start/end segment, one at 22.05 kHz that gets resampled)
 * and the safetensors file it writes is checked: tensor names, shapes (frames = mel_num_frames of the
 * segment), values equal to mel_plan_compute on the same decoded audio, metadata. A bad file is skipped
 * and counted (exit 0), --strict stops with the manifest line and the file named (exit 1, no output). */
#include <criterion/criterion.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio.h"
#include "json.h"
#include "mel.h"
#include "safetensors.h"

static char g_dir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void) {
    if (g_dir[0]) nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
TestSuite(features_cli, .fini = cleanup);

static char *path_in(const char *name) {
    size_t n = strlen(g_dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", g_dir, name);
    return p;
}

/* Noise plus two tones, seeded, in [-0.5, 0.5]. */
static void write_wav(const char *name, double seconds, int sr, unsigned seed) {
    int64_t n = (int64_t)(seconds * sr);
    float *x = malloc(sizeof(float) * (size_t)n);
    unsigned s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        double noise = ((double)(s >> 8) / 16777216.0 - 0.5) * 0.1;
        x[i] = (float)(0.2 * sin(2 * M_PI * 440.0 * (double)i / sr) + 0.15 * sin(2 * M_PI * (1000.0 + 100 * seed) * (double)i / sr) + noise);
    }
    char *p = path_in(name);
    SercErr err = {{0}};
    cr_assert_eq(audio_write_wav(p, x, n, sr, AUDIO_PCM16, &err), 0, "%s", err.msg);
    free(p);
    free(x);
}

static void write_text(const char *name, const char *text) {
    char *p = path_in(name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
    free(p);
}

static char *read_text(const char *name) {
    char *p = path_in(name);
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f, "%s", p);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    free(p);
    return buf;
}

/* Runs `serc features ARGS` in g_dir with stdout/stderr to out.txt/err.txt; returns the exit status. */
static int run_serc(const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' features %s > out.txt 2> err.txt", g_dir, SERC_BINARY, args);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "serc did not exit normally");
    return WEXITSTATUS(st);
}

static void make_corpus(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/serc_featcli_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    write_wav("a.wav", 1.0, 16000, 1);
    write_wav("b.wav", 2.0, 16000, 2);    /* used as the segment [0.25, 1.5) */
    write_wav("c.wav", 0.8, 22050, 3);    /* resampled to 16 kHz */
    write_text("bad.wav", "this is a text file, not audio\n");
}

/* Checks tensor `id` of f against mel_plan_compute on audio_load(file, start, end) at the plan's rate. */
static void check_tensor(const SafetensorsFile *f, const MelPlan *plan, const char *id, const char *file, double start,
                         double end) {
    const MelConfig *cfg = mel_plan_config(plan);
    int i = safetensors_find(f, id);
    cr_assert_geq(i, 0, "no tensor '%s'", id);
    cr_assert_eq(safetensors_dtype(f, i), SERC_F32);
    cr_assert_eq(safetensors_ndim(f, i), 2);
    char *p = path_in(file);
    float *x;
    int64_t n;
    int sr;
    SercErr err = {{0}};
    cr_assert_eq(audio_load(p, start, end, cfg->sample_rate, &x, &n, &sr, &err), 0, "%s", err.msg);
    free(p);
    if (end > 0 && sr == 16000) cr_assert_eq(n, (int64_t)llround((end - start) * 16000)); /* the segment's length */
    int64_t frames = mel_num_frames(cfg, n);
    int nf = mel_num_features(cfg);
    cr_assert_eq(safetensors_shape(f, i)[0], frames, "%s: %lld frames, expected %lld", id,
                 (long long)safetensors_shape(f, i)[0], (long long)frames);
    cr_assert_eq(safetensors_shape(f, i)[1], nf);
    float *ref = malloc(sizeof(float) * (size_t)(frames * nf));
    mel_plan_compute(plan, x, n, ref);
    const float *got = safetensors_data(f, i);
    cr_assert_eq(safetensors_nbytes(f, i), sizeof(float) * (size_t)(frames * nf));
    for (int64_t k = 0; k < frames * nf; k++) {
        float g;
        memcpy(&g, (const char *)got + 4 * k, 4);
        cr_assert_eq(g, ref[k], "%s: element %lld: %.9g vs %.9g", id, (long long)k, g, ref[k]);
    }
    free(ref);
    free(x);
}

Test(features_cli, manifest_to_safetensors) {
    make_corpus();
    write_text("m.jsonl", "{\"id\": \"utt_a\", \"audio\": \"a.wav\"}\n"
                          "{\"id\": \"utt_b\", \"audio\": \"b.wav\", \"start\": 0.25, \"end\": 1.5}\n"
                          "{\"id\": \"utt_c\", \"audio\": \"c.wav\"}\n");
    cr_assert_eq(run_serc("--preset kaldi --n-mels 40 --workers 2 --progress 1 m.jsonl --out f.safetensors"), 0, "%s",
                 read_text("err.txt"));
    const char *out = read_text("out.txt");
    cr_assert(strstr(out, "3 tensors (frames, 40), 0 skipped"), "%s", out);
    cr_assert(strstr(out, "realtime"), "%s", out);
    char *p = path_in("f.safetensors");
    SercErr err = {{0}};
    SafetensorsFile *f = safetensors_open(p, &err);
    cr_assert_not_null(f, "%s", err.msg);
    free(p);
    cr_assert_eq(safetensors_count(f), 3);
    MelConfig cfg;
    cr_assert_eq(mel_config_preset("kaldi", &cfg, &err), 0);
    cfg.n_mels = 40;
    MelPlan *plan = mel_plan_new(&cfg, &err);
    cr_assert_not_null(plan, "%s", err.msg);
    check_tensor(f, plan, "utt_a", "a.wav", 0.0, -1.0);
    check_tensor(f, plan, "utt_b", "b.wav", 0.25, 1.5);
    check_tensor(f, plan, "utt_c", "c.wav", 0.0, -1.0);
    /* the segment: 1.25 s at 16 kHz = 20000 samples -> 1 + (20000 - 400) / 160 = 123 frames */
    cr_assert_eq(safetensors_shape(f, safetensors_find(f, "utt_b"))[0], 123);
    cr_assert_str_eq(safetensors_metadata(f, "preset"), "kaldi");
    cr_assert_str_eq(safetensors_metadata(f, "n_mels"), "40");
    cr_assert_str_eq(safetensors_metadata(f, "sample_rate"), "16000");
    cr_assert_str_eq(safetensors_metadata(f, "skipped"), "0");
    const char *mc = safetensors_metadata(f, "mel_config");
    cr_assert_not_null(mc);
    JsonValue *j = json_parse(mc, strlen(mc), &err);
    cr_assert_not_null(j, "mel_config is not JSON: %s", err.msg);
    cr_assert_eq(json_int(json_get(j, "n_fft")), 512);
    cr_assert_eq(json_int(json_get(j, "win_length")), 400);
    cr_assert_eq(json_int(json_get(j, "n_mels")), 40);
    cr_assert_str_eq(json_string(json_get(j, "window")), "povey");
    json_free(j);
    mel_plan_free(plan);
    safetensors_close(f);
}

Test(features_cli, bad_file_skipped_and_counted) {
    make_corpus();
    write_text("m.jsonl", "{\"id\": \"utt_a\", \"audio\": \"a.wav\"}\n"
                          "{\"id\": \"broken\", \"audio\": \"bad.wav\"}\n"
                          "{\"id\": \"gone\", \"audio\": \"missing.wav\"}\n"
                          "{\"id\": \"utt_c\", \"audio\": \"c.wav\"}\n");
    cr_assert_eq(run_serc("--preset torchaudio m.jsonl --out f.safetensors"), 0, "%s", read_text("err.txt"));
    const char *e = read_text("err.txt");
    cr_assert(strstr(e, "m.jsonl:2: utterance 'broken'") && strstr(e, "bad.wav"), "%s", e);
    cr_assert(strstr(e, "m.jsonl:3: utterance 'gone'") && strstr(e, "missing.wav"), "%s", e);
    cr_assert(strstr(read_text("out.txt"), "2 tensors (frames, 128), 2 skipped"), "%s", read_text("out.txt"));
    char *p = path_in("f.safetensors");
    SercErr err = {{0}};
    SafetensorsFile *f = safetensors_open(p, &err);
    cr_assert_not_null(f, "%s", err.msg);
    free(p);
    cr_assert_eq(safetensors_count(f), 2);
    cr_assert_geq(safetensors_find(f, "utt_a"), 0);
    cr_assert_geq(safetensors_find(f, "utt_c"), 0);
    cr_assert_eq(safetensors_find(f, "broken"), -1);
    cr_assert_str_eq(safetensors_metadata(f, "skipped"), "2");
    cr_assert_str_eq(safetensors_metadata(f, "utterances"), "2");
    safetensors_close(f);
}

Test(features_cli, strict_fails_naming_the_file) {
    make_corpus();
    write_text("m.jsonl", "{\"id\": \"utt_a\", \"audio\": \"a.wav\"}\n"
                          "{\"id\": \"broken\", \"audio\": \"bad.wav\"}\n");
    cr_assert_eq(run_serc("--preset kaldi --strict --workers 1 m.jsonl --out f.safetensors"), 1);
    const char *e = read_text("err.txt");
    cr_assert(strstr(e, "m.jsonl:2: utterance 'broken'"), "%s", e);
    cr_assert(strstr(e, "bad.wav: not a recognised audio format"), "%s", e);
    char *p = path_in("f.safetensors");
    cr_assert_neq(access(p, F_OK), 0, "--strict must not write the output");
    free(p);
}

Test(features_cli, usage_errors) {
    make_corpus();
    write_text("m.jsonl", "{\"id\": \"utt_a\", \"audio\": \"a.wav\"}\n");
    cr_assert_eq(run_serc("--preset kaldi m.jsonl a.wav --out f.safetensors"), 2); /* manifest must be alone */
    cr_assert_eq(run_serc("--preset kaldi --strict a.wav --out feats"), 2);         /* manifest-only option */
    cr_assert_eq(run_serc("--preset kaldi --workers 0 m.jsonl --out f.safetensors"), 2);
    /* every utterance bad: nothing written, exit 1 */
    write_text("bad.jsonl", "{\"id\": \"broken\", \"audio\": \"bad.wav\"}\n");
    cr_assert_eq(run_serc("--preset kaldi bad.jsonl --out g.safetensors"), 1);
    /* the .wav mode is unchanged */
    cr_assert_eq(run_serc("--preset kaldi a.wav --out feats"), 0, "%s", read_text("err.txt"));
    char *p = path_in("feats/a.npy");
    cr_assert_eq(access(p, F_OK), 0);
    free(p);
}
