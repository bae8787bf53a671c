/* The flat parameter store. Models register named parameters (trainable) and buffers (running
 * statistics); params_finalize() lays the trainable ones out in one f32 buffer with one gradient
 * buffer beside it (the optimiser and the all-reduce see one flat array), the buffers in another.
 * Names follow Hugging Face checkpoint names wherever a model mirrors a public one.
 */
#ifndef SERC_PARAMS_H
#define SERC_PARAMS_H

#include <stdint.h>

#include "tensor.h"

typedef struct ParamStore ParamStore;

ParamStore *params_new(void);
void params_free(ParamStore *ps);

/* Registers a trainable f32 parameter / a non-trainable f32 buffer. The returned tensor has no data
 * until params_finalize(). Names must be unique (a duplicate aborts). */
Tensor *params_add(ParamStore *ps, const char *name, int ndim, const int64_t *shape);
Tensor *params_add_buffer(ParamStore *ps, const char *name, int ndim, const int64_t *shape);

/* Allocates the flat buffers (zeroed) and points every registered tensor into them. */
void params_finalize(ParamStore *ps);

/* Number of registered entries (parameters then buffers, in registration order) and entry i. */
int params_len(const ParamStore *ps);
Tensor *params_at(const ParamStore *ps, int i);
int params_is_trainable(const ParamStore *ps, int i);
/* Lookup by name; NULL when absent. */
Tensor *params_get(const ParamStore *ps, const char *name);

/* Trainable scalars, and the flat buffers (valid after finalize). */
int64_t params_count(const ParamStore *ps);
float *params_data(const ParamStore *ps);
float *params_grad(const ParamStore *ps);
void params_zero_grad(ParamStore *ps);

#endif
