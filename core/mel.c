/* Log-mel features, CPU reference (see mel.h and docs/features.md). */
#include "mel.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fft.h"
#include "rng.h"

const char *const mel_preset_names[] = {"torchaudio", "kaldi", "whisper", "librosa", NULL};

/* ---- presets ---- */

static void preset_common(MelConfig *c) {
    memset(c, 0, sizeof *c);
    c->sample_rate = 16000;
    c->window = MEL_WINDOW_HANN;
    c->window_periodic = 1;
    c->framing = MEL_FRAMING_STFT;
    c->center = 1;
    c->pad_mode = MEL_PAD_REFLECT;
    c->snip_edges = 1;
    c->power = 2.0;
    c->f_min = 0.0;
    c->f_max = 0.0; /* Nyquist */
    c->db_amin = 1e-10;
    c->db_ref = 1.0;
    c->db_top_db = 80.0;
    c->delta_win = 5;
}

int mel_config_preset(const char *name, MelConfig *c, SercErr *err) {
    preset_common(c);
    if (strcmp(name, "torchaudio") == 0) {
        /* torchaudio.transforms.MelSpectrogram() defaults, then ln(x + 1e-6) */
        c->n_fft = 400, c->win_length = 400, c->hop_length = 200;
        c->n_mels = 128;
        c->mel_scale = MEL_SCALE_HTK;
        c->norm = MEL_NORM_NONE;
        c->log = MEL_LOG_NATURAL;
        c->log_offset = 1e-6;
        c->log_floor = 0.0;
    } else if (strcmp(name, "kaldi") == 0) {
        /* torchaudio.compliance.kaldi.fbank() defaults with dither = 0 */
        c->frame_length_ms = 25.0, c->frame_shift_ms = 10.0;
        c->win_length = 400, c->hop_length = 160, c->n_fft = 512;
        c->round_to_power_of_two = 1;
        c->window = MEL_WINDOW_POVEY;
        c->window_periodic = 0;
        c->framing = MEL_FRAMING_KALDI;
        c->center = 0;
        c->snip_edges = 1;
        c->preemphasis = 0.97;
        c->remove_dc_offset = 1;
        c->n_mels = 23;
        c->f_min = 20.0;
        c->mel_scale = MEL_SCALE_KALDI;
        c->log = MEL_LOG_NATURAL;
        c->log_offset = 0.0;
        c->log_floor = FLT_EPSILON; /* std::numeric_limits<float>::epsilon() */
    } else if (strcmp(name, "whisper") == 0) {
        /* openai-whisper log_mel_spectrogram (without the 30 s padding) */
        c->n_fft = 400, c->win_length = 400, c->hop_length = 160;
        c->n_mels = 80;
        c->mel_scale = MEL_SCALE_SLANEY;
        c->norm = MEL_NORM_SLANEY;
        c->log = MEL_LOG_WHISPER;
        c->log_floor = 1e-10;
        c->drop_last_frame = 1;
    } else if (strcmp(name, "librosa") == 0) {
        /* librosa.feature.melspectrogram(sr=16000) defaults, then power_to_db(ref=1, amin=1e-10, top_db=80) */
        c->n_fft = 2048, c->win_length = 2048, c->hop_length = 512;
        c->pad_mode = MEL_PAD_CONSTANT;
        c->n_mels = 128;
        c->mel_scale = MEL_SCALE_SLANEY;
        c->norm = MEL_NORM_SLANEY;
        c->log = MEL_LOG_DB;
    } else {
        return serc_fail(err, "unknown feature preset '%s' (known: torchaudio, kaldi, whisper, librosa)", name);
    }
    return 0;
}

/* ---- validation ---- */

static int next_pow2(int x) {
    int p = 1;
    while (p < x) p *= 2;
    return p;
}

#define BAD(...) serc_fail(err, "mel config: " __VA_ARGS__)

int mel_config_resolve(const MelConfig *cfg, MelConfig *out, SercErr *err) {
    MelConfig c = *cfg;
    if (c.sample_rate < 1 || c.sample_rate > 10000000)
        return BAD("sample_rate must be in [1, 10000000] Hz, got %d", c.sample_rate);
    if (c.frame_length_ms < 0 || c.frame_shift_ms < 0 || !isfinite(c.frame_length_ms) || !isfinite(c.frame_shift_ms))
        return BAD("frame_length_ms and frame_shift_ms must be finite and >= 0");
    /* same expression as torchaudio: int(sample_frequency * frame_length * 0.001) */
    if (c.frame_length_ms > 0) c.win_length = (int)((double)c.sample_rate * c.frame_length_ms * 0.001);
    if (c.frame_shift_ms > 0) c.hop_length = (int)((double)c.sample_rate * c.frame_shift_ms * 0.001);
    if (c.win_length < 1 || c.win_length > (1 << 22))
        return BAD("win_length must be in [1, 4194304] samples, got %d", c.win_length);
    if (c.hop_length < 1) return BAD("hop_length must be >= 1 sample, got %d", c.hop_length);
    if (c.round_to_power_of_two) c.n_fft = next_pow2(c.win_length);
    if (c.n_fft < 1 || c.n_fft > (1 << 22)) return BAD("n_fft must be in [1, 4194304], got %d", c.n_fft);
    if (c.win_length > c.n_fft) return BAD("win_length (%d) must be <= n_fft (%d)", c.win_length, c.n_fft);
    double nyquist = 0.5 * c.sample_rate;
    if (!isfinite(c.f_max) || !isfinite(c.f_min)) return BAD("f_min and f_max must be finite");
    if (c.f_max <= 0) c.f_max += nyquist;
    if (c.f_min < 0) return BAD("f_min must be >= 0 Hz, got %g", c.f_min);
    if (c.f_max > nyquist * (1 + 1e-12))
        return BAD("f_max (%g Hz) must be <= the Nyquist frequency sample_rate/2 = %g Hz", c.f_max, nyquist);
    if (c.f_min >= c.f_max) return BAD("f_min (%g Hz) must be < f_max (%g Hz)", c.f_min, c.f_max);
    *out = c;
    return 0;
}

int mel_config_validate(const MelConfig *cfg, SercErr *err) {
    MelConfig c;
    if (mel_config_resolve(cfg, &c, err)) return -1;
    if ((unsigned)c.window > MEL_WINDOW_RECTANGULAR) return BAD("unknown window %d", (int)c.window);
    if ((unsigned)c.framing > MEL_FRAMING_KALDI) return BAD("unknown framing %d", (int)c.framing);
    if ((unsigned)c.pad_mode > MEL_PAD_CONSTANT) return BAD("unknown pad_mode %d", (int)c.pad_mode);
    if ((unsigned)c.mel_scale > MEL_SCALE_KALDI) return BAD("unknown mel_scale %d", (int)c.mel_scale);
    if ((unsigned)c.norm > MEL_NORM_SLANEY) return BAD("unknown norm %d", (int)c.norm);
    if ((unsigned)c.log > MEL_LOG_WHISPER) return BAD("unknown log mode %d", (int)c.log);
    if ((unsigned)c.cmvn > MEL_CMVN_MEAN_VAR) return BAD("unknown cmvn mode %d", (int)c.cmvn);
    if (c.framing == MEL_FRAMING_KALDI && c.center)
        return BAD("center applies to STFT framing; Kaldi framing uses snip_edges instead");
    if (c.window != MEL_WINDOW_RECTANGULAR && !c.window_periodic && c.win_length < 2)
        return BAD("a symmetric window needs win_length >= 2, got %d", c.win_length);
    if (!(c.preemphasis >= 0 && c.preemphasis <= 1)) return BAD("preemphasis must be in [0, 1], got %g", c.preemphasis);
    if (!(c.dither >= 0) || !isfinite(c.dither)) return BAD("dither must be finite and >= 0, got %g", c.dither);
    if (!(c.power > 0) || !isfinite(c.power)) return BAD("power must be > 0 (1 magnitude, 2 power), got %g", c.power);
    if (c.mel_scale == MEL_SCALE_KALDI && c.n_fft % 2)
        return BAD("the Kaldi mel scale needs an even n_fft, got %d", c.n_fft);
    if (c.n_mels < 1 || c.n_mels > 4096) return BAD("n_mels must be in [1, 4096], got %d", c.n_mels);
    if (c.log == MEL_LOG_NATURAL &&
        !(c.log_offset >= 0 && c.log_floor >= 0 && c.log_offset + c.log_floor > 0 && isfinite(c.log_offset + c.log_floor)))
        return BAD("natural log needs log_offset >= 0 and log_floor >= 0, not both 0 (got %g, %g)", c.log_offset,
                   c.log_floor);
    if (c.log == MEL_LOG_DB && !(c.db_amin > 0 && c.db_ref > 0 && isfinite(c.db_top_db)))
        return BAD("dB log needs db_amin > 0, db_ref > 0 and a finite db_top_db (got %g, %g, %g)", c.db_amin,
                   c.db_ref, c.db_top_db);
    if (c.log == MEL_LOG_WHISPER && !(c.log_floor > 0))
        return BAD("whisper log needs log_floor > 0, got %g", c.log_floor);
    if (c.delta_order < 0 || c.delta_order > 2) return BAD("delta_order must be 0, 1 or 2, got %d", c.delta_order);
    if (c.delta_order > 0 && (c.delta_win < 3 || c.delta_win % 2 == 0 || c.delta_win > 101))
        return BAD("delta_win must be odd and in [3, 101], got %d", c.delta_win);
    return 0;
}

static MelConfig resolved_or_die(const MelConfig *cfg) {
    MelConfig r;
    SercErr err;
    if (mel_config_validate(cfg, &err) || mel_config_resolve(cfg, &r, &err)) serc_die("%s", err.msg);
    return r;
}

/* Frames before dropping: cfg resolved. */
static int64_t frames_resolved(const MelConfig *c, int64_t n) {
    if (n <= 0) return 0;
    int64_t f;
    if (c->framing == MEL_FRAMING_STFT) {
        int64_t pad = c->center ? c->n_fft / 2 : 0, len = n + 2 * pad;
        f = len < c->n_fft ? 0 : 1 + (len - c->n_fft) / c->hop_length;
    } else if (c->snip_edges) {
        f = n < c->win_length ? 0 : 1 + (n - c->win_length) / c->hop_length;
    } else {
        f = (n + c->hop_length / 2) / c->hop_length;
    }
    if (c->drop_last_frame && f > 0) f--;
    return f;
}

int64_t mel_num_frames(const MelConfig *cfg, int64_t n_samples) {
    MelConfig c = resolved_or_die(cfg);
    return frames_resolved(&c, n_samples);
}

int mel_num_features(const MelConfig *cfg) { return cfg->n_mels * (1 + cfg->delta_order); }

/* ---- mel scales ---- */

static double hz_to_mel(MelScale s, double f) {
    switch (s) {
    case MEL_SCALE_HTK: return 2595.0 * log10(1.0 + f / 700.0);
    case MEL_SCALE_KALDI: return 1127.0 * log(1.0 + f / 700.0);
    case MEL_SCALE_SLANEY:
    default: { /* Slaney's Auditory Toolbox, as librosa.hz_to_mel(htk=False) */
        const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, logstep = log(6.4) / 27.0;
        if (f >= min_log_hz) return min_log_hz / f_sp + log(f / min_log_hz) / logstep;
        return f / f_sp;
    }
    }
}

static double mel_to_hz(MelScale s, double m) {
    switch (s) {
    case MEL_SCALE_HTK: return 700.0 * (pow(10.0, m / 2595.0) - 1.0);
    case MEL_SCALE_KALDI: return 700.0 * (exp(m / 1127.0) - 1.0);
    case MEL_SCALE_SLANEY:
    default: {
        const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp,
                     logstep = log(6.4) / 27.0;
        if (m >= min_log_mel) return min_log_hz * exp(logstep * (m - min_log_mel));
        return f_sp * m;
    }
    }
}

/* ---- the plan ---- */

struct MelPlan {
    MelConfig cfg;    /* resolved */
    int frame_len;    /* samples taken per frame: n_fft (STFT framing) or win_length (Kaldi) */
    int n_bins;       /* n_fft / 2 + 1 */
    double *window;   /* frame_len: the window, zero outside win_length for STFT framing */
    RfftPlan *rfft;
    int *fb_start, *fb_len, *fb_off; /* per mel: first nonzero bin, count, offset into fb_w */
    double *fb_w;
};

/* Window value i of a window of length w (periodic: period w; symmetric: period w - 1). */
static double window_value(MelWindow type, int periodic, int w, int i) {
    double N = periodic ? (double)w : (double)(w - 1);
    double c = (w == 1) ? 1.0 : cos(2.0 * M_PI * i / N);
    switch (type) {
    case MEL_WINDOW_HANN: return w == 1 ? 1.0 : 0.5 - 0.5 * c;
    case MEL_WINDOW_HAMMING: return w == 1 ? 1.0 : 0.54 - 0.46 * c;
    case MEL_WINDOW_POVEY: return w == 1 ? 1.0 : pow(0.5 - 0.5 * c, 0.85);
    case MEL_WINDOW_RECTANGULAR:
    default: return 1.0;
    }
}

/* Dense filter weight of mel m at FFT bin k (f_k = k sr / n_fft). */
static double filter_weight(const MelConfig *c, const double *pts, int m, int k) {
    double fk = (double)k * c->sample_rate / c->n_fft, w;
    if (c->mel_scale == MEL_SCALE_KALDI) {
        /* torchaudio.compliance.kaldi.get_mel_banks: triangles in the mel domain over bins 0..n_fft/2-1 */
        if (k >= c->n_fft / 2) return 0.0;
        double mk = hz_to_mel(MEL_SCALE_KALDI, fk);
        double up = (mk - pts[m]) / (pts[m + 1] - pts[m]), down = (pts[m + 2] - mk) / (pts[m + 2] - pts[m + 1]);
        w = fmax(0.0, fmin(up, down));
        if (c->norm == MEL_NORM_SLANEY)
            w *= 2.0 / (mel_to_hz(MEL_SCALE_KALDI, pts[m + 2]) - mel_to_hz(MEL_SCALE_KALDI, pts[m]));
        return w;
    }
    /* torchaudio melscale_fbanks / librosa.filters.mel: triangles linear in Hz between mel-spaced points */
    double up = (fk - pts[m]) / (pts[m + 1] - pts[m]), down = (pts[m + 2] - fk) / (pts[m + 2] - pts[m + 1]);
    w = fmax(0.0, fmin(up, down));
    if (c->norm == MEL_NORM_SLANEY) w *= 2.0 / (pts[m + 2] - pts[m]);
    return w;
}

static void build_filterbank(MelPlan *p) {
    const MelConfig *c = &p->cfg;
    int nm = c->n_mels, nb = p->n_bins;
    /* band edges: n_mels + 2 points equally spaced in mel; in mel (Kaldi) or converted to Hz (others) */
    double *pts = serc_malloc(sizeof(double) * (size_t)(nm + 2));
    double mlo = hz_to_mel(c->mel_scale, c->f_min), mhi = hz_to_mel(c->mel_scale, c->f_max);
    for (int i = 0; i < nm + 2; i++) {
        double m = mlo + i * (mhi - mlo) / (nm + 1);
        pts[i] = c->mel_scale == MEL_SCALE_KALDI ? m : mel_to_hz(c->mel_scale, m);
    }
    p->fb_start = serc_malloc(sizeof(int) * (size_t)nm);
    p->fb_len = serc_malloc(sizeof(int) * (size_t)nm);
    p->fb_off = serc_malloc(sizeof(int) * (size_t)nm);
    size_t total = 0;
    for (int m = 0; m < nm; m++) {
        int lo = nb, hi = -1;
        for (int k = 0; k < nb; k++)
            if (filter_weight(c, pts, m, k) > 0) {
                if (k < lo) lo = k;
                hi = k;
            }
        p->fb_start[m] = hi < 0 ? 0 : lo;
        p->fb_len[m] = hi < 0 ? 0 : hi - lo + 1;
        p->fb_off[m] = (int)total;
        total += (size_t)p->fb_len[m];
    }
    p->fb_w = serc_malloc(sizeof(double) * (total ? total : 1));
    for (int m = 0; m < nm; m++)
        for (int j = 0; j < p->fb_len[m]; j++) p->fb_w[p->fb_off[m] + j] = filter_weight(c, pts, m, p->fb_start[m] + j);
    free(pts);
}

MelPlan *mel_plan_new(const MelConfig *cfg, SercErr *err) {
    MelConfig c;
    if (mel_config_validate(cfg, err) || mel_config_resolve(cfg, &c, err)) return NULL;
    MelPlan *p = serc_calloc(1, sizeof *p);
    p->cfg = c;
    p->n_bins = c.n_fft / 2 + 1;
    p->frame_len = c.framing == MEL_FRAMING_STFT ? c.n_fft : c.win_length;
    p->window = serc_calloc((size_t)p->frame_len, sizeof(double));
    /* torch.stft / librosa centre a shorter window inside n_fft; Kaldi frames are win_length long */
    int left = c.framing == MEL_FRAMING_STFT ? (c.n_fft - c.win_length) / 2 : 0;
    for (int i = 0; i < c.win_length; i++) p->window[left + i] = window_value(c.window, c.window_periodic, c.win_length, i);
    p->rfft = rfft_plan_new(c.n_fft);
    build_filterbank(p);
    return p;
}

void mel_plan_free(MelPlan *p) {
    if (!p) return;
    free(p->window);
    rfft_plan_free(p->rfft);
    free(p->fb_start);
    free(p->fb_len);
    free(p->fb_off);
    free(p->fb_w);
    free(p);
}

const MelConfig *mel_plan_config(const MelPlan *p) { return &p->cfg; }

void mel_plan_filterbank(const MelPlan *p, double *out) {
    int nb = p->n_bins;
    memset(out, 0, sizeof(double) * (size_t)p->cfg.n_mels * nb);
    for (int m = 0; m < p->cfg.n_mels; m++)
        for (int j = 0; j < p->fb_len[m]; j++) out[(size_t)m * nb + p->fb_start[m] + j] = p->fb_w[p->fb_off[m] + j];
}

/* ---- per frame ---- */

/* Sample index i of a signal of length n, extended past its ends: numpy/torch 'reflect' ([2 1 | 0 1 2]
 * without repeating the edge), Kaldi's mirror ([1 0 | 0 1 2], repeating the edge), or zeros. */
static double sample_at(const float *x, int64_t n, int64_t i, int mode /* 0 zero, 1 reflect, 2 kaldi */) {
    if (i >= 0 && i < n) return x[i];
    if (mode == 0) return 0.0;
    if (mode == 1) {
        if (n == 1) return x[0];
        int64_t period = 2 * (n - 1);
        i = i < 0 ? -i : i;
        i %= period;
        if (i >= n) i = period - i;
        return x[i];
    }
    int64_t period = 2 * n;
    i %= period;
    if (i < 0) i += period;
    if (i >= n) i = period - 1 - i;
    return x[i];
}

/* Standard normal deviate number i of the dither stream (Box-Muller on two Philox words). */
static double dither_normal(uint64_t seed, uint64_t i) {
    double u1 = ((double)serc_rng_u32(seed, 0, 2 * i) + 0.5) / 4294967296.0;
    double u2 = (double)serc_rng_u32(seed, 0, 2 * i + 1) / 4294967296.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Fills mel (n_mels) for frame t: framing, dither, DC, pre-emphasis, window, |FFT|^power, filterbank,
 * then the element-wise part of the log. frame holds n_fft doubles, spec 2 (n_fft/2 + 1), work the FFT's. */
static void frame_mel(const MelPlan *p, const float *x, int64_t n, int64_t t, double *frame, double *spec,
                      double *work, double *mel) {
    const MelConfig *c = &p->cfg;
    int L = p->frame_len;
    int64_t start;
    int mode;
    if (c->framing == MEL_FRAMING_STFT) {
        start = t * c->hop_length - (c->center ? c->n_fft / 2 : 0);
        mode = c->center && c->pad_mode == MEL_PAD_REFLECT ? 1 : 0;
    } else {
        start = t * c->hop_length - (c->snip_edges ? 0 : c->win_length / 2 - c->hop_length / 2);
        mode = 2;
    }
    for (int j = 0; j < L; j++) frame[j] = sample_at(x, n, start + j, mode);
    if (c->dither > 0)
        for (int j = 0; j < L; j++) frame[j] += c->dither * dither_normal(c->dither_seed, (uint64_t)t * L + j);
    if (c->remove_dc_offset) {
        double s = 0;
        for (int j = 0; j < L; j++) s += frame[j];
        s /= L;
        for (int j = 0; j < L; j++) frame[j] -= s;
    }
    if (c->preemphasis != 0) {
        for (int j = L - 1; j > 0; j--) frame[j] -= c->preemphasis * frame[j - 1];
        frame[0] -= c->preemphasis * frame[0];
    }
    for (int j = 0; j < L; j++) frame[j] *= p->window[j];
    for (int j = L; j < c->n_fft; j++) frame[j] = 0.0;
    rfft_forward(p->rfft, frame, spec, work);
    for (int k = 0; k < p->n_bins; k++) {
        double re = spec[2 * k], im = spec[2 * k + 1], pw = re * re + im * im;
        spec[k] = c->power == 2.0 ? pw : c->power == 1.0 ? sqrt(pw) : pow(sqrt(pw), c->power);
    }
    for (int m = 0; m < c->n_mels; m++) {
        const double *w = p->fb_w + p->fb_off[m], *s = spec + p->fb_start[m];
        double acc = 0;
        for (int j = 0; j < p->fb_len[m]; j++) acc += w[j] * s[j];
        double v = acc;
        switch (c->log) {
        case MEL_LOG_NATURAL: v = log(fmax(acc + c->log_offset, c->log_floor)); break;
        case MEL_LOG_DB: v = 10.0 * log10(fmax(c->db_amin, acc)) - 10.0 * log10(fmax(c->db_amin, c->db_ref)); break;
        case MEL_LOG_WHISPER: v = log10(fmax(acc, c->log_floor)); break;
        case MEL_LOG_NONE: break;
        }
        mel[m] = v;
    }
}

/* ---- per utterance ---- */

/* Utterance-wide clamps: dB top_db and Whisper's max - 8 then (x + 4) / 4. y is (F, nm). */
static void log_postprocess(const MelConfig *c, double *y, int64_t F, int nm) {
    size_t N = (size_t)F * nm;
    if (N == 0) return;
    if ((c->log == MEL_LOG_DB && c->db_top_db > 0) || c->log == MEL_LOG_WHISPER) {
        double mx = -INFINITY;
        for (size_t i = 0; i < N; i++) mx = fmax(mx, y[i]);
        double lo = mx - (c->log == MEL_LOG_DB ? c->db_top_db : 8.0);
        for (size_t i = 0; i < N; i++) y[i] = fmax(y[i], lo);
    }
    if (c->log == MEL_LOG_WHISPER)
        for (size_t i = 0; i < N; i++) y[i] = (y[i] + 4.0) / 4.0;
}

/* Per-utterance CMVN over frames, per mel bin. */
static void apply_cmvn(MelCmvn mode, double *y, int64_t F, int nm) {
    if (mode == MEL_CMVN_NONE || F == 0) return;
    for (int m = 0; m < nm; m++) {
        double mean = 0, var = 0;
        for (int64_t t = 0; t < F; t++) mean += y[t * nm + m];
        mean /= (double)F;
        for (int64_t t = 0; t < F; t++) var += (y[t * nm + m] - mean) * (y[t * nm + m] - mean);
        var /= (double)F;
        double scale = mode == MEL_CMVN_MEAN_VAR ? 1.0 / fmax(sqrt(var), 1e-8) : 1.0;
        for (int64_t t = 0; t < F; t++) y[t * nm + m] = (y[t * nm + m] - mean) * scale;
    }
}

/* torchaudio.functional.compute_deltas along frames with replicated edges:
 *   d[t] = sum_{k=1..N} k (x[t+k] - x[t-k]) / (2 sum_{k=1..N} k^2),  N = (win - 1) / 2.
 * in has row stride `stride`, d has row stride `stride` too; nm columns. */
static void compute_deltas(const double *in, double *d, int64_t F, int nm, size_t stride, int win) {
    int N = (win - 1) / 2;
    double denom = 0;
    for (int k = 1; k <= N; k++) denom += 2.0 * k * k;
    for (int64_t t = 0; t < F; t++)
        for (int m = 0; m < nm; m++) {
            double acc = 0;
            for (int k = 1; k <= N; k++) {
                int64_t tp = t + k < F ? t + k : F - 1, tm = t - k >= 0 ? t - k : 0;
                acc += k * (in[tp * stride + m] - in[tm * stride + m]);
            }
            d[t * stride + m] = acc / denom;
        }
}

void mel_plan_compute(const MelPlan *p, const float *audio, int64_t n, float *out) {
    const MelConfig *c = &p->cfg;
    int64_t F = frames_resolved(c, n);
    int nm = c->n_mels, nf = mel_num_features(c);
    if (F == 0) return;
    double *y = serc_malloc(sizeof(double) * (size_t)F * nf);
#pragma omp parallel
    {
        double *frame = serc_malloc(sizeof(double) * (size_t)c->n_fft);
        double *spec = serc_malloc(sizeof(double) * 2 * (size_t)p->n_bins);
        double *work = serc_malloc(sizeof(double) * rfft_work_len(p->rfft));
        double *mel = serc_malloc(sizeof(double) * (size_t)nm);
#pragma omp for schedule(static)
        for (int64_t t = 0; t < F; t++) {
            frame_mel(p, audio, n, t, frame, spec, work, mel);
            memcpy(y + (size_t)t * nf, mel, sizeof(double) * (size_t)nm);
        }
        free(frame);
        free(spec);
        free(work);
        free(mel);
    }
    /* utterance-wide steps work on the static block (stride nf) */
    if (nf != nm) {
        /* compact to (F, nm) for the clamps and CMVN, then spread back */
        double *s = serc_malloc(sizeof(double) * (size_t)F * nm);
        for (int64_t t = 0; t < F; t++) memcpy(s + t * nm, y + t * nf, sizeof(double) * (size_t)nm);
        log_postprocess(c, s, F, nm);
        apply_cmvn(c->cmvn, s, F, nm);
        for (int64_t t = 0; t < F; t++) memcpy(y + t * nf, s + t * nm, sizeof(double) * (size_t)nm);
        free(s);
        for (int o = 1; o <= c->delta_order; o++)
            compute_deltas(y + (size_t)(o - 1) * nm, y + (size_t)o * nm, F, nm, (size_t)nf, c->delta_win);
    } else {
        log_postprocess(c, y, F, nm);
        apply_cmvn(c->cmvn, y, F, nm);
    }
    for (size_t i = 0; i < (size_t)F * nf; i++) out[i] = (float)y[i];
    free(y);
}

void logmel_compute(const MelConfig *cfg, const float *audio, int64_t n, float *out) {
    SercErr err;
    MelPlan *p = mel_plan_new(cfg, &err);
    if (!p) serc_die("logmel_compute: %s", err.msg);
    mel_plan_compute(p, audio, n, out);
    mel_plan_free(p);
}
