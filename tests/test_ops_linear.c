/* op_matmul (plain, batched, shared 2-D b; every transpose combination) and op_linear against plain
 * double references, then the shape-mismatch aborts. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <signal.h>

#include "opcheck.h"

/* A table entry: name, build, reference, attr, number of inputs, then the input specs. */
/* ---- matmul ---- */

typedef struct MatmulAttr {
    int ta, tb;
} MatmulAttr;

static Tensor *build_matmul(Ctx *g, Tensor *const *in, const void *attr) {
    const MatmulAttr *a = attr;
    return op_matmul(g, in[0], in[1], a->ta, a->tb);
}

/* C[z, i, j] = sum_k A[z, i, k] B[z', k, j], reading A and B through their stored layouts; z' = 0 when
 * b is 2-D (shared). */
static void ref_matmul(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)n;
    const MatmulAttr *a = attr;
    const InputSpec *sa = &spec[0], *sb = &spec[1];
    int64_t ar = sa->shape[sa->ndim - 2], ac = sa->shape[sa->ndim - 1];
    int64_t br = sb->shape[sb->ndim - 2], bc = sb->shape[sb->ndim - 1];
    int64_t M = a->ta ? ac : ar, K = a->ta ? ar : ac, N = a->tb ? br : bc;
    int64_t batch = ref_numel(sa) / (ar * ac);
    int shared = sb->ndim == 2;
    for (int64_t z = 0; z < batch; z++) {
        const double *A = in[0] + z * ar * ac, *B = in[1] + (shared ? 0 : z * br * bc);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) {
                    double av = a->ta ? A[k * ac + i] : A[i * ac + k];
                    double bv = a->tb ? B[j * bc + k] : B[k * bc + j];
                    s += av * bv;
                }
                out[(z * M + i) * N + j] = s;
            }
    }
}

/* ---- linear ---- */

static Tensor *build_linear(Ctx *g, Tensor *const *in, const void *attr) {
    const int *has_bias = attr;
    return op_linear(g, in[0], in[1], *has_bias ? in[2] : NULL);
}

/* y[r, o] = sum_i x[r, i] w[o, i] + b[o] */
static void ref_linear(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)n;
    const int *has_bias = attr;
    int64_t O = spec[1].shape[0], In = spec[1].shape[1], R = ref_numel(&spec[0]) / In;
    for (int64_t r = 0; r < R; r++)
        for (int64_t o = 0; o < O; o++) {
            double s = *has_bias ? in[2][o] : 0.0;
            for (int64_t i = 0; i < In; i++) s += in[0][r * In + i] * in[1][o * In + i];
            out[r * O + o] = s;
        }
}

static const MatmulAttr NN = {0, 0}, NT = {0, 1}, TN = {1, 0}, TT = {1, 1};
static const int BIAS = 1, NO_BIAS = 0;

/* M = 3, K = 4, N = 5 throughout the transpose groups: a is (3, 4) or (4, 3), b (4, 5) or (5, 4). */
static const OpCase cases[] = {
    OPCASE("matmul_2d_nn", build_matmul, ref_matmul, &NN, 2, REAL(3, 4), REAL(4, 5)),
    OPCASE("matmul_2d_nt", build_matmul, ref_matmul, &NT, 2, REAL(3, 4), REAL(5, 4)),
    OPCASE("matmul_2d_tn", build_matmul, ref_matmul, &TN, 2, REAL(4, 3), REAL(4, 5)),
    OPCASE("matmul_2d_tt", build_matmul, ref_matmul, &TT, 2, REAL(4, 3), REAL(5, 4)),

    OPCASE("matmul_batched_nn", build_matmul, ref_matmul, &NN, 2, REAL(2, 3, 4), REAL(2, 4, 5)),
    OPCASE("matmul_batched_nt", build_matmul, ref_matmul, &NT, 2, REAL(2, 3, 4), REAL(2, 5, 4)),
    OPCASE("matmul_batched_tn", build_matmul, ref_matmul, &TN, 2, REAL(2, 4, 3), REAL(2, 4, 5)),
    OPCASE("matmul_batched_tt", build_matmul, ref_matmul, &TT, 2, REAL(2, 4, 3), REAL(2, 5, 4)),

    /* b 2-D, shared by the batch: its gradient sums over the items */
    OPCASE("matmul_shared_nn", build_matmul, ref_matmul, &NN, 2, REAL(3, 3, 4), REAL(4, 5)),
    OPCASE("matmul_shared_nt", build_matmul, ref_matmul, &NT, 2, REAL(3, 3, 4), REAL(5, 4)),
    OPCASE("matmul_shared_tn", build_matmul, ref_matmul, &TN, 2, REAL(3, 4, 3), REAL(4, 5)),
    OPCASE("matmul_shared_tt", build_matmul, ref_matmul, &TT, 2, REAL(3, 4, 3), REAL(5, 4)),

    OPCASE("matmul_4d_batch_n1", build_matmul, ref_matmul, &NN, 2, REAL(2, 2, 3, 5), REAL(2, 2, 5, 1)),
    OPCASE("matmul_4d_shared_tn", build_matmul, ref_matmul, &TN, 2, REAL(2, 3, 5, 2), REAL(5, 3)),
    OPCASE("matmul_5d_batch_nt", build_matmul, ref_matmul, &NT, 2, REAL(2, 1, 2, 3, 2), REAL(2, 1, 2, 4, 2)),
    OPCASE("matmul_m1_shared", build_matmul, ref_matmul, &NN, 2, REAL(2, 1, 7), REAL(7, 3)),
    OPCASE("matmul_k1", build_matmul, ref_matmul, &NN, 2, REAL(3, 1), REAL(1, 4)),
    OPCASE("matmul_k1_tt", build_matmul, ref_matmul, &TT, 2, REAL(2, 1, 3), REAL(2, 4, 1)),
    OPCASE("matmul_batch1", build_matmul, ref_matmul, &NT, 2, REAL(1, 3, 4), REAL(1, 2, 4)),
    OPCASE("matmul_odd_sizes", build_matmul, ref_matmul, &NN, 2, REAL(3, 7, 9), REAL(3, 9, 5)),

    OPCASE("linear_2d_bias", build_linear, ref_linear, &BIAS, 3, REAL(4, 5), REAL(3, 5), REAL(3)),
    OPCASE("linear_3d_no_bias", build_linear, ref_linear, &NO_BIAS, 2, REAL(2, 3, 5), REAL(4, 5)),
    OPCASE("linear_1d_input", build_linear, ref_linear, &BIAS, 3, REAL(5), REAL(2, 5), REAL(2)),
    OPCASE("linear_4d_one_output", build_linear, ref_linear, &BIAS, 3, REAL(2, 1, 3, 4), REAL(1, 4), REAL(1)),
    OPCASE("linear_one_input_feature", build_linear, ref_linear, &BIAS, 3, REAL(6, 1), REAL(3, 1), REAL(3)),
    OPCASE("linear_odd_sizes", build_linear, ref_linear, &BIAS, 3, REAL(3, 5, 7), REAL(9, 7), REAL(9)),
};

OPCHECK_TABLE(ops, linear, cases)

/* ---- aborts ---- */

Test(linear, matmul_inner_dim_mismatch_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    op_matmul(g, tensor_zeros(g, SERC_F32, SHAPE(3, 4)), tensor_zeros(g, SERC_F32, SHAPE(5, 2)), 0, 0);
    ctx_free(g);
}

Test(linear, matmul_transpose_mismatch_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    /* (3, 4) x (4, 5) matches, but not with b transposed */
    op_matmul(g, tensor_zeros(g, SERC_F32, SHAPE(3, 4)), tensor_zeros(g, SERC_F32, SHAPE(4, 5)), 0, 1);
    ctx_free(g);
}

Test(linear, matmul_batch_mismatch_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    op_matmul(g, tensor_zeros(g, SERC_F32, SHAPE(2, 3, 4)), tensor_zeros(g, SERC_F32, SHAPE(3, 4, 5)), 0, 0);
    ctx_free(g);
}

Test(linear, linear_in_features_mismatch_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    op_linear(g, tensor_zeros(g, SERC_F32, SHAPE(2, 4)), tensor_zeros(g, SERC_F32, SHAPE(3, 5)), NULL);
    ctx_free(g);
}

/* A gradient accumulates (+=) into what is already there: a second backward doubles it. */
Test(linear, backward_accumulates) {
    Ctx *g = ctx_new(1);
    Tensor *a = tensor_zeros(g, SERC_F32, SHAPE(2, 3)), *b = tensor_zeros(g, SERC_F32, SHAPE(3, 2));
    for (int i = 0; i < 6; i++) {
        tensor_f32(a)[i] = (float)(i + 1);
        tensor_f32(b)[i] = (float)(6 - i);
    }
    a->requires_grad = b->requires_grad = 1;
    Tensor *ones = tensor_empty(g, SERC_F32, SHAPE(2, 2));
    for (int i = 0; i < 4; i++) tensor_f32(ones)[i] = 1.0f;
    serc_backward(g, op_matmul(g, a, b, 0, 0), ones);
    float first = tensor_f32(a->grad)[0];
    g->tape_len = 0;
    serc_backward(g, op_matmul(g, a, b, 0, 0), ones);
    cr_assert_float_eq(first, 6.0f + 5.0f, 1e-6); /* dA[0, 0] = sum_j B[0, j] */
    cr_assert_float_eq(tensor_f32(a->grad)[0], 2 * first, 1e-6);
    ctx_free(g);
}
