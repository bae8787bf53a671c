/* op_attention against a plain double reference: with and without a key mask (item 1 fully padded,
 * so its output and gradients are zero), Tq != Tk, H = 1 and 3, D = 1 and odd. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <signal.h>
#include <string.h>

#include "opcheck.h"

/* A table entry: name, build, reference, attr, number of inputs, then the input specs. */
typedef struct AttnAttr {
    int masked; /* in[3] is a MASK(B, Tk) */
} AttnAttr;

static Tensor *build_attention(Ctx *g, Tensor *const *in, const void *attr) {
    const AttnAttr *a = attr;
    return op_attention(g, in[0], in[1], in[2], a->masked ? in[3] : NULL);
}

/* out[b, h, i] = sum_j p_j v[b, h, j], p = softmax over valid j of q_i . k_j / sqrt(D); no valid key
 * gives 0. */
static void ref_attention(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)n;
    const AttnAttr *a = attr;
    int64_t B = spec[0].shape[0], H = spec[0].shape[1], Tq = spec[0].shape[2], D = spec[0].shape[3];
    int64_t Tk = spec[1].shape[2];
    double p[64];
    cr_assert(Tk <= 64);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const double *q = in[0] + ((b * H + h) * Tq + i) * D;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    int valid = !a->masked || in[3][b * Tk + j] != 0;
                    const double *k = in[1] + ((b * H + h) * Tk + j) * D;
                    double s = 0;
                    for (int64_t d = 0; d < D; d++) s += q[d] * k[d];
                    p[j] = valid ? s / sqrt((double)D) : -INFINITY;
                    if (p[j] > mx) mx = p[j];
                }
                for (int64_t j = 0; j < Tk; j++) {
                    p[j] = p[j] == -INFINITY ? 0.0 : exp(p[j] - mx);
                    sum += p[j];
                }
                double *o = out + ((b * H + h) * Tq + i) * D;
                for (int64_t d = 0; d < D; d++) {
                    double s = 0;
                    for (int64_t j = 0; j < Tk; j++) s += p[j] * in[2][((b * H + h) * Tk + j) * D + d];
                    o[d] = sum > 0 ? s / sum : 0.0;
                }
            }
}

static const AttnAttr PLAIN = {0}, MASKED = {1};

#define QKV(B, H, Tq, Tk, D) REALR(-2, 2, B, H, Tq, D), REALR(-2, 2, B, H, Tk, D), REAL(B, H, Tk, D)

static const OpCase cases[] = {
    OPCASE("attention_plain_h1", build_attention, ref_attention, &PLAIN, 3, QKV(2, 1, 3, 5, 4)),
    OPCASE("attention_masked_h3_odd_d", build_attention, ref_attention, &MASKED, 4, QKV(3, 3, 4, 5, 3), MASK(3, 5)),
    OPCASE("attention_masked_d1", build_attention, ref_attention, &MASKED, 4, QKV(4, 2, 2, 6, 1), MASK(4, 6)),
    OPCASE("attention_masked_tq_gt_tk", build_attention, ref_attention, &MASKED, 4, QKV(3, 1, 5, 3, 5), MASK(3, 3)),
    OPCASE("attention_masked_self", build_attention, ref_attention, &MASKED, 4, QKV(3, 2, 4, 4, 2), MASK(3, 4)),
    /* one key: the softmax is 1, out = v, and q and k get zero gradient */
    OPCASE("attention_single_key", build_attention, ref_attention, &PLAIN, 3, QKV(2, 3, 2, 1, 2)),
    OPCASE("attention_single_query_h3", build_attention, ref_attention, &PLAIN, 3, QKV(1, 3, 1, 7, 3)),
};

OPCHECK_TABLE(ops, attention, cases)

/* A fully masked item outputs exact zeros and gives exact zero gradients to its q, k and v. */
Test(attention, fully_masked_item_is_zero) {
    Ctx *g = ctx_new(1);
    Tensor *q = tensor_empty(g, SERC_F32, SHAPE(2, 1, 3, 2)), *k = tensor_empty(g, SERC_F32, SHAPE(2, 1, 4, 2)),
           *v = tensor_empty(g, SERC_F32, SHAPE(2, 1, 4, 2));
    for (int i = 0; i < 12; i++) tensor_f32(q)[i] = 0.1f * (float)i;
    for (int i = 0; i < 16; i++) tensor_f32(k)[i] = tensor_f32(v)[i] = 0.05f * (float)(i - 8);
    q->requires_grad = k->requires_grad = v->requires_grad = 1;
    Tensor *mask = tensor_zeros(g, SERC_U8, SHAPE(2, 4));
    memset(tensor_u8(mask), 1, 4); /* item 0 all valid, item 1 none */
    Tensor *out = op_attention(g, q, k, v, mask);
    Tensor *R = tensor_empty(g, SERC_F32, 4, out->shape);
    for (int i = 0; i < 12; i++) tensor_f32(R)[i] = 1.0f;
    serc_backward(g, out, R);
    for (int i = 6; i < 12; i++) {
        cr_assert_eq(tensor_f32(out)[i], 0.0f);
        cr_assert_eq(tensor_f32(q->grad)[i], 0.0f);
    }
    for (int i = 8; i < 16; i++) {
        cr_assert_eq(tensor_f32(k->grad)[i], 0.0f);
        cr_assert_eq(tensor_f32(v->grad)[i], 0.0f);
    }
    ctx_free(g);
}

Test(attention, mask_shape_mismatch_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    Tensor *q = tensor_zeros(g, SERC_F32, SHAPE(2, 1, 3, 2)), *k = tensor_zeros(g, SERC_F32, SHAPE(2, 1, 4, 2));
    op_attention(g, q, k, k, tensor_zeros(g, SERC_U8, SHAPE(2, 3)));
    ctx_free(g);
}

Test(attention, head_dim_mismatch_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    Tensor *q = tensor_zeros(g, SERC_F32, SHAPE(1, 1, 3, 2)), *k = tensor_zeros(g, SERC_F32, SHAPE(1, 1, 4, 3));
    op_attention(g, q, k, k, NULL);
    ctx_free(g);
}
