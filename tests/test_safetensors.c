/* Tests for core/safetensors.c: bitwise round trip through our writer and reader, a file written by
 * Python's `safetensors` (tests/fixtures/make_safetensors_fixture.py), a table of malformed files that
 * must each be rejected with the path and the fault named, and atomic writes that leave nothing behind
 * when they fail. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npy.h"
#include "safetensors.h"

#ifndef SERC_FIXTURES_DIR
#define SERC_FIXTURES_DIR "tests/fixtures"
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Scratch directory, one per test (Criterion runs tests in parallel processes).                   */

static char g_dir[64];

static void make_dir(void) {
    strcpy(g_dir, "/tmp/serc_st_XXXXXX");
    cr_assert(mkdtemp(g_dir) != NULL, "mkdtemp failed");
}

static void remove_dir(void) {
    DIR *d = opendir(g_dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
        remove(p);
    }
    closedir(d);
    rmdir(g_dir);
}

static int count_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void write_bytes(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "cannot create %s", path);
    cr_assert_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    unsigned char *buf = malloc((size_t)len + 1);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* ---------------------------------------------------------------------------------------------- */
/* Round trip                                                                                       */

static const float k_f32[6] = {-1.0f, 0.5f, 3.25f, -0.0f, 1e-38f, 65504.5f};
static const uint16_t k_bf16[4] = {0x3f80, 0x8000, 0x7fc0, 0xff80}; /* 1, -0, NaN, -inf */
static const uint16_t k_f16[4] = {0x3e00, 0xc000, 0x7bff, 0x0001};
static const int64_t k_i64[3] = {INT64_MIN, -1, INT64_MAX};
static const int32_t k_i32[2] = {-7, 2147483647};
static const uint8_t k_u8[5] = {0, 1, 127, 128, 255};
static const float k_scalar = 42.0f;

static const SafetensorsEntry k_entries[] = {
    {"encoder.w", SERC_F32, 2, {2, 3}, k_f32},
    {"encoder.w_bf16", SERC_BF16, 1, {4}, k_bf16},
    {"head.f16", SERC_F16, 2, {2, 2}, k_f16},
    {"labels", SERC_I64, 1, {3}, k_i64},
    {"five.dims", SERC_I32, 5, {1, 1, 1, 1, 2}, k_i32},
    {"mask", SERC_U8, 1, {5}, k_u8},
    {"scalar", SERC_F32, 0, {0}, &k_scalar},
    {"empty", SERC_F32, 2, {0, 7}, NULL},
    {"caf\xc3\xa9 \"quoted\"", SERC_U8, 1, {0}, NULL},
};
#define N_ENTRIES ((int)(sizeof k_entries / sizeof k_entries[0]))
static const char *const k_meta[] = {"epoch", "3", "note", "tab\t quote\" backslash\\ \xc3\xa9", NULL};

static size_t entry_nbytes(const SafetensorsEntry *e) {
    size_t n = serc_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n;
}

static void check_matches_entries(const SafetensorsFile *f) {
    cr_assert_eq(safetensors_count(f), N_ENTRIES);
    for (int i = 0; i < N_ENTRIES; i++) {
        const SafetensorsEntry *e = &k_entries[i];
        cr_assert_str_eq(safetensors_name(f, i), e->name);
        cr_assert_eq(safetensors_find(f, e->name), i);
        cr_assert_eq(safetensors_dtype(f, i), e->dtype, "%s", e->name);
        cr_assert_eq(safetensors_ndim(f, i), e->ndim, "%s", e->name);
        for (int d = 0; d < e->ndim; d++) cr_assert_eq(safetensors_shape(f, i)[d], e->shape[d]);
        cr_assert_eq(safetensors_nbytes(f, i), entry_nbytes(e), "%s", e->name);
        if (entry_nbytes(e)) cr_assert_eq(memcmp(safetensors_data(f, i), e->data, entry_nbytes(e)), 0, "%s", e->name);
    }
    cr_assert_eq(safetensors_numel(f, safetensors_find(f, "scalar")), 1);
    cr_assert_eq(safetensors_numel(f, safetensors_find(f, "empty")), 0);
    cr_assert_eq(safetensors_find(f, "nope"), -1);
    cr_assert_eq(safetensors_metadata_count(f), 2);
    cr_assert_str_eq(safetensors_metadata(f, "epoch"), "3");
    cr_assert_str_eq(safetensors_metadata(f, "note"), k_meta[3]);
    cr_assert_str_eq(safetensors_metadata_key(f, 1), "note");
    cr_assert_null(safetensors_metadata(f, "missing"));
}

Test(safetensors, round_trip_is_bitwise, .init = make_dir, .fini = remove_dir) {
    char path[128];
    snprintf(path, sizeof path, "%s/model.safetensors", g_dir);
    SercErr err = {{0}};
    cr_assert_eq(safetensors_write(path, k_entries, N_ENTRIES, k_meta, &err), 0, "%s", err.msg);
    cr_assert_eq(count_dir_entries(g_dir), 1, "temporary file left behind");

    SafetensorsFile *f = safetensors_open(path, &err);
    cr_assert(f != NULL, "%s", err.msg);
    check_matches_entries(f);
    safetensors_close(f);

    /* header padded with spaces to 8 bytes, data laid out in the order given */
    size_t n;
    unsigned char *raw = read_bytes(path, &n);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | raw[i];
    cr_assert_eq(header_len % 8, 0);
    cr_assert_eq(raw[8], '{');
    size_t total = 0;
    for (int i = 0; i < N_ENTRIES; i++) total += entry_nbytes(&k_entries[i]);
    cr_assert_eq(n, 8 + header_len + total);
    cr_assert_eq(memcmp(raw + 8 + header_len, k_f32, sizeof k_f32), 0);

    /* the in-memory parser agrees with the file reader */
    f = safetensors_parse(raw, n, "memory", &err);
    cr_assert(f != NULL, "%s", err.msg);
    check_matches_entries(f);
    safetensors_close(f);

    /* every truncation of a valid file is rejected, without crashing */
    for (size_t len = 0; len < n; len++) {
        f = safetensors_parse(raw, len, "prefix", &err);
        cr_assert_null(f, "prefix of %zu bytes accepted", len);
        cr_assert(strncmp(err.msg, "prefix: ", 8) == 0, "%s", err.msg);
    }
    free(raw);
}

/* F64 (statistics, MBPLS models) through safetensors and .npy ('<f8'), bitwise. */
Test(safetensors, f64_round_trip_in_safetensors_and_npy, .init = make_dir, .fini = remove_dir) {
    const double v[6] = {1.0, -2.5, 1e-300, 3.141592653589793, -0.0, 1e300};
    SafetensorsEntry e = {"stats.x", SERC_F64, 2, {2, 3}, v};
    char path[128];
    snprintf(path, sizeof path, "%s/f64.safetensors", g_dir);
    SercErr err = {{0}};
    cr_assert_eq(safetensors_write(path, &e, 1, NULL, &err), 0, "%s", err.msg);
    SafetensorsFile *f = safetensors_open(path, &err);
    cr_assert(f != NULL, "%s", err.msg);
    cr_assert_eq(safetensors_dtype(f, 0), SERC_F64);
    cr_assert_eq(safetensors_nbytes(f, 0), sizeof v);
    cr_assert_eq(memcmp(safetensors_data(f, 0), v, sizeof v), 0);
    safetensors_close(f);
    /* the header names the dtype as Python's safetensors does */
    size_t n;
    unsigned char *raw = read_bytes(path, &n);
    cr_assert(memmem(raw, n, "\"F64\"", 5) != NULL);
    free(raw);

    snprintf(path, sizeof path, "%s/f64.npy", g_dir);
    cr_assert_eq(npy_write(path, SERC_F64, 2, (const int64_t[]){2, 3}, v, &err), 0, "%s", err.msg);
    NpyArray a;
    cr_assert_eq(npy_read(path, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(a.dtype, SERC_F64);
    cr_assert_eq(a.ndim, 2);
    cr_assert_eq(memcmp(a.data, v, sizeof v), 0);
    npy_array_free(&a);
    raw = read_bytes(path, &n);
    cr_assert(memmem(raw, n, "'<f8'", 5) != NULL);
    free(raw);
}

/* The streaming writer produces the same bytes as the whole-file writer, and leaves nothing behind. */
Test(safetensors, stream_writes_the_same_bytes, .init = make_dir, .fini = remove_dir) {
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/whole.safetensors", g_dir);
    snprintf(b, sizeof b, "%s/stream.safetensors", g_dir);
    SercErr err = {{0}};
    cr_assert_eq(safetensors_write(a, k_entries, N_ENTRIES, k_meta, &err), 0, "%s", err.msg);
    SafetensorsStream *s = safetensors_stream_open(b, &err);
    cr_assert(s, "%s", err.msg);
    for (int i = 0; i < N_ENTRIES; i++) cr_assert_eq(safetensors_stream_add(s, &k_entries[i], &err), 0, "%s", err.msg);
    cr_assert_eq(safetensors_stream_close(s, k_meta, &err), 0, "%s", err.msg);
    size_t na, nb;
    unsigned char *ra = read_bytes(a, &na), *rb = read_bytes(b, &nb);
    cr_assert_eq(na, nb);
    cr_expect_eq(memcmp(ra, rb, na), 0);
    free(ra);
    free(rb);
    cr_expect_eq(count_dir_entries(g_dir), 2, "temporary file left behind");
    /* abort and a failed close leave no file */
    snprintf(b, sizeof b, "%s/aborted.safetensors", g_dir);
    s = safetensors_stream_open(b, &err);
    cr_assert(s, "%s", err.msg);
    cr_assert_eq(safetensors_stream_add(s, &k_entries[0], &err), 0, "%s", err.msg);
    safetensors_stream_abort(s);
    s = safetensors_stream_open(b, &err);
    cr_assert(s, "%s", err.msg);
    cr_assert_eq(safetensors_stream_add(s, &k_entries[0], &err), 0, "%s", err.msg);
    cr_assert_eq(safetensors_stream_add(s, &k_entries[0], &err), 0, "%s", err.msg); /* duplicate name */
    cr_expect_eq(safetensors_stream_close(s, NULL, &err), -1);
    cr_expect(strstr(err.msg, b), "%s", err.msg);
    cr_expect_eq(count_dir_entries(g_dir), 2, "a failed stream left a file");
    /* into a missing folder: a clear error at open */
    cr_expect_null(safetensors_stream_open("/nonexistent-dir/x.safetensors", &err));
    cr_expect(strstr(err.msg, "/nonexistent-dir/x.safetensors"), "%s", err.msg);
}

Test(safetensors, rewrite_replaces_file, .init = make_dir, .fini = remove_dir) {
    char path[128];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", g_dir);
    SercErr err = {{0}};
    cr_assert_eq(safetensors_write(path, k_entries, N_ENTRIES, k_meta, &err), 0, "%s", err.msg);
    cr_assert_eq(safetensors_write(path, k_entries + 3, 1, NULL, &err), 0, "%s", err.msg);
    SafetensorsFile *f = safetensors_open(path, &err);
    cr_assert(f != NULL, "%s", err.msg);
    cr_assert_eq(safetensors_count(f), 1);
    cr_assert_str_eq(safetensors_name(f, 0), "labels");
    cr_assert_eq(safetensors_metadata_count(f), 0);
    safetensors_close(f);
    /* no tensors at all is a valid file too */
    cr_assert_eq(safetensors_write(path, NULL, 0, NULL, &err), 0, "%s", err.msg);
    f = safetensors_open(path, &err);
    cr_assert(f != NULL, "%s", err.msg);
    cr_assert_eq(safetensors_count(f), 0);
    safetensors_close(f);
    cr_assert_eq(count_dir_entries(g_dir), 1);
}

Test(safetensors, write_into_missing_directory_fails_cleanly, .init = make_dir, .fini = remove_dir) {
    char path[128];
    snprintf(path, sizeof path, "%s/no/such/dir/model.safetensors", g_dir);
    SercErr err = {{0}};
    cr_assert_eq(safetensors_write(path, k_entries, N_ENTRIES, k_meta, &err), -1);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    cr_assert(strstr(err.msg, "No such file or directory"), "%s", err.msg);
    cr_assert_neq(access(path, F_OK), 0);
    cr_assert_eq(count_dir_entries(g_dir), 0);
}

Test(safetensors, writer_rejects_bad_entries, .init = make_dir, .fini = remove_dir) {
    char path[128];
    snprintf(path, sizeof path, "%s/bad.safetensors", g_dir);
    SercErr err = {{0}};
    SafetensorsEntry dup[2] = {k_entries[0], k_entries[0]};
    cr_assert_eq(safetensors_write(path, dup, 2, NULL, &err), -1);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "duplicate tensor name"), "%s", err.msg);
    SafetensorsEntry reserved = k_entries[0];
    reserved.name = "__metadata__";
    cr_assert_eq(safetensors_write(path, &reserved, 1, NULL, &err), -1);
    cr_assert(strstr(err.msg, "reserved"), "%s", err.msg);
    SafetensorsEntry neg = k_entries[0];
    neg.shape[1] = -3;
    cr_assert_eq(safetensors_write(path, &neg, 1, NULL, &err), -1);
    cr_assert(strstr(err.msg, "negative"), "%s", err.msg);
    const char *const meta[] = {"k", "a", "k", "b", NULL};
    cr_assert_eq(safetensors_write(path, k_entries, 1, meta, &err), -1);
    cr_assert(strstr(err.msg, "duplicate metadata key"), "%s", err.msg);
    cr_assert_eq(count_dir_entries(g_dir), 0);
}

Test(safetensors, open_missing_file_and_directory, .init = make_dir, .fini = remove_dir) {
    char path[128];
    snprintf(path, sizeof path, "%s/absent.safetensors", g_dir);
    SercErr err = {{0}};
    cr_assert_null(safetensors_open(path, &err));
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "cannot open"), "%s", err.msg);
    cr_assert_null(safetensors_open(g_dir, &err));
    cr_assert(strstr(err.msg, g_dir) && strstr(err.msg, "not a regular file"), "%s", err.msg);
}

/* ---------------------------------------------------------------------------------------------- */
/* Reference file written by Python's safetensors                                                  */

Test(safetensors, reads_python_reference_file) {
    const char *path = SERC_FIXTURES_DIR "/safetensors_ref.safetensors";
    SercErr err = {{0}};
    SafetensorsFile *f = safetensors_open(path, &err);
    cr_assert(f != NULL, "%s", err.msg);
    cr_assert_eq(safetensors_count(f), 6);

    int i = safetensors_find(f, "encoder.weight");
    cr_assert_geq(i, 0);
    cr_assert_eq(safetensors_dtype(f, i), SERC_F32);
    cr_assert_eq(safetensors_ndim(f, i), 2);
    cr_assert(safetensors_shape(f, i)[0] == 2 && safetensors_shape(f, i)[1] == 3);
    float w[6];
    memcpy(w, safetensors_data(f, i), sizeof w);
    for (int k = 0; k < 6; k++) cr_assert_eq(w[k], 0.5f * (float)k - 1.0f);

    i = safetensors_find(f, "encoder.scale");
    cr_assert_eq(safetensors_dtype(f, i), SERC_F16);
    uint16_t h[4];
    cr_assert_eq(safetensors_nbytes(f, i), sizeof h);
    memcpy(h, safetensors_data(f, i), sizeof h);
    cr_assert(h[0] == 0x3e00 && h[1] == 0xc000 && h[2] == 0x7bff && h[3] == 0x0001);

    i = safetensors_find(f, "step");
    cr_assert_eq(safetensors_dtype(f, i), SERC_I32);
    cr_assert_eq(safetensors_ndim(f, i), 0);
    int32_t step;
    memcpy(&step, safetensors_data(f, i), 4);
    cr_assert_eq(step, -7);

    i = safetensors_find(f, "labels");
    cr_assert_eq(safetensors_dtype(f, i), SERC_I64);
    int64_t labels[3];
    memcpy(labels, safetensors_data(f, i), sizeof labels);
    cr_assert(labels[0] == -(INT64_C(1) << 40) && labels[1] == 0 && labels[2] == (INT64_C(1) << 62) + 3);

    i = safetensors_find(f, "mask");
    cr_assert_eq(safetensors_dtype(f, i), SERC_U8);
    cr_assert(safetensors_shape(f, i)[0] == 3 && safetensors_shape(f, i)[1] == 1);
    const uint8_t *m = safetensors_data(f, i);
    cr_assert(m[0] == 0 && m[1] == 127 && m[2] == 255);

    i = safetensors_find(f, "empty");
    cr_assert_eq(safetensors_nbytes(f, i), 0);
    cr_assert(safetensors_shape(f, i)[0] == 0 && safetensors_shape(f, i)[1] == 4);

    cr_assert_eq(safetensors_metadata_count(f), 1);
    cr_assert_str_eq(safetensors_metadata(f, "source"), "serc fixture \xc3\xa9\xe4\xb8\xad");
    safetensors_close(f);
}

/* Written back in the same tensor and metadata order, the Python file comes out byte for byte: same
 * JSON spelling, same padding, same layout. */
Test(safetensors, writer_reproduces_python_bytes, .init = make_dir, .fini = remove_dir) {
    const char *ref = SERC_FIXTURES_DIR "/safetensors_ref.safetensors";
    SercErr err = {{0}};
    SafetensorsFile *f = safetensors_open(ref, &err);
    cr_assert(f != NULL, "%s", err.msg);
    int n = safetensors_count(f), m = safetensors_metadata_count(f);
    SafetensorsEntry *e = calloc((size_t)n, sizeof *e);
    const char **meta = calloc(2 * (size_t)m + 1, sizeof *meta);
    for (int i = 0; i < n; i++) {
        e[i].name = safetensors_name(f, i);
        e[i].dtype = safetensors_dtype(f, i);
        e[i].ndim = safetensors_ndim(f, i);
        memcpy(e[i].shape, safetensors_shape(f, i), (size_t)e[i].ndim * sizeof e[i].shape[0]);
        e[i].data = safetensors_data(f, i);
    }
    for (int i = 0; i < m; i++) {
        meta[2 * i] = safetensors_metadata_key(f, i);
        meta[2 * i + 1] = safetensors_metadata_value(f, i);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/rewritten.safetensors", g_dir);
    cr_assert_eq(safetensors_write(path, e, n, meta, &err), 0, "%s", err.msg);
    size_t n_ref, n_ours;
    unsigned char *a = read_bytes(ref, &n_ref), *b = read_bytes(path, &n_ours);
    cr_assert_eq(n_ours, n_ref);
    cr_assert_eq(memcmp(a, b, n_ref), 0, "rewritten file differs from the Python one");
    free(a);
    free(b);
    free(e);
    free(meta);
    safetensors_close(f);
}

/* ---------------------------------------------------------------------------------------------- */
/* Malformed files                                                                                  */

typedef struct BadFile {
    const char *what;
    const char *header; /* JSON header after the length prefix; NULL: `raw` is the whole file */
    size_t data_len;    /* zero bytes of data after the header */
    long long n;        /* header length written in the prefix; -1: strlen(header) */
    const char *raw;
    size_t raw_len;
    const char *keyword; /* the fault, as the message must name it */
} BadFile;

#define F32x2(begin, end) "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" #begin "," #end "]}"

static const BadFile bad_files[] = {
    {"empty file", NULL, 0, -1, "", 0, "empty file"},
    {"7-byte file", NULL, 0, -1, "\x02\0\0\0\0\0\0", 7, "shorter than the 8-byte"},
    {"header length 0", "{}", 0, 0, NULL, 0, "header length is 0"},
    {"header length past end", "{}", 0, 1000, NULL, 0, "past end of file"},
    {"header length absurd", "{}", 0, 200000000, NULL, 0, "too large"},
    {"truncated data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12, -1, NULL, 0,
     "past end of data buffer"},
    {"offsets out of range", "{\"a\":" F32x2(100, 108) "}", 8, -1, NULL, 0, "past end of data buffer"},
    {"bad JSON", "{\"a\": {\"dtype\": \"F32\",", 0, -1, NULL, 0, "not valid JSON"},
    {"NUL padding", "{}\0\0\0\0\0\0", 0, 8, NULL, 0, "not valid JSON"},
    {"header not UTF-8", "{\"a\xff\":" F32x2(0, 8) "}", 8, -1, NULL, 0, "UTF-8"},
    {"header not object", "[1, 2]", 0, -1, NULL, 0, "not a JSON object"},
    {"entry not object", "{\"a\": 5}", 0, -1, NULL, 0, "entry is number, not a JSON object"},
    {"unknown dtype", "{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, -1, NULL, 0,
     "unknown dtype \"C64\""},
    {"dtype not string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, -1, NULL, 0,
     "dtype is not a string"},
    {"missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, -1, NULL, 0, "missing key \"dtype\""},
    {"extra key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"strides\":[1]}}", 8, -1, NULL, 0,
     "unexpected key \"strides\""},
    {"overlapping tensors", "{\"a\":" F32x2(0, 8) ",\"b\":" F32x2(4, 12) "}", 12, -1, NULL, 0, "overlap"},
    {"same range twice", "{\"a\":" F32x2(0, 8) ",\"b\":" F32x2(0, 8) "}", 8, -1, NULL, 0, "overlap"},
    {"gap between tensors", "{\"a\":" F32x2(0, 8) ",\"b\":" F32x2(12, 20) "}", 20, -1, NULL, 0, "gap of 4 bytes"},
    {"trailing data", "{\"a\":" F32x2(0, 8) "}", 12, -1, NULL, 0, "trailing bytes"},
    {"shape/size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -1, NULL, 0,
     "needs 12 bytes"},
    {"begin > end", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, -1, NULL, 0, "begin > end"},
    {"one offset", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0]}}", 0, -1, NULL, 0,
     "data_offsets is not an array of two"},
    {"duplicate names", "{\"a\":" F32x2(0, 8) ",\"a\":" F32x2(8, 16) "}", 16, -1, NULL, 0, "duplicate key \"a\""},
    {"negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, -1, NULL, 0,
     "shape[0] is not a non-negative integer"},
    {"fractional dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, -1, NULL, 0,
     "shape[0] is not a non-negative integer"},
    {"6 dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, -1, NULL, 0,
     "6 dimensions; SERC supports at most 5"},
    {"shape overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}", 0,
     -1, NULL, 0, "overflows"},
    {"metadata value not string", "{\"__metadata__\":{\"epoch\":3}}", 0, -1, NULL, 0,
     "__metadata__ value for key \"epoch\" is number"},
    {"metadata not object", "{\"__metadata__\":\"x\"}", 0, -1, NULL, 0, "__metadata__ is string"},
};
#define N_BAD_FILES ((int)(sizeof bad_files / sizeof bad_files[0]))

/* Header text length: the NUL-padding case holds NULs, so it states its length in n. */
static size_t header_text_len(const BadFile *b) { return b->n > 0 && (size_t)b->n <= 8 ? (size_t)b->n : strlen(b->header); }

ParameterizedTestParameters(safetensors, malformed) {
    static int idx[N_BAD_FILES];
    for (int i = 0; i < N_BAD_FILES; i++) idx[i] = i;
    return cr_make_param_array(int, idx, N_BAD_FILES);
}

ParameterizedTest(int *i, safetensors, malformed, .init = make_dir, .fini = remove_dir) {
    const BadFile *b = &bad_files[*i];
    char path[128];
    snprintf(path, sizeof path, "%s/case%02d.safetensors", g_dir, *i);
    if (!b->header) {
        write_bytes(path, b->raw, b->raw_len);
    } else {
        size_t hlen = header_text_len(b);
        size_t total = 8 + hlen + b->data_len;
        unsigned char *buf = calloc(1, total);
        uint64_t n = b->n >= 0 ? (uint64_t)b->n : (uint64_t)hlen;
        for (int k = 0; k < 8; k++) buf[k] = (unsigned char)(n >> (8 * k));
        memcpy(buf + 8, b->header, hlen);
        write_bytes(path, buf, total);
        free(buf);
    }
    SercErr err = {{0}};
    SafetensorsFile *f = safetensors_open(path, &err);
    cr_assert_null(f, "case '%s' accepted", b->what);
    cr_assert(strncmp(err.msg, path, strlen(path)) == 0, "case '%s': message does not start with the path: %s",
              b->what, err.msg);
    cr_assert(strstr(err.msg, b->keyword), "case '%s': message lacks \"%s\": %s", b->what, b->keyword, err.msg);
}

/* The checks must not reject what the Python library accepts: offsets listed out of order, a header
 * with leading whitespace and no padding, zero-size tensors sharing an offset. */
Test(safetensors, accepts_unusual_but_valid_files, .init = make_dir, .fini = remove_dir) {
    const char *header = " {\"b\":" F32x2(8, 16) ",\"z\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[8,8]},"
                         "\"a\":" F32x2(0, 8) "}";
    size_t hlen = strlen(header);
    unsigned char buf[512] = {0};
    buf[0] = (unsigned char)hlen;
    memcpy(buf + 8, header, hlen);
    float vals[4] = {1, 2, 3, 4};
    memcpy(buf + 8 + hlen, vals, sizeof vals);
    char path[128];
    snprintf(path, sizeof path, "%s/odd.safetensors", g_dir);
    write_bytes(path, buf, 8 + hlen + sizeof vals);
    SercErr err = {{0}};
    SafetensorsFile *f = safetensors_open(path, &err);
    cr_assert(f != NULL, "%s", err.msg);
    cr_assert_eq(safetensors_count(f), 3);
    cr_assert_str_eq(safetensors_name(f, 0), "b"); /* header order is kept */
    float b[2];
    memcpy(b, safetensors_data(f, 0), sizeof b);
    cr_assert(b[0] == 3 && b[1] == 4);
    cr_assert_eq(safetensors_find(f, "a"), 2);
    safetensors_close(f);
}
