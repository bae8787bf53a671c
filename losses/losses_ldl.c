/* Label-distribution learning loss, the EM2LDL baseline's (arXiv 2511.20106): the model's log-softmax
 * output against the raters' distribution, KL divergence plus a cosine term,
 *   loss = KL(t || p) + lambda (1 - cos(p, t)),  p = softmax(logits), both batch means.
 * The KL half is loss_kl (losses/losses.c); the cosine half is its own op here.
 */
#include <math.h>

#include "losses.h"
#include "losses_internal.h"
#include "ops.h"

/* d/dz of (1/B) sum_b (1 - cos_b) with p = softmax(z):
 *   d cos / d p_c = t_c / (|p||t|) - cos p_c / |p|^2,  g_p = -(go/B) d cos / d p,
 *   g_z = p * (g_p - <p, g_p>)   (the softmax Jacobian, symmetric).
 * A row whose target norm is 0 has cos fixed at 0 and passes no gradient.
 * saved[0] = p (B, C), saved[1] = t (B, C); extra: double[2B] = |p|, |t| per row. */
static void cosine_backward(Ctx *g, TapeNode *n) {
    Tensor *z = n->in[0];
    const Tensor *p_t = n->saved[0], *t_t = n->saved[1];
    int64_t B = z->shape[0], C = z->shape[1];
    const float *p = tensor_f32(p_t), *t = tensor_f32(t_t);
    const double *norms = n->extra;
    double go = tensor_f32(n->out->grad)[0];
    float *gz = tensor_grad_f32(g, z);
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        double np = norms[2 * b], nt = norms[2 * b + 1];
        if (!(np > 0.0 && nt > 0.0)) continue;
        const float *pb = p + b * C, *tb = t + b * C;
        double dot = 0.0;
        for (int64_t c = 0; c < C; c++) dot += (double)pb[c] * tb[c];
        double cosv = dot / (np * nt), s = -go / (double)B, pg = 0.0;
        for (int64_t c = 0; c < C; c++) pg += pb[c] * s * (tb[c] / (np * nt) - cosv * pb[c] / (np * np));
        for (int64_t c = 0; c < C; c++) {
            double gp = s * (tb[c] / (np * nt) - cosv * pb[c] / (np * np));
            gz[b * C + c] += (float)(pb[c] * (gp - pg));
        }
    }
}

/* (1/B) sum_b (1 - cos(softmax(logits_b), target_b)); see losses.h. */
Tensor *loss_ldl_cosine(Ctx *g, Tensor *logits, const Tensor *target) {
    const char *op = "loss_ldl_cosine";
    char d[64], e[64];
    SERC_ASSERT(logits->ndim == 2 && logits->dtype == SERC_F32 && logits->shape[0] > 0 && logits->shape[1] > 0,
                "%s: logits %s, want f32 (B, C)", op, tensor_describe(logits, d, sizeof d));
    int64_t B = logits->shape[0], C = logits->shape[1];
    SERC_ASSERT(target && target->ndim == 2 && target->dtype == SERC_F32 && target->shape[0] == B && target->shape[1] == C,
                "%s: target %s, want f32 (%lld, %lld)", op, target ? tensor_describe(target, e, sizeof e) : "NULL",
                (long long)B, (long long)C);
    Tensor *p_t = tensor_empty(g, SERC_F32, SHAPE(B, C));
    Tensor *t_t = tensor_empty(g, SERC_F32, SHAPE(B, C));
    const float *z = tensor_f32(logits), *t0 = tensor_f32(target);
    float *p = tensor_f32(p_t), *t = tensor_f32(t_t);
    double *norms = arena_alloc(&g->arena, (size_t)(2 * B) * sizeof(double));
    double *rowv = arena_alloc(&g->arena, (size_t)B * sizeof(double));
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        const float *zb = z + b * C;
        double mx = zb[0], se = 0.0;
        for (int64_t c = 1; c < C; c++) mx = zb[c] > mx ? zb[c] : mx;
        for (int64_t c = 0; c < C; c++) se += exp((double)zb[c] - mx);
        double np = 0.0, nt = 0.0, dot = 0.0;
        for (int64_t c = 0; c < C; c++) {
            double pc = exp((double)zb[c] - mx) / se, tc = t0[b * C + c];
            p[b * C + c] = (float)pc;
            t[b * C + c] = (float)tc;
            np += pc * pc, nt += tc * tc, dot += pc * tc;
        }
        np = sqrt(np), nt = sqrt(nt);
        norms[2 * b] = np, norms[2 * b + 1] = nt;
        rowv[b] = 1.0 - (np > 0.0 && nt > 0.0 ? dot / (np * nt) : 0.0);
    }
    Tensor *out = loss_scalar(g, loss_serial_sum(rowv, B) / (double)B);
    if (ctx_needs_grad(g, &logits, 1)) {
        TapeNode *n = ctx_record(g, op, cosine_backward, out, &logits, 1);
        n->saved[0] = p_t;
        n->saved[1] = t_t;
        n->extra = norms;
    }
    return out;
}

/* KL(target || softmax(logits)) + cos_weight (1 - cos); see losses.h. */
Tensor *loss_ldl(Ctx *g, Tensor *logits, const Tensor *target, float cos_weight) {
    SERC_ASSERT(cos_weight >= 0.0f && isfinite(cos_weight), "loss_ldl: cos_weight %g, want >= 0", (double)cos_weight);
    Tensor *kl = loss_kl(g, logits, target);
    if (cos_weight == 0.0f) return kl;
    return op_add(g, kl, op_scale(g, loss_ldl_cosine(g, logits, target), cos_weight));
}
