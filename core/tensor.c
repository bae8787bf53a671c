#include "tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const size_t DTYPE_SIZE[SERC_DTYPE_COUNT] = {4, 2, 2, 4, 8, 1, 8};
static const char *const DTYPE_NAME[SERC_DTYPE_COUNT] = {"F32", "BF16", "F16", "I32", "I64", "U8", "F64"};

size_t serc_dtype_size(SercDType dt) {
    SERC_ASSERT(dt >= 0 && dt < SERC_DTYPE_COUNT, "bad dtype %d", (int)dt);
    return DTYPE_SIZE[dt];
}

const char *serc_dtype_name(SercDType dt) {
    SERC_ASSERT(dt >= 0 && dt < SERC_DTYPE_COUNT, "bad dtype %d", (int)dt);
    return DTYPE_NAME[dt];
}

int serc_dtype_from_name(const char *name, SercDType *out) {
    for (int i = 0; i < SERC_DTYPE_COUNT; i++) {
        if (strcmp(name, DTYPE_NAME[i]) == 0) {
            *out = (SercDType)i;
            return 0;
        }
    }
    return -1;
}

int64_t tensor_numel(const Tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

size_t tensor_nbytes(const Tensor *t) { return (size_t)tensor_numel(t) * serc_dtype_size(t->dtype); }

int tensor_is_contiguous(const Tensor *t) {
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect) return 0;
        expect *= t->shape[d];
    }
    return 1;
}

int tensor_same_shape(const Tensor *a, const Tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

char *tensor_describe(const Tensor *t, char *buf, size_t n) {
    size_t off = (size_t)snprintf(buf, n, "%s[", serc_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim && off < n; d++)
        off += (size_t)snprintf(buf + off, n - off, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (off < n) snprintf(buf + off, n - off, "]");
    return buf;
}

void tensor_set_shape(Tensor *t, int ndim, const int64_t *shape) {
    SERC_ASSERT(ndim >= 0 && ndim <= SERC_MAX_DIMS, "tensor with %d dims (at most %d)", ndim, SERC_MAX_DIMS);
    t->ndim = ndim;
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        SERC_ASSERT(shape[d] >= 0, "negative size %lld in dim %d", (long long)shape[d], d);
        t->shape[d] = shape[d];
        t->stride[d] = s;
        s *= shape[d];
    }
    for (int d = ndim; d < SERC_MAX_DIMS; d++) {
        t->shape[d] = 1;
        t->stride[d] = 1;
    }
}

static void *checked_data(const Tensor *t, SercDType dt) {
    char a[64];
    SERC_ASSERT(t->dtype == dt, "expected %s tensor, got %s", serc_dtype_name(dt), tensor_describe(t, a, sizeof a));
    SERC_ASSERT(tensor_is_contiguous(t), "expected contiguous tensor, got strided %s", tensor_describe(t, a, sizeof a));
    return t->data;
}

float *tensor_f32(const Tensor *t) { return checked_data(t, SERC_F32); }
int32_t *tensor_i32(const Tensor *t) { return checked_data(t, SERC_I32); }
int64_t *tensor_i64(const Tensor *t) { return checked_data(t, SERC_I64); }
uint8_t *tensor_u8(const Tensor *t) { return checked_data(t, SERC_U8); }
double *tensor_f64(const Tensor *t) { return checked_data(t, SERC_F64); }

int64_t tensor_get_index(const Tensor *t, int64_t i) {
    switch (t->dtype) {
    case SERC_I32: return tensor_i32(t)[i];
    case SERC_I64: return tensor_i64(t)[i];
    case SERC_U8: return tensor_u8(t)[i];
    default: serc_die("expected an integer tensor (i32, i64, u8), got %s", serc_dtype_name(t->dtype));
    }
}

Tensor *tensor_heap_new(SercDType dt, int ndim, const int64_t *shape) {
    Tensor *t = serc_calloc(1, sizeof *t);
    t->dtype = dt;
    tensor_set_shape(t, ndim, shape);
    t->data = serc_calloc((size_t)tensor_numel(t) + 1, serc_dtype_size(dt));
    return t;
}

void tensor_heap_free(Tensor *t) {
    if (!t) return;
    if (t->grad) tensor_heap_free(t->grad);
    free(t->data);
    free(t);
}

/* bf16 is the top half of an f32; round to nearest even, keep NaN a NaN. */
uint16_t serc_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float serc_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t serc_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);       /* NaN */
    if (absu >= 0x47800000u) return (uint16_t)(sign | 0x7c00u);      /* overflow to Inf (>= 65536) */
    if (absu < 0x38800000u) {                                       /* subnormal half or zero */
        if (absu < 0x33000000u) return (uint16_t)sign;               /* below half of smallest subnormal */
        uint32_t mant = (absu & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(absu >> 23); /* mant * 2^(e-150) = half * 2^-24 */
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1u);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((absu - 0x38000000u) >> 13);
    uint32_t rem = absu & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

float serc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, u;
    if (e == 0) {
        if (m == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            int s = 0;
            while (!(m & 0x400u)) {
                m <<= 1;
                s++;
            }
            u = sign | ((uint32_t)(113 - s) << 23) | ((m & 0x3ffu) << 13);
        }
    } else if (e == 31) {
        u = sign | 0x7f800000u | (m << 13);
    } else {
        u = sign | ((e + 112u) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}
