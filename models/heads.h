/* Heads over a pooled utterance vector x (B, in).
 *
 * MlpHead, the classifier and the A/V/D regression head (the SERNC baseline's head):
 *     hidden > 0:  Linear(in, hidden) -> LayerNorm(hidden) -> ReLU -> Dropout(p) -> Linear(hidden, out)
 *     hidden = 0:  Dropout(p) -> Linear(in, out)
 *   The classifier's out is the number of classes (logits, no softmax); the A/V/D head's out is 3,
 *   raw values (no output activation: the caller scales labels, e.g. to [-1, 1] or keeps 1..7).
 *   Parameters "<prefix>.hidden", "<prefix>.norm", "<prefix>.out" ({weight,bias}).
 *
 * ProjectionHead, the embedding for center and supervised contrastive losses (SimCLR's projection):
 *     Linear(in, hidden) -> ReLU -> Linear(hidden, out), hidden = in, out = 64 by default.
 *   Not normalised here: a loss that wants unit vectors (SupCon) normalises itself.
 *   Parameters "<prefix>.fc1", "<prefix>.fc2".
 *
 * Initialisation: every Linear PyTorch's default U(+-1/sqrt(fan_in)) for weight and bias; LayerNorm
 * weight 1, bias 0.
 */
#ifndef SERC_HEADS_H
#define SERC_HEADS_H

#include "layers.h"

typedef struct MlpHead {
    int in, hidden, out;
    float dropout;
    Linear fc, out_fc; /* fc unused (w == NULL) when hidden == 0 */
    LayerNorm norm;
} MlpHead;

void mlp_head_register(MlpHead *h, ParamStore *ps, const char *prefix, int in, int hidden, int out, float dropout);
void mlp_head_init(MlpHead *h, InitRng *r);
/* x (B, in) -> (B, out); dropout only when g->training. */
Tensor *mlp_head_forward(Ctx *g, const MlpHead *h, Tensor *x);

typedef struct ProjectionHead {
    int in, hidden, out;
    Linear fc1, fc2;
} ProjectionHead;

void projection_head_register(ProjectionHead *h, ParamStore *ps, const char *prefix, int in, int hidden, int out);
void projection_head_init(ProjectionHead *h, InitRng *r);
/* x (B, in) -> (B, out) */
Tensor *projection_head_forward(Ctx *g, const ProjectionHead *h, Tensor *x);

#endif
