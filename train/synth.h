/* `serc synth`: renders SERC's embedded default corpus, an emotional speech corpus synthesised with
 * libespeak-ng, deterministically from a seed (docs/synth.md describes the generative model).
 *
 * Each utterance: a speaker (espeak-ng voice + variant, base pitch, rate, timbre), an intended category,
 * continuous arousal/valence/dominance (1-7) drawn around the category's prototype, a sentence from a
 * bank (neutral or emotion-bearing), prosody driven by A/V/D (pitch level and range, rate, loudness,
 * pauses, per-word emphasis, spectral tilt), word times from the synthesiser's word events, and 5-10
 * simulated raters giving a label distribution, a consensus label and mean A/V/D.
 *
 * Output folder (written atomically, manifests last, all.jsonl the very last file):
 *   wav/clean/<speaker>/<id>.wav         16 kHz mono 16-bit PCM
 *   wav/<condition>/<speaker>/<id>.wav   test split under each evaluation condition
 *   train.jsonl dev.jsonl test.jsonl     clean manifests (docs/manifest.md), with split and fold
 *   test_<condition>.jsonl               e.g. test_white_5dB.jsonl, test_reverb_0.6s.jsonl
 *   all.jsonl                            every clean utterance; its presence marks a complete render
 *   <corpus>.labels  truth.tsv  README.txt
 */
#ifndef SERC_SYNTH_H
#define SERC_SYNTH_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define SYNTH_MAX_CONDITIONS 16

typedef enum SynthNoise {
    SYNTH_WHITE = 0, /* Gaussian white noise */
    SYNTH_PINK,      /* 1/f noise (Kellett's filter on white noise) */
    SYNTH_BABBLE,    /* sum of 4 utterances of other (training) speakers */
    SYNTH_HUM,       /* 50 Hz mains hum with harmonics */
    SYNTH_REVERB     /* convolution with an exponentially decaying sparse-noise room response */
} SynthNoise;

/* One evaluation condition: additive noise at snr_db, or reverberation with rt60_s. */
typedef struct SynthCondition {
    SynthNoise kind;
    double snr_db; /* noise kinds: signal-to-noise ratio over the whole file, dB */
    double rt60_s; /* reverb: time for the response to decay by 60 dB, seconds */
} SynthCondition;

typedef struct SynthOptions {
    const char *out_dir;
    uint64_t seed;
    char corpus;          /* 'a' ("synth") or 'b' ("synth-b": other voices and accents, other sentences,
                             weaker rendering, other raters) */
    int n_classes;        /* 8 (SERNC) or 4 (IEMOCAP subset: neutral happy sad angry) */
    int n_speakers;       /* even (half female, half male); a multiple of 2 * n_folds */
    int utts_per_speaker; /* categories are balanced within each speaker (round-robin) */
    int n_folds;          /* speaker folds; the last is `test`, the one before `dev`, the rest `train` */
    int n_conditions;
    SynthCondition conditions[SYNTH_MAX_CONDITIONS];
    int progress_every;   /* print a progress line every N utterances (0: never) */
    FILE *log;            /* where progress goes (NULL: stderr) */
    const char *preset_name; /* for README.txt only */
} SynthOptions;

typedef struct SynthReport {
    int n_utts, n_condition_files, n_clipped;
    double audio_seconds, elapsed_seconds;
    int label_count[8]; /* consensus labels */
} SynthReport;

/* Fills o for preset "tiny" (12 speakers x 16 = 192 utterances), "demo" (24 x 80 = 1920) or "full"
 * (48 x 216 = 10368), corpus 'a', 8 classes, seed 1, default conditions. Returns -1 on an unknown name. */
int synth_preset(SynthOptions *o, const char *preset, SercErr *err);

/* Parses a comma-separated condition list into o->conditions: white@SNR, pink@SNR, babble@SNR,
 * hum@SNR (SNR in dB, optional "dB" suffix), reverb or reverb@RT60 (seconds, optional "s"), or "none". */
int synth_parse_conditions(SynthOptions *o, const char *list, SercErr *err);

/* Condition name as in manifests ("white@5dB", "reverb@0.6s") and as in file names ("white_5dB"). */
void synth_condition_name(const SynthCondition *c, char *out, size_t n);
void synth_condition_slug(const SynthCondition *c, char *out, size_t n);

/* Renders the corpus into o->out_dir (created if missing). Byte-identical output for the same
 * options. Returns 0, or -1 with err filled (files already written are complete; no manifest is left
 * that points at a missing file). */
int synth_render(const SynthOptions *o, SynthReport *rep, SercErr *err);

/* Label names of the corpus (index = class index): the 8 SERNC names or the first 4. */
const char *synth_label_name(int k);

#endif
