/* NumPy .npy writer and strict reader (see npy.h). */
#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"

#define NPY_MAX_HEADER (1 << 20)

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static const char *descr_of(SercDType dt) {
    switch (dt) {
    case SERC_F32: return "<f4";
    case SERC_F16: return "<f2";
    case SERC_I32: return "<i4";
    case SERC_I64: return "<i8";
    case SERC_U8: return "|u1";
    case SERC_F64: return "<f8";
    default: return NULL;
    }
}

/* ---- reader ---- */

typedef struct Cursor {
    const char *p, *end;
} Cursor;

static void skip_spaces(Cursor *c) {
    while (c->p < c->end && *c->p == ' ') c->p++;
}

static int eat(Cursor *c, char ch) {
    skip_spaces(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string literal without escapes, into out (at most cap - 1 chars). */
static int parse_str(Cursor *c, char *out, size_t cap) {
    skip_spaces(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
    char q = *c->p++;
    size_t k = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || k + 1 >= cap) return -1;
        out[k++] = *c->p++;
    }
    if (c->p >= c->end) return -1;
    c->p++;
    out[k] = '\0';
    return 0;
}

static int parse_shape(Cursor *c, NpyArray *a) {
    if (!eat(c, '(')) return -1;
    a->ndim = 0;
    for (;;) {
        skip_spaces(c);
        if (eat(c, ')')) return 0;
        if (a->ndim >= SERC_MAX_DIMS) return -2;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return -3;
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 writers */
        a->shape[a->ndim++] = v;
        if (eat(c, ',')) continue;
        if (eat(c, ')')) return a->ndim == 1 ? -1 : 0; /* "(5)" is not a tuple */
        return -1;
    }
}

static int parse_header(const char *h, size_t len, const char *name, NpyArray *a, SercErr *err) {
    Cursor c = {h, h + len};
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    if (!eat(&c, '{')) return serc_fail(err, "%s: npy header is not a dict literal", name);
    for (;;) {
        if (eat(&c, '}')) break;
        char key[32], val[32];
        if (parse_str(&c, key, sizeof key) || !eat(&c, ':'))
            return serc_fail(err, "%s: npy header: expected a quoted key and ':'", name);
        if (strcmp(key, "descr") == 0) {
            if (seen_descr++) return serc_fail(err, "%s: npy header: duplicate key 'descr'", name);
            if (parse_str(&c, val, sizeof val)) return serc_fail(err, "%s: npy header: 'descr' must be a string", name);
            if (strcmp(val, "<f4") == 0) a->dtype = SERC_F32;
            else if (strcmp(val, "<f2") == 0) a->dtype = SERC_F16;
            else if (strcmp(val, "<i4") == 0) a->dtype = SERC_I32;
            else if (strcmp(val, "<i8") == 0) a->dtype = SERC_I64;
            else if (strcmp(val, "<f8") == 0) a->dtype = SERC_F64;
            else if (strcmp(val, "|u1") == 0 || strcmp(val, "<u1") == 0) a->dtype = SERC_U8;
            else if (val[0] == '>' && val[1] && val[2] != '1')
                return serc_fail(err, "%s: big-endian dtype '%s' is not supported", name, val);
            else
                return serc_fail(err, "%s: unsupported dtype '%s' (supported: <f4, <f8, <f2, <i4, <i8, |u1)", name, val);
        } else if (strcmp(key, "fortran_order") == 0) {
            if (seen_fortran++) return serc_fail(err, "%s: npy header: duplicate key 'fortran_order'", name);
            skip_spaces(&c);
            if ((size_t)(c.end - c.p) >= 5 && memcmp(c.p, "False", 5) == 0) c.p += 5;
            else if ((size_t)(c.end - c.p) >= 4 && memcmp(c.p, "True", 4) == 0)
                return serc_fail(err, "%s: Fortran-order arrays are not supported (save with C order)", name);
            else return serc_fail(err, "%s: npy header: 'fortran_order' must be True or False", name);
        } else if (strcmp(key, "shape") == 0) {
            if (seen_shape++) return serc_fail(err, "%s: npy header: duplicate key 'shape'", name);
            int r = parse_shape(&c, a);
            if (r == -2) return serc_fail(err, "%s: array has more than %d dimensions", name, SERC_MAX_DIMS);
            if (r == -3) return serc_fail(err, "%s: npy header: dimension too large", name);
            if (r) return serc_fail(err, "%s: npy header: 'shape' must be a tuple of non-negative integers", name);
        } else {
            return serc_fail(err, "%s: npy header: unexpected key '%s'", name, key);
        }
        if (eat(&c, ',')) continue;
        if (eat(&c, '}')) break;
        return serc_fail(err, "%s: npy header: expected ',' or '}'", name);
    }
    if (!seen_descr || !seen_fortran || !seen_shape)
        return serc_fail(err, "%s: npy header lacks '%s'", name,
                         !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
    skip_spaces(&c);
    if (c.end - c.p != 1 || *c.p != '\n')
        return serc_fail(err, "%s: npy header must end with spaces and one newline after the dict", name);
    return 0;
}

int npy_parse(const void *buf, size_t len, const char *name, NpyArray *a, SercErr *err) {
    const unsigned char *b = buf;
    memset(a, 0, sizeof *a);
    if (len < 10 || memcmp(b, NPY_MAGIC, 6) != 0)
        return serc_fail(err, "%s: not a .npy file (bad magic)", name);
    unsigned major = b[6], minor = b[7];
    size_t hlen, hstart;
    if (major == 1 && minor == 0) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hstart = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (len < 12) return serc_fail(err, "%s: truncated .npy preamble", name);
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hstart = 12;
    } else {
        return serc_fail(err, "%s: unsupported .npy format version %u.%u", name, major, minor);
    }
    if (hlen > NPY_MAX_HEADER) return serc_fail(err, "%s: npy header length %zu is absurd", name, hlen);
    if (hlen > len - hstart)
        return serc_fail(err, "%s: truncated: npy header of %zu bytes past the end of the file (%zu bytes)", name, hlen,
                         len);
    for (size_t i = 0; i < hlen; i++)
        if (b[hstart + i] == 0 || (major < 3 && b[hstart + i] > 127))
            return serc_fail(err, "%s: npy header holds a non-ASCII or NUL byte", name);
    if (parse_header((const char *)b + hstart, hlen, name, a, err)) return -1;
    size_t item = serc_dtype_size(a->dtype);
    uint64_t numel = 1;
    for (int i = 0; i < a->ndim; i++) {
        uint64_t d = (uint64_t)a->shape[i];
        if (d && numel > UINT64_MAX / d / item) return serc_fail(err, "%s: array shape overflows", name);
        numel *= d;
    }
    size_t data_off = hstart + hlen, have = len - data_off;
    if ((uint64_t)have != numel * item) {
        char shp[160];
        int k = snprintf(shp, sizeof shp, "(");
        for (int i = 0; i < a->ndim && k < (int)sizeof shp - 24; i++)
            k += snprintf(shp + k, sizeof shp - k, "%s%lld", i ? ", " : "", (long long)a->shape[i]);
        snprintf(shp + k, sizeof shp - k, ")");
        return serc_fail(err, "%s: %s: shape %s of %s needs %llu bytes of data, the file holds %zu", name,
                         (uint64_t)have < numel * item ? "truncated" : "trailing bytes", shp, descr_of(a->dtype),
                         (unsigned long long)(numel * item), have);
    }
    a->numel = (int64_t)numel;
    a->data = serc_malloc(have ? have : 1);
    memcpy(a->data, b + data_off, have);
    return 0;
}

int npy_read(const char *path, NpyArray *a, SercErr *err) {
    memset(a, 0, sizeof *a);
    FILE *f = fopen(path, "rb");
    if (!f) return serc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return serc_fail(err, "%s: not a regular file", path);
    }
    size_t len = (size_t)st.st_size;
    char *buf = serc_malloc(len ? len : 1);
    size_t got = fread(buf, 1, len, f);
    fclose(f);
    int rc = got != len ? serc_fail(err, "%s: read error", path) : npy_parse(buf, len, path, a, err);
    free(buf);
    return rc;
}

void npy_array_free(NpyArray *a) {
    if (!a) return;
    free(a->data);
    a->data = NULL;
}

/* ---- writer ---- */

int npy_write(const char *path, SercDType dtype, int ndim, const int64_t *shape, const void *data, SercErr *err) {
    const char *descr = descr_of(dtype);
    if (!descr) return serc_fail(err, "%s: dtype %s cannot be written as .npy", path, serc_dtype_name(dtype));
    if (ndim < 0 || ndim > SERC_MAX_DIMS) return serc_fail(err, "%s: %d dimensions", path, ndim);
    char hdr[512];
    int k = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return serc_fail(err, "%s: negative dimension %lld", path, (long long)shape[i]);
        k += snprintf(hdr + k, sizeof hdr - k, "%lld,%s", (long long)shape[i], i + 1 < ndim ? " " : "");
        numel *= (size_t)shape[i];
    }
    if (ndim > 1) k--; /* numpy writes "(3, 4)" but "(5,)" */
    k += snprintf(hdr + k, sizeof hdr - k, "), }");
    /* pad with spaces so that 10 + header length (newline included) is a multiple of 64 */
    int total = 10 + k + 1, padded = (total + 63) / 64 * 64;
    memset(hdr + k, ' ', (size_t)(padded - total));
    k += padded - total;
    hdr[k++] = '\n';
    unsigned char pre[10];
    memcpy(pre, NPY_MAGIC, 6);
    pre[6] = 1, pre[7] = 0, pre[8] = (unsigned char)(k & 0xFF), pre[9] = (unsigned char)(k >> 8);

    AtomicFile af;
    if (atomic_open(&af, path, 0, err) != 0) return -1;
    size_t nbytes = numel * serc_dtype_size(dtype);
    /* a short write sets the stream's error flag, which atomic_commit reports */
    if (fwrite(pre, 1, 10, af.f) == 10 && fwrite(hdr, 1, (size_t)k, af.f) == (size_t)k && nbytes)
        (void)fwrite(data, 1, nbytes, af.f);
    return atomic_commit(&af, err);
}

int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, SercErr *err) {
    return npy_write(path, SERC_F32, ndim, shape, data, err);
}

int npy_write_i64(const char *path, const int64_t *data, int ndim, const int64_t *shape, SercErr *err) {
    return npy_write(path, SERC_I64, ndim, shape, data, err);
}
