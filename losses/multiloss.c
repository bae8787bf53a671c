/* The multi-loss combiner: a weighted sum of scalar loss terms with epoch-scheduled weights and
 * optional normalisation of each term to [0, 1] by its running maximum (docs/methods.md, "Multi-loss
 * combiner", gives the reason for that choice).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "losses.h"
#include "losses_internal.h"

void multiloss_init(MultiLoss *ml) { memset(ml, 0, sizeof *ml); }

int multiloss_add(MultiLoss *ml, const char *name, float weight, MultiLossNorm norm) {
    SERC_ASSERT(ml->n < MULTILOSS_MAX_TERMS, "multiloss_add: more than %d terms", MULTILOSS_MAX_TERMS);
    SERC_ASSERT(name && name[0] && strlen(name) < sizeof ml->term[0].name, "multiloss_add: name '%s' empty or too long",
                name ? name : "(null)");
    for (int i = 0; i < ml->n; i++)
        SERC_ASSERT(strcmp(ml->term[i].name, name) != 0, "multiloss_add: duplicate term '%s'", name);
    SERC_ASSERT(norm == MULTILOSS_NORM_NONE || norm == MULTILOSS_NORM_MAX, "multiloss_add: unknown normalisation %d",
                (int)norm);
    MultiLossTerm *t = &ml->term[ml->n];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->w0 = t->w1 = weight;
    t->norm = norm;
    t->value = t->weight = t->scale = t->contribution = NAN;
    return ml->n++;
}

void multiloss_schedule(MultiLoss *ml, int i, float w0, float w1, double e0, double e1) {
    SERC_ASSERT(i >= 0 && i < ml->n, "multiloss_schedule: term %d of %d", i, ml->n);
    SERC_ASSERT(e1 > e0, "multiloss_schedule: ramp from epoch %g to %g (want e1 > e0)", e0, e1);
    MultiLossTerm *t = &ml->term[i];
    t->w0 = w0, t->w1 = w1, t->e0 = e0, t->e1 = e1;
}

void multiloss_set_epoch(MultiLoss *ml, double epoch) { ml->epoch = epoch; }

/* w0 up to e0, w1 from e1, linear in between; a fixed weight has w0 == w1. */
double multiloss_weight(const MultiLoss *ml, int i) {
    SERC_ASSERT(i >= 0 && i < ml->n, "multiloss_weight: term %d of %d", i, ml->n);
    const MultiLossTerm *t = &ml->term[i];
    if (t->w0 == t->w1 || ml->epoch <= t->e0) return t->w0;
    if (ml->epoch >= t->e1) return t->w1;
    return t->w0 + ((double)t->w1 - t->w0) * (ml->epoch - t->e0) / (t->e1 - t->e0);
}

/* The terms and their coefficients weight * scale, for backward. */
typedef struct MultiLossSaved {
    int n;
    Tensor *in[MULTILOSS_MAX_TERMS];
    double coef[MULTILOSS_MAX_TERMS];
} MultiLossSaved;

/* d total / d term_i = coef_i. */
static void multiloss_backward(Ctx *g, TapeNode *n) {
    const MultiLossSaved *s = n->extra;
    double go = tensor_f32(n->out->grad)[0];
    for (int i = 0; i < s->n; i++)
        if (s->in[i]->requires_grad) tensor_grad_f32(g, s->in[i])[0] += (float)(s->coef[i] * go);
}

Tensor *multiloss_combine(Ctx *g, MultiLoss *ml, Tensor *const *terms) {
    MultiLossSaved *s = arena_calloc(&g->arena, sizeof *s);
    double total = 0.0;
    for (int i = 0; i < ml->n; i++) {
        MultiLossTerm *t = &ml->term[i];
        t->weight = multiloss_weight(ml, i);
        if (!terms[i]) {
            t->value = t->scale = t->contribution = NAN;
            continue;
        }
        char d[64];
        SERC_ASSERT(tensor_numel(terms[i]) == 1 && terms[i]->dtype == SERC_F32,
                    "multiloss_combine: term '%s' is %s, want a f32 scalar", t->name,
                    tensor_describe(terms[i], d, sizeof d));
        t->value = tensor_f32(terms[i])[0];
        if (t->norm == MULTILOSS_NORM_MAX) {
            /* the maximum moves only on training steps: evaluation reads it and leaves it alone */
            if (g->training && fabs(t->value) > t->running_max) t->running_max = fabs(t->value);
            t->scale = t->running_max > 0.0 ? 1.0 / t->running_max : 1.0;
        } else {
            t->scale = 1.0;
        }
        t->contribution = t->weight * t->scale * t->value;
        total += t->contribution;
        s->in[s->n] = terms[i];
        s->coef[s->n++] = t->weight * t->scale;
    }
    Tensor *out = loss_scalar(g, total);
    if (ctx_needs_grad(g, s->in, s->n)) {
        /* the node lists the first inputs (TAPE_MAX_INPUTS); backward reads all of them from extra */
        TapeNode *n = ctx_record(g, "multiloss", multiloss_backward, out, s->in,
                                 s->n < TAPE_MAX_INPUTS ? s->n : TAPE_MAX_INPUTS);
        n->extra = s;
    }
    return out;
}

char *multiloss_describe(const MultiLoss *ml, char *buf, size_t n) {
    size_t used = 0;
    if (n) buf[0] = '\0';
    for (int i = 0; i < ml->n && used < n; i++) {
        const MultiLossTerm *t = &ml->term[i];
        int w = snprintf(buf + used, n - used, "%s%s=%.4g*%.3g*%.3g", i ? " " : "", t->name, t->value, t->weight,
                         t->scale);
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}
