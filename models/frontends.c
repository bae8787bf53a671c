#include "frontends.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pooling.h" /* pool_sqrt_clamp */

/* ---- batch norm layer ---- */

void batch_norm_register(BatchNorm *bn, ParamStore *ps, const char *prefix, int dim) {
    char name[256];
    bn->dim = dim;
    bn->momentum = 0.1f;
    bn->eps = 1e-5f;
    snprintf(name, sizeof name, "%s.weight", prefix);
    bn->w = params_add(ps, name, SHAPE(dim));
    snprintf(name, sizeof name, "%s.bias", prefix);
    bn->b = params_add(ps, name, SHAPE(dim));
    snprintf(name, sizeof name, "%s.running_mean", prefix);
    bn->running_mean = params_add_buffer(ps, name, SHAPE(dim));
    snprintf(name, sizeof name, "%s.running_var", prefix);
    bn->running_var = params_add_buffer(ps, name, SHAPE(dim));
}

void batch_norm_init(BatchNorm *bn) {
    float *w = tensor_f32(bn->w), *b = tensor_f32(bn->b);
    float *rm = tensor_f32(bn->running_mean), *rv = tensor_f32(bn->running_var);
    for (int c = 0; c < bn->dim; c++) {
        w[c] = 1.0f;
        b[c] = 0.0f;
        rm[c] = 0.0f;
        rv[c] = 1.0f;
    }
}

/* lengths[b], checked against T. */
static int64_t length_at(const Tensor *lengths, int64_t b, int64_t T) {
    int64_t len = tensor_get_index(lengths, b);
    SERC_ASSERT(len >= 0 && len <= T, "length %lld of item %lld outside [0, %lld]", (long long)len, (long long)b,
                (long long)T);
    return len;
}

/* Whether some item of the batch is shorter than T. */
static int has_padding(const Tensor *lengths, int64_t T) {
    for (int64_t b = 0; b < lengths->shape[0]; b++)
        if (length_at(lengths, b, T) < T) return 1;
    return 0;
}

/* Masked batch norm in training, composed from ops. x (B, C, T, R) (R = 1 for 3-D x) is laid out as
 * xp (B, T R, C), where item b's valid positions are the first lengths[b] R rows; with n valid positions
 *   mean = sum_b masked_sum(xp)_b / n,   var = sum_b masked_sum((xp - mean)^2)_b / n   (biased),
 *   y = (xp - mean) * w / sqrt(var + eps) + b,
 * then back to x's layout. The running statistics take mean and var n / (n - 1). */
static Tensor *batch_norm_masked(Ctx *g, const BatchNorm *bn, Tensor *x, const Tensor *lengths) {
    int64_t B = x->shape[0], C = x->shape[1], T = x->shape[2], R = x->ndim == 4 ? x->shape[3] : 1;
    static const int to_last4[4] = {0, 2, 3, 1}, from_last4[4] = {0, 3, 1, 2}, swap3[3] = {0, 2, 1};
    Tensor *xp = op_reshape(g, op_permute(g, x, x->ndim == 4 ? to_last4 : swap3), SHAPE(B, T * R, C));
    Tensor *lr = tensor_empty(g, SERC_I32, SHAPE(B));
    int64_t n = 0;
    for (int64_t b = 0; b < B; b++) {
        int64_t len = length_at(lengths, b, T) * R;
        tensor_i32(lr)[b] = (int32_t)len;
        n += len;
    }
    char dx[64];
    SERC_ASSERT(n > 1, "batch_norm: training needs more than one valid value per channel, x %s has %lld",
                tensor_describe(x, dx, sizeof dx), (long long)n);
    Tensor *avg = tensor_empty(g, SERC_F32, SHAPE(1, B)); /* (1, B) of 1/n: sums items and divides */
    for (int64_t b = 0; b < B; b++) tensor_f32(avg)[b] = (float)(1.0 / (double)n);
    Tensor *eps = tensor_empty(g, SERC_F32, SHAPE(1));
    tensor_f32(eps)[0] = bn->eps;

    Tensor *mean = op_matmul(g, avg, op_masked_sum_time(g, xp, lr), 0, 0);            /* (1, C) */
    Tensor *xc = op_sub(g, xp, op_reshape(g, mean, SHAPE(1, 1, C)));                  /* (B, TR, C) */
    Tensor *var = op_matmul(g, avg, op_masked_sum_time(g, op_mul(g, xc, xc), lr), 0, 0); /* (1, C) */
    Tensor *std = pool_sqrt_clamp(g, op_add(g, var, eps), 0.0f);
    Tensor *scale = op_div(g, op_reshape(g, bn->w, SHAPE(1, C)), std);                   /* w / std */
    Tensor *y = op_bias(g, op_mul(g, xc, op_reshape(g, scale, SHAPE(1, 1, C))), bn->b);  /* (B, TR, C) */

    const float *mv = tensor_f32(mean), *vv = tensor_f32(var);
    float *rm = tensor_f32(bn->running_mean), *rv = tensor_f32(bn->running_var);
    double m = bn->momentum;
    for (int64_t c = 0; c < C; c++) {
        rm[c] = (float)((1.0 - m) * rm[c] + m * mv[c]);
        rv[c] = (float)((1.0 - m) * rv[c] + m * vv[c] * (double)n / (double)(n - 1));
    }
    if (x->ndim == 4) return op_permute(g, op_reshape(g, y, SHAPE(B, T, R, C)), from_last4);
    return op_permute(g, y, swap3);
}

Tensor *batch_norm_forward(Ctx *g, const BatchNorm *bn, Tensor *x, const Tensor *lengths) {
    char dx[64];
    SERC_ASSERT((x->ndim == 3 || x->ndim == 4) && x->shape[1] == bn->dim,
                "batch_norm: x %s, want (B, %d, T) or (B, %d, T, F)", tensor_describe(x, dx, sizeof dx), bn->dim,
                bn->dim);
    if (g->training && lengths && has_padding(lengths, x->shape[2])) return batch_norm_masked(g, bn, x, lengths);
    return op_batch_norm(g, x, bn->w, bn->b, bn->running_mean, bn->running_var, bn->momentum, bn->eps);
}

/* ---- masks ---- */

Tensor *lengths_to_mask(Ctx *g, const Tensor *lengths, int64_t T) {
    int64_t B = lengths->shape[0];
    Tensor *m = tensor_empty(g, SERC_U8, SHAPE(B, T));
    uint8_t *mv = tensor_u8(m);
    for (int64_t b = 0; b < B; b++) {
        int64_t len = length_at(lengths, b, T);
        for (int64_t t = 0; t < T; t++) mv[b * T + t] = t < len;
    }
    return m;
}

Tensor *mask_frames(Ctx *g, Tensor *x, const Tensor *lengths, int time_dim) {
    char dx[64];
    SERC_ASSERT((time_dim == 1 || time_dim == 2) && x->ndim > time_dim && lengths->ndim == 1 &&
                    lengths->shape[0] == x->shape[0],
                "mask_frames: x %s with time at dim %d, %lld lengths", tensor_describe(x, dx, sizeof dx), time_dim,
                (long long)lengths->shape[0]);
    int64_t B = x->shape[0], T = x->shape[time_dim];
    if (!has_padding(lengths, T)) return x;
    /* f32 mask shaped (B, 1, .., T, 1, ..) so that op_mul broadcasts it over every other dim */
    int64_t shape[SERC_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = d == 0 ? B : d == time_dim ? T : 1;
    Tensor *m = tensor_empty(g, SERC_F32, x->ndim, shape);
    float *mv = tensor_f32(m);
    for (int64_t b = 0; b < B; b++) {
        int64_t len = length_at(lengths, b, T);
        for (int64_t t = 0; t < T; t++) mv[b * T + t] = t < len ? 1.0f : 0.0f;
    }
    return op_mul(g, x, m);
}

static Tensor *activation(Ctx *g, FrontendAct act, Tensor *x) {
    return act == FRONTEND_GELU ? op_gelu(g, x) : op_relu(g, x);
}

/* ---- 2-D CNN ---- */

void cnn2d_register(Cnn2d *c, ParamStore *ps, const char *prefix, const Cnn2dConfig *cfg) {
    char name[256];
    c->cfg = *cfg;
    SERC_ASSERT(cfg->pool_time >= 1 && cfg->pool_freq >= 1, "cnn2d %s: pool (%d, %d)", prefix, cfg->pool_time,
                cfg->pool_freq);
    int in = 1, F = cfg->n_mels;
    c->n_blocks = 0;
    for (int i = 0; i < CNN2D_MAX_BLOCKS && cfg->channels[i] > 0; i++) {
        int out = cfg->channels[i];
        c->conv[i].in = in;
        c->conv[i].out = out;
        snprintf(name, sizeof name, "%s.blocks.%d.conv.weight", prefix, i);
        c->conv[i].w = params_add(ps, name, SHAPE(out, in, 3, 3));
        snprintf(name, sizeof name, "%s.blocks.%d.bn", prefix, i);
        batch_norm_register(&c->bn[i], ps, name, out);
        F /= cfg->pool_freq;
        in = out;
        c->n_blocks++;
    }
    SERC_ASSERT(c->n_blocks >= 1, "cnn2d %s: no channels given", prefix);
    SERC_ASSERT(F >= 1, "cnn2d %s: %d mels pooled by %d in %d blocks leave no frequency bin", prefix, cfg->n_mels,
                cfg->pool_freq, c->n_blocks);
    c->out_freq = F;
    c->out_dim = in * F;
}

void cnn2d_init(Cnn2d *c, InitRng *r) {
    for (int i = 0; i < c->n_blocks; i++) {
        init_uniform(c->conv[i].w, r, 1.0f / sqrtf((float)(c->conv[i].in * 9)));
        batch_norm_init(&c->bn[i]);
    }
}

int64_t cnn2d_out_length(const Cnn2d *c, int64_t T) {
    for (int i = 0; i < c->n_blocks; i++) T /= c->cfg.pool_time;
    return T;
}

Tensor *cnn2d_out_lengths(Ctx *g, const Cnn2d *c, const Tensor *lengths) {
    int64_t B = lengths->shape[0];
    Tensor *out = tensor_empty(g, SERC_I32, SHAPE(B));
    for (int64_t b = 0; b < B; b++) tensor_i32(out)[b] = (int32_t)cnn2d_out_length(c, tensor_get_index(lengths, b));
    return out;
}

Tensor *cnn2d_forward(Ctx *g, const Cnn2d *c, Tensor *x, const Tensor *lengths, Tensor **out_lengths) {
    char dx[64];
    SERC_ASSERT(x->ndim == 3 && x->shape[2] == c->cfg.n_mels && lengths->ndim == 1 && lengths->shape[0] == x->shape[0],
                "cnn2d: x %s, want (B, T, %d) with B lengths", tensor_describe(x, dx, sizeof dx), c->cfg.n_mels);
    int64_t B = x->shape[0], T = x->shape[1];
    SERC_ASSERT(cnn2d_out_length(c, T) >= 1, "cnn2d: %lld frames are fewer than the time pooling's %d^%d",
                (long long)T, c->cfg.pool_time, c->n_blocks);
    const Conv2dOpts conv = {.stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
    const Pool2dOpts pool = {.kernel_h = c->cfg.pool_time, .kernel_w = c->cfg.pool_freq,
                             .stride_h = c->cfg.pool_time, .stride_w = c->cfg.pool_freq};
    Tensor *len = tensor_empty(g, SERC_I32, SHAPE(B));
    for (int64_t b = 0; b < B; b++) tensor_i32(len)[b] = (int32_t)length_at(lengths, b, T);
    Tensor *h = op_reshape(g, mask_frames(g, x, len, 1), SHAPE(B, 1, T, c->cfg.n_mels)); /* (B, 1, T, F) */
    for (int i = 0; i < c->n_blocks; i++) {
        h = op_conv2d(g, h, c->conv[i].w, NULL, conv);
        h = batch_norm_forward(g, &c->bn[i], h, c->cfg.masked_bn ? len : NULL);
        h = op_max_pool2d(g, activation(g, c->cfg.act, h), pool);
        Tensor *next = tensor_empty(g, SERC_I32, SHAPE(B));
        for (int64_t b = 0; b < B; b++) tensor_i32(next)[b] = tensor_i32(len)[b] / c->cfg.pool_time;
        len = next;
        h = mask_frames(g, h, len, 2);
    }
    static const int time_first[4] = {0, 2, 1, 3}; /* (B, C, T', F') -> (B, T', C, F') */
    int64_t To = h->shape[2];
    if (out_lengths) *out_lengths = len;
    return op_reshape(g, op_permute(g, h, time_first), SHAPE(B, To, c->out_dim));
}

/* ---- TDNN ---- */

void tdnn_register(Tdnn *t, ParamStore *ps, const char *prefix, const TdnnConfig *cfg) {
    char name[256];
    t->cfg = *cfg;
    t->n_layers = 0;
    int in = cfg->n_mels;
    for (int i = 0; i < TDNN_MAX_LAYERS && cfg->dims[i] > 0; i++) {
        int k = cfg->kernels[i], d = cfg->dilations[i];
        SERC_ASSERT(k >= 1 && d >= 1, "tdnn %s: layer %d kernel %d dilation %d", prefix, i, k, d);
        SERC_ASSERT(!cfg->same_padding || k % 2 == 1, "tdnn %s: layer %d kernel %d is even (same padding needs odd)",
                    prefix, i, k);
        snprintf(name, sizeof name, "%s.layers.%d.conv", prefix, i);
        conv1d_register(&t->conv[i], ps, name, in, cfg->dims[i], k, 1, cfg->same_padding ? d * (k - 1) / 2 : 0, d, 1, 1);
        snprintf(name, sizeof name, "%s.layers.%d.bn", prefix, i);
        batch_norm_register(&t->bn[i], ps, name, cfg->dims[i]);
        in = cfg->dims[i];
        t->n_layers++;
    }
    SERC_ASSERT(t->n_layers >= 1, "tdnn %s: no layers given", prefix);
    t->out_dim = in;
}

void tdnn_init(Tdnn *t, InitRng *r) {
    for (int i = 0; i < t->n_layers; i++) {
        conv1d_init(&t->conv[i], r);
        batch_norm_init(&t->bn[i]);
    }
}

int64_t tdnn_out_length(const Tdnn *t, int64_t T) {
    if (t->cfg.same_padding) return T;
    for (int i = 0; i < t->n_layers; i++) T -= (int64_t)t->cfg.dilations[i] * (t->cfg.kernels[i] - 1);
    return T > 0 ? T : 0;
}

Tensor *tdnn_out_lengths(Ctx *g, const Tdnn *t, const Tensor *lengths) {
    int64_t B = lengths->shape[0];
    Tensor *out = tensor_empty(g, SERC_I32, SHAPE(B));
    for (int64_t b = 0; b < B; b++) tensor_i32(out)[b] = (int32_t)tdnn_out_length(t, tensor_get_index(lengths, b));
    return out;
}

Tensor *tdnn_forward(Ctx *g, const Tdnn *t, Tensor *x, const Tensor *lengths, Tensor **out_lengths) {
    char dx[64];
    SERC_ASSERT(x->ndim == 3 && x->shape[2] == t->cfg.n_mels && lengths->ndim == 1 && lengths->shape[0] == x->shape[0],
                "tdnn: x %s, want (B, T, %d) with B lengths", tensor_describe(x, dx, sizeof dx), t->cfg.n_mels);
    int64_t B = x->shape[0], T = x->shape[1];
    SERC_ASSERT(tdnn_out_length(t, T) >= 1, "tdnn: %lld frames are fewer than the valid convolutions' span",
                (long long)T);
    static const int swap12[3] = {0, 2, 1};
    Tensor *len = tensor_empty(g, SERC_I32, SHAPE(B));
    for (int64_t b = 0; b < B; b++) tensor_i32(len)[b] = (int32_t)length_at(lengths, b, T);
    Tensor *h = op_permute(g, mask_frames(g, x, len, 1), swap12); /* (B, F, T) */
    for (int i = 0; i < t->n_layers; i++) {
        h = activation(g, t->cfg.act, conv1d_forward(g, &t->conv[i], h));
        if (!t->cfg.same_padding) {
            Tensor *next = tensor_empty(g, SERC_I32, SHAPE(B));
            int64_t span = (int64_t)t->cfg.dilations[i] * (t->cfg.kernels[i] - 1);
            for (int64_t b = 0; b < B; b++) {
                int64_t l = tensor_i32(len)[b] - span;
                tensor_i32(next)[b] = (int32_t)(l > 0 ? l : 0);
            }
            len = next;
        }
        h = batch_norm_forward(g, &t->bn[i], h, t->cfg.masked_bn ? len : NULL);
        h = mask_frames(g, h, len, 2);
    }
    if (out_lengths) *out_lengths = len;
    return op_permute(g, h, swap12); /* (B, T', D) */
}
