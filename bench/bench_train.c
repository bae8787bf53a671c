/* bench_train: CPU training throughput of the recipe model (recipes/synth/mll.toml) on synthetic
 * batches held in memory, so that it measures model compute only (no decoding, no features, no loader).
 *
 * One step is what train/trainer.c does per batch: ser_model_forward in training mode, the recipe's
 * multi-loss (cross-entropy on soft labels with class weights, focal, center, SupCon; multiloss_combine),
 * serc_backward, global-norm clipping, adamw_step (centers in their own group), zero grad.
 *
 * Batches: B utterances of T frames x F log-mel features, N(0, 1) values, lengths uniform in
 * [min_frames, T], frames past each length zero, labels uniform in [0, C), soft labels a one-hot or (with
 * probability 0.5, as EAM's prob) a mix of two one-hots. Lengths, labels and mixes come from a splitmix64
 * stream (seeded with --seed) that bench/train_ref.py reproduces, so the PyTorch twin sees the same shapes and lengths.
 * A pool of 4 batches is built before timing and cycled.
 *
 *   SERC_THREADS=2 bench_train [--config recipes/synth/mll.toml] [--set key=value]... [--batch 16]
 *       [--frames 300] [--min-frames 150] [--warmup 3] [--steps 20] [--seed 0] [--profile]
 *
 * SERC_THREADS sets the OpenMP threads (ctx_new) and, here, OpenBLAS's threads too.
 * Prints "result: threads=.. batch=.. frames=.. steps=.. ms_per_step=.. utt_per_s=..". --profile adds a
 * breakdown: forward per module, loss, backward per op (the tape walked as serc_backward walks it, each
 * node timed) and the optimiser.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "context.h"
#include "experiment.h"
#include "losses.h"
#include "optim.h"

/* OpenBLAS (the pthread build SERC links) sizes its own thread pool from OPENBLAS_NUM_THREADS /
 * OMP_NUM_THREADS, else every core; SERC_THREADS alone does not reach it. Declared here rather than
 * through <cblas.h> so that the include path of OpenBLAS is not needed. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the shared synthetic stream (bench/train_ref.py has the same) ---- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [0, 1) from the top 53 bits */
static double u01(uint64_t *s) { return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

typedef struct SynthBatch {
    int B, T, F, C;
    float *feats, *soft;
    int32_t *lengths, *labels;
} SynthBatch;

static void synth_batch(SynthBatch *sb, uint64_t *s, uint64_t *fs, int B, int T, int F, int C, int min_frames) {
    sb->B = B;
    sb->T = T;
    sb->F = F;
    sb->C = C;
    sb->feats = calloc((size_t)B * T * F, sizeof(float));
    sb->soft = calloc((size_t)B * C, sizeof(float));
    sb->lengths = malloc(sizeof(int32_t) * (size_t)B);
    sb->labels = malloc(sizeof(int32_t) * (size_t)B);
    for (int b = 0; b < B; b++) {
        sb->lengths[b] = min_frames + (int32_t)(splitmix64(s) % (uint64_t)(T - min_frames + 1));
        sb->labels[b] = (int32_t)(splitmix64(s) % (uint64_t)C);
        int partner = (int)(splitmix64(s) % (uint64_t)C);
        double mix = u01(s), lam = 0.5 + 0.5 * u01(s);
        if (mix < 0.5) {
            sb->soft[b * C + sb->labels[b]] += (float)lam;
            sb->soft[b * C + partner] += (float)(1.0 - lam);
        } else {
            sb->soft[b * C + sb->labels[b]] = 1.0f;
        }
    }
    /* feature values: Box-Muller on a second stream (values do not matter for throughput; train_ref.py
     * draws them with torch.randn) */
    for (int b = 0; b < B; b++)
        for (int64_t i = 0; i < (int64_t)sb->lengths[b] * F; i++) {
            double u1 = u01(fs), u2 = u01(fs);
            sb->feats[(int64_t)b * T * F + i] = (float)(sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2));
        }
}

static void synth_free(SynthBatch *sb) {
    free(sb->feats);
    free(sb->soft);
    free(sb->lengths);
    free(sb->labels);
}

/* ---- the recipe's loss (as train/trainer.c's loss_setup and batch_loss) ---- */

enum { T_CE, T_FOCAL, T_KL, T_CENTER, T_SUPCON, T_COUNT };
static const char *const TERM_NAMES[T_COUNT] = {"ce", "focal", "kl", "center", "supcon"};

typedef struct Loss {
    MultiLoss ml;
    int slot[T_COUNT];
    Tensor *class_weights;
} Loss;

static Tensor *batch_loss(Ctx *g, const Experiment *e, Loss *ls, const SerOutput *o, Tensor *labels, Tensor *soft) {
    const TrainConfig *cfg = &e->cfg;
    Tensor *terms[MULTILOSS_MAX_TERMS] = {0};
    if (ls->slot[T_CE] >= 0)
        terms[ls->slot[T_CE]] = loss_cross_entropy(g, o->logits, cfg->eam.enabled ? soft : labels, ls->class_weights,
                                                   (float)cfg->loss.label_smoothing);
    if (ls->slot[T_FOCAL] >= 0)
        terms[ls->slot[T_FOCAL]] = loss_focal(g, o->logits, labels, (float)cfg->loss.focal_gamma, ls->class_weights);
    if (ls->slot[T_KL] >= 0) terms[ls->slot[T_KL]] = loss_kl(g, o->logits, soft);
    if (ls->slot[T_CENTER] >= 0) terms[ls->slot[T_CENTER]] = loss_center(g, o->embedding, labels, e->centers);
    if (ls->slot[T_SUPCON] >= 0)
        terms[ls->slot[T_SUPCON]] = loss_supcon(g, o->embedding, labels, NULL, (float)cfg->loss.temperature);
    return multiloss_combine(g, &ls->ml, terms);
}

/* ---- profile accumulators ---- */

#define MAX_PROF 64
typedef struct Prof {
    int n;
    const char *name[MAX_PROF];
    double sec[MAX_PROF];
    long calls[MAX_PROF];
} Prof;

static void prof_add(Prof *p, const char *name, double s) {
    int i;
    for (i = 0; i < p->n; i++)
        if (!strcmp(p->name[i], name)) break;
    if (i == p->n) {
        if (p->n == MAX_PROF) return;
        p->name[p->n++] = name;
    }
    p->sec[i] += s;
    p->calls[i]++;
}

static void prof_print(const Prof *p, const char *title, double total, int steps) {
    int idx[MAX_PROF];
    for (int i = 0; i < p->n; i++) idx[i] = i;
    for (int i = 0; i < p->n; i++) /* by time, descending */
        for (int j = i + 1; j < p->n; j++)
            if (p->sec[idx[j]] > p->sec[idx[i]]) {
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
    printf("%s\n", title);
    for (int k = 0; k < p->n; k++) {
        int i = idx[k];
        printf("  %-28s %9.2f ms/step %6.1f%%  (%ld calls/step)\n", p->name[i], 1e3 * p->sec[i] / steps,
               100.0 * p->sec[i] / total, p->calls[i] / steps);
    }
}

/* The forward of ser_model_forward, module by module, each timed (same calls in the same order, for the
 * configurations this benchmark accepts: tdnn or cnn2d front end, FLAM, attention pooling). */
static SerOutput forward_profiled(Ctx *g, const SerModel *m, Tensor *feats, Tensor *lengths, Prof *p) {
    SerOutput o = {0};
    Tensor *len = NULL, *h;
    double t0 = now_s(), t1;
    if (m->frontend == SER_FRONTEND_TDNN) h = tdnn_forward(g, &m->tdnn, feats, lengths, &len);
    else h = cnn2d_forward(g, &m->cnn, feats, lengths, &len);
    prof_add(p, "frontend", (t1 = now_s()) - t0);
    h = linear_forward(g, &m->input_proj, h);
    Tensor *mask = lengths_to_mask(g, len, h->shape[1]);
    prof_add(p, "input_proj", (t0 = now_s()) - t1);
    h = flam_frames(g, &m->flam, h, mask);
    prof_add(p, "flam.mhsa+res+ln", (t1 = now_s()) - t0);
    o.pooled = flam_pool(g, &m->flam, h, mask, &o.frame_weights);
    prof_add(p, "flam.pool", (t0 = now_s()) - t1);
    o.frames = h;
    o.frame_lengths = len;
    o.logits = mlp_head_forward(g, &m->classifier, o.pooled);
    if (m->cfg.proj_dim > 0) o.embedding = projection_head_forward(g, &m->projection, o.pooled);
    prof_add(p, "heads", now_s() - t0);
    return o;
}

/* serc_backward with each tape node timed under its op name. */
static void backward_profiled(Ctx *g, Tensor *out, Prof *p) {
    float *go = tensor_grad_f32(g, out);
    go[0] += 1.0f;
    int was = ctx_no_grad(g);
    for (int64_t i = g->tape_len - 1; i >= 0; i--) {
        TapeNode *n = g->tape[i];
        if (!n->out->grad) continue;
        double t0 = now_s();
        n->backward(g, n);
        prof_add(p, n->op, now_s() - t0);
    }
    ctx_set_grad(g, was);
}

static void usage(void) {
    fprintf(stderr, "usage: bench_train [--config PATH] [--set key=value]... [--batch B] [--frames T] "
                    "[--min-frames N] [--warmup W] [--steps N] [--seed S] [--profile]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *config_path = "recipes/synth/mll.toml";
    const char *sets[32];
    int n_sets = 0, batch = 16, frames = 300, min_frames = 150, warmup = 3, steps = 20, profile = 0;
    uint64_t seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--profile")) { profile = 1; continue; }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--config")) config_path = v;
        else if (!strcmp(a, "--set") && n_sets < 32) sets[n_sets++] = v;
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--frames")) frames = atoi(v);
        else if (!strcmp(a, "--min-frames")) min_frames = atoi(v);
        else if (!strcmp(a, "--warmup")) warmup = atoi(v);
        else if (!strcmp(a, "--steps")) steps = atoi(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else usage();
    }
    if (batch < 2 || frames < 1 || min_frames < 1 || min_frames > frames || warmup < 0 || steps < 1) usage();

    /* the recipe's configuration; the data section names files we never read */
    SercErr err;
    TrainConfig cfg;
    config_default(&cfg);
    if (config_load(&cfg, config_path, &err) < 0) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < n_sets; i++)
        if (config_set(&cfg, sets[i], &err) < 0) {
            fprintf(stderr, "bench_train: --set %s: %s\n", sets[i], err.msg);
            return 1;
        }
    cfg.optim.batch = batch;
    if (config_validate(&cfg, &err) < 0) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    /* the 8 SERNC classes of the synthetic corpus (data/synth-demo/synth.labels) */
    static const char *const CLASSES[8] = {"neutral", "happy", "sad", "angry", "surprise", "fear", "disgust", "contempt"};
    LabelMap *labels = labelmap_new();
    for (int i = 0; i < 8; i++) labelmap_add(labels, CLASSES[i]);
    Experiment e;
    if (experiment_build(&e, &cfg, labels, &err) < 0) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    const SerModel *m = &e.model;
    if (profile && !(m->cfg.flam && m->pooling == SER_POOL_ATTENTION && m->frontend != SER_FRONTEND_NONE && !m->cfg.avd)) {
        fprintf(stderr, "bench_train: --profile covers front end + FLAM + attention pooling models only\n");
        return 2;
    }
    const int F = e.model_cfg.n_mels, C = e.labels->n;

    /* batches */
    enum { POOL = 4 };
    SynthBatch pool[POOL];
    uint64_t s = seed, fs = seed ^ 0x5eedf00dull;
    for (int i = 0; i < POOL; i++) synth_batch(&pool[i], &s, &fs, batch, frames, F, C, min_frames);

    /* loss terms, class weights from the pool's labels */
    Loss ls;
    memset(&ls, 0, sizeof ls);
    multiloss_init(&ls.ml);
    const double w[T_COUNT] = {cfg.loss.ce, cfg.loss.focal, cfg.loss.kl, cfg.loss.center, cfg.loss.supcon};
    for (int t = 0; t < T_COUNT; t++)
        ls.slot[t] = w[t] > 0 ? multiloss_add(&ls.ml, TERM_NAMES[t], (float)w[t],
                                              cfg.loss.normalise ? MULTILOSS_NORM_MAX : MULTILOSS_NORM_NONE)
                              : -1;
    if (cfg.loss.class_weights) {
        int64_t counts[64] = {0};
        for (int i = 0; i < POOL; i++)
            for (int b = 0; b < batch; b++) counts[pool[i].labels[b]]++;
        ls.class_weights = tensor_heap_new(SERC_F32, SHAPE(C));
        loss_class_weights_balanced(counts, C, tensor_f32(ls.class_weights));
    }

    int64_t n_params = params_count(e.ps);
    AdamW adam;
    adamw_init(&adam, n_params, (float)cfg.optim.lr, (float)cfg.optim.weight_decay);
    if (e.centers) {
        int64_t start = (float *)e.centers->data - params_data(e.ps);
        adamw_add_group(&adam, start, tensor_numel(e.centers), (float)(cfg.loss.center_lr / cfg.optim.lr), 0.0f);
    }

    Ctx *g = ctx_new((uint64_t)cfg.run.seed);
    int blas_before = openblas_get_num_threads();
    openblas_set_num_threads(g->threads); /* sgemm on as many threads as the OpenMP ops */
    printf("bench_train: %s, %lld parameters, batch %d x %d frames x %d features (lengths %d..%d), %d classes, "
           "%d threads (OpenBLAS %d, was %d), %d warm-up + %d timed steps%s\n",
           config_path, (long long)n_params, batch, frames, F, min_frames, frames, C, g->threads,
           openblas_get_num_threads(), blas_before, warmup, steps, profile ? ", profiled" : "");
    long frames_sum = 0, label_sum = 0;
    for (int i = 0; i < POOL; i++)
        for (int b = 0; b < batch; b++) {
            frames_sum += pool[i].lengths[b];
            label_sum += pool[i].labels[b];
        }
    printf("batches: %d in the pool, valid frames %ld, label sum %ld (train_ref.py prints the same)\n", POOL, frames_sum,
           label_sum);
    printf("loss terms:");
    for (int t = 0; t < ls.ml.n; t++) printf(" %s*%g", ls.ml.term[t].name, ls.ml.term[t].w0);
    printf("\n");

    Prof pf = {0}, pb = {0}, pp = {0};
    double t_timed = 0, loss_last = 0;
    params_zero_grad(e.ps);
    for (int it = 0; it < warmup + steps; it++) {
        const SynthBatch *sb = &pool[it % POOL];
        int timed = it >= warmup;
        double t0 = now_s();
        ctx_step_begin(g);
        g->training = 1;
        Tensor *feats = tensor_empty(g, SERC_F32, SHAPE(batch, frames, F));
        memcpy(feats->data, sb->feats, sizeof(float) * (size_t)batch * frames * F);
        Tensor *lengths = tensor_empty(g, SERC_I32, SHAPE(batch));
        memcpy(lengths->data, sb->lengths, sizeof(int32_t) * (size_t)batch);
        Tensor *lab = tensor_empty(g, SERC_I32, SHAPE(batch));
        memcpy(lab->data, sb->labels, sizeof(int32_t) * (size_t)batch);
        Tensor *soft = tensor_empty(g, SERC_F32, SHAPE(batch, C));
        memcpy(soft->data, sb->soft, sizeof(float) * (size_t)batch * C);
        SerOutput o;
        Tensor *loss;
        if (profile && timed) {
            o = forward_profiled(g, m, feats, lengths, &pf);
            double t1 = now_s();
            loss = batch_loss(g, &e, &ls, &o, lab, soft);
            prof_add(&pp, "loss (forward)", now_s() - t1);
            t1 = now_s();
            backward_profiled(g, loss, &pb);
            prof_add(&pp, "backward", now_s() - t1);
        } else {
            o = ser_model_forward(g, m, feats, lengths);
            loss = batch_loss(g, &e, &ls, &o, lab, soft);
            serc_backward(g, loss, NULL);
        }
        double t2 = now_s();
        if (cfg.optim.clip > 0) clip_grad_norm(params_grad(e.ps), n_params, cfg.optim.clip);
        adamw_step(&adam, params_data(e.ps), params_grad(e.ps));
        params_zero_grad(e.ps);
        double t3 = now_s();
        loss_last = tensor_f32(loss)[0];
        if (!isfinite(loss_last)) {
            fprintf(stderr, "bench_train: loss %g at step %d\n", loss_last, it);
            return 1;
        }
        if (timed) {
            t_timed += t3 - t0;
            if (profile) prof_add(&pp, "clip + adamw + zero_grad", t3 - t2);
        }
    }
    double ms = 1e3 * t_timed / steps, ups = (double)batch * steps / t_timed;
    printf("last loss %.4f\n", loss_last);
    if (profile) {
        double fwd = 0, bwd = 0;
        for (int i = 0; i < pf.n; i++) fwd += pf.sec[i];
        for (int i = 0; i < pb.n; i++) bwd += pb.sec[i];
        printf("profile (share of the timed step, %.1f ms/step; profiling adds a little overhead):\n", ms);
        printf("  forward (model)              %9.2f ms/step %6.1f%%\n", 1e3 * fwd / steps, 100 * fwd / t_timed);
        prof_print(&pp, "other phases", t_timed, steps);
        prof_print(&pf, "forward by module", t_timed, steps);
        prof_print(&pb, "backward by op (model and loss)", t_timed, steps);
        (void)bwd;
    }
    printf("result: threads=%d batch=%d frames=%d steps=%d ms_per_step=%.2f utt_per_s=%.2f\n", g->threads, batch,
           frames, steps, ms, ups);

    ctx_free(g);
    adamw_free(&adam);
    if (ls.class_weights) tensor_heap_free(ls.class_weights);
    for (int i = 0; i < POOL; i++) synth_free(&pool[i]);
    experiment_free(&e);
    config_free(&cfg);
    return 0;
}
