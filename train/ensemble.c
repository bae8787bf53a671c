#include "ensemble.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "experiment.h"
#include "metrics.h"

void ensemble_data_alloc(EnsembleData *d, int n, int M, int C) {
    memset(d, 0, sizeof *d);
    SERC_ASSERT(M >= 1 && M <= ENSEMBLE_MAX_MEMBERS && C >= 2 && n >= 0, "ensemble_data_alloc: n %d, M %d, C %d", n, M, C);
    d->n = n, d->M = M, d->C = C;
    const size_t n1 = (size_t)(n > 0 ? n : 1);
    d->logits = serc_calloc(n1 * (size_t)M * (size_t)C, sizeof(float));
    d->avail = serc_calloc(n1 * (size_t)M, 1);
    d->target = serc_calloc(n1 * (size_t)C, sizeof(float));
    d->label = serc_calloc(n1, sizeof(int32_t));
    d->model_probs = serc_calloc(n1 * (size_t)C, sizeof(float));
}

void ensemble_data_free(EnsembleData *d) {
    free(d->logits), free(d->avail), free(d->target), free(d->label), free(d->model_probs);
    for (int m = 0; m < ENSEMBLE_MAX_MEMBERS; m++) free(d->member[m]);
    for (int i = 0; d->ids && i < d->n; i++) free(d->ids[i]);
    free(d->ids);
    memset(d, 0, sizeof *d);
}

void ensemble_params_plain(EnsembleParams *p, int M) {
    memset(p, 0, sizeof *p);
    p->M = M;
}

/* ---- one utterance: members' distributions, entropies, weights and the mixture ---- */

typedef struct ItemWork {
    double *s, *logp, *p; /* (M, C) scaled logits, log-probabilities, probabilities */
    double *H, *w;        /* (M) normalised entropy, weight */
    double *q;            /* (C) */
} ItemWork;

static void work_alloc(ItemWork *w, int M, int C) {
    w->s = serc_calloc((size_t)(3 * M * C + 2 * M + C), sizeof(double));
    w->logp = w->s + M * C;
    w->p = w->logp + M * C;
    w->H = w->p + M * C;
    w->w = w->H + M;
    w->q = w->w + M;
}

static void item_forward(const EnsembleData *d, const EnsembleParams *prm, int i, ItemWork *w) {
    const int M = d->M, C = d->C;
    const double lnC = log((double)C);
    const uint8_t *av = d->avail + (int64_t)i * M;
    double emax = -INFINITY;
    for (int m = 0; m < M; m++) {
        w->w[m] = 0;
        if (!av[m]) continue;
        const float *z = d->logits + ((int64_t)i * M + m) * C;
        double *s = w->s + m * C, *lp = w->logp + m * C, *p = w->p + m * C;
        const double invT = exp(-prm->t[m]);
        double mx = -INFINITY;
        for (int c = 0; c < C; c++) {
            s[c] = (double)z[c] * invT;
            if (s[c] > mx) mx = s[c];
        }
        double se = 0;
        for (int c = 0; c < C; c++) se += exp(s[c] - mx);
        const double lse = mx + log(se);
        double h = 0;
        for (int c = 0; c < C; c++) {
            lp[c] = s[c] - lse;
            p[c] = exp(lp[c]);
            h -= p[c] * lp[c];
        }
        w->H[m] = h / lnC;
        w->w[m] = prm->a[m] - prm->beta * w->H[m]; /* the exponent e_m, for now */
        if (w->w[m] > emax) emax = w->w[m];
    }
    double z = 0;
    for (int m = 0; m < M; m++)
        if (av[m]) z += (w->w[m] = exp(w->w[m] - emax));
    for (int m = 0; m < M; m++) w->w[m] = av[m] ? w->w[m] / z : 0.0;
    for (int c = 0; c < C; c++) w->q[c] = 0;
    for (int m = 0; m < M; m++)
        if (av[m])
            for (int c = 0; c < C; c++) w->q[c] += w->w[m] * w->p[m * C + c];
}

void ensemble_predict(const EnsembleData *d, const EnsembleParams *p, int i, double *q, double *wts) {
    ItemWork w;
    work_alloc(&w, d->M, d->C);
    item_forward(d, p, i, &w);
    memcpy(q, w.q, sizeof(double) * (size_t)d->C);
    if (wts) memcpy(wts, w.w, sizeof(double) * (size_t)d->M);
    free(w.s);
}

void ensemble_probs(const EnsembleData *d, const EnsembleParams *p, double *probs) {
    ItemWork w;
    work_alloc(&w, d->M, d->C);
    for (int i = 0; i < d->n; i++) {
        item_forward(d, p, i, &w);
        memcpy(probs + (int64_t)i * d->C, w.q, sizeof(double) * (size_t)d->C);
    }
    free(w.s);
}

/* Gradient by the chain rule through q = sum_m w_m p_m (ensemble.h's formulas), per utterance:
 *   g_c = dL/dq_c = -P_c / q_c,  G_m = sum_c g_c p_mc,  E_m = dL/de_m = w_m (G_m - sum_k w_k G_k)
 *   dL/da_m = E_m,  dL/dbeta = -sum_m E_m H_m,  dL/dH_m = -beta E_m
 *   dL/dp_mc = w_m g_c - dL/dH_m (ln p_mc + 1) / ln C,  dL/ds_mc = p_mc (dL/dp_mc - sum_j p_mj dL/dp_mj)
 *   dL/dt_m = -sum_c dL/ds_mc s_mc  (s = z e^{-t}) */
double ensemble_objective(const EnsembleData *d, const EnsembleParams *prm, double *ga, double *gt, double *gbeta) {
    const int M = d->M, C = d->C;
    const double lnC = log((double)C);
    const int grad = ga || gt || gbeta;
    double loss = 0, gb = 0;
    double *Ga = serc_calloc((size_t)(2 * M + 2 * C + M), sizeof(double));
    double *Gt = Ga + M, *g = Gt + M, *dp = g + C, *G = dp + C;
    ItemWork w;
    work_alloc(&w, M, C);
    for (int i = 0; i < d->n; i++) {
        item_forward(d, prm, i, &w);
        const float *P = d->target + (int64_t)i * C;
        for (int c = 0; c < C; c++) {
            const double q = w.q[c] > 1e-300 ? w.q[c] : 1e-300;
            if (P[c] > 0) loss -= (double)P[c] * log(q);
            g[c] = -(double)P[c] / q;
        }
        if (!grad) continue;
        const uint8_t *av = d->avail + (int64_t)i * M;
        double Gbar = 0;
        for (int m = 0; m < M; m++) {
            G[m] = 0;
            if (!av[m]) continue;
            for (int c = 0; c < C; c++) G[m] += g[c] * w.p[m * C + c];
            Gbar += w.w[m] * G[m];
        }
        for (int m = 0; m < M; m++) {
            if (!av[m]) continue;
            const double E = w.w[m] * (G[m] - Gbar);
            Ga[m] += E;
            gb -= E * w.H[m];
            const double dH = -prm->beta * E;
            const double *p = w.p + m * C, *lp = w.logp + m * C, *s = w.s + m * C;
            double dot = 0;
            for (int c = 0; c < C; c++) {
                dp[c] = w.w[m] * g[c] - dH * (lp[c] + 1.0) / lnC;
                dot += p[c] * dp[c];
            }
            for (int c = 0; c < C; c++) Gt[m] -= p[c] * (dp[c] - dot) * s[c];
        }
    }
    const double inv = d->n > 0 ? 1.0 / d->n : 0.0;
    double ridge = 0;
    for (int m = 0; m < M; m++) ridge += prm->a[m] * prm->a[m];
    for (int m = 0; m < M; m++) {
        if (ga) ga[m] = Ga[m] * inv + 2.0 * ENSEMBLE_RIDGE * prm->a[m];
        if (gt) gt[m] = Gt[m] * inv;
    }
    if (gbeta) *gbeta = gb * inv;
    free(w.s);
    free(Ga);
    return loss * inv + ENSEMBLE_RIDGE * ridge;
}

/* ---- the fit ---- */

/* The free parameters as one vector: pointers into p with their bounds. */
typedef struct FreeVars {
    int k;
    double *v[2 * ENSEMBLE_MAX_MEMBERS + 1], lo[2 * ENSEMBLE_MAX_MEMBERS + 1], hi[2 * ENSEMBLE_MAX_MEMBERS + 1];
    int kind[2 * ENSEMBLE_MAX_MEMBERS + 1], member[2 * ENSEMBLE_MAX_MEMBERS + 1]; /* 0 a, 1 t, 2 beta */
} FreeVars;

static void free_vars(EnsembleParams *p, int what, FreeVars *f) {
    f->k = 0;
    for (int m = 0; m < p->M; m++) {
        if (what & ENSEMBLE_FIT_WEIGHTS) {
            f->v[f->k] = &p->a[m], f->lo[f->k] = -20, f->hi[f->k] = 20, f->kind[f->k] = 0, f->member[f->k] = m;
            f->k++;
        }
        if (what & ENSEMBLE_FIT_TEMPERATURE) {
            f->v[f->k] = &p->t[m], f->lo[f->k] = -3, f->hi[f->k] = 3, f->kind[f->k] = 1, f->member[f->k] = m;
            f->k++;
        }
    }
    if (what & ENSEMBLE_FIT_WEIGHTS) {
        f->v[f->k] = &p->beta, f->lo[f->k] = 0, f->hi[f->k] = 50, f->kind[f->k] = 2, f->member[f->k] = 0;
        f->k++;
    }
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

void ensemble_fit(const EnsembleData *d, int what, EnsembleParams *p, EnsembleFitInfo *info) {
    FreeVars fv;
    free_vars(p, what, &fv);
    double ga[ENSEMBLE_MAX_MEMBERS], gt[ENSEMBLE_MAX_MEMBERS], gb = 0;
    double x0[2 * ENSEMBLE_MAX_MEMBERS + 1], g[2 * ENSEMBLE_MAX_MEMBERS + 1];
    double f = ensemble_objective(d, p, ga, gt, &gb);
    EnsembleFitInfo in = {0, f, f};
    double eta = 1.0;
    for (int it = 0; it < 1000 && fv.k > 0; it++) {
        for (int j = 0; j < fv.k; j++) {
            x0[j] = *fv.v[j];
            g[j] = fv.kind[j] == 0 ? ga[fv.member[j]] : fv.kind[j] == 1 ? gt[fv.member[j]] : gb;
        }
        /* Armijo backtracking along the projected gradient */
        double fn = f;
        int accepted = 0;
        while (eta > 1e-12) {
            double dec = 0, moved = 0;
            for (int j = 0; j < fv.k; j++) {
                *fv.v[j] = clampd(x0[j] - eta * g[j], fv.lo[j], fv.hi[j]);
                dec += g[j] * (x0[j] - *fv.v[j]);
                moved += fabs(x0[j] - *fv.v[j]);
            }
            if (moved == 0) break; /* at a bound-constrained stationary point */
            fn = ensemble_objective(d, p, NULL, NULL, NULL);
            if (fn <= f - 1e-4 * dec) {
                accepted = 1;
                break;
            }
            eta *= 0.5;
        }
        if (!accepted) {
            for (int j = 0; j < fv.k; j++) *fv.v[j] = x0[j];
            break;
        }
        in.iterations = it + 1;
        const double gain = f - fn;
        f = ensemble_objective(d, p, ga, gt, &gb);
        eta *= 2.0;
        if (gain < 1e-12 * (1.0 + fabs(f))) break;
    }
    in.objective_end = f;
    if (info) *info = in;
}

/* ---- scores ---- */

void ensemble_score(const EnsembleData *d, const double *probs, int subset, const uint8_t *mask, EnsembleScore *s) {
    const int C = d->C;
    memset(s, 0, sizeof *s);
    Confusion cm;
    confusion_init(&cm, C);
    for (int i = 0; i < d->n; i++) {
        if (mask && !mask[i]) continue;
        const float *P = d->target + (int64_t)i * C;
        const double *q = probs + (int64_t)i * C;
        double pmax = 0;
        for (int c = 0; c < C; c++) pmax = fmax(pmax, (double)P[c]);
        if (subset && !(pmax < ENSEMBLE_DISAGREE_MAX)) continue;
        double nll = 0, kl = 0;
        for (int c = 0; c < C; c++) {
            if (!(P[c] > 0)) continue;
            const double lq = log(fmax(q[c], 1e-12));
            nll -= (double)P[c] * lq;
            kl += (double)P[c] * (log((double)P[c]) - lq);
        }
        s->nll += nll;
        s->kl += kl;
        s->n++;
        if (d->label[i] >= 0) {
            int best = 0;
            for (int c = 1; c < C; c++)
                if (q[c] > q[best]) best = c;
            confusion_add(&cm, d->label[i], best);
            s->n_labeled++;
        }
    }
    if (s->n) s->nll /= (double)s->n, s->kl /= (double)s->n;
    s->wa = confusion_weighted_accuracy(&cm);
    s->ua = confusion_unweighted_accuracy(&cm);
    s->macro_f1 = confusion_macro_f1(&cm);
    confusion_free(&cm);
}

/* ---- members from checkpoints ---- */

enum { HEAD_WORD = 0, HEAD_UTTERANCE, HEAD_EMBEDDING, HEAD_AUDIO, HEAD_TEXT, HEAD_OUTPUT, N_HEADS };
static const char *const head_names[N_HEADS] = {"word", "utterance", "embedding", "audio", "text", "output"};

/* The heads a model exposes, in head order; returns how many. */
static int model_heads(const SerModelConfig *c, int *heads) {
    int n = 0;
    if (c->text_dim <= 0) {
        heads[n++] = HEAD_OUTPUT;
    } else if (c->mater_text_only) {
        heads[n++] = HEAD_TEXT;
    } else {
        if (c->mater_levels & MATER_WORD) heads[n++] = HEAD_WORD;
        if (c->mater_levels & MATER_UTTERANCE) heads[n++] = HEAD_UTTERANCE;
        if (c->mater_levels & MATER_EMBEDDING) heads[n++] = HEAD_EMBEDDING, heads[n++] = HEAD_AUDIO, heads[n++] = HEAD_TEXT;
    }
    return n;
}

static const Tensor *head_logits(const SerOutput *o, int head) {
    switch (head) {
    case HEAD_WORD: return o->mater.level_logits[MATER_LEVEL_WORD];
    case HEAD_UTTERANCE: return o->mater.level_logits[MATER_LEVEL_UTTERANCE];
    case HEAD_EMBEDDING: return o->mater.level_logits[MATER_LEVEL_EMBEDDING];
    case HEAD_AUDIO: return o->mater.audio_logits;
    case HEAD_TEXT: return o->mater.text_logits;
    default: return o->logits;
    }
}

/* One checkpoint's outputs over a manifest, by manifest index. */
typedef struct CkptOutputs {
    int M, heads[N_HEADS];
    float *logits;  /* (N, M, C) */
    uint8_t *avail; /* (N, M) */
    float *probs;   /* (N, C) softmax of the model's own output */
    uint8_t *seen;  /* (N) */
} CkptOutputs;

static int run_checkpoint(const char *ckpt, const Manifest *man, int workers, int k, LabelMap **labels, float **target,
                          int32_t *label, CkptOutputs *co, SercErr *err) {
    Experiment e;
    if (experiment_from_checkpoint(&e, ckpt, err) < 0) {
        if (e.ps) experiment_free(&e);
        return -1;
    }
    const int N = man->n;
    int rc = 0;
    if (!*labels) {
        if (e.labels->n < 2) rc = serc_fail(err, "%s: %d classes; an ensemble needs at least 2", ckpt, e.labels->n);
        *labels = labelmap_new();
        for (int c = 0; c < e.labels->n; c++) labelmap_add(*labels, e.labels->names[c]);
        *target = serc_calloc((size_t)(N > 0 ? N : 1) * (size_t)e.labels->n, sizeof(float));
    } else {
        int same = e.labels->n == (*labels)->n;
        for (int c = 0; same && c < e.labels->n; c++) same = strcmp(e.labels->names[c], (*labels)->names[c]) == 0;
        if (!same) rc = serc_fail(err, "%s: its label map differs from the first checkpoint's (same classes in the same order needed)", ckpt);
    }
    if (rc < 0) {
        experiment_free(&e);
        return -1;
    }
    const int C = e.labels->n;
    co->M = model_heads(&e.model_cfg, co->heads);
    const int M = co->M;
    co->logits = serc_calloc((size_t)(N > 0 ? N : 1) * M * C, sizeof(float));
    co->avail = serc_calloc((size_t)(N > 0 ? N : 1) * M, 1);
    co->probs = serc_calloc((size_t)(N > 0 ? N : 1) * C, sizeof(float));
    co->seen = serc_calloc((size_t)(N > 0 ? N : 1), 1);
    if (workers >= 0) e.cfg.data.workers = workers;
    LoaderOptions lo = experiment_loader_options(&e, 0);
    Loader *ld = loader_new(man, e.labels, &lo, err);
    if (!ld) {
        experiment_free(&e);
        return -1;
    }
    loader_epoch_begin(ld, 0);
    Ctx *g = ctx_new((uint64_t)e.cfg.run.seed);
    g->training = 0;
    ctx_no_grad(g);
    LoaderBatch *b;
    while ((rc = loader_next(ld, &b, err)) == 1) {
        ctx_step_begin(g);
        BatchTensors bt;
        experiment_batch_tensors(g, b, &bt);
        SerOutput o = experiment_forward(g, &e, man, b, &bt);
        const float *pr = tensor_f32(op_softmax(g, o.logits, NULL));
        for (int i = 0; i < b->B; i++) {
            const int u = b->index[i];
            co->seen[u] = 1;
            memcpy(co->probs + (int64_t)u * C, pr + (int64_t)i * C, sizeof(float) * (size_t)C);
            for (int m = 0; m < M; m++) {
                const Tensor *z = head_logits(&o, co->heads[m]);
                SERC_ASSERT(z, "ensemble: %s has no %s head", ckpt, head_names[co->heads[m]]);
                memcpy(co->logits + ((int64_t)u * M + m) * C, tensor_f32(z) + (int64_t)i * C, sizeof(float) * (size_t)C);
                int avail = 1;
                if (co->heads[m] == HEAD_WORD) { /* the word level counts where a word of the item takes part */
                    const int64_t W = o.mater.word_mask->shape[1];
                    avail = 0;
                    for (int64_t w = 0; w < W; w++) avail |= tensor_u8(o.mater.word_mask)[(int64_t)i * W + w];
                }
                co->avail[(int64_t)u * M + m] = (uint8_t)avail;
            }
            if (k == 0) {
                memcpy(*target + (int64_t)u * C, b->label_dist + (int64_t)i * C, sizeof(float) * (size_t)C);
                label[u] = b->labels[i];
            }
        }
        loader_release(ld, b);
    }
    loader_free(ld);
    ctx_free(g);
    experiment_free(&e);
    return rc < 0 ? -1 : 0;
}

int ensemble_collect(const char *const *ckpts, int n_ckpts, const char *manifest, int workers, EnsembleData *d,
                     char ***label_names, SercErr *err) {
    memset(d, 0, sizeof *d);
    if (n_ckpts < 1) return serc_fail(err, "ensemble: no checkpoint");
    Manifest *man = manifest_read(manifest, err);
    if (!man) return -1;
    const int N = man->n;
    CkptOutputs *co = serc_calloc((size_t)n_ckpts, sizeof *co);
    LabelMap *labels = NULL;
    float *target = NULL;
    int32_t *label = serc_calloc((size_t)(N > 0 ? N : 1), sizeof(int32_t));
    int rc = 0, M = 0;
    for (int k = 0; k < n_ckpts && rc == 0; k++) {
        /* the first checkpoint sets the label map and sizes the targets */
        rc = run_checkpoint(ckpts[k], man, workers, k, &labels, &target, label, &co[k], err);
        M += co[k].M;
        if (rc == 0 && M > ENSEMBLE_MAX_MEMBERS)
            rc = serc_fail(err, "ensemble: %d members, at most %d", M, ENSEMBLE_MAX_MEMBERS);
    }
    if (rc == 0) {
        const int C = labels->n;
        /* kept: scored by every checkpoint, with a target (renormalised over the map's classes) */
        int n = 0;
        uint8_t *keep = serc_calloc((size_t)(N > 0 ? N : 1), 1);
        for (int u = 0; u < N; u++) {
            double s = 0;
            for (int c = 0; c < C; c++) s += target[(int64_t)u * C + c];
            int ok = s > 0;
            for (int k = 0; k < n_ckpts; k++) ok &= co[k].seen[u];
            keep[u] = (uint8_t)ok;
            n += ok;
        }
        ensemble_data_alloc(d, n, M, C);
        d->dropped = N - n;
        d->ids = serc_calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
        int m0 = 0;
        for (int k = 0; k < n_ckpts; k++) {
            for (int m = 0; m < co[k].M; m++) {
                char name[64];
                if (n_ckpts == 1) snprintf(name, sizeof name, "%s", head_names[co[k].heads[m]]);
                else snprintf(name, sizeof name, "%d:%s", k + 1, head_names[co[k].heads[m]]);
                d->member[m0 + m] = serc_strdup(name);
            }
            m0 += co[k].M;
        }
        int i = 0;
        for (int u = 0; u < N; u++) {
            if (!keep[u]) continue;
            double s = 0;
            for (int c = 0; c < C; c++) s += target[(int64_t)u * C + c];
            for (int c = 0; c < C; c++) d->target[(int64_t)i * C + c] = (float)(target[(int64_t)u * C + c] / s);
            d->label[i] = label[u];
            d->ids[i] = serc_strdup(man->utts[u].id);
            m0 = 0;
            for (int k = 0; k < n_ckpts; k++) {
                for (int m = 0; m < co[k].M; m++) {
                    memcpy(d->logits + ((int64_t)i * M + m0 + m) * C, co[k].logits + ((int64_t)u * co[k].M + m) * C,
                           sizeof(float) * (size_t)C);
                    d->avail[(int64_t)i * M + m0 + m] = co[k].avail[(int64_t)u * co[k].M + m];
                }
                for (int c = 0; c < C; c++) d->model_probs[(int64_t)i * C + c] += co[k].probs[(int64_t)u * C + c] / (float)n_ckpts;
                m0 += co[k].M;
            }
            i++;
        }
        free(keep);
        if (n == 0) rc = serc_fail(err, "%s: no utterance with a label or label_dist in the checkpoints' label map", manifest);
        if (rc == 0 && label_names) {
            *label_names = serc_calloc((size_t)C + 1, sizeof(char *));
            for (int c = 0; c < C; c++) (*label_names)[c] = serc_strdup(labels->names[c]);
        }
    }
    for (int k = 0; k < n_ckpts; k++) free(co[k].logits), free(co[k].avail), free(co[k].probs), free(co[k].seen);
    free(co);
    free(target);
    free(label);
    if (labels) labelmap_free(labels);
    manifest_free(man);
    if (rc < 0) ensemble_data_free(d);
    return rc;
}

/* ---- the command's work and its report ---- */

static const char *const method_names[4] = {"model output", "plain average", "calibrated average", "uncertainty-weighted"};
static const char *const method_keys[4] = {"model_output", "plain", "calibrated", "uncertainty"};

int ensemble_run(const EnsembleData *dev, const EnsembleData *test, EnsembleReport *r, SercErr *err) {
    memset(r, 0, sizeof *r);
    if (dev->M != test->M || dev->C != test->C) return serc_fail(err, "ensemble: dev and test have different members or classes");
    for (int m = 0; m < dev->M; m++)
        if (dev->member[m] && test->member[m] && strcmp(dev->member[m], test->member[m]) != 0)
            return serc_fail(err, "ensemble: member %d is %s on dev, %s on test", m, dev->member[m], test->member[m]);
    const int M = dev->M, C = dev->C;
    ensemble_params_plain(&r->plain, M);
    r->calibrated = r->plain;
    ensemble_fit(dev, ENSEMBLE_FIT_TEMPERATURE, &r->calibrated, &r->fit_calibrated);
    r->uncertainty = r->calibrated;
    ensemble_fit(dev, ENSEMBLE_FIT_TEMPERATURE | ENSEMBLE_FIT_WEIGHTS, &r->uncertainty, &r->fit_uncertainty);
    const EnsembleParams *prm[3] = {&r->plain, &r->calibrated, &r->uncertainty};
    const int n_max = dev->n > test->n ? dev->n : test->n;
    double *probs = serc_calloc((size_t)(n_max > 0 ? n_max : 1) * C, sizeof(double));
    for (int k = 0; k < 3; k++) {
        EnsembleScore s;
        ensemble_probs(dev, prm[k], probs);
        ensemble_score(dev, probs, 0, NULL, &s);
        r->dev_nll[k] = s.nll;
        ensemble_probs(test, prm[k], probs);
        for (int sub = 0; sub < 2; sub++) ensemble_score(test, probs, sub, NULL, &r->test[k + 1][sub]);
    }
    r->has_model_output = test->model_probs != NULL;
    if (r->has_model_output) {
        for (int64_t j = 0; j < (int64_t)test->n * C; j++) probs[j] = test->model_probs[j];
        for (int sub = 0; sub < 2; sub++) ensemble_score(test, probs, sub, NULL, &r->test[0][sub]);
    }
    /* each member alone (T = 1) on the utterances it covers, and its mean weight under the fit */
    uint8_t *mask = serc_calloc((size_t)(test->n > 0 ? test->n : 1), 1);
    double *w = serc_calloc((size_t)M, sizeof(double)), *q = serc_calloc((size_t)C, sizeof(double));
    for (int m = 0; m < M; m++) {
        for (int i = 0; i < test->n; i++) {
            mask[i] = test->avail[(int64_t)i * M + m];
            const float *z = test->logits + ((int64_t)i * M + m) * C;
            double mx = z[0], s = 0;
            for (int c = 1; c < C; c++) mx = fmax(mx, z[c]);
            for (int c = 0; c < C; c++) s += exp(z[c] - mx);
            for (int c = 0; c < C; c++) probs[(int64_t)i * C + c] = exp(z[c] - mx) / s;
        }
        ensemble_score(test, probs, 0, mask, &r->member_test[m]);
    }
    for (int i = 0; i < test->n; i++) {
        ensemble_predict(test, &r->uncertainty, i, q, w);
        for (int m = 0; m < M; m++) r->mean_weight[m] += w[m] / test->n;
    }
    free(mask);
    free(w);
    free(q);
    free(probs);
    return 0;
}

/* r_m = exp(a_m) normalised over the members (the weight a member has when all are equally certain). */
static void reliabilities(const EnsembleParams *p, double *r) {
    double mx = p->a[0], s = 0;
    for (int m = 1; m < p->M; m++) mx = fmax(mx, p->a[m]);
    for (int m = 0; m < p->M; m++) s += (r[m] = exp(p->a[m] - mx));
    for (int m = 0; m < p->M; m++) r[m] /= s;
}

static void json_score(JsonBuf *b, const EnsembleScore *s) {
    jsonbuf_appendf(b, "{\"n\": %lld, \"n_labeled\": %lld, \"wa\": %.6f, \"ua\": %.6f, \"macro_f1\": %.6f, \"nll\": %.6f, "
                       "\"kl\": %.6f}",
                    (long long)s->n, (long long)s->n_labeled, s->wa, s->ua, s->macro_f1, s->nll, s->kl);
}

void ensemble_report_json(const EnsembleReport *r, const EnsembleData *test, const char *const *ckpts, int n_ckpts,
                          const char *dev_path, const char *test_path, JsonBuf *b) {
    const int M = test->M;
    jsonbuf_append(b, "{\"formula\": ", 12);
    static const char formula[] = "q(x) = sum_m w_m(x) softmax(z_m(x)/T_m), w_m(x) = r_m exp(-beta H_m(x)) / sum_k r_k "
                                  "exp(-beta H_k(x)), H_m normalised entropy; r, T, beta fitted on dev by NLL against label_dist";
    jsonbuf_string(b, formula, strlen(formula));
    jsonbuf_append(b, ", \"checkpoints\": [", 18);
    for (int k = 0; k < n_ckpts; k++) {
        if (k) jsonbuf_append(b, ", ", 2);
        jsonbuf_string(b, ckpts[k], strlen(ckpts[k]));
    }
    jsonbuf_append(b, "], \"dev\": ", 10);
    jsonbuf_string(b, dev_path, strlen(dev_path));
    jsonbuf_append(b, ", \"test\": ", 10);
    jsonbuf_string(b, test_path, strlen(test_path));
    jsonbuf_appendf(b, ", \"disagree_max\": %.3f, \"test_utterances\": %d, \"test_dropped\": %lld, \"beta\": %.6f", ENSEMBLE_DISAGREE_MAX,
                    test->n, (long long)test->dropped, r->uncertainty.beta);
    if (r->uncertainty.beta > 0) jsonbuf_appendf(b, ", \"tau\": %.6f", 1.0 / r->uncertainty.beta);
    else jsonbuf_append(b, ", \"tau\": null", 13);
    double rel[ENSEMBLE_MAX_MEMBERS];
    reliabilities(&r->uncertainty, rel);
    jsonbuf_append(b, ", \"members\": [", 14);
    for (int m = 0; m < M; m++) {
        jsonbuf_append(b, m ? ", {\"name\": " : "{\"name\": ", m ? 11 : 9);
        jsonbuf_string(b, test->member[m] ? test->member[m] : "", test->member[m] ? strlen(test->member[m]) : 0);
        jsonbuf_appendf(b, ", \"reliability\": %.6f, \"temperature\": %.6f, \"calibrated_temperature\": %.6f, "
                           "\"mean_test_weight\": %.6f, \"test\": ",
                        rel[m], exp(r->uncertainty.t[m]), exp(r->calibrated.t[m]), r->mean_weight[m]);
        json_score(b, &r->member_test[m]);
        jsonbuf_append(b, "}", 1);
    }
    jsonbuf_append(b, "], \"dev_nll\": {", 15);
    for (int k = 0; k < 3; k++) jsonbuf_appendf(b, "%s\"%s\": %.6f", k ? ", " : "", method_keys[k + 1], r->dev_nll[k]);
    jsonbuf_appendf(b, "}, \"fit\": {\"calibrated_iterations\": %d, \"uncertainty_iterations\": %d}",
                    r->fit_calibrated.iterations, r->fit_uncertainty.iterations);
    static const char *const subsets[2] = {"all", "disagree"};
    jsonbuf_append(b, ", \"test_scores\": {", 18);
    for (int sub = 0; sub < 2; sub++) {
        jsonbuf_appendf(b, "%s\"%s\": {", sub ? ", " : "", subsets[sub]);
        int first = 1;
        for (int k = 0; k < 4; k++) {
            if (k == 0 && !r->has_model_output) continue;
            jsonbuf_appendf(b, "%s\"%s\": ", first ? "" : ", ", method_keys[k]);
            json_score(b, &r->test[k][sub]);
            first = 0;
        }
        jsonbuf_append(b, "}", 1);
    }
    jsonbuf_append(b, "}}\n", 3);
}

void ensemble_report_markdown(const EnsembleReport *r, const EnsembleData *test, const char *const *ckpts,
                              int n_ckpts, const char *dev_path, const char *test_path, FILE *f) {
    fprintf(f, "# Uncertainty-aware ensemble\n\nFitted on `%s`, scored on `%s` (%d utterances", dev_path, test_path, test->n);
    if (test->dropped) fprintf(f, "; %lld without a target or unreadable left out", (long long)test->dropped);
    fprintf(f, "). Checkpoints:");
    for (int k = 0; k < n_ckpts; k++) fprintf(f, " `%s`", ckpts[k]);
    fprintf(f, ".\n\nw_m(x) = r_m exp(-beta H_m(x)) / sum_k r_k exp(-beta H_k(x)) on softmax(z_m / T_m); beta = %.4f",
            r->uncertainty.beta);
    if (r->uncertainty.beta > 0) fprintf(f, " (tau = %.4f)", 1.0 / r->uncertainty.beta);
    fprintf(f, ". Dev NLL: plain %.4f, calibrated %.4f, uncertainty-weighted %.4f.\n\n", r->dev_nll[0], r->dev_nll[1],
            r->dev_nll[2]);
    static const char *const subsets[2] = {"all", "raters disagree (max label_dist < 0.6)"};
    fprintf(f, "| method | subset | n | UA | macro-F1 | WA | NLL | KL |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (int sub = 0; sub < 2; sub++)
        for (int k = 0; k < 4; k++) {
            if (k == 0 && !r->has_model_output) continue;
            const EnsembleScore *s = &r->test[k][sub];
            fprintf(f, "| %s | %s | %lld | %.4f | %.4f | %.4f | %.4f | %.4f |\n", method_names[k], subsets[sub],
                    (long long)s->n, s->ua, s->macro_f1, s->wa, s->nll, s->kl);
        }
    double rel[ENSEMBLE_MAX_MEMBERS];
    reliabilities(&r->uncertainty, rel);
    fprintf(f, "\n| member | reliability r | temperature T | mean test weight | alone: n | UA | macro-F1 | NLL |\n"
               "| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (int m = 0; m < test->M; m++) {
        const EnsembleScore *s = &r->member_test[m];
        fprintf(f, "| %s | %.4f | %.4f | %.4f | %lld | %.4f | %.4f | %.4f |\n", test->member[m] ? test->member[m] : "?",
                rel[m], exp(r->uncertainty.t[m]), r->mean_weight[m], (long long)s->n, s->ua, s->macro_f1, s->nll);
    }
}
