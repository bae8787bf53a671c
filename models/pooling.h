/* Poolings over time: frames h (B, T, D) with a padding mask (B, T) u8 or lengths (B) -> one vector per
 * utterance. Padded frames never contribute and receive no gradient.
 *
 *   masked mean       mean of the valid frames                                    (B, D)
 *   attention pool    alpha = masked softmax_t(e_t), pooled = sum_t alpha_t h_t     (B, D)
 *   attentive stats   (Okabe et al. 2018) concat(mu, sigma) with the same alpha     (B, 2D)
 *
 * Scores e_t come from an AttentionPool: e_t = v^T tanh(W h_t + b) (+ k when the score has a bias), or
 * e_t = v^T h_t (+ k) when att_dim is 0. Parameters "<prefix>.proj.{weight,bias}" (W, b: (att_dim, D),
 * (att_dim)) and "<prefix>.score.weight" (v: (1, att_dim or D)), "<prefix>.score.bias" (k: (1), only
 * with score_bias). Initialisation: PyTorch's nn.Linear default for both, U(+-1/sqrt(fan_in)).
 * k shifts every score equally, so softmax ignores it and its gradient is always 0; it is kept only
 * because Okabe et al. write it (a checkpoint from their formulation loads).
 */
#ifndef SERC_POOLING_H
#define SERC_POOLING_H

#include "layers.h"

typedef struct AttentionPool {
    int dim, att_dim;
    Linear proj;  /* W, b: unused (w == NULL) when att_dim == 0 */
    Linear score; /* v (and k) */
} AttentionPool;

void attention_pool_register(AttentionPool *p, ParamStore *ps, const char *prefix, int dim, int att_dim,
                             int score_bias);
void attention_pool_init(AttentionPool *p, InitRng *r);

/* alpha (B, T) = softmax over valid frames of e_t; 0 on padded frames; an item with no valid frame gets
 * all zeros. h (B, T, D), mask (B, T) u8. */
Tensor *attention_pool_weights(Ctx *g, const AttentionPool *p, Tensor *h, const Tensor *mask);

/* pooled (B, D) = sum_t alpha_t h_t; *weights (when not NULL) receives alpha (B, T). */
Tensor *attention_pool_forward(Ctx *g, const AttentionPool *p, Tensor *h, const Tensor *mask, Tensor **weights);

/* Attentive statistics pooling (Okabe, Koshinaka, Shinoda, "Attentive Statistics Pooling for Deep
 * Speaker Embedding", Interspeech 2018), the SERNC baseline's pooling:
 *   e_t = v^T tanh(W h_t + b) + k,  alpha = masked softmax(e),
 *   mu = sum_t alpha_t h_t,  sigma = sqrt(max(sum_t alpha_t h_t^2 - mu^2, eps)),  out = [mu, sigma] (B, 2D).
 * *weights (when not NULL) receives alpha (B, T). An item with no valid frame gives mu = 0, sigma = sqrt(eps). */
Tensor *attentive_stats_pool_forward(Ctx *g, const AttentionPool *p, Tensor *h, const Tensor *mask, float eps,
                                     Tensor **weights);

/* Mean over the valid frames: h (B, T, D), lengths (B) i32/i64 -> (B, D); zero-length items give zeros. */
Tensor *masked_mean_pool(Ctx *g, Tensor *h, const Tensor *lengths);

/* out (B, D) = sum_t alpha[b, t] h[b, t, :]: alpha (B, T), h (B, T, D). */
Tensor *weighted_sum_time(Ctx *g, Tensor *alpha, Tensor *h);

/* y = sqrt(max(x, lo)) elementwise (any shape); dy/dx = 1 / (2 y) where x > lo, else 0. lo > 0 keeps the
 * derivative finite. An op of its own (forward and backward here) because core has no square root. */
Tensor *pool_sqrt_clamp(Ctx *g, Tensor *x, float lo);

#endif
