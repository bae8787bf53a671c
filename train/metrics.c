/* Evaluation metrics; definitions in metrics.h and docs/metrics.md. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

void confusion_init(Confusion *cm, int n_classes) {
    SERC_ASSERT(n_classes >= 1, "confusion_init: n_classes %d < 1", n_classes);
    cm->n_classes = n_classes;
    cm->counts = serc_calloc((size_t)n_classes * (size_t)n_classes, sizeof(int64_t));
}

void confusion_free(Confusion *cm) {
    free(cm->counts);
    cm->counts = NULL;
    cm->n_classes = 0;
}

void confusion_reset(Confusion *cm) {
    memset(cm->counts, 0, (size_t)cm->n_classes * (size_t)cm->n_classes * sizeof(int64_t));
}

void confusion_add(Confusion *cm, int truth, int pred) {
    int C = cm->n_classes;
    SERC_ASSERT(truth >= 0 && truth < C && pred >= 0 && pred < C,
                "confusion_add: truth %d / pred %d outside [0, %d)", truth, pred, C);
    cm->counts[(int64_t)truth * C + pred]++;
}

void confusion_add_batch(Confusion *cm, const int *truth, const int *pred, int64_t n) {
    for (int64_t i = 0; i < n; i++) confusion_add(cm, truth[i], pred[i]);
}

void confusion_merge(Confusion *dst, const Confusion *src) {
    SERC_ASSERT(dst->n_classes == src->n_classes, "confusion_merge: %d vs %d classes", dst->n_classes,
                src->n_classes);
    int64_t n = (int64_t)dst->n_classes * dst->n_classes;
    for (int64_t i = 0; i < n; i++) dst->counts[i] += src->counts[i];
}

int64_t confusion_total(const Confusion *cm) {
    int64_t n = (int64_t)cm->n_classes * cm->n_classes, s = 0;
    for (int64_t i = 0; i < n; i++) s += cm->counts[i];
    return s;
}

int64_t confusion_support(const Confusion *cm, int c) {
    int C = cm->n_classes;
    int64_t s = 0;
    for (int p = 0; p < C; p++) s += cm->counts[(int64_t)c * C + p];
    return s;
}

/* Column sum: utterances predicted as c. */
static int64_t confusion_predicted(const Confusion *cm, int c) {
    int C = cm->n_classes;
    int64_t s = 0;
    for (int t = 0; t < C; t++) s += cm->counts[(int64_t)t * C + c];
    return s;
}

static int64_t confusion_tp(const Confusion *cm, int c) { return cm->counts[(int64_t)c * cm->n_classes + c]; }

double confusion_weighted_accuracy(const Confusion *cm) {
    int64_t total = confusion_total(cm), correct = 0;
    for (int c = 0; c < cm->n_classes; c++) correct += confusion_tp(cm, c);
    return total > 0 ? (double)correct / (double)total : 0.0;
}

double confusion_unweighted_accuracy(const Confusion *cm) {
    double sum = 0.0;
    int present = 0;
    for (int c = 0; c < cm->n_classes; c++) {
        int64_t support = confusion_support(cm, c);
        if (support == 0) continue; /* recall undefined: left out, as balanced_accuracy_score does */
        sum += (double)confusion_tp(cm, c) / (double)support;
        present++;
    }
    return present > 0 ? sum / present : 0.0;
}

void confusion_per_class(const Confusion *cm, double *precision, double *recall, double *f1,
                         int64_t *support) {
    for (int c = 0; c < cm->n_classes; c++) {
        int64_t tp = confusion_tp(cm, c), sup = confusion_support(cm, c), pred = confusion_predicted(cm, c);
        int64_t fp = pred - tp, fn = sup - tp;
        if (precision) precision[c] = pred > 0 ? (double)tp / (double)pred : 0.0;
        if (recall) recall[c] = sup > 0 ? (double)tp / (double)sup : 0.0;
        /* 2PR/(P+R) written on counts; equal to it whenever P+R > 0, and 0 otherwise */
        if (f1) f1[c] = (2 * tp + fp + fn) > 0 ? (double)(2 * tp) / (double)(2 * tp + fp + fn) : 0.0;
        if (support) support[c] = sup;
    }
}

static double macro_f1(const Confusion *cm, int observed_only) {
    int C = cm->n_classes, used = 0;
    double *f1 = serc_malloc((size_t)C * sizeof(double)), sum = 0.0;
    confusion_per_class(cm, NULL, NULL, f1, NULL);
    for (int c = 0; c < C; c++) {
        if (observed_only && confusion_support(cm, c) == 0 && confusion_predicted(cm, c) == 0) continue;
        sum += f1[c];
        used++;
    }
    free(f1);
    return used > 0 ? sum / used : 0.0;
}

double confusion_macro_f1(const Confusion *cm) { return macro_f1(cm, 0); }
double confusion_macro_f1_observed(const Confusion *cm) { return macro_f1(cm, 1); }

/* ---- text table ---- */

static const char *class_name(const char *const *names, int c, char *buf, size_t n) {
    if (names && names[c]) return names[c];
    snprintf(buf, n, "%d", c);
    return buf;
}

void confusion_print(const Confusion *cm, const char *const *names, FILE *f) {
    int C = cm->n_classes, w = 6;
    char buf[32];
    for (int c = 0; c < C; c++) {
        int len = (int)strlen(class_name(names, c, buf, sizeof buf));
        if (len > w) w = len;
    }
    int64_t maxc = 0;
    for (int64_t i = 0; i < (int64_t)C * C; i++)
        if (cm->counts[i] > maxc) maxc = cm->counts[i];
    int digits = snprintf(buf, sizeof buf, "%lld", (long long)maxc);
    if (digits > w) w = digits;
    fprintf(f, "%*s", w, "true\\pred");
    for (int p = 0; p < C; p++) fprintf(f, "  %*s", w, class_name(names, p, buf, sizeof buf));
    fprintf(f, "  %*s\n", 7, "recall");
    for (int t = 0; t < C; t++) {
        fprintf(f, "%*s", w, class_name(names, t, buf, sizeof buf));
        for (int p = 0; p < C; p++) fprintf(f, "  %*lld", w, (long long)cm->counts[(int64_t)t * C + p]);
        int64_t sup = confusion_support(cm, t);
        if (sup > 0)
            fprintf(f, "  %6.2f%%\n", 100.0 * (double)confusion_tp(cm, t) / (double)sup);
        else
            fprintf(f, "  %7s\n", "-");
    }
    fprintf(f, "WA %.2f%%  UA %.2f%%  macro-F1 %.4f  (%lld utterances)\n",
            100.0 * confusion_weighted_accuracy(cm), 100.0 * confusion_unweighted_accuracy(cm),
            confusion_macro_f1(cm), (long long)confusion_total(cm));
}

/* ---- SVG heat map ---- */

static void svg_escape(JsonBuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': jsonbuf_append(b, "&amp;", 5); break;
        case '<': jsonbuf_append(b, "&lt;", 4); break;
        case '>': jsonbuf_append(b, "&gt;", 4); break;
        case '"': jsonbuf_append(b, "&quot;", 6); break;
        case '\'': jsonbuf_append(b, "&#39;", 5); break;
        default: jsonbuf_append(b, s, 1);
        }
    }
}

void confusion_svg(const Confusion *cm, const char *const *names, const char *title, JsonBuf *out) {
    const int C = cm->n_classes, cell = 56, char_w = 8;
    char buf[32];
    int name_w = 0;
    for (int c = 0; c < C; c++) {
        int len = (int)strlen(class_name(names, c, buf, sizeof buf));
        if (len > name_w) name_w = len;
    }
    /* left margin: axis title + names; top: title + axis title + names (written rotated -45 degrees) */
    const int left = 40 + name_w * char_w + 10, top = 60 + name_w * char_w * 7 / 10 + 10;
    const int width = left + C * cell + 20, height = top + C * cell + 20;
    jsonbuf_appendf(out,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                    "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n"
                    "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
                    width, height, width, height);
    jsonbuf_appendf(out, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">", 10);
    svg_escape(out, title ? title : "Confusion matrix");
    jsonbuf_appendf(out, "</text>\n<text x=\"%d\" y=\"44\" text-anchor=\"middle\">predicted</text>\n",
                    left + C * cell / 2);
    jsonbuf_appendf(out,
                    "<text x=\"16\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">"
                    "true</text>\n",
                    top + C * cell / 2, top + C * cell / 2);
    for (int c = 0; c < C; c++) {
        const char *nm = class_name(names, c, buf, sizeof buf);
        int x = left + c * cell + cell / 2, y = top - 6;
        jsonbuf_appendf(out, "<text x=\"%d\" y=\"%d\" transform=\"rotate(-45 %d %d)\">", x, y, x, y);
        svg_escape(out, nm);
        jsonbuf_appendf(out, "</text>\n<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 8,
                        top + c * cell + cell / 2 + 5);
        svg_escape(out, nm);
        jsonbuf_append(out, "</text>\n", 8);
    }
    for (int t = 0; t < C; t++) {
        int64_t sup = confusion_support(cm, t);
        for (int p = 0; p < C; p++) {
            int64_t n = cm->counts[(int64_t)t * C + p];
            double share = sup > 0 ? (double)n / (double)sup : 0.0;
            /* white (255,255,255) to dark blue (8,48,107), linear in the row share */
            int r = (int)lround(255 - share * (255 - 8)), g = (int)lround(255 - share * (255 - 48)),
                b = (int)lround(255 - share * (255 - 107));
            int x = left + p * cell, y = top + t * cell;
            jsonbuf_appendf(out,
                            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#%02x%02x%02x\" "
                            "stroke=\"#999999\" stroke-width=\"0.5\"><title>%.1f%%</title></rect>\n",
                            x, y, cell, cell, r, g, b, 100.0 * share);
            jsonbuf_appendf(out,
                            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%lld</text>\n",
                            x + cell / 2, y + cell / 2 + 5, share > 0.5 ? "#ffffff" : "#000000",
                            (long long)n);
        }
    }
    jsonbuf_append(out, "</svg>\n", 7);
}

int confusion_write_svg(const Confusion *cm, const char *const *names, const char *title,
                        const char *path, SercErr *err) {
    JsonBuf b = {0};
    confusion_svg(cm, names, title, &b);
    int rc = write_file_atomic(path, b.data, b.len, 0, err);
    jsonbuf_free(&b);
    return rc;
}

/* ---- CCC ---- */

static double ccc_strided(const float *x, const float *y, int64_t n, int stride) {
    if (n <= 0) return 0.0;
    double mx = 0.0, my = 0.0;
    for (int64_t i = 0; i < n; i++) mx += x[i * stride], my += y[i * stride];
    mx /= (double)n, my /= (double)n;
    double vx = 0.0, vy = 0.0, cov = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double dx = x[i * stride] - mx, dy = y[i * stride] - my;
        vx += dx * dx, vy += dy * dy, cov += dx * dy;
    }
    vx /= (double)n, vy /= (double)n, cov /= (double)n;
    double den = vx + vy + (mx - my) * (mx - my);
    return den > 0.0 ? 2.0 * cov / den : 0.0;
}

double concordance_cc(const float *pred, const float *truth, int64_t n) {
    return ccc_strided(pred, truth, n, 1);
}

void concordance_cc_per_attribute(const float *pred, const float *truth, int64_t n, int n_attr,
                                  double *out) {
    for (int k = 0; k < n_attr; k++) {
        out[k] = ccc_strided(pred + k, truth + k, n, n_attr);
    }
}

/* ---- label-distribution metrics ---- */

void ldl_metrics(const float *truth, const float *pred, int64_t n, int n_labels, LdlMetrics *out) {
    LdlMetrics s = {0};
    for (int64_t i = 0; i < n; i++) {
        const float *P = truth + i * n_labels, *Q = pred + i * n_labels;
        double kl = 0, cheb = 0, clark = 0, canb = 0, dot = 0, np = 0, nq = 0, inter = 0;
        for (int j = 0; j < n_labels; j++) {
            double p = P[j], q = Q[j], d = fabs(p - q), sum = p + q;
            if (p > 0) kl += p * log(p / (q > LDL_EPS ? q : LDL_EPS));
            if (d > cheb) cheb = d;
            if (sum != 0) clark += d * d / (sum * sum), canb += d / sum;
            dot += p * q, np += p * p, nq += q * q;
            inter += p < q ? p : q;
        }
        s.kl += kl, s.chebyshev += cheb, s.clark += sqrt(clark), s.canberra += canb;
        s.cosine += (np > 0 && nq > 0) ? dot / (sqrt(np) * sqrt(nq)) : 0.0;
        s.intersection += inter;
    }
    if (n > 0) {
        double inv = 1.0 / (double)n;
        s.kl *= inv, s.chebyshev *= inv, s.clark *= inv, s.canberra *= inv, s.cosine *= inv,
            s.intersection *= inv;
    }
    *out = s;
}
