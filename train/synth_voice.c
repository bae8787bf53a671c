/* One utterance through libespeak-ng: SSML with per-word emphasis and a pause, global prosody
 * parameters, word times from espeakEVENT_WORD events, resampling 22050 -> 16000 Hz with libsoxr,
 * spectral tilt and gain.
 *
 * espeak-ng keeps global state and is not thread-safe: callers render serially. Each utterance is
 * synthesised in a forked child (speak_in_child says why), so that it is deterministic: the same
 * voice, parameters and text give the same samples whatever was rendered before. */
#include <ctype.h>
#include <errno.h>
#include <espeak-ng/speak_lib.h>
#include <math.h>
#include <soxr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "synth_internal.h"

#define ESPEAK_BASE_VOLUME 50 /* espeakVOLUME: 100 already peaks near full scale; gain comes later */

typedef struct Capture {
    short *pcm;
    int64_t n, cap;
    int64_t word_pos[64], word_sample[64]; /* text position (1-based characters) and sample of events */
    int n_events;
} Capture;

static int g_espeak_rate = 0; /* 0: not initialised */
static Capture *g_capture;    /* the utterance being rendered (espeak calls back synchronously) */

static int on_synth(short *wav, int numsamples, espeak_EVENT *ev) {
    Capture *c = g_capture;
    if (wav && numsamples > 0) {
        if (c->n + numsamples > c->cap) {
            c->cap = 2 * (c->n + numsamples) + 4096;
            c->pcm = serc_realloc(c->pcm, (size_t)c->cap * sizeof *c->pcm);
        }
        memcpy(c->pcm + c->n, wav, (size_t)numsamples * sizeof *wav);
        c->n += numsamples;
    }
    for (; ev && ev->type != espeakEVENT_LIST_TERMINATED; ev++) {
        if (ev->type == espeakEVENT_WORD && c->n_events < 64) {
            c->word_pos[c->n_events] = ev->text_position;
            c->word_sample[c->n_events] = ev->sample;
            c->n_events++;
        }
    }
    return 0;
}

static int espeak_ready(SercErr *err) {
    if (g_espeak_rate > 0) return 0;
    /* path NULL: the data the library was built with (Debian: /usr/lib/x86_64-linux-gnu/espeak-ng-data);
     * DONT_EXIT: report a missing data folder instead of exiting the process. */
    int sr = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_DONT_EXIT);
    if (sr <= 0) return serc_fail(err, "espeak-ng: initialisation failed (is espeak-ng-data installed?)");
    espeak_SetSynthCallback(on_synth);
    g_espeak_rate = sr;
    return 0;
}

void synth_speak_shutdown(void) {
    if (g_espeak_rate > 0) espeak_Terminate();
    g_espeak_rate = 0;
}

int synth_split_words(const char *sentence, char tokens[][64], char words[][48]) {
    int n = 0;
    const char *s = sentence;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        const char *e = s;
        while (*e && *e != ' ') e++;
        SERC_ASSERT(n < SYNTH_MAX_WORDS && e - s < 48, "synth: sentence too long: %s", sentence);
        memcpy(tokens[n], s, (size_t)(e - s));
        tokens[n][e - s] = '\0';
        const char *a = s, *b = e;
        while (a < b && !isalnum((unsigned char)*a)) a++;
        while (b > a && !isalnum((unsigned char)b[-1])) b--;
        memcpy(words[n], a, (size_t)(b - a));
        words[n][b - a] = '\0';
        n++;
        s = e;
    }
    return n;
}

/* Builds the SSML text; word_pos[i] receives the 1-based character position of word i's first
 * character (espeak-ng's text_position counts characters of the whole SSML string). */
static void build_ssml(const SynthProsody *p, char tokens[][64], int n, char *out, size_t cap,
                       int *word_pos) {
    size_t len = 0;
#define PUT(...) \
    do { \
        len += (size_t)snprintf(out + len, cap - len, __VA_ARGS__); \
        SERC_ASSERT(len < cap, "synth: SSML longer than %zu bytes", cap); \
    } while (0)
    PUT("<speak>");
    for (int i = 0; i < n; i++) {
        if (i > 0) PUT(" ");
        if (p->emph[i]) PUT("<prosody pitch=\"+%d%%\" volume=\"+%d%%\">", p->emph_pitch_pct, p->emph_volume_pct);
        const char *t = tokens[i];
        while (*t && !isalnum((unsigned char)*t)) t++;
        word_pos[i] = (int)(len + (size_t)(t - tokens[i])) + 1;
        PUT("%s", tokens[i]);
        if (p->emph[i]) PUT("</prosody>");
        if (i == p->break_after && i + 1 < n) PUT(" <break time=\"%dms\"/>", p->break_ms);
    }
    PUT("</speak>");
#undef PUT
}

/* End of a word: the last 5 ms frame above the silence threshold before the next word's start. */
static double word_end(const float *x, int64_t n, int64_t from, int64_t to, double thr) {
    const int64_t hop = SYNTH_SR / 200;
    if (to > n) to = n;
    int64_t end = to;
    while (end - hop > from) {
        double e = 0;
        for (int64_t i = end - hop; i < end; i++) e += (double)x[i] * x[i];
        if (e / (double)hop > thr) break;
        end -= hop;
    }
    return (double)end / SYNTH_SR;
}

/* y[n] = x[n] - k x[n-1] makes the spectrum brighter (k > 0: +6 dB/oct high shelf shape) or darker
 * (k < 0). The result is scaled to x's RMS so that tilt changes the balance, not the level. */
static void tilt_filter(float *x, int64_t n, double k) {
    if (k == 0 || n < 2) return;
    double e0 = 0, e1 = 0, prev = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        double y = v - k * prev;
        prev = v;
        e0 += v * v;
        e1 += y * y;
        x[i] = (float)y;
    }
    if (e1 <= 0) return;
    float s = (float)sqrt(e0 / e1);
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

static int write_full(int fd, const void *buf, size_t n) {
    const char *b = buf;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w, n -= (size_t)w;
    }
    return 0;
}

static int read_full(int fd, void *buf, size_t n) {
    char *b = buf;
    while (n > 0) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        b += r, n -= (size_t)r;
    }
    return 0;
}

/* Runs espeak-ng on `ssml` in a forked child and reads its samples and word events back through a pipe.
 *
 * Why a child: espeak-ng 1.51 carries state from one utterance to the next that no call resets (the
 * pitch-flutter phase is a function-level static in wavegen.c, breath noise comes from rand()), so
 * rendering the same utterance twice in one process gives different samples. Every child starts from
 * the parent's state just after espeak_Initialize, which the parent never changes: an utterance's
 * samples then depend on its own voice, parameters and text only, not on what was rendered before. */
static int speak_in_child(const SynthProsody *p, const char *ssml, Capture *cap, SercErr *err) {
    int fds[2];
    if (pipe(fds) != 0) return serc_fail(err, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return serc_fail(err, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        srand(1);
        int64_t head[3] = {0, 0, 0}; /* status, samples, events */
        if (espeak_SetVoiceByName(p->voice) != EE_OK) {
            head[0] = 1;
        } else {
            espeak_SetParameter(espeakRATE, p->rate, 0);
            espeak_SetParameter(espeakPITCH, p->pitch, 0);
            espeak_SetParameter(espeakRANGE, p->range, 0);
            espeak_SetParameter(espeakVOLUME, ESPEAK_BASE_VOLUME, 0);
            espeak_SetParameter(espeakWORDGAP, p->wordgap, 0);
            espeak_SetParameter(espeakPUNCTUATION, espeakPUNCT_NONE, 0);
            g_capture = cap;
            espeak_ERROR e = espeak_Synth(ssml, strlen(ssml) + 1, 0, POS_CHARACTER, 0,
                                          espeakCHARS_UTF8 | espeakSSML, NULL, NULL);
            head[0] = e != EE_OK || cap->n == 0 ? 2 : 0;
        }
        head[1] = head[0] ? 0 : cap->n;
        head[2] = head[0] ? 0 : cap->n_events;
        int bad = write_full(fds[1], head, sizeof head) < 0;
        if (!head[0] && !bad)
            bad = write_full(fds[1], cap->word_pos, sizeof cap->word_pos) < 0 ||
                  write_full(fds[1], cap->word_sample, sizeof cap->word_sample) < 0 ||
                  write_full(fds[1], cap->pcm, (size_t)cap->n * sizeof *cap->pcm) < 0;
        _exit(bad ? 3 : 0);
    }
    close(fds[1]);
    int64_t head[3] = {-1, 0, 0};
    int rc = read_full(fds[0], head, sizeof head);
    if (rc == 0 && head[0] == 0 && head[1] > 0 && head[1] < ((int64_t)1 << 31) && head[2] >= 0 && head[2] <= 64) {
        cap->n = cap->cap = head[1];
        cap->n_events = (int)head[2];
        cap->pcm = serc_malloc((size_t)cap->n * sizeof *cap->pcm);
        rc = read_full(fds[0], cap->word_pos, sizeof cap->word_pos) < 0 ||
                     read_full(fds[0], cap->word_sample, sizeof cap->word_sample) < 0 ||
                     read_full(fds[0], cap->pcm, (size_t)cap->n * sizeof *cap->pcm) < 0
                 ? -1
                 : 0;
    } else if (rc == 0) {
        rc = -1;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    free(cap->pcm);
    cap->pcm = NULL;
    if (head[0] == 1) return serc_fail(err, "espeak-ng: no voice '%s'", p->voice);
    return serc_fail(err, "espeak-ng: synthesis failed (child status %d)", status);
}

int synth_speak(const SynthProsody *p, const char *sentence, SynthAudio *out, SercErr *err) {
    memset(out, 0, sizeof *out);
    if (espeak_ready(err) < 0) return -1;
    char tokens[SYNTH_MAX_WORDS][64], words[SYNTH_MAX_WORDS][48];
    int n = synth_split_words(sentence, tokens, words);
    char ssml[8192];
    int word_pos[SYNTH_MAX_WORDS];
    build_ssml(p, tokens, n, ssml, sizeof ssml, word_pos);

    Capture cap = {0};
    if (speak_in_child(p, ssml, &cap, err) < 0) return serc_fail_prefix(err, "'%s'", sentence);

    /* 22050 -> 16000 Hz, float, one thread (soxr's result then does not depend on the machine). */
    const int64_t n_in = cap.n;
    float *in = serc_malloc((size_t)n_in * sizeof *in);
    for (int64_t i = 0; i < n_in; i++) in[i] = (float)cap.pcm[i] / 32768.0f;
    const double ratio = (double)SYNTH_SR / g_espeak_rate;
    size_t n_out = (size_t)((double)n_in * ratio + 0.5), done = 0;
    out->x = serc_malloc(n_out * sizeof *out->x);
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1);
    soxr_error_t se = soxr_oneshot(g_espeak_rate, SYNTH_SR, 1, in, (size_t)n_in, NULL, out->x, n_out, &done, &io, &q, &rt);
    free(in);
    if (se) {
        free(cap.pcm);
        free(out->x);
        out->x = NULL;
        return serc_fail(err, "soxr: %s", se);
    }
    for (size_t i = done; i < n_out; i++) out->x[i] = 0;
    out->n = (int64_t)n_out;

    /* Word starts: the event whose text position falls inside word i (first one wins). */
    double start[SYNTH_MAX_WORDS];
    for (int i = 0; i < n; i++) start[i] = -1;
    for (int k = 0; k < cap.n_events; k++) {
        for (int i = 0; i < n; i++) {
            int a = word_pos[i], b = word_pos[i] + (int)strlen(words[i]);
            if (cap.word_pos[k] >= a && cap.word_pos[k] < b && start[i] < 0) {
                start[i] = (double)cap.word_sample[k] / g_espeak_rate;
                break;
            }
        }
    }
    free(cap.pcm);
    const double dur = (double)out->n / SYNTH_SR;
    for (int i = 0; i < n; i++) { /* a word without an event starts where the previous one did */
        if (start[i] < 0) start[i] = i ? start[i - 1] : 0;
        if (start[i] > dur) start[i] = dur;
        if (i && start[i] < start[i - 1]) start[i] = start[i - 1];
    }

    /* Silence threshold: 40 dB below the loudest 20 ms frame. */
    double peak = 0;
    for (int64_t s = 0; s + 320 <= out->n; s += 160) {
        double e = 0;
        for (int64_t i = s; i < s + 320; i++) e += (double)out->x[i] * out->x[i];
        if (e / 320 > peak) peak = e / 320;
    }
    const double thr = peak * 1e-4;
    for (int i = 0; i < n; i++) {
        int64_t from = (int64_t)llround(start[i] * SYNTH_SR);
        int64_t to = i + 1 < n ? (int64_t)llround(start[i + 1] * SYNTH_SR) : out->n;
        double end = word_end(out->x, out->n, from, to, thr);
        if (end < start[i]) end = start[i];
        memcpy(out->words[i].w, words[i], sizeof out->words[i].w); /* both 48 bytes, NUL-terminated */
        out->words[i].start = start[i];
        out->words[i].end = end;
    }
    /* espeak-ng sometimes reports two short words at one sample ("on the"): share such a run's time by
     * letter count, up to the run's last word's end. */
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && out->words[j + 1].start == out->words[i].start) j++;
        if (j > i) {
            const double s0 = out->words[i].start, s1 = out->words[j].end;
            double total = 0, cum = 0;
            for (int k = i; k <= j; k++) total += (double)strlen(words[k]);
            for (int k = i; k <= j; k++) {
                out->words[k].start = s0 + (s1 - s0) * cum / total;
                cum += (double)strlen(words[k]);
                if (k < j) out->words[k].end = s0 + (s1 - s0) * cum / total;
            }
        }
        i = j + 1;
    }
    for (int i = 0; i + 1 < n; i++)
        if (out->words[i].end > out->words[i + 1].start) out->words[i].end = out->words[i + 1].start;
    out->n_words = n;

    tilt_filter(out->x, out->n, p->tilt);
    const float g = (float)pow(10.0, p->gain_db / 20.0);
    for (int64_t i = 0; i < out->n; i++) out->x[i] *= g;
    return 0;
}
