/* Views and layout: reshape, narrow, contiguous, permute, transpose, concat, embedding.
 *
 * Views (reshape, narrow) share data with their input and cost nothing; their backward adds the view's
 * gradient into the input's gradient, which is always contiguous in the input's shape. Everything
 * else materialises a new contiguous arena tensor.
 *
 * Every dim argument may be negative, counting from the end as in PyTorch (-1 is the last dim).
 */
#include <string.h>

#include "ops.h"

/* Maps a possibly negative dim into [0, ndim); aborts naming the op otherwise. */
static int norm_dim(const char *op, int dim, int ndim) {
    int d = dim < 0 ? dim + ndim : dim;
    SERC_ASSERT(d >= 0 && d < ndim, "%s: dim %d out of range for a %d-dim tensor", op, dim, ndim);
    return d;
}

/* Contiguous (row-major) strides of a shape. */
static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= shape[d];
    }
}

/* Offset of the first element of row r, where rows enumerate every dim but the last in row-major
 * order, in a layout with the given strides. */
static int64_t row_offset(int ndim, const int64_t *shape, const int64_t *stride, int64_t r) {
    int64_t off = 0;
    for (int d = ndim - 2; d >= 0; d--) {
        off += (r % shape[d]) * stride[d];
        r /= shape[d];
    }
    return off;
}

/* dst (contiguous, shape) = src read through strides, for any element size. Rows (every dim but the
 * last) are independent. */
static void strided_gather(void *dst, const void *src, size_t esize, int ndim, const int64_t *shape,
                           const int64_t *stride) {
    if (ndim == 0) {
        memcpy(dst, src, esize);
        return;
    }
    int64_t L = shape[ndim - 1], ls = stride[ndim - 1], rows = 1;
    for (int d = 0; d < ndim - 1; d++) rows *= shape[d];
#define GATHER_ROWS(T) \
    _Pragma("omp parallel for") \
    for (int64_t r = 0; r < rows; r++) { \
        const T *s = (const T *)src + row_offset(ndim, shape, stride, r); \
        T *o = (T *)dst + r * L; \
        for (int64_t j = 0; j < L; j++) o[j] = s[j * ls]; \
    }
    switch (esize) {
    case 1: GATHER_ROWS(uint8_t); break;
    case 2: GATHER_ROWS(uint16_t); break;
    case 4: GATHER_ROWS(uint32_t); break;
    case 8: GATHER_ROWS(uint64_t); break;
    default: serc_die("strided copy of %zu-byte elements", esize);
    }
#undef GATHER_ROWS
}

/* dst[through strides] += src (contiguous, shape). The strided positions must be distinct (a
 * permutation or a slice), so rows can run in parallel. */
static void strided_scatter_add(float *dst, const float *src, int ndim, const int64_t *shape, const int64_t *stride) {
    if (ndim == 0) {
        dst[0] += src[0];
        return;
    }
    int64_t L = shape[ndim - 1], ls = stride[ndim - 1], rows = 1;
    for (int d = 0; d < ndim - 1; d++) rows *= shape[d];
    #pragma omp parallel for
    for (int64_t r = 0; r < rows; r++) {
        float *o = dst + row_offset(ndim, shape, stride, r);
        const float *s = src + r * L;
        for (int64_t j = 0; j < L; j++) o[j * ls] += s[j];
    }
}

/* Same shape, same element order: dx += dy. Shared by reshape and contiguous. */
static void copy_grad_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *y = n->out;
    if (!x->requires_grad) return;
    const float *gy = tensor_f32(y->grad);
    float *gx = tensor_grad_f32(g, x);
    int64_t N = tensor_numel(x);
    #pragma omp parallel for
    for (int64_t i = 0; i < N; i++) gx[i] += gy[i];
}

/* View of contiguous x with a new shape of the same numel; one entry may be -1 (inferred). */
Tensor *op_reshape(Ctx *g, Tensor *x, int ndim, const int64_t *shape) {
    char a[64];
    SERC_ASSERT(tensor_is_contiguous(x), "reshape: input %s is strided (op_contiguous first)",
                tensor_describe(x, a, sizeof a));
    SERC_ASSERT(ndim >= 0 && ndim <= SERC_MAX_DIMS, "reshape: %d dims (at most %d)", ndim, SERC_MAX_DIMS);
    int64_t s[SERC_MAX_DIMS], known = 1;
    int infer = -1;
    for (int d = 0; d < ndim; d++) {
        s[d] = shape[d];
        if (s[d] == -1) {
            SERC_ASSERT(infer < 0, "reshape: more than one -1 in the new shape of %s", tensor_describe(x, a, sizeof a));
            infer = d;
        } else {
            SERC_ASSERT(s[d] >= 0, "reshape: size %lld in dim %d", (long long)s[d], d);
            known *= s[d];
        }
    }
    int64_t N = tensor_numel(x);
    if (infer >= 0) {
        SERC_ASSERT(known > 0 && N % known == 0, "reshape: cannot infer dim %d of %s from %lld known elements",
                    infer, tensor_describe(x, a, sizeof a), (long long)known);
        s[infer] = N / known;
        known *= s[infer];
    }
    SERC_ASSERT(known == N, "reshape: %s has %lld elements, new shape %lld", tensor_describe(x, a, sizeof a),
                (long long)N, (long long)known);
    Tensor *y = tensor_view_header(g, x);
    tensor_set_shape(y, ndim, s);
    if (ctx_needs_grad(g, &x, 1)) ctx_record(g, "reshape", copy_grad_backward, y, &x, 1);
    return y;
}

/* dx[..., start:start+len, ...] += dy; the slice is iattr[0] = dim, iattr[1] = start. */
static void narrow_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *y = n->out;
    if (!x->requires_grad) return;
    int dim = (int)n->iattr[0];
    int64_t start = n->iattr[1];
    float *gx = tensor_grad_f32(g, x);
    /* x's gradient is contiguous in x's shape: the slice starts at start * stride[dim] and keeps
     * those strides */
    int64_t st[SERC_MAX_DIMS];
    contiguous_strides(x->ndim, x->shape, st);
    strided_scatter_add(gx + start * st[dim], tensor_f32(y->grad), y->ndim, y->shape, st);
}

/* View of x[..., start:start+len, ...] along dim (any dtype, x may itself be strided). */
Tensor *op_narrow(Ctx *g, Tensor *x, int dim, int64_t start, int64_t len) {
    char a[64];
    int d = norm_dim("narrow", dim, x->ndim);
    SERC_ASSERT(start >= 0 && len >= 0 && start + len <= x->shape[d], "narrow: [%lld, %lld) of dim %d of %s",
                (long long)start, (long long)(start + len), dim, tensor_describe(x, a, sizeof a));
    Tensor *y = tensor_view_header(g, x);
    y->shape[d] = len;
    y->data = (char *)x->data + (size_t)(start * x->stride[d]) * serc_dtype_size(x->dtype);
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, "narrow", narrow_backward, y, &x, 1);
        n->iattr[0] = d;
        n->iattr[1] = start;
    }
    return y;
}

/* Contiguous copy of x (any dtype); x itself when already contiguous. Backward is an elementwise add:
 * x's gradient is contiguous in x's shape like y's, and a narrow's backward maps it into its source. */
Tensor *op_contiguous(Ctx *g, Tensor *x) {
    if (tensor_is_contiguous(x)) return x;
    Tensor *y = tensor_empty(g, x->dtype, x->ndim, x->shape);
    strided_gather(y->data, x->data, serc_dtype_size(x->dtype), x->ndim, x->shape, x->stride);
    if (ctx_needs_grad(g, &x, 1)) ctx_record(g, "contiguous", copy_grad_backward, y, &x, 1);
    return y;
}

/* dx[perm^-1(i)] += dy[i]: scatter through x's (contiguous) gradient strides, permuted. */
static void permute_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *y = n->out;
    if (!x->requires_grad) return;
    int64_t st[SERC_MAX_DIMS], pst[SERC_MAX_DIMS];
    contiguous_strides(x->ndim, x->shape, st);
    for (int d = 0; d < x->ndim; d++) pst[d] = st[n->iattr[d]];
    strided_scatter_add(tensor_grad_f32(g, x), tensor_f32(y->grad), y->ndim, y->shape, pst);
}

/* y.shape[d] = x.shape[perm[d]], materialised contiguous. x may be strided (read through its strides)
 * and of any dtype; perm entries may be negative. */
Tensor *op_permute(Ctx *g, Tensor *x, const int *perm) {
    char a[64];
    int p[SERC_MAX_DIMS], seen[SERC_MAX_DIMS] = {0};
    int64_t shape[SERC_MAX_DIMS], stride[SERC_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        p[d] = norm_dim("permute", perm[d], x->ndim);
        SERC_ASSERT(!seen[p[d]], "permute: dim %d repeated in the permutation of %s", perm[d],
                    tensor_describe(x, a, sizeof a));
        seen[p[d]] = 1;
        shape[d] = x->shape[p[d]];
        stride[d] = x->stride[p[d]];
    }
    Tensor *y = tensor_empty(g, x->dtype, x->ndim, shape);
    /* y is x seen through permuted strides, gathered */
    strided_gather(y->data, x->data, serc_dtype_size(x->dtype), x->ndim, shape, stride);
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, "permute", permute_backward, y, &x, 1);
        for (int d = 0; d < x->ndim; d++) n->iattr[d] = p[d];
    }
    return y;
}

/* Swaps dims d0 and d1 (a materialised permute). */
Tensor *op_transpose(Ctx *g, Tensor *x, int d0, int d1) {
    int p[SERC_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) p[d] = d;
    d0 = norm_dim("transpose", d0, x->ndim);
    d1 = norm_dim("transpose", d1, x->ndim);
    p[d0] = d1;
    p[d1] = d0;
    return op_permute(g, x, p);
}

/* The inputs of a concat: more than TAPE_MAX_INPUTS may be joined, so the full list lives here. */
typedef struct ConcatInputs {
    int n, dim;
    Tensor **xs;
} ConcatInputs;

/* dx_i = dy[..., off_i:off_i+n_i, ...] */
static void concat_backward(Ctx *g, TapeNode *n) {
    const ConcatInputs *ci = n->extra;
    Tensor *y = n->out;
    const float *gy = tensor_f32(y->grad);
    int dim = ci->dim;
    int64_t outer = 1, inner = 1, Y = y->shape[dim];
    for (int d = 0; d < dim; d++) outer *= y->shape[d];
    for (int d = dim + 1; d < y->ndim; d++) inner *= y->shape[d];
    int64_t off = 0;
    for (int i = 0; i < ci->n; i++) {
        Tensor *x = ci->xs[i];
        int64_t X = x->shape[dim];
        if (x->requires_grad) {
            float *gx = tensor_grad_f32(g, x);
            #pragma omp parallel for
            for (int64_t o = 0; o < outer; o++)
                for (int64_t j = 0; j < X * inner; j++) gx[o * X * inner + j] += gy[(o * Y + off) * inner + j];
        }
        off += X;
    }
}

/* y = [x_0, ..., x_{n-1}] along dim: contiguous f32 inputs of equal ndim, other dims equal. */
Tensor *op_concat(Ctx *g, Tensor *const *xs, int n, int dim) {
    char a[64], b[64];
    SERC_ASSERT(n >= 1, "concat of %d tensors", n);
    int nd = xs[0]->ndim, d = norm_dim("concat", dim, nd);
    int64_t shape[SERC_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[d] = 0;
    for (int i = 0; i < n; i++) {
        int same = xs[i]->ndim == nd;
        for (int k = 0; same && k < nd; k++) same = k == d || xs[i]->shape[k] == xs[0]->shape[k];
        SERC_ASSERT(same, "concat along dim %d: input %d is %s, input 0 is %s", dim, i,
                    tensor_describe(xs[i], a, sizeof a), tensor_describe(xs[0], b, sizeof b));
        shape[d] += xs[i]->shape[d];
    }
    Tensor *y = tensor_empty(g, SERC_F32, nd, shape);
    float *yv = tensor_f32(y);
    int64_t outer = 1, inner = 1, Y = shape[d];
    for (int k = 0; k < d; k++) outer *= shape[k];
    for (int k = d + 1; k < nd; k++) inner *= shape[k];
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        const float *xv = tensor_f32(xs[i]);
        int64_t X = xs[i]->shape[d];
        #pragma omp parallel for
        for (int64_t o = 0; o < outer; o++)
            memcpy(yv + (o * Y + off) * inner, xv + o * X * inner, (size_t)(X * inner) * sizeof(float));
        off += X;
    }
    if (ctx_needs_grad(g, xs, n)) {
        TapeNode *node = ctx_record(g, "concat", concat_backward, y, xs, n < TAPE_MAX_INPUTS ? n : TAPE_MAX_INPUTS);
        ConcatInputs *ci = arena_alloc(&g->arena, sizeof *ci);
        ci->n = n;
        ci->dim = d;
        ci->xs = arena_alloc(&g->arena, (size_t)n * sizeof *ci->xs);
        memcpy(ci->xs, xs, (size_t)n * sizeof *ci->xs);
        node->extra = ci;
    }
    return y;
}

/* dW[id] += dy[i] for every position i. Serial over positions: a repeated id would race. */
static void embedding_backward(Ctx *g, TapeNode *n) {
    Tensor *w = n->in[0], *ids = n->in[1], *y = n->out;
    if (!w->requires_grad) return;
    int64_t D = w->shape[1], N = tensor_numel(ids);
    const float *gy = tensor_f32(y->grad);
    float *gw = tensor_grad_f32(g, w);
    for (int64_t i = 0; i < N; i++) {
        float *row = gw + tensor_get_index(ids, i) * D;
        const float *gr = gy + i * D;
        for (int64_t j = 0; j < D; j++) row[j] += gr[j];
    }
}

/* y[i..., :] = weight[ids[i...], :]. weight (V, D) f32, ids (any shape) i32 or i64 -> (ids.shape..., D). */
Tensor *op_embedding(Ctx *g, Tensor *weight, Tensor *ids) {
    char a[64], b[64];
    SERC_ASSERT(weight->ndim == 2, "embedding: weight %s is not (V, D)", tensor_describe(weight, a, sizeof a));
    SERC_ASSERT(ids->dtype == SERC_I32 || ids->dtype == SERC_I64, "embedding: ids %s are not i32 or i64",
                tensor_describe(ids, a, sizeof a));
    SERC_ASSERT(ids->ndim < SERC_MAX_DIMS, "embedding: ids %s leave no room for the embedding dim",
                tensor_describe(ids, a, sizeof a));
    int64_t V = weight->shape[0], D = weight->shape[1], N = tensor_numel(ids);
    /* check every id before touching memory, so the message names the first bad one */
    for (int64_t i = 0; i < N; i++) {
        int64_t id = tensor_get_index(ids, i);
        SERC_ASSERT(id >= 0 && id < V,
                    "embedding: id %lld at position %lld out of range [0, %lld) for weight %s, ids %s", (long long)id,
                    (long long)i, (long long)V, tensor_describe(weight, a, sizeof a), tensor_describe(ids, b, sizeof b));
    }
    int64_t shape[SERC_MAX_DIMS];
    for (int d = 0; d < ids->ndim; d++) shape[d] = ids->shape[d];
    shape[ids->ndim] = D;
    Tensor *y = tensor_empty(g, SERC_F32, ids->ndim + 1, shape);
    const float *wv = tensor_f32(weight);
    float *yv = tensor_f32(y);
    #pragma omp parallel for
    for (int64_t i = 0; i < N; i++) memcpy(yv + i * D, wv + tensor_get_index(ids, i) * D, (size_t)D * sizeof(float));
    Tensor *in[2] = {weight, ids};
    if (ctx_needs_grad(g, in, 1)) ctx_record(g, "embedding", embedding_backward, y, in, 2);
    return y;
}
