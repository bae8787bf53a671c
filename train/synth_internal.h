/* Internals of `serc synth` shared by train/synth*.c (not a public interface). */
#ifndef SERC_SYNTH_INTERNAL_H
#define SERC_SYNTH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "synth.h"

#define SYNTH_SR 16000       /* output sample rate, Hz */
#define SYNTH_MAX_WORDS 32   /* per sentence */
#define SYNTH_N_LABELS 8

/* ---- random numbers: one Philox stream per (purpose, item), element counter i advancing ---- */
typedef struct SynthRng {
    uint64_t seed, offset, i;
} SynthRng;

/* Stream `purpose` (< 2^12) for item `item` (< 2^24): Philox offset (purpose << 44) | (item << 20), so
 * streams never overlap while each stays under 2^22 draws. */
SynthRng synth_rng(uint64_t seed, uint32_t purpose, uint64_t item);
double synth_uniform(SynthRng *r);                   /* [0, 1) */
double synth_normal(SynthRng *r);                    /* N(0, 1), Box-Muller */
int synth_randint(SynthRng *r, int n);               /* [0, n) */
/* Philox block offset of stream (purpose, item), for serc_rng_fill_normal on long vectors. */
uint64_t synth_rng_offset(uint32_t purpose, uint64_t item);

/* ---- tables (train/synth_text.c) ---- */
/* Category prototypes on the 1-7 scale, {arousal, valence, dominance}, index = SERNC class index. */
extern const double SYNTH_PROTO[SYNTH_N_LABELS][3];
/* Sentences of bank `corpus` ('a' or 'b') for category k; k = -1 gives the neutral bank (sentences
 * that carry no emotion). Sets *n. */
const char *const *synth_sentences(char corpus, int k, int *n);
/* Accents and variants: espeak-ng voice names ("en-gb-scotland") and variant names ("f3"). */
const char *const *synth_accents(char corpus, int *n);
const char *const *synth_variants(char corpus, int female, int *n);
/* BCP 47 tag of an espeak-ng accent name ("en-gb-x-rp" -> "en-GB"). */
const char *synth_lang_tag(const char *accent);

/* ---- one utterance through espeak-ng (train/synth_voice.c) ---- */
typedef struct SynthProsody {
    char voice[64];      /* "en-us+f3" */
    int pitch, range;    /* espeakPITCH, espeakRANGE: 0-100 (50 is the voice's own) */
    int rate;            /* espeakRATE, words per minute */
    int wordgap;         /* espeakWORDGAP, units of 10 ms */
    int emph_pitch_pct, emph_volume_pct; /* SSML prosody on emphasised words, percent above base */
    unsigned char emph[SYNTH_MAX_WORDS]; /* 1: word is emphasised */
    int break_after;     /* word index followed by an SSML break, -1 for none */
    int break_ms;
    double tilt;         /* first-order tilt filter coefficient in [-0.8, 0.8]: > 0 brighter */
    double gain_db;      /* gain after synthesis */
} SynthProsody;

typedef struct SynthWord {
    char w[48];
    double start, end; /* seconds */
} SynthWord;

typedef struct SynthAudio {
    float *x; /* 16 kHz, full scale 1.0 */
    int64_t n;
    SynthWord words[SYNTH_MAX_WORDS];
    int n_words;
} SynthAudio;

/* Splits a sentence into words (spaces separate; punctuation stays with its word in `tokens`, is
 * stripped in `words`). Returns the word count (aborts above SYNTH_MAX_WORDS: bank sentences are
 * short). */
int synth_split_words(const char *sentence, char tokens[][64], char words[][48]);

/* Synthesises `sentence` with prosody p: audio at 16 kHz with word times. Not thread-safe (espeak-ng
 * has global state). Returns 0 or -1 with err filled. out->x is malloc'd (free it). */
int synth_speak(const SynthProsody *p, const char *sentence, SynthAudio *out, SercErr *err);
/* Releases espeak-ng (the next synth_speak initialises it again). */
void synth_speak_shutdown(void);

/* ---- evaluation conditions (train/synth_cond.c) ---- */
/* A pool of clean utterances that babble noise is made of. */
typedef struct SynthBabblePool {
    float **x;
    int64_t *n;
    int count;
} SynthBabblePool;

/* y[0..n) = x under condition c; stream item `item` makes the noise reproducible per utterance. */
void synth_apply_condition(const SynthCondition *c, const float *x, int64_t n, float *y, uint64_t seed,
                           uint64_t item, const SynthBabblePool *babble);

/* ---- corpus plan (train/synth.c) and files (train/synth_write.c) ---- */
typedef struct SynthSpeaker {
    char id[16];         /* "sa01" (corpus a), "sb01" (corpus b) */
    int female;
    const char *accent, *variant;
    char voice[64];      /* accent+variant */
    int pitch, range, rate; /* espeak-ng base values */
    double tilt, gain_db, expressiveness;
    int fold;
    int split;           /* 0 train, 1 dev, 2 test */
} SynthSpeaker;

typedef struct SynthUtt {
    char id[32];
    int speaker;
    int intended;        /* category the speaker acts */
    int text_cat;        /* category of the sentence bank, -1 for the neutral bank */
    double intensity;    /* 0 = neutral prototype, 1 = the category's prototype */
    double avd[3];       /* acted arousal, valence, dominance (drives the rendering) */
    const char *sentence;
    SynthProsody prosody;
    int n_emph;
    /* raters */
    int n_raters, votes[SYNTH_N_LABELS], label;
    double rated[3];     /* raters' mean A/V/D */
    /* rendering */
    double duration;     /* seconds */
    SynthWord words[SYNTH_MAX_WORDS];
    int n_words;
} SynthUtt;

typedef struct SynthCorpus {
    const SynthOptions *o;
    const char *name;    /* "synth" or "synth-b" */
    SynthSpeaker *spk;
    int n_spk;
    SynthUtt *utt;
    int n_utt;
} SynthCorpus;

extern const char *const SYNTH_SPLIT_NAMES[3];

/* Creates every folder of path's parent chain (mkdir -p of dirname(path) when `parent`, else path). */
int synth_mkdirs(const char *path, int parent, SercErr *err);
/* Writes x[0..n) (full scale 1.0) as 16 kHz 16-bit PCM WAV via path.tmp + rename. A file whose peak
 * exceeds full scale is scaled down to fit (*scaled set to 1), never clipped. */
int synth_write_wav(const char *path, const float *x, int64_t n, int *scaled, SercErr *err);
/* Removes the manifests a previous render may have left (all.jsonl first). */
void synth_remove_manifests(const SynthCorpus *c);
/* Writes the label map, truth.tsv, README.txt and the manifests, all.jsonl last. */
int synth_write_outputs(const SynthCorpus *c, const SynthReport *rep, SercErr *err);

#endif
