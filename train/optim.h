/* Optimisers over the flat parameter buffer (one loop over one array). */
#ifndef SERC_OPTIM_H
#define SERC_OPTIM_H

#include <stdint.h>

/* AdamW (Loshchilov & Hutter, "Decoupled weight decay regularization", ICLR 2019), as torch.optim.AdamW:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   p -= lr * wd * p
 *   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) */
typedef struct AdamW {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t t, n;
    float *m, *v;
} AdamW;

/* n parameters; defaults beta1 0.9, beta2 0.999, eps 1e-8. */
void adamw_init(AdamW *o, int64_t n, float lr, float weight_decay);
void adamw_step(AdamW *o, float *params, const float *grads);
void adamw_free(AdamW *o);

/* Global L2 norm of grads[0..n) (double accumulation). */
double grad_norm(const float *grads, int64_t n);
/* Scales grads so that their norm is at most max_norm; returns the norm before clipping. */
double clip_grad_norm(float *grads, int64_t n, double max_norm);

#endif
