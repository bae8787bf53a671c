/* The op API. Every op computes now (CPU reference: f32, f64 accumulation where sums are long,
 * OpenMP over independent rows) and, when the context records and an input requires grad, records a
 * tape node whose backward accumulates (+=) into the inputs' gradients.
 *
 * Conventions: inputs are contiguous f32 unless stated; outputs are new contiguous arena tensors
 * (views are marked as such). Masks are u8 with 1 = valid, 0 = padding; lengths are i32 or i64.
 * A shape mismatch is a bug in the calling model and aborts with the shapes printed.
 */
#ifndef SERC_OPS_H
#define SERC_OPS_H

#include "context.h"
#include "tensor.h"

/* ---- views and layout (core/ops_shape.c) ---- */

/* View with a new shape and the same number of elements; x must be contiguous. One dim may be -1. */
Tensor *op_reshape(Ctx *g, Tensor *x, int ndim, const int64_t *shape);
/* View of x[..., start:start+len, ...] along dim. Contiguous when every dim before `dim` has size 1
 * (else strided: pass it through op_contiguous before other ops). */
Tensor *op_narrow(Ctx *g, Tensor *x, int dim, int64_t start, int64_t len);
/* Contiguous copy of a (possibly strided) tensor; returns x itself when already contiguous. */
Tensor *op_contiguous(Ctx *g, Tensor *x);
/* out[i_perm[0], ..., i_perm[n-1]] = x[i_0, ..., i_{n-1}]: out.shape[d] = x.shape[perm[d]]. */
Tensor *op_permute(Ctx *g, Tensor *x, const int *perm);
/* Swaps two dims (a permute). */
Tensor *op_transpose(Ctx *g, Tensor *x, int d0, int d1);
/* Joins n tensors along dim; all other dims equal. */
Tensor *op_concat(Ctx *g, Tensor *const *xs, int n, int dim);
/* weight (V, D), ids (any shape, i32 or i64, each in [0, V)) -> (ids.shape..., D). */
Tensor *op_embedding(Ctx *g, Tensor *weight, Tensor *ids);

/* ---- elementwise (core/ops_elementwise.c) ---- */

/* Numpy broadcasting over up to 5 dims; backward sums over broadcast dims. */
Tensor *op_add(Ctx *g, Tensor *a, Tensor *b);
Tensor *op_sub(Ctx *g, Tensor *a, Tensor *b);
Tensor *op_mul(Ctx *g, Tensor *a, Tensor *b);
Tensor *op_div(Ctx *g, Tensor *a, Tensor *b);
/* y = s * x */
Tensor *op_scale(Ctx *g, Tensor *x, float s);
/* x (..., C) + b (C) */
Tensor *op_bias(Ctx *g, Tensor *x, Tensor *b);
Tensor *op_relu(Ctx *g, Tensor *x);
/* GELU, exact: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) */
Tensor *op_gelu(Ctx *g, Tensor *x);
/* GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
Tensor *op_gelu_tanh(Ctx *g, Tensor *x);
/* x * sigmoid(x) */
Tensor *op_silu(Ctx *g, Tensor *x);
/* x * tanh(softplus(x)) */
Tensor *op_mish(Ctx *g, Tensor *x);
Tensor *op_sigmoid(Ctx *g, Tensor *x);
Tensor *op_tanh(Ctx *g, Tensor *x);
/* Splits dim in halves a, b (size must be even): a * sigmoid(b). */
Tensor *op_glu(Ctx *g, Tensor *x, int dim);
/* Inverted dropout: zero with probability p, scale survivors by 1/(1-p); identity when not training.
 * Masks come from Philox at the context's counter, so they do not depend on the thread count. */
Tensor *op_dropout(Ctx *g, Tensor *x, float p);

/* ---- softmax and normalisation (core/ops_norm.c) ---- */

/* Softmax over the last dim. mask: NULL, or u8 (B, N) with B = x.shape[0], N = x.shape[last]; every
 * row of x inside batch item b uses mask row b. Masked positions output 0; a fully masked row outputs
 * all zeros (and passes no gradient). */
Tensor *op_softmax(Ctx *g, Tensor *x, const Tensor *mask);
/* log(softmax) over the last dim, same mask rules; masked positions and fully masked rows output 0. */
Tensor *op_log_softmax(Ctx *g, Tensor *x, const Tensor *mask);
/* Layer norm over the last dim C: (x - mean) / sqrt(var + eps) * w + b; w, b (C) or NULL. */
Tensor *op_layer_norm(Ctx *g, Tensor *x, Tensor *w, Tensor *b, float eps);
/* Batch norm over channel dim 1 of x (B, C, ...): in training mode normalises with the batch's
 * statistics (biased variance) and updates running_mean/var (unbiased variance) with momentum;
 * otherwise uses the running statistics. w, b (C) or NULL; running_* (C) f32, may be NULL in training. */
Tensor *op_batch_norm(Ctx *g, Tensor *x, Tensor *w, Tensor *b, Tensor *running_mean, Tensor *running_var,
                      float momentum, float eps);

/* ---- reductions (core/ops_reduce.c) ---- */

/* Sum / mean of every element, shape (1). */
Tensor *op_sum(Ctx *g, Tensor *x);
Tensor *op_mean(Ctx *g, Tensor *x);
/* Variable-length pooling over time: x (B, T, C), lengths (B) i32/i64 in [0, T] -> (B, C).
 * Frames t >= lengths[b] never contribute; a zero-length item gives zeros. */
Tensor *op_masked_sum_time(Ctx *g, Tensor *x, const Tensor *lengths);
Tensor *op_masked_mean_time(Ctx *g, Tensor *x, const Tensor *lengths);
/* sqrt(mean_t (x - mean)^2 + eps) over the valid frames (population variance). */
Tensor *op_masked_std_time(Ctx *g, Tensor *x, const Tensor *lengths, float eps);

/* ---- dense algebra (core/ops_linear.c) ---- */

/* C = op(A) op(B). a (..., M, K) or (..., K, M) when trans_a; b (..., K, N) or (..., N, K) when
 * trans_b; batch dims equal, or b 2-D and shared by every batch item. OpenBLAS sgemm. */
Tensor *op_matmul(Ctx *g, Tensor *a, Tensor *b, int trans_a, int trans_b);
/* y = x W^T + b as in torch.nn.Linear: x (..., in), w (out, in), b (out) or NULL. */
Tensor *op_linear(Ctx *g, Tensor *x, Tensor *w, Tensor *b);

/* ---- convolution and pooling (core/ops_conv.c) ---- */

/* x (B, Cin, T), w (Cout, Cin/groups, K), b (Cout) or NULL -> (B, Cout, Tout),
 * Tout = (T + 2 pad - dil (K - 1) - 1) / stride + 1 (zero padding). */
Tensor *op_conv1d(Ctx *g, Tensor *x, Tensor *w, Tensor *b, int stride, int padding, int dilation, int groups);

typedef struct Conv2dOpts {
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
} Conv2dOpts;
/* x (B, Cin, H, W), w (Cout, Cin/groups, KH, KW), b (Cout) or NULL -> (B, Cout, Hout, Wout). */
Tensor *op_conv2d(Ctx *g, Tensor *x, Tensor *w, Tensor *b, Conv2dOpts o);

typedef struct Pool2dOpts {
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
} Pool2dOpts;
/* x (B, C, H, W) -> (B, C, Hout, Wout); padding is -inf for max, excluded from the average's count
 * (torch's count_include_pad=False). */
Tensor *op_max_pool2d(Ctx *g, Tensor *x, Pool2dOpts o);
Tensor *op_avg_pool2d(Ctx *g, Tensor *x, Pool2dOpts o);
/* x (B, C, T) -> (B, C, Tout), same rules. */
Tensor *op_max_pool1d(Ctx *g, Tensor *x, int kernel, int stride, int padding);
Tensor *op_avg_pool1d(Ctx *g, Tensor *x, int kernel, int stride, int padding);

/* ---- attention (core/ops_attention.c) ---- */

/* Scaled dot-product attention, the plain reference: q (B, H, Tq, D), k and v (B, H, Tk, D),
 * key_mask NULL or u8 (B, Tk). out = softmax(q k^T / sqrt(D) masked) v, (B, H, Tq, D).
 * A batch item whose keys are all masked gets zeros. */
Tensor *op_attention(Ctx *g, Tensor *q, Tensor *k, Tensor *v, const Tensor *key_mask);

/* ---- self-supervised speech encoders: wav2vec 2.0 / HuBERT / WavLM (core/ops_ssl.c) ---- */

/* Group norm of x (B, C, S...) with `groups` groups of C / groups channels, each (item, group)
 * normalised over its channels and positions (population variance), then w_c, b_c (C) or NULL, as
 * torch.nn.GroupNorm. groups = C is the per-channel norm of the wav2vec 2.0 feature encoder. */
Tensor *op_group_norm(Ctx *g, Tensor *x, Tensor *w, Tensor *b, int groups, float eps);
/* Layer norm over the channel dim of x (B, C, T) at each (item, frame); w, b (C) or NULL. Equal to
 * transpose(1, 2), op_layer_norm, transpose(1, 2) without the copies. */
Tensor *op_layer_norm_channels(Ctx *g, Tensor *x, Tensor *w, Tensor *b, float eps);
/* Weight normalisation as torch.nn.utils.weight_norm(dim): w = gain v / ||v||, the norm over every dim
 * of v except `dim`; gain holds v.shape[dim] elements in any shape ((1, 1, K) for dim 2). -> v's shape. */
Tensor *op_weight_norm(Ctx *g, Tensor *v, Tensor *gain, int dim);
/* Attention with an additive bias and dropout on the probabilities (core/ops_attention.c; op_attention
 * is its case without bias or dropout): q (B, H, Tq, D), k and v
 * (B, H, Tk, D), bias NULL or (B or 1, H, Tq, Tk) (differentiable; 1 = shared by every item),
 * key_mask NULL or u8 (B, Tk). out = dropout_p(softmax(q k^T / sqrt(D) + bias, masked keys excluded)) v.
 * Dropout (inverted, Philox at the context's counter) only while g->training; an item with no valid key
 * gets zeros. */
Tensor *op_attention_bias(Ctx *g, Tensor *q, Tensor *k, Tensor *v, Tensor *bias, const Tensor *key_mask,
                          float dropout_p);

#endif
