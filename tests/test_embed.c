/* `serc embed` (the built binary, SERC_BINARY) against transformers: each item run alone through tiny
 * random-weight speech and text encoders (tests/fixtures/make_embed_fixtures.py), the layer selection,
 * manifest input with its ids, and the table of bad inputs (no output file left behind). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "featcache.h"
#include "safetensors.h"
#include "testutil.h"

#define FIX SERC_FIXTURES_DIR "/embed"

static char g_dir[64];

static void make_dir(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/serc_embed_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
}

static int run_embed(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' embed --quiet %s > out.txt 2> err.txt", g_dir, SERC_BINARY, args);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "serc did not exit normally");
    return WEXITSTATUS(st);
}

static char *err_text(void) {
    char p[128];
    snprintf(p, sizeof p, "%s/err.txt", g_dir);
    return test_read_file(p, NULL);
}

/* Every tensor of want is in got with the same shape, within 1e-4 relative (f32) or equal (i64). */
static void expect_close(const char *got_path, const char *want_path, int n_want_min) {
    SercErr err;
    SafetensorsFile *g = safetensors_open(got_path, &err), *w = safetensors_open(want_path, &err);
    cr_assert(g && w, "%s", err.msg);
    cr_assert_geq(safetensors_count(w), n_want_min);
    cr_expect_eq(safetensors_count(g), safetensors_count(w), "tensor counts %d and %d", safetensors_count(g),
                 safetensors_count(w));
    for (int i = 0; i < safetensors_count(w); i++) {
        const char *name = safetensors_name(w, i);
        int j = safetensors_find(g, name);
        cr_assert_geq(j, 0, "%s missing", name);
        cr_assert_eq(safetensors_ndim(g, j), safetensors_ndim(w, i), "%s rank", name);
        for (int d = 0; d < safetensors_ndim(w, i); d++)
            cr_assert_eq(safetensors_shape(g, j)[d], safetensors_shape(w, i)[d], "%s shape[%d]", name, d);
        int64_t n = safetensors_numel(w, i);
        if (safetensors_dtype(w, i) == SERC_I64) {
            cr_assert_eq(safetensors_dtype(g, j), SERC_I64, "%s dtype", name);
            cr_expect_eq(memcmp(safetensors_data(g, j), safetensors_data(w, i), (size_t)n * 8), 0, "%s differs", name);
            continue;
        }
        const float *a = safetensors_data(g, j), *b = safetensors_data(w, i);
        double worst = 0;
        for (int64_t k = 0; k < n; k++) {
            double d = fabs((double)a[k] - b[k]) / fmax(1.0, fabs((double)b[k]));
            if (d > worst) worst = d;
        }
        cr_expect_leq(worst, 1e-4, "%s: relative difference %g", name, worst);
    }
    safetensors_close(g);
    safetensors_close(w);
}

Test(embed, speech_items_match_transformers, .init = make_dir) {
    const char *models[] = {"wavlm_base", "w2v2_base"};
    for (int k = 0; k < 2; k++) {
        char args[1024], got[256], want[256];
        snprintf(args, sizeof args, "--encoder %s/ssl/%s %s/a.wav %s/b.wav --out %s.safetensors", SERC_FIXTURES_DIR,
                 models[k], FIX, FIX, models[k]);
        cr_assert_eq(run_embed(args), 0, "%s", err_text());
        snprintf(got, sizeof got, "%s/%s.safetensors", g_dir, models[k]);
        snprintf(want, sizeof want, "%s/speech_%s.safetensors", FIX, models[k]);
        expect_close(got, want, 6);
    }
}

Test(embed, text_lines_match_transformers, .init = make_dir) {
    char args[1024], got[256];
    snprintf(args, sizeof args, "--encoder %s/text/tiny_bert --text %s/lines.txt --out t.safetensors", SERC_FIXTURES_DIR, FIX);
    cr_assert_eq(run_embed(args), 0, "%s", err_text());
    snprintf(got, sizeof got, "%s/t.safetensors", g_dir);
    expect_close(got, FIX "/text.safetensors", 9);
    SercErr err;
    SafetensorsFile *f = safetensors_open(got, &err);
    cr_assert(f, "%s", err.msg);
    cr_expect_str_eq(safetensors_metadata(f, "serc.kind"), "text");
    cr_expect_str_eq(safetensors_metadata(f, "serc.ids"), "[\"line 1\",\"line 2\",\"line 3\"]");
    safetensors_close(f);
}

/* A manifest input is a features file for training: ids, frame rate, the selected layers only. */
Test(embed, manifest_input_gives_a_features_cache, .init = make_dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/m.jsonl", g_dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"id\": \"utt-b\", \"audio\": \"%s/b.wav\", \"label\": \"x\"}\n", FIX);
    fprintf(f, "{\"id\": \"utt-a\", \"audio\": \"%s/a.wav\", \"label\": \"y\", \"start\": 0.05, \"end\": 0.2}\n", FIX);
    fprintf(f, "{\"id\": \"utt-c\", \"audio\": \"%s/c.wav\", \"label\": \"x\"}\n", FIX);
    fclose(f);
    char args[1024];
    snprintf(args, sizeof args, "--encoder %s/ssl/wavlm_base --layers 0,-1 --manifest m.jsonl --out c.safetensors",
             SERC_FIXTURES_DIR);
    cr_assert_eq(run_embed(args), 0, "%s", err_text());
    snprintf(path, sizeof path, "%s/c.safetensors", g_dir);
    SercErr err;
    FeatureCache *c = featcache_open(path, "0,3", &err);
    cr_assert(c, "%s", err.msg);
    cr_expect_eq(c->num_hidden, 4);
    cr_expect_eq(c->dim, 32);
    cr_expect_eq(c->frame_rate, 200.0); /* 16 kHz over strides 5 * 4 * 4 */
    cr_expect_eq(featcache_find(c, "utt-b"), 0);
    cr_expect_eq(featcache_find(c, "utt-a"), 1);
    cr_expect_eq(featcache_find(c, "utt-c"), 2);
    /* 2080 samples -> 25 frames; the segment 0.05-0.2 s = 2400 samples -> 29 frames; c.wav 0.25 s at 22.05 kHz
     * resampled to 4000 samples -> 49 frames */
    cr_expect_eq(featcache_frames(c, 0), 25);
    cr_expect_eq(featcache_frames(c, 1), 29);
    cr_expect_eq(featcache_frames(c, 2), 49);
    cr_expect_eq(safetensors_count(c->f), 6, "only layers 0 and 3 written");
    featcache_close(c);
    cr_expect_null(featcache_open(path, "1", &err), "layer 1 was not written");
}

typedef struct BadEmbed {
    const char *what, *args, *expect;
    int status;
} BadEmbed;

static const BadEmbed bad[] = {
    {"no encoder", "x.wav --out o.safetensors", "--encoder is required", 2},
    {"no inputs", "--encoder " SERC_FIXTURES_DIR "/ssl/wavlm_base --out o.safetensors", "exactly one", 2},
    {"encoder folder missing", "--encoder /nonexistent/enc x.wav --out o.safetensors", "/nonexistent/enc/config.json", 1},
    {"text encoder on audio", "--encoder " SERC_FIXTURES_DIR "/text/tiny_bert " FIX "/a.wav --out o.safetensors",
     "is a text encoder", 2},
    {"speech encoder on text", "--encoder " SERC_FIXTURES_DIR "/ssl/wavlm_base --text " FIX "/lines.txt --out o.safetensors",
     "is a speech encoder", 2},
    {"missing audio file", "--encoder " SERC_FIXTURES_DIR "/ssl/wavlm_base " FIX "/a.wav nothere.wav --out o.safetensors",
     "nothere.wav", 1},
    {"text file, not audio", "--encoder " SERC_FIXTURES_DIR "/ssl/wavlm_base " FIX "/lines.txt --out o.safetensors",
     "lines.txt", 1},
    {"bad layer list", "--encoder " SERC_FIXTURES_DIR "/ssl/wavlm_base --layers 9 " FIX "/a.wav --out o.safetensors",
     "index out of range", 1},
    {"unsupported model type", "--encoder " SERC_FIXTURES_DIR "/mbpls " FIX "/a.wav --out o.safetensors", "config.json", 1},
};

ParameterizedTestParameters(embed, bad_inputs) {
    static int idx[sizeof bad / sizeof bad[0]];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) idx[i] = (int)i;
    return cr_make_param_array(int, idx, sizeof idx / sizeof idx[0]);
}

ParameterizedTest(int *i, embed, bad_inputs, .init = make_dir) {
    const BadEmbed *b = &bad[*i];
    int st = run_embed(b->args);
    char *e = err_text();
    cr_expect_eq(st, b->status, "%s: exit %d (%s)", b->what, st, e);
    cr_expect(strstr(e, b->expect), "%s: stderr '%s' lacks '%s'", b->what, e, b->expect);
    free(e);
    char p[256];
    snprintf(p, sizeof p, "%s/o.safetensors", g_dir);
    cr_expect(access(p, F_OK) != 0, "%s: an output was written", b->what);
}

/* The SSL recipe end to end on the small corpus with the tiny random-weight encoder: embed once, train
 * the multi-loss head on the cache, score the test set (a mechanics check: the encoder knows nothing). */
static char corpus[] = "/tmp/serc-embed-recipe-XXXXXX";
static void render(void) { test_render_small_corpus(corpus); }

Test(embed, ssl_recipe_runs_end_to_end, .init = render, .timeout = 0) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && SERC='%s' '%s/../../recipes/ssl/run.sh' '%s/../../recipes/ssl/tiny-wavlm' '%s' "
             "--set optim.epochs=2 --set model.dim=32 --set model.heads=4 --set run.out='%s/run' > recipe.log 2>&1",
             corpus, SERC_BINARY, SERC_FIXTURES_DIR, SERC_FIXTURES_DIR, corpus, corpus);
    int st = system(cmd);
    char log[700];
    snprintf(log, sizeof log, "%s/recipe.log", corpus);
    char *text = test_read_file(log, NULL);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "recipe failed:\n%s", text);
    free(text);
    char p[700];
    snprintf(p, sizeof p, "%s/features-tiny-wavlm.safetensors", corpus);
    cr_expect(access(p, F_OK) == 0, "no features file");
    snprintf(p, sizeof p, "%s/run/metrics.jsonl", corpus);
    text = test_read_file(p, NULL);
    cr_expect(strstr(text, "\"event\": \"test\""), "no test event in metrics.jsonl");
    free(text);
    snprintf(p, sizeof p, "%s/run/best.safetensors", corpus);
    SercErr err;
    SafetensorsFile *f = safetensors_open(p, &err);
    cr_assert(f, "%s", err.msg);
    cr_expect_geq(safetensors_find(f, "layer_sum.weights"), 0);
    safetensors_close(f);
}
