#include "params.h"

#include <stdlib.h>
#include <string.h>

typedef struct ParamEntry {
    Tensor *t;
    int trainable;
} ParamEntry;

struct ParamStore {
    ParamEntry *e;
    int n, cap;
    int finalized;
    float *data, *grad, *buffers;
    int64_t count, buffer_count;
};

ParamStore *params_new(void) { return serc_calloc(1, sizeof(ParamStore)); }

void params_free(ParamStore *ps) {
    if (!ps) return;
    for (int i = 0; i < ps->n; i++) {
        if (ps->finalized && ps->e[i].trainable) free(ps->e[i].t->grad);
        free((char *)ps->e[i].t->name);
        free(ps->e[i].t);
    }
    free(ps->e);
    free(ps->data);
    free(ps->grad);
    free(ps->buffers);
    free(ps);
}

static Tensor *add_entry(ParamStore *ps, const char *name, int ndim, const int64_t *shape, int trainable) {
    SERC_ASSERT(!ps->finalized, "parameter %s registered after params_finalize", name);
    SERC_ASSERT(params_get(ps, name) == NULL, "parameter %s registered twice", name);
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 64;
        ps->e = serc_realloc(ps->e, (size_t)ps->cap * sizeof *ps->e);
    }
    Tensor *t = serc_calloc(1, sizeof *t);
    t->dtype = SERC_F32;
    tensor_set_shape(t, ndim, shape);
    t->name = serc_strdup(name);
    t->requires_grad = trainable;
    ps->e[ps->n].t = t;
    ps->e[ps->n].trainable = trainable;
    ps->n++;
    return t;
}

Tensor *params_add(ParamStore *ps, const char *name, int ndim, const int64_t *shape) {
    return add_entry(ps, name, ndim, shape, 1);
}

Tensor *params_add_buffer(ParamStore *ps, const char *name, int ndim, const int64_t *shape) {
    return add_entry(ps, name, ndim, shape, 0);
}

void params_finalize(ParamStore *ps) {
    SERC_ASSERT(!ps->finalized, "params_finalize called twice");
    ps->count = ps->buffer_count = 0;
    for (int i = 0; i < ps->n; i++) {
        int64_t k = tensor_numel(ps->e[i].t);
        if (ps->e[i].trainable) ps->count += k;
        else ps->buffer_count += k;
    }
    ps->data = serc_calloc((size_t)ps->count + 1, sizeof(float));
    ps->grad = serc_calloc((size_t)ps->count + 1, sizeof(float));
    ps->buffers = serc_calloc((size_t)ps->buffer_count + 1, sizeof(float));
    int64_t off = 0, boff = 0;
    for (int i = 0; i < ps->n; i++) {
        Tensor *t = ps->e[i].t;
        int64_t k = tensor_numel(t);
        if (ps->e[i].trainable) {
            t->data = ps->data + off;
            /* the gradient view is a header of its own pointing into the flat gradient buffer */
            Tensor *gr = serc_calloc(1, sizeof *gr);
            gr->dtype = SERC_F32;
            tensor_set_shape(gr, t->ndim, t->shape);
            gr->data = ps->grad + off;
            t->grad = gr;
            off += k;
        } else {
            t->data = ps->buffers + boff;
            boff += k;
        }
    }
    ps->finalized = 1;
}

int params_len(const ParamStore *ps) { return ps->n; }
Tensor *params_at(const ParamStore *ps, int i) { return ps->e[i].t; }
int params_is_trainable(const ParamStore *ps, int i) { return ps->e[i].trainable; }

Tensor *params_get(const ParamStore *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->e[i].t->name, name) == 0) return ps->e[i].t;
    return NULL;
}

int64_t params_count(const ParamStore *ps) { return ps->count; }
float *params_data(const ParamStore *ps) { return ps->data; }
float *params_grad(const ParamStore *ps) { return ps->grad; }

void params_zero_grad(ParamStore *ps) { memset(ps->grad, 0, (size_t)ps->count * sizeof(float)); }
