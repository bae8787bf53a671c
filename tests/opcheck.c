#include "opcheck.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Draws input i's values into t (and its double copy d). */
static void fill_input(const InputSpec *sp, Tensor *t, double *d, uint64_t seed) {
    int64_t n = tensor_numel(t);
    switch (sp->kind) {
    case IN_REAL:
    case IN_CONST: {
        float *x = tensor_f32(t);
        for (int64_t j = 0; j < n; j++) {
            double u = sp->lo + (sp->hi - sp->lo) * serc_rng_uniform01(seed, 0, (uint64_t)j);
            if (sp->nonzero && fabs(u) < 0.2) u = (u < 0 ? -1.0 : 1.0) * (0.2 + fabs(u));
            x[j] = (float)u;
            d[j] = x[j];
        }
        break;
    }
    case IN_MASK: {
        uint8_t *m = tensor_u8(t);
        int64_t B = sp->shape[0], N = sp->shape[1];
        for (int64_t b = 0; b < B; b++) {
            int64_t len = b == 0 ? N : b == 1 ? 0 : 1 + (int64_t)(serc_rng_u32(seed, 0, (uint64_t)b) % (uint64_t)N);
            for (int64_t j = 0; j < N; j++) {
                m[b * N + j] = j < len;
                d[b * N + j] = m[b * N + j];
            }
        }
        break;
    }
    case IN_LENGTHS: {
        int32_t *l = tensor_i32(t);
        int64_t T = (int64_t)sp->hi;
        for (int64_t b = 0; b < n; b++) {
            l[b] = (int32_t)(b == 0 ? T : b == 1 ? 0 : (int64_t)(serc_rng_u32(seed, 0, (uint64_t)b) % (uint64_t)(T + 1)));
            d[b] = l[b];
        }
        break;
    }
    case IN_IDS: {
        int64_t *ids = tensor_i64(t);
        for (int64_t j = 0; j < n; j++) {
            ids[j] = (int64_t)(serc_rng_u32(seed, 0, (uint64_t)j) % (uint64_t)sp->hi);
            d[j] = (double)ids[j];
        }
        break;
    }
    }
}

static SercDType kind_dtype(InputKind k) {
    switch (k) {
    case IN_MASK: return SERC_U8;
    case IN_LENGTHS: return SERC_I32;
    case IN_IDS: return SERC_I64;
    default: return SERC_F32;
    }
}

static double weighted_ref(const OpCase *c, const double *const *din, const double *R, double *tmp, int64_t on) {
    c->reference(din, c->in, c->attr, tmp, on);
    double s = 0;
    for (int64_t j = 0; j < on; j++) s += tmp[j] * R[j];
    return s;
}

void opcheck_run(const OpCase *c) {
    Ctx *g = ctx_new(OPCHECK_SEED);
    g->arena.poison = 1;
    g->training = c->training;
    uint64_t seed = name_hash(c->name);
    Tensor *in[OPCHECK_MAX_IN] = {0};
    double *din[OPCHECK_MAX_IN] = {0};
    int any_real = 0;
    for (int i = 0; i < c->n_in; i++) {
        const InputSpec *sp = &c->in[i];
        in[i] = tensor_empty(g, kind_dtype(sp->kind), sp->ndim, sp->shape);
        din[i] = calloc((size_t)tensor_numel(in[i]) + 1, sizeof(double));
        fill_input(sp, in[i], din[i], seed + 7919u * (uint64_t)(i + 1));
        if (sp->kind == IN_REAL) {
            in[i]->requires_grad = 1;
            any_real = 1;
        }
    }

    Tensor *out = c->build(g, in, c->attr);
    int64_t on = tensor_numel(out);
    const float *y = tensor_f32(out);
    double *ref = calloc((size_t)on + 1, sizeof(double));
    c->reference((const double *const *)din, c->in, c->attr, ref, on);
    double atol = c->atol > 0 ? c->atol : 1e-5, rtol = c->rtol > 0 ? c->rtol : 1e-4;
    for (int64_t j = 0; j < on; j++) {
        double err = fabs((double)y[j] - ref[j]);
        if (!(err <= atol + rtol * fabs(ref[j])))
            cr_assert_fail("%s: forward element %lld: op %.9g, reference %.9g", c->name, (long long)j, (double)y[j], ref[j]);
    }

    if (!c->skip_grad && any_real) {
        cr_assert(out->requires_grad, "%s: output does not require grad although an input does", c->name);
        Tensor *R = tensor_empty(g, SERC_F32, out->ndim, out->shape);
        double *dR = calloc((size_t)on + 1, sizeof(double));
        float *r = tensor_f32(R);
        for (int64_t j = 0; j < on; j++) {
            r[j] = 2.0f * serc_rng_uniform01(seed ^ 0xabcdefull, 0, (uint64_t)j) - 1.0f;
            dR[j] = r[j];
        }
        serc_backward(g, out, R);
        double *tmp = calloc((size_t)on + 1, sizeof(double));
        double tol = c->grad_tol > 0 ? c->grad_tol : 2e-3;
        for (int i = 0; i < c->n_in; i++) {
            if (c->in[i].kind != IN_REAL) continue;
            int64_t n = tensor_numel(in[i]);
            const float *gr = in[i]->grad ? tensor_f32(in[i]->grad) : NULL;
            /* every element up to 400, else a spread of 400 */
            int64_t step = n > 400 ? n / 400 : 1;
            for (int64_t j = 0; j < n; j += step) {
                double x0 = din[i][j], h = 1e-6 * fmax(1.0, fabs(x0));
                din[i][j] = x0 + h;
                double lp = weighted_ref(c, (const double *const *)din, dR, tmp, on);
                din[i][j] = x0 - h;
                double lm = weighted_ref(c, (const double *const *)din, dR, tmp, on);
                din[i][j] = x0;
                double num = (lp - lm) / (2 * h);
                double ana = gr ? gr[j] : 0.0;
                if (!(fabs(ana - num) <= tol * fmax(1.0, fabs(num))))
                    cr_assert_fail("%s: gradient of input %d element %lld: backward %.9g, finite difference %.9g",
                                   c->name, i, (long long)j, ana, num);
            }
        }
        free(tmp);
        free(dR);
    }
    free(ref);
    for (int i = 0; i < c->n_in; i++) free(din[i]);
    ctx_free(g);
}
