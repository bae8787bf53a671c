/* Elementwise ops: broadcasting binary arithmetic, scale and bias, activations, GLU and dropout.
 *
 * The four binary ops share one implementation: a Bcast describes how a and b map onto the output
 * (numpy rules over up to 5 dims, shapes right-aligned), forward walks the output row by row, and
 * backward forms the per-output-element gradient of each operand and sums it back over that operand's
 * broadcast dims, one operand element per iteration so that threads never write the same element.
 */
#include <math.h>
#include <string.h>

#include "ops.h"
#include "rng.h"

/* ---- broadcasting ---- */

/* a and b right-aligned and padded to 5 dims; strides in output index space, 0 where broadcast. */
typedef struct Bcast {
    int ndim;           /* of the output: max(a.ndim, b.ndim) */
    int64_t out[5];     /* output shape, padded with leading 1s */
    int64_t ostr[5];    /* contiguous strides of the output */
    int64_t shp[2][5];  /* operand shapes, padded */
    int64_t str[2][5];  /* operand strides over the output's coordinates (0 on broadcast dims) */
    int64_t numel;
} Bcast;

static void bcast_init(Bcast *bc, const Tensor *a, const Tensor *b) {
    const Tensor *t[2] = {a, b};
    bc->ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int k = 0; k < 2; k++) {
        int pad = 5 - t[k]->ndim;
        for (int d = 0; d < 5; d++) bc->shp[k][d] = d < pad ? 1 : t[k]->shape[d - pad];
    }
    bc->numel = 1;
    for (int d = 4; d >= 0; d--) {
        int64_t sa = bc->shp[0][d], sb = bc->shp[1][d];
        char da[64], db[64];
        SERC_ASSERT(sa == sb || sa == 1 || sb == 1, "broadcast: shapes %s and %s differ in dim %d",
                    tensor_describe(a, da, sizeof da), tensor_describe(b, db, sizeof db), d - (5 - bc->ndim));
        bc->out[d] = sa == 1 ? sb : sa;
    }
    for (int d = 4; d >= 0; d--) {
        bc->ostr[d] = bc->numel;
        bc->numel *= bc->out[d];
    }
    for (int k = 0; k < 2; k++) {
        int64_t s = 1;
        for (int d = 4; d >= 0; d--) {
            bc->str[k][d] = bc->shp[k][d] == 1 ? 0 : s;
            s *= bc->shp[k][d];
        }
    }
}

/* Offsets of a and b for the first element of output row r (a row is the last padded dim). */
static void bcast_row(const Bcast *bc, int64_t r, int64_t *oa, int64_t *ob) {
    *oa = *ob = 0;
    for (int d = 3; d >= 0; d--) {
        int64_t c = r % bc->out[d];
        r /= bc->out[d];
        *oa += c * bc->str[0][d];
        *ob += c * bc->str[1][d];
    }
}

/* g_k += sum over output positions p that read operand k's element j of t[p].
 * t is (out), g is operand k's gradient. One operand element per iteration: no write conflicts. */
static void bcast_reduce(const Bcast *bc, int k, const float *t, float *gk) {
    int64_t n = 1, R = 1;
    for (int d = 0; d < 5; d++) {
        n *= bc->shp[k][d];
        if (bc->shp[k][d] == 1) R *= bc->out[d]; /* broadcast dims (and size-1 out dims, R factor 1) */
    }
    #pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < n; j++) {
        /* output index of the first position reading element j */
        int64_t rem = j, base = 0;
        for (int d = 4; d >= 0; d--) {
            int64_t c = rem % bc->shp[k][d];
            rem /= bc->shp[k][d];
            base += c * bc->ostr[d];
        }
        double acc = 0.0;
        for (int64_t r = 0; r < R; r++) {
            int64_t rr = r, o = base;
            for (int d = 4; d >= 0; d--) {
                if (bc->shp[k][d] != 1) continue;
                o += (rr % bc->out[d]) * bc->ostr[d];
                rr /= bc->out[d];
            }
            acc += t[o];
        }
        gk[j] += (float)acc;
    }
}

typedef enum BinaryKind { BIN_ADD = 0, BIN_SUB, BIN_MUL, BIN_DIV } BinaryKind;

static inline float binary_apply(BinaryKind k, float a, float b) {
    switch (k) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    default: return a / b;
    }
}

/* d(out)/d(operand which) at one position. */
static inline float binary_partial(BinaryKind k, int which, float a, float b) {
    switch (k) {
    case BIN_ADD: return 1.0f;
    case BIN_SUB: return which == 0 ? 1.0f : -1.0f;
    case BIN_MUL: return which == 0 ? b : a;
    default: return which == 0 ? 1.0f / b : -a / (b * b);
    }
}

static void binary_backward(Ctx *g, TapeNode *n) {
    BinaryKind kind = (BinaryKind)n->iattr[0];
    Tensor *y = n->out;
    Bcast bc;
    bcast_init(&bc, n->in[0], n->in[1]);
    const float *gy = tensor_f32(y->grad);
    const float *av = tensor_f32(n->in[0]), *bv = tensor_f32(n->in[1]);
    if (bc.numel == 0) return;
    int64_t W = bc.out[4], rows = bc.numel / W;
    for (int k = 0; k < 2; k++) {
        Tensor *x = n->in[k];
        if (!x->requires_grad) continue;
        float *gx = tensor_grad_f32(g, x);
        int full = tensor_numel(x) == bc.numel; /* no broadcast dims: accumulate in place */
        float *t = full ? gx : tensor_f32(tensor_empty(g, SERC_F32, y->ndim, y->shape));
        #pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            int64_t oa, ob;
            bcast_row(&bc, r, &oa, &ob);
            for (int64_t i = 0; i < W; i++) {
                float d = gy[r * W + i] * binary_partial(kind, k, av[oa + i * bc.str[0][4]], bv[ob + i * bc.str[1][4]]);
                if (full) t[r * W + i] += d;
                else t[r * W + i] = d;
            }
        }
        if (!full) bcast_reduce(&bc, k, t, gx);
    }
}

static const char *const BINARY_NAME[] = {"add", "sub", "mul", "div"};

/* out (broadcast(a, b)) = a `kind` b. */
static Tensor *binary_op(Ctx *g, Tensor *a, Tensor *b, BinaryKind kind) {
    Bcast bc;
    bcast_init(&bc, a, b);
    Tensor *y = tensor_empty(g, SERC_F32, bc.ndim, bc.out + 5 - bc.ndim);
    float *yv = tensor_f32(y);
    const float *av = tensor_f32(a), *bv = tensor_f32(b);
    if (bc.numel > 0) {
        int64_t W = bc.out[4], rows = bc.numel / W;
        int64_t sa = bc.str[0][4], sb = bc.str[1][4];
        #pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            int64_t oa, ob;
            bcast_row(&bc, r, &oa, &ob);
            for (int64_t i = 0; i < W; i++) yv[r * W + i] = binary_apply(kind, av[oa + i * sa], bv[ob + i * sb]);
        }
    }
    Tensor *in[2] = {a, b};
    if (ctx_needs_grad(g, in, 2)) {
        TapeNode *n = ctx_record(g, BINARY_NAME[kind], binary_backward, y, in, 2);
        n->iattr[0] = kind;
    }
    return y;
}

/* a + b with numpy broadcasting (a, b up to 5 dims, right-aligned; sizes equal or 1). */
Tensor *op_add(Ctx *g, Tensor *a, Tensor *b) { return binary_op(g, a, b, BIN_ADD); }
/* a - b with numpy broadcasting. */
Tensor *op_sub(Ctx *g, Tensor *a, Tensor *b) { return binary_op(g, a, b, BIN_SUB); }
/* a * b with numpy broadcasting. */
Tensor *op_mul(Ctx *g, Tensor *a, Tensor *b) { return binary_op(g, a, b, BIN_MUL); }
/* a / b with numpy broadcasting; the caller keeps b away from 0. */
Tensor *op_div(Ctx *g, Tensor *a, Tensor *b) { return binary_op(g, a, b, BIN_DIV); }

/* ---- scale and bias ---- */

static void scale_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->requires_grad) return;
    const float *gy = tensor_f32(n->out->grad);
    float *gx = tensor_grad_f32(g, x);
    float s = (float)n->fattr[0];
    int64_t N = tensor_numel(x);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) gx[i] += s * gy[i];
}

/* y = s * x, any shape. */
Tensor *op_scale(Ctx *g, Tensor *x, float s) {
    Tensor *y = tensor_empty_like(g, x);
    const float *xv = tensor_f32(x);
    float *yv = tensor_f32(y);
    int64_t N = tensor_numel(x);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) yv[i] = s * xv[i];
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, "scale", scale_backward, y, &x, 1);
        n->fattr[0] = s;
    }
    return y;
}

/* Column sums of a (rows, C) matrix accumulated into out (C): out[c] += sum_r m[r, c].
 * Threads own blocks of 64 columns and read them row by row, so every load is a short contiguous run. */
static void sum_rows_into(const float *m, int64_t rows, int64_t C, float *out) {
    int64_t nblk = (C + 63) / 64;
    #pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t c0 = blk * 64, c1 = c0 + 64 < C ? c0 + 64 : C;
        double acc[64] = {0};
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = c0; c < c1; c++) acc[c - c0] += m[r * C + c];
        for (int64_t c = c0; c < c1; c++) out[c] += (float)acc[c - c0];
    }
}

static void bias_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *b = n->in[1];
    const float *gy = tensor_f32(n->out->grad);
    int64_t C = b->shape[0], N = tensor_numel(x);
    if (x->requires_grad) {
        float *gx = tensor_grad_f32(g, x);
        #pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < N; i++) gx[i] += gy[i];
    }
    if (b->requires_grad && C > 0) sum_rows_into(gy, N / C, C, tensor_grad_f32(g, b));
}

/* y (..., C) = x (..., C) + b (C), b added to every row. */
Tensor *op_bias(Ctx *g, Tensor *x, Tensor *b) {
    char dx[64], db[64];
    SERC_ASSERT(x->ndim >= 1 && b->ndim == 1 && b->shape[0] == x->shape[x->ndim - 1],
                "bias: x %s, b %s (want b (C) with C the last dim of x)", tensor_describe(x, dx, sizeof dx),
                tensor_describe(b, db, sizeof db));
    Tensor *y = tensor_empty_like(g, x);
    const float *xv = tensor_f32(x), *bv = tensor_f32(b);
    float *yv = tensor_f32(y);
    int64_t C = b->shape[0], rows = C > 0 ? tensor_numel(x) / C : 0;
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < C; c++) yv[r * C + c] = xv[r * C + c] + bv[c];
    Tensor *in[2] = {x, b};
    if (ctx_needs_grad(g, in, 2)) ctx_record(g, "bias", bias_backward, y, in, 2);
    return y;
}

/* ---- activations ---- */

typedef enum ActKind { ACT_RELU = 0, ACT_GELU, ACT_GELU_TANH, ACT_SILU, ACT_MISH, ACT_SIGMOID, ACT_TANH } ActKind;

static const char *const ACT_NAME[] = {"relu", "gelu", "gelu_tanh", "silu", "mish", "sigmoid", "tanh"};

#define SQRT_2_OVER_PI 0.7978845608028654f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f
#define GELU_TANH_C 0.044715f

/* Overflow-free logistic: exp of a non-positive argument only. */
static inline float sigmoidf_(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* log(1 + e^x) without overflow for large x. */
static inline float softplusf_(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

static inline float act_forward(ActKind k, float x) {
    switch (k) {
    case ACT_RELU: return x > 0 ? x : 0.0f;
    case ACT_GELU: return 0.5f * x * (1.0f + erff(x * INV_SQRT_2));
    case ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x)));
    case ACT_SILU: return x * sigmoidf_(x);
    case ACT_MISH: return x * tanhf(softplusf_(x));
    case ACT_SIGMOID: return sigmoidf_(x);
    default: return tanhf(x);
    }
}

/* dy/dx from the input x and the output y. */
static inline float act_derivative(ActKind k, float x, float y) {
    switch (k) {
    case ACT_RELU: return x > 0 ? 1.0f : 0.0f;
    case ACT_GELU: /* Phi(x) + x phi(x) */
        return 0.5f * (1.0f + erff(x * INV_SQRT_2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
    case ACT_GELU_TANH: {
        float t = tanhf(SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_TANH_C * x * x);
    }
    case ACT_SILU: {
        float s = sigmoidf_(x);
        return s * (1.0f + x * (1.0f - s));
    }
    case ACT_MISH: { /* tanh(sp) + x sech^2(sp) sigmoid(x), sp = softplus(x) */
        float t = tanhf(softplusf_(x));
        return t + x * (1.0f - t * t) * sigmoidf_(x);
    }
    case ACT_SIGMOID: return y * (1.0f - y);
    default: return 1.0f - y * y;
    }
}

static void act_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *y = n->out;
    if (!x->requires_grad) return;
    ActKind k = (ActKind)n->iattr[0];
    const float *gy = tensor_f32(y->grad), *xv = tensor_f32(x), *yv = tensor_f32(y);
    float *gx = tensor_grad_f32(g, x);
    int64_t N = tensor_numel(x);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) gx[i] += gy[i] * act_derivative(k, xv[i], yv[i]);
}

static Tensor *activation(Ctx *g, Tensor *x, ActKind k) {
    Tensor *y = tensor_empty_like(g, x);
    const float *xv = tensor_f32(x);
    float *yv = tensor_f32(y);
    int64_t N = tensor_numel(x);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) yv[i] = act_forward(k, xv[i]);
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, ACT_NAME[k], act_backward, y, &x, 1);
        n->iattr[0] = k;
    }
    return y;
}

/* max(x, 0), any shape; the gradient at exactly 0 is taken as 0. */
Tensor *op_relu(Ctx *g, Tensor *x) { return activation(g, x, ACT_RELU); }
/* Exact GELU (Hendrycks & Gimpel 2016): x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)). */
Tensor *op_gelu(Ctx *g, Tensor *x) { return activation(g, x, ACT_GELU); }
/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
Tensor *op_gelu_tanh(Ctx *g, Tensor *x) { return activation(g, x, ACT_GELU_TANH); }
/* SiLU / swish (Elfwing et al. 2018): x sigmoid(x). */
Tensor *op_silu(Ctx *g, Tensor *x) { return activation(g, x, ACT_SILU); }
/* Mish (Misra 2019): x tanh(softplus(x)). */
Tensor *op_mish(Ctx *g, Tensor *x) { return activation(g, x, ACT_MISH); }
/* 1 / (1 + e^-x). */
Tensor *op_sigmoid(Ctx *g, Tensor *x) { return activation(g, x, ACT_SIGMOID); }
/* tanh(x). */
Tensor *op_tanh(Ctx *g, Tensor *x) { return activation(g, x, ACT_TANH); }

/* ---- GLU ---- */

/* x viewed as (outer, 2H, inner) with the split dim in the middle: a = [:, :H], b = [:, H:]. */
typedef struct GluDims {
    int64_t outer, H, inner;
} GluDims;

static GluDims glu_dims(const Tensor *x, int dim) {
    GluDims d = {1, x->shape[dim] / 2, 1};
    for (int i = 0; i < dim; i++) d.outer *= x->shape[i];
    for (int i = dim + 1; i < x->ndim; i++) d.inner *= x->shape[i];
    return d;
}

static void glu_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->requires_grad) return;
    GluDims d = glu_dims(x, (int)n->iattr[0]);
    const float *gy = tensor_f32(n->out->grad), *xv = tensor_f32(x);
    float *gx = tensor_grad_f32(g, x);
    int64_t half = d.H * d.inner;
    #pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < d.outer; o++) {
        for (int64_t j = 0; j < half; j++) {
            int64_t ia = o * 2 * half + j, ib = ia + half;
            float s = sigmoidf_(xv[ib]), go = gy[o * half + j];
            gx[ia] += go * s;
            gx[ib] += go * xv[ia] * s * (1.0f - s);
        }
    }
}

/* Gated linear unit (Dauphin et al. 2017): x split along dim (negative counts from the end) into
 * halves a, b; y = a * sigmoid(b), with y.shape[dim] = x.shape[dim] / 2. */
Tensor *op_glu(Ctx *g, Tensor *x, int dim) {
    char dx[64];
    if (dim < 0) dim += x->ndim;
    SERC_ASSERT(dim >= 0 && dim < x->ndim && x->shape[dim] % 2 == 0, "glu: dim %d of %s (must exist and be even)",
                dim, tensor_describe(x, dx, sizeof dx));
    int64_t shape[SERC_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] /= 2;
    Tensor *y = tensor_empty(g, SERC_F32, x->ndim, shape);
    GluDims d = glu_dims(x, dim);
    const float *xv = tensor_f32(x);
    float *yv = tensor_f32(y);
    int64_t half = d.H * d.inner;
    #pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < d.outer; o++)
        for (int64_t j = 0; j < half; j++) {
            int64_t ia = o * 2 * half + j;
            yv[o * half + j] = xv[ia] * sigmoidf_(xv[ia + half]);
        }
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, "glu", glu_backward, y, &x, 1);
        n->iattr[0] = dim;
    }
    return y;
}

/* ---- dropout ---- */

static void dropout_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->requires_grad) return;
    const float *gy = tensor_f32(n->out->grad);
    const uint8_t *keep = tensor_u8(n->saved[0]);
    float *gx = tensor_grad_f32(g, x);
    float scale = (float)n->fattr[0];
    int64_t N = tensor_numel(x);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) gx[i] += keep[i] ? gy[i] * scale : 0.0f;
}

/* Inverted dropout, any shape. Training with p > 0: element i survives iff
 * serc_rng_uniform01(g->seed, g->rng_offset, i) >= p and is scaled by 1/(1-p) (p = 1 zeroes all);
 * then g->rng_offset advances by serc_rng_blocks(numel), so the next draw uses fresh counters.
 * Otherwise (eval, or p = 0) returns x itself: no copy, no tape node, no counter advance. */
Tensor *op_dropout(Ctx *g, Tensor *x, float p) {
    SERC_ASSERT(p >= 0.0f && p <= 1.0f, "dropout: p = %g outside [0, 1]", (double)p);
    if (!g->training || p == 0.0f) return x;
    int64_t N = tensor_numel(x);
    uint64_t base = g->rng_offset;
    g->rng_offset += serc_rng_blocks(N);
    Tensor *y = tensor_empty_like(g, x);
    Tensor *mask = tensor_empty(g, SERC_U8, x->ndim, x->shape);
    const float *xv = tensor_f32(x);
    float *yv = tensor_f32(y);
    uint8_t *keep = tensor_u8(mask);
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    uint64_t seed = g->seed;
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) {
        keep[i] = serc_rng_uniform01(seed, base, (uint64_t)i) >= p;
        yv[i] = keep[i] ? xv[i] * scale : 0.0f;
    }
    if (ctx_needs_grad(g, &x, 1)) {
        TapeNode *n = ctx_record(g, "dropout", dropout_backward, y, &x, 1);
        n->saved[0] = mask;
        n->fattr[0] = scale;
    }
    return y;
}
