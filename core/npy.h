/* NumPy .npy files: a writer (format version 1.0, little-endian, C order) and a strict reader.
 *
 * Format (numpy.lib.format): the 6 bytes "\x93NUMPY", major and minor version bytes, the header length
 * (uint16 LE in 1.0; uint32 LE in 2.0 and 3.0), then an ASCII (3.0: UTF-8) Python dict literal
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (120, 80), }
 * padded with spaces and ended by '\n' so that the data starts at a multiple of 64 bytes, then the
 * raw array data.
 *
 * The reader accepts exactly that: versions 1.0, 2.0 and 3.0; the three keys, each once, no others;
 * dtypes '<f4', '<f2', '<i4', '<i8', '|u1' (and '<u1'); fortran_order False; at most SERC_MAX_DIMS
 * dimensions; a data size that matches the file exactly. Every error names the file and the problem.
 */
#ifndef SERC_NPY_H
#define SERC_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "tensor.h"

typedef struct NpyArray {
    SercDType dtype;
    int ndim;
    int64_t shape[SERC_MAX_DIMS];
    int64_t numel;
    void *data; /* numel elements, owned (npy_array_free) */
} NpyArray;

/* Reads path into out. */
int npy_read(const char *path, NpyArray *out, SercErr *err);
/* Parses an in-memory .npy image buf[0..len); `name` prefixes messages. */
int npy_parse(const void *buf, size_t len, const char *name, NpyArray *out, SercErr *err);
void npy_array_free(NpyArray *a);

/* Writes data (C order) atomically: a temporary file beside path, renamed over it once complete.
 * dtype: SERC_F32, SERC_F64, SERC_F16, SERC_I32, SERC_I64 or SERC_U8; 0 <= ndim <= SERC_MAX_DIMS. */
int npy_write(const char *path, SercDType dtype, int ndim, const int64_t *shape, const void *data, SercErr *err);
int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, SercErr *err);
int npy_write_i64(const char *path, const int64_t *data, int ndim, const int64_t *shape, SercErr *err);

#endif
