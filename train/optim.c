#include "optim.h"

#include <math.h>
#include <stdlib.h>

#include "error.h"

void adamw_init(AdamW *o, int64_t n, float lr, float weight_decay) {
    o->lr = lr;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->weight_decay = weight_decay;
    o->t = 0;
    o->n = n;
    o->m = serc_calloc((size_t)n + 1, sizeof(float));
    o->v = serc_calloc((size_t)n + 1, sizeof(float));
}

void adamw_step(AdamW *o, float *params, const float *grads) {
    o->t++;
    const double bc1 = 1.0 - pow(o->beta1, (double)o->t), bc2 = 1.0 - pow(o->beta2, (double)o->t);
    const float b1 = o->beta1, b2 = o->beta2, lr = o->lr, wd = o->weight_decay, eps = o->eps;
    float *m = o->m, *v = o->v;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < o->n; i++) {
        float gi = grads[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        params[i] -= lr * wd * params[i];
        float mhat = (float)(m[i] / bc1), vhat = (float)(v[i] / bc2);
        params[i] -= lr * mhat / (sqrtf(vhat) + eps);
    }
}

void adamw_free(AdamW *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

double grad_norm(const float *grads, int64_t n) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (int64_t i = 0; i < n; i++) s += (double)grads[i] * grads[i];
    return sqrt(s);
}

double clip_grad_norm(float *grads, int64_t n, double max_norm) {
    double norm = grad_norm(grads, n);
    if (norm > max_norm && norm > 0) {
        float s = (float)(max_norm / norm);
        for (int64_t i = 0; i < n; i++) grads[i] *= s;
    }
    return norm;
}
