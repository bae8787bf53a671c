#include "demo.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conv_attn.h"
#include "optim.h"
#include "rng.h"

void demo_default_options(DemoOptions *o) {
    o->steps = 300;
    o->batch = 16;
    o->classes = 4;
    o->features = 16;
    o->dim = 32;
    o->heads = 4;
    o->t_min = 20;
    o->t_max = 60;
    o->eval_items = 256;
    o->log_every = 25;
    o->lr = 3e-3f;
    o->seed = 1234;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Batch `index` of the stream `stream` (0 training, 1 evaluation): x (B, T_max, F), lengths, mask, labels. */
typedef struct DemoBatch {
    Tensor *x, *lengths, *mask, *onehot;
    int32_t labels[1024];
} DemoBatch;

static void make_batch(Ctx *g, const DemoOptions *o, int stream, int64_t index, int B, DemoBatch *b) {
    const int F = o->features, T = o->t_max;
    b->x = tensor_zeros(g, SERC_F32, SHAPE(B, T, F));
    b->lengths = tensor_empty(g, SERC_I32, SHAPE(B));
    b->mask = tensor_zeros(g, SERC_U8, SHAPE(B, T));
    b->onehot = tensor_zeros(g, SERC_F32, SHAPE(B, o->classes));
    float *x = tensor_f32(b->x), *oh = tensor_f32(b->onehot);
    int32_t *len = tensor_i32(b->lengths);
    uint8_t *m = tensor_u8(b->mask);
    uint64_t key = o->seed * 1000003ull + (uint64_t)stream;
    const int band = F / o->classes;
    for (int i = 0; i < B; i++) {
        uint64_t item = (uint64_t)index * (uint64_t)B + (uint64_t)i, off = item * 4096;
        int L = o->t_min + (int)(serc_rng_u32(key, off, 0) % (uint32_t)(o->t_max - o->t_min + 1));
        int c = (int)(serc_rng_u32(key, off, 1) % (uint32_t)o->classes);
        int burst = 4, at = (int)(serc_rng_u32(key, off, 2) % (uint32_t)(L - burst + 1));
        len[i] = L;
        b->labels[i] = c;
        oh[i * o->classes + c] = 1.0f;
        serc_rng_fill_normal(x + (int64_t)i * T * F, (int64_t)L * F, key, off + 1, 0.0f, 1.0f);
        for (int t = at; t < at + burst; t++)
            for (int f = c * band; f < (c + 1) * band; f++) x[((int64_t)i * T + t) * F + f] += 2.5f;
        for (int t = 0; t < L; t++) m[i * T + t] = 1;
    }
}

/* Mean negative log-likelihood: -(1/B) sum_b log_softmax(logits)[b, y_b]. */
static Tensor *nll_loss(Ctx *g, Tensor *logits, Tensor *onehot) {
    Tensor *lp = op_log_softmax(g, logits, NULL);
    return op_scale(g, op_sum(g, op_mul(g, lp, onehot)), -1.0f / (float)logits->shape[0]);
}

void demo_run(const DemoOptions *o, DemoResult *r) {
    SERC_ASSERT(o->batch <= 1024 && o->classes * 1 <= o->features, "demo: batch <= 1024 and classes <= features");
    memset(r, 0, sizeof *r);
    ParamStore *ps = params_new();
    ConvAttnClassifier m;
    conv_attn_register(&m, ps, o->features, o->dim, o->heads, o->classes);
    params_finalize(ps);
    conv_attn_init(&m, o->seed);
    r->params = params_count(ps);
    if (o->log_every > 0)
        printf("demo: ConvAttnClassifier, %lld parameters, %d classes, batch %d, %d steps, %d threads\n",
               (long long)r->params, o->classes, o->batch, o->steps, serc_num_threads());

    AdamW opt;
    adamw_init(&opt, r->params, o->lr, 0.01f);
    Ctx *g = ctx_new(o->seed);
    double t0 = now_ms(), loss_window = 0;
    int window = 0;
    for (int step = 0; step < o->steps; step++) {
        ctx_step_begin(g);
        DemoBatch b;
        make_batch(g, o, 0, step, o->batch, &b);
        Tensor *loss = nll_loss(g, conv_attn_forward(g, &m, b.x, b.lengths, b.mask), b.onehot);
        params_zero_grad(ps);
        serc_backward(g, loss, NULL);
        clip_grad_norm(params_grad(ps), r->params, 5.0);
        adamw_step(&opt, params_data(ps), params_grad(ps));
        double l = tensor_f32(loss)[0];
        if (step == 0) r->first_loss = l;
        loss_window += l;
        window++;
        if (o->log_every > 0 && ((step + 1) % o->log_every == 0 || step + 1 == o->steps)) {
            printf("step %4d/%d  loss %.4f  %.1f ms/step  arena peak %.2f MiB\n", step + 1, o->steps,
                   loss_window / window, (now_ms() - t0) / (step + 1), g->arena.peak / 1048576.0);
            fflush(stdout);
            r->final_loss = loss_window / window;
            loss_window = 0;
            window = 0;
        }
    }
    if (window) r->final_loss = loss_window / window;
    r->ms_per_step = o->steps ? (now_ms() - t0) / o->steps : 0;

    /* held-out evaluation without recording */
    int was = ctx_no_grad(g), correct = 0, seen = 0;
    g->training = 0;
    for (int64_t bi = 0; seen < o->eval_items; bi++) {
        ctx_step_begin(g);
        int B = o->eval_items - seen < o->batch ? o->eval_items - seen : o->batch;
        DemoBatch b;
        make_batch(g, o, 1, bi, B, &b);
        const float *lg = tensor_f32(conv_attn_forward(g, &m, b.x, b.lengths, b.mask));
        for (int i = 0; i < B; i++) {
            int best = 0;
            for (int c = 1; c < o->classes; c++)
                if (lg[i * o->classes + c] > lg[i * o->classes + best]) best = c;
            correct += best == b.labels[i];
        }
        seen += B;
    }
    ctx_set_grad(g, was);
    r->accuracy = (double)correct / seen;
    r->arena_peak = g->arena.peak;
    ctx_free(g);
    adamw_free(&opt);
    params_free(ps);
}
