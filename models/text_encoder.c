/* BertModel / RobertaModel forward from a Hugging Face checkpoint (see text_encoder.h), built only from
 * ops; and the batching and pooling a SER model needs around it. */
#include "text_encoder.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "json.h"
#include "ops.h"
#include "safetensors.h"

/* One post-norm transformer layer, named as BertLayer's modules. */
typedef struct TextLayer {
    Tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; /* attention.self.{query,key,value} */
    Tensor *ao_w, *ao_b, *ln1_w, *ln1_b;        /* attention.output.{dense,LayerNorm} */
    Tensor *i_w, *i_b;                          /* intermediate.dense */
    Tensor *o_w, *o_b, *ln2_w, *ln2_b;          /* output.{dense,LayerNorm} */
} TextLayer;

struct TextEncoder {
    TextEncoderConfig cfg;
    ParamStore *ps;
    Tensor *word, *pos, *type, *emb_ln_w, *emb_ln_b;
    TextLayer *layers;
    Tokenizer *tok;
};

/* ---- config.json ---- */


static int cfg_int(const JsonValue *cfg, const char *key, int required, int dflt, int lo, const char *path, int *out,
                   SercErr *err) {
    const JsonValue *v = json_get(cfg, key);
    if (!v || json_type(v) == JSON_NULL) {
        if (required) return serc_fail(err, "%s: missing \"%s\"", path, key);
        *out = dflt;
        return 0;
    }
    if (!json_is_int(v) || json_int(v) < lo || json_int(v) > (1 << 24))
        return serc_fail(err, "%s: \"%s\" must be an integer in [%d, 2^24]", path, key, lo);
    *out = (int)json_int(v);
    return 0;
}

static int read_config(const char *dir, TextEncoderConfig *c, SercErr *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t n;
    char *buf = file_read_all(path, &n, err);
    if (!buf) return -1;
    JsonValue *cfg = json_parse(buf, n, err);
    int rc = -1;
    if (!cfg) {
        serc_fail_prefix(err, "%s", path);
        goto done;
    }
    if (json_type(cfg) != JSON_OBJECT) {
        serc_fail(err, "%s: expected a JSON object", path);
        goto done;
    }
    const JsonValue *mt = json_get(cfg, "model_type");
    if (!mt || json_type(mt) != JSON_STRING) {
        serc_fail(err, "%s: missing \"model_type\" (\"bert\" or \"roberta\")", path);
        goto done;
    }
    const char *type = json_string(mt);
    if (strcmp(type, "bert") == 0) c->arch = TEXT_ENCODER_BERT;
    else if (!strcmp(type, "roberta") || !strcmp(type, "xlm-roberta") || !strcmp(type, "camembert")) c->arch = TEXT_ENCODER_ROBERTA;
    else {
        serc_fail(err, "%s: model_type \"%s\" is not a BERT or RoBERTa encoder", path, type);
        goto done;
    }
    int roberta = c->arch == TEXT_ENCODER_ROBERTA;
    if (cfg_int(cfg, "vocab_size", 1, 0, 1, path, &c->vocab_size, err) ||
        cfg_int(cfg, "hidden_size", 1, 0, 1, path, &c->hidden_size, err) ||
        cfg_int(cfg, "num_hidden_layers", 1, 0, 0, path, &c->num_layers, err) ||
        cfg_int(cfg, "num_attention_heads", 1, 0, 1, path, &c->num_heads, err) ||
        cfg_int(cfg, "intermediate_size", 1, 0, 1, path, &c->intermediate_size, err) ||
        cfg_int(cfg, "max_position_embeddings", 0, 512, 1, path, &c->max_position_embeddings, err) ||
        cfg_int(cfg, "type_vocab_size", 0, 2, 1, path, &c->type_vocab_size, err) ||
        cfg_int(cfg, "pad_token_id", 0, roberta ? 1 : 0, 0, path, &c->pad_token_id, err))
        goto done;
    if (c->hidden_size % c->num_heads) {
        serc_fail(err, "%s: hidden_size %d is not divisible by num_attention_heads %d", path, c->hidden_size, c->num_heads);
        goto done;
    }
    const JsonValue *eps = json_get(cfg, "layer_norm_eps");
    c->layer_norm_eps = 1e-12f;
    if (eps && json_type(eps) != JSON_NULL) {
        if (json_type(eps) != JSON_NUMBER || json_number(eps) <= 0) {
            serc_fail(err, "%s: \"layer_norm_eps\" must be a positive number", path);
            goto done;
        }
        c->layer_norm_eps = (float)json_number(eps);
    }
    const JsonValue *act = json_get(cfg, "hidden_act");
    const char *a = act && json_type(act) == JSON_STRING ? json_string(act) : "gelu";
    if (!strcmp(a, "gelu")) c->act = TEXT_ACT_GELU;
    else if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh")) c->act = TEXT_ACT_GELU_TANH;
    else if (!strcmp(a, "relu")) c->act = TEXT_ACT_RELU;
    else {
        serc_fail(err, "%s: hidden_act \"%s\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)", path, a);
        goto done;
    }
    const JsonValue *pet = json_get(cfg, "position_embedding_type");
    if (pet && json_type(pet) == JSON_STRING && strcmp(json_string(pet), "absolute") != 0) {
        serc_fail(err, "%s: position_embedding_type \"%s\" is not supported (only \"absolute\")", path, json_string(pet));
        goto done;
    }
    if (roberta && c->max_position_embeddings <= c->pad_token_id + 1) {
        serc_fail(err, "%s: max_position_embeddings %d leaves no position after padding_idx %d", path,
                  c->max_position_embeddings, c->pad_token_id);
        goto done;
    }
    rc = 0;
done:
    json_free(cfg);
    free(buf);
    return rc;
}

/* ---- weights ---- */

static Tensor *reg(ParamStore *ps, const char *fmt, int layer, const char *leaf, int ndim, const int64_t *shape) {
    char name[160], base[128];
    snprintf(base, sizeof base, fmt, layer);
    snprintf(name, sizeof name, "%s.%s", base, leaf);
    return params_add(ps, name, ndim, shape);
}

static void register_weights(TextEncoder *e) {
    const TextEncoderConfig *c = &e->cfg;
    ParamStore *ps = e->ps;
    int64_t D = c->hidden_size, F = c->intermediate_size;
    e->word = params_add(ps, "embeddings.word_embeddings.weight", SHAPE(c->vocab_size, D));
    e->pos = params_add(ps, "embeddings.position_embeddings.weight", SHAPE(c->max_position_embeddings, D));
    e->type = params_add(ps, "embeddings.token_type_embeddings.weight", SHAPE(c->type_vocab_size, D));
    e->emb_ln_w = params_add(ps, "embeddings.LayerNorm.weight", SHAPE(D));
    e->emb_ln_b = params_add(ps, "embeddings.LayerNorm.bias", SHAPE(D));
    e->layers = serc_calloc((size_t)(c->num_layers ? c->num_layers : 1), sizeof *e->layers);
    for (int i = 0; i < c->num_layers; i++) {
        TextLayer *l = &e->layers[i];
        l->q_w = reg(ps, "encoder.layer.%d.attention.self.query", i, "weight", SHAPE(D, D));
        l->q_b = reg(ps, "encoder.layer.%d.attention.self.query", i, "bias", SHAPE(D));
        l->k_w = reg(ps, "encoder.layer.%d.attention.self.key", i, "weight", SHAPE(D, D));
        l->k_b = reg(ps, "encoder.layer.%d.attention.self.key", i, "bias", SHAPE(D));
        l->v_w = reg(ps, "encoder.layer.%d.attention.self.value", i, "weight", SHAPE(D, D));
        l->v_b = reg(ps, "encoder.layer.%d.attention.self.value", i, "bias", SHAPE(D));
        l->ao_w = reg(ps, "encoder.layer.%d.attention.output.dense", i, "weight", SHAPE(D, D));
        l->ao_b = reg(ps, "encoder.layer.%d.attention.output.dense", i, "bias", SHAPE(D));
        l->ln1_w = reg(ps, "encoder.layer.%d.attention.output.LayerNorm", i, "weight", SHAPE(D));
        l->ln1_b = reg(ps, "encoder.layer.%d.attention.output.LayerNorm", i, "bias", SHAPE(D));
        l->i_w = reg(ps, "encoder.layer.%d.intermediate.dense", i, "weight", SHAPE(F, D));
        l->i_b = reg(ps, "encoder.layer.%d.intermediate.dense", i, "bias", SHAPE(F));
        l->o_w = reg(ps, "encoder.layer.%d.output.dense", i, "weight", SHAPE(D, F));
        l->o_b = reg(ps, "encoder.layer.%d.output.dense", i, "bias", SHAPE(D));
        l->ln2_w = reg(ps, "encoder.layer.%d.output.LayerNorm", i, "weight", SHAPE(D));
        l->ln2_b = reg(ps, "encoder.layer.%d.output.LayerNorm", i, "bias", SHAPE(D));
    }
    params_finalize(ps);
}

/* Tensors a checkpoint may hold that the encoder does not use (name without the model prefix). */
static int ignorable(const char *name) {
    return !strncmp(name, "pooler.", 7) || !strncmp(name, "cls.", 4) || !strncmp(name, "lm_head.", 8) ||
           !strcmp(name, "embeddings.position_ids") || !strcmp(name, "embeddings.token_type_ids");
}

/* Appends to a bounded list "a, b, c" (with "..." once full). */
static void list_add(char *list, size_t cap, int *count, const char *item) {
    size_t len = strlen(list);
    (*count)++;
    if (len + strlen(item) + 8 >= cap) {
        if (!strstr(list, "...")) snprintf(list + len, cap - len, ", ...");
        return;
    }
    snprintf(list + len, cap - len, "%s%s", len ? ", " : "", item);
}

/* The file's name for our `name`: bare, "<prefix>.name", or with LayerNorm.gamma/beta for weight/bias
 * (the names of TF-converted checkpoints). -1 when absent. */
static int find_weight(const SafetensorsFile *f, const char *prefix, const char *name) {
    char full[256], alt[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    int i = safetensors_find(f, full);
    if (i >= 0) return i;
    const char *ln = strstr(full, "LayerNorm.");
    if (!ln) return -1;
    snprintf(alt, sizeof alt, "%.*s%s", (int)(ln + 10 - full), full, !strcmp(ln + 10, "weight") ? "gamma" : "beta");
    return safetensors_find(f, alt);
}

static int load_weights(TextEncoder *e, const char *dir, SercErr *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    SafetensorsFile *f = safetensors_open(path, err);
    if (!f) return -1;
    /* the prefix: bare names (BertModel.save_pretrained), else "bert." / "roberta." (task models) */
    const char *prefix = "";
    const char *arch_prefix = e->cfg.arch == TEXT_ENCODER_BERT ? "bert." : "roberta.";
    if (find_weight(f, "", "embeddings.word_embeddings.weight") < 0 &&
        find_weight(f, arch_prefix, "embeddings.word_embeddings.weight") >= 0)
        prefix = arch_prefix;
    size_t plen = strlen(prefix);

    int n = safetensors_count(f);
    char *used = serc_calloc((size_t)n + 1, 1);
    char missing[480] = "", shaped[480] = "", unexpected[480] = "";
    int n_missing = 0, n_shaped = 0, n_unexpected = 0;
    for (int p = 0; p < params_len(e->ps); p++) {
        Tensor *t = params_at(e->ps, p);
        int i = find_weight(f, prefix, t->name);
        if (i < 0) {
            list_add(missing, sizeof missing, &n_missing, t->name);
            continue;
        }
        used[i] = 1;
        int ok = safetensors_ndim(f, i) == t->ndim;
        for (int d = 0; ok && d < t->ndim; d++) ok = safetensors_shape(f, i)[d] == t->shape[d];
        SercDType dt = safetensors_dtype(f, i);
        if (!ok || (dt != SERC_F32 && dt != SERC_BF16 && dt != SERC_F16)) {
            char item[256], want[64];
            int len = snprintf(item, sizeof item, "%s %s[", safetensors_name(f, i), serc_dtype_name(dt));
            for (int d = 0; d < safetensors_ndim(f, i); d++)
                len += snprintf(item + len, sizeof item - (size_t)len, "%s%lld", d ? ", " : "",
                                (long long)safetensors_shape(f, i)[d]);
            snprintf(item + len, sizeof item - (size_t)len, "] (expected %s)", tensor_describe(t, want, sizeof want));
            list_add(shaped, sizeof shaped, &n_shaped, item);
            continue;
        }
        float *dst = tensor_f32(t);
        const void *src = safetensors_data(f, i);
        int64_t k = tensor_numel(t);
        if (dt == SERC_F32) memcpy(dst, src, (size_t)k * sizeof(float));
        else
            for (int64_t q = 0; q < k; q++) {
                uint16_t h;
                memcpy(&h, (const char *)src + 2 * q, 2);
                dst[q] = dt == SERC_BF16 ? serc_bf16_to_f32(h) : serc_f16_to_f32(h);
            }
    }
    for (int i = 0; i < n; i++) {
        if (used[i]) continue;
        const char *name = safetensors_name(f, i);
        const char *bare = plen && !strncmp(name, prefix, plen) ? name + plen : name;
        if (!ignorable(bare) && !ignorable(name)) list_add(unexpected, sizeof unexpected, &n_unexpected, name);
    }
    free(used);
    safetensors_close(f);
    if (n_missing || n_shaped || n_unexpected)
        return serc_fail(err, "%s: %s checkpoint does not match config.json: %d missing [%s]; %d mis-shaped [%s]; "
                              "%d unexpected [%s]",
                         path, e->cfg.arch == TEXT_ENCODER_BERT ? "BERT" : "RoBERTa", n_missing, missing, n_shaped,
                         shaped, n_unexpected, unexpected);
    return 0;
}

TextEncoder *text_encoder_load(const char *dir, SercErr *err) {
    TextEncoder *e = serc_calloc(1, sizeof *e);
    if (read_config(dir, &e->cfg, err)) goto fail;
    e->ps = params_new();
    register_weights(e);
    if (load_weights(e, dir, err)) goto fail;
    char p1[4096], p2[4096];
    snprintf(p1, sizeof p1, "%s/vocab.txt", dir);
    snprintf(p2, sizeof p2, "%s/vocab.json", dir);
    FILE *f1 = fopen(p1, "rb"), *f2 = fopen(p2, "rb");
    int has_tok = f1 || f2;
    if (f1) fclose(f1);
    if (f2) fclose(f2);
    if (has_tok && !(e->tok = tokenizer_load(dir, err))) goto fail;
    if (e->tok && tokenizer_vocab_size(e->tok) > e->cfg.vocab_size) {
        serc_fail(err, "%s: the tokenizer has %d ids but config.json says vocab_size %d", dir,
                  tokenizer_vocab_size(e->tok), e->cfg.vocab_size);
        goto fail;
    }
    return e;
fail:
    text_encoder_free(e);
    return NULL;
}

void text_encoder_free(TextEncoder *e) {
    if (!e) return;
    if (e->ps) params_free(e->ps);
    free(e->layers);
    tokenizer_free(e->tok);
    free(e);
}

const TextEncoderConfig *text_encoder_config(const TextEncoder *e) { return &e->cfg; }
ParamStore *text_encoder_params(const TextEncoder *e) { return e->ps; }
const Tokenizer *text_encoder_tokenizer(const TextEncoder *e) { return e->tok; }

/* ---- forward ---- */

/* x (B, T, D) -> (B, H, T, D/H) */
static Tensor *split_heads(Ctx *g, Tensor *x, int H) {
    int64_t B = x->shape[0], T = x->shape[1], D = x->shape[2];
    Tensor *r = op_reshape(g, x, 4, (const int64_t[]){B, T, H, D / H});
    return op_permute(g, r, (const int[]){0, 2, 1, 3});
}

static Tensor *layer_forward(Ctx *g, const TextEncoder *e, const TextLayer *l, Tensor *x, const Tensor *mask) {
    const TextEncoderConfig *c = &e->cfg;
    int64_t B = x->shape[0], T = x->shape[1], D = x->shape[2];
    Tensor *q = split_heads(g, op_linear(g, x, l->q_w, l->q_b), c->num_heads);
    Tensor *k = split_heads(g, op_linear(g, x, l->k_w, l->k_b), c->num_heads);
    Tensor *v = split_heads(g, op_linear(g, x, l->v_w, l->v_b), c->num_heads);
    Tensor *a = op_attention(g, q, k, v, mask); /* (B, H, T, D/H) */
    a = op_reshape(g, op_permute(g, a, (const int[]){0, 2, 1, 3}), 3, (const int64_t[]){B, T, D});
    Tensor *h = op_layer_norm(g, op_add(g, op_linear(g, a, l->ao_w, l->ao_b), x), l->ln1_w, l->ln1_b, c->layer_norm_eps);
    Tensor *f = op_linear(g, h, l->i_w, l->i_b);
    f = c->act == TEXT_ACT_GELU ? op_gelu(g, f) : c->act == TEXT_ACT_GELU_TANH ? op_gelu_tanh(g, f) : op_relu(g, f);
    return op_layer_norm(g, op_add(g, op_linear(g, f, l->o_w, l->o_b), h), l->ln2_w, l->ln2_b, c->layer_norm_eps);
}

int text_encoder_forward(Ctx *g, const TextEncoder *e, Tensor *ids, const Tensor *mask, Tensor *token_types,
                         Tensor **hidden, SercErr *err) {
    const TextEncoderConfig *c = &e->cfg;
    char s1[64], s2[64];
    SERC_ASSERT(ids->ndim == 2 && (!mask || (mask->dtype == SERC_U8 && tensor_same_shape(ids, mask))) &&
                    (!token_types || tensor_same_shape(ids, token_types)),
                "text encoder: ids %s, mask %s (expected (B, T) and u8 (B, T))", tensor_describe(ids, s1, sizeof s1),
                mask ? tensor_describe(mask, s2, sizeof s2) : "none");
    int64_t B = ids->shape[0], T = ids->shape[1];
    int roberta = c->arch == TEXT_ENCODER_ROBERTA, pad = c->pad_token_id;
    Tensor *pos = tensor_empty(g, SERC_I32, SHAPE(B, T));
    int32_t *pv = tensor_i32(pos);
    for (int64_t b = 0; b < B; b++) {
        int32_t run = 0;
        for (int64_t t = 0; t < T; t++) {
            int64_t id = tensor_get_index(ids, b * T + t);
            if (id < 0 || id >= c->vocab_size)
                return serc_fail(err, "text encoder: token id %lld at [%lld, %lld] is outside the vocabulary [0, %d)",
                                 (long long)id, (long long)b, (long long)t, c->vocab_size);
            if (token_types) {
                int64_t ty = tensor_get_index(token_types, b * T + t);
                if (ty < 0 || ty >= c->type_vocab_size)
                    return serc_fail(err, "text encoder: token type %lld is outside [0, %d)", (long long)ty, c->type_vocab_size);
            }
            /* RoBERTa: create_position_ids_from_input_ids(ids, padding_idx) */
            if (roberta) pv[b * T + t] = id != pad ? pad + ++run : pad;
            else pv[b * T + t] = (int32_t)t;
            if (pv[b * T + t] >= c->max_position_embeddings)
                return serc_fail(err, "text encoder: %lld tokens exceed max_position_embeddings %d%s", (long long)T,
                                 c->max_position_embeddings, roberta ? " (RoBERTa positions start after padding_idx)" : "");
        }
    }
    Tensor *types = token_types ? token_types : tensor_zeros(g, SERC_I32, SHAPE(B, T));

    int was = ctx_no_grad(g); /* frozen: nothing goes on the tape */
    Tensor *x = op_add(g, op_add(g, op_embedding(g, e->word, ids), op_embedding(g, e->pos, pos)),
                       op_embedding(g, e->type, types));
    x = op_layer_norm(g, x, e->emb_ln_w, e->emb_ln_b, c->layer_norm_eps);
    hidden[0] = x;
    for (int i = 0; i < c->num_layers; i++) hidden[i + 1] = x = layer_forward(g, e, &e->layers[i], x, mask);
    ctx_set_grad(g, was);
    return 0;
}

/* ---- batches ---- */

/* Fills a TextBatch from encodings; token_word from word_of(b, k) when given, else the encoding's. */
static void fill_batch(Ctx *g, const Tokenizer *tok, Encoding *enc, int B, const int *n_words, TextBatch *out) {
    int T = 1, W = 0;
    for (int b = 0; b < B; b++) {
        if (enc[b].n > T) T = enc[b].n;
        if (n_words[b] > W) W = n_words[b];
    }
    out->B = B;
    out->T = T;
    out->W = W;
    out->ids = tensor_empty(g, SERC_I32, SHAPE(B, T));
    out->mask = tensor_zeros(g, SERC_U8, SHAPE(B, T));
    out->lengths = tensor_empty(g, SERC_I32, SHAPE(B));
    out->token_word = tensor_empty(g, SERC_I32, SHAPE(B, T));
    out->word_mask = tensor_zeros(g, SERC_U8, SHAPE(B, W > 0 ? W : 1));
    int pad = tokenizer_pad_id(tok) >= 0 ? tokenizer_pad_id(tok) : 0;
    int32_t *ids = tensor_i32(out->ids), *tw = tensor_i32(out->token_word), *len = tensor_i32(out->lengths);
    uint8_t *m = tensor_u8(out->mask), *wm = tensor_u8(out->word_mask);
    for (int b = 0; b < B; b++) {
        len[b] = enc[b].n;
        for (int t = 0; t < T; t++) {
            int in = t < enc[b].n;
            ids[b * T + t] = in ? enc[b].ids[t] : pad;
            m[b * T + t] = (uint8_t)in;
            tw[b * T + t] = in ? enc[b].word[t] : -1;
            if (in && enc[b].word[t] >= 0 && enc[b].word[t] < W) wm[b * W + enc[b].word[t]] = 1;
        }
    }
}

int text_batch_encode(Ctx *g, const Tokenizer *tok, const char *const *texts, int B, int max_length, TextBatch *out,
                      SercErr *err) {
    SERC_ASSERT(B > 0, "text batch: %d items", B);
    Encoding *enc = serc_calloc((size_t)B, sizeof *enc);
    int *n_words = serc_malloc((size_t)B * sizeof *n_words), rc = 0;
    for (int b = 0; b < B && !rc; b++) {
        if (tokenizer_encode(tok, texts[b], strlen(texts[b]), max_length, &enc[b], err)) {
            rc = serc_fail_prefix(err, "text %d", b);
            break;
        }
        n_words[b] = enc[b].n_words;
    }
    if (!rc) fill_batch(g, tok, enc, B, n_words, out);
    for (int b = 0; b < B; b++) encoding_free(&enc[b]);
    free(enc);
    free(n_words);
    return rc;
}

int text_batch_encode_words(Ctx *g, const Tokenizer *tok, const char *const *const *words, const int *n_words,
                            int B, int max_length, TextBatch *out, SercErr *err) {
    SERC_ASSERT(B > 0, "text batch: %d items", B);
    Encoding *enc = serc_calloc((size_t)B, sizeof *enc);
    int rc = 0;
    for (int b = 0; b < B && !rc; b++) {
        /* the words joined by one space, and each word's byte range in that text */
        size_t total = 1;
        for (int w = 0; w < n_words[b]; w++) total += strlen(words[b][w]) + 1;
        char *text = serc_malloc(total);
        size_t *ws = serc_malloc(((size_t)n_words[b] + 1) * sizeof *ws), *we = serc_malloc(((size_t)n_words[b] + 1) * sizeof *we);
        size_t len = 0;
        for (int w = 0; w < n_words[b]; w++) {
            if (w) text[len++] = ' ';
            ws[w] = len;
            memcpy(text + len, words[b][w], strlen(words[b][w]));
            len += strlen(words[b][w]);
            we[w] = len;
        }
        text[len] = 0;
        if (tokenizer_encode(tok, text, len, max_length, &enc[b], err)) {
            rc = serc_fail_prefix(err, "transcript %d", b);
        } else {
            /* a token belongs to the given word that holds its first byte */
            for (int k = 0; k < enc[b].n; k++) {
                int wi = -1;
                if (enc[b].end[k] > enc[b].start[k])
                    for (int w = 0; w < n_words[b] && wi < 0; w++)
                        if ((size_t)enc[b].start[k] >= ws[w] && (size_t)enc[b].start[k] < we[w]) wi = w;
                enc[b].word[k] = wi;
            }
        }
        free(text);
        free(ws);
        free(we);
    }
    if (!rc) fill_batch(g, tok, enc, B, n_words, out);
    for (int b = 0; b < B; b++) encoding_free(&enc[b]);
    free(enc);
    return rc;
}

/* ---- pooling ---- */

Tensor *text_pool_mean(Ctx *g, Tensor *hidden, const Tensor *lengths) { return op_masked_mean_time(g, hidden, lengths); }

Tensor *text_pool_cls(Ctx *g, Tensor *hidden) {
    int64_t B = hidden->shape[0], D = hidden->shape[2];
    Tensor *first = op_contiguous(g, op_narrow(g, hidden, 1, 0, 1));
    return op_reshape(g, first, 2, (const int64_t[]){B, D});
}

Tensor *text_pool_words(Ctx *g, Tensor *hidden, const Tensor *token_word, int W) {
    char s1[64], s2[64];
    SERC_ASSERT(hidden->ndim == 3 && token_word->ndim == 2 && token_word->shape[0] == hidden->shape[0] &&
                    token_word->shape[1] == hidden->shape[1] && W > 0,
                "word pooling: hidden %s, token_word %s, %d words", tensor_describe(hidden, s1, sizeof s1),
                tensor_describe(token_word, s2, sizeof s2), W);
    int64_t B = hidden->shape[0], T = hidden->shape[1];
    /* A[b, w, t] = 1 / |tokens of word w| for the tokens of word w: out = A hidden */
    Tensor *A = tensor_zeros(g, SERC_F32, SHAPE(B, W, T));
    float *a = tensor_f32(A);
    int *count = serc_calloc((size_t)W, sizeof *count);
    for (int64_t b = 0; b < B; b++) {
        memset(count, 0, (size_t)W * sizeof *count);
        for (int64_t t = 0; t < T; t++) {
            int64_t w = tensor_get_index(token_word, b * T + t);
            if (w >= 0 && w < W) count[w]++;
        }
        for (int64_t t = 0; t < T; t++) {
            int64_t w = tensor_get_index(token_word, b * T + t);
            if (w >= 0 && w < W) a[(b * W + w) * T + t] = 1.0f / (float)count[w];
        }
    }
    free(count);
    return op_matmul(g, A, hidden, 0, 0);
}
