/* Softmax, log-softmax (both with optional padding masks), layer norm and batch norm.
 *
 * Row statistics (max, sum of exponentials, mean, variance) accumulate in double; each row or channel
 * is one OpenMP work item, so the result does not depend on the thread count.
 */
#include <math.h>

#include "ops.h"

/* ---- softmax / log-softmax ---- */

/* Checks a padding mask against x (..., N) and returns its data (NULL when mask is NULL) and how many
 * consecutive rows of x share one mask row. */
static const uint8_t *softmax_mask(const Tensor *x, const Tensor *mask, int64_t *rows_per_item) {
    *rows_per_item = 1;
    if (!mask) return NULL;
    char dx[64], dm[64];
    int64_t N = x->shape[x->ndim - 1];
    SERC_ASSERT(x->ndim >= 2 && mask->ndim == 2 && mask->shape[0] == x->shape[0] && mask->shape[1] == N,
                "softmax: mask %s for x %s (want u8 (B, N) with B = x.shape[0], N = x.shape[-1])",
                tensor_describe(mask, dm, sizeof dm), tensor_describe(x, dx, sizeof dx));
    int64_t rows = N > 0 ? tensor_numel(x) / N : 0;
    *rows_per_item = x->shape[0] > 0 ? rows / x->shape[0] : 1;
    return tensor_u8(mask);
}

static void softmax_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *y = n->out;
    if (!x->requires_grad) return;
    const float *gy = tensor_f32(y->grad), *yv = tensor_f32(y);
    float *gx = tensor_grad_f32(g, x);
    int64_t N = x->shape[x->ndim - 1], rows = N > 0 ? tensor_numel(x) / N : 0;
    /* dx_i = y_i (gy_i - sum_j y_j gy_j); masked positions and masked rows have y = 0 and get 0 */
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = yv + r * N, *gr = gy + r * N;
        double dot = 0.0;
        for (int64_t i = 0; i < N; i++) dot += (double)yr[i] * gr[i];
        for (int64_t i = 0; i < N; i++) gx[r * N + i] += yr[i] * (gr[i] - (float)dot);
    }
}

static void log_softmax_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *y = n->out;
    if (!x->requires_grad) return;
    int64_t rpi;
    const uint8_t *m = softmax_mask(x, n->saved[0], &rpi);
    const float *gy = tensor_f32(y->grad), *yv = tensor_f32(y);
    float *gx = tensor_grad_f32(g, x);
    int64_t N = x->shape[x->ndim - 1], rows = N > 0 ? tensor_numel(x) / N : 0;
    /* valid i: dx_i = gy_i - softmax_i * sum_{valid j} gy_j, softmax_i = exp(y_i); masked: constant 0 */
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *mr = m ? m + (r / rpi) * N : NULL;
        const float *yr = yv + r * N, *gr = gy + r * N;
        double gsum = 0.0;
        for (int64_t i = 0; i < N; i++)
            if (!mr || mr[i]) gsum += gr[i];
        for (int64_t i = 0; i < N; i++)
            if (!mr || mr[i]) gx[r * N + i] += gr[i] - expf(yr[i]) * (float)gsum;
    }
}

/* Softmax (log_out = 0) or log-softmax (log_out = 1) over the last dim, see ops.h for the mask rules. */
static Tensor *softmax_impl(Ctx *g, Tensor *x, const Tensor *mask, int log_out) {
    char dx[64];
    SERC_ASSERT(x->ndim >= 1, "softmax of a 0-d tensor %s", tensor_describe(x, dx, sizeof dx));
    int64_t rpi;
    const uint8_t *m = softmax_mask(x, mask, &rpi);
    Tensor *y = tensor_empty_like(g, x);
    const float *xv = tensor_f32(x);
    float *yv = tensor_f32(y);
    int64_t N = x->shape[x->ndim - 1], rows = N > 0 ? tensor_numel(x) / N : 0;
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *mr = m ? m + (r / rpi) * N : NULL;
        const float *xr = xv + r * N;
        float *yr = yv + r * N;
        float mx = -INFINITY;
        int64_t valid = 0;
        for (int64_t i = 0; i < N; i++)
            if (!mr || mr[i]) {
                mx = fmaxf(mx, xr[i]);
                valid++;
            }
        if (valid == 0) { /* fully padded row: zeros, and no gradient since y is constant */
            for (int64_t i = 0; i < N; i++) yr[i] = 0.0f;
            continue;
        }
        double sum = 0.0;
        for (int64_t i = 0; i < N; i++)
            if (!mr || mr[i]) sum += exp((double)xr[i] - mx);
        if (log_out) {
            double lse = log(sum);
            for (int64_t i = 0; i < N; i++) yr[i] = (!mr || mr[i]) ? (float)((double)xr[i] - mx - lse) : 0.0f;
        } else {
            double inv = 1.0 / sum;
            for (int64_t i = 0; i < N; i++) yr[i] = (!mr || mr[i]) ? (float)(exp((double)xr[i] - mx) * inv) : 0.0f;
        }
    }
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, log_out ? "log_softmax" : "softmax", log_out ? log_softmax_backward : softmax_backward,
                                 y, &x, 1);
        n->saved[0] = (Tensor *)mask; /* read only; the caller keeps it alive until backward */
    }
    return y;
}

/* y (..., N) = softmax of x (..., N) over the last dim; mask NULL or u8 (B, N), B = x.shape[0]. */
Tensor *op_softmax(Ctx *g, Tensor *x, const Tensor *mask) { return softmax_impl(g, x, mask, 0); }

/* y (..., N) = log softmax of x over the last dim; masked positions and fully masked rows give 0. */
Tensor *op_log_softmax(Ctx *g, Tensor *x, const Tensor *mask) { return softmax_impl(g, x, mask, 1); }

/* ---- layer norm ---- */

static void check_affine(const char *op, const Tensor *p, int64_t C) {
    char d[64];
    SERC_ASSERT(!p || (p->ndim == 1 && p->shape[0] == C), "%s: weight/bias %s, want (%lld)", op,
                tensor_describe(p, d, sizeof d), (long long)C);
}

static void layer_norm_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const float *gy = tensor_f32(n->out->grad), *xv = tensor_f32(x);
    const float *mean = tensor_f32(n->saved[0]), *rstd = tensor_f32(n->saved[1]);
    const float *wv = w ? tensor_f32(w) : NULL;
    int64_t C = x->shape[x->ndim - 1], rows = C > 0 ? tensor_numel(x) / C : 0;
    if (x->requires_grad) {
        float *gx = tensor_grad_f32(g, x);
        /* dx = rstd (dn - mean(dn) - xhat mean(dn xhat)), dn = gy w (as in llm.c layernorm_backward) */
        #pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = xv + r * C, *gr = gy + r * C;
            double s_dn = 0.0, s_dnx = 0.0;
            for (int64_t c = 0; c < C; c++) {
                double xhat = ((double)xr[c] - mean[r]) * rstd[r], dn = (double)gr[c] * (wv ? wv[c] : 1.0f);
                s_dn += dn;
                s_dnx += dn * xhat;
            }
            double m_dn = s_dn / (double)C, m_dnx = s_dnx / (double)C;
            for (int64_t c = 0; c < C; c++) {
                double xhat = ((double)xr[c] - mean[r]) * rstd[r], dn = (double)gr[c] * (wv ? wv[c] : 1.0f);
                gx[r * C + c] += (float)(rstd[r] * (dn - m_dn - xhat * m_dnx));
            }
        }
    }
    int need_w = w && w->requires_grad, need_b = b && b->requires_grad;
    if (!need_w && !need_b) return;
    float *gw = need_w ? tensor_grad_f32(g, w) : NULL, *gb = need_b ? tensor_grad_f32(g, b) : NULL;
    /* column sums over rows: threads own blocks of 64 channels and read them row by row */
    int64_t nblk = (C + 63) / 64;
    #pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * 64, c1 = c0 + 64 < C ? c0 + 64 : C;
        double aw[64] = {0}, ab[64] = {0};
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = c0; c < c1; c++) {
                double go = gy[r * C + c];
                aw[c - c0] += go * ((double)xv[r * C + c] - mean[r]) * rstd[r];
                ab[c - c0] += go;
            }
        for (int64_t c = c0; c < c1; c++) {
            if (gw) gw[c] += (float)aw[c - c0];
            if (gb) gb[c] += (float)ab[c - c0];
        }
    }
}

/* Layer norm (Ba et al. 2016) over the last dim C of x (..., C):
 * y = (x - mean) / sqrt(var + eps) * w + b, var the population variance; w, b (C) or NULL. */
Tensor *op_layer_norm(Ctx *g, Tensor *x, Tensor *w, Tensor *b, float eps) {
    char dx[64];
    SERC_ASSERT(x->ndim >= 1, "layer_norm of a 0-d tensor %s", tensor_describe(x, dx, sizeof dx));
    int64_t C = x->shape[x->ndim - 1], rows = C > 0 ? tensor_numel(x) / C : 0;
    check_affine("layer_norm", w, C);
    check_affine("layer_norm", b, C);
    Tensor *y = tensor_empty_like(g, x);
    Tensor *mean_t = tensor_empty(g, SERC_F32, SHAPE(rows)), *rstd_t = tensor_empty(g, SERC_F32, SHAPE(rows));
    const float *xv = tensor_f32(x), *wv = w ? tensor_f32(w) : NULL, *bv = b ? tensor_f32(b) : NULL;
    float *yv = tensor_f32(y), *mean = tensor_f32(mean_t), *rstd = tensor_f32(rstd_t);
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = xv + r * C;
        double s = 0.0, v = 0.0;
        for (int64_t c = 0; c < C; c++) s += xr[c];
        double mu = s / (double)C;
        for (int64_t c = 0; c < C; c++) v += ((double)xr[c] - mu) * ((double)xr[c] - mu);
        double rs = 1.0 / sqrt(v / (double)C + eps);
        mean[r] = (float)mu;
        rstd[r] = (float)rs;
        for (int64_t c = 0; c < C; c++) {
            float xhat = (float)(((double)xr[c] - mu) * rs);
            yv[r * C + c] = xhat * (wv ? wv[c] : 1.0f) + (bv ? bv[c] : 0.0f);
        }
    }
    Tensor *in[3] = {x, w, b};
    if (ctx_needs_grad(g, in, 3)) {
        TapeNode *n = ctx_record(g, "layer_norm", layer_norm_backward, y, in, 3);
        n->saved[0] = mean_t;
        n->saved[1] = rstd_t;
    }
    return y;
}

/* ---- batch norm ---- */

/* x (B, C, S...) seen as (B, C, S) with S the product of the trailing dims. */
static void batch_norm_dims(const Tensor *x, int64_t *B, int64_t *C, int64_t *S) {
    *B = x->shape[0];
    *C = x->shape[1];
    *S = 1;
    for (int d = 2; d < x->ndim; d++) *S *= x->shape[d];
}

static void batch_norm_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int training = (int)n->iattr[0];
    int64_t B, C, S;
    batch_norm_dims(x, &B, &C, &S);
    const float *gy = tensor_f32(n->out->grad), *xv = tensor_f32(x);
    const float *mean = tensor_f32(n->saved[0]), *rstd = tensor_f32(n->saved[1]);
    const float *wv = w ? tensor_f32(w) : NULL;
    float *gx = x->requires_grad ? tensor_grad_f32(g, x) : NULL;
    float *gw = w && w->requires_grad ? tensor_grad_f32(g, w) : NULL;
    float *gb = b && b->requires_grad ? tensor_grad_f32(g, b) : NULL;
    double N = (double)(B * S);
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        double s_gy = 0.0, s_gyx = 0.0; /* sum gy, sum gy xhat over the channel */
        for (int64_t bi = 0; bi < B; bi++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (bi * C + c) * S + s;
                s_gy += gy[i];
                s_gyx += (double)gy[i] * ((double)xv[i] - mean[c]) * rstd[c];
            }
        if (gw) gw[c] += (float)s_gyx;
        if (gb) gb[c] += (float)s_gy;
        if (!gx) continue;
        double k = (double)rstd[c] * (wv ? wv[c] : 1.0f);
        for (int64_t bi = 0; bi < B; bi++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (bi * C + c) * S + s;
                if (training) { /* batch statistics depend on x: dx = k (gy - mean(gy) - xhat mean(gy xhat)) */
                    double xhat = ((double)xv[i] - mean[c]) * rstd[c];
                    gx[i] += (float)(k * ((double)gy[i] - s_gy / N - xhat * s_gyx / N));
                } else { /* running statistics are constants */
                    gx[i] += (float)(k * gy[i]);
                }
            }
    }
}

/* Batch norm (Ioffe & Szegedy 2015) over channel dim 1 of x (B, C, ...).
 * Training (g->training): mean and biased variance over every dim but 1 normalise x, and when given,
 * running_mean = (1 - momentum) running_mean + momentum mean and
 * running_var = (1 - momentum) running_var + momentum unbiased_var (as torch.nn.BatchNorm; the update
 * happens whether or not grad is recorded, and needs B * S > 1 values per channel).
 * Eval: normalises with running_mean / running_var (both required).
 * y = (x - mean) / sqrt(var + eps) * w + b; w, b, running_* are (C) f32 or NULL. */
Tensor *op_batch_norm(Ctx *g, Tensor *x, Tensor *w, Tensor *b, Tensor *running_mean, Tensor *running_var,
                      float momentum, float eps) {
    char dx[64];
    SERC_ASSERT(x->ndim >= 2, "batch_norm: x %s, want (B, C, ...)", tensor_describe(x, dx, sizeof dx));
    int64_t B, C, S;
    batch_norm_dims(x, &B, &C, &S);
    check_affine("batch_norm", w, C);
    check_affine("batch_norm", b, C);
    check_affine("batch_norm", running_mean, C);
    check_affine("batch_norm", running_var, C);
    int training = g->training;
    SERC_ASSERT(training || (running_mean && running_var), "batch_norm: eval mode needs running statistics");
    SERC_ASSERT(!training || B * S > 1, "batch_norm: training needs more than one value per channel, x %s",
                tensor_describe(x, dx, sizeof dx));
    Tensor *y = tensor_empty_like(g, x);
    Tensor *mean_t = tensor_empty(g, SERC_F32, SHAPE(C)), *rstd_t = tensor_empty(g, SERC_F32, SHAPE(C));
    const float *xv = tensor_f32(x), *wv = w ? tensor_f32(w) : NULL, *bv = b ? tensor_f32(b) : NULL;
    float *rm = running_mean ? tensor_f32(running_mean) : NULL, *rv = running_var ? tensor_f32(running_var) : NULL;
    float *yv = tensor_f32(y), *mean = tensor_f32(mean_t), *rstd = tensor_f32(rstd_t);
    double N = (double)(B * S);
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        double mu, var;
        if (training) {
            double s = 0.0, v = 0.0;
            for (int64_t bi = 0; bi < B; bi++)
                for (int64_t k = 0; k < S; k++) s += xv[(bi * C + c) * S + k];
            mu = s / N;
            for (int64_t bi = 0; bi < B; bi++)
                for (int64_t k = 0; k < S; k++) {
                    double d = (double)xv[(bi * C + c) * S + k] - mu;
                    v += d * d;
                }
            var = v / N;
            if (rm) rm[c] = (float)((1.0 - momentum) * rm[c] + momentum * mu);
            if (rv) rv[c] = (float)((1.0 - momentum) * rv[c] + momentum * v / (N - 1.0));
        } else {
            mu = rm[c];
            var = rv[c];
        }
        double rs = 1.0 / sqrt(var + eps);
        mean[c] = (float)mu;
        rstd[c] = (float)rs;
        float wc = wv ? wv[c] : 1.0f, bc = bv ? bv[c] : 0.0f;
        for (int64_t bi = 0; bi < B; bi++)
            for (int64_t k = 0; k < S; k++) {
                int64_t i = (bi * C + c) * S + k;
                yv[i] = (float)(((double)xv[i] - mu) * rs) * wc + bc;
            }
    }
    Tensor *in[3] = {x, w, b};
    if (ctx_needs_grad(g, in, 3)) {
        TapeNode *n = ctx_record(g, "batch_norm", batch_norm_backward, y, in, 3);
        n->saved[0] = mean_t;
        n->saved[1] = rstd_t;
        n->iattr[0] = training;
    }
    return y;
}
