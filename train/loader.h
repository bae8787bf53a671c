/* Data loader: manifest utterances -> padded batches of log-mel features (or raw audio) with labels.
 *
 * Per utterance: decode and resample (core/audio.h), crop (training: a random max_seconds window;
 * evaluation: the whole utterance, or its first eval_max_seconds), an optional augmentation callback
 * that may mix in a second "partner" utterance, then features with a shared MelPlan. Per batch: zero
 * padding to the longest item, lengths and masks, class indices, one-hot / mixed / rater-distribution
 * soft labels, arousal-valence-dominance targets.
 *
 * Order of an epoch (docs/loader.md has the details):
 *   1. all N utterances, permuted by Philox(seed, epoch) when shuffle, else in manifest order;
 *   2. length bucketing (bucket_batches > 0): that order is cut into windows of bucket_batches *
 *      batch_size utterances, each window sorted by (cropped) duration, cut into batches; with shuffle
 *      the batch order is then permuted by Philox(seed, epoch). Without bucketing, consecutive runs of
 *      batch_size form the batches. drop_last drops a final short batch;
 *   3. distributed shard: rank r of world w takes global batches r, r + w, r + 2w, ... The global batch
 *      sequence does not depend on w, so shards are disjoint and together cover the epoch.
 * Every random choice (permutations, crop offsets, partners, the callback's counter) is a function of
 * (seed, epoch, manifest index), never of the thread that computes it: for a seed and epoch the batches
 * are bitwise identical for any number of workers, and workers = 0 runs everything in the caller.
 *
 * Threads: `workers` threads fill the items of a batch in parallel (item j of batch k is one job);
 * batches are handed over in order from a bounded queue of `prefetch` batch buffers. Buffers come back
 * with loader_release and are reused, so after warm-up no batch array is allocated.
 */
#ifndef SERC_LOADER_H
#define SERC_LOADER_H

#include <stdint.h>

#include "error.h"
#include "manifest.h"
#include "mel.h"

typedef enum LoaderOutput {
    LOADER_FEATURES = 0, /* feats (B, T, F): mel_plan_compute of each cropped utterance */
    LOADER_RAW_AUDIO,    /* audio (B, T): the cropped mono waveform at sample_rate (for a GPU front end) */
    LOADER_CACHED        /* feats (B, T, F): frames of a `serc embed` features file (cache), looked up by
                          * utterance id; crops in frames at the file's frame rate; no audio is read, so
                          * no augmentation or transform */
} LoaderOutput;

struct FeatureCache;

/* What an augmentation callback is given for one utterance. */
typedef struct LoaderAugmentItem {
    int32_t index;           /* manifest index of the utterance */
    int32_t partner_index;   /* manifest index of the partner (never index when N > 1) */
    float *audio;            /* (n) cropped mono audio at sample_rate: modify in place, length fixed */
    int64_t n;
    const float *partner;    /* (n_partner) the partner, cropped the same way; read only */
    int64_t n_partner;
    int sample_rate;         /* Hz */
    int epoch;
    uint64_t seed;           /* Philox seed of the augmentation stream (derived from LoaderOptions.seed) */
    uint64_t counter;        /* first Philox block offset of this item; [counter, counter + 2^16) is its own */
} LoaderAugmentItem;

/* Per-utterance raw-audio augmentation, called from worker threads (so it must be thread safe and must
 * draw its randomness from item->seed / item->counter only). Returns lambda in [0, 1]: the weight of the
 * partner's label in the mixed targets, soft = (1 - lambda) onehot(a) + lambda onehot(partner); 0 when
 * it did not mix. Energy-adaptive mixup (train/eam.h) plugs in here. */
typedef double (*LoaderAugmentFn)(void *user, const LoaderAugmentItem *item);

/* Per-utterance transform, called from worker threads after the crop and the augmentation and before
 * the features, on every utterance (evaluation under noise: `serc robust`). Modifies audio[0..n) (mono,
 * sample_rate Hz) in place, length fixed. Must be thread safe and a function of (index, audio) only, so
 * the result does not depend on the worker count. Returns 0, or -1 with err set: the utterance then
 * fails like an unreadable one (skipped and counted with skip_bad, else the epoch stops with err). */
typedef int (*LoaderTransformFn)(void *user, int32_t index, float *audio, int64_t n, int sample_rate, SercErr *err);

typedef struct LoaderOptions {
    LoaderOutput output;
    MelConfig mel;           /* LOADER_FEATURES: the front end; its sample_rate is the loader's */
    int sample_rate;         /* Hz; LOADER_RAW_AUDIO: required (> 0); features: 0 or mel.sample_rate */
    int batch_size;          /* >= 1 */
    int training;            /* 1: random crop to max_seconds; 0: whole utterance up to eval_max_seconds */
    double max_seconds;      /* training crop length; <= 0 = no crop */
    double eval_max_seconds; /* evaluation cap (first seconds kept); <= 0 = no cap */
    int workers;             /* threads; 0 = synchronous in the caller */
    int prefetch;            /* batches decoded ahead (bounded queue), >= 1; ignored when workers = 0 */
    int shuffle;             /* Philox permutation per (seed, epoch) */
    int bucket_batches;      /* length bucketing window in batches (e.g. 50); 0 = off */
    int drop_last;           /* drop a final batch shorter than batch_size */
    int skip_bad;            /* 1: skip and count unreadable utterances; 0: stop with the file's error */
    uint64_t seed;
    int rank, world;         /* distributed shard: 0 <= rank < world */
    LoaderAugmentFn augment; /* NULL = none; called whenever set, so give it to the training loader only */
    void *augment_user;
    double augment_prob;     /* probability that an utterance goes to augment (a Philox draw per utterance
                              * and epoch); the partner is decoded only then. Default 1 */
    LoaderTransformFn transform; /* NULL = none */
    void *transform_user;
    const struct FeatureCache *cache; /* LOADER_CACHED: the opened features file (train/featcache.h) */
} LoaderOptions;

/* Defaults: features with the "kaldi" preset at 16 kHz, batch 16, evaluation, no crop, workers 0,
 * prefetch 4, no shuffle, no bucketing, keep the last batch, stop on bad files, seed 0, rank 0 of 1,
 * no augmentation (augment_prob 1), no transform. */
LoaderOptions loader_options_default(void);

/* One batch. Arrays are host memory owned by the loader, valid until loader_release. */
typedef struct LoaderBatch {
    int B;                 /* utterances (< batch_size at the end of an epoch or after skipped files) */
    int T;                 /* padded length: frames (features) or samples (raw audio) of the longest */
    int F;                 /* features per frame; 1 for raw audio */
    int C;                 /* classes: labels->n, 0 without a label map */
    int epoch;
    int64_t batch_index;   /* position of this batch in this rank's epoch */
    float *feats;          /* (B, T, F) zero padded; NULL for raw audio */
    float *audio;          /* (B, T) zero padded samples; NULL for features */
    int32_t *lengths;      /* (B) valid frames / samples */
    uint8_t *mask;         /* (B, T) 1 on valid frames, 0 on padding */
    int32_t *labels;       /* (B) class index of `label`; -1 when absent or not in the map */
    float *soft;           /* (B, C) (1 - lambda) onehot(label) + lambda onehot(partner label); NULL if C = 0 */
    float *label_dist;     /* (B, C) rater distribution (names not in the map dropped), else the one-hot;
                            * mixed like soft; NULL if C = 0 */
    float *avd;            /* (B, 3) arousal, valence, dominance (mixed when both items have them); 0 absent */
    uint8_t *has_avd;      /* (B, 3) 1 where the value is present */
    const char **ids;      /* (B) utterance ids, pointing into the manifest */
    int32_t *index;        /* (B) manifest indices */
    int32_t *partner;      /* (B) manifest index of the augmentation partner; -1 when none */
    float *lambda;         /* (B) partner weight returned by the callback; 0 when none */
    int64_t *offset;       /* (B) crop start in samples (at sample_rate) inside the utterance's segment */
} LoaderBatch;

typedef struct LoaderStats {
    int64_t utterances;    /* delivered in batches this epoch */
    int64_t bad_skipped;   /* utterances skipped because they could not be loaded (skip_bad) */
    int64_t partner_failures; /* partners that could not be loaded (the item then goes unmixed) */
    int64_t batches;       /* delivered */
    double audio_seconds;  /* delivered audio after cropping */
    double wait_seconds;   /* time the caller spent blocked in loader_next (all of the work when workers = 0) */
    char first_bad[SERC_ERR_MSG_MAX]; /* message of the first skipped utterance, "" if none */
} LoaderStats;

typedef struct Loader Loader;

/* Creates a loader over m (which must outlive it; ids point into it). labels may be NULL (unlabeled:
 * labels -1, no soft targets). Validates the options and, when bucketing needs durations that the
 * manifest's start/end do not give, probes those files' headers (a probe failure is an error unless
 * skip_bad). Starts the worker threads. Returns NULL with err on bad options. */
Loader *loader_new(const Manifest *m, const LabelMap *labels, const LoaderOptions *opt, SercErr *err);

/* Starts epoch `epoch` (>= 0), abandoning any unfinished one, and resets the epoch statistics. Returns
 * the number of batches this rank will deliver (fewer only when every utterance of a batch is bad). */
int64_t loader_epoch_begin(Loader *ld, int epoch);

/* Next batch of the epoch: 1 and *out set, 0 at the end of the epoch, -1 with err when an utterance
 * could not be loaded and skip_bad = 0 (err: "MANIFEST:LINE: utterance 'ID': PATH: problem"; the epoch
 * is then over). Hand the batch back with loader_release. */
int loader_next(Loader *ld, LoaderBatch **out, SercErr *err);

/* Returns a batch's buffers to the pool. */
void loader_release(Loader *ld, LoaderBatch *batch);

/* Statistics of the current (or last) epoch. */
LoaderStats loader_epoch_stats(const Loader *ld);

/* Stops the workers and frees everything (batches not released are freed too). NULL is a no-op. */
void loader_free(Loader *ld);

#endif
