/* EDRL-MEA: the EDRL loss pieces against double-precision references and finite differences, the
 * read-out classifier at its optimum, the MEA buffers against an independent MBPLS fit of the same
 * embeddings, and training end to end with the read-out in the checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "edrl.h"
#include "experiment.h"
#include "mbpls.h"
#include "mea.h"
#include "opcheck.h"
#include "rng.h"
#include "testutil.h"
#include "trainer.h"

/* ---- loss pieces: table cases ---- */

static void ref_standardise_cols(const double *x, int64_t B, int64_t D, double eps, double *z) {
    for (int64_t j = 0; j < D; j++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < B; i++) m += x[i * D + j];
        m /= (double)B;
        for (int64_t i = 0; i < B; i++) v += (x[i * D + j] - m) * (x[i * D + j] - m);
        double sd = sqrt(v / (double)B + eps);
        for (int64_t i = 0; i < B; i++) z[i * D + j] = (x[i * D + j] - m) / sd;
    }
}

static Tensor *b_standardise(Ctx *g, Tensor *const *in, const void *attr) {
    (void)attr;
    return edrl_batch_standardise(g, in[0], 1e-5f);
}
static void r_standardise(const double *const *in, const InputSpec *s, const void *attr, double *out, int64_t n) {
    (void)attr;
    (void)n;
    ref_standardise_cols(in[0], s[0].shape[0], s[0].shape[1], 1e-5, out);
}

static Tensor *b_orth(Ctx *g, Tensor *const *in, const void *attr) {
    (void)attr;
    return edrl_orth_loss(g, in[0], in[1]);
}
static void r_orth(const double *const *in, const InputSpec *s, const void *attr, double *out, int64_t n) {
    (void)attr;
    (void)n;
    int64_t B = s[0].shape[0], Di = s[0].shape[1], Ds = s[1].shape[1];
    double *zi = malloc(sizeof(double) * (size_t)(B * Di)), *zs = malloc(sizeof(double) * (size_t)(B * Ds));
    ref_standardise_cols(in[0], B, Di, 1e-5, zi);
    ref_standardise_cols(in[1], B, Ds, 1e-5, zs);
    double acc = 0;
    for (int64_t a = 0; a < Di; a++)
        for (int64_t c = 0; c < Ds; c++) {
            double r = 0;
            for (int64_t i = 0; i < B; i++) r += zi[i * Di + a] * zs[i * Ds + c];
            r /= (double)B;
            acc += r * r;
        }
    out[0] = acc / (double)(Di * Ds);
    free(zi);
    free(zs);
}

static Tensor *b_recon(Ctx *g, Tensor *const *in, const void *attr) {
    (void)attr;
    return edrl_recon_loss(g, in[0], in[1]);
}
static void r_recon(const double *const *in, const InputSpec *s, const void *attr, double *out, int64_t n) {
    (void)attr;
    (void)n;
    int64_t B = s[0].shape[0], D = s[0].shape[1];
    double *t = malloc(sizeof(double) * (size_t)(B * D));
    ref_standardise_cols(in[1], B, D, 1e-5, t);
    double acc = 0;
    for (int64_t i = 0; i < B * D; i++) acc += (in[0][i] - t[i]) * (in[0][i] - t[i]);
    out[0] = acc / (double)(B * D);
    free(t);
}

static Tensor *b_blocks(Ctx *g, Tensor *const *in, const void *attr) {
    (void)attr;
    return edrl_block_scores(g, in[0], in[1], in[2]);
}
static void r_blocks(const double *const *in, const InputSpec *s, const void *attr, double *out, int64_t n) {
    (void)attr;
    (void)n;
    int64_t B = s[0].shape[0], C = s[1].shape[0], db = s[1].shape[1];
    for (int64_t i = 0; i < B; i++)
        for (int64_t c = 0; c < C; c++) {
            double acc = in[2][c];
            for (int64_t j = 0; j < db; j++) acc += in[0][i * C * db + c * db + j] * in[1][c * db + j];
            out[i * C + c] = acc;
        }
}

static const OpCase cases[] = {
    OPCASE("batch_standardise (6, 5)", b_standardise, r_standardise, NULL, 1, REAL(6, 5)),
    OPCASE("orth (7, 6) x (7, 4)", b_orth, r_orth, NULL, 2, REAL(7, 6), REAL(7, 4)),
    OPCASE("recon (5, 4) to (5, 4)", b_recon, r_recon, NULL, 2, REAL(5, 4), CONSTR(-3, 3, 5, 4)),
    OPCASE("block scores (4, 3x5)", b_blocks, r_blocks, NULL, 3, REAL(4, 15), REAL(3, 5), REAL(3)),
    OPCASE("block scores one class (3, 1x2)", b_blocks, r_blocks, NULL, 3, REAL(3, 2), REAL(1, 2), REAL(1)),
};

OPCHECK_TABLE(edrl, pieces, cases)

/* ---- the read-out classifier ---- */

Test(edrl, logistic_fit_reaches_the_optimum) {
    enum { N = 300, K = 3, C = 4 };
    static double x[N * K];
    static int y[N];
    float u[N * (K + 1)];
    serc_rng_fill_uniform(u, N * (K + 1), 7, 0, 0.0f, 1.0f);
    for (int i = 0; i < N; i++) {
        y[i] = (int)(u[i * (K + 1)] * C) % C;
        for (int k = 0; k < K; k++) x[i * K + k] = (k == y[i] % K ? 1.5 : 0.0) + 2.0 * (u[i * (K + 1) + 1 + k] - 0.5);
    }
    double cw[C] = {1.0, 2.0, 0.5, 1.0};
    double W[C * K], b[C];
    const double l2 = 1e-2;
    double obj = mea_logistic_fit(x, y, N, K, C, cw, l2, 3000, W, b);
    cr_assert(isfinite(obj));
    /* first-order optimality: the objective's central-difference gradient vanishes at (W, b) */
    double theta[C * K + C];
    memcpy(theta, W, sizeof W);
    memcpy(theta + C * K, b, sizeof b);
    for (int p = 0; p < C * K + C; p++) {
        double h = 1e-5, save = theta[p], W2[C * K], b2[C], f[2];
        for (int s = 0; s < 2; s++) {
            theta[p] = save + (s ? -h : h);
            memcpy(W2, theta, sizeof W2);
            memcpy(b2, theta + C * K, sizeof b2);
            f[s] = 0;
            double wsum = 0;
            for (int i = 0; i < N; i++) wsum += cw[y[i]];
            for (int i = 0; i < N; i++) {
                double z[C], mx = -INFINITY, se = 0;
                for (int c = 0; c < C; c++) {
                    z[c] = b2[c];
                    for (int k = 0; k < K; k++) z[c] += W2[c * K + k] * x[i * K + k];
                    mx = fmax(mx, z[c]);
                }
                for (int c = 0; c < C; c++) se += exp(z[c] - mx);
                f[s] += cw[y[i]] / wsum * (mx + log(se) - z[y[i]]);
            }
            for (int c = 0; c < C * K; c++) f[s] += 0.5 * l2 * W2[c] * W2[c];
        }
        theta[p] = save;
        double grad = (f[0] - f[1]) / (2 * h);
        cr_expect_lt(fabs(grad), 1e-5, "parameter %d: gradient %g at the returned point", p, grad);
    }
    /* and the data are learnable: better than chance on the training rows */
    int correct = 0;
    for (int i = 0; i < N; i++) {
        int best = 0;
        double bs = -INFINITY;
        for (int c = 0; c < C; c++) {
            double s = b[c];
            for (int k = 0; k < K; k++) s += W[c * K + k] * x[i * K + k];
            if (s > bs) bs = s, best = c;
        }
        correct += best == y[i];
    }
    cr_expect_gt(correct, N / 2);
}

/* ---- MEA end to end ---- */

static char corpus[] = "/tmp/serc-edrl-XXXXXX";
static void render(void) { test_render_small_corpus(corpus); }

static void edrl_config(TrainConfig *cfg, const char *out, const char *blocks) {
    char b[64];
    snprintf(b, sizeof b, "mea.blocks=\"%s\"", blocks);
    const char *const extra[] = {"model.edrl=true", "model.edrl_block_dim=4", "model.edrl_shared_dim=8", "mea.components=3",
                                 b, "loss.center=0", NULL};
    test_small_train_config(cfg, corpus, out, extra);
}

/* The buffers reproduce, in f32 inside the model, what an independent MBPLS fit of the same embeddings
 * gives for its scores. */
static void check_buffers_match_mbpls(const char *blocks) {
    char out[600];
    snprintf(out, sizeof out, "%s/run-buffers-%s", corpus, blocks);
    TrainConfig cfg;
    edrl_config(&cfg, out, blocks);
    SercErr err;
    LabelMap *labels = experiment_labels(&cfg, &err);
    cr_assert(labels, "%s", err.msg);
    Experiment e;
    cr_assert_eq(experiment_build(&e, &cfg, labels, &err), 0, "%s", err.msg);
    Manifest *train = manifest_read(cfg.data.train, &err);
    cr_assert(train, "%s", err.msg);
    MeaFitInfo info;
    cr_assert_eq(mea_fit(&e, train, NULL, &info, &err), 0, "%s", err.msg);
    cr_assert(edrl_mea_fitted(&e.model.edrl));
    const int C = e.labels->n, D = info.dim, K = info.components, S = e.model.edrl.cfg.recon_dim;
    cr_assert_eq(info.blocks, strcmp(blocks, "class") == 0 ? C + 1 : 2);

    /* the embeddings and scores of the first batch of the training set */
    LoaderOptions lo = experiment_loader_options(&e, 0);
    Loader *ld = loader_new(train, e.labels, &lo, &err);
    cr_assert(ld, "%s", err.msg);
    loader_epoch_begin(ld, 0);
    LoaderBatch *b;
    cr_assert_eq(loader_next(ld, &b, &err), 1, "%s", err.msg);
    Ctx *g = ctx_new(1);
    g->training = 0;
    ctx_no_grad(g);
    ctx_step_begin(g);
    BatchTensors bt;
    experiment_batch_tensors(g, b, &bt);
    SerOutput o = ser_model_forward(g, &e.model, bt.feats, bt.lengths);
    cr_assert(o.edrl.aligned && o.edrl.mea_logits);
    cr_assert_eq(o.logits, o.edrl.mea_logits, "a fitted model answers with the read-out");

    /* the independent fit: all labelled training utterances, in loader order */
    const int64_t n = info.utterances;
    double *emb = malloc(sizeof(double) * (size_t)(n * D)), *Y = malloc(sizeof(double) * (size_t)(n * 2 * 24));
    {
        Loader *l2 = loader_new(train, e.labels, &lo, &err);
        loader_epoch_begin(l2, 0);
        Ctx *g2 = ctx_new(1);
        g2->training = 0;
        ctx_no_grad(g2);
        LoaderBatch *bb;
        int64_t r = 0;
        while (loader_next(l2, &bb, &err) == 1) {
            ctx_step_begin(g2);
            BatchTensors t2;
            experiment_batch_tensors(g2, bb, &t2);
            SerOutput o2 = ser_model_forward(g2, &e.model, t2.feats, t2.lengths);
            Tensor *st = edrl_input_stats(g2, t2.feats, t2.lengths);
            for (int i = 0; i < bb->B; i++) {
                if (bb->labels[i] < 0) continue;
                for (int j = 0; j < D; j++) emb[r * D + j] = tensor_f32(o2.edrl.embedding)[i * D + j];
                for (int j = 0; j < S; j++) Y[r * S + j] = tensor_f32(st)[i * S + j];
                r++;
            }
            loader_release(l2, bb);
        }
        cr_assert_eq(r, n);
        ctx_free(g2);
        loader_free(l2);
    }
    int nb = info.blocks, p[16];
    double *X[16];
    for (int k = 0, col = 0; k < nb; k++) {
        p[k] = strcmp(blocks, "class") == 0 ? (k < C ? 4 : 8) : (k == 0 ? 4 * C : 8);
        X[k] = malloc(sizeof(double) * (size_t)(n * p[k]));
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < p[k]; j++) X[k][i * p[k] + j] = emb[i * D + col + j];
        col += p[k];
    }
    MbplsModel m;
    MbplsOptions mo = mbpls_default_options();
    mo.components = K;
    cr_assert_eq(mbpls_fit(&m, (const double *const *)X, p, nb, n, Y, S, &mo, &err), 0, "%s", err.msg);
    /* the batch's rows, transformed by the independent model and standardised with the stored statistics */
    double *Xb[16];
    for (int k = 0, col = 0; k < nb; k++) {
        Xb[k] = malloc(sizeof(double) * (size_t)(b->B * p[k]));
        for (int i = 0; i < b->B; i++)
            for (int j = 0; j < p[k]; j++) Xb[k][i * p[k] + j] = tensor_f32(o.edrl.embedding)[i * D + col + j];
        col += p[k];
    }
    double *ts = malloc(sizeof(double) * (size_t)(b->B * K));
    cr_assert_eq(mbpls_transform(&m, (const double *const *)Xb, b->B, ts, &err), 0, "%s", err.msg);
    const float *tm = tensor_f32(e.model.edrl.mea_ts_mean), *tsd = tensor_f32(e.model.edrl.mea_ts_std);
    for (int i = 0; i < b->B; i++)
        for (int k = 0; k < K; k++) {
            double want = (ts[i * K + k] - tm[k]) / tsd[k];
            double got = tensor_f32(o.edrl.aligned)[i * K + k];
            cr_expect(fabs(got - want) <= 2e-3 * fmax(1.0, fabs(want)), "item %d component %d: model %g, MBPLS %g", i, k,
                      got, want);
        }
    for (int k = 0; k < nb; k++) {
        free(X[k]);
        free(Xb[k]);
    }
    free(ts);
    free(emb);
    free(Y);
    mbpls_free(&m);
    loader_release(ld, b);
    loader_free(ld);
    ctx_free(g);
    manifest_free(train);
    experiment_free(&e);
    config_free(&cfg);
}

Test(edrl, mea_buffers_match_an_independent_mbpls_fit_class_blocks, .init = render, .timeout = 0) {
    check_buffers_match_mbpls("class");
}

Test(edrl, mea_buffers_match_an_independent_mbpls_fit_branch_blocks, .init = render, .timeout = 0) {
    check_buffers_match_mbpls("branch");
}

Test(edrl, training_fits_mea_into_the_best_checkpoint, .init = render, .timeout = 0) {
    char out[600], best[700];
    snprintf(out, sizeof out, "%s/run-train", corpus);
    snprintf(best, sizeof best, "%s/best.safetensors", out);
    TrainConfig cfg;
    edrl_config(&cfg, out, "class");
    SercErr err;
    FILE *null = fopen("/dev/null", "w");
    TrainOptions opt = {NULL, 0, 1, null};
    TrainResult res;
    cr_assert_eq(train_run(&cfg, &opt, &res, &err), 0, "%s", err.msg);
    cr_assert(res.has_test);
    /* the checkpoint carries a fitted read-out, and evaluating it reproduces the run's test score */
    SafetensorsFile *f = safetensors_open(best, &err);
    cr_assert(f, "%s", err.msg);
    int i = safetensors_find(f, "mea.fitted");
    cr_assert_geq(i, 0);
    cr_expect_eq(((const float *)safetensors_data(f, i))[0], 1.0f);
    cr_expect_geq(safetensors_find(f, "mea.rotation"), 0);
    safetensors_close(f);
    EvalResult r;
    cr_assert_eq(eval_checkpoint(best, cfg.data.test, 0, &r, NULL, &err), 0, "%s", err.msg);
    cr_expect_eq(confusion_total(&r.cm), confusion_total(&res.test.cm));
    for (int a = 0; a < r.n_classes * r.n_classes; a++) cr_expect_eq(r.cm.counts[a], res.test.cm.counts[a]);
    /* the log records the fit */
    char mpath[700];
    snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", out);
    char *log = test_read_file(mpath, NULL);
    cr_expect(strstr(log, "\"event\": \"mea\""), "metrics.jsonl has no mea event");
    cr_expect(strstr(log, "\"split\": \"dev_mea\""), "metrics.jsonl has no dev_mea evaluation");
    free(log);
    eval_result_free(&r);
    train_result_free(&res);
    config_free(&cfg);
    fclose(null);
}

Test(edrl, config_errors) {
    TrainConfig cfg;
    config_default(&cfg);
    SercErr err;
    cr_assert_eq(config_set(&cfg, "mea.components=4", &err), 0, "%s", err.msg);
    LabelMap *labels = labelmap_new();
    labelmap_add(labels, "a");
    labelmap_add(labels, "b");
    Experiment e;
    cr_expect_eq(experiment_build(&e, &cfg, labels, &err), -1);
    cr_expect(strstr(err.msg, "model.edrl"), "%s", err.msg);
    experiment_free(&e);
    config_free(&cfg);
}

/* The recipe files themselves: the synthetic-corpus recipe trains end to end on the small corpus (its
 * data paths and length overridden, as a tiny preset), and the IEMOCAP recipe is a valid configuration. */
Test(edrl, recipe_files_run_as_a_tiny_preset, .init = render, .timeout = 0) {
    TrainConfig cfg = {0};
    SercErr err;
    cr_assert_eq(config_load(&cfg, SERC_FIXTURES_DIR "/../../recipes/synth/edrl-mea/edrl-mea.toml", &err), 0, "%s",
                 err.msg);
    char set[8][700];
    snprintf(set[0], sizeof set[0], "data.train=\"%s/train.jsonl\"", corpus);
    snprintf(set[1], sizeof set[1], "data.dev=\"%s/dev.jsonl\"", corpus);
    snprintf(set[2], sizeof set[2], "data.test=\"%s/test.jsonl\"", corpus);
    snprintf(set[3], sizeof set[3], "run.out=\"%s/run-recipe\"", corpus);
    snprintf(set[4], sizeof set[4], "optim.epochs=2");
    snprintf(set[5], sizeof set[5], "data.workers=0");
    snprintf(set[6], sizeof set[6], "mea.components=3");
    snprintf(set[7], sizeof set[7], "data.n_mels=24");
    for (int i = 0; i < 8; i++) cr_assert_eq(config_set(&cfg, set[i], &err), 0, "%s: %s", set[i], err.msg);
    cr_assert_eq(config_validate(&cfg, &err), 0, "%s", err.msg);
    FILE *null = fopen("/dev/null", "w");
    TrainOptions opt = {NULL, 0, 1, null};
    TrainResult res;
    cr_assert_eq(train_run(&cfg, &opt, &res, &err), 0, "%s", err.msg);
    cr_expect(res.has_test);
    char log[800];
    snprintf(log, sizeof log, "%s/run-recipe/metrics.jsonl", corpus);
    char *text = test_read_file(log, NULL);
    cr_expect(strstr(text, "\"event\": \"mea\""), "the recipe's run fitted no MEA");
    free(text);
    train_result_free(&res);
    config_free(&cfg);
    fclose(null);

    TrainConfig iem = {0};
    cr_assert_eq(config_load(&iem, SERC_FIXTURES_DIR "/../../recipes/iemocap/edrl-mea/edrl-mea.toml", &err), 0, "%s",
                 err.msg);
    cr_expect_eq(config_validate(&iem, &err), 0, "%s", err.msg);
    cr_expect(iem.model.edrl && iem.mea.components > 0);
    config_free(&iem);
}
