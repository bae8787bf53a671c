/* Mixed-radix complex FFT, Bluestein for large prime factors, and a real-input wrapper (see fft.h). */
#include "fft.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define MAX_FACTORS 64

struct FftPlan {
    int n;
    int nfactors;
    int factors[2 * MAX_FACTORS]; /* (radix p, remaining length m) pairs, outermost first */
    double *tw;                   /* n complex: exp(-2 pi i k / n) */
    /* Bluestein (when some prime factor exceeds FFT_MAX_GENERIC_RADIX) */
    int bluestein;
    int m;               /* power of two >= 2n - 1 */
    FftPlan *sub;        /* plan of length m */
    double *chirp;       /* n complex: exp(-i pi k^2 / n) */
    double *filter_fft;  /* m complex: FFT of the conjugate chirp, wrapped circularly */
};

struct RfftPlan {
    int n;
    FftPlan *cplx;  /* length n/2 for even n, n for odd n */
    double *tw;     /* even n: n/2 + 1 complex exp(-2 pi i k / n) */
};

/* exp(-2 pi i num / den) with num reduced mod den first, so the angle stays small and exact. */
static void unit_root(int64_t num, int64_t den, double *re, double *im) {
    num %= den;
    if (num < 0) num += den;
    double a = -2.0 * M_PI * (double)num / (double)den;
    *re = cos(a);
    *im = sin(a);
}

/* ---- butterflies: out holds p sub-transforms of length m, each already computed in place ---- */

#define CMUL_RE(ar, ai, br, bi) ((ar) * (br) - (ai) * (bi))
#define CMUL_IM(ar, ai, br, bi) ((ar) * (bi) + (ai) * (br))

static void bfly2(double *out, const double *tw, size_t fstride, int m) {
    for (int k = 0; k < m; k++) {
        double *a = out + 2 * k, *b = out + 2 * (k + m);
        const double *w = tw + 2 * (k * fstride);
        double tr = CMUL_RE(b[0], b[1], w[0], w[1]), ti = CMUL_IM(b[0], b[1], w[0], w[1]);
        b[0] = a[0] - tr;
        b[1] = a[1] - ti;
        a[0] += tr;
        a[1] += ti;
    }
}

static void bfly4(double *out, const double *tw, size_t fstride, int m) {
    for (int k = 0; k < m; k++) {
        double *x0 = out + 2 * k, *x1 = out + 2 * (k + m), *x2 = out + 2 * (k + 2 * m),
               *x3 = out + 2 * (k + 3 * m);
        const double *w1 = tw + 2 * (k * fstride), *w2 = tw + 2 * (2 * k * fstride),
                     *w3 = tw + 2 * (3 * k * fstride);
        double br = CMUL_RE(x1[0], x1[1], w1[0], w1[1]), bi = CMUL_IM(x1[0], x1[1], w1[0], w1[1]);
        double cr = CMUL_RE(x2[0], x2[1], w2[0], w2[1]), ci = CMUL_IM(x2[0], x2[1], w2[0], w2[1]);
        double dr = CMUL_RE(x3[0], x3[1], w3[0], w3[1]), di = CMUL_IM(x3[0], x3[1], w3[0], w3[1]);
        double s5r = x0[0] - cr, s5i = x0[1] - ci; /* a - c */
        double s0r = x0[0] + cr, s0i = x0[1] + ci; /* a + c */
        double s3r = br + dr, s3i = bi + di;       /* b + d */
        double s4r = br - dr, s4i = bi - di;       /* b - d */
        x0[0] = s0r + s3r, x0[1] = s0i + s3i;
        x2[0] = s0r - s3r, x2[1] = s0i - s3i;
        x1[0] = s5r + s4i, x1[1] = s5i - s4r; /* (a - c) - i (b - d) */
        x3[0] = s5r - s4i, x3[1] = s5i + s4r; /* (a - c) + i (b - d) */
    }
}

static void bfly3(double *out, const double *tw, size_t fstride, int m) {
    const double s = sin(2.0 * M_PI / 3.0); /* sqrt(3)/2 */
    for (int k = 0; k < m; k++) {
        double *x0 = out + 2 * k, *x1 = out + 2 * (k + m), *x2 = out + 2 * (k + 2 * m);
        const double *w1 = tw + 2 * (k * fstride), *w2 = tw + 2 * (2 * k * fstride);
        double br = CMUL_RE(x1[0], x1[1], w1[0], w1[1]), bi = CMUL_IM(x1[0], x1[1], w1[0], w1[1]);
        double cr = CMUL_RE(x2[0], x2[1], w2[0], w2[1]), ci = CMUL_IM(x2[0], x2[1], w2[0], w2[1]);
        double sr = br + cr, si = bi + ci, dr = br - cr, di = bi - ci;
        double mr = x0[0] - 0.5 * sr, mi = x0[1] - 0.5 * si;
        x0[0] += sr, x0[1] += si;
        /* X1 = a - (b+c)/2 - i s (b-c);  X2 = a - (b+c)/2 + i s (b-c) */
        x1[0] = mr + s * di, x1[1] = mi - s * dr;
        x2[0] = mr - s * di, x2[1] = mi + s * dr;
    }
}

static void bfly5(double *out, const double *tw, size_t fstride, int m) {
    const double c1 = cos(2.0 * M_PI / 5.0), c2 = cos(4.0 * M_PI / 5.0);
    const double s1 = sin(2.0 * M_PI / 5.0), s2 = sin(4.0 * M_PI / 5.0);
    for (int k = 0; k < m; k++) {
        double *x[5];
        double r[5], i[5];
        for (int q = 0; q < 5; q++) {
            x[q] = out + 2 * (k + q * m);
            const double *w = tw + 2 * (q * k * fstride);
            r[q] = CMUL_RE(x[q][0], x[q][1], w[0], w[1]);
            i[q] = CMUL_IM(x[q][0], x[q][1], w[0], w[1]);
        }
        double ar = r[1] + r[4], ai = i[1] + i[4], br = r[1] - r[4], bi = i[1] - i[4];
        double cr = r[2] + r[3], ci = i[2] + i[3], dr = r[2] - r[3], di = i[2] - i[3];
        double e1r = r[0] + ar * c1 + cr * c2, e1i = i[0] + ai * c1 + ci * c2;
        double e2r = r[0] + ar * c2 + cr * c1, e2i = i[0] + ai * c2 + ci * c1;
        double f1r = br * s1 + dr * s2, f1i = bi * s1 + di * s2; /* X1 = e1 - i f1, X4 = e1 + i f1 */
        double f2r = br * s2 - dr * s1, f2i = bi * s2 - di * s1; /* X2 = e2 - i f2, X3 = e2 + i f2 */
        x[0][0] = r[0] + ar + cr, x[0][1] = i[0] + ai + ci;
        x[1][0] = e1r + f1i, x[1][1] = e1i - f1r;
        x[4][0] = e1r - f1i, x[4][1] = e1i + f1r;
        x[2][0] = e2r + f2i, x[2][1] = e2i - f2r;
        x[3][0] = e2r - f2i, x[3][1] = e2i + f2r;
    }
}

/* Any radix p <= FFT_MAX_GENERIC_RADIX: X[q1] = sum_q x[q] w^(fstride * (u + q1 m) * q). */
static void bfly_generic(double *out, const double *tw, size_t fstride, int m, int p, int n) {
    double scratch[2 * FFT_MAX_GENERIC_RADIX];
    for (int u = 0; u < m; u++) {
        for (int q = 0; q < p; q++) {
            scratch[2 * q] = out[2 * (u + q * m)];
            scratch[2 * q + 1] = out[2 * (u + q * m) + 1];
        }
        for (int q1 = 0; q1 < p; q1++) {
            size_t k = (size_t)u + (size_t)q1 * m, step = fstride * k, idx = 0;
            double accr = scratch[0], acci = scratch[1];
            for (int q = 1; q < p; q++) {
                idx += step;
                if (idx >= (size_t)n) idx -= (size_t)n;
                const double *w = tw + 2 * idx;
                accr += CMUL_RE(scratch[2 * q], scratch[2 * q + 1], w[0], w[1]);
                acci += CMUL_IM(scratch[2 * q], scratch[2 * q + 1], w[0], w[1]);
            }
            out[2 * k] = accr;
            out[2 * k + 1] = acci;
        }
    }
}

/* out[0..p*m) = DFT of the p*m inputs in[0], in[fstride], in[2 fstride], ... */
static void fft_rec(const FftPlan *pl, double *out, const double *in, size_t fstride, const int *factors) {
    int p = factors[0], m = factors[1];
    if (m == 1) {
        for (int q = 0; q < p; q++) {
            out[2 * q] = in[2 * q * fstride];
            out[2 * q + 1] = in[2 * q * fstride + 1];
        }
    } else {
        for (int q = 0; q < p; q++)
            fft_rec(pl, out + 2 * (size_t)q * m, in + 2 * (size_t)q * fstride, fstride * p, factors + 2);
    }
    switch (p) {
    case 2: bfly2(out, pl->tw, fstride, m); break;
    case 3: bfly3(out, pl->tw, fstride, m); break;
    case 4: bfly4(out, pl->tw, fstride, m); break;
    case 5: bfly5(out, pl->tw, fstride, m); break;
    default: bfly_generic(out, pl->tw, fstride, m, p, pl->n); break;
    }
}

/* Factors n as 4s, then 2s, then odd primes ascending; returns the largest factor. */
static int factorise(FftPlan *pl) {
    int n = pl->n, k = 0, largest = 1, p = 4;
    while (n > 1) {
        while (n % p) {
            p = p == 4 ? 2 : p == 2 ? 3 : p + 2;
            if ((int64_t)p * p > n) p = n;
        }
        n /= p;
        SERC_ASSERT(k < MAX_FACTORS, "fft: too many factors for n = %d", pl->n);
        pl->factors[2 * k] = p;
        pl->factors[2 * k + 1] = n;
        if (p > largest) largest = p;
        k++;
    }
    pl->nfactors = k;
    return largest;
}

FftPlan *fft_plan_new(int n) {
    SERC_ASSERT(n >= 1, "fft_plan_new: length %d < 1", n);
    FftPlan *pl = serc_calloc(1, sizeof *pl);
    pl->n = n;
    int largest = factorise(pl);
    if (largest > FFT_MAX_GENERIC_RADIX) {
        pl->bluestein = 1;
        int m = 1;
        while (m < 2 * n - 1) m *= 2;
        pl->m = m;
        pl->sub = fft_plan_new(m);
        pl->chirp = serc_malloc(sizeof(double) * 2 * (size_t)n);
        for (int k = 0; k < n; k++) /* exp(-i pi k^2 / n) = exp(-2 pi i (k^2 mod 2n) / 2n) */
            unit_root((int64_t)k * k % (2 * (int64_t)n), 2 * (int64_t)n, &pl->chirp[2 * k], &pl->chirp[2 * k + 1]);
        double *b = serc_calloc(2 * (size_t)m, sizeof(double));
        for (int k = 0; k < n; k++) {
            b[2 * k] = pl->chirp[2 * k], b[2 * k + 1] = -pl->chirp[2 * k + 1];
            if (k > 0) b[2 * (m - k)] = b[2 * k], b[2 * (m - k) + 1] = b[2 * k + 1];
        }
        pl->filter_fft = serc_malloc(sizeof(double) * 2 * (size_t)m);
        fft_forward(pl->sub, b, pl->filter_fft, NULL);
        free(b);
        return pl;
    }
    pl->tw = serc_malloc(sizeof(double) * 2 * (size_t)n);
    for (int k = 0; k < n; k++) unit_root(k, n, &pl->tw[2 * k], &pl->tw[2 * k + 1]);
    return pl;
}

void fft_plan_free(FftPlan *pl) {
    if (!pl) return;
    fft_plan_free(pl->sub);
    free(pl->tw);
    free(pl->chirp);
    free(pl->filter_fft);
    free(pl);
}

int fft_plan_size(const FftPlan *pl) { return pl->n; }

size_t fft_work_len(const FftPlan *pl) { return pl->bluestein ? 4 * (size_t)pl->m : 0; }

/* Bluestein: X[k] = chirp[k] * (a (*) b)[k] with a[j] = x[j] chirp[j], b[j] = conj(chirp[j]). */
static void fft_bluestein(const FftPlan *pl, const double *in, double *out, double *work) {
    int n = pl->n, m = pl->m;
    double *a = work, *A = work + 2 * (size_t)m;
    memset(a, 0, sizeof(double) * 2 * (size_t)m);
    for (int j = 0; j < n; j++) {
        const double *c = pl->chirp + 2 * j;
        a[2 * j] = CMUL_RE(in[2 * j], in[2 * j + 1], c[0], c[1]);
        a[2 * j + 1] = CMUL_IM(in[2 * j], in[2 * j + 1], c[0], c[1]);
    }
    fft_forward(pl->sub, a, A, NULL);
    /* inverse FFT of A .* B as conj(FFT(conj(A .* B))) / m */
    for (int k = 0; k < m; k++) {
        const double *B = pl->filter_fft + 2 * k;
        double r = CMUL_RE(A[2 * k], A[2 * k + 1], B[0], B[1]), i = CMUL_IM(A[2 * k], A[2 * k + 1], B[0], B[1]);
        a[2 * k] = r, a[2 * k + 1] = -i;
    }
    fft_forward(pl->sub, a, A, NULL);
    double inv_m = 1.0 / m;
    for (int k = 0; k < n; k++) {
        double cr = A[2 * k] * inv_m, ci = -A[2 * k + 1] * inv_m;
        const double *c = pl->chirp + 2 * k;
        out[2 * k] = CMUL_RE(cr, ci, c[0], c[1]);
        out[2 * k + 1] = CMUL_IM(cr, ci, c[0], c[1]);
    }
}

void fft_forward(const FftPlan *pl, const double *in, double *out, double *work) {
    if (pl->bluestein) {
        SERC_ASSERT(work != NULL, "fft_forward: length %d needs a work buffer", pl->n);
        fft_bluestein(pl, in, out, work);
    } else if (pl->n == 1) {
        out[0] = in[0], out[1] = in[1];
    } else {
        fft_rec(pl, out, in, 1, pl->factors);
    }
}

/* ---- real input ---- */

RfftPlan *rfft_plan_new(int n) {
    SERC_ASSERT(n >= 1, "rfft_plan_new: length %d < 1", n);
    RfftPlan *pl = serc_calloc(1, sizeof *pl);
    pl->n = n;
    if (n % 2 == 0) {
        pl->cplx = fft_plan_new(n / 2);
        pl->tw = serc_malloc(sizeof(double) * 2 * (size_t)(n / 2 + 1));
        for (int k = 0; k <= n / 2; k++) unit_root(k, n, &pl->tw[2 * k], &pl->tw[2 * k + 1]);
    } else {
        pl->cplx = fft_plan_new(n);
    }
    return pl;
}

void rfft_plan_free(RfftPlan *pl) {
    if (!pl) return;
    fft_plan_free(pl->cplx);
    free(pl->tw);
    free(pl);
}

int rfft_plan_size(const RfftPlan *pl) { return pl->n; }

size_t rfft_work_len(const RfftPlan *pl) {
    int nc = fft_plan_size(pl->cplx);
    return 4 * (size_t)nc + fft_work_len(pl->cplx);
}

void rfft_forward(const RfftPlan *pl, const double *in, double *out, double *work) {
    int n = pl->n, nc = fft_plan_size(pl->cplx);
    double *z = work, *Z = work + 2 * (size_t)nc, *sub = work + 4 * (size_t)nc;
    if (n % 2) {
        for (int j = 0; j < n; j++) z[2 * j] = in[j], z[2 * j + 1] = 0.0;
        fft_forward(pl->cplx, z, Z, sub);
        memcpy(out, Z, sizeof(double) * 2 * (size_t)(n / 2 + 1));
        return;
    }
    /* z[j] = x[2j] + i x[2j+1]; with Z = FFT(z), E[k] = (Z[k] + conj Z[-k]) / 2 is the DFT of the even
     * samples, O[k] = -i (Z[k] - conj Z[-k]) / 2 that of the odd ones, and X[k] = E[k] + w^k O[k]. */
    memcpy(z, in, sizeof(double) * (size_t)n);
    fft_forward(pl->cplx, z, Z, sub);
    for (int k = 0; k <= nc; k++) {
        int k1 = k % nc, k2 = (nc - k) % nc;
        double zr = Z[2 * k1], zi = Z[2 * k1 + 1], cr = Z[2 * k2], ci = -Z[2 * k2 + 1];
        double er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
        double or_ = 0.5 * (zi - ci), oi = -0.5 * (zr - cr);
        const double *w = pl->tw + 2 * k;
        out[2 * k] = er + CMUL_RE(or_, oi, w[0], w[1]);
        out[2 * k + 1] = ei + CMUL_IM(or_, oi, w[0], w[1]);
    }
}
