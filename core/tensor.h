/* Tensors: a dtype, up to 5 dimensions, strides in elements, a device, and a pointer to data that is
 * either owned by an arena / parameter store or shared with another tensor (a view).
 *
 * Every op takes contiguous inputs unless it says otherwise; views that keep contiguity (reshape,
 * narrow along the leading non-unit dimension) cost nothing, other narrows give a strided view that
 * op_contiguous() materialises.
 */
#ifndef SERC_TENSOR_H
#define SERC_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SERC_MAX_DIMS 5

typedef enum SercDType {
    SERC_F32 = 0,
    SERC_BF16,
    SERC_F16,
    SERC_I32,
    SERC_I64,
    SERC_U8,
    SERC_F64, /* storage and I/O only (npy '<f8', safetensors F64): statistics such as MBPLS models */
    SERC_DTYPE_COUNT
} SercDType;

/* Size in bytes of one element. */
size_t serc_dtype_size(SercDType dt);
/* Name as safetensors writes it: "F32", "BF16", "F16", "I32", "I64", "U8", "F64". */
const char *serc_dtype_name(SercDType dt);
/* Parses a safetensors dtype name; returns -1 when unknown. */
int serc_dtype_from_name(const char *name, SercDType *out);

typedef enum SercDeviceType { SERC_CPU = 0, SERC_CUDA = 1 } SercDeviceType;

typedef struct SercDevice {
    SercDeviceType type;
    int index; /* CUDA device ordinal; 0 on the CPU */
} SercDevice;

typedef struct Tensor Tensor;
struct Tensor {
    SercDType dtype;
    SercDevice device;
    int ndim;
    int64_t shape[SERC_MAX_DIMS];
    int64_t stride[SERC_MAX_DIMS]; /* in elements */
    void *data;                    /* element [0, ..., 0] */
    Tensor *grad;                  /* f32, contiguous, same shape; NULL until backward needs it */
    int requires_grad;             /* a leaf parameter, or computed from one while recording */
    const char *name;              /* parameter name, else NULL */
};

/* SHAPE(a, b, c) expands to `3, (const int64_t[]){a, b, c}` for the constructors below. */
#define SERC_NARGS_(_1, _2, _3, _4, _5, N, ...) N
#define SERC_NARGS(...) SERC_NARGS_(__VA_ARGS__, 5, 4, 3, 2, 1, 0)
#define SHAPE(...) SERC_NARGS(__VA_ARGS__), (const int64_t[]){__VA_ARGS__}

int64_t tensor_numel(const Tensor *t);
size_t tensor_nbytes(const Tensor *t);
int tensor_is_contiguous(const Tensor *t);
int tensor_same_shape(const Tensor *a, const Tensor *b);
/* Writes "f32[2, 3, 5]" into buf; returns buf. */
char *tensor_describe(const Tensor *t, char *buf, size_t n);

/* Fills shape and contiguous (row-major) strides; checks ndim and non-negative sizes. */
void tensor_set_shape(Tensor *t, int ndim, const int64_t *shape);

/* Data accessors that check dtype and contiguity (abort otherwise). */
float *tensor_f32(const Tensor *t);
int32_t *tensor_i32(const Tensor *t);
int64_t *tensor_i64(const Tensor *t);
double *tensor_f64(const Tensor *t);
uint8_t *tensor_u8(const Tensor *t);

/* Reads element i of a contiguous integer tensor (i32, i64 or u8) as int64. */
int64_t tensor_get_index(const Tensor *t, int64_t i);

/* Heap tensors, for state that outlives a step (batch-norm buffers outside a store, test data). */
Tensor *tensor_heap_new(SercDType dt, int ndim, const int64_t *shape);
void tensor_heap_free(Tensor *t);

/* bf16 / f16 <-> f32 conversions (round to nearest even). */
uint16_t serc_f32_to_bf16(float f);
float serc_bf16_to_f32(uint16_t h);
uint16_t serc_f32_to_f16(float f);
float serc_f16_to_f32(uint16_t h);

#endif
