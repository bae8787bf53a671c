#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

void adamw_init(AdamW *o, int64_t n, float lr, float weight_decay) {
    memset(o, 0, sizeof *o);
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

void adamw_add_group(AdamW *o, int64_t start, int64_t count, float lr_scale, float weight_decay) {
    SERC_ASSERT(o->n_groups < ADAMW_MAX_GROUPS, "more than %d AdamW groups", ADAMW_MAX_GROUPS);
    SERC_ASSERT(start >= 0 && count >= 0 && start + count <= o->n, "AdamW group [%lld, +%lld) outside %lld parameters",
                (long long)start, (long long)count, (long long)o->n);
    AdamWGroup grp = {start, count, lr_scale, weight_decay};
    o->groups[o->n_groups++] = grp;
}

/* One AdamW update of elements [lo, hi) with the given lr and weight decay. */
static void adamw_range(AdamW *o, float *params, const float *grads, int64_t lo, int64_t hi, float lr, float wd) {
    const double bc1 = 1.0 - pow(o->beta1, (double)o->t), bc2 = 1.0 - pow(o->beta2, (double)o->t);
    const float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    float *m = o->m, *v = o->v;
#pragma omp parallel for schedule(static)
    for (int64_t i = lo; i < hi; i++) {
        float gi = grads[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        params[i] -= lr * wd * params[i];
        float mhat = (float)(m[i] / bc1), vhat = (float)(v[i] / bc2);
        params[i] -= lr * mhat / (sqrtf(vhat) + eps);
    }
}

void adamw_step(AdamW *o, float *params, const float *grads) {
    o->t++;
    /* walk the buffer in order: group ranges with their settings, the gaps with the defaults */
    int64_t pos = 0;
    for (;;) {
        int next = -1;
        for (int k = 0; k < o->n_groups; k++)
            if (o->groups[k].start >= pos && (next < 0 || o->groups[k].start < o->groups[next].start)) next = k;
        int64_t gap_end = next < 0 ? o->n : o->groups[next].start;
        if (gap_end > pos) adamw_range(o, params, grads, pos, gap_end, o->lr, o->weight_decay);
        if (next < 0) break;
        const AdamWGroup *gr = &o->groups[next];
        adamw_range(o, params, grads, gr->start, gr->start + gr->count, o->lr * gr->lr_scale, gr->weight_decay);
        pos = gr->start + gr->count;
    }
}

double lr_schedule_at(const LrSchedule *s, int64_t step, int epoch) {
    if (s->warmup_steps > 0 && step < s->warmup_steps) return s->base * (double)(step + 1) / (double)s->warmup_steps;
    switch (s->kind) {
    case LR_EXP: return s->base * pow(s->decay, epoch);
    case LR_COSINE: {
        int64_t span = s->total_steps - s->warmup_steps;
        double p = span > 0 ? (double)(step - s->warmup_steps) / (double)span : 1.0;
        if (p > 1) p = 1;
        return s->base * 0.5 * (1.0 + cos(M_PI * p));
    }
    default: return s->base;
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
