/* Cached encoder features: the safetensors file `serc embed` writes, read by the loader in place of
 * audio so that a frozen encoder runs once per utterance, not once per epoch.
 *
 * File layout (docs/encoders.md, "serc embed"): for input item i (0-based), tensors
 *   "{i}.hidden_states.{L}"  f32 (frames, dim), L = 0 .. num_hidden - 1
 * and metadata
 *   serc.ids         JSON array of the items' ids (utterance ids for a manifest input)
 *   serc.num_hidden  number of hidden states per item (embedding output + each layer)
 *   serc.dim         width of every hidden state
 *   serc.frame_rate  frames per second (16000 / product of the conv strides, 50 for wav2vec2-style encoders)
 *   serc.encoder     the encoder it came from (folder name), for messages
 * A cache opened with a layer selection delivers, per frame, the selected hidden states concatenated:
 * (frames, n_selected * dim); a model's layer-sum front end splits them again. */
#ifndef SERC_FEATCACHE_H
#define SERC_FEATCACHE_H

#include <stdint.h>

#include "error.h"
#include "safetensors.h"

typedef struct FeatureCache {
    char *path;
    SafetensorsFile *f;
    int n_items;
    char **ids;        /* (n_items) */
    int *order;        /* ids sorted, as indices into ids (binary search) */
    int num_hidden, dim;
    double frame_rate;
    char *encoder;
    int n_sel;         /* selected hidden states */
    int *sel;          /* (n_sel) their indices L */
    int *tensor;       /* (n_items * n_sel) safetensors index of item i, selection s */
} FeatureCache;

/* Opens path and checks every tensor the selection needs (name, dtype f32, 2-D, width dim, frame counts
 * equal across the layers of an item). layers: "all" (every hidden state), "last", or a comma-separated
 * list of indices ("6" or "0,6,12"; negative counts from the end). Errors name the file and the
 * problem. */
FeatureCache *featcache_open(const char *path, const char *layers, SercErr *err);
void featcache_close(FeatureCache *c);

/* Item index of an id, or -1. */
int featcache_find(const FeatureCache *c, const char *id);
/* Frames of item i. */
int64_t featcache_frames(const FeatureCache *c, int i);
/* Features per frame: n_sel * dim. */
int featcache_width(const FeatureCache *c);
/* Writes frames [start, start + n) of item i as (n, n_sel * dim) into out. */
void featcache_read(const FeatureCache *c, int i, int64_t start, int64_t n, float *out);

#endif
