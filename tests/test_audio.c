/* Tests for core/audio.c: decoding of every sample format and container we rely on (files written with
 * libsndfile into a fresh temporary directory), mono mixdown, resampling, segment reads, the WAV
 * writer, and a table of bad inputs that must each be rejected with the path and the problem named. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <math.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio.h"
#include "npy.h"

static char dir[64];

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/serc_test_audio_XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp failed");
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void teardown(void) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

TestSuite(audio, .init = setup, .fini = teardown);

static const char *tpath(const char *name) {
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

/* Writes frames x channels interleaved ints (full 32-bit scale) with libsndfile. */
static void write_sf_int(const char *path, int format, int channels, int sr, const int *x, int64_t frames) {
    SF_INFO info = {.samplerate = sr, .channels = channels, .format = format};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    cr_assert(f, "cannot write %s: %s", path, sf_strerror(NULL));
    cr_assert_eq(sf_writef_int(f, x, frames), frames);
    sf_close(f);
}

static void write_sf_float(const char *path, int format, int channels, int sr, const float *x, int64_t frames) {
    SF_INFO info = {.samplerate = sr, .channels = channels, .format = format};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    cr_assert(f, "cannot write %s: %s", path, sf_strerror(NULL));
    if (frames) cr_assert_eq(sf_writef_float(f, x, frames), frames);
    sf_close(f);
}

static float *load_ok(const char *path, double a, double b, int target, int64_t *n, int *sr) {
    float *y;
    SercErr err = {{0}};
    int rc = audio_load(path, a, b, target, &y, n, sr, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    return y;
}

/* A sine quantised to `bits` bits, returned as full-scale int32 plus the float value expected on read. */
static void quantised_sine(int64_t n, int bits, double amp, double cycles_per_sample, int *ints, double *expect) {
    double scale = ldexp(1.0, bits - 1);
    for (int64_t i = 0; i < n; i++) {
        long q = lrint(amp * sin(2 * M_PI * cycles_per_sample * i) * (scale - 1));
        ints[i] = (int)(q * (int64_t)ldexp(1.0, 32 - bits));
        expect[i] = q / scale;
    }
}

static void check_pcm(const char *name, int format, int bits) {
    const int64_t n = 4000;
    int *ints = malloc(sizeof(int) * n);
    double *expect = malloc(sizeof(double) * n);
    quantised_sine(n, bits, 0.9, 0.013, ints, expect);
    write_sf_int(tpath(name), format, 1, 16000, ints, n);
    int64_t m;
    int sr;
    float *y = load_ok(tpath(name), 0, -1, 0, &m, &sr);
    cr_assert_eq(m, n);
    cr_assert_eq(sr, 16000);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(y[i], (float)expect[i], "%s: sample %lld: %.9g, expected %.9g", name, (long long)i, y[i],
                     expect[i]);
    free(y), free(ints), free(expect);
}

Test(audio, wav_pcm16) { check_pcm("s16.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16); }
Test(audio, wav_pcm24) { check_pcm("s24.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, 24); }
Test(audio, wav_pcm_u8) { check_pcm("u8.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 8); }
Test(audio, flac_16_lossless) { check_pcm("s16.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16); }
Test(audio, aiff_pcm16) { check_pcm("s16.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 16); }

Test(audio, wav_float32_exact) {
    const int64_t n = 3000;
    float *x = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(1.7 * sin(0.01 * i)); /* float files may exceed [-1, 1] */
    write_sf_float(tpath("f32.wav"), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 22050, x, n);
    int64_t m;
    int sr;
    float *y = load_ok(tpath("f32.wav"), 0, -1, 0, &m, &sr);
    cr_assert(m == n && sr == 22050);
    cr_assert_eq(memcmp(x, y, sizeof(float) * n), 0);
    free(x), free(y);
}

Test(audio, stereo_and_six_channel_mixdown) {
    const int64_t n = 2000;
    int *st = malloc(sizeof(int) * 6 * n);
    for (int64_t i = 0; i < n; i++) {
        st[2 * i] = (int)(i * 1000) * 256;          /* left: ramp */
        st[2 * i + 1] = -(int)((i % 50) * 9000) * 256; /* right: saw */
    }
    write_sf_int(tpath("st.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_24, 2, 16000, st, n);
    int64_t m;
    int sr;
    float *y = load_ok(tpath("st.wav"), 0, -1, 0, &m, &sr);
    cr_assert_eq(m, n);
    for (int64_t i = 0; i < n; i++) {
        double l = (double)(i * 1000) / 8388608.0, r = -(double)((i % 50) * 9000) / 8388608.0;
        cr_assert(fabs(y[i] - (l + r) / 2) < 1e-7, "frame %lld: %g vs %g", (long long)i, y[i], (l + r) / 2);
    }
    free(y);
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < 6; c++) st[6 * i + c] = (c - 2) * (1 << 24); /* mean of -2..3 = 0.5 -> 1/128 */
    write_sf_int(tpath("six.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 6, 16000, st, n);
    y = load_ok(tpath("six.wav"), 0, -1, 0, &m, &sr);
    for (int64_t i = 0; i < n; i++) cr_assert(fabs(y[i] - 0.5 / 128) < 1e-7);
    free(y), free(st);
}

/* Ogg/Vorbis is lossy: compare a 440 Hz sine by RMS error and correlation. */
Test(audio, ogg_vorbis) {
    const int64_t n = 16000;
    float *x = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(0.5 * sin(2 * M_PI * 440.0 * i / 16000.0));
    write_sf_float(tpath("a.ogg"), SF_FORMAT_OGG | SF_FORMAT_VORBIS, 1, 16000, x, n);
    int64_t m;
    int sr;
    float *y = load_ok(tpath("a.ogg"), 0, -1, 0, &m, &sr);
    cr_assert(m == n && sr == 16000, "%lld frames at %d Hz", (long long)m, sr);
    double e = 0, s = 0;
    for (int64_t i = 1000; i < n - 1000; i++) e += (y[i] - x[i]) * (y[i] - x[i]), s += x[i] * x[i];
    cr_assert(sqrt(e / s) < 0.05, "vorbis relative RMS error %g", sqrt(e / s));
    /* a segment decodes to the same samples as the slice of the full decode */
    int64_t k;
    float *seg = load_ok(tpath("a.ogg"), 0.25, 0.5, 0, &k, &sr);
    cr_assert_eq(k, 4000);
    for (int64_t i = 0; i < k; i++) cr_assert(fabs(seg[i] - y[4000 + i]) < 1e-4, "ogg segment sample %lld", (long long)i);
    free(x), free(y), free(seg);
}

/* Resampling keeps a sine's frequency, phase and amplitude: compare with the analytic sine at the new
 * rate away from the edges (where the filter sees the signal's start and end). */
static void check_resample(int sr_in, double freq, const char *name) {
    const double dur = 1.0, amp = 0.5;
    int64_t n = (int64_t)(dur * sr_in);
    float *x = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(amp * sin(2 * M_PI * freq * i / sr_in));
    write_sf_float(tpath(name), SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, sr_in, x, n);
    int64_t m;
    int sr;
    float *y = load_ok(tpath(name), 0, -1, 16000, &m, &sr);
    cr_assert_eq(sr, 16000);
    cr_assert_eq(m, llround((double)n * 16000 / sr_in));
    double e = 0, s = 0, emax = 0;
    for (int64_t i = 200; i < m - 200; i++) {
        double r = amp * sin(2 * M_PI * freq * i / 16000.0);
        e += (y[i] - r) * (y[i] - r), s += r * r, emax = fmax(emax, fabs(y[i] - r));
    }
    cr_log_info("%s: %d -> 16000 Hz: relative RMS error %.3g, max error %.3g", name, sr_in, sqrt(e / s), emax);
    cr_assert(sqrt(e / s) < 1e-4 && emax < 1e-3, "%s: relative RMS error %g, max %g", name, sqrt(e / s), emax);
    free(x), free(y);
}

Test(audio, resample_44100_to_16000) { check_resample(44100, 1000.0, "r44.wav"); }
Test(audio, resample_8000_to_16000) { check_resample(8000, 500.0, "r8.wav"); }

Test(audio, resample_function_lengths) {
    float x[1000] = {0}, *y;
    int64_t m;
    SercErr err = {{0}};
    cr_assert_eq(audio_resample(x, 1000, 16000, 16000, &y, &m, &err), 0);
    cr_assert_eq(m, 1000);
    free(y);
    cr_assert_eq(audio_resample(x, 999, 48000, 16000, &y, &m, &err), 0);
    cr_assert_eq(m, 333);
    free(y);
    cr_assert_neq(audio_resample(x, 10, 0, 16000, &y, &m, &err), 0);
    cr_assert(strstr(err.msg, "rates must be positive"), "%s", err.msg);
}

Test(audio, segment_equals_slice_of_full_decode) {
    const int64_t n = 48000;
    int *ints = malloc(sizeof(int) * n);
    double *expect = malloc(sizeof(double) * n);
    quantised_sine(n, 16, 0.7, 0.0071, ints, expect);
    write_sf_int(tpath("seg.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1, 16000, ints, n);
    write_sf_int(tpath("seg.flac"), SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1, 16000, ints, n);
    const char *files[] = {"seg.wav", "seg.flac"};
    for (int fi = 0; fi < 2; fi++) {
        int64_t m, k;
        int sr;
        float *full = load_ok(tpath(files[fi]), 0, -1, 0, &m, &sr);
        cr_assert_eq(m, n);
        const double seg[][2] = {{0.5, 1.25}, {0, 0.1}, {2.9, -1}, {1.0001, 2.5}, {2.99, 3.0}, {2.5, 3.005}};
        for (size_t s = 0; s < sizeof seg / sizeof seg[0]; s++) {
            float *y = load_ok(tpath(files[fi]), seg[s][0], seg[s][1], 0, &k, &sr);
            int64_t a = llround(seg[s][0] * 16000), b = seg[s][1] < 0 ? n : llround(seg[s][1] * 16000);
            if (b > n) b = n;
            cr_assert_eq(k, b - a, "%s [%g, %g): %lld samples", files[fi], seg[s][0], seg[s][1], (long long)k);
            cr_assert_eq(memcmp(y, full + a, sizeof(float) * (size_t)k), 0, "%s [%g, %g) differs", files[fi],
                         seg[s][0], seg[s][1]);
            free(y);
        }
        /* segment + resample: the segment's length at the new rate */
        float *y = load_ok(tpath(files[fi]), 0.5, 1.5, 8000, &k, &sr);
        cr_assert(k == 8000 && sr == 8000);
        free(y), free(full);
    }
    free(ints), free(expect);
}

Test(audio, probe) {
    float x[1600] = {0};
    SercErr err = {{0}};
    cr_assert_eq(audio_write_wav(tpath("p.wav"), x, 1600, 8000, AUDIO_PCM16, &err), 0, "%s", err.msg);
    AudioInfo info;
    cr_assert_eq(audio_probe(tpath("p.wav"), &info, &err), 0, "%s", err.msg);
    cr_assert(info.frames == 1600 && info.sample_rate == 8000 && info.channels == 1 && info.duration_s == 0.2);
}

Test(audio, write_wav_roundtrip_and_atomic) {
    const int64_t n = 1000;
    float x[1000];
    for (int64_t i = 0; i < n; i++) x[i] = (float)((i % 200) - 100) / 128.0f; /* exact in 16 bits */
    x[0] = 1.5f, x[1] = -1.5f;                                             /* clipped */
    SercErr err = {{0}};
    int64_t m;
    int sr;
    cr_assert_eq(audio_write_wav(tpath("w16.wav"), x, n, 16000, AUDIO_PCM16, &err), 0, "%s", err.msg);
    float *y = load_ok(tpath("w16.wav"), 0, -1, 0, &m, &sr);
    cr_assert(m == n && sr == 16000);
    cr_assert(y[0] == 32767.0f / 32768.0f && y[1] == -1.0f, "%g %g", y[0], y[1]);
    for (int64_t i = 2; i < n; i++) cr_assert_eq(y[i], x[i]);
    free(y);
    cr_assert_eq(audio_write_wav(tpath("wf.wav"), x, n, 44100, AUDIO_FLOAT32, &err), 0, "%s", err.msg);
    y = load_ok(tpath("wf.wav"), 0, -1, 0, &m, &sr);
    cr_assert(m == n && sr == 44100 && memcmp(x, y, sizeof x) == 0);
    free(y);
    /* overwrite in place, leave no temporary file behind */
    cr_assert_eq(audio_write_wav(tpath("wf.wav"), x, 10, 44100, AUDIO_FLOAT32, &err), 0, "%s", err.msg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", dir);
    FILE *p = popen(cmd, "r");
    int count = -1;
    cr_assert_eq(fscanf(p, "%d", &count), 1);
    pclose(p);
    cr_assert_eq(count, 0, "temporary files left in %s", dir);
    /* refusals name the path */
    x[5] = NAN;
    cr_assert_neq(audio_write_wav(tpath("nan.wav"), x, n, 16000, AUDIO_PCM16, &err), 0);
    cr_assert(strstr(err.msg, "nan.wav: sample 5 is not finite"), "%s", err.msg);
    cr_assert_neq(access(tpath("nan.wav"), F_OK), 0, "a refused file was created");
    cr_assert_neq(audio_write_wav("/nonexistent-dir/x.wav", x, 4, 16000, AUDIO_PCM16, &err), 0);
    cr_assert(strncmp(err.msg, "/nonexistent-dir/x.wav: ", 24) == 0, "%s", err.msg);
}

/* The speech fixture decodes to the float32 input the mel references were computed from. */
Test(audio, speech_fixture_decodes_like_soundfile) {
    int64_t m;
    int sr;
    float *y = load_ok(SERC_FIXTURES_DIR "/mel/speech_16k.wav", 0, -1, 0, &m, &sr);
    NpyArray ref;
    SercErr err = {{0}};
    cr_assert_eq(npy_read(SERC_FIXTURES_DIR "/mel/in_speech.npy", &ref, &err), 0, "%s", err.msg);
    cr_assert(m == ref.numel && sr == 16000);
    cr_assert_eq(memcmp(y, ref.data, sizeof(float) * (size_t)m), 0);
    npy_array_free(&ref);
    free(y);
}

/* ---- bad input ---- */

static void put32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static void put16(unsigned char *b, unsigned v) { b[0] = (unsigned char)v, b[1] = (unsigned char)(v >> 8); }

/* A hand-made canonical WAV: 44-byte header declaring `declared` data bytes, then `nbytes` of data. */
static void wav_raw(const char *path, unsigned tag, unsigned channels, uint32_t sr, unsigned bits, uint32_t declared,
                    const void *data, size_t nbytes) {
    unsigned char h[44];
    unsigned align = channels * bits / 8;
    memcpy(h, "RIFF", 4), put32(h + 4, 36 + declared), memcpy(h + 8, "WAVEfmt ", 8), put32(h + 16, 16);
    put16(h + 20, tag), put16(h + 22, channels), put32(h + 24, sr), put32(h + 28, sr * align), put16(h + 32, align);
    put16(h + 34, bits), memcpy(h + 36, "data", 4), put32(h + 40, declared);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fwrite(h, 1, 44, f);
    if (nbytes) fwrite(data, 1, nbytes, f);
    fclose(f);
}

static short pcm[16000];
static void good_pcm(void) {
    for (int i = 0; i < 16000; i++) pcm[i] = (short)(8000 * sin(0.05 * i));
}

static void b_none(const char *p) { (void)p; }
static void b_empty(const char *p) { fclose(fopen(p, "wb")); }
static void b_text(const char *p) {
    FILE *f = fopen(p, "w");
    for (int i = 0; i < 20; i++) fputs("this is a text file, not audio\n", f);
    fclose(f);
}
static void b_trunc(const char *p) { good_pcm(), wav_raw(p, 1, 1, 16000, 16, 32000, pcm, 20000); }
static void b_absurd_data(const char *p) { good_pcm(), wav_raw(p, 1, 1, 16000, 16, 0xFFFFFFF0u, pcm, 32000); }
static void b_partial_frame(const char *p) { good_pcm(), wav_raw(p, 1, 1, 16000, 16, 20001, pcm, 20001); }
static void b_ch0(const char *p) { good_pcm(), wav_raw(p, 1, 0, 16000, 16, 3200, pcm, 3200); }
static void b_ch_absurd(const char *p) { good_pcm(), wav_raw(p, 1, 9999, 16000, 16, 32000, pcm, 32000); }
static void b_sr0(const char *p) { good_pcm(), wav_raw(p, 1, 1, 0, 16, 3200, pcm, 3200); }
static void b_sr_absurd(const char *p) { good_pcm(), wav_raw(p, 1, 1, 2000000000u, 16, 3200, pcm, 3200); }
static void b_bits0(const char *p) { good_pcm(), wav_raw(p, 1, 1, 16000, 0, 3200, pcm, 3200); }
static void b_zero_frames(const char *p) { wav_raw(p, 1, 1, 16000, 16, 0, NULL, 0); }
static void b_header_cut(const char *p) {
    good_pcm(), wav_raw(p, 1, 1, 16000, 16, 3200, pcm, 3200);
    cr_assert_eq(truncate(p, 30), 0);
}
static void b_float_special(const char *p, float v) {
    float x[400];
    for (int i = 0; i < 400; i++) x[i] = (float)sin(0.1 * i);
    x[123] = v;
    wav_raw(p, 3, 1, 16000, 32, sizeof x, x, sizeof x);
}
static void b_nan(const char *p) { b_float_special(p, NAN); }
static void b_inf(const char *p) { b_float_special(p, -INFINITY); }
static void b_double_huge(const char *p) {
    double x[100] = {0};
    x[50] = 1e300;
    wav_raw(p, 3, 1, 16000, 64, sizeof x, x, sizeof x);
}
static void b_dir(const char *p) { cr_assert_eq(mkdir(p, 0755), 0); }
static void b_good(const char *p) { good_pcm(), wav_raw(p, 1, 1, 16000, 16, 32000, pcm, 32000); }
static void b_garbage_riff(const char *p) {
    FILE *f = fopen(p, "wb");
    fwrite("RIFF\x10\x27\0\0WAVE", 1, 12, f);
    for (int i = 0; i < 10000; i++) fputc((i * 7919) & 0xFF, f);
    fclose(f);
}
static void b_trunc_flac(const char *p) {
    int *x = malloc(sizeof(int) * 32000);
    for (int i = 0; i < 32000; i++) x[i] = (int)(1e9 * sin(0.05 * i) + 3e8 * sin(0.31 * i));
    write_sf_int(p, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1, 16000, x, 32000);
    free(x);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(truncate(p, st.st_size / 2), 0);
}
static void b_dangling_link(const char *p) { cr_assert_eq(symlink("/nonexistent/target.wav", p), 0); }
static void b_fake_ogg(const char *p) {
    FILE *f = fopen(p, "wb");
    fwrite("OggS", 1, 4, f);
    for (int i = 0; i < 5000; i++) fputc((i * 31) & 0xFF, f);
    fclose(f);
}

typedef struct BadAudio {
    const char *name;
    void (*build)(const char *path);
    double start, end;
    int target_sr;
    const char *keyword; /* alternatives separated by '|' */
} BadAudio;

static int has_keyword(const char *msg, const char *alts) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", alts);
    for (char *save = NULL, *k = strtok_r(buf, "|", &save); k; k = strtok_r(NULL, "|", &save))
        if (strstr(msg, k)) return 1;
    return 0;
}

Test(audio, bad_inputs_rejected_with_path_and_reason) {
    static const BadAudio table[] = {
        {"missing.wav", b_none, 0, -1, 0, "no such file"},
        {"empty.wav", b_empty, 0, -1, 0, "empty file"},
        {"text.wav", b_text, 0, -1, 0, "not a recognised audio format"},
        {"truncated.wav", b_trunc, 0, -1, 0, "truncated: the WAV data chunk declares 32000 bytes but only 20000"},
        {"absurd_data_size.wav", b_absurd_data, 0, -1, 0, "declares 4294967280 bytes"},
        {"partial_frame.wav", b_partial_frame, 0, -1, 0, "not a whole number of 2-byte frames"},
        {"zero_channels.wav", b_ch0, 0, -1, 0, "unsupported channel count 0"},
        {"absurd_channels.wav", b_ch_absurd, 0, -1, 0, "unsupported channel count 9999"},
        {"rate0.wav", b_sr0, 0, -1, 0, "implausible sample rate 0 Hz"},
        {"absurd_rate.wav", b_sr_absurd, 0, -1, 0, "implausible sample rate 2000000000 Hz"},
        {"bits0.wav", b_bits0, 0, -1, 0, "bits per sample 0"},
        {"zero_frames.wav", b_zero_frames, 0, -1, 0, "zero frames"},
        {"header_cut.wav", b_header_cut, 0, -1, 0, "libsndfile"},
        {"nan.wav", b_nan, 0, -1, 0, "sample 123 of channel 0 (at 0.008 s) is NaN"},
        {"inf.wav", b_inf, 0, -1, 0, "is infinite (Inf)"},
        {"double_huge.wav", b_double_huge, 0, -1, 0, "too large for float32"},
        {"a_directory.wav", b_dir, 0, -1, 0, "is a directory"},
        {"start_past_end.wav", b_good, 2.0, -1, 0, "segment start 2.000 s is past the end of the file (duration 1.000 s)"},
        {"end_past_end.wav", b_good, 0.5, 1.5, 0, "segment end 1.500 s is past the end"},
        {"start_eq_end.wav", b_good, 0.5, 0.5, 0, "start >= end"},
        {"start_gt_end.wav", b_good, 0.7, 0.2, 0, "start >= end"},
        {"negative_start.wav", b_good, -0.1, 0.5, 0, "negative"},
        {"nan_start.wav", b_good, NAN, 0.5, 0, "must be numbers"},
        {"tiny_segment.wav", b_good, 0.1, 0.10001, 0, "shorter than one sample"},
        {"bad_target.wav", b_good, 0, -1, -5, "target sample rate -5"},
        {"garbage_riff.wav", b_garbage_riff, 0, -1, 0, "libsndfile"},
        {"truncated.flac", b_trunc_flac, 0, -1, 0, "truncated|decoding failed"},
        {"dangling_link.wav", b_dangling_link, 0, -1, 0, "no such file"},
        {"fake.ogg", b_fake_ogg, 0, -1, 0, "libsndfile"},
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const char *path = tpath(table[i].name);
        table[i].build(path);
        float *y = (float *)&failures; /* must come back NULL */
        int64_t n = -1;
        int sr = -1;
        SercErr err = {{0}};
        int rc = audio_load(path, table[i].start, table[i].end, table[i].target_sr, &y, &n, &sr, &err);
        int ok = rc != 0 && y == NULL && strncmp(err.msg, path, strlen(path)) == 0 && has_keyword(err.msg, table[i].keyword);
        if (!ok) {
            failures++;
            cr_log_error("%s: rc %d, message '%s' (want the path and '%s')", table[i].name, rc, err.msg,
                         table[i].keyword);
            if (rc == 0) free(y);
        } else {
            cr_log_info("%s -> %s", table[i].name, err.msg);
        }
        /* probing the same file fails too (except segment and target problems, which probe cannot see) */
        AudioInfo info;
        if (table[i].build != b_good) {
            SercErr e2 = {{0}};
            int prc = audio_probe(path, &info, &e2);
            if (table[i].build != b_nan && table[i].build != b_inf && table[i].build != b_double_huge &&
                table[i].build != b_trunc_flac && prc == 0) {
                failures++;
                cr_log_error("%s: audio_probe accepted it", table[i].name);
            }
        }
    }
    cr_assert_eq(failures, 0, "%d bad inputs not rejected as expected", failures);
}

/* Found by tests/fuzz/fuzz_audio: finite float samples near FLT_MAX overflow libsoxr's filter. The
 * load must fail with a message, never return NaN (tests/fuzz/regressions/audio/). */
Test(audio, resampling_overflow_is_an_error) {
    const float x[4] = {3e38f, 3e38f, 3e38f, 3e38f};
    const char *p = tpath("huge.wav");
    write_sf_float(p, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 1, 8000, x, 4);
    float *y = NULL;
    int64_t n = 0;
    int sr = 0;
    SercErr err;
    cr_assert_eq(audio_load(p, 0, -1, 16000, &y, &n, &sr, &err), -1, "loaded %lld samples, first %g", (long long)n,
                 n ? y[0] : 0.0);
    cr_expect(strstr(err.msg, p) && (strstr(err.msg, "non-finite") || strstr(err.msg, "float32")), "%s", err.msg);
    cr_expect_null(y);
    /* at its own rate the same file is finite and loads */
    cr_assert_eq(audio_load(p, 0, -1, 0, &y, &n, &sr, &err), 0, "%s", err.msg);
    cr_expect_eq(n, 4);
    free(y);
}
