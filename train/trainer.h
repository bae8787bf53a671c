/* The training, evaluation and prediction loops behind `serc train`, `serc eval`, `serc predict`
 * and `serc cv`.
 *
 * A run directory holds:
 *   config.toml            the resolved configuration (every key)
 *   metrics.jsonl          one JSON object per line: {"event": "step"|"eval"|"epoch"|"test", ...}
 *   last.safetensors       parameters, optimizer state and run state after the latest epoch (or
 *                          interruption); metadata: serc.config, serc.labels, serc.preset, serc.state
 *   best.safetensors       the checkpoint with the best early-stopping metric on the dev set
 *   confusion_dev.svg, confusion_test.svg
 *   events.out.tfevents.*  TensorBoard scalars mirroring metrics.jsonl (docs/reports.md)
 * Checkpoints are written atomically; a resumed run on the CPU ends bitwise identical to an
 * uninterrupted one (the loader's order, EAM draws and dropout masks are all counter-based). */
#ifndef SERC_TRAINER_H
#define SERC_TRAINER_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "metrics.h"

typedef struct TrainOptions {
    const char *resume_dir;  /* NULL: fresh run in cfg->run.out */
    int64_t stop_after_steps; /* > 0: save and stop after this many optimiser steps (tests, time limits) */
    int quiet;               /* no progress output */
    FILE *log;               /* progress and summaries (stdout by default) */
} TrainOptions;

typedef struct EvalResult {
    int n_classes;
    Confusion cm;
    double wa, ua, macro_f1, loss;
    int64_t utterances, bad_skipped;
    int has_ccc;
    double ccc[3];
} EvalResult;

typedef struct TrainResult {
    int epochs_done, best_epoch, stopped_early, interrupted;
    int64_t steps;
    double best_metric;
    int has_dev, has_test;
    EvalResult dev, test; /* dev: best checkpoint's dev result; test: best checkpoint on the test set */
    double seconds, utt_per_second;
} TrainResult;

/* Trains as cfg says; writes the run directory. Returns 0, or -1 with err set. */
int train_run(const TrainConfig *cfg, const TrainOptions *opt, TrainResult *res, SercErr *err);
void train_result_free(TrainResult *r);

/* Evaluates checkpoint ckpt on manifest (utterances without a label in the checkpoint's map are
 * skipped and counted). */
int eval_checkpoint(const char *ckpt, const char *manifest, int workers, EvalResult *res, char ***label_names,
                    SercErr *err);
void eval_result_free(EvalResult *r);

/* Evaluates an experiment already built (experiment_from_checkpoint) on m with loader options lo:
 * experiment_loader_options(e, 0), possibly with a transform (`serc robust` adds noise there).
 * Utterances whose label is not in e's map are skipped; res as eval_checkpoint's. */
struct Experiment;
struct LoaderOptions;
struct Manifest;
int eval_experiment(struct Experiment *e, const struct Manifest *m, const struct LoaderOptions *lo, EvalResult *res,
                    SercErr *err);

/* Prints WA/UA/macro-F1 and the confusion matrix. */
void eval_print(const EvalResult *r, const char *const *names, const char *title, FILE *f);

#endif
