/* Ops of the self-supervised speech encoders (wav2vec 2.0, HuBERT, WavLM): group norm, layer norm over
 * the channel dim of a (B, C, T) map, and weight normalisation (attention with an additive per-head bias
 * and dropout lives with plain attention in core/ops_attention.c).
 *
 * Row and group statistics accumulate in double; each (item, group), frame or weight slice is one
 * OpenMP work item, so results do not depend on the thread count.
 */
#include <math.h>
#include <string.h>

#include "ops.h"

static void check_vec(const char *op, const Tensor *p, int64_t C) {
    char d[64];
    SERC_ASSERT(!p || (p->ndim == 1 && p->shape[0] == C), "%s: weight/bias %s, want (%lld)", op,
                tensor_describe(p, d, sizeof d), (long long)C);
}

/* ---- group norm ---- */

typedef struct NormGeom {
    int64_t B, C, S, G; /* x (B, C, S); G groups of C / G channels */
} NormGeom;

static void group_norm_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const NormGeom *q = n->extra;
    const int64_t Cg = q->C / q->G, M = Cg * q->S;
    const float *gy = tensor_f32(n->out->grad), *xv = tensor_f32(x);
    const float *mean = tensor_f32(n->saved[0]), *rstd = tensor_f32(n->saved[1]);
    const float *wv = w ? tensor_f32(w) : NULL;
    if (x->requires_grad && M > 0) {
        float *gx = tensor_grad_f32(g, x);
        /* per (item, group): dx = rstd (dn - mean(dn) - xhat mean(dn xhat)), dn = gy w_c */
        #pragma omp parallel for schedule(static)
        for (int64_t bg = 0; bg < q->B * q->G; bg++) {
            const int64_t c0 = (bg % q->G) * Cg, off = bg * M;
            double s_dn = 0.0, s_dnx = 0.0;
            for (int64_t i = 0; i < M; i++) {
                double xhat = ((double)xv[off + i] - mean[bg]) * rstd[bg];
                double dn = (double)gy[off + i] * (wv ? wv[c0 + i / q->S] : 1.0f);
                s_dn += dn;
                s_dnx += dn * xhat;
            }
            double m_dn = s_dn / (double)M, m_dnx = s_dnx / (double)M;
            for (int64_t i = 0; i < M; i++) {
                double xhat = ((double)xv[off + i] - mean[bg]) * rstd[bg];
                double dn = (double)gy[off + i] * (wv ? wv[c0 + i / q->S] : 1.0f);
                gx[off + i] += (float)(rstd[bg] * (dn - m_dn - xhat * m_dnx));
            }
        }
    }
    int need_w = w && w->requires_grad, need_b = b && b->requires_grad;
    if (!need_w && !need_b) return;
    float *gw = need_w ? tensor_grad_f32(g, w) : NULL, *gb = need_b ? tensor_grad_f32(g, b) : NULL;
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < q->C; c++) {
        double aw = 0.0, ab = 0.0;
        for (int64_t bi = 0; bi < q->B; bi++) {
            const int64_t bg = bi * q->G + c / Cg, off = (bi * q->C + c) * q->S;
            for (int64_t s = 0; s < q->S; s++) {
                aw += (double)gy[off + s] * ((double)xv[off + s] - mean[bg]) * rstd[bg];
                ab += gy[off + s];
            }
        }
        if (gw) gw[c] += (float)aw;
        if (gb) gb[c] += (float)ab;
    }
}

/* Group norm (Wu & He 2018) of x (B, C, S...): channels split into `groups` groups of C / groups; each
 * (item, group) is normalised over its channels and positions, y = (x - mean) / sqrt(var + eps) w_c + b_c
 * (population variance), as torch.nn.GroupNorm. w, b (C) or NULL. */
Tensor *op_group_norm(Ctx *g, Tensor *x, Tensor *w, Tensor *b, int groups, float eps) {
    char dx[64];
    SERC_ASSERT(x->ndim >= 2 && groups >= 1 && x->shape[1] % groups == 0,
                "group_norm: x %s with %d groups (want (B, C, ...) with C divisible by groups)",
                tensor_describe(x, dx, sizeof dx), groups);
    NormGeom q = {x->shape[0], x->shape[1], 1, groups};
    for (int d = 2; d < x->ndim; d++) q.S *= x->shape[d];
    check_vec("group_norm", w, q.C);
    check_vec("group_norm", b, q.C);
    const int64_t Cg = q.C / q.G, M = Cg * q.S;
    Tensor *y = tensor_empty_like(g, x);
    Tensor *mean_t = tensor_empty(g, SERC_F32, SHAPE(q.B * q.G)), *rstd_t = tensor_empty(g, SERC_F32, SHAPE(q.B * q.G));
    const float *xv = tensor_f32(x), *wv = w ? tensor_f32(w) : NULL, *bv = b ? tensor_f32(b) : NULL;
    float *yv = tensor_f32(y), *mean = tensor_f32(mean_t), *rstd = tensor_f32(rstd_t);
    #pragma omp parallel for schedule(static)
    for (int64_t bg = 0; bg < q.B * q.G; bg++) {
        const int64_t c0 = (bg % q.G) * Cg, off = bg * M;
        double s = 0.0, v = 0.0;
        for (int64_t i = 0; i < M; i++) s += xv[off + i];
        double mu = M > 0 ? s / (double)M : 0.0;
        for (int64_t i = 0; i < M; i++) v += ((double)xv[off + i] - mu) * ((double)xv[off + i] - mu);
        double rs = 1.0 / sqrt((M > 0 ? v / (double)M : 0.0) + eps);
        mean[bg] = (float)mu;
        rstd[bg] = (float)rs;
        for (int64_t i = 0; i < M; i++) {
            const int64_t c = c0 + i / q.S;
            float xhat = (float)(((double)xv[off + i] - mu) * rs);
            yv[off + i] = xhat * (wv ? wv[c] : 1.0f) + (bv ? bv[c] : 0.0f);
        }
    }
    Tensor *in[3] = {x, w, b};
    if (ctx_needs_grad(g, in, 3)) {
        TapeNode *n = ctx_record(g, "group_norm", group_norm_backward, y, in, 3);
        n->saved[0] = mean_t;
        n->saved[1] = rstd_t;
        NormGeom *e = arena_alloc(&g->arena, sizeof *e);
        *e = q;
        n->extra = e;
    }
    return y;
}

/* ---- layer norm over the channel dim ---- */

static void layer_norm_channels_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const int64_t B = x->shape[0], C = x->shape[1], T = x->shape[2];
    const float *gy = tensor_f32(n->out->grad), *xv = tensor_f32(x);
    const float *mean = tensor_f32(n->saved[0]), *rstd = tensor_f32(n->saved[1]);
    const float *wv = w ? tensor_f32(w) : NULL;
    if (x->requires_grad && C > 0) {
        float *gx = tensor_grad_f32(g, x);
        #pragma omp parallel for schedule(static)
        for (int64_t bt = 0; bt < B * T; bt++) {
            const int64_t bi = bt / T, t = bt % T;
            const float *xr = xv + bi * C * T + t, *gr = gy + bi * C * T + t;
            double s_dn = 0.0, s_dnx = 0.0;
            for (int64_t c = 0; c < C; c++) {
                double xhat = ((double)xr[c * T] - mean[bt]) * rstd[bt], dn = (double)gr[c * T] * (wv ? wv[c] : 1.0f);
                s_dn += dn;
                s_dnx += dn * xhat;
            }
            double m_dn = s_dn / (double)C, m_dnx = s_dnx / (double)C;
            for (int64_t c = 0; c < C; c++) {
                double xhat = ((double)xr[c * T] - mean[bt]) * rstd[bt], dn = (double)gr[c * T] * (wv ? wv[c] : 1.0f);
                gx[bi * C * T + c * T + t] += (float)(rstd[bt] * (dn - m_dn - xhat * m_dnx));
            }
        }
    }
    int need_w = w && w->requires_grad, need_b = b && b->requires_grad;
    if (!need_w && !need_b) return;
    float *gw = need_w ? tensor_grad_f32(g, w) : NULL, *gb = need_b ? tensor_grad_f32(g, b) : NULL;
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; c++) {
        double aw = 0.0, ab = 0.0;
        for (int64_t bi = 0; bi < B; bi++)
            for (int64_t t = 0; t < T; t++) {
                const int64_t i = (bi * C + c) * T + t, bt = bi * T + t;
                aw += (double)gy[i] * ((double)xv[i] - mean[bt]) * rstd[bt];
                ab += gy[i];
            }
        if (gw) gw[c] += (float)aw;
        if (gb) gb[c] += (float)ab;
    }
}

/* Layer norm over the channels of x (B, C, T) at every (item, frame): the same numbers as transposing
 * to (B, T, C), op_layer_norm and transposing back, without the two copies. w, b (C) or NULL. */
Tensor *op_layer_norm_channels(Ctx *g, Tensor *x, Tensor *w, Tensor *b, float eps) {
    char dx[64];
    SERC_ASSERT(x->ndim == 3, "layer_norm_channels: x %s, want (B, C, T)", tensor_describe(x, dx, sizeof dx));
    const int64_t B = x->shape[0], C = x->shape[1], T = x->shape[2];
    check_vec("layer_norm_channels", w, C);
    check_vec("layer_norm_channels", b, C);
    Tensor *y = tensor_empty_like(g, x);
    Tensor *mean_t = tensor_empty(g, SERC_F32, SHAPE(B * T)), *rstd_t = tensor_empty(g, SERC_F32, SHAPE(B * T));
    const float *xv = tensor_f32(x), *wv = w ? tensor_f32(w) : NULL, *bv = b ? tensor_f32(b) : NULL;
    float *yv = tensor_f32(y), *mean = tensor_f32(mean_t), *rstd = tensor_f32(rstd_t);
    /* frames of one item in blocks of 64 so that a thread reads each channel row contiguously */
    const int64_t nblk = (T + 63) / 64;
    #pragma omp parallel for schedule(static)
    for (int64_t job = 0; job < B * nblk; job++) {
        const int64_t bi = job / nblk, t0 = (job % nblk) * 64, t1 = t0 + 64 < T ? t0 + 64 : T;
        const float *xb = xv + bi * C * T;
        float *yb = yv + bi * C * T;
        double s[64] = {0}, v[64] = {0};
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = t0; t < t1; t++) s[t - t0] += xb[c * T + t];
        for (int64_t t = t0; t < t1; t++) s[t - t0] = C > 0 ? s[t - t0] / (double)C : 0.0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = t0; t < t1; t++) {
                double d = (double)xb[c * T + t] - s[t - t0];
                v[t - t0] += d * d;
            }
        for (int64_t t = t0; t < t1; t++) {
            v[t - t0] = 1.0 / sqrt((C > 0 ? v[t - t0] / (double)C : 0.0) + eps);
            mean[bi * T + t] = (float)s[t - t0];
            rstd[bi * T + t] = (float)v[t - t0];
        }
        for (int64_t c = 0; c < C; c++) {
            const float wc = wv ? wv[c] : 1.0f, bc = bv ? bv[c] : 0.0f;
            for (int64_t t = t0; t < t1; t++) {
                float xhat = (float)(((double)xb[c * T + t] - s[t - t0]) * v[t - t0]);
                yb[c * T + t] = xhat * wc + bc;
            }
        }
    }
    Tensor *in[3] = {x, w, b};
    if (ctx_needs_grad(g, in, 3)) {
        TapeNode *n = ctx_record(g, "layer_norm_channels", layer_norm_channels_backward, y, in, 3);
        n->saved[0] = mean_t;
        n->saved[1] = rstd_t;
    }
    return y;
}

/* ---- weight normalisation ---- */

/* v seen as (outer, K, inner) around `dim`; slice k holds every element with index k along dim. */
typedef struct WnGeom {
    int64_t outer, K, inner;
} WnGeom;

static WnGeom wn_geom(const Tensor *v, int dim) {
    WnGeom q = {1, v->shape[dim], 1};
    for (int d = 0; d < dim; d++) q.outer *= v->shape[d];
    for (int d = dim + 1; d < v->ndim; d++) q.inner *= v->shape[d];
    return q;
}

/* Per-slice sums S_k = sum over slice k of a[j] b[j] (b = a for squared norms), in double. The rows
 * (o, i) are read in memory order; WN_CHUNKS fixed blocks of the outer dim keep partial sums that are
 * added in block order, so the result does not depend on the thread count. */
#define WN_CHUNKS 32
static void wn_slice_dots(double *S, const float *a, const float *b, WnGeom q, Arena *arena) {
    double *part = arena_alloc(arena, (size_t)WN_CHUNKS * (size_t)q.K * sizeof(double));
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < WN_CHUNKS; c++) {
        double *pc = part + c * q.K;
        for (int64_t k = 0; k < q.K; k++) pc[k] = 0.0;
        const int64_t o0 = q.outer * c / WN_CHUNKS, o1 = q.outer * (c + 1) / WN_CHUNKS;
        for (int64_t o = o0; o < o1; o++)
            for (int64_t k = 0; k < q.K; k++) {
                const float *ar = a + (o * q.K + k) * q.inner, *br = b + (o * q.K + k) * q.inner;
                double s = 0.0;
                for (int64_t i = 0; i < q.inner; i++) s += (double)ar[i] * br[i];
                pc[k] += s;
            }
    }
    for (int64_t k = 0; k < q.K; k++) {
        S[k] = 0.0;
        for (int64_t c = 0; c < WN_CHUNKS; c++) S[k] += part[c * q.K + k];
    }
}

/* w = g v / ||v||: dg_k += sum gw v / ||v||; dv += (g_k / ||v||) (gw - v (sum gw v) / ||v||^2). */
static void weight_norm_backward(Ctx *g, TapeNode *n) {
    Tensor *v = n->in[0], *gain = n->in[1];
    const WnGeom q = wn_geom(v, (int)n->iattr[0]);
    const float *gw = tensor_f32(n->out->grad), *vv = tensor_f32(v), *gv = tensor_f32(gain);
    float *dv = v->requires_grad ? tensor_grad_f32(g, v) : NULL;
    float *dg = gain->requires_grad ? tensor_grad_f32(g, gain) : NULL;
    double *nrm = arena_alloc(&g->arena, (size_t)q.K * sizeof(double));
    double *dot = arena_alloc(&g->arena, (size_t)q.K * sizeof(double));
    wn_slice_dots(nrm, vv, vv, q, &g->arena);
    wn_slice_dots(dot, gw, vv, q, &g->arena);
    for (int64_t k = 0; k < q.K; k++) {
        nrm[k] = sqrt(nrm[k]);
        /* a zero slice makes w 0/0 (NaN) there, as in torch; nothing meaningful to pass back */
        if (dg && nrm[k] > 0.0) dg[k] += (float)(dot[k] / nrm[k]);
    }
    if (!dv) return;
    #pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < q.outer; o++)
        for (int64_t k = 0; k < q.K; k++) {
            if (nrm[k] == 0.0) continue;
            const double a = gv[k] / nrm[k], c = dot[k] / (nrm[k] * nrm[k]);
            for (int64_t i = 0; i < q.inner; i++) {
                const int64_t j = (o * q.K + k) * q.inner + i;
                dv[j] += (float)(a * ((double)gw[j] - vv[j] * c));
            }
        }
}

/* Weight normalisation (Salimans & Kingma 2016) as torch.nn.utils.weight_norm(module, dim):
 * w = g v / ||v||, the norm taken over every dim of v except `dim`, one gain per index along dim.
 * v any shape; gain has v.shape[dim] elements in any shape (torch stores (1, 1, K) for dim 2 of a
 * (Cout, Cin, K) kernel). Returns w, v's shape. */
Tensor *op_weight_norm(Ctx *g, Tensor *v, Tensor *gain, int dim) {
    char dv[64], dg[64];
    SERC_ASSERT(dim >= 0 && dim < v->ndim && tensor_numel(gain) == v->shape[dim],
                "weight_norm: v %s, gain %s, dim %d (want gain with v.shape[dim] elements)",
                tensor_describe(v, dv, sizeof dv), tensor_describe(gain, dg, sizeof dg), dim);
    const WnGeom q = wn_geom(v, dim);
    Tensor *w = tensor_empty_like(g, v);
    const float *vv = tensor_f32(v), *gv = tensor_f32(gain);
    float *wv = tensor_f32(w);
    double *scale = arena_alloc(&g->arena, (size_t)(q.K > 0 ? q.K : 1) * sizeof(double));
    wn_slice_dots(scale, vv, vv, q, &g->arena);
    for (int64_t k = 0; k < q.K; k++) scale[k] = gv[k] / sqrt(scale[k]);
    #pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < q.outer; o++)
        for (int64_t k = 0; k < q.K; k++)
            for (int64_t i = 0; i < q.inner; i++) {
                const int64_t j = (o * q.K + k) * q.inner + i;
                wv[j] = (float)(vv[j] * scale[k]);
            }
    Tensor *in[2] = {v, gain};
    if (ctx_needs_grad(g, in, 2)) {
        TapeNode *n = ctx_record(g, "weight_norm", weight_norm_backward, w, in, 2);
        n->iattr[0] = dim;
    }
    return w;
}
