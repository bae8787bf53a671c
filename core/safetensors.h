/* safetensors files, read and written exactly as Hugging Face's `safetensors` library does.
 *
 * Layout: an 8-byte little-endian u64 N; N bytes of UTF-8 JSON header, an object mapping each tensor
 * name to {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} plus an optional
 * "__metadata__" object of string -> string; then the data buffer, which the tensors' byte ranges
 * (relative to its start) must cover exactly, without holes or overlaps.
 *
 * The reader validates everything the Python library validates (and a little more: unknown keys in an
 * entry, dtypes and ranks SERC cannot hold), so a file SERC accepts is one Python accepts, and every
 * rejection names the file and the fault.
 */
#ifndef SERC_SAFETENSORS_H
#define SERC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "tensor.h"

/* The Python library's limit on the header (MAX_HEADER_SIZE in safetensors/src/tensor.rs). */
#define SAFETENSORS_MAX_HEADER 100000000ull

typedef struct SafetensorsFile SafetensorsFile;

/* Reads and validates the whole file at `path`. Returns NULL with err = "<path>: <fault>" when the
 * file is missing, unreadable or malformed in any way. Tensors keep the header's order. */
SafetensorsFile *safetensors_open(const char *path, SercErr *err);

/* As safetensors_open, for a file image already in memory (buf is copied; `label` names it in
 * messages). This is the entry point of the fuzz target. */
SafetensorsFile *safetensors_parse(const void *buf, size_t len, const char *label, SercErr *err);

/* Frees everything (NULL is fine). */
void safetensors_close(SafetensorsFile *f);

/* Number of tensors. */
int safetensors_count(const SafetensorsFile *f);
/* Index of the tensor called `name`, or -1. */
int safetensors_find(const SafetensorsFile *f, const char *name);
/* Tensor i's name, dtype, rank (0 for a scalar) and shape (ndim entries, each >= 0). */
const char *safetensors_name(const SafetensorsFile *f, int i);
SercDType safetensors_dtype(const SafetensorsFile *f, int i);
int safetensors_ndim(const SafetensorsFile *f, int i);
const int64_t *safetensors_shape(const SafetensorsFile *f, int i);
/* Number of elements (1 for a scalar, 0 when a dimension is 0). */
int64_t safetensors_numel(const SafetensorsFile *f, int i);
/* Tensor i's bytes, little-endian, row-major: nbytes = numel * dtype size. The data buffer starts
 * 16-byte aligned; a tensor is aligned to its element size when its begin offset is (true of files the
 * Python library and safetensors_write with size-sorted entries produce), otherwise copy with memcpy. */
const void *safetensors_data(const SafetensorsFile *f, int i);
size_t safetensors_nbytes(const SafetensorsFile *f, int i);

/* Value of "__metadata__" key `key`, or NULL when absent. */
const char *safetensors_metadata(const SafetensorsFile *f, const char *key);
/* Number of metadata pairs, and pair i (in header order). */
int safetensors_metadata_count(const SafetensorsFile *f);
const char *safetensors_metadata_key(const SafetensorsFile *f, int i);
const char *safetensors_metadata_value(const SafetensorsFile *f, int i);

/* One tensor to write: data holds numel * dtype-size bytes, little-endian, row-major (NULL allowed when
 * numel is 0). */
typedef struct SafetensorsEntry {
    const char *name;
    SercDType dtype;
    int ndim;
    int64_t shape[SERC_MAX_DIMS];
    const void *data;
} SafetensorsEntry;

/* Writes entries[0..n) to `path` with the data laid out in the order given, and metadata from meta_kv
 * (NULL, or {key0, value0, key1, value1, ..., NULL}). The JSON header is padded with spaces to a
 * multiple of 8 bytes, as the Python library pads it. The write is atomic: the bytes go to
 * "<path>.tmp.<pid>", are flushed and fsync'd, then renamed over path, so path never holds a partial
 * file. Returns 0, or -1 with err = "<path>: <fault>" (bad entry, or the system error) and no file
 * left behind. */
int safetensors_write(const char *path, const SafetensorsEntry *entries, int n, const char *const *meta_kv,
                      SercErr *err);

/* Writing tensor by tensor when they do not fit in memory together (encoder features of a whole
 * corpus): each add appends the tensor's bytes to an unlinked temporary file beside path and keeps only
 * its name and shape; close writes the header and then the bytes, atomically as safetensors_write does,
 * and frees the stream (abort frees it, leaving no file). Memory: one tensor at a time plus the header. */
typedef struct SafetensorsStream SafetensorsStream;
SafetensorsStream *safetensors_stream_open(const char *path, SercErr *err);
int safetensors_stream_add(SafetensorsStream *s, const SafetensorsEntry *e, SercErr *err);
int safetensors_stream_close(SafetensorsStream *s, const char *const *meta_kv, SercErr *err);
void safetensors_stream_abort(SafetensorsStream *s);

#endif
