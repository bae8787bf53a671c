#include "conv_attn.h"

void conv_attn_register(ConvAttnClassifier *m, ParamStore *ps, int n_features, int dim, int heads, int n_classes) {
    SERC_ASSERT(dim % heads == 0, "conv_attn: dim %d not divisible by %d heads", dim, heads);
    m->n_features = n_features;
    m->dim = dim;
    m->heads = heads;
    m->n_classes = n_classes;
    conv1d_register(&m->conv, ps, "frontend.conv", n_features, dim, 5, 1, 2, 1, 1, 1);
    linear_register(&m->q, ps, "attention.q_proj", dim, dim, 1);
    linear_register(&m->k, ps, "attention.k_proj", dim, dim, 1);
    linear_register(&m->v, ps, "attention.v_proj", dim, dim, 1);
    linear_register(&m->o, ps, "attention.out_proj", dim, dim, 1);
    layer_norm_register(&m->norm, ps, "norm", dim, 1e-5f);
    linear_register(&m->head, ps, "classifier", dim, n_classes, 1);
}

void conv_attn_init(ConvAttnClassifier *m, uint64_t seed) {
    InitRng r = {seed, 0};
    conv1d_init(&m->conv, &r);
    linear_init(&m->q, &r);
    linear_init(&m->k, &r);
    linear_init(&m->v, &r);
    linear_init(&m->o, &r);
    layer_norm_init(&m->norm);
    linear_init(&m->head, &r);
}

Tensor *mhsa_forward(Ctx *g, const Linear *q, const Linear *k, const Linear *v, const Linear *o, int heads,
                     Tensor *x, Tensor *mask) {
    int64_t B = x->shape[0], T = x->shape[1], d = x->shape[2], dh = d / heads;
    static const int to_heads[4] = {0, 2, 1, 3}; /* (B, T, H, dh) <-> (B, H, T, dh) */
    Tensor *qh = op_permute(g, op_reshape(g, linear_forward(g, q, x), SHAPE(B, T, heads, dh)), to_heads);
    Tensor *kh = op_permute(g, op_reshape(g, linear_forward(g, k, x), SHAPE(B, T, heads, dh)), to_heads);
    Tensor *vh = op_permute(g, op_reshape(g, linear_forward(g, v, x), SHAPE(B, T, heads, dh)), to_heads);
    Tensor *a = op_attention(g, qh, kh, vh, mask);
    a = op_reshape(g, op_permute(g, a, to_heads), SHAPE(B, T, d));
    return linear_forward(g, o, a);
}

Tensor *conv_attn_forward(Ctx *g, const ConvAttnClassifier *m, Tensor *x, Tensor *lengths, Tensor *mask) {
    static const int swap12[3] = {0, 2, 1};
    Tensor *h = op_permute(g, x, swap12);                   /* (B, F, T) */
    h = op_gelu(g, conv1d_forward(g, &m->conv, h));          /* (B, d, T) */
    h = op_permute(g, h, swap12);                            /* (B, T, d) */
    h = op_add(g, h, mhsa_forward(g, &m->q, &m->k, &m->v, &m->o, m->heads, h, mask));
    h = layer_norm_forward(g, &m->norm, h);
    Tensor *pooled = op_masked_mean_time(g, h, lengths);     /* (B, d) */
    return linear_forward(g, &m->head, pooled);
}
