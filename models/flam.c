#include "flam.h"

#include <stdio.h>

#include "conv_attn.h" /* mhsa_forward */

void flam_register(Flam *f, ParamStore *ps, const char *prefix, int dim, int heads, int att_dim, float dropout) {
    SERC_ASSERT(heads > 0 && dim % heads == 0, "flam %s: dim %d not divisible by %d heads", prefix, dim, heads);
    SERC_ASSERT(dropout >= 0.0f && dropout < 1.0f, "flam %s: dropout %g outside [0, 1)", prefix, (double)dropout);
    char name[256];
    f->dim = dim;
    f->heads = heads;
    f->att_dim = att_dim;
    f->dropout = dropout;
    static const char *const proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    Linear *lin[4] = {&f->q, &f->k, &f->v, &f->o};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.attention.%s", prefix, proj[i]);
        linear_register(lin[i], ps, name, dim, dim, 1);
    }
    snprintf(name, sizeof name, "%s.norm", prefix);
    layer_norm_register(&f->norm, ps, name, dim, 1e-5f);
    snprintf(name, sizeof name, "%s.pool", prefix);
    attention_pool_register(&f->pool, ps, name, dim, att_dim, 0);
}

void flam_init(Flam *f, InitRng *r) {
    linear_init(&f->q, r);
    linear_init(&f->k, r);
    linear_init(&f->v, r);
    linear_init(&f->o, r);
    layer_norm_init(&f->norm);
    attention_pool_init(&f->pool, r);
}

Tensor *flam_frames(Ctx *g, const Flam *f, Tensor *x, const Tensor *mask) {
    Tensor *a = mhsa_forward(g, &f->q, &f->k, &f->v, &f->o, f->heads, x, (Tensor *)mask);
    if (f->dropout > 0.0f) a = op_dropout(g, a, f->dropout);
    return layer_norm_forward(g, &f->norm, op_add(g, x, a));
}

Tensor *flam_pool(Ctx *g, const Flam *f, Tensor *h, const Tensor *mask, Tensor **weights) {
    return attention_pool_forward(g, &f->pool, h, mask, weights);
}

Tensor *flam_forward(Ctx *g, const Flam *f, Tensor *x, const Tensor *mask, Tensor **weights, Tensor **frames) {
    Tensor *h = flam_frames(g, f, x, mask);
    if (frames) *frames = h;
    return flam_pool(g, f, h, mask, weights);
}
