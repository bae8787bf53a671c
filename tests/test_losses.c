/* The losses (losses/losses.h) through the opcheck harness and against PyTorch.
 *
 * - A table: each loss's forward against a double-precision reference written here from the formula,
 *   and its backward against finite differences of that reference, including degenerate batches (one
 *   class only, zero-weight classes, anchors without positives, constant predictions, B = 1). Labels,
 *   class weights and masks come from the case's attributes so that a row can state them exactly.
 * - Fixtures from tests/fixtures/make_loss_fixtures.py (torch 1.13, float64 from float32 inputs):
 *   value and every gradient, |ours - torch| <= 1e-4 |torch| + 1e-6.
 * - What a table cannot express: the multi-loss combiner's normaliser state, the center update, the
 *   zero-denominator CCC and exact zeros of empty losses.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "losses.h"
#include "opcheck.h"

#define LOSS_FIXTURE SERC_FIXTURES_DIR "/losses/losses.json"
#define FIXTURE_RTOL 1e-4
#define FIXTURE_ATOL 1e-6

/* i32 (B) labels / u8 (B) mask / f32 (n) vector from a case's attributes. */
static Tensor *labels_tensor(Ctx *g, const int32_t *y, int64_t B) {
    Tensor *t = tensor_empty(g, SERC_I32, SHAPE(B));
    memcpy(tensor_i32(t), y, (size_t)B * sizeof(int32_t));
    return t;
}
static Tensor *u8_tensor(Ctx *g, const uint8_t *m, int64_t B) {
    Tensor *t = tensor_empty(g, SERC_U8, SHAPE(B));
    memcpy(tensor_u8(t), m, (size_t)B);
    return t;
}
static Tensor *f32_vector(Ctx *g, const float *v, int64_t n) {
    Tensor *t = tensor_empty(g, SERC_F32, SHAPE(n));
    memcpy(tensor_f32(t), v, (size_t)n * sizeof(float));
    return t;
}

/* log softmax of row x[0..C) in double. */
static void ref_log_softmax(const double *x, int64_t C, double *lp) {
    double mx = -INFINITY, s = 0;
    for (int64_t c = 0; c < C; c++) mx = fmax(mx, x[c]);
    for (int64_t c = 0; c < C; c++) s += exp(x[c] - mx);
    for (int64_t c = 0; c < C; c++) lp[c] = x[c] - mx - log(s);
}

/* Raw non-negative values (B, C) -> distributions; entries with (b + c) % zero_every == 0 set to 0 first
 * (zero_every 0: none). The op's build does the same in f32. */
static void ref_distribution(const double *raw, int64_t B, int64_t C, int zero_every, double *t) {
    for (int64_t b = 0; b < B; b++) {
        double s = 0;
        for (int64_t c = 0; c < C; c++) {
            t[b * C + c] = (zero_every && (b + c) % zero_every == 0) ? 0.0 : raw[b * C + c];
            s += t[b * C + c];
        }
        for (int64_t c = 0; c < C; c++) t[b * C + c] /= s;
    }
}
static Tensor *distribution_tensor(Ctx *g, const Tensor *raw, int zero_every) {
    int64_t B = raw->shape[0], C = raw->shape[1];
    Tensor *t = tensor_empty(g, SERC_F32, SHAPE(B, C));
    const float *r = tensor_f32(raw);
    float *tv = tensor_f32(t);
    for (int64_t b = 0; b < B; b++) {
        float s = 0;
        for (int64_t c = 0; c < C; c++) {
            tv[b * C + c] = (zero_every && (b + c) % zero_every == 0) ? 0.0f : r[b * C + c];
            s += tv[b * C + c];
        }
        for (int64_t c = 0; c < C; c++) tv[b * C + c] /= s;
    }
    return t;
}

/* ---- cross-entropy ---- */

typedef struct CeAttr {
    const int32_t *labels; /* NULL: soft targets from input 1 */
    const float *weights;  /* NULL: unweighted */
    float smoothing;
    int zero_every;        /* soft targets: zero pattern */
} CeAttr;

static Tensor *build_ce(Ctx *g, Tensor *const *in, const void *attr) {
    const CeAttr *a = attr;
    int64_t B = in[0]->shape[0], C = in[0]->shape[1];
    Tensor *targets = a->labels ? labels_tensor(g, a->labels, B) : distribution_tensor(g, in[1], a->zero_every);
    Tensor *w = a->weights ? f32_vector(g, a->weights, C) : NULL;
    return loss_cross_entropy(g, in[0], targets, w, a->smoothing);
}

/* torch.nn.functional.cross_entropy, reduction 'mean', as its documentation writes it. */
static void ref_ce(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)on;
    const CeAttr *a = attr;
    int64_t B = spec[0].shape[0], C = spec[0].shape[1];
    double lp[64], t[64 * 64], eps = a->smoothing, num = 0, den = 0;
    if (!a->labels) ref_distribution(in[1], B, C, a->zero_every, t);
    for (int64_t b = 0; b < B; b++) {
        ref_log_softmax(in[0] + b * C, C, lp);
        if (a->labels) {
            int y = a->labels[b];
            double wy = a->weights ? a->weights[y] : 1, smooth = 0;
            for (int64_t c = 0; c < C; c++) smooth -= (a->weights ? a->weights[c] : 1) * lp[c];
            num += (1 - eps) * wy * -lp[y] + eps / (double)C * smooth;
            den += wy;
        } else {
            for (int64_t c = 0; c < C; c++)
                num -= (a->weights ? a->weights[c] : 1) * ((1 - eps) * t[b * C + c] + eps / (double)C) * lp[c];
            den += 1;
        }
    }
    out[0] = den != 0 ? num / den : 0;
}

#define CE(nm, a, B, C) {.name = nm, .build = build_ce, .reference = ref_ce, .attr = &a, .n_in = 1, \
                         .in = {REALR(-3, 3, B, C)}}
#define CE_SOFT(nm, a, B, C) {.name = nm, .build = build_ce, .reference = ref_ce, .attr = &a, .n_in = 2, \
                              .in = {REALR(-3, 3, B, C), CONSTR(0.05, 1, B, C)}}

static const int32_t Y6[] = {0, 3, 1, 1, 2, 0}, Y6_ONE[] = {2, 2, 2, 2, 2, 2}, Y1[] = {1};
static const int32_t Y7[] = {4, 0, 2, 2, 1, 3, 0}, Y6_ZW[] = {1, 0, 1, 3, 2, 1}, Y4_ALLZW[] = {1, 3, 1, 3};
static const float W4[] = {0.5f, 2.0f, 1.0f, 1.5f}, W5[] = {0.25f, 1.5f, 1.0f, 3.0f, 0.75f};
static const float W4_ZERO[] = {1.0f, 0.0f, 2.0f, 0.0f};
static const CeAttr CE_PLAIN = {Y6, NULL, 0, 0}, CE_W = {Y6, W4, 0, 0}, CE_W_LS = {Y7, W5, 0.1f, 0},
                    CE_LS = {Y6, NULL, 0.2f, 0}, CE_ONE = {Y6_ONE, W4, 0.1f, 0}, CE_ZW = {Y6_ZW, W4_ZERO, 0.05f, 0},
                    CE_ALLZW = {Y4_ALLZW, W4_ZERO, 0, 0}, CE_B1 = {Y1, NULL, 0, 0}, CE_LS1 = {Y6, W4, 1.0f, 0},
                    CE_SOFT_PLAIN = {NULL, NULL, 0, 0}, CE_SOFT_ZEROS = {NULL, NULL, 0, 3},
                    CE_SOFT_W_LS = {NULL, W5, 0.2f, 2};

/* ---- focal ---- */

typedef struct FocalAttr {
    const int32_t *labels;
    const float *alpha;
    float gamma;
} FocalAttr;

static Tensor *build_focal(Ctx *g, Tensor *const *in, const void *attr) {
    const FocalAttr *a = attr;
    int64_t B = in[0]->shape[0], C = in[0]->shape[1];
    return loss_focal(g, in[0], labels_tensor(g, a->labels, B), a->gamma, a->alpha ? f32_vector(g, a->alpha, C) : NULL);
}

/* Lin et al. 2017: mean_b -alpha_y (1 - p_y)^gamma log p_y. */
static void ref_focal(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)on;
    const FocalAttr *a = attr;
    int64_t B = spec[0].shape[0], C = spec[0].shape[1];
    double lp[64], s = 0;
    for (int64_t b = 0; b < B; b++) {
        ref_log_softmax(in[0] + b * C, C, lp);
        int y = a->labels[b];
        s += -(a->alpha ? a->alpha[y] : 1) * pow(1 - exp(lp[y]), a->gamma) * lp[y];
    }
    out[0] = s / (double)B;
}

#define FOCAL(nm, a, B, C) {.name = nm, .build = build_focal, .reference = ref_focal, .attr = &a, .n_in = 1, \
                            .in = {REALR(-3, 3, B, C)}}

static const float A4[] = {0.25f, 0.5f, 0.75f, 1.0f}, A4_ZERO[] = {1.0f, 0.0f, 2.0f, 0.5f};
static const FocalAttr FO_2 = {Y6, NULL, 2}, FO_2A = {Y6, A4, 2}, FO_HALF = {Y6, A4_ZERO, 0.5f}, FO_0 = {Y6, NULL, 0},
                       FO_ONE = {Y6_ONE, NULL, 1.5f}, FO_B1 = {Y1, A4, 3}, FO_5 = {Y6, NULL, 5};

/* ---- KL ---- */

static Tensor *build_kl(Ctx *g, Tensor *const *in, const void *attr) {
    return loss_kl(g, in[0], distribution_tensor(g, in[1], *(const int *)attr));
}

/* torch.nn.KLDivLoss(reduction='batchmean'): sum t (log t - lp) / B, t = 0 terms 0. */
static void ref_kl(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)on;
    int64_t B = spec[0].shape[0], C = spec[0].shape[1];
    double lp[64], t[64 * 64], s = 0;
    ref_distribution(in[1], B, C, *(const int *)attr, t);
    for (int64_t b = 0; b < B; b++) {
        ref_log_softmax(in[0] + b * C, C, lp);
        for (int64_t c = 0; c < C; c++)
            if (t[b * C + c] > 0) s += t[b * C + c] * (log(t[b * C + c]) - lp[c]);
    }
    out[0] = s / (double)B;
}

#define KL(nm, zero_every, B, C) {.name = nm, .build = build_kl, .reference = ref_kl, .attr = &zero_every, .n_in = 2, \
                                  .in = {REALR(-3, 3, B, C), CONSTR(0.05, 1, B, C)}}
static const int KL_DENSE = 0, KL_ZEROS3 = 3, KL_ZEROS2 = 2;

/* ---- center loss ---- */

typedef struct CenterAttr {
    const int32_t *labels;
} CenterAttr;

static Tensor *build_center(Ctx *g, Tensor *const *in, const void *attr) {
    const CenterAttr *a = attr;
    return loss_center(g, in[0], labels_tensor(g, a->labels, in[0]->shape[0]), in[1]);
}

/* Wen et al. 2016 with a batch mean: 0.5 mean_b ||e_b - c_y||^2. */
static void ref_center(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)on;
    const CenterAttr *a = attr;
    int64_t B = spec[0].shape[0], D = spec[0].shape[1];
    double s = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t d = 0; d < D; d++) s += 0.5 * pow(in[0][b * D + d] - in[1][a->labels[b] * D + d], 2);
    out[0] = s / (double)B;
}

#define CENTER(nm, a, B, D, CENTERS) {.name = nm, .build = build_center, .reference = ref_center, .attr = &a, \
                                      .n_in = 2, .in = {REAL(B, D), CENTERS}}
static const CenterAttr CT_6 = {Y6}, CT_ONE = {Y6_ONE}, CT_B1 = {Y1};

/* ---- supervised contrastive ---- */

typedef struct SupConAttr {
    const int32_t *labels;
    const uint8_t *valid; /* NULL: all valid */
    float temperature;
} SupConAttr;

static Tensor *build_supcon(Ctx *g, Tensor *const *in, const void *attr) {
    const SupConAttr *a = attr;
    int64_t B = in[0]->shape[0];
    return loss_supcon(g, in[0], labels_tensor(g, a->labels, B), a->valid ? u8_tensor(g, a->valid, B) : NULL,
                       a->temperature);
}

/* Khosla et al. 2020, L_out: over valid anchors i with positives, -1/|P(i)| sum_p log softmax_{A(i)}(s_i)_p,
 * s_ij = <e_i/|e_i|, e_j/|e_j|> / T; mean over those anchors, 0 when there are none. */
static void ref_supcon(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)on;
    const SupConAttr *a = attr;
    int64_t B = spec[0].shape[0], D = spec[0].shape[1];
    double z[64 * 16], total = 0;
    int anchors = 0;
    for (int64_t b = 0; b < B; b++) {
        double n = 0;
        for (int64_t d = 0; d < D; d++) n += in[0][b * D + d] * in[0][b * D + d];
        for (int64_t d = 0; d < D; d++) z[b * D + d] = in[0][b * D + d] / sqrt(n);
    }
    for (int64_t i = 0; i < B; i++) {
        if (a->valid && !a->valid[i]) continue;
        double s[64], denom = 0, pos = 0;
        int npos = 0;
        for (int64_t j = 0; j < B; j++) {
            if (j == i || (a->valid && !a->valid[j])) continue;
            s[j] = 0;
            for (int64_t d = 0; d < D; d++) s[j] += z[i * D + d] * z[j * D + d] / a->temperature;
            denom += exp(s[j]);
        }
        for (int64_t j = 0; j < B; j++) {
            if (j == i || (a->valid && !a->valid[j]) || a->labels[j] != a->labels[i]) continue;
            pos += log(exp(s[j]) / denom);
            npos++;
        }
        if (npos == 0) continue;
        total += -pos / npos;
        anchors++;
    }
    out[0] = anchors ? total / anchors : 0;
}

#define SUPCON(nm, a, B, D) {.name = nm, .build = build_supcon, .reference = ref_supcon, .attr = &a, .n_in = 1, \
                             .in = {REALNZ(B, D)}}
static const int32_t Y8[] = {0, 1, 2, 0, 1, 2, 0, 3}, Y8_DISTINCT[] = {0, 1, 2, 3, 4, 5, 6, 7};
static const int32_t Y8_PAD[] = {0, 1, 1, 0, 2, 2, 0, 1};
static const uint8_t V8[] = {1, 1, 1, 0, 1, 0, 1, 1}, V8_ONE[] = {0, 0, 1, 0, 0, 0, 0, 0};
static const SupConAttr SC_8 = {Y8, NULL, 0.1f}, SC_T05 = {Y6, NULL, 0.5f}, SC_ONE = {Y6_ONE, NULL, 0.07f},
                        SC_NOPOS = {Y8_DISTINCT, NULL, 0.1f}, SC_PAD = {Y8_PAD, V8, 0.1f}, SC_B1 = {Y1, NULL, 0.1f},
                        SC_PAD_ONE = {Y8_PAD, V8_ONE, 0.1f}, SC_T1 = {Y7, NULL, 1.0f};

/* ---- CCC ---- */

typedef struct CccAttr {
    int64_t B; /* > 0: pred is one row (1, K) repeated B times (constant predictions) */
} CccAttr;

static Tensor *build_ccc(Ctx *g, Tensor *const *in, const void *attr) {
    const CccAttr *a = attr;
    Tensor *pred = in[0];
    if (a->B > 0) pred = op_add(g, tensor_zeros(g, SERC_F32, SHAPE(a->B, in[0]->shape[1])), in[0]);
    return loss_ccc(g, pred, in[1]);
}

/* sum_k 1 - 2 cov / (var_p + var_t + (mu_p - mu_t)^2), population statistics. */
static void ref_ccc(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)on;
    const CccAttr *a = attr;
    int64_t B = spec[1].shape[0], K = spec[1].ndim == 2 ? spec[1].shape[1] : 1;
    double s = 0;
    for (int64_t k = 0; k < K; k++) {
        double mp = 0, mt = 0, vp = 0, vt = 0, cov = 0;
#define P_(i) in[0][(a->B > 0 ? 0 : (i)) * K + k]
        for (int64_t i = 0; i < B; i++) mp += P_(i) / B, mt += in[1][i * K + k] / B;
        for (int64_t i = 0; i < B; i++) {
            vp += pow(P_(i) - mp, 2) / B, vt += pow(in[1][i * K + k] - mt, 2) / B;
            cov += (P_(i) - mp) * (in[1][i * K + k] - mt) / B;
        }
#undef P_
        double den = vp + vt + pow(mp - mt, 2);
        s += 1 - (den > 0 ? 2 * cov / den : 1);
    }
    out[0] = s;
}

#define CCC(nm, a, P, T) {.name = nm, .build = build_ccc, .reference = ref_ccc, .attr = &a, .n_in = 2, .in = {P, T}}
static const CccAttr CCC_PLAIN = {0}, CCC_CONST8 = {8}, CCC_CONST1 = {1};

/* ---- multi-loss ---- */

typedef struct MultiAttr {
    int n;
    float w0[4], w1[4];
    double e0[4], e1[4]; /* e1 > e0: scheduled */
    int norm[4];
    double running_max[4]; /* prior normaliser state, above every drawn value so the scale stays fixed */
    double epoch;
} MultiAttr;

static const char *const TERM_NAMES[4] = {"kl", "focal", "center", "supcon"};

static Tensor *build_multi(Ctx *g, Tensor *const *in, const void *attr) {
    const MultiAttr *a = attr;
    MultiLoss ml;
    multiloss_init(&ml);
    for (int i = 0; i < a->n; i++) {
        multiloss_add(&ml, TERM_NAMES[i], a->w0[i], a->norm[i] ? MULTILOSS_NORM_MAX : MULTILOSS_NORM_NONE);
        if (a->e1[i] > a->e0[i]) multiloss_schedule(&ml, i, a->w0[i], a->w1[i], a->e0[i], a->e1[i]);
        ml.term[i].running_max = a->running_max[i];
    }
    multiloss_set_epoch(&ml, a->epoch);
    return multiloss_combine(g, &ml, in);
}

static void ref_multi(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)spec, (void)on;
    const MultiAttr *a = attr;
    double s = 0;
    for (int i = 0; i < a->n; i++) {
        double w = a->w0[i];
        if (a->e1[i] > a->e0[i]) {
            double f = fmin(1, fmax(0, (a->epoch - a->e0[i]) / (a->e1[i] - a->e0[i])));
            w = a->w0[i] + (a->w1[i] - a->w0[i]) * f;
        }
        s += w * (a->norm[i] ? 1 / a->running_max[i] : 1) * in[i][0];
    }
    out[0] = s;
}

#define MULTI(nm, a, n, ...) {.name = nm, .build = build_multi, .reference = ref_multi, .attr = &a, .n_in = n, \
                              .in = {__VA_ARGS__}}
#define TERM REALR(0.1, 2.0, 1)
static const MultiAttr ML_FIXED = {.n = 4, .w0 = {1, 0.5f, 0.1f, 0.3f}, .w1 = {1, 0.5f, 0.1f, 0.3f}},
                       ML_NORM = {.n = 3, .w0 = {1, 2, 0.5f}, .w1 = {1, 2, 0.5f}, .norm = {1, 0, 1},
                                  .running_max = {2.5, 0, 4.0}},
                       ML_RAMP = {.n = 2, .w0 = {0, 1}, .w1 = {1, 0.01f}, .e0 = {2, 0}, .e1 = {6, 5}, .epoch = 3.5},
                       ML_RAMP_AFTER = {.n = 2, .w0 = {0, 1}, .w1 = {1, 0.01f}, .e0 = {2, 0}, .e1 = {6, 5}, .epoch = 9},
                       ML_ZERO_W = {.n = 2, .w0 = {0, 1}, .w1 = {0, 1}};

/* ---- the table ---- */

static const OpCase cases[] = {
    CE("ce hard (6,4)", CE_PLAIN, 6, 4),
    CE("ce hard weights", CE_W, 6, 4),
    CE("ce hard weights smoothing 0.1", CE_W_LS, 7, 5),
    CE("ce hard smoothing 0.2", CE_LS, 6, 4),
    CE("ce hard smoothing 1", CE_LS1, 6, 4),
    CE("ce one class only", CE_ONE, 6, 4),
    CE("ce zero-weight classes", CE_ZW, 6, 4),
    CE("ce every sample zero-weight: 0", CE_ALLZW, 4, 4),
    CE("ce B=1", CE_B1, 1, 3),
    CE_SOFT("ce soft (5,4)", CE_SOFT_PLAIN, 5, 4),
    CE_SOFT("ce soft with zeros", CE_SOFT_ZEROS, 6, 4),
    CE_SOFT("ce soft weights smoothing", CE_SOFT_W_LS, 6, 5),
    CE_SOFT("ce soft B=1", CE_SOFT_PLAIN, 1, 4),

    FOCAL("focal gamma 2", FO_2, 6, 4),
    FOCAL("focal gamma 2 alpha", FO_2A, 6, 4),
    FOCAL("focal gamma 0.5 zero alpha", FO_HALF, 6, 4),
    FOCAL("focal gamma 0 (cross-entropy)", FO_0, 6, 4),
    FOCAL("focal gamma 5", FO_5, 6, 4),
    FOCAL("focal one class only", FO_ONE, 6, 3),
    FOCAL("focal B=1 gamma 3", FO_B1, 1, 4),

    KL("kl (5,4)", KL_DENSE, 5, 4),
    KL("kl zero targets", KL_ZEROS3, 6, 5),
    KL("kl half zero targets", KL_ZEROS2, 4, 6),
    KL("kl B=1", KL_ZEROS3, 1, 4),

    CENTER("center trained centers", CT_6, 6, 5, REAL(4, 5)),
    CENTER("center fixed centers", CT_6, 6, 5, CONSTR(-1, 1, 4, 5)),
    CENTER("center one class only", CT_ONE, 6, 3, REAL(3, 3)),
    CENTER("center B=1", CT_B1, 1, 4, REAL(2, 4)),

    SUPCON("supcon (8,5) T=0.1, a sample without positives", SC_8, 8, 5),
    SUPCON("supcon (6,4) T=0.5", SC_T05, 6, 4),
    SUPCON("supcon (7,6) T=1", SC_T1, 7, 6),
    SUPCON("supcon one class only", SC_ONE, 6, 3),
    SUPCON("supcon no positives: 0", SC_NOPOS, 8, 3),
    SUPCON("supcon padded items", SC_PAD, 8, 5),
    SUPCON("supcon one valid item: 0", SC_PAD_ONE, 8, 5),
    SUPCON("supcon B=1: 0", SC_B1, 1, 4),

    CCC("ccc (8,3)", CCC_PLAIN, REALR(1, 7, 8, 3), REALR(1, 7, 8, 3)),
    CCC("ccc (16) one attribute", CCC_PLAIN, REAL(16), REAL(16)),
    CCC("ccc constant predictions", CCC_CONST8, REALR(1, 7, 1, 3), REALR(1, 7, 8, 3)),
    CCC("ccc constant target", CCC_PLAIN, REALR(1, 7, 8, 2), CONSTR(4, 4, 8, 2)),
    CCC("ccc B=2", CCC_PLAIN, REAL(2, 2), REAL(2, 2)),
    CCC("ccc B=1", CCC_CONST1, REAL(1, 3), REAL(1, 3)),

    MULTI("multiloss fixed weights", ML_FIXED, 4, TERM, TERM, TERM, TERM),
    MULTI("multiloss normalised", ML_NORM, 3, TERM, TERM, TERM),
    MULTI("multiloss ramp mid", ML_RAMP, 2, TERM, TERM),
    MULTI("multiloss ramp after", ML_RAMP_AFTER, 2, TERM, TERM),
    MULTI("multiloss zero weight", ML_ZERO_W, 2, TERM, TERM),
};

/* Criterion runs each parameter in a fresh process of the same binary (BoxFort), where a PIE binary loads
 * at another address: pointers inside copied OpCase structs would dangle. So the parameters are
 * indices into the table, in Criterion's shared memory (cr_malloc), and each process reads its own copy
 * of the table. */
static void free_case_indices(struct criterion_test_params *p) { cr_free(p->params); }

ParameterizedTestParameters(losses, table) {
    size_t n = sizeof cases / sizeof cases[0];
    int *idx = cr_malloc(n * sizeof *idx);
    for (size_t i = 0; i < n; i++) idx[i] = (int)i;
    return cr_make_param_array(int, idx, n, free_case_indices);
}

ParameterizedTest(int *i, losses, table) { opcheck_run(&cases[*i]); }

/* ---- PyTorch fixtures ---- */

static JsonValue *load_fixture(char **text) {
    FILE *f = fopen(LOSS_FIXTURE, "rb");
    cr_assert(f, "cannot open %s (run tests/fixtures/make_loss_fixtures.py)", LOSS_FIXTURE);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *text = malloc((size_t)n + 1);
    cr_assert_eq(fread(*text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    SercErr err = {{0}};
    JsonValue *v = json_parse(*text, (size_t)n, &err);
    cr_assert(v, "%s: %s", LOSS_FIXTURE, err.msg);
    return v;
}

/* An arena tensor from {"shape": [...], "data": [...]}; dt f32, i32 or u8. NULL when key is absent. */
static Tensor *fixture_tensor(Ctx *g, const JsonValue *obj, const char *key, SercDType dt) {
    const JsonValue *v = json_get(obj, key);
    if (!v) return NULL;
    const JsonValue *shape = json_get(v, "shape"), *data = json_get(v, "data");
    int64_t sh[SERC_MAX_DIMS];
    int nd = (int)json_len(shape);
    for (int d = 0; d < nd; d++) sh[d] = json_int(json_at(shape, (size_t)d));
    Tensor *t = tensor_empty(g, dt, nd, sh);
    cr_assert_eq((int64_t)json_len(data), tensor_numel(t), "%s: data length", key);
    for (int64_t i = 0; i < tensor_numel(t); i++) {
        double x = json_number(json_at(data, (size_t)i));
        if (dt == SERC_F32) tensor_f32(t)[i] = (float)x;
        else if (dt == SERC_I32) tensor_i32(t)[i] = (int32_t)x;
        else tensor_u8(t)[i] = (uint8_t)x;
    }
    return t;
}

static double worst_ratio; /* max |ours - torch| / (rtol |torch| + atol) over the compared numbers */

static int close_to(double ours, double ref) {
    double r = fabs(ours - ref) / (FIXTURE_RTOL * fabs(ref) + FIXTURE_ATOL);
    if (!(r <= worst_ratio)) worst_ratio = r;
    return r <= 1.0;
}

/* Compares ours (n floats, NULL = all zero) with the fixture's "grads"[key]. */
static int check_grad(const char *cname, const char *key, const float *ours, const JsonValue *grads, int64_t n) {
    const JsonValue *data = json_get(json_get(grads, key), "data");
    cr_assert(data, "%s: fixture has no gradient '%s'", cname, key);
    cr_assert_eq((int64_t)json_len(data), n, "%s: gradient '%s' length", cname, key);
    for (int64_t i = 0; i < n; i++) {
        double r = json_number(json_at(data, (size_t)i)), a = ours ? ours[i] : 0.0;
        if (!close_to(a, r)) {
            cr_log_error("%s: d loss / d %s[%lld]: ours %.9g, torch %.9g", cname, key, (long long)i, a, r);
            return 0;
        }
    }
    return 1;
}

/* Runs one fixture case through SERC and compares value and gradients; returns 1 when all agree. */
static int run_fixture_case(const JsonValue *c) {
    const char *name = json_string(json_get(c, "name")), *loss = json_string(json_get(c, "loss"));
    const JsonValue *in = json_get(c, "inputs"), *params = json_get(c, "params"), *grads = json_get(c, "grads");
    Ctx *g = ctx_new(1);
    g->arena.poison = 1;
    Tensor *out = NULL, *diff[2] = {NULL, NULL};
    const char *diff_key[2] = {NULL, NULL};
    Tensor *x = fixture_tensor(g, in, "logits", SERC_F32), *y = fixture_tensor(g, in, "labels", SERC_I32);
    if (x) x->requires_grad = 1, diff[0] = x, diff_key[0] = "logits";
    if (!strcmp(loss, "cross_entropy")) {
        Tensor *t = y ? y : fixture_tensor(g, in, "targets", SERC_F32);
        out = loss_cross_entropy(g, x, t, fixture_tensor(g, in, "weights", SERC_F32),
                                 (float)json_number(json_get(params, "label_smoothing")));
    } else if (!strcmp(loss, "focal")) {
        out = loss_focal(g, x, y, (float)json_number(json_get(params, "gamma")), fixture_tensor(g, in, "alpha", SERC_F32));
    } else if (!strcmp(loss, "kl")) {
        out = loss_kl(g, x, fixture_tensor(g, in, "targets", SERC_F32));
    } else if (!strcmp(loss, "center")) {
        Tensor *e = fixture_tensor(g, in, "emb", SERC_F32), *cen = fixture_tensor(g, in, "centers", SERC_F32);
        e->requires_grad = cen->requires_grad = 1;
        diff[0] = e, diff_key[0] = "emb", diff[1] = cen, diff_key[1] = "centers";
        out = loss_center(g, e, y, cen);
    } else if (!strcmp(loss, "supcon")) {
        Tensor *e = fixture_tensor(g, in, "emb", SERC_F32);
        e->requires_grad = 1;
        diff[0] = e, diff_key[0] = "emb";
        out = loss_supcon(g, e, y, fixture_tensor(g, in, "valid", SERC_U8),
                          (float)json_number(json_get(params, "temperature")));
    } else if (!strcmp(loss, "ccc")) {
        Tensor *p = fixture_tensor(g, in, "pred", SERC_F32), *t = fixture_tensor(g, in, "target", SERC_F32);
        p->requires_grad = t->requires_grad = 1;
        diff[0] = p, diff_key[0] = "pred", diff[1] = t, diff_key[1] = "target";
        out = loss_ccc(g, p, t);
    } else {
        cr_assert_fail("%s: unknown loss '%s'", name, loss);
    }
    int ok = 1;
    double v = tensor_f32(out)[0], ref = json_number(json_get(c, "value"));
    if (!close_to(v, ref)) {
        cr_log_error("%s: value ours %.9g, torch %.9g", name, v, ref);
        ok = 0;
    }
    serc_backward(g, out, NULL);
    for (int k = 0; k < 2; k++)
        if (diff[k])
            ok &= check_grad(name, diff_key[k], diff[k]->grad ? tensor_f32(diff[k]->grad) : NULL, grads,
                             tensor_numel(diff[k]));
    if (!strcmp(loss, "center")) { /* Wen et al.'s update of the same centers */
        Tensor *cen = diff[1];
        center_update(cen, diff[0], y, (float)json_number(json_get(params, "alpha")));
        ok &= check_grad(name, "centers_updated", tensor_f32(cen), grads, tensor_numel(cen));
    }
    ctx_free(g);
    return ok;
}

Test(losses, pytorch_fixtures) {
    char *text;
    JsonValue *fx = load_fixture(&text);
    const JsonValue *cs = json_get(fx, "cases");
    const char *kinds[] = {"cross_entropy", "focal", "kl", "center", "supcon", "ccc"};
    int seen[6] = {0}, failed = 0;
    for (size_t i = 0; i < json_len(cs); i++) {
        const JsonValue *c = json_at(cs, i);
        for (int k = 0; k < 6; k++) seen[k] += !strcmp(json_string(json_get(c, "loss")), kinds[k]);
        failed += !run_fixture_case(c);
    }
    for (int k = 0; k < 6; k++) cr_expect(seen[k] >= 2, "fixtures hold %d %s cases", seen[k], kinds[k]);
    cr_log_info("%zu fixture cases; worst |ours - torch| / (1e-4 |torch| + 1e-6) = %.3g", json_len(cs), worst_ratio);
    cr_assert_eq(failed, 0, "%d of %zu fixture cases differ from torch (see the log)", failed, json_len(cs));
    json_free(fx);
    free(text);
}

/* ---- what the table cannot express ---- */

static Tensor *filled(Ctx *g, int ndim, const int64_t *shape, const float *v) {
    Tensor *t = tensor_empty(g, SERC_F32, ndim, shape);
    memcpy(tensor_f32(t), v, (size_t)tensor_numel(t) * sizeof(float));
    return t;
}

/* Identical constant columns: the denominator is 0, CCC = 1 by definition: loss 0, gradient 0, no NaN.
 * A constant prediction against a varying target: CCC = 0 and a finite gradient. */
Test(ccc, constant_columns) {
    Ctx *g = ctx_new(1);
    const float p[8] = {3, 2, 3, 2, 3, 2, 3, 2}, t[8] = {3, 1, 3, 2, 3, 5, 3, 7};
    Tensor *pt = filled(g, SHAPE(4, 2), p), *tt = filled(g, SHAPE(4, 2), t);
    pt->requires_grad = tt->requires_grad = 1;
    Tensor *l = loss_ccc(g, pt, tt);
    /* column 0: both 3 -> CCC 1; column 1: pred constant 2 vs varying -> CCC 0 */
    cr_assert_float_eq(tensor_f32(l)[0], 1.0f, 1e-6, "loss %g, want 0 + 1", (double)tensor_f32(l)[0]);
    serc_backward(g, l, NULL);
    for (int i = 0; i < 8; i++) {
        float gp = tensor_f32(pt->grad)[i], gt = tensor_f32(tt->grad)[i];
        cr_assert(isfinite(gp) && isfinite(gt), "gradient %d not finite: %g %g", i, (double)gp, (double)gt);
        if (i % 2 == 0) cr_assert(gp == 0 && gt == 0, "identical constant column passes gradient %g %g", (double)gp, (double)gt);
    }
    /* column 1: d(1 - CCC)/dp_i = -(2/den)(t_i - mt)/B with cov = 0 */
    double mt = (1 + 2 + 5 + 7) / 4.0, vt = 0;
    for (int i = 0; i < 4; i++) vt += pow(t[2 * i + 1] - mt, 2) / 4;
    double den = vt + pow(2 - mt, 2);
    for (int i = 0; i < 4; i++) {
        double want = -2 / den * (t[2 * i + 1] - mt) / 4;
        cr_assert(fabs(tensor_f32(pt->grad)[2 * i + 1] - want) < 1e-6, "pred grad %d: %g, want %g", i,
                  (double)tensor_f32(pt->grad)[2 * i + 1], want);
    }
    ctx_free(g);
}

/* No anchor has a positive: exactly 0, and backward gives exactly zero gradients. */
Test(supcon, no_positives_gives_exact_zero) {
    Ctx *g = ctx_new(1);
    const float e[6] = {1, 2, -1, 0.5f, 3, -2};
    const int32_t y[3] = {0, 1, 2};
    Tensor *et = filled(g, SHAPE(3, 2), e);
    et->requires_grad = 1;
    Tensor *l = loss_supcon(g, et, labels_tensor(g, y, 3), NULL, 0.1f);
    cr_assert_eq(tensor_f32(l)[0], 0.0f);
    serc_backward(g, l, NULL);
    for (int i = 0; i < 6; i++) cr_assert_eq(tensor_f32(et->grad)[i], 0.0f);
    ctx_free(g);
}

/* Every label's class weight is 0: torch gives NaN (0/0); SERC gives 0 and zero gradient. */
Test(cross_entropy, all_zero_weight_gives_zero) {
    Ctx *g = ctx_new(1);
    const float x[6] = {1, 2, 3, -1, 0, 1}, w[3] = {0, 1, 0};
    const int32_t y[2] = {0, 2};
    Tensor *xt = filled(g, SHAPE(2, 3), x);
    xt->requires_grad = 1;
    Tensor *l = loss_cross_entropy(g, xt, labels_tensor(g, y, 2), f32_vector(g, w, 3), 0.1f);
    cr_assert_eq(tensor_f32(l)[0], 0.0f);
    serc_backward(g, l, NULL);
    for (int i = 0; i < 6; i++) cr_assert_eq(tensor_f32(xt->grad)[i], 0.0f);
    ctx_free(g);
}

/* i64 labels give the same value as i32 ones. */
Test(cross_entropy, i64_labels) {
    Ctx *g = ctx_new(1);
    const float x[6] = {1, 2, 3, -1, 0, 1};
    const int32_t y32[2] = {1, 2};
    Tensor *y64 = tensor_empty(g, SERC_I64, SHAPE(2));
    tensor_i64(y64)[0] = 1, tensor_i64(y64)[1] = 2;
    Tensor *xt = filled(g, SHAPE(2, 3), x);
    float a = tensor_f32(loss_cross_entropy(g, xt, labels_tensor(g, y32, 2), NULL, 0))[0];
    float b = tensor_f32(loss_cross_entropy(g, xt, y64, NULL, 0))[0];
    cr_assert_eq(a, b);
    ctx_free(g);
}

/* Wen et al.'s update on a hand-worked case: c_0 = (0, 0) with e = (1, 0), (3, 2): n = 2,
 * delta = ((0-1) + (0-3), (0-0) + (0-2)) / 3 = (-4/3, -2/3); alpha 0.5 -> c_0 = (2/3, 1/3).
 * Class 1 is absent and stays; with requires_grad = 0 the centers get no gradient. */
Test(center, update_rule_and_fixed_centers) {
    Ctx *g = ctx_new(1);
    const float e[4] = {1, 0, 3, 2}, c[4] = {0, 0, 5, 5};
    const int32_t y[2] = {0, 0};
    Tensor *et = filled(g, SHAPE(2, 2), e), *ct = filled(g, SHAPE(2, 2), c), *yt = labels_tensor(g, y, 2);
    et->requires_grad = 1;
    Tensor *l = loss_center(g, et, yt, ct);
    cr_assert_float_eq(tensor_f32(l)[0], 0.5f * (1 + 13) / 2, 1e-6);
    serc_backward(g, l, NULL);
    cr_assert_null(ct->grad, "fixed centers received a gradient");
    center_update(ct, et, yt, 0.5f);
    const float want[4] = {2.0f / 3, 1.0f / 3, 5, 5};
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(tensor_f32(ct)[i], want[i], 1e-6, "center %d: %g want %g", i, (double)tensor_f32(ct)[i],
                           (double)want[i]);
    ctx_free(g);
}

/* First step: the running maximum becomes the value, so the term is normalised to 1 and its gradient is
 * weight / value (the normaliser is detached). A larger value raises the maximum; a smaller one keeps it;
 * evaluation (training = 0) reads it without moving it. A NULL term contributes nothing. */
Test(multiloss, running_max_normalisation) {
    Ctx *g = ctx_new(1);
    g->training = 1;
    MultiLoss ml;
    multiloss_init(&ml);
    int a = multiloss_add(&ml, "kl", 2.0f, MULTILOSS_NORM_MAX), b = multiloss_add(&ml, "focal", 0.5f, MULTILOSS_NORM_NONE);
    cr_assert(a == 0 && b == 1);
    const float steps[3] = {4.0f, 8.0f, 2.0f};
    const double want_max[3] = {4, 8, 8};
    for (int s = 0; s < 3; s++) {
        ctx_step_begin(g);
        Tensor *t0 = filled(g, SHAPE(1), &steps[s]), *t1 = filled(g, SHAPE(1), &steps[s]);
        t0->requires_grad = t1->requires_grad = 1;
        Tensor *terms[2] = {t0, t1};
        Tensor *tot = multiloss_combine(g, &ml, terms);
        cr_assert_eq(ml.term[0].running_max, want_max[s]);
        double want = 2.0 * steps[s] / want_max[s] + 0.5 * steps[s];
        cr_assert_float_eq(tensor_f32(tot)[0], want, 1e-5, "step %d total %g want %g", s, (double)tensor_f32(tot)[0], want);
        cr_assert_float_eq(ml.term[0].contribution, 2.0 * steps[s] / want_max[s], 1e-6);
        cr_assert_eq(ml.term[0].value, steps[s]);
        serc_backward(g, tot, NULL);
        cr_assert_float_eq(tensor_f32(t0->grad)[0], 2.0 / want_max[s], 1e-6);
        cr_assert_float_eq(tensor_f32(t1->grad)[0], 0.5, 1e-6);
    }
    g->training = 0;
    ctx_step_begin(g);
    const float big = 100.0f;
    Tensor *terms[2] = {filled(g, SHAPE(1), &big), NULL};
    Tensor *tot = multiloss_combine(g, &ml, terms);
    cr_assert_eq(ml.term[0].running_max, 8.0, "evaluation moved the running maximum");
    cr_assert_float_eq(tensor_f32(tot)[0], 2.0 * 100 / 8, 1e-4);
    cr_assert(isnan(ml.term[1].value) && isnan(ml.term[1].contribution), "absent term reported a value");
    char buf[256];
    multiloss_describe(&ml, buf, sizeof buf);
    cr_assert(strstr(buf, "kl=100*2*0.125") && strstr(buf, "focal=nan"), "describe: '%s'", buf);
    ctx_free(g);
}

/* The ramp: w0 up to e0, w1 from e1, linear in between. */
Test(multiloss, epoch_schedule) {
    MultiLoss ml;
    multiloss_init(&ml);
    multiloss_add(&ml, "center", 0.0f, MULTILOSS_NORM_NONE);
    multiloss_schedule(&ml, 0, 0.0f, 1.0f, 2, 6);
    const double epochs[] = {0, 2, 3, 4, 5.5, 6, 20}, want[] = {0, 0, 0.25, 0.5, 0.875, 1, 1};
    for (int i = 0; i < 7; i++) {
        multiloss_set_epoch(&ml, epochs[i]);
        cr_assert_float_eq(multiloss_weight(&ml, 0), want[i], 1e-12, "epoch %g: %g want %g", epochs[i],
                           multiloss_weight(&ml, 0), want[i]);
    }
}

/* N / (C count): counts 10, 30, 0, 60 -> 100/40, 100/120, 0, 100/240. */
Test(class_weights, balanced) {
    const int64_t counts[4] = {10, 30, 0, 60};
    float w[4];
    loss_class_weights_balanced(counts, 4, w);
    const float want[4] = {2.5f, 100.0f / 120, 0, 100.0f / 240};
    for (int i = 0; i < 4; i++) cr_assert_float_eq(w[i], want[i], 1e-6);
}
