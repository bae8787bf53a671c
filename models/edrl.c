#include "edrl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int edrl_embedding_dim(const EdrlConfig *c) { return c->n_classes * c->block_dim + c->shared_dim; }

void edrl_register(Edrl *m, ParamStore *ps, const EdrlConfig *cfg) {
    SERC_ASSERT(cfg->in > 0 && cfg->n_classes > 0 && cfg->block_dim > 0 && cfg->shared_dim > 0 && cfg->recon_dim > 0 &&
                    cfg->mea_components >= 0,
                "edrl: in %d, classes %d, block %d, shared %d, recon %d, components %d", cfg->in, cfg->n_classes,
                cfg->block_dim, cfg->shared_dim, cfg->recon_dim, cfg->mea_components);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    const int C = cfg->n_classes, D = edrl_embedding_dim(cfg), K = cfg->mea_components;
    linear_register(&m->intra, ps, "edrl.intra", cfg->in, C * cfg->block_dim, 1);
    m->block_w = params_add(ps, "edrl.block_score.weight", SHAPE(C, cfg->block_dim));
    m->block_b = params_add(ps, "edrl.block_score.bias", SHAPE(C));
    linear_register(&m->inter, ps, "edrl.inter", cfg->in, cfg->shared_dim, 1);
    linear_register(&m->decoder, ps, "edrl.decoder", cfg->shared_dim, cfg->recon_dim, 1);
    if (K > 0) {
        m->mea_mean = params_add_buffer(ps, "mea.mean", SHAPE(D));
        m->mea_std = params_add_buffer(ps, "mea.std", SHAPE(D));
        m->mea_rotation = params_add_buffer(ps, "mea.rotation", SHAPE(D, K));
        m->mea_ts_mean = params_add_buffer(ps, "mea.ts_mean", SHAPE(K));
        m->mea_ts_std = params_add_buffer(ps, "mea.ts_std", SHAPE(K));
        m->mea_w = params_add_buffer(ps, "mea.classifier.weight", SHAPE(C, K));
        m->mea_b = params_add_buffer(ps, "mea.classifier.bias", SHAPE(C));
        m->mea_fitted = params_add_buffer(ps, "mea.fitted", SHAPE(1));
    }
}

static void fill(Tensor *t, float v) {
    float *p = tensor_f32(t);
    for (int64_t i = 0; i < tensor_numel(t); i++) p[i] = v;
}

void edrl_init(Edrl *m, InitRng *r) {
    linear_init(&m->intra, r);
    float bound = 1.0f / sqrtf((float)m->cfg.block_dim);
    init_uniform(m->block_w, r, bound);
    init_uniform(m->block_b, r, bound);
    linear_init(&m->inter, r);
    linear_init(&m->decoder, r);
    if (m->cfg.mea_components > 0) {
        fill(m->mea_mean, 0.0f);
        fill(m->mea_std, 1.0f);
        fill(m->mea_rotation, 0.0f);
        fill(m->mea_ts_mean, 0.0f);
        fill(m->mea_ts_std, 1.0f);
        fill(m->mea_w, 0.0f);
        fill(m->mea_b, 0.0f);
        fill(m->mea_fitted, 0.0f);
    }
}

void edrl_free(Edrl *m) { (void)m; }

int edrl_mea_fitted(const Edrl *m) { return m->mea_fitted && tensor_f32(m->mea_fitted)[0] == 1.0f; }

EdrlOutput edrl_forward(Ctx *g, const Edrl *m, Tensor *x) {
    EdrlOutput o = {0};
    o.intra = op_tanh(g, linear_forward(g, &m->intra, x));
    o.shared = op_tanh(g, linear_forward(g, &m->inter, x));
    Tensor *parts[2] = {o.intra, o.shared};
    o.embedding = op_concat(g, parts, 2, 1);
    o.block_logits = edrl_block_scores(g, o.intra, m->block_w, m->block_b);
    o.recon = linear_forward(g, &m->decoder, o.shared);
    if (edrl_mea_fitted(m)) {
        Tensor *z = op_div(g, op_sub(g, o.embedding, m->mea_mean), m->mea_std);
        z = op_matmul(g, z, m->mea_rotation, 0, 0); /* (B, K) */
        o.aligned = op_div(g, op_sub(g, z, m->mea_ts_mean), m->mea_ts_std);
        o.mea_logits = op_linear(g, o.aligned, m->mea_w, m->mea_b);
    }
    return o;
}

Tensor *edrl_block_scores(Ctx *g, Tensor *intra, Tensor *w, Tensor *b) {
    const int64_t B = intra->shape[0], C = w->shape[0], db = w->shape[1];
    SERC_ASSERT(intra->ndim == 2 && intra->shape[1] == C * db && b->shape[0] == C,
                "edrl_block_scores: intra width %lld, weight (%lld, %lld), bias %lld", (long long)intra->shape[1],
                (long long)C, (long long)db, (long long)b->shape[0]);
    /* (B, C, d_b) * w (C, d_b), summed over d_b by a product with a column of ones */
    Tensor *blocks = op_reshape(g, intra, 3, (const int64_t[]){B, C, db});
    Tensor *ones = tensor_empty(g, SERC_F32, SHAPE(db, 1));
    fill(ones, 1.0f);
    Tensor *s = op_matmul(g, op_mul(g, blocks, w), ones, 0, 0); /* (B, C, 1) */
    return op_bias(g, op_reshape(g, s, 2, (const int64_t[]){B, C}), b);
}

Tensor *edrl_batch_standardise(Ctx *g, Tensor *x, float eps) {
    SERC_ASSERT(x->ndim == 2, "edrl_batch_standardise: want (B, D), got %d dims", x->ndim);
    const int64_t B = x->shape[0], D = x->shape[1];
    Tensor *x3 = op_reshape(g, x, 3, (const int64_t[]){1, B, D});
    Tensor *len = tensor_empty(g, SERC_I32, SHAPE(1));
    tensor_i32(len)[0] = (int32_t)B;
    Tensor *mean = op_masked_mean_time(g, x3, len);      /* (1, D) */
    Tensor *sd = op_masked_std_time(g, x3, len, eps);    /* (1, D) */
    return op_div(g, op_sub(g, x, mean), sd);
}

Tensor *edrl_orth_loss(Ctx *g, Tensor *intra, Tensor *shared) {
    const int64_t B = intra->shape[0];
    Tensor *zi = edrl_batch_standardise(g, intra, 1e-5f);
    Tensor *zs = edrl_batch_standardise(g, shared, 1e-5f);
    Tensor *corr = op_scale(g, op_matmul(g, zi, zs, 1, 0), 1.0f / (float)B); /* (D_i, D_s) */
    return op_mean(g, op_mul(g, corr, corr));
}

Tensor *edrl_recon_loss(Ctx *g, Tensor *recon, Tensor *target) {
    Tensor *t = edrl_batch_standardise(g, target, 1e-5f);
    Tensor *d = op_sub(g, recon, t);
    return op_mean(g, op_mul(g, d, d));
}

Tensor *edrl_input_stats(Ctx *g, Tensor *feats, const Tensor *lengths) {
    Tensor *parts[2] = {op_masked_mean_time(g, feats, lengths), op_masked_std_time(g, feats, lengths, 1e-5f)};
    return op_concat(g, parts, 2, 1);
}
