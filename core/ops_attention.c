/* Scaled dot-product attention, the plain CPU reference (Vaswani et al., "Attention is all you need",
 * 2017): out = dropout(softmax(q k^T / sqrt(D) + bias)) v, with masked keys excluded from the softmax.
 * op_attention is the case without bias and dropout; op_attention_bias the general one (WavLM's
 * relative position bias, attention dropout in fine-tuning).
 *
 * It saves the probabilities P (B, H, Tq, Tk) for backward: simple and exact, O(T^2) memory. The fused
 * kernel saves only the row log-sum-exp and is checked against this one.
 *
 * The products run through sgemm one (b, h) slice at a time (OpenBLAS is called from serial code; it
 * threads inside); the row-wise softmax and its backward run in parallel over rows, in float with
 * double row sums. bench/NOTES.md records why (the scalar double loops were 80% of a training step).
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "ops.h"
#include "rng.h"

/* ---- attention with an additive bias ---- */

/* Dropout keep decision of probability element e (flat index into (B, H, Tq, Tk)). */
static inline int attn_keep(uint64_t seed, uint64_t base, int64_t e, float p) {
    return serc_rng_uniform01(seed, base, (uint64_t)e) >= p;
}

/* Pd (Tq, Tk) = P with dropout applied (keep / (1 - p)) for slice bh. */
static void attn_dropped(float *pd, const float *P, int64_t bh, int Tq, int Tk, uint64_t seed, uint64_t base, float p) {
    const float scale = 1.0f / (1.0f - p);
    const int64_t e0 = bh * (int64_t)Tq * Tk;
    #pragma omp parallel for schedule(static)
    for (int64_t e = 0; e < (int64_t)Tq * Tk; e++) pd[e] = attn_keep(seed, base, e0 + e, p) ? P[e] * scale : 0.0f;
}

/* With Pd the dropped probabilities and dPd = dO V^T:
 *   dV += Pd^T dO;  dP = dPd keep / (1 - p);  dS = P (dP - sum_j dP_j P_j)   (row-wise)
 *   dbias += dS (summed over items when the bias is shared);  dQ += s dS K;  dK += s dS^T Q. */
static void attention_bias_backward(Ctx *g, TapeNode *n) {
    Tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *bias = n->n_in > 3 ? n->in[3] : NULL, *out = n->out;
    const Tensor *P = n->saved[0];
    const int Tq = (int)q->shape[2], D = (int)q->shape[3], Tk = (int)k->shape[2];
    const int64_t H = q->shape[1], BH = q->shape[0] * H;
    const float p = (float)n->fattr[0];
    const uint64_t base = (uint64_t)n->iattr[0], seed = (uint64_t)n->iattr[1];
    const int dropped = n->iattr[2] != 0;
    const float scale = (float)(1.0 / sqrt((double)D));
    const float *qv = tensor_f32(q), *kv = tensor_f32(k), *vv = tensor_f32(v);
    const float *pv = tensor_f32(P), *dout = tensor_f32(out->grad);
    float *dq = q->requires_grad ? tensor_grad_f32(g, q) : NULL;
    float *dk = k->requires_grad ? tensor_grad_f32(g, k) : NULL;
    float *dv = v->requires_grad ? tensor_grad_f32(g, v) : NULL;
    float *db = bias && bias->requires_grad ? tensor_grad_f32(g, bias) : NULL;
    const int64_t bias_items = bias ? bias->shape[0] : 0;
    if (Tq == 0 || Tk == 0) return;
    float *ds = arena_alloc(&g->arena, (size_t)Tq * (size_t)Tk * sizeof(float));
    float *pd = dropped ? arena_alloc(&g->arena, (size_t)Tq * (size_t)Tk * sizeof(float)) : NULL;
    for (int64_t bh = 0; bh < BH; bh++) {
        const float *Q = qv + bh * Tq * D, *K = kv + bh * Tk * D, *V = vv + bh * Tk * D;
        const float *Pb = pv + bh * (int64_t)Tq * Tk, *dO = dout + bh * Tq * D;
        const float *Pu = Pb; /* the probabilities that multiplied V */
        if (dropped) {
            attn_dropped(pd, Pb, bh, Tq, Tk, seed, base, p);
            Pu = pd;
        }
        if (dv && D > 0) /* dV (Tk, D) += Pd^T (Tk, Tq) dO (Tq, D) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, D, Tq, 1.0f, Pu, Tk, dO, D, 1.0f, dv + bh * Tk * D, D);
        if (!dq && !dk && !db) continue;
        /* dPd (Tq, Tk) = dO (Tq, D) V^T */
        if (D > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, D, 1.0f, dO, D, V, D, 0.0f, ds, Tk);
        else
            memset(ds, 0, (size_t)Tq * (size_t)Tk * sizeof(float));
        const float inv_keep = dropped ? 1.0f / (1.0f - p) : 1.0f;
        const int64_t e0 = bh * (int64_t)Tq * Tk;
        #pragma omp parallel for schedule(static)
        for (int i = 0; i < Tq; i++) {
            const float *Pi = Pb + (int64_t)i * Tk;
            float *dsi = ds + (int64_t)i * Tk;
            if (dropped)
                for (int j = 0; j < Tk; j++)
                    dsi[j] = attn_keep(seed, base, e0 + (int64_t)i * Tk + j, p) ? dsi[j] * inv_keep : 0.0f;
            double delta = 0;
            for (int j = 0; j < Tk; j++) delta += (double)dsi[j] * Pi[j];
            const float dl = (float)delta;
            for (int j = 0; j < Tk; j++) dsi[j] = Pi[j] * (dsi[j] - dl);
        }
        if (db) {
            float *dbs = db + ((bias_items == 1 ? 0 : bh / H) * H + bh % H) * (int64_t)Tq * Tk;
            #pragma omp parallel for schedule(static)
            for (int64_t e = 0; e < (int64_t)Tq * Tk; e++) dbs[e] += ds[e];
        }
        if (dq && D > 0) /* dQ (Tq, D) += s dS (Tq, Tk) K (Tk, D) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, D, Tk, scale, ds, Tk, K, D, 1.0f, dq + bh * Tq * D, D);
        if (dk && D > 0) /* dK (Tk, D) += s dS^T (Tk, Tq) Q (Tq, D) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, D, Tq, scale, ds, Tk, Q, D, 1.0f, dk + bh * Tk * D, D);
    }
}

/* out (B, H, Tq, D) = dropout(softmax(q k^T / sqrt(D) + bias, masked)) v. See ops.h. */
Tensor *op_attention_bias(Ctx *g, Tensor *q, Tensor *k, Tensor *v, Tensor *bias, const Tensor *key_mask,
                          float dropout_p) {
    char sq[64], sk[64], sv[64];
    const float *qv = tensor_f32(q), *kv = tensor_f32(k), *vv = tensor_f32(v);
    SERC_ASSERT(q->ndim == 4 && k->ndim == 4 && tensor_same_shape(k, v) && k->shape[0] == q->shape[0] &&
                    k->shape[1] == q->shape[1] && k->shape[3] == q->shape[3],
                "attention_bias: q %s, k %s, v %s (expected (B, H, Tq, D) and (B, H, Tk, D))",
                tensor_describe(q, sq, sizeof sq), tensor_describe(k, sk, sizeof sk),
                tensor_describe(v, sv, sizeof sv));
    const int64_t B = q->shape[0], H = q->shape[1];
    const int Tq = (int)q->shape[2], D = (int)q->shape[3], Tk = (int)k->shape[2];
    SERC_ASSERT(dropout_p >= 0.0f && dropout_p < 1.0f, "attention_bias: dropout p = %g outside [0, 1)",
                (double)dropout_p);
    const float *bv = NULL;
    if (bias) {
        bv = tensor_f32(bias);
        SERC_ASSERT(bias->ndim == 4 && (bias->shape[0] == B || bias->shape[0] == 1) && bias->shape[1] == H &&
                        bias->shape[2] == Tq && bias->shape[3] == Tk,
                    "attention_bias: bias %s for q %s, k %s (expected (B or 1, H, Tq, Tk))",
                    tensor_describe(bias, sv, sizeof sv), tensor_describe(q, sq, sizeof sq),
                    tensor_describe(k, sk, sizeof sk));
    }
    const uint8_t *mask = NULL;
    if (key_mask) {
        mask = tensor_u8(key_mask);
        SERC_ASSERT(key_mask->ndim == 2 && key_mask->shape[0] == B && key_mask->shape[1] == Tk,
                    "attention_bias: key_mask %s for k %s (expected (B, Tk))",
                    tensor_describe(key_mask, sq, sizeof sq), tensor_describe(k, sk, sizeof sk));
    }
    const int dropped = g->training && dropout_p > 0.0f;
    const uint64_t base = g->rng_offset;
    if (dropped) g->rng_offset += serc_rng_blocks(B * H * (int64_t)Tq * Tk);
    const float scale = (float)(1.0 / sqrt((double)D));
    Tensor *out = tensor_zeros(g, SERC_F32, 4, q->shape);
    Tensor *P = tensor_empty(g, SERC_F32, 4, (const int64_t[]){B, H, Tq, Tk});
    float *ov = tensor_f32(out), *pv = tensor_f32(P);
    float *pd = dropped && Tq > 0 && Tk > 0 ? arena_alloc(&g->arena, (size_t)Tq * (size_t)Tk * sizeof(float)) : NULL;
    for (int64_t bh = 0; bh < B * H && Tq > 0 && Tk > 0; bh++) {
        const int64_t b = bh / H;
        const uint8_t *m = mask ? mask + b * Tk : NULL;
        const float *bs = bv ? bv + ((bias->shape[0] == 1 ? 0 : b) * H + bh % H) * (int64_t)Tq * Tk : NULL;
        float *Pb = pv + bh * (int64_t)Tq * Tk;
        /* scores S (Tq, Tk) = scale Q K^T (+ bias), into P's slice */
        if (bs) memcpy(Pb, bs, (size_t)Tq * (size_t)Tk * sizeof(float));
        if (D > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, D, scale, qv + bh * Tq * D, D,
                        kv + bh * Tk * D, D, bs ? 1.0f : 0.0f, Pb, Tk);
        else if (!bs)
            memset(Pb, 0, (size_t)Tq * (size_t)Tk * sizeof(float));
        #pragma omp parallel for schedule(static)
        for (int i = 0; i < Tq; i++) {
            float *Pi = Pb + (int64_t)i * Tk, mx = -INFINITY;
            for (int j = 0; j < Tk; j++)
                if ((!m || m[j]) && Pi[j] > mx) mx = Pi[j];
            double sum = 0;
            for (int j = 0; j < Tk; j++) {
                float e = (m && !m[j]) || mx == -INFINITY ? 0.0f : expf(Pi[j] - mx);
                Pi[j] = e;
                sum += e;
            }
            const float inv = sum > 0 ? (float)(1.0 / sum) : 0.0f;
            for (int j = 0; j < Tk; j++) Pi[j] *= inv;
        }
        const float *Pu = Pb;
        if (dropped) {
            attn_dropped(pd, Pb, bh, Tq, Tk, g->seed, base, dropout_p);
            Pu = pd;
        }
        if (D > 0) /* O (Tq, D) = Pd V */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, D, Tk, 1.0f, Pu, Tk, vv + bh * Tk * D, D, 0.0f,
                        ov + bh * Tq * D, D);
    }
    Tensor *in[4] = {q, k, v, bias};
    if (ctx_needs_grad(g, in, bias ? 4 : 3)) {
        TapeNode *node = ctx_record(g, "attention_bias", attention_bias_backward, out, in, bias ? 4 : 3);
        node->saved[0] = P;
        node->fattr[0] = dropout_p;
        node->iattr[0] = (int64_t)base;
        node->iattr[1] = (int64_t)g->seed;
        node->iattr[2] = dropped;
    }
    return out;
}

/* out (B, H, Tq, D) = softmax(q k^T / sqrt(D), masked) v: q (B, H, Tq, D), k and v (B, H, Tk, D),
 * key_mask NULL or u8 (B, Tk) with 1 = valid key. An item with no valid key outputs zeros. */
Tensor *op_attention(Ctx *g, Tensor *q, Tensor *k, Tensor *v, const Tensor *key_mask) {
    return op_attention_bias(g, q, k, v, NULL, key_mask, 0.0f);
}
