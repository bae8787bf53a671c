/* Views and layout ops against plain double references: reshape, narrow, contiguous, permute,
 * transpose, concat, embedding. Then the view properties the table cannot see: shared data, which
 * narrows stay contiguous, and the aborts on misuse. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <signal.h>

#include "opcheck.h"

/* A table entry: name, build, reference, attr, number of inputs, then the input specs. */
/* ---- reference helpers: row-major index arithmetic over a spec's shape ---- */

static void strides_of(const InputSpec *s, int64_t *st) {
    int64_t k = 1;
    for (int d = s->ndim - 1; d >= 0; d--) {
        st[d] = k;
        k *= s->shape[d];
    }
}

/* Positive dim for a possibly negative one. */
static int ref_dim(int dim, int ndim) { return dim < 0 ? dim + ndim : dim; }

/* ---- reshape: same elements, same order ---- */

typedef struct ReshapeAttr {
    int ndim;
    int64_t shape[SERC_MAX_DIMS];
} ReshapeAttr;

static Tensor *build_reshape(Ctx *g, Tensor *const *in, const void *attr) {
    const ReshapeAttr *a = attr;
    return op_reshape(g, in[0], a->ndim, a->shape);
}

static void ref_identity(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)spec, (void)attr;
    for (int64_t i = 0; i < n; i++) out[i] = in[0][i];
}

/* ---- narrow (through contiguous, so the output is contiguous) ---- */

typedef struct NarrowAttr {
    int dim;
    int64_t start, len;
} NarrowAttr;

static Tensor *build_narrow(Ctx *g, Tensor *const *in, const void *attr) {
    const NarrowAttr *a = attr;
    return op_contiguous(g, op_narrow(g, in[0], a->dim, a->start, a->len));
}

/* out[o, j, i] = x[o, start + j, i] with o the dims before `dim`, i the dims after. */
static void ref_narrow_dims(const double *x, const InputSpec *s, int dim, int64_t start, int64_t len, double *out) {
    int d = ref_dim(dim, s->ndim);
    int64_t outer = 1, inner = 1, X = s->shape[d];
    for (int k = 0; k < d; k++) outer *= s->shape[k];
    for (int k = d + 1; k < s->ndim; k++) inner *= s->shape[k];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < len; j++)
            for (int64_t i = 0; i < inner; i++) out[(o * len + j) * inner + i] = x[(o * X + start + j) * inner + i];
}

static void ref_narrow(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)n;
    const NarrowAttr *a = attr;
    ref_narrow_dims(in[0], &spec[0], a->dim, a->start, a->len, out);
}

/* Two narrows in a row: the second reads an already strided view. attr is NarrowAttr[2]. */
static Tensor *build_narrow_twice(Ctx *g, Tensor *const *in, const void *attr) {
    const NarrowAttr *a = attr;
    Tensor *v = op_narrow(g, in[0], a[0].dim, a[0].start, a[0].len);
    return op_contiguous(g, op_narrow(g, v, a[1].dim, a[1].start, a[1].len));
}

static void ref_narrow_twice(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)n;
    const NarrowAttr *a = attr;
    InputSpec mid = spec[0];
    mid.shape[ref_dim(a[0].dim, mid.ndim)] = a[0].len;
    double tmp[1024];
    cr_assert(ref_numel(&mid) <= 1024);
    ref_narrow_dims(in[0], &spec[0], a[0].dim, a[0].start, a[0].len, tmp);
    ref_narrow_dims(tmp, &mid, a[1].dim, a[1].start, a[1].len, out);
}

/* op_contiguous of an already contiguous tensor is the tensor itself. */
static Tensor *build_contiguous(Ctx *g, Tensor *const *in, const void *attr) {
    (void)attr;
    return op_contiguous(g, in[0]);
}

/* ---- permute and transpose ---- */

typedef struct PermAttr {
    int perm[SERC_MAX_DIMS];
} PermAttr;

static Tensor *build_permute(Ctx *g, Tensor *const *in, const void *attr) {
    return op_permute(g, in[0], ((const PermAttr *)attr)->perm);
}

/* out[o_0, ..., o_{n-1}] = x[i] with i[perm[d]] = o[d]. */
static void ref_permute_with(const double *x, const InputSpec *s, const int *perm_in, double *out) {
    int nd = s->ndim, perm[SERC_MAX_DIMS];
    int64_t xst[SERC_MAX_DIMS], oshape[SERC_MAX_DIMS];
    strides_of(s, xst);
    for (int d = 0; d < nd; d++) {
        perm[d] = ref_dim(perm_in[d], nd);
        oshape[d] = s->shape[perm[d]];
    }
    int64_t n = ref_numel(s);
    for (int64_t lin = 0; lin < n; lin++) {
        int64_t r = lin, src = 0;
        for (int d = nd - 1; d >= 0; d--) {
            int64_t od = r % oshape[d];
            r /= oshape[d];
            src += od * xst[perm[d]];
        }
        out[lin] = x[src];
    }
}

static void ref_permute(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)n;
    ref_permute_with(in[0], &spec[0], ((const PermAttr *)attr)->perm, out);
}

typedef struct TransAttr {
    int d0, d1;
} TransAttr;

static Tensor *build_transpose(Ctx *g, Tensor *const *in, const void *attr) {
    const TransAttr *a = attr;
    return op_transpose(g, in[0], a->d0, a->d1);
}

static void ref_transpose(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)n;
    const TransAttr *a = attr;
    int perm[SERC_MAX_DIMS], nd = spec[0].ndim;
    for (int d = 0; d < nd; d++) perm[d] = d;
    perm[ref_dim(a->d0, nd)] = ref_dim(a->d1, nd);
    perm[ref_dim(a->d1, nd)] = ref_dim(a->d0, nd);
    ref_permute_with(in[0], &spec[0], perm, out);
}

/* Permute of a strided narrow: permute reads through the view's strides. attr: NarrowAttr then perm. */
typedef struct NarrowPermAttr {
    NarrowAttr narrow;
    int perm[SERC_MAX_DIMS];
} NarrowPermAttr;

static Tensor *build_narrow_permute(Ctx *g, Tensor *const *in, const void *attr) {
    const NarrowPermAttr *a = attr;
    return op_permute(g, op_narrow(g, in[0], a->narrow.dim, a->narrow.start, a->narrow.len), a->perm);
}

static void ref_narrow_permute(const double *const *in, const InputSpec *spec, const void *attr, double *out,
                               int64_t n) {
    (void)n;
    const NarrowPermAttr *a = attr;
    InputSpec mid = spec[0];
    mid.shape[ref_dim(a->narrow.dim, mid.ndim)] = a->narrow.len;
    double tmp[1024];
    cr_assert(ref_numel(&mid) <= 1024);
    ref_narrow_dims(in[0], &spec[0], a->narrow.dim, a->narrow.start, a->narrow.len, tmp);
    ref_permute_with(tmp, &mid, a->perm, out);
}

/* ---- concat ---- */

typedef struct ConcatAttr {
    int n, dim;
} ConcatAttr;

static Tensor *build_concat(Ctx *g, Tensor *const *in, const void *attr) {
    const ConcatAttr *a = attr;
    return op_concat(g, in, a->n, a->dim);
}

static void ref_concat(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)n;
    const ConcatAttr *a = attr;
    int d = ref_dim(a->dim, spec[0].ndim);
    int64_t outer = 1, inner = 1, Y = 0;
    for (int k = 0; k < d; k++) outer *= spec[0].shape[k];
    for (int k = d + 1; k < spec[0].ndim; k++) inner *= spec[0].shape[k];
    for (int i = 0; i < a->n; i++) Y += spec[i].shape[d];
    int64_t off = 0;
    for (int i = 0; i < a->n; i++) {
        int64_t X = spec[i].shape[d];
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < X * inner; j++) out[(o * Y + off) * inner + j] = in[i][o * X * inner + j];
        off += X;
    }
}

/* ---- embedding ---- */

static Tensor *build_embedding(Ctx *g, Tensor *const *in, const void *attr) {
    (void)attr;
    return op_embedding(g, in[0], in[1]);
}

/* The same with the ids converted to i32. */
static Tensor *build_embedding_i32(Ctx *g, Tensor *const *in, const void *attr) {
    (void)attr;
    Tensor *ids = tensor_empty(g, SERC_I32, in[1]->ndim, in[1]->shape);
    for (int64_t i = 0; i < tensor_numel(ids); i++) tensor_i32(ids)[i] = (int32_t)tensor_i64(in[1])[i];
    return op_embedding(g, in[0], ids);
}

static void ref_embedding(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)attr, (void)n;
    int64_t D = spec[0].shape[1], N = ref_numel(&spec[1]);
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < D; j++) out[i * D + j] = in[0][(int64_t)in[1][i] * D + j];
}

/* ---- the table ---- */

static const ReshapeAttr RS_6x4 = {2, {6, 4}}, RS_4xm1 = {2, {4, -1}}, RS_1x5x1 = {3, {1, 5, 1}}, RS_7 = {1, {7}},
                         RS_12 = {1, {12}}, RS_5D = {5, {2, 1, 3, 1, 2}};
static const NarrowAttr NW_MID = {1, 1, 3}, NW_LAST = {-1, 2, 4}, NW_D0 = {0, 1, 3}, NW_LEN1 = {2, 0, 1},
                        NW_LEAD1 = {1, 2, 3}, NW_5D = {2, 3, 2}, NW_WHOLE = {1, 0, 4};
static const NarrowAttr NW_TWICE[2] = {{1, 1, 3}, {2, 1, 2}};
static const PermAttr PM_2D = {{1, 0}}, PM_3D = {{2, 0, 1}}, PM_4D = {{0, 2, 3, 1}}, PM_5D = {{4, 2, 0, 3, 1}},
                      PM_5D_NEG = {{-1, 0, 1, -2, 2}}, PM_1D = {{0}}, PM_5D_ID = {{0, 1, 2, 3, 4}};
static const TransAttr TR_2D = {0, 1}, TR_3D = {1, 2}, TR_4D_NEG = {-1, 0}, TR_SAME = {1, 1}, TR_5D = {1, 3};
static const NarrowPermAttr NP_3D = {{1, 1, 2}, {2, 1, 0}};
static const ConcatAttr CC_MID3 = {3, 1}, CC_D0 = {2, 0}, CC_LAST3 = {3, -1}, CC_FIVE = {5, 1}, CC_CONST = {3, 2};

static const OpCase cases[] = {
    OPCASE("reshape_3d_to_2d", build_reshape, ref_identity, &RS_6x4, 1, REAL(2, 3, 4)),
    OPCASE("reshape_infer", build_reshape, ref_identity, &RS_4xm1, 1, REAL(2, 3, 4)),
    OPCASE("reshape_add_unit_dims", build_reshape, ref_identity, &RS_1x5x1, 1, REAL(5)),
    OPCASE("reshape_drop_unit_dims", build_reshape, ref_identity, &RS_7, 1, REAL(1, 7, 1)),
    OPCASE("reshape_5d_flatten", build_reshape, ref_identity, &RS_12, 1, REAL(3, 1, 2, 1, 2)),
    OPCASE("reshape_to_5d", build_reshape, ref_identity, &RS_5D, 1, REAL(3, 4)),

    OPCASE("narrow_middle", build_narrow, ref_narrow, &NW_MID, 1, REAL(3, 5, 4)),
    OPCASE("narrow_last_negative_dim", build_narrow, ref_narrow, &NW_LAST, 1, REAL(2, 3, 7)),
    OPCASE("narrow_dim0", build_narrow, ref_narrow, &NW_D0, 1, REAL(5, 3)),
    OPCASE("narrow_len1_4d", build_narrow, ref_narrow, &NW_LEN1, 1, REAL(2, 3, 4, 5)),
    OPCASE("narrow_after_unit_dim", build_narrow, ref_narrow, &NW_LEAD1, 1, REAL(1, 6, 3)),
    OPCASE("narrow_5d_middle", build_narrow, ref_narrow, &NW_5D, 1, REAL(2, 2, 5, 2, 3)),
    OPCASE("narrow_whole_dim", build_narrow, ref_narrow, &NW_WHOLE, 1, REAL(3, 4, 2)),
    OPCASE("narrow_of_strided_narrow", build_narrow_twice, ref_narrow_twice, NW_TWICE, 1, REAL(3, 5, 4)),

    OPCASE("contiguous_already", build_contiguous, ref_identity, NULL, 1, REAL(3, 4)),
    OPCASE("contiguous_5d_already", build_contiguous, ref_identity, NULL, 1, REAL(2, 1, 3, 1, 2)),

    OPCASE("permute_2d", build_permute, ref_permute, &PM_2D, 1, REAL(3, 5)),
    OPCASE("permute_3d", build_permute, ref_permute, &PM_3D, 1, REAL(2, 3, 4)),
    OPCASE("permute_4d_unit_dim", build_permute, ref_permute, &PM_4D, 1, REAL(2, 3, 1, 4)),
    OPCASE("permute_5d", build_permute, ref_permute, &PM_5D, 1, REAL(2, 3, 2, 1, 3)),
    OPCASE("permute_5d_negative", build_permute, ref_permute, &PM_5D_NEG, 1, REAL(3, 2, 1, 2, 4)),
    OPCASE("permute_5d_identity", build_permute, ref_permute, &PM_5D_ID, 1, REAL(2, 1, 3, 2, 2)),
    OPCASE("permute_1d", build_permute, ref_permute, &PM_1D, 1, REAL(7)),
    OPCASE("permute_of_strided_narrow", build_narrow_permute, ref_narrow_permute, &NP_3D, 1, REAL(3, 5, 4)),

    OPCASE("transpose_2d", build_transpose, ref_transpose, &TR_2D, 1, REAL(3, 4)),
    OPCASE("transpose_3d_last_two", build_transpose, ref_transpose, &TR_3D, 1, REAL(2, 3, 5)),
    OPCASE("transpose_4d_negative", build_transpose, ref_transpose, &TR_4D_NEG, 1, REAL(2, 3, 1, 5)),
    OPCASE("transpose_same_dim", build_transpose, ref_transpose, &TR_SAME, 1, REAL(2, 3, 4)),
    OPCASE("transpose_5d", build_transpose, ref_transpose, &TR_5D, 1, REAL(2, 3, 1, 2, 2)),

    OPCASE("concat_3_middle", build_concat, ref_concat, &CC_MID3, 3, REAL(2, 3, 4), REAL(2, 1, 4), REAL(2, 5, 4)),
    OPCASE("concat_2_dim0", build_concat, ref_concat, &CC_D0, 2, REAL(3, 5), REAL(1, 5)),
    OPCASE("concat_3_last_negative", build_concat, ref_concat, &CC_LAST3, 3,
           REAL(2, 3, 2), REAL(2, 3, 1), REAL(2, 3, 3)),
    /* five inputs: more than a tape node holds (TAPE_MAX_INPUTS) */
    OPCASE("concat_5_middle", build_concat, ref_concat, &CC_FIVE, 5,
     REAL(2, 1, 3), REAL(2, 2, 3), REAL(2, 1, 3), REAL(2, 3, 3), REAL(2, 1, 3)),
    /* a constant in the middle gets no gradient; the others still do */
    OPCASE("concat_with_constant", build_concat, ref_concat, &CC_CONST, 3,
     REAL(2, 2, 1, 3), CONSTR(-1, 1, 2, 2, 2, 3), REAL(2, 2, 3, 3)),

    /* 24 ids drawn from 5 rows: rows repeat, and their gradients must add up */
    OPCASE("embedding_repeated_ids", build_embedding, ref_embedding, NULL, 2, REAL(5, 3), IDS(5, 4, 6)),
    OPCASE("embedding_d1", build_embedding, ref_embedding, NULL, 2, REAL(7, 1), IDS(7, 9)),
    OPCASE("embedding_3d_ids", build_embedding, ref_embedding, NULL, 2, REAL(3, 4), IDS(3, 2, 3, 5)),
    OPCASE("embedding_i32_ids", build_embedding_i32, ref_embedding, NULL, 2, REAL(6, 5), IDS(6, 3, 4)),
    OPCASE("embedding_single_row", build_embedding, ref_embedding, NULL, 2, REAL(1, 2), IDS(1, 4)),
};

OPCHECK_TABLE(ops, shape, cases)

/* ---- properties the table cannot see ---- */

static Tensor *iota(Ctx *g, int ndim, const int64_t *shape) {
    Tensor *t = tensor_empty(g, SERC_F32, ndim, shape);
    for (int64_t i = 0; i < tensor_numel(t); i++) tensor_f32(t)[i] = (float)i;
    return t;
}

Test(shape, reshape_shares_data) {
    Ctx *g = ctx_new(1);
    Tensor *x = iota(g, SHAPE(2, 3, 4));
    Tensor *y = op_reshape(g, x, SHAPE(4, 6));
    cr_assert_eq(y->data, x->data);
    cr_assert(tensor_is_contiguous(y));
    cr_assert_eq(y->shape[0], 4);
    cr_assert_eq(y->shape[1], 6);
    ctx_free(g);
}

Test(shape, narrow_shares_data) {
    Ctx *g = ctx_new(1);
    Tensor *x = iota(g, SHAPE(3, 5, 4));
    Tensor *y = op_narrow(g, x, 1, 2, 3);
    cr_assert_eq((float *)y->data, (float *)x->data + 2 * 4, "narrow must point into x, not copy");
    cr_assert_eq(y->shape[1], 3);
    cr_assert_eq(y->stride[0], 20);
    cr_assert_eq(y->stride[1], 4);
    cr_assert_not(tensor_is_contiguous(y), "a narrow of a middle dim under a non-unit dim is strided");
    /* element [2, 1, 3] of the view is x[2, 3, 3] */
    float *base = y->data;
    cr_assert_float_eq(base[2 * y->stride[0] + 1 * y->stride[1] + 3], (float)(2 * 20 + 3 * 4 + 3), 0);
    ctx_free(g);
}

Test(shape, narrow_dim0_is_contiguous) {
    Ctx *g = ctx_new(1);
    Tensor *x = iota(g, SHAPE(6, 4));
    Tensor *y = op_narrow(g, x, 0, 2, 3);
    cr_assert(tensor_is_contiguous(y));
    cr_assert_eq((float *)y->data, (float *)x->data + 8);
    cr_assert_eq(op_contiguous(g, y), y, "op_contiguous of a contiguous view is the view itself");
    cr_assert_float_eq(tensor_f32(y)[0], 8.0f, 0);
    /* a narrow under leading unit dims is contiguous too */
    Tensor *z = op_narrow(g, iota(g, SHAPE(1, 1, 6, 2)), -2, 1, 4);
    cr_assert(tensor_is_contiguous(z));
    ctx_free(g);
}

Test(shape, contiguous_copies_strided) {
    Ctx *g = ctx_new(1);
    Tensor *x = iota(g, SHAPE(2, 5));
    Tensor *y = op_contiguous(g, op_narrow(g, x, 1, 1, 2));
    cr_assert(tensor_is_contiguous(y));
    cr_assert_neq(y->data, x->data);
    const float want[] = {1, 2, 6, 7};
    for (int i = 0; i < 4; i++) cr_assert_float_eq(tensor_f32(y)[i], want[i], 0);
    ctx_free(g);
}

Test(shape, strided_narrow_into_contiguous_op_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    Tensor *x = iota(g, SHAPE(4, 6));
    Tensor *w = iota(g, SHAPE(3, 3));
    op_matmul(g, op_narrow(g, x, 1, 0, 3), w, 0, 0); /* (4, 3) strided view: must abort, not read garbage */
    ctx_free(g);
}

Test(shape, embedding_id_out_of_range_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    Tensor *w = iota(g, SHAPE(4, 2));
    Tensor *ids = tensor_zeros(g, SERC_I64, SHAPE(3));
    tensor_i64(ids)[1] = 4;
    op_embedding(g, w, ids);
    ctx_free(g);
}

Test(shape, embedding_negative_id_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    Tensor *w = iota(g, SHAPE(4, 2));
    Tensor *ids = tensor_zeros(g, SERC_I32, SHAPE(2));
    tensor_i32(ids)[0] = -1;
    op_embedding(g, w, ids);
    ctx_free(g);
}

Test(shape, concat_shape_mismatch_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    Tensor *xs[2] = {iota(g, SHAPE(2, 3)), iota(g, SHAPE(3, 3))};
    op_concat(g, xs, 2, 1);
    ctx_free(g);
}
