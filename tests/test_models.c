/* Models: output shapes for odd sizes, padding invariance (an item alone vs. batched beside a longer one,
 * eval mode) for every front end and the whole model, masked batch norm against batch norm over the
 * valid frames only, FLAM's attention weights, attentive statistics pooling on hand-computed cases, the
 * square-root op through the op harness, and a finite-difference check of a whole small SerModel.
 * Every op a model uses is checked exactly by the op harness; the model-level check in f32 is loose. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opcheck.h"
#include "rng.h"
#include "ser_model.h"

/* ---- helpers ---- */

static void fill_normal(Tensor *t, uint64_t seed) { serc_rng_fill_normal(tensor_f32(t), tensor_numel(t), seed, 0, 0, 1); }

static Tensor *lengths_of(Ctx *g, int B, const int *v) {
    Tensor *l = tensor_empty(g, SERC_I32, SHAPE(B));
    for (int b = 0; b < B; b++) tensor_i32(l)[b] = v[b];
    return l;
}

/* Gives every batch norm random affine parameters and running statistics, so that eval mode is not the
 * identity and padding would show. */
static void randomize_batch_norms(ParamStore *ps, uint64_t seed) {
    for (int i = 0; i < params_len(ps); i++) {
        Tensor *t = params_at(ps, i);
        if (!strstr(t->name, ".bn.")) continue;
        int var = strstr(t->name, "running_var") != NULL;
        serc_rng_fill_uniform(tensor_f32(t), tensor_numel(t), seed, (uint64_t)i * 1000, var ? 0.5f : -0.5f, var ? 2.0f : 0.5f);
    }
}

/* x1 (1, L0, F) alone and x2 (2, L1, F): item 0 = x1 zero-padded, item 1 random of length L1. */
typedef struct PairBatch {
    Tensor *x1, *x2, *len1, *len2;
} PairBatch;

static PairBatch pair_batch(Ctx *g, int L0, int L1, int F, uint64_t seed) {
    PairBatch p;
    p.x1 = tensor_empty(g, SERC_F32, SHAPE(1, L0, F));
    fill_normal(p.x1, seed);
    p.x2 = tensor_zeros(g, SERC_F32, SHAPE(2, L1, F));
    serc_rng_fill_normal(tensor_f32(p.x2) + L1 * F, L1 * F, seed + 1, 0, 0, 1);
    memcpy(tensor_f32(p.x2), tensor_f32(p.x1), sizeof(float) * (size_t)(L0 * F));
    p.len1 = lengths_of(g, 1, (int[]){L0});
    p.len2 = lengths_of(g, 2, (int[]){L0, L1});
    return p;
}

/* Frames [0, n) of item 0 of a (1, T1, D) and b (B, T2, D) agree. */
static void expect_same_frames(const Tensor *a, const Tensor *b, int64_t n, float tol, const char *what) {
    int64_t D = a->shape[2];
    cr_assert_eq(D, b->shape[2]);
    const float *av = tensor_f32(a), *bv = tensor_f32(b);
    for (int64_t i = 0; i < n * D; i++)
        cr_assert(fabsf(av[i] - bv[i]) <= tol * (1 + fabsf(av[i])), "%s: element %lld alone %g, batched %g", what,
                  (long long)i, av[i], bv[i]);
}

/* ---- front ends ---- */

Test(cnn2d, shapes_for_odd_sizes) {
    ParamStore *ps = params_new();
    Cnn2d c, cf;
    Cnn2dConfig cfg = {.n_mels = 11, .channels = {3, 5}, .pool_time = 2, .pool_freq = 2, .act = FRONTEND_RELU, .masked_bn = 1};
    cnn2d_register(&c, ps, "a", &cfg);
    cfg.pool_time = 1; /* frequency-only pooling */
    cfg.act = FRONTEND_GELU;
    cnn2d_register(&cf, ps, "b", &cfg);
    params_finalize(ps);
    InitRng r = {1, 0};
    cnn2d_init(&c, &r);
    cnn2d_init(&cf, &r);
    cr_expect_eq(c.out_freq, 2); /* 11 -> 5 -> 2 */
    cr_expect_eq(c.out_dim, 10);
    Ctx *g = ctx_new(2);
    for (int training = 0; training < 2; training++) {
        g->training = training;
        Tensor *x = tensor_empty(g, SERC_F32, SHAPE(4, 13, 11));
        fill_normal(x, 3);
        Tensor *len = lengths_of(g, 4, (int[]){13, 7, 1, 0}), *lo, *lof;
        Tensor *y = cnn2d_forward(g, &c, x, len, &lo);
        cr_expect(y->ndim == 3 && y->shape[0] == 4 && y->shape[1] == 3 && y->shape[2] == 10);
        const int want[4] = {3, 1, 0, 0};
        for (int b = 0; b < 4; b++) cr_expect_eq(tensor_i32(lo)[b], want[b], "item %d", b);
        cr_expect_eq(cnn2d_out_length(&c, 13), 3);
        Tensor *lo2 = cnn2d_out_lengths(g, &c, len);
        for (int b = 0; b < 4; b++) cr_expect_eq(tensor_i32(lo2)[b], want[b]);
        /* padded output frames are zero */
        for (int b = 1; b < 4; b++)
            for (int t = want[b]; t < 3; t++)
                for (int k = 0; k < 10; k++) cr_expect_eq(tensor_f32(y)[(b * 3 + t) * 10 + k], 0.0f);
        Tensor *yf = cnn2d_forward(g, &cf, x, len, &lof);
        cr_expect(yf->shape[1] == 13 && yf->shape[2] == 10);
        for (int b = 0; b < 4; b++) cr_expect_eq(tensor_i32(lof)[b], tensor_i32(len)[b]);
    }
    ctx_free(g);
    params_free(ps);
}

static void check_cnn2d_padding(int pool_time, FrontendAct act) {
    ParamStore *ps = params_new();
    Cnn2d c;
    Cnn2dConfig cfg = {.n_mels = 9, .channels = {4, 6, 3}, .pool_time = pool_time, .pool_freq = 2, .act = act, .masked_bn = 1};
    cnn2d_register(&c, ps, "frontend", &cfg);
    params_finalize(ps);
    InitRng r = {7, 0};
    cnn2d_init(&c, &r);
    randomize_batch_norms(ps, 8);
    Ctx *g = ctx_new(3);
    g->training = 0;
    PairBatch p = pair_batch(g, 29, 40, 9, 11);
    Tensor *l1, *l2;
    Tensor *y1 = cnn2d_forward(g, &c, p.x1, p.len1, &l1);
    Tensor *y2 = cnn2d_forward(g, &c, p.x2, p.len2, &l2);
    cr_assert_eq(tensor_i32(l1)[0], tensor_i32(l2)[0]);
    cr_assert_eq(y1->shape[1], tensor_i32(l1)[0]);
    expect_same_frames(y1, y2, tensor_i32(l1)[0], 1e-5f, "cnn2d");
    ctx_free(g);
    params_free(ps);
}

Test(cnn2d, padding_invariance_eval) {
    check_cnn2d_padding(2, FRONTEND_RELU);
    check_cnn2d_padding(1, FRONTEND_GELU);
    check_cnn2d_padding(3, FRONTEND_RELU);
}

Test(tdnn, shapes_and_lengths) {
    ParamStore *ps = params_new();
    Tdnn same, valid;
    TdnnConfig cfg = {.n_mels = 7, .dims = {6, 5, 4, 3}, .kernels = {5, 3, 3, 1}, .dilations = {1, 2, 3, 1},
                      .same_padding = 1, .masked_bn = 1};
    tdnn_register(&same, ps, "s", &cfg);
    cfg.same_padding = 0;
    tdnn_register(&valid, ps, "v", &cfg);
    params_finalize(ps);
    InitRng r = {2, 0};
    tdnn_init(&same, &r);
    tdnn_init(&valid, &r);
    cr_expect_eq(tdnn_out_length(&valid, 23), 23 - 4 - 4 - 6);
    cr_expect_eq(tdnn_out_length(&valid, 10), 0);
    Ctx *g = ctx_new(2);
    for (int training = 0; training < 2; training++) {
        g->training = training;
        Tensor *x = tensor_empty(g, SERC_F32, SHAPE(3, 23, 7));
        fill_normal(x, 4);
        Tensor *len = lengths_of(g, 3, (int[]){23, 17, 9}), *ls, *lv;
        Tensor *ys = tdnn_forward(g, &same, x, len, &ls);
        Tensor *yv = tdnn_forward(g, &valid, x, len, &lv);
        cr_expect(ys->shape[0] == 3 && ys->shape[1] == 23 && ys->shape[2] == 3);
        cr_expect(yv->shape[1] == 9 && yv->shape[2] == 3);
        const int want_v[3] = {9, 3, 0};
        for (int b = 0; b < 3; b++) {
            cr_expect_eq(tensor_i32(ls)[b], tensor_i32(len)[b]);
            cr_expect_eq(tensor_i32(lv)[b], want_v[b]);
        }
        Tensor *lo = tdnn_out_lengths(g, &valid, len);
        for (int b = 0; b < 3; b++) cr_expect_eq(tensor_i32(lo)[b], want_v[b]);
    }
    ctx_free(g);
    params_free(ps);
}

Test(tdnn, padding_invariance_eval) {
    for (int same = 0; same < 2; same++) {
        ParamStore *ps = params_new();
        Tdnn t;
        TdnnConfig cfg = {.n_mels = 6, .dims = {8, 8, 5}, .kernels = {5, 3, 3}, .dilations = {1, 2, 3},
                          .same_padding = same, .masked_bn = 1};
        tdnn_register(&t, ps, "frontend", &cfg);
        params_finalize(ps);
        InitRng r = {5, 0};
        tdnn_init(&t, &r);
        randomize_batch_norms(ps, 6);
        Ctx *g = ctx_new(3);
        g->training = 0;
        PairBatch p = pair_batch(g, 17, 30, 6, 21);
        Tensor *l1, *l2;
        Tensor *y1 = tdnn_forward(g, &t, p.x1, p.len1, &l1);
        Tensor *y2 = tdnn_forward(g, &t, p.x2, p.len2, &l2);
        cr_assert_eq(tensor_i32(l1)[0], same ? 17 : 17 - 4 - 4 - 6);
        cr_assert_eq(tensor_i32(l1)[0], tensor_i32(l2)[0]);
        expect_same_frames(y1, y2, tensor_i32(l1)[0], 1e-5f, same ? "tdnn same" : "tdnn valid");
        ctx_free(g);
        params_free(ps);
    }
}

/* Masked batch norm on a padded batch = batch norm on the valid frames alone (values, running
 * statistics and gradients): item 0's valid frames and item 1 laid side by side along time. */
Test(batch_norm, masked_equals_valid_frames_only) {
    enum { C = 3, T = 6, R = 4, L0 = 4 };
    ParamStore *ps = params_new();
    BatchNorm a, b;
    batch_norm_register(&a, ps, "a.bn", C);
    batch_norm_register(&b, ps, "b.bn", C);
    params_finalize(ps);
    batch_norm_init(&a);
    batch_norm_init(&b);
    for (int c = 0; c < C; c++) {
        tensor_f32(a.w)[c] = tensor_f32(b.w)[c] = 0.5f + 0.3f * (float)c;
        tensor_f32(a.b)[c] = tensor_f32(b.b)[c] = 0.1f * (float)c - 0.2f;
    }
    Ctx *g = ctx_new(4);
    g->training = 1;
    Tensor *x = tensor_empty(g, SERC_F32, SHAPE(2, C, T, R));
    fill_normal(x, 9);
    float *xv = tensor_f32(x);
    for (int c = 0; c < C; c++) /* make the padding loud: it must not enter the statistics */
        for (int t = L0; t < T; t++)
            for (int k = 0; k < R; k++) xv[((0 * C + c) * T + t) * R + k] = 50.0f;
    x->requires_grad = 1;
    Tensor *xs = tensor_empty(g, SERC_F32, SHAPE(1, C, L0 + T, R)); /* valid frames only */
    float *sv = tensor_f32(xs);
    for (int c = 0; c < C; c++) {
        for (int t = 0; t < L0; t++)
            for (int k = 0; k < R; k++) sv[(c * (L0 + T) + t) * R + k] = xv[((0 * C + c) * T + t) * R + k];
        for (int t = 0; t < T; t++)
            for (int k = 0; k < R; k++) sv[(c * (L0 + T) + L0 + t) * R + k] = xv[((1 * C + c) * T + t) * R + k];
    }
    xs->requires_grad = 1;
    Tensor *len = lengths_of(g, 2, (int[]){L0, T});
    Tensor *ya = batch_norm_forward(g, &a, x, len);
    Tensor *yb = batch_norm_forward(g, &b, xs, NULL);
    /* same loss weights on matching positions, zero on padding */
    Tensor *wa = tensor_zeros(g, SERC_F32, SHAPE(2, C, T, R)), *wb = tensor_empty(g, SERC_F32, SHAPE(1, C, L0 + T, R));
    fill_normal(wb, 10);
    for (int c = 0; c < C; c++)
        for (int t = 0; t < L0 + T; t++)
            for (int k = 0; k < R; k++) {
                int item = t < L0 ? 0 : 1, tt = t < L0 ? t : t - L0;
                tensor_f32(wa)[((item * C + c) * T + tt) * R + k] = tensor_f32(wb)[(c * (L0 + T) + t) * R + k];
            }
    /* one backward over both graphs (a second backward would walk the first graph's nodes again) */
    serc_backward(g, op_add(g, op_sum(g, op_mul(g, ya, wa)), op_sum(g, op_mul(g, yb, wb))), NULL);
    const float *gya = tensor_f32(ya), *gyb = tensor_f32(yb), *gxa = tensor_f32(x->grad), *gxb = tensor_f32(xs->grad);
    for (int c = 0; c < C; c++)
        for (int t = 0; t < L0 + T; t++)
            for (int k = 0; k < R; k++) {
                int item = t < L0 ? 0 : 1, tt = t < L0 ? t : t - L0;
                int64_t ia = ((item * C + c) * T + tt) * R + k, ib = (c * (L0 + T) + t) * R + k;
                cr_expect(fabsf(gya[ia] - gyb[ib]) < 1e-5f, "y c%d t%d: %g vs %g", c, t, gya[ia], gyb[ib]);
                cr_expect(fabsf(gxa[ia] - gxb[ib]) < 1e-4f, "dx c%d t%d: %g vs %g", c, t, gxa[ia], gxb[ib]);
            }
    for (int c = 0; c < C; c++) {
        cr_expect(fabsf(tensor_f32(a.running_mean)[c] - tensor_f32(b.running_mean)[c]) < 1e-6f);
        cr_expect(fabsf(tensor_f32(a.running_var)[c] - tensor_f32(b.running_var)[c]) < 1e-5f);
        cr_expect(fabsf(tensor_f32(a.w->grad)[c] - tensor_f32(b.w->grad)[c]) < 1e-4f);
        cr_expect(fabsf(tensor_f32(a.b->grad)[c] - tensor_f32(b.b->grad)[c]) < 1e-4f);
    }
    ctx_free(g);
    params_free(ps);
}

/* ---- poolings ---- */

static Tensor *build_sqrt_clamp(Ctx *g, Tensor *const *in, const void *attr) {
    return pool_sqrt_clamp(g, in[0], *(const float *)attr);
}
static void ref_sqrt_clamp(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)spec;
    double lo = *(const float *)attr;
    for (int64_t i = 0; i < n; i++) out[i] = sqrt(in[0][i] > lo ? in[0][i] : lo);
}

Test(pooling, sqrt_clamp_op) {
    static const float lo = 0.01f, lo_high = 5.0f;
    OpCase cases[] = {
        {.name = "sqrt_clamp", .build = build_sqrt_clamp, .reference = ref_sqrt_clamp, .attr = &lo, .n_in = 1,
         .in = {REALR(0.05, 3.0, 3, 7)}},
        /* every value below the bound: constant output, zero gradient */
        {.name = "sqrt_clamp_below", .build = build_sqrt_clamp, .reference = ref_sqrt_clamp, .attr = &lo_high,
         .n_in = 1, .in = {REALR(-2.0, 4.0, 2, 5)}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) opcheck_run(&cases[i]);
}

/* Attention pooling and attentive statistics pooling through the op harness: inputs h (B, T, D), mask,
 * W (A, D), b (A), v (1, A), k (1); the reference is written out in double. */
typedef struct PoolAttr {
    int stats;
} PoolAttr;
static const PoolAttr POOL_ATT = {0}, POOL_STATS = {1};

static Tensor *build_pool(Ctx *g, Tensor *const *in, const void *attr) {
    AttentionPool p = {.dim = (int)in[0]->shape[2], .att_dim = (int)in[2]->shape[0]};
    p.proj = (Linear){.w = in[2], .b = in[3], .in = p.dim, .out = p.att_dim};
    p.score = (Linear){.w = in[4], .b = in[5], .in = p.att_dim, .out = 1};
    if (((const PoolAttr *)attr)->stats) return attentive_stats_pool_forward(g, &p, in[0], in[1], 1e-5f, NULL);
    return attention_pool_forward(g, &p, in[0], in[1], NULL);
}

static void ref_pool(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)on;
    int stats = ((const PoolAttr *)attr)->stats;
    int64_t B = spec[0].shape[0], T = spec[0].shape[1], D = spec[0].shape[2], A = spec[2].shape[0];
    const double *h = in[0], *m = in[1], *W = in[2], *bw = in[3], *v = in[4], *k = in[5];
    for (int64_t b = 0; b < B; b++) {
        double e[64], mx = -INFINITY, z = 0;
        for (int64_t t = 0; t < T; t++) {
            e[t] = k[0];
            for (int64_t a = 0; a < A; a++) {
                double u = bw[a];
                for (int64_t d = 0; d < D; d++) u += W[a * D + d] * h[(b * T + t) * D + d];
                e[t] += v[a] * tanh(u);
            }
            if (m[b * T + t] != 0) mx = fmax(mx, e[t]);
        }
        for (int64_t t = 0; t < T; t++) z += m[b * T + t] != 0 ? exp(e[t] - mx) : 0;
        for (int64_t d = 0; d < D; d++) {
            double mu = 0, m2 = 0;
            for (int64_t t = 0; t < T; t++) {
                double a = m[b * T + t] != 0 ? exp(e[t] - mx) / z : 0, x = h[(b * T + t) * D + d];
                mu += a * x;
                m2 += a * x * x;
            }
            if (!stats) out[b * D + d] = mu;
            else {
                out[b * 2 * D + d] = mu;
                out[b * 2 * D + D + d] = sqrt(fmax(m2 - mu * mu, 1e-5));
            }
        }
    }
}

Test(pooling, attention_and_stats_through_harness) {
    OpCase cases[] = {
        {.name = "attention_pool", .build = build_pool, .reference = ref_pool, .attr = &POOL_ATT, .n_in = 6,
         .in = {REAL(4, 5, 3), MASK(4, 5), REAL(2, 3), REAL(2), REAL(1, 2), REAL(1)}},
        {.name = "attentive_stats_pool", .build = build_pool, .reference = ref_pool, .attr = &POOL_STATS, .n_in = 6,
         .in = {REAL(4, 5, 3), MASK(4, 5), REAL(2, 3), REAL(2), REAL(1, 2), REAL(1)}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) opcheck_run(&cases[i]);
}

/* h (B, 3, 2) with hand-set scoring parameters. */
static Tensor *stats_input(Ctx *g) {
    static const float h[2][3][2] = {{{1, 2}, {3, 4}, {5, 0}}, {{1, 2}, {3, 4}, {100, 100}}};
    Tensor *t = tensor_empty(g, SERC_F32, SHAPE(3, 3, 2));
    memcpy(tensor_f32(t), h, sizeof h);
    memset(tensor_f32(t) + 12, 0, 6 * sizeof(float)); /* item 2: zero length */
    return t;
}

Test(pooling, attentive_stats_hand_cases) {
    ParamStore *ps = params_new();
    AttentionPool p;
    attention_pool_register(&p, ps, "pooling", 2, 2, 1);
    params_finalize(ps);
    Ctx *g = ctx_new(1);
    Tensor *h = stats_input(g);
    Tensor *len = lengths_of(g, 3, (int[]){3, 2, 0});
    Tensor *mask = lengths_to_mask(g, len, 3);
    const float eps = 1e-5f;
    /* 1. W = 0, b = 0: every score equals k, alpha is uniform: mu = mean, sigma = population std.
     *    item 0: mu (3, 2), E[h^2] (35/3, 20/3), var (8/3, 8/3); item 1: mu (2, 3), var (1, 1). */
    tensor_f32(p.score.w)[0] = 0.7f;
    tensor_f32(p.score.w)[1] = -0.4f;
    tensor_f32(p.score.b)[0] = 0.5f;
    Tensor *alpha;
    const float *o = tensor_f32(attentive_stats_pool_forward(g, &p, h, mask, eps, &alpha));
    const double want1[3][4] = {{3, 2, sqrt(8.0 / 3), sqrt(8.0 / 3)}, {2, 3, 1, 1}, {0, 0, sqrt(eps), sqrt(eps)}};
    for (int b = 0; b < 3; b++)
        for (int k = 0; k < 4; k++) cr_expect(fabs(o[b * 4 + k] - want1[b][k]) < 1e-5, "uniform item %d out %d: %g", b, k, o[b * 4 + k]);
    cr_expect(fabsf(tensor_f32(alpha)[0] - 1.0f / 3) < 1e-6f && fabsf(tensor_f32(alpha)[3] - 0.5f) < 1e-6f);
    cr_expect(tensor_f32(alpha)[5] == 0.0f && tensor_f32(alpha)[6] == 0.0f);
    /* 2. W = I, b = (0.1, -0.2), v = (1, -0.5), k = 0.3: e_t = tanh(h0 + 0.1) - 0.5 tanh(h1 - 0.2) + 0.3 */
    float *W = tensor_f32(p.proj.w), *bb = tensor_f32(p.proj.b);
    W[0] = 1, W[1] = 0, W[2] = 0, W[3] = 1;
    bb[0] = 0.1f, bb[1] = -0.2f;
    tensor_f32(p.score.w)[0] = 1.0f;
    tensor_f32(p.score.w)[1] = -0.5f;
    o = tensor_f32(attentive_stats_pool_forward(g, &p, h, mask, eps, &alpha));
    const float *hv = tensor_f32(h);
    for (int b = 0; b < 2; b++) {
        int L = b == 0 ? 3 : 2;
        double e[3], z = 0, mu[2] = {0, 0}, m2[2] = {0, 0};
        for (int t = 0; t < L; t++) {
            e[t] = exp(tanh(hv[(b * 3 + t) * 2] + 0.1) - 0.5 * tanh(hv[(b * 3 + t) * 2 + 1] - 0.2) + 0.3);
            z += e[t];
        }
        for (int t = 0; t < L; t++)
            for (int d = 0; d < 2; d++) {
                double a = e[t] / z, x = hv[(b * 3 + t) * 2 + d];
                mu[d] += a * x;
                m2[d] += a * x * x;
            }
        for (int d = 0; d < 2; d++) {
            cr_expect(fabs(o[b * 4 + d] - mu[d]) < 1e-5 * (1 + fabs(mu[d])), "item %d mu %d: %g vs %g", b, d, o[b * 4 + d], mu[d]);
            double sd = sqrt(fmax(m2[d] - mu[d] * mu[d], eps));
            cr_expect(fabs(o[b * 4 + 2 + d] - sd) < 1e-4 * (1 + sd), "item %d sigma %d: %g vs %g", b, d, o[b * 4 + 2 + d], sd);
        }
    }
    /* 3. masked mean pooling of the same frames */
    const float *mm = tensor_f32(masked_mean_pool(g, h, len));
    const float want_mean[6] = {3, 2, 2, 3, 0, 0};
    for (int i = 0; i < 6; i++) cr_expect_float_eq(mm[i], want_mean[i], 1e-6);
    ctx_free(g);
    params_free(ps);
}

/* ---- FLAM ---- */

Test(flam, attention_weights_and_padding) {
    ParamStore *ps = params_new();
    Flam f;
    flam_register(&f, ps, "flam", 32, 16, 12, 0.1f);
    params_finalize(ps);
    InitRng r = {17, 0};
    flam_init(&f, &r);
    Ctx *g = ctx_new(5);
    g->training = 0;
    enum { T = 9, D = 32 };
    Tensor *x = tensor_empty(g, SERC_F32, SHAPE(3, T, D));
    fill_normal(x, 12);
    Tensor *len = lengths_of(g, 3, (int[]){T, 4, 0});
    Tensor *mask = lengths_to_mask(g, len, T);
    Tensor *w, *frames;
    Tensor *pooled = flam_forward(g, &f, x, mask, &w, &frames);
    cr_assert(pooled->shape[0] == 3 && pooled->shape[1] == D && w->shape[0] == 3 && w->shape[1] == T);
    const float *wv = tensor_f32(w), *hv = tensor_f32(frames), *pv = tensor_f32(pooled);
    for (int b = 0; b < 3; b++) {
        int L = tensor_i32(len)[b];
        double s = 0;
        for (int t = 0; t < T; t++) {
            if (t < L) s += wv[b * T + t];
            else cr_expect_eq(wv[b * T + t], 0.0f, "item %d padded frame %d", b, t);
        }
        cr_expect(fabs(s - (L > 0 ? 1.0 : 0.0)) < 1e-5, "item %d: weights sum to %g", b, s);
        for (int d = 0; d < D; d++) { /* pooled = sum_t w_t h_t */
            double acc = 0;
            for (int t = 0; t < L; t++) acc += (double)wv[b * T + t] * hv[(b * T + t) * D + d];
            cr_expect(fabs(pv[b * D + d] - acc) < 1e-5, "item %d dim %d", b, d);
        }
    }
    /* item 1 alone gives the same pooled vector and weights */
    Tensor *x1 = op_contiguous(g, op_narrow(g, op_narrow(g, x, 0, 1, 1), 1, 0, 4));
    Tensor *w1;
    Tensor *p1 = flam_forward(g, &f, x1, lengths_to_mask(g, lengths_of(g, 1, (int[]){4}), 4), &w1, NULL);
    for (int d = 0; d < D; d++) cr_expect(fabsf(tensor_f32(p1)[d] - pv[D + d]) < 1e-5f, "alone vs batched, dim %d", d);
    for (int t = 0; t < 4; t++) cr_expect(fabsf(tensor_f32(w1)[t] - wv[T + t]) < 1e-6f);
    ctx_free(g);
    params_free(ps);
}

/* ---- heads ---- */

Test(heads, shapes_and_dropout) {
    ParamStore *ps = params_new();
    MlpHead cls, plain, avd;
    ProjectionHead proj;
    mlp_head_register(&cls, ps, "classifier", 7, 5, 3, 0.5f);
    mlp_head_register(&plain, ps, "plain", 7, 0, 4, 0.0f);
    mlp_head_register(&avd, ps, "avd", 7, 5, 3, 0.0f);
    projection_head_register(&proj, ps, "projection", 7, 7, 6);
    params_finalize(ps);
    InitRng r = {3, 0};
    mlp_head_init(&cls, &r);
    mlp_head_init(&plain, &r);
    mlp_head_init(&avd, &r);
    projection_head_init(&proj, &r);
    cr_expect_null(params_get(ps, "plain.hidden.weight"));
    cr_expect_not_null(params_get(ps, "classifier.norm.weight"));
    Ctx *g = ctx_new(6);
    Tensor *x = tensor_empty(g, SERC_F32, SHAPE(5, 7));
    fill_normal(x, 2);
    g->training = 0;
    Tensor *a = mlp_head_forward(g, &cls, x), *b = mlp_head_forward(g, &cls, x);
    cr_expect(a->shape[0] == 5 && a->shape[1] == 3);
    cr_expect_eq(memcmp(a->data, b->data, 15 * sizeof(float)), 0, "eval mode is deterministic");
    cr_expect(mlp_head_forward(g, &plain, x)->shape[1] == 4);
    cr_expect(mlp_head_forward(g, &avd, x)->shape[1] == 3);
    cr_expect(projection_head_forward(g, &proj, x)->shape[1] == 6);
    g->training = 1;
    Tensor *c = mlp_head_forward(g, &cls, x);
    cr_expect_neq(memcmp(a->data, c->data, 15 * sizeof(float)), 0, "dropout acts in training");
    ctx_free(g);
    params_free(ps);
}

/* ---- the whole model ---- */

static void small_config(SerModelConfig *c, const char *frontend, const char *pooling) {
    ser_model_config_default(c);
    snprintf(c->frontend, sizeof c->frontend, "%s", frontend);
    snprintf(c->pooling, sizeof c->pooling, "%s", pooling);
    c->n_mels = 10;
    c->cnn_channels[0] = 3;
    c->cnn_channels[1] = 4;
    c->tdnn_dims[0] = 6, c->tdnn_dims[1] = 6, c->tdnn_dims[2] = 5, c->tdnn_dims[3] = 0;
    c->dim = 16;
    c->heads = 4;
    c->flam_att_dim = 8;
    c->stats_att_dim = 6;
    c->head_hidden = 12;
    c->n_classes = 5;
    c->proj_dim = 7;
    c->avd = 1;
    c->masked_bn = 1;
    c->flam = strcmp(pooling, "mean") != 0 || strcmp(frontend, "none") == 0; /* both with and without FLAM */
}

Test(ser_model, shapes_for_every_frontend_and_pooling) {
    const char *fronts[3] = {"cnn2d", "tdnn", "none"}, *pools[3] = {"attention", "mean", "stats"};
    for (int fi = 0; fi < 3; fi++)
        for (int pi = 0; pi < 3; pi++) {
            SerModelConfig cfg;
            small_config(&cfg, fronts[fi], pools[pi]);
            cfg.masked_bn = pi != 1; /* both batch-norm forms */
            cr_assert_eq(ser_model_config_check(&cfg, NULL), 0, "%s/%s", fronts[fi], pools[pi]);
            ParamStore *ps = params_new();
            SerModel m;
            ser_model_register(&m, ps, &cfg);
            params_finalize(ps);
            ser_model_init(&m, 1);
            Ctx *g = ctx_new(2);
            for (int training = 0; training < 2; training++) {
                g->training = training;
                ctx_step_begin(g);
                Tensor *x = tensor_empty(g, SERC_F32, SHAPE(3, 19, 10));
                fill_normal(x, 4);
                SerOutput o = ser_model_forward(g, &m, x, lengths_of(g, 3, (int[]){19, 11, 5}));
                int64_t Tp = ser_model_out_frames(&m, 19);
                cr_expect(o.logits->shape[0] == 3 && o.logits->shape[1] == 5, "%s/%s logits", fronts[fi], pools[pi]);
                cr_expect(o.embedding && o.embedding->shape[1] == 7);
                cr_expect(o.avd && o.avd->shape[1] == 3);
                cr_expect(o.pooled->shape[1] == (pi == 2 ? 32 : 16));
                cr_expect(o.frames->shape[1] == Tp && o.frames->shape[2] == 16);
                cr_expect(pi == 1 ? o.frame_weights == NULL : o.frame_weights->shape[1] == Tp);
                cr_expect_eq(tensor_i32(o.frame_lengths)[1], (int)ser_model_out_frames(&m, 11));
                if (training) {
                    serc_backward(g, op_add(g, op_sum(g, o.logits), op_sum(g, o.embedding)), NULL);
                    for (int64_t i = 0; i < params_count(ps); i++) cr_assert(isfinite(params_grad(ps)[i]));
                }
            }
            ctx_free(g);
            params_free(ps);
        }
}

Test(ser_model, padding_invariance_eval) {
    const char *fronts[3] = {"cnn2d", "tdnn", "none"}, *pools[2] = {"attention", "stats"};
    for (int fi = 0; fi < 3; fi++)
        for (int pi = 0; pi < 2; pi++) {
            SerModelConfig cfg;
            small_config(&cfg, fronts[fi], pools[pi]);
            ParamStore *ps = params_new();
            SerModel m;
            ser_model_register(&m, ps, &cfg);
            params_finalize(ps);
            ser_model_init(&m, 31);
            randomize_batch_norms(ps, 32);
            Ctx *g = ctx_new(3);
            g->training = 0;
            PairBatch p = pair_batch(g, 13, 24, 10, 41);
            SerOutput o1 = ser_model_forward(g, &m, p.x1, p.len1), o2 = ser_model_forward(g, &m, p.x2, p.len2);
            Tensor *outs[2][3] = {{o1.logits, o1.embedding, o1.avd}, {o2.logits, o2.embedding, o2.avd}};
            for (int k = 0; k < 3; k++)
                for (int64_t j = 0; j < outs[0][k]->shape[1]; j++) {
                    float a = tensor_f32(outs[0][k])[j], b = tensor_f32(outs[1][k])[j];
                    cr_expect(fabsf(a - b) < 1e-4f * (1 + fabsf(a)), "%s/%s output %d[%lld]: alone %g, batched %g",
                              fronts[fi], pools[pi], k, (long long)j, a, b);
                }
            ctx_free(g);
            params_free(ps);
        }
}

/* Loss sum(logits R1) + sum(embedding R2) + sum(avd R3) in double, from the outputs. */
static double model_loss(const SerOutput *o, const float *R) {
    const Tensor *t[3] = {o->logits, o->embedding, o->avd};
    double s = 0;
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < tensor_numel(t[k]); i++) s += (double)tensor_f32(t[k])[i] * R[k * 64 + i];
    return s;
}

/* One training-mode forward on the fixed batch xs (3, 12, 10): the loss sum(outputs R) in double, and
 * with backward its gradient into the parameter store. */
static double fd_loss(Ctx *g, const SerModel *m, const float *xs, const float *R, int backward) {
    ctx_step_begin(g);
    Tensor *x = tensor_empty(g, SERC_F32, SHAPE(3, 12, 10));
    memcpy(x->data, xs, 3 * 12 * 10 * sizeof(float));
    SerOutput o = ser_model_forward(g, m, x, lengths_of(g, 3, (int[]){12, 9, 6}));
    if (backward) {
        Tensor *outs[3] = {o.logits, o.embedding, o.avd}, *loss = NULL;
        for (int k = 0; k < 3; k++) {
            Tensor *Rt = tensor_empty(g, SERC_F32, outs[k]->ndim, outs[k]->shape);
            memcpy(Rt->data, R + k * 64, (size_t)tensor_numel(outs[k]) * sizeof(float));
            Tensor *term = op_sum(g, op_mul(g, outs[k], Rt));
            loss = loss ? op_add(g, loss, term) : term;
        }
        serc_backward(g, loss, NULL);
    }
    return model_loss(&o, R);
}

/* Finite differences in f32 on three elements of every parameter tensor, tolerance 1e-2 relative + 2e-3
 * absolute (loose: every op is checked exactly, in double, by the op harness). Training mode: masked batch
 * norm over a padded batch, FLAM, the three poolings, every head; no dropout. The front ends use GELU; a
 * kink that remains (max pool, the heads' ReLU) within the step 1e-3 of the point is retried at 2e-4,
 * which it is then unlikely to reach. */
Test(ser_model, gradient_matches_finite_differences) {
    const char *fronts[3] = {"cnn2d", "tdnn", "none"}, *pools[3] = {"attention", "stats", "mean"};
    for (int ci = 0; ci < 3; ci++) {
        SerModelConfig cfg;
        small_config(&cfg, fronts[ci], pools[ci]);
        snprintf(cfg.act, sizeof cfg.act, "gelu");
        cfg.dropout = cfg.flam_dropout = 0.0f;
        ParamStore *ps = params_new();
        SerModel m;
        ser_model_register(&m, ps, &cfg);
        params_finalize(ps);
        ser_model_init(&m, 5);
        Ctx *g = ctx_new(7);
        g->training = 1;
        float R[3 * 64];
        static float xs[3 * 12 * 10];
        serc_rng_fill_normal(R, 3 * 64, 77, 0, 0, 1);
        serc_rng_fill_normal(xs, 3 * 12 * 10, 8, 0, 0, 1);
        params_zero_grad(ps);
        fd_loss(g, &m, xs, R, 1);
        int64_t nparam = params_count(ps);
        float *analytic = malloc((size_t)nparam * sizeof(float));
        memcpy(analytic, params_grad(ps), (size_t)nparam * sizeof(float));
        int checked = 0;
        int64_t off = 0;
        for (int i = 0; i < params_len(ps); i++) {
            if (!params_is_trainable(ps, i)) continue;
            Tensor *p = params_at(ps, i);
            int64_t n = tensor_numel(p);
            for (int j = 0; j < 3 && j < n; j++) {
                int64_t e = (int64_t)(serc_rng_u32(99, (uint64_t)i, (uint64_t)j) % (uint64_t)n);
                float *pv = tensor_f32(p) + e, keep = *pv;
                double an = analytic[off + e], num = 0;
                int ok = 0;
                for (int s = 0; s < 2 && !ok; s++) { /* 1e-3, then 2e-4 */
                    const float h = s ? 2e-4f : 1e-3f;
                    *pv = keep + h;
                    double lp = fd_loss(g, &m, xs, R, 0);
                    *pv = keep - h;
                    double lm = fd_loss(g, &m, xs, R, 0);
                    *pv = keep;
                    num = (lp - lm) / (2.0 * h);
                    ok = fabs(an - num) <= 1e-2 * fmax(fabs(num), fabs(an)) + 2e-3;
                }
                cr_expect(ok, "%s/%s: %s[%lld] analytic %g, numeric %g", fronts[ci], pools[ci], p->name, (long long)e, an, num);
                checked++;
            }
            off += n;
        }
        cr_expect_gt(checked, 45);
        free(analytic);
        ctx_free(g);
        params_free(ps);
    }
}

/* Each bad config is rejected with a message naming its key. */
#define EXPECT_BAD(edit, key) \
    do { \
        SerModelConfig t = c; \
        edit; \
        cr_expect(ser_model_config_check(&t, &err) == -1 && strstr(err.msg, key), "%s: %s", key, err.msg); \
    } while (0)

Test(ser_model, config_check_names_the_key) {
    SerModelConfig c;
    SercErr err;
    ser_model_config_default(&c);
    cr_expect_eq(ser_model_config_check(&c, &err), 0);
    EXPECT_BAD(snprintf(t.frontend, sizeof t.frontend, "cnn3d"), "model.frontend");
    EXPECT_BAD(t.flam = 0, "model.pooling"); /* attention pooling needs FLAM */
    EXPECT_BAD(t.heads = 12, "model.heads"); /* 128 is not divisible by 12 */
    EXPECT_BAD(t.dropout = 1.0f, "model.dropout");
    EXPECT_BAD(t.cnn_pool_freq = 9, "model.cnn_pool_freq"); /* 80 / 9 / 9 leaves no bin */
    EXPECT_BAD((snprintf(t.frontend, sizeof t.frontend, "tdnn"), t.tdnn_kernels[1] = 4), "model.tdnn_kernels");
    EXPECT_BAD(snprintf(t.act, sizeof t.act, "tanh"), "model.act");
    EXPECT_BAD(t.n_classes = 0, "model.n_classes");
}

Test(ser_model, init_is_deterministic_and_describe_leaves_state) {
    SerModelConfig cfg;
    small_config(&cfg, "cnn2d", "attention");
    ParamStore *a = params_new(), *b = params_new();
    SerModel ma, mb;
    ser_model_register(&ma, a, &cfg);
    ser_model_register(&mb, b, &cfg);
    params_finalize(a);
    params_finalize(b);
    ser_model_init(&ma, 123);
    ser_model_init(&mb, 123);
    cr_assert_eq(params_count(a), params_count(b));
    cr_expect_eq(memcmp(params_data(a), params_data(b), (size_t)params_count(a) * sizeof(float)), 0);
    params_zero_grad(a);
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    ser_model_describe(&ma, a, 4, 40, f);
    fclose(f);
    cr_expect(strstr(text, "frontend.blocks.0.conv.weight") && strstr(text, "flam") && strstr(text, "total"));
    cr_expect(strstr(text, "activation memory"), "%s", text);
    free(text);
    for (int64_t i = 0; i < params_count(a); i++) cr_assert_eq(params_grad(a)[i], 0.0f, "gradient %lld changed", (long long)i);
    const float *rv = tensor_f32(params_get(a, "frontend.blocks.0.bn.running_var"));
    for (int c = 0; c < 3; c++) cr_expect_eq(rv[c], 1.0f, "running variance changed");
    cr_expect_gt(ser_model_activation_bytes(&ma, a, 4, 40, 1), ser_model_activation_bytes(&ma, a, 4, 40, 0));
    params_free(a);
    params_free(b);
}
