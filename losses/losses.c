/* Classification losses over logits (B, C): cross-entropy (hard or soft targets, class weights, label
 * smoothing), focal loss and KL divergence against target distributions.
 *
 * Cross-entropy and KL share one form: with lp = log_softmax(logits) and a per-sample coefficient row
 * a_b (B, C), loss = (-sum_b sum_c a_{b,c} lp_{b,c}) / D (+ a constant for KL), whose gradient is
 *   d loss / d x_{b,c} = (p_{b,c} sum_k a_{b,k} - a_{b,c}) / D,   p = softmax(x).
 * The forward builds a and D, the shared backward applies this. Row sums run in double; each row is
 * one OpenMP work item and the batch sum is serial, so results do not depend on the thread count.
 */
#include <math.h>
#include <string.h>

#include "losses.h"
#include "losses_internal.h"

/* ---- shared checks and copies ---- */

static void check_logits(const char *op, const Tensor *x) {
    char d[64];
    SERC_ASSERT(x->ndim == 2 && x->dtype == SERC_F32 && x->shape[1] > 0,
                "%s: logits %s, want f32 (B, C) with C > 0", op, tensor_describe(x, d, sizeof d));
}

/* Copies labels (B) i32/i64 into an arena i64 tensor, checking each is in [0, C). */
Tensor *loss_labels_copy(Ctx *g, const char *op, const Tensor *labels, int64_t B, int64_t C) {
    char d[64];
    SERC_ASSERT(labels && labels->ndim == 1 && labels->shape[0] == B &&
                    (labels->dtype == SERC_I32 || labels->dtype == SERC_I64),
                "%s: labels %s, want i32/i64 (%lld)", op, labels ? tensor_describe(labels, d, sizeof d) : "NULL",
                (long long)B);
    Tensor *t = tensor_empty(g, SERC_I64, SHAPE(B));
    int64_t *y = tensor_i64(t);
    for (int64_t b = 0; b < B; b++) {
        y[b] = tensor_get_index(labels, b);
        SERC_ASSERT(y[b] >= 0 && y[b] < C, "%s: label %lld of item %lld outside [0, %lld)", op, (long long)y[b],
                    (long long)b, (long long)C);
    }
    return t;
}

/* Checks an optional per-class f32 (C) vector (class weights, alpha) and returns its data or NULL. */
static const float *per_class(const char *op, const char *what, const Tensor *w, int64_t C) {
    if (!w) return NULL;
    char d[64];
    SERC_ASSERT(w->ndim == 1 && w->shape[0] == C && w->dtype == SERC_F32, "%s: %s %s, want f32 (%lld)", op, what,
                tensor_describe(w, d, sizeof d), (long long)C);
    return tensor_f32(w);
}

/* lp (B, C) = log_softmax of x (B, C), rows in double. */
static Tensor *log_softmax_rows(Ctx *g, const Tensor *x) {
    int64_t B = x->shape[0], C = x->shape[1];
    Tensor *lp_t = tensor_empty(g, SERC_F32, SHAPE(B, C));
    const float *xv = tensor_f32(x);
    float *lp = tensor_f32(lp_t);
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        const float *xr = xv + b * C;
        float mx = xr[0];
        for (int64_t c = 1; c < C; c++) mx = fmaxf(mx, xr[c]);
        double s = 0.0;
        for (int64_t c = 0; c < C; c++) s += exp((double)xr[c] - mx);
        double lse = mx + log(s);
        for (int64_t c = 0; c < C; c++) lp[b * C + c] = (float)((double)xr[c] - lse);
    }
    return lp_t;
}

/* A scalar (1) arena tensor holding v. */
Tensor *loss_scalar(Ctx *g, double v) {
    Tensor *t = tensor_empty(g, SERC_F32, SHAPE(1));
    tensor_f32(t)[0] = (float)v;
    return t;
}

/* ---- the shared weighted-NLL backward (cross-entropy, KL) ---- */

/* saved[0] lp (B, C), saved[1] a (B, C); fattr[0] = 1/D (0 when the loss is the constant 0). */
static void weighted_nll_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->requires_grad) return;
    int64_t B = x->shape[0], C = x->shape[1];
    const float *lp = tensor_f32(n->saved[0]), *a = tensor_f32(n->saved[1]);
    double k = (double)tensor_f32(n->out->grad)[0] * n->fattr[0];
    float *gx = tensor_grad_f32(g, x);
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        const float *ab = a + b * C, *lb = lp + b * C;
        double asum = 0.0;
        for (int64_t c = 0; c < C; c++) asum += ab[c];
        for (int64_t c = 0; c < C; c++) gx[b * C + c] += (float)(k * (exp((double)lb[c]) * asum - ab[c]));
    }
}

/* The batch sum of per-row terms, serial so that it does not depend on the thread count. */
double loss_serial_sum(const double *v, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    return s;
}

/* ---- cross-entropy ---- */

/* Cross-entropy as torch.nn.functional.cross_entropy with weight and label_smoothing; see losses.h. */
Tensor *loss_cross_entropy(Ctx *g, Tensor *logits, const Tensor *targets, const Tensor *class_weights,
                           float label_smoothing) {
    const char *op = "loss_cross_entropy";
    check_logits(op, logits);
    int64_t B = logits->shape[0], C = logits->shape[1];
    const float *w = per_class(op, "class_weights", class_weights, C);
    SERC_ASSERT(label_smoothing >= 0.0f && label_smoothing <= 1.0f, "%s: label_smoothing %g outside [0, 1]", op,
                (double)label_smoothing);
    int soft = targets && targets->dtype == SERC_F32;
    char d[64];
    if (soft)
        SERC_ASSERT(targets->ndim == 2 && targets->shape[0] == B && targets->shape[1] == C,
                    "%s: soft targets %s, want f32 (%lld, %lld)", op, tensor_describe(targets, d, sizeof d),
                    (long long)B, (long long)C);
    Tensor *lp_t = log_softmax_rows(g, logits);
    Tensor *a_t = tensor_empty(g, SERC_F32, SHAPE(B, C));
    const float *lp = tensor_f32(lp_t);
    float *a = tensor_f32(a_t);
    double eps = label_smoothing, D;
    double *rowv = arena_alloc(&g->arena, (size_t)(B > 0 ? B : 1) * sizeof(double));
    if (soft) {
        /* a_{b,c} = w_c ((1 - eps) t_{b,c} + eps / C), D = B */
        const float *t = tensor_f32(targets);
        for (int64_t i = 0; i < B * C; i++)
            a[i] = (float)((w ? w[i % C] : 1.0) * ((1.0 - eps) * t[i] + eps / (double)C));
        D = (double)B;
    } else {
        /* a_{b,c} = (1 - eps) w_y [c = y] + eps / C w_c, D = sum_b w_{y_b} */
        const int64_t *y = tensor_i64(loss_labels_copy(g, op, targets, B, C));
        D = 0.0;
        for (int64_t b = 0; b < B; b++) {
            for (int64_t c = 0; c < C; c++)
                a[b * C + c] = (float)(((c == y[b]) ? (1.0 - eps) * (w ? w[y[b]] : 1.0) : 0.0) +
                                       eps / (double)C * (w ? w[c] : 1.0));
            D += w ? w[y[b]] : 1.0;
        }
    }
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        double s = 0.0;
        for (int64_t c = 0; c < C; c++) s -= (double)a[b * C + c] * lp[b * C + c];
        rowv[b] = s;
    }
    /* D = 0: no sample carries weight (every label's class weight is 0, or B = 0): loss 0, no gradient */
    double invD = D != 0.0 ? 1.0 / D : 0.0;
    Tensor *out = loss_scalar(g, loss_serial_sum(rowv, B) * invD);
    if (ctx_needs_grad(g, &logits, 1)) {
        TapeNode *n = ctx_record(g, "loss_cross_entropy", weighted_nll_backward, out, &logits, 1);
        n->saved[0] = lp_t;
        n->saved[1] = a_t;
        n->fattr[0] = invD;
    }
    return out;
}

/* ---- KL divergence ---- */

/* KL(target || softmax(logits)), batch mean (KLDivLoss 'batchmean'); see losses.h. */
Tensor *loss_kl(Ctx *g, Tensor *logits, const Tensor *target) {
    const char *op = "loss_kl";
    check_logits(op, logits);
    int64_t B = logits->shape[0], C = logits->shape[1];
    char d[64];
    SERC_ASSERT(target && target->ndim == 2 && target->dtype == SERC_F32 && target->shape[0] == B &&
                    target->shape[1] == C,
                "%s: target %s, want f32 (%lld, %lld)", op, target ? tensor_describe(target, d, sizeof d) : "NULL",
                (long long)B, (long long)C);
    Tensor *lp_t = log_softmax_rows(g, logits);
    Tensor *a_t = tensor_empty(g, SERC_F32, SHAPE(B, C));
    memcpy(tensor_f32(a_t), tensor_f32(target), (size_t)(B * C) * sizeof(float));
    for (int64_t i = 0; i < B * C; i++)
        SERC_ASSERT(tensor_f32(a_t)[i] >= 0.0f, "%s: target[%lld, %lld] = %g is negative", op, (long long)(i / C),
                    (long long)(i % C), (double)tensor_f32(a_t)[i]);
    const float *lp = tensor_f32(lp_t), *t = tensor_f32(a_t);
    double *rowv = arena_alloc(&g->arena, (size_t)(B > 0 ? B : 1) * sizeof(double));
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        double s = 0.0;
        for (int64_t c = 0; c < C; c++) {
            double tc = t[b * C + c];
            if (tc > 0.0) s += tc * (log(tc) - lp[b * C + c]); /* t = 0 contributes 0 (0 log 0 = 0) */
        }
        rowv[b] = s;
    }
    double invB = B > 0 ? 1.0 / (double)B : 0.0;
    Tensor *out = loss_scalar(g, loss_serial_sum(rowv, B) * invB);
    if (ctx_needs_grad(g, &logits, 1)) {
        TapeNode *n = ctx_record(g, "loss_kl", weighted_nll_backward, out, &logits, 1);
        n->saved[0] = lp_t;
        n->saved[1] = a_t;
        n->fattr[0] = invB;
    }
    return out;
}

/* ---- focal loss ---- */

/* With q = 1 - p_y, l = -alpha_y q^gamma log p_y and d log p_y / d x_c = [c = y] - p_c,
 * d p_y / d x_c = p_y ([c = y] - p_c):
 *   d l / d x_c = ([c = y] - p_c) * alpha_y (gamma q^(gamma-1) p_y log p_y - q^gamma).
 * The first term is 0 for gamma = 0 or q = 0 (its limit; q^(gamma-1) alone would be inf). */
static double focal_row_factor(double lpy, double gamma, double alpha) {
    double py = exp(lpy), q = -expm1(lpy); /* q = 1 - p_y without cancellation */
    double t1 = (gamma > 0.0 && q > 0.0) ? gamma * pow(q, gamma - 1.0) * py * lpy : 0.0;
    return alpha * (t1 - pow(q, gamma));
}

/* saved[0] lp (B, C), saved[1] labels i64 (B), saved[2] alpha (C) or NULL; fattr[0] gamma. */
static void focal_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->requires_grad) return;
    int64_t B = x->shape[0], C = x->shape[1];
    const float *lp = tensor_f32(n->saved[0]), *alpha = n->saved[2] ? tensor_f32(n->saved[2]) : NULL;
    const int64_t *y = tensor_i64(n->saved[1]);
    double k = (double)tensor_f32(n->out->grad)[0] / (double)B, gamma = n->fattr[0];
    float *gx = tensor_grad_f32(g, x);
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        double f = k * focal_row_factor(lp[b * C + y[b]], gamma, alpha ? alpha[y[b]] : 1.0);
        for (int64_t c = 0; c < C; c++)
            gx[b * C + c] += (float)(f * ((c == y[b] ? 1.0 : 0.0) - exp((double)lp[b * C + c])));
    }
}

/* Focal loss (Lin et al. 2017), batch mean of -alpha_y (1 - p_y)^gamma log p_y; see losses.h. */
Tensor *loss_focal(Ctx *g, Tensor *logits, const Tensor *labels, float gamma, const Tensor *alpha) {
    const char *op = "loss_focal";
    check_logits(op, logits);
    int64_t B = logits->shape[0], C = logits->shape[1];
    SERC_ASSERT(gamma >= 0.0f, "%s: gamma %g < 0", op, (double)gamma);
    const float *al = per_class(op, "alpha", alpha, C);
    Tensor *y_t = loss_labels_copy(g, op, labels, B, C);
    Tensor *alpha_t = NULL;
    if (al) {
        alpha_t = tensor_empty(g, SERC_F32, SHAPE(C));
        memcpy(tensor_f32(alpha_t), al, (size_t)C * sizeof(float));
    }
    Tensor *lp_t = log_softmax_rows(g, logits);
    const float *lp = tensor_f32(lp_t);
    const int64_t *y = tensor_i64(y_t);
    double *rowv = arena_alloc(&g->arena, (size_t)(B > 0 ? B : 1) * sizeof(double));
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        double lpy = lp[b * C + y[b]], q = -expm1(lpy);
        rowv[b] = -(al ? al[y[b]] : 1.0) * pow(q, gamma) * lpy;
    }
    Tensor *out = loss_scalar(g, B > 0 ? loss_serial_sum(rowv, B) / (double)B : 0.0);
    if (ctx_needs_grad(g, &logits, 1)) {
        TapeNode *n = ctx_record(g, "loss_focal", focal_backward, out, &logits, 1);
        n->saved[0] = lp_t;
        n->saved[1] = y_t;
        n->saved[2] = alpha_t;
        n->fattr[0] = gamma;
    }
    return out;
}

/* ---- class weights ---- */

/* w_c = N / (C count_c) (0 for an absent class), N = sum_c count_c. */
void loss_class_weights_balanced(const int64_t *counts, int C, float *weights) {
    int64_t N = 0;
    for (int c = 0; c < C; c++) N += counts[c];
    for (int c = 0; c < C; c++)
        weights[c] = counts[c] > 0 ? (float)((double)N / ((double)C * (double)counts[c])) : 0.0f;
}
