/* Front ends over log-mel frames x (B, T, F) with lengths (B): a 2-D CNN stack and a 1-D TDNN stack.
 * Both return frames (B, T', D) and the new lengths; frames t >= lengths'[b] are zero on output.
 *
 * Padding. The loader zero-pads, but every block re-zeroes the frames past each item's length after
 * it (mask_frames), so the next convolution reads zeros there exactly as it reads its own zero padding
 * when the item is alone: in eval mode an item's output does not depend on what it is batched with
 * (tested). Batch norm in training: without masked_bn (SerModel's default) the batch statistics cover
 * every position of the padded batch, the zeros of the padding included, as torch.nn.BatchNorm on a
 * zero-padded batch would, and the running statistics follow the same diluted statistics; with
 * masked_bn they are taken over valid frames only (batch_norm_forward with lengths). The masked form is
 * composed from core ops, so its gradient is exact, but it costs 1.3-1.8x the step time and 2.7x the
 * activation memory of the 2-D CNN on padded batches (measured, docs/models.md): a fused masked
 * batch-norm op in core would make it cheap.
 *
 * 2-D CNN (Cnn2d), per block i with channels[i]:
 *   conv2d 3x3, stride 1, padding 1, no bias   "<prefix>.blocks.<i>.conv.weight" (C_out, C_in, 3, 3)
 *   batch norm over channels                   "<prefix>.blocks.<i>.bn.{weight,bias,running_mean,running_var}"
 *   ReLU (or GELU)
 *   max pool, kernel = stride = (pool_time, pool_freq), no padding: T -> floor(T / pool_time),
 *   F -> floor(F / pool_freq). (2, 2) by default; pool_time = 1 pools along frequency only and keeps
 *   the time resolution.
 *   Output (B, C, T', F') -> (B, T', C * F') (channel-major within a frame).
 *   The conv has no bias: the batch norm's shift that follows makes it redundant.
 *
 * TDNN (Tdnn, x-vector style, Snyder et al. 2018), per layer i:
 *   conv1d over time, kernel k_i, dilation d_i, bias   "<prefix>.layers.<i>.conv.{weight,bias}"
 *   ReLU (or GELU), then batch norm                     "<prefix>.layers.<i>.bn.*"
 *   same_padding = 1 (default): padding d (k - 1) / 2 keeps T (k must be odd); 0: no padding (the
 *   x-vector original), T -> T - d (k - 1), an item shorter than that gets length 0.
 *   Output (B, T', dims[last]).
 *
 * Initialisation: conv weights (and TDNN biases) PyTorch's default U(+-1/sqrt(C_in * kernel area));
 * batch norm weight 1, bias 0, running mean 0, running variance 1; momentum 0.1, eps 1e-5.
 */
#ifndef SERC_FRONTENDS_H
#define SERC_FRONTENDS_H

#include "layers.h"

typedef enum FrontendAct { FRONTEND_RELU = 0, FRONTEND_GELU = 1 } FrontendAct;

/* ---- batch norm layer and masks ---- */

typedef struct BatchNorm {
    Tensor *w, *b, *running_mean, *running_var; /* (C); running_* are store buffers */
    int dim;
    float momentum, eps;
} BatchNorm;

void batch_norm_register(BatchNorm *bn, ParamStore *ps, const char *prefix, int dim);
void batch_norm_init(BatchNorm *bn);
/* x (B, C, T) or (B, C, T, F), time at dim 2. Eval (g->training = 0): running statistics. Training:
 * batch statistics over every position when lengths is NULL (op_batch_norm); with lengths (B) over the
 * valid positions t < lengths[b] only, and the running statistics updated from those (unbiased
 * variance, as torch). Outputs at padded positions are normalised too but carry no meaning. */
Tensor *batch_norm_forward(Ctx *g, const BatchNorm *bn, Tensor *x, const Tensor *lengths);

/* mask (B, T) u8: 1 where t < lengths[b]. lengths (B) i32 or i64, each in [0, T]. */
Tensor *lengths_to_mask(Ctx *g, const Tensor *lengths, int64_t T);
/* x with frames t >= lengths[b] set to 0; time at dim time_dim (1 or 2) of x (B, ...). Returns x itself
 * when no item is padded. */
Tensor *mask_frames(Ctx *g, Tensor *x, const Tensor *lengths, int time_dim);

/* ---- 2-D CNN ---- */

#define CNN2D_MAX_BLOCKS 4

typedef struct Cnn2dConfig {
    int n_mels;                        /* F */
    int channels[CNN2D_MAX_BLOCKS];    /* output channels per block; a 0 ends the list (at least one) */
    int pool_time, pool_freq;          /* max-pool kernel = stride; (2, 2) default, (1, 2) frequency only */
    FrontendAct act;
    int masked_bn;                     /* training batch statistics over valid frames only */
} Cnn2dConfig;

typedef struct Conv2d {
    Tensor *w; /* (C_out, C_in, 3, 3) */
    int in, out;
} Conv2d;

typedef struct Cnn2d {
    Cnn2dConfig cfg;
    int n_blocks;
    Conv2d conv[CNN2D_MAX_BLOCKS];
    BatchNorm bn[CNN2D_MAX_BLOCKS];
    int out_freq, out_dim; /* F', C_last * F' */
} Cnn2d;

void cnn2d_register(Cnn2d *c, ParamStore *ps, const char *prefix, const Cnn2dConfig *cfg);
void cnn2d_init(Cnn2d *c, InitRng *r);
/* Output length of an input of T frames: T / pool_time^n_blocks, rounding down at every block. */
int64_t cnn2d_out_length(const Cnn2d *c, int64_t T);
/* Output lengths (B) i32 for input lengths (B) i32/i64. */
Tensor *cnn2d_out_lengths(Ctx *g, const Cnn2d *c, const Tensor *lengths);
/* x (B, T, F) -> (B, T', C * F'); *out_lengths (B) i32. The batch's T must be at least
 * pool_time^n_blocks (aborts otherwise); shorter items get length 0. */
Tensor *cnn2d_forward(Ctx *g, const Cnn2d *c, Tensor *x, const Tensor *lengths, Tensor **out_lengths);

/* ---- TDNN ---- */

#define TDNN_MAX_LAYERS 6

typedef struct TdnnConfig {
    int n_mels;
    int dims[TDNN_MAX_LAYERS];      /* output channels per layer; a 0 ends the list */
    int kernels[TDNN_MAX_LAYERS];
    int dilations[TDNN_MAX_LAYERS];
    int same_padding;               /* 1: keep T (odd kernels); 0: valid convolutions */
    FrontendAct act;                /* ReLU (default, as x-vectors) or GELU */
    int masked_bn;
} TdnnConfig;

typedef struct Tdnn {
    TdnnConfig cfg;
    int n_layers, out_dim;
    Conv1d conv[TDNN_MAX_LAYERS];
    BatchNorm bn[TDNN_MAX_LAYERS];
} Tdnn;

void tdnn_register(Tdnn *t, ParamStore *ps, const char *prefix, const TdnnConfig *cfg);
void tdnn_init(Tdnn *t, InitRng *r);
/* T with same padding; max(0, T - sum_i d_i (k_i - 1)) without. */
int64_t tdnn_out_length(const Tdnn *t, int64_t T);
Tensor *tdnn_out_lengths(Ctx *g, const Tdnn *t, const Tensor *lengths);
/* x (B, T, F) -> (B, T', dims[last]); *out_lengths (B) i32. */
Tensor *tdnn_forward(Ctx *g, const Tdnn *t, Tensor *x, const Tensor *lengths, Tensor **out_lengths);

#endif
