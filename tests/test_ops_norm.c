/* Softmax, log-softmax, layer norm, batch norm and the reductions (sum, mean, masked pooling over time)
 * against plain double-precision references through opcheck, plus batch norm's running statistics,
 * fully masked softmax rows and thread-count independence of the sum. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "opcheck.h"
#include "rng.h"

/* ---- softmax / log-softmax ---- */

typedef struct SoftmaxAttr {
    int log, masked;
} SoftmaxAttr;
static const SoftmaxAttr SM = {0, 0}, SM_MASK = {0, 1}, LSM = {1, 0}, LSM_MASK = {1, 1};

static Tensor *build_softmax(Ctx *g, Tensor *const *in, const void *attr) {
    const SoftmaxAttr *a = attr;
    const Tensor *mask = a->masked ? in[1] : NULL;
    return a->log ? op_log_softmax(g, in[0], mask) : op_softmax(g, in[0], mask);
}

/* Row r of x (..., N) belongs to batch item r / (rows / B); only valid positions enter the sum. */
static void ref_softmax(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    const SoftmaxAttr *a = attr;
    int64_t N = spec[0].shape[spec[0].ndim - 1], rows = on / N;
    int64_t per_item = rows / spec[0].shape[0];
    for (int64_t r = 0; r < rows; r++) {
        const double *x = in[0] + r * N, *m = a->masked ? in[1] + (r / per_item) * N : NULL;
        double mx = -INFINITY, s = 0;
        for (int64_t i = 0; i < N; i++)
            if (!m || m[i] != 0) mx = fmax(mx, x[i]);
        for (int64_t i = 0; i < N; i++)
            if (!m || m[i] != 0) s += exp(x[i] - mx);
        for (int64_t i = 0; i < N; i++) {
            int valid = !m || m[i] != 0;
            if (!valid) out[r * N + i] = 0;
            else out[r * N + i] = a->log ? x[i] - mx - log(s) : exp(x[i] - mx) / s;
        }
    }
}

#define SOFTMAX1(nm, a, X) {.name = nm, .build = build_softmax, .reference = ref_softmax, .attr = &a, .n_in = 1, .in = {X}}
#define SOFTMAX2(nm, a, X, M) {.name = nm, .build = build_softmax, .reference = ref_softmax, .attr = &a, .n_in = 2, .in = {X, M}}

/* ---- layer norm ---- */

typedef struct LayerNormAttr {
    int has_w, has_b;
    float eps;
} LayerNormAttr;
static const LayerNormAttr LN_WB = {1, 1, 1e-5f}, LN_PLAIN = {0, 0, 1e-5f}, LN_W = {1, 0, 1e-3f};

static Tensor *build_layer_norm(Ctx *g, Tensor *const *in, const void *attr) {
    const LayerNormAttr *a = attr;
    return op_layer_norm(g, in[0], a->has_w ? in[1] : NULL, a->has_b ? in[1 + a->has_w] : NULL, a->eps);
}

static void ref_layer_norm(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    const LayerNormAttr *a = attr;
    const double *w = a->has_w ? in[1] : NULL, *b = a->has_b ? in[1 + a->has_w] : NULL;
    int64_t C = spec[0].shape[spec[0].ndim - 1];
    for (int64_t r = 0; r < on / C; r++) {
        const double *x = in[0] + r * C;
        double mu = 0, var = 0;
        for (int64_t c = 0; c < C; c++) mu += x[c] / (double)C;
        for (int64_t c = 0; c < C; c++) var += (x[c] - mu) * (x[c] - mu) / (double)C;
        for (int64_t c = 0; c < C; c++)
            out[r * C + c] = (x[c] - mu) / sqrt(var + a->eps) * (w ? w[c] : 1) + (b ? b[c] : 0);
    }
}

#define LNORM(nm, a, n, ...) {.name = nm, .build = build_layer_norm, .reference = ref_layer_norm, .attr = &a, \
                              .n_in = n, .in = {__VA_ARGS__}}

/* ---- batch norm ---- */

typedef struct BatchNormAttr {
    int has_wb, has_running, training;
    float momentum, eps;
} BatchNormAttr;
static const BatchNormAttr BN_TRAIN = {1, 1, 1, 0.1f, 1e-5f}, BN_TRAIN_BARE = {0, 0, 1, 0.1f, 1e-5f},
                           BN_EVAL = {1, 1, 0, 0.1f, 1e-5f}, BN_EVAL_BARE = {0, 1, 0, 0.1f, 1e-3f};

static Tensor *build_batch_norm(Ctx *g, Tensor *const *in, const void *attr) {
    const BatchNormAttr *a = attr;
    int k = 1;
    Tensor *w = a->has_wb ? in[k++] : NULL, *b = a->has_wb ? in[k++] : NULL;
    Tensor *rm = a->has_running ? in[k++] : NULL, *rv = a->has_running ? in[k++] : NULL;
    return op_batch_norm(g, in[0], w, b, rm, rv, a->momentum, a->eps);
}

/* x (B, C, S...): training statistics over every dim but 1 (population variance); eval reads the
 * running statistics from the inputs. */
static void ref_batch_norm(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    const BatchNormAttr *a = attr;
    int k = 1;
    const double *w = a->has_wb ? in[k++] : NULL, *b = a->has_wb ? in[k++] : NULL;
    const double *rm = a->has_running ? in[k++] : NULL, *rv = a->has_running ? in[k++] : NULL;
    int64_t B = spec[0].shape[0], C = spec[0].shape[1], S = on / (B * C);
    const double *x = in[0];
    for (int64_t c = 0; c < C; c++) {
        double mu = 0, var = 0, n = (double)(B * S);
        if (a->training) {
            for (int64_t i = 0; i < B; i++)
                for (int64_t s = 0; s < S; s++) mu += x[(i * C + c) * S + s] / n;
            for (int64_t i = 0; i < B; i++)
                for (int64_t s = 0; s < S; s++) var += pow(x[(i * C + c) * S + s] - mu, 2) / n;
        } else {
            mu = rm[c];
            var = rv[c];
        }
        for (int64_t i = 0; i < B; i++)
            for (int64_t s = 0; s < S; s++) {
                int64_t j = (i * C + c) * S + s;
                out[j] = (x[j] - mu) / sqrt(var + a->eps) * (w ? w[c] : 1) + (b ? b[c] : 0);
            }
    }
}

#define BNORM(nm, a, train, n, ...) {.name = nm, .build = build_batch_norm, .reference = ref_batch_norm, .attr = &a, \
                                     .n_in = n, .in = {__VA_ARGS__}, .training = train}
#define RUNNING(C) CONSTR(-0.5, 0.5, C), CONSTR(0.5, 1.5, C)

/* ---- sum, mean ---- */

static const int SUM = 0, MEAN = 1;

static Tensor *build_sum(Ctx *g, Tensor *const *in, const void *attr) {
    return *(const int *)attr ? op_mean(g, in[0]) : op_sum(g, in[0]);
}
static void ref_sum(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)on;
    int64_t n = ref_numel(&spec[0]);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += in[0][i];
    out[0] = *(const int *)attr ? s / (double)n : s;
}

#define SUMC(nm, a, X) {.name = nm, .build = build_sum, .reference = ref_sum, .attr = &a, .n_in = 1, .in = {X}}

/* ---- masked pooling over time ---- */

typedef struct PoolAttr {
    int kind; /* 0 sum, 1 mean, 2 std */
    float eps;
} PoolAttr;
static const PoolAttr P_SUM = {0, 0}, P_MEAN = {1, 0}, P_STD = {2, 1e-5f}, P_STD_BIG_EPS = {2, 0.1f};

static Tensor *build_pool(Ctx *g, Tensor *const *in, const void *attr) {
    const PoolAttr *a = attr;
    if (a->kind == 0) return op_masked_sum_time(g, in[0], in[1]);
    if (a->kind == 1) return op_masked_mean_time(g, in[0], in[1]);
    return op_masked_std_time(g, in[0], in[1], a->eps);
}

/* x (B, T, C), lengths (B): statistics over frames t < len; a zero-length item gives zeros. */
static void ref_pool(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)on;
    const PoolAttr *a = attr;
    int64_t B = spec[0].shape[0], T = spec[0].shape[1], C = spec[0].shape[2];
    for (int64_t b = 0; b < B; b++) {
        int64_t len = (int64_t)in[1][b];
        for (int64_t c = 0; c < C; c++) {
            double s = 0, v = 0;
            for (int64_t t = 0; t < len; t++) s += in[0][(b * T + t) * C + c];
            double mu = len ? s / (double)len : 0;
            for (int64_t t = 0; t < len; t++) v += pow(in[0][(b * T + t) * C + c] - mu, 2);
            double r = a->kind == 0 ? s : a->kind == 1 ? mu : sqrt(v / (double)len + a->eps);
            out[b * C + c] = len ? r : 0;
        }
    }
}

#define POOL(nm, a, B, T, ...) {.name = nm, .build = build_pool, .reference = ref_pool, .attr = &a, .n_in = 2, \
                                .in = {REAL(B, T, __VA_ARGS__), LENGTHS(B, T)}}

/* ---- the table ---- */

static const OpCase cases[] = {
    SOFTMAX1("softmax 3x7", SM, REALR(-5, 5, 3, 7)),
    SOFTMAX1("softmax (1)", SM, REAL(1)),
    SOFTMAX1("softmax 5d (2,1,3,2,4)", SM, REALR(-3, 3, 2, 1, 3, 2, 4)),
    SOFTMAX2("softmax masked (3,5,7)", SM_MASK, REALR(-5, 5, 3, 5, 7), MASK(3, 7)),
    SOFTMAX2("softmax masked (4,2,3,6)", SM_MASK, REAL(4, 2, 3, 6), MASK(4, 6)),
    SOFTMAX2("softmax masked (3,1)", SM_MASK, REAL(3, 1), MASK(3, 1)),
    SOFTMAX2("softmax masked (5,9)", SM_MASK, REALR(-5, 5, 5, 9), MASK(5, 9)),
    SOFTMAX1("log_softmax 3x7", LSM, REALR(-5, 5, 3, 7)),
    SOFTMAX1("log_softmax (1)", LSM, REAL(1)),
    SOFTMAX1("log_softmax 5d (2,1,3,2,4)", LSM, REALR(-3, 3, 2, 1, 3, 2, 4)),
    SOFTMAX2("log_softmax masked (3,5,7)", LSM_MASK, REALR(-5, 5, 3, 5, 7), MASK(3, 7)),
    SOFTMAX2("log_softmax masked (4,2,3,6)", LSM_MASK, REAL(4, 2, 3, 6), MASK(4, 6)),
    SOFTMAX2("log_softmax masked (3,1)", LSM_MASK, REAL(3, 1), MASK(3, 1)),
    SOFTMAX2("log_softmax masked (5,9)", LSM_MASK, REALR(-5, 5, 5, 9), MASK(5, 9)),

    LNORM("layer_norm 3x7 w b", LN_WB, 3, REAL(3, 7), REALR(0.5, 1.5, 7), REAL(7)),
    LNORM("layer_norm (2,3,5) plain", LN_PLAIN, 1, REALR(-3, 3, 2, 3, 5)),
    LNORM("layer_norm (4,1) C=1", LN_WB, 3, REAL(4, 1), REAL(1), REAL(1)),
    LNORM("layer_norm 5d w only eps 1e-3", LN_W, 2, REAL(2, 1, 3, 2, 6), REAL(6)),
    LNORM("layer_norm (3,70) two channel blocks", LN_WB, 3, REAL(3, 70), REAL(70), REAL(70)),

    BNORM("batch_norm train (4,3)", BN_TRAIN, 1, 5, REAL(4, 3), REALR(0.5, 1.5, 3), REAL(3), RUNNING(3)),
    BNORM("batch_norm train (2,3,5) bare", BN_TRAIN_BARE, 1, 1, REALR(-3, 3, 2, 3, 5)),
    BNORM("batch_norm train (3,2,2,3)", BN_TRAIN, 1, 5, REAL(3, 2, 2, 3), REAL(2), REAL(2), RUNNING(2)),
    BNORM("batch_norm train 5d (2,3,2,1,2)", BN_TRAIN, 1, 5, REAL(2, 3, 2, 1, 2), REAL(3), REAL(3), RUNNING(3)),
    BNORM("batch_norm train (1,4,3) B=1", BN_TRAIN, 1, 5, REAL(1, 4, 3), REAL(4), REAL(4), RUNNING(4)),
    BNORM("batch_norm eval (2,3,5)", BN_EVAL, 0, 5, REAL(2, 3, 5), REAL(3), REAL(3), RUNNING(3)),
    BNORM("batch_norm eval (4,3) bare", BN_EVAL_BARE, 0, 3, REAL(4, 3), RUNNING(3)),
    BNORM("batch_norm eval 5d (2,3,1,2,2)", BN_EVAL, 0, 5, REAL(2, 3, 1, 2, 2), REAL(3), REAL(3), RUNNING(3)),

    SUMC("sum 3x7", SUM, REAL(3, 7)),
    SUMC("sum (1)", SUM, REAL(1)),
    SUMC("sum 5d", SUM, REAL(2, 3, 1, 4, 5)),
    SUMC("sum 9000 (three blocks)", SUM, REAL(9000)),
    SUMC("mean 3x7", MEAN, REAL(3, 7)),
    SUMC("mean (1)", MEAN, REAL(1)),
    SUMC("mean 5d", MEAN, REAL(2, 3, 1, 4, 5)),
    SUMC("mean 9000 (three blocks)", MEAN, REAL(9000)),

    POOL("masked_sum_time (3,5,4)", P_SUM, 3, 5, 4),
    POOL("masked_sum_time (4,6,1)", P_SUM, 4, 6, 1),
    POOL("masked_sum_time (1,3,2) B=1", P_SUM, 1, 3, 2),
    POOL("masked_sum_time (5,7,70)", P_SUM, 5, 7, 70),
    POOL("masked_mean_time (3,5,4)", P_MEAN, 3, 5, 4),
    POOL("masked_mean_time (4,6,1)", P_MEAN, 4, 6, 1),
    POOL("masked_mean_time (5,1,3) T=1", P_MEAN, 5, 1, 3),
    POOL("masked_mean_time (5,7,70)", P_MEAN, 5, 7, 70),
    POOL("masked_std_time (3,5,4)", P_STD, 3, 5, 4),
    POOL("masked_std_time (6,6,1)", P_STD, 6, 6, 1),
    POOL("masked_std_time (5,7,70)", P_STD, 5, 7, 70),
    POOL("masked_std_time (4,3,3) eps 0.1", P_STD_BIG_EPS, 4, 3, 3),
};

OPCHECK_TABLE(ops, norm, cases)

/* ---- what the table cannot express ---- */

static Tensor *values(Ctx *g, int ndim, const int64_t *shape, uint64_t seed) {
    Tensor *t = tensor_empty(g, SERC_F32, ndim, shape);
    serc_rng_fill_uniform(tensor_f32(t), tensor_numel(t), seed, 0, -2.0f, 2.0f);
    return t;
}

/* Item 1 fully padded: its rows output zeros and receive no gradient; padded positions of item 2 too. */
Test(softmax, fully_masked_row_gives_zeros_and_no_gradient) {
    for (int log_out = 0; log_out < 2; log_out++) {
        Ctx *g = ctx_new(1);
        g->arena.poison = 1;
        Tensor *x = values(g, SHAPE(3, 2, 4), 5);
        x->requires_grad = 1;
        Tensor *mask = tensor_empty(g, SERC_U8, SHAPE(3, 4));
        const uint8_t m[12] = {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0};
        memcpy(tensor_u8(mask), m, sizeof m);
        Tensor *y = log_out ? op_log_softmax(g, x, mask) : op_softmax(g, x, mask);
        Tensor *R = values(g, SHAPE(3, 2, 4), 6);
        serc_backward(g, y, R);
        const float *yv = tensor_f32(y), *gx = tensor_f32(x->grad);
        for (int i = 0; i < 24; i++) {
            int valid = m[(i / 8) * 4 + i % 4];
            if (valid) continue;
            cr_assert_eq(yv[i], 0.0f, "%s: padded element %d = %g", log_out ? "log_softmax" : "softmax", i, (double)yv[i]);
            cr_assert_eq(gx[i], 0.0f, "%s: padded element %d has gradient %g", log_out ? "log_softmax" : "softmax", i,
                         (double)gx[i]);
        }
        /* the valid rows of item 2 still sum to 1 */
        if (!log_out) cr_assert_float_eq(yv[16] + yv[17], 1.0f, 1e-6);
        ctx_free(g);
    }
}

/* torch.nn.BatchNorm1d: running_mean <- 0.9 rm + 0.1 mean, running_var <- 0.9 rv + 0.1 unbiased var;
 * then eval normalises with those. */
Test(batch_norm, running_statistics_update) {
    Ctx *g = ctx_new(1);
    Tensor *x = values(g, SHAPE(4, 3, 5), 11);
    Tensor *rm = tensor_empty(g, SERC_F32, SHAPE(3)), *rv = tensor_empty(g, SERC_F32, SHAPE(3));
    const float rm0[3] = {0.2f, -0.1f, 0.0f}, rv0[3] = {1.5f, 0.5f, 1.0f};
    memcpy(tensor_f32(rm), rm0, sizeof rm0);
    memcpy(tensor_f32(rv), rv0, sizeof rv0);
    g->training = 1;
    op_batch_norm(g, x, NULL, NULL, rm, rv, 0.1f, 1e-5f);
    const float *xv = tensor_f32(x);
    double want_m[3], want_v[3];
    for (int c = 0; c < 3; c++) {
        double s = 0, v = 0;
        for (int b = 0; b < 4; b++)
            for (int t = 0; t < 5; t++) s += xv[(b * 3 + c) * 5 + t];
        double mu = s / 20;
        for (int b = 0; b < 4; b++)
            for (int t = 0; t < 5; t++) v += pow(xv[(b * 3 + c) * 5 + t] - mu, 2);
        want_m[c] = 0.9 * rm0[c] + 0.1 * mu;
        want_v[c] = 0.9 * rv0[c] + 0.1 * v / 19;
        cr_assert(fabs(tensor_f32(rm)[c] - want_m[c]) < 1e-6, "running_mean[%d] %g, want %g", c, (double)tensor_f32(rm)[c], want_m[c]);
        cr_assert(fabs(tensor_f32(rv)[c] - want_v[c]) < 1e-6, "running_var[%d] %g, want %g", c, (double)tensor_f32(rv)[c], want_v[c]);
    }
    /* eval: uses the updated running statistics and leaves them alone */
    g->training = 0;
    Tensor *y = op_batch_norm(g, x, NULL, NULL, rm, rv, 0.1f, 1e-5f);
    for (int i = 0; i < 60; i++) {
        int c = (i / 5) % 3;
        double want = (xv[i] - want_m[c]) / sqrt(want_v[c] + 1e-5);
        cr_assert(fabs(tensor_f32(y)[i] - want) < 1e-5, "eval element %d: %g, want %g", i, (double)tensor_f32(y)[i], want);
    }
    for (int c = 0; c < 3; c++) cr_assert(fabs(tensor_f32(rm)[c] - want_m[c]) < 1e-6, "eval changed running_mean");
    ctx_free(g);
}

/* The sum adds fixed blocks, so the bits do not depend on the thread count. */
Test(reduce, sum_same_bits_on_any_thread_count) {
    float r[2];
    for (int run = 0; run < 2; run++) {
        Ctx *g = ctx_new(1);
#ifdef _OPENMP
        omp_set_num_threads(run + 1);
#endif
        Tensor *x = values(g, SHAPE(100003), 3);
        r[run] = tensor_f32(op_sum(g, x))[0];
        ctx_free(g);
    }
    cr_assert_eq(memcmp(&r[0], &r[1], sizeof(float)), 0, "sum %a on 1 thread, %a on 2", (double)r[0], (double)r[1]);
}
