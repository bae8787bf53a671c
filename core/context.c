#include "context.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int serc_num_threads(void) {
    const char *s = getenv("SERC_THREADS");
    if (s && *s) {
        int n = atoi(s);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

Ctx *ctx_new(uint64_t seed) {
    Ctx *g = serc_calloc(1, sizeof *g);
    g->device.type = SERC_CPU;
    arena_init(&g->arena, 0);
    g->grad_enabled = 1;
    g->training = 1;
    g->seed = seed;
    g->threads = serc_num_threads();
#ifdef _OPENMP
    omp_set_num_threads(g->threads);
#endif
    /* OpenBLAS keeps its own thread pool: SERC_THREADS governs sgemm too */
    openblas_set_num_threads(g->threads);
    return g;
}

void ctx_free(Ctx *g) {
    if (!g) return;
    arena_free(&g->arena);
    free(g->tape);
    free(g);
}

void ctx_step_begin(Ctx *g) {
    arena_reset(&g->arena);
    g->tape_len = 0;
}

int ctx_no_grad(Ctx *g) {
    int was = g->grad_enabled;
    g->grad_enabled = 0;
    return was;
}

void ctx_set_grad(Ctx *g, int enabled) { g->grad_enabled = enabled; }

Tensor *tensor_empty(Ctx *g, SercDType dt, int ndim, const int64_t *shape) {
    Tensor *t = arena_calloc(&g->arena, sizeof *t);
    t->dtype = dt;
    t->device = g->device;
    tensor_set_shape(t, ndim, shape);
    t->data = arena_alloc(&g->arena, tensor_nbytes(t));
    return t;
}

Tensor *tensor_zeros(Ctx *g, SercDType dt, int ndim, const int64_t *shape) {
    Tensor *t = tensor_empty(g, dt, ndim, shape);
    memset(t->data, 0, tensor_nbytes(t));
    return t;
}

Tensor *tensor_empty_like(Ctx *g, const Tensor *t) { return tensor_empty(g, SERC_F32, t->ndim, t->shape); }

Tensor *tensor_view_header(Ctx *g, const Tensor *t) {
    Tensor *v = arena_alloc(&g->arena, sizeof *v);
    *v = *t;
    v->grad = NULL;
    v->requires_grad = 0;
    v->name = NULL;
    return v;
}

int ctx_needs_grad(const Ctx *g, Tensor *const *inputs, int n) {
    if (!g->grad_enabled) return 0;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return 1;
    return 0;
}

TapeNode *ctx_record(Ctx *g, const char *op, BackwardFn backward, Tensor *out, Tensor *const *inputs, int n) {
    SERC_ASSERT(n <= TAPE_MAX_INPUTS, "op %s records %d inputs (at most %d)", op, n, TAPE_MAX_INPUTS);
    TapeNode *node = arena_calloc(&g->arena, sizeof *node);
    node->op = op;
    node->backward = backward;
    node->out = out;
    node->n_in = n;
    for (int i = 0; i < n; i++) node->in[i] = inputs[i];
    out->requires_grad = 1;
    if (g->tape_len == g->tape_cap) {
        g->tape_cap = g->tape_cap ? 2 * g->tape_cap : 256;
        g->tape = serc_realloc(g->tape, (size_t)g->tape_cap * sizeof *g->tape);
    }
    g->tape[g->tape_len++] = node;
    return node;
}

float *tensor_grad_f32(Ctx *g, Tensor *t) {
    if (!t->grad) {
        t->grad = tensor_zeros(g, SERC_F32, t->ndim, t->shape);
    }
    return tensor_f32(t->grad);
}

void serc_backward(Ctx *g, Tensor *out, const Tensor *grad_out) {
    SERC_ASSERT(out->requires_grad, "backward from a tensor that does not require grad (recording off, or no parameter feeds it)");
    float *go = tensor_grad_f32(g, out);
    if (grad_out) {
        char a[64], b[64];
        SERC_ASSERT(tensor_same_shape(out, grad_out), "backward: grad_out %s for output %s",
                    tensor_describe(grad_out, a, sizeof a), tensor_describe(out, b, sizeof b));
        const float *src = tensor_f32(grad_out);
        for (int64_t i = 0; i < tensor_numel(out); i++) go[i] += src[i];
    } else {
        char a[64];
        SERC_ASSERT(tensor_numel(out) == 1, "backward without grad_out needs a scalar output, got %s",
                    tensor_describe(out, a, sizeof a));
        go[0] += 1.0f;
    }
    /* nodes run in reverse record order: every consumer of a tensor was recorded after it, so its
     * gradient is complete before its producer's backward reads it */
    int was = ctx_no_grad(g);
    for (int64_t i = g->tape_len - 1; i >= 0; i--) {
        TapeNode *n = g->tape[i];
        if (!n->out->grad) continue; /* does not reach the output */
        n->backward(g, n);
    }
    ctx_set_grad(g, was);
}
