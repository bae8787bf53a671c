#include "mater.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "conv_attn.h" /* mhsa_forward */

const char *const mater_level_names[MATER_N_LEVELS] = {"word", "utterance", "embedding"};

int mater_level_bit(const char *name) {
    for (int l = 0; l < MATER_N_LEVELS; l++)
        if (!strcmp(name, mater_level_names[l])) return 1 << l;
    return 0;
}

int mater_utt_fusion_kind(const char *name) {
    if (!strcmp(name, "concat")) return MATER_UTT_CONCAT;
    if (!strcmp(name, "cross")) return MATER_UTT_CROSS;
    return -1;
}

static void name_at(char *buf, size_t n, const char *a, const char *b) { snprintf(buf, n, "mater.%s.%s", a, b); }

static void heads_register(MlpHead *cls, MlpHead *avd, ParamStore *ps, const char *level, int in, const MaterConfig *c) {
    char name[128];
    name_at(name, sizeof name, level, "classifier");
    mlp_head_register(cls, ps, name, in, c->head_hidden, c->n_classes, c->dropout);
    if (c->avd) {
        name_at(name, sizeof name, level, "avd");
        mlp_head_register(avd, ps, name, in, c->head_hidden, 3, c->dropout);
    }
}

static void attention_register(Linear *q, Linear *k, Linear *v, Linear *o, ParamStore *ps, const char *stem, int q_in,
                               int kv_in, int d) {
    char name[128];
    snprintf(name, sizeof name, "%s.q_proj", stem);
    linear_register(q, ps, name, q_in, d, 1);
    snprintf(name, sizeof name, "%s.k_proj", stem);
    linear_register(k, ps, name, kv_in, d, 1);
    snprintf(name, sizeof name, "%s.v_proj", stem);
    linear_register(v, ps, name, kv_in, d, 1);
    snprintf(name, sizeof name, "%s.out_proj", stem);
    linear_register(o, ps, name, d, d, 1);
}

void mater_register(Mater *m, ParamStore *ps, const MaterConfig *cfg) {
    const MaterConfig *c = cfg;
    SERC_ASSERT(c->text_dim > 0 && c->dim > 0 && c->heads > 0 && c->dim % c->heads == 0 && c->n_classes > 0 &&
                    (c->text_only || (c->levels & MATER_ALL_LEVELS)),
                "mater: text dim %d, dim %d, heads %d, classes %d, levels %d", c->text_dim, c->dim, c->heads,
                c->n_classes, c->levels);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    const int d = c->dim;
    if (!c->text_only && (c->levels & MATER_WORD)) {
        linear_register(&m->word_text_proj, ps, "mater.word.text_proj", c->text_dim, d, 1);
        linear_register(&m->word_fuse, ps, "mater.word.fuse", c->audio_dim + d, d, 1);
        attention_register(&m->wq, &m->wk, &m->wv, &m->wo, ps, "mater.word.attention", d, d, d);
        layer_norm_register(&m->word_norm, ps, "mater.word.norm", d, 1e-5f);
        attention_pool_register(&m->word_pool, ps, "mater.word.pool", d, d, 0);
        heads_register(&m->word_head, &m->word_avd, ps, "word", d, c);
    }
    if (!c->text_only && (c->levels & MATER_UTTERANCE)) {
        if (c->utt_fusion == MATER_UTT_CONCAT) {
            linear_register(&m->utt_fuse, ps, "mater.utterance.fuse", c->pooled_dim + c->text_dim, d, 1);
        } else {
            attention_register(&m->cq, &m->ck, &m->cv, &m->co, ps, "mater.utterance.cross", c->audio_dim, c->text_dim, d);
            layer_norm_register(&m->utt_norm, ps, "mater.utterance.norm", d, 1e-5f);
        }
        heads_register(&m->utt_head, &m->utt_avd, ps, "utterance", d, c);
    }
    if (c->text_only || (c->levels & MATER_EMBEDDING)) heads_register(&m->text_head, &m->text_avd, ps, "text", c->text_dim, c);
}

void mater_init(Mater *m, InitRng *r) {
    const MaterConfig *c = &m->cfg;
    if (!c->text_only && (c->levels & MATER_WORD)) {
        linear_init(&m->word_text_proj, r);
        linear_init(&m->word_fuse, r);
        linear_init(&m->wq, r);
        linear_init(&m->wk, r);
        linear_init(&m->wv, r);
        linear_init(&m->wo, r);
        layer_norm_init(&m->word_norm);
        attention_pool_init(&m->word_pool, r);
        mlp_head_init(&m->word_head, r);
        if (c->avd) mlp_head_init(&m->word_avd, r);
    }
    if (!c->text_only && (c->levels & MATER_UTTERANCE)) {
        if (c->utt_fusion == MATER_UTT_CONCAT) {
            linear_init(&m->utt_fuse, r);
        } else {
            linear_init(&m->cq, r);
            linear_init(&m->ck, r);
            linear_init(&m->cv, r);
            linear_init(&m->co, r);
            layer_norm_init(&m->utt_norm);
        }
        mlp_head_init(&m->utt_head, r);
        if (c->avd) mlp_head_init(&m->utt_avd, r);
    }
    if (c->text_only || (c->levels & MATER_EMBEDDING)) {
        mlp_head_init(&m->text_head, r);
        if (c->avd) mlp_head_init(&m->text_avd, r);
    }
}

/* ---- text ---- */

int mater_encode_text(Ctx *g, const TextEncoder *enc, int layer, const SerTextInput *t, int B, MaterText *out,
                      SercErr *err) {
    SERC_ASSERT(!t || t->B == B, "mater: text for %d items, batch of %d", t ? t->B : 0, B);
    const TextEncoderConfig *c = text_encoder_config(enc);
    const Tokenizer *tok = text_encoder_tokenizer(enc);
    if (!tok) return serc_fail(err, "text encoder: the folder has no tokenizer (vocab.txt, or vocab.json + merges.txt)");
    int L = layer < 0 ? c->num_layers + 1 + layer : layer;
    if (L < 0 || L > c->num_layers)
        return serc_fail(err, "text encoder: layer %d outside [-%d, %d]", layer, c->num_layers + 1, c->num_layers);
    const char *const **words = arena_alloc(&g->arena, sizeof(*words) * (size_t)B);
    int *n_words = arena_alloc(&g->arena, sizeof(int) * (size_t)B);
    for (int b = 0; b < B; b++) {
        words[b] = t ? t->items[b].words : NULL;
        n_words[b] = t ? t->items[b].n_words : 0;
    }
    /* BERT positions run 0..T-1; RoBERTa's start after padding_idx */
    int max_len = c->arch == TEXT_ENCODER_ROBERTA ? c->max_position_embeddings - c->pad_token_id - 1 : c->max_position_embeddings;
    TextBatch tb;
    if (text_batch_encode_words(g, tok, words, n_words, B, max_len, &tb, err)) return -1;
    Tensor **hidden = arena_alloc(&g->arena, sizeof(Tensor *) * (size_t)(c->num_layers + 1));
    if (text_encoder_forward(g, enc, tb.ids, tb.mask, NULL, hidden, err)) return -1;
    int was = ctx_no_grad(g);
    out->W = tb.W > 0 ? tb.W : 1;
    out->tokens = hidden[L];
    out->token_mask = tb.mask;
    out->token_lengths = tb.lengths;
    out->words = text_pool_words(g, hidden[L], tb.token_word, out->W);
    out->word_tokens = tb.word_mask;
    out->pooled = text_pool_mean(g, hidden[L], tb.lengths);
    ctx_set_grad(g, was);
    return 0;
}

/* ---- word spans and their pooling ---- */

Tensor *mater_word_spans(Ctx *g, const SerTextInput *t, int B, int W, double frames_per_second,
                         const Tensor *frame_lengths) {
    Tensor *spans = tensor_zeros(g, SERC_I32, SHAPE(B, W, 2));
    int32_t *s = tensor_i32(spans);
    for (int b = 0; t && b < B; b++) {
        const SerTextItem *it = &t->items[b];
        if (!it->start || !it->end) continue;
        int64_t len = frame_lengths ? tensor_get_index(frame_lengths, b) : 0;
        for (int w = 0; w < it->n_words && w < W; w++) {
            double st = it->start[w], en = it->end[w];
            if (!(en > st)) continue;
            /* a hair of slack so that 0.29 s at 100 frames/s is frame 29, not 28 */
            double f0 = floor(st * frames_per_second + 1e-9), f1 = ceil(en * frames_per_second - 1e-9);
            if (f0 < 0) f0 = 0;
            if (f1 > (double)len) f1 = (double)len;
            if (f1 <= f0) continue;
            s[(b * W + w) * 2] = (int32_t)f0;
            s[(b * W + w) * 2 + 1] = (int32_t)f1;
        }
    }
    return spans;
}

Tensor *mater_word_span_pool(Ctx *g, Tensor *frames, const Tensor *spans) {
    char s1[64], s2[64];
    SERC_ASSERT(frames->ndim == 3 && spans->ndim == 3 && spans->dtype == SERC_I32 && spans->shape[0] == frames->shape[0] &&
                    spans->shape[2] == 2,
                "mater word pooling: frames %s, spans %s (want (B, T, D) and i32 (B, W, 2))",
                tensor_describe(frames, s1, sizeof s1), tensor_describe(spans, s2, sizeof s2));
    const int64_t B = frames->shape[0], T = frames->shape[1], W = spans->shape[1];
    /* A[b, w, t] = 1 / (last - first) for t in [first, last): out = A frames */
    Tensor *A = tensor_zeros(g, SERC_F32, SHAPE(B, W, T));
    float *a = tensor_f32(A);
    const int32_t *sp = tensor_i32((Tensor *)spans);
    for (int64_t b = 0; b < B; b++)
        for (int64_t w = 0; w < W; w++) {
            int64_t f0 = sp[(b * W + w) * 2], f1 = sp[(b * W + w) * 2 + 1];
            SERC_ASSERT(f0 >= 0 && f1 <= T && f0 <= f1, "mater word pooling: span [%lld, %lld) of item %lld word %lld outside "
                        "%lld frames", (long long)f0, (long long)f1, (long long)b, (long long)w, (long long)T);
            for (int64_t t = f0; t < f1; t++) a[(b * W + w) * T + t] = 1.0f / (float)(f1 - f0);
        }
    return op_matmul(g, A, frames, 0, 0);
}

/* ---- fusion ---- */

/* (B, T, d) -> (B, H, T, d / H) */
static Tensor *split_heads(Ctx *g, Tensor *x, int H) {
    int64_t B = x->shape[0], T = x->shape[1], D = x->shape[2];
    return op_permute(g, op_reshape(g, x, 4, (const int64_t[]){B, T, H, D / H}), (const int[]){0, 2, 1, 3});
}

/* Cross attention: queries from q_in (B, Tq, dq), keys and values from kv (B, Tk, dk), key mask (B, Tk). */
static Tensor *cross_attention(Ctx *g, const Mater *m, Tensor *q_in, Tensor *kv, const Tensor *key_mask, Tensor **q_out) {
    const int H = m->cfg.heads;
    int64_t B = q_in->shape[0], Tq = q_in->shape[1], d = m->cfg.dim;
    Tensor *q = linear_forward(g, &m->cq, q_in);
    *q_out = q;
    Tensor *a = op_attention(g, split_heads(g, q, H), split_heads(g, linear_forward(g, &m->ck, kv), H),
                             split_heads(g, linear_forward(g, &m->cv, kv), H), key_mask);
    a = op_reshape(g, op_permute(g, a, (const int[]){0, 2, 1, 3}), 3, (const int64_t[]){B, Tq, d});
    return linear_forward(g, &m->co, a);
}

static Tensor *word_level(Ctx *g, const Mater *m, const MaterText *tx, const MaterAudio *a, const SerTextInput *t,
                          MaterOutput *o) {
    const int64_t B = tx->pooled->shape[0], W = tx->W;
    o->word_spans = mater_word_spans(g, t, (int)B, (int)W, a->frame_rate, a->frame_lengths);
    o->word_mask = tensor_zeros(g, SERC_U8, SHAPE(B, W));
    uint8_t *wm = tensor_u8(o->word_mask);
    const uint8_t *wt = tensor_u8(tx->word_tokens);
    const int32_t *sp = tensor_i32(o->word_spans);
    const int64_t Wt = tx->word_tokens->shape[1];
    for (int64_t b = 0; b < B; b++)
        for (int64_t w = 0; w < W && w < Wt; w++)
            wm[b * W + w] = (uint8_t)(wt[b * Wt + w] && sp[(b * W + w) * 2 + 1] > sp[(b * W + w) * 2]);
    Tensor *aw = mater_word_span_pool(g, a->frames, o->word_spans);        /* (B, W, dim) */
    Tensor *tw = linear_forward(g, &m->word_text_proj, tx->words);         /* (B, W, d) */
    Tensor *parts[2] = {aw, tw};
    Tensor *z = op_gelu(g, linear_forward(g, &m->word_fuse, op_concat(g, parts, 2, 2)));
    Tensor *u = layer_norm_forward(g, &m->word_norm,
                                   op_add(g, z, mhsa_forward(g, &m->wq, &m->wk, &m->wv, &m->wo, m->cfg.heads, z, o->word_mask)));
    return attention_pool_forward(g, &m->word_pool, u, o->word_mask, &o->word_weights);
}

static Tensor *utterance_level(Ctx *g, const Mater *m, const MaterText *tx, const MaterAudio *a) {
    if (m->cfg.utt_fusion == MATER_UTT_CONCAT) {
        Tensor *parts[2] = {a->pooled, tx->pooled};
        return op_gelu(g, linear_forward(g, &m->utt_fuse, op_concat(g, parts, 2, 1)));
    }
    Tensor *q;
    Tensor *c = cross_attention(g, m, a->frames, tx->tokens, tx->token_mask, &q);
    Tensor *h = layer_norm_forward(g, &m->utt_norm, op_add(g, q, c));
    return op_masked_mean_time(g, h, a->frame_lengths);
}

/* sum_l w_l x_l over the levels that are set. */
static Tensor *weighted_levels(Ctx *g, Tensor *const *x, Tensor *const *w) {
    Tensor *acc = NULL;
    for (int l = 0; l < MATER_N_LEVELS; l++) {
        if (!x[l]) continue;
        Tensor *term = op_mul(g, x[l], w[l]);
        acc = acc ? op_add(g, acc, term) : term;
    }
    return acc;
}

MaterOutput mater_forward(Ctx *g, const Mater *m, const MaterText *tx, const MaterAudio *a, const SerTextInput *t) {
    const MaterConfig *c = &m->cfg;
    MaterOutput o;
    memset(&o, 0, sizeof o);
    const int64_t B = tx->pooled->shape[0];
    o.text_pooled = tx->pooled;
    if (c->text_only || (c->levels & MATER_EMBEDDING)) {
        o.text_logits = mlp_head_forward(g, &m->text_head, tx->pooled);
        if (c->avd) o.text_avd = mlp_head_forward(g, &m->text_avd, tx->pooled);
    }
    if (c->text_only) {
        o.logits = o.text_logits;
        o.avd = o.text_avd;
        return o;
    }
    if (c->levels & MATER_WORD) {
        Tensor *s = word_level(g, m, tx, a, t, &o);
        o.level_logits[MATER_LEVEL_WORD] = mlp_head_forward(g, &m->word_head, s);
        if (c->avd) o.level_avd[MATER_LEVEL_WORD] = mlp_head_forward(g, &m->word_avd, s);
    }
    if (c->levels & MATER_UTTERANCE) {
        Tensor *u = utterance_level(g, m, tx, a);
        o.level_logits[MATER_LEVEL_UTTERANCE] = mlp_head_forward(g, &m->utt_head, u);
        if (c->avd) o.level_avd[MATER_LEVEL_UTTERANCE] = mlp_head_forward(g, &m->utt_avd, u);
    }
    if (c->levels & MATER_EMBEDDING) {
        o.audio_logits = a->logits;
        o.level_logits[MATER_LEVEL_EMBEDDING] = op_scale(g, op_add(g, a->logits, o.text_logits), 0.5f);
        if (c->avd && a->avd) {
            o.audio_avd = a->avd;
            o.level_avd[MATER_LEVEL_EMBEDDING] = op_scale(g, op_add(g, a->avd, o.text_avd), 0.5f);
        }
    }
    /* per-item weights: 1 / (available levels) on each available level */
    float avail[MATER_N_LEVELS];
    for (int l = 0; l < MATER_N_LEVELS; l++) o.level_weight[l] = o.level_logits[l] ? tensor_empty(g, SERC_F32, SHAPE(B, 1)) : NULL;
    for (int64_t b = 0; b < B; b++) {
        int n = 0;
        for (int l = 0; l < MATER_N_LEVELS; l++) {
            avail[l] = o.level_logits[l] ? 1.0f : 0.0f;
            if (l == MATER_LEVEL_WORD && o.word_mask) {
                int any = 0;
                for (int64_t w = 0; w < o.word_mask->shape[1]; w++) any |= tensor_u8(o.word_mask)[b * o.word_mask->shape[1] + w];
                if (!any) avail[l] = 0.0f;
            }
            n += avail[l] > 0;
        }
        for (int l = 0; l < MATER_N_LEVELS; l++) {
            if (!o.level_logits[l]) continue;
            int enabled = 0;
            for (int k = 0; k < MATER_N_LEVELS; k++) enabled += o.level_logits[k] != NULL;
            tensor_f32(o.level_weight[l])[b] = n > 0 ? avail[l] / (float)n : 1.0f / (float)enabled;
        }
    }
    o.logits = weighted_levels(g, o.level_logits, o.level_weight);
    if (c->avd) {
        int all = 1;
        for (int l = 0; l < MATER_N_LEVELS; l++)
            if (o.level_logits[l] && !o.level_avd[l]) all = 0;
        if (all) o.avd = weighted_levels(g, o.level_avd, o.level_weight);
    }
    return o;
}
