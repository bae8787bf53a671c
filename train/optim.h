/* Optimisers over the flat parameter buffer (one loop over one array). */
#ifndef SERC_OPTIM_H
#define SERC_OPTIM_H

#include <stdint.h>

/* AdamW (Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019), as torch.optim.AdamW:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr * wd * p
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) */
#define ADAMW_MAX_GROUPS 8

/* A parameter group: the range [start, start + count) of the flat buffer with its own learning rate
 * (as a multiple of lr, so schedules apply to every group alike) and weight decay. */
typedef struct AdamWGroup {
    int64_t start, count;
    float lr_scale, weight_decay;
} AdamWGroup;

typedef struct AdamW {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t t, n;
    float *m, *v;
    AdamWGroup groups[ADAMW_MAX_GROUPS];
    int n_groups;
} AdamW;

/* n parameters; defaults beta1 0.9, beta2 0.999, eps 1e-8. */
void adamw_init(AdamW *o, int64_t n, float lr, float weight_decay);
/* Gives [start, start + count) its own lr multiple and weight decay (the centers of center loss). */
void adamw_add_group(AdamW *o, int64_t start, int64_t count, float lr_scale, float weight_decay);
void adamw_step(AdamW *o, float *params, const float *grads);
void adamw_free(AdamW *o);

/* Learning-rate schedule: linear warm-up over warmup_steps, then
 *   LR_CONSTANT: base;  LR_EXP: base * decay^epoch;  LR_COSINE: base * 0.5 (1 + cos(pi * progress))
 * where progress = (step - warmup) / (total_steps - warmup). */
typedef enum LrScheduleKind { LR_CONSTANT = 0, LR_EXP, LR_COSINE } LrScheduleKind;
typedef struct LrSchedule {
    LrScheduleKind kind;
    double base, decay;
    int64_t warmup_steps, total_steps;
} LrSchedule;
double lr_schedule_at(const LrSchedule *s, int64_t step, int epoch);

/* Global L2 norm of grads[0..n) (double accumulation). */
double grad_norm(const float *grads, int64_t n);
/* Scales grads so that their norm is at most max_norm; returns the norm before clipping. */
double clip_grad_norm(float *grads, int64_t n, double max_norm);

#endif
