/* Audio decoding (libsndfile), mono mixdown, resampling (libsoxr) and WAV writing.
 *
 * Everything libsndfile reads is accepted: WAV (PCM 8/16/24/32-bit, float, double, ...), FLAC,
 * OGG/Vorbis, AIFF, ... with any number of channels. Integer samples are scaled to [-1, 1) the way
 * libsndfile does (16-bit: x / 32768); float samples are taken as they are. Channels are averaged to
 * mono. Decoding runs in double; the output is float32.
 *
 * Bad input is an error, never a crash, and every message starts with the path and names the problem:
 * "x.wav: no such file", "x.wav: empty file (0 bytes)", "x.wav: not a recognised audio format
 * (libsndfile: ...)", "x.wav: truncated: ...", "x.wav: sample 12 of channel 0 (at 0.001 s) is NaN: ...",
 * "x.wav: segment start 9.000 s is past the end of the file (duration 2.000 s)", ...
 */
#ifndef SERC_AUDIO_H
#define SERC_AUDIO_H

#include <stdint.h>

#include "error.h"

/* Largest channel count and sample rate a header may claim before it counts as corrupt. */
#define AUDIO_MAX_CHANNELS 256
#define AUDIO_MAX_SAMPLE_RATE 1000000
/* A segment end may overshoot the file's end by this much (manifests round times); it is clamped. */
#define AUDIO_END_TOLERANCE_S 0.010

/* Header facts, without decoding. */
typedef struct AudioInfo {
    int64_t frames;    /* per channel, as the header declares */
    int sample_rate;   /* Hz */
    int channels;
    double duration_s; /* frames / sample_rate */
} AudioInfo;

/* Reads the header of path and checks it (file exists and is not empty, format recognised, channel
 * count and sample rate plausible, WAV data chunk not truncated, at least one frame). */
int audio_probe(const char *path, AudioInfo *info, SercErr *err);

/* Thread-safe: concurrent loads run in parallel; libsndfile's global error code is guarded inside. */
/* Decodes path into a mono float32 signal.
 *   start_s, end_s  segment in seconds of the file: [start_s, end_s), rounded to the nearest sample;
 *                   end_s < 0 means to the end of the file. start_s >= 0, start_s < end_s, and the
 *                   segment must lie inside the file (end_s may overshoot by AUDIO_END_TOLERANCE_S).
 *                   Seekable files are positioned with sf_seek, not decoded from the start.
 *   target_sr       resample to this rate (Hz) with libsoxr, quality SOXR_HQ, when the file's rate
 *                   differs; 0 keeps the file's rate. Only the segment is resampled.
 * On success *out (free() it) holds *n_out samples at *sr_out Hz. On failure *out is NULL. */
int audio_load(const char *path, double start_s, double end_s, int target_sr, float **out, int64_t *n_out,
               int *sr_out, SercErr *err);

/* Resamples in (n samples at sr_in Hz) to sr_out Hz with libsoxr (SOXR_HQ, linear phase, delay
 * compensated): *n_out = round(n * sr_out / sr_in) samples in *out (free() it). sr_in == sr_out
 * copies. Fails on non-positive rates. */
int audio_resample(const float *in, int64_t n, int sr_in, int sr_out, float **out, int64_t *n_out, SercErr *err);

typedef enum AudioSampleFormat {
    AUDIO_PCM16 = 0, /* x * 32768 rounded to nearest, clipped to [-32768, 32767] */
    AUDIO_FLOAT32    /* IEEE float as it is */
} AudioSampleFormat;

/* Writes a mono WAV file atomically: a temporary file in the same directory, renamed over path once
 * complete. n may be 0 (a header with no frames). Samples must be finite. */
int audio_write_wav(const char *path, const float *samples, int64_t n, int sample_rate, AudioSampleFormat fmt,
                    SercErr *err);

#endif
