/* The speech encoders (models/ssl*.c) against Hugging Face transformers: every hidden state of six
 * tiny random checkpoints (tests/fixtures/make_ssl_fixtures.py: wav2vec2 post-norm / stable, HuBERT
 * from a sequence-classification checkpoint, WavLM post-norm / stable, a sharded DistilHuBERT-like
 * 2-layer model) within 1e-4 relative, padded items and padded frames included, on the taped and the
 * tape-free paths; WavLM's buckets; gradients of a fine-tuned tiny encoder against finite differences;
 * checkpoint rejection (missing, unexpected, mis-shaped, duplicate weight-norm forms); config errors;
 * the frozen forward's memory; the SUPERB layer sum. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rng.h"
#include "safetensors.h"
#include "ssl.h"
#include "testutil.h"

#define SSL_DIR SERC_FIXTURES_DIR "/ssl"

static const char *const FIXTURES[] = {"w2v2_base", "w2v2_stable", "hubert_cls", "wavlm_base", "wavlm_stable",
                                       "distilhubert"};
#define N_FIXTURES ((int)(sizeof FIXTURES / sizeof FIXTURES[0]))

/* An f32 / i64 tensor of an open safetensors file as a Ctx tensor. */
static Tensor *load_tensor(Ctx *g, const SafetensorsFile *f, const char *name) {
    int i = safetensors_find(f, name);
    cr_assert(i >= 0, "expected.safetensors has no %s", name);
    Tensor *t = tensor_empty(g, safetensors_dtype(f, i), safetensors_ndim(f, i), safetensors_shape(f, i));
    memcpy(t->data, safetensors_data(f, i), safetensors_nbytes(f, i));
    return t;
}

typedef struct Loaded {
    SslConfig cfg;
    ParamStore *ps;
    SslModel *m;
} Loaded;

static void load_fixture(Loaded *l, const char *name, SslTrainMode mode) {
    char path[1024];
    SercErr err = {{0}};
    snprintf(path, sizeof path, "%s/%s/config.json", SSL_DIR, name);
    cr_assert_eq(ssl_config_load(&l->cfg, path, &err), 0, "%s", err.msg);
    l->ps = params_new();
    l->m = ssl_new(&l->cfg, l->ps, "enc.", mode);
    params_finalize(l->ps);
    snprintf(path, sizeof path, "%s/%s", SSL_DIR, name);
    cr_assert_eq(ssl_load_weights(l->m, path, &err), 0, "%s", err.msg);
}

static void unload(Loaded *l) {
    ssl_free(l->m);
    params_free(l->ps);
}

/* max |a - r| <= 1e-4 max(|r|, 0.1 max|ref|) elementwise: 1e-4 relative, with a floor at a tenth of the
 * tensor's scale for the entries near zero. */
static void expect_close(const Tensor *a, const Tensor *r, const char *what) {
    cr_assert(tensor_same_shape(a, r), "%s: shapes differ", what);
    const float *av = tensor_f32(a), *rv = tensor_f32(r);
    int64_t n = tensor_numel(r);
    double scale = 0, worst = 0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(rv[i]));
    for (int64_t i = 0; i < n; i++) {
        double tol = 1e-4 * fmax(fabs(rv[i]), 0.1 * scale), e = fabs((double)av[i] - rv[i]);
        worst = fmax(worst, e / tol);
        cr_assert(e <= tol, "%s: element %lld = %.8g, transformers %.8g (|diff| %.3g, tolerance %.3g)", what,
                  (long long)i, av[i], rv[i], e, tol);
    }
    cr_log_info("%s: worst |diff| / tolerance %.3f", what, worst);
}

/* Runs fixture `name` through the model in `mode` and compares every output with transformers'. */
static void check_parity(const char *name, SslTrainMode mode, int grad_enabled) {
    Loaded l;
    load_fixture(&l, name, mode);
    char path[1024];
    SercErr err = {{0}};
    snprintf(path, sizeof path, "%s/%s/expected.safetensors", SSL_DIR, name);
    SafetensorsFile *f = safetensors_open(path, &err);
    cr_assert(f, "%s", err.msg);
    Ctx *g = ctx_new(7);
    g->training = 0;
    g->grad_enabled = grad_enabled;
    Tensor *wav = load_tensor(g, f, "wav"), *lens = load_tensor(g, f, "wav_lengths");
    Tensor *olens = load_tensor(g, f, "out_lengths");
    SslOutput o;
    cr_assert_eq(ssl_forward(g, l.m, wav, lens, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(o.n_hidden, l.cfg.num_hidden_layers + 1);
    for (int64_t b = 0; b < wav->shape[0]; b++)
        cr_assert_eq(tensor_i32(o.lengths)[b], tensor_i64(olens)[b], "%s: item %lld frames", name, (long long)b);
    for (int i = 0; i < o.n_hidden; i++) {
        char key[32], what[96];
        snprintf(key, sizeof key, "hidden.%d", i);
        snprintf(what, sizeof what, "%s %s", name, key);
        expect_close(o.hidden[i], load_tensor(g, f, key), what);
    }
    expect_close(o.last_hidden, load_tensor(g, f, "last_hidden"), "last_hidden");
    safetensors_close(f);
    ctx_free(g);
    unload(&l);
}

ParameterizedTestParameters(ssl, parity_frozen) {
    static int idx[N_FIXTURES];
    for (int i = 0; i < N_FIXTURES; i++) idx[i] = i;
    return cr_make_param_array(int, idx, N_FIXTURES);
}
/* The tape-free path: every stage in the scratch arenas. */
ParameterizedTest(int *i, ssl, parity_frozen) { check_parity(FIXTURES[*i], SSL_FROZEN, 1); }

ParameterizedTestParameters(ssl, parity_taped) {
    static int idx[N_FIXTURES];
    for (int i = 0; i < N_FIXTURES; i++) idx[i] = i;
    return cr_make_param_array(int, idx, N_FIXTURES);
}
/* The taped path in eval mode: the whole model trainable and recorded. */
ParameterizedTest(int *i, ssl, parity_taped) { check_parity(FIXTURES[*i], SSL_FULL, 1); }

/* Fine-tune mode: the conv encoder without a tape, the rest recorded. */
Test(ssl, parity_finetune_wavlm) { check_parity("wavlm_stable", SSL_FINETUNE, 1); }

/* WavLM's bucket function against WavLMAttention._relative_positions_bucket on [-1599, 1599] with the
 * default 320 buckets and distance 800 (the log-spaced range and the cap included). */
Test(ssl, wavlm_buckets_match_transformers) {
    SercErr err = {{0}};
    SafetensorsFile *f = safetensors_open(SSL_DIR "/wavlm_buckets.safetensors", &err);
    cr_assert(f, "%s", err.msg);
    int i = safetensors_find(f, "buckets");
    const int64_t *b = safetensors_data(f, i);
    for (int64_t k = 0; k < safetensors_numel(f, i); k++)
        cr_assert_eq(ssl_wavlm_bucket(k - 1599, 320, 800), b[k], "relative position %lld", (long long)(k - 1599));
    safetensors_close(f);
}

Test(ssl, output_frames_and_receptive_field) {
    SslConfig c;
    SercErr err;
    const char *j = "{\"model_type\": \"wav2vec2\"}"; /* the defaults: 5 2 2 2 2 2 2 / 10 3 3 3 3 2 2 */
    cr_assert_eq(ssl_config_parse(&c, j, strlen(j), "cfg", &err), 0, "%s", err.msg);
    cr_assert_eq(ssl_receptive_field(&c), 400);
    cr_assert_eq(ssl_output_frames(&c, 399), 0);
    cr_assert_eq(ssl_output_frames(&c, 400), 1);
    cr_assert_eq(ssl_output_frames(&c, 16000), 49);
    cr_assert_eq(ssl_output_frames(&c, 160000), 499);
}

/* ---- checkpoint rejection ---- */

/* Copies fixture `name` into a temporary folder as one model.safetensors, with `drop` left out (NULL:
 * none), `add` added as an extra 1-element tensor (NULL: none), `reshape` stored with one element less
 * in its last dim (NULL: none), and `dup` added again under the legacy weight_g name. */
static void write_variant(char *dir, const char *name, const char *drop, const char *add, const char *reshape,
                          int dup_gain) {
    strcpy(dir, "/tmp/serc_ssl_XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    char src[1024], dst[1100];
    snprintf(src, sizeof src, "%s/%s/config.json", SSL_DIR, name);
    size_t n;
    char *cfg = test_read_file(src, &n);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    FILE *fo = fopen(dst, "wb");
    cr_assert(fo && fwrite(cfg, 1, n, fo) == n);
    fclose(fo);
    free(cfg);
    snprintf(src, sizeof src, "%s/%s/model.safetensors", SSL_DIR, name);
    SercErr err = {{0}};
    SafetensorsFile *f = safetensors_open(src, &err);
    cr_assert(f, "%s", err.msg);
    int cnt = safetensors_count(f);
    SafetensorsEntry *e = calloc((size_t)cnt + 2, sizeof *e);
    static const float one = 1.0f;
    int k = 0;
    for (int i = 0; i < cnt; i++) {
        const char *nm = safetensors_name(f, i);
        if (drop && strcmp(nm, drop) == 0) continue;
        e[k].name = nm;
        e[k].dtype = safetensors_dtype(f, i);
        e[k].ndim = safetensors_ndim(f, i);
        memcpy(e[k].shape, safetensors_shape(f, i), (size_t)e[k].ndim * sizeof(int64_t));
        e[k].data = safetensors_data(f, i);
        if (reshape && strcmp(nm, reshape) == 0) e[k].shape[e[k].ndim - 1]--;
        if (dup_gain && strstr(nm, "original0")) {
            e[k + 1] = e[k];
            e[k + 1].name = "encoder.pos_conv_embed.conv.weight_g";
            k++;
        }
        k++;
    }
    if (add) e[k++] = (SafetensorsEntry){.name = add, .dtype = SERC_F32, .ndim = 1, .shape = {1}, .data = &one};
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    cr_assert_eq(safetensors_write(dst, e, k, NULL, &err), 0, "%s", err.msg);
    free(e);
    safetensors_close(f);
}

static void remove_variant(const char *dir) {
    char p[1100];
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
}

/* BF16 storage (as many hub checkpoints are saved) loads, each value the f32 one rounded to bf16. */
Test(ssl, loads_bf16_checkpoint) {
    char dir[64] = "/tmp/serc_ssl_XXXXXX", dst[1100];
    cr_assert(mkdtemp(dir) != NULL);
    size_t n;
    char *cfg = test_read_file(SSL_DIR "/w2v2_stable/config.json", &n);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    FILE *fo = fopen(dst, "wb");
    cr_assert(fo && fwrite(cfg, 1, n, fo) == n);
    fclose(fo);
    free(cfg);
    SercErr err = {{0}};
    SafetensorsFile *f = safetensors_open(SSL_DIR "/w2v2_stable/model.safetensors", &err);
    cr_assert(f, "%s", err.msg);
    int cnt = safetensors_count(f);
    SafetensorsEntry *e = calloc((size_t)cnt, sizeof *e);
    uint16_t **bufs = calloc((size_t)cnt, sizeof *bufs);
    for (int i = 0; i < cnt; i++) {
        int64_t m = safetensors_numel(f, i);
        const float *src = safetensors_data(f, i);
        bufs[i] = malloc((size_t)(m > 0 ? m : 1) * 2);
        for (int64_t k = 0; k < m; k++) bufs[i][k] = serc_f32_to_bf16(src[k]);
        e[i] = (SafetensorsEntry){.name = safetensors_name(f, i), .dtype = SERC_BF16, .ndim = safetensors_ndim(f, i),
                                  .data = bufs[i]};
        memcpy(e[i].shape, safetensors_shape(f, i), (size_t)e[i].ndim * sizeof(int64_t));
    }
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    cr_assert_eq(safetensors_write(dst, e, cnt, NULL, &err), 0, "%s", err.msg);
    Loaded l;
    cr_assert_eq(ssl_config_load(&l.cfg, SSL_DIR "/w2v2_stable/config.json", &err), 0);
    l.ps = params_new();
    l.m = ssl_new(&l.cfg, l.ps, "", SSL_FROZEN);
    params_finalize(l.ps);
    cr_assert_eq(ssl_load_weights(l.m, dir, &err), 0, "%s", err.msg);
    for (int i = 0; i < cnt; i++) {
        Tensor *t = params_get(l.ps, safetensors_name(f, i));
        cr_assert(t, "%s not in the model", safetensors_name(f, i));
        for (int64_t k = 0; k < tensor_numel(t); k++)
            cr_assert_eq(tensor_f32(t)[k], serc_bf16_to_f32(bufs[i][k]), "%s[%lld]", safetensors_name(f, i), (long long)k);
        free(bufs[i]);
    }
    free(bufs);
    free(e);
    safetensors_close(f);
    unload(&l);
    remove_variant(dir);
}

/* Loading the variant fails, and the message contains every string of `want`. */
static void expect_rejected(const char *dir, const char *const *want) {
    char path[1100];
    SslConfig c;
    SercErr err = {{0}};
    snprintf(path, sizeof path, "%s/config.json", dir);
    cr_assert_eq(ssl_config_load(&c, path, &err), 0, "%s", err.msg);
    ParamStore *ps = params_new();
    SslModel *m = ssl_new(&c, ps, "", SSL_FROZEN);
    params_finalize(ps);
    cr_assert_eq(ssl_load_weights(m, dir, &err), -1, "a bad checkpoint was accepted");
    for (; *want; want++) cr_assert(strstr(err.msg, *want), "message lacks \"%s\": %s", *want, err.msg);
    cr_log_info("%s", err.msg);
    ssl_free(m);
    params_free(ps);
}

Test(ssl, rejects_missing_tensor) {
    char dir[64];
    write_variant(dir, "wavlm_base", "encoder.layers.1.attention.gru_rel_pos_const", NULL, NULL, 0);
    expect_rejected(dir, (const char *const[]){"1 missing", "encoder.layers.1.attention.gru_rel_pos_const", NULL});
    remove_variant(dir);
}

Test(ssl, rejects_unexpected_tensor) {
    char dir[64];
    write_variant(dir, "w2v2_stable", NULL, "encoder.layers.7.attention.q_proj.weight", NULL, 0);
    expect_rejected(dir, (const char *const[]){"1 unexpected", "encoder.layers.7.attention.q_proj.weight", NULL});
    remove_variant(dir);
}

Test(ssl, rejects_misshaped_tensor) {
    char dir[64];
    write_variant(dir, "w2v2_stable", NULL, NULL, "encoder.layers.0.feed_forward.intermediate_dense.weight", 0);
    expect_rejected(dir, (const char *const[]){"1 mis-shaped", "encoder.layers.0.feed_forward.intermediate_dense.weight",
                                               "[48, 31]", "[48, 32]", NULL});
    remove_variant(dir);
}

/* All three faults at once, in a prefixed (sequence-classification) checkpoint: all named with the prefix. */
Test(ssl, rejects_all_faults_listed) {
    char dir[64];
    write_variant(dir, "hubert_cls", "hubert.encoder.layer_norm.bias", "hubert.encoder.extra", "hubert.masked_spec_embed",
                  0);
    expect_rejected(dir, (const char *const[]){"hubert.encoder.layer_norm.bias", "hubert.encoder.extra",
                                               "hubert.masked_spec_embed", "1 missing", "1 unexpected", "1 mis-shaped",
                                               NULL});
    remove_variant(dir);
}

/* Both weight-norm storage forms of the same gain in one file: the second is rejected, not silently
 * preferred. */
Test(ssl, rejects_both_weight_norm_forms) {
    char dir[64];
    write_variant(dir, "wavlm_stable", NULL, NULL, NULL, 1);
    expect_rejected(dir, (const char *const[]){"encoder.pos_conv_embed.conv", "second copy", NULL});
    remove_variant(dir);
}

Test(ssl, rejects_folder_without_safetensors) {
    SslConfig c;
    SercErr err = {{0}};
    cr_assert_eq(ssl_config_load(&c, SSL_DIR "/w2v2_base/config.json", &err), 0);
    ParamStore *ps = params_new();
    SslModel *m = ssl_new(&c, ps, "", SSL_FROZEN);
    params_finalize(ps);
    cr_assert_eq(ssl_load_weights(m, SSL_DIR, &err), -1);
    cr_assert(strstr(err.msg, "no model.safetensors or model.safetensors.index.json"), "%s", err.msg);
    ssl_free(m);
    params_free(ps);
}

/* The legacy (weight_g / weight_v, w2v2_base) and the parametrizations (the others) forms both load and
 * match; here the two forms of one checkpoint give bit-identical weights. */
Test(ssl, weight_norm_storage_forms_agree) {
    char dir[64];
    /* w2v2_base is stored legacy; rewrite it in the parametrizations form */
    strcpy(dir, "/tmp/serc_ssl_XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    char src[1024], dst[1100];
    size_t n;
    char *cfg = test_read_file(SSL_DIR "/w2v2_base/config.json", &n);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    FILE *fo = fopen(dst, "wb");
    cr_assert(fo && fwrite(cfg, 1, n, fo) == n);
    fclose(fo);
    free(cfg);
    snprintf(src, sizeof src, "%s/w2v2_base/model.safetensors", SSL_DIR);
    SercErr err = {{0}};
    SafetensorsFile *f = safetensors_open(src, &err);
    cr_assert(f);
    cr_assert(safetensors_find(f, "encoder.pos_conv_embed.conv.weight_g") >= 0, "w2v2_base is not in the legacy form");
    int cnt = safetensors_count(f);
    SafetensorsEntry *e = calloc((size_t)cnt, sizeof *e);
    for (int i = 0; i < cnt; i++) {
        const char *nm = safetensors_name(f, i);
        e[i].name = strcmp(nm, "encoder.pos_conv_embed.conv.weight_g") == 0
                        ? "encoder.pos_conv_embed.conv.parametrizations.weight.original0"
                    : strcmp(nm, "encoder.pos_conv_embed.conv.weight_v") == 0
                        ? "encoder.pos_conv_embed.conv.parametrizations.weight.original1"
                        : nm;
        e[i].dtype = safetensors_dtype(f, i);
        e[i].ndim = safetensors_ndim(f, i);
        memcpy(e[i].shape, safetensors_shape(f, i), (size_t)e[i].ndim * sizeof(int64_t));
        e[i].data = safetensors_data(f, i);
    }
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    cr_assert_eq(safetensors_write(dst, e, cnt, NULL, &err), 0, "%s", err.msg);
    free(e);
    safetensors_close(f);
    Loaded a, b;
    load_fixture(&a, "w2v2_base", SSL_FROZEN);
    b.ps = params_new();
    cr_assert_eq(ssl_config_load(&b.cfg, SSL_DIR "/w2v2_base/config.json", &err), 0);
    b.m = ssl_new(&b.cfg, b.ps, "enc.", SSL_FROZEN);
    params_finalize(b.ps);
    cr_assert_eq(ssl_load_weights(b.m, dir, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(tensor_f32(a.m->pos_g), tensor_f32(b.m->pos_g), tensor_nbytes(a.m->pos_g)), 0);
    cr_assert_eq(memcmp(tensor_f32(a.m->pos_v), tensor_f32(b.m->pos_v), tensor_nbytes(a.m->pos_v)), 0);
    unload(&a);
    unload(&b);
    remove_variant(dir);
}

/* ---- config.json errors ---- */

typedef struct BadConfig {
    const char *json, *want;
} BadConfig;

static const BadConfig BAD_CONFIGS[] = {
    {"{\"model_type\": \"wav2vec2\", \"add_adapter\": true}", "add_adapter"},
    {"{\"model_type\": \"wav2vec2\", \"adapter_attn_dim\": 16}", "adapter_attn_dim"},
    {"{\"model_type\": \"hubert\", \"conv_pos_batch_norm\": true}", "conv_pos_batch_norm"},
    {"{\"model_type\": \"wav2vec2\", \"feat_extract_norm\": \"batch\"}", "feat_extract_norm"},
    {"{\"model_type\": \"wav2vec2\", \"hidden_act\": \"quick_gelu\"}", "hidden_act"},
    {"{\"model_type\": \"wav2vec2-conformer\"}", "model_type"},
    {"{\"hidden_size\": 768}", "model_type"},
    {"{\"model_type\": \"wavlm\", \"conv_dim\": [512, 512], \"conv_kernel\": [10, 3, 3]}", "conv_kernel"},
    {"{\"model_type\": \"wavlm\", \"num_feat_extract_layers\": 5}", "num_feat_extract_layers"},
    {"{\"model_type\": \"wavlm\", \"hidden_size\": 100, \"num_attention_heads\": 12}", "num_attention_heads"},
    {"{\"model_type\": \"wavlm\", \"layerdrop\": \"0.1\"}", "layerdrop"},
    {"{\"model_type\": \"wavlm\", \"conv_bias\": 1}", "conv_bias"},
    {"{\"model_type\": \"wavlm\", \"conv_stride\": [5, 0, 2, 2, 2, 2, 2]}", "conv_stride"},
    {"[1, 2]", "not a JSON object"},
    {"{\"model_type\": \"wavlm\",}", "cfg"},
};

ParameterizedTestParameters(ssl, bad_config) {
    static int idx[sizeof BAD_CONFIGS / sizeof BAD_CONFIGS[0]];
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) idx[i] = (int)i;
    return cr_make_param_array(int, idx, sizeof idx / sizeof idx[0]);
}
ParameterizedTest(int *i, ssl, bad_config) {
    const BadConfig *b = &BAD_CONFIGS[*i];
    SslConfig c;
    SercErr err = {{0}};
    cr_assert_eq(ssl_config_parse(&c, b->json, strlen(b->json), "cfg", &err), -1, "accepted %s", b->json);
    cr_assert(strstr(err.msg, b->want), "%s: message lacks \"%s\": %s", b->json, b->want, err.msg);
}

/* ---- forward input errors ---- */

Test(ssl, forward_rejects_short_input_and_bad_lengths) {
    Loaded l;
    load_fixture(&l, "distilhubert", SSL_FROZEN);
    Ctx *g = ctx_new(1);
    SercErr err = {{0}};
    SslOutput o;
    int64_t rf = ssl_receptive_field(&l.cfg);
    Tensor *wav = tensor_zeros(g, SERC_F32, SHAPE(2, rf - 1));
    cr_assert_eq(ssl_forward(g, l.m, wav, NULL, &o, &err), -1);
    cr_assert(strstr(err.msg, "receptive field"), "%s", err.msg);
    wav = tensor_zeros(g, SERC_F32, SHAPE(2, 2 * rf));
    Tensor *lens = tensor_empty(g, SERC_I32, SHAPE(2));
    tensor_i32(lens)[0] = (int32_t)(2 * rf + 1);
    tensor_i32(lens)[1] = 5;
    cr_assert_eq(ssl_forward(g, l.m, wav, lens, &o, &err), -1);
    cr_assert(strstr(err.msg, "outside"), "%s", err.msg);
    /* a length under the receptive field gives 0 valid frames, not an error */
    tensor_i32(lens)[0] = (int32_t)(2 * rf);
    cr_assert_eq(ssl_forward(g, l.m, wav, lens, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(tensor_i32(o.lengths)[1], 0);
    ctx_free(g);
    unload(&l);
}

/* ---- gradients ---- */

/* loss = sum_l sum(hidden[l] * R_l) / numel + sum(last * R) / numel, in double. */
static double loss_value(const SslOutput *o, const float *R) {
    double s = 0;
    for (int l = 0; l <= o->n_hidden; l++) {
        const Tensor *h = l < o->n_hidden ? o->hidden[l] : o->last_hidden;
        const float *x = tensor_f32(h);
        int64_t n = tensor_numel(h);
        for (int64_t i = 0; i < n; i++) s += (double)x[i] * R[(l * 7919 + i) % 4096];
    }
    return s / (double)tensor_numel(o->hidden[0]);
}

static Tensor *loss_tensor(Ctx *g, const SslOutput *o, const float *R) {
    Tensor *sum = NULL;
    for (int l = 0; l <= o->n_hidden; l++) {
        Tensor *h = l < o->n_hidden ? o->hidden[l] : o->last_hidden;
        Tensor *r = tensor_empty(g, SERC_F32, h->ndim, h->shape);
        for (int64_t i = 0; i < tensor_numel(h); i++) tensor_f32(r)[i] = R[(l * 7919 + i) % 4096];
        Tensor *t = op_sum(g, op_mul(g, h, r));
        sum = sum ? op_add(g, sum, t) : t;
    }
    return op_scale(g, sum, 1.0f / (float)tensor_numel(o->hidden[0]));
}

/* One forward from the same Philox counter (so dropout, layerdrop and masks repeat), returning the loss. */
static double forward_loss(Ctx *g, SslModel *m, Tensor *wav, Tensor *lens, const float *R, int backward) {
    ctx_step_begin(g);
    g->rng_offset = 0;
    SslOutput o;
    SercErr err = {{0}};
    cr_assert_eq(ssl_forward(g, m, wav, lens, &o, &err), 0, "%s", err.msg);
    double v = loss_value(&o, R);
    if (backward) serc_backward(g, loss_tensor(g, &o, R), NULL);
    return v;
}

typedef struct GradCase {
    const char *fixture;
    SslTrainMode mode;
    int training;
} GradCase;

static const GradCase GRAD_CASES[] = {
    {"wavlm_base", SSL_FULL, 0},      /* every tensor, the conv encoder's GroupNorm included */
    {"wavlm_stable", SSL_FINETUNE, 1}, /* training: dropout, layerdrop and SpecAugment masks on */
    {"w2v2_base", SSL_FINETUNE, 1},
    {"hubert_cls", SSL_FULL, 0},
};

/* The analytic gradient of a few entries of every trainable tensor against central differences of the
 * f32 forward (step 1e-2 relative, loss in double); conv tensors of a fine-tune model get none. */
static void check_grads(const GradCase *gc) {
    Loaded l;
    load_fixture(&l, gc->fixture, gc->mode);
    SslConfig *c = &l.m->cfg;
    if (gc->training) { /* make the training-only paths certain to fire on this short batch */
        c->layerdrop = 0.3f;
        c->mask_time_prob = 0.3f;
        c->mask_time_length = 3;
        c->mask_feature_prob = 0.2f;
        c->mask_feature_length = 4;
        c->hidden_dropout = c->attention_dropout = c->activation_dropout = 0.1f;
    }
    char path[1024];
    SercErr err = {{0}};
    snprintf(path, sizeof path, "%s/%s/expected.safetensors", SSL_DIR, gc->fixture);
    SafetensorsFile *f = safetensors_open(path, &err);
    cr_assert(f, "%s", err.msg);
    Ctx *g = ctx_new(3);
    g->training = gc->training;
    Ctx *keep = ctx_new(1); /* inputs outlive g's step resets */
    Tensor *wav = load_tensor(keep, f, "wav"), *lens = load_tensor(keep, f, "wav_lengths");
    safetensors_close(f);
    /* a shorter batch keeps the finite differences quick: the first 2400 samples */
    Tensor *w2 = tensor_empty(keep, SERC_F32, SHAPE(3, 2400));
    for (int b = 0; b < 3; b++) memcpy(tensor_f32(w2) + b * 2400, tensor_f32(wav) + b * wav->shape[1], 2400 * sizeof(float));
    int64_t *lv = tensor_i64(lens);
    for (int b = 0; b < 3; b++) lv[b] = lv[b] < 2400 ? lv[b] : 2400;
    float R[4096];
    serc_rng_fill_uniform(R, 4096, 99, 0, -1.0f, 1.0f);
    params_zero_grad(l.ps);
    forward_loss(g, l.m, w2, lens, R, 1);
    int checked = 0;
    for (int k = 0; k < l.m->n_tensors; k++) {
        Tensor *t = l.m->tensors[k];
        const char *nm = l.m->names[k];
        int conv = strncmp(nm, "feature_extractor.", 18) == 0;
        if (gc->mode == SSL_FINETUNE && conv) {
            cr_assert(!t->requires_grad, "%s trains in fine-tune mode", nm);
            continue;
        }
        if (strcmp(nm, "masked_spec_embed") == 0 && !gc->training) continue; /* used only while training */
        int64_t n = tensor_numel(t);
        for (int s = 0; s < 2; s++) {
            int64_t i = (s * 7 + k * 13) % n;
            float *x = tensor_f32(t), x0 = x[i];
            float h = 1e-2f * fmaxf(fabsf(x0), 0.1f);
            x[i] = x0 + h;
            double lp = forward_loss(g, l.m, w2, lens, R, 0);
            x[i] = x0 - h;
            double lm = forward_loss(g, l.m, w2, lens, R, 0);
            x[i] = x0;
            double num = (lp - lm) / (2.0 * (double)h), ana = tensor_f32(t->grad)[i];
            cr_assert(fabs(ana - num) <= 2e-2 * fmax(fabs(num), 1e-2) + 2e-4,
                      "%s: %s[%lld] analytic %.6g, finite difference %.6g", gc->fixture, nm, (long long)i, ana, num);
            checked++;
        }
    }
    cr_log_info("%s: %d gradient entries checked", gc->fixture, checked);
    ctx_free(g);
    ctx_free(keep);
    unload(&l);
}

ParameterizedTestParameters(ssl, gradients) {
    static int idx[sizeof GRAD_CASES / sizeof GRAD_CASES[0]];
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) idx[i] = (int)i;
    return cr_make_param_array(int, idx, sizeof idx / sizeof idx[0]);
}
ParameterizedTest(int *i, ssl, gradients, .timeout = 300) { check_grads(&GRAD_CASES[*i]); }

/* ---- memory of the frozen forward ---- */

/* A random WavLM-like model of `layers` layers, frozen; returns g's arena peak and the scratch peak of a
 * forward of 2 x 0.5 s. */
static void frozen_peaks(int layers, size_t *g_peak, size_t *scratch_peak, int64_t *hidden_bytes) {
    char j[512];
    snprintf(j, sizeof j,
             "{\"model_type\": \"wavlm\", \"hidden_size\": 64, \"num_hidden_layers\": %d, \"num_attention_heads\": 4, "
             "\"intermediate_size\": 128, \"conv_dim\": [32, 32, 32], \"conv_kernel\": [10, 3, 3], "
             "\"conv_stride\": [5, 2, 2], \"num_conv_pos_embeddings\": 16, \"num_conv_pos_embedding_groups\": 4}",
             layers);
    SslConfig c;
    SercErr err = {{0}};
    cr_assert_eq(ssl_config_parse(&c, j, strlen(j), "cfg", &err), 0, "%s", err.msg);
    ParamStore *ps = params_new();
    SslModel *m = ssl_new(&c, ps, "", SSL_FROZEN);
    params_finalize(ps);
    InitRng r = {5, 0};
    ssl_init_random(m, &r);
    Ctx *g = ctx_new(1);
    Tensor *wav = tensor_empty(g, SERC_F32, SHAPE(2, 8000));
    serc_rng_fill_normal(tensor_f32(wav), 16000, 1, 0, 0.0f, 0.1f);
    size_t before = g->arena.used;
    SslOutput o;
    cr_assert_eq(ssl_forward(g, m, wav, NULL, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(g->tape_len, 0, "a frozen forward recorded %lld tape nodes", (long long)g->tape_len);
    *g_peak = g->arena.peak - before;
    *scratch_peak = ssl_scratch_peak(m);
    *hidden_bytes = (int64_t)tensor_nbytes(o.hidden[0]);
    ctx_free(g);
    ssl_free(m);
    params_free(ps);
}

/* Frozen: 8 layers need exactly the scratch of 2 (one layer's activations at a time), and the caller's
 * arena grows by the 6 extra hidden states only. */
Test(ssl, frozen_forward_keeps_only_hidden_states) {
    size_t g2, s2, g8, s8;
    int64_t hb2, hb8;
    frozen_peaks(2, &g2, &s2, &hb2);
    frozen_peaks(8, &g8, &s8, &hb8);
    cr_assert_eq(s8, s2, "scratch peak %zu with 8 layers, %zu with 2", s8, s2);
    int64_t per = (hb2 + 63) / 64 * 64 + 64 * 2; /* data + the arena tensor header, 64-byte aligned */
    cr_assert_leq((int64_t)(g8 - g2), 6 * per + 256, /* + the 6 more hidden-state pointers */ "caller arena grew %zu bytes for 6 hidden states of %lld", g8 - g2,
                  (long long)hb2);
    cr_assert_geq((int64_t)(g8 - g2), 6 * hb2);
}

/* ---- SUPERB weighted sum ---- */

Test(ssl, layer_sum_weights_and_gradient) {
    ParamStore *ps = params_new();
    SslLayerSum s;
    ssl_layer_sum_register(&s, ps, "layer_sum.weights", 3, 0);
    params_finalize(ps);
    ssl_layer_sum_init(&s);
    tensor_f32(s.weights)[1] = 1.0f;
    Ctx *g = ctx_new(1);
    Tensor *h[3];
    for (int l = 0; l < 3; l++) {
        h[l] = tensor_empty(g, SERC_F32, SHAPE(2, 3, 4));
        for (int i = 0; i < 24; i++) tensor_f32(h[l])[i] = (float)(l + 1) * 0.1f * (float)(i - 12);
    }
    Tensor *y = ssl_layer_sum_forward(g, &s, h, 3);
    double e = exp(1.0), z = 2.0 + e, w[3] = {1 / z, e / z, 1 / z};
    for (int i = 0; i < 24; i++) {
        double want = 0;
        for (int l = 0; l < 3; l++) want += w[l] * tensor_f32(h[l])[i];
        cr_assert_float_eq(tensor_f32(y)[i], want, 1e-5);
    }
    /* d sum(y) / d w_l = p_l (S_l - sum_k p_k S_k), S_l = sum(h_l) */
    serc_backward(g, op_sum(g, y), NULL);
    double S[3], mix = 0;
    for (int l = 0; l < 3; l++) {
        S[l] = 0;
        for (int i = 0; i < 24; i++) S[l] += tensor_f32(h[l])[i];
        mix += w[l] * S[l];
    }
    for (int l = 0; l < 3; l++) cr_assert_float_eq(tensor_f32(s.weights->grad)[l], w[l] * (S[l] - mix), 1e-4);
    ctx_free(g);
    params_free(ps);
}
