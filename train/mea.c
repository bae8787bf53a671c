#include "mea.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "losses.h"
#include "mbpls.h"

/* ---- the classifier on aligned scores ---- */

/* Objective and gradient at (W, b); grads may be NULL. */
static double logistic_objective(const double *x, const int *y, int64_t n, int k, int C, const double *cw, double l2,
                                 const double *W, const double *b, double *gW, double *gb) {
    double *z = malloc(sizeof(double) * (size_t)C);
    double wsum = 0, obj = 0;
    if (gW) memset(gW, 0, sizeof(double) * (size_t)C * (size_t)k);
    if (gb) memset(gb, 0, sizeof(double) * (size_t)C);
    for (int64_t i = 0; i < n; i++) wsum += cw ? cw[y[i]] : 1.0;
    if (!(wsum > 0)) wsum = 1;
    for (int64_t i = 0; i < n; i++) {
        const double *xi = x + i * k;
        double mx = -INFINITY;
        for (int c = 0; c < C; c++) {
            double s = b[c];
            for (int j = 0; j < k; j++) s += W[c * k + j] * xi[j];
            z[c] = s;
            if (s > mx) mx = s;
        }
        double se = 0;
        for (int c = 0; c < C; c++) se += exp(z[c] - mx);
        double lse = mx + log(se), wi = (cw ? cw[y[i]] : 1.0) / wsum;
        obj += wi * (lse - z[y[i]]);
        if (!gW) continue;
        for (int c = 0; c < C; c++) {
            double d = wi * (exp(z[c] - lse) - (c == y[i]));
            gb[c] += d;
            for (int j = 0; j < k; j++) gW[c * k + j] += d * xi[j];
        }
    }
    for (int c = 0; c < C * k; c++) {
        obj += 0.5 * l2 * W[c] * W[c];
        if (gW) gW[c] += l2 * W[c];
    }
    free(z);
    return obj;
}

double mea_logistic_fit(const double *x, const int *y, int64_t n, int k, int C, const double *class_weights,
                        double l2, int steps, double *W, double *b) {
    const int np = C * k + C;
    /* theta = [W, b]; y_t the look-ahead point; Nesterov's scheme for smooth convex objectives */
    double *th = calloc((size_t)np, sizeof(double)), *prev = calloc((size_t)np, sizeof(double));
    double *la = calloc((size_t)np, sizeof(double)), *gr = calloc((size_t)np, sizeof(double));
    double L = l2;
    double maxsq = 0;
    for (int64_t i = 0; i < n; i++) {
        double s = 1; /* the bias's constant input */
        for (int j = 0; j < k; j++) s += x[i * k + j] * x[i * k + j];
        if (s > maxsq) maxsq = s;
    }
    L += 0.5 * maxsq;
    for (int t = 1; t <= steps; t++) {
        double mom = (t - 1.0) / (t + 2.0);
        for (int i = 0; i < np; i++) la[i] = th[i] + mom * (th[i] - prev[i]);
        logistic_objective(x, y, n, k, C, class_weights, l2, la, la + C * k, gr, gr + C * k);
        memcpy(prev, th, sizeof(double) * (size_t)np);
        for (int i = 0; i < np; i++) th[i] = la[i] - gr[i] / L;
    }
    memcpy(W, th, sizeof(double) * (size_t)C * (size_t)k);
    memcpy(b, th + C * k, sizeof(double) * (size_t)C);
    double obj = logistic_objective(x, y, n, k, C, class_weights, l2, W, b, NULL, NULL);
    free(th);
    free(prev);
    free(la);
    free(gr);
    return obj;
}

/* ---- embeddings of the training set ---- */

typedef struct Rows {
    double *emb, *stats; /* (n, D), (n, 2F) */
    int *labels;
    int64_t n, cap;
} Rows;

static int collect(Experiment *e, const Manifest *train, Rows *r, SercErr *err) {
    const int D = edrl_embedding_dim(&e->model.edrl.cfg), S = e->model.edrl.cfg.recon_dim;
    LoaderOptions lo = experiment_loader_options(e, 0);
    Loader *ld = loader_new(train, e->labels, &lo, err);
    if (!ld) return -1;
    loader_epoch_begin(ld, 0);
    Ctx *g = ctx_new((uint64_t)e->cfg.run.seed);
    g->training = 0;
    ctx_no_grad(g);
    LoaderBatch *b;
    int rc;
    while ((rc = loader_next(ld, &b, err)) == 1) {
        ctx_step_begin(g);
        BatchTensors bt;
        experiment_batch_tensors(g, b, &bt);
        SerOutput out = ser_model_forward(g, &e->model, bt.feats, bt.lengths);
        Tensor *st = edrl_input_stats(g, bt.feats, bt.lengths);
        for (int i = 0; i < b->B; i++) {
            if (b->labels[i] < 0) continue;
            if (r->n == r->cap) {
                r->cap = r->cap ? 2 * r->cap : 1024;
                r->emb = serc_realloc(r->emb, sizeof(double) * (size_t)r->cap * (size_t)D);
                r->stats = serc_realloc(r->stats, sizeof(double) * (size_t)r->cap * (size_t)S);
                r->labels = serc_realloc(r->labels, sizeof(int) * (size_t)r->cap);
            }
            const float *pe = tensor_f32(out.edrl.embedding) + (int64_t)i * D, *ps = tensor_f32(st) + (int64_t)i * S;
            for (int j = 0; j < D; j++) r->emb[r->n * D + j] = pe[j];
            for (int j = 0; j < S; j++) r->stats[r->n * S + j] = ps[j];
            r->labels[r->n++] = b->labels[i];
        }
        loader_release(ld, b);
    }
    ctx_free(g);
    loader_free(ld);
    return rc < 0 ? -1 : 0;
}

int mea_fit(Experiment *e, const Manifest *train, FILE *log, MeaFitInfo *info, SercErr *err) {
    const SerModelConfig *mc = &e->model.cfg;
    const Edrl *ed = &e->model.edrl;
    const MeaConfig *cfg = &e->cfg.mea;
    memset(info, 0, sizeof *info);
    if (!mc->edrl || mc->mea_components < 1) return serc_fail(err, "mea: the model has no MEA read-out (model.edrl and mea.components)");
    const int C = mc->n_classes, db = mc->edrl_block_dim, ds = mc->edrl_shared_dim, K = mc->mea_components;
    const int D = edrl_embedding_dim(&ed->cfg), S = ed->cfg.recon_dim;
    tensor_f32(ed->mea_fitted)[0] = 0.0f; /* embeddings come from the EDRL branches either way */

    Rows r = {0};
    int rc = -1;
    MbplsModel m;
    memset(&m, 0, sizeof m);
    double *X[64 + 1] = {0}, *Y = NULL, *ts = NULL, *Wc = NULL, *bc = NULL, *cw = NULL;
    int p[64 + 1];
    if (collect(e, train, &r, err) < 0) goto out;
    if (r.n < 2) {
        serc_fail(err, "mea: %lld labelled training utterances; MBPLS needs at least 2", (long long)r.n);
        goto out;
    }

    /* blocks: columns of the embedding [block_0 .. block_{C-1}, shared] */
    int class_blocks = strcmp(cfg->blocks, "branch") != 0;
    int nb = class_blocks ? C + 1 : 2;
    if (nb > 64 + 1) {
        serc_fail(err, "mea.blocks = \"class\": %d classes give %d blocks, at most 65 are supported; use \"branch\"", C, nb);
        goto out;
    }
    int col = 0;
    for (int bi = 0; bi < nb; bi++) {
        p[bi] = class_blocks ? (bi < C ? db : ds) : (bi == 0 ? C * db : ds);
        X[bi] = serc_malloc(sizeof(double) * (size_t)r.n * (size_t)p[bi]);
        for (int64_t i = 0; i < r.n; i++) memcpy(X[bi] + i * p[bi], r.emb + i * D + col, sizeof(double) * (size_t)p[bi]);
        col += p[bi];
    }
    int q;
    if (strcmp(cfg->response, "labels") == 0) {
        q = C;
        Y = serc_calloc((size_t)r.n * (size_t)q, sizeof(double));
        for (int64_t i = 0; i < r.n; i++) Y[i * q + r.labels[i]] = 1.0;
    } else {
        q = S;
        Y = r.stats;
        r.stats = NULL;
    }
    MbplsOptions o = mbpls_default_options();
    o.components = K;
    o.standardize = cfg->standardize;
    if (mbpls_fit(&m, (const double *const *)X, p, nb, r.n, Y, q, &o, err) < 0) {
        serc_fail_prefix(err, "mea (MBPLS on the training embeddings)");
        goto out;
    }

    /* standardisation and rotation into the buffers */
    float *mean = tensor_f32(ed->mea_mean), *sd = tensor_f32(ed->mea_std), *rot = tensor_f32(ed->mea_rotation);
    col = 0;
    for (int bi = 0; bi < nb; bi++) {
        for (int j = 0; j < p[bi]; j++) {
            mean[col + j] = (float)m.x_mean[bi][j];
            sd[col + j] = (float)m.x_std[bi][j];
        }
        col += p[bi];
    }
    for (int64_t i = 0; i < (int64_t)D * K; i++) rot[i] = (float)m.R[i];

    /* aligned training scores, standardised */
    ts = serc_malloc(sizeof(double) * (size_t)r.n * (size_t)K);
    if (mbpls_transform(&m, (const double *const *)X, r.n, ts, err) < 0) goto out;
    float *tm = tensor_f32(ed->mea_ts_mean), *tsd = tensor_f32(ed->mea_ts_std);
    for (int k = 0; k < K; k++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < r.n; i++) s += ts[i * K + k];
        double mu = s / r.n;
        for (int64_t i = 0; i < r.n; i++) s2 += (ts[i * K + k] - mu) * (ts[i * K + k] - mu);
        double v = sqrt(s2 / r.n);
        if (!(v > 1e-12)) v = 1;
        tm[k] = (float)mu;
        tsd[k] = (float)v;
        for (int64_t i = 0; i < r.n; i++) ts[i * K + k] = (ts[i * K + k] - mu) / v;
    }

    /* the classifier */
    if (e->cfg.loss.class_weights) {
        int64_t *counts = serc_calloc((size_t)C, sizeof *counts);
        float *wf = serc_malloc(sizeof(float) * (size_t)C);
        for (int64_t i = 0; i < r.n; i++) counts[r.labels[i]]++;
        loss_class_weights_balanced(counts, C, wf);
        cw = serc_malloc(sizeof(double) * (size_t)C);
        for (int c = 0; c < C; c++) cw[c] = wf[c];
        free(counts);
        free(wf);
    }
    Wc = serc_malloc(sizeof(double) * (size_t)C * (size_t)K);
    bc = serc_malloc(sizeof(double) * (size_t)C);
    info->classifier_loss = mea_logistic_fit(ts, r.labels, r.n, K, C, cw, cfg->l2, cfg->steps, Wc, bc);
    int64_t correct = 0;
    for (int64_t i = 0; i < r.n; i++) {
        int best = 0;
        double bs = -INFINITY;
        for (int c = 0; c < C; c++) {
            double s = bc[c];
            for (int k = 0; k < K; k++) s += Wc[c * K + k] * ts[i * K + k];
            if (s > bs) bs = s, best = c;
        }
        correct += best == r.labels[i];
    }
    for (int i = 0; i < C * K; i++) tensor_f32(ed->mea_w)[i] = (float)Wc[i];
    for (int c = 0; c < C; c++) tensor_f32(ed->mea_b)[c] = (float)bc[c];
    tensor_f32(ed->mea_fitted)[0] = 1.0f;

    info->utterances = r.n;
    info->blocks = nb;
    info->components = K;
    info->dim = D;
    info->train_accuracy = (double)correct / r.n;
    if (log) {
        fprintf(log, "MEA: MBPLS on %lld training embeddings (%d dims in %d blocks, response %s with %d columns), %d components\n",
                (long long)r.n, D, nb, cfg->response, q, K);
        fprintf(log, "MEA: block importance (summed over components):");
        for (int bi = 0; bi < nb; bi++) {
            double a = 0;
            for (int k = 0; k < K; k++) a += m.A[bi * K + k];
            if (class_blocks && bi < C) fprintf(log, " %s %.3f", e->labels->names[bi], a);
            else fprintf(log, " %s %.3f", bi == nb - 1 ? "shared" : "intra", a);
        }
        fprintf(log, "\nMEA: classifier on aligned scores: objective %.4f, training accuracy %.4f\n", info->classifier_loss,
                info->train_accuracy);
    }
    rc = 0;
out:
    if (rc < 0) tensor_f32(ed->mea_fitted)[0] = 0.0f;
    mbpls_free(&m);
    for (int bi = 0; bi < 65; bi++) free(X[bi]);
    free(Y);
    free(ts);
    free(Wc);
    free(bc);
    free(cw);
    free(r.emb);
    free(r.stats);
    free(r.labels);
    return rc;
}
