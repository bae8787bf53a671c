/* Convolution and pooling against direct-loop double references: conv2d / conv1d with stride,
 * padding, dilation, groups (2 and depthwise), kernel 1, with and without bias; max and average pools
 * (count_include_pad=False), 2-D and 1-D. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <signal.h>

#include "opcheck.h"

/* A table entry: name, build, reference, attr, number of inputs, then the input specs. */
/* ---- conv: one reference for both, the 1-D case is H = KH = 1 ---- */

typedef struct ConvAttr {
    Conv2dOpts o; /* 1-D uses the _w fields */
    int bias;
} ConvAttr;

static Tensor *build_conv2d(Ctx *g, Tensor *const *in, const void *attr) {
    const ConvAttr *a = attr;
    return op_conv2d(g, in[0], in[1], a->bias ? in[2] : NULL, a->o);
}

static Tensor *build_conv1d(Ctx *g, Tensor *const *in, const void *attr) {
    const ConvAttr *a = attr;
    return op_conv1d(g, in[0], in[1], a->bias ? in[2] : NULL, a->o.stride_w, a->o.pad_w, a->o.dil_w, a->o.groups);
}

/* y[b, co, oh, ow] = bias[co] + sum over ci in co's group, ki, kj of
 *   w[co, ci - group start, ki, kj] x[b, ci, oh sh - ph + ki dh, ow sw - pw + kj dw] (0 outside). */
static void ref_conv(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)n;
    const ConvAttr *a = attr;
    int two_d = spec[0].ndim == 4;
    int64_t B = spec[0].shape[0], Cin = spec[0].shape[1], H = two_d ? spec[0].shape[2] : 1,
            W = spec[0].shape[spec[0].ndim - 1];
    int64_t Cout = spec[1].shape[0], Cg = spec[1].shape[1], KH = two_d ? spec[1].shape[2] : 1,
            KW = spec[1].shape[spec[1].ndim - 1];
    int64_t sh = two_d ? a->o.stride_h : 1, ph = two_d ? a->o.pad_h : 0, dh = two_d ? a->o.dil_h : 1;
    int64_t sw = a->o.stride_w, pw = a->o.pad_w, dw = a->o.dil_w;
    int64_t Ho = (H + 2 * ph - dh * (KH - 1) - 1) / sh + 1, Wo = (W + 2 * pw - dw * (KW - 1) - 1) / sw + 1;
    int64_t Coutg = Cout / a->o.groups;
    for (int64_t b = 0; b < B; b++)
        for (int64_t co = 0; co < Cout; co++)
            for (int64_t oh = 0; oh < Ho; oh++)
                for (int64_t ow = 0; ow < Wo; ow++) {
                    double s = a->bias ? in[2][co] : 0.0;
                    int64_t c0 = (co / Coutg) * Cg;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t ki = 0; ki < KH; ki++)
                            for (int64_t kj = 0; kj < KW; kj++) {
                                int64_t ih = oh * sh - ph + ki * dh, iw = ow * sw - pw + kj * dw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                s += in[1][((co * Cg + c) * KH + ki) * KW + kj] *
                                     in[0][((b * Cin + c0 + c) * H + ih) * W + iw];
                            }
                    out[((b * Cout + co) * Ho + oh) * Wo + ow] = s;
                }
}

/* One input feeding two convolutions (pointwise first, so that its backward runs last and must add
 * to, not overwrite, the gradient the 3x3 one left), joined along channels. attr is ConvAttr[2]. */
static Tensor *build_conv2d_shared_input(Ctx *g, Tensor *const *in, const void *attr) {
    const ConvAttr *a = attr;
    Tensor *ys[2] = {op_conv2d(g, in[0], in[1], NULL, a[0].o), op_conv2d(g, in[0], in[2], NULL, a[1].o)};
    return op_concat(g, ys, 2, 1);
}

static void ref_conv2d_shared_input(const double *const *in, const InputSpec *spec, const void *attr, double *out,
                                    int64_t n) {
    const ConvAttr *a = attr;
    int64_t B = spec[0].shape[0], C1 = spec[1].shape[0], C2 = spec[2].shape[0], HW = n / (B * (C1 + C2));
    double y1[1024], y2[1024];
    cr_assert(B * C1 * HW <= 1024 && B * C2 * HW <= 1024);
    const double *in1[2] = {in[0], in[1]}, *in2[2] = {in[0], in[2]};
    const InputSpec s1[2] = {spec[0], spec[1]}, s2[2] = {spec[0], spec[2]};
    ref_conv(in1, s1, &a[0], y1, B * C1 * HW);
    ref_conv(in2, s2, &a[1], y2, B * C2 * HW);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t j = 0; j < C1 * HW; j++) out[b * (C1 + C2) * HW + j] = y1[b * C1 * HW + j];
        for (int64_t j = 0; j < C2 * HW; j++) out[(b * (C1 + C2) + C1) * HW + j] = y2[b * C2 * HW + j];
    }
}

/* ---- pools ---- */

static Tensor *build_max_pool2d(Ctx *g, Tensor *const *in, const void *attr) {
    return op_max_pool2d(g, in[0], *(const Pool2dOpts *)attr);
}
static Tensor *build_avg_pool2d(Ctx *g, Tensor *const *in, const void *attr) {
    return op_avg_pool2d(g, in[0], *(const Pool2dOpts *)attr);
}
static Tensor *build_max_pool1d(Ctx *g, Tensor *const *in, const void *attr) {
    const Pool2dOpts *o = attr;
    return op_max_pool1d(g, in[0], o->kernel_w, o->stride_w, o->pad_w);
}
static Tensor *build_avg_pool1d(Ctx *g, Tensor *const *in, const void *attr) {
    const Pool2dOpts *o = attr;
    return op_avg_pool1d(g, in[0], o->kernel_w, o->stride_w, o->pad_w);
}

/* Max (or mean over the in-bounds elements) of each window; the padding never counts. */
static void ref_pool(const double *const *in, const InputSpec *spec, const Pool2dOpts *o, int is_max, double *out) {
    int two_d = spec[0].ndim == 4;
    int64_t planes = spec[0].shape[0] * spec[0].shape[1], H = two_d ? spec[0].shape[2] : 1,
            W = spec[0].shape[spec[0].ndim - 1];
    int64_t kh = two_d ? o->kernel_h : 1, sh = two_d ? o->stride_h : 1, ph = two_d ? o->pad_h : 0;
    int64_t kw = o->kernel_w, sw = o->stride_w, pw = o->pad_w;
    int64_t Ho = (H + 2 * ph - kh) / sh + 1, Wo = (W + 2 * pw - kw) / sw + 1;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t oh = 0; oh < Ho; oh++)
            for (int64_t ow = 0; ow < Wo; ow++) {
                double best = -INFINITY, sum = 0;
                int64_t count = 0;
                for (int64_t ki = 0; ki < kh; ki++)
                    for (int64_t kj = 0; kj < kw; kj++) {
                        int64_t ih = oh * sh - ph + ki, iw = ow * sw - pw + kj;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        double v = in[0][(p * H + ih) * W + iw];
                        best = v > best ? v : best;
                        sum += v;
                        count++;
                    }
                out[(p * Ho + oh) * Wo + ow] = is_max ? best : sum / (double)count;
            }
}

static void ref_max_pool(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)n;
    ref_pool(in, spec, attr, 1, out);
}
static void ref_avg_pool(const double *const *in, const InputSpec *spec, const void *attr, double *out, int64_t n) {
    (void)n;
    ref_pool(in, spec, attr, 0, out);
}

/* ---- the table ---- */

#define CONV(sh, sw, ph, pw, dh, dw, gr, b) {{sh, sw, ph, pw, dh, dw, gr}, b}
static const ConvAttr C_PAD1 = CONV(1, 1, 1, 1, 1, 1, 1, 1), C_STRIDE2 = CONV(2, 2, 1, 1, 1, 1, 1, 1),
                      C_DIL2 = CONV(1, 1, 2, 2, 2, 2, 1, 0), C_GROUPS2 = CONV(1, 1, 1, 0, 1, 1, 2, 1),
                      C_DEPTHWISE = CONV(1, 1, 1, 1, 1, 1, 3, 1), C_K1 = CONV(1, 1, 0, 0, 1, 1, 1, 1),
                      C_K1_STRIDE2 = CONV(2, 2, 0, 0, 1, 1, 1, 0), C_ASYM = CONV(2, 1, 1, 0, 1, 2, 1, 0),
                      C_PLAIN = CONV(1, 1, 0, 0, 1, 1, 1, 0), C_ALL = CONV(2, 2, 2, 1, 2, 1, 2, 1);
static const ConvAttr C_SHARED[2] = {CONV(1, 1, 0, 0, 1, 1, 1, 0), CONV(1, 1, 1, 1, 1, 1, 1, 0)};
/* 1-D: only the _w fields and groups are read */
static const ConvAttr C1_PAD1 = CONV(1, 1, 0, 1, 1, 1, 1, 1), C1_STRIDE2_DIL2 = CONV(1, 2, 0, 2, 1, 2, 1, 1),
                      C1_GROUPS2 = CONV(1, 1, 0, 1, 1, 1, 2, 0), C1_DEPTHWISE = CONV(1, 1, 0, 2, 1, 1, 4, 1),
                      C1_K1 = CONV(1, 1, 0, 0, 1, 1, 1, 1), C1_PLAIN = CONV(1, 1, 0, 0, 1, 1, 1, 0);

#define POOL(kh, kw, sh, sw, ph, pw) {kh, kw, sh, sw, ph, pw}
static const Pool2dOpts P_K2S2 = POOL(2, 2, 2, 2, 0, 0), P_K3S2P1 = POOL(3, 3, 2, 2, 1, 1),
                        P_ASYM = POOL(2, 3, 1, 2, 1, 1), P_K1 = POOL(1, 1, 1, 1, 0, 0),
                        P_OVERLAP = POOL(3, 3, 1, 1, 1, 1);
static const Pool2dOpts P1_K3S2P1 = POOL(1, 3, 1, 2, 0, 1), P1_K2S2 = POOL(1, 2, 1, 2, 0, 0),
                        P1_K4S1P2 = POOL(1, 4, 1, 1, 0, 2), P1_K1 = POOL(1, 1, 1, 1, 0, 0);

static const OpCase cases[] = {
    OPCASE("conv2d_3x3_pad1_bias", build_conv2d, ref_conv, &C_PAD1, 3, REAL(2, 3, 5, 6), REAL(4, 3, 3, 3), REAL(4)),
    OPCASE("conv2d_stride2", build_conv2d, ref_conv, &C_STRIDE2, 3, REAL(1, 2, 7, 6), REAL(3, 2, 3, 3), REAL(3)),
    OPCASE("conv2d_dilation2", build_conv2d, ref_conv, &C_DIL2, 2, REAL(2, 2, 7, 7), REAL(2, 2, 3, 3)),
    OPCASE("conv2d_groups2", build_conv2d, ref_conv, &C_GROUPS2, 3, REAL(2, 4, 5, 5), REAL(6, 2, 3, 3), REAL(6)),
    OPCASE("conv2d_depthwise", build_conv2d, ref_conv, &C_DEPTHWISE, 3, REAL(2, 3, 6, 5), REAL(3, 1, 3, 3), REAL(3)),
    OPCASE("conv2d_kernel1", build_conv2d, ref_conv, &C_K1, 3, REAL(2, 3, 4, 5), REAL(5, 3, 1, 1), REAL(5)),
    OPCASE("conv2d_kernel1_stride2", build_conv2d, ref_conv, &C_K1_STRIDE2, 2, REAL(1, 3, 5, 5), REAL(2, 3, 1, 1)),
    OPCASE("conv2d_asymmetric", build_conv2d, ref_conv, &C_ASYM, 2, REAL(2, 2, 5, 7), REAL(3, 2, 2, 3)),
    OPCASE("conv2d_single_channel", build_conv2d, ref_conv, &C_PLAIN, 2, REAL(1, 1, 6, 6), REAL(1, 1, 2, 2)),
    OPCASE("conv2d_everything_at_once", build_conv2d, ref_conv, &C_ALL, 3, REAL(2, 4, 7, 6), REAL(4, 2, 3, 2), REAL(4)),
    OPCASE("conv2d_input_shared_by_two_convs", build_conv2d_shared_input, ref_conv2d_shared_input, C_SHARED, 3,
           REAL(2, 3, 4, 5), REAL(2, 3, 1, 1), REAL(3, 3, 3, 3)),

    OPCASE("conv1d_pad1_bias", build_conv1d, ref_conv, &C1_PAD1, 3, REAL(2, 3, 10), REAL(4, 3, 3), REAL(4)),
    OPCASE("conv1d_stride2_dilation2", build_conv1d, ref_conv, &C1_STRIDE2_DIL2, 3,
           REAL(2, 2, 11), REAL(3, 2, 3), REAL(3)),
    OPCASE("conv1d_groups2", build_conv1d, ref_conv, &C1_GROUPS2, 2, REAL(2, 4, 9), REAL(6, 2, 3)),
    OPCASE("conv1d_depthwise", build_conv1d, ref_conv, &C1_DEPTHWISE, 3, REAL(2, 4, 8), REAL(4, 1, 5), REAL(4)),
    OPCASE("conv1d_kernel1", build_conv1d, ref_conv, &C1_K1, 3, REAL(3, 5, 7), REAL(2, 5, 1), REAL(2)),
    OPCASE("conv1d_kernel_spans_input", build_conv1d, ref_conv, &C1_PLAIN, 2, REAL(2, 2, 5), REAL(3, 2, 5)),

    OPCASE("max_pool2d_k2s2", build_max_pool2d, ref_max_pool, &P_K2S2, 1, REAL(2, 3, 6, 6)),
    OPCASE("max_pool2d_k3s2p1", build_max_pool2d, ref_max_pool, &P_K3S2P1, 1, REAL(1, 2, 7, 5)),
    OPCASE("max_pool2d_asymmetric", build_max_pool2d, ref_max_pool, &P_ASYM, 1, REAL(2, 2, 5, 6)),
    OPCASE("max_pool2d_k1", build_max_pool2d, ref_max_pool, &P_K1, 1, REAL(1, 2, 3, 3)),
    /* overlapping windows: an element that wins several windows collects every gradient */
    OPCASE("max_pool2d_overlapping", build_max_pool2d, ref_max_pool, &P_OVERLAP, 1, REAL(2, 1, 4, 4)),
    /* all negative inputs: padding must act as -inf, not 0 */
    OPCASE("max_pool2d_negative_inputs", build_max_pool2d, ref_max_pool, &P_K3S2P1, 1, REALR(-2, -0.5, 1, 2, 5, 5)),

    OPCASE("avg_pool2d_k2s2", build_avg_pool2d, ref_avg_pool, &P_K2S2, 1, REAL(2, 3, 6, 6)),
    OPCASE("avg_pool2d_k3s2p1", build_avg_pool2d, ref_avg_pool, &P_K3S2P1, 1, REAL(1, 2, 7, 5)),
    OPCASE("avg_pool2d_asymmetric", build_avg_pool2d, ref_avg_pool, &P_ASYM, 1, REAL(2, 2, 5, 6)),
    OPCASE("avg_pool2d_k1", build_avg_pool2d, ref_avg_pool, &P_K1, 1, REAL(1, 2, 3, 3)),
    OPCASE("avg_pool2d_overlapping", build_avg_pool2d, ref_avg_pool, &P_OVERLAP, 1, REAL(2, 1, 4, 4)),

    OPCASE("max_pool1d_k3s2p1", build_max_pool1d, ref_max_pool, &P1_K3S2P1, 1, REAL(2, 3, 9)),
    OPCASE("max_pool1d_k2s2", build_max_pool1d, ref_max_pool, &P1_K2S2, 1, REAL(1, 2, 7)),
    OPCASE("max_pool1d_k4s1p2", build_max_pool1d, ref_max_pool, &P1_K4S1P2, 1, REAL(2, 2, 6)),
    OPCASE("max_pool1d_k1", build_max_pool1d, ref_max_pool, &P1_K1, 1, REAL(1, 3, 4)),
    OPCASE("avg_pool1d_k3s2p1", build_avg_pool1d, ref_avg_pool, &P1_K3S2P1, 1, REAL(2, 3, 9)),
    OPCASE("avg_pool1d_k2s2", build_avg_pool1d, ref_avg_pool, &P1_K2S2, 1, REAL(1, 2, 7)),
    OPCASE("avg_pool1d_k4s1p2", build_avg_pool1d, ref_avg_pool, &P1_K4S1P2, 1, REAL(2, 2, 6)),
    OPCASE("avg_pool1d_k1", build_avg_pool1d, ref_avg_pool, &P1_K1, 1, REAL(1, 3, 4)),
};

OPCHECK_TABLE(ops, conv, cases)

/* ---- exact values and aborts ---- */

/* count_include_pad=False on a 1-D ramp: the first window [pad, 0, 1] averages 2 elements, not 3. */
Test(conv, avg_pool_excludes_padding) {
    Ctx *g = ctx_new(1);
    Tensor *x = tensor_empty(g, SERC_F32, SHAPE(1, 1, 4));
    for (int i = 0; i < 4; i++) tensor_f32(x)[i] = (float)(i + 1);
    Tensor *y = op_avg_pool1d(g, x, 3, 1, 1);
    const float want[] = {1.5f, 2.0f, 3.0f, 3.5f};
    cr_assert_eq(y->shape[2], 4);
    for (int i = 0; i < 4; i++) cr_assert_float_eq(tensor_f32(y)[i], want[i], 1e-6);
    ctx_free(g);
}

Test(conv, pool_padding_over_half_kernel_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    op_max_pool1d(g, tensor_zeros(g, SERC_F32, SHAPE(1, 1, 8)), 3, 1, 2);
    ctx_free(g);
}

Test(conv, conv_groups_mismatch_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    /* Cin 3 is not divisible by 2 groups */
    Tensor *x = tensor_zeros(g, SERC_F32, SHAPE(1, 3, 8)), *w = tensor_zeros(g, SERC_F32, SHAPE(2, 1, 3));
    op_conv1d(g, x, w, NULL, 1, 0, 1, 2);
    ctx_free(g);
}

Test(conv, conv_kernel_longer_than_input_aborts, .signal = SIGABRT) {
    Ctx *g = ctx_new(1);
    Tensor *x = tensor_zeros(g, SERC_F32, SHAPE(1, 1, 3)), *w = tensor_zeros(g, SERC_F32, SHAPE(1, 1, 5));
    op_conv1d(g, x, w, NULL, 1, 0, 1, 1);
    ctx_free(g);
}
