/* Reductions: the sum and mean of a whole tensor, and variable-length pooling over time
 * (masked sum / mean / standard deviation of x (B, T, C) over the first lengths[b] frames).
 *
 * Whole-tensor sums add fixed blocks of 4096 elements in double and then the block sums in order, so
 * the result is the same bits on any thread count.
 */
#include <math.h>

#include "ops.h"

#define SUM_BLOCK 4096

/* sum_i x[i] in double, independent of the thread count. */
static double sum_all(Ctx *g, const float *x, int64_t n) {
    int64_t nb = (n + SUM_BLOCK - 1) / SUM_BLOCK;
    double *part = arena_alloc(&g->arena, (size_t)(nb > 0 ? nb : 1) * sizeof(double));
    #pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < nb; k++) {
        int64_t i1 = (k + 1) * SUM_BLOCK < n ? (k + 1) * SUM_BLOCK : n;
        double s = 0.0;
        for (int64_t i = k * SUM_BLOCK; i < i1; i++) s += x[i];
        part[k] = s;
    }
    double s = 0.0;
    for (int64_t k = 0; k < nb; k++) s += part[k];
    return s;
}

/* gx += scale * gy[0] everywhere: the backward of sum (scale 1) and mean (scale 1/n). */
static void sum_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->requires_grad) return;
    float *gx = tensor_grad_f32(g, x);
    float d = tensor_f32(n->out->grad)[0] * (float)n->fattr[0];
    int64_t N = tensor_numel(x);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) gx[i] += d;
}

static Tensor *sum_impl(Ctx *g, Tensor *x, int mean) {
    int64_t N = tensor_numel(x);
    char dx[64];
    SERC_ASSERT(!mean || N > 0, "mean of an empty tensor %s", tensor_describe(x, dx, sizeof dx));
    double s = sum_all(g, tensor_f32(x), N);
    double scale = mean ? 1.0 / (double)N : 1.0;
    Tensor *y = tensor_empty(g, SERC_F32, SHAPE(1));
    tensor_f32(y)[0] = (float)(s * scale);
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, mean ? "mean" : "sum", sum_backward, y, &x, 1);
        n->fattr[0] = scale;
    }
    return y;
}

/* Sum of every element of x (any shape), shape (1). */
Tensor *op_sum(Ctx *g, Tensor *x) { return sum_impl(g, x, 0); }

/* Mean of every element of x (any shape, at least one element), shape (1). */
Tensor *op_mean(Ctx *g, Tensor *x) { return sum_impl(g, x, 1); }

/* ---- variable-length pooling over time ---- */

/* Checks x (B, T, C) against lengths (B). */
static void check_time_pool(const char *op, const Tensor *x, const Tensor *lengths) {
    char dx[64], dl[64];
    SERC_ASSERT(x->ndim == 3 && lengths->ndim == 1 && lengths->shape[0] == x->shape[0],
                "%s: x %s, lengths %s (want x (B, T, C), lengths (B))", op, tensor_describe(x, dx, sizeof dx),
                tensor_describe(lengths, dl, sizeof dl));
}

/* lengths[b], checked to lie in [0, T]. */
static int64_t item_length(const Tensor *lengths, int64_t b, int64_t T) {
    int64_t len = tensor_get_index(lengths, b);
    SERC_ASSERT(len >= 0 && len <= T, "length %lld of item %lld outside [0, %lld]", (long long)len, (long long)b,
                (long long)T);
    return len;
}

typedef enum PoolKind { POOL_SUM = 0, POOL_MEAN, POOL_STD } PoolKind;

/* out[b, c] = w_b * sum_{t < len_b} f(x[b, t, c]), f(v) = v, or (v - mu[b, c])^2 when mu is given.
 * Work items are (item, block of 64 channels); frames are read row by row. */
static void pool_frames(const float *x, const float *mu, const Tensor *lengths, int64_t B, int64_t T, int64_t C,
                        int mean_scale, float *out) {
    int64_t nblk = (C + 63) / 64;
    #pragma omp parallel for schedule(static)
    for (int64_t it = 0; it < B * nblk; it++) {
        int64_t b = it / nblk, c0 = (it % nblk) * 64, c1 = c0 + 64 < C ? c0 + 64 : C;
        int64_t len = item_length(lengths, b, T);
        double acc[64] = {0};
        for (int64_t t = 0; t < len; t++) {
            const float *xr = x + (b * T + t) * C;
            for (int64_t c = c0; c < c1; c++) {
                double v = mu ? (double)xr[c] - mu[b * C + c] : (double)xr[c];
                acc[c - c0] += mu ? v * v : v;
            }
        }
        double w = mean_scale && len > 0 ? 1.0 / (double)len : 1.0;
        for (int64_t c = c0; c < c1; c++) out[b * C + c] = (float)(acc[c - c0] * w);
    }
}

static void pool_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *y = n->out;
    if (!x->requires_grad) return;
    PoolKind kind = (PoolKind)n->iattr[0];
    const Tensor *lengths = n->saved[0];
    int64_t B = x->shape[0], T = x->shape[1], C = x->shape[2];
    const float *gy = tensor_f32(y->grad), *xv = tensor_f32(x), *yv = tensor_f32(y);
    const float *mu = kind == POOL_STD ? tensor_f32(n->saved[1]) : NULL;
    float *gx = tensor_grad_f32(g, x);
    #pragma omp parallel for schedule(static)
    for (int64_t bt = 0; bt < B * T; bt++) {
        int64_t b = bt / T, t = bt % T, len = item_length(lengths, b, T);
        if (t >= len) continue; /* padding frames get no gradient */
        const float *gr = gy + b * C;
        float *gxr = gx + bt * C;
        const float *xr = xv + bt * C;
        if (kind == POOL_SUM) {
            for (int64_t c = 0; c < C; c++) gxr[c] += gr[c];
        } else if (kind == POOL_MEAN) {
            float inv = 1.0f / (float)len;
            for (int64_t c = 0; c < C; c++) gxr[c] += gr[c] * inv;
        } else { /* d std / d x_t = (x_t - mu) / (len std); the mean's own dependence sums to zero */
            for (int64_t c = 0; c < C; c++) {
                float sd = yv[b * C + c]; /* 0 only for constant frames with eps = 0: take gradient 0 */
                if (sd > 0) gxr[c] += gr[c] * (xr[c] - mu[b * C + c]) / ((float)len * sd);
            }
        }
    }
}

static Tensor *pool_time(Ctx *g, Tensor *x, const Tensor *lengths, PoolKind kind, float eps) {
    static const char *const name[] = {"masked_sum_time", "masked_mean_time", "masked_std_time"};
    check_time_pool(name[kind], x, lengths);
    int64_t B = x->shape[0], T = x->shape[1], C = x->shape[2];
    Tensor *y = tensor_empty(g, SERC_F32, SHAPE(B, C));
    const float *xv = tensor_f32(x);
    float *yv = tensor_f32(y);
    Tensor *mu_t = NULL;
    if (kind == POOL_STD) {
        /* two passes (mean, then squared deviations) rather than E[x^2] - E[x]^2, which cancels badly */
        mu_t = tensor_empty(g, SERC_F32, SHAPE(B, C));
        float *mu = tensor_f32(mu_t);
        pool_frames(xv, NULL, lengths, B, T, C, 1, mu);
        pool_frames(xv, mu, lengths, B, T, C, 1, yv);
        #pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < B; b++) {
            int64_t len = item_length(lengths, b, T);
            for (int64_t c = 0; c < C; c++) yv[b * C + c] = len > 0 ? sqrtf(yv[b * C + c] + eps) : 0.0f;
        }
    } else {
        pool_frames(xv, NULL, lengths, B, T, C, kind == POOL_MEAN, yv);
    }
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, name[kind], pool_backward, y, &x, 1);
        n->iattr[0] = kind;
        n->saved[0] = (Tensor *)lengths; /* read only; the caller keeps it alive until backward */
        n->saved[1] = mu_t;
    }
    return y;
}

/* out (B, C) = sum over frames t < lengths[b] of x (B, T, C); a zero-length item gives zeros. */
Tensor *op_masked_sum_time(Ctx *g, Tensor *x, const Tensor *lengths) { return pool_time(g, x, lengths, POOL_SUM, 0.0f); }

/* out (B, C) = mean over frames t < lengths[b] of x (B, T, C); a zero-length item gives zeros. */
Tensor *op_masked_mean_time(Ctx *g, Tensor *x, const Tensor *lengths) {
    return pool_time(g, x, lengths, POOL_MEAN, 0.0f);
}

/* out (B, C) = sqrt(mean_t (x - mean_t x)^2 + eps) over frames t < lengths[b] (population variance), as in
 * the statistics pooling of x-vectors (Snyder et al. 2018); a zero-length item gives zeros. */
Tensor *op_masked_std_time(Ctx *g, Tensor *x, const Tensor *lengths, float eps) {
    return pool_time(g, x, lengths, POOL_STD, eps);
}
