#include "pooling.h"

#include <math.h>
#include <stdio.h>

void attention_pool_register(AttentionPool *p, ParamStore *ps, const char *prefix, int dim, int att_dim,
                             int score_bias) {
    char name[256];
    SERC_ASSERT(dim > 0 && att_dim >= 0, "attention pool %s: dim %d, att_dim %d", prefix, dim, att_dim);
    p->dim = dim;
    p->att_dim = att_dim;
    p->proj = (Linear){0};
    if (att_dim > 0) {
        snprintf(name, sizeof name, "%s.proj", prefix);
        linear_register(&p->proj, ps, name, dim, att_dim, 1);
    }
    snprintf(name, sizeof name, "%s.score", prefix);
    linear_register(&p->score, ps, name, att_dim > 0 ? att_dim : dim, 1, score_bias);
}

void attention_pool_init(AttentionPool *p, InitRng *r) {
    if (p->att_dim > 0) linear_init(&p->proj, r);
    linear_init(&p->score, r);
}

Tensor *attention_pool_weights(Ctx *g, const AttentionPool *p, Tensor *h, const Tensor *mask) {
    char dh[64], dm[64];
    SERC_ASSERT(h->ndim == 3 && h->shape[2] == p->dim && mask && mask->ndim == 2 && mask->shape[0] == h->shape[0] &&
                    mask->shape[1] == h->shape[1],
                "attention pool: h %s, mask %s (want h (B, T, %d), mask (B, T))", tensor_describe(h, dh, sizeof dh),
                tensor_describe(mask, dm, sizeof dm), p->dim);
    int64_t B = h->shape[0], T = h->shape[1];
    Tensor *u = p->att_dim > 0 ? op_tanh(g, linear_forward(g, &p->proj, h)) : h; /* (B, T, A) */
    Tensor *e = op_reshape(g, linear_forward(g, &p->score, u), SHAPE(B, T));  /* (B, T) */
    return op_softmax(g, e, mask);
}

Tensor *weighted_sum_time(Ctx *g, Tensor *alpha, Tensor *h) {
    char da[64], dh[64];
    SERC_ASSERT(alpha->ndim == 2 && h->ndim == 3 && alpha->shape[0] == h->shape[0] && alpha->shape[1] == h->shape[1],
                "weighted_sum_time: alpha %s, h %s (want (B, T) and (B, T, D))",
                tensor_describe(alpha, da, sizeof da), tensor_describe(h, dh, sizeof dh));
    int64_t B = h->shape[0], T = h->shape[1], D = h->shape[2];
    Tensor *a3 = op_reshape(g, alpha, SHAPE(B, 1, T));
    return op_reshape(g, op_matmul(g, a3, h, 0, 0), SHAPE(B, D)); /* (B, 1, T) x (B, T, D) */
}

Tensor *attention_pool_forward(Ctx *g, const AttentionPool *p, Tensor *h, const Tensor *mask, Tensor **weights) {
    Tensor *alpha = attention_pool_weights(g, p, h, mask);
    if (weights) *weights = alpha;
    return weighted_sum_time(g, alpha, h);
}

Tensor *attentive_stats_pool_forward(Ctx *g, const AttentionPool *p, Tensor *h, const Tensor *mask, float eps,
                                     Tensor **weights) {
    Tensor *alpha = attention_pool_weights(g, p, h, mask);
    if (weights) *weights = alpha;
    Tensor *mu = weighted_sum_time(g, alpha, h);                    /* sum alpha h     (B, D) */
    Tensor *m2 = weighted_sum_time(g, alpha, op_mul(g, h, h));      /* sum alpha h^2   (B, D) */
    Tensor *sigma = pool_sqrt_clamp(g, op_sub(g, m2, op_mul(g, mu, mu)), eps);
    Tensor *parts[2] = {mu, sigma};
    return op_concat(g, parts, 2, 1);
}

Tensor *masked_mean_pool(Ctx *g, Tensor *h, const Tensor *lengths) { return op_masked_mean_time(g, h, lengths); }

/* ---- sqrt(max(x, lo)) ---- */

static void sqrt_clamp_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *y = n->out;
    if (!x->requires_grad) return;
    float lo = (float)n->fattr[0];
    const float *xv = tensor_f32(x), *yv = tensor_f32(y), *gy = tensor_f32(y->grad);
    float *gx = tensor_grad_f32(g, x);
    int64_t N = tensor_numel(x);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++)
        if (xv[i] > lo) gx[i] += gy[i] * 0.5f / yv[i];
}

Tensor *pool_sqrt_clamp(Ctx *g, Tensor *x, float lo) {
    SERC_ASSERT(lo >= 0.0f, "sqrt_clamp: lower bound %g is negative", (double)lo);
    Tensor *y = tensor_empty_like(g, x);
    const float *xv = tensor_f32(x);
    float *yv = tensor_f32(y);
    int64_t N = tensor_numel(x);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) yv[i] = sqrtf(xv[i] > lo ? xv[i] : lo);
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, "sqrt_clamp", sqrt_clamp_backward, y, &x, 1);
        n->fattr[0] = lo;
    }
    return y;
}
