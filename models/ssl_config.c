/* config.json of a wav2vec 2.0 / HuBERT / WavLM checkpoint -> SslConfig, with transformers' defaults
 * for absent keys, and the small pure functions of the configuration (frame counts, WavLM buckets). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "ssl.h"

/* ---- typed lookups with defaults; a present key of the wrong type is an error naming it ---- */

static int get_num(const JsonValue *o, const char *key, double def, double *out, const char *label, SercErr *err) {
    const JsonValue *v = json_get(o, key);
    if (!v || json_type(v) == JSON_NULL) {
        *out = def;
        return 0;
    }
    if (json_type(v) != JSON_NUMBER)
        return serc_fail(err, "%s: \"%s\" is a %s, expected a number", label, key, json_type_name(json_type(v)));
    *out = json_number(v);
    return 0;
}

static int get_int(const JsonValue *o, const char *key, int def, int lo, int *out, const char *label, SercErr *err) {
    const JsonValue *v = json_get(o, key);
    if (!v || json_type(v) == JSON_NULL) {
        *out = def;
        return 0;
    }
    if (!json_is_int(v) || json_int(v) < lo || json_int(v) > 1000000000)
        return serc_fail(err, "%s: \"%s\" must be an integer >= %d", label, key, lo);
    *out = (int)json_int(v);
    return 0;
}

static int get_float(const JsonValue *o, const char *key, double def, double lo, double hi, float *out,
                     const char *label, SercErr *err) {
    double d = def;
    if (get_num(o, key, def, &d, label, err)) return -1;
    if (!(d >= lo && d <= hi)) return serc_fail(err, "%s: \"%s\" = %g outside [%g, %g]", label, key, d, lo, hi);
    *out = (float)d;
    return 0;
}

static int get_bool(const JsonValue *o, const char *key, int def, int *out, const char *label, SercErr *err) {
    const JsonValue *v = json_get(o, key);
    if (!v || json_type(v) == JSON_NULL) {
        *out = def;
        return 0;
    }
    if (json_type(v) != JSON_BOOL)
        return serc_fail(err, "%s: \"%s\" is a %s, expected true or false", label, key, json_type_name(json_type(v)));
    *out = json_bool(v);
    return 0;
}

static const char *get_str(const JsonValue *o, const char *key, const char *def, const char *label, SercErr *err,
                           int *failed) {
    const JsonValue *v = json_get(o, key);
    if (!v || json_type(v) == JSON_NULL) return def;
    if (json_type(v) != JSON_STRING) {
        *failed = 1;
        serc_fail(err, "%s: \"%s\" is a %s, expected a string", label, key, json_type_name(json_type(v)));
        return NULL;
    }
    return json_string(v);
}

/* An integer list (conv_dim, ...); returns its length or -1. */
static int get_int_list(const JsonValue *o, const char *key, const int *def, int ndef, int *out, const char *label,
                        SercErr *err) {
    const JsonValue *v = json_get(o, key);
    if (!v || json_type(v) == JSON_NULL) {
        memcpy(out, def, (size_t)ndef * sizeof *out);
        return ndef;
    }
    if (json_type(v) != JSON_ARRAY) return serc_fail(err, "%s: \"%s\" must be a list of integers", label, key);
    size_t n = json_len(v);
    if (n < 1 || n > SSL_MAX_CONV)
        return serc_fail(err, "%s: \"%s\" has %zu entries (SERC supports 1 to %d)", label, key, n, SSL_MAX_CONV);
    for (size_t i = 0; i < n; i++) {
        const JsonValue *e = json_at(v, i);
        if (!json_is_int(e) || json_int(e) < 1 || json_int(e) > 1000000)
            return serc_fail(err, "%s: \"%s\"[%zu] must be a positive integer", label, key, i);
        out[i] = (int)json_int(e);
    }
    return (int)n;
}

static int parse_act(const char *s, SslAct *a) {
    if (strcmp(s, "gelu") == 0) *a = SSL_ACT_GELU;
    else if (strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_pytorch_tanh") == 0) *a = SSL_ACT_GELU_TANH;
    else if (strcmp(s, "relu") == 0) *a = SSL_ACT_RELU;
    else if (strcmp(s, "silu") == 0 || strcmp(s, "swish") == 0) *a = SSL_ACT_SILU;
    else return -1;
    return 0;
}

/* Options that change the base model's computation and that SERC does not build: true / non-null is an
 * error. (Head-only options: use_weighted_layer_sum, classifier_proj_size, tdnn_*, xvector_*, ctc_*,
 * quantizer sizes, final_dropout, vocab_size are not read: those modules are not part of the encoder.) */
static int check_unsupported(const JsonValue *o, const char *label, SercErr *err) {
    static const char *const flags[] = {"add_adapter", "conv_pos_batch_norm", "use_intermediate_ffn_before_adapter"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int on = 0;
        if (get_bool(o, flags[i], 0, &on, label, err)) return -1;
        if (on) return serc_fail(err, "%s: \"%s\": true is not supported by SERC's speech encoder", label, flags[i]);
    }
    const JsonValue *v = json_get(o, "adapter_attn_dim");
    if (v && json_type(v) != JSON_NULL)
        return serc_fail(err, "%s: \"adapter_attn_dim\" (attention adapters) is not supported by SERC's speech encoder",
                         label);
    v = json_get(o, "position_embeddings_type");
    if (v && !(json_type(v) == JSON_STRING && strcmp(json_string(v), "conv") == 0) && json_type(v) != JSON_NULL)
        return serc_fail(err, "%s: \"position_embeddings_type\" other than convolutional is not supported", label);
    return 0;
}

int ssl_config_parse(SslConfig *c, const char *json, size_t len, const char *label, SercErr *err) {
    memset(c, 0, sizeof *c);
    JsonValue *root = json_parse(json, len, err);
    if (!root) return serc_fail_prefix(err, "%s", label);
    int rc = -1, failed = 0;
    if (json_type(root) != JSON_OBJECT) {
        serc_fail(err, "%s: not a JSON object", label);
        goto done;
    }
    const char *mt = get_str(root, "model_type", NULL, label, err, &failed);
    if (failed) goto done;
    if (!mt) {
        serc_fail(err, "%s: no \"model_type\" (expected \"wav2vec2\", \"hubert\" or \"wavlm\")", label);
        goto done;
    }
    if (strcmp(mt, "wav2vec2") == 0) c->arch = SSL_WAV2VEC2;
    else if (strcmp(mt, "hubert") == 0) c->arch = SSL_HUBERT;
    else if (strcmp(mt, "wavlm") == 0) c->arch = SSL_WAVLM;
    else {
        serc_fail(err, "%s: \"model_type\" \"%s\" is not a speech encoder SERC builds (wav2vec2, hubert, wavlm)", label,
                  mt);
        goto done;
    }
    if (check_unsupported(root, label, err)) goto done;
    static const int def_dim[7] = {512, 512, 512, 512, 512, 512, 512}, def_stride[7] = {5, 2, 2, 2, 2, 2, 2},
                     def_kernel[7] = {10, 3, 3, 3, 3, 2, 2};
    int nd = get_int_list(root, "conv_dim", def_dim, 7, c->conv_dim, label, err);
    int ns = nd < 0 ? -1 : get_int_list(root, "conv_stride", def_stride, 7, c->conv_stride, label, err);
    int nk = ns < 0 ? -1 : get_int_list(root, "conv_kernel", def_kernel, 7, c->conv_kernel, label, err);
    if (nk < 0) goto done;
    if (nd != ns || nd != nk) {
        serc_fail(err, "%s: conv_dim, conv_stride and conv_kernel have %d, %d and %d entries (must be equal)", label, nd,
                  ns, nk);
        goto done;
    }
    c->num_conv_layers = nd;
    int nfe = nd;
    if (get_int(root, "num_feat_extract_layers", nd, 1, &nfe, label, err)) goto done;
    if (nfe != nd) {
        serc_fail(err, "%s: \"num_feat_extract_layers\" = %d but conv_dim has %d entries", label, nfe, nd);
        goto done;
    }
    if (get_int(root, "hidden_size", 768, 1, &c->hidden_size, label, err) ||
        get_int(root, "num_hidden_layers", 12, 0, &c->num_hidden_layers, label, err) ||
        get_int(root, "num_attention_heads", 12, 1, &c->num_attention_heads, label, err) ||
        get_int(root, "intermediate_size", 3072, 1, &c->intermediate_size, label, err) ||
        get_int(root, "num_conv_pos_embeddings", 128, 1, &c->num_conv_pos_embeddings, label, err) ||
        get_int(root, "num_conv_pos_embedding_groups", 16, 1, &c->num_conv_pos_embedding_groups, label, err) ||
        get_int(root, "mask_time_length", 10, 1, &c->mask_time_length, label, err) ||
        get_int(root, "mask_time_min_masks", 2, 0, &c->mask_time_min_masks, label, err) ||
        get_int(root, "mask_feature_length", 10, 1, &c->mask_feature_length, label, err) ||
        get_int(root, "mask_feature_min_masks", 0, 0, &c->mask_feature_min_masks, label, err) ||
        get_int(root, "num_buckets", 320, 4, &c->num_buckets, label, err) ||
        get_int(root, "max_bucket_distance", 800, 1, &c->max_bucket_distance, label, err))
        goto done;
    if (get_bool(root, "conv_bias", 0, &c->conv_bias, label, err) ||
        get_bool(root, "do_stable_layer_norm", 0, &c->do_stable_layer_norm, label, err) ||
        get_bool(root, "apply_spec_augment", 1, &c->apply_spec_augment, label, err) ||
        get_bool(root, "feat_proj_layer_norm", 1, &c->feat_proj_layer_norm, label, err))
        goto done;
    if (c->arch != SSL_HUBERT) c->feat_proj_layer_norm = 1; /* only HubertFeatureProjection reads the option */
    if (get_float(root, "layer_norm_eps", 1e-5, 0.0, 1.0, &c->layer_norm_eps, label, err) ||
        get_float(root, "hidden_dropout", 0.1, 0.0, 0.999, &c->hidden_dropout, label, err) ||
        get_float(root, "attention_dropout", 0.1, 0.0, 0.999, &c->attention_dropout, label, err) ||
        get_float(root, "activation_dropout", 0.1, 0.0, 0.999, &c->activation_dropout, label, err) ||
        get_float(root, "feat_proj_dropout", 0.0, 0.0, 0.999, &c->feat_proj_dropout, label, err) ||
        get_float(root, "layerdrop", 0.1, 0.0, 1.0, &c->layerdrop, label, err) ||
        get_float(root, "mask_time_prob", 0.05, 0.0, 1.0, &c->mask_time_prob, label, err) ||
        get_float(root, "mask_feature_prob", 0.0, 0.0, 1.0, &c->mask_feature_prob, label, err))
        goto done;
    const char *norm = get_str(root, "feat_extract_norm", "group", label, err, &failed);
    const char *act = failed ? NULL : get_str(root, "hidden_act", "gelu", label, err, &failed);
    const char *fact = failed ? NULL : get_str(root, "feat_extract_activation", "gelu", label, err, &failed);
    if (failed) goto done;
    if (strcmp(norm, "group") == 0) c->feat_extract_norm_layer = 0;
    else if (strcmp(norm, "layer") == 0) c->feat_extract_norm_layer = 1;
    else {
        serc_fail(err, "%s: \"feat_extract_norm\" \"%s\" is not \"group\" or \"layer\"", label, norm);
        goto done;
    }
    if (parse_act(act, &c->hidden_act)) {
        serc_fail(err, "%s: \"hidden_act\" \"%s\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu)",
                  label, act);
        goto done;
    }
    if (parse_act(fact, &c->feat_extract_activation)) {
        serc_fail(err, "%s: \"feat_extract_activation\" \"%s\" is not supported (gelu, gelu_new, relu, silu)", label,
                  fact);
        goto done;
    }
    if (c->hidden_size % c->num_attention_heads != 0) {
        serc_fail(err, "%s: hidden_size %d is not divisible by num_attention_heads %d", label, c->hidden_size,
                  c->num_attention_heads);
        goto done;
    }
    if (c->hidden_size % c->num_conv_pos_embedding_groups != 0) {
        serc_fail(err, "%s: hidden_size %d is not divisible by num_conv_pos_embedding_groups %d", label,
                  c->hidden_size, c->num_conv_pos_embedding_groups);
        goto done;
    }
    rc = 0;
done:
    json_free(root);
    return rc;
}

int ssl_config_load(SslConfig *c, const char *path, SercErr *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return serc_fail(err, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 16384;
            if (cap > ((size_t)64 << 20)) {
                fclose(f);
                free(buf);
                return serc_fail(err, "%s: larger than 64 MiB, not a config.json", path);
            }
            buf = serc_realloc(buf, cap);
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return serc_fail(err, "%s: read error", path);
    }
    int rc = ssl_config_parse(c, buf, len, path, err);
    free(buf);
    return rc;
}

int64_t ssl_output_frames(const SslConfig *c, int64_t samples) {
    int64_t L = samples;
    for (int i = 0; i < c->num_conv_layers; i++) {
        if (L < c->conv_kernel[i]) return 0;
        L = (L - c->conv_kernel[i]) / c->conv_stride[i] + 1;
    }
    return L;
}

int64_t ssl_receptive_field(const SslConfig *c) {
    int64_t r = 1;
    for (int i = c->num_conv_layers - 1; i >= 0; i--) r = (r - 1) * c->conv_stride[i] + c->conv_kernel[i];
    return r;
}

/* WavLM's bucket (WavLMAttention._relative_positions_bucket), in float32 as torch computes it so that the
 * truncation lands in the same bucket: half the buckets for rel > 0; |rel| < nb / 2 exact; beyond,
 * nb/2 + log(|rel| / (nb/2)) / log(max_distance / (nb/2)) (nb - nb/2), capped at nb - 1 (nb = buckets / 2). */
int ssl_wavlm_bucket(int64_t rel, int num_buckets, int max_distance) {
    const int nb = num_buckets / 2, me = nb / 2;
    int ret = rel > 0 ? nb : 0;
    int64_t n = rel < 0 ? -rel : rel;
    if (n < me) return ret + (int)n;
    float v = logf((float)n / (float)me);
    v = v / (float)log((double)max_distance / (double)me);
    v = v * (float)(nb - me);
    v = (float)me + v;
    int64_t large = (int64_t)v;
    if (large > nb - 1) large = nb - 1;
    return ret + (int)large;
}
