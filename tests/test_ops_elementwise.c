/* Elementwise ops against plain double-precision references: broadcasting arithmetic, scale, bias,
 * activations, GLU and dropout (table-driven through opcheck), plus dropout's eval identity and its
 * independence from the thread count. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "opcheck.h"
#include "rng.h"

/* ---- broadcasting arithmetic ---- */

enum { K_ADD, K_SUB, K_MUL, K_DIV };
static const int KIND_ADD = K_ADD, KIND_SUB = K_SUB, KIND_MUL = K_MUL, KIND_DIV = K_DIV;

static Tensor *build_binary(Ctx *g, Tensor *const *in, const void *attr) {
    switch (*(const int *)attr) {
    case K_ADD: return op_add(g, in[0], in[1]);
    case K_SUB: return op_sub(g, in[0], in[1]);
    case K_MUL: return op_mul(g, in[0], in[1]);
    default: return op_div(g, in[0], in[1]);
    }
}

/* Numpy broadcasting from the specs: out dim d (right-aligned) is the larger of the two sizes; an
 * operand of size 1 in that dim reads its only element. */
static void ref_binary(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    int nd = spec[0].ndim > spec[1].ndim ? spec[0].ndim : spec[1].ndim;
    int64_t shp[2][5], oshape[5];
    for (int k = 0; k < 2; k++)
        for (int d = 0; d < nd; d++) {
            int src = d - (nd - spec[k].ndim);
            shp[k][d] = src < 0 ? 1 : spec[k].shape[src];
        }
    for (int d = 0; d < nd; d++) oshape[d] = shp[0][d] > shp[1][d] ? shp[0][d] : shp[1][d];
    for (int64_t o = 0; o < on; o++) {
        int64_t coord[5], rem = o;
        for (int d = nd - 1; d >= 0; d--) {
            coord[d] = rem % oshape[d];
            rem /= oshape[d];
        }
        int64_t idx[2] = {0, 0};
        for (int k = 0; k < 2; k++)
            for (int d = 0; d < nd; d++) idx[k] = idx[k] * shp[k][d] + (shp[k][d] == 1 ? 0 : coord[d]);
        double a = in[0][idx[0]], b = in[1][idx[1]];
        switch (*(const int *)attr) {
        case K_ADD: out[o] = a + b; break;
        case K_SUB: out[o] = a - b; break;
        case K_MUL: out[o] = a * b; break;
        default: out[o] = a / b; break;
        }
    }
}

#define BIN(nm, kind, A, B) {.name = nm, .build = build_binary, .reference = ref_binary, .attr = &kind, .n_in = 2, .in = {A, B}}

/* ---- scale, bias ---- */

static const float SCALE_25 = 2.5f, SCALE_M05 = -0.5f, SCALE_0 = 0.0f;

static Tensor *build_scale(Ctx *g, Tensor *const *in, const void *attr) { return op_scale(g, in[0], *(const float *)attr); }
static void ref_scale(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)spec;
    for (int64_t i = 0; i < on; i++) out[i] = (double)*(const float *)attr * in[0][i];
}

static Tensor *build_bias(Ctx *g, Tensor *const *in, const void *attr) {
    (void)attr;
    return op_bias(g, in[0], in[1]);
}
static void ref_bias(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)attr;
    int64_t C = spec[1].shape[0];
    for (int64_t i = 0; i < on; i++) out[i] = in[0][i] + in[1][i % C];
}

/* ---- activations ---- */

enum { A_RELU, A_GELU, A_GELU_TANH, A_SILU, A_MISH, A_SIGMOID, A_TANH };
static const int ACT_RELU = A_RELU, ACT_GELU = A_GELU, ACT_GELU_TANH = A_GELU_TANH, ACT_SILU = A_SILU,
                 ACT_MISH = A_MISH, ACT_SIGMOID = A_SIGMOID, ACT_TANH = A_TANH;

static Tensor *build_act(Ctx *g, Tensor *const *in, const void *attr) {
    switch (*(const int *)attr) {
    case A_RELU: return op_relu(g, in[0]);
    case A_GELU: return op_gelu(g, in[0]);
    case A_GELU_TANH: return op_gelu_tanh(g, in[0]);
    case A_SILU: return op_silu(g, in[0]);
    case A_MISH: return op_mish(g, in[0]);
    case A_SIGMOID: return op_sigmoid(g, in[0]);
    default: return op_tanh(g, in[0]);
    }
}

static void ref_act(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)spec;
    for (int64_t i = 0; i < on; i++) {
        double x = in[0][i], sig = 1.0 / (1.0 + exp(-x));
        switch (*(const int *)attr) {
        case A_RELU: out[i] = x > 0 ? x : 0; break;
        case A_GELU: out[i] = 0.5 * x * (1 + erf(x / sqrt(2.0))); break;
        case A_GELU_TANH: out[i] = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); break;
        case A_SILU: out[i] = x * sig; break;
        case A_MISH: out[i] = x * tanh(log(1 + exp(x))); break;
        case A_SIGMOID: out[i] = sig; break;
        default: out[i] = tanh(x); break;
        }
    }
}

#define ACT(nm, kind, X) {.name = nm, .build = build_act, .reference = ref_act, .attr = &kind, .n_in = 1, .in = {X}}
/* Wide inputs away from 0 (relu's kink): |x| in [0.2, 4]. */
#define WIDENZ(...) SPEC_(IN_REAL, -4.0, 4.0, 1, __VA_ARGS__)

/* ---- GLU ---- */

static const int DIM_LAST = -1, DIM_0 = 0, DIM_1 = 1, DIM_2 = 2, DIM_3 = 3;

static Tensor *build_glu(Ctx *g, Tensor *const *in, const void *attr) { return op_glu(g, in[0], *(const int *)attr); }
static void ref_glu(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    int dim = *(const int *)attr;
    if (dim < 0) dim += spec[0].ndim;
    int64_t outer = 1, inner = 1, H = spec[0].shape[dim] / 2;
    for (int d = 0; d < dim; d++) outer *= spec[0].shape[d];
    for (int d = dim + 1; d < spec[0].ndim; d++) inner *= spec[0].shape[d];
    cr_assert_eq(on, outer * H * inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < inner; i++) {
                double a = in[0][(o * 2 * H + h) * inner + i], b = in[0][(o * 2 * H + H + h) * inner + i];
                out[(o * H + h) * inner + i] = a / (1 + exp(-b));
            }
}

#define GLU(nm, dim, X) {.name = nm, .build = build_glu, .reference = ref_glu, .attr = &dim, .n_in = 1, .in = {X}}

/* ---- dropout ---- */

typedef struct DropoutAttr {
    float p;
    int training;
} DropoutAttr;
static const DropoutAttr DROP_03 = {0.3f, 1}, DROP_05 = {0.5f, 1}, DROP_09 = {0.9f, 1}, DROP_0 = {0.0f, 1},
                         DROP_EVAL = {0.5f, 0};

static Tensor *build_dropout(Ctx *g, Tensor *const *in, const void *attr) {
    return op_dropout(g, in[0], ((const DropoutAttr *)attr)->p);
}
/* Regenerates the mask: the harness context starts at counter offset 0. */
static void ref_dropout(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t on) {
    (void)spec;
    const DropoutAttr *a = attr;
    for (int64_t i = 0; i < on; i++) {
        if (!a->training || a->p == 0.0f) out[i] = in[0][i];
        else out[i] = serc_rng_uniform01(OPCHECK_SEED, 0, (uint64_t)i) >= a->p ? in[0][i] / (1.0 - a->p) : 0.0;
    }
}

/* train must equal a.training (a static initialiser cannot read it from the struct) */
#define DROP(nm, a, train, X) \
    {.name = nm, .build = build_dropout, .reference = ref_dropout, .attr = &a, .n_in = 1, .in = {X}, .training = train}

/* ---- the table ---- */

static const OpCase cases[] = {
    BIN("add 3x7", KIND_ADD, REAL(3, 7), REAL(3, 7)),
    BIN("add (2,1,5)+(3,1)", KIND_ADD, REAL(2, 1, 5), REAL(3, 1)),
    BIN("add (4,5)+(1)", KIND_ADD, REAL(4, 5), REAL(1)),
    BIN("add (1)+(3,7)", KIND_ADD, REAL(1), REAL(3, 7)),
    BIN("add 5d (2,3,1,4,2)+(3,5,1,2)", KIND_ADD, REAL(2, 3, 1, 4, 2), REAL(3, 5, 1, 2)),
    BIN("add (3,7)+(7) row", KIND_ADD, REAL(3, 7), REAL(7)),
    BIN("sub 3x7", KIND_SUB, REAL(3, 7), REAL(3, 7)),
    BIN("sub (2,1,5)-(3,1)", KIND_SUB, REAL(2, 1, 5), REAL(3, 1)),
    BIN("sub (1)-(4,5)", KIND_SUB, REAL(1), REAL(4, 5)),
    BIN("sub 5d (2,1,3,1,5)-(2,1,4,1)", KIND_SUB, REAL(2, 1, 3, 1, 5), REAL(2, 1, 4, 1)),
    BIN("mul 3x7", KIND_MUL, REAL(3, 7), REAL(3, 7)),
    BIN("mul (2,1,5)*(3,1)", KIND_MUL, REAL(2, 1, 5), REAL(3, 1)),
    BIN("mul (4,5)*(1)", KIND_MUL, REAL(4, 5), REAL(1)),
    BIN("mul (3,1)*(1,7) outer", KIND_MUL, REAL(3, 1), REAL(1, 7)),
    BIN("mul 5d (2,3,4,1,3)*(2,3,4,5,3)", KIND_MUL, REAL(2, 3, 4, 1, 3), REAL(2, 3, 4, 5, 3)),
    BIN("div 3x7", KIND_DIV, REAL(3, 7), REALNZ(3, 7)),
    BIN("div (2,1,5)/(3,1)", KIND_DIV, REAL(2, 1, 5), REALNZ(3, 1)),
    BIN("div (1)/(4,5)", KIND_DIV, REAL(1), REALNZ(4, 5)),
    BIN("div (4,5)/(1)", KIND_DIV, REAL(4, 5), REALNZ(1)),
    BIN("div 5d (1,3,1,4,2)/(2,1,5,1,2)", KIND_DIV, REAL(1, 3, 1, 4, 2), REALNZ(2, 1, 5, 1, 2)),

    {.name = "scale 3x7 by 2.5", .build = build_scale, .reference = ref_scale, .attr = &SCALE_25, .n_in = 1, .in = {REAL(3, 7)}},
    {.name = "scale (1) by -0.5", .build = build_scale, .reference = ref_scale, .attr = &SCALE_M05, .n_in = 1, .in = {REAL(1)}},
    {.name = "scale 5d by 0", .build = build_scale, .reference = ref_scale, .attr = &SCALE_0, .n_in = 1, .in = {REAL(2, 3, 1, 4, 5)}},
    {.name = "bias (3,7)+(7)", .build = build_bias, .reference = ref_bias, .n_in = 2, .in = {REAL(3, 7), REAL(7)}},
    {.name = "bias (2,3,5)+(5)", .build = build_bias, .reference = ref_bias, .n_in = 2, .in = {REAL(2, 3, 5), REAL(5)}},
    {.name = "bias (1)+(1)", .build = build_bias, .reference = ref_bias, .n_in = 2, .in = {REAL(1), REAL(1)}},
    {.name = "bias 5d (2,1,3,1,4)+(4)", .build = build_bias, .reference = ref_bias, .n_in = 2, .in = {REAL(2, 1, 3, 1, 4), REAL(4)}},
    {.name = "bias (3,70)+(70) two channel blocks", .build = build_bias, .reference = ref_bias, .n_in = 2, .in = {REAL(3, 70), REAL(70)}},

    ACT("relu 3x7", ACT_RELU, REALNZ(3, 7)),
    ACT("relu (1)", ACT_RELU, REALNZ(1)),
    ACT("relu 5d wide", ACT_RELU, WIDENZ(2, 3, 1, 4, 5)),
    ACT("gelu 3x7", ACT_GELU, REAL(3, 7)),
    ACT("gelu (1)", ACT_GELU, REAL(1)),
    ACT("gelu 5d wide", ACT_GELU, REALR(-5, 5, 2, 3, 1, 4, 5)),
    ACT("gelu_tanh 3x7", ACT_GELU_TANH, REAL(3, 7)),
    ACT("gelu_tanh (1)", ACT_GELU_TANH, REAL(1)),
    ACT("gelu_tanh 5d wide", ACT_GELU_TANH, REALR(-5, 5, 2, 3, 1, 4, 5)),
    ACT("silu 3x7", ACT_SILU, REAL(3, 7)),
    ACT("silu (1)", ACT_SILU, REAL(1)),
    ACT("silu 5d wide", ACT_SILU, REALR(-8, 8, 2, 3, 1, 4, 5)),
    ACT("mish 3x7", ACT_MISH, REAL(3, 7)),
    ACT("mish (1)", ACT_MISH, REAL(1)),
    ACT("mish 5d wide", ACT_MISH, REALR(-8, 8, 2, 3, 1, 4, 5)),
    ACT("sigmoid 3x7", ACT_SIGMOID, REAL(3, 7)),
    ACT("sigmoid (1)", ACT_SIGMOID, REAL(1)),
    ACT("sigmoid 5d wide", ACT_SIGMOID, REALR(-8, 8, 2, 3, 1, 4, 5)),
    ACT("tanh 3x7", ACT_TANH, REAL(3, 7)),
    ACT("tanh (1)", ACT_TANH, REAL(1)),
    ACT("tanh 5d wide", ACT_TANH, REALR(-4, 4, 2, 3, 1, 4, 5)),

    GLU("glu (3,8) dim -1", DIM_LAST, REALR(-3, 3, 3, 8)),
    GLU("glu (4,6,3) dim 1", DIM_1, REALR(-3, 3, 4, 6, 3)),
    GLU("glu (2,1,4) dim 2", DIM_2, REAL(2, 1, 4)),
    GLU("glu (2,3,1) dim 0", DIM_0, REAL(2, 3, 1)),
    GLU("glu 5d (2,3,1,4,5) dim 3", DIM_3, REAL(2, 3, 1, 4, 5)),

    DROP("dropout 3x7 p=0.3", DROP_03, 1, REAL(3, 7)),
    DROP("dropout 5d p=0.5", DROP_05, 1, REAL(2, 3, 1, 4, 5)),
    DROP("dropout (1) p=0.9", DROP_09, 1, REAL(1)),
    DROP("dropout (13,11) p=0.9", DROP_09, 1, REAL(13, 11)),
    DROP("dropout 3x7 p=0 training", DROP_0, 1, REAL(3, 7)),
    DROP("dropout 3x7 eval", DROP_EVAL, 0, REAL(3, 7)),
};

OPCHECK_TABLE(ops, elementwise, cases)

/* ---- what the table cannot express ---- */

static Tensor *filled(Ctx *g, int64_t n) {
    Tensor *t = tensor_empty(g, SERC_F32, SHAPE(n));
    serc_rng_fill_uniform(tensor_f32(t), n, 99, 0, -1.0f, 1.0f);
    return t;
}

Test(dropout, eval_is_identity_and_draws_nothing) {
    Ctx *g = ctx_new(3);
    g->training = 0;
    Tensor *x = filled(g, 101);
    Tensor *y = op_dropout(g, x, 0.5f);
    cr_assert_eq(memcmp(tensor_f32(y), tensor_f32(x), 101 * sizeof(float)), 0);
    cr_assert_eq(g->rng_offset, 0, "eval dropout advanced the counter to %llu", (unsigned long long)g->rng_offset);
    g->training = 1; /* p = 0 while training: also the identity, also no draw */
    y = op_dropout(g, x, 0.0f);
    cr_assert_eq(memcmp(tensor_f32(y), tensor_f32(x), 101 * sizeof(float)), 0);
    cr_assert_eq(g->rng_offset, 0);
    ctx_free(g);
}

Test(dropout, counter_advances_and_masks_differ) {
    Ctx *g = ctx_new(3);
    Tensor *x = filled(g, 1001);
    Tensor *y1 = op_dropout(g, x, 0.5f);
    cr_assert_eq(g->rng_offset, serc_rng_blocks(1001));
    Tensor *y2 = op_dropout(g, x, 0.5f);
    cr_assert_eq(g->rng_offset, 2 * serc_rng_blocks(1001));
    int differ = 0, kept = 0;
    for (int i = 0; i < 1001; i++) {
        differ += (tensor_f32(y1)[i] == 0) != (tensor_f32(y2)[i] == 0);
        kept += tensor_f32(y1)[i] != 0;
    }
    cr_assert_gt(differ, 300, "two draws share most of their mask (%d differences)", differ);
    cr_assert(kept > 400 && kept < 600, "kept %d of 1001 at p = 0.5", kept);
    ctx_free(g);
}

/* The mask depends on (seed, offset, i) only: one thread and two threads give the same bits. */
Test(dropout, same_mask_on_any_thread_count) {
    const int64_t n = 10007;
    float *out[2];
    for (int run = 0; run < 2; run++) {
#ifdef _OPENMP
        omp_set_num_threads(run + 1);
#endif
        Ctx *g = ctx_new(7);
#ifdef _OPENMP
        omp_set_num_threads(run + 1); /* ctx_new sets the thread count from SERC_THREADS */
#endif
        Tensor *x = filled(g, n);
        x->requires_grad = 1;
        Tensor *y = op_dropout(g, x, 0.25f);
        serc_backward(g, op_sum(g, y), NULL);
        out[run] = malloc((size_t)(2 * n) * sizeof(float));
        memcpy(out[run], tensor_f32(y), (size_t)n * sizeof(float));
        memcpy(out[run] + n, tensor_f32(x->grad), (size_t)n * sizeof(float));
        ctx_free(g);
    }
    cr_assert_eq(memcmp(out[0], out[1], (size_t)(2 * n) * sizeof(float)), 0, "dropout differs between 1 and 2 threads");
    free(out[0]);
    free(out[1]);
}

/* Broadcast backward on a large tensor: the reduction over broadcast dims runs in parallel; every
 * gradient element is the plain sum it should be. */
Test(broadcast, large_reduction_matches_plain_sum) {
    Ctx *g = ctx_new(1);
    Tensor *a = filled(g, 3 * 500 * 7);
    Tensor *a3 = tensor_view_header(g, a);
    tensor_set_shape(a3, SHAPE(3, 500, 7));
    Tensor *b = tensor_empty(g, SERC_F32, SHAPE(500, 1));
    for (int i = 0; i < 500; i++) tensor_f32(b)[i] = 0.5f + 0.001f * (float)i;
    b->requires_grad = 1;
    serc_backward(g, op_sum(g, op_mul(g, a3, b)), NULL);
    const float *av = tensor_f32(a3), *gb = tensor_f32(b->grad);
    for (int t = 0; t < 500; t++) {
        double s = 0;
        for (int i = 0; i < 3; i++)
            for (int c = 0; c < 7; c++) s += av[(i * 500 + t) * 7 + c];
        cr_assert(fabs(gb[t] - s) < 1e-4, "grad of b[%d]: %g, want %g", t, (double)gb[t], s);
    }
    ctx_free(g);
}
