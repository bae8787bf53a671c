/* MEA: multiblock embedding alignment of a trained EDRL model (docs/methods.md, "EDRL-MEA").
 *
 * After training, every labelled utterance of the training manifest goes through the model (evaluation
 * mode, whole utterances, no augmentation); its EDRL embedding is cut into blocks (cfg.mea.blocks: each
 * class block and the shared block, or the two branches), the response is the utterance's log-mel mean
 * and standard deviation (cfg.mea.response = "input") or its one-hot class ("labels"), and multiblock
 * PLS (train/mbpls.h) with cfg.mea.components components is fitted. The super scores, standardised,
 * feed a multinomial logistic regression (class weights as loss.class_weights, L2 cfg.mea.l2, full-batch
 * Nesterov gradient steps cfg.mea.steps). Standardisation, rotation and classifier go into the model's
 * "mea.*" buffers, so the checkpoint carries them and evaluation and prediction use them. */
#ifndef SERC_MEA_H
#define SERC_MEA_H

#include <stdio.h>

#include "experiment.h"
#include "manifest.h"

typedef struct MeaFitInfo {
    int64_t utterances;     /* rows of the fit */
    int blocks, components; /* MBPLS shape */
    int dim;                /* embedding width */
    double train_accuracy;  /* of the aligned-score classifier on the rows of the fit */
    double classifier_loss; /* its final objective */
} MeaFitInfo;

/* Fits e's MEA buffers on manifest train. log: one summary line per stage (NULL = quiet). */
int mea_fit(Experiment *e, const Manifest *train, FILE *log, MeaFitInfo *info, SercErr *err);

/* Multinomial logistic regression on x (n x k, row-major): W (C x k) and b (C) minimise
 * sum_i w_{y_i} CE_i / sum_i w_{y_i} + l2/2 |W|^2 (w = class_weights, NULL = 1) by `steps` Nesterov
 * gradient steps of size 1/L with L = max_i |x_i|^2 / 2 + l2 (a bound on the Hessian). W, b start at 0.
 * Returns the final objective. */
double mea_logistic_fit(const double *x, const int *y, int64_t n, int k, int C, const double *class_weights,
                        double l2, int steps, double *W, double *b);

#endif
