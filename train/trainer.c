#include "trainer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "eam.h"
#include "experiment.h"
#include "json.h"
#include "losses.h"
#include "mea.h"
#include "optim.h"
#include "report.h"
#include "tensorboard.h"

/* ---- small utilities ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile sig_atomic_t g_interrupted = 0;
static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

static int mkdir_p(const char *path, SercErr *err) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return serc_fail(err, "%s: cannot create folder: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return serc_fail(err, "%s: cannot create folder: %s", buf, strerror(errno));
    return 0;
}

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = serc_malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The label names as a JSON array (checkpoint metadata serc.labels). */
static char *labels_json(const LabelMap *m) {
    JsonBuf b = {0};
    jsonbuf_append(&b, "[", 1);
    for (int i = 0; i < m->n; i++) {
        if (i) jsonbuf_append(&b, ", ", 2);
        jsonbuf_string(&b, m->names[i], strlen(m->names[i]));
    }
    jsonbuf_append(&b, "]", 1);
    char *s = serc_malloc(b.len + 1);
    memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    jsonbuf_free(&b);
    return s;
}

static char *config_text(const TrainConfig *cfg) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    config_write_file(cfg, f);
    fclose(f);
    return buf;
}

/* ---- the loss of one batch ---- */

enum { T_CE, T_FOCAL, T_KL, T_CENTER, T_SUPCON, T_CCC, T_EDRL_INTRA, T_EDRL_RECON, T_EDRL_ORTH, T_MATER_HEADS,
       T_LDL, T_SPHERE_AUX, T_COUNT };
static const char *const TERM_NAMES[T_COUNT] = {"ce", "focal", "kl", "center", "supcon", "ccc",
                                                "edrl_intra", "edrl_recon", "edrl_orth", "mater_heads",
                                                "ldl", "sphere_aux"};

typedef struct LossSetup {
    MultiLoss ml;
    int slot[T_COUNT]; /* index in ml, or -1 when the term is off */
    Tensor *class_weights; /* heap (C) or NULL */
    Tensor *octant_weights; /* EmoSphere-SER: heap (8) or NULL */
} LossSetup;

static void loss_setup(LossSetup *ls, const TrainConfig *cfg, const Manifest *train, const LabelMap *labels) {
    memset(ls, 0, sizeof *ls);
    multiloss_init(&ls->ml);
    const int edrl = cfg->model.edrl;
    /* MATER's per-head term: only where there are several heads (not text only) */
    const int mater = cfg->model.text_encoder[0] && !cfg->model.mater_text_only;
    const double w[T_COUNT] = {cfg->loss.ce, cfg->loss.focal, cfg->loss.kl, cfg->loss.center, cfg->loss.supcon, cfg->loss.ccc,
                               edrl ? cfg->loss.edrl_intra : 0, edrl ? cfg->loss.edrl_recon : 0, edrl ? cfg->loss.edrl_orth : 0,
                               mater ? cfg->loss.mater_heads : 0, cfg->loss.ldl,
                               cfg->model.emosphere ? cfg->loss.sphere_aux : 0};
    MultiLossNorm norm = cfg->loss.normalise ? MULTILOSS_NORM_MAX : MULTILOSS_NORM_NONE;
    for (int t = 0; t < T_COUNT; t++) ls->slot[t] = w[t] > 0 ? multiloss_add(&ls->ml, TERM_NAMES[t], (float)w[t], norm) : -1;
    if (cfg->loss.class_weights) {
        /* N / (C count_c), the SERNC baseline's weights, from the training manifest's labels */
        int64_t *counts = serc_calloc((size_t)labels->n, sizeof *counts);
        for (int i = 0; i < train->n; i++) {
            int c = train->utts[i].label ? labelmap_index(labels, train->utts[i].label) : -1;
            if (c >= 0) counts[c]++;
        }
        ls->class_weights = tensor_heap_new(SERC_F32, SHAPE(labels->n));
        loss_class_weights_balanced(counts, labels->n, tensor_f32(ls->class_weights));
        free(counts);
    }
    if (ls->slot[T_SPHERE_AUX] >= 0 && cfg->loss.class_weights) {
        /* EmoSphere-SER's class-weighted octant CE: N / (8 count_o) over the training A/V/D points */
        float *avd = serc_malloc(sizeof(float) * 3 * (size_t)(train->n > 0 ? train->n : 1));
        int64_t n = 0;
        for (int i = 0; i < train->n; i++) {
            const Utterance *u = &train->utts[i];
            if (!(u->has_arousal && u->has_valence && u->has_dominance)) continue;
            avd[3 * n] = (float)u->arousal, avd[3 * n + 1] = (float)u->valence, avd[3 * n + 2] = (float)u->dominance;
            n++;
        }
        ls->octant_weights = tensor_heap_new(SERC_F32, SHAPE(EMOSPHERE_OCTANTS));
        emosphere_octant_class_weights(avd, n, tensor_f32(ls->octant_weights));
        free(avd);
    }
}

/* The epoch's weights: the multi-loss schedules, and EmoSphere-SER's octant weight
 * loss.sphere_aux (1 - (epoch / E) 0.99), 0 from epoch E = loss.sphere_aux_epochs on. */
static void loss_set_epoch(LossSetup *ls, const TrainConfig *cfg, int epoch) {
    multiloss_set_epoch(&ls->ml, epoch);
    if (ls->slot[T_SPHERE_AUX] >= 0) {
        float w = (float)(cfg->loss.sphere_aux * emosphere_aux_weight(epoch, cfg->loss.sphere_aux_epochs));
        multiloss_schedule(&ls->ml, ls->slot[T_SPHERE_AUX], w, w, 0.0, 1.0);
    }
}

/* EmoSphere-SER's terms: 1 - CCC on the normalised scale, and the octant cross-entropy (NULL where its
 * slot is off). bt->avd is on 1..7. */
static void emosphere_terms(Ctx *g, const LossSetup *ls, const SerOutput *out, const BatchTensors *bt, Tensor **ccc,
                            Tensor **aux) {
    int64_t B = bt->avd->shape[0];
    Tensor *norm = tensor_empty(g, SERC_F32, SHAPE(B, 3));
    Tensor *octant = tensor_empty(g, SERC_I32, SHAPE(B));
    emosphere_targets(tensor_f32(bt->avd), B, tensor_f32(norm), tensor_i32(octant));
    if (ccc) *ccc = loss_ccc(g, out->avd, norm);
    if (aux) *aux = loss_cross_entropy(g, out->octant_logits, octant, ls->octant_weights, 0.0f);
}

/* MATER: cross-entropy of each head on its own (word, utterance, audio-only, text-only), averaged, so that
 * every head is a classifier in its own right (docs/methods.md, MATER). */
static Tensor *mater_heads_loss(Ctx *g, const MaterOutput *o, const Tensor *target, const Tensor *class_weights) {
    Tensor *heads[4] = {o->level_logits[MATER_LEVEL_WORD], o->level_logits[MATER_LEVEL_UTTERANCE], o->audio_logits,
                        o->text_logits};
    Tensor *acc = NULL;
    int n = 0;
    for (int i = 0; i < 4; i++) {
        if (!heads[i]) continue;
        Tensor *l = loss_cross_entropy(g, heads[i], target, class_weights, 0.0f);
        acc = acc ? op_add(g, acc, l) : l;
        n++;
    }
    return acc ? op_scale(g, acc, 1.0f / (float)n) : tensor_zeros(g, SERC_F32, SHAPE(1));
}

/* Builds the weighted multi-loss of one batch; NULL when no term applies (e.g. no labels). */
static Tensor *batch_loss(Ctx *g, Experiment *e, LossSetup *ls, const SerOutput *out, const BatchTensors *bt) {
    const TrainConfig *cfg = &e->cfg;
    Tensor *terms[MULTILOSS_MAX_TERMS] = {0};
    int any = 0;
    if (bt->all_labeled) {
        if (ls->slot[T_CE] >= 0) {
            /* with EAM the target is the mixed soft label; otherwise the class index */
            const Tensor *target = cfg->eam.enabled ? bt->soft : bt->labels;
            terms[ls->slot[T_CE]] = loss_cross_entropy(g, out->logits, target, ls->class_weights, (float)cfg->loss.label_smoothing);
        }
        if (ls->slot[T_FOCAL] >= 0) terms[ls->slot[T_FOCAL]] = loss_focal(g, out->logits, bt->labels, (float)cfg->loss.focal_gamma, ls->class_weights);
        if (ls->slot[T_KL] >= 0) terms[ls->slot[T_KL]] = loss_kl(g, out->logits, cfg->eam.enabled ? bt->soft : bt->dist);
        if (ls->slot[T_CENTER] >= 0) terms[ls->slot[T_CENTER]] = loss_center(g, out->embedding, bt->labels, e->centers);
        if (ls->slot[T_SUPCON] >= 0) terms[ls->slot[T_SUPCON]] = loss_supcon(g, out->embedding, bt->labels, NULL, (float)cfg->loss.temperature);
        if (ls->slot[T_EDRL_INTRA] >= 0)
            terms[ls->slot[T_EDRL_INTRA]] = loss_cross_entropy(g, out->edrl.block_logits, bt->labels, ls->class_weights, 0.0f);
        if (ls->slot[T_MATER_HEADS] >= 0) terms[ls->slot[T_MATER_HEADS]] = mater_heads_loss(g, &out->mater, cfg->eam.enabled ? bt->soft : bt->labels, ls->class_weights);
        if (ls->slot[T_LDL] >= 0) terms[ls->slot[T_LDL]] = loss_ldl(g, out->logits, cfg->eam.enabled ? bt->soft : bt->dist, (float)cfg->loss.ldl_cos);
        any = 1;
    }
    /* EDRL's unsupervised terms need no labels */
    if (ls->slot[T_EDRL_RECON] >= 0) {
        terms[ls->slot[T_EDRL_RECON]] = edrl_recon_loss(g, out->edrl.recon, edrl_input_stats(g, bt->feats, bt->lengths));
        any = 1;
    }
    if (ls->slot[T_EDRL_ORTH] >= 0) {
        terms[ls->slot[T_EDRL_ORTH]] = edrl_orth_loss(g, out->edrl.intra, out->edrl.shared);
        any = 1;
    }
    if (out->octant_logits && bt->all_avd && (ls->slot[T_CCC] >= 0 || ls->slot[T_SPHERE_AUX] >= 0)) {
        /* EmoSphere-SER: the A/V/D head is on the normalised scale */
        emosphere_terms(g, ls, out, bt, ls->slot[T_CCC] >= 0 ? &terms[ls->slot[T_CCC]] : NULL,
                        ls->slot[T_SPHERE_AUX] >= 0 ? &terms[ls->slot[T_SPHERE_AUX]] : NULL);
        any = 1;
    } else if (ls->slot[T_CCC] >= 0 && bt->all_avd) {
        terms[ls->slot[T_CCC]] = loss_ccc(g, out->avd, bt->avd);
        any = 1;
    }
    if (!any) return NULL;
    /* a term that could not be computed for this batch contributes zero */
    for (int i = 0; i < ls->ml.n; i++)
        if (!terms[i]) terms[i] = tensor_zeros(g, SERC_F32, SHAPE(1));
    return multiloss_combine(g, &ls->ml, terms);
}

/* ---- evaluation ---- */

static int evaluate_with(Experiment *e, const Manifest *m, const LoaderOptions *lo, LossSetup *ls, EvalResult *r,
                         SercErr *err) {
    memset(r, 0, sizeof *r);
    r->n_classes = e->labels->n;
    confusion_init(&r->cm, e->labels->n);
    Loader *ld = loader_new(m, e->labels, lo, err);
    if (!ld) return -1;
    loader_epoch_begin(ld, 0);
    Ctx *g = ctx_new((uint64_t)e->cfg.run.seed);
    g->training = 0;
    ctx_no_grad(g);
    float *pred_avd = NULL, *true_avd = NULL;
    int64_t n_avd = 0, cap_avd = 0;
    double loss_sum = 0;
    int64_t loss_n = 0;
    LoaderBatch *b;
    int rc;
    while ((rc = loader_next(ld, &b, err)) == 1) {
        ctx_step_begin(g);
        BatchTensors bt;
        experiment_batch_tensors(g, b, &bt);
        SerOutput out = experiment_forward(g, e, m, b, &bt);
        const float *lg = tensor_f32(out.logits);
        for (int i = 0; i < b->B; i++) {
            if (b->labels[i] < 0) continue;
            confusion_add(&r->cm, b->labels[i], argmax_f32(lg + (int64_t)i * r->n_classes, r->n_classes));
        }
        if (ls && bt.all_labeled && b->B > 0) {
            Tensor *l = loss_cross_entropy(g, out.logits, bt.labels, ls->class_weights, 0.0f);
            loss_sum += tensor_f32(l)[0] * b->B;
            loss_n += b->B;
        }
        if (out.avd) {
            for (int i = 0; i < b->B; i++) {
                if (!(b->has_avd[i * 3] && b->has_avd[i * 3 + 1] && b->has_avd[i * 3 + 2])) continue;
                if (n_avd == cap_avd) {
                    cap_avd = cap_avd ? 2 * cap_avd : 256;
                    pred_avd = serc_realloc(pred_avd, sizeof(float) * 3 * (size_t)cap_avd);
                    true_avd = serc_realloc(true_avd, sizeof(float) * 3 * (size_t)cap_avd);
                }
                memcpy(pred_avd + 3 * n_avd, tensor_f32(out.avd) + 3 * i, 3 * sizeof(float));
                if (out.octant_logits) /* EmoSphere-SER: scored on the labels' 1..7 scale */
                    for (int k = 0; k < 3; k++) pred_avd[3 * n_avd + k] = emosphere_denormalise(pred_avd[3 * n_avd + k]);
                memcpy(true_avd + 3 * n_avd, b->avd + 3 * i, 3 * sizeof(float));
                n_avd++;
            }
        }
        loader_release(ld, b);
    }
    LoaderStats st = loader_epoch_stats(ld);
    r->utterances = st.utterances;
    r->bad_skipped = st.bad_skipped;
    loader_free(ld);
    ctx_free(g);
    if (rc < 0) {
        free(pred_avd);
        free(true_avd);
        return -1;
    }
    r->wa = confusion_weighted_accuracy(&r->cm);
    r->ua = confusion_unweighted_accuracy(&r->cm);
    r->macro_f1 = confusion_macro_f1(&r->cm);
    r->loss = loss_n ? loss_sum / loss_n : NAN;
    if (n_avd > 1) {
        r->has_ccc = 1;
        concordance_cc_per_attribute(pred_avd, true_avd, n_avd, 3, r->ccc);
    }
    free(pred_avd);
    free(true_avd);
    return 0;
}

static int evaluate(Experiment *e, const Manifest *m, LossSetup *ls, EvalResult *r, SercErr *err) {
    LoaderOptions lo = experiment_loader_options(e, 0);
    return evaluate_with(e, m, &lo, ls, r, err);
}

int eval_experiment(Experiment *e, const Manifest *m, const LoaderOptions *lo, EvalResult *res, SercErr *err) {
    return evaluate_with(e, m, lo, NULL, res, err);
}

void eval_result_free(EvalResult *r) {
    if (r->cm.counts) confusion_free(&r->cm);
    memset(r, 0, sizeof *r);
}

void eval_print(const EvalResult *r, const char *const *names, const char *title, FILE *f) {
    fprintf(f, "%s: WA %.4f  UA %.4f  macro-F1 %.4f  (%lld utterances", title, r->wa, r->ua, r->macro_f1,
            (long long)confusion_total(&r->cm));
    if (r->bad_skipped) fprintf(f, ", %lld unreadable skipped", (long long)r->bad_skipped);
    fprintf(f, ")\n");
    if (r->has_ccc) fprintf(f, "%s: CCC arousal %.4f  valence %.4f  dominance %.4f\n", title, r->ccc[0], r->ccc[1], r->ccc[2]);
    confusion_print(&r->cm, names, f);
}

/* Higher is better: the loss enters negated. */
static double selection_score(const char *metric, const EvalResult *r) {
    if (strcmp(metric, "loss") == 0) return -r->loss;
    if (strcmp(metric, "wa") == 0) return r->wa;
    if (strcmp(metric, "macro_f1") == 0) return r->macro_f1;
    if (strcmp(metric, "ccc") == 0) return r->has_ccc ? (r->ccc[0] + r->ccc[1] + r->ccc[2]) / 3 : -INFINITY;
    return r->ua;
}

/* ---- EAM as the loader's augmentation ---- */

static double eam_augment(void *user, const LoaderAugmentItem *it) {
    const EamConfig *c = user;
    EamInfo info;
    return eam_mix(it->audio, it->n, it->partner, it->n_partner, c, it->seed, it->counter, &info);
}

/* ---- logging ---- */

/* A number for metrics.jsonl: printf's %.6f, or null where it is NaN or infinite (a diverged loss),
 * which JSON has no literal for. Rotates through 16 buffers: several may appear in one fprintf. */
static const char *jnum(double v, const char *fmt) {
    static char buf[16][40];
    static int k;
    char *b = buf[k++ % 16];
    if (isfinite(v)) snprintf(b, sizeof buf[0], fmt, v);
    else snprintf(b, sizeof buf[0], "null");
    return b;
}

static void log_eval_jsonl(FILE *f, TbWriter *tb, const char *event, const char *split, int epoch, int64_t step,
                           const EvalResult *r) {
    fprintf(f, "{\"event\": \"%s\", \"split\": \"%s\", \"epoch\": %d, \"step\": %lld, \"wa\": %s, \"ua\": %s, "
               "\"macro_f1\": %s",
            event, split, epoch, (long long)step, jnum(r->wa, "%.6f"), jnum(r->ua, "%.6f"), jnum(r->macro_f1, "%.6f"));
    if (!isnan(r->loss)) fprintf(f, ", \"loss\": %s", jnum(r->loss, "%.6f"));
    if (r->has_ccc)
        fprintf(f, ", \"ccc\": [%s, %s, %s]", jnum(r->ccc[0], "%.6f"), jnum(r->ccc[1], "%.6f"), jnum(r->ccc[2], "%.6f"));
    fprintf(f, ", \"utterances\": %lld, \"bad_skipped\": %lld}\n", (long long)r->utterances, (long long)r->bad_skipped);
    fflush(f);
    /* the same values as TensorBoard scalars: <split>/wa, ... */
    tb_scalarf(tb, step, r->wa, "%s/wa", split);
    tb_scalarf(tb, step, r->ua, "%s/ua", split);
    tb_scalarf(tb, step, r->macro_f1, "%s/macro_f1", split);
    if (!isnan(r->loss)) tb_scalarf(tb, step, r->loss, "%s/loss", split);
    static const char *const dims[3] = {"arousal", "valence", "dominance"};
    for (int d = 0; r->has_ccc && d < 3; d++) tb_scalarf(tb, step, r->ccc[d], "%s/ccc_%s", split, dims[d]);
    tb_flush(tb);
}

static void fmt_duration(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, n, "%d:%02d", t / 60, t % 60);
}

/* ---- training ---- */

typedef struct RunFiles {
    char *dir, *last, *best, *metrics, *config;
    FILE *log;
    TbWriter *tb; /* TensorBoard events: the same scalars as metrics.jsonl */
    int lock_fd;  /* RUN/.lock held with flock while the run lives (0 = none; fds 0-2 are never ours) */
} RunFiles;

/* Takes RUN/.lock so that two runs never share a directory: flock is released by the kernel when the
 * process ends, however it ends (kill -9 included), so a stale lock cannot block a resume. */
static int lock_run_dir(RunFiles *rf, SercErr *err) {
    char *path = path_in(rf->dir, ".lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        serc_fail(err, "%s: cannot create the run lock: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "?";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        if (n > 0) pid[n] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        serc_fail(err, "%s: another serc train (pid %s) is using this run directory; wait for it to end or set another "
                       "run.out", rf->dir, pid[0] ? pid : "?");
        free(path);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    int written = ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) == n;
    (void)written; /* the pid only makes the message above more helpful */
    free(path);
    rf->lock_fd = fd;
    return 0;
}

static int save_checkpoint(const char *path, Experiment *e, const AdamW *opt, const CheckpointState *st,
                           const LossSetup *ls, SercErr *err) {
    char *cfg = config_text(&e->cfg), *labels = labels_json(e->labels);
    char ml[512];
    size_t o = (size_t)snprintf(ml, sizeof ml, "[");
    for (int i = 0; i < ls->ml.n && o < sizeof ml; i++)
        o += (size_t)snprintf(ml + o, sizeof ml - o, i ? ", %.17g" : "%.17g", ls->ml.term[i].running_max);
    if (o < sizeof ml) snprintf(ml + o, sizeof ml - o, "]");
    const char *meta[] = {"serc.config", cfg, "serc.labels", labels, "serc.preset", e->cfg.data.preset,
                          "serc.multiloss", ml, "serc.version", "1", NULL};
    int rc = checkpoint_save(path, e->ps, opt, st, meta, err);
    free(cfg);
    free(labels);
    return rc;
}

/* Restores the multi-loss normalisers saved by save_checkpoint. */
static int restore_multiloss(const char *path, LossSetup *ls, SercErr *err) {
    char *s = checkpoint_read_meta(path, "serc.multiloss", err);
    if (!s) return -1;
    JsonValue *j = json_parse(s, strlen(s), err);
    int rc = 0;
    if (!j || json_type(j) != JSON_ARRAY || (int)json_len(j) != ls->ml.n) {
        rc = serc_fail(err, "%s: serc.multiloss metadata does not match the configured loss terms", path);
    } else {
        for (int i = 0; i < ls->ml.n; i++) ls->ml.term[i].running_max = json_number(json_at(j, (size_t)i));
    }
    json_free(j);
    free(s);
    return rc;
}

static void progress_line(FILE *f, int tty, int epoch, int epochs, int64_t batch, int64_t n_batches, double loss,
                          double ups, double eta) {
    char e[32];
    fmt_duration(eta, e, sizeof e);
    if (tty)
        fprintf(f, "\repoch %d/%d  batch %lld/%lld  loss %.4f  %.1f utt/s  ETA %s   ", epoch + 1, epochs,
                (long long)batch, (long long)n_batches, loss, ups, e);
    else
        fprintf(f, "epoch %d/%d  batch %lld/%lld  loss %.4f  %.1f utt/s  ETA %s\n", epoch + 1, epochs, (long long)batch,
                (long long)n_batches, loss, ups, e);
    fflush(f);
}

int train_run(const TrainConfig *cfg_in, const TrainOptions *opt, TrainResult *res, SercErr *err) {
    memset(res, 0, sizeof *res);
    res->best_epoch = -1;
    FILE *out = opt->log ? opt->log : stdout;
    TrainConfig cfg;
    RunFiles rf = {0};
    int rc = -1;
    if (opt->resume_dir) {
        /* the run's own resolved configuration governs a resumed run */
        char *p = path_in(opt->resume_dir, "config.toml");
        config_default(&cfg);
        int r = config_load(&cfg, p, err);
        free(p);
        if (r < 0) {
            config_free(&cfg);
            return serc_fail_prefix(err, "resume %s", opt->resume_dir);
        }
        free(cfg.run.out);
        cfg.run.out = serc_strdup(opt->resume_dir);
    } else {
        config_copy(&cfg, cfg_in);
    }
    if (config_validate(&cfg, err) < 0) {
        config_free(&cfg);
        return -1;
    }
    Manifest *train = NULL, *dev = NULL, *test = NULL;
    Experiment e;
    memset(&e, 0, sizeof e);
    LossSetup ls;
    memset(&ls, 0, sizeof ls);
    Loader *ld = NULL;
    AdamW adam;
    memset(&adam, 0, sizeof adam);
    Ctx *g = NULL;
    EamConfig eam = cfg.eam;

    if (!cfg.data.train || !cfg.data.train[0]) {
        serc_fail(err, "data.train: no training manifest");
        goto done;
    }
    if (!(train = manifest_read(cfg.data.train, err))) goto done;
    if (cfg.data.dev && cfg.data.dev[0] && !(dev = manifest_read(cfg.data.dev, err))) goto done;
    if (cfg.data.test && cfg.data.test[0] && !(test = manifest_read(cfg.data.test, err))) goto done;
    LabelMap *labels = experiment_labels(&cfg, err);
    if (!labels) goto done;
    if (experiment_build(&e, &cfg, labels, err) < 0) goto done;
    if (cfg.model.emosphere && !e.model.cfg.emosphere) {
        serc_fail(err, "model.emosphere: the experiment builder did not pass it to the model (train/experiment.c, "
                       "model_config_from)");
        goto done;
    }
    if (cfg.loss.ce > 0 || cfg.loss.focal > 0 || cfg.loss.kl > 0 || cfg.loss.center > 0 || cfg.loss.supcon > 0 ||
        cfg.loss.ldl > 0) {
        /* categorical training uses the utterances whose label is in the map (data.classes selects a subset) */
        Manifest *kept = manifest_new(train->dir);
        for (int i = 0; i < train->n; i++)
            if (train->utts[i].label && labelmap_index(e.labels, train->utts[i].label) >= 0) manifest_append_copy(kept, &train->utts[i]);
        if (kept->n == 0) {
            manifest_free(kept);
            serc_fail(err, "%s: no utterance has a label in the label map (%d classes)", cfg.data.train, e.labels->n);
            goto done;
        }
        if (kept->n < train->n && !opt->quiet)
            fprintf(out, "train: %d of %d utterances have a label in the label map; training on those\n", kept->n, train->n);
        manifest_free(train);
        train = kept;
    }
    loss_setup(&ls, &cfg, train, e.labels);

    rf.dir = serc_strdup(cfg.run.out);
    if (mkdir_p(rf.dir, err) < 0) goto done;
    if (lock_run_dir(&rf, err) < 0) goto done;
    rf.last = path_in(rf.dir, "last.safetensors");
    rf.best = path_in(rf.dir, "best.safetensors");
    rf.metrics = path_in(rf.dir, "metrics.jsonl");
    rf.config = path_in(rf.dir, "config.toml");
    if (!opt->resume_dir && config_write(&cfg, rf.config, err) < 0) goto done;

    /* optimiser: the centers have their own learning rate and no weight decay */
    int64_t n_params = params_count(e.ps);
    adamw_init(&adam, n_params, (float)cfg.optim.lr, (float)cfg.optim.weight_decay);
    if (e.centers) {
        int64_t start = (float *)e.centers->data - params_data(e.ps);
        adamw_add_group(&adam, start, tensor_numel(e.centers), (float)(cfg.loss.center_lr / cfg.optim.lr), 0.0f);
    }
    CheckpointState st = {0, 0, 0, 0, -INFINITY, -1, 0};
    if (opt->resume_dir) {
        if (checkpoint_load(rf.last, e.ps, &adam, &st, err) < 0) goto done;
        if (restore_multiloss(rf.last, &ls, err) < 0) goto done;
        fprintf(out, "resuming %s at epoch %d, batch %lld (step %lld)\n", rf.dir, st.epoch + 1, (long long)st.epoch_batch,
                (long long)st.step);
    }
    rf.log = fopen(rf.metrics, opt->resume_dir ? "a" : "w");
    if (!rf.log) {
        serc_fail(err, "%s: cannot open for writing: %s", rf.metrics, strerror(errno));
        goto done;
    }
    if (!(rf.tb = tb_open(rf.dir, err))) goto done; /* a resumed run adds a new events file */

    LoaderOptions lo = experiment_loader_options(&e, 1);
    if (cfg.eam.enabled) {
        lo.augment = eam_augment;
        lo.augment_user = &eam;
        lo.augment_prob = cfg.eam.prob;
    }
    if (!(ld = loader_new(train, e.labels, &lo, err))) goto done;
    int64_t n_batches = loader_epoch_begin(ld, 0);
    int64_t steps_per_epoch = (n_batches + cfg.optim.accumulate - 1) / cfg.optim.accumulate;
    LrSchedule sched = {strcmp(cfg.optim.schedule, "cosine") == 0 ? LR_COSINE
                        : strcmp(cfg.optim.schedule, "exp") == 0  ? LR_EXP
                                                                  : LR_CONSTANT,
                        cfg.optim.lr, cfg.optim.decay, cfg.optim.warmup_steps, steps_per_epoch * cfg.optim.epochs};

    if (!opt->quiet) {
        fprintf(out, "train: %d utterances (%lld batches of %d), dev %d, test %d, %d classes, %d threads\n", train->n,
                (long long)n_batches, cfg.optim.batch, dev ? dev->n : 0, test ? test->n : 0, e.labels->n, serc_num_threads());
        ser_model_describe(&e.model, e.ps, cfg.optim.batch, (int)(cfg.data.max_seconds * 100), out);
        char buf[256];
        fprintf(out, "loss: %s\n", multiloss_describe(&ls.ml, buf, sizeof buf));
    }

    g = ctx_new((uint64_t)cfg.run.seed);
    g->rng_offset = st.rng_offset;
    int tty = isatty(fileno(out)) && !opt->quiet;
    g_interrupted = 0;
    void (*old_handler)(int) = signal(SIGINT, on_sigint);
    double t_start = now_s();
    int64_t utts_done = 0, steps_this_run = 0;
    params_zero_grad(e.ps);
    for (int epoch = st.epoch; epoch < cfg.optim.epochs; epoch++) {
        loss_set_epoch(&ls, &cfg, epoch);
        n_batches = loader_epoch_begin(ld, epoch);
        double lr = lr_schedule_at(&sched, st.step, epoch);
        adam.lr = (float)lr;
        double loss_acc = 0, epoch_loss = 0;
        int64_t loss_cnt = 0, epoch_cnt = 0, batch_i = 0, pending = 0;
        double t_epoch = now_s();
        LoaderBatch *b;
        int r;
        while ((r = loader_next(ld, &b, err)) == 1) {
            if (batch_i < st.epoch_batch) { /* an interrupted epoch: these batches were already used */
                batch_i++;
                loader_release(ld, b);
                continue;
            }
            ctx_step_begin(g);
            g->training = 1;
            BatchTensors bt;
            experiment_batch_tensors(g, b, &bt);
            SerOutput o = experiment_forward(g, &e, train, b, &bt);
            Tensor *loss = batch_loss(g, &e, &ls, &o, &bt);
            int B = b->B;
            loader_release(ld, b);
            batch_i++;
            if (!loss) continue;
            double lv = tensor_f32(loss)[0];
            if (!isfinite(lv)) {
                char terms[256];
                serc_fail(err, "epoch %d batch %lld: loss is %g (terms: %s; diverged? lower optim.lr); nothing of this "
                               "step was applied and %s holds the last good state",
                          epoch + 1, (long long)batch_i, lv, multiloss_describe(&ls.ml, terms, sizeof terms), rf.last);
                goto done_sig;
            }
            /* gradient accumulation: each micro-batch contributes 1/accumulate of its gradient */
            Tensor *scaled = cfg.optim.accumulate > 1 ? op_scale(g, loss, 1.0f / (float)cfg.optim.accumulate) : loss;
            serc_backward(g, scaled, NULL);
            pending++;
            loss_acc += lv;
            loss_cnt++;
            epoch_loss += lv;
            epoch_cnt++;
            utts_done += B;
            if (pending == cfg.optim.accumulate || batch_i == n_batches) {
                double gn = cfg.optim.clip > 0 ? clip_grad_norm(params_grad(e.ps), n_params, cfg.optim.clip)
                                               : grad_norm(params_grad(e.ps), n_params);
                if (!isfinite(gn)) {
                    /* never step on a non-finite gradient: name the first parameter that holds one */
                    const char *bad = "?";
                    for (int pi = 0; pi < params_len(e.ps) && bad[0] == '?'; pi++) {
                        Tensor *t = params_at(e.ps, pi);
                        if (!params_is_trainable(e.ps, pi) || !t->grad) continue;
                        const float *gp = tensor_f32(t->grad);
                        for (int64_t k = 0; k < tensor_numel(t); k++)
                            if (!isfinite(gp[k])) {
                                bad = t->name;
                                break;
                            }
                    }
                    serc_fail(err, "step %lld: the gradient of %s is not finite (loss %g was); the step was not applied "
                                   "and %s holds the last good state",
                              (long long)st.step + 1, bad, loss_acc / (loss_cnt ? loss_cnt : 1), rf.last);
                    goto done_sig;
                }
                adam.lr = (float)(lr = lr_schedule_at(&sched, st.step, epoch));
                adamw_step(&adam, params_data(e.ps), params_grad(e.ps));
                params_zero_grad(e.ps);
                pending = 0;
                st.step++;
                steps_this_run++;
                double el = now_s() - t_start, ups = utts_done / (el > 0 ? el : 1);
                if (cfg.run.log_every > 0 && st.step % cfg.run.log_every == 0) {
                    fprintf(rf.log, "{\"event\": \"step\", \"epoch\": %d, \"step\": %lld, \"loss\": %s, \"lr\": %s, "
                                    "\"grad_norm\": %s, \"utt_per_s\": %.2f",
                            epoch + 1, (long long)st.step, jnum(loss_acc / loss_cnt, "%.6f"), jnum(lr, "%.6g"),
                            jnum(gn, "%.6g"), ups);
                    for (int t = 0; t < ls.ml.n; t++)
                        fprintf(rf.log, ", \"loss_%s\": %s", ls.ml.term[t].name, jnum(ls.ml.term[t].value, "%.6f"));
                    fprintf(rf.log, "}\n");
                    fflush(rf.log);
                    tb_scalar(rf.tb, "train/loss", st.step, loss_acc / loss_cnt);
                    tb_scalar(rf.tb, "train/lr", st.step, lr);
                    tb_scalar(rf.tb, "train/grad_norm", st.step, gn);
                    tb_scalar(rf.tb, "train/utt_per_s", st.step, ups);
                    for (int t = 0; t < ls.ml.n; t++) tb_scalarf(rf.tb, st.step, ls.ml.term[t].value, "train/loss_%s", ls.ml.term[t].name);
                    tb_flush(rf.tb);
                    if (!opt->quiet) {
                        double per_batch = (now_s() - t_epoch) / (double)(batch_i - st.epoch_batch);
                        double eta = per_batch * ((double)(n_batches - batch_i) +
                                                  (double)(cfg.optim.epochs - epoch - 1) * (double)n_batches);
                        progress_line(out, tty, epoch, cfg.optim.epochs, batch_i, n_batches, loss_acc / loss_cnt, ups, eta);
                    }
                    loss_acc = 0;
                    loss_cnt = 0;
                }
                if (g_interrupted || (opt->stop_after_steps > 0 && steps_this_run >= opt->stop_after_steps)) {
                    st.epoch = epoch;
                    st.epoch_batch = batch_i;
                    st.rng_offset = g->rng_offset;
                    if (save_checkpoint(rf.last, &e, &adam, &st, &ls, err) < 0) goto done_sig;
                    if (tty) fputc('\n', out);
                    fprintf(out, "%s: saved %s at epoch %d batch %lld; continue with serc train --resume %s\n",
                            g_interrupted ? "interrupted" : "stopped", rf.last, epoch + 1, (long long)batch_i, rf.dir);
                    res->interrupted = 1;
                    res->epochs_done = epoch;
                    res->steps = st.step;
                    rc = 0;
                    goto done_sig;
                }
            }
        }
        if (r < 0) goto done_sig;
        if (tty) fputc('\n', out);
        st.epoch_batch = 0;
        LoaderStats ls_stats = loader_epoch_stats(ld);
        fprintf(rf.log, "{\"event\": \"epoch\", \"epoch\": %d, \"step\": %lld, \"loss\": %s, \"utterances\": %lld, "
                        "\"bad_skipped\": %lld, \"seconds\": %.2f}\n",
                epoch + 1, (long long)st.step, jnum(epoch_cnt ? epoch_loss / epoch_cnt : NAN, "%.6f"), (long long)ls_stats.utterances,
                (long long)ls_stats.bad_skipped, now_s() - t_epoch);
        tb_scalar(rf.tb, "train/epoch_loss", st.step, epoch_cnt ? epoch_loss / epoch_cnt : NAN);
        if (!opt->quiet)
            fprintf(out, "epoch %d/%d: train loss %.4f, %.1f s%s", epoch + 1, cfg.optim.epochs,
                    epoch_cnt ? epoch_loss / epoch_cnt : NAN, now_s() - t_epoch,
                    ls_stats.bad_skipped ? "" : "\n");
        if (!opt->quiet && ls_stats.bad_skipped) fprintf(out, ", %lld unreadable files skipped\n", (long long)ls_stats.bad_skipped);

        /* model selection on the dev set */
        int improved = 1;
        if (dev) {
            EvalResult dr;
            if (evaluate(&e, dev, &ls, &dr, err) < 0) goto done_sig;
            log_eval_jsonl(rf.log, rf.tb, "eval", "dev", epoch + 1, st.step, &dr);
            double score = selection_score(cfg.optim.early_stop, &dr);
            improved = score > st.best_metric;
            if (!opt->quiet)
                fprintf(out, "  dev: WA %.4f  UA %.4f  macro-F1 %.4f  loss %.4f%s\n", dr.wa, dr.ua, dr.macro_f1, dr.loss,
                        improved ? "  (best)" : "");
            if (improved) {
                st.best_metric = score;
                st.best_epoch = epoch + 1;
                st.bad_epochs = 0;
                eval_result_free(&res->dev);
                res->dev = dr;
                res->has_dev = 1;
            } else {
                st.bad_epochs++;
                eval_result_free(&dr);
            }
        } else {
            st.best_epoch = epoch + 1;
        }
        st.epoch = epoch + 1;
        st.rng_offset = g->rng_offset;
        /* best before last: a run killed between the two resumes from the previous last and redoes this
         * epoch (writing the same best again); the other order could leave a resumable last without the
         * best checkpoint its state refers to */
        if (improved && save_checkpoint(rf.best, &e, &adam, &st, &ls, err) < 0) goto done_sig;
        if (save_checkpoint(rf.last, &e, &adam, &st, &ls, err) < 0) goto done_sig;
        res->epochs_done = epoch + 1;
        if (g_interrupted) {
            fprintf(out, "interrupted: saved %s; continue with serc train --resume %s\n", rf.last, rf.dir);
            res->interrupted = 1;
            rc = 0;
            goto done_sig;
        }
        if (dev && strcmp(cfg.optim.early_stop, "none") != 0 && st.bad_epochs >= cfg.optim.patience) {
            if (!opt->quiet) fprintf(out, "early stop: no dev improvement in %d epochs\n", cfg.optim.patience);
            res->stopped_early = 1;
            break;
        }
    }
    res->steps = st.step;
    res->best_epoch = st.best_epoch;
    res->best_metric = st.best_metric;
    res->seconds = now_s() - t_start;
    res->utt_per_second = utts_done / (res->seconds > 0 ? res->seconds : 1);

    /* EDRL-MEA: align the best checkpoint's embeddings on the training set; the read-out joins the checkpoint */
    if (cfg.model.edrl && cfg.mea.components > 0) {
        if (checkpoint_load(rf.best, e.ps, NULL, NULL, err) < 0) goto done_sig;
        MeaFitInfo mi;
        if (mea_fit(&e, train, opt->quiet ? NULL : out, &mi, err) < 0) goto done_sig;
        if (save_checkpoint(rf.best, &e, &adam, &st, &ls, err) < 0) goto done_sig;
        fprintf(rf.log, "{\"event\": \"mea\", \"utterances\": %lld, \"blocks\": %d, \"components\": %d, "
                        "\"train_accuracy\": %s, \"objective\": %s}\n",
                (long long)mi.utterances, mi.blocks, mi.components, jnum(mi.train_accuracy, "%.6f"),
                jnum(mi.classifier_loss, "%.6f"));
        if (dev) {
            EvalResult dr;
            if (evaluate(&e, dev, &ls, &dr, err) < 0) goto done_sig;
            log_eval_jsonl(rf.log, rf.tb, "eval_mea", "dev_mea", st.best_epoch, st.step, &dr);
            if (!opt->quiet) fprintf(out, "  dev with MEA: WA %.4f  UA %.4f  macro-F1 %.4f\n", dr.wa, dr.ua, dr.macro_f1);
            eval_result_free(&res->dev);
            res->dev = dr;
            res->has_dev = 1;
        }
    }

    /* the test set, scored with the best checkpoint */
    if (test) {
        if (checkpoint_load(rf.best, e.ps, NULL, NULL, err) < 0) goto done_sig;
        if (evaluate(&e, test, &ls, &res->test, err) < 0) goto done_sig;
        res->has_test = 1;
        log_eval_jsonl(rf.log, rf.tb, "test", "test", st.best_epoch, st.step, &res->test);
        if (!opt->quiet) {
            char title[64];
            snprintf(title, sizeof title, "test (best epoch %d)", st.best_epoch);
            eval_print(&res->test, (const char *const *)e.labels->names, title, out);
        }
        char *svg = path_in(rf.dir, "confusion_test.svg");
        int w = confusion_write_svg(&res->test.cm, (const char *const *)e.labels->names, "test", svg, err);
        free(svg);
        if (w < 0) goto done_sig;
    }
    if (res->has_dev) {
        char *svg = path_in(rf.dir, "confusion_dev.svg");
        int w = confusion_write_svg(&res->dev.cm, (const char *const *)e.labels->names, "dev", svg, err);
        free(svg);
        if (w < 0) goto done_sig;
    }
    /* the run's page: config, curves, confusion, per-class scores (docs/reports.md) */
    fflush(rf.log);
    if (report_write(rf.dir, err) < 0) goto done_sig;
    if (!opt->quiet) fprintf(out, "report: %s/report.html\n", rf.dir);
    rc = 0;
done_sig:
    signal(SIGINT, old_handler);
done:
    if (rf.log) fclose(rf.log);
    if (rf.lock_fd > 2) close(rf.lock_fd);
    tb_close(rf.tb);
    free(rf.dir);
    free(rf.last);
    free(rf.best);
    free(rf.metrics);
    free(rf.config);
    ctx_free(g);
    loader_free(ld);
    adamw_free(&adam);
    if (ls.class_weights) tensor_heap_free(ls.class_weights);
    if (ls.octant_weights) tensor_heap_free(ls.octant_weights);
    if (e.ps) experiment_free(&e);
    manifest_free(train);
    manifest_free(dev);
    manifest_free(test);
    config_free(&cfg);
    return rc;
}

void train_result_free(TrainResult *r) {
    eval_result_free(&r->dev);
    eval_result_free(&r->test);
}

/* ---- evaluation of a saved checkpoint ---- */

int eval_checkpoint(const char *ckpt, const char *manifest, int workers, EvalResult *res, char ***label_names,
                    SercErr *err) {
    Experiment e;
    if (experiment_from_checkpoint(&e, ckpt, err) < 0) {
        if (e.ps) experiment_free(&e);
        return -1;
    }
    if (workers >= 0) e.cfg.data.workers = workers;
    Manifest *m = manifest_read(manifest, err);
    int rc = -1;
    if (m) rc = evaluate(&e, m, NULL, res, err);
    if (rc == 0 && label_names) {
        *label_names = serc_calloc((size_t)e.labels->n + 1, sizeof(char *));
        for (int i = 0; i < e.labels->n; i++) (*label_names)[i] = serc_strdup(e.labels->names[i]);
    }
    manifest_free(m);
    experiment_free(&e);
    return rc;
}
