/* Label-distribution metrics from a model's logits: the predicted distribution is softmax(logits),
 * then ldl_metrics (train/metrics.c) scores it against the raters' distribution. */
#include <math.h>
#include <stdlib.h>

#include "metrics.h"

void ldl_softmax_rows(const float *logits, int64_t n, int n_labels, float *probs) {
    for (int64_t i = 0; i < n; i++) {
        const float *z = logits + i * n_labels;
        float *p = probs + i * n_labels;
        double mx = z[0], se = 0.0;
        for (int j = 1; j < n_labels; j++) mx = z[j] > mx ? z[j] : mx;
        for (int j = 0; j < n_labels; j++) se += exp((double)z[j] - mx);
        for (int j = 0; j < n_labels; j++) p[j] = (float)(exp((double)z[j] - mx) / se);
    }
}

void ldl_metrics_logits(const float *truth, const float *logits, int64_t n, int n_labels, LdlMetrics *out) {
    float *q = serc_malloc(sizeof(float) * (size_t)(n > 0 ? n : 1) * (size_t)n_labels);
    ldl_softmax_rows(logits, n, n_labels, q);
    ldl_metrics(truth, q, n, n_labels, out);
    free(q);
}
