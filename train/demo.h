/* `serc demo`: trains ConvAttnClassifier on a generated frame-sequence task and reports loss,
 * held-out accuracy, parameter count, activation memory (arena peak) and speed.
 *
 * The task: each sequence has T in [t_min, t_max] frames of F features of Gaussian noise; class c
 * places a burst of energy in feature band c at a random time, so the model must find it in time
 * (attention) and in frequency (conv). Padded frames are zero; batches mix lengths. */
#ifndef SERC_DEMO_H
#define SERC_DEMO_H

#include <stddef.h>
#include <stdint.h>

typedef struct DemoOptions {
    int steps, batch, classes, features, dim, heads, t_min, t_max, eval_items, log_every;
    float lr;
    uint64_t seed;
} DemoOptions;

typedef struct DemoResult {
    double first_loss, final_loss, accuracy, ms_per_step;
    int64_t params;
    size_t arena_peak;
} DemoResult;

void demo_default_options(DemoOptions *o);
/* Runs training and evaluation; progress lines go to stdout when log_every > 0. */
void demo_run(const DemoOptions *o, DemoResult *r);

#endif
