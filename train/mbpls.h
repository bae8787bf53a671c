/* Multiblock PLS (MB-PLS), computed exactly as the PyPI package `mbpls` 1.0.4 computes it with its
 * default method='NIPALS' (Westerhuis, Kourti, MacGregor 1998, "Analysis of multiblock and hierarchical
 * PCA and PLS models", J. Chemom. 12:301-321).
 *
 * Per component k, with u started at the first response column Y[:, 0] and iterated to convergence:
 *   wnn_b = X_b' u / u'u,  w_b = wnn_b / |wnn_b|            block weights (W_[b][:, k] = w_b)
 *   t_b   = X_b w_b,  T = [t_1 .. t_B]                      block scores  (T_[b][:, k] = t_b)
 *   s     = T' u / u'u,  s = s / |s|                        super weights (A_[:, k] = s^2)
 *   t     = T s,  t = t / |t|                               super score   (Ts_[:, k] = t)
 *   v     = Y' t / t't                                      response loading (V_[:, k])
 *   u     = Y v / v'v,  u = u / |u|                         response score   (U_[:, k])
 * until |t - t_prev|_2 <= tol (checked from the second pass on). Then p_b = X_b' t (P_[b][:, k]) and
 * X_b <- X_b - t p_b'. Y is never deflated. After K components:
 *   Wt = [wnn_1; ..; wnn_B] with unit-norm columns (p x K),  R_ = Wt (P' Wt)^-1 (p x K),  beta_ = R_ V_'.
 * transform(X) = [X_1 .. X_B] R_ and predict(X) = [X_1 .. X_B] beta_ on standardised blocks, the
 * prediction mapped back through the response's scaler.
 *
 * Standardisation (default, mbpls standardize=True) is scikit-learn's StandardScaler per block and for Y:
 * mean, population standard deviation (ddof 0); a column whose variance is indistinguishable from zero
 * (sklearn's _is_constant_feature: var <= n eps var + (n eps mean)^2) gets scale 1. Without it the
 * data are used as given: not even centred, exactly as mbpls does.
 *
 * All matrices are double, row-major, in the shapes mbpls gives its attributes.
 */
#ifndef SERC_MBPLS_H
#define SERC_MBPLS_H

#include <stdint.h>

#include "error.h"
#include "safetensors.h"

typedef struct MbplsOptions {
    int components;  /* K >= 1 */
    int standardize; /* default 1 */
    int max_iter;    /* NIPALS passes per component before giving up (default 500; mbpls has no cap) */
    double tol;      /* on |t - t_prev|_2, default 1e-14 (mbpls max_tol) */
} MbplsOptions;

MbplsOptions mbpls_default_options(void);

typedef struct MbplsModel {
    int n_blocks, components, n_targets;
    int64_t n_samples;                 /* training rows */
    int standardize;
    int *block_dims;                   /* p_b */
    int64_t n_features;                /* p = sum p_b */
    double **x_mean, **x_std;          /* per block (p_b): x_scalers_[b].mean_/scale_; 0 and 1 when not standardised */
    double *y_mean, *y_std;            /* (q): y_scaler_.mean_/scale_ */
    double **W, **P, **T;              /* per block: W_b (p_b x K), P_b (p_b x K), T_b (n x K) */
    double *Ts;                        /* super scores Ts_ (n x K) */
    double *A;                         /* block importances A_ (B x K) = V^2 */
    double *A_corrected;               /* A_corrected_ (B x K) */
    double *V;                         /* super weights (B x K), signed; not an mbpls attribute */
    double *U;                         /* response scores U_ (n x K) */
    double *Vy;                        /* response loadings, mbpls's V_ (q x K) */
    double *R;                         /* x-rotations R_ (p x K) */
    double *beta;                      /* regression coefficients beta_ (p x q), standardised units */
    double *explained_var_x;           /* explained_var_x_ (K) */
    double *explained_var_y;           /* explained_var_y_ (K) */
    double *explained_var_xblocks;     /* explained_var_xblocks_ (B x K) */
    int *n_iter;                       /* NIPALS passes per component (K) */
    int converged;                     /* 1 when every component met tol within max_iter */
} MbplsModel;

/* Fits m on blocks X[b] (n x p[b], row-major) and response Y (n x q). Returns 0, or -1 with err set and m
 * left empty: n < 2, no blocks, an empty block (p_b < 1), q < 1, NaN/Inf anywhere (mbpls: "Input contains
 * NaN"), K < 1, a block or the response's first column with no variance (mbpls divides by zero and
 * fails in the SVD of pinv), K above the rank of the (standardised) blocks (mbpls returns noise
 * components), a block exhausted by deflation before component K. Zero-variance columns inside a block
 * are allowed when standardising: scale 1, as StandardScaler does (the column becomes 0). */
int mbpls_fit(MbplsModel *m, const double *const *X, const int *p, int n_blocks, int64_t n, const double *Y, int q,
              const MbplsOptions *o, SercErr *err);

/* Super scores of new samples, Ts_out (n x K), as mbpls transform(X) returns them: standardised
 * [X_1 .. X_B] R_. X[b] is n x block_dims[b]. -1 with err on NaN/Inf input. */
int mbpls_transform(const MbplsModel *m, const double *const *X, int64_t n, double *Ts_out, SercErr *err);

/* Predictions, Y_out (n x q), as mbpls predict(X): standardised [X_1 .. X_B] beta_, mapped back by
 * y * y_std + y_mean when standardised. */
int mbpls_predict(const MbplsModel *m, const double *const *X, int64_t n, double *Y_out, SercErr *err);

/* Writes every attribute as an F64 tensor named prefix + mbpls name:
 *   Ts_ (n,K)  T_.b (n,K)  W_.b (p_b,K)  P_.b (p_b,K)  A_ (B,K)  A_corrected_ (B,K)  superweights (B,K)
 *   U_ (n,K)  V_ (q,K)  R_ (p,K)  beta_ (p,q)  explained_var_x_ (K)  explained_var_y_ (K)
 *   explained_var_xblocks_ (B,K)  x_scalers_.b.mean_ (p_b)  x_scalers_.b.scale_ (p_b)
 *   y_scaler_.mean_ (q)  y_scaler_.scale_ (q)
 * and metadata mbpls.components, mbpls.standardize, mbpls.block_dims ("[p_0, p_1]"), mbpls.n_targets,
 * mbpls.n_samples, mbpls.n_iter, mbpls.converged, mbpls.version ("mbpls 1.0.4 NIPALS"). prefix may be ""
 * and holds only [A-Za-z0-9._-]. The write is atomic (core/fileio.h). */
int mbpls_to_safetensors(const MbplsModel *m, const char *prefix, const char *path, SercErr *err);

/* Loads the tensors written by mbpls_to_safetensors from f into m (every one required, shapes checked
 * against each other and the metadata); F64 tensors, or F32 (widened, e.g. from an f32 checkpoint). */
int mbpls_from_safetensors(MbplsModel *m, const SafetensorsFile *f, const char *prefix, SercErr *err);

/* Reads the file at path written by mbpls_to_safetensors (F64 or F32 tensors) into m. */
int mbpls_load(MbplsModel *m, const char *path, const char *prefix, SercErr *err);

void mbpls_free(MbplsModel *m);

/* .npy matrices as double: reads '<f8' or '<f4' (any other dtype, or ndim other than 2, is an error
 * naming the file; with allow_1d a 1-D array of length n reads as n x 1). Every element must be finite.
 * *out is malloc'd (free()). */
int mbpls_read_npy(const char *path, int allow_1d, double **out, int64_t *rows, int64_t *cols, SercErr *err);

/* Writes data (rows x cols, row-major) as a 2-D '<f8' .npy, atomically. */
int mbpls_write_npy(const char *path, const double *data, int64_t rows, int64_t cols, SercErr *err);

#endif
