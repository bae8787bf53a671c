/* Evaluation metrics: the confusion matrix and what is read from it (WA, UA, macro-F1, per-class
 * precision/recall/F1), CCC for dimensional attributes, and the six label-distribution metrics.
 * Definitions, with the scikit-learn behaviour they match, are in docs/metrics.md.
 *
 * The label set is fixed: a Confusion has C classes (the label map's), whether or not a class occurs in a
 * given evaluation set. Per-class quantities with a zero denominator are 0 (scikit-learn's
 * zero_division=0); UA leaves out classes absent from the truth, as balanced_accuracy_score does.
 */
#ifndef SERC_METRICS_H
#define SERC_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "json.h"

/* counts is (C, C) row-major: counts[t * C + p] = utterances of true class t predicted as p. */
typedef struct Confusion {
    int n_classes;
    int64_t *counts;
} Confusion;

/* Allocates a zeroed C x C matrix (C >= 1). */
void confusion_init(Confusion *cm, int n_classes);
void confusion_free(Confusion *cm);
void confusion_reset(Confusion *cm);
/* Counts one utterance; truth and pred must lie in [0, C) (aborts otherwise: a model bug). */
void confusion_add(Confusion *cm, int truth, int pred);
/* Counts n utterances: truth[i], pred[i]. */
void confusion_add_batch(Confusion *cm, const int *truth, const int *pred, int64_t n);
/* Adds every count of src into dst (same C): folds of cross-validation pooled. */
void confusion_merge(Confusion *dst, const Confusion *src);

int64_t confusion_total(const Confusion *cm);
/* Row sum: utterances whose true class is c. */
int64_t confusion_support(const Confusion *cm, int c);

/* WA, weighted accuracy = accuracy over utterances = trace / total. 0 when the matrix is empty. */
double confusion_weighted_accuracy(const Confusion *cm);

/* UA, unweighted average recall = (1/|K|) sum_{c in K} recall_c, K = classes with support > 0.
 * Matches sklearn.metrics.balanced_accuracy_score: it divides the diagonal by the row sums, and a class
 * predicted but absent from the truth gives 0/0 = NaN, which it drops with the warning "y_pred contains
 * classes not in y_true"; classes in neither input are not in its matrix at all. 0 when K is empty. */
double confusion_unweighted_accuracy(const Confusion *cm);

/* Per class c (arrays of length C, any may be NULL):
 *   precision_c = TP / (TP + FP)  (0 when the class is never predicted)
 *   recall_c    = TP / (TP + FN)  (0 when the class is absent from the truth)
 *   f1_c        = 2 TP / (2 TP + FP + FN)  (0 when the class is neither true nor predicted)
 *   support_c   = TP + FN
 * The zero cases are scikit-learn's zero_division=0 (its default "warn" also returns 0). */
void confusion_per_class(const Confusion *cm, double *precision, double *recall, double *f1,
                         int64_t *support);

/* Macro-F1 over all C classes: mean of f1_c, c = 0..C-1. This is sklearn.metrics.f1_score(
 * average='macro', labels=range(C)): a class neither true nor predicted counts as F1 = 0. */
double confusion_macro_f1(const Confusion *cm);
/* Macro-F1 over the classes that occur in the truth or the predictions: f1_score(average='macro')
 * without labels=, which takes the sorted union of y_true and y_pred. 0 for an empty matrix. */
double confusion_macro_f1_observed(const Confusion *cm);

/* Prints the matrix as a text table: a header row of predicted classes, one row per true class with
 * counts and the row's recall, and a footer with WA, UA and macro-F1. names may be NULL ("0", "1", ...). */
void confusion_print(const Confusion *cm, const char *const *names, FILE *f);

/* Appends a self-contained SVG heat map: cell (t, p) shows the count, coloured by the row-normalised
 * share counts[t,p] / support_t (white 0 to dark blue 1), class names on both axes, title on top. */
void confusion_svg(const Confusion *cm, const char *const *names, const char *title, JsonBuf *out);
/* Writes confusion_svg's text to path atomically (temporary file beside it, fsync, rename). */
int confusion_write_svg(const Confusion *cm, const char *const *names, const char *title,
                        const char *path, SercErr *err);

/* Lin's concordance correlation coefficient between pred[0..n) and truth[0..n):
 *   CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)
 * with population (1/n) variances and covariance, as the SERNC scoring code computes it. Accumulated in
 * double, two passes. Returns 0 when the denominator is 0 (both constant and equal) or n == 0. */
double concordance_cc(const float *pred, const float *truth, int64_t n);
/* CCC per attribute for (n, n_attr) row-major pred and truth (e.g. arousal, valence, dominance):
 * out[k] = concordance_cc of column k. */
void concordance_cc_per_attribute(const float *pred, const float *truth, int64_t n, int n_attr,
                                  double *out);

/* Label-distribution metrics (Geng, "Label Distribution Learning", IEEE TKDE 28(7), 2016, Table 2),
 * each averaged over samples. P = true distribution, Q = predicted, both (n, L) row-major:
 *   kl           = sum_j P_j ln(P_j / max(Q_j, eps))   terms with P_j = 0 are 0        (lower better)
 *   chebyshev    = max_j |P_j - Q_j|                                                    (lower better)
 *   clark        = sqrt(sum_j (P_j - Q_j)^2 / (P_j + Q_j)^2)   terms with P_j+Q_j = 0 are 0  (lower)
 *   canberra     = sum_j |P_j - Q_j| / (P_j + Q_j)             terms with P_j+Q_j = 0 are 0  (lower)
 *   cosine       = sum_j P_j Q_j / (||P|| ||Q||)   0 when either norm is 0             (higher better)
 *   intersection = sum_j min(P_j, Q_j)                                                  (higher better)
 * eps = LDL_EPS. Inputs are used as given (not renormalised). */
#define LDL_EPS 1e-12
typedef struct LdlMetrics {
    double kl, chebyshev, clark, canberra, cosine, intersection;
} LdlMetrics;
void ldl_metrics(const float *truth, const float *pred, int64_t n, int n_labels, LdlMetrics *out);

/* ---- label-distribution metrics from logits (train/metrics_ldl.c; issue 13) ---- */

/* probs[i, :] = softmax(logits[i, :]) for (n, L) row-major rows, computed in double. */
void ldl_softmax_rows(const float *logits, int64_t n, int n_labels, float *probs);
/* ldl_metrics of Q = softmax(logits) against P = truth, both (n, L): how a label-distribution model
 * (loss.ldl) is scored. */
void ldl_metrics_logits(const float *truth, const float *logits, int64_t n, int n_labels, LdlMetrics *out);

#endif
