/* Helpers shared by the loss files (not part of the public API). */
#ifndef SERC_LOSSES_INTERNAL_H
#define SERC_LOSSES_INTERNAL_H

#include "losses.h"

/* Copies labels (B) i32/i64 into an arena i64 tensor, aborting unless each is in [0, C). */
Tensor *loss_labels_copy(Ctx *g, const char *op, const Tensor *labels, int64_t B, int64_t C);
/* A (1) f32 arena tensor holding v. */
Tensor *loss_scalar(Ctx *g, double v);
/* Sum of v[0..n) in order (the batch sum: serial, so independent of the thread count). */
double loss_serial_sum(const double *v, int64_t n);

#endif
