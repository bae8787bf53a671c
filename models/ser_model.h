/* SerModel: the speech emotion recognition model composed from a plain config.
 *
 *   feats (B, T, n_mels), lengths (B)          (B, T, in_layers n_mels) -> layer sum -> (B, T, n_mels)
 *     -> front end: "cnn2d" (Cnn2d) | "tdnn" (Tdnn) | "none"     frames (B, T', D_f), lengths'
 *     -> input_proj: Linear(D_f, dim)                             (B, T', dim)
 *     -> FLAM self-attention block (when flam)                    (B, T', dim)
 *     -> pooling: "attention" (FLAM's, needs flam) | "mean" | "stats" (attentive statistics, 2 dim)
 *     -> EDRL branches (when edrl): embedding (B, C d_b + d_s) replaces the pooled vector below
 *     -> MATER (when text_dim > 0, models/mater.h): word, utterance and embedding-level fusion with a
 *        frozen text encoder's states; logits and avd become the mean of the enabled levels'
 *     -> classifier MlpHead -> logits (B, n_classes); the fitted MEA read-out's logits when present
 *        projection head  -> embedding (B, proj_dim)   when proj_dim > 0
 *        A/V/D MlpHead    -> avd (B, 3)                when avd (or emosphere: on the [-1, 1] scale)
 *        octant MlpHead   -> octant_logits (B, 8)      when emosphere (models/emosphere.h)
 *
 * Parameter names: "frontend.*", "input_proj", "flam.*", "pooling.*" (stats), "classifier.*",
 * "projection.*", "avd.*", "edrl.*", "mea.*", "mater.*",
 * "emosphere.*". Initialisation (ser_model_init): one Philox stream (seed, offset 0) drawn in
 * registration order; every Linear and conv PyTorch's default U(+-1/sqrt(fan_in)), layer and batch
 * norms weight 1, bias 0, running mean 0, running variance 1 (docs/models.md has the table).
 */
#ifndef SERC_SER_MODEL_H
#define SERC_SER_MODEL_H

#include <stdio.h>

#include "edrl.h"
#include "emosphere.h"
#include "flam.h"
#include "frontends.h"
#include "heads.h"
#include "mater.h"
#include "pooling.h"
#include "ssl.h"

typedef struct SerModelConfig {
    char frontend[16];                     /* "cnn2d" (default) | "tdnn" | "none" */
    int n_mels;                            /* 80: features per frame the front end reads */
    int in_layers;                         /* 1; L > 1: the input is L stacked encoder hidden states of n_mels
                                              each, (B, T, L n_mels), combined by a learnable softmax-weighted
                                              sum first (SUPERB; "layer_sum.weights") */
    /* cnn2d */
    int cnn_channels[CNN2D_MAX_BLOCKS];    /* {32, 64}; a 0 ends the list */
    int cnn_pool_time, cnn_pool_freq;      /* 2, 2 */
    int cnn_freq_only_pool;                /* 0; 1 pools along frequency only (time pool 1) */
    char act[8];                           /* front-end activation: "relu" (default) | "gelu" */
    /* tdnn */
    int tdnn_dims[TDNN_MAX_LAYERS];        /* {256, 256, 256, 512}; a 0 ends the list */
    int tdnn_kernels[TDNN_MAX_LAYERS];     /* {5, 3, 3, 1} */
    int tdnn_dilations[TDNN_MAX_LAYERS];   /* {1, 2, 3, 1} */
    int tdnn_same_padding;                 /* 1 */
    int masked_bn;                         /* 0; 1: training batch statistics over valid frames only
                                              (exact, but 1.3-1.8x step time, 2.7x activation memory on cnn2d) */
    /* body */
    int dim;                               /* 128: width after input_proj */
    int flam;                              /* 1 */
    int heads;                             /* 16 */
    int flam_att_dim;                      /* 128; 0 = score v^T h_t */
    float flam_dropout;                    /* 0.1, on the attention branch */
    char pooling[16];                      /* "attention" (default, needs flam) | "mean" | "stats" */
    int stats_att_dim;                     /* 128: W's rows in attentive statistics pooling */
    /* heads */
    int head_hidden;                       /* 128; 0 = no hidden block */
    float dropout;                         /* 0.3, in the classifier and A/V/D heads */
    int n_classes;                         /* 4 */
    int proj_dim;                          /* 64; 0 = no projection head */
    int avd;                               /* 0; 1 adds the A/V/D regression head */
    /* EDRL (models/edrl.h): the classifier reads the disentangled embedding instead of the pooled vector */
    int edrl;                              /* 0 */
    int edrl_block_dim;                    /* 16: width of each class block of the intra-class branch */
    int edrl_shared_dim;                   /* 64: width of the inter-class branch */
    int mea_components;                    /* 0; K > 0 registers the MEA read-out (fitted after training) */
    /* MATER (models/mater.h): acoustic-textual fusion with a frozen text encoder attached after
       registration (ser_model_set_text_encoder); text_dim = 0 is the audio-only model */
    int text_dim;                          /* 0; the text encoder's hidden size */
    int text_layer;                        /* -1: the encoder's hidden state read (negative from the last) */
    int mater_levels;                      /* MATER_ALL_LEVELS: MATER_WORD | MATER_UTTERANCE | MATER_EMBEDDING */
    int mater_text_only;                   /* 0; 1: the text head alone (no audio forward) */
    char mater_utt_fusion[8];              /* "concat" (default) | "cross" */
    int mater_dim;                         /* 128: fusion width */
    int mater_heads;                       /* 4: attention heads of the word block and cross attention */
    /* EmoSphere-SER (models/emosphere.h): the A/V/D head (implied) predicts normalised A/V/D in [-1, 1]
       and an octant head classifies the sign pattern of (A, V, D); audio only (not with text_dim > 0) */
    int emosphere;                         /* 0 */
} SerModelConfig;

typedef enum SerFrontendKind { SER_FRONTEND_NONE = 0, SER_FRONTEND_CNN2D, SER_FRONTEND_TDNN } SerFrontendKind;
typedef enum SerPoolingKind { SER_POOL_ATTENTION = 0, SER_POOL_MEAN, SER_POOL_STATS } SerPoolingKind;

typedef struct SerModel {
    SerModelConfig cfg;
    SerFrontendKind frontend;
    SerPoolingKind pooling;
    int frontend_dim, pooled_dim;
    Cnn2d cnn;
    Tdnn tdnn;
    Linear input_proj;
    Flam flam;
    AttentionPool stats_pool;
    MlpHead classifier, avd_head;
    ProjectionHead projection;
    Edrl edrl;
    SslLayerSum layer_sum;
    Mater mater;                           /* when cfg.text_dim > 0 */
    const TextEncoder *text_encoder;       /* borrowed, frozen; set by ser_model_set_text_encoder */
    EmoSphereHead emosphere;               /* when cfg.emosphere */
} SerModel;

typedef struct SerOutput {
    Tensor *logits;        /* (B, n_classes) */
    Tensor *embedding;     /* (B, proj_dim), or NULL when proj_dim = 0 */
    Tensor *avd;           /* (B, 3), or NULL when avd = 0 */
    Tensor *pooled;        /* (B, dim), (B, 2 dim) for "stats" */
    Tensor *frame_weights; /* (B, T') pooling weights (attention, stats), or NULL for "mean" */
    Tensor *frames;        /* (B, T', dim): the frames that were pooled */
    Tensor *frame_lengths; /* (B) i32: valid frames after the front end */
    EdrlOutput edrl;       /* when cfg.edrl; logits are edrl.mea_logits once MEA is fitted */
    MaterOutput mater;     /* when cfg.text_dim > 0: per-level logits, per-word weights (mater.word_weights);
                              logits and avd are mater.logits and mater.avd */
    Tensor *octant_logits; /* (B, 8) when cfg.emosphere (avd is then normalised A/V/D), else NULL */
} SerOutput;

/* Fills the defaults written beside each field above. */
void ser_model_config_default(SerModelConfig *cfg);
/* 0 when the config describes a model, else -1 with err naming the key and the problem. */
int ser_model_config_check(const SerModelConfig *cfg, SercErr *err);

/* Registers every parameter (aborts on a config that ser_model_config_check rejects). */
void ser_model_register(SerModel *m, ParamStore *ps, const SerModelConfig *cfg);
/* Draws the initial weights (after params_finalize). */
void ser_model_init(SerModel *m, uint64_t seed);

/* feats (B, T, n_mels) f32, lengths (B) i32/i64 in [0, T]. Dropout and batch statistics follow
 * g->training. */
SerOutput ser_model_forward(Ctx *g, const SerModel *m, Tensor *feats, Tensor *lengths);

/* Attaches the frozen text encoder a model with text_dim > 0 reads (its hidden size must be text_dim);
 * the model borrows it. */
void ser_model_set_text_encoder(SerModel *m, const TextEncoder *enc);

/* The forward with the batch's text (models/mater.h, SerTextInput: words with times relative to the
 * first input frame). t NULL: every item's text is empty. An audio-only model (text_dim = 0) ignores t;
 * ser_model_forward on a text model is this with t = NULL. In text-only mode the audio path is not run
 * (pooled, frames, embedding NULL). Aborts when the text cannot be encoded (an invariant: the manifest
 * reader checked the text, and long texts are truncated). */
SerOutput ser_model_forward_text(Ctx *g, const SerModel *m, Tensor *feats, Tensor *lengths, const SerTextInput *t);

/* Input frames per frame after the front end along time (the CNN's time pooling; 1 otherwise). */
int ser_model_time_stride(const SerModel *m);

/* Frames after the front end for an input of T frames. */
int64_t ser_model_out_frames(const SerModel *m, int64_t T);

/* Peak arena bytes of one step on zeros (batch, frames, n_mels) in a scratch context: forward and
 * backward in training mode when train, else an eval forward without the tape. Parameters, buffers
 * and gradients are left as they were. */
size_t ser_model_activation_bytes(const SerModel *m, const ParamStore *ps, int batch, int frames, int train);

/* Prints the architecture, every parameter (name, shape, count), the count per module and in total, and
 * (batch > 0) the measured activation memory for (batch, frames). */
void ser_model_describe(const SerModel *m, const ParamStore *ps, int batch, int frames, FILE *f);

#endif
