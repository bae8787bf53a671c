/* Dense algebra: batched matmul and torch-style linear, both on OpenBLAS sgemm.
 *
 * OpenBLAS here is the pthread build, which must not be called from inside an OpenMP parallel region:
 * every sgemm below is issued from serial code, looping over the batch, and sgemm threads itself.
 */
#include <cblas.h>
#include <string.h>

#include "ops.h"

/* C (M, N, leading dim ldc) = alpha op(A) op(B) + beta C, row-major, with the degenerate sizes that
 * BLAS rejects handled here: nothing to do when M or N is 0, and C = beta C when K is 0. */
static void sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    if (K == 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                (int)K, 1.0f, A, (int)(lda > 0 ? lda : 1), B, (int)(ldb > 0 ? ldb : 1), beta, C,
                (int)(ldc > 0 ? ldc : 1));
}

/* The geometry of one matmul, kept for backward in iattr: trans flags, M, N, K, batch, and whether b
 * is one 2-D matrix shared by every batch item. */
enum { MM_TA, MM_TB, MM_M, MM_N, MM_K, MM_BATCH, MM_SHARED };

/* C = op(A) op(B), per batch item. When b is shared and a is not transposed, the batch folds into M:
 * a is then one (batch M, K) matrix, and one sgemm does the whole batch (and, in backward, the sum of
 * b's gradient over the batch). */
static void matmul_backward(Ctx *g, TapeNode *n) {
    Tensor *a = n->in[0], *b = n->in[1], *c = n->out;
    int ta = (int)n->iattr[MM_TA], tb = (int)n->iattr[MM_TB], shared = (int)n->iattr[MM_SHARED];
    int64_t M = n->iattr[MM_M], N = n->iattr[MM_N], K = n->iattr[MM_K], batch = n->iattr[MM_BATCH];
    int64_t lda = ta ? M : K, ldb = tb ? K : N;
    const float *dc = tensor_f32(c->grad), *av = tensor_f32(a), *bv = tensor_f32(b);
    int fold = shared && !ta;
    int64_t items = fold ? 1 : batch, Mi = fold ? batch * M : M;
    if (a->requires_grad) {
        float *da = tensor_grad_f32(g, a);
        for (int64_t i = 0; i < items; i++) {
            const float *bi = bv + (shared ? 0 : i * K * N);
            const float *dci = dc + i * Mi * N;
            float *dai = da + i * Mi * K;
            if (!ta) /* dA (M, K) = dC op(B)^T */
                sgemm(0, !tb, Mi, K, N, dci, N, bi, ldb, 1.0f, dai, K);
            else /* A is (K, M): dA = op(B) dC^T */
                sgemm(tb, 1, K, Mi, N, bi, ldb, dci, N, 1.0f, dai, M);
        }
    }
    if (b->requires_grad) {
        float *db = tensor_grad_f32(g, b);
        for (int64_t i = 0; i < items; i++) {
            const float *ai = av + i * Mi * K;
            const float *dci = dc + i * Mi * N;
            float *dbi = db + (shared ? 0 : i * K * N); /* shared: every item adds into the one gradient */
            if (!tb) /* dB (K, N) = op(A)^T dC */
                sgemm(!ta, 0, K, N, Mi, ai, lda, dci, N, 1.0f, dbi, N);
            else /* B is (N, K): dB = dC^T op(A) */
                sgemm(1, ta, N, K, Mi, dci, N, ai, lda, 1.0f, dbi, K);
        }
    }
}

/* C = op(A) op(B): a (..., M, K) or (..., K, M) when trans_a, b (..., K, N) or (..., N, K) when trans_b,
 * batch dims equal or b 2-D shared by every item -> (..., M, N). */
Tensor *op_matmul(Ctx *g, Tensor *a, Tensor *b, int trans_a, int trans_b) {
    char sa[64], sb[64];
    const float *av = tensor_f32(a), *bv = tensor_f32(b);
    SERC_ASSERT(a->ndim >= 2 && b->ndim >= 2, "matmul: %s x %s needs matrices", tensor_describe(a, sa, sizeof sa),
                tensor_describe(b, sb, sizeof sb));
    int shared = b->ndim == 2;
    int same_batch = b->ndim == a->ndim;
    for (int d = 0; same_batch && d < a->ndim - 2; d++) same_batch = a->shape[d] == b->shape[d];
    int64_t M = a->shape[a->ndim - (trans_a ? 1 : 2)], Ka = a->shape[a->ndim - (trans_a ? 2 : 1)];
    int64_t Kb = b->shape[b->ndim - (trans_b ? 1 : 2)], N = b->shape[b->ndim - (trans_b ? 2 : 1)];
    SERC_ASSERT(Ka == Kb && (shared || same_batch), "matmul: %s%s x %s%s do not match",
                tensor_describe(a, sa, sizeof sa), trans_a ? "^T" : "", tensor_describe(b, sb, sizeof sb),
                trans_b ? "^T" : "");
    int64_t K = Ka, batch = 1, shape[SERC_MAX_DIMS];
    for (int d = 0; d < a->ndim - 2; d++) {
        shape[d] = a->shape[d];
        batch *= a->shape[d];
    }
    shape[a->ndim - 2] = M;
    shape[a->ndim - 1] = N;
    Tensor *c = tensor_empty(g, SERC_F32, a->ndim, shape);
    float *cv = tensor_f32(c);
    int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
    int fold = shared && !trans_a;
    int64_t items = fold ? 1 : batch, Mi = fold ? batch * M : M;
    for (int64_t i = 0; i < items; i++)
        sgemm(trans_a, trans_b, Mi, N, K, av + i * Mi * K, lda, bv + (shared ? 0 : i * K * N), ldb, 0.0f,
              cv + i * Mi * N, N);
    Tensor *in[2] = {a, b};
    if (ctx_needs_grad(g, in, 2)) {
        TapeNode *n = ctx_record(g, "matmul", matmul_backward, c, in, 2);
        n->iattr[MM_TA] = trans_a != 0;
        n->iattr[MM_TB] = trans_b != 0;
        n->iattr[MM_M] = M;
        n->iattr[MM_N] = N;
        n->iattr[MM_K] = K;
        n->iattr[MM_BATCH] = batch;
        n->iattr[MM_SHARED] = shared;
    }
    return c;
}

/* x (R, in) flattened (R in iattr[0]), w (out, in), y (R, out):
 * dx += dy W, dW += dy^T x, db += sum over rows of dy. */
static void linear_backward(Ctx *g, TapeNode *n) {
    Tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL, *y = n->out;
    int64_t Out = w->shape[0], In = w->shape[1], R = n->iattr[0];
    const float *dy = tensor_f32(y->grad);
    if (x->requires_grad) sgemm(0, 0, R, In, Out, dy, Out, tensor_f32(w), In, 1.0f, tensor_grad_f32(g, x), In);
    if (w->requires_grad) sgemm(1, 0, Out, In, R, dy, Out, tensor_f32(x), In, 1.0f, tensor_grad_f32(g, w), In);
    if (b && b->requires_grad) {
        float *db = tensor_grad_f32(g, b);
        #pragma omp parallel for
        for (int64_t o = 0; o < Out; o++) {
            double s = 0;
            for (int64_t r = 0; r < R; r++) s += dy[r * Out + o];
            db[o] += (float)s;
        }
    }
}

/* y = x W^T + b as torch.nn.Linear: x (..., in), w (out, in), b (out) or NULL -> (..., out). */
Tensor *op_linear(Ctx *g, Tensor *x, Tensor *w, Tensor *b) {
    char sx[64], sw[64];
    const float *xv = tensor_f32(x), *wv = tensor_f32(w);
    SERC_ASSERT(x->ndim >= 1 && w->ndim == 2 && x->shape[x->ndim - 1] == w->shape[1],
                "linear: input %s, weight %s (expected (..., in) and (out, in))", tensor_describe(x, sx, sizeof sx),
                tensor_describe(w, sw, sizeof sw));
    int64_t Out = w->shape[0], In = w->shape[1];
    if (b)
        SERC_ASSERT(b->ndim == 1 && b->shape[0] == Out, "linear: bias %s for weight %s",
                    tensor_describe(b, sx, sizeof sx), tensor_describe(w, sw, sizeof sw));
    int64_t shape[SERC_MAX_DIMS], R = 1;
    for (int d = 0; d < x->ndim - 1; d++) {
        shape[d] = x->shape[d];
        R *= x->shape[d];
    }
    shape[x->ndim - 1] = Out;
    Tensor *y = tensor_empty(g, SERC_F32, x->ndim, shape);
    float *yv = tensor_f32(y);
    sgemm(0, 1, R, Out, In, xv, In, wv, In, 0.0f, yv, Out);
    if (b) {
        const float *bv = tensor_f32(b);
        #pragma omp parallel for
        for (int64_t r = 0; r < R; r++)
            for (int64_t o = 0; o < Out; o++) yv[r * Out + o] += bv[o];
    }
    Tensor *in[3] = {x, w, b};
    if (ctx_needs_grad(g, in, b ? 3 : 2)) {
        TapeNode *n = ctx_record(g, "linear", linear_backward, y, in, b ? 3 : 2);
        n->iattr[0] = R; /* rows of the flattened x */
    }
    return y;
}
