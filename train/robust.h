/* The robustness protocol behind `serc robust` (docs/robustness.md, "The robustness protocol"): one or
 * more checkpoints scored on a test manifest clean, under additive noise at a list of SNRs (white,
 * pink, babble, hum, or real noise recordings listed in a noise manifest), under synthetic
 * reverberation, and on another corpus through a label mapping; the result as a Markdown table, JSON
 * and an SVG plot of UA against SNR.
 *
 * Noisy audio is made on the fly: a loader transform (train/loader.h) corrupts each cropped utterance
 * before its features. The SNR is set over speech-active samples (noise_speech_activity with
 * ROBUST_VAD_FRAME_S and ROBUST_VAD_THRESHOLD_DB), and every draw is Philox keyed by (seed, noise
 * source, utterance index in the test manifest), so a noisy set is the same whatever the worker count
 * or the order of evaluation. */
#ifndef SERC_ROBUST_H
#define SERC_ROBUST_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "json.h"
#include "manifest.h"

/* Speech activity: 20 ms frames whose mean square is within 30 dB of the loudest frame's. */
#define ROBUST_VAD_FRAME_S 0.020
#define ROBUST_VAD_THRESHOLD_DB 30.0
/* Babble: talkers summed, and the pool they are drawn from (utterances of the test manifest). */
#define ROBUST_BABBLE_TALKERS 4
#define ROBUST_BABBLE_POOL 16
#define ROBUST_BABBLE_MAX_S 10.0
/* Limits of the lists given on the command line. */
#define ROBUST_MAX_MODELS 16
#define ROBUST_MAX_NOISES 16
#define ROBUST_MAX_LEVELS 32

/* ---- noise sources ---- */

typedef enum RobustKind { ROBUST_WHITE = 0, ROBUST_PINK, ROBUST_BABBLE, ROBUST_HUM, ROBUST_REAL, ROBUST_REVERB } RobustKind;

/* One way of corrupting speech, ready for one sample rate. Immutable once built, so one source serves
 * every loader thread. */
typedef struct RobustSource RobustSource;

/* Builds the source named by spec:
 *   "white" | "pink" | "hum"   generated noise
 *   "babble"                   ROBUST_BABBLE_TALKERS talkers from a pool of up to ROBUST_BABBLE_POOL
 *                              utterances of `speech` (first ROBUST_BABBLE_MAX_S seconds of each; chosen
 *                              by Philox from seed); talkers of the corrupted utterance's own speaker
 *                              are left out when others exist
 *   "real:NOISE.jsonl"         recordings listed in a noise manifest (`serc prepare noise`); each file
 *                              is probed now, so an unreadable one is an error here, naming its line
 *   "reverb"                   synthetic room reverberation (noise_reverb)
 * speech: the manifest being corrupted (babble pool, speakers; may be NULL for the other kinds).
 * sample_rate: Hz of the audio robust_corrupt will be given. NULL with err on failure. */
RobustSource *robust_source_new(const char *spec, const Manifest *speech, int sample_rate, uint64_t seed,
                                SercErr *err);
void robust_source_free(RobustSource *s);
RobustKind robust_source_kind(const RobustSource *s);
/* "white", "pink", "babble", "hum", "real:<noise manifest file name without .jsonl>", "reverb". */
const char *robust_source_name(const RobustSource *s);

/* Corrupts x[0..n) (mono, the source's sample rate) in place, as utterance `index` of the speech
 * manifest: additive noise with the SNR over speech-active samples equal to `level` dB, or, for reverb,
 * reverberation with RT60 `level` seconds. Deterministic in (seed, source name, index): the noise of
 * an utterance is the same at every SNR, only its gain changes. A silent utterance is left as it is
 * (no SNR can be set). Returns 0, or -1 with err (a real noise file that cannot be decoded, or that is
 * silent under the utterance's speech). */
int robust_corrupt(const RobustSource *s, double level, int32_t index, float *x, int64_t n, SercErr *err);

/* ---- label mapping (cross-corpus) ---- */

/* Pairs from -> to; to = NULL maps `from` to nothing (its utterances are skipped and counted). */
typedef struct RobustLabelMap {
    char **from, **to;
    int n;
} RobustLabelMap;

/* Parses "neu=neutral,ang=angry,fea=-" (an empty target or "-" maps to nothing) or, when spec holds no
 * '=', the file at that path with one "from=to" per line ("#" comments and blank lines allowed).
 * Errors: malformed pair, empty source, a source given twice, unreadable file. */
int robust_parse_label_map(const char *spec, RobustLabelMap *map, SercErr *err);
void robust_label_map_free(RobustLabelMap *map);

/* What a mapping did to one manifest. */
typedef struct RobustMapping {
    RobustLabelMap used;    /* every source label met, with its target (NULL: skipped), in first-seen order */
    int64_t *count;         /* (used.n) utterances per source label */
    int64_t kept, skipped, unlabeled; /* scored; label maps to nothing; no label at all */
    int identity;           /* 1: the default identity on shared names */
} RobustMapping;

/* A copy of m's utterances whose label maps to a class of `classes`, the label replaced by its target
 * (label_dist dropped), and *orig_index[i] the index in m of utterance i (free() it). map NULL: the
 * identity on names shared with classes (others skipped). With a map, a label of m that it does not
 * name is an error ("PATH:LINE: label 'x' is not in the label mapping ..."), and so is a target not in
 * classes. No utterance left is an error too. */
int robust_map_labels(const Manifest *m, const char *const *classes, int n_classes, const RobustLabelMap *map,
                      Manifest **out, int32_t **orig_index, RobustMapping *rep, SercErr *err);
void robust_mapping_free(RobustMapping *rep);

/* ---- the protocol ---- */

typedef struct RobustOptions {
    const char *ckpt[ROBUST_MAX_MODELS];
    const char *name[ROBUST_MAX_MODELS]; /* NULL: the checkpoint's folder name (unique-ified) */
    int n_models;
    const char *manifest;                /* test manifest */
    const char *noise[ROBUST_MAX_NOISES]; /* source specs (robust_source_new), without "reverb" */
    int n_noise;
    double snr_db[ROBUST_MAX_LEVELS];
    int n_snr;
    double rt60_s[ROBUST_MAX_LEVELS];    /* reverberation times; n_rt60 = 0: no reverb rows */
    int n_rt60;
    const char *cross;                   /* another corpus's manifest, or NULL */
    const char *map;                     /* label mapping spec for cross (NULL: identity on shared names) */
    uint64_t seed;
    int workers;                         /* loader threads; < 0: each checkpoint's data.workers */
    const char *write_dir;               /* also write the noisy test sets as WAV + manifests, or NULL */
    FILE *log;                           /* progress per condition; NULL for none */
} RobustOptions;

/* Defaults: noise white,pink,babble; SNR 20,10,5,0,-5; no reverb; seed 1; workers -1. */
void robust_options_default(RobustOptions *o);

/* Parses a comma-separated list of numbers in [lo, hi] ("20,10,5,0,-5") into out (at most
 * ROBUST_MAX_LEVELS, no repeats). what names the option in errors ("--snr"). */
int robust_parse_levels(const char *list, const char *what, double lo, double hi, double *out, int *n, SercErr *err);

/* One scored condition. */
typedef struct RobustRow {
    char condition[80]; /* "clean", a source name ("white", "real:musan", "reverb") or "cross" */
    double level;       /* SNR in dB, RT60 in s; NAN for clean and cross */
    double ua, wa, macro_f1;
    int64_t utterances, bad_skipped; /* scored; unreadable and skipped (data.skip_bad) */
} RobustRow;

typedef struct RobustModel {
    char *name, *ckpt;
    char **labels;      /* the checkpoint's classes */
    int n_labels;
    RobustRow *rows;
    int n_rows;
    RobustMapping test_map;  /* identity mapping of the test manifest */
    int has_cross;
    RobustMapping cross_map;
} RobustModel;

typedef struct RobustReport {
    RobustModel *models;
    int n_models;
    char *manifest, *cross; /* as given */
    uint64_t seed;
    double snr_db[ROBUST_MAX_LEVELS];
    int n_snr;
    char *noise_names[ROBUST_MAX_NOISES + 1]; /* source names in order, reverb last when used */
    int n_noise_names;
} RobustReport;

/* Checks every input (checkpoints, manifests, noise manifests, mapping) before the first evaluation,
 * then scores each checkpoint under each condition, printing a line per condition to o->log. */
int robust_run(const RobustOptions *o, RobustReport *rep, SercErr *err);
void robust_report_free(RobustReport *rep);

/* The report as Markdown (robust.md), JSON (robust.json) and an SVG line plot of UA against SNR, one
 * line per model and noise, clean at the right end (robust_ua.svg). Appended to out. */
void robust_markdown(const RobustReport *rep, JsonBuf *out);
void robust_json(const RobustReport *rep, JsonBuf *out);
void robust_svg(const RobustReport *rep, JsonBuf *out);
/* Writes DIR/robust.md, DIR/robust.json and DIR/robust_ua.svg atomically (DIR created). */
int robust_write_report(const RobustReport *rep, const char *dir, SercErr *err);

/* Writes the noisy test sets for other tools: DIR/<condition>/<id>.wav (16-bit PCM, whole utterances
 * at sample_rate) and DIR/test_<condition>.jsonl (the test manifest's lines with audio and condition
 * replaced), one per noise source and level. */
int robust_write_noisy_sets(const RobustOptions *o, int sample_rate, SercErr *err);

/* ---- noise manifests: `serc prepare noise` ---- */

typedef struct NoiseImportReport {
    int found, kept, unreadable;
    double total_seconds;
    char **bad;        /* (unreadable) "PATH: problem" */
} NoiseImportReport;

/* Lists every audio file under root (recursively: .wav .flac .ogg .aif .aiff .au .caf, any case; sorted
 * by path), probes each one, and builds a manifest of the readable ones: id = the path under root
 * without its extension, audio relative to out's folder, start 0 and end = duration in seconds,
 * corpus "noise". Unreadable files are skipped and listed in rep. An empty folder, or one with no
 * readable audio file, is an error. */
int noise_import(const char *root, const char *out, Manifest **m, NoiseImportReport *rep, SercErr *err);
void noise_import_report_free(NoiseImportReport *rep);

#endif
