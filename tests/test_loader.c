/* Tests for train/loader.c over a small corpus of generated WAVs (16 kHz mono of several lengths, one at
 * 44.1 kHz, one stereo, one segment with start/end): features equal mel_plan_compute on the same audio,
 * padding and masks, labels and soft targets, bitwise determinism for 0, 1 and 3 workers, each utterance
 * once per epoch, epochs shuffle differently, bad files skipped and counted or stopping the epoch with
 * the file's own error, random crop bounds, raw-audio mode, distributed shards. */
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
#include "loader.h"
#include "rng.h"

static char g_dir[256];
static Manifest *g_m;
static LabelMap *g_labels;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void) {
    manifest_free(g_m);
    labelmap_free(g_labels);
    if (g_dir[0]) nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A sine of f Hz plus a little noise, n samples. */
static float *tone(int64_t n, int sr, double f, uint64_t seed) {
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    serc_rng_fill_normal(x, n, seed, 0, 0.0f, 0.01f);
    for (int64_t i = 0; i < n; i++) x[i] += (float)(0.3 * sin(2 * M_PI * f * (double)i / sr));
    return x;
}

static void write_tone(const char *name, double seconds, int sr, double f, uint64_t seed) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    int64_t n = (int64_t)llround(seconds * sr);
    float *x = tone(n, sr, f, seed);
    SercErr err;
    cr_assert_eq(audio_write_wav(path, x, n, sr, AUDIO_PCM16, &err), 0, "%s", err.msg);
    free(x);
}

static void write_stereo(const char *name, double seconds, int sr) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    int64_t n = (int64_t)llround(seconds * sr);
    float *l = tone(n, sr, 300, 1), *r = tone(n, sr, 700, 2), *x = malloc(sizeof(float) * 2 * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[2 * i] = l[i], x[2 * i + 1] = r[i];
    SF_INFO info = {.samplerate = sr, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    cr_assert_not_null(f);
    cr_assert_eq(sf_writef_float(f, x, n), n);
    sf_close(f);
    free(l), free(r), free(x);
}

static void write_bytes(const char *name, const void *data, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static const char *LABELS[] = {"ang", "hap", "neu", "sad"};
#define N_GOOD 12

/* Writes the corpus and its manifest (read back, so that errors carry the manifest's path and line).
 * bad: also a truncated WAV, a text file and a too-short (50-sample) WAV at the end. end_times: give
 * every utterance an end time (so that bucketing needs no probe). */
static void make_corpus(int bad, int end_times) {
    snprintf(g_dir, sizeof g_dir, "/tmp/serc_loader_XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    static const double secs[10] = {0.50, 0.75, 1.00, 1.25, 1.50, 1.75, 2.00, 2.25, 0.90, 1.10};
    Manifest *m = manifest_new(g_dir);
    char name[64];
    for (int i = 0; i < N_GOOD; i++) {
        double d = i < 10 ? secs[i] : i == 10 ? 1.3 : 1.6;
        snprintf(name, sizeof name, "u%02d.wav", i);
        if (i < 10) write_tone(name, d, 16000, 200 + 50 * i, 10 + i);
        else if (i == 10) write_tone(name, d, 44100, 440, 99);
        else write_stereo(name, d, 16000);
        Utterance *u = manifest_append(m);
        snprintf(name, sizeof name, "utt%02d", i);
        u->id = serc_strdup(name);
        snprintf(name, sizeof name, "u%02d.wav", i);
        manifest_set_audio(m, u, name);
        if (i == 3) u->has_start = u->has_end = 1, u->start = 0.2, u->end = 1.0;
        else if (end_times) u->has_end = 1, u->end = d;
        if (i != 5) u->label = serc_strdup(i == 6 ? "fear" : LABELS[i % 4]);
        if (i == 7) {
            u->n_dist = 2;
            u->label_dist = serc_calloc(2, sizeof(LabelProb));
            u->label_dist[0] = (LabelProb){serc_strdup("hap"), 0.25};
            u->label_dist[1] = (LabelProb){serc_strdup("sad"), 0.75};
        }
        if (i == 1 || i == 2) u->has_arousal = u->has_valence = u->has_dominance = 1, u->arousal = 0.1 * i,
                              u->valence = 0.2 * i, u->dominance = 0.3 * i;
    }
    if (bad) {
        float *x = tone(16000, 16000, 500, 7);
        SercErr err;
        char path[512];
        snprintf(path, sizeof path, "%s/trunc.wav", g_dir);
        cr_assert_eq(audio_write_wav(path, x, 16000, 16000, AUDIO_PCM16, &err), 0);
        cr_assert_eq(truncate(path, 44 + 1000), 0);
        free(x);
        write_bytes("text.wav", "this is not audio\n", 18);
        write_tone("short.wav", 50.0 / 16000, 16000, 500, 8);
        const char *files[3] = {"trunc.wav", "text.wav", "short.wav"};
        for (int k = 0; k < 3; k++) {
            Utterance *u = manifest_append(m);
            snprintf(name, sizeof name, "bad%d", k);
            u->id = serc_strdup(name);
            manifest_set_audio(m, u, files[k]);
            u->label = serc_strdup("neu");
        }
    }
    char path[512];
    snprintf(path, sizeof path, "%s/manifest.jsonl", g_dir);
    SercErr err;
    cr_assert_eq(manifest_write(path, m, &err), 0, "%s", err.msg);
    manifest_free(m);
    g_m = manifest_read(path, &err);
    cr_assert_not_null(g_m, "%s", err.msg);
    g_labels = labelmap_new();
    for (int c = 0; c < 4; c++) labelmap_add(g_labels, LABELS[c]);
}

TestSuite(loader, .fini = cleanup);

static Loader *open_loader(const LoaderOptions *o) {
    SercErr err;
    Loader *ld = loader_new(g_m, g_labels, o, &err);
    cr_assert_not_null(ld, "%s", err.msg);
    return ld;
}

/* ---- an epoch as bytes, to compare runs bitwise ---- */

typedef struct Bytes {
    unsigned char *p;
    size_t n, cap;
} Bytes;

static void put(Bytes *b, const void *x, size_t n) {
    if (!n) return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, x, n);
    b->n += n;
}

static void put_batch(Bytes *out, const LoaderBatch *b) {
    size_t B = (size_t)b->B, T = (size_t)b->T, F = (size_t)b->F, C = (size_t)b->C;
    put(out, &b->B, sizeof(int)), put(out, &b->T, sizeof(int)), put(out, &b->F, sizeof(int));
    put(out, b->feats ? b->feats : b->audio, sizeof(float) * B * T * F);
    put(out, b->lengths, 4 * B), put(out, b->mask, B * T), put(out, b->labels, 4 * B);
    if (C) put(out, b->soft, 4 * B * C), put(out, b->label_dist, 4 * B * C);
    put(out, b->avd, 12 * B), put(out, b->has_avd, 3 * B), put(out, b->index, 4 * B);
    put(out, b->partner, 4 * B), put(out, b->lambda, 4 * B), put(out, b->offset, 8 * B);
}

/* Runs epoch e; returns its bytes and (when seen != NULL) counts each manifest index in seen. */
static Bytes run_epoch(Loader *ld, int e, int *seen) {
    Bytes out = {0};
    int64_t nb = loader_epoch_begin(ld, e), got = 0;
    LoaderBatch *b;
    SercErr err;
    int rc;
    while ((rc = loader_next(ld, &b, &err)) == 1) {
        put_batch(&out, b);
        for (int i = 0; i < b->B; i++)
            if (seen) seen[b->index[i]]++;
        loader_release(ld, b);
        got++;
    }
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(got, nb);
    return out;
}

/* Halves the partner's level into the first samples and returns a lambda drawn from (seed, counter). */
static double toy_mix(void *user, const LoaderAugmentItem *it) {
    (void)user;
    cr_assert_neq(it->index, it->partner_index);
    for (int64_t i = 0; i < it->n && i < it->n_partner; i++) it->audio[i] += 0.5f * it->partner[i];
    return 0.5 * serc_rng_uniform01(it->seed, it->counter, 0);
}

/* ---- tests ---- */

Test(loader, features_match_mel_plan_and_targets) {
    make_corpus(0, 0);
    LoaderOptions o = loader_options_default();
    o.batch_size = 5, o.workers = 2, o.prefetch = 2;
    Loader *ld = open_loader(&o);
    SercErr err;
    MelPlan *plan = mel_plan_new(&o.mel, &err);
    int F = mel_num_features(&o.mel), seen[N_GOOD] = {0};
    cr_assert_eq(loader_epoch_begin(ld, 0), 3);
    LoaderBatch *b;
    int k = 0;
    while (loader_next(ld, &b, &err) == 1) {
        cr_assert_eq(b->B, k < 2 ? 5 : 2);
        cr_assert_eq(b->F, F);
        cr_assert_eq(b->C, 4);
        cr_assert_null(b->audio);
        int maxT = 0;
        for (int i = 0; i < b->B; i++) {
            int idx = b->index[i];
            cr_assert_eq(idx, 5 * k + i, "no shuffle: manifest order");
            seen[idx]++;
            const Utterance *u = &g_m->utts[idx];
            cr_assert_str_eq(b->ids[i], u->id);
            float *x;
            int64_t n;
            int sr;
            cr_assert_eq(audio_load(u->audio_path, u->has_start ? u->start : 0, u->has_end ? u->end : -1, 16000, &x,
                                    &n, &sr, &err), 0);
            int64_t frames = mel_num_frames(&o.mel, n);
            float *ref = malloc(sizeof(float) * (size_t)(frames * F));
            mel_plan_compute(plan, x, n, ref);
            cr_assert_eq(b->lengths[i], frames, "%s", u->id);
            const float *row = b->feats + (size_t)i * b->T * F;
            cr_assert_eq(memcmp(row, ref, sizeof(float) * (size_t)(frames * F)), 0, "%s features", u->id);
            for (int64_t j = frames * F; j < (int64_t)b->T * F; j++) cr_assert_eq(row[j], 0.0f);
            for (int t = 0; t < b->T; t++) cr_assert_eq(b->mask[(size_t)i * b->T + t], t < frames);
            if (frames > maxT) maxT = (int)frames;
            /* targets */
            int want = idx == 5 || idx == 6 ? -1 : idx % 4;
            cr_assert_eq(b->labels[i], want, "%s label", u->id);
            for (int c = 0; c < 4; c++) {
                float soft = b->soft[i * 4 + c], dist = b->label_dist[i * 4 + c];
                cr_assert_eq(soft, c == want ? 1.0f : 0.0f);
                float wd = idx == 7 ? (c == 1 ? 0.25f : c == 3 ? 0.75f : 0.0f) : soft;
                cr_assert_float_eq(dist, wd, 1e-7, "%s dist %d", u->id, c);
            }
            int avd = idx == 1 || idx == 2;
            for (int d = 0; d < 3; d++) {
                cr_assert_eq(b->has_avd[3 * i + d], avd);
                cr_assert_float_eq(b->avd[3 * i + d], avd ? 0.1f * (d + 1) * idx : 0.0f, 1e-6);
            }
            cr_assert_eq(b->partner[i], -1);
            cr_assert_eq(b->offset[i], 0);
            free(ref), free(x);
        }
        cr_assert_eq(b->T, maxT, "T is the longest item");
        loader_release(ld, b);
        k++;
    }
    for (int i = 0; i < N_GOOD; i++) cr_assert_eq(seen[i], 1);
    LoaderStats st = loader_epoch_stats(ld);
    cr_assert_eq(st.utterances, N_GOOD);
    cr_assert_eq(st.batches, 3);
    cr_assert_eq(st.bad_skipped, 0);
    cr_assert_float_eq(st.audio_seconds, 0.5 + 0.75 + 1 + 0.8 + 1.5 + 1.75 + 2 + 2.25 + 0.9 + 1.1 + 1.3 + 1.6, 1e-3);
    mel_plan_free(plan);
    loader_free(ld);
}

Test(loader, bitwise_identical_for_0_1_3_workers) {
    make_corpus(0, 0);
    Bytes ref[2] = {{0}};
    for (int w = 0; w < 3; w++) {
        LoaderOptions o = loader_options_default();
        o.batch_size = 3, o.training = 1, o.max_seconds = 1.2, o.shuffle = 1, o.bucket_batches = 2;
        o.seed = 1234, o.augment = toy_mix, o.augment_prob = 0.7;
        o.workers = (int[]){0, 1, 3}[w], o.prefetch = 2;
        Loader *ld = open_loader(&o);
        for (int e = 0; e < 2; e++) {
            Bytes got = run_epoch(ld, e, NULL);
            if (w == 0) {
                ref[e] = got;
                continue;
            }
            cr_assert_eq(got.n, ref[e].n, "workers %d epoch %d", o.workers, e);
            cr_assert_eq(memcmp(got.p, ref[e].p, got.n), 0, "workers %d epoch %d differ", o.workers, e);
            free(got.p);
        }
        loader_free(ld);
    }
    cr_assert_neq(memcmp(ref[0].p, ref[1].p, ref[0].n < ref[1].n ? ref[0].n : ref[1].n), 0, "epochs differ");
    free(ref[0].p), free(ref[1].p);
}

Test(loader, every_utterance_once_epochs_shuffle_differently) {
    make_corpus(0, 0);
    for (int bucket = 0; bucket <= 1; bucket++) {
        LoaderOptions o = loader_options_default();
        o.batch_size = 4, o.shuffle = 1, o.seed = 7, o.workers = 2, o.bucket_batches = bucket ? 2 : 0;
        o.output = LOADER_RAW_AUDIO, o.sample_rate = 16000; /* cheaper; order is what matters here */
        Loader *ld = open_loader(&o);
        int order[3][N_GOOD];
        for (int e = 0; e < 3; e++) {
            int seen[N_GOOD] = {0}, n = 0;
            loader_epoch_begin(ld, e == 2 ? 0 : e);
            LoaderBatch *b;
            SercErr err;
            while (loader_next(ld, &b, &err) == 1) {
                for (int i = 0; i < b->B; i++) seen[b->index[i]]++, order[e][n++] = b->index[i];
                if (bucket) /* sorted by duration inside a window: padding small */
                    for (int i = 1; i < b->B; i++) cr_assert_leq(b->lengths[i - 1], b->lengths[i] + 16);
                loader_release(ld, b);
            }
            cr_assert_eq(n, N_GOOD);
            for (int i = 0; i < N_GOOD; i++) cr_assert_eq(seen[i], 1, "utterance %d seen %d times", i, seen[i]);
        }
        cr_assert_neq(memcmp(order[0], order[1], sizeof order[0]), 0, "epochs 0 and 1 in the same order");
        cr_assert_eq(memcmp(order[0], order[2], sizeof order[0]), 0, "epoch 0 twice differs");
        loader_free(ld);
    }
}

Test(loader, bad_files_skipped_and_counted) {
    make_corpus(1, 1);
    LoaderOptions o = loader_options_default();
    o.batch_size = 4, o.workers = 3, o.prefetch = 3, o.skip_bad = 1, o.shuffle = 1, o.bucket_batches = 1;
    Loader *ld = open_loader(&o);
    for (int e = 0; e < 2; e++) {
        int seen[N_GOOD + 3] = {0};
        free(run_epoch(ld, e, seen).p);
        for (int i = 0; i < N_GOOD + 3; i++) cr_assert_eq(seen[i], i < N_GOOD, "utterance %d", i);
        LoaderStats st = loader_epoch_stats(ld);
        cr_assert_eq(st.utterances, N_GOOD);
        cr_assert_eq(st.bad_skipped, 3, "per epoch, got %lld", (long long)st.bad_skipped);
        cr_assert(strstr(st.first_bad, "manifest.jsonl:1"), "%s", st.first_bad);
    }
    loader_free(ld);
}

/* Without skip_bad the epoch stops at the first batch holding a bad file, with that file's own message,
 * even while other workers open good files concurrently. */
Test(loader, bad_file_stops_epoch_with_its_error) {
    static const char *want[3] = {"truncated", "not a recognised audio format", "too short"};
    make_corpus(1, 1);
    for (int k = 0; k < 3; k++)
        for (int w = 0; w <= 3; w += 3) {
            /* only bad file k stays in a manifest of the good ones */
            Manifest *m = manifest_new(g_m->dir);
            for (int i = 0; i < N_GOOD; i++) manifest_append_copy(m, &g_m->utts[i]);
            manifest_append_copy(m, &g_m->utts[N_GOOD + k]);
            LoaderOptions o = loader_options_default();
            o.batch_size = 2, o.workers = w, o.prefetch = 4;
            SercErr err;
            Loader *ld = loader_new(m, g_labels, &o, &err);
            cr_assert_not_null(ld, "%s", err.msg);
            loader_epoch_begin(ld, 0);
            LoaderBatch *b;
            int rc, n = 0;
            while ((rc = loader_next(ld, &b, &err)) == 1) n += b->B, loader_release(ld, b);
            cr_assert_eq(rc, -1);
            cr_assert_eq(n, N_GOOD, "the good batches before it were delivered");
            cr_assert(strstr(err.msg, want[k]) && strstr(err.msg, "bad"), "workers %d: %s", w, err.msg);
            cr_assert_eq(loader_next(ld, &b, &err), 0, "the epoch is over");
            cr_assert_eq(loader_epoch_begin(ld, 1), 7, "a new epoch can start");
            loader_free(ld);
            manifest_free(m);
        }
}

Test(loader, probe_failure_at_construction) {
    make_corpus(1, 0); /* no end times: bucketing probes every file */
    LoaderOptions o = loader_options_default();
    o.bucket_batches = 2;
    SercErr err;
    cr_assert_null(loader_new(g_m, g_labels, &o, &err));
    cr_assert(strstr(err.msg, "manifest.jsonl:13: utterance 'bad0'") && strstr(err.msg, "truncated"), "%s", err.msg);
    o.skip_bad = 1;
    Loader *ld = open_loader(&o);
    free(run_epoch(ld, 0, NULL).p);
    cr_assert_eq(loader_epoch_stats(ld).bad_skipped, 3);
    loader_free(ld);
}

Test(loader, random_crop_bounds_and_raw_audio) {
    make_corpus(0, 0);
    LoaderOptions o = loader_options_default();
    o.output = LOADER_RAW_AUDIO, o.sample_rate = 16000, o.training = 1, o.max_seconds = 0.6;
    o.batch_size = 4, o.workers = 2, o.shuffle = 1, o.seed = 3;
    Loader *ld = open_loader(&o);
    int64_t first_offset[N_GOOD];
    int moved = 0;
    for (int e = 0; e < 4; e++) {
        loader_epoch_begin(ld, e);
        LoaderBatch *b;
        SercErr err;
        while (loader_next(ld, &b, &err) == 1) {
            cr_assert_eq(b->F, 1);
            cr_assert_null(b->feats);
            for (int i = 0; i < b->B; i++) {
                const Utterance *u = &g_m->utts[b->index[i]];
                float *x;
                int64_t n;
                int sr;
                cr_assert_eq(audio_load(u->audio_path, u->has_start ? u->start : 0, u->has_end ? u->end : -1, 16000,
                                        &x, &n, &sr, &err), 0);
                int64_t len = n < 9600 ? n : 9600, off = b->offset[i];
                cr_assert_eq(b->lengths[i], len);
                cr_assert(off >= 0 && off <= n - len, "offset %lld of %lld", (long long)off, (long long)n);
                const float *row = b->audio + (size_t)i * b->T;
                cr_assert_eq(memcmp(row, x + off, sizeof(float) * (size_t)len), 0, "%s crop", u->id);
                for (int64_t t = len; t < b->T; t++) cr_assert_eq(row[t], 0.0f);
                for (int64_t t = 0; t < b->T; t++) cr_assert_eq(b->mask[(size_t)i * b->T + t], t < len);
                if (e == 0) first_offset[b->index[i]] = off;
                else moved += off != first_offset[b->index[i]];
                free(x);
            }
            loader_release(ld, b);
        }
        cr_assert_leq(loader_epoch_stats(ld).audio_seconds, N_GOOD * 0.6 + 1e-9);
    }
    cr_assert_gt(moved, 5, "crops move between epochs");
    loader_free(ld);
    /* evaluation: the first eval_max_seconds */
    o.training = 0, o.eval_max_seconds = 0.6;
    ld = open_loader(&o);
    loader_epoch_begin(ld, 0);
    LoaderBatch *b;
    SercErr err;
    while (loader_next(ld, &b, &err) == 1) {
        for (int i = 0; i < b->B; i++) cr_assert(b->offset[i] == 0 && b->lengths[i] <= 9600);
        loader_release(ld, b);
    }
    loader_free(ld);
}

Test(loader, augmentation_mixes_targets) {
    make_corpus(0, 0);
    LoaderOptions o = loader_options_default();
    o.batch_size = 4, o.workers = 2, o.training = 1, o.augment = toy_mix, o.seed = 5;
    Loader *ld = open_loader(&o);
    loader_epoch_begin(ld, 0);
    LoaderBatch *b;
    SercErr err;
    int mixed = 0;
    while (loader_next(ld, &b, &err) == 1) {
        for (int i = 0; i < b->B; i++) {
            int a = b->labels[i], p = b->partner[i];
            float lam = b->lambda[i];
            cr_assert(p >= 0 && p != b->index[i] && lam >= 0 && lam < 0.5f);
            int lp = p == 5 || p == 6 ? -1 : p % 4;
            for (int c = 0; c < 4; c++) {
                float want = (c == a ? 1 - lam : 0) + (c == lp ? lam : 0);
                cr_assert_float_eq(b->soft[4 * i + c], want, 1e-6, "%s class %d", b->ids[i], c);
            }
            mixed += lam > 0;
        }
        loader_release(ld, b);
    }
    cr_assert_gt(mixed, 6);
    loader_free(ld);
    o.augment_prob = 0.0;
    ld = open_loader(&o);
    loader_epoch_begin(ld, 0);
    while (loader_next(ld, &b, &err) == 1) {
        for (int i = 0; i < b->B; i++) cr_assert(b->partner[i] == -1 && b->lambda[i] == 0);
        loader_release(ld, b);
    }
    loader_free(ld);
}

Test(loader, shards_disjoint_cover_and_keep_global_order) {
    make_corpus(0, 1);
    for (int drop = 0; drop <= 1; drop++) {
        LoaderOptions o = loader_options_default();
        o.output = LOADER_RAW_AUDIO, o.sample_rate = 16000;
        o.batch_size = 2, o.shuffle = 1, o.bucket_batches = 2, o.seed = 11, o.drop_last = drop, o.workers = 1;
        o.max_seconds = 0.1, o.training = 1; /* short crops keep it quick */
        Loader *one = open_loader(&o);
        int global[N_GOOD], ng = 0;
        loader_epoch_begin(one, 2);
        LoaderBatch *b;
        SercErr err;
        while (loader_next(one, &b, &err) == 1) {
            for (int i = 0; i < b->B; i++) global[ng++] = b->index[i];
            loader_release(one, b);
        }
        loader_free(one);
        cr_assert_eq(ng, N_GOOD);
        int seen[N_GOOD] = {0}, counts[2];
        for (int r = 0; r < 2; r++) {
            o.world = 2, o.rank = r;
            Loader *ld = open_loader(&o);
            int64_t nb = loader_epoch_begin(ld, 2), k = 0;
            counts[r] = (int)nb;
            while (loader_next(ld, &b, &err) == 1) {
                /* global batch r + 2k holds items [2 (r + 2k), 2 (r + 2k) + 2) of the one-rank sequence */
                for (int i = 0; i < b->B; i++) {
                    cr_assert_eq(b->index[i], global[2 * (r + 2 * k) + i]);
                    seen[b->index[i]]++;
                }
                loader_release(ld, b);
                k++;
            }
            cr_assert_eq(k, nb);
            loader_free(ld);
        }
        cr_assert_eq(counts[0], 3);
        cr_assert_eq(counts[1], 3);
        for (int i = 0; i < N_GOOD; i++) cr_assert_eq(seen[i], 1);
    }
}

Test(loader, abandon_epoch_and_reuse_buffers) {
    make_corpus(0, 0);
    LoaderOptions o = loader_options_default();
    o.batch_size = 3, o.workers = 3, o.prefetch = 2, o.shuffle = 1;
    Loader *ld = open_loader(&o);
    Bytes ref = run_epoch(ld, 1, NULL);
    for (int rep = 0; rep < 3; rep++) { /* start epochs and walk away mid-way, holding a batch */
        loader_epoch_begin(ld, 0);
        LoaderBatch *b;
        SercErr err;
        cr_assert_eq(loader_next(ld, &b, &err), 1);
        loader_epoch_begin(ld, 1);
        loader_release(ld, b);
    }
    Bytes got = run_epoch(ld, 1, NULL);
    cr_assert(got.n == ref.n && memcmp(got.p, ref.p, got.n) == 0);
    free(got.p), free(ref.p);
    loader_free(ld);
    ld = open_loader(&o); /* freed with batches in flight and never started */
    loader_epoch_begin(ld, 0);
    loader_free(ld);
    loader_free(open_loader(&o));
}

Test(loader, rejects_bad_options) {
    make_corpus(0, 0);
    LoaderOptions base = loader_options_default(), o;
    SercErr err;
#define REJECT(stmt, text) \
    o = base; \
    stmt; \
    cr_assert_null(loader_new(g_m, g_labels, &o, &err), #stmt); \
    cr_assert(strstr(err.msg, text), "%s: %s", #stmt, err.msg)
    REJECT(o.batch_size = 0, "batch_size");
    REJECT(o.prefetch = 0, "prefetch");
    REJECT(o.workers = -1, "workers");
    REJECT(o.rank = 1, "rank");
    REJECT(o.output = LOADER_RAW_AUDIO, "sample_rate");
    REJECT(o.sample_rate = 8000, "differs");
    REJECT(o.mel.n_mels = 0, "n_mels");
    REJECT(o.augment_prob = 2, "augment_prob");
    REJECT(o.max_seconds = NAN, "finite");
#undef REJECT
}
