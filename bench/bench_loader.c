/* Data loader throughput: utterances/s and audio-hours/s over a generated corpus.
 *
 * Build (CMake target bench_loader), or by hand from the repository root:
 *   cc -std=c11 -D_GNU_SOURCE -O3 -fopenmp -pthread -Icore -Itrain -Ibuild/generated core/audio.c core/mel.c \
 *      core/fft.c core/rng.c core/error.c core/json.c train/manifest.c train/loader.c bench/bench_loader.c \
 *      -o bench_loader $(pkg-config --cflags --libs sndfile soxr) -lm
 * Run: ./bench_loader [n_utterances=400] [cores=2]
 *
 * The corpus: n utterances of 2 to 6 s (uniform), 16 kHz 16-bit mono WAV (a tone plus noise), written to
 * a temporary folder (deleted afterwards) and so in the page cache: this measures decode + resample-free
 * featurisation + batching, not disk. The process is pinned to `cores` CPUs. Each configuration runs
 * one warm-up epoch (buffers grow) and three timed epochs and reports the fastest (the machine may be
 * shared), excluding the time spent hashing: the FNV-1a digest of epoch 1's batches must be equal
 * across worker counts (determinism).
 *
 * Configurations, in order:
 *   1. features, "kaldi" preset, evaluation (whole utterances), batch 16, bucketing 50, workers 0, 1, 2
 *   2. the same in training mode: shuffle, random 3 s crops
 *   3. raw audio (decode only), evaluation, workers 2
 */
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audio.h"
#include "loader.h"
#include "rng.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001B3ull;
    return h;
}

/* Writes n utterances of 2-6 s into dir; returns the manifest (no end times, so bucketing probes). */
static Manifest *make_corpus(const char *dir, int n, double *total_s) {
    Manifest *m = manifest_new(dir);
    *total_s = 0;
    for (int i = 0; i < n; i++) {
        double sec = 2.0 + 4.0 * serc_rng_uniform01(77, 0, (uint64_t)i);
        int64_t len = (int64_t)llround(sec * 16000);
        float *x = malloc(sizeof(float) * (size_t)len);
        serc_rng_fill_normal(x, len, 1000 + (uint64_t)i, 0, 0.0f, 0.02f);
        double f = 100 + 5 * (i % 100);
        for (int64_t t = 0; t < len; t++) x[t] += (float)(0.3 * sin(2 * M_PI * f * (double)t / 16000));
        char name[64], path[512];
        snprintf(name, sizeof name, "u%05d.wav", i);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        SercErr err;
        if (audio_write_wav(path, x, len, 16000, AUDIO_PCM16, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        free(x);
        Utterance *u = manifest_append(m);
        snprintf(name, sizeof name, "utt%05d", i);
        u->id = serc_strdup(name);
        snprintf(name, sizeof name, "u%05d.wav", i);
        manifest_set_audio(m, u, name);
        u->label = serc_strdup(i % 2 ? "a" : "b");
        *total_s += (double)len / 16000;
    }
    return m;
}

/* One configuration: warm-up epoch 0, timed epoch 1. Prints a line; returns the digest. */
static uint64_t bench(const char *name, const Manifest *m, const LabelMap *labels, const LoaderOptions *o) {
    SercErr err;
    double t0 = now();
    Loader *ld = loader_new(m, labels, o, &err);
    if (!ld) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    double t_new = now() - t0;
    uint64_t h = 0xCBF29CE484222325ull;
    double best = INFINITY;
    LoaderStats st = {0};
    for (int e = 0; e < 4; e++) {
        t0 = now();
        double t_hash = 0;
        loader_epoch_begin(ld, e);
        LoaderBatch *b;
        int rc;
        while ((rc = loader_next(ld, &b, &err)) == 1) {
            if (e == 1) {
                double th = now();
                size_t n = (size_t)b->B * b->T * b->F;
                h = fnv1a(h, b->feats ? b->feats : b->audio, sizeof(float) * n);
                h = fnv1a(h, b->index, sizeof(int32_t) * (size_t)b->B);
                t_hash += now() - th;
            }
            loader_release(ld, b);
        }
        if (rc < 0) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        double t = now() - t0 - t_hash;
        if (e > 0 && t < best) best = t, st = loader_epoch_stats(ld);
    }
    double dt = best;
    printf("%-34s workers %d  %7.1f utt/s  %7.4f audio-h/s  (%6.1f x real time)  epoch %6.2f s  waited %6.2f s"
           "  new %5.2f s  digest %016llx\n",
           name, o->workers, st.utterances / dt, st.audio_seconds / 3600.0 / dt, st.audio_seconds / dt, dt,
           st.wait_seconds, t_new, (unsigned long long)h);
    loader_free(ld);
    return h;
}

static void pin(int cores) {
    cpu_set_t have, want;
    CPU_ZERO(&want);
    if (sched_getaffinity(0, sizeof have, &have)) return;
    int k = 0;
    for (int c = 0; c < CPU_SETSIZE && k < cores; c++)
        if (CPU_ISSET(c, &have)) CPU_SET(c, &want), k++;
    sched_setaffinity(0, sizeof want, &want);
    printf("pinned to %d of %d CPUs\n", k, CPU_COUNT(&have));
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 400, cores = argc > 2 ? atoi(argv[2]) : 2;
    pin(cores);
    char dir[] = "/tmp/serc_bench_loader_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    double total;
    double t0 = now();
    Manifest *m = make_corpus(dir, n, &total);
    printf("corpus: %d utterances, %.2f h of 16 kHz audio (written in %.1f s)\n", n, total / 3600, now() - t0);
    LabelMap *labels = labelmap_new();
    labelmap_add(labels, "a"), labelmap_add(labels, "b");

    LoaderOptions o = loader_options_default(); /* kaldi preset */
    o.batch_size = 16, o.bucket_batches = 50, o.prefetch = 4;
    int fail = 0;
    uint64_t ref = 0;
    for (int w = 0; w <= 2; w++) {
        o.workers = w;
        uint64_t h = bench("features kaldi, eval", m, labels, &o);
        fail |= w > 0 && h != ref, ref = h;
    }
    o.training = 1, o.shuffle = 1, o.max_seconds = 3.0, o.seed = 1;
    for (int w = 0; w <= 2; w += 2) {
        o.workers = w;
        uint64_t h = bench("features kaldi, train crop 3 s", m, labels, &o);
        fail |= w > 0 && h != ref, ref = h;
    }
    o = loader_options_default();
    o.output = LOADER_RAW_AUDIO, o.sample_rate = 16000, o.batch_size = 16, o.bucket_batches = 50, o.workers = 2;
    bench("raw audio, eval", m, labels, &o);
    if (fail) printf("DETERMINISM FAILURE: digests differ across worker counts\n");

    for (int i = 0; i < m->n; i++) unlink(m->utts[i].audio_path);
    rmdir(dir);
    manifest_free(m);
    labelmap_free(labels);
    return fail;
}
