/* The speech-encoder ops (core/ops_ssl.c) against plain double references through opcheck: group norm
 * (per-channel, grouped, no affine), layer norm over channels, weight normalisation over dim 2 and
 * dim 0, and attention with an additive bias (per item, shared, masked, with dropout in training). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>

#include "opcheck.h"
#include "rng.h"

/* ---- group norm ---- */

typedef struct GroupNormAttr {
    int groups, affine;
    float eps;
} GroupNormAttr;
static const GroupNormAttr GN_PER_CHANNEL = {4, 1, 1e-5f}, GN_TWO = {2, 1, 1e-5f}, GN_ONE_PLAIN = {1, 0, 1e-3f},
                           GN_WIDE = {6, 1, 1e-5f};

static Tensor *build_group_norm(Ctx *g, Tensor *const *in, const void *attr) {
    const GroupNormAttr *a = attr;
    return op_group_norm(g, in[0], a->affine ? in[1] : NULL, a->affine ? in[2] : NULL, a->groups, a->eps);
}

/* y[b, c, s] = (x - mean_bg) / sqrt(var_bg + eps) w_c + b_c over group bg's channels and positions. */
static void ref_group_norm(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)on;
    const GroupNormAttr *a = attr;
    int64_t B = spec[0].shape[0], C = spec[0].shape[1], S = 1;
    for (int d = 2; d < spec[0].ndim; d++) S *= spec[0].shape[d];
    int64_t Cg = C / a->groups, M = Cg * S;
    for (int64_t b = 0; b < B; b++)
        for (int64_t gi = 0; gi < a->groups; gi++) {
            const double *x = in[0] + (b * C + gi * Cg) * S;
            double mu = 0, var = 0;
            for (int64_t i = 0; i < M; i++) mu += x[i];
            mu /= (double)M;
            for (int64_t i = 0; i < M; i++) var += (x[i] - mu) * (x[i] - mu);
            var /= (double)M;
            for (int64_t i = 0; i < M; i++) {
                int64_t c = gi * Cg + i / S;
                double y = (x[i] - mu) / sqrt(var + a->eps);
                if (a->affine) y = y * in[1][c] + in[2][c];
                out[(b * C + gi * Cg) * S + i] = y;
            }
        }
}

#define GN(nm, a, X, C) OPCASE(nm, build_group_norm, ref_group_norm, &a, 3, X, REAL(C), REAL(C))
#define GN_PLAIN(nm, a, X) OPCASE(nm, build_group_norm, ref_group_norm, &a, 1, X)

/* ---- layer norm over channels ---- */

static const float LNC_EPS = 1e-5f;

static Tensor *build_lnc(Ctx *g, Tensor *const *in, const void *attr) {
    (void)attr;
    return op_layer_norm_channels(g, in[0], in[1], in[2], LNC_EPS);
}

static void ref_lnc(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)attr;
    (void)on;
    int64_t B = spec[0].shape[0], C = spec[0].shape[1], T = spec[0].shape[2];
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            double mu = 0, var = 0;
            for (int64_t c = 0; c < C; c++) mu += in[0][(b * C + c) * T + t];
            mu /= (double)C;
            for (int64_t c = 0; c < C; c++) {
                double d = in[0][(b * C + c) * T + t] - mu;
                var += d * d;
            }
            var /= (double)C;
            for (int64_t c = 0; c < C; c++) {
                int64_t i = (b * C + c) * T + t;
                out[i] = (in[0][i] - mu) / sqrt(var + LNC_EPS) * in[1][c] + in[2][c];
            }
        }
}

#define LNC(nm, B, C, T) OPCASE(nm, build_lnc, ref_lnc, NULL, 3, REAL(B, C, T), REAL(C), REAL(C))

/* ---- weight norm ---- */

typedef struct WeightNormAttr {
    int dim;
} WeightNormAttr;
static const WeightNormAttr WN_DIM2 = {2}, WN_DIM0 = {0}, WN_DIM1 = {1};

static Tensor *build_weight_norm(Ctx *g, Tensor *const *in, const void *attr) {
    return op_weight_norm(g, in[0], in[1], ((const WeightNormAttr *)attr)->dim);
}

static void ref_weight_norm(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)on;
    int dim = ((const WeightNormAttr *)attr)->dim;
    int64_t outer = 1, K = spec[0].shape[dim], inner = 1;
    for (int d = 0; d < dim; d++) outer *= spec[0].shape[d];
    for (int d = dim + 1; d < spec[0].ndim; d++) inner *= spec[0].shape[d];
    for (int64_t k = 0; k < K; k++) {
        double s = 0;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) s += in[0][(o * K + k) * inner + i] * in[0][(o * K + k) * inner + i];
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t j = (o * K + k) * inner + i;
                out[j] = in[1][k] * in[0][j] / sqrt(s);
            }
    }
}

#define WN(nm, a, V, G) OPCASE(nm, build_weight_norm, ref_weight_norm, &a, 2, V, G)

/* ---- attention with bias ---- */

typedef struct AttnBiasAttr {
    int bias;   /* 0 none, 1 per item (B, H, Tq, Tk), 2 shared (1, H, Tq, Tk) */
    int masked; /* key mask is the input after the bias (or after v) */
    float p;    /* dropout on the probabilities (the case runs in training mode when p > 0) */
} AttnBiasAttr;
static const AttnBiasAttr AB_ITEM = {1, 0, 0}, AB_SHARED_MASK = {2, 1, 0}, AB_NONE_MASK = {0, 1, 0},
                          AB_ITEM_MASK_DROP = {1, 1, 0.3f}, AB_SHARED_DROP = {2, 0, 0.5f};

static Tensor *build_attention_bias(Ctx *g, Tensor *const *in, const void *attr) {
    const AttnBiasAttr *a = attr;
    Tensor *bias = a->bias ? in[3] : NULL;
    const Tensor *mask = a->masked ? in[a->bias ? 4 : 3] : NULL;
    return op_attention_bias(g, in[0], in[1], in[2], bias, mask, a->p);
}

/* out = sum_j d_ij p_ij v_j, p = softmax over valid j of q.k / sqrt(D) + bias; d the Philox dropout mask
 * of element ((b H + h) Tq + i) Tk + j at counter 0 (the harness context's), scaled by 1 / (1 - p). */
static void ref_attention_bias(const double *const *in, const InputSpec *spec, const void *attr, double *out,
                               int64_t n) {
    (void)n;
    const AttnBiasAttr *a = attr;
    int64_t B = spec[0].shape[0], H = spec[0].shape[1], Tq = spec[0].shape[2], D = spec[0].shape[3];
    int64_t Tk = spec[1].shape[2];
    const double *bias = a->bias ? in[3] : NULL, *mask = a->masked ? in[a->bias ? 4 : 3] : NULL;
    double p[64];
    cr_assert(Tk <= 64);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const double *q = in[0] + ((b * H + h) * Tq + i) * D;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    int valid = !mask || mask[b * Tk + j] != 0;
                    const double *k = in[1] + ((b * H + h) * Tk + j) * D;
                    double s = 0;
                    for (int64_t d = 0; d < D; d++) s += q[d] * k[d];
                    s /= sqrt((double)D);
                    if (bias) s += bias[(((a->bias == 2 ? 0 : b) * H + h) * Tq + i) * Tk + j];
                    p[j] = valid ? s : -INFINITY;
                    if (p[j] > mx) mx = p[j];
                }
                for (int64_t j = 0; j < Tk; j++) {
                    p[j] = p[j] == -INFINITY ? 0.0 : exp(p[j] - mx);
                    sum += p[j];
                }
                for (int64_t j = 0; j < Tk; j++) {
                    p[j] = sum > 0 ? p[j] / sum : 0.0;
                    if (a->p > 0) {
                        uint64_t e = (uint64_t)((((b * H + h) * Tq + i) * Tk) + j);
                        p[j] = serc_rng_uniform01(OPCHECK_SEED, 0, e) >= a->p ? p[j] / (1.0 - a->p) : 0.0;
                    }
                }
                double *o = out + ((b * H + h) * Tq + i) * D;
                for (int64_t d = 0; d < D; d++) {
                    double s = 0;
                    for (int64_t j = 0; j < Tk; j++) s += p[j] * in[2][((b * H + h) * Tk + j) * D + d];
                    o[d] = s;
                }
            }
}

#define QKV(B, H, Tq, Tk, D) REALR(-2, 2, B, H, Tq, D), REALR(-2, 2, B, H, Tk, D), REAL(B, H, Tk, D)
#define AB(nm, a, n, ...) OPCASE(nm, build_attention_bias, ref_attention_bias, &a, n, __VA_ARGS__)
#define AB_TRAIN(nm, a, n, ...) \
    {.name = nm, .build = build_attention_bias, .reference = ref_attention_bias, .attr = &a, .n_in = n, \
     .in = {__VA_ARGS__}, .training = 1}

static const OpCase cases[] = {
    GN("group_norm per channel (2,4,7)", GN_PER_CHANNEL, REAL(2, 4, 7), 4),
    GN("group_norm 2 groups (3,4,5)", GN_TWO, REALR(-3, 3, 3, 4, 5), 4),
    GN("group_norm 6 groups 4-d (2,6,2,3)", GN_WIDE, REAL(2, 6, 2, 3), 6),
    GN_PLAIN("group_norm 1 group no affine (2,3,4)", GN_ONE_PLAIN, REAL(2, 3, 4)),
    LNC("layer_norm_channels (2,5,7)", 2, 5, 7),
    LNC("layer_norm_channels (1,3,70) two frame blocks", 1, 3, 70),
    WN("weight_norm dim 2 (6,3,4) gain (1,1,4)", WN_DIM2, REALNZ(6, 3, 4), REALNZ(1, 1, 4)),
    WN("weight_norm dim 0 (5,2,3) gain (5,1,1)", WN_DIM0, REALNZ(5, 2, 3), REALNZ(5, 1, 1)),
    WN("weight_norm dim 1 (2,3) gain (3)", WN_DIM1, REALNZ(2, 3), REALNZ(3)),
    AB("attention_bias per item", AB_ITEM, 4, QKV(2, 2, 3, 5, 4), REALR(-2, 2, 2, 2, 3, 5)),
    AB("attention_bias shared masked", AB_SHARED_MASK, 5, QKV(3, 2, 4, 4, 3), REALR(-2, 2, 1, 2, 4, 4), MASK(3, 4)),
    AB("attention_bias none masked", AB_NONE_MASK, 4, QKV(3, 3, 2, 5, 2), MASK(3, 5)),
    AB_TRAIN("attention_bias per item masked dropout", AB_ITEM_MASK_DROP, 5, QKV(3, 2, 4, 5, 3),
             REALR(-2, 2, 3, 2, 4, 5), MASK(3, 5)),
    AB_TRAIN("attention_bias shared dropout", AB_SHARED_DROP, 4, QKV(2, 1, 3, 6, 2), REALR(-1, 1, 1, 1, 3, 6)),
};

OPCHECK_TABLE(ops_ssl, cases, cases)

/* op_layer_norm_channels is op_layer_norm between two transposes, to the bit pattern's neighbourhood. */
Test(ops_ssl, layer_norm_channels_matches_transposed_layer_norm) {
    Ctx *g = ctx_new(3);
    Tensor *x = tensor_empty(g, SERC_F32, SHAPE(2, 9, 130));
    Tensor *w = tensor_empty(g, SERC_F32, SHAPE(9)), *b = tensor_empty(g, SERC_F32, SHAPE(9));
    serc_rng_fill_normal(tensor_f32(x), tensor_numel(x), 5, 0, 0.3f, 2.0f);
    serc_rng_fill_normal(tensor_f32(w), 9, 6, 0, 1.0f, 0.2f);
    serc_rng_fill_normal(tensor_f32(b), 9, 7, 0, 0.0f, 0.2f);
    Tensor *a = op_layer_norm_channels(g, x, w, b, 1e-5f);
    Tensor *r = op_transpose(g, op_layer_norm(g, op_transpose(g, x, 1, 2), w, b, 1e-5f), 1, 2);
    for (int64_t i = 0; i < tensor_numel(a); i++)
        cr_assert_float_eq(tensor_f32(a)[i], tensor_f32(r)[i], 1e-6, "element %lld", (long long)i);
    ctx_free(g);
}

/* Without training the dropout probability is ignored and no Philox counter is used. */
Test(ops_ssl, attention_bias_eval_ignores_dropout) {
    Ctx *g = ctx_new(3);
    g->training = 0;
    Tensor *q = tensor_empty(g, SERC_F32, SHAPE(1, 2, 3, 4));
    serc_rng_fill_normal(tensor_f32(q), tensor_numel(q), 1, 0, 0.0f, 1.0f);
    Tensor *a = op_attention_bias(g, q, q, q, NULL, NULL, 0.5f);
    Tensor *r = op_attention(g, q, q, q, NULL);
    cr_assert_eq(g->rng_offset, 0);
    for (int64_t i = 0; i < tensor_numel(a); i++) cr_assert_float_eq(tensor_f32(a)[i], tensor_f32(r)[i], 1e-6);
    ctx_free(g);
}
