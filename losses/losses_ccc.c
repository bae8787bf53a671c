/* Concordance correlation coefficient loss, sum over attributes of (1 - CCC) (Lin 1989, "A
 * Concordance Correlation Coefficient to Evaluate Reproducibility"; the SERNC task 2 loss and score).
 *
 * Column statistics run in double; each attribute is one OpenMP work item.
 */
#include <math.h>

#include "losses.h"
#include "losses_internal.h"

/* Per-attribute statistics kept for backward: means, covariance and denominator. */
typedef struct CccStats {
    double mp, mt, cov, den;
} CccStats;

/* View (B) as (B, 1). */
static void ccc_dims(const Tensor *x, int64_t *B, int64_t *K) {
    *B = x->shape[0];
    *K = x->ndim == 2 ? x->shape[1] : 1;
}

/* With CCC = 2 c / d, c = cov, d = var_p + var_t + (mp - mt)^2 (all 1/B):
 *   dc/dp_i = (t_i - mt)/B,  dd/dp_i = 2 (p_i - mp)/B + 2 (mp - mt)/B  (and symmetrically for t),
 *   d(1 - CCC)/dp_i = -(2/d) dc/dp_i + (2c/d^2) dd/dp_i.
 * A column with d = 0 has CCC fixed at 1 and passes no gradient. extra: CccStats[K]. */
static void ccc_backward(Ctx *g, TapeNode *n) {
    Tensor *p = n->in[0], *t = n->in[1];
    int64_t B, K;
    ccc_dims(p, &B, &K);
    const CccStats *st = n->extra;
    const float *pv = tensor_f32(p), *tv = tensor_f32(t);
    double go = tensor_f32(n->out->grad)[0];
    float *gp = p->requires_grad ? tensor_grad_f32(g, p) : NULL;
    float *gt = t->requires_grad ? tensor_grad_f32(g, t) : NULL;
    #pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < K; k++) {
        const CccStats s = st[k];
        if (s.den == 0.0) continue;
        double a = -2.0 / s.den / (double)B * go, c = 2.0 * s.cov / (s.den * s.den) / (double)B * go;
        for (int64_t i = 0; i < B; i++) {
            double dp = (double)pv[i * K + k] - s.mp, dt = (double)tv[i * K + k] - s.mt, dm = s.mp - s.mt;
            if (gp) gp[i * K + k] += (float)(a * dt + c * 2.0 * (dp + dm));
            if (gt) gt[i * K + k] += (float)(a * dp + c * 2.0 * (dt - dm));
        }
    }
}

/* sum_k (1 - CCC_k) over pred, target (B, K) or (B); see losses.h for the zero-denominator rule. */
Tensor *loss_ccc(Ctx *g, Tensor *pred, Tensor *target) {
    char dp[64], dt[64];
    SERC_ASSERT((pred->ndim == 1 || pred->ndim == 2) && pred->dtype == SERC_F32 && tensor_same_shape(pred, target) &&
                    target->dtype == SERC_F32 && pred->shape[0] > 0,
                "loss_ccc: pred %s and target %s, want f32 (B, K) or (B), equal shapes, B > 0",
                tensor_describe(pred, dp, sizeof dp), tensor_describe(target, dt, sizeof dt));
    int64_t B, K;
    ccc_dims(pred, &B, &K);
    const float *pv = tensor_f32(pred), *tv = tensor_f32(target);
    CccStats *st = arena_alloc(&g->arena, (size_t)(K > 0 ? K : 1) * sizeof *st);
    double *term = arena_alloc(&g->arena, (size_t)(K > 0 ? K : 1) * sizeof(double));
    #pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < K; k++) {
        double sp = 0.0, stt = 0.0;
        for (int64_t i = 0; i < B; i++) sp += pv[i * K + k], stt += tv[i * K + k];
        double mp = sp / (double)B, mt = stt / (double)B, vp = 0.0, vt = 0.0, cov = 0.0;
        for (int64_t i = 0; i < B; i++) {
            double a = (double)pv[i * K + k] - mp, b = (double)tv[i * K + k] - mt;
            vp += a * a, vt += b * b, cov += a * b;
        }
        vp /= (double)B, vt /= (double)B, cov /= (double)B;
        double den = vp + vt + (mp - mt) * (mp - mt);
        st[k] = (CccStats){mp, mt, cov, den};
        /* den = 0: both columns constant and equal, the prediction is the target: CCC = 1 */
        term[k] = 1.0 - (den > 0.0 ? 2.0 * cov / den : 1.0);
    }
    Tensor *out = loss_scalar(g, loss_serial_sum(term, K));
    Tensor *in[2] = {pred, target};
    if (ctx_needs_grad(g, in, 2)) {
        TapeNode *n = ctx_record(g, "loss_ccc", ccc_backward, out, in, 2);
        n->extra = st;
    }
    return out;
}
