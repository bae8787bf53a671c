/* Scoring audio files with a trained checkpoint (`serc predict`). Long files are cut into windows
 * of window_s seconds every hop_s seconds; each window's class probabilities are computed and the
 * file's probabilities are their mean weighted by window duration. */
#ifndef SERC_PREDICT_H
#define SERC_PREDICT_H

#include "experiment.h"

typedef struct PredictWindow {
    double start, end; /* seconds */
    float *probs;      /* (C) */
} PredictWindow;

typedef struct Prediction {
    int label;          /* argmax of probs */
    float *probs;       /* (C) */
    float avd[3];       /* A/V/D head output when the model has one */
    int has_avd;
    double duration;    /* seconds */
    PredictWindow *windows;
    int n_windows;
} Prediction;

/* window_s <= 0: the checkpoint's data.eval_max_seconds, or the whole file when that is 0 too. */
int predict_file(Experiment *e, const char *path, double window_s, double hop_s, Prediction *p, SercErr *err);
void prediction_free(Prediction *p);

#endif
