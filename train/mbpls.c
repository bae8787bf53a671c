/* Multiblock PLS as mbpls 1.0.4 computes it (method='NIPALS'); see mbpls.h for the algorithm. */
#include "mbpls.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

/* A deflated block whose Frobenius norm falls below this fraction of its standardised norm has nothing
 * left to explain: its weights would be rounding noise (mbpls divides by that noise). */
#define MBPLS_EXHAUSTED 1e-10

MbplsOptions mbpls_default_options(void) {
    MbplsOptions o = {.components = 2, .standardize = 1, .max_iter = 500, .tol = 1e-14};
    return o;
}

static double norm2(const double *x, int64_t n) { return sqrt(cblas_ddot((int)n, x, 1, x, 1)); }

static int all_finite(const double *x, int64_t n, int64_t cols, int64_t *bad_row, int64_t *bad_col) {
    for (int64_t i = 0; i < n * cols; i++)
        if (!isfinite(x[i])) {
            *bad_row = i / cols, *bad_col = i % cols;
            return 0;
        }
    return 1;
}

/* StandardScaler.fit (scikit-learn 1.7, dense float64): mean = sum/n; variance by the corrected two-pass
 * formula (sum d^2 - (sum d)^2 / n) / n with d = x - mean; scale = sqrt(var), or 1 where the column is
 * constant by _is_constant_feature. Returns the number of constant columns. */
static int standard_scaler_fit(const double *x, int64_t n, int p, double *mean, double *scale) {
    const double eps = 2.220446049250313e-16;
    int n_const = 0;
    for (int j = 0; j < p; j++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += x[i * p + j];
        double mu = s / (double)n, ss = 0, corr = 0;
        for (int64_t i = 0; i < n; i++) {
            double d = x[i * p + j] - mu;
            ss += d * d;
            corr += d;
        }
        double var = (ss - corr * corr / (double)n) / (double)n;
        double bound = (double)n * eps * var + ((double)n * mu * eps) * ((double)n * mu * eps);
        mean[j] = mu;
        if (var <= bound) {
            scale[j] = 1.0;
            n_const++;
        } else {
            scale[j] = sqrt(var);
        }
    }
    return n_const;
}

/* out (n x p) = (x - mean) / scale. */
static void standard_scaler_apply(double *out, const double *x, int64_t n, int p, const double *mean, const double *scale) {
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < p; j++) out[i * p + j] = (x[i * p + j] - mean[j]) / scale[j];
}

void mbpls_free(MbplsModel *m) {
    if (!m) return;
    for (int b = 0; b < m->n_blocks; b++) {
        if (m->x_mean) free(m->x_mean[b]);
        if (m->x_std) free(m->x_std[b]);
        if (m->W) free(m->W[b]);
        if (m->P) free(m->P[b]);
        if (m->T) free(m->T[b]);
    }
    free(m->x_mean), free(m->x_std), free(m->W), free(m->P), free(m->T);
    free(m->block_dims), free(m->y_mean), free(m->y_std), free(m->Ts), free(m->A), free(m->A_corrected);
    free(m->V), free(m->U), free(m->Vy), free(m->R), free(m->beta), free(m->explained_var_x);
    free(m->explained_var_y), free(m->explained_var_xblocks), free(m->n_iter);
    memset(m, 0, sizeof *m);
}

/* Allocates every array of m for the given sizes (zeroed). */
static void model_alloc(MbplsModel *m, int B, const int *p, int64_t n, int q, int K) {
    memset(m, 0, sizeof *m);
    m->n_blocks = B, m->components = K, m->n_targets = q, m->n_samples = n;
    m->block_dims = serc_malloc(sizeof(int) * (size_t)B);
    m->x_mean = serc_calloc((size_t)B, sizeof(double *));
    m->x_std = serc_calloc((size_t)B, sizeof(double *));
    m->W = serc_calloc((size_t)B, sizeof(double *));
    m->P = serc_calloc((size_t)B, sizeof(double *));
    m->T = serc_calloc((size_t)B, sizeof(double *));
    for (int b = 0; b < B; b++) {
        m->block_dims[b] = p[b];
        m->n_features += p[b];
        m->x_mean[b] = serc_calloc((size_t)p[b], sizeof(double));
        m->x_std[b] = serc_calloc((size_t)p[b], sizeof(double));
        m->W[b] = serc_calloc((size_t)p[b] * (size_t)K, sizeof(double));
        m->P[b] = serc_calloc((size_t)p[b] * (size_t)K, sizeof(double));
        m->T[b] = serc_calloc((size_t)n * (size_t)K, sizeof(double));
    }
    m->y_mean = serc_calloc((size_t)q, sizeof(double));
    m->y_std = serc_calloc((size_t)q, sizeof(double));
    m->Ts = serc_calloc((size_t)n * (size_t)K, sizeof(double));
    m->A = serc_calloc((size_t)B * (size_t)K, sizeof(double));
    m->A_corrected = serc_calloc((size_t)B * (size_t)K, sizeof(double));
    m->V = serc_calloc((size_t)B * (size_t)K, sizeof(double));
    m->U = serc_calloc((size_t)n * (size_t)K, sizeof(double));
    m->Vy = serc_calloc((size_t)q * (size_t)K, sizeof(double));
    m->R = serc_calloc((size_t)m->n_features * (size_t)K, sizeof(double));
    m->beta = serc_calloc((size_t)m->n_features * (size_t)q, sizeof(double));
    m->explained_var_x = serc_calloc((size_t)K, sizeof(double));
    m->explained_var_y = serc_calloc((size_t)K, sizeof(double));
    m->explained_var_xblocks = serc_calloc((size_t)B * (size_t)K, sizeof(double));
    m->n_iter = serc_calloc((size_t)K, sizeof(int));
}

/* Inverts the K x K matrix a in place (Gauss-Jordan, partial pivoting). -1 when singular. mbpls uses
 * pinv; for the invertible P'W of NIPALS the two agree. */
static int invert_small(double *a, int K) {
    int *piv = serc_malloc(sizeof(int) * (size_t)K);
    double amax = 0;
    for (int i = 0; i < K * K; i++) amax = fmax(amax, fabs(a[i]));
    int rc = 0;
    for (int c = 0; c < K && rc == 0; c++) {
        int r = c;
        for (int i = c + 1; i < K; i++)
            if (fabs(a[i * K + c]) > fabs(a[r * K + c])) r = i;
        if (!(fabs(a[r * K + c]) > 1e-13 * amax)) {
            rc = -1;
            break;
        }
        piv[c] = r;
        if (r != c)
            for (int j = 0; j < K; j++) {
                double t = a[c * K + j];
                a[c * K + j] = a[r * K + j], a[r * K + j] = t;
            }
        double d = a[c * K + c];
        a[c * K + c] = 1.0;
        for (int j = 0; j < K; j++) a[c * K + j] /= d;
        for (int i = 0; i < K; i++) {
            if (i == c) continue;
            double f = a[i * K + c];
            a[i * K + c] = 0.0;
            for (int j = 0; j < K; j++) a[i * K + j] -= f * a[c * K + j];
        }
    }
    for (int c = K - 1; c >= 0 && rc == 0; c--)
        if (piv[c] != c)
            for (int i = 0; i < K; i++) {
                double t = a[i * K + c];
                a[i * K + c] = a[i * K + piv[c]], a[i * K + piv[c]] = t;
            }
    free(piv);
    return rc;
}

/* Checks the inputs of mbpls_fit; messages name the block (0-based) and the fault. */
static int check_fit_inputs(const double *const *X, const int *p, int B, int64_t n, const double *Y, int q,
                            const MbplsOptions *o, SercErr *err) {
    if (B < 1) return serc_fail(err, "mbpls: no blocks given");
    if (o->components < 1) return serc_fail(err, "mbpls: components must be at least 1 (got %d)", o->components);
    if (o->max_iter < 2) return serc_fail(err, "mbpls: max_iter must be at least 2 (got %d)", o->max_iter);
    if (!(o->tol >= 0)) return serc_fail(err, "mbpls: tol must be >= 0");
    if (n < 2) return serc_fail(err, "mbpls: at least 2 samples are needed (got %lld)", (long long)n);
    if (q < 1) return serc_fail(err, "mbpls: the response has no columns");
    int64_t r, c;
    for (int b = 0; b < B; b++) {
        if (p[b] < 1) return serc_fail(err, "mbpls: block %d is empty (0 features)", b);
        if (!all_finite(X[b], n, p[b], &r, &c))
            return serc_fail(err, "mbpls: block %d: row %lld, column %lld is %s (NaN and Inf are not allowed)", b,
                             (long long)r, (long long)c, isnan(X[b][r * p[b] + c]) ? "NaN" : "Inf");
    }
    if (!all_finite(Y, n, q, &r, &c))
        return serc_fail(err, "mbpls: response: row %lld, column %lld is %s (NaN and Inf are not allowed)", (long long)r,
                         (long long)c, isnan(Y[r * q + c]) ? "NaN" : "Inf");
    return 0;
}

/* One NIPALS component on the deflated blocks Xb (see mbpls.h). Writes column k of the model's W, T, Ts,
 * V, U, Vy and A, and Wnn (p x K). Returns the number of passes, negative when tol was not met. */
static int nipals_component(MbplsModel *m, double *const *Xb, const double *Y, double *Wnn, int k, const MbplsOptions *o,
                            double *work) {
    const int B = m->n_blocks, q = m->n_targets, K = m->components;
    const int64_t n = m->n_samples;
    double *u = work, *ts = u + n, *ts_old = ts + n, *Tm = ts_old + n, *v = Tm + n * B, *sw = v + q;
    double *wnn = sw + B, *w = wnn + m->n_features;
    for (int64_t i = 0; i < n; i++) u[i] = Y[i * q]; /* u = Y[:, 0] */
    int run;
    for (run = 1;; run++) {
        double uu = cblas_ddot((int)n, u, 1, u, 1);
        int64_t off = 0;
        for (int b = 0; b < B; b++) {
            int pb = m->block_dims[b];
            /* wnn_b = X_b' u / u'u;  w_b = wnn_b / |wnn_b|;  t_b = X_b w_b (column b of Tm, n x B) */
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, pb, 1.0 / uu, Xb[b], pb, u, 1, 0.0, wnn + off, 1);
            double nw = norm2(wnn + off, pb);
            for (int j = 0; j < pb; j++) w[off + j] = wnn[off + j] / nw;
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, pb, 1.0, Xb[b], pb, w + off, 1, 0.0, Tm + b, B);
            off += pb;
        }
        /* s = T'u / u'u normalised;  t = T s normalised */
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, B, 1.0 / uu, Tm, B, u, 1, 0.0, sw, 1);
        double ns = norm2(sw, B);
        for (int b = 0; b < B; b++) sw[b] /= ns;
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, B, 1.0, Tm, B, sw, 1, 0.0, ts, 1);
        double nt = norm2(ts, n);
        for (int64_t i = 0; i < n; i++) ts[i] /= nt;
        double diff = 1.0;
        if (run > 1) {
            diff = 0;
            for (int64_t i = 0; i < n; i++) diff += (ts_old[i] - ts[i]) * (ts_old[i] - ts[i]);
            diff = sqrt(diff);
        }
        memcpy(ts_old, ts, sizeof(double) * (size_t)n);
        /* v = Y't / t't;  u = Y v / v'v normalised */
        double tt = cblas_ddot((int)n, ts, 1, ts, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, q, 1.0 / tt, Y, q, ts, 1, 0.0, v, 1);
        double vv = cblas_ddot(q, v, 1, v, 1);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)n, q, 1.0 / vv, Y, q, v, 1, 0.0, u, 1);
        double nu = norm2(u, n);
        for (int64_t i = 0; i < n; i++) u[i] /= nu;
        if (run > 1 && !(diff > o->tol)) break;
        if (run >= o->max_iter) {
            run = -run;
            break;
        }
    }
    int64_t off = 0;
    for (int b = 0; b < B; b++) {
        int pb = m->block_dims[b];
        for (int j = 0; j < pb; j++) {
            m->W[b][(int64_t)j * K + k] = w[off + j];
            Wnn[(off + j) * K + k] = wnn[off + j];
        }
        for (int64_t i = 0; i < n; i++) m->T[b][i * K + k] = Tm[i * B + b];
        m->V[b * K + k] = sw[b];
        m->A[b * K + k] = sw[b] * sw[b];
        off += pb;
    }
    for (int64_t i = 0; i < n; i++) m->Ts[i * K + k] = ts[i], m->U[i * K + k] = u[i];
    for (int j = 0; j < q; j++) m->Vy[j * K + k] = v[j];
    return run;
}

/* R_ = Wt (P' Wt)^-1 with Wt = Wnn, columns normalised; beta_ = R_ V_'. */
static int rotations(MbplsModel *m, double *Wnn, SercErr *err) {
    const int K = m->components, q = m->n_targets;
    const int64_t p = m->n_features;
    for (int k = 0; k < K; k++) {
        double s = 0;
        for (int64_t j = 0; j < p; j++) s += Wnn[j * K + k] * Wnn[j * K + k];
        s = sqrt(s);
        for (int64_t j = 0; j < p; j++) Wnn[j * K + k] /= s;
    }
    double *PtW = serc_calloc((size_t)K * (size_t)K, sizeof(double));
    int64_t off = 0;
    for (int b = 0; b < m->n_blocks; b++) {
        int pb = m->block_dims[b];
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, K, pb, 1.0, m->P[b], K, Wnn + off * K, K, 1.0, PtW, K);
        off += pb;
    }
    int rc = invert_small(PtW, K);
    if (rc == 0) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)p, K, K, 1.0, Wnn, K, PtW, K, 0.0, m->R, K);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p, q, K, 1.0, m->R, K, m->Vy, K, 0.0, m->beta, q);
    }
    free(PtW);
    if (rc) return serc_fail(err, "mbpls: P'W is singular: the %d components are not independent (lower K)", K);
    return 0;
}

int mbpls_fit(MbplsModel *m, const double *const *X, const int *p, int n_blocks, int64_t n, const double *Y, int q,
              const MbplsOptions *o, SercErr *err) {
    memset(m, 0, sizeof *m);
    if (check_fit_inputs(X, p, n_blocks, n, Y, q, o, err)) return -1;
    const int B = n_blocks, K = o->components;
    model_alloc(m, B, p, n, q, K);
    m->standardize = o->standardize;
    m->converged = 1;
    double **Xb = serc_calloc((size_t)B, sizeof(double *));
    double *Ys = serc_malloc(sizeof(double) * (size_t)(n * q));
    double *var0 = serc_calloc((size_t)B, sizeof(double));
    double *Wnn = serc_calloc((size_t)(m->n_features * K), sizeof(double));
    double *work = serc_malloc(sizeof(double) * (size_t)(3 * n + n * B + q + B + 2 * m->n_features));
    int rc = 0;
    for (int b = 0; b < B; b++) {
        Xb[b] = serc_malloc(sizeof(double) * (size_t)(n * p[b]));
        if (o->standardize) {
            standard_scaler_fit(X[b], n, p[b], m->x_mean[b], m->x_std[b]);
        } else {
            for (int j = 0; j < p[b]; j++) m->x_std[b][j] = 1.0;
        }
        standard_scaler_apply(Xb[b], X[b], n, p[b], m->x_mean[b], m->x_std[b]);
        var0[b] = cblas_ddot((int)(n * p[b]), Xb[b], 1, Xb[b], 1);
        if (var0[b] == 0 && rc == 0)
            rc = serc_fail(err, "mbpls: block %d has no variance (every column is %s)", b,
                           o->standardize ? "constant" : "zero");
    }
    if (o->standardize) {
        standard_scaler_fit(Y, n, q, m->y_mean, m->y_std);
    } else {
        for (int j = 0; j < q; j++) m->y_std[j] = 1.0;
    }
    standard_scaler_apply(Ys, Y, n, q, m->y_mean, m->y_std);
    double y0 = 0, varx = 0, vary = cblas_ddot((int)(n * q), Ys, 1, Ys, 1);
    for (int64_t i = 0; i < n; i++) y0 += Ys[i * q] * Ys[i * q];
    for (int b = 0; b < B; b++) varx += var0[b];
    if (rc == 0 && y0 == 0)
        rc = serc_fail(err, "mbpls: the response's first column has no variance (NIPALS starts from it)");
    int64_t ptot = m->n_features;
    for (int k = 0; k < K && rc == 0; k++) {
        for (int b = 0; b < B; b++) {
            double vb = cblas_ddot((int)(n * p[b]), Xb[b], 1, Xb[b], 1);
            if (vb <= MBPLS_EXHAUSTED * MBPLS_EXHAUSTED * var0[b] && rc == 0)
                rc = serc_fail(err,
                               "mbpls: components=%d is above the rank: block %d has nothing left to explain after %d "
                               "components (use at most %d)",
                               K, b, k, k);
        }
        if (rc) break;
        int runs = nipals_component(m, Xb, Ys, Wnn, k, o, work);
        if (runs < 0) m->converged = 0, runs = -runs;
        m->n_iter[k] = runs;
        /* p_b = X_b' t; explained variances; deflation X_b -= t p_b' */
        const double *ts = work + n; /* nipals_component's t */
        double tt = cblas_ddot((int)n, ts, 1, ts, 1), pp_all = 0;
        double *pb_col = serc_malloc(sizeof(double) * (size_t)(m->n_features));
        for (int b = 0; b < B; b++) {
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, p[b], 1.0, Xb[b], p[b], ts, 1, 0.0, pb_col, 1);
            double pp = cblas_ddot(p[b], pb_col, 1, pb_col, 1);
            pp_all += pp;
            m->explained_var_xblocks[b * K + k] = tt * pp / var0[b];
            for (int j = 0; j < p[b]; j++) m->P[b][(int64_t)j * K + k] = pb_col[j];
            cblas_dger(CblasRowMajor, (int)n, p[b], -1.0, ts, 1, pb_col, 1, Xb[b], p[b]);
        }
        free(pb_col);
        const double *v = work + 3 * n + n * B;
        m->explained_var_x[k] = tt * pp_all / varx;
        m->explained_var_y[k] = tt * cblas_ddot(q, v, 1, v, 1) / vary;
        /* A_corrected_: A scaled by (1 - p_b / p), renormalised; [1] for one block */
        double sum = 0;
        for (int b = 0; b < B; b++) {
            double a = B == 1 ? 1.0 : m->A[b * K + k] * (1.0 - (double)p[b] / (double)ptot);
            m->A_corrected[b * K + k] = a;
            sum += a;
        }
        if (B > 1)
            for (int b = 0; b < B; b++) m->A_corrected[b * K + k] /= sum;
        int64_t r0, c0;
        if (!all_finite(m->Ts + k, n, 1, &r0, &c0) && rc == 0)
            rc = serc_fail(err, "mbpls: component %d did not yield finite scores (components above the rank?)", k);
    }
    if (rc == 0) rc = rotations(m, Wnn, err);
    for (int b = 0; b < B; b++) free(Xb[b]);
    free(Xb), free(Ys), free(var0), free(Wnn), free(work);
    if (rc) mbpls_free(m);
    return rc;
}

/* out (n x p) = standardised [X_1 .. X_B]. */
static int stack_standardised(const MbplsModel *m, const double *const *X, int64_t n, double *out, SercErr *err) {
    int64_t off = 0, p = m->n_features;
    for (int b = 0; b < m->n_blocks; b++) {
        int pb = m->block_dims[b];
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < pb; j++) {
                double x = X[b][i * pb + j];
                if (!isfinite(x))
                    return serc_fail(err, "mbpls: block %d: row %lld, column %d is %s (NaN and Inf are not allowed)",
                                     b, (long long)i, j, isnan(x) ? "NaN" : "Inf");
                out[i * p + off + j] = (x - m->x_mean[b][j]) / m->x_std[b][j];
            }
        off += pb;
    }
    return 0;
}

int mbpls_transform(const MbplsModel *m, const double *const *X, int64_t n, double *Ts_out, SercErr *err) {
    const int K = m->components;
    const int64_t p = m->n_features;
    if (n < 1) return serc_fail(err, "mbpls: no samples to transform");
    double *Xs = serc_malloc(sizeof(double) * (size_t)(n * p));
    int rc = stack_standardised(m, X, n, Xs, err);
    if (rc == 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, K, (int)p, 1.0, Xs, (int)p, m->R, K, 0.0, Ts_out, K);
    free(Xs);
    return rc;
}

int mbpls_predict(const MbplsModel *m, const double *const *X, int64_t n, double *Y_out, SercErr *err) {
    const int q = m->n_targets;
    const int64_t p = m->n_features;
    if (n < 1) return serc_fail(err, "mbpls: no samples to predict");
    double *Xs = serc_malloc(sizeof(double) * (size_t)(n * p));
    int rc = stack_standardised(m, X, n, Xs, err);
    if (rc == 0) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, q, (int)p, 1.0, Xs, (int)p, m->beta, q, 0.0, Y_out, q);
        if (m->standardize)
            for (int64_t i = 0; i < n; i++)
                for (int j = 0; j < q; j++) Y_out[i * q + j] = Y_out[i * q + j] * m->y_std[j] + m->y_mean[j];
    }
    free(Xs);
    return rc;
}

/* ---- files: float64 .npy and safetensors through core/npy and core/safetensors ---- */

int mbpls_read_npy(const char *path, int allow_1d, double **out, int64_t *rows, int64_t *cols, SercErr *err) {
    *out = NULL;
    NpyArray a;
    if (npy_read(path, &a, err) < 0) return -1;
    if (a.dtype != SERC_F64 && a.dtype != SERC_F32) {
        npy_array_free(&a);
        return serc_fail(err, "%s: dtype %s; mbpls reads float32 or float64 .npy", path, serc_dtype_name(a.dtype));
    }
    if (a.ndim == 1 && allow_1d) {
        a.ndim = 2, a.shape[1] = 1;
    }
    if (a.ndim != 2) {
        int nd = a.ndim;
        npy_array_free(&a);
        return serc_fail(err, "%s: expected a 2-D array (samples x features), got %d-D%s", path, nd,
                         allow_1d ? " (a 1-D response is read as one column)" : "");
    }
    *rows = a.shape[0], *cols = a.shape[1];
    double *d = serc_malloc(sizeof(double) * (size_t)(a.numel ? a.numel : 1));
    for (int64_t i = 0; i < a.numel; i++)
        d[i] = a.dtype == SERC_F64 ? ((const double *)a.data)[i] : (double)((const float *)a.data)[i];
    npy_array_free(&a);
    for (int64_t i = 0; i < *rows * *cols; i++)
        if (!isfinite(d[i])) {
            const char *what = isnan(d[i]) ? "NaN" : "Inf";
            free(d);
            return serc_fail(err, "%s: row %lld, column %lld is %s (NaN and Inf are not allowed)", path,
                             (long long)(i / *cols), (long long)(i % *cols), what);
        }
    *out = d;
    return 0;
}

int mbpls_write_npy(const char *path, const double *data, int64_t rows, int64_t cols, SercErr *err) {
    return npy_write(path, SERC_F64, 2, (const int64_t[]){rows, cols}, data, err);
}

/* The attributes in file order: name (without prefix), rank, shape and the model array. */
typedef struct MbplsAttr {
    char name[64];
    int ndim;
    int64_t shape[2];
    double *data;
} MbplsAttr;

/* Fills attrs (room for 12 + 5 B entries) for an allocated model; returns the count. */
static int model_attrs(const MbplsModel *m, MbplsAttr *a) {
    const int64_t n = m->n_samples, K = m->components, B = m->n_blocks, q = m->n_targets, p = m->n_features;
    int c = 0;
#define ATTR(nd, r, cc, ptr, ...) \
    (snprintf(a[c].name, sizeof a[c].name, __VA_ARGS__), a[c].ndim = nd, a[c].shape[0] = r, a[c].shape[1] = cc, \
     a[c].data = ptr, c++)
    ATTR(2, n, K, m->Ts, "Ts_");
    for (int b = 0; b < B; b++) ATTR(2, n, K, m->T[b], "T_.%d", b);
    for (int b = 0; b < B; b++) ATTR(2, m->block_dims[b], K, m->W[b], "W_.%d", b);
    for (int b = 0; b < B; b++) ATTR(2, m->block_dims[b], K, m->P[b], "P_.%d", b);
    ATTR(2, B, K, m->A, "A_");
    ATTR(2, B, K, m->A_corrected, "A_corrected_");
    ATTR(2, B, K, m->V, "superweights");
    ATTR(2, n, K, m->U, "U_");
    ATTR(2, q, K, m->Vy, "V_");
    ATTR(2, p, K, m->R, "R_");
    ATTR(2, p, q, m->beta, "beta_");
    ATTR(1, K, 0, m->explained_var_x, "explained_var_x_");
    ATTR(1, K, 0, m->explained_var_y, "explained_var_y_");
    ATTR(2, B, K, m->explained_var_xblocks, "explained_var_xblocks_");
    for (int b = 0; b < B; b++) {
        ATTR(1, m->block_dims[b], 0, m->x_mean[b], "x_scalers_.%d.mean_", b);
        ATTR(1, m->block_dims[b], 0, m->x_std[b], "x_scalers_.%d.scale_", b);
    }
    ATTR(1, q, 0, m->y_mean, "y_scaler_.mean_");
    ATTR(1, q, 0, m->y_std, "y_scaler_.scale_");
#undef ATTR
    return c;
}

static int prefix_ok(const char *prefix) {
    for (const char *s = prefix; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("._-", *s)))
            return 0;
    return strlen(prefix) < 64;
}

/* Appends "[v0, v1, ...]" of ints to s (capacity cap). */
static void int_list(char *s, size_t cap, const int *v, int n) {
    size_t k = (size_t)snprintf(s, cap, "[");
    for (int i = 0; i < n && k < cap; i++) k += (size_t)snprintf(s + k, cap - k, "%s%d", i ? ", " : "", v[i]);
    if (k < cap) snprintf(s + k, cap - k, "]");
}

int mbpls_to_safetensors(const MbplsModel *m, const char *prefix, const char *path, SercErr *err) {
    if (!prefix_ok(prefix)) return serc_fail(err, "%s: tensor prefix '%s' may hold only [A-Za-z0-9._-]", path, prefix);
    MbplsAttr *a = serc_malloc(sizeof(MbplsAttr) * (size_t)(16 + 5 * m->n_blocks));
    int na = model_attrs(m, a);
    SafetensorsEntry *e = serc_calloc((size_t)na, sizeof *e);
    char (*names)[160] = serc_malloc(sizeof *names * (size_t)na);
    for (int i = 0; i < na; i++) {
        snprintf(names[i], sizeof names[i], "%s%s", prefix, a[i].name);
        e[i].name = names[i];
        e[i].dtype = SERC_F64;
        e[i].ndim = a[i].ndim;
        e[i].shape[0] = a[i].shape[0];
        e[i].shape[1] = a[i].shape[1];
        e[i].data = a[i].data;
    }
    char dims[4096], iters[4096], k[32], st[8], q[32], n[32], conv[8];
    int_list(dims, sizeof dims, m->block_dims, m->n_blocks);
    int_list(iters, sizeof iters, m->n_iter, m->components);
    snprintf(k, sizeof k, "%d", m->components);
    snprintf(st, sizeof st, "%d", m->standardize);
    snprintf(q, sizeof q, "%d", m->n_targets);
    snprintf(n, sizeof n, "%lld", (long long)m->n_samples);
    snprintf(conv, sizeof conv, "%d", m->converged);
    const char *meta[] = {"mbpls.version", "mbpls 1.0.4 NIPALS", "mbpls.components", k, "mbpls.standardize", st,
                          "mbpls.block_dims", dims, "mbpls.n_targets", q, "mbpls.n_samples", n,
                          "mbpls.n_iter", iters, "mbpls.converged", conv, NULL};
    int rc = safetensors_write(path, e, na, meta, err);
    free(names), free(e), free(a);
    return rc;
}

/* Parses "[a, b, ...]" into at most max ints; returns the count or -1. */
static int parse_int_list(const char *s, int *v, int max) {
    if (!s || *s != '[') return -1;
    s++;
    int n = 0;
    for (;;) {
        while (*s == ' ') s++;
        if (*s == ']' && n == 0) return s[1] ? -1 : 0;
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || n >= max || x < 0 || x > 1000000000L) return -1;
        v[n++] = (int)x;
        s = end;
        while (*s == ' ') s++;
        if (*s == ']') return s[1] ? -1 : n;
        if (*s != ',') return -1;
        s++;
    }
}

static int meta_int(const SafetensorsFile *f, const char *key, long lo, long hi, long *out) {
    const char *v = safetensors_metadata(f, key);
    if (!v) return -1;
    char *end;
    *out = strtol(v, &end, 10);
    return (end == v || *end || *out < lo || *out > hi) ? -1 : 0;
}

static int from_st(MbplsModel *m, const SafetensorsFile *f, const char *prefix, const char *label, SercErr *err) {
    memset(m, 0, sizeof *m);
    long K, q, n, st, conv = 1;
    if (meta_int(f, "mbpls.components", 1, 100000, &K) || meta_int(f, "mbpls.n_targets", 1, 100000000, &q) ||
        meta_int(f, "mbpls.n_samples", 1, 1L << 40, &n) || meta_int(f, "mbpls.standardize", 0, 1, &st))
        return serc_fail(err, "%s: not an mbpls model (metadata mbpls.components, n_targets, n_samples or standardize "
                              "missing or malformed)", label);
    if (safetensors_metadata(f, "mbpls.converged")) meta_int(f, "mbpls.converged", 0, 1, &conv);
    int dims[1024];
    int B = parse_int_list(safetensors_metadata(f, "mbpls.block_dims"), dims, 1024);
    if (B < 1) return serc_fail(err, "%s: metadata mbpls.block_dims missing or malformed", label);
    for (int b = 0; b < B; b++)
        if (dims[b] < 1) return serc_fail(err, "%s: metadata mbpls.block_dims: block %d is empty", label, b);
    model_alloc(m, B, dims, n, (int)q, (int)K);
    m->standardize = (int)st, m->converged = (int)conv;
    int iters[1024];
    if (parse_int_list(safetensors_metadata(f, "mbpls.n_iter"), iters, 1024) == (int)K)
        memcpy(m->n_iter, iters, sizeof(int) * (size_t)K);
    MbplsAttr *a = serc_malloc(sizeof(MbplsAttr) * (size_t)(16 + 5 * B));
    int na = model_attrs(m, a), rc = 0;
    for (int i = 0; i < na && rc == 0; i++) {
        char name[160];
        snprintf(name, sizeof name, "%s%s", prefix, a[i].name);
        int t = safetensors_find(f, name);
        if (t < 0) {
            rc = serc_fail(err, "%s: tensor \"%s\" missing", label, name);
            break;
        }
        const int64_t *sh = safetensors_shape(f, t);
        int nd = safetensors_ndim(f, t);
        if (nd != a[i].ndim || sh[0] != a[i].shape[0] || (nd == 2 && sh[1] != a[i].shape[1])) {
            rc = serc_fail(err, "%s: tensor \"%s\" has shape %s[%lld%s%lld], expected [%lld%s%lld]", label, name,
                           nd > 2 ? ">2-D " : "", (long long)(nd ? sh[0] : 0), nd == 2 ? ", " : "",
                           (long long)(nd == 2 ? sh[1] : 0), (long long)a[i].shape[0], a[i].ndim == 2 ? ", " : "",
                           (long long)(a[i].ndim == 2 ? a[i].shape[1] : 0));
            break;
        }
        int64_t numel = safetensors_numel(f, t);
        const void *d = safetensors_data(f, t);
        SercDType dt = safetensors_dtype(f, t);
        if (dt == SERC_F64) {
            memcpy(a[i].data, d, sizeof(double) * (size_t)numel);
        } else if (dt == SERC_F32) {
            for (int64_t j = 0; j < numel; j++) {
                float x;
                memcpy(&x, (const char *)d + 4 * j, 4);
                a[i].data[j] = x;
            }
        } else {
            rc = serc_fail(err, "%s: tensor \"%s\" has dtype %s (F64 or F32 expected)", label, name, serc_dtype_name(dt));
        }
        for (int64_t j = 0; j < numel && rc == 0; j++)
            if (!isfinite(a[i].data[j])) rc = serc_fail(err, "%s: tensor \"%s\" holds NaN or Inf", label, name);
    }
    for (int b = 0; b < B && rc == 0; b++)
        for (int j = 0; j < dims[b]; j++)
            if (!(m->x_std[b][j] > 0)) rc = serc_fail(err, "%s: x_scalers_.%d.scale_ is not positive", label, b);
    free(a);
    if (rc) mbpls_free(m);
    return rc;
}

int mbpls_from_safetensors(MbplsModel *m, const SafetensorsFile *f, const char *prefix, SercErr *err) {
    return from_st(m, f, prefix, "safetensors", err);
}

int mbpls_load(MbplsModel *m, const char *path, const char *prefix, SercErr *err) {
    memset(m, 0, sizeof *m);
    SafetensorsFile *f = safetensors_open(path, err);
    if (!f) return -1;
    int rc = from_st(m, f, prefix, path, err);
    safetensors_close(f);
    return rc;
}
