/* Scoring utterances with a trained checkpoint (`serc predict`).
 *
 * Audio files: long files are cut into windows of window_s seconds every hop_s seconds; each window's
 * class probabilities are computed and the file's probabilities are their mean weighted by window
 * duration. A MATER model (text_dim > 0) reads the file's transcript in every window (whitespace words,
 * as training reads a manifest's `transcript`): without word times, so its word level is unavailable.
 *
 * Manifests: every utterance is scored as `serc eval` scores it (the evaluation loader: whole
 * utterances capped at data.eval_max_seconds, experiment_forward with the utterance's `words` and their
 * times, else its transcript), so a manifest prediction's class is the one eval counts.
 *
 * Explanations (MATER with the word level): per word, the word level's attention-pooling weight beta
 * (models/mater.h; 0 for a word outside the word level), sorted by weight. The weights of the words that
 * take part sum to 1. */
#ifndef SERC_PREDICT_H
#define SERC_PREDICT_H

#include "experiment.h"

typedef struct PredictWindow {
    double start, end; /* seconds */
    float *probs;      /* (C) */
} PredictWindow;

/* One word of an explanation. */
typedef struct PredictWord {
    char *word;
    double start, end; /* seconds from the utterance's start (manifest times); NAN without times */
    float weight;      /* beta of the word level; 0 where the word does not take part */
    int used;          /* took part in the word level (word mask 1) */
    int position;      /* index of the word in the utterance's text */
} PredictWord;

typedef struct Prediction {
    int label;          /* argmax of probs */
    float *probs;       /* (C); NULL for a manifest utterance that could not be read (skip_bad) */
    float avd[3];       /* A/V/D head output when the model has one */
    int has_avd;
    double duration;    /* seconds scored (files: the file; manifests: valid frames / frame rate) */
    PredictWindow *windows;
    int n_windows;
    /* with explain */
    PredictWord *words; /* (n_words) sorted by weight, descending; ties in text order */
    int n_words;
    int explained;      /* 1: at least one word took part, the weights sum to 1 over the used words */
    char explain_note[160]; /* why not, when explained = 0 */
} Prediction;

/* 0 when e's model gives word-level explanations (a MATER model with the word level), else -1 with err
 * saying why (audio-only models: saliency is not implemented). */
int predict_explain_check(const Experiment *e, SercErr *err);

/* window_s <= 0: the checkpoint's data.eval_max_seconds, or the whole file when that is 0 too.
 * transcript: the file's text for a MATER model (NULL or "" = empty text); an error for a model that
 * reads no text. explain: fill p->words (predict_explain_check must pass). */
int predict_file_text(Experiment *e, const char *path, const char *transcript, double window_s, double hop_s,
                      int explain, Prediction *p, SercErr *err);
/* predict_file_text without text or explanation. */
int predict_file(Experiment *e, const char *path, double window_s, double hop_s, Prediction *p, SercErr *err);

/* Scores every utterance of m as `serc eval` does; out (m->n) receives utterance i's prediction at index
 * i (probs NULL for an unreadable one skipped under data.skip_bad, counted in *skipped when not NULL).
 * Returns 0, or -1 with err (out then holds nothing to free). */
int predict_manifest(Experiment *e, const Manifest *m, int explain, Prediction *out, int64_t *skipped, SercErr *err);

void prediction_free(Prediction *p);

/* A transcripts file: one "PATH<TAB>TEXT" per line (split at the first tab; TEXT may be empty; empty
 * lines are skipped). PATH is matched as written against the audio arguments. */
typedef struct PredictTranscripts {
    int n;
    char **path, **text; /* (n) */
} PredictTranscripts;

/* Reads a transcripts file; errors name the line: no tab, an empty path, a path given twice. */
int predict_transcripts_read(const char *path, PredictTranscripts *t, SercErr *err);
/* The text for audio path, or NULL when the file has no line for it. */
const char *predict_transcripts_find(const PredictTranscripts *t, const char *path);
void predict_transcripts_free(PredictTranscripts *t);

#endif
