/* The wav2vec 2.0 / HuBERT / WavLM encoder: registration under Hugging Face names, random init, the
 * forward (taped, or without a tape in per-layer scratch arenas), SpecAugment-style span masking and
 * the SUPERB weighted layer sum. The checkpoint reader is models/ssl_load.c, config.json models/ssl_config.c.
 *
 * The forward follows transformers' modeling_wav2vec2.py / modeling_hubert.py / modeling_wavlm.py op
 * for op (docs/encoders.md):
 *   conv feature encoder (B, 1, N) -> (B, C, T): conv (no padding) [+ GroupNorm on layer 0 | LayerNorm
 *     over channels on every layer] + activation
 *   feature projection: [LayerNorm] + Linear + dropout; SpecAugment masks while training
 *   encoder: padded frames zeroed; x + act(weight-normed grouped conv, padding K/2, last frame dropped
 *     for even K); post-norm: LayerNorm; dropout; layers; stable: final LayerNorm
 *   post-norm layer: x = LN(x + drop(attn(x))); x = final_LN(x + ff(x))
 *   stable layer:    x = x + drop(attn(LN(x)));  x = x + ff(final_LN(x))
 *   WavLM attention adds gate(x) * bias[bucket(j - i)] to the scores; layer 0 owns the bucket embedding.
 */
#include "ssl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* ---- registration ---- */

static Tensor *reg(SslModel *m, int trainable, int ndim, const int64_t *shape, const char *fmt, ...)
    SERC_PRINTF(5, 6);

/* Registers "<prefix><hf name>" and remembers the HF name for the checkpoint reader. */
static Tensor *reg(SslModel *m, int trainable, int ndim, const int64_t *shape, const char *fmt, ...) {
    char hf[192], full[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hf, sizeof hf, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s%s", m->prefix, hf);
    Tensor *t = trainable ? params_add(m->ps, full, ndim, shape) : params_add_buffer(m->ps, full, ndim, shape);
    m->names = serc_realloc(m->names, (size_t)(m->n_tensors + 1) * sizeof *m->names);
    m->tensors = serc_realloc(m->tensors, (size_t)(m->n_tensors + 1) * sizeof *m->tensors);
    m->names[m->n_tensors] = serc_strdup(hf);
    m->tensors[m->n_tensors++] = t;
    return t;
}

static void reg_norm(SslModel *m, int tr, int64_t dim, Tensor **w, Tensor **b, const char *name) {
    *w = reg(m, tr, SHAPE(dim), "%s.weight", name);
    *b = reg(m, tr, SHAPE(dim), "%s.bias", name);
}

static void reg_linear(SslModel *m, int tr, int64_t in, int64_t out, Tensor **w, Tensor **b, const char *name) {
    *w = reg(m, tr, SHAPE(out, in), "%s.weight", name);
    *b = reg(m, tr, SHAPE(out), "%s.bias", name);
}

static void reg_layer(SslModel *m, int tr, int l) {
    const SslConfig *c = &m->cfg;
    SslLayer *L = &m->layers[l];
    const int64_t C = c->hidden_size, H = c->num_attention_heads;
    char p[128];
    static const char *const proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    Tensor **pw[4] = {&L->q_w, &L->k_w, &L->v_w, &L->o_w}, **pb[4] = {&L->q_b, &L->k_b, &L->v_b, &L->o_b};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "encoder.layers.%d.attention.%s", l, proj[i]);
        reg_linear(m, tr, C, C, pw[i], pb[i], p);
    }
    if (c->arch == SSL_WAVLM) {
        L->gru_const = reg(m, tr, SHAPE(1, H, 1, 1), "encoder.layers.%d.attention.gru_rel_pos_const", l);
        snprintf(p, sizeof p, "encoder.layers.%d.attention.gru_rel_pos_linear", l);
        reg_linear(m, tr, C / H, 8, &L->gru_w, &L->gru_b, p);
        if (l == 0)
            L->rel_embed = reg(m, tr, SHAPE(c->num_buckets, H), "encoder.layers.0.attention.rel_attn_embed.weight");
    }
    snprintf(p, sizeof p, "encoder.layers.%d.layer_norm", l);
    reg_norm(m, tr, C, &L->ln_w, &L->ln_b, p);
    snprintf(p, sizeof p, "encoder.layers.%d.feed_forward.intermediate_dense", l);
    reg_linear(m, tr, C, c->intermediate_size, &L->ff1_w, &L->ff1_b, p);
    snprintf(p, sizeof p, "encoder.layers.%d.feed_forward.output_dense", l);
    reg_linear(m, tr, c->intermediate_size, C, &L->ff2_w, &L->ff2_b, p);
    snprintf(p, sizeof p, "encoder.layers.%d.final_layer_norm", l);
    reg_norm(m, tr, C, &L->fln_w, &L->fln_b, p);
}

SslModel *ssl_new(const SslConfig *c, ParamStore *ps, const char *prefix, SslTrainMode mode) {
    SslModel *m = serc_calloc(1, sizeof *m);
    m->cfg = *c;
    m->mode = mode;
    m->ps = ps;
    SERC_ASSERT(strlen(prefix) < sizeof m->prefix, "ssl_new: prefix \"%s\" too long", prefix);
    strcpy(m->prefix, prefix);
    const int tr = mode != SSL_FROZEN, tr_conv = mode == SSL_FULL;
    const int64_t C = c->hidden_size;
    char p[128];
    int64_t cin = 1;
    for (int i = 0; i < c->num_conv_layers; i++) {
        const int64_t cout = c->conv_dim[i];
        m->conv[i].w = reg(m, tr_conv, SHAPE(cout, cin, c->conv_kernel[i]), "feature_extractor.conv_layers.%d.conv.weight", i);
        if (c->conv_bias) m->conv[i].b = reg(m, tr_conv, SHAPE(cout), "feature_extractor.conv_layers.%d.conv.bias", i);
        if (c->feat_extract_norm_layer || i == 0) {
            snprintf(p, sizeof p, "feature_extractor.conv_layers.%d.layer_norm", i);
            reg_norm(m, tr_conv, cout, &m->conv[i].norm_w, &m->conv[i].norm_b, p);
        }
        cin = cout;
    }
    if (c->feat_proj_layer_norm) reg_norm(m, tr, cin, &m->fp_ln_w, &m->fp_ln_b, "feature_projection.layer_norm");
    reg_linear(m, tr, cin, C, &m->fp_w, &m->fp_b, "feature_projection.projection");
    if (c->mask_time_prob > 0 || c->mask_feature_prob > 0) m->masked_spec_embed = reg(m, tr, SHAPE(C), "masked_spec_embed");
    const int64_t K = c->num_conv_pos_embeddings, G = c->num_conv_pos_embedding_groups;
    m->pos_g = reg(m, tr, SHAPE(1, 1, K), "encoder.pos_conv_embed.conv.parametrizations.weight.original0");
    m->pos_v = reg(m, tr, SHAPE(C, C / G, K), "encoder.pos_conv_embed.conv.parametrizations.weight.original1");
    m->pos_b = reg(m, tr, SHAPE(C), "encoder.pos_conv_embed.conv.bias");
    reg_norm(m, tr, C, &m->enc_ln_w, &m->enc_ln_b, "encoder.layer_norm");
    m->layers = serc_calloc((size_t)(c->num_hidden_layers > 0 ? c->num_hidden_layers : 1), sizeof *m->layers);
    for (int l = 0; l < c->num_hidden_layers; l++) reg_layer(m, tr, l);
    for (int i = 0; i < 2; i++) {
        m->scratch[i] = ctx_new(0);
        m->scratch[i]->grad_enabled = 0;
    }
    return m;
}

void ssl_free(SslModel *m) {
    if (!m) return;
    for (int i = 0; i < m->n_tensors; i++) free(m->names[i]);
    free(m->names);
    free(m->tensors);
    free(m->layers);
    ctx_free(m->scratch[0]);
    ctx_free(m->scratch[1]);
    free(m);
}

size_t ssl_scratch_peak(const SslModel *m) { return m->scratch[0]->arena.peak + m->scratch[1]->arena.peak; }

/* ---- random init ---- */

static void fill_const(Tensor *t, float v) {
    if (!t) return;
    float *x = tensor_f32(t);
    for (int64_t i = 0; i < tensor_numel(t); i++) x[i] = v;
}

static void init_fan_in(Tensor *w, Tensor *b, InitRng *r, int64_t fan_in) {
    const float bound = 1.0f / sqrtf((float)fan_in);
    init_uniform(w, r, bound);
    if (b) init_uniform(b, r, bound);
}

void ssl_init_random(SslModel *m, InitRng *r) {
    const SslConfig *c = &m->cfg;
    const int64_t C = c->hidden_size, H = c->num_attention_heads, K = c->num_conv_pos_embeddings;
    int64_t cin = 1;
    for (int i = 0; i < c->num_conv_layers; i++) {
        init_fan_in(m->conv[i].w, m->conv[i].b, r, cin * c->conv_kernel[i]);
        fill_const(m->conv[i].norm_w, 1.0f);
        fill_const(m->conv[i].norm_b, 0.0f);
        cin = c->conv_dim[i];
    }
    fill_const(m->fp_ln_w, 1.0f);
    fill_const(m->fp_ln_b, 0.0f);
    init_fan_in(m->fp_w, m->fp_b, r, cin);
    if (m->masked_spec_embed) {
        serc_rng_fill_uniform(tensor_f32(m->masked_spec_embed), C, r->seed, r->offset, 0.0f, 1.0f);
        r->offset += serc_rng_blocks(C);
    }
    init_fan_in(m->pos_v, m->pos_b, r, C / c->num_conv_pos_embedding_groups * K);
    /* gain = ||v|| over (Cout, Cin/G) per tap, so that the normalised weight starts equal to v */
    const float *v = tensor_f32(m->pos_v);
    float *gk = tensor_f32(m->pos_g);
    const int64_t rows = C * (C / c->num_conv_pos_embedding_groups);
    for (int64_t k = 0; k < K; k++) {
        double s = 0;
        for (int64_t i = 0; i < rows; i++) s += (double)v[i * K + k] * v[i * K + k];
        gk[k] = (float)sqrt(s);
    }
    fill_const(m->enc_ln_w, 1.0f);
    fill_const(m->enc_ln_b, 0.0f);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        SslLayer *L = &m->layers[l];
        init_fan_in(L->q_w, L->q_b, r, C);
        init_fan_in(L->k_w, L->k_b, r, C);
        init_fan_in(L->v_w, L->v_b, r, C);
        init_fan_in(L->o_w, L->o_b, r, C);
        init_fan_in(L->ff1_w, L->ff1_b, r, C);
        init_fan_in(L->ff2_w, L->ff2_b, r, c->intermediate_size);
        fill_const(L->ln_w, 1.0f);
        fill_const(L->ln_b, 0.0f);
        fill_const(L->fln_w, 1.0f);
        fill_const(L->fln_b, 0.0f);
        if (L->gru_w) {
            fill_const(L->gru_const, 1.0f);
            init_fan_in(L->gru_w, L->gru_b, r, C / H);
        }
        if (L->rel_embed) {
            serc_rng_fill_normal(tensor_f32(L->rel_embed), tensor_numel(L->rel_embed), r->seed, r->offset, 0.0f, 1.0f);
            r->offset += serc_rng_blocks(tensor_numel(L->rel_embed));
        }
    }
}

/* ---- forward ---- */

/* One forward's state. Without a tape (frozen encoder, or recording off) every stage runs in a scratch
 * context whose arena is reset per stage, and only what the caller gets back is copied into g. */
typedef struct SslRun {
    Ctx *g;
    int notape, train;
    int64_t B, T;
    Tensor *frames;   /* i32 (B) valid frames, in g */
    Tensor *key_mask; /* u8 (B, T) or NULL (no lengths given), in g */
    Tensor *pad_keep; /* f32 (B, T, 1): 1 on valid frames, or NULL */
    Tensor *pos_bias; /* WavLM (1, H, T, T), ungated */
} SslRun;

static Tensor *activation(Ctx *g, SslAct a, Tensor *x) {
    switch (a) {
    case SSL_ACT_GELU: return op_gelu(g, x);
    case SSL_ACT_GELU_TANH: return op_gelu_tanh(g, x);
    case SSL_ACT_RELU: return op_relu(g, x);
    case SSL_ACT_SILU: return op_silu(g, x);
    }
    serc_die("ssl: activation %d", (int)a);
}

/* The context a stage runs in: g itself, or a reset scratch context that carries g's Philox state
 * (work_end hands the counter back) and the run's training switch. */
static Ctx *work_begin(SslRun *r, SslModel *m, int which, int reset) {
    if (!r->notape) return r->g;
    Ctx *s = m->scratch[which];
    if (reset) ctx_step_begin(s);
    s->seed = r->g->seed;
    s->rng_offset = r->g->rng_offset;
    s->training = r->train;
    s->grad_enabled = 0;
    return s;
}

static void work_end(SslRun *r, Ctx *s) {
    if (s != r->g) r->g->rng_offset = s->rng_offset;
}

/* t itself when computed in g, else a copy of it in g. */
static Tensor *keep_in(Ctx *g, Ctx *s, Tensor *t) {
    if (s == g) return t;
    Tensor *k = tensor_empty(g, SERC_F32, t->ndim, t->shape);
    memcpy(k->data, t->data, tensor_nbytes(t));
    return k;
}

/* Conv layer i: conv [+ norm] + activation, x (B, Cin, L) -> (B, Cout, L'). Norm eps is torch's default
 * 1e-5 (transformers does not pass layer_norm_eps to these). */
static Tensor *conv_layer(Ctx *g, const SslModel *m, int i, Tensor *x) {
    const SslConvLayer *L = &m->conv[i];
    Tensor *y = op_conv1d(g, x, L->w, L->b, m->cfg.conv_stride[i], 0, 1, 1);
    if (L->norm_w) {
        if (m->cfg.feat_extract_norm_layer) y = op_layer_norm_channels(g, y, L->norm_w, L->norm_b, 1e-5f);
        else y = op_group_norm(g, y, L->norm_w, L->norm_b, (int)y->shape[1], 1e-5f);
    }
    return activation(g, m->cfg.feat_extract_activation, y);
}

/* Feature encoder without a tape, one item at a time (every conv-stack op is per item: GroupNorm's
 * statistics are per (item, channel)), layers alternating between the two scratch arenas so that only
 * one layer's input and output are alive. -> (B, C, T) in g. */
static Tensor *conv_stack_notape(Ctx *g, SslModel *m, Tensor *wav, int64_t T) {
    const SslConfig *c = &m->cfg;
    const int64_t B = wav->shape[0], N = wav->shape[1], Cl = c->conv_dim[c->num_conv_layers - 1];
    Tensor *out = tensor_empty(g, SERC_F32, SHAPE(B, Cl, T));
    for (int64_t b = 0; b < B; b++) {
        Tensor *x = NULL;
        for (int i = 0; i < c->num_conv_layers; i++) {
            Ctx *s = m->scratch[i & 1];
            ctx_step_begin(s);
            s->grad_enabled = 0;
            if (i == 0) {
                x = tensor_view_header(s, wav);
                tensor_set_shape(x, 3, (const int64_t[]){1, 1, N});
                x->data = tensor_f32(wav) + b * N;
            }
            x = conv_layer(s, m, i, x);
        }
        memcpy(tensor_f32(out) + b * Cl * T, tensor_f32(x), (size_t)(Cl * T) * sizeof(float));
    }
    return out;
}

/* HF's _compute_mask_indices with Philox draws: an epsilon for probabilistic rounding, then per item
 * n = max(min_masks, int(prob L / span + eps)) span starts (capped so they fit) drawn without
 * replacement from [0, L - span] (partial Fisher-Yates), each masking `span` positions (clipped to
 * T - 1). L = lens[b], or T when lens is NULL. Returns the number of masked positions. */
static int64_t span_mask(Ctx *g, uint8_t *mask, int64_t B, int64_t T, const int32_t *lens, float prob, int span,
                         int min_masks) {
    memset(mask, 0, (size_t)(B * T));
    if (span > T) return 0; /* HF raises here; a batch shorter than one span is left unmasked */
    const uint64_t seed = g->seed, base = g->rng_offset;
    g->rng_offset += serc_rng_blocks(1 + B * T);
    const double eps = serc_rng_uniform01(seed, base, 0);
    int64_t *pool = arena_alloc(&g->arena, (size_t)(T > 0 ? T : 1) * sizeof *pool);
    int64_t masked = 0;
    for (int64_t b = 0; b < B; b++) {
        const int64_t L = lens ? lens[b] : T;
        int64_t n = (int64_t)(prob * (double)L / span + eps);
        if (n < min_masks) n = min_masks;
        if (n * span > T) n = T / span;
        if (L - (span - 1) < n) n = L - (span - 1) > 0 ? L - (span - 1) : 0;
        const int64_t P = L - span + 1;
        for (int64_t i = 0; i < P; i++) pool[i] = i;
        for (int64_t i = 0; i < n; i++) {
            int64_t j = i + (int64_t)(serc_rng_uniform01(seed, base, (uint64_t)(1 + b * T + i)) * (double)(P - i));
            if (j >= P) j = P - 1;
            int64_t t = pool[i];
            pool[i] = pool[j];
            pool[j] = t;
            for (int64_t k = 0; k < span; k++) {
                int64_t pos = pool[i] + k < T ? pool[i] + k : T - 1;
                masked += !mask[b * T + pos];
                mask[b * T + pos] = 1;
            }
        }
    }
    return masked;
}

/* SpecAugment as Wav2Vec2Model._mask_hidden_states while training: masked frames replaced by
 * masked_spec_embed (spans over each item's valid frames; HuBERT draws over all T frames, as its
 * reference does), masked channels zeroed in every frame. */
static Tensor *spec_augment(Ctx *s, const SslRun *r, const SslModel *m, Tensor *x) {
    const SslConfig *c = &m->cfg;
    const int64_t B = x->shape[0], T = x->shape[1], C = x->shape[2];
    if (c->mask_time_prob > 0) {
        uint8_t *mt = arena_alloc(&s->arena, (size_t)(B * T));
        const int32_t *lens = c->arch == SSL_HUBERT || !r->key_mask ? NULL : tensor_i32(r->frames);
        if (span_mask(s, mt, B, T, lens, c->mask_time_prob, c->mask_time_length, c->mask_time_min_masks) > 0) {
            Tensor *keep = tensor_empty(s, SERC_F32, SHAPE(B, T, 1)), *hit = tensor_empty(s, SERC_F32, SHAPE(B, T, 1));
            for (int64_t i = 0; i < B * T; i++) {
                tensor_f32(keep)[i] = mt[i] ? 0.0f : 1.0f;
                tensor_f32(hit)[i] = mt[i] ? 1.0f : 0.0f;
            }
            x = op_add(s, op_mul(s, x, keep), op_mul(s, hit, m->masked_spec_embed));
        }
    }
    if (c->mask_feature_prob > 0) {
        uint8_t *mf = arena_alloc(&s->arena, (size_t)(B * C));
        if (span_mask(s, mf, B, C, NULL, c->mask_feature_prob, c->mask_feature_length, c->mask_feature_min_masks) > 0) {
            Tensor *keep = tensor_empty(s, SERC_F32, SHAPE(B, 1, C));
            for (int64_t i = 0; i < B * C; i++) tensor_f32(keep)[i] = mf[i] ? 0.0f : 1.0f;
            x = op_mul(s, x, keep);
        }
    }
    return x;
}

/* act(conv_g(x)) with the weight-normalised grouped kernel, padding K/2, the extra frame of an even
 * kernel dropped: x (B, T, C) -> (B, T, C). */
static Tensor *pos_conv(Ctx *s, const SslModel *m, Tensor *x) {
    const SslConfig *c = &m->cfg;
    const int64_t T = x->shape[1];
    const int K = c->num_conv_pos_embeddings;
    Tensor *w = op_weight_norm(s, m->pos_v, m->pos_g, 2);
    Tensor *y = op_conv1d(s, op_transpose(s, x, 1, 2), w, m->pos_b, 1, K / 2, 1, c->num_conv_pos_embedding_groups);
    if (y->shape[2] != T) y = op_narrow(s, y, 2, 0, T);
    return activation(s, c->feat_extract_activation, op_transpose(s, y, 1, 2));
}

/* feats (B, C', T) -> the input of layer 0, (B, T, C). */
static Tensor *encoder_input(Ctx *s, const SslRun *r, const SslModel *m, Tensor *feats) {
    const SslConfig *c = &m->cfg;
    Tensor *x = op_transpose(s, feats, 1, 2);
    if (m->fp_ln_w) x = op_layer_norm(s, x, m->fp_ln_w, m->fp_ln_b, c->layer_norm_eps);
    x = op_dropout(s, op_linear(s, x, m->fp_w, m->fp_b), c->feat_proj_dropout);
    if (r->train && c->apply_spec_augment) x = spec_augment(s, r, m, x);
    if (r->pad_keep) x = op_mul(s, x, r->pad_keep);
    x = op_add(s, x, pos_conv(s, m, x));
    if (!c->do_stable_layer_norm) x = op_layer_norm(s, x, m->enc_ln_w, m->enc_ln_b, c->layer_norm_eps);
    return op_dropout(s, x, c->hidden_dropout);
}

/* (B, T, H D) -> (B, H, T, D) */
static Tensor *split_heads(Ctx *s, Tensor *x, int64_t H) {
    const int64_t B = x->shape[0], T = x->shape[1], D = x->shape[2] / H;
    return op_permute(s, op_reshape(s, x, 4, (const int64_t[]){B, T, H, D}), (const int[]){0, 2, 1, 3});
}

/* WavLM's bucket embedding of layer 0: (1, H, T, T), entry [h, i, j] = rel_attn_embed[bucket(j - i), h]. */
static Tensor *wavlm_position_bias(Ctx *s, const SslModel *m, int64_t T) {
    const SslConfig *c = &m->cfg;
    Tensor *ids = tensor_empty(s, SERC_I64, SHAPE(T, T));
    int64_t *id = tensor_i64(ids);
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j < T; j++) id[i * T + j] = ssl_wavlm_bucket(j - i, c->num_buckets, c->max_bucket_distance);
    Tensor *e = op_permute(s, op_embedding(s, m->layers[0].rel_embed, ids), (const int[]){2, 0, 1});
    return op_reshape(s, e, 4, (const int64_t[]){1, c->num_attention_heads, T, T});
}

/* The gated bias of WavLM layer l (Chen et al. 2022, eq. 5, as transformers computes it): with x the
 * attention input split in heads (B, H, T, D), (a, b) = sigmoid(sum of 4-groups of gru_rel_pos_linear(x)),
 * gate = a (b gru_rel_pos_const - 1) + 2, bias[b, h, i, j] = gate[b, h, i] pos_bias[h, i, j]. */
static Tensor *wavlm_gated_bias(Ctx *s, const SslRun *r, const SslLayer *L, Tensor *x, int64_t H) {
    Tensor *proj = op_linear(s, split_heads(s, x, H), L->gru_w, L->gru_b); /* (B, H, T, 8) */
    Tensor *sum4 = tensor_zeros(s, SERC_F32, SHAPE(2, 8));                  /* (2, 8): rows sum lanes 0-3, 4-7 */
    for (int k = 0; k < 4; k++) {
        tensor_f32(sum4)[k] = 1.0f;
        tensor_f32(sum4)[8 + 4 + k] = 1.0f;
    }
    Tensor *sg = op_sigmoid(s, op_linear(s, proj, sum4, NULL)); /* (B, H, T, 2) */
    Tensor *ga = op_contiguous(s, op_narrow(s, sg, 3, 0, 1)), *gb = op_contiguous(s, op_narrow(s, sg, 3, 1, 1));
    Tensor *minus1 = tensor_empty(s, SERC_F32, SHAPE(1)), *two = tensor_empty(s, SERC_F32, SHAPE(1));
    tensor_f32(minus1)[0] = -1.0f;
    tensor_f32(two)[0] = 2.0f;
    Tensor *gate = op_add(s, op_mul(s, ga, op_add(s, op_mul(s, gb, L->gru_const), minus1)), two); /* (B, H, T, 1) */
    return op_mul(s, gate, r->pos_bias);
}

/* Multi-head self-attention of layer l on x (B, T, C) with the padding key mask. */
static Tensor *self_attention(Ctx *s, const SslRun *r, const SslModel *m, int l, Tensor *x) {
    const SslConfig *c = &m->cfg;
    const SslLayer *L = &m->layers[l];
    const int64_t B = x->shape[0], T = x->shape[1], C = x->shape[2], H = c->num_attention_heads;
    Tensor *q = split_heads(s, op_linear(s, x, L->q_w, L->q_b), H);
    Tensor *k = split_heads(s, op_linear(s, x, L->k_w, L->k_b), H);
    Tensor *v = split_heads(s, op_linear(s, x, L->v_w, L->v_b), H);
    Tensor *bias = c->arch == SSL_WAVLM ? wavlm_gated_bias(s, r, L, x, H) : NULL;
    Tensor *o = op_attention_bias(s, q, k, v, bias, r->key_mask, c->attention_dropout);
    o = op_reshape(s, op_permute(s, o, (const int[]){0, 2, 1, 3}), 3, (const int64_t[]){B, T, C});
    return op_linear(s, o, L->o_w, L->o_b);
}

static Tensor *feed_forward(Ctx *s, const SslModel *m, const SslLayer *L, Tensor *x) {
    const SslConfig *c = &m->cfg;
    Tensor *h = activation(s, c->hidden_act, op_linear(s, x, L->ff1_w, L->ff1_b));
    h = op_linear(s, op_dropout(s, h, c->activation_dropout), L->ff2_w, L->ff2_b);
    return op_dropout(s, h, c->hidden_dropout);
}

static Tensor *encoder_layer(Ctx *s, const SslRun *r, const SslModel *m, int l, Tensor *x) {
    const SslConfig *c = &m->cfg;
    const SslLayer *L = &m->layers[l];
    const float eps = c->layer_norm_eps;
    if (!c->do_stable_layer_norm) {
        Tensor *a = op_dropout(s, self_attention(s, r, m, l, x), c->hidden_dropout);
        x = op_layer_norm(s, op_add(s, x, a), L->ln_w, L->ln_b, eps);
        return op_layer_norm(s, op_add(s, x, feed_forward(s, m, L, x)), L->fln_w, L->fln_b, eps);
    }
    Tensor *a = op_dropout(s, self_attention(s, r, m, l, op_layer_norm(s, x, L->ln_w, L->ln_b, eps)), c->hidden_dropout);
    x = op_add(s, x, a);
    return op_add(s, x, feed_forward(s, m, L, op_layer_norm(s, x, L->fln_w, L->fln_b, eps)));
}

int ssl_forward(Ctx *g, SslModel *m, Tensor *wav, const Tensor *lengths, SslOutput *out, SercErr *err) {
    const SslConfig *c = &m->cfg;
    char d[64];
    SERC_ASSERT(wav->ndim == 2 && wav->dtype == SERC_F32 && tensor_is_contiguous(wav),
                "ssl_forward: wav %s, want contiguous f32 (B, N)", tensor_describe(wav, d, sizeof d));
    const int64_t B = wav->shape[0], N = wav->shape[1], T = ssl_output_frames(c, N), L = c->num_hidden_layers;
    SERC_ASSERT(!lengths || (lengths->ndim == 1 && lengths->shape[0] == B),
                "ssl_forward: lengths %s for a batch of %lld", tensor_describe(lengths, d, sizeof d), (long long)B);
    memset(out, 0, sizeof *out);
    if (T < 1)
        return serc_fail(err, "speech encoder: waveforms of %lld samples are shorter than the %lld-sample receptive field",
                         (long long)N, (long long)ssl_receptive_field(c));
    SslRun r = {.g = g, .B = B, .T = T};
    r.notape = m->mode == SSL_FROZEN || !g->grad_enabled;
    r.train = g->training && m->mode != SSL_FROZEN;
    r.frames = tensor_empty(g, SERC_I32, SHAPE(B));
    Tensor *mask = tensor_empty(g, SERC_U8, SHAPE(B, T));
    for (int64_t b = 0; b < B; b++) {
        int64_t n = lengths ? tensor_get_index(lengths, b) : N;
        if (n < 0 || n > N)
            return serc_fail(err, "speech encoder: item %lld has length %lld outside [0, %lld]", (long long)b,
                             (long long)n, (long long)N);
        const int64_t f = ssl_output_frames(c, n);
        tensor_i32(r.frames)[b] = (int32_t)f;
        for (int64_t t = 0; t < T; t++) tensor_u8(mask)[b * T + t] = t < f;
    }
    if (lengths) {
        r.key_mask = mask;
        r.pad_keep = tensor_empty(g, SERC_F32, SHAPE(B, T, 1));
        for (int64_t i = 0; i < B * T; i++) tensor_f32(r.pad_keep)[i] = tensor_u8(mask)[i];
    }

    Tensor *feats;
    if (r.notape || m->mode == SSL_FINETUNE) feats = conv_stack_notape(g, m, wav, T);
    else {
        feats = op_reshape(g, wav, 3, (const int64_t[]){B, 1, N});
        for (int i = 0; i < c->num_conv_layers; i++) feats = conv_layer(g, m, i, feats);
    }

    out->n_hidden = (int)L + 1;
    out->hidden = arena_alloc(&g->arena, (size_t)(L + 1) * sizeof *out->hidden);
    Ctx *s = work_begin(&r, m, 0, 1);
    out->hidden[0] = keep_in(g, s, encoder_input(s, &r, m, feats));
    work_end(&r, s);

    if (c->arch == SSL_WAVLM && L > 0) { /* lives across layers: scratch 1 (untouched by the layer loop) or g */
        Ctx *p = work_begin(&r, m, 1, 1);
        r.pos_bias = wavlm_position_bias(p, m, T);
        work_end(&r, p);
    }
    uint64_t drop_base = g->rng_offset;
    const int layerdrop = r.train && c->layerdrop > 0;
    if (layerdrop) g->rng_offset += serc_rng_blocks(L);
    for (int l = 0; l < L; l++) {
        /* LayerDrop (Fan et al. 2019): skip layer l with probability layerdrop; WavLM never skips layer 0,
         * which computes the position bias */
        if (layerdrop && !(c->arch == SSL_WAVLM && l == 0) &&
            serc_rng_uniform01(g->seed, drop_base, (uint64_t)l) < c->layerdrop) {
            out->hidden[l + 1] = out->hidden[l];
            continue;
        }
        s = work_begin(&r, m, 0, 1);
        out->hidden[l + 1] = keep_in(g, s, encoder_layer(s, &r, m, l, out->hidden[l]));
        work_end(&r, s);
    }
    out->last_hidden = c->do_stable_layer_norm
                           ? op_layer_norm(g, out->hidden[L], m->enc_ln_w, m->enc_ln_b, c->layer_norm_eps)
                           : out->hidden[L];
    out->lengths = r.frames;
    out->mask = mask;
    return 0;
}

/* ---- SUPERB weighted layer sum ---- */

void ssl_layer_sum_register(SslLayerSum *s, ParamStore *ps, const char *name, int n, int layer_norm) {
    s->n = n;
    s->layer_norm = layer_norm;
    s->weights = params_add(ps, name, SHAPE(n));
}

void ssl_layer_sum_init(SslLayerSum *s) { fill_const(s->weights, 0.0f); }

Tensor *ssl_layer_sum_forward(Ctx *g, const SslLayerSum *s, Tensor *const *hidden, int n) {
    SERC_ASSERT(n == s->n, "ssl_layer_sum: %d hidden states for %d weights", n, s->n);
    Tensor *w = op_softmax(g, s->weights, NULL), *sum = NULL;
    for (int l = 0; l < n; l++) {
        Tensor *h = s->layer_norm ? op_layer_norm(g, hidden[l], NULL, NULL, 1e-5f) : hidden[l];
        Tensor *t = op_mul(g, h, op_narrow(g, w, 0, l, 1));
        sum = sum ? op_add(g, sum, t) : t;
    }
    return sum;
}
