/* Loading a Hugging Face speech-encoder checkpoint (safetensors only) into an SslModel: one file or
 * the shards of model.safetensors.index.json; every model tensor matched by name and shape, and any
 * missing, unexpected or mis-shaped tensor rejects the checkpoint with the names listed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "safetensors.h"
#include "ssl.h"

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *read_text(const char *path, size_t *len, SercErr *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        serc_fail(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = serc_malloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= ((size_t)256 << 20)) {
                fclose(f);
                free(buf);
                serc_fail(err, "%s: larger than 256 MiB, not a safetensors index", path);
                return NULL;
            }
            cap *= 2;
            buf = serc_realloc(buf, cap);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        serc_fail(err, "%s: read error", path);
        return NULL;
    }
    *len = n;
    return buf;
}

typedef struct Shards {
    int n;
    SafetensorsFile **f;
    char **path;
} Shards;

static void shards_close(Shards *s) {
    for (int i = 0; i < s->n; i++) {
        safetensors_close(s->f[i]);
        free(s->path[i]);
    }
    free(s->f);
    free(s->path);
    memset(s, 0, sizeof *s);
}

static int shards_add(Shards *s, const char *path, SercErr *err) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->path[i], path) == 0) return i;
    SafetensorsFile *f = safetensors_open(path, err);
    if (!f) return -1;
    s->f = serc_realloc(s->f, (size_t)(s->n + 1) * sizeof *s->f);
    s->path = serc_realloc(s->path, (size_t)(s->n + 1) * sizeof *s->path);
    s->f[s->n] = f;
    s->path[s->n] = serc_strdup(path);
    return s->n++;
}

/* dir/model.safetensors, or every shard model.safetensors.index.json's weight_map names (each entry
 * checked to be in the shard it names). */
static int open_checkpoint(Shards *s, const char *dir, SercErr *err) {
    char path[4096], idx[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    if (file_exists(path)) return shards_add(s, path, err) < 0 ? -1 : 0;
    if (!file_exists(idx))
        return serc_fail(err, "%s: no model.safetensors or model.safetensors.index.json (only safetensors checkpoints "
                              "are read)", dir);
    size_t len;
    char *text = read_text(idx, &len, err);
    if (!text) return -1;
    JsonValue *root = json_parse(text, len, err);
    free(text);
    if (!root) return serc_fail_prefix(err, "%s", idx);
    int rc = -1;
    const JsonValue *wm = json_type(root) == JSON_OBJECT ? json_get(root, "weight_map") : NULL;
    if (!wm || json_type(wm) != JSON_OBJECT) {
        serc_fail(err, "%s: no \"weight_map\" object", idx);
        goto done;
    }
    for (size_t i = 0; i < json_len(wm); i++) {
        const JsonValue *v = json_value_at(wm, i);
        const char *name = json_key_at(wm, i);
        if (json_type(v) != JSON_STRING || strchr(json_string(v), '/') || json_string(v)[0] == '.') {
            serc_fail(err, "%s: weight_map[\"%s\"] is not a file name in the same folder", idx, name);
            goto done;
        }
        snprintf(path, sizeof path, "%s/%s", dir, json_string(v));
        int k = shards_add(s, path, err);
        if (k < 0) goto done;
        if (safetensors_find(s->f[k], name) < 0) {
            serc_fail(err, "%s: weight_map puts \"%s\" in %s, which does not hold it", idx, name, json_string(v));
            goto done;
        }
    }
    if (s->n == 0) {
        serc_fail(err, "%s: empty weight_map", idx);
        goto done;
    }
    rc = 0;
done:
    json_free(root);
    return rc;
}

/* A comma-separated list of names, capped so that the error message stays readable. */
typedef struct NameList {
    JsonBuf b;
    int count, shown;
} NameList;

static void list_add(NameList *l, const char *name, const char *extra) {
    l->count++;
    if (l->b.len > 280) return;
    jsonbuf_appendf(&l->b, "%s%s%s", l->shown ? ", " : "", name, extra ? extra : "");
    l->shown++;
}

static void list_emit(JsonBuf *msg, const NameList *l, const char *what) {
    if (!l->count) return;
    jsonbuf_appendf(msg, "; %d %s: %s", l->count, what, l->b.data);
    if (l->shown < l->count) jsonbuf_appendf(msg, ", ... (%d more)", l->count - l->shown);
}

static void describe_shape(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && o < n; d++) o += (size_t)snprintf(buf + o, n - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* The model name a checkpoint name maps to: the legacy weight-norm names (torch < 2.1, weight_g /
 * weight_v) become the parametrizations form the model registers. */
static void canonical_name(char *out, size_t n, const char *hf) {
    static const char *const legacy[2][2] = {
        {"encoder.pos_conv_embed.conv.weight_g", "encoder.pos_conv_embed.conv.parametrizations.weight.original0"},
        {"encoder.pos_conv_embed.conv.weight_v", "encoder.pos_conv_embed.conv.parametrizations.weight.original1"}};
    for (int i = 0; i < 2; i++)
        if (strcmp(hf, legacy[i][0]) == 0) {
            snprintf(out, n, "%s", legacy[i][1]);
            return;
        }
    snprintf(out, n, "%s", hf);
}

static void copy_tensor(Tensor *dst, const SafetensorsFile *f, int i) {
    const int64_t n = tensor_numel(dst);
    float *d = tensor_f32(dst);
    const unsigned char *src = safetensors_data(f, i);
    if (safetensors_dtype(f, i) == SERC_F32) {
        memcpy(d, src, (size_t)n * sizeof(float));
        return;
    }
    for (int64_t k = 0; k < n; k++) {
        uint16_t h;
        memcpy(&h, src + 2 * k, 2);
        d[k] = safetensors_dtype(f, i) == SERC_BF16 ? serc_bf16_to_f32(h) : serc_f16_to_f32(h);
    }
}

int ssl_load_weights(SslModel *m, const char *dir, SercErr *err) {
    static const char *const arch_prefix[3] = {"wav2vec2.", "hubert.", "wavlm."};
    const char *pfx = arch_prefix[m->cfg.arch];
    const size_t plen = strlen(pfx);
    for (int k = 0; k < m->n_tensors; k++)
        SERC_ASSERT(m->tensors[k]->data, "ssl_load_weights before params_finalize (%s)", m->names[k]);
    Shards s = {0};
    if (open_checkpoint(&s, dir, err)) {
        shards_close(&s);
        return -1;
    }
    int prefixed = 0;
    for (int j = 0; j < s.n && !prefixed; j++)
        for (int i = 0; i < safetensors_count(s.f[j]) && !prefixed; i++)
            prefixed = strncmp(safetensors_name(s.f[j], i), pfx, plen) == 0;
    unsigned char *loaded = serc_calloc((size_t)m->n_tensors + 1, 1);
    NameList missing = {0}, unexpected = {0}, misshaped = {0};
    for (int j = 0; j < s.n; j++) {
        const SafetensorsFile *f = s.f[j];
        for (int i = 0; i < safetensors_count(f); i++) {
            const char *name = safetensors_name(f, i);
            if (prefixed && strncmp(name, pfx, plen) != 0) continue; /* a head of a *For... checkpoint */
            char hf[256];
            canonical_name(hf, sizeof hf, prefixed ? name + plen : name);
            int k = -1;
            for (int t = 0; t < m->n_tensors && k < 0; t++)
                if (strcmp(m->names[t], hf) == 0) k = t;
            if (k < 0) {
                list_add(&unexpected, name, NULL);
                continue;
            }
            if (loaded[k]) {
                list_add(&unexpected, name, " (a second copy of a tensor already read)");
                continue;
            }
            const Tensor *t = m->tensors[k];
            SercDType dt = safetensors_dtype(f, i);
            int same = safetensors_ndim(f, i) == t->ndim;
            for (int d = 0; same && d < t->ndim; d++) same = safetensors_shape(f, i)[d] == t->shape[d];
            if (!same || (dt != SERC_F32 && dt != SERC_BF16 && dt != SERC_F16)) {
                char fs[96], ms[96], extra[256];
                describe_shape(fs, sizeof fs, safetensors_ndim(f, i), safetensors_shape(f, i));
                describe_shape(ms, sizeof ms, t->ndim, t->shape);
                snprintf(extra, sizeof extra, " (%s %s in the file, the config wants F32 %s)", serc_dtype_name(dt), fs, ms);
                list_add(&misshaped, name, extra);
                loaded[k] = 2; /* found, not loaded: listed as mis-shaped, not also as missing */
                continue;
            }
            copy_tensor(m->tensors[k], f, i);
            loaded[k] = 1;
        }
    }
    for (int k = 0; k < m->n_tensors; k++)
        if (!loaded[k]) {
            char nm[320];
            snprintf(nm, sizeof nm, "%s%s", prefixed ? pfx : "", m->names[k]);
            list_add(&missing, nm, NULL);
        }
    int rc = 0;
    if (missing.count || unexpected.count || misshaped.count) {
        JsonBuf msg = {0};
        static const char *const arch_name[3] = {"wav2vec2", "hubert", "wavlm"};
        jsonbuf_appendf(&msg, "checkpoint does not match its config (%s, %d layers)", arch_name[m->cfg.arch],
                        m->cfg.num_hidden_layers);
        list_emit(&msg, &missing, "missing");
        list_emit(&msg, &unexpected, "unexpected");
        list_emit(&msg, &misshaped, "mis-shaped");
        rc = serc_fail(err, "%s: %s", dir, msg.data);
        jsonbuf_free(&msg);
    }
    jsonbuf_free(&missing.b);
    jsonbuf_free(&unexpected.b);
    jsonbuf_free(&misshaped.b);
    free(loaded);
    shards_close(&s);
    return rc;
}
