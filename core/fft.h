/* Discrete Fourier transforms of any length, in double precision, with no outside dependency.
 *
 *   X[k] = sum_{j=0}^{n-1} x[j] exp(-2 pi i j k / n),   k = 0..n-1   (forward, unscaled)
 *
 * A plan holds everything that depends only on n (factorisation, twiddle factors) and is computed once;
 * executing it reads the plan and writes only the caller's buffers, so one plan serves every thread of
 * an OpenMP loop at once (each thread with its own work buffer).
 *
 * Algorithm: mixed-radix decimation in time (the recursive out-of-place scheme of Cooley and Tukey,
 * "An algorithm for the machine calculation of complex Fourier series", 1965), with butterflies for
 * radices 4, 2, 3 and 5 and a generic butterfly for other small primes. A length with a prime factor
 * above FFT_MAX_GENERIC_RADIX goes through Bluestein's chirp z-transform (Bluestein, "A linear filtering
 * approach to the computation of the discrete Fourier transform", 1970) on a power-of-two FFT:
 *   X[k] = conj(w[k]) * sum_j (x[j] conj(w[j])) w[k - j],   w[m] = exp(i pi m^2 / n).
 *
 * Complex arrays are interleaved doubles: re0, im0, re1, im1, ...
 */
#ifndef SERC_FFT_H
#define SERC_FFT_H

#include <stddef.h>

/* Prime factors up to this use the generic butterfly (cost ~p per output); larger ones use Bluestein. */
#define FFT_MAX_GENERIC_RADIX 31

typedef struct FftPlan FftPlan;
typedef struct RfftPlan RfftPlan;

/* Complex FFT of length n >= 1. Aborts on n < 1 (a bug in the caller, not user input). */
FftPlan *fft_plan_new(int n);
void fft_plan_free(FftPlan *p);
int fft_plan_size(const FftPlan *p);
/* Doubles of work buffer fft_forward needs (0 unless the plan uses Bluestein). */
size_t fft_work_len(const FftPlan *p);

/* out (n complex) = DFT of in (n complex). in and out must not overlap; work holds fft_work_len(p)
 * doubles (NULL when that is 0). */
void fft_forward(const FftPlan *p, const double *in, double *out, double *work);

/* Real-input FFT of length n >= 1: only the n/2 + 1 non-redundant outputs X[0..n/2]. Even n runs one
 * complex FFT of length n/2 on (x[2j] + i x[2j+1]) and untangles it; odd n runs a complex FFT of n. */
RfftPlan *rfft_plan_new(int n);
void rfft_plan_free(RfftPlan *p);
int rfft_plan_size(const RfftPlan *p);
/* Doubles of work buffer rfft_forward needs (always > 0). */
size_t rfft_work_len(const RfftPlan *p);

/* out ((n/2 + 1) complex, interleaved) = the first n/2 + 1 DFT bins of in (n reals). work holds
 * rfft_work_len(p) doubles. in and out must not overlap. */
void rfft_forward(const RfftPlan *p, const double *in, double *out, double *work);

#endif
