/* Core: the tape (a tensor used twice, a parameter in two branches, no-grad mode), the arena, the
 * parameter store, Philox, dtype conversions, and padding invariance of a whole model. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "conv_attn.h"
#include "ops.h"
#include "params.h"
#include "rng.h"

static Tensor *leaf(Ctx *g, int n, const float *v) {
    Tensor *t = tensor_empty(g, SERC_F32, SHAPE(n));
    memcpy(t->data, v, (size_t)n * sizeof(float));
    t->requires_grad = 1;
    return t;
}

Test(tape, tensor_used_twice_accumulates) {
    Ctx *g = ctx_new(1);
    const float xv[3] = {0.5f, -2.0f, 3.0f};
    Tensor *x = leaf(g, 3, xv);
    Tensor *y = op_sum(g, op_mul(g, x, x)); /* d/dx sum x^2 = 2x */
    serc_backward(g, y, NULL);
    const float *gx = tensor_f32(x->grad);
    for (int i = 0; i < 3; i++) cr_expect_float_eq(gx[i], 2 * xv[i], 1e-6, "element %d", i);
    ctx_free(g);
}

Test(tape, parameter_in_two_branches) {
    ParamStore *ps = params_new();
    Tensor *p = params_add(ps, "p", SHAPE(3));
    params_finalize(ps);
    const float pv[3] = {1, 2, 3}, av[3] = {0.5f, 0.25f, -1}, bv[3] = {2, -3, 4};
    memcpy(p->data, pv, sizeof pv);
    Ctx *g = ctx_new(1);
    Tensor *a = leaf(g, 3, av), *b = leaf(g, 3, bv);
    a->requires_grad = b->requires_grad = 0;
    /* L = sum(tanh(p) * a) + sum(p * b): dL/dp = (1 - tanh^2 p) a + b */
    Tensor *l = op_add(g, op_sum(g, op_mul(g, op_tanh(g, p), a)), op_sum(g, op_mul(g, p, b)));
    params_zero_grad(ps);
    serc_backward(g, l, NULL);
    for (int i = 0; i < 3; i++) {
        double t = tanh(pv[i]);
        cr_expect(fabs(params_grad(ps)[i] - ((1 - t * t) * av[i] + bv[i])) < 1e-5, "element %d", i);
    }
    /* a second step without zeroing accumulates on top (the flat buffer is the parameter's grad) */
    ctx_step_begin(g);
    Tensor *l2 = op_sum(g, op_mul(g, p, p));
    serc_backward(g, l2, NULL);
    for (int i = 0; i < 3; i++) {
        double t = tanh(pv[i]);
        cr_expect(fabs(params_grad(ps)[i] - ((1 - t * t) * av[i] + bv[i] + 2 * pv[i])) < 1e-5, "element %d", i);
    }
    ctx_free(g);
    params_free(ps);
}

Test(tape, no_grad_records_nothing) {
    Ctx *g = ctx_new(1);
    const float xv[2] = {1, 2};
    Tensor *x = leaf(g, 2, xv);
    int was = ctx_no_grad(g);
    Tensor *y = op_sum(g, op_mul(g, x, x));
    cr_expect_eq(g->tape_len, 0);
    cr_expect_eq(y->requires_grad, 0);
    cr_expect_float_eq(tensor_f32(y)[0], 5.0f, 1e-6);
    ctx_set_grad(g, was);
    Tensor *z = op_sum(g, op_mul(g, x, x));
    cr_expect_eq(g->tape_len, 2);
    cr_expect_eq(z->requires_grad, 1);
    ctx_free(g);
}

Test(tape, branch_not_reaching_output_gets_no_grad) {
    Ctx *g = ctx_new(1);
    const float xv[2] = {1, 2};
    Tensor *x = leaf(g, 2, xv);
    Tensor *unused = op_mul(g, x, x);
    Tensor *y = op_sum(g, op_scale(g, x, 3.0f));
    serc_backward(g, y, NULL);
    cr_expect_null(unused->grad);
    cr_expect_float_eq(tensor_f32(x->grad)[1], 3.0f, 1e-6);
    ctx_free(g);
}

Test(arena, reset_reuses_blocks_and_reports_peak) {
    Ctx *g = ctx_new(1);
    size_t allocs_after_first = 0;
    for (int step = 0; step < 5; step++) {
        ctx_step_begin(g);
        cr_expect_eq(g->arena.used, 0);
        for (int k = 0; k < 50; k++) tensor_empty(g, SERC_F32, SHAPE(1000, 100)); /* 20 MB per step */
        if (step == 0) allocs_after_first = g->arena.system_allocs;
    }
    cr_expect_eq(g->arena.system_allocs, allocs_after_first, "steps after the first took memory from the system");
    cr_expect_geq(g->arena.peak, (size_t)50 * 400000);
    cr_expect_lt(g->arena.peak, (size_t)50 * 400000 + 50 * 256);
    ctx_free(g);
}

Test(params, flat_layout_and_lookup) {
    ParamStore *ps = params_new();
    Tensor *a = params_add(ps, "enc.weight", SHAPE(2, 3));
    Tensor *rm = params_add_buffer(ps, "bn.running_mean", SHAPE(4));
    Tensor *b = params_add(ps, "enc.bias", SHAPE(2));
    params_finalize(ps);
    cr_expect_eq(params_count(ps), 8);
    cr_expect_eq((float *)a->data, params_data(ps));
    cr_expect_eq((float *)b->data, params_data(ps) + 6);
    cr_expect_eq((float *)b->grad->data, params_grad(ps) + 6);
    cr_expect_eq(rm->requires_grad, 0);
    cr_expect_eq(params_get(ps, "enc.bias"), b);
    cr_expect_null(params_get(ps, "missing"));
    params_free(ps);
}

Test(params, duplicate_name_aborts, .signal = SIGABRT) {
    ParamStore *ps = params_new();
    params_add(ps, "w", SHAPE(1));
    params_add(ps, "w", SHAPE(1));
}

/* Random123's known-answer vectors for Philox4x32-10. */
Test(rng, philox_known_answers) {
    struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        philox4x32_10(kat[k].ctr, kat[k].key, out);
        for (int i = 0; i < 4; i++) cr_expect_eq(out[i], kat[k].out[i], "vector %d word %d: %08x", k, i, out[i]);
    }
}

Test(rng, same_stream_on_one_and_two_threads) {
#ifdef _OPENMP
    enum { N = 100003 };
    static float a[N], b[N], c[N], d[N];
    omp_set_num_threads(1);
    serc_rng_fill_normal(a, N, 42, 7, 0, 1);
    serc_rng_fill_uniform(c, N, 42, 7, -1, 1);
    omp_set_num_threads(2);
    serc_rng_fill_normal(b, N, 42, 7, 0, 1);
    serc_rng_fill_uniform(d, N, 42, 7, -1, 1);
    cr_expect_eq(memcmp(a, b, sizeof a), 0);
    cr_expect_eq(memcmp(c, d, sizeof c), 0);
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++) mean += a[i];
    mean /= N;
    for (int i = 0; i < N; i++) var += (a[i] - mean) * (a[i] - mean);
    var /= N;
    cr_expect(fabs(mean) < 0.02 && fabs(var - 1) < 0.03, "normal draws: mean %g var %g", mean, var);
#else
    cr_skip_test("built without OpenMP");
#endif
}

Test(dtype, half_precision_conversions) {
    const float v[] = {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.9604644775390625e-08f, 3.14159265f};
    const uint16_t f16[] = {0x0000, 0x3c00, 0xc100, 0x7bff, 0x0400, 0x0001, 0x4248};
    const uint16_t bf16[] = {0x0000, 0x3f80, 0xc020, 0x4780, 0x3880, 0x3380, 0x4049};
    for (int i = 0; i < 7; i++) {
        cr_expect_eq(serc_f32_to_f16(v[i]), f16[i], "f16 of %g: %04x", v[i], serc_f32_to_f16(v[i]));
        cr_expect_eq(serc_f32_to_bf16(v[i]), bf16[i], "bf16 of %g: %04x", v[i], serc_f32_to_bf16(v[i]));
        if (i < 6) cr_expect_eq(serc_f16_to_f32(f16[i]), v[i]);
    }
    cr_expect(isinf(serc_f16_to_f32(serc_f32_to_f16(1e6f))));
    cr_expect(isnan(serc_bf16_to_f32(serc_f32_to_bf16(NAN))));
    cr_expect(isnan(serc_f16_to_f32(serc_f32_to_f16(NAN))));
}

/* Padding never leaks: an item's logits are the same alone and batched beside a longer item. */
Test(model, padding_does_not_leak) {
    ParamStore *ps = params_new();
    ConvAttnClassifier m;
    conv_attn_register(&m, ps, 8, 12, 3, 4);
    params_finalize(ps);
    conv_attn_init(&m, 99);
    Ctx *g = ctx_new(3);
    g->training = 0;
    const int L0 = 7, L1 = 13, F = 8;
    Tensor *x1 = tensor_zeros(g, SERC_F32, SHAPE(1, L0, F));
    Tensor *x2 = tensor_zeros(g, SERC_F32, SHAPE(2, L1, F));
    serc_rng_fill_normal(tensor_f32(x1), L0 * F, 5, 0, 0, 1);
    serc_rng_fill_normal(tensor_f32(x2) + L1 * F, L1 * F, 6, 0, 0, 1);
    memcpy(tensor_f32(x2), tensor_f32(x1), sizeof(float) * L0 * F); /* item 0 = x1, zero padded */
    Tensor *len1 = tensor_empty(g, SERC_I32, SHAPE(1)), *len2 = tensor_empty(g, SERC_I32, SHAPE(2));
    tensor_i32(len1)[0] = L0;
    tensor_i32(len2)[0] = L0;
    tensor_i32(len2)[1] = L1;
    Tensor *m1 = tensor_zeros(g, SERC_U8, SHAPE(1, L0)), *m2 = tensor_zeros(g, SERC_U8, SHAPE(2, L1));
    for (int t = 0; t < L0; t++) tensor_u8(m1)[t] = tensor_u8(m2)[t] = 1;
    for (int t = 0; t < L1; t++) tensor_u8(m2)[L1 + t] = 1;
    const float *y1 = tensor_f32(conv_attn_forward(g, &m, x1, len1, m1));
    const float *y2 = tensor_f32(conv_attn_forward(g, &m, x2, len2, m2));
    for (int c = 0; c < 4; c++) cr_expect(fabsf(y1[c] - y2[c]) < 1e-5f, "class %d: alone %g, batched %g", c, y1[c], y2[c]);
    ctx_free(g);
    params_free(ps);
}
