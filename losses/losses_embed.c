/* Embedding losses: center loss (with Wen et al.'s center update) and the supervised contrastive loss.
 *
 * Sums over the embedding dimension run in double; per-sample work is one OpenMP item and batch sums
 * are serial, so results do not depend on the thread count.
 */
#include <math.h>
#include <string.h>

#include "losses.h"
#include "losses_internal.h"

static void check_emb(const char *op, const Tensor *e) {
    char d[64];
    SERC_ASSERT(e->ndim == 2 && e->dtype == SERC_F32, "%s: embeddings %s, want f32 (B, D)", op,
                tensor_describe(e, d, sizeof d));
}

/* ---- center loss ---- */

static void check_centers(const char *op, const Tensor *c, int64_t D) {
    char d[64];
    SERC_ASSERT(c->ndim == 2 && c->dtype == SERC_F32 && c->shape[1] == D && c->shape[0] > 0,
                "%s: centers %s, want f32 (C, %lld)", op, tensor_describe(c, d, sizeof d), (long long)D);
}

/* saved[0] labels i64 (B). d/de_b = k (e_b - c_y), d/dc_j = -k sum_{b: y_b = j} (e_b - c_j), k = gout/B. */
static void center_backward(Ctx *g, TapeNode *n) {
    Tensor *e = n->in[0], *cen = n->in[1];
    int64_t B = e->shape[0], D = e->shape[1];
    const float *ev = tensor_f32(e), *cv = tensor_f32(cen);
    const int64_t *y = tensor_i64(n->saved[0]);
    double k = (double)tensor_f32(n->out->grad)[0] / (double)B;
    if (e->requires_grad) {
        float *ge = tensor_grad_f32(g, e);
        #pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < B; b++)
            for (int64_t d = 0; d < D; d++)
                ge[b * D + d] += (float)(k * ((double)ev[b * D + d] - cv[y[b] * D + d]));
    }
    if (cen->requires_grad) {
        float *gc = tensor_grad_f32(g, cen);
        /* a scatter over classes: serial over the batch, so the order of additions is fixed */
        for (int64_t b = 0; b < B; b++)
            for (int64_t d = 0; d < D; d++)
                gc[y[b] * D + d] -= (float)(k * ((double)ev[b * D + d] - cv[y[b] * D + d]));
    }
}

/* Center loss (Wen et al. 2016): 0.5 (1/B) sum_b ||e_b - c_{y_b}||^2; see losses.h for the two modes. */
Tensor *loss_center(Ctx *g, Tensor *emb, const Tensor *labels, Tensor *centers) {
    const char *op = "loss_center";
    check_emb(op, emb);
    int64_t B = emb->shape[0], D = emb->shape[1];
    check_centers(op, centers, D);
    Tensor *y_t = loss_labels_copy(g, op, labels, B, centers->shape[0]);
    const int64_t *y = tensor_i64(y_t);
    const float *ev = tensor_f32(emb), *cv = tensor_f32(centers);
    double *rowv = arena_alloc(&g->arena, (size_t)(B > 0 ? B : 1) * sizeof(double));
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        double s = 0.0;
        for (int64_t d = 0; d < D; d++) {
            double diff = (double)ev[b * D + d] - cv[y[b] * D + d];
            s += diff * diff;
        }
        rowv[b] = 0.5 * s;
    }
    Tensor *out = loss_scalar(g, B > 0 ? loss_serial_sum(rowv, B) / (double)B : 0.0);
    Tensor *in[2] = {emb, centers};
    if (ctx_needs_grad(g, in, 2)) {
        TapeNode *n = ctx_record(g, "loss_center", center_backward, out, in, 2);
        n->saved[0] = y_t;
    }
    return out;
}

/* Wen et al. 2016, Eq. 4: delta c_j = sum_{i: y_i = j} (c_j - e_i) / (1 + n_j); c_j -= alpha delta c_j. */
void center_update(Tensor *centers, const Tensor *emb, const Tensor *labels, float alpha) {
    const char *op = "center_update";
    check_emb(op, emb);
    int64_t B = emb->shape[0], D = emb->shape[1], C = centers->shape[0];
    check_centers(op, centers, D);
    char d[64];
    SERC_ASSERT(labels->ndim == 1 && labels->shape[0] == B && (labels->dtype == SERC_I32 || labels->dtype == SERC_I64),
                "%s: labels %s, want i32/i64 (%lld)", op, tensor_describe(labels, d, sizeof d), (long long)B);
    for (int64_t b = 0; b < B; b++) {
        int64_t yb = tensor_get_index(labels, b);
        SERC_ASSERT(yb >= 0 && yb < C, "%s: label %lld of item %lld outside [0, %lld)", op, (long long)yb,
                    (long long)b, (long long)C);
    }
    const float *ev = tensor_f32(emb);
    float *cv = tensor_f32(centers);
    /* each class is one work item and reads the batch in order: no races, fixed summation order */
    #pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < C; j++) {
        int64_t nj = 0;
        for (int64_t b = 0; b < B; b++) nj += tensor_get_index(labels, b) == j;
        if (nj == 0) continue;
        for (int64_t k = 0; k < D; k++) {
            double s = 0.0;
            for (int64_t b = 0; b < B; b++)
                if (tensor_get_index(labels, b) == j) s += (double)cv[j * D + k] - ev[b * D + k];
            cv[j * D + k] = (float)((double)cv[j * D + k] - alpha * s / (double)(1 + nj));
        }
    }
}

/* ---- supervised contrastive loss ---- */

#define SUPCON_NORM_EPS 1e-12 /* F.normalize's eps: z = e / max(||e||, eps) */

/* saved[0] z (B, D), saved[1] norms (B) (before the clamp), saved[2] G (B, B) = d l_i / d s_ij with
 * s_ij = z_i . z_j / T (rows of non-anchors 0); fattr[0] = T, fattr[1] = 1 / #anchors (0 when none).
 * d loss / d z_b = sum_j (G_bj + G_jb) z_j / T; then through z = e / r, r = ||e||:
 * d/de = (dz - z (z . dz)) / r (and dz / eps where the norm was clamped). */
static void supcon_backward(Ctx *g, TapeNode *n) {
    Tensor *e = n->in[0];
    if (!e->requires_grad) return;
    int64_t B = e->shape[0], D = e->shape[1];
    const float *z = tensor_f32(n->saved[0]), *r = tensor_f32(n->saved[1]), *G = tensor_f32(n->saved[2]);
    double k = (double)tensor_f32(n->out->grad)[0] * n->fattr[1] / n->fattr[0];
    float *ge = tensor_grad_f32(g, e);
    double *dz_all = arena_alloc(&g->arena, (size_t)(B * D > 0 ? B * D : 1) * sizeof(double));
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        double *dz = dz_all + b * D;
        for (int64_t d = 0; d < D; d++) dz[d] = 0.0;
        for (int64_t j = 0; j < B; j++) {
            double gbj = (double)G[b * B + j] + G[j * B + b];
            if (gbj == 0.0) continue;
            for (int64_t d = 0; d < D; d++) dz[d] += gbj * z[j * D + d];
        }
        double zdz = 0.0;
        for (int64_t d = 0; d < D; d++) {
            dz[d] *= k;
            zdz += (double)z[b * D + d] * dz[d];
        }
        if (r[b] > SUPCON_NORM_EPS) {
            for (int64_t d = 0; d < D; d++) ge[b * D + d] += (float)((dz[d] - z[b * D + d] * zdz) / r[b]);
        } else {
            for (int64_t d = 0; d < D; d++) ge[b * D + d] += (float)(dz[d] / SUPCON_NORM_EPS);
        }
    }
}

/* Supervised contrastive loss (Khosla et al. 2020, L_out); see losses.h. */
Tensor *loss_supcon(Ctx *g, Tensor *emb, const Tensor *labels, const Tensor *valid, float temperature) {
    const char *op = "loss_supcon";
    check_emb(op, emb);
    int64_t B = emb->shape[0], D = emb->shape[1];
    SERC_ASSERT(temperature > 0.0f, "%s: temperature %g <= 0", op, (double)temperature);
    char dv[64];
    SERC_ASSERT(!valid || (valid->ndim == 1 && valid->shape[0] == B && valid->dtype == SERC_U8),
                "%s: valid %s, want u8 (%lld)", op, valid ? tensor_describe(valid, dv, sizeof dv) : "",
                (long long)B);
    /* labels are compared, never used as indices: any non-negative value is a class */
    Tensor *y_t = loss_labels_copy(g, op, labels, B, INT64_MAX);
    const int64_t *y = tensor_i64(y_t);
    const uint8_t *m = valid ? tensor_u8(valid) : NULL;
    const float *ev = tensor_f32(emb);
    Tensor *z_t = tensor_empty(g, SERC_F32, SHAPE(B, D)), *r_t = tensor_empty(g, SERC_F32, SHAPE(B));
    Tensor *G_t = tensor_zeros(g, SERC_F32, SHAPE(B, B));
    float *z = tensor_f32(z_t), *r = tensor_f32(r_t), *G = tensor_f32(G_t);
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < B; b++) {
        double s = 0.0;
        for (int64_t d = 0; d < D; d++) s += (double)ev[b * D + d] * ev[b * D + d];
        double nr = sqrt(s), inv = 1.0 / fmax(nr, SUPCON_NORM_EPS);
        r[b] = (float)nr;
        for (int64_t d = 0; d < D; d++) z[b * D + d] = (float)(ev[b * D + d] * inv);
    }
    double *li = arena_alloc(&g->arena, (size_t)(B > 0 ? B : 1) * sizeof(double));
    int64_t *has_pos = arena_alloc(&g->arena, (size_t)(B > 0 ? B : 1) * sizeof(int64_t));
    double invT = 1.0 / temperature;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < B; i++) {
        li[i] = 0.0;
        has_pos[i] = 0;
        if (m && !m[i]) continue;
        int64_t npos = 0;
        for (int64_t j = 0; j < B; j++) npos += j != i && (!m || m[j]) && y[j] == y[i];
        if (npos == 0) continue; /* no positive: not an anchor (A(i) may also be empty) */
        /* s_ij and log sum_{a in A(i)} exp(s_ia), shifted by the row maximum; G row i holds s_ij first */
        float *Gi = G + i * B;
        double mx = -INFINITY;
        for (int64_t j = 0; j < B; j++) {
            if (j == i || (m && !m[j])) continue;
            double s = 0.0;
            for (int64_t d = 0; d < D; d++) s += (double)z[i * D + d] * z[j * D + d];
            s *= invT;
            Gi[j] = (float)s;
            mx = fmax(mx, s);
        }
        double se = 0.0;
        for (int64_t j = 0; j < B; j++)
            if (j != i && (!m || m[j])) se += exp((double)Gi[j] - mx);
        double lse = mx + log(se), spos = 0.0;
        for (int64_t j = 0; j < B; j++)
            if (j != i && (!m || m[j]) && y[j] == y[i]) spos += Gi[j];
        li[i] = lse - spos / (double)npos;
        /* d l_i / d s_ij = softmax over A(i) - [j in P(i)] / |P(i)| */
        for (int64_t j = 0; j < B; j++) {
            if (j == i || (m && !m[j])) continue;
            Gi[j] = (float)(exp((double)Gi[j] - lse) - (y[j] == y[i] ? 1.0 / (double)npos : 0.0));
        }
        has_pos[i] = 1;
    }
    int64_t anchors = 0;
    for (int64_t i = 0; i < B; i++) anchors += has_pos[i];
    double total = loss_serial_sum(li, B);
    Tensor *out = loss_scalar(g, anchors > 0 ? total / (double)anchors : 0.0);
    if (ctx_needs_grad(g, &emb, 1)) {
        TapeNode *n = ctx_record(g, "loss_supcon", supcon_backward, out, &emb, 1);
        n->saved[0] = z_t;
        n->saved[1] = r_t;
        n->saved[2] = G_t;
        n->fattr[0] = temperature;
        n->fattr[1] = anchors > 0 ? 1.0 / (double)anchors : 0.0;
    }
    return out;
}
