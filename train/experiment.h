/* An experiment: what a configuration and a label map build, shared by training, evaluation and
 * prediction: the feature front end, the model, its parameter store (with the centers of center loss
 * when used) and the conversion of loader batches into tensors. */
#ifndef SERC_EXPERIMENT_H
#define SERC_EXPERIMENT_H

#include "config.h"
#include "featcache.h"
#include "loader.h"
#include "manifest.h"
#include "mel.h"
#include "ser_model.h"

typedef struct Experiment {
    TrainConfig cfg;
    LabelMap *labels; /* owned */
    MelConfig mel;
    SerModelConfig model_cfg;
    SerModel model;
    ParamStore *ps;
    Tensor *centers; /* (C, proj_dim) "loss.centers", or NULL */
    FeatureCache *cache; /* data.features opened, or NULL (log-mel from audio) */
    TextEncoder *text_encoder; /* model.text_encoder loaded (frozen, MATER), or NULL: owned */
    double frame_rate;   /* input frames per second (log-mel: sample_rate / hop; cached: the file's) */
} Experiment;

/* Builds the model for cfg and labels (taking ownership of labels); parameters initialised from
 * cfg->run.seed. */
int experiment_build(Experiment *e, const TrainConfig *cfg, LabelMap *labels, SercErr *err);
void experiment_free(Experiment *e);

/* Rebuilds the experiment a checkpoint was trained with (its serc.config and serc.labels metadata) and
 * loads its parameters. */
int experiment_from_checkpoint(Experiment *e, const char *ckpt, SercErr *err);

/* Loader options for this experiment: training (random crop, shuffle, bucketing) or evaluation. */
LoaderOptions experiment_loader_options(const Experiment *e, int training);

/* The label map for a training configuration: data.labels when set, else data.classes, else the one
 * `*.labels` file beside the training manifest. */
LabelMap *experiment_labels(const TrainConfig *cfg, SercErr *err);

/* Batch tensors in g's arena. */
typedef struct BatchTensors {
    Tensor *feats;   /* (B, T, F) */
    Tensor *lengths; /* (B) i32 */
    Tensor *labels;  /* (B) i32, -1 where absent */
    Tensor *soft;    /* (B, C) mixed one-hot (EAM) */
    Tensor *dist;    /* (B, C) rater distribution or one-hot */
    Tensor *avd;     /* (B, 3) */
    int all_labeled; /* every labels[b] >= 0 */
    int all_avd;     /* every item has all three attributes */
} BatchTensors;
void experiment_batch_tensors(Ctx *g, const LoaderBatch *b, BatchTensors *t);

/* The batch's text for a MATER model, in g's arena (NULL for an audio-only model): for item i, the
 * manifest utterance m->utts[b->index[i]] (m: the manifest the loader reads), its `words` with times
 * made relative to the crop (start - offset seconds), or the whitespace words of its transcript without
 * times, or no words. */
const SerTextInput *experiment_batch_text(Ctx *g, const Experiment *e, const Manifest *m, const LoaderBatch *b);

/* The model's forward on a batch: ser_model_forward_text with the batch's text (m as above). */
SerOutput experiment_forward(Ctx *g, const Experiment *e, const Manifest *m, const LoaderBatch *b, const BatchTensors *t);

/* Index of the largest of x[0..n). */
int argmax_f32(const float *x, int n);

#endif
