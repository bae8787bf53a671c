/* Training losses for SER, each an op: it computes its value now (f32 in, double accumulation) and,
 * when the context records and an input requires grad, records a tape node whose backward accumulates
 * (+=) into the inputs' gradients, exactly as the core ops in core/ops.h.
 *
 * Every loss returns a scalar, shape (1), the mean over the batch unless its comment says otherwise.
 * Labels are i32 or i64 (B) with values in [0, C); targets, class weights, alphas and masks are
 * constants (no gradient flows to them). Formulas, sources and the choices where a paper is silent are
 * written out in docs/methods.md ("## Losses", "## Multi-loss combiner").
 */
#ifndef SERC_LOSSES_H
#define SERC_LOSSES_H

#include <stdint.h>

#include "context.h"
#include "tensor.h"

/* ---- classification (losses/losses.c) ---- */

/* Cross-entropy over logits (B, C), as torch.nn.functional.cross_entropy (reduction 'mean').
 * targets: hard labels, i32/i64 (B), or soft targets, f32 (B, C) (distributions: EAM soft labels,
 * rater distributions). class_weights: f32 (C) or NULL. label_smoothing in [0, 1].
 * With p = softmax(logits), eps = label_smoothing, w = class_weights (1 when NULL):
 *   hard: l_b = (1 - eps) w_{y_b} (-log p_{b,y_b}) + eps/C sum_c w_c (-log p_{b,c}),
 *         loss = sum_b l_b / sum_b w_{y_b}   (torch's weighted mean; = mean when w is NULL).
 *         When every sample's class has weight 0 the loss is 0 with zero gradient (torch gives NaN).
 *   soft: t' = (1 - eps) t + eps/C,  l_b = -sum_c w_c t'_{b,c} log p_{b,c},  loss = sum_b l_b / B
 *         (torch divides by B, not by the weights, for probability targets). */
Tensor *loss_cross_entropy(Ctx *g, Tensor *logits, const Tensor *targets, const Tensor *class_weights,
                           float label_smoothing);

/* Focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection"), multi-class form over logits
 * (B, C): loss = (1/B) sum_b -alpha_{y_b} (1 - p_{b,y_b})^gamma log p_{b,y_b}, p = softmax(logits).
 * labels i32/i64 (B); gamma >= 0 (0 gives cross-entropy); alpha f32 (C) or NULL (all 1). The mean
 * divides by B, not by sum alpha. */
Tensor *loss_focal(Ctx *g, Tensor *logits, const Tensor *labels, float gamma, const Tensor *alpha);

/* KL(target || softmax(logits)) averaged over the batch, as
 * torch.nn.KLDivLoss(reduction='batchmean')(log_softmax(logits), target):
 *   loss = (1/B) sum_b sum_c t_{b,c} (log t_{b,c} - log p_{b,c}),  with 0 log 0 = 0.
 * logits (B, C), target f32 (B, C) (non-negative, checked; rows normally sum to 1). */
Tensor *loss_kl(Ctx *g, Tensor *logits, const Tensor *target);

/* Class weights N / (C count_c), the SERNC baseline's choice (as sklearn's 'balanced'): counts (C),
 * N = sum of counts; a class with count 0 gets weight 0. Writes weights[0..C). */
void loss_class_weights_balanced(const int64_t *counts, int C, float *weights);

/* ---- embeddings (losses/losses_embed.c) ---- */

/* Center loss (Wen et al. 2016, "A Discriminative Feature Learning Approach for Deep Face
 * Recognition"): loss = 0.5 (1/B) sum_b ||e_b - c_{y_b}||^2 with emb (B, D), labels (B), centers (C, D).
 * The gradient flows to emb. Two ways to move the centers:
 *   - Wen et al.'s rule: leave centers->requires_grad = 0 and call center_update() after each step;
 *   - as a trained parameter (a ParamStore parameter with its own learning rate, 5e-3 in the
 *     multi-loss paper): then the op also gives d loss / d c_j = -(1/B) sum_{b: y_b = j} (e_b - c_j). */
Tensor *loss_center(Ctx *g, Tensor *emb, const Tensor *labels, Tensor *centers);

/* Wen et al.'s center update (their Eq. 4 and Algorithm 1), in place on centers (C, D):
 *   c_j -= alpha * sum_{i: y_i = j} (c_j - e_i) / (1 + n_j),  n_j = #{i: y_i = j};
 * classes absent from the batch do not move. emb (B, D) and labels (B) as passed to loss_center. */
void center_update(Tensor *centers, const Tensor *emb, const Tensor *labels, float alpha);

/* Supervised contrastive loss (Khosla et al. 2020, "Supervised Contrastive Learning", L_out, Eq. 2) on
 * z_b = e_b / max(||e_b||, 1e-12) (normalised inside the op, part of the backward):
 *   l_i = -1/|P(i)| sum_{p in P(i)} log( exp(z_i.z_p / T) / sum_{a in A(i)} exp(z_i.z_a / T) ),
 *   A(i) = valid samples other than i, P(i) = those of A(i) with label y_i;
 *   loss = mean of l_i over valid anchors with |P(i)| > 0 (0, with zero gradient, when there are none).
 * emb (B, D), labels (B), valid NULL or u8 (B) (1 = real sample, 0 = padding: neither anchor nor
 * contrast), temperature T > 0. Labels here are only compared: any value >= 0 is a class. */
Tensor *loss_supcon(Ctx *g, Tensor *emb, const Tensor *labels, const Tensor *valid, float temperature);

/* ---- regression (losses/losses_ccc.c) ---- */

/* Concordance correlation coefficient loss (Lin 1989), summed over K attributes (the SERNC task 2
 * loss): loss = sum_k (1 - CCC_k), CCC_k = 2 cov_k / (var_pk + var_tk + (mu_pk - mu_tk)^2) over the
 * batch, population (1/B) variances and covariance. pred, target (B, K). Where the denominator is 0
 * (both columns constant with equal means: prediction identical to target) CCC_k = 1 and the column
 * passes no gradient; no epsilon is added anywhere else. Not a batch mean: the value is in [0, 2K]. */
Tensor *loss_ccc(Ctx *g, Tensor *pred, Tensor *target);

/* ---- multi-loss combiner (losses/multiloss.c) ---- */

#define MULTILOSS_MAX_TERMS 12

typedef enum MultiLossNorm {
    MULTILOSS_NORM_NONE = 0, /* the term enters as its raw value */
    MULTILOSS_NORM_MAX,      /* divided by the running maximum of its value (detached): in [0, 1] */
} MultiLossNorm;

typedef struct MultiLossTerm {
    char name[32];
    /* weight schedule: w0 up to epoch e0, w1 from epoch e1, linear in between (fixed when w0 == w1) */
    float w0, w1;
    double e0, e1;
    MultiLossNorm norm;
    double running_max; /* normaliser state (0 = no value seen yet); save it with a checkpoint */
    /* the last multiloss_combine: raw value, weight, normaliser (1/running_max or 1) and weighted,
     * normalised contribution to the total; NaN when the term was absent (NULL) */
    double value, weight, scale, contribution;
} MultiLossTerm;

typedef struct MultiLoss {
    int n;
    double epoch; /* set by multiloss_set_epoch; fractional epochs ramp within an epoch */
    MultiLossTerm term[MULTILOSS_MAX_TERMS];
} MultiLoss;

/* Empties ml (no terms, epoch 0). */
void multiloss_init(MultiLoss *ml);
/* Adds a term with fixed weight w and the given normalisation; returns its index (aborts past
 * MULTILOSS_MAX_TERMS or on an empty or duplicate name). */
int multiloss_add(MultiLoss *ml, const char *name, float weight, MultiLossNorm norm);
/* Schedules term i's weight: w0 for epoch <= e0, w1 for epoch >= e1, w0 + (w1 - w0)(e - e0)/(e1 - e0)
 * in between (e1 > e0). */
void multiloss_schedule(MultiLoss *ml, int i, float w0, float w1, double e0, double e1);
void multiloss_set_epoch(MultiLoss *ml, double epoch);
/* Term i's weight at the current epoch. */
double multiloss_weight(const MultiLoss *ml, int i);
/* total = sum_i weight_i * scale_i * terms[i], an op on the tape (backward flows to every term with
 * its coefficient; the scale is a detached constant). terms[i] is a (1) tensor or NULL (term not
 * computed this step: it contributes nothing and its normaliser is left alone). With
 * MULTILOSS_NORM_MAX, running_max = max(running_max, |value|) is updated first, so scale = 1/running_max
 * and the normalised term lies in [0, 1] for a non-negative loss (scale 1 while running_max is 0).
 * Fills each term's value, weight, scale and contribution for logging. */
Tensor *multiloss_combine(Ctx *g, MultiLoss *ml, Tensor *const *terms);
/* Writes "name=value*weight*scale ..." of the last combine into buf (for log lines); returns buf. */
char *multiloss_describe(const MultiLoss *ml, char *buf, size_t n);

/* ---- label-distribution learning (losses/losses_ldl.c; issue 13) ---- */

/* Cosine distance between the predicted and the target distribution, batch mean:
 *   loss = (1/B) sum_b (1 - <p_b, t_b> / (||p_b|| ||t_b||)),  p = softmax(logits).
 * logits (B, C), target f32 (B, C) (a constant). A row with ||t_b|| = 0 counts cos = 0 (loss 1) and
 * passes no gradient (torch's cosine_similarity with eps 1e-8 gives the same value). */
Tensor *loss_ldl_cosine(Ctx *g, Tensor *logits, const Tensor *target);

/* The EM2LDL baseline's label-distribution loss (arXiv 2511.20106): log-softmax outputs,
 *   loss = KL(t || p) + cos_weight (1 - cos(p, t)),
 * loss_kl (batchmean) plus cos_weight times loss_ldl_cosine; cos_weight = 0.3 in the paper. */
Tensor *loss_ldl(Ctx *g, Tensor *logits, const Tensor *target, float cos_weight);

#endif
