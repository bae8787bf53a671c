/* safetensors reader and writer; see safetensors.h for the format.
 *
 * The checks follow SafeTensors::read_metadata and Metadata::validate in the Rust crate behind Python's
 * `safetensors` (safetensors/src/tensor.rs): header length <= 100 MB and inside the file, header valid
 * UTF-8 JSON, tensors sorted by data_offsets must tile the data buffer exactly (each begin equals the
 * previous end, the last end equals the buffer's length), and each byte span must equal
 * numel * dtype size computed with overflow checks. On top of that SERC rejects duplicate names (the
 * Rust crate keeps the last silently), unknown keys in an entry, dtypes outside SercDType and more than
 * SERC_MAX_DIMS dimensions, so that anything accepted here can be loaded into a Tensor.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#endif

#include "safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fileio.h"
#include "json.h"

/* Tensor data is exchanged as raw little-endian bytes; a big-endian host would need byte swapping. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

typedef struct StTensor {
    char *name;
    SercDType dtype;
    int ndim;
    int64_t shape[SERC_MAX_DIMS];
    uint64_t begin, end; /* byte range in the data buffer */
} StTensor;

struct SafetensorsFile {
    StTensor *tensors;
    int n;
    int *by_name; /* tensor indices sorted by name, for safetensors_find */
    char **meta_keys;
    char **meta_values;
    int n_meta;
    unsigned char *data; /* the data buffer: everything after the header */
    size_t data_len;
};

/* ---------------------------------------------------------------------------------------------- */
/* Reading                                                                                          */

static uint64_t read_u64_le(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* Checks the 8-byte prefix against the file size; on success *header_len = N. */
static int check_prefix(const char *label, const unsigned char prefix[8], uint64_t file_size, uint64_t *header_len,
                        SercErr *err) {
    uint64_t n = read_u64_le(prefix);
    if (n == 0) return serc_fail(err, "%s: header length is 0 (a safetensors header is at least \"{}\")", label);
    if (n > SAFETENSORS_MAX_HEADER)
        return serc_fail(err, "%s: header length %llu is too large (limit %llu bytes); not a safetensors file?", label,
                         (unsigned long long)n, SAFETENSORS_MAX_HEADER);
    if (n > file_size - 8)
        return serc_fail(err, "%s: header length %llu runs past end of file (%llu bytes, so at most %llu)", label,
                         (unsigned long long)n, (unsigned long long)file_size, (unsigned long long)(file_size - 8));
    *header_len = n;
    return 0;
}

static int check_size(const char *label, uint64_t file_size, SercErr *err) {
    if (file_size == 0) return serc_fail(err, "%s: empty file (0 bytes); expected a safetensors file", label);
    if (file_size < 8)
        return serc_fail(err, "%s: file is %llu bytes, shorter than the 8-byte header length of a safetensors file",
                         label, (unsigned long long)file_size);
    return 0;
}

/* Product of the dims times elem_size, or -1 on uint64 overflow (multiplied left to right, as the Rust
 * crate's checked_mul chain does). */
static int checked_nbytes(const int64_t *shape, int ndim, uint64_t elem_size, uint64_t *numel, uint64_t *nbytes) {
    uint64_t p = 1;
    for (int d = 0; d < ndim; d++) {
        uint64_t s = (uint64_t)shape[d];
        if (s != 0 && p > UINT64_MAX / s) return -1;
        p *= s;
    }
    if (p > (uint64_t)INT64_MAX || (elem_size && p > UINT64_MAX / elem_size)) return -1;
    *numel = p;
    *nbytes = p * elem_size;
    return 0;
}

static void describe_shape(const int64_t *shape, int ndim, char *out, size_t n) {
    size_t k = (size_t)snprintf(out, n, "[");
    for (int d = 0; d < ndim && k < n; d++) k += (size_t)snprintf(out + k, n - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < n) snprintf(out + k, n - k, "]");
}

/* Reads one header entry {"dtype", "shape", "data_offsets"} into t. */
static int parse_entry(const char *label, const char *name, const JsonValue *e, uint64_t data_len, StTensor *t,
                       SercErr *err) {
    static const char *const keys[] = {"dtype", "shape", "data_offsets"};
    if (json_type(e) != JSON_OBJECT)
        return serc_fail(err, "%s: tensor \"%s\": entry is %s, not a JSON object", label, name,
                         json_type_name(json_type(e)));
    for (size_t i = 0; i < json_len(e); i++) {
        const char *k = json_key_at(e, i);
        if (strcmp(k, keys[0]) && strcmp(k, keys[1]) && strcmp(k, keys[2]))
            return serc_fail(err, "%s: tensor \"%s\": unexpected key \"%s\" (an entry has dtype, shape, data_offsets)",
                             label, name, k);
    }
    for (int i = 0; i < 3; i++)
        if (!json_get(e, keys[i])) return serc_fail(err, "%s: tensor \"%s\": missing key \"%s\"", label, name, keys[i]);

    const JsonValue *dt = json_get(e, "dtype");
    if (json_type(dt) != JSON_STRING) return serc_fail(err, "%s: tensor \"%s\": dtype is not a string", label, name);
    if (serc_dtype_from_name(json_string(dt), &t->dtype) != 0)
        return serc_fail(err, "%s: tensor \"%s\": unknown dtype \"%s\" (SERC reads F32, F64, BF16, F16, I32, I64, U8)", label,
                         name, json_string(dt));

    const JsonValue *sh = json_get(e, "shape");
    if (json_type(sh) != JSON_ARRAY) return serc_fail(err, "%s: tensor \"%s\": shape is not an array", label, name);
    if (json_len(sh) > SERC_MAX_DIMS)
        return serc_fail(err, "%s: tensor \"%s\": shape has %zu dimensions; SERC supports at most %d", label, name,
                         json_len(sh), SERC_MAX_DIMS);
    t->ndim = (int)json_len(sh);
    for (int d = 0; d < t->ndim; d++) {
        const JsonValue *s = json_at(sh, (size_t)d);
        if (!json_is_int(s) || json_int(s) < 0)
            return serc_fail(err, "%s: tensor \"%s\": shape[%d] is not a non-negative integer", label, name, d);
        t->shape[d] = json_int(s);
    }

    const JsonValue *off = json_get(e, "data_offsets");
    if (json_type(off) != JSON_ARRAY || json_len(off) != 2 || !json_is_int(json_at(off, 0)) ||
        !json_is_int(json_at(off, 1)) || json_int(json_at(off, 0)) < 0 || json_int(json_at(off, 1)) < 0)
        return serc_fail(err, "%s: tensor \"%s\": data_offsets is not an array of two non-negative integers", label,
                         name);
    t->begin = (uint64_t)json_int(json_at(off, 0));
    t->end = (uint64_t)json_int(json_at(off, 1));
    if (t->begin > t->end)
        return serc_fail(err, "%s: tensor \"%s\": data_offsets [%llu, %llu] has begin > end", label, name,
                         (unsigned long long)t->begin, (unsigned long long)t->end);

    char shape_text[128];
    describe_shape(t->shape, t->ndim, shape_text, sizeof shape_text);
    uint64_t numel = 0, nbytes = 0;
    if (checked_nbytes(t->shape, t->ndim, serc_dtype_size(t->dtype), &numel, &nbytes) != 0)
        return serc_fail(err, "%s: tensor \"%s\": shape %s overflows when multiplied out", label, name, shape_text);
    if (nbytes != t->end - t->begin)
        return serc_fail(err, "%s: tensor \"%s\": shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] span %llu",
                         label, name, shape_text, serc_dtype_name(t->dtype), (unsigned long long)nbytes,
                         (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)(t->end - t->begin));
    if (t->end > data_len)
        return serc_fail(err, "%s: tensor \"%s\": data_offsets [%llu, %llu] run past end of data buffer (%llu bytes; "
                              "file truncated?)",
                         label, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)data_len);
    return 0;
}

static int parse_metadata(const char *label, const JsonValue *m, SafetensorsFile *f, SercErr *err) {
    if (json_type(m) != JSON_OBJECT)
        return serc_fail(err, "%s: __metadata__ is %s, not an object of strings", label, json_type_name(json_type(m)));
    size_t n = json_len(m);
    f->meta_keys = serc_calloc(n, sizeof *f->meta_keys);
    f->meta_values = serc_calloc(n, sizeof *f->meta_values);
    for (size_t i = 0; i < n; i++) {
        const JsonValue *v = json_value_at(m, i);
        if (json_type(v) != JSON_STRING)
            return serc_fail(err, "%s: __metadata__ value for key \"%s\" is %s, not a string", label, json_key_at(m, i),
                             json_type_name(json_type(v)));
        if (strlen(json_string(v)) != json_string_len(v))
            return serc_fail(err, "%s: __metadata__ value for key \"%s\" contains a NUL character", label,
                             json_key_at(m, i));
        f->meta_keys[i] = serc_strdup(json_key_at(m, i));
        f->meta_values[i] = serc_strdup(json_string(v));
        f->n_meta = (int)i + 1;
    }
    return 0;
}

/* qsort comparators: tensors by (begin, end) for the tiling check, indices by name for lookup. */
static int compare_offsets(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp((*(const StTensor *const *)a)->name, (*(const StTensor *const *)b)->name);
}

/* The Rust crate's Metadata::validate: sorted by offsets, the tensors must tile [0, data_len). */
static int check_tiling(const char *label, const SafetensorsFile *f, SercErr *err) {
    const StTensor **order = serc_malloc((size_t)f->n * sizeof *order);
    for (int i = 0; i < f->n; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n, sizeof *order, compare_offsets);
    uint64_t at = 0;
    int rc = 0;
    for (int i = 0; i < f->n && rc == 0; i++) {
        const StTensor *t = order[i];
        if (t->begin < at)
            rc = serc_fail(err, "%s: tensors \"%s\" and \"%s\" overlap: \"%s\" ends at byte %llu, \"%s\" begins at %llu",
                           label, order[i - 1]->name, t->name, order[i - 1]->name, (unsigned long long)at, t->name,
                           (unsigned long long)t->begin);
        else if (t->begin > at)
            rc = serc_fail(err, "%s: gap of %llu bytes in the data buffer before tensor \"%s\" (begins at %llu, previous "
                                "data ends at %llu); safetensors requires the tensors to cover it contiguously",
                           label, (unsigned long long)(t->begin - at), t->name, (unsigned long long)t->begin,
                           (unsigned long long)at);
        at = t->end;
    }
    if (rc == 0 && at != f->data_len)
        rc = serc_fail(err, "%s: data buffer has %llu bytes but the tensors cover only %llu (trailing bytes after the "
                            "last tensor)",
                       label, (unsigned long long)f->data_len, (unsigned long long)at);
    free(order);
    return rc;
}

/* Builds the file from a validated prefix: header[0..header_len) is the JSON, data (owned, taken over
 * even on failure) the data buffer. */
static SafetensorsFile *build(const char *label, const char *header, size_t header_len, unsigned char *data,
                              size_t data_len, SercErr *err) {
    SafetensorsFile *f = serc_calloc(1, sizeof *f);
    f->data = data;
    f->data_len = data_len;
    JsonValue *root = json_parse(header, header_len, err);
    if (!root) {
        serc_fail_prefix(err, "%s: header is not valid JSON", label);
        goto fail;
    }
    if (json_type(root) != JSON_OBJECT) {
        serc_fail(err, "%s: header is %s, not a JSON object", label, json_type_name(json_type(root)));
        goto fail;
    }
    size_t members = json_len(root);
    f->tensors = serc_calloc(members, sizeof *f->tensors);
    for (size_t i = 0; i < members; i++) {
        const char *key = json_key_at(root, i);
        const JsonValue *v = json_value_at(root, i);
        if (strcmp(key, "__metadata__") == 0) {
            if (parse_metadata(label, v, f, err) != 0) goto fail;
            continue;
        }
        StTensor *t = &f->tensors[f->n];
        if (parse_entry(label, key, v, data_len, t, err) != 0) goto fail;
        t->name = serc_strdup(key);
        f->n++;
    }
    if (check_tiling(label, f, err) != 0) goto fail;
    /* qsort has no context argument in C11, so sort pointers and turn them back into indices */
    const StTensor **sorted = serc_malloc((size_t)f->n * sizeof *sorted);
    for (int i = 0; i < f->n; i++) sorted[i] = &f->tensors[i];
    qsort(sorted, (size_t)f->n, sizeof *sorted, compare_names);
    f->by_name = serc_malloc((size_t)f->n * sizeof *f->by_name);
    for (int i = 0; i < f->n; i++) f->by_name[i] = (int)(sorted[i] - f->tensors);
    free(sorted);
    json_free(root);
    return f;
fail:
    json_free(root);
    safetensors_close(f);
    return NULL;
}

SafetensorsFile *safetensors_parse(const void *buf, size_t len, const char *label, SercErr *err) {
    const unsigned char *b = buf;
    uint64_t n = 0;
    if (check_size(label, len, err) != 0 || check_prefix(label, b, len, &n, err) != 0) return NULL;
    size_t data_len = len - 8 - (size_t)n;
    unsigned char *data = serc_malloc(data_len);
    if (data_len) memcpy(data, b + 8 + n, data_len);
    return build(label, (const char *)b + 8, (size_t)n, data, data_len, err);
}

SafetensorsFile *safetensors_open(const char *path, SercErr *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        serc_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        serc_fail(err, "%s: cannot stat: %s", path, strerror(errno));
        fclose(fp);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        serc_fail(err, "%s: not a regular file", path);
        fclose(fp);
        return NULL;
    }
    uint64_t size = (uint64_t)st.st_size, n = 0;
    unsigned char prefix[8];
    char *header = NULL;
    unsigned char *data = NULL;
    size_t data_len = 0;
    if (check_size(path, size, err) != 0) goto fail;
    if (fread(prefix, 1, 8, fp) != 8) goto read_fail;
    if (check_prefix(path, prefix, size, &n, err) != 0) goto fail;
    if (size - 8 - n > SIZE_MAX) {
        serc_fail(err, "%s: file of %llu bytes does not fit in memory", path, (unsigned long long)size);
        goto fail;
    }
    header = serc_malloc((size_t)n);
    data_len = (size_t)(size - 8 - n);
    data = serc_malloc(data_len);
    if (fread(header, 1, (size_t)n, fp) != n || fread(data, 1, data_len, fp) != data_len) goto read_fail;
    if (fgetc(fp) != EOF) {
        serc_fail(err, "%s: file grew while being read", path);
        goto fail;
    }
    fclose(fp);
    SafetensorsFile *f = build(path, header, (size_t)n, data, data_len, err);
    free(header);
    return f;
read_fail:
    if (ferror(fp)) serc_fail(err, "%s: read error: %s", path, strerror(errno));
    else serc_fail(err, "%s: unexpected end of file (file shrank while being read?)", path);
fail:
    fclose(fp);
    free(header);
    free(data);
    return NULL;
}

void safetensors_close(SafetensorsFile *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->by_name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    free(f->data);
    free(f);
}

/* ---------------------------------------------------------------------------------------------- */
/* Accessors                                                                                        */

static const StTensor *tensor_at(const SafetensorsFile *f, int i) {
    SERC_ASSERT(i >= 0 && i < f->n, "safetensors: tensor index %d out of range (%d tensors)", i, f->n);
    return &f->tensors[i];
}

int safetensors_count(const SafetensorsFile *f) { return f->n; }

int safetensors_find(const SafetensorsFile *f, const char *name) {
    int lo = 0, hi = f->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[f->by_name[mid]].name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

const char *safetensors_name(const SafetensorsFile *f, int i) { return tensor_at(f, i)->name; }
SercDType safetensors_dtype(const SafetensorsFile *f, int i) { return tensor_at(f, i)->dtype; }
int safetensors_ndim(const SafetensorsFile *f, int i) { return tensor_at(f, i)->ndim; }
const int64_t *safetensors_shape(const SafetensorsFile *f, int i) { return tensor_at(f, i)->shape; }

int64_t safetensors_numel(const SafetensorsFile *f, int i) {
    const StTensor *t = tensor_at(f, i);
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d]; /* validated not to overflow */
    return n;
}

const void *safetensors_data(const SafetensorsFile *f, int i) { return f->data + tensor_at(f, i)->begin; }

size_t safetensors_nbytes(const SafetensorsFile *f, int i) {
    const StTensor *t = tensor_at(f, i);
    return (size_t)(t->end - t->begin);
}

const char *safetensors_metadata(const SafetensorsFile *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

int safetensors_metadata_count(const SafetensorsFile *f) { return f->n_meta; }

const char *safetensors_metadata_key(const SafetensorsFile *f, int i) {
    SERC_ASSERT(i >= 0 && i < f->n_meta, "safetensors: metadata index %d out of range", i);
    return f->meta_keys[i];
}

const char *safetensors_metadata_value(const SafetensorsFile *f, int i) {
    SERC_ASSERT(i >= 0 && i < f->n_meta, "safetensors: metadata index %d out of range", i);
    return f->meta_values[i];
}

/* ---------------------------------------------------------------------------------------------- */
/* Writing                                                                                          */

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fails when two of names[0..n) are equal (names is reordered). */
static int check_unique(const char *path, const char **names, size_t n, const char *what, SercErr *err) {
    qsort(names, n, sizeof *names, compare_strings);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return serc_fail(err, "%s: cannot write: duplicate %s \"%s\"", path, what, names[i]);
    return 0;
}

/* Validates the entries and metadata and builds the padded JSON header into hdr. */
/* need_data: entries carry their data (whole-file writer); 0 for the stream, whose data are on disk. */
static int build_header(const char *path, const SafetensorsEntry *entries, int n, const char *const *meta_kv,
                        int need_data, JsonBuf *hdr, SercErr *err) {
    if (n < 0 || (n > 0 && !entries)) return serc_fail(err, "%s: cannot write: bad tensor count %d", path, n);
    int rc = 0;
    size_t n_meta = 0;
    while (meta_kv && meta_kv[2 * n_meta]) {
        if (!meta_kv[2 * n_meta + 1])
            return serc_fail(err, "%s: cannot write: metadata key \"%s\" has no value", path, meta_kv[2 * n_meta]);
        n_meta++;
    }
    const char **names = serc_malloc((size_t)n * sizeof *names + n_meta * sizeof *names);
    jsonbuf_append(hdr, "{", 1);
    if (n_meta) {
        jsonbuf_append(hdr, "\"__metadata__\":{", 16);
        for (size_t i = 0; i < n_meta && rc == 0; i++) {
            const char *k = meta_kv[2 * i], *v = meta_kv[2 * i + 1];
            if (!json_utf8_valid(k, strlen(k)) || !json_utf8_valid(v, strlen(v)))
                rc = serc_fail(err, "%s: cannot write: metadata \"%s\" is not valid UTF-8", path, k);
            names[i] = k;
            jsonbuf_string(hdr, k, strlen(k));
            jsonbuf_append(hdr, ":", 1);
            jsonbuf_string(hdr, v, strlen(v));
            if (i + 1 < n_meta) jsonbuf_append(hdr, ",", 1);
        }
        jsonbuf_append(hdr, "}", 1);
        if (rc == 0) rc = check_unique(path, names, n_meta, "metadata key", err);
    }
    uint64_t offset = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const SafetensorsEntry *e = &entries[i];
        uint64_t numel = 0, nbytes = 0;
        if (!e->name || !json_utf8_valid(e->name, strlen(e->name)) || strcmp(e->name, "__metadata__") == 0) {
            rc = serc_fail(err, "%s: cannot write: tensor %d has a missing, reserved or non-UTF-8 name", path, i);
            break;
        }
        if ((unsigned)e->dtype >= SERC_DTYPE_COUNT || e->ndim < 0 || e->ndim > SERC_MAX_DIMS) {
            rc = serc_fail(err, "%s: cannot write: tensor \"%s\" has bad dtype %d or rank %d", path, e->name,
                           (int)e->dtype, e->ndim);
            break;
        }
        for (int d = 0; d < e->ndim && rc == 0; d++)
            if (e->shape[d] < 0)
                rc = serc_fail(err, "%s: cannot write: tensor \"%s\" has negative shape[%d]", path, e->name, d);
        if (rc == 0 && checked_nbytes(e->shape, e->ndim, serc_dtype_size(e->dtype), &numel, &nbytes) != 0)
            rc = serc_fail(err, "%s: cannot write: tensor \"%s\" size overflows", path, e->name);
        if (rc == 0 && need_data && nbytes > 0 && !e->data)
            rc = serc_fail(err, "%s: cannot write: tensor \"%s\" has no data", path, e->name);
        if (rc != 0) break;
        names[i] = e->name;
        if (i > 0 || n_meta) jsonbuf_append(hdr, ",", 1);
        jsonbuf_string(hdr, e->name, strlen(e->name));
        jsonbuf_appendf(hdr, ":{\"dtype\":\"%s\",\"shape\":[", serc_dtype_name(e->dtype));
        for (int d = 0; d < e->ndim; d++) jsonbuf_appendf(hdr, d ? ",%lld" : "%lld", (long long)e->shape[d]);
        jsonbuf_appendf(hdr, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                        (unsigned long long)(offset + nbytes));
        offset += nbytes;
    }
    if (rc == 0) rc = check_unique(path, names, (size_t)n, "tensor name", err);
    free(names);
    jsonbuf_append(hdr, "}", 1);
    while (hdr->len % 8) jsonbuf_append(hdr, " ", 1); /* the Python library aligns the data to 8 bytes */
    return rc;
}

int safetensors_write(const char *path, const SafetensorsEntry *entries, int n, const char *const *meta_kv,
                      SercErr *err) {
    JsonBuf hdr = {0};
    if (build_header(path, entries, n, meta_kv, 1, &hdr, err) != 0) {
        jsonbuf_free(&hdr);
        return -1;
    }
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++) prefix[i] = (unsigned char)((uint64_t)hdr.len >> (8 * i));

    AtomicFile af;
    if (atomic_open(&af, path, 0, err) != 0) {
        jsonbuf_free(&hdr);
        return -1;
    }
    /* a short write sets the stream's error flag, which atomic_commit reports */
    int ok = fwrite(prefix, 1, 8, af.f) == 8 && fwrite(hdr.data, 1, hdr.len, af.f) == hdr.len;
    for (int i = 0; ok && i < n; i++) {
        uint64_t numel = 0, nbytes = 0;
        checked_nbytes(entries[i].shape, entries[i].ndim, serc_dtype_size(entries[i].dtype), &numel, &nbytes);
        ok = !nbytes || fwrite(entries[i].data, 1, (size_t)nbytes, af.f) == nbytes;
    }
    jsonbuf_free(&hdr);
    return atomic_commit(&af, err);
}

/* ---- streaming writer ---- */

struct SafetensorsStream {
    char *path, *data_path;
    FILE *data;            /* the tensors' bytes so far, in a temporary file beside path */
    SafetensorsEntry *e;   /* names owned, data NULL */
    int n, cap;
    int failed;
};

SafetensorsStream *safetensors_stream_open(const char *path, SercErr *err) {
    SafetensorsStream *s = serc_calloc(1, sizeof *s);
    s->path = serc_strdup(path);
    size_t n = strlen(path) + 48;
    s->data_path = serc_malloc(n);
    snprintf(s->data_path, n, "%s.data.tmp.%ld", path, (long)getpid());
    s->data = fopen(s->data_path, "w+b");
    if (!s->data) {
        serc_fail(err, "%s: cannot create the temporary data file %s: %s", path, s->data_path, strerror(errno));
        free(s->data_path), free(s->path), free(s);
        return NULL;
    }
    unlink(s->data_path); /* gone with the stream whatever happens; the FILE keeps it alive */
    return s;
}

int safetensors_stream_add(SafetensorsStream *s, const SafetensorsEntry *e, SercErr *err) {
    uint64_t numel = 0, nbytes = 0;
    if (s->failed) return serc_fail(err, "%s: cannot write: an earlier tensor failed", s->path);
    if ((unsigned)e->dtype >= SERC_DTYPE_COUNT || e->ndim < 0 || e->ndim > SERC_MAX_DIMS ||
        checked_nbytes(e->shape, e->ndim, serc_dtype_size(e->dtype), &numel, &nbytes) != 0 || (nbytes && !e->data) ||
        !e->name) {
        s->failed = 1;
        return serc_fail(err, "%s: cannot write: tensor \"%s\" has a bad dtype, shape or no data", s->path,
                         e->name ? e->name : "(no name)");
    }
    if (nbytes && fwrite(e->data, 1, (size_t)nbytes, s->data) != nbytes) {
        s->failed = 1;
        return serc_fail(err, "%s: cannot write tensor \"%s\" to the temporary data file: %s", s->path, e->name,
                         strerror(errno));
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->e = serc_realloc(s->e, sizeof *s->e * (size_t)s->cap);
    }
    s->e[s->n] = *e;
    s->e[s->n].name = serc_strdup(e->name);
    s->e[s->n].data = NULL;
    s->n++;
    return 0;
}

static void stream_free(SafetensorsStream *s) {
    if (s->data) fclose(s->data);
    for (int i = 0; i < s->n; i++) free((char *)s->e[i].name);
    free(s->e);
    free(s->data_path);
    free(s->path);
    free(s);
}

void safetensors_stream_abort(SafetensorsStream *s) {
    if (s) stream_free(s);
}

int safetensors_stream_close(SafetensorsStream *s, const char *const *meta_kv, SercErr *err) {
    int rc = -1;
    JsonBuf hdr = {0};
    if (s->failed) {
        serc_fail(err, "%s: not written: an earlier tensor failed", s->path);
        goto out;
    }
    if (fflush(s->data) != 0 || ferror(s->data)) {
        serc_fail(err, "%s: temporary data file: %s", s->path, strerror(errno));
        goto out;
    }
    if (build_header(s->path, s->e, s->n, meta_kv, 0, &hdr, err) != 0) goto out;
    unsigned char prefix[8];
    for (int i = 0; i < 8; i++) prefix[i] = (unsigned char)((uint64_t)hdr.len >> (8 * i));
    AtomicFile af;
    if (atomic_open(&af, s->path, 0, err) != 0) goto out;
    int ok = fwrite(prefix, 1, 8, af.f) == 8 && fwrite(hdr.data, 1, hdr.len, af.f) == hdr.len;
    rewind(s->data);
    char buf[1 << 16];
    size_t got;
    while (ok && (got = fread(buf, 1, sizeof buf, s->data)) > 0) ok = fwrite(buf, 1, got, af.f) == got;
    if (ok && ferror(s->data)) {
        atomic_abort(&af);
        serc_fail(err, "%s: reading back the temporary data file failed", s->path);
        goto out;
    }
    rc = atomic_commit(&af, err);
out:
    jsonbuf_free(&hdr);
    stream_free(s);
    return rc;
}
