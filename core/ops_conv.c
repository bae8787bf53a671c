/* Convolution (im2col + OpenBLAS sgemm) and pooling, 2-D; the 1-D forms are the 2-D ones with H = 1.
 *
 * Sizes: Hout = floor((H + 2 pad - dil (K - 1) - 1) / stride) + 1, as torch.nn.Conv2d / MaxPool2d.
 * sgemm is called from serial code only (the pthread OpenBLAS must not run inside an OpenMP region);
 * im2col / col2im and the pools use OpenMP over independent rows, channels and planes.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "ops.h"

/* Everything a convolution's forward and backward need, 1-D or 2-D. */
typedef struct ConvGeom {
    int64_t B, Cin, H, W, Cout, KH, KW, Ho, Wo;
    int64_t sh, sw, ph, pw, dh, dw, groups;
} ConvGeom;

/* Output length of a window sweep; aborts when not even one window fits. */
static int64_t window_out_size(const char *op, int64_t L, int64_t k, int64_t s, int64_t p, int64_t d) {
    int64_t span = L + 2 * p - d * (k - 1) - 1;
    SERC_ASSERT(k >= 1 && s >= 1 && p >= 0 && d >= 1, "%s: kernel %lld, stride %lld, padding %lld, dilation %lld",
                op, (long long)k, (long long)s, (long long)p, (long long)d);
    SERC_ASSERT(span >= 0, "%s: input length %lld (+ 2 x padding %lld) shorter than the kernel span %lld", op,
                (long long)L, (long long)p, (long long)(d * (k - 1) + 1));
    return span / s + 1;
}

/* Row-major C = op(A) op(B) + beta C; sizes with nothing to compute are skipped (BLAS rejects them). */
static void sgemm_rm(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                     int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 0 || N == 0 || K == 0) return; /* callers never hit K = 0 with beta = 0 (K is a kernel volume) */
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                1.0f, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

/* col (Cg KH KW, Ho Wo): row (c, ki, kj) holds x[c, oh sh - ph + ki dh, ow sw - pw + kj dw], 0 in the
 * padding. x is one group of one batch item, (Cg, H, W). */
static void im2col(float *col, const float *x, const ConvGeom *c, int64_t Cg) {
    int64_t KK = c->KH * c->KW, P = c->Ho * c->Wo;
    #pragma omp parallel for
    for (int64_t r = 0; r < Cg * KK; r++) {
        int64_t ci = r / KK, ki = (r / c->KW) % c->KH, kj = r % c->KW;
        const float *xc = x + ci * c->H * c->W;
        float *row = col + r * P;
        for (int64_t oh = 0; oh < c->Ho; oh++) {
            int64_t ih = oh * c->sh - c->ph + ki * c->dh;
            float *out = row + oh * c->Wo;
            if (ih < 0 || ih >= c->H) {
                memset(out, 0, (size_t)c->Wo * sizeof(float));
                continue;
            }
            for (int64_t ow = 0; ow < c->Wo; ow++) {
                int64_t iw = ow * c->sw - c->pw + kj * c->dw;
                out[ow] = iw >= 0 && iw < c->W ? xc[ih * c->W + iw] : 0.0f;
            }
        }
    }
}

/* dx += col2im(dcol): the adjoint of im2col. Parallel over channels: each channel's rows write only
 * that channel. */
static void col2im_add(float *dx, const float *dcol, const ConvGeom *c, int64_t Cg) {
    int64_t KK = c->KH * c->KW, P = c->Ho * c->Wo;
    #pragma omp parallel for
    for (int64_t ci = 0; ci < Cg; ci++) {
        float *dxc = dx + ci * c->H * c->W;
        for (int64_t k = 0; k < KK; k++) {
            int64_t ki = k / c->KW, kj = k % c->KW;
            const float *row = dcol + (ci * KK + k) * P;
            for (int64_t oh = 0; oh < c->Ho; oh++) {
                int64_t ih = oh * c->sh - c->ph + ki * c->dh;
                if (ih < 0 || ih >= c->H) continue;
                for (int64_t ow = 0; ow < c->Wo; ow++) {
                    int64_t iw = ow * c->sw - c->pw + kj * c->dw;
                    if (iw >= 0 && iw < c->W) dxc[ih * c->W + iw] += row[oh * c->Wo + ow];
                }
            }
        }
    }
}

/* A 1x1 kernel with stride 1 and no padding: the column matrix is x itself. */
static int conv_is_pointwise(const ConvGeom *c) {
    return c->KH == 1 && c->KW == 1 && c->sh == 1 && c->sw == 1 && c->ph == 0 && c->pw == 0;
}

/* Per batch item and group g: dW_g += dY_g col^T, dcol = W_g^T dY_g -> dx; db = sum of dY. */
static void conv_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL, *y = n->out;
    const ConvGeom *c = n->extra;
    int64_t G = c->groups, Cg = c->Cin / G, Coutg = c->Cout / G, CK = Cg * c->KH * c->KW, P = c->Ho * c->Wo;
    const float *dy = tensor_f32(y->grad), *xv = tensor_f32(x), *wv = tensor_f32(w);
    int pointwise = conv_is_pointwise(c);
    if (x->requires_grad || w->requires_grad) {
        float *dx = x->requires_grad ? tensor_grad_f32(g, x) : NULL;
        float *dw = w->requires_grad ? tensor_grad_f32(g, w) : NULL;
        float *col = pointwise ? NULL : arena_alloc(&g->arena, (size_t)(CK * P) * sizeof(float));
        float *dcol = pointwise || !dx ? NULL : arena_alloc(&g->arena, (size_t)(CK * P) * sizeof(float));
        for (int64_t bi = 0; bi < c->B; bi++) {
            for (int64_t gi = 0; gi < G; gi++) {
                const float *xg = xv + (bi * c->Cin + gi * Cg) * c->H * c->W;
                const float *dyg = dy + (bi * c->Cout + gi * Coutg) * P;
                const float *wg = wv + gi * Coutg * CK;
                if (dw) {
                    const float *cols = xg;
                    if (!pointwise) {
                        im2col(col, xg, c, Cg);
                        cols = col;
                    }
                    sgemm_rm(0, 1, Coutg, CK, P, dyg, P, cols, P, 1.0f, dw + gi * Coutg * CK, CK);
                }
                if (dx) {
                    float *dxg = dx + (bi * c->Cin + gi * Cg) * c->H * c->W;
                    if (pointwise) {
                        sgemm_rm(1, 0, CK, P, Coutg, wg, CK, dyg, P, 1.0f, dxg, P);
                    } else {
                        sgemm_rm(1, 0, CK, P, Coutg, wg, CK, dyg, P, 0.0f, dcol, P);
                        col2im_add(dxg, dcol, c, Cg);
                    }
                }
            }
        }
    }
    if (b && b->requires_grad) {
        float *db = tensor_grad_f32(g, b);
        #pragma omp parallel for
        for (int64_t co = 0; co < c->Cout; co++) {
            double s = 0;
            for (int64_t bi = 0; bi < c->B; bi++)
                for (int64_t p = 0; p < P; p++) s += dy[(bi * c->Cout + co) * P + p];
            db[co] += (float)s;
        }
    }
}

/* The shared forward: y (B, Cout, Ho, Wo) per item and group = W_g (Coutg, CK) col (CK, Ho Wo), + b.
 * y is allocated by the caller in the 1-D or 2-D shape (same memory layout). */
static Tensor *conv_forward(Ctx *g, Tensor *x, Tensor *w, Tensor *b, const ConvGeom *geom, Tensor *y) {
    int64_t G = geom->groups, Cg = geom->Cin / G, Coutg = geom->Cout / G;
    int64_t CK = Cg * geom->KH * geom->KW, P = geom->Ho * geom->Wo;
    const float *xv = tensor_f32(x), *wv = tensor_f32(w);
    float *yv = tensor_f32(y);
    int pointwise = conv_is_pointwise(geom);
    float *col = pointwise ? NULL : arena_alloc(&g->arena, (size_t)(CK * P) * sizeof(float));
    for (int64_t bi = 0; bi < geom->B; bi++) {
        for (int64_t gi = 0; gi < G; gi++) {
            const float *xg = xv + (bi * geom->Cin + gi * Cg) * geom->H * geom->W, *cols = xg;
            if (!pointwise) {
                im2col(col, xg, geom, Cg);
                cols = col;
            }
            float *yg = yv + (bi * geom->Cout + gi * Coutg) * P;
            if (CK == 0) memset(yg, 0, (size_t)(Coutg * P) * sizeof(float));
            sgemm_rm(0, 0, Coutg, P, CK, wv + gi * Coutg * CK, CK, cols, P, 0.0f, yg, P);
        }
    }
    if (b) {
        const float *bv = tensor_f32(b);
        #pragma omp parallel for
        for (int64_t r = 0; r < geom->B * geom->Cout; r++)
            for (int64_t p = 0; p < P; p++) yv[r * P + p] += bv[r % geom->Cout];
    }
    Tensor *in[3] = {x, w, b};
    if (ctx_needs_grad(g, in, b ? 3 : 2)) {
        TapeNode *n = ctx_record(g, "conv", conv_backward, y, in, b ? 3 : 2);
        ConvGeom *saved = arena_alloc(&g->arena, sizeof *saved);
        *saved = *geom;
        n->extra = saved;
    }
    return y;
}

/* Checks channel counts, groups and bias against x and w; shared by conv1d and conv2d. */
static void conv_check(const char *op, const Tensor *x, const Tensor *w, const Tensor *b, int nd, int64_t groups) {
    char sx[64], sw[64], sb[64];
    SERC_ASSERT(x->ndim == nd && w->ndim == nd, "%s: input %s, weight %s (expected %d dims)", op,
                tensor_describe(x, sx, sizeof sx), tensor_describe(w, sw, sizeof sw), nd);
    SERC_ASSERT(groups >= 1 && x->shape[1] % groups == 0 && w->shape[0] % groups == 0 &&
                    w->shape[1] * groups == x->shape[1],
                "%s: input %s, weight %s, groups %lld (need Cin = groups x w.shape[1], Cout divisible by groups)", op,
                tensor_describe(x, sx, sizeof sx), tensor_describe(w, sw, sizeof sw), (long long)groups);
    if (b)
        SERC_ASSERT(b->ndim == 1 && b->shape[0] == w->shape[0], "%s: bias %s for weight %s", op,
                    tensor_describe(b, sb, sizeof sb), tensor_describe(w, sw, sizeof sw));
}

/* x (B, Cin, T), w (Cout, Cin/groups, K), b (Cout) or NULL -> (B, Cout, Tout); zero padding. */
Tensor *op_conv1d(Ctx *g, Tensor *x, Tensor *w, Tensor *b, int stride, int padding, int dilation, int groups) {
    conv_check("conv1d", x, w, b, 3, groups);
    ConvGeom c = {.B = x->shape[0], .Cin = x->shape[1], .H = 1, .W = x->shape[2], .Cout = w->shape[0], .KH = 1,
                  .KW = w->shape[2], .sh = 1, .sw = stride, .ph = 0, .pw = padding, .dh = 1, .dw = dilation,
                  .groups = groups};
    c.Ho = 1;
    c.Wo = window_out_size("conv1d", c.W, c.KW, c.sw, c.pw, c.dw);
    Tensor *y = tensor_empty(g, SERC_F32, 3, (const int64_t[]){c.B, c.Cout, c.Wo});
    return conv_forward(g, x, w, b, &c, y);
}

/* x (B, Cin, H, W), w (Cout, Cin/groups, KH, KW), b (Cout) or NULL -> (B, Cout, Hout, Wout). */
Tensor *op_conv2d(Ctx *g, Tensor *x, Tensor *w, Tensor *b, Conv2dOpts o) {
    conv_check("conv2d", x, w, b, 4, o.groups);
    ConvGeom c = {.B = x->shape[0], .Cin = x->shape[1], .H = x->shape[2], .W = x->shape[3], .Cout = w->shape[0],
                  .KH = w->shape[2], .KW = w->shape[3], .sh = o.stride_h, .sw = o.stride_w, .ph = o.pad_h,
                  .pw = o.pad_w, .dh = o.dil_h, .dw = o.dil_w, .groups = o.groups};
    c.Ho = window_out_size("conv2d", c.H, c.KH, c.sh, c.ph, c.dh);
    c.Wo = window_out_size("conv2d", c.W, c.KW, c.sw, c.pw, c.dw);
    Tensor *y = tensor_empty(g, SERC_F32, 4, (const int64_t[]){c.B, c.Cout, c.Ho, c.Wo});
    return conv_forward(g, x, w, b, &c, y);
}

/* ---- pooling ---- */

typedef struct PoolGeom {
    int64_t planes, H, W, Ho, Wo; /* planes = B C */
    int64_t kh, kw, sh, sw, ph, pw;
} PoolGeom;

/* Checks x and the options (padding at most half the kernel, as torch) and derives the output size. */
static PoolGeom pool_geom(const char *op, const Tensor *x, int nd, Pool2dOpts o) {
    char sx[64];
    SERC_ASSERT(x->ndim == nd, "%s: input %s (expected %d dims)", op, tensor_describe(x, sx, sizeof sx), nd);
    SERC_ASSERT(o.pad_h >= 0 && o.pad_w >= 0 && o.pad_h <= o.kernel_h / 2 && o.pad_w <= o.kernel_w / 2,
                "%s: padding (%d, %d) must be at most half the kernel (%d, %d)", op, o.pad_h, o.pad_w, o.kernel_h,
                o.kernel_w);
    PoolGeom p = {.planes = x->shape[0] * x->shape[1], .H = nd == 4 ? x->shape[2] : 1, .W = x->shape[nd - 1],
                  .kh = o.kernel_h, .kw = o.kernel_w, .sh = o.stride_h, .sw = o.stride_w, .ph = o.pad_h, .pw = o.pad_w};
    p.Ho = window_out_size(op, p.H, p.kh, p.sh, p.ph, 1);
    p.Wo = window_out_size(op, p.W, p.kw, p.sw, p.pw, 1);
    return p;
}

/* The output: (B, C, Hout, Wout), or (B, C, Tout) for the 1-D pools. */
static Tensor *pool_output(Ctx *g, const Tensor *x, int nd, const PoolGeom *p) {
    int64_t shape[4] = {x->shape[0], x->shape[1], nd == 4 ? p->Ho : p->Wo, p->Wo};
    return tensor_empty(g, SERC_F32, nd, shape);
}

/* dx[plane, argmax] += dy. Parallel over planes: windows overlap only inside a plane. */
static void max_pool_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *y = n->out;
    if (!x->requires_grad) return;
    const PoolGeom *p = n->extra;
    const int32_t *arg = tensor_i32(n->saved[0]);
    const float *dy = tensor_f32(y->grad);
    float *dx = tensor_grad_f32(g, x);
    int64_t P = p->Ho * p->Wo;
    #pragma omp parallel for
    for (int64_t pl = 0; pl < p->planes; pl++)
        for (int64_t o = 0; o < P; o++) dx[pl * p->H * p->W + arg[pl * P + o]] += dy[pl * P + o];
}

/* Shared by the 2-D and 1-D max pools: y = window max, argmax saved (i32, index in the plane). */
static Tensor *max_pool(Ctx *g, Tensor *x, int nd, Pool2dOpts o, const char *op) {
    PoolGeom p = pool_geom(op, x, nd, o);
    Tensor *y = pool_output(g, x, nd, &p);
    Tensor *arg = tensor_empty(g, SERC_I32, y->ndim, y->shape); /* argmax within the (H, W) plane */
    const float *xv = tensor_f32(x);
    float *yv = tensor_f32(y);
    int32_t *av = tensor_i32(arg);
    SERC_ASSERT(p.H * p.W <= INT32_MAX, "%s: plane of %lld elements too large for i32 argmax", op,
                (long long)(p.H * p.W));
    #pragma omp parallel for
    for (int64_t pl = 0; pl < p.planes; pl++) {
        const float *xp = xv + pl * p.H * p.W;
        for (int64_t oh = 0; oh < p.Ho; oh++) {
            for (int64_t ow = 0; ow < p.Wo; ow++) {
                /* padding is -inf: it never wins, and padding <= kernel / 2 keeps one real element */
                float best = -INFINITY;
                int64_t at = -1;
                for (int64_t ki = 0; ki < p.kh; ki++) {
                    int64_t ih = oh * p.sh - p.ph + ki;
                    if (ih < 0 || ih >= p.H) continue;
                    for (int64_t kj = 0; kj < p.kw; kj++) {
                        int64_t iw = ow * p.sw - p.pw + kj;
                        if (iw < 0 || iw >= p.W) continue;
                        float v = xp[ih * p.W + iw];
                        /* the first maximum wins; a NaN wins over any number, as in torch */
                        if (at < 0 || v > best || (isnan(v) && !isnan(best))) {
                            best = v;
                            at = ih * p.W + iw;
                        }
                    }
                }
                yv[(pl * p.Ho + oh) * p.Wo + ow] = best;
                av[(pl * p.Ho + oh) * p.Wo + ow] = (int32_t)at;
            }
        }
    }
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, op, max_pool_backward, y, &x, 1);
        n->saved[0] = arg;
        PoolGeom *saved = arena_alloc(&g->arena, sizeof *saved);
        *saved = p;
        n->extra = saved;
    }
    return y;
}

/* The clipped window of output (oh, ow): rows [h0, h1), cols [w0, w1) of the unpadded input. */
static void pool_window(const PoolGeom *p, int64_t oh, int64_t ow, int64_t *h0, int64_t *h1, int64_t *w0, int64_t *w1) {
    *h0 = oh * p->sh - p->ph;
    *w0 = ow * p->sw - p->pw;
    *h1 = *h0 + p->kh < p->H ? *h0 + p->kh : p->H;
    *w1 = *w0 + p->kw < p->W ? *w0 + p->kw : p->W;
    if (*h0 < 0) *h0 = 0;
    if (*w0 < 0) *w0 = 0;
}

/* dx[window] += dy / count over each output's clipped window. */
static void avg_pool_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *y = n->out;
    if (!x->requires_grad) return;
    const PoolGeom *p = n->extra;
    const float *dy = tensor_f32(y->grad);
    float *dx = tensor_grad_f32(g, x);
    #pragma omp parallel for
    for (int64_t pl = 0; pl < p->planes; pl++) {
        float *dxp = dx + pl * p->H * p->W;
        for (int64_t oh = 0; oh < p->Ho; oh++) {
            for (int64_t ow = 0; ow < p->Wo; ow++) {
                int64_t h0, h1, w0, w1;
                pool_window(p, oh, ow, &h0, &h1, &w0, &w1);
                float d = dy[(pl * p->Ho + oh) * p->Wo + ow] / (float)((h1 - h0) * (w1 - w0));
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) dxp[ih * p->W + iw] += d;
            }
        }
    }
}

/* Shared by the 2-D and 1-D average pools. */
static Tensor *avg_pool(Ctx *g, Tensor *x, int nd, Pool2dOpts o, const char *op) {
    PoolGeom p = pool_geom(op, x, nd, o);
    Tensor *y = pool_output(g, x, nd, &p);
    const float *xv = tensor_f32(x);
    float *yv = tensor_f32(y);
    #pragma omp parallel for
    for (int64_t pl = 0; pl < p.planes; pl++) {
        const float *xp = xv + pl * p.H * p.W;
        for (int64_t oh = 0; oh < p.Ho; oh++) {
            for (int64_t ow = 0; ow < p.Wo; ow++) {
                int64_t h0, h1, w0, w1;
                pool_window(&p, oh, ow, &h0, &h1, &w0, &w1);
                double s = 0; /* count_include_pad=False: divide by the real elements only */
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * p.W + iw];
                yv[(pl * p.Ho + oh) * p.Wo + ow] = (float)(s / (double)((h1 - h0) * (w1 - w0)));
            }
        }
    }
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, op, avg_pool_backward, y, &x, 1);
        PoolGeom *saved = arena_alloc(&g->arena, sizeof *saved);
        *saved = p;
        n->extra = saved;
    }
    return y;
}

/* x (B, C, H, W) -> (B, C, Hout, Wout), maximum over each window; padding is -inf. */
Tensor *op_max_pool2d(Ctx *g, Tensor *x, Pool2dOpts o) { return max_pool(g, x, 4, o, "max_pool2d"); }

/* x (B, C, H, W) -> (B, C, Hout, Wout), mean over the real (non-padding) elements of each window. */
Tensor *op_avg_pool2d(Ctx *g, Tensor *x, Pool2dOpts o) { return avg_pool(g, x, 4, o, "avg_pool2d"); }

/* x (B, C, T) -> (B, C, Tout): max_pool2d with H = 1. */
Tensor *op_max_pool1d(Ctx *g, Tensor *x, int kernel, int stride, int padding) {
    Pool2dOpts o = {.kernel_h = 1, .kernel_w = kernel, .stride_h = 1, .stride_w = stride, .pad_h = 0, .pad_w = padding};
    return max_pool(g, x, 3, o, "max_pool1d");
}

/* x (B, C, T) -> (B, C, Tout): avg_pool2d with H = 1. */
Tensor *op_avg_pool1d(Ctx *g, Tensor *x, int kernel, int stride, int padding) {
    Pool2dOpts o = {.kernel_h = 1, .kernel_w = kernel, .stride_h = 1, .stride_w = stride, .pad_h = 0, .pad_w = padding};
    return avg_pool(g, x, 3, o, "avg_pool1d");
}
