/* A small conv + self-attention classifier over frame features: the end-to-end check of the core
 * (`serc demo`) and the skeleton the training issue's FLAM model grows from.
 *
 *   x (B, T, F) -> conv1d(F -> d, k=5, pad 2) -> GELU                         "frontend.conv"
 *     -> h + W_o MHSA(h) with a key-padding mask, H heads                    "attention.{q,k,v,out}_proj"
 *     -> LayerNorm -> masked mean over valid frames -> Linear(d -> classes)   "norm", "classifier"
 */
#ifndef SERC_CONV_ATTN_H
#define SERC_CONV_ATTN_H

#include "layers.h"

typedef struct ConvAttnClassifier {
    int n_features, dim, heads, n_classes;
    Conv1d conv;
    Linear q, k, v, o, head;
    LayerNorm norm;
} ConvAttnClassifier;

void conv_attn_register(ConvAttnClassifier *m, ParamStore *ps, int n_features, int dim, int heads, int n_classes);
void conv_attn_init(ConvAttnClassifier *m, uint64_t seed);
/* x (B, T, F) f32, lengths (B) i32, mask (B, T) u8 -> logits (B, classes) */
Tensor *conv_attn_forward(Ctx *g, const ConvAttnClassifier *m, Tensor *x, Tensor *lengths, Tensor *mask);

/* Multi-head self-attention: x (B, T, d) -> (B, T, d), H heads of d / H. */
Tensor *mhsa_forward(Ctx *g, const Linear *q, const Linear *k, const Linear *v, const Linear *o, int heads,
                     Tensor *x, Tensor *mask);

#endif
