/* FLAM, the frame-level attention module of Wang et al., "Multi-Loss Learning for Speech Emotion
 * Recognition with Energy-Adaptive Mixup and Frame-Level Attention" (arXiv 2512.04551): multi-head
 * self-attention over frames with a residual connection, then attention pooling with a learnable
 * projection vector.
 *
 *   x (B, T, D), mask (B, T) u8
 *   h     = LayerNorm(x + Dropout(W_o MHSA(x, key mask)))           frames (B, T, D)   post-norm
 *   e_t   = v^T tanh(W h_t + b)       (att_dim > 0; e_t = v^T h_t when att_dim = 0)
 *   alpha = softmax over valid frames of e,  pooled = sum_t alpha_t h_t           (B, D), alpha (B, T)
 *
 * Decisions (the paper gives neither): the layer norm sits after the residual sum (post-norm, as the
 * original Transformer), so the pooled frames are normalised whatever the front end's scale; the score
 * is the additive form v^T tanh(W h + b) with att_dim = 128 by default (the "learnable projection
 * vector" is v; att_dim = 0 gives the bare v^T h_t). Dropout applies to the attention branch only.
 *
 * Parameters: "<prefix>.attention.{q,k,v,out}_proj.{weight,bias}" (D, D), "<prefix>.norm.{weight,bias}",
 * "<prefix>.pool.proj.{weight,bias}" (att_dim, D), "<prefix>.pool.score.weight" (1, att_dim).
 * Initialisation: PyTorch nn.Linear default U(+-1/sqrt(fan_in)) for every projection, layer norm 1 / 0.
 */
#ifndef SERC_FLAM_H
#define SERC_FLAM_H

#include "layers.h"
#include "pooling.h"

typedef struct Flam {
    int dim, heads, att_dim;
    float dropout;
    Linear q, k, v, o;
    LayerNorm norm;
    AttentionPool pool;
} Flam;

/* dim must be divisible by heads (16 in the paper). */
void flam_register(Flam *f, ParamStore *ps, const char *prefix, int dim, int heads, int att_dim, float dropout);
void flam_init(Flam *f, InitRng *r);

/* The self-attention block: x (B, T, D), mask (B, T) u8 -> h (B, T, D). Padded frames of h are
 * computed but never read by valid frames (they are masked as keys). */
Tensor *flam_frames(Ctx *g, const Flam *f, Tensor *x, const Tensor *mask);

/* Attention pooling of h (B, T, D) -> (B, D); *weights (when not NULL) receives alpha (B, T), which sums
 * to 1 over each item's valid frames and is 0 on padding (all 0 for an item with no valid frame). */
Tensor *flam_pool(Ctx *g, const Flam *f, Tensor *h, const Tensor *mask, Tensor **weights);

/* Both: x (B, T, D) -> pooled (B, D); *weights (B, T) and *frames (B, T, D) when not NULL. */
Tensor *flam_forward(Ctx *g, const Flam *f, Tensor *x, const Tensor *mask, Tensor **weights, Tensor **frames);

#endif
