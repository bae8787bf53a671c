/* The context: device, RNG, the per-step arena, the autograd tape and the grad/training switches.
 *
 * One training step:
 *     ctx_step_begin(g);                      // arena reset, tape cleared
 *     Tensor *loss = model_forward(g, ...);   // eager ops; each records a tape node
 *     serc_backward(g, loss, NULL);           // walks the tape in reverse, accumulating (+=) grads
 *     optimiser_step(...);                    // reads the flat gradient buffer
 */
#ifndef SERC_CONTEXT_H
#define SERC_CONTEXT_H

#include <stdint.h>

#include "arena.h"
#include "tensor.h"

typedef struct Ctx Ctx;
typedef struct TapeNode TapeNode;

typedef void (*BackwardFn)(Ctx *g, TapeNode *n);

#define TAPE_MAX_INPUTS 4
#define TAPE_MAX_SAVED 4

/* One recorded op: its output, its inputs, what backward needs (saved tensors, integer and real
 * attributes). All of it lives in the arena. */
struct TapeNode {
    const char *op;
    BackwardFn backward;
    Tensor *out;
    Tensor *in[TAPE_MAX_INPUTS];
    int n_in;
    Tensor *saved[TAPE_MAX_SAVED];
    int64_t iattr[8];
    double fattr[4];
    void *extra; /* op-specific arena block, when the fixed fields are not enough */
};

struct Ctx {
    SercDevice device;
    Arena arena;
    TapeNode **tape;
    int64_t tape_len, tape_cap;
    int grad_enabled; /* record ops on the tape */
    int training;     /* dropout active, batch norm uses batch statistics */
    uint64_t seed;    /* Philox key */
    uint64_t rng_offset; /* next unused Philox counter block */
    int threads;
};

/* Creates a CPU context with the given seed; threads from SERC_THREADS (default: all cores). */
Ctx *ctx_new(uint64_t seed);
void ctx_free(Ctx *g);

/* Resets the arena and clears the tape. Tensors from the previous step become invalid. */
void ctx_step_begin(Ctx *g);

/* Turns recording off (returns the previous value) / restores it: `int was = ctx_no_grad(g); ... ctx_set_grad(g, was);`. */
int ctx_no_grad(Ctx *g);
void ctx_set_grad(Ctx *g, int enabled);

/* Number of threads CPU ops use; SERC_THREADS, default all cores. */
int serc_num_threads(void);

/* New arena tensor (uninitialised / zeroed). */
Tensor *tensor_empty(Ctx *g, SercDType dt, int ndim, const int64_t *shape);
Tensor *tensor_zeros(Ctx *g, SercDType dt, int ndim, const int64_t *shape);
/* New arena tensor with the same shape as t (f32). */
Tensor *tensor_empty_like(Ctx *g, const Tensor *t);
/* Arena copy of a struct header that shares data (for views). */
Tensor *tensor_view_header(Ctx *g, const Tensor *t);

/* Whether an op on these inputs must record: recording on and some input requires grad. */
int ctx_needs_grad(const Ctx *g, Tensor *const *inputs, int n);

/* Records a node whose output is out; marks out->requires_grad. Returns the node, whose saved and
 * attribute fields the op then fills. */
TapeNode *ctx_record(Ctx *g, const char *op, BackwardFn backward, Tensor *out, Tensor *const *inputs, int n);

/* The gradient buffer of t, allocated zeroed in the arena when absent (f32, contiguous, t's shape). */
float *tensor_grad_f32(Ctx *g, Tensor *t);

/* Backward from out. grad_out is dL/d(out) (same shape), or NULL for a scalar out (taken as 1).
 * Gradients accumulate into every tensor that requires grad, parameters included. */
void serc_backward(Ctx *g, Tensor *out, const Tensor *grad_out);

#endif
