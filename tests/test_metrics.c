/* Tests for train/metrics.c: hand-computed confusion matrices, CCC and label-distribution metrics, the
 * scikit-learn reference values in fixtures/metrics_ref.json (tests/fixtures/make_metric_fixtures.py),
 * and the text and SVG renderings of a confusion matrix. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "metrics.h"

#define EPS 1e-12

static void fill(Confusion *cm, int C, const int *t, const int *p, int n) {
    confusion_init(cm, C);
    confusion_add_batch(cm, t, p, n);
}

/* truth 0,0,0,1,1,2 / pred 0,0,1,1,2,2: rows [2 1 0] [0 1 1] [0 0 1] */
static const int T6[] = {0, 0, 0, 1, 1, 2}, P6[] = {0, 0, 1, 1, 2, 2};

Test(metrics, hand_computed_three_classes) {
    Confusion cm;
    fill(&cm, 3, T6, P6, 6);
    cr_assert_eq(confusion_total(&cm), 6);
    cr_assert_eq(cm.counts[0 * 3 + 1], 1);
    cr_assert_eq(cm.counts[1 * 3 + 2], 1);
    cr_assert_float_eq(confusion_weighted_accuracy(&cm), 4.0 / 6.0, EPS);
    cr_assert_float_eq(confusion_unweighted_accuracy(&cm), (2.0 / 3.0 + 0.5 + 1.0) / 3.0, EPS);
    double P[3], R[3], F[3];
    int64_t S[3];
    confusion_per_class(&cm, P, R, F, S);
    cr_assert_float_eq(P[0], 1.0, EPS);
    cr_assert_float_eq(P[1], 0.5, EPS);
    cr_assert_float_eq(P[2], 0.5, EPS);
    cr_assert_float_eq(R[0], 2.0 / 3.0, EPS);
    cr_assert_float_eq(F[0], 0.8, EPS);
    cr_assert_float_eq(F[1], 0.5, EPS);
    cr_assert_float_eq(F[2], 2.0 / 3.0, EPS);
    cr_assert_eq(S[0], 3);
    cr_assert_eq(S[2], 1);
    cr_assert_float_eq(confusion_macro_f1(&cm), (0.8 + 0.5 + 2.0 / 3.0) / 3.0, EPS);
    cr_assert_float_eq(confusion_macro_f1_observed(&cm), (0.8 + 0.5 + 2.0 / 3.0) / 3.0, EPS);
    confusion_free(&cm);
}

Test(metrics, class_absent_from_truth_and_predictions) {
    /* a fourth class that never occurs: UA ignores it, macro-F1 (labels=range(C)) counts it as 0 */
    Confusion cm;
    fill(&cm, 4, T6, P6, 6);
    cr_assert_float_eq(confusion_unweighted_accuracy(&cm), (2.0 / 3.0 + 0.5 + 1.0) / 3.0, EPS);
    cr_assert_float_eq(confusion_macro_f1(&cm), (0.8 + 0.5 + 2.0 / 3.0) / 4.0, EPS);
    cr_assert_float_eq(confusion_macro_f1_observed(&cm), (0.8 + 0.5 + 2.0 / 3.0) / 3.0, EPS);
    double P[4], R[4], F[4];
    confusion_per_class(&cm, P, R, F, NULL);
    cr_assert_eq(P[3], 0.0);
    cr_assert_eq(R[3], 0.0);
    cr_assert_eq(F[3], 0.0);
    confusion_free(&cm);
}

Test(metrics, class_predicted_but_not_true) {
    /* balanced_accuracy_score([0,0,1],[0,2,1]) = 0.75: class 2 (recall 0/0) is dropped */
    int t[] = {0, 0, 1}, p[] = {0, 2, 1};
    Confusion cm;
    fill(&cm, 3, t, p, 3);
    cr_assert_float_eq(confusion_unweighted_accuracy(&cm), 0.75, EPS);
    double P[3], F[3];
    confusion_per_class(&cm, P, NULL, F, NULL);
    cr_assert_eq(P[2], 0.0);
    cr_assert_eq(F[2], 0.0);
    /* F1: class 0 2/3, class 1 1, class 2 0 */
    cr_assert_float_eq(confusion_macro_f1(&cm), (2.0 / 3.0 + 1.0) / 3.0, EPS);
    confusion_free(&cm);
}

Test(metrics, empty_and_perfect) {
    Confusion cm;
    confusion_init(&cm, 5);
    cr_assert_eq(confusion_weighted_accuracy(&cm), 0.0);
    cr_assert_eq(confusion_unweighted_accuracy(&cm), 0.0);
    cr_assert_eq(confusion_macro_f1(&cm), 0.0);
    cr_assert_eq(confusion_macro_f1_observed(&cm), 0.0);
    for (int c = 0; c < 5; c++) confusion_add(&cm, c, c);
    cr_assert_float_eq(confusion_weighted_accuracy(&cm), 1.0, EPS);
    cr_assert_float_eq(confusion_unweighted_accuracy(&cm), 1.0, EPS);
    cr_assert_float_eq(confusion_macro_f1(&cm), 1.0, EPS);
    Confusion other;
    confusion_init(&other, 5);
    confusion_add(&other, 0, 1);
    confusion_merge(&cm, &other);
    cr_assert_eq(confusion_total(&cm), 6);
    cr_assert_eq(confusion_support(&cm, 0), 2);
    confusion_reset(&cm);
    cr_assert_eq(confusion_total(&cm), 0);
    confusion_free(&other);
    confusion_free(&cm);
}

Test(metrics, wa_differs_from_ua_on_imbalance) {
    /* 9 of class 0 all right, 1 of class 1 wrong: WA 0.9, UA 0.5 (the two are easy to swap) */
    Confusion cm;
    confusion_init(&cm, 2);
    for (int i = 0; i < 9; i++) confusion_add(&cm, 0, 0);
    confusion_add(&cm, 1, 0);
    cr_assert_float_eq(confusion_weighted_accuracy(&cm), 0.9, EPS);
    cr_assert_float_eq(confusion_unweighted_accuracy(&cm), 0.5, EPS);
    confusion_free(&cm);
}

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static JsonValue *load_fixture(char **text) {
    size_t len;
    *text = read_text(SERC_FIXTURES_DIR "/metrics_ref.json", &len);
    SercErr err = {{0}};
    JsonValue *v = json_parse(*text, len, &err);
    cr_assert(v != NULL, "%s", err.msg);
    return v;
}

Test(metrics, matches_scikit_learn) {
    char *text;
    JsonValue *root = load_fixture(&text);
    const JsonValue *cases = json_get(root, "classification");
    cr_assert(json_len(cases) >= 4);
    for (size_t k = 0; k < json_len(cases); k++) {
        const JsonValue *c = json_at(cases, k);
        const char *name = json_string(json_get(c, "name"));
        int C = (int)json_int(json_get(c, "n_classes"));
        const JsonValue *yt = json_get(c, "y_true"), *yp = json_get(c, "y_pred");
        Confusion cm;
        confusion_init(&cm, C);
        for (size_t i = 0; i < json_len(yt); i++)
            confusion_add(&cm, (int)json_int(json_at(yt, i)), (int)json_int(json_at(yp, i)));
        cr_assert_float_eq(confusion_weighted_accuracy(&cm), json_number(json_get(c, "wa")), 1e-12, "%s", name);
        cr_assert_float_eq(confusion_unweighted_accuracy(&cm), json_number(json_get(c, "ua")), 1e-12, "%s",
                           name);
        cr_assert_float_eq(confusion_macro_f1(&cm), json_number(json_get(c, "macro_f1")), 1e-12, "%s", name);
        cr_assert_float_eq(confusion_macro_f1_observed(&cm), json_number(json_get(c, "macro_f1_observed")),
                           1e-12, "%s", name);
        double P[16], R[16], F[16];
        int64_t S[16];
        cr_assert(C <= 16);
        confusion_per_class(&cm, P, R, F, S);
        for (int j = 0; j < C; j++) {
            cr_assert_float_eq(P[j], json_number(json_at(json_get(c, "precision"), (size_t)j)), 1e-12);
            cr_assert_float_eq(R[j], json_number(json_at(json_get(c, "recall"), (size_t)j)), 1e-12);
            cr_assert_float_eq(F[j], json_number(json_at(json_get(c, "f1"), (size_t)j)), 1e-12);
            cr_assert_eq(S[j], json_int(json_at(json_get(c, "support"), (size_t)j)));
        }
        confusion_free(&cm);
    }
    const JsonValue *ccc = json_get(root, "ccc");
    for (size_t k = 0; k < json_len(ccc); k++) {
        const JsonValue *c = json_at(ccc, k);
        int64_t n = json_int(json_get(c, "n"));
        float *pred = malloc((size_t)n * 3 * sizeof(float)), *truth = malloc((size_t)n * 3 * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            for (int a = 0; a < 3; a++) {
                pred[i * 3 + a] = (float)json_number(json_at(json_at(json_get(c, "pred"), (size_t)i), (size_t)a));
                truth[i * 3 + a] = (float)json_number(json_at(json_at(json_get(c, "truth"), (size_t)i), (size_t)a));
            }
        double out[3];
        concordance_cc_per_attribute(pred, truth, n, 3, out);
        for (int a = 0; a < 3; a++)
            cr_assert_float_eq(out[a], json_number(json_at(json_get(c, "ccc"), (size_t)a)), 1e-9);
        free(pred);
        free(truth);
    }
    json_free(root);
    free(text);
}

Test(metrics, ccc_hand_computed) {
    float x[] = {1, 2, 3}, y[] = {1, 2, 3}, rev[] = {3, 2, 1}, up[] = {2, 3, 4}, cst[] = {5, 5, 5};
    cr_assert_float_eq(concordance_cc(x, y, 3), 1.0, EPS);
    cr_assert_float_eq(concordance_cc(x, rev, 3), -1.0, EPS);
    /* shift by 1: cov 2/3, variances 2/3 each, mean gap 1: (4/3) / (4/3 + 1) = 4/7 */
    cr_assert_float_eq(concordance_cc(up, y, 3), 4.0 / 7.0, EPS);
    cr_assert_eq(concordance_cc(cst, cst, 3), 0.0);
    cr_assert_eq(concordance_cc(cst, x, 3), 0.0);
    cr_assert_eq(concordance_cc(x, y, 0), 0.0);
    /* per attribute on (3, 2): column 0 identical, column 1 reversed */
    float p2[] = {1, 3, 2, 2, 3, 1}, t2[] = {1, 1, 2, 2, 3, 3};
    double out[2];
    concordance_cc_per_attribute(p2, t2, 3, 2, out);
    cr_assert_float_eq(out[0], 1.0, EPS);
    cr_assert_float_eq(out[1], -1.0, EPS);
}

Test(metrics, label_distribution_hand_computed) {
    /* sample 0: P = (.5 .5 0), Q = (.25 .5 .25); sample 1: P = Q = (1 0 0) */
    float P[] = {0.5f, 0.5f, 0.0f, 1.0f, 0.0f, 0.0f}, Q[] = {0.25f, 0.5f, 0.25f, 1.0f, 0.0f, 0.0f};
    LdlMetrics m;
    ldl_metrics(P, Q, 1, 3, &m);
    cr_assert_float_eq(m.kl, 0.5 * log(2.0), 1e-9);
    cr_assert_float_eq(m.chebyshev, 0.25, 1e-9);
    cr_assert_float_eq(m.clark, sqrt(10.0 / 9.0), 1e-9);
    cr_assert_float_eq(m.canberra, 4.0 / 3.0, 1e-9);
    cr_assert_float_eq(m.cosine, sqrt(0.75), 1e-9);
    cr_assert_float_eq(m.intersection, 0.75, 1e-9);
    ldl_metrics(P, Q, 2, 3, &m); /* averaged with a perfect sample */
    cr_assert_float_eq(m.kl, 0.25 * log(2.0), 1e-9);
    cr_assert_float_eq(m.chebyshev, 0.125, 1e-9);
    cr_assert_float_eq(m.clark, 0.5 * sqrt(10.0 / 9.0), 1e-9);
    cr_assert_float_eq(m.canberra, 2.0 / 3.0, 1e-9);
    cr_assert_float_eq(m.cosine, 0.5 * (sqrt(0.75) + 1.0), 1e-9);
    cr_assert_float_eq(m.intersection, 0.875, 1e-9);
}

Test(metrics, label_distribution_zero_prediction_uses_eps) {
    float P[] = {1.0f, 0.0f}, Q[] = {0.0f, 1.0f};
    LdlMetrics m;
    ldl_metrics(P, Q, 1, 2, &m);
    cr_assert_float_eq(m.kl, -log(LDL_EPS), 1e-9);
    cr_assert(isfinite(m.kl));
    cr_assert_float_eq(m.chebyshev, 1.0, 1e-12);
    cr_assert_float_eq(m.clark, sqrt(2.0), 1e-12);
    cr_assert_float_eq(m.canberra, 2.0, 1e-12);
    cr_assert_eq(m.cosine, 0.0);
    cr_assert_eq(m.intersection, 0.0);
}

Test(metrics, text_table) {
    Confusion cm;
    fill(&cm, 3, T6, P6, 6);
    const char *names[] = {"angry", "sad", "neutral"};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    confusion_print(&cm, names, f);
    fclose(f);
    cr_assert(strstr(buf, "neutral") != NULL, "%s", buf);
    cr_assert(strstr(buf, "WA 66.67%") != NULL, "%s", buf);
    cr_assert(strstr(buf, "UA 72.22%") != NULL, "%s", buf);
    cr_assert(strstr(buf, "66.67%\n") != NULL, "row recall missing: %s", buf);
    free(buf);
    /* without names the classes are numbered */
    f = open_memstream(&buf, &len);
    confusion_print(&cm, NULL, f);
    fclose(f);
    cr_assert(strstr(buf, "true\\pred") != NULL);
    free(buf);
    confusion_free(&cm);
}

Test(metrics, svg_heat_map) {
    Confusion cm;
    fill(&cm, 3, T6, P6, 6);
    const char *names[] = {"a&b", "<sad>", "neutral"};
    char dir[] = "/tmp/serc_metrics_XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/confusion.svg", dir);
    SercErr err = {{0}};
    cr_assert_eq(confusion_write_svg(&cm, names, "dev \"fold 1\"", path, &err), 0, "%s", err.msg);
    size_t len;
    char *svg = read_text(path, &len);
    cr_assert(strncmp(svg, "<?xml", 5) == 0);
    cr_assert(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"") != NULL);
    cr_assert(strstr(svg, "</svg>\n") != NULL);
    cr_assert(strstr(svg, "a&amp;b") != NULL);
    cr_assert(strstr(svg, "&lt;sad&gt;") != NULL);
    cr_assert(strstr(svg, "dev &quot;fold 1&quot;") != NULL);
    cr_assert(strstr(svg, "<b>") == NULL && strstr(svg, "<sad>") == NULL);
    /* class 2's row is all in one cell: share 1, the darkest colour; empty cells white */
    cr_assert(strstr(svg, "fill=\"#08306b\"") != NULL);
    cr_assert(strstr(svg, "fill=\"#ffffff\" stroke") != NULL);
    /* nine cells, nine count labels */
    int rects = 0;
    for (const char *s = svg; (s = strstr(s, "<rect x=")) != NULL; s++) rects++;
    cr_assert_eq(rects, 9);
    free(svg);
    /* atomic: nothing but the file is left in the folder */
    DIR *d = opendir(dir);
    int entries = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') entries++;
    closedir(d);
    cr_assert_eq(entries, 1);
    unlink(path);
    /* an unwritable place is an error naming the path */
    snprintf(path, sizeof path, "%s/missing/confusion.svg", dir);
    cr_assert_eq(confusion_write_svg(&cm, names, NULL, path, &err), -1);
    cr_assert(strstr(err.msg, "missing/confusion.svg") != NULL, "%s", err.msg);
    rmdir(dir);
    confusion_free(&cm);
}
