/* Cross-validation (`serc cv`): the folds are the `fold` values of the manifest in data.train
 * (leave-one-session-out from importers, speaker folds from `serc split` or `serc synth`). For each
 * fold k: test = fold k, dev = the next fold (k + 1 mod K) for model selection, train = the rest; every
 * fold's run lives in <run.out>/fold<k>/, and <run.out>/cv.jsonl holds the per-fold and summary
 * results (mean and population standard deviation of WA, UA and macro-F1 over folds). */
#ifndef SERC_CV_H
#define SERC_CV_H

#include <stdio.h>

#include "config.h"

int cv_run(const TrainConfig *cfg, int quiet, FILE *log, SercErr *err);

#endif
