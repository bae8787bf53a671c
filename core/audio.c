/* Audio decoding, mono mixdown, resampling and WAV writing (see audio.h). */
#include "audio.h"

#include <errno.h>
#include <pthread.h>
#include <float.h>
#include <math.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"

/* Frames decoded per sf_readf_double call. */
#define READ_CHUNK 16384
/* Headers claiming more frames than this (about 6 days at 192 kHz) are corrupt. */
#define MAX_FRAMES ((int64_t)1 << 37)

/* ---- checks before libsndfile ---- */

/* The file exists, is a regular file and is not empty. */
static int check_file(const char *path, int64_t *size, SercErr *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return serc_fail(err, "%s: no such file", path);
        return serc_fail(err, "%s: cannot access file (%s)", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) return serc_fail(err, "%s: is a directory, not an audio file", path);
    if (!S_ISREG(st.st_mode)) return serc_fail(err, "%s: not a regular file", path);
    if (st.st_size == 0) return serc_fail(err, "%s: empty file (0 bytes)", path);
    *size = (int64_t)st.st_size;
    return 0;
}

static uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static unsigned le16(const unsigned char *b) { return (unsigned)b[0] | (unsigned)b[1] << 8; }

/* libsndfile silently shortens a WAV whose data chunk claims more bytes than the file holds (it only
 * notes it in its log), so truncation is detected here by walking the RIFF chunks. Files that are not
 * RIFF/WAVE, or whose chunks cannot be walked, are left to libsndfile. */
static int check_riff(const char *path, int64_t size, SercErr *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return serc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
    unsigned char h[12], ch[8], fmt[16];
    unsigned block_align = 0, tag = 0;
    int have_fmt = 0, rc = 0;
    if (fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4)) goto done;
    for (int64_t off = 12; off + 8 <= size;) {
        if (fseeko(f, (off_t)off, SEEK_SET) || fread(ch, 1, 8, f) != 8) goto done;
        uint32_t len = le32(ch + 4);
        int64_t avail = size - (off + 8);
        if (memcmp(ch, "fmt ", 4) == 0 && len >= 16 && avail >= 16) {
            if (fread(fmt, 1, 16, f) != 16) goto done;
            tag = le16(fmt), block_align = le16(fmt + 12), have_fmt = 1;
            /* libsndfile's own messages for these ("SF_INFO struct incomplete") do not say what is wrong */
            unsigned channels = le16(fmt + 2), bits = le16(fmt + 14);
            uint32_t rate = le32(fmt + 4);
            if (channels == 0 || channels > AUDIO_MAX_CHANNELS) {
                rc = serc_fail(err, "%s: unsupported channel count %u in the WAV header (1 to %d)", path, channels,
                               AUDIO_MAX_CHANNELS);
                goto done;
            }
            if (rate == 0 || rate > AUDIO_MAX_SAMPLE_RATE) {
                rc = serc_fail(err, "%s: implausible sample rate %u Hz in the WAV header (1 to %d)", path, rate,
                               AUDIO_MAX_SAMPLE_RATE);
                goto done;
            }
            if ((tag == 1 || tag == 3) && (bits == 0 || bits > 64)) {
                rc = serc_fail(err, "%s: unsupported bits per sample %u in the WAV header", path, bits);
                goto done;
            }
        } else if (memcmp(ch, "data", 4) == 0) {
            if ((int64_t)len > avail) {
                rc = serc_fail(err,
                               "%s: truncated: the WAV data chunk declares %u bytes but only %lld follow in the "
                               "file (cut-off file or corrupt header)",
                               path, len, (long long)avail);
            } else if (have_fmt && (tag == 1 || tag == 3 || tag == 0xFFFE) && block_align > 0 && len % block_align) {
                rc = serc_fail(err,
                               "%s: truncated: the WAV data chunk holds %u bytes, not a whole number of %u-byte "
                               "frames",
                               path, len, block_align);
            }
            goto done;
        }
        off += 8 + (int64_t)len + (len & 1);
    }
done:
    fclose(f);
    return rc;
}

/* Opens path with libsndfile and checks what its header claims. */
static SNDFILE *open_checked(const char *path, SF_INFO *info, SercErr *err) {
    int64_t size;
    if (check_file(path, &size, err) || check_riff(path, size, err)) return NULL;
    memset(info, 0, sizeof *info);
    SNDFILE *f = sf_open(path, SFM_READ, info);
    if (!f) {
        int code = sf_error(NULL);
        const char *what = code == SF_ERR_UNRECOGNISED_FORMAT    ? "not a recognised audio format"
                           : code == SF_ERR_MALFORMED_FILE       ? "malformed audio file"
                           : code == SF_ERR_UNSUPPORTED_ENCODING ? "unsupported audio encoding"
                                                                 : "cannot decode audio file";
        serc_fail(err, "%s: %s (libsndfile: %s)", path, what, sf_strerror(NULL));
        return NULL;
    }
    const char *bad = NULL;
    char buf[160];
    if (info->channels < 1 || info->channels > AUDIO_MAX_CHANNELS) {
        snprintf(buf, sizeof buf, "unsupported channel count %d (1 to %d)", info->channels, AUDIO_MAX_CHANNELS);
        bad = buf;
    } else if (info->samplerate < 1 || info->samplerate > AUDIO_MAX_SAMPLE_RATE) {
        snprintf(buf, sizeof buf, "implausible sample rate %d Hz in the header (1 to %d)", info->samplerate,
                 AUDIO_MAX_SAMPLE_RATE);
        bad = buf;
    } else if (info->frames == 0) {
        bad = "zero frames: the file holds a header but no audio";
    } else if (info->frames < 0 || (info->frames > MAX_FRAMES && info->frames != SF_COUNT_MAX)) {
        snprintf(buf, sizeof buf, "absurd frame count %lld in the header (corrupt file)", (long long)info->frames);
        bad = buf;
    }
    if (bad) {
        serc_fail(err, "%s: %s", path, bad);
        sf_close(f);
        return NULL;
    }
    return f;
}

static int probe_unlocked(const char *path, AudioInfo *out, SercErr *err) {
    SF_INFO info;
    SNDFILE *f = open_checked(path, &info, err);
    if (!f) return -1;
    out->frames = info.frames;
    out->sample_rate = info.samplerate;
    out->channels = info.channels;
    out->duration_s = (double)info.frames / info.samplerate;
    sf_close(f);
    return 0;
}

/* ---- decoding ---- */

/* Converts [start_s, end_s) to frames [*a, *b) of a file of `frames` frames at sr Hz. */
static int segment_frames(const char *path, double start_s, double end_s, int64_t frames, int sr, int64_t *a,
                          int64_t *b, SercErr *err) {
    double dur = (double)frames / sr;
    if (isnan(start_s) || isnan(end_s) || isinf(start_s))
        return serc_fail(err, "%s: segment bounds must be numbers (start %g s, end %g s)", path, start_s, end_s);
    if (start_s < 0) return serc_fail(err, "%s: segment start %.3f s is negative", path, start_s);
    if (end_s >= 0 && start_s >= end_s)
        return serc_fail(err, "%s: segment start %.3f s is not before its end %.3f s (start >= end)", path, start_s,
                         end_s);
    *a = llround(start_s * sr);
    if (*a >= frames)
        return serc_fail(err, "%s: segment start %.3f s is past the end of the file (duration %.3f s)", path,
                         start_s, dur);
    if (end_s < 0) {
        *b = frames;
        return 0;
    }
    if (end_s > dur + AUDIO_END_TOLERANCE_S)
        return serc_fail(err, "%s: segment end %.3f s is past the end of the file (duration %.3f s)", path, end_s,
                         dur);
    *b = isinf(end_s) ? frames : llround(end_s * sr);
    if (*b > frames) *b = frames;
    if (*b <= *a)
        return serc_fail(err, "%s: segment [%.6f, %.6f) s is shorter than one sample at %d Hz", path, start_s,
                         end_s, sr);
    return 0;
}

/* Positions f at frame a: sf_seek when seekable, else decodes and drops a frames. */
static int skip_to(const char *path, SNDFILE *f, const SF_INFO *info, int64_t a, SercErr *err) {
    if (a == 0) return 0;
    if (info->seekable) {
        if (sf_seek(f, a, SEEK_SET) != a)
            return serc_fail(err, "%s: cannot seek to frame %lld (%s)", path, (long long)a, sf_strerror(f));
        return 0;
    }
    double *tmp = serc_malloc(sizeof(double) * READ_CHUNK * (size_t)info->channels);
    int64_t left = a;
    while (left > 0) {
        sf_count_t want = left < READ_CHUNK ? left : READ_CHUNK, got = sf_readf_double(f, tmp, want);
        if (got <= 0) break;
        left -= got;
    }
    free(tmp);
    if (left > 0)
        return serc_fail(err, "%s: truncated: the file ended %lld frames before the segment start", path,
                         (long long)left);
    return 0;
}

/* Decodes frames [a, b) of f (b == SF_COUNT_MAX: until the end) into a mono double signal. */
static int decode_mono(const char *path, SNDFILE *f, const SF_INFO *info, int64_t a, int64_t b, double **out,
                       int64_t *n_out, SercErr *err) {
    int C = info->channels;
    int64_t want = b - a, cap = want < (1 << 20) ? want : (1 << 20), n = 0;
    double *mono = serc_malloc(sizeof(double) * (size_t)cap);
    double *buf = serc_malloc(sizeof(double) * READ_CHUNK * (size_t)C);
    int rc = 0;
    while (n < want) {
        sf_count_t req = want - n < READ_CHUNK ? want - n : READ_CHUNK, got = sf_readf_double(f, buf, req);
        if (got <= 0) break;
        if (n + got > cap) {
            while (n + got > cap) cap *= 2;
            if (cap > want) cap = want;
            mono = serc_realloc(mono, sizeof(double) * (size_t)cap);
        }
        for (sf_count_t i = 0; i < got; i++) {
            double s = 0;
            for (int c = 0; c < C; c++) {
                double v = buf[i * C + c];
                if (!(fabs(v) <= FLT_MAX)) {
                    int64_t at = a + n + i;
                    rc = serc_fail(err, "%s: sample %lld of channel %d (at %.3f s) is %s: audio samples must be finite",
                                   path, (long long)at, c, (double)at / info->samplerate,
                                   isnan(v) ? "NaN" : isinf(v) ? "infinite (Inf)" : "too large for float32 (Inf)");
                    goto out;
                }
                s += v;
            }
            mono[n + i] = s / C;
        }
        n += got;
    }
    if (sf_error(f) != SF_ERR_NO_ERROR) {
        rc = serc_fail(err, "%s: decoding failed after %lld frames (libsndfile: %s)", path, (long long)(a + n),
                       sf_strerror(f));
    } else if (b != SF_COUNT_MAX && n < want) {
        rc = serc_fail(err, "%s: truncated: the header declares %lld frames but decoding stopped at frame %lld",
                       path, (long long)info->frames, (long long)(a + n));
    } else if (n == 0) {
        rc = serc_fail(err, "%s: zero frames decoded", path);
    }
out:
    free(buf);
    if (rc) {
        free(mono);
        return rc;
    }
    *out = mono;
    *n_out = n;
    return 0;
}

static int resample_double(const double *in, int64_t n, int sr_in, int sr_out, double **out, int64_t *n_out,
                           SercErr *err) {
    if (sr_in < 1 || sr_out < 1) return serc_fail(err, "resample: rates must be positive (%d -> %d Hz)", sr_in, sr_out);
    int64_t expect = llround((double)n * sr_out / sr_in);
    double *y = serc_malloc(sizeof(double) * (size_t)(expect + 16));
    if (n == 0 || sr_in == sr_out) {
        if (n) memcpy(y, in, sizeof(double) * (size_t)n);
        *out = y;
        *n_out = n;
        return 0;
    }
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT64_I, SOXR_FLOAT64_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    size_t idone = 0, odone = 0;
    soxr_error_t e = soxr_oneshot(sr_in, sr_out, 1, in, (size_t)n, &idone, y, (size_t)expect + 16, &odone, &io, &q,
                                  NULL);
    if (e) {
        free(y);
        return serc_fail(err, "resample %d -> %d Hz failed (libsoxr: %s)", sr_in, sr_out, e);
    }
    /* soxr's one-shot length can differ from round(n r) by a sample; pad with zeros or cut to match */
    for (int64_t i = (int64_t)odone; i < expect; i++) y[i] = 0.0;
    /* finite input can still overflow the filter (float samples near FLT_MAX): never hand NaN on */
    for (int64_t i = 0; i < expect; i++) {
        if (!isfinite(y[i])) {
            double peak = 0;
            for (int64_t j = 0; j < n; j++) peak = fmax(peak, fabs(in[j]));
            free(y);
            return serc_fail(err, "resample %d -> %d Hz produced non-finite samples (input peak %g; float samples far "
                                  "outside [-1, 1] overflow the filter)", sr_in, sr_out, peak);
        }
    }
    *out = y;
    *n_out = expect;
    return 0;
}

int audio_resample(const float *in, int64_t n, int sr_in, int sr_out, float **out, int64_t *n_out, SercErr *err) {
    double *x = serc_malloc(sizeof(double) * (size_t)(n ? n : 1)), *y = NULL;
    for (int64_t i = 0; i < n; i++) x[i] = in[i];
    int64_t m = 0;
    int rc = resample_double(x, n, sr_in, sr_out, &y, &m, err);
    free(x);
    if (rc) return rc;
    float *r = serc_malloc(sizeof(float) * (size_t)(m ? m : 1));
    for (int64_t i = 0; i < m; i++) r[i] = (float)y[i];
    free(y);
    *out = r;
    *n_out = m;
    return 0;
}

static int load_unlocked(const char *path, double start_s, double end_s, int target_sr, float **out, int64_t *n_out,
                         int *sr_out, SercErr *err) {
    *out = NULL;
    *n_out = 0;
    if (target_sr < 0 || target_sr > AUDIO_MAX_SAMPLE_RATE)
        return serc_fail(err, "%s: target sample rate %d Hz out of range (0 keeps the file's rate)", path, target_sr);
    SF_INFO info;
    SNDFILE *f = open_checked(path, &info, err);
    if (!f) return -1;
    int64_t a = 0, b = SF_COUNT_MAX;
    int64_t frames = info.frames == SF_COUNT_MAX ? MAX_FRAMES : info.frames;
    double *x = NULL, *y = NULL;
    int64_t n = 0, m = 0;
    int rc = segment_frames(path, start_s, end_s, frames, info.samplerate, &a, &b, err);
    if (!rc && info.frames != SF_COUNT_MAX && end_s < 0) b = info.frames;
    if (!rc) rc = skip_to(path, f, &info, a, err);
    if (!rc) rc = decode_mono(path, f, &info, a, b, &x, &n, err);
    sf_close(f);
    if (rc) return rc;
    int sr = info.samplerate;
    if (target_sr > 0 && target_sr != sr) {
        rc = resample_double(x, n, sr, target_sr, &y, &m, err);
        free(x);
        if (rc) return serc_fail_prefix(err, "%s", path);
        x = y, n = m, sr = target_sr;
    }
    float *r = serc_malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        r[i] = (float)x[i];
        if (!isfinite(r[i])) { /* a resampled value past FLT_MAX */
            double v = x[i];
            free(x);
            free(r);
            return serc_fail(err, "%s: sample %lld is %g after resampling to %d Hz, outside float32's range", path,
                             (long long)i, v, sr);
        }
    }
    free(x);
    *out = r;
    *n_out = n;
    *sr_out = sr;
    return 0;
}

/* ---- libsndfile's error code is a process-wide global ----
 * Every sf_open (successful ones too) writes libsndfile's static error code, which a failed open reads
 * back with sf_error(NULL) to word its message; two concurrent opens can give a failing file another
 * file's message (or "No Error."). Decoding runs concurrently under the read side of this lock; a load
 * that failed is redone alone under the write side, so the message returned is the file's own. The
 * lock prefers writers, so a retry is not starved by a stream of loads. */
static pthread_rwlock_t g_sndfile_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

int audio_probe(const char *path, AudioInfo *out, SercErr *err) {
    pthread_rwlock_rdlock(&g_sndfile_lock);
    int rc = probe_unlocked(path, out, err);
    pthread_rwlock_unlock(&g_sndfile_lock);
    if (rc == 0) return 0;
    pthread_rwlock_wrlock(&g_sndfile_lock);
    rc = probe_unlocked(path, out, err);
    pthread_rwlock_unlock(&g_sndfile_lock);
    return rc;
}

int audio_load(const char *path, double start_s, double end_s, int target_sr, float **out, int64_t *n_out,
               int *sr_out, SercErr *err) {
    pthread_rwlock_rdlock(&g_sndfile_lock);
    int rc = load_unlocked(path, start_s, end_s, target_sr, out, n_out, sr_out, err);
    pthread_rwlock_unlock(&g_sndfile_lock);
    if (rc == 0) return 0;
    pthread_rwlock_wrlock(&g_sndfile_lock);
    rc = load_unlocked(path, start_s, end_s, target_sr, out, n_out, sr_out, err);
    pthread_rwlock_unlock(&g_sndfile_lock);
    return rc;
}

/* ---- writing ---- */

int audio_write_wav(const char *path, const float *samples, int64_t n, int sample_rate, AudioSampleFormat fmt,
                    SercErr *err) {
    if (sample_rate < 1 || sample_rate > AUDIO_MAX_SAMPLE_RATE)
        return serc_fail(err, "%s: cannot write sample rate %d Hz", path, sample_rate);
    if (n < 0) return serc_fail(err, "%s: cannot write %lld samples", path, (long long)n);
    if (fmt != AUDIO_PCM16 && fmt != AUDIO_FLOAT32) return serc_fail(err, "%s: unknown sample format %d", path, (int)fmt);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(samples[i]))
            return serc_fail(err, "%s: sample %lld is not finite; refusing to write it", path, (long long)i);
    AtomicFile af;
    if (atomic_open(&af, path, 0, err) != 0) return -1;
    SF_INFO info = {0};
    info.samplerate = sample_rate;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | (fmt == AUDIO_PCM16 ? SF_FORMAT_PCM_16 : SF_FORMAT_FLOAT);
    pthread_rwlock_wrlock(&g_sndfile_lock); /* alone, so a failure's message is its own */
    SNDFILE *f = sf_open_fd(fileno(af.f), SFM_WRITE, &info, SF_FALSE); /* writes the fd directly; af.f stays empty */
    int rc = 0;
    if (!f) rc = serc_fail(err, "%s: cannot write WAV (libsndfile: %s)", path, sf_strerror(NULL));
    pthread_rwlock_unlock(&g_sndfile_lock);
    if (f) {
        sf_count_t written = 0;
        if (fmt == AUDIO_PCM16) {
            short buf[4096];
            for (int64_t i = 0; i < n; i += 4096) {
                int64_t k = n - i < 4096 ? n - i : 4096;
                for (int64_t j = 0; j < k; j++) {
                    double v = nearbyint((double)samples[i + j] * 32768.0);
                    buf[j] = (short)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
                }
                written += sf_write_short(f, buf, k);
            }
        } else {
            written = n ? sf_write_float(f, samples, n) : 0;
        }
        if (written != n) rc = serc_fail(err, "%s: short write (%s)", path, sf_strerror(f));
        if (sf_close(f) != 0 && !rc) rc = serc_fail(err, "%s: cannot finish the WAV file", path);
    }
    if (rc) {
        atomic_abort(&af);
        return rc;
    }
    return atomic_commit(&af, err);
}
