/* MATER: multi-level acoustic-textual fusion (Jon et al., Interspeech 2025, arXiv 2506.19887), as SERC
 * builds it. The paper's exact mechanics were not found; docs/methods.md ("MATER") gives every decision.
 *
 * Inputs of one batch: the SerModel's frames after FLAM h (B, T', dim) with their lengths, its pooled
 * vector p (B, P) and its audio-only classifier's logits; and one hidden state of a frozen text encoder
 * over each utterance's words: tokens x (B, Tt, E) with their mask, word vectors t_w (B, W, E) (mean of
 * each word's tokens) and the token mean t (B, E).
 *
 *   word level       a_w  = mean of h over the frames inside word w's time span        (B, W, dim)
 *                    z_w  = GELU(W_f [a_w, W_t t_w + b_t] + b_f)                         (B, W, d)
 *                    u_w  = LayerNorm(z_w + W_o MHSA(z_w, word mask))                    (B, W, d)
 *                    beta = masked softmax_w(v^T tanh(W_s u_w + b_s))                    (B, W)
 *                    logits_word = MlpHead(sum_w beta_w u_w)
 *                    A word takes part (word mask 1) when it kept a token and its span holds a frame.
 *   utterance level  "concat": logits_utt = MlpHead(GELU(W_u [p, t] + b_u))
 *                    "cross":  q = W_q h; c = LayerNorm(q + W_o MHA(q, W_k x, W_v x, token mask))
 *                              logits_utt = MlpHead(mean of c over the valid frames)
 *   embedding level  logits_emb = (classifier(p) + MlpHead_text(t)) / 2      (late fusion)
 *   output           logits = mean of the enabled levels' logits over the levels available for the
 *                    item: the word level is unavailable where no word of the item takes part
 *                    (outside the crop, no times); an item with no available level averages all.
 * With avd, each head has an A/V/D twin, combined the same way. Text only: logits = MlpHead_text(t).
 *
 * Parameters "mater.word.{text_proj,fuse}", "mater.word.attention.{q,k,v,out}_proj", "mater.word.norm",
 * "mater.word.pool.{proj,score}", "mater.word.{classifier,avd}"; "mater.utterance.fuse" (concat) or
 * "mater.utterance.cross.{q,k,v,out}_proj" and "mater.utterance.norm" (cross),
 * "mater.utterance.{classifier,avd}"; "mater.text.{classifier,avd}". Only the enabled levels register.
 * Initialisation: PyTorch's defaults (Linear U(+-1/sqrt(fan_in)), layer norm 1 and 0).
 */
#ifndef SERC_MATER_H
#define SERC_MATER_H

#include "heads.h"
#include "layers.h"
#include "pooling.h"
#include "text_encoder.h"

enum { MATER_LEVEL_WORD = 0, MATER_LEVEL_UTTERANCE, MATER_LEVEL_EMBEDDING, MATER_N_LEVELS };
#define MATER_WORD (1 << MATER_LEVEL_WORD)
#define MATER_UTTERANCE (1 << MATER_LEVEL_UTTERANCE)
#define MATER_EMBEDDING (1 << MATER_LEVEL_EMBEDDING)
#define MATER_ALL_LEVELS (MATER_WORD | MATER_UTTERANCE | MATER_EMBEDDING)

typedef enum MaterUttFusion { MATER_UTT_CONCAT = 0, MATER_UTT_CROSS } MaterUttFusion;

/* Level names as in the config ("word", "utterance", "embedding"). */
extern const char *const mater_level_names[MATER_N_LEVELS];
/* The level's bit for a name, or 0 for an unknown name. */
int mater_level_bit(const char *name);
/* "concat" / "cross" -> the kind; -1 for anything else. */
int mater_utt_fusion_kind(const char *name);

/* The words of one utterance as the model reads them. */
typedef struct SerTextItem {
    int n_words;
    const char *const *words;  /* (n_words) */
    const double *start, *end; /* (n_words) seconds from the first input frame (the crop applied); NULL
                                  when the words have no times (a transcript) */
} SerTextItem;

/* The text of a batch: item b belongs to feats[b]. */
typedef struct SerTextInput {
    int B;
    const SerTextItem *items; /* (B) */
    double frame_rate;        /* input frames per second along feats' time axis */
} SerTextInput;

typedef struct MaterConfig {
    int levels;                /* MATER_* bits; ignored when text_only */
    int text_only;             /* the text head alone, no audio */
    MaterUttFusion utt_fusion;
    int audio_dim;             /* width of the frames */
    int pooled_dim;            /* width of the pooled audio vector */
    int text_dim;              /* E: the text encoder's hidden size */
    int dim;                   /* d: fusion width */
    int heads;                 /* attention heads of the word block and of cross attention; divide d */
    int head_hidden;           /* MlpHead hidden width */
    float dropout;             /* MlpHead dropout */
    int n_classes;
    int avd;                   /* A/V/D twins of every head */
} MaterConfig;

typedef struct Mater {
    MaterConfig cfg;
    /* word level */
    Linear word_text_proj, word_fuse, wq, wk, wv, wo;
    LayerNorm word_norm;
    AttentionPool word_pool;
    MlpHead word_head, word_avd;
    /* utterance level */
    Linear utt_fuse, cq, ck, cv, co;
    LayerNorm utt_norm;
    MlpHead utt_head, utt_avd;
    /* embedding level and text only */
    MlpHead text_head, text_avd;
} Mater;

/* One hidden state of the text encoder over a batch. */
typedef struct MaterText {
    int W;                  /* words of the wordiest item (at least 1) */
    Tensor *tokens;         /* (B, Tt, E) */
    Tensor *token_mask;     /* (B, Tt) u8 */
    Tensor *token_lengths;  /* (B) i32 */
    Tensor *words;          /* (B, W, E): mean of each word's tokens, 0 for a word without tokens */
    Tensor *word_tokens;    /* (B, W) u8: the word kept at least one token */
    Tensor *pooled;         /* (B, E): mean over the tokens, specials included */
} MaterText;

/* What the audio side gives the fusion (NULL pointers in text-only mode). */
typedef struct MaterAudio {
    Tensor *frames;        /* (B, T', dim) */
    Tensor *frame_lengths; /* (B) i32 */
    Tensor *pooled;        /* (B, P) */
    Tensor *logits;        /* (B, C) audio-only classifier */
    Tensor *avd;           /* (B, 3) or NULL */
    double frame_rate;     /* frames of h per second */
} MaterAudio;

typedef struct MaterOutput {
    Tensor *logits;                       /* (B, C) the combination above */
    Tensor *avd;                          /* (B, 3) or NULL */
    Tensor *level_logits[MATER_N_LEVELS]; /* (B, C) each enabled level's, NULL when off */
    Tensor *level_avd[MATER_N_LEVELS];
    Tensor *level_weight[MATER_N_LEVELS]; /* (B, 1) weight of the level in the output (0 where unavailable) */
    Tensor *audio_logits, *text_logits;   /* the embedding level's two heads (text_logits also text only) */
    Tensor *audio_avd, *text_avd;
    Tensor *word_weights;                 /* (B, W) beta: per-word contribution, 0 on masked words */
    Tensor *word_mask;                    /* (B, W) u8: words that take part */
    Tensor *word_spans;                   /* (B, W, 2) i32: [first, last) frames of h per word */
    Tensor *text_pooled;                  /* (B, E) */
} MaterOutput;

void mater_register(Mater *m, ParamStore *ps, const MaterConfig *cfg);
void mater_init(Mater *m, InitRng *r);

/* Runs the frozen encoder (no tape) on each item's words joined by spaces (t NULL, or an item with no
 * words: the empty text) and takes hidden state `layer` (negative counts from the last: -1 is the last
 * layer, 0 the embeddings). Texts longer than the position table are truncated. Returns 0, or -1 with
 * err. */
int mater_encode_text(Ctx *g, const TextEncoder *enc, int layer, const SerTextInput *t, int B, MaterText *out,
                      SercErr *err);

/* Frame span of every word: spans (B, W, 2) i32, out[b, w] = [first, last) with first = floor(s r),
 * last = ceil(e r) for the word's [s, e) seconds and r = frames_per_second, clipped to
 * [0, frame_lengths[b]); [0, 0) for a word past n_words, without times, with e <= s, or wholly outside. */
Tensor *mater_word_spans(Ctx *g, const SerTextInput *t, int B, int W, double frames_per_second,
                         const Tensor *frame_lengths);

/* Mean of frames (B, T, D) over each span of spans (B, W, 2) i32 -> (B, W, D); an empty span gives 0.
 * Differentiable in frames (an averaging matrix times frames). */
Tensor *mater_word_span_pool(Ctx *g, Tensor *frames, const Tensor *spans);

/* The fusion above. a: the audio side (ignored in text-only mode). */
MaterOutput mater_forward(Ctx *g, const Mater *m, const MaterText *text, const MaterAudio *a,
                          const SerTextInput *t);

#endif
