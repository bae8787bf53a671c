/* Cached encoder features (train/featcache.h): the reader's table of bad files, layer selection, the
 * loader's cached mode (lookup by id, crops in frames), and training a model on a features file with
 * the SUPERB layer sum. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment.h"
#include "featcache.h"
#include "json.h"
#include "loader.h"
#include "safetensors.h"
#include "testutil.h"
#include "trainer.h"

enum { NH = 3, DIM = 6 };

/* Writes a features file for ids[0..n): item i has frames[i] frames; hidden state L of frame t holds
 * value(i, L, t, d). meta_drop names a metadata key to leave out; bad_item >= 0 gives that item's last
 * layer a wrong frame count. */
static float value(int i, int L, int64_t t, int d) { return (float)(i * 1000 + L * 100 + t) + 0.01f * (float)d; }

static void write_cache(const char *path, const char *const *ids, const int64_t *frames, int n, const char *meta_drop,
                        int bad_item) {
    SafetensorsEntry *e = calloc((size_t)(n * NH), sizeof *e);
    char (*names)[64] = calloc((size_t)(n * NH), sizeof *names);
    float **data = calloc((size_t)(n * NH), sizeof(float *));
    for (int i = 0; i < n; i++)
        for (int L = 0; L < NH; L++) {
            int k = i * NH + L;
            int64_t T = frames[i] + (i == bad_item && L == NH - 1 ? 1 : 0);
            data[k] = malloc(sizeof(float) * (size_t)(T * DIM + 1));
            for (int64_t t = 0; t < T; t++)
                for (int d = 0; d < DIM; d++) data[k][t * DIM + d] = value(i, L, t, d);
            snprintf(names[k], sizeof names[k], "%d.hidden_states.%d", i, L);
            e[k] = (SafetensorsEntry){names[k], SERC_F32, 2, {T, DIM}, data[k]};
        }
    JsonBuf b = {0};
    jsonbuf_append(&b, "[", 1);
    for (int i = 0; i < n; i++) {
        if (i) jsonbuf_append(&b, ",", 1);
        jsonbuf_string(&b, ids[i], strlen(ids[i]));
    }
    jsonbuf_append(&b, "]", 1);
    char *idj = calloc(1, b.len + 1);
    memcpy(idj, b.data, b.len);
    jsonbuf_free(&b);
    const char *kv[] = {"serc.ids", idj, "serc.num_hidden", "3", "serc.dim", "6", "serc.frame_rate", "50",
                        "serc.encoder", "test", NULL, NULL};
    const char *meta[12];
    int m = 0;
    for (int k = 0; kv[k]; k += 2)
        if (!meta_drop || strcmp(kv[k], meta_drop) != 0) meta[m++] = kv[k], meta[m++] = kv[k + 1];
    meta[m] = NULL;
    SercErr err;
    cr_assert_eq(safetensors_write(path, e, n * NH, meta, &err), 0, "%s", err.msg);
    for (int k = 0; k < n * NH; k++) free(data[k]);
    free(data);
    free(names);
    free(e);
    free(idj);
}

static char dir[] = "/tmp/serc-featcache-XXXXXX";
static void make_dir(void) { cr_assert(mkdtemp(dir)); }

Test(featcache, reads_selected_layers_and_frames, .init = make_dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/f.safetensors", dir);
    const char *ids[] = {"u2", "u0", "u1"};
    write_cache(path, ids, (const int64_t[]){4, 7, 1}, 3, NULL, -1);
    SercErr err;
    FeatureCache *c = featcache_open(path, "0,-1", &err);
    cr_assert(c, "%s", err.msg);
    cr_expect_eq(c->n_sel, 2);
    cr_expect_eq(featcache_width(c), 2 * DIM);
    cr_expect_eq(featcache_find(c, "u0"), 1);
    cr_expect_eq(featcache_find(c, "u2"), 0);
    cr_expect_eq(featcache_find(c, "nope"), -1);
    cr_expect_eq(featcache_frames(c, 1), 7);
    float out[3 * 2 * DIM];
    featcache_read(c, 1, 2, 3, out);
    for (int t = 0; t < 3; t++)
        for (int d = 0; d < DIM; d++) {
            cr_expect_eq(out[t * 2 * DIM + d], value(1, 0, 2 + t, d));
            cr_expect_eq(out[t * 2 * DIM + DIM + d], value(1, 2, 2 + t, d));
        }
    featcache_close(c);
    c = featcache_open(path, "all", &err);
    cr_assert(c, "%s", err.msg);
    cr_expect_eq(c->n_sel, NH);
    featcache_close(c);
}

typedef struct BadCache {
    const char *what, *drop, *layers, *expect;
    int bad_item, dup;
} BadCache;

static const BadCache bad[] = {
    {"no ids", "serc.ids", "all", "serc.ids missing", -1, 0},
    {"no num_hidden", "serc.num_hidden", "all", "serc.num_hidden missing", -1, 0},
    {"no frame rate", "serc.frame_rate", "all", "serc.frame_rate", -1, 0},
    {"layer out of range", NULL, "3", "index out of range", -1, 0},
    {"layer not a number", NULL, "six", "layer selection", -1, 0},
    {"frame counts differ", NULL, "all", "frame count", 1, 0},
    {"duplicate id", NULL, "all", "appears twice", -1, 1},
};

ParameterizedTestParameters(featcache, bad_files) {
    static int idx[sizeof bad / sizeof bad[0]];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) idx[i] = (int)i;
    return cr_make_param_array(int, idx, sizeof idx / sizeof idx[0]);
}

ParameterizedTest(int *i, featcache, bad_files, .init = make_dir) {
    const BadCache *b = &bad[*i];
    char path[256];
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    const char *ids[] = {"a", b->dup ? "a" : "b"};
    write_cache(path, ids, (const int64_t[]){3, 5}, 2, b->drop, b->bad_item);
    SercErr err;
    FeatureCache *c = featcache_open(path, b->layers, &err);
    cr_assert_null(c, "%s accepted", b->what);
    cr_expect(strncmp(err.msg, path, strlen(path)) == 0, "%s: message does not name the file: %s", b->what, err.msg);
    cr_expect(strstr(err.msg, b->expect), "%s: '%s' lacks '%s'", b->what, err.msg, b->expect);
}

Test(featcache, missing_file_is_a_clear_error) {
    SercErr err;
    cr_assert_null(featcache_open("/nonexistent/f.safetensors", "all", &err));
    cr_expect(strstr(err.msg, "/nonexistent/f.safetensors"), "%s", err.msg);
}

/* ---- the loader and training on a small corpus ---- */

static char corpus[] = "/tmp/serc-featcache-corpus-XXXXXX";
static void render(void) { test_render_small_corpus(corpus); }

/* A features file for every utterance of all.jsonl: frames from the utterance's duration at 50 Hz; the
 * hidden states carry the class (a mean shift growing with L) plus noise, so a model can learn it. */
static void cache_for_corpus(const char *path, const Manifest *m, const LabelMap *labels) {
    SafetensorsEntry *e = calloc((size_t)(m->n * NH), sizeof *e);
    char (*names)[64] = calloc((size_t)(m->n * NH), sizeof *names);
    float **data = calloc((size_t)(m->n * NH), sizeof(float *));
    JsonBuf b = {0};
    jsonbuf_append(&b, "[", 1);
    uint32_t s = 12345;
    for (int i = 0; i < m->n; i++) {
        const Utterance *u = &m->utts[i];
        int c = labelmap_index(labels, u->label);
        int64_t T = 20 + (i * 7) % 60;
        for (int L = 0; L < NH; L++) {
            int k = i * NH + L;
            data[k] = malloc(sizeof(float) * (size_t)(T * DIM));
            for (int64_t t = 0; t < T * DIM; t++) {
                s = s * 1664525u + 1013904223u;
                double noise = (double)(s >> 8) / (double)(1u << 24) - 0.5;
                data[k][t] = (float)(noise + ((t % DIM) == c ? 0.5 * L : 0.0));
            }
            snprintf(names[k], sizeof names[k], "%d.hidden_states.%d", i, L);
            e[k] = (SafetensorsEntry){names[k], SERC_F32, 2, {T, DIM}, data[k]};
        }
        if (i) jsonbuf_append(&b, ",", 1);
        jsonbuf_string(&b, u->id, strlen(u->id));
    }
    jsonbuf_append(&b, "]", 1);
    char *idj = calloc(1, b.len + 1);
    memcpy(idj, b.data, b.len);
    jsonbuf_free(&b);
    const char *meta[] = {"serc.ids", idj, "serc.num_hidden", "3", "serc.dim", "6", "serc.frame_rate", "50",
                          "serc.encoder", "synthetic", NULL};
    SercErr err;
    cr_assert_eq(safetensors_write(path, e, m->n * NH, meta, &err), 0, "%s", err.msg);
    for (int k = 0; k < m->n * NH; k++) free(data[k]);
    free(data);
    free(names);
    free(e);
    free(idj);
}

Test(featcache, loader_crops_in_frames_and_training_learns_the_layer_sum, .init = render, .timeout = 0) {
    char all[600], feats[600], out[600];
    snprintf(all, sizeof all, "%s/all.jsonl", corpus);
    snprintf(feats, sizeof feats, "%s/features.safetensors", corpus);
    snprintf(out, sizeof out, "%s/run-cached", corpus);
    SercErr err;
    Manifest *m = manifest_read(all, &err);
    cr_assert(m, "%s", err.msg);
    TrainConfig cfg;
    char setf[700];
    snprintf(setf, sizeof setf, "data.features=\"%s\"", feats);
    const char *const extra[] = {setf, "eam.enabled=false", "model.frontend=\"none\"", "data.max_seconds=0.5",
                                 "optim.epochs=3", "loss.center=0", "loss.focal=0", NULL};
    LabelMap *labels = NULL;
    {
        TrainConfig tmp;
        test_small_train_config(&tmp, corpus, out, NULL);
        labels = experiment_labels(&tmp, &err);
        cr_assert(labels, "%s", err.msg);
        config_free(&tmp);
    }
    cache_for_corpus(feats, m, labels);
    labelmap_free(labels);
    test_small_train_config(&cfg, corpus, out, extra);

    /* training batches: crops of 0.5 s = 25 frames of 3 x 6 features */
    labels = experiment_labels(&cfg, &err);
    Experiment e;
    cr_assert_eq(experiment_build(&e, &cfg, labels, &err), 0, "%s", err.msg);
    cr_assert(e.cache);
    cr_expect_eq(e.model_cfg.in_layers, NH);
    cr_expect_eq(e.model_cfg.n_mels, DIM);
    LoaderOptions lo = experiment_loader_options(&e, 1);
    Loader *ld = loader_new(m, e.labels, &lo, &err);
    cr_assert(ld, "%s", err.msg);
    loader_epoch_begin(ld, 0);
    LoaderBatch *b;
    int seen = 0;
    while (loader_next(ld, &b, &err) == 1) {
        cr_expect_eq(b->F, NH * DIM);
        for (int i = 0; i < b->B; i++) {
            int k = featcache_find(e.cache, b->ids[i]);
            int64_t T = featcache_frames(e.cache, k), want = T < 25 ? T : 25;
            cr_expect_eq(b->lengths[i], want, "%s: %d frames, want %lld", b->ids[i], b->lengths[i], (long long)want);
            /* the frames are the file's, from the crop offset */
            float row[NH * DIM];
            featcache_read(e.cache, k, b->offset[i], 1, row);
            cr_expect_eq(memcmp(row, b->feats + (size_t)i * b->T * b->F, sizeof row), 0, "%s: frame 0 differs", b->ids[i]);
            seen++;
        }
        loader_release(ld, b);
    }
    cr_expect_eq(seen, m->n);
    loader_free(ld);
    experiment_free(&e);

    /* training runs end to end on the cache and learns above chance on the class-carrying features */
    FILE *null = fopen("/dev/null", "w");
    TrainOptions opt = {NULL, 0, 1, null};
    TrainResult res;
    cr_assert_eq(train_run(&cfg, &opt, &res, &err), 0, "%s", err.msg);
    cr_assert(res.has_test);
    cr_expect_gt(res.test.ua, 0.4, "UA %.3f on features that carry the class", res.test.ua);
    char best[700];
    snprintf(best, sizeof best, "%s/best.safetensors", out);
    SafetensorsFile *f = safetensors_open(best, &err);
    cr_assert(f, "%s", err.msg);
    cr_expect_geq(safetensors_find(f, "layer_sum.weights"), 0);
    safetensors_close(f);
    EvalResult r;
    cr_assert_eq(eval_checkpoint(best, cfg.data.test, 0, &r, NULL, &err), 0, "%s", err.msg);
    cr_expect_eq(confusion_total(&r.cm), confusion_total(&res.test.cm));
    eval_result_free(&r);
    train_result_free(&res);
    config_free(&cfg);
    manifest_free(m);
    fclose(null);
}
