/* Scaled dot-product attention, the plain CPU reference (Vaswani et al., "Attention is all you need",
 * 2017): out = softmax(q k^T / sqrt(D)) v, with masked keys excluded from the softmax.
 *
 * It saves the probabilities P (B, H, Tq, Tk) for backward: simple and exact, O(T^2) memory. The fused
 * kernel saves only the row log-sum-exp and is checked against this one.
 */
#include <math.h>
#include <string.h>

#include "ops.h"

/* Backward, per (b, h) and query row i, with dP_ij = dO_i . V_j and delta_i = sum_j dP_ij P_ij:
 *   dS_ij = P_ij (dP_ij - delta_i)
 *   dQ_i += sum_j dS_ij K_j / sqrt(D),  dK_j += dS_ij Q_i / sqrt(D),  dV_j += P_ij dO_i.
 * (b, h) slices are independent, so they run in parallel; rows within one run in order (dK, dV sum
 * over them). Masked keys and fully masked items have P = 0, hence zero gradient. */
static void attention_backward(Ctx *g, TapeNode *n) {
    Tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *out = n->out;
    const Tensor *P = n->saved[0];
    int64_t B = q->shape[0], H = q->shape[1], Tq = q->shape[2], D = q->shape[3], Tk = k->shape[2];
    double scale = 1.0 / sqrt((double)D);
    const float *qv = tensor_f32(q), *kv = tensor_f32(k), *vv = tensor_f32(v);
    const float *pv = tensor_f32(P), *dout = tensor_f32(out->grad);
    float *dq = q->requires_grad ? tensor_grad_f32(g, q) : NULL;
    float *dk = k->requires_grad ? tensor_grad_f32(g, k) : NULL;
    float *dv = v->requires_grad ? tensor_grad_f32(g, v) : NULL;
    /* one dS row per (b, h), so that the parallel loop needs no allocation */
    float *ds_rows = arena_alloc(&g->arena, (size_t)(B * H * (Tk ? Tk : 1)) * sizeof(float));
    #pragma omp parallel for
    for (int64_t bh = 0; bh < B * H; bh++) {
        const float *Q = qv + bh * Tq * D, *K = kv + bh * Tk * D, *V = vv + bh * Tk * D;
        const float *Pb = pv + bh * Tq * Tk, *dO = dout + bh * Tq * D;
        float *ds = ds_rows + bh * Tk;
        for (int64_t i = 0; i < Tq; i++) {
            const float *Pi = Pb + i * Tk, *dOi = dO + i * D;
            double delta = 0;
            for (int64_t j = 0; j < Tk; j++) {
                double dp = 0;
                if (Pi[j] != 0.0f)
                    for (int64_t d = 0; d < D; d++) dp += (double)dOi[d] * V[j * D + d];
                ds[j] = (float)dp;
                delta += dp * Pi[j];
            }
            for (int64_t j = 0; j < Tk; j++) ds[j] = (float)(Pi[j] * (ds[j] - delta));
            if (dq) {
                float *dQi = dq + bh * Tq * D + i * D;
                for (int64_t d = 0; d < D; d++) {
                    double s = 0;
                    for (int64_t j = 0; j < Tk; j++) s += (double)ds[j] * K[j * D + d];
                    dQi[d] += (float)(s * scale);
                }
            }
            for (int64_t j = 0; j < Tk; j++) {
                if (Pi[j] == 0.0f) continue;
                if (dk) {
                    float *dKj = dk + bh * Tk * D + j * D, f = (float)(ds[j] * scale);
                    for (int64_t d = 0; d < D; d++) dKj[d] += f * Q[i * D + d];
                }
                if (dv) {
                    float *dVj = dv + bh * Tk * D + j * D;
                    for (int64_t d = 0; d < D; d++) dVj[d] += Pi[j] * dOi[d];
                }
            }
        }
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
    int64_t B = q->shape[0], H = q->shape[1], Tq = q->shape[2], D = q->shape[3], Tk = k->shape[2];
    const uint8_t *mask = NULL;
    if (key_mask) {
        mask = tensor_u8(key_mask);
        SERC_ASSERT(key_mask->ndim == 2 && key_mask->shape[0] == B && key_mask->shape[1] == Tk,
                    "attention: key_mask %s for k %s (expected (B, Tk))", tensor_describe(key_mask, sq, sizeof sq),
                    tensor_describe(k, sk, sizeof sk));
    }
    double scale = 1.0 / sqrt((double)D);
    Tensor *out = tensor_empty(g, SERC_F32, 4, q->shape);
    Tensor *P = tensor_empty(g, SERC_F32, 4, (const int64_t[]){B, H, Tq, Tk});
    float *ov = tensor_f32(out), *pv = tensor_f32(P);
    /* rows (b, h, i) are independent: scores, masked softmax, then the weighted sum of values */
    #pragma omp parallel for
    for (int64_t row = 0; row < B * H * Tq; row++) {
        int64_t bh = row / Tq, b = bh / H;
        const float *Qi = qv + row * D, *K = kv + bh * Tk * D, *V = vv + bh * Tk * D;
        const uint8_t *m = mask ? mask + b * Tk : NULL;
        float *Pi = pv + row * Tk, *Oi = ov + row * D;
        double mx = -INFINITY;
        for (int64_t j = 0; j < Tk; j++) {
            if (m && !m[j]) continue;
            double s = 0;
            for (int64_t d = 0; d < D; d++) s += (double)Qi[d] * K[j * D + d];
            s *= scale;
            Pi[j] = (float)s; /* the score, for now */
            if (s > mx) mx = s;
        }
        double sum = 0;
        for (int64_t j = 0; j < Tk; j++) {
            double e = (m && !m[j]) || mx == -INFINITY ? 0.0 : exp((double)Pi[j] - mx);
            Pi[j] = (float)e;
            sum += e;
        }
        /* every key masked: sum is 0 and the row stays all zeros */
        double inv = sum > 0 ? 1.0 / sum : 0.0;
        for (int64_t j = 0; j < Tk; j++) Pi[j] = (float)(Pi[j] * inv);
        for (int64_t d = 0; d < D; d++) {
            double s = 0;
            for (int64_t j = 0; j < Tk; j++) s += (double)Pi[j] * V[j * D + d];
            Oi[d] = (float)s;
        }
    }
    Tensor *in[3] = {q, k, v};
    if (ctx_needs_grad(g, in, 3)) {
        TapeNode *node = ctx_record(g, "attention", attention_backward, out, in, 3);
        node->saved[0] = P;
    }
    return out;
}
