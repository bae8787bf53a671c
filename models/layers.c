#include "layers.h"

#include <math.h>
#include <stdio.h>

#include "rng.h"

static Tensor *add_named(ParamStore *ps, const char *prefix, const char *leaf, int ndim, const int64_t *shape) {
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, leaf);
    return params_add(ps, name, ndim, shape);
}

void init_uniform(Tensor *t, InitRng *r, float bound) {
    int64_t n = tensor_numel(t);
    serc_rng_fill_uniform(tensor_f32(t), n, r->seed, r->offset, -bound, bound);
    r->offset += serc_rng_blocks(n);
}

void linear_register(Linear *l, ParamStore *ps, const char *prefix, int in, int out, int bias) {
    l->in = in;
    l->out = out;
    l->w = add_named(ps, prefix, "weight", SHAPE(out, in));
    l->b = bias ? add_named(ps, prefix, "bias", SHAPE(out)) : NULL;
}

void linear_init(Linear *l, InitRng *r) {
    float bound = 1.0f / sqrtf((float)l->in);
    init_uniform(l->w, r, bound);
    if (l->b) init_uniform(l->b, r, bound);
}

Tensor *linear_forward(Ctx *g, const Linear *l, Tensor *x) { return op_linear(g, x, l->w, l->b); }

void conv1d_register(Conv1d *c, ParamStore *ps, const char *prefix, int in, int out, int kernel, int stride,
                     int padding, int dilation, int groups, int bias) {
    SERC_ASSERT(in % groups == 0 && out % groups == 0, "conv1d %s: channels %d -> %d not divisible by %d groups",
                prefix, in, out, groups);
    c->in = in;
    c->out = out;
    c->kernel = kernel;
    c->stride = stride;
    c->padding = padding;
    c->dilation = dilation;
    c->groups = groups;
    c->w = add_named(ps, prefix, "weight", SHAPE(out, in / groups, kernel));
    c->b = bias ? add_named(ps, prefix, "bias", SHAPE(out)) : NULL;
}

void conv1d_init(Conv1d *c, InitRng *r) {
    float bound = 1.0f / sqrtf((float)(c->in / c->groups * c->kernel));
    init_uniform(c->w, r, bound);
    if (c->b) init_uniform(c->b, r, bound);
}

Tensor *conv1d_forward(Ctx *g, const Conv1d *c, Tensor *x) {
    return op_conv1d(g, x, c->w, c->b, c->stride, c->padding, c->dilation, c->groups);
}

void layer_norm_register(LayerNorm *l, ParamStore *ps, const char *prefix, int dim, float eps) {
    l->dim = dim;
    l->eps = eps;
    l->w = add_named(ps, prefix, "weight", SHAPE(dim));
    l->b = add_named(ps, prefix, "bias", SHAPE(dim));
}

void layer_norm_init(LayerNorm *l) {
    float *w = tensor_f32(l->w), *b = tensor_f32(l->b);
    for (int i = 0; i < l->dim; i++) {
        w[i] = 1.0f;
        b[i] = 0.0f;
    }
}

Tensor *layer_norm_forward(Ctx *g, const LayerNorm *l, Tensor *x) { return op_layer_norm(g, x, l->w, l->b, l->eps); }
