/* Log-mel filterbank features: the CPU reference of SERC's front end.
 *
 * One MelConfig describes every step, and the same struct configures the CUDA kernel later, so that
 * both paths compute the same thing (the Kaldi cudafeat pattern). The steps, in order:
 *
 *   framing     STFT framing (torch.stft / librosa): frame t covers samples [t hop - pad, t hop - pad
 *               + n_fft), pad = n_fft/2 when center (reflect or zero padding), else 0; the window
 *               (win_length) sits centred inside the n_fft samples.
 *               Kaldi framing (torchaudio.compliance.kaldi): frame t covers [t hop, t hop + win_length),
 *               only whole frames when snip_edges, else Kaldi's mirrored edges; the processed frame is
 *               zero-padded on the right to n_fft.
 *   per frame   dither (N(0, dither^2) noise), DC removal (subtract the frame mean), pre-emphasis
 *               (x[j] -= coef x[j-1], x[-1] := x[0]), window
 *   spectrum    |rfft|^power over n_fft/2 + 1 bins
 *   mel         triangular filters (HTK, Slaney or Kaldi scale; optional Slaney area norm)
 *   log         none | natural log | dB (librosa power_to_db) | Whisper's log10 scaling
 *   per utterance  optional CMVN (per mel bin over frames), then optional deltas
 *
 * Everything is computed in double and written as float32. Exact settings of every preset and the
 * formulas are in docs/features.md.
 */
#ifndef SERC_MEL_H
#define SERC_MEL_H

#include <stdint.h>

#include "error.h"

typedef enum MelWindow {
    MEL_WINDOW_HANN = 0,   /* 0.5 - 0.5 cos(2 pi i / N) */
    MEL_WINDOW_HAMMING,    /* 0.54 - 0.46 cos(2 pi i / N) */
    MEL_WINDOW_POVEY,      /* (0.5 - 0.5 cos(2 pi i / N))^0.85, Kaldi's default */
    MEL_WINDOW_RECTANGULAR /* 1 */
} MelWindow;               /* N = win_length when periodic, win_length - 1 when symmetric */

typedef enum MelFraming { MEL_FRAMING_STFT = 0, MEL_FRAMING_KALDI } MelFraming;
typedef enum MelPadMode { MEL_PAD_REFLECT = 0, MEL_PAD_CONSTANT } MelPadMode;

typedef enum MelScale {
    MEL_SCALE_HTK = 0, /* m = 2595 log10(1 + f/700), triangles linear in Hz (torchaudio) */
    MEL_SCALE_SLANEY,  /* linear below 1 kHz, logarithmic above, triangles linear in Hz (librosa) */
    MEL_SCALE_KALDI    /* m = 1127 ln(1 + f/700), triangles linear in mel, Nyquist bin unused (Kaldi) */
} MelScale;

typedef enum MelNorm { MEL_NORM_NONE = 0, MEL_NORM_SLANEY } MelNorm; /* slaney: 2 / (f_hi - f_lo) */

typedef enum MelLog {
    MEL_LOG_NONE = 0,
    MEL_LOG_NATURAL, /* ln(max(x + log_offset, log_floor)) */
    MEL_LOG_DB,      /* 10 log10(max(amin, x)) - 10 log10(max(amin, ref)), then max(., max - top_db) */
    MEL_LOG_WHISPER  /* y = log10(max(x, log_floor)); y = max(y, max(y) - 8); (y + 4) / 4 */
} MelLog;

typedef enum MelCmvn { MEL_CMVN_NONE = 0, MEL_CMVN_MEAN, MEL_CMVN_MEAN_VAR } MelCmvn;

typedef struct MelConfig {
    int sample_rate;      /* Hz */
    int n_fft;            /* FFT length; derived from win_length when round_to_power_of_two */
    int win_length;       /* samples; replaced by frame_length_ms when that is > 0 */
    int hop_length;       /* samples; replaced by frame_shift_ms when that is > 0 */
    double frame_length_ms, frame_shift_ms; /* Kaldi style: win = (int)(sr * ms / 1000); 0 = unused */
    int round_to_power_of_two;              /* n_fft = smallest power of two >= win_length */
    MelWindow window;
    int window_periodic;  /* 1 periodic (torch.hann_window default), 0 symmetric (Kaldi) */
    MelFraming framing;
    int center;           /* STFT framing: pad n_fft/2 samples on each side */
    MelPadMode pad_mode;  /* STFT framing with center: reflect (torch) or zeros (librosa >= 0.10) */
    int snip_edges;       /* Kaldi framing: 1 only whole frames; 0 mirrored edges, n / hop frames */
    double preemphasis;   /* 0 = off; Kaldi 0.97 */
    int remove_dc_offset; /* subtract each frame's mean before pre-emphasis */
    double dither;        /* std of Gaussian noise added to each frame sample; 0 = off */
    uint64_t dither_seed; /* Philox seed of that noise (same noise for the same seed and input) */
    double power;         /* exponent of |X|: 1 magnitude, 2 power */
    int n_mels;
    double f_min;         /* Hz */
    double f_max;         /* Hz; <= 0 means nyquist + f_max (so 0 is the Nyquist frequency) */
    MelScale mel_scale;
    MelNorm norm;
    MelLog log;
    double log_offset;    /* MEL_LOG_NATURAL: added before the log */
    double log_floor;     /* MEL_LOG_NATURAL: lower clamp; MEL_LOG_WHISPER: clamp(min=) before log10 */
    double db_amin, db_ref, db_top_db; /* MEL_LOG_DB; db_top_db <= 0 disables the clamp */
    int drop_last_frame;  /* Whisper drops the last STFT frame */
    MelCmvn cmvn;         /* per utterance, per mel bin: x - mean, (x - mean) / max(std, 1e-8) */
    int delta_order;      /* 0, 1 (append deltas) or 2 (and delta-deltas): n_mels * (1 + order) columns */
    int delta_win;        /* torchaudio.functional.compute_deltas win_length (odd >= 3), e.g. 5 */
} MelConfig;

/* Fills cfg with a named preset at 16 kHz: "torchaudio", "kaldi", "whisper" or "librosa" (see
 * docs/features.md); fails with the list of names otherwise. Fields may be changed afterwards
 * (n_mels, sample_rate, ...) and the result checked with mel_config_validate. */
int mel_config_preset(const char *name, MelConfig *cfg, SercErr *err);

/* Names of the presets, NULL-terminated. */
extern const char *const mel_preset_names[];

/* Checks a configuration: positive sizes, win_length <= n_fft, 0 <= f_min < f_max <= sr/2, known enum
 * values, a log floor that keeps the log finite, ... Messages name the field ("mel config: hop_length
 * must be >= 1, got 0"). Mel filters that cover no FFT bin are allowed (all-zero rows), as in
 * torchaudio and librosa. */
int mel_config_validate(const MelConfig *cfg, SercErr *err);

/* The configuration with derived fields filled in: win/hop from the ms fields, n_fft rounded up, f_max
 * made absolute. Fails like mel_config_validate. */
int mel_config_resolve(const MelConfig *cfg, MelConfig *out, SercErr *err);

/* Frames produced for n_samples samples (0 for n_samples == 0; Kaldi framing with snip_edges gives 0
 * when n_samples < win_length). cfg must be valid (aborts otherwise). */
int64_t mel_num_frames(const MelConfig *cfg, int64_t n_samples);
/* Columns per frame: n_mels * (1 + delta_order). */
int mel_num_features(const MelConfig *cfg);

/* Precomputed state for one configuration: the window, the FFT plan, the (sparse) filterbank. Read-only
 * while computing, so one plan may serve several threads. */
typedef struct MelPlan MelPlan;

MelPlan *mel_plan_new(const MelConfig *cfg, SercErr *err);
void mel_plan_free(MelPlan *plan);
/* The resolved configuration the plan computes. */
const MelConfig *mel_plan_config(const MelPlan *plan);

/* out (frames, n_features) row-major, frames = mel_num_frames(cfg, n), from audio (n) at
 * cfg->sample_rate. OpenMP over frames. */
void mel_plan_compute(const MelPlan *plan, const float *audio, int64_t n, float *out);

/* Filter weights as a dense (n_mels, n_fft/2 + 1) row-major matrix (tests, the CUDA kernel). */
void mel_plan_filterbank(const MelPlan *plan, double *out);

/* One-shot: plan, compute, free. cfg must be valid (aborts otherwise). */
void logmel_compute(const MelConfig *cfg, const float *audio, int64_t n, float *out);

#endif
