/* Uncertainty-aware ensemble (`serc ensemble`; docs/methods.md, "Uncertainty-aware ensemble"). MATER
 * (Jon et al., Interspeech 2025) weights its heads by uncertainty against annotator inconsistency; the
 * formula was not published, so this one is ours:
 *
 *   p_m(x) = softmax(z_m(x) / T_m)                     member m's class distribution, T_m = exp(t_m)
 *   H_m(x) = -sum_c p_mc(x) ln p_mc(x) / ln C          normalised entropy, in [0, 1]
 *   w_m(x) = r_m exp(-beta H_m(x)) / sum_{k in A(x)} r_k exp(-beta H_k(x)),    r_m = exp(a_m), beta >= 0
 *   q(x)   = sum_{m in A(x)} w_m(x) p_m(x)             a mixture (linear opinion pool) of the members
 *
 * A(x): the members available for utterance x (MATER's word level is not, when no word of x takes part).
 * Members: every head of a MATER checkpoint (word, utterance, embedding levels, the audio-only and the
 * text-only heads, as present) or an audio-only checkpoint's output, over one or more checkpoints.
 * Fitted on the dev set by minimising the negative log-likelihood of the raters' label distribution
 * P(x) (`label_dist`; the label's one-hot where the manifest has none):
 *
 *   NLL = mean_x -sum_c P_c(x) ln q_c(x)        (+ 1e-4 |a|^2, which fixes a's free shift)
 *
 * by projected gradient descent with backtracking from plain averaging (a = t = 0, beta = 0), so the
 * fitted NLL on dev is never above plain averaging's. Three variants: plain averaging (nothing fitted),
 * calibrated averaging (T_m fitted, equal weights), uncertainty-aware (T_m from the calibrated fit, then
 * T_m, r_m and beta together).
 */
#ifndef SERC_ENSEMBLE_H
#define SERC_ENSEMBLE_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "json.h"

#define ENSEMBLE_MAX_MEMBERS 64
/* The disagreement subset: utterances whose raters' largest share is below this (no majority of 60%). */
#define ENSEMBLE_DISAGREE_MAX 0.6
/* Ridge on a (fixes the shift of a, under which w is invariant) */
#define ENSEMBLE_RIDGE 1e-4

/* Member outputs on one manifest. */
typedef struct EnsembleData {
    int n, M, C;              /* utterances, members, classes (C >= 2) */
    float *logits;            /* (n, M, C) */
    uint8_t *avail;           /* (n, M) 1 where member m has an output for utterance i */
    float *target;            /* (n, C) P: raters' distribution, sums to 1 */
    int32_t *label;           /* (n) consensus class, -1 when absent or not in the label map */
    float *model_probs;       /* (n, C) mean over the checkpoints of softmax(their own output), or NULL */
    char *member[ENSEMBLE_MAX_MEMBERS]; /* (M) names: "<checkpoint k>:<head>" */
    char **ids;               /* (n) utterance ids, or NULL */
    int64_t dropped;          /* manifest utterances left out: no target, or not scored by every checkpoint */
} EnsembleData;

/* Allocates zeroed arrays for n x M x C (model_probs included) and no names. */
void ensemble_data_alloc(EnsembleData *d, int n, int M, int C);
void ensemble_data_free(EnsembleData *d);

typedef struct EnsembleParams {
    int M;
    double a[ENSEMBLE_MAX_MEMBERS]; /* ln r_m (reliability up to a common factor) */
    double t[ENSEMBLE_MAX_MEMBERS]; /* ln T_m */
    double beta;                    /* 1 / tau: how fast a weight falls with the member's entropy */
} EnsembleParams;

/* Plain averaging: a = t = 0, beta = 0. */
void ensemble_params_plain(EnsembleParams *p, int M);

/* q (C) of utterance i and, when w is not NULL, the member weights w (M; 0 where unavailable). */
void ensemble_predict(const EnsembleData *d, const EnsembleParams *p, int i, double *q, double *w);

/* The fit's objective: mean_i -sum_c P_ic ln q_ic + ENSEMBLE_RIDGE |a|^2, and its gradient (any of
 * ga (M), gt (M), gbeta may be NULL). */
double ensemble_objective(const EnsembleData *d, const EnsembleParams *p, double *ga, double *gt, double *gbeta);

enum { ENSEMBLE_FIT_TEMPERATURE = 1, ENSEMBLE_FIT_WEIGHTS = 2 }; /* T_m; r_m and beta */

typedef struct EnsembleFitInfo {
    int iterations;
    double objective_start, objective_end;
} EnsembleFitInfo;

/* Minimises ensemble_objective over the parameters `what` names (ENSEMBLE_FIT_* bits) from p's values,
 * the others held; projected gradient descent with Armijo backtracking (each step lowers the objective),
 * bounds |a| <= 20, |t| <= 3, 0 <= beta <= 50. info may be NULL. */
void ensemble_fit(const EnsembleData *d, int what, EnsembleParams *p, EnsembleFitInfo *info);

/* Scores of a distribution per utterance against the data's labels and targets. */
typedef struct EnsembleScore {
    int64_t n;          /* utterances scored (target present) */
    int64_t n_labeled;  /* of which with a consensus label (UA, macro-F1, WA) */
    double wa, ua, macro_f1;
    double nll;         /* mean -sum_c P_c ln max(q_c, 1e-12) */
    double kl;          /* mean sum_c P_c ln(P_c / max(q_c, 1e-12)) (0 terms where P_c = 0) */
} EnsembleScore;

/* probs (n, C); subset: 0 all utterances, 1 those whose max_c P_c < ENSEMBLE_DISAGREE_MAX; mask (n) or
 * NULL: only the utterances with mask 1. */
void ensemble_score(const EnsembleData *d, const double *probs, int subset, const uint8_t *mask, EnsembleScore *s);

/* probs (n, C) of the ensemble with parameters p. */
void ensemble_probs(const EnsembleData *d, const EnsembleParams *p, double *probs);

/* Runs every checkpoint on manifest (as `serc eval` does) and gathers the members' logits: the heads of
 * MATER checkpoints, the output of the others. The checkpoints must share one label map; *label_names
 * (NULL-terminated, when not NULL) receives it. workers < 0: each checkpoint's data.workers. */
int ensemble_collect(const char *const *ckpts, int n_ckpts, const char *manifest, int workers, EnsembleData *d,
                     char ***label_names, SercErr *err);

/* The whole command: fit on dev, score on test; the report as JSON (json) and Markdown (md). */
typedef struct EnsembleReport {
    EnsembleParams plain, calibrated, uncertainty;
    EnsembleFitInfo fit_calibrated, fit_uncertainty;
    double dev_nll[3];                  /* plain, calibrated, uncertainty: NLL on dev (no ridge) */
    EnsembleScore test[4][2];           /* [model output, plain, calibrated, uncertainty][all, disagree] */
    int has_model_output;
    EnsembleScore member_test[ENSEMBLE_MAX_MEMBERS]; /* each member alone, on the utterances it covers */
    double mean_weight[ENSEMBLE_MAX_MEMBERS];        /* mean w_m(x) over test under the uncertainty fit */
} EnsembleReport;

/* Fits the three variants on dev and scores them on test (same members). */
int ensemble_run(const EnsembleData *dev, const EnsembleData *test, EnsembleReport *r, SercErr *err);
void ensemble_report_json(const EnsembleReport *r, const EnsembleData *test, const char *const *ckpts, int n_ckpts,
                          const char *dev_path, const char *test_path, JsonBuf *out);
void ensemble_report_markdown(const EnsembleReport *r, const EnsembleData *test, const char *const *ckpts,
                              int n_ckpts, const char *dev_path, const char *test_path, FILE *f);

#endif
