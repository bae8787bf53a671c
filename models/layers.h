/* Layers: parameter registration under Hugging Face style names ("<prefix>.weight", "<prefix>.bias"),
 * documented initialisation, and forward built only from ops.
 *
 * Initialisation follows PyTorch's defaults so that a SERC model and its PyTorch twin start from the
 * same distribution: Linear and Conv weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (what
 * kaiming_uniform_(a=sqrt 5) gives), LayerNorm weight 1, bias 0. Draws come from Philox at
 * (seed, *offset), and *offset advances, so initial weights do not depend on the thread count. */
#ifndef SERC_LAYERS_H
#define SERC_LAYERS_H

#include <stdint.h>

#include "ops.h"
#include "params.h"

typedef struct Linear {
    Tensor *w, *b; /* (out, in), (out) or NULL */
    int in, out;
} Linear;

typedef struct Conv1d {
    Tensor *w, *b; /* (out, in / groups, kernel), (out) or NULL */
    int in, out, kernel, stride, padding, dilation, groups;
} Conv1d;

typedef struct LayerNorm {
    Tensor *w, *b; /* (dim) */
    int dim;
    float eps;
} LayerNorm;

/* Initialisation stream. */
typedef struct InitRng {
    uint64_t seed, offset;
} InitRng;

void linear_register(Linear *l, ParamStore *ps, const char *prefix, int in, int out, int bias);
void linear_init(Linear *l, InitRng *r);
/* x (..., in) -> (..., out) */
Tensor *linear_forward(Ctx *g, const Linear *l, Tensor *x);

void conv1d_register(Conv1d *c, ParamStore *ps, const char *prefix, int in, int out, int kernel, int stride,
                     int padding, int dilation, int groups, int bias);
void conv1d_init(Conv1d *c, InitRng *r);
/* x (B, in, T) -> (B, out, Tout) */
Tensor *conv1d_forward(Ctx *g, const Conv1d *c, Tensor *x);

void layer_norm_register(LayerNorm *l, ParamStore *ps, const char *prefix, int dim, float eps);
void layer_norm_init(LayerNorm *l);
Tensor *layer_norm_forward(Ctx *g, const LayerNorm *l, Tensor *x);

/* Fills t with U(-bound, bound) from the stream. */
void init_uniform(Tensor *t, InitRng *r, float bound);

#endif
