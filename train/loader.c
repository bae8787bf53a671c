/* Data loader (see loader.h and docs/loader.md). */
#include "loader.h"

#include "featcache.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "audio.h"
#include "featcache.h"
#include "rng.h"

/* ---- random streams: every draw is a function of (seed, stream, epoch, manifest index) ---- */

enum { STREAM_SHUFFLE = 1, STREAM_BATCH_ORDER, STREAM_CROP, STREAM_PARTNER, STREAM_AUGMENT, STREAM_GATE };

/* SplitMix64 finaliser of seed + stream * golden ratio: an independent Philox key per stream. */
static uint64_t stream_seed(uint64_t seed, int stream) {
    uint64_t z = seed + (uint64_t)stream * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Philox block offset of an epoch: 2^36 blocks (2^38 draws) per epoch. */
static uint64_t epoch_offset(int epoch) { return (uint64_t)epoch << 36; }

/* Uniform integer in [0, n), n >= 1, from draw i of the stream (64 random bits; bias < n / 2^64). */
static uint64_t draw_below(uint64_t seed, uint64_t offset, uint64_t i, uint64_t n) {
    uint64_t hi = serc_rng_u32(seed, offset, 2 * i), lo = serc_rng_u32(seed, offset, 2 * i + 1);
    return ((hi << 32) | lo) % n;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- state ---- */

/* One utterance being prepared: its features (frames, F) or samples, before padding. */
typedef struct Item {
    float *x;
    size_t cap;
    int64_t len;     /* frames or samples */
    int64_t samples; /* audio samples behind it (after the crop) */
    int64_t offset;
    int32_t partner;
    float lambda;
    int bad, partner_failed;
    SercErr err;
} Item;

/* A batch buffer. The public LoaderBatch comes first, so loader_release can cast back. */
typedef struct Slot {
    LoaderBatch b;
    struct Slot *next_free, *next_all;
    int64_t k;                   /* batch number in this rank's epoch */
    int n_items, next_item, done, ready;
    int32_t *members;            /* (batch_size) manifest indices */
    Item *items;                 /* (batch_size) */
    size_t cap_x, cap_mask;      /* floats in b.feats / b.audio, bytes in b.mask */
    int n_bad, n_partner_failed, failed;
    double seconds;
    SercErr err;                 /* first bad item's message */
} Slot;

struct Loader {
    const Manifest *m;
    const LabelMap *labels;
    LoaderOptions opt;
    MelPlan *plan;
    int sr, F, C;
    int64_t max_samples;         /* crop (training) or cap (evaluation); 0 = none */
    double *dur;                 /* (N) seconds per utterance after the crop/cap, for bucketing */
    int32_t *label_idx;          /* (N) class of `label`, -1 */
    /* epoch plan: batch g of the epoch holds order[start[g] .. start[g + 1]) */
    int epoch;
    int32_t *order, *gperm;      /* (N), (N) global batch permutation */
    int64_t n_global, n_batches; /* batches in the epoch, and this rank's share */
    /* queue */
    pthread_mutex_t mu;
    pthread_cond_t work, ready, idle;
    pthread_t *threads;
    int shutdown, stopped, active, inflight;
    int64_t next_open, next_deliver;
    Slot *open, **ring, *free_list, *all;
    LoaderStats stats;
};

LoaderOptions loader_options_default(void) {
    LoaderOptions o;
    memset(&o, 0, sizeof o);
    SercErr err;
    if (mel_config_preset("kaldi", &o.mel, &err)) serc_die("%s", err.msg);
    o.output = LOADER_FEATURES;
    o.batch_size = 16;
    o.prefetch = 4;
    o.world = 1;
    o.augment_prob = 1.0;
    return o;
}

/* ---- one utterance ---- */

/* Prefixes err with the utterance: "MANIFEST:LINE: utterance 'ID'" (no file part when built in memory). */
static int fail_utterance(const Manifest *m, int32_t idx, SercErr *err) {
    const Utterance *u = &m->utts[idx];
    if (m->path) return serc_fail_prefix(err, "%s:%lld: utterance '%s'", m->path, (long long)u->line, u->id);
    return serc_fail_prefix(err, "utterance '%s'", u->id);
}

/* Decodes utterance idx at ld->sr and crops it: training, a window of max_samples at a Philox offset;
 * evaluation, the first max_samples. On failure err is "MANIFEST:LINE: utterance 'ID': PATH: ...". */
static int load_cropped(const Loader *ld, int epoch, int32_t idx, float **x, int64_t *n, int64_t *offset,
                        SercErr *err) {
    const Utterance *u = &ld->m->utts[idx];
    double start = u->has_start ? u->start : 0.0, end = u->has_end ? u->end : -1.0;
    int sr_got = 0;
    *offset = 0;
    if (audio_load(u->audio_path, start, end, ld->sr, x, n, &sr_got, err)) return fail_utterance(ld->m, idx, err);
    if (ld->max_samples > 0 && *n > ld->max_samples) {
        if (ld->opt.training) {
            uint64_t s = stream_seed(ld->opt.seed, STREAM_CROP);
            *offset = (int64_t)draw_below(s, epoch_offset(epoch), (uint64_t)idx, (uint64_t)(*n - ld->max_samples + 1));
            memmove(*x, *x + *offset, sizeof(float) * (size_t)ld->max_samples);
        }
        *n = ld->max_samples;
    }
    return 0;
}

static void grow_floats(float **p, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    free(*p);
    *p = serc_malloc(sizeof(float) * c);
    *cap = c;
}

/* Partner and mixing weight of item j (augmentation callback). */
static void augment_item(const Loader *ld, int epoch, int32_t idx, float *x, int64_t n, Item *it) {
    int32_t N = ld->m->n;
    uint64_t ps = stream_seed(ld->opt.seed, STREAM_PARTNER);
    int32_t p = (int32_t)draw_below(ps, epoch_offset(epoch), (uint64_t)idx, (uint64_t)(N - 1));
    if (p >= idx) p++;
    float *y = NULL;
    int64_t ny, off;
    SercErr perr;
    if (load_cropped(ld, epoch, p, &y, &ny, &off, &perr)) {
        it->partner_failed = 1;
        return;
    }
    LoaderAugmentItem a = {.index = idx, .partner_index = p, .audio = x, .n = n, .partner = y, .n_partner = ny,
                           .sample_rate = ld->sr, .epoch = epoch,
                           .seed = stream_seed(ld->opt.seed, STREAM_AUGMENT),
                           .counter = ((uint64_t)epoch * (uint64_t)N + (uint64_t)idx) << 16};
    double lam = ld->opt.augment(ld->opt.augment_user, &a);
    SERC_ASSERT(lam >= 0.0 && lam <= 1.0, "loader: augmentation callback returned lambda %g, not in [0, 1]", lam);
    free(y);
    it->partner = p;
    it->lambda = (float)lam;
}

/* An item from the features cache: its frames, cropped as audio would be (in frames). */
static void cached_item(const Loader *ld, int epoch, int32_t idx, Item *it) {
    const FeatureCache *c = ld->opt.cache;
    int k = featcache_find(c, ld->m->utts[idx].id);
    if (k < 0) {
        serc_fail(&it->err, "%s: no features for this utterance", c->path);
        fail_utterance(ld->m, idx, &it->err);
        it->bad = 1;
        return;
    }
    int64_t n = featcache_frames(c, k), start = 0;
    if (n == 0) {
        serc_fail(&it->err, "%s: zero frames", c->path);
        fail_utterance(ld->m, idx, &it->err);
        it->bad = 1;
        return;
    }
    if (ld->max_samples > 0 && n > ld->max_samples) {
        if (ld->opt.training) {
            uint64_t s = stream_seed(ld->opt.seed, STREAM_CROP);
            start = (int64_t)draw_below(s, epoch_offset(epoch), (uint64_t)idx, (uint64_t)(n - ld->max_samples + 1));
        }
        n = ld->max_samples;
    }
    grow_floats(&it->x, &it->cap, (size_t)n * (size_t)ld->F);
    featcache_read(c, k, start, n, it->x);
    it->len = n;
    it->samples = n;
    it->offset = start;
}

/* Loads, crops, augments and featurises item j of slot s. Touches only s->items[j]. */
static void process_item(const Loader *ld, int epoch, Slot *s, int j) {
    Item *it = &s->items[j];
    int32_t idx = s->members[j];
    it->bad = it->partner_failed = 0;
    it->partner = -1;
    it->lambda = 0.0f;
    it->len = it->samples = 0;
    if (ld->opt.output == LOADER_CACHED) {
        cached_item(ld, epoch, idx, it);
        return;
    }
    float *x;
    int64_t n;
    if (load_cropped(ld, epoch, idx, &x, &n, &it->offset, &it->err)) {
        it->bad = 1;
        return;
    }
    it->samples = n;
    if (ld->opt.augment && ld->m->n > 1 &&
        (ld->opt.augment_prob >= 1.0 || serc_rng_uniform01(stream_seed(ld->opt.seed, STREAM_GATE), epoch_offset(epoch),
                                                           (uint64_t)idx) < ld->opt.augment_prob))
        augment_item(ld, epoch, idx, x, n, it);
    if (ld->opt.transform && ld->opt.transform(ld->opt.transform_user, idx, x, n, ld->sr, &it->err)) {
        fail_utterance(ld->m, idx, &it->err);
        it->bad = 1;
        free(x);
        return;
    }
    if (ld->plan) {
        int64_t frames = mel_num_frames(mel_plan_config(ld->plan), n);
        if (frames == 0) {
            serc_fail(&it->err, "%s: too short: %lld samples (%.3f s) give no feature frames",
                      ld->m->utts[idx].audio_path, (long long)n, (double)n / ld->sr);
            fail_utterance(ld->m, idx, &it->err);
            it->bad = 1;
        } else {
            grow_floats(&it->x, &it->cap, (size_t)frames * (size_t)ld->F);
            mel_plan_compute(ld->plan, x, n, it->x);
            it->len = frames;
        }
    } else {
        grow_floats(&it->x, &it->cap, (size_t)n);
        memcpy(it->x, x, sizeof(float) * (size_t)n);
        it->len = n;
    }
    free(x);
}

/* ---- batch assembly ---- */

/* Class row of utterance idx: one-hot of its label (dist = 0) or its rater distribution (dist = 1,
 * falling back to the one-hot). Names not in the map contribute nothing. */
static void class_row(const Loader *ld, int32_t idx, int dist, float w, float *row) {
    const Utterance *u = &ld->m->utts[idx];
    if (dist && u->label_dist) {
        for (int d = 0; d < u->n_dist; d++) {
            int c = labelmap_index(ld->labels, u->label_dist[d].name);
            if (c >= 0) row[c] += w * (float)u->label_dist[d].prob;
        }
    } else if (ld->label_idx[idx] >= 0) {
        row[ld->label_idx[idx]] += w;
    }
}

static void avd_of(const Utterance *u, float v[3], uint8_t h[3]) {
    v[0] = u->has_arousal ? (float)u->arousal : 0.0f;
    v[1] = u->has_valence ? (float)u->valence : 0.0f;
    v[2] = u->has_dominance ? (float)u->dominance : 0.0f;
    h[0] = (uint8_t)u->has_arousal, h[1] = (uint8_t)u->has_valence, h[2] = (uint8_t)u->has_dominance;
}

/* Pads the finished items of s into its batch arrays, dropping bad ones (or marking the slot failed with
 * the first bad item's message when !skip_bad). */
static void assemble(const Loader *ld, Slot *s, int epoch) {
    LoaderBatch *b = &s->b;
    int B = 0, T = 0, F = ld->F;
    s->n_bad = s->n_partner_failed = s->failed = 0;
    s->seconds = 0.0;
    s->err.msg[0] = 0;
    for (int j = 0; j < s->n_items; j++) {
        const Item *it = &s->items[j];
        if (it->bad) {
            if (s->n_bad++ == 0) s->err = it->err;
            continue;
        }
        B++;
        if (it->len > T) T = (int)it->len;
    }
    if (s->n_bad && !ld->opt.skip_bad) {
        s->failed = 1;
        return;
    }
    b->B = B, b->T = T, b->F = F, b->C = ld->C, b->epoch = epoch, b->batch_index = s->k;
    size_t row = (size_t)T * F;
    grow_floats(ld->opt.output != LOADER_RAW_AUDIO ? &b->feats : &b->audio, &s->cap_x, (size_t)B * row);
    if ((size_t)B * T > s->cap_mask) {
        free(b->mask);
        s->cap_mask = (size_t)B * T * 2;
        b->mask = serc_malloc(s->cap_mask);
    }
    float *x = ld->opt.output != LOADER_RAW_AUDIO ? b->feats : b->audio;
    if (ld->C) {
        memset(b->soft, 0, sizeof(float) * (size_t)B * ld->C);
        memset(b->label_dist, 0, sizeof(float) * (size_t)B * ld->C);
    }
    int i = 0;
    for (int j = 0; j < s->n_items; j++) {
        const Item *it = &s->items[j];
        if (it->bad) continue;
        int32_t idx = s->members[j], p = it->partner;
        const Utterance *u = &ld->m->utts[idx];
        size_t valid = (size_t)it->len * F;
        memcpy(x + i * row, it->x, sizeof(float) * valid);
        memset(x + i * row + valid, 0, sizeof(float) * (row - valid));
        memset(b->mask + (size_t)i * T, 1, (size_t)it->len);
        memset(b->mask + (size_t)i * T + it->len, 0, (size_t)(T - it->len));
        b->lengths[i] = (int32_t)it->len;
        b->labels[i] = ld->label_idx[idx];
        b->ids[i] = u->id;
        b->index[i] = idx;
        b->partner[i] = p;
        b->lambda[i] = it->lambda;
        b->offset[i] = it->offset;
        float lam = p >= 0 ? it->lambda : 0.0f;
        if (ld->C) {
            class_row(ld, idx, 0, 1.0f - lam, b->soft + (size_t)i * ld->C);
            class_row(ld, idx, 1, 1.0f - lam, b->label_dist + (size_t)i * ld->C);
            if (lam > 0.0f) {
                class_row(ld, p, 0, lam, b->soft + (size_t)i * ld->C);
                class_row(ld, p, 1, lam, b->label_dist + (size_t)i * ld->C);
            }
        }
        float v[3], pv[3];
        uint8_t h[3], ph[3];
        avd_of(u, v, h);
        if (lam > 0.0f) {
            avd_of(&ld->m->utts[p], pv, ph);
            for (int d = 0; d < 3; d++) {
                h[d] = h[d] && ph[d];
                v[d] = h[d] ? (1.0f - lam) * v[d] + lam * pv[d] : 0.0f;
            }
        }
        memcpy(b->avd + 3 * i, v, sizeof v);
        memcpy(b->has_avd + 3 * i, h, sizeof h);
        s->n_partner_failed += it->partner_failed;
        s->seconds += (double)it->samples / ld->sr;
        i++;
    }
}

/* ---- slots and the epoch plan ---- */

static Slot *slot_get(Loader *ld) {
    Slot *s = ld->free_list;
    if (s) {
        ld->free_list = s->next_free;
        return s;
    }
    int bs = ld->opt.batch_size, C = ld->C;
    s = serc_calloc(1, sizeof *s);
    s->members = serc_calloc((size_t)bs, sizeof(int32_t));
    s->items = serc_calloc((size_t)bs, sizeof(Item));
    LoaderBatch *b = &s->b;
    b->lengths = serc_calloc((size_t)bs, sizeof(int32_t));
    b->labels = serc_calloc((size_t)bs, sizeof(int32_t));
    b->index = serc_calloc((size_t)bs, sizeof(int32_t));
    b->partner = serc_calloc((size_t)bs, sizeof(int32_t));
    b->lambda = serc_calloc((size_t)bs, sizeof(float));
    b->offset = serc_calloc((size_t)bs, sizeof(int64_t));
    b->ids = serc_calloc((size_t)bs, sizeof(char *));
    b->avd = serc_calloc((size_t)bs * 3, sizeof(float));
    b->has_avd = serc_calloc((size_t)bs * 3, 1);
    if (C) {
        b->soft = serc_calloc((size_t)bs * C, sizeof(float));
        b->label_dist = serc_calloc((size_t)bs * C, sizeof(float));
    }
    s->next_all = ld->all;
    ld->all = s;
    return s;
}

static void slot_free(Slot *s, int batch_size) {
    for (int j = 0; j < batch_size; j++) free(s->items[j].x);
    free(s->items);
    LoaderBatch *b = &s->b;
    free(b->feats), free(b->audio), free(b->mask), free(b->lengths), free(b->labels), free(b->index);
    free(b->partner), free(b->lambda), free(b->offset), free(b->ids), free(b->avd), free(b->has_avd);
    free(b->soft), free(b->label_dist), free(s->members);
    free(s);
}

/* Batch k of this rank: global batch rank + k world, i.e. gperm'd batch of the bucketed order. */
static void slot_setup(Loader *ld, Slot *s, int64_t k) {
    int64_t g = ld->gperm[ld->opt.rank + k * ld->opt.world];
    int64_t bs = ld->opt.batch_size, a = g * bs, e = a + bs < ld->m->n ? a + bs : ld->m->n;
    s->k = k;
    s->n_items = (int)(e - a);
    s->next_item = s->done = s->ready = 0;
    memcpy(s->members, ld->order + a, sizeof(int32_t) * (size_t)(e - a));
}

typedef struct DurKey {
    double d;
    int32_t pos, idx;
} DurKey;

static int cmp_dur(const void *x, const void *y) {
    const DurKey *a = x, *b = y;
    if (a->d != b->d) return a->d < b->d ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* Fills order (the epoch's utterance order, batches consecutive) and gperm (global batch order). */
static void plan_epoch(Loader *ld, int epoch) {
    const LoaderOptions *o = &ld->opt;
    int32_t N = ld->m->n;
    for (int32_t i = 0; i < N; i++) ld->order[i] = i;
    if (o->shuffle) {
        uint64_t s = stream_seed(o->seed, STREAM_SHUFFLE);
        for (int32_t i = N - 1; i > 0; i--) {
            int32_t j = (int32_t)draw_below(s, epoch_offset(epoch), (uint64_t)i, (uint64_t)i + 1);
            int32_t t = ld->order[i];
            ld->order[i] = ld->order[j], ld->order[j] = t;
        }
    }
    if (o->bucket_batches > 0) {
        int64_t W = (int64_t)o->bucket_batches * o->batch_size;
        DurKey *key = serc_malloc(sizeof(DurKey) * (size_t)(W < N ? W : N > 0 ? N : 1));
        for (int64_t w = 0; w < N; w += W) {
            int64_t len = w + W < N ? W : N - w;
            for (int64_t i = 0; i < len; i++)
                key[i] = (DurKey){ld->dur[ld->order[w + i]], (int32_t)i, ld->order[w + i]};
            qsort(key, (size_t)len, sizeof *key, cmp_dur);
            for (int64_t i = 0; i < len; i++) ld->order[w + i] = key[i].idx;
        }
        free(key);
    }
    int64_t bs = o->batch_size;
    ld->n_global = N / bs + (N % bs && !o->drop_last);
    for (int64_t g = 0; g < ld->n_global; g++) ld->gperm[g] = (int32_t)g;
    if (o->shuffle && o->bucket_batches > 0) {
        uint64_t s = stream_seed(o->seed, STREAM_BATCH_ORDER);
        for (int64_t i = ld->n_global - 1; i > 0; i--) {
            int64_t j = (int64_t)draw_below(s, epoch_offset(epoch), (uint64_t)i, (uint64_t)i + 1);
            int32_t t = ld->gperm[i];
            ld->gperm[i] = ld->gperm[j], ld->gperm[j] = t;
        }
    }
    int64_t w = o->world, r = o->rank;
    if (o->drop_last) ld->n_batches = ld->n_global / w;
    else ld->n_batches = ld->n_global > r ? (ld->n_global - r + w - 1) / w : 0;
}

/* ---- workers ---- */

/* Next (slot, item) to fill, opening the next batch when the queue has room. Called with mu held. */
static int take_job(Loader *ld, Slot **s, int *j) {
    if (ld->stopped) return 0;
    Slot *o = ld->open;
    if (!o || o->next_item >= o->n_items) {
        if (ld->next_open >= ld->n_batches || ld->inflight >= ld->opt.prefetch) return 0;
        o = slot_get(ld);
        slot_setup(ld, o, ld->next_open);
        ld->ring[ld->next_open % ld->opt.prefetch] = o;
        ld->next_open++, ld->inflight++;
        ld->open = o;
    }
    *s = o;
    *j = o->next_item++;
    return 1;
}

static void *worker_main(void *arg) {
    Loader *ld = arg;
#ifdef _OPENMP
    omp_set_num_threads(1); /* parallelism comes from the workers; no nested OpenMP teams per item */
#endif
    pthread_mutex_lock(&ld->mu);
    while (!ld->shutdown) {
        Slot *s;
        int j;
        if (!take_job(ld, &s, &j)) {
            pthread_cond_wait(&ld->work, &ld->mu);
            continue;
        }
        int epoch = ld->epoch;
        ld->active++;
        pthread_mutex_unlock(&ld->mu);
        process_item(ld, epoch, s, j);
        pthread_mutex_lock(&ld->mu);
        if (++s->done == s->n_items) { /* the last item's worker pads the batch */
            pthread_mutex_unlock(&ld->mu);
            assemble(ld, s, epoch);
            pthread_mutex_lock(&ld->mu);
            s->ready = 1;
            pthread_cond_broadcast(&ld->ready);
        }
        if (--ld->active == 0) pthread_cond_broadcast(&ld->idle);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

/* Abandons the epoch: no new jobs, waits for running ones, returns queued batches to the pool. mu held. */
static void epoch_stop(Loader *ld) {
    ld->stopped = 1;
    while (ld->active > 0) pthread_cond_wait(&ld->idle, &ld->mu);
    for (int64_t k = ld->next_deliver; k < ld->next_open; k++) {
        Slot **r = &ld->ring[k % ld->opt.prefetch];
        if (*r) (*r)->next_free = ld->free_list, ld->free_list = *r, *r = NULL;
    }
    ld->open = NULL;
    ld->inflight = 0;
    ld->next_open = ld->next_deliver = ld->n_batches;
}

/* ---- public ---- */

static int check_options(const LoaderOptions *o, SercErr *err) {
    if (o->output != LOADER_FEATURES && o->output != LOADER_RAW_AUDIO && o->output != LOADER_CACHED)
        return serc_fail(err, "loader: unknown output mode %d", (int)o->output);
    if (o->output == LOADER_CACHED && !o->cache) return serc_fail(err, "loader: cached features need an opened cache");
    if (o->output == LOADER_CACHED && (o->augment || o->transform))
        return serc_fail(err, "loader: cached encoder features cannot be augmented or transformed (no audio is read); "
                              "turn off EAM, or embed the augmented audio");
    if (o->output == LOADER_RAW_AUDIO && o->sample_rate <= 0)
        return serc_fail(err, "loader: raw audio needs sample_rate > 0, got %d", o->sample_rate);
    if (o->output == LOADER_FEATURES && o->sample_rate != 0 && o->sample_rate != o->mel.sample_rate)
        return serc_fail(err, "loader: sample_rate %d differs from the mel config's %d", o->sample_rate,
                         o->mel.sample_rate);
    if (o->batch_size < 1) return serc_fail(err, "loader: batch_size must be >= 1, got %d", o->batch_size);
    if (o->workers < 0 || o->workers > 256)
        return serc_fail(err, "loader: workers must be 0 to 256, got %d", o->workers);
    if (o->prefetch < 1) return serc_fail(err, "loader: prefetch must be >= 1, got %d", o->prefetch);
    if (o->bucket_batches < 0) return serc_fail(err, "loader: bucket_batches must be >= 0, got %d", o->bucket_batches);
    if (!isfinite(o->max_seconds) || !isfinite(o->eval_max_seconds))
        return serc_fail(err, "loader: max_seconds and eval_max_seconds must be finite");
    if (!(o->augment_prob >= 0.0 && o->augment_prob <= 1.0))
        return serc_fail(err, "loader: augment_prob must be in [0, 1], got %g", o->augment_prob);
    if (o->world < 1 || o->rank < 0 || o->rank >= o->world)
        return serc_fail(err, "loader: need 0 <= rank < world, got rank %d of world %d", o->rank, o->world);
    return 0;
}

/* Seconds per utterance for bucketing: end - start from the manifest, else from the file's header. */
static int utterance_durations(Loader *ld, SercErr *err) {
    const Manifest *m = ld->m;
    double cap = ld->opt.training ? ld->opt.max_seconds : ld->opt.eval_max_seconds;
    for (int i = 0; i < m->n; i++) {
        const Utterance *u = &m->utts[i];
        double start = u->has_start ? u->start : 0.0, d = 0.0;
        if (ld->opt.output == LOADER_CACHED) {
            int k = featcache_find(ld->opt.cache, u->id);
            if (k < 0 && !ld->opt.skip_bad) {
                serc_fail(err, "%s: no features for it in %s", ld->opt.cache->path, u->id);
                return fail_utterance(m, i, err);
            }
            d = k < 0 ? 0.0 : (double)featcache_frames(ld->opt.cache, k) / ld->opt.cache->frame_rate;
        } else if (u->has_end) {
            d = u->end - start;
        } else if (ld->opt.bucket_batches > 0) {
            AudioInfo info;
            if (audio_probe(u->audio_path, &info, err) == 0) {
                d = info.duration_s - start;
            } else if (!ld->opt.skip_bad) {
                return fail_utterance(m, i, err);
            }
        }
        ld->dur[i] = cap > 0 && d > cap ? cap : d;
    }
    return 0;
}

Loader *loader_new(const Manifest *m, const LabelMap *labels, const LoaderOptions *opt, SercErr *err) {
    if (check_options(opt, err)) return NULL;
    MelPlan *plan = NULL;
    if (opt->output == LOADER_FEATURES && !(plan = mel_plan_new(&opt->mel, err))) {
        serc_fail_prefix(err, "loader");
        return NULL;
    }
    Loader *ld = serc_calloc(1, sizeof *ld);
    ld->m = m, ld->labels = labels, ld->opt = *opt, ld->plan = plan;
    ld->sr = plan ? mel_plan_config(plan)->sample_rate : opt->sample_rate;
    ld->F = plan ? mel_num_features(mel_plan_config(plan)) : 1;
    if (opt->output == LOADER_CACHED) {
        ld->sr = (int)llround(opt->cache->frame_rate); /* "samples" are frames of the cache */
        ld->F = featcache_width(opt->cache);
        if (ld->sr < 1) ld->sr = 1;
    }
    ld->C = labels ? labels->n : 0;
    double cap = opt->training ? opt->max_seconds : opt->eval_max_seconds;
    ld->max_samples = cap > 0 ? (int64_t)llround(cap * (opt->output == LOADER_CACHED ? opt->cache->frame_rate : ld->sr)) : 0;
    if (cap > 0 && ld->max_samples < 1) ld->max_samples = 1;
    size_t N = (size_t)(m->n > 0 ? m->n : 1);
    ld->dur = serc_calloc(N, sizeof(double));
    ld->label_idx = serc_malloc(N * sizeof(int32_t));
    ld->order = serc_malloc(N * sizeof(int32_t));
    ld->gperm = serc_malloc(N * sizeof(int32_t));
    ld->ring = serc_calloc((size_t)opt->prefetch, sizeof(Slot *));
    for (int i = 0; i < m->n; i++)
        ld->label_idx[i] = labels && m->utts[i].label ? labelmap_index(labels, m->utts[i].label) : -1;
    ld->epoch = -1;
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->work, NULL);
    pthread_cond_init(&ld->ready, NULL);
    pthread_cond_init(&ld->idle, NULL);
    if (utterance_durations(ld, err)) {
        loader_free(ld);
        return NULL;
    }
    ld->threads = serc_calloc((size_t)(opt->workers ? opt->workers : 1), sizeof(pthread_t));
    for (int t = 0; t < opt->workers; t++)
        if (pthread_create(&ld->threads[t], NULL, worker_main, ld)) serc_die("loader: cannot start a worker thread");
    return ld;
}

int64_t loader_epoch_begin(Loader *ld, int epoch) {
    SERC_ASSERT(epoch >= 0, "loader_epoch_begin: epoch %d < 0", epoch);
    pthread_mutex_lock(&ld->mu);
    epoch_stop(ld);
    ld->epoch = epoch;
    plan_epoch(ld, epoch);
    ld->next_open = ld->next_deliver = 0;
    memset(&ld->stats, 0, sizeof ld->stats);
    ld->stopped = 0;
    pthread_cond_broadcast(&ld->work);
    pthread_mutex_unlock(&ld->mu);
    return ld->n_batches;
}

/* Hands s over: 1 delivered, 0 empty (every item bad; back to the pool), -1 error (epoch over). */
static int hand_over(Loader *ld, Slot *s, LoaderBatch **out, SercErr *err) {
    LoaderStats *st = &ld->stats;
    if (s->failed) {
        if (err) *err = s->err;
        loader_release(ld, &s->b);
        pthread_mutex_lock(&ld->mu);
        epoch_stop(ld);
        pthread_mutex_unlock(&ld->mu);
        return -1;
    }
    if (s->n_bad && st->bad_skipped == 0) memcpy(st->first_bad, s->err.msg, sizeof st->first_bad);
    st->bad_skipped += s->n_bad;
    st->partner_failures += s->n_partner_failed;
    if (s->b.B == 0) {
        loader_release(ld, &s->b);
        return 0;
    }
    st->utterances += s->b.B;
    st->batches++;
    st->audio_seconds += s->seconds;
    *out = &s->b;
    return 1;
}

int loader_next(Loader *ld, LoaderBatch **out, SercErr *err) {
    *out = NULL;
    double t0 = now_seconds();
    int rc = 0;
    for (;;) {
        Slot *s;
        pthread_mutex_lock(&ld->mu);
        if (ld->stopped || ld->next_deliver >= ld->n_batches) {
            pthread_mutex_unlock(&ld->mu);
            rc = 0;
            break;
        }
        if (ld->opt.workers == 0) {
            s = slot_get(ld);
            slot_setup(ld, s, ld->next_deliver++);
            pthread_mutex_unlock(&ld->mu);
            for (int j = 0; j < s->n_items; j++) process_item(ld, ld->epoch, s, j);
            assemble(ld, s, ld->epoch);
        } else {
            Slot **r = &ld->ring[ld->next_deliver % ld->opt.prefetch];
            while (!*r || !(*r)->ready) pthread_cond_wait(&ld->ready, &ld->mu);
            s = *r;
            *r = NULL;
            ld->next_deliver++, ld->inflight--;
            pthread_cond_broadcast(&ld->work);
            pthread_mutex_unlock(&ld->mu);
        }
        if ((rc = hand_over(ld, s, out, err)) != 0) break;
    }
    ld->stats.wait_seconds += now_seconds() - t0;
    return rc;
}

void loader_release(Loader *ld, LoaderBatch *batch) {
    if (!batch) return;
    Slot *s = (Slot *)batch;
    pthread_mutex_lock(&ld->mu);
    s->next_free = ld->free_list;
    ld->free_list = s;
    pthread_mutex_unlock(&ld->mu);
}

LoaderStats loader_epoch_stats(const Loader *ld) { return ld->stats; }

void loader_free(Loader *ld) {
    if (!ld) return;
    pthread_mutex_lock(&ld->mu);
    epoch_stop(ld);
    ld->shutdown = 1;
    pthread_cond_broadcast(&ld->work);
    pthread_mutex_unlock(&ld->mu);
    for (int t = 0; ld->threads && t < ld->opt.workers; t++) pthread_join(ld->threads[t], NULL);
    for (Slot *s = ld->all, *next; s; s = next) next = s->next_all, slot_free(s, ld->opt.batch_size);
    pthread_mutex_destroy(&ld->mu);
    pthread_cond_destroy(&ld->work);
    pthread_cond_destroy(&ld->ready);
    pthread_cond_destroy(&ld->idle);
    mel_plan_free(ld->plan);
    free(ld->threads), free(ld->dur), free(ld->label_idx), free(ld->order), free(ld->gperm), free(ld->ring);
    free(ld);
}
