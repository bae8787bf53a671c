/* Manifests (JSONL, one utterance per line; schema in docs/manifest.md) and label maps.
 *
 * The reader is strict: an unknown key, a wrong type or an out-of-range value is an error naming the
 * manifest file and line ("data/train.jsonl:17: key 'valence' must be a number, got string"). The writer
 * is atomic (temporary file + rename) and reading what it wrote gives back the same utterances; writing
 * those again gives the same bytes.
 */
#ifndef SERC_MANIFEST_H
#define SERC_MANIFEST_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef enum ManifestGender {
    GENDER_ABSENT = 0, /* key not in the line */
    GENDER_FEMALE,
    GENDER_MALE,
    GENDER_UNKNOWN
} ManifestGender;

typedef enum ManifestSplit {
    SPLIT_ABSENT = 0,
    SPLIT_TRAIN,
    SPLIT_DEV,
    SPLIT_TEST
} ManifestSplit;

/* One word of a forced alignment: seconds relative to the segment start. */
typedef struct ManifestWord {
    char *w;
    double start, end;
} ManifestWord;

/* One entry of a label distribution from raters. */
typedef struct LabelProb {
    char *name;
    double prob;
} LabelProb;

/* One utterance. Optional strings are NULL when absent; optional numbers have a has_* flag. */
typedef struct Utterance {
    char *id;
    char *audio;      /* as written in the manifest: relative to Manifest.dir, or absolute */
    char *audio_path; /* resolved path to open: Manifest.dir joined with audio (lexically normalised) */
    int has_start, has_end;
    double start, end; /* seconds in the file */
    char *speaker;
    ManifestGender gender;
    int has_age;
    double age;
    char *label;
    LabelProb *label_dist; /* n_dist entries in file order; NULL when absent (never empty) */
    int n_dist;
    int has_arousal, has_valence, has_dominance;
    double arousal, valence, dominance;
    char *transcript;
    int has_words; /* "words": [] is present-and-empty */
    ManifestWord *words;
    int n_words;
    int fold; /* -1 when absent */
    ManifestSplit split;
    char *split_name, *corpus, *condition, *lang;
    int64_t line; /* 1-based line in the file read (0 for utterances built in memory) */
} Utterance;

typedef struct Manifest {
    char *path; /* file read (NULL for one built in memory) */
    char *dir;  /* folder that relative `audio` paths are relative to ("." for the working directory) */
    Utterance *utts;
    int n, cap;
} Manifest;

/* Reads and validates a manifest. Returns NULL with err = "PATH:LINE: problem" on any error: missing or
 * empty file, invalid UTF-8, blank line, CRLF line end, malformed JSON, unknown key, wrong type, value
 * out of range (start < end, label_dist >= 0 summing to 1 within 1e-3, words ordered with start <= end,
 * gender/split enums, fold a non-negative integer), duplicate id. Lines may be arbitrarily long. */
Manifest *manifest_read(const char *path, SercErr *err);

/* Writes m to path atomically (PATH.tmp.PID then rename). Keys in the schema's order, numbers in the
 * shortest form that reads back to the same double. `audio` is written as stored when path's folder is
 * m->dir, otherwise rewritten relative to path's folder (absolute paths stay absolute). Fails on a
 * utterance that the reader would reject (non-finite numbers, missing id/audio). */
int manifest_write(const char *path, const Manifest *m, SercErr *err);

/* An empty manifest whose relative audio paths are relative to dir (NULL = "."). */
Manifest *manifest_new(const char *dir);
void manifest_free(Manifest *m);

/* Appends a zeroed utterance (fold = -1) and returns it; its strings are owned by the manifest (set
 * them with serc_strdup). Call manifest_set_audio to set audio and audio_path together. */
Utterance *manifest_append(Manifest *m);
void manifest_set_audio(const Manifest *m, Utterance *u, const char *audio);
/* Appends a deep copy of u (from any manifest with the same dir). */
Utterance *manifest_append_copy(Manifest *m, const Utterance *u);

/* Selection for manifest_filter: fields left at their "any" value do not filter. */
typedef struct ManifestFilter {
    ManifestSplit split;     /* SPLIT_ABSENT = any */
    int fold;                /* -1 = any; otherwise keep utterances with this fold */
    int exclude_fold;        /* -1 = none; otherwise drop utterances with this fold (training side) */
    const char *condition;   /* NULL = any */
    const char *corpus;      /* NULL = any */
    int require_label;       /* 1: keep only utterances with a categorical label */
} ManifestFilter;

/* A filter that keeps everything. */
ManifestFilter manifest_filter_any(void);
/* Deep copy of the utterances of m that match f (same dir, line numbers kept). */
Manifest *manifest_filter(const Manifest *m, const ManifestFilter *f);

/* Index of the utterance with this id, or -1 (linear scan). */
int manifest_find(const Manifest *m, const char *id);

const char *manifest_gender_name(ManifestGender g); /* "female", "male", "unknown", or NULL */
const char *manifest_split_name(ManifestSplit s);   /* "train", "dev", "test", or NULL */

/* Lexical path helpers (no symlink resolution): join and normalise ("a/./b/../c" -> "a/c"), and the
 * path of `target` relative to folder `from` (both made absolute against the working directory).
 * Results are malloc'ed. */
char *manifest_path_join(const char *dir, const char *rel);
char *manifest_path_relative(const char *target, const char *from);
/* Folder part of a path ("." when it has none); malloc'ed. */
char *manifest_dirname(const char *path);

/* ---- label maps: one label name per line, line order = class index ---- */

typedef struct LabelMap {
    char **names;
    int n;
} LabelMap;

/* Reads a label map; errors name file and line (blank line, duplicate, surrounding spaces, not
 * UTF-8, empty file). */
LabelMap *labelmap_read(const char *path, SercErr *err);
/* Writes atomically, one name per line. */
int labelmap_write(const char *path, const LabelMap *map, SercErr *err);
LabelMap *labelmap_new(void);
/* Adds name when absent; returns its index. */
int labelmap_add(LabelMap *map, const char *name);
/* Class index of name, or -1. */
int labelmap_index(const LabelMap *map, const char *name);
void labelmap_free(LabelMap *map);

/* Checks that every label and label_dist name of m is in map; errors name the manifest line. */
int manifest_check_labels(const Manifest *m, const LabelMap *map, SercErr *err);

#endif
