/* EDRL: emotion-disentangled representation learning, and the MEA read-out applied at inference
 * (docs/methods.md, "EDRL-MEA").
 *
 * Over a pooled utterance vector x (B, in):
 *   intra-class branch  h_i = tanh(Linear(in, C*d_b)(x))          (B, C*d_b), C blocks of d_b
 *       block scores    s_c = <w_c, h_i[block c]> + b_c            (B, C): class c seen only by block c
 *   inter-class branch  h_s = tanh(Linear(in, d_s)(x))            (B, d_s)
 *       decoder         r   = Linear(d_s, recon_dim)(h_s)          (B, recon_dim): the input's statistics
 *   embedding           e   = [h_i, h_s]                           (B, C*d_b + d_s), the classifier's input
 *
 * MEA (multiblock PLS, train/mbpls.h) is fitted after training on the training set's embeddings, the
 * blocks being the C class blocks and the shared block (or the two branches), and stored in buffers:
 *   aligned z = ((e - mean) / std) R, standardised by ts_mean, ts_std   (B, K)
 *   logits    = z W^T + b                                              (B, C)
 * Until mea.fitted is 1 the MEA output is NULL.
 *
 * Parameters "edrl.intra", "edrl.block_score" ({weight (C, d_b), bias (C)}), "edrl.inter",
 * "edrl.decoder"; buffers "mea.mean", "mea.std" (D), "mea.rotation" (D, K), "mea.ts_mean", "mea.ts_std"
 * (K), "mea.classifier.weight" (C, K), "mea.classifier.bias" (C), "mea.fitted" (1).
 * Initialisation: Linear layers PyTorch's default U(+-1/sqrt(fan_in)); block scores likewise with
 * fan_in d_b; buffers zero (std and ts_std one).
 */
#ifndef SERC_EDRL_H
#define SERC_EDRL_H

#include "layers.h"

typedef struct EdrlConfig {
    int in;             /* pooled width */
    int n_classes;      /* C */
    int block_dim;      /* d_b: width of each class block of the intra-class branch */
    int shared_dim;     /* d_s: width of the inter-class branch */
    int recon_dim;      /* width of the decoder's target (2 n_mels: mean and std of the log-mel frames) */
    int mea_components; /* K; 0 = no MEA buffers */
} EdrlConfig;

typedef struct Edrl {
    EdrlConfig cfg;
    Linear intra, inter, decoder;
    Tensor *block_w, *block_b, *block_mask; /* (C, C*d_b) block-diagonal mask: heap, not a parameter */
    Tensor *mea_mean, *mea_std, *mea_rotation, *mea_ts_mean, *mea_ts_std, *mea_w, *mea_b, *mea_fitted;
} Edrl;

typedef struct EdrlOutput {
    Tensor *intra;        /* (B, C*d_b) */
    Tensor *shared;       /* (B, d_s) */
    Tensor *embedding;    /* (B, C*d_b + d_s) */
    Tensor *block_logits; /* (B, C) */
    Tensor *recon;        /* (B, recon_dim) */
    Tensor *aligned;      /* (B, K) standardised MEA scores, NULL until MEA is fitted */
    Tensor *mea_logits;   /* (B, C), NULL until MEA is fitted */
} EdrlOutput;

/* Width of the embedding: C*d_b + d_s. */
int edrl_embedding_dim(const EdrlConfig *c);
void edrl_register(Edrl *m, ParamStore *ps, const EdrlConfig *cfg);
void edrl_init(Edrl *m, InitRng *r);
void edrl_free(Edrl *m);
EdrlOutput edrl_forward(Ctx *g, const Edrl *m, Tensor *x);
/* 1 when the MEA buffers hold a fit. */
int edrl_mea_fitted(const Edrl *m);

/* Block scores: intra (B, C*d_b), w (C, d_b), b (C) -> s (B, C), s[:, c] = intra[:, block c] . w[c] + b[c]. */
Tensor *edrl_block_scores(Ctx *g, Tensor *intra, Tensor *w, Tensor *b);
/* Column standardisation over the batch: x (B, D) -> (x - mean_b) / sqrt(var_b + eps), population
 * variance, differentiable (used by the decorrelation loss and the decoder's target). */
Tensor *edrl_batch_standardise(Ctx *g, Tensor *x, float eps);
/* Decorrelation of the two branches: mean over (i, j) of corr(h_i[:, i], h_s[:, j])^2 over the batch. */
Tensor *edrl_orth_loss(Ctx *g, Tensor *intra, Tensor *shared);
/* Mean squared error between r and the batch-standardised target (no gradient into the target). */
Tensor *edrl_recon_loss(Ctx *g, Tensor *recon, Tensor *target);
/* The decoder's target: mean and standard deviation of the valid frames of feats (B, T, F) -> (B, 2F). */
Tensor *edrl_input_stats(Ctx *g, Tensor *feats, const Tensor *lengths);

#endif
