/* serc report --compare: runs side by side, runs that differ only in their seed grouped as mean +-
 * population standard deviation; compare.html and a Markdown table for recipe READMEs (report.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "report_internal.h"
#include "svgplot.h"

typedef struct CmpRun {
    RunSummary s;
    ConfigText cfg;
    int have_cfg;
    RunLog log;
    int group;
} CmpRun;

/* Mean and population standard deviation of the finite values among the group's runs. */
typedef struct Stat {
    double mean, sd;
    int n;
} Stat;

typedef struct CmpGroup {
    int *runs, n;
    Stat wa, ua, f1, ccc[3];
    int has_ccc;
    double seconds; /* mean training time */
    char diff[1024]; /* configuration keys that differ from the first group's */
} CmpGroup;

static int ignored_key(const char *k) { return !strcmp(k, "run.seed") || !strcmp(k, "run.out"); }

/* Equal key/value pairs apart from run.seed and run.out. */
static int same_but_seed(const ConfigText *a, const ConfigText *b) {
    int na = 0, nb = 0;
    for (int i = 0; i < a->n; i++) {
        if (ignored_key(a->keys[i])) continue;
        na++;
        const char *v = config_text_get(b, a->keys[i]);
        if (!v || strcmp(v, a->vals[i]) != 0) return 0;
    }
    for (int i = 0; i < b->n; i++) nb += !ignored_key(b->keys[i]);
    return na == nb;
}

/* "key=value, key=value" for the keys of b that differ from a (absent keys: "key absent"). */
static void config_diff(const ConfigText *a, const ConfigText *b, char *out, size_t cap) {
    size_t len = 0;
    int shown = 0, more = 0;
    out[0] = '\0';
    for (int pass = 0; pass < 2; pass++) {
        const ConfigText *x = pass ? a : b, *y = pass ? b : a;
        for (int i = 0; i < x->n; i++) {
            if (ignored_key(x->keys[i])) continue;
            const char *v = config_text_get(y, x->keys[i]);
            if (pass == 1 && v) continue; /* second pass: keys only a has */
            if (pass == 0 && v && !strcmp(v, x->vals[i])) continue;
            if (shown >= 8) {
                more++;
                continue;
            }
            int w = pass ? snprintf(out + len, cap - len, "%s%s absent", shown ? ", " : "", x->keys[i])
                         : snprintf(out + len, cap - len, "%s%s=%s", shown ? ", " : "", x->keys[i], x->vals[i]);
            if (w < 0 || (size_t)w >= cap - len) break;
            len += (size_t)w;
            shown++;
        }
    }
    if (more && len + 24 < cap) snprintf(out + len, cap - len, " (and %d more)", more);
}

static Stat stat_of(const CmpRun *runs, const CmpGroup *g, int what) {
    Stat s = {NAN, NAN, 0};
    double sum = 0, sq = 0;
    for (int i = 0; i < g->n; i++) {
        const ReportEval *t = &runs[g->runs[i]].s.test;
        if (!t->present) continue;
        double v = what == 0 ? t->wa : what == 1 ? t->ua : what == 2 ? t->macro_f1 : t->has_ccc ? t->ccc[what - 3] : NAN;
        if (!isfinite(v)) continue;
        sum += v;
        s.n++;
    }
    if (s.n == 0) return s;
    s.mean = sum / s.n;
    for (int i = 0; i < g->n; i++) {
        const ReportEval *t = &runs[g->runs[i]].s.test;
        if (!t->present) continue;
        double v = what == 0 ? t->wa : what == 1 ? t->ua : what == 2 ? t->macro_f1 : t->has_ccc ? t->ccc[what - 3] : NAN;
        if (isfinite(v)) sq += (v - s.mean) * (v - s.mean);
    }
    s.sd = sqrt(sq / s.n);
    return s;
}

/* "0.3094 ± 0.0021" (one run: "0.3094"; none: "–"). */
static void format_stat(const Stat *s, int group_size, char *buf, size_t n) {
    if (s->n == 0) snprintf(buf, n, "–");
    else if (s->n == 1 && group_size == 1) snprintf(buf, n, "%.4f", s->mean);
    else if (s->n == group_size) snprintf(buf, n, "%.4f ± %.4f", s->mean, s->sd);
    else snprintf(buf, n, "%.4f ± %.4f (%d of %d runs)", s->mean, s->sd, s->n, group_size);
}

static void group_runs_text(const CmpRun *runs, const CmpGroup *g, int field, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < g->n && len + 1 < cap; i++) {
        const RunSummary *s = &runs[g->runs[i]].s;
        int w;
        if (field == 0) w = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", s->name);
        else if (field == 1) {
            if (s->seed >= 0) w = snprintf(buf + len, cap - len, "%s%d", i ? ", " : "", s->seed);
            else w = snprintf(buf + len, cap - len, "%s?", i ? ", " : "");
        } else {
            if (s->test.present) w = snprintf(buf + len, cap - len, "%s%d", i ? ", " : "", s->test.epoch);
            else w = snprintf(buf + len, cap - len, "%s–", i ? ", " : "");
        }
        if (w < 0) break;
        len += (size_t)w < cap - len ? (size_t)w : cap - len - 1;
    }
}

/* Appends s with '|' escaped for a Markdown table cell. */
static void md_cell(JsonBuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '|') APPEND_LIT(b, "\\|");
        else if (*s == '\n') APPEND_LIT(b, " ");
        else jsonbuf_append(b, s, 1);
    }
}

static void write_markdown(JsonBuf *b, const CmpRun *runs, const CmpGroup *groups, int n_groups, int any_ccc,
                           int grouped) {
    APPEND_LIT(b, "| runs | seeds | test WA | test UA | test macro-F1 |");
    if (any_ccc) APPEND_LIT(b, " CCC arousal | CCC valence | CCC dominance |");
    APPEND_LIT(b, " best epoch | training time | configuration (vs. the first row) |\n| --- | --- | ---: | ---: | ---: |");
    if (any_ccc) APPEND_LIT(b, " ---: | ---: | ---: |");
    APPEND_LIT(b, " --- | --- | --- |\n");
    char buf[2048];
    for (int g = 0; g < n_groups; g++) {
        const CmpGroup *gr = &groups[g];
        APPEND_LIT(b, "| ");
        for (int i = 0; i < gr->n; i++) {
            if (i) APPEND_LIT(b, ", ");
            APPEND_LIT(b, "`");
            md_cell(b, runs[gr->runs[i]].s.name);
            APPEND_LIT(b, "`");
        }
        group_runs_text(runs, gr, 1, buf, sizeof buf);
        APPEND_LIT(b, " | ");
        md_cell(b, buf);
        const Stat *st[6] = {&gr->wa, &gr->ua, &gr->f1, &gr->ccc[0], &gr->ccc[1], &gr->ccc[2]};
        for (int k = 0; k < (any_ccc ? 6 : 3); k++) {
            format_stat(st[k], gr->n, buf, sizeof buf);
            APPEND_LIT(b, " | ");
            md_cell(b, buf);
        }
        group_runs_text(runs, gr, 2, buf, sizeof buf);
        APPEND_LIT(b, " | ");
        md_cell(b, buf);
        format_duration(gr->seconds, buf, sizeof buf);
        APPEND_LIT(b, " | ");
        md_cell(b, buf);
        APPEND_LIT(b, " | ");
        md_cell(b, g == 0 ? "(reference)" : gr->diff[0] ? gr->diff : "same");
        APPEND_LIT(b, " |\n");
    }
    APPEND_LIT(b, "\nTest set scored with each run's best checkpoint (the \"test\" record of its metrics.jsonl)");
    if (grouped)
        APPEND_LIT(b, "; a row with several runs (same configuration but run.seed) gives the mean ± population "
                      "standard deviation over them");
    APPEND_LIT(b, ". Training time: sum of the epochs' wall-clock seconds (mean over a row's runs). "
                  "Written by `serc report --compare`.\n");
}

static void html_compare(JsonBuf *b, const CmpRun *runs, int n_runs, const CmpGroup *groups, int n_groups,
                         int any_ccc, int grouped) {
    char buf[2048];
    html_begin(b, "serc report: comparison");
    APPEND_LIT(b, "<h1>serc report: comparison</h1>\n<section id=\"compare\">\n<h2>Test results</h2>\n<table>\n"
                  "<tr><th>runs</th><th>seeds</th><th class=\"num\">test WA</th><th class=\"num\">test UA</th>"
                  "<th class=\"num\">test macro-F1</th>");
    if (any_ccc)
        APPEND_LIT(b, "<th class=\"num\">CCC arousal</th><th class=\"num\">CCC valence</th>"
                      "<th class=\"num\">CCC dominance</th>");
    APPEND_LIT(b, "<th>best epoch</th><th>training time</th><th>configuration (vs. the first row)</th></tr>\n");
    for (int g = 0; g < n_groups; g++) {
        const CmpGroup *gr = &groups[g];
        APPEND_LIT(b, "<tr><td>");
        group_runs_text(runs, gr, 0, buf, sizeof buf);
        html_escape(b, buf);
        APPEND_LIT(b, "</td><td>");
        group_runs_text(runs, gr, 1, buf, sizeof buf);
        html_escape(b, buf);
        APPEND_LIT(b, "</td>");
        const Stat *st[6] = {&gr->wa, &gr->ua, &gr->f1, &gr->ccc[0], &gr->ccc[1], &gr->ccc[2]};
        for (int k = 0; k < (any_ccc ? 6 : 3); k++) {
            format_stat(st[k], gr->n, buf, sizeof buf);
            APPEND_LIT(b, "<td class=\"num\">");
            html_escape(b, buf);
            APPEND_LIT(b, "</td>");
        }
        group_runs_text(runs, gr, 2, buf, sizeof buf);
        APPEND_LIT(b, "<td>");
        html_escape(b, buf);
        format_duration(gr->seconds, buf, sizeof buf);
        APPEND_LIT(b, "</td><td>");
        html_escape(b, buf);
        APPEND_LIT(b, "</td><td><code>");
        html_escape(b, g == 0 ? "(reference)" : gr->diff[0] ? gr->diff : "same");
        APPEND_LIT(b, "</code></td></tr>\n");
    }
    APPEND_LIT(b, "</table>\n<p class=\"note\">");
    html_escape(b, grouped ? "Rows group runs whose config.toml is the same except run.seed and run.out: mean ± "
                             "population standard deviation over them."
                           : "One row per run (--group-by-seed groups runs that differ only in their seed).");
    APPEND_LIT(b, "</p>\n</section>\n<section id=\"runs\">\n<h2>Runs</h2>\n<table>\n<tr><th>run</th><th>directory</th>"
                  "<th class=\"num\">row</th><th class=\"num\">seed</th><th class=\"num\">test WA</th>"
                  "<th class=\"num\">test UA</th><th class=\"num\">test macro-F1</th><th class=\"num\">best epoch</th>"
                  "<th class=\"num\">epochs</th><th>training time</th></tr>\n");
    for (int i = 0; i < n_runs; i++) {
        const RunSummary *s = &runs[i].s;
        APPEND_LIT(b, "<tr><td>");
        html_escape(b, s->name);
        APPEND_LIT(b, "</td><td><code>");
        html_escape(b, s->dir);
        jsonbuf_appendf(b, "</code></td><td class=\"num\">%d</td><td class=\"num\">", runs[i].group + 1);
        if (s->seed >= 0) jsonbuf_appendf(b, "%d", s->seed);
        else APPEND_LIT(b, "?");
        const double v[3] = {s->test.present ? s->test.wa : NAN, s->test.present ? s->test.ua : NAN,
                             s->test.present ? s->test.macro_f1 : NAN};
        for (int k = 0; k < 3; k++) {
            APPEND_LIT(b, "</td><td class=\"num\">");
            html_num(b, v[k], 4);
        }
        APPEND_LIT(b, "</td><td class=\"num\">");
        html_num(b, s->test.present ? s->test.epoch : NAN, 0);
        format_duration(s->train_seconds, buf, sizeof buf);
        jsonbuf_appendf(b, "</td><td class=\"num\">%d</td><td>", s->epochs);
        html_escape(b, buf);
        APPEND_LIT(b, "</td></tr>\n");
    }
    APPEND_LIT(b, "</table>\n</section>\n<section id=\"curves\">\n<h2>Dev UA per epoch</h2>\n<div class=\"plots\">\n");
    SvgSeries ser[64];
    int ns = 0;
    for (int i = 0; i < n_runs && ns < 64; i++) {
        const ReportSeries *s = runlog_series(&runs[i].log, "dev/ua");
        if (s) ser[ns++] = (SvgSeries){runs[i].s.name, s->x, s->y, s->n};
    }
    SvgPlot p = {"Dev UA", "epoch", "UA", 900, 380, 0};
    svgplot_lines(&p, ser, ns, b);
    APPEND_LIT(b, "</div>\n</section>\n<p class=\"note\">Written by serc report --compare; docs/reports.md describes "
                  "the grouping.</p>\n");
    html_end(b);
}

int report_compare(const char *const *dirs, int n_runs, const CompareOptions *o, SercErr *err) {
    if (n_runs < 1) return serc_fail(err, "no run directories to compare");
    CmpRun *runs = serc_calloc((size_t)n_runs, sizeof *runs);
    CmpGroup *groups = serc_calloc((size_t)n_runs, sizeof *groups);
    int n_loaded = 0, n_groups = 0, rc = -1;
    for (int i = 0; i < n_runs; i++, n_loaded++) {
        CmpRun *r = &runs[i];
        if (report_read_summary(dirs[i], &r->s, o->log, err) < 0) goto out;
        char *m = report_path(dirs[i], "metrics.jsonl"), *c = report_path(dirs[i], "config.toml");
        SercErr e2;
        int ok = runlog_read(m, &r->log, err) == 0;
        r->have_cfg = config_text_read(c, &r->cfg, &e2) == 0;
        free(m);
        free(c);
        if (!ok) {
            report_summary_free(&r->s);
            if (r->have_cfg) config_text_free(&r->cfg);
            goto out;
        }
        if (!r->s.test.present && o->log)
            fprintf(o->log, "serc report: warning: %s: no \"test\" record in metrics.jsonl\n", dirs[i]);
    }
    for (int i = 0; i < n_runs; i++) {
        int g = -1;
        if (o->group_by_seed && runs[i].have_cfg)
            for (int k = 0; k < n_groups && g < 0; k++) {
                const CmpRun *rep = &runs[groups[k].runs[0]];
                if (rep->have_cfg && same_but_seed(&rep->cfg, &runs[i].cfg)) g = k;
            }
        if (g < 0) {
            g = n_groups++;
            groups[g].runs = serc_malloc(sizeof(int) * (size_t)n_runs);
        }
        groups[g].runs[groups[g].n++] = i;
        runs[i].group = g;
    }
    int any_ccc = 0;
    for (int g = 0; g < n_groups; g++) {
        CmpGroup *gr = &groups[g];
        gr->wa = stat_of(runs, gr, 0);
        gr->ua = stat_of(runs, gr, 1);
        gr->f1 = stat_of(runs, gr, 2);
        for (int d = 0; d < 3; d++) gr->ccc[d] = stat_of(runs, gr, 3 + d);
        any_ccc |= gr->ccc[0].n > 0;
        double sec = 0;
        int ns = 0;
        for (int i = 0; i < gr->n; i++)
            if (isfinite(runs[gr->runs[i]].s.train_seconds)) sec += runs[gr->runs[i]].s.train_seconds, ns++;
        gr->seconds = ns ? sec / ns : NAN;
        const CmpRun *ref = &runs[groups[0].runs[0]], *me = &runs[gr->runs[0]];
        if (g > 0) {
            if (ref->have_cfg && me->have_cfg) config_diff(&ref->cfg, &me->cfg, gr->diff, sizeof gr->diff);
            else snprintf(gr->diff, sizeof gr->diff, "(no config.toml to compare)");
        }
    }
    JsonBuf html = {0};
    html_compare(&html, runs, n_runs, groups, n_groups, any_ccc, o->group_by_seed);
    rc = write_file_atomic(o->html ? o->html : "compare.html", html.data, html.len, 0, err);
    jsonbuf_free(&html);
    if (rc == 0 && o->markdown) {
        JsonBuf md = {0};
        write_markdown(&md, runs, groups, n_groups, any_ccc, o->group_by_seed);
        rc = write_file_atomic(o->markdown, md.data, md.len, 0, err);
        jsonbuf_free(&md);
    }
out:
    for (int i = 0; i < n_loaded; i++) {
        report_summary_free(&runs[i].s);
        runlog_free(&runs[i].log);
        if (runs[i].have_cfg) config_text_free(&runs[i].cfg);
    }
    for (int g = 0; g < n_groups; g++) free(groups[g].runs);
    free(groups);
    free(runs);
    return rc;
}
