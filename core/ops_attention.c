/* Scaled dot-product attention, the plain CPU reference (Vaswani et al., "Attention is all you need",
 * 2017): out = softmax(q k^T / sqrt(D)) v, with masked keys excluded from the softmax.
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

/* Backward, per (b, h) slice, with dP = dO V^T and delta_i = sum_j dP_ij P_ij:
 *   dS = P * (dP - delta)            (row-wise)
 *   dQ += dS K / sqrt(D),  dK += dS^T Q / sqrt(D),  dV += P^T dO.
 * Masked keys and fully masked items have P = 0, hence zero gradient. */
static void attention_backward(Ctx *g, TapeNode *n) {
    Tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *out = n->out;
    const Tensor *P = n->saved[0];
    const int Tq = (int)q->shape[2], D = (int)q->shape[3], Tk = (int)k->shape[2];
    const int64_t BH = q->shape[0] * q->shape[1];
    const float scale = (float)(1.0 / sqrt((double)D));
    const float *qv = tensor_f32(q), *kv = tensor_f32(k), *vv = tensor_f32(v);
    const float *pv = tensor_f32(P), *dout = tensor_f32(out->grad);
    float *dq = q->requires_grad ? tensor_grad_f32(g, q) : NULL;
    float *dk = k->requires_grad ? tensor_grad_f32(g, k) : NULL;
    float *dv = v->requires_grad ? tensor_grad_f32(g, v) : NULL;
    if (Tq == 0 || Tk == 0 || D == 0) return;
    float *ds = arena_alloc(&g->arena, (size_t)Tq * (size_t)Tk * sizeof(float)); /* dP, then dS, of one slice */
    for (int64_t bh = 0; bh < BH; bh++) {
        const float *Q = qv + bh * Tq * D, *K = kv + bh * Tk * D, *V = vv + bh * Tk * D;
        const float *Pb = pv + bh * (int64_t)Tq * Tk, *dO = dout + bh * Tq * D;
        if (dv) /* dV (Tk, D) += P^T (Tk, Tq) dO (Tq, D) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, D, Tq, 1.0f, Pb, Tk, dO, D, 1.0f, dv + bh * Tk * D, D);
        if (!dq && !dk) continue;
        /* dP (Tq, Tk) = dO (Tq, D) V^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, D, 1.0f, dO, D, V, D, 0.0f, ds, Tk);
        #pragma omp parallel for schedule(static)
        for (int i = 0; i < Tq; i++) {
            const float *Pi = Pb + (int64_t)i * Tk;
            float *dsi = ds + (int64_t)i * Tk;
            double delta = 0;
            for (int j = 0; j < Tk; j++) delta += (double)dsi[j] * Pi[j];
            const float dl = (float)delta;
            for (int j = 0; j < Tk; j++) dsi[j] = Pi[j] * (dsi[j] - dl);
        }
        if (dq) /* dQ (Tq, D) += scale dS (Tq, Tk) K (Tk, D) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, D, Tk, scale, ds, Tk, K, D, 1.0f, dq + bh * Tq * D, D);
        if (dk) /* dK (Tk, D) += scale dS^T (Tk, Tq) Q (Tq, D) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, D, Tq, scale, ds, Tk, Q, D, 1.0f, dk + bh * Tk * D, D);
    }
}

/* out (B, H, Tq, D) = softmax(q k^T / sqrt(D), masked) v: q (B, H, Tq, D), k and v (B, H, Tk, D),
 * key_mask NULL or u8 (B, Tk) with 1 = valid key. An item with no valid key outputs zeros. */
Tensor *op_attention(Ctx *g, Tensor *q, Tensor *k, Tensor *v, const Tensor *key_mask) {
    char sq[64], sk[64], sv[64];
    const float *qv = tensor_f32(q), *kv = tensor_f32(k), *vv = tensor_f32(v);
    SERC_ASSERT(q->ndim == 4 && k->ndim == 4 && tensor_same_shape(k, v) && k->shape[0] == q->shape[0] &&
                    k->shape[1] == q->shape[1] && k->shape[3] == q->shape[3],
                "attention: q %s, k %s, v %s (expected (B, H, Tq, D) and (B, H, Tk, D))",
                tensor_describe(q, sq, sizeof sq), tensor_describe(k, sk, sizeof sk),
                tensor_describe(v, sv, sizeof sv));
    const int64_t B = q->shape[0], H = q->shape[1];
    const int Tq = (int)q->shape[2], D = (int)q->shape[3], Tk = (int)k->shape[2];
    const uint8_t *mask = NULL;
    if (key_mask) {
        mask = tensor_u8(key_mask);
        SERC_ASSERT(key_mask->ndim == 2 && key_mask->shape[0] == B && key_mask->shape[1] == Tk,
                    "attention: key_mask %s for k %s (expected (B, Tk))", tensor_describe(key_mask, sq, sizeof sq),
                    tensor_describe(k, sk, sizeof sk));
    }
    const float scale = (float)(1.0 / sqrt((double)D));
    Tensor *out = tensor_zeros(g, SERC_F32, 4, q->shape);
    Tensor *P = tensor_empty(g, SERC_F32, 4, (const int64_t[]){B, H, Tq, Tk});
    float *ov = tensor_f32(out), *pv = tensor_f32(P);
    for (int64_t bh = 0; bh < B * H && Tq > 0 && Tk > 0; bh++) {
        const int64_t b = bh / H;
        const uint8_t *m = mask ? mask + b * Tk : NULL;
        float *Pb = pv + bh * (int64_t)Tq * Tk;
        /* scores S (Tq, Tk) = scale Q K^T, into P's slice */
        if (D > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, D, scale, qv + bh * Tq * D, D,
                        kv + bh * Tk * D, D, 0.0f, Pb, Tk);
        else
            memset(Pb, 0, (size_t)Tq * (size_t)Tk * sizeof(float));
        /* masked softmax over each row; every key masked leaves the row all zeros */
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
        /* O (Tq, D) = P V */
        if (D > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, D, Tk, 1.0f, Pb, Tk, vv + bh * Tk * D, D, 0.0f,
                        ov + bh * Tq * D, D);
    }
    Tensor *in[3] = {q, k, v};
    if (ctx_needs_grad(g, in, 3)) {
        TapeNode *node = ctx_record(g, "attention", attention_backward, out, in, 3);
        node->saved[0] = P;
    }
    return out;
}
