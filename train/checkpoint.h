/* Checkpoints: one safetensors file holding every parameter and buffer under its model name (so
 * PyTorch's safetensors.torch.load_file reads the weights directly), the AdamW moments as
 * "optimizer.exp_avg" / "optimizer.exp_avg_sq" (flat, in parameter-store order), and string metadata:
 *   serc.state   JSON: epoch, step, optimizer step, RNG counter, best metric and its epoch, patience
 *   plus whatever the caller adds (serc.config, serc.labels, serc.preset, serc.metrics, serc.commit).
 * Written atomically (temporary file, fsync, rename): a crash leaves the previous checkpoint intact. */
#ifndef SERC_CHECKPOINT_H
#define SERC_CHECKPOINT_H

#include <stdint.h>

#include "optim.h"
#include "params.h"

typedef struct CheckpointState {
    int epoch;            /* epochs completed */
    int64_t epoch_batch;  /* batches of epoch `epoch` already consumed (an interrupted epoch), else 0 */
    int64_t step;         /* optimiser steps taken */
    uint64_t rng_offset;  /* the training context's Philox counter */
    double best_metric;   /* best early-stopping metric so far */
    int best_epoch;       /* epoch it was reached (-1 none) */
    int bad_epochs;       /* epochs since the best (early-stopping patience) */
} CheckpointState;

/* Saves ps (and opt's moments and step when opt is not NULL) with st and the extra metadata pairs
 * meta_kv = {key, value, key, value, ..., NULL} (may be NULL). */
int checkpoint_save(const char *path, const ParamStore *ps, const AdamW *opt, const CheckpointState *st,
                    const char *const *meta_kv, SercErr *err);

/* Loads into ps (every registered tensor must be present with the same shape; extra tensors other than
 * the optimizer's are an error), opt (moments and step; NULL to skip) and st (NULL to skip). Errors name
 * the file and the tensor. */
int checkpoint_load(const char *path, ParamStore *ps, AdamW *opt, CheckpointState *st, SercErr *err);

/* A copy of metadata `key` from the checkpoint at path (free() it); NULL with err set when the file is
 * bad or the key absent. */
char *checkpoint_read_meta(const char *path, const char *key, SercErr *err);

#endif
