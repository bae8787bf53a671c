/* serc report for one run directory: RUN/report.html (report.h; sections in docs/reports.md). */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "fileio.h"
#include "report_internal.h"
#include "svgplot.h"
#include "trainer.h"

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void section_begin(JsonBuf *b, const char *id, const char *title) {
    jsonbuf_appendf(b, "<section id=\"%s\">\n<h2>", id);
    html_escape(b, title);
    APPEND_LIT(b, "</h2>\n");
}

static void note(JsonBuf *b, const char *text) {
    APPEND_LIT(b, "<p class=\"note\">");
    html_escape(b, text);
    APPEND_LIT(b, "</p>\n");
}

/* The value of series `name` at x (NaN when absent). */
static double series_at(const RunLog *log, const char *name, double x) {
    const ReportSeries *s = runlog_series(log, name);
    for (int i = 0; s && i < s->n; i++)
        if (s->x[i] == x) return s->y[i];
    return NAN;
}

/* ---- summary ---- */

static void row_num(JsonBuf *b, const char *label, double v, int decimals) {
    APPEND_LIT(b, "<tr><th>");
    html_escape(b, label);
    APPEND_LIT(b, "</th><td class=\"num\">");
    html_num(b, v, decimals);
    APPEND_LIT(b, "</td></tr>\n");
}

static void row_text(JsonBuf *b, const char *label, const char *text) {
    APPEND_LIT(b, "<tr><th>");
    html_escape(b, label);
    APPEND_LIT(b, "</th><td>");
    html_escape(b, text);
    APPEND_LIT(b, "</td></tr>\n");
}

static void section_summary(JsonBuf *b, const char *run_dir, const RunLog *log, const ConfigText *cfg) {
    section_begin(b, "summary", "Summary");
    char buf[128];
    APPEND_LIT(b, "<table>\n");
    row_text(b, "run directory", run_dir);
    const char *seed = cfg ? config_text_get(cfg, "run.seed") : NULL;
    if (seed) row_text(b, "seed (run.seed)", seed);
    snprintf(buf, sizeof buf, "%d", log->max_epoch);
    row_text(b, "epochs logged", buf);
    snprintf(buf, sizeof buf, "%lld", (long long)log->max_step);
    row_text(b, "optimizer steps", buf);
    format_duration(runlog_train_seconds(log), buf, sizeof buf);
    row_text(b, "training time (sum of epochs)", buf);
    const ReportEval *t = &log->test;
    if (t->present) {
        snprintf(buf, sizeof buf, "%d", t->epoch);
        row_text(b, "best epoch (dev)", buf);
        const double dev_ua = series_at(log, "dev/ua", t->epoch);
        if (isfinite(dev_ua)) row_num(b, "dev UA at the best epoch", dev_ua, 4);
        row_num(b, "test WA (accuracy)", t->wa, 4);
        row_num(b, "test UA (unweighted average recall)", t->ua, 4);
        row_num(b, "test macro-F1", t->macro_f1, 4);
        if (isfinite(t->loss)) row_num(b, "test loss", t->loss, 4);
        for (int d = 0; t->has_ccc && d < 3; d++) {
            static const char *const L[3] = {"test CCC arousal", "test CCC valence", "test CCC dominance"};
            row_num(b, L[d], t->ccc[d], 4);
        }
        if (t->utterances >= 0) {
            snprintf(buf, sizeof buf, "%lld", (long long)t->utterances);
            row_text(b, "test utterances", buf);
        }
    }
    APPEND_LIT(b, "</table>\n");
    if (!t->present) note(b, "No \"test\" record in metrics.jsonl: the run has no test set, or has not finished.");
    APPEND_LIT(b, "</section>\n");
}

/* ---- configuration ---- */

static void section_config(JsonBuf *b, const ConfigText *cfg, const char *why_missing) {
    section_begin(b, "config", "Configuration (config.toml, resolved)");
    if (!cfg) {
        note(b, why_missing);
        APPEND_LIT(b, "</section>\n");
        return;
    }
    APPEND_LIT(b, "<table>\n<tr><th>key</th><th>value</th></tr>\n");
    for (int i = 0; i < cfg->n; i++) {
        APPEND_LIT(b, "<tr><td><code>");
        html_escape(b, cfg->keys[i]);
        APPEND_LIT(b, "</code></td><td><code>");
        html_escape(b, cfg->vals[i]);
        APPEND_LIT(b, "</code></td></tr>\n");
    }
    APPEND_LIT(b, "</table>\n</section>\n");
}

/* ---- curves ---- */

/* Plots the series whose names satisfy pick(name, arg), marking them used. Legend: the name without
 * its "split/" prefix. Nothing when none matches. */
static void plot_group(JsonBuf *b, const RunLog *log, int *used, int (*pick)(const char *, const char *),
                       const char *arg, const char *title, const char *xlabel) {
    SvgSeries ser[32];
    int n = 0;
    for (int i = 0; i < log->n_series && n < 32; i++) {
        if (used[i] || !pick(log->series[i].name, arg)) continue;
        used[i] = 1;
        const ReportSeries *s = &log->series[i];
        ser[n++] = (SvgSeries){s->name, s->x, s->y, s->n};
    }
    if (n == 0) return;
    SvgPlot p = {title, xlabel, NULL, 560, 320, 0};
    svgplot_lines(&p, ser, n, b);
}

static int pick_exact(const char *name, const char *arg) { return !strcmp(name, arg); }
static int pick_prefix(const char *name, const char *arg) { return !strncmp(name, arg, strlen(arg)); }
/* an evaluation split's metric: "<split>/<arg>" for any split */
static int pick_eval_metric(const char *name, const char *arg) {
    if (!strncmp(name, "train/", 6)) return 0;
    const char *slash = strchr(name, '/');
    return slash && !strcmp(slash + 1, arg);
}
static int pick_eval_prefix(const char *name, const char *arg) {
    if (!strncmp(name, "train/", 6)) return 0;
    const char *slash = strchr(name, '/');
    return slash && !strncmp(slash + 1, arg, strlen(arg));
}
static int pick_epoch_loss(const char *name, const char *arg) {
    (void)arg;
    return !strcmp(name, "train/epoch_loss") || pick_eval_metric(name, "loss");
}
static int pick_accuracy(const char *name, const char *arg) {
    (void)arg;
    return pick_eval_metric(name, "wa") || pick_eval_metric(name, "ua") || pick_eval_metric(name, "macro_f1");
}

static void section_curves(JsonBuf *b, const RunLog *log) {
    section_begin(b, "curves", "Training and validation curves (metrics.jsonl)");
    if (log->n_series == 0) {
        note(b, "metrics.jsonl holds no step, epoch or eval records yet.");
        APPEND_LIT(b, "</section>\n");
        return;
    }
    int *used = serc_calloc((size_t)log->n_series, sizeof(int));
    APPEND_LIT(b, "<div class=\"plots\">\n");
    plot_group(b, log, used, pick_exact, "train/loss", "Training loss (mean since the last record)", "optimizer step");
    plot_group(b, log, used, pick_prefix, "train/loss_", "Loss terms (unweighted)", "optimizer step");
    plot_group(b, log, used, pick_epoch_loss, NULL, "Loss per epoch: training mean and dev", "epoch");
    plot_group(b, log, used, pick_accuracy, NULL, "Dev WA, UA, macro-F1", "epoch");
    plot_group(b, log, used, pick_eval_prefix, "ccc_", "Dev CCC", "epoch");
    plot_group(b, log, used, pick_exact, "train/lr", "Learning rate", "optimizer step");
    plot_group(b, log, used, pick_exact, "train/grad_norm", "Gradient norm (before clipping)", "optimizer step");
    plot_group(b, log, used, pick_exact, "train/utt_per_s", "Throughput (utterances per second)", "optimizer step");
    for (int i = 0; i < log->n_series; i++) /* anything else logged: a plot each */
        if (!used[i])
            plot_group(b, log, used, pick_exact, log->series[i].name, log->series[i].name,
                       strncmp(log->series[i].name, "train/", 6) ? "epoch" : "optimizer step");
    APPEND_LIT(b, "</div>\n");
    note(b, "Points that are not finite (a diverged loss logged as NaN) are left out and break the line.");
    free(used);
    APPEND_LIT(b, "</section>\n");
}

/* ---- confusion matrix and per-class scores ---- */

typedef struct TestConfusion {
    int have;
    Confusion cm;
    char **names;
    char source[SERC_ERR_MSG_MAX + 256];
} TestConfusion;

static void free_names(char **names) {
    for (int i = 0; names && names[i]; i++) free(names[i]);
    free(names);
}

/* The test confusion matrix: confusion_test.svg, else best.safetensors on data.test (report.h). */
static void load_confusion(const char *run_dir, const ReportOptions *o, RunLog *log, TestConfusion *tc) {
    memset(tc, 0, sizeof *tc);
    char *svg = report_path(run_dir, "confusion_test.svg");
    SercErr err;
    if (is_file(svg)) {
        size_t n = 0;
        char *text = file_read_all(svg, &n, &err);
        if (text && report_parse_confusion_svg(text, n, &tc->cm, &tc->names, &err) == 0) {
            tc->have = 1;
            snprintf(tc->source, sizeof tc->source,
                     "confusion_test.svg, written by the trainer from the best checkpoint's test evaluation");
        } else {
            runlog_warn(log, "%s: %s", svg, err.msg);
        }
        free(text);
    }
    free(svg);
    if (!tc->have && !o->no_eval) {
        char *ckpt = report_path(run_dir, "best.safetensors"), *cfg_path = report_path(run_dir, "config.toml");
        TrainConfig cfg;
        config_default(&cfg);
        if (!is_file(ckpt)) snprintf(tc->source, sizeof tc->source, "no confusion_test.svg and no best.safetensors");
        else if (config_load(&cfg, cfg_path, &err) < 0) snprintf(tc->source, sizeof tc->source, "%s", err.msg);
        else if (!cfg.data.test[0]) snprintf(tc->source, sizeof tc->source, "the configuration has no test manifest");
        else if (!is_file(cfg.data.test))
            snprintf(tc->source, sizeof tc->source, "test manifest %s not found (paths are relative to where serc train ran)",
                     cfg.data.test);
        else {
            EvalResult r;
            if (eval_checkpoint(ckpt, cfg.data.test, -1, &r, &tc->names, &err) == 0) {
                tc->have = 1;
                tc->cm = r.cm;
                r.cm.counts = NULL;
                eval_result_free(&r);
                snprintf(tc->source, sizeof tc->source, "best.safetensors evaluated on %s (no confusion_test.svg)",
                         cfg.data.test);
            } else {
                snprintf(tc->source, sizeof tc->source, "evaluating best.safetensors failed: %s", err.msg);
            }
        }
        config_free(&cfg);
        free(ckpt);
        free(cfg_path);
    } else if (!tc->have) {
        snprintf(tc->source, sizeof tc->source, "no readable confusion_test.svg (checkpoint evaluation not asked for)");
    }
    if (tc->have && log->test.present && isfinite(log->test.wa)) {
        double wa = confusion_weighted_accuracy(&tc->cm);
        if (fabs(wa - log->test.wa) > 2e-6)
            runlog_warn(log, "the test confusion matrix (%s) gives WA %.6f, metrics.jsonl's test record %.6f",
                        tc->source, wa, log->test.wa);
    }
}

static const char *class_label(char **names, int c, char *buf, size_t n) {
    if (names && names[c]) return names[c];
    snprintf(buf, n, "%d", c);
    return buf;
}

/* One matrix as a table: counts, or row shares (percent), cells shaded by the row share. */
static void confusion_table(JsonBuf *b, const TestConfusion *tc, int normalised) {
    const int C = tc->cm.n_classes;
    char buf[32];
    APPEND_LIT(b, "<table>\n<tr><th>true \\ predicted</th>");
    for (int p = 0; p < C; p++) {
        APPEND_LIT(b, "<th>");
        html_escape(b, class_label(tc->names, p, buf, sizeof buf));
        APPEND_LIT(b, "</th>");
    }
    APPEND_LIT(b, "<th class=\"num\">support</th></tr>\n");
    for (int t = 0; t < C; t++) {
        const int64_t sup = confusion_support(&tc->cm, t);
        APPEND_LIT(b, "<tr><th>");
        html_escape(b, class_label(tc->names, t, buf, sizeof buf));
        APPEND_LIT(b, "</th>");
        for (int p = 0; p < C; p++) {
            const int64_t n = tc->cm.counts[(int64_t)t * C + p];
            const double share = sup > 0 ? (double)n / (double)sup : 0.0;
            /* white to dark blue in the row share, as confusion_svg */
            const int r = (int)lround(255 - share * 247), g = (int)lround(255 - share * 207),
                      bl = (int)lround(255 - share * 148);
            jsonbuf_appendf(b, "<td class=\"cell\" style=\"background:#%02x%02x%02x;color:%s\">", r, g, bl,
                            share > 0.5 ? "#ffffff" : "#000000");
            if (normalised) html_num(b, sup > 0 ? 100.0 * share : NAN, 1);
            else jsonbuf_appendf(b, "%lld", (long long)n);
            APPEND_LIT(b, "</td>");
        }
        jsonbuf_appendf(b, "<td class=\"num\">%lld</td></tr>\n", (long long)sup);
    }
    APPEND_LIT(b, "</table>\n");
}

static void section_confusion(JsonBuf *b, const TestConfusion *tc) {
    section_begin(b, "confusion", "Test confusion matrix (best checkpoint)");
    if (!tc->have) {
        APPEND_LIT(b, "<p class=\"note\">Not available: ");
        html_escape(b, tc->source);
        APPEND_LIT(b, ".</p>\n</section>\n");
        return;
    }
    APPEND_LIT(b, "<p class=\"note\">Source: ");
    html_escape(b, tc->source);
    APPEND_LIT(b, ". Rows: true class; columns: predicted class.</p>\n<h3>Counts</h3>\n");
    confusion_table(b, tc, 0);
    APPEND_LIT(b, "<h3>Row-normalised (% of each true class; the diagonal is the recall)</h3>\n");
    confusion_table(b, tc, 1);
    APPEND_LIT(b, "</section>\n");
}

static void section_per_class(JsonBuf *b, const TestConfusion *tc) {
    section_begin(b, "per-class", "Per-class precision, recall and F1 (test)");
    if (!tc->have) {
        note(b, "Not available without the test confusion matrix.");
        APPEND_LIT(b, "</section>\n");
        return;
    }
    const int C = tc->cm.n_classes;
    double *prec = serc_malloc(sizeof(double) * (size_t)C * 3), *rec = prec + C, *f1 = rec + C;
    int64_t *sup = serc_malloc(sizeof(int64_t) * (size_t)C);
    confusion_per_class(&tc->cm, prec, rec, f1, sup);
    char buf[32];
    APPEND_LIT(b, "<table>\n<tr><th>class</th><th class=\"num\">precision</th><th class=\"num\">recall</th>"
                  "<th class=\"num\">F1</th><th class=\"num\">support</th></tr>\n");
    for (int c = 0; c < C; c++) {
        APPEND_LIT(b, "<tr class=\"class\"><td>");
        html_escape(b, class_label(tc->names, c, buf, sizeof buf));
        jsonbuf_appendf(b, "</td><td class=\"num\">%.4f</td><td class=\"num\">%.4f</td><td class=\"num\">%.4f</td>"
                           "<td class=\"num\">%lld</td></tr>\n",
                        prec[c], rec[c], f1[c], (long long)sup[c]);
    }
    jsonbuf_appendf(b, "</table>\n<table>\n<tr><th>WA (accuracy)</th><td class=\"num\">%.4f</td></tr>\n"
                       "<tr><th>UA (mean recall over classes present)</th><td class=\"num\">%.4f</td></tr>\n"
                       "<tr><th>macro-F1 (all classes)</th><td class=\"num\">%.4f</td></tr>\n</table>\n",
                    confusion_weighted_accuracy(&tc->cm), confusion_unweighted_accuracy(&tc->cm),
                    confusion_macro_f1(&tc->cm));
    note(b, "Definitions in docs/metrics.md (scikit-learn's, zero_division=0).");
    free(prec);
    free(sup);
    APPEND_LIT(b, "</section>\n");
}

/* ---- MEA ---- */

static void section_mea(JsonBuf *b, const RunLog *log) {
    if (!log->has_mea && !log->eval_mea.present) return;
    section_begin(b, "mea", "MEA: multiblock embedding alignment");
    if (log->has_mea) {
        APPEND_LIT(b, "<table>\n");
        for (int i = 0; i < log->n_mea; i++) row_text(b, log->mea_keys[i], log->mea_vals[i]);
        APPEND_LIT(b, "</table>\n");
    }
    if (log->eval_mea.present) {
        const ReportEval *m = &log->eval_mea;
        const double e = m->epoch;
        APPEND_LIT(b, "<table>\n<tr><th>dev, best epoch</th><th class=\"num\">WA</th><th class=\"num\">UA</th>"
                      "<th class=\"num\">macro-F1</th></tr>\n<tr><td>network read-out</td><td class=\"num\">");
        html_num(b, series_at(log, "dev/wa", e), 4);
        APPEND_LIT(b, "</td><td class=\"num\">");
        html_num(b, series_at(log, "dev/ua", e), 4);
        APPEND_LIT(b, "</td><td class=\"num\">");
        html_num(b, series_at(log, "dev/macro_f1", e), 4);
        APPEND_LIT(b, "</td></tr>\n<tr><td>MEA read-out</td><td class=\"num\">");
        html_num(b, m->wa, 4);
        APPEND_LIT(b, "</td><td class=\"num\">");
        html_num(b, m->ua, 4);
        APPEND_LIT(b, "</td><td class=\"num\">");
        html_num(b, m->macro_f1, 4);
        APPEND_LIT(b, "</td></tr>\n</table>\n");
    }
    note(b, "From the \"mea\" and \"eval_mea\" records of metrics.jsonl (docs/methods.md, EDRL-MEA).");
    APPEND_LIT(b, "</section>\n");
}

/* ---- robustness (serc robust) ---- */

static int has_prefix_suffix(const char *s, const char *pre, const char *suf) {
    size_t n = strlen(s), a = strlen(pre), z = strlen(suf);
    return n >= a + z && !strncmp(s, pre, a) && !strcmp(s + n - z, suf);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* robust*.json in RUN and in its immediate subfolders, as paths relative to RUN, sorted. */
static int find_robust_files(const char *run_dir, char ***out) {
    char **list = NULL;
    int n = 0;
    DIR *d = opendir(run_dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char *p = report_path(run_dir, de->d_name);
        if (has_prefix_suffix(de->d_name, "robust", ".json") && is_file(p)) {
            list = serc_realloc(list, sizeof(char *) * (size_t)(n + 1));
            list[n++] = serc_strdup(de->d_name);
        } else if (is_dir(p)) {
            DIR *d2 = opendir(p);
            struct dirent *e2;
            while (d2 && (e2 = readdir(d2)) != NULL) {
                if (!has_prefix_suffix(e2->d_name, "robust", ".json")) continue;
                size_t len = strlen(de->d_name) + strlen(e2->d_name) + 2;
                char *rel = serc_malloc(len);
                snprintf(rel, len, "%s/%s", de->d_name, e2->d_name);
                char *full = report_path(run_dir, rel);
                if (is_file(full)) {
                    list = serc_realloc(list, sizeof(char *) * (size_t)(n + 1));
                    list[n++] = rel;
                } else {
                    free(rel);
                }
                free(full);
            }
            if (d2) closedir(d2);
        }
        free(p);
    }
    if (d) closedir(d);
    if (n > 1) qsort(list, (size_t)n, sizeof *list, cmp_str);
    *out = list;
    return n;
}

static const char *jstr(const JsonValue *o, const char *key) {
    const JsonValue *v = o && json_type(o) == JSON_OBJECT ? json_get(o, key) : NULL;
    return v && json_type(v) == JSON_STRING ? json_string(v) : NULL;
}

static double jnum(const JsonValue *o, const char *key) {
    const JsonValue *v = o && json_type(o) == JSON_OBJECT ? json_get(o, key) : NULL;
    return v && json_type(v) == JSON_NUMBER ? json_number(v) : NAN;
}

static const JsonValue *jarr(const JsonValue *o, const char *key) {
    const JsonValue *v = o && json_type(o) == JSON_OBJECT ? json_get(o, key) : NULL;
    return v && json_type(v) == JSON_ARRAY ? v : NULL;
}

/* robust_ua.svg beside the JSON, inlined when it is serc's own plot: the prolog and the SVG namespace
 * attribute dropped (HTML5 needs neither), refused when anything else points outside the file. */
static int inline_robust_svg(JsonBuf *b, const char *path) {
    SercErr err;
    size_t n = 0;
    char *text = file_read_all(path, &n, &err);
    if (!text) return 0;
    char *svg = strstr(text, "<svg");
    int ok = svg && !strstr(svg, "<script") && !strstr(svg, "<foreignObject");
    if (ok) {
        static const char NS[] = " xmlns=\"http://www.w3.org/2000/svg\"";
        char *ns = strstr(svg, NS);
        if (ns) memmove(ns, ns + sizeof NS - 1, strlen(ns + sizeof NS - 1) + 1);
        ok = !strstr(svg, "http://") && !strstr(svg, "https://") && !strstr(svg, "href");
        if (ok) {
            jsonbuf_append(b, svg, strlen(svg));
            APPEND_LIT(b, "\n");
        }
    }
    free(text);
    return ok;
}

/* UA against SNR drawn from the JSON: one line per (model, noise). */
static void plot_robust_json(JsonBuf *b, const JsonValue *models) {
    enum { MAXS = 32, MAXP = 64 };
    double xs[MAXS][MAXP], ys[MAXS][MAXP];
    char names[MAXS][160];
    SvgSeries ser[MAXS];
    int ns = 0;
    for (size_t k = 0; k < json_len(models); k++) {
        const JsonValue *md = json_at(models, k), *rows = jarr(md, "rows");
        for (size_t j = 0; rows && j < json_len(rows); j++) {
            const JsonValue *r = json_at(rows, j);
            const char *cond = jstr(r, "condition");
            const double snr = jnum(r, "snr_db");
            if (!cond || !isfinite(snr)) continue;
            char nm[160];
            snprintf(nm, sizeof nm, "%s: %s", jstr(md, "name") ? jstr(md, "name") : "model", cond);
            int s = 0;
            while (s < ns && strcmp(names[s], nm)) s++;
            if (s == ns) {
                if (ns == MAXS) continue;
                snprintf(names[ns], sizeof names[ns], "%s", nm);
                ser[ns] = (SvgSeries){names[ns], xs[ns], ys[ns], 0};
                ns++;
            }
            if (ser[s].n < MAXP) xs[s][ser[s].n] = snr, ys[s][ser[s].n++] = jnum(r, "ua");
        }
    }
    SvgPlot p = {"UA against SNR", "SNR (dB)", "UA", 700, 360, 1};
    svgplot_lines(&p, ser, ns, b);
}

static void robust_one(JsonBuf *b, const char *run_dir, const char *rel, RunLog *log) {
    char *path = report_path(run_dir, rel);
    SercErr err;
    size_t n = 0;
    char *text = file_read_all(path, &n, &err);
    JsonValue *v = text ? json_parse(text, n, &err) : NULL;
    const JsonValue *models = jarr(v, "models");
    APPEND_LIT(b, "<h3><code>");
    html_escape(b, rel);
    APPEND_LIT(b, "</code></h3>\n");
    if (!models) {
        if (v) snprintf(err.msg, sizeof err.msg, "no \"models\" array: not a serc robust report");
        runlog_warn(log, "%s: %s", path, err.msg);
        APPEND_LIT(b, "<p class=\"warn\">Unreadable: ");
        html_escape(b, err.msg);
        APPEND_LIT(b, "</p>\n");
    } else {
        const char *man = jstr(v, "manifest");
        if (man) {
            APPEND_LIT(b, "<p class=\"note\">Test manifest <code>");
            html_escape(b, man);
            APPEND_LIT(b, "</code>.</p>\n");
        }
        for (size_t k = 0; k < json_len(models); k++) {
            const JsonValue *md = json_at(models, k), *rows = jarr(md, "rows");
            APPEND_LIT(b, "<table>\n<tr><th colspan=\"6\">");
            html_escape(b, jstr(md, "name") ? jstr(md, "name") : "model");
            APPEND_LIT(b, "</th></tr>\n<tr><th>condition</th><th>level</th><th class=\"num\">UA</th>"
                          "<th class=\"num\">WA</th><th class=\"num\">macro-F1</th><th class=\"num\">utterances</th></tr>\n");
            for (size_t j = 0; rows && j < json_len(rows); j++) {
                const JsonValue *r = json_at(rows, j);
                const char *cond = jstr(r, "condition");
                const double snr = jnum(r, "snr_db"), rt = jnum(r, "rt60_s"), utt = jnum(r, "utterances");
                char lv[48] = "–";
                if (isfinite(snr)) snprintf(lv, sizeof lv, "%g dB SNR", snr);
                else if (isfinite(rt)) snprintf(lv, sizeof lv, "RT60 %g s", rt);
                APPEND_LIT(b, "<tr><td>");
                html_escape(b, cond ? cond : "?");
                APPEND_LIT(b, "</td><td>");
                html_escape(b, lv);
                APPEND_LIT(b, "</td><td class=\"num\">");
                html_num(b, jnum(r, "ua"), 4);
                APPEND_LIT(b, "</td><td class=\"num\">");
                html_num(b, jnum(r, "wa"), 4);
                APPEND_LIT(b, "</td><td class=\"num\">");
                html_num(b, jnum(r, "macro_f1"), 4);
                APPEND_LIT(b, "</td><td class=\"num\">");
                html_num(b, utt, 0);
                APPEND_LIT(b, "</td></tr>\n");
            }
            APPEND_LIT(b, "</table>\n");
        }
        /* the plot: serc robust's own SVG beside the JSON, else drawn here */
        char *dir = serc_strdup(path), *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        char *svg = report_path(slash ? dir : ".", "robust_ua.svg");
        if (!(is_file(svg) && inline_robust_svg(b, svg))) plot_robust_json(b, models);
        free(svg);
        free(dir);
    }
    json_free(v);
    free(text);
    free(path);
}

static void section_robust(JsonBuf *b, const char *run_dir, RunLog *log) {
    char **files = NULL;
    int n = find_robust_files(run_dir, &files);
    if (n == 0) return;
    section_begin(b, "robustness", "Robustness (serc robust)");
    for (int i = 0; i < n; i++) robust_one(b, run_dir, files[i], log);
    note(b, "SNR over speech-active samples; protocol in docs/robustness.md.");
    APPEND_LIT(b, "</section>\n");
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
}

/* ---- fairness and saliency: shown when their files exist ---- */

/* Scalars of a JSON document as (path, value) rows, at most 4 levels and 500 rows. */
static void json_rows(JsonBuf *b, const JsonValue *v, char *path, size_t cap, int depth, int *rows) {
    if (*rows >= 500) return;
    JsonType t = json_type(v);
    if ((t == JSON_OBJECT || t == JSON_ARRAY) && depth < 4) {
        size_t len = strlen(path);
        for (size_t i = 0; i < json_len(v); i++) {
            if (t == JSON_OBJECT) snprintf(path + len, cap - len, "%s%s", len ? "." : "", json_key_at(v, i));
            else snprintf(path + len, cap - len, "[%zu]", i);
            json_rows(b, t == JSON_OBJECT ? json_value_at(v, i) : json_at(v, i), path, cap, depth + 1, rows);
            path[len] = '\0';
        }
        return;
    }
    (*rows)++;
    APPEND_LIT(b, "<tr><td><code>");
    html_escape(b, path[0] ? path : "(value)");
    APPEND_LIT(b, "</code></td><td>");
    if (t == JSON_NUMBER) jsonbuf_appendf(b, "%.6g", json_number(v));
    else if (t == JSON_STRING) html_escape(b, json_string(v));
    else if (t == JSON_BOOL) jsonbuf_appendf(b, "%s", json_bool(v) ? "true" : "false");
    else if (t == JSON_NULL) APPEND_LIT(b, "null");
    else jsonbuf_appendf(b, "(%s of %zu, deeper than shown)", json_type_name(t), json_len(v));
    APPEND_LIT(b, "</td></tr>\n");
}

static void section_fairness(JsonBuf *b, const char *run_dir, RunLog *log) {
    char *path = report_path(run_dir, "fairness.json");
    if (!is_file(path)) {
        free(path);
        return;
    }
    section_begin(b, "fairness", "Fairness gaps (fairness.json)");
    SercErr err;
    size_t n = 0;
    char *text = file_read_all(path, &n, &err);
    JsonValue *v = text ? json_parse(text, n, &err) : NULL;
    if (!v) {
        runlog_warn(log, "%s: %s", path, err.msg);
        APPEND_LIT(b, "<p class=\"warn\">Unreadable: ");
        html_escape(b, err.msg);
        APPEND_LIT(b, "</p>\n");
    } else {
        char key[512] = "";
        int rows = 0;
        APPEND_LIT(b, "<table>\n<tr><th>key</th><th>value</th></tr>\n");
        json_rows(b, v, key, sizeof key, 0, &rows);
        APPEND_LIT(b, "</table>\n");
        note(b, "Every value of fairness.json, flattened; a dedicated layout comes with the fairness evaluation.");
    }
    json_free(v);
    free(text);
    free(path);
    APPEND_LIT(b, "</section>\n");
}

static void section_saliency(JsonBuf *b, const char *run_dir) {
    char *dir = report_path(run_dir, "saliency");
    DIR *d = is_dir(dir) ? opendir(dir) : NULL;
    if (!d) {
        free(dir);
        return;
    }
    char **list = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        list = serc_realloc(list, sizeof(char *) * (size_t)(n + 1));
        list[n++] = serc_strdup(de->d_name);
    }
    closedir(d);
    if (n > 1) qsort(list, (size_t)n, sizeof *list, cmp_str);
    section_begin(b, "saliency", "Saliency (saliency/)");
    if (n == 0) note(b, "The saliency folder is empty.");
    else {
        APPEND_LIT(b, "<table>\n<tr><th>file</th><th class=\"num\">bytes</th></tr>\n");
        for (int i = 0; i < n; i++) {
            char *p = report_path(dir, list[i]);
            struct stat sb;
            long long size = stat(p, &sb) == 0 ? (long long)sb.st_size : -1;
            APPEND_LIT(b, "<tr><td><a href=\"saliency/");
            html_escape(b, list[i]);
            APPEND_LIT(b, "\">");
            html_escape(b, list[i]);
            jsonbuf_appendf(b, "</a></td><td class=\"num\">%lld</td></tr>\n", size);
            free(p);
        }
        APPEND_LIT(b, "</table>\n");
        note(b, "Files of the run's saliency folder, linked relative to this page; their rendering comes with the "
                "saliency tools.");
    }
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
    free(dir);
    APPEND_LIT(b, "</section>\n");
}

static void section_notes(JsonBuf *b, const RunLog *log) {
    if (log->n_warnings == 0) return;
    section_begin(b, "notes", "Warnings");
    APPEND_LIT(b, "<ul>\n");
    for (int i = 0; i < log->n_warnings; i++) {
        APPEND_LIT(b, "<li class=\"warn\">");
        html_escape(b, log->warnings[i]);
        APPEND_LIT(b, "</li>\n");
    }
    APPEND_LIT(b, "</ul>\n</section>\n");
}

/* ---- the page ---- */

/* The run's metrics.jsonl and config.toml (cfg NULL when missing: *cfg_note says why). */
static int read_run(const char *run_dir, RunLog *log, ConfigText *cfg, int *have_cfg, char *cfg_note, size_t cap,
                    SercErr *err) {
    if (!is_dir(run_dir)) return serc_fail(err, "%s: not a run directory (no such folder)", run_dir);
    char *metrics = report_path(run_dir, "metrics.jsonl");
    if (!is_file(metrics)) {
        serc_fail(err, "%s: no metrics.jsonl: not a serc train run directory", run_dir);
        free(metrics);
        return -1;
    }
    int rc = runlog_read(metrics, log, err);
    free(metrics);
    if (rc < 0) return -1;
    char *cpath = report_path(run_dir, "config.toml");
    SercErr cerr;
    *have_cfg = config_text_read(cpath, cfg, &cerr) == 0;
    if (!*have_cfg) {
        snprintf(cfg_note, cap, "No configuration: %s", cerr.msg);
        runlog_warn(log, "%s", cerr.msg);
    }
    free(cpath);
    return 0;
}

int report_write_opts(const char *run_dir, const ReportOptions *o, SercErr *err) {
    RunLog log;
    ConfigText cfg;
    int have_cfg = 0;
    char cfg_note[SERC_ERR_MSG_MAX + 32] = "";
    if (read_run(run_dir, &log, &cfg, &have_cfg, cfg_note, sizeof cfg_note, err) < 0) return -1;
    TestConfusion tc;
    load_confusion(run_dir, o, &log, &tc);

    char name[256];
    report_basename(run_dir, name, sizeof name);
    char title[300];
    snprintf(title, sizeof title, "serc report: %s", name);
    JsonBuf b = {0};
    html_begin(&b, title);
    APPEND_LIT(&b, "<h1>");
    html_escape(&b, title);
    APPEND_LIT(&b, "</h1>\n<nav><a href=\"#summary\">summary</a><a href=\"#config\">configuration</a>"
                   "<a href=\"#curves\">curves</a><a href=\"#confusion\">confusion matrix</a>"
                   "<a href=\"#per-class\">per class</a></nav>\n");
    section_summary(&b, run_dir, &log, have_cfg ? &cfg : NULL);
    section_curves(&b, &log);
    section_confusion(&b, &tc);
    section_per_class(&b, &tc);
    section_mea(&b, &log);
    section_robust(&b, run_dir, &log);
    section_fairness(&b, run_dir, &log);
    section_saliency(&b, run_dir);
    section_config(&b, have_cfg ? &cfg : NULL, cfg_note);
    section_notes(&b, &log);
    APPEND_LIT(&b, "<p class=\"note\">Written by serc report; docs/reports.md describes every section.</p>\n");
    html_end(&b);

    char *out = o->out ? serc_strdup(o->out) : report_path(run_dir, "report.html");
    int rc = write_file_atomic(out, b.data, b.len, 0, err);
    for (int i = 0; o->log && i < log.n_warnings; i++) fprintf(o->log, "serc report: warning: %s\n", log.warnings[i]);
    free(out);
    jsonbuf_free(&b);
    if (tc.have) confusion_free(&tc.cm);
    free_names(tc.names);
    if (have_cfg) config_text_free(&cfg);
    runlog_free(&log);
    return rc;
}

int report_write(const char *run_dir, SercErr *err) {
    ReportOptions o = {NULL, 1, NULL};
    return report_write_opts(run_dir, &o, err);
}

int report_read_summary(const char *run_dir, RunSummary *s, FILE *warn, SercErr *err) {
    memset(s, 0, sizeof *s);
    RunLog log;
    ConfigText cfg;
    int have_cfg = 0;
    char cfg_note[SERC_ERR_MSG_MAX + 32];
    if (read_run(run_dir, &log, &cfg, &have_cfg, cfg_note, sizeof cfg_note, err) < 0) return -1;
    char name[256];
    s->dir = serc_strdup(run_dir);
    s->name = serc_strdup(report_basename(run_dir, name, sizeof name));
    s->test = log.test;
    s->epochs = log.max_epoch;
    s->steps = log.max_step;
    s->train_seconds = runlog_train_seconds(&log);
    s->has_config = have_cfg;
    s->seed = -1;
    const char *seed = have_cfg ? config_text_get(&cfg, "run.seed") : NULL;
    if (seed) s->seed = atoi(seed);
    for (int i = 0; warn && i < log.n_warnings; i++) fprintf(warn, "serc report: warning: %s\n", log.warnings[i]);
    if (have_cfg) config_text_free(&cfg);
    runlog_free(&log);
    return 0;
}

void report_summary_free(RunSummary *s) {
    free(s->dir);
    free(s->name);
    memset(s, 0, sizeof *s);
}
