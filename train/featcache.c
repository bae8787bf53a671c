#include "featcache.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static const FeatureCache *g_sort_cache; /* qsort has no user pointer; opening is single-threaded */

static int cmp_ids(const void *a, const void *b) {
    return strcmp(g_sort_cache->ids[*(const int *)a], g_sort_cache->ids[*(const int *)b]);
}

static int meta_long(const FeatureCache *c, const char *key, long lo, long hi, long *out, SercErr *err) {
    const char *v = safetensors_metadata(c->f, key);
    if (!v) return serc_fail(err, "%s: metadata %s missing (not a `serc embed` features file?)", c->path, key);
    char *end;
    errno = 0;
    *out = strtol(v, &end, 10);
    if (end == v || *end || errno || *out < lo || *out > hi)
        return serc_fail(err, "%s: metadata %s = \"%s\" is not an integer in [%ld, %ld]", c->path, key, v, lo, hi);
    return 0;
}

/* Parses the layer selection into c->sel. */
static int parse_layers(FeatureCache *c, const char *spec, SercErr *err) {
    const int H = c->num_hidden;
    if (!spec || !*spec || strcmp(spec, "all") == 0) {
        c->n_sel = H;
        c->sel = serc_malloc(sizeof(int) * (size_t)H);
        for (int i = 0; i < H; i++) c->sel[i] = i;
        return 0;
    }
    if (strcmp(spec, "last") == 0) spec = "-1";
    c->sel = serc_malloc(sizeof(int) * (size_t)(strlen(spec) + 1));
    c->n_sel = 0;
    const char *p = spec;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || (*end && *end != ','))
            return serc_fail(err, "%s: layer selection \"%s\": want all, last or indices such as 0,6,-1", c->path, spec);
        if (v < 0) v += H;
        if (v < 0 || v >= H)
            return serc_fail(err, "%s: layer selection \"%s\": index out of range (the file holds %d hidden states, 0..%d)",
                             c->path, spec, H, H - 1);
        c->sel[c->n_sel++] = (int)v;
        if (!*end) break;
        p = end + 1;
    }
    return 0;
}

FeatureCache *featcache_open(const char *path, const char *layers, SercErr *err) {
    FeatureCache *c = serc_calloc(1, sizeof *c);
    c->path = serc_strdup(path);
    c->f = safetensors_open(path, err);
    if (!c->f) goto fail;
    long nh, dim;
    if (meta_long(c, "serc.num_hidden", 1, 100000, &nh, err) || meta_long(c, "serc.dim", 1, 1 << 20, &dim, err)) goto fail;
    c->num_hidden = (int)nh;
    c->dim = (int)dim;
    const char *fr = safetensors_metadata(c->f, "serc.frame_rate");
    char *end = NULL;
    c->frame_rate = fr ? strtod(fr, &end) : 0;
    if (!fr || end == fr || *end || !(c->frame_rate > 0 && c->frame_rate < 1e6)) {
        serc_fail(err, "%s: metadata serc.frame_rate missing or not a positive number", path);
        goto fail;
    }
    const char *enc = safetensors_metadata(c->f, "serc.encoder");
    c->encoder = serc_strdup(enc ? enc : "(unknown encoder)");
    const char *ids = safetensors_metadata(c->f, "serc.ids");
    if (!ids) {
        serc_fail(err, "%s: metadata serc.ids missing: the features must come from `serc embed --manifest`", path);
        goto fail;
    }
    JsonValue *j = json_parse(ids, strlen(ids), err);
    if (!j) {
        serc_fail_prefix(err, "%s: metadata serc.ids", path);
        goto fail;
    }
    if (json_type(j) != JSON_ARRAY || json_len(j) > INT_MAX) {
        json_free(j);
        serc_fail(err, "%s: metadata serc.ids is not an array of strings", path);
        goto fail;
    }
    c->n_items = (int)json_len(j);
    c->ids = serc_calloc((size_t)c->n_items + 1, sizeof(char *));
    for (int i = 0; i < c->n_items; i++) {
        const JsonValue *v = json_at(j, (size_t)i);
        if (json_type(v) != JSON_STRING) {
            json_free(j);
            serc_fail(err, "%s: metadata serc.ids: item %d is not a string", path, i);
            goto fail;
        }
        c->ids[i] = serc_strdup(json_string(v));
    }
    json_free(j);
    c->order = serc_malloc(sizeof(int) * (size_t)(c->n_items + 1));
    for (int i = 0; i < c->n_items; i++) c->order[i] = i;
    g_sort_cache = c;
    qsort(c->order, (size_t)c->n_items, sizeof(int), cmp_ids);
    for (int i = 1; i < c->n_items; i++)
        if (strcmp(c->ids[c->order[i - 1]], c->ids[c->order[i]]) == 0) {
            serc_fail(err, "%s: metadata serc.ids: id \"%s\" appears twice", path, c->ids[c->order[i]]);
            goto fail;
        }
    if (parse_layers(c, layers, err)) goto fail;
    c->tensor = serc_malloc(sizeof(int) * (size_t)c->n_items * (size_t)c->n_sel + 1);
    for (int i = 0; i < c->n_items; i++) {
        int64_t frames = -1;
        for (int s = 0; s < c->n_sel; s++) {
            char name[96];
            snprintf(name, sizeof name, "%d.hidden_states.%d", i, c->sel[s]);
            int t = safetensors_find(c->f, name);
            if (t < 0) {
                serc_fail(err, "%s: tensor \"%s\" (item \"%s\") missing", path, name, c->ids[i]);
                goto fail;
            }
            const int64_t *sh = safetensors_shape(c->f, t);
            if (safetensors_dtype(c->f, t) != SERC_F32 || safetensors_ndim(c->f, t) != 2 || sh[1] != c->dim ||
                (frames >= 0 && sh[0] != frames)) {
                serc_fail(err, "%s: tensor \"%s\" is not f32 (frames, %d)%s", path, name, c->dim,
                          frames >= 0 ? " with the frame count of the item's other layers" : "");
                goto fail;
            }
            frames = sh[0];
            c->tensor[i * c->n_sel + s] = t;
        }
    }
    return c;
fail:
    featcache_close(c);
    return NULL;
}

void featcache_close(FeatureCache *c) {
    if (!c) return;
    if (c->f) safetensors_close(c->f);
    for (int i = 0; c->ids && i < c->n_items; i++) free(c->ids[i]);
    free(c->ids);
    free(c->order);
    free(c->sel);
    free(c->tensor);
    free(c->encoder);
    free(c->path);
    free(c);
}

int featcache_find(const FeatureCache *c, const char *id) {
    int lo = 0, hi = c->n_items - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, k = strcmp(id, c->ids[c->order[mid]]);
        if (k == 0) return c->order[mid];
        if (k < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return -1;
}

int64_t featcache_frames(const FeatureCache *c, int i) { return safetensors_shape(c->f, c->tensor[i * c->n_sel])[0]; }

int featcache_width(const FeatureCache *c) { return c->n_sel * c->dim; }

void featcache_read(const FeatureCache *c, int i, int64_t start, int64_t n, float *out) {
    const int D = c->dim, W = c->n_sel * D;
    SERC_ASSERT(start >= 0 && n >= 0 && start + n <= featcache_frames(c, i), "featcache_read: frames [%lld, %lld) of %lld",
                (long long)start, (long long)(start + n), (long long)featcache_frames(c, i));
    for (int s = 0; s < c->n_sel; s++) {
        const float *src = (const float *)safetensors_data(c->f, c->tensor[i * c->n_sel + s]);
        for (int64_t t = 0; t < n; t++) memcpy(out + t * W + s * D, src + (start + t) * D, sizeof(float) * (size_t)D);
    }
}
