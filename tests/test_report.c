/* serc report: the SVG plot helper, the confusion SVG round trip, report.html of a trained run (sections,
 * well-formed tags, nothing external, per-class values equal to an independent eval_checkpoint), the
 * checkpoint fallback, compare mode's seed groups against mean/std computed here from metrics.jsonl,
 * the optional sections on a hand-written run, bad inputs, and a headless Chromium rendering when
 * chromium is installed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"
#include "svgplot.h"
#include "testutil.h"
#include "trainer.h"

/* ---- helpers ---- */

static char *path2(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static void copy_file(const char *from, const char *to) {
    size_t n;
    char *t = test_read_file(from, &n);
    FILE *f = fopen(to, "wb");
    cr_assert_not_null(f, "%s", to);
    fwrite(t, 1, n, f);
    fclose(f);
    free(t);
}

static const char *const VOID_TAGS[] = {"meta", "br", "hr", "img", "input", "link", NULL};

/* Every start tag has its end tag, properly nested (void and self-closed elements excepted); no raw '<'
 * outside tags; <style> content skipped. Fails the test with the offending place. */
static void expect_balanced_tags(const char *html) {
    char stack[256][24];
    int depth = 0;
    for (const char *p = html; (p = strchr(p, '<')) != NULL;) {
        if (p[1] == '!') {
            p = strchr(p, '>');
            cr_assert_not_null(p);
            continue;
        }
        const int closing = p[1] == '/';
        const char *s = p + 1 + closing;
        char name[24];
        int k = 0;
        while ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9'))
            k++;
        cr_assert(k > 0 && k < 24, "raw '<' at byte %ld: %.40s", (long)(p - html), p);
        memcpy(name, s, (size_t)k);
        name[k] = '\0';
        const char *gt = strchr(s, '>');
        cr_assert_not_null(gt, "unterminated tag %s", name);
        if (closing) {
            cr_assert_gt(depth, 0, "</%s> without a start tag", name);
            cr_assert_str_eq(stack[depth - 1], name, "</%s> closes <%s> at byte %ld", name, stack[depth - 1],
                             (long)(p - html));
            depth--;
        } else if (gt[-1] != '/') {
            int is_void = 0;
            for (int v = 0; VOID_TAGS[v]; v++) is_void |= !strcmp(VOID_TAGS[v], name);
            if (!is_void) {
                cr_assert_lt(depth, 256);
                strcpy(stack[depth++], name);
            }
            if (!strcmp(name, "style")) {
                gt = strstr(gt, "</style>");
                cr_assert_not_null(gt);
                gt--;
            }
        }
        p = gt + 1;
    }
    cr_expect_eq(depth, 0, "%d elements left open (innermost <%s>)", depth, depth ? stack[depth - 1] : "");
}

/* The page checks shared by every report: well-formed, self-contained, the sections asked for. */
static char *check_page(const char *path, const char *const *ids) {
    size_t n;
    char *html = test_read_file(path, &n);
    cr_expect(!strncmp(html, "<!DOCTYPE html>", 15));
    expect_balanced_tags(html);
    cr_expect_null(strstr(html, "http://"), "external reference in %s", path);
    cr_expect_null(strstr(html, "https://"), "external reference in %s", path);
    cr_expect_null(strstr(html, "<script"), "script in %s", path);
    cr_expect_null(strstr(html, "src="), "a resource outside the file in %s", path);
    for (int i = 0; ids[i]; i++) {
        char want[64];
        snprintf(want, sizeof want, "<section id=\"%s\">", ids[i]);
        cr_expect_not_null(strstr(html, want), "%s lacks %s", path, want);
    }
    return html;
}

/* The per-class rows report.html must show for confusion cm with names. */
static void expect_per_class_rows(const char *html, const Confusion *cm, char **names) {
    const int C = cm->n_classes;
    double prec[16], rec[16], f1[16];
    int64_t sup[16];
    cr_assert_leq(C, 16);
    confusion_per_class(cm, prec, rec, f1, sup);
    for (int c = 0; c < C; c++) {
        char row[512];
        snprintf(row, sizeof row,
                 "<tr class=\"class\"><td>%s</td><td class=\"num\">%.4f</td><td class=\"num\">%.4f</td>"
                 "<td class=\"num\">%.4f</td><td class=\"num\">%lld</td></tr>",
                 names[c], prec[c], rec[c], f1[c], (long long)sup[c]);
        cr_expect_not_null(strstr(html, row), "per-class row missing: %s", row);
    }
    char wa[96];
    snprintf(wa, sizeof wa, "<tr><th>WA (accuracy)</th><td class=\"num\">%.4f</td></tr>", confusion_weighted_accuracy(cm));
    cr_expect_not_null(strstr(html, wa), "%s", wa);
}

/* The test record's value of key, read here with sscanf (independent of report.c's JSON reader). */
static double test_metric(const char *run, const char *key) {
    char *p = path2(run, "metrics.jsonl");
    char *log = test_read_file(p, NULL);
    const char *line = strstr(log, "{\"event\": \"test\"");
    cr_assert_not_null(line, "%s has no test record", p);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *at = strstr(line, pat);
    cr_assert_not_null(at);
    double v = atof(at + strlen(pat));
    free(log);
    free(p);
    return v;
}

/* ---- the plot helper ---- */

Test(report, nice_ticks_and_number_format) {
    cr_expect_float_eq(svgplot_nice_step(0, 1, 6), 0.2, 1e-12);
    cr_expect_float_eq(svgplot_nice_step(0, 500, 6), 100, 1e-9);
    cr_expect_float_eq(svgplot_nice_step(0.0015, 0.002, 6), 0.0001, 1e-15);
    char b[32];
    svgplot_format_tick(0.25, 0.05, b, sizeof b);
    cr_expect_str_eq(b, "0.25");
    svgplot_format_tick(0.0006, 0.0002, b, sizeof b);
    cr_expect_str_eq(b, "0.0006");
    svgplot_format_tick(300, 100, b, sizeof b);
    cr_expect_str_eq(b, "300");
    svgplot_format_tick(-1e-17, 0.1, b, sizeof b);
    cr_expect_str_eq(b, "0");
    svgplot_format_tick(2e-7, 1e-7, b, sizeof b);
    cr_expect_str_eq(b, "2e-07");
    svgplot_format_tick(1500000, 500000, b, sizeof b);
    cr_expect_str_eq(b, "1.5e+06");
}

Test(report, plot_skips_nonfinite_points_and_escapes_names) {
    const double x[5] = {1, 2, 3, 4, 5}, y[5] = {0.5, NAN, 0.7, INFINITY, 0.9}, yn[2] = {NAN, NAN};
    SvgSeries s[2] = {{"a<b&\"c\"", x, y, 5}, {"none", x, yn, 2}};
    SvgPlot p = {"t<1>", "x", "y", 0, 0, 0};
    JsonBuf b = {0};
    svgplot_lines(&p, s, 2, &b);
    cr_expect_not_null(strstr(b.data, "a&lt;b&amp;&quot;c&quot;"));
    cr_expect_not_null(strstr(b.data, "t&lt;1&gt;"));
    cr_expect_null(strstr(b.data, "nan"));
    cr_expect_null(strstr(b.data, "inf"));
    int polylines = 0, circles = 0;
    for (const char *q = b.data; (q = strstr(q, "<polyline")); q++) polylines++;
    for (const char *q = b.data; (q = strstr(q, "<circle")); q++) circles++;
    cr_expect_eq(polylines, 3, "the line breaks at each non-finite point");
    cr_expect_eq(circles, 3);
    expect_balanced_tags(b.data);
    jsonbuf_free(&b);
    SvgSeries empty = {"e", x, yn, 2};
    svgplot_lines(&p, &empty, 1, &b);
    cr_expect_not_null(strstr(b.data, "no data"));
    jsonbuf_free(&b);
}

/* ---- the trainer's confusion SVG ---- */

Test(report, confusion_svg_round_trip) {
    Confusion cm;
    confusion_init(&cm, 3);
    const int64_t counts[9] = {5, 0, 2, 1, 7, 0, 0, 3, 12};
    memcpy(cm.counts, counts, sizeof counts);
    const char *names[] = {"neu<tral>", "a&b", "it's \"sad\"", NULL};
    JsonBuf b = {0};
    confusion_svg(&cm, names, "test & <dev>", &b);
    Confusion back;
    char **nb = NULL;
    SercErr err;
    cr_assert_eq(report_parse_confusion_svg(b.data, b.len, &back, &nb, &err), 0, "%s", err.msg);
    cr_expect_eq(back.n_classes, 3);
    cr_expect_eq(memcmp(back.counts, counts, sizeof counts), 0);
    for (int c = 0; c < 3; c++) cr_expect_str_eq(nb[c], names[c]);
    cr_expect_null(nb[3]);
    for (int c = 0; nb[c]; c++) free(nb[c]);
    free(nb);
    confusion_free(&back);
    /* damaged files are errors, not matrices */
    char *cut = strndup(b.data, b.len / 2);
    cr_expect_eq(report_parse_confusion_svg(cut, strlen(cut), &back, &nb, &err), -1);
    free(cut);
    cr_expect_eq(report_parse_confusion_svg("hello", 5, &back, &nb, &err), -1);
    char *bad = strdup(b.data), *cell = strstr(bad, "\">5</text>");
    cr_assert_not_null(cell);
    cell[2] = 'x';
    cr_expect_eq(report_parse_confusion_svg(bad, strlen(bad), &back, &nb, &err), -1);
    cr_expect_not_null(strstr(err.msg, "cell 1"), "%s", err.msg);
    free(bad);
    jsonbuf_free(&b);
    confusion_free(&cm);
}

/* ---- a hand-written run with every optional file ---- */

static char handmade[] = "/tmp/serc-report-hand-XXXXXX";

static const char HAND_METRICS[] =
    "{\"event\": \"step\", \"epoch\": 1, \"step\": 1, \"loss\": 2.5, \"lr\": 0.001, \"grad_norm\": 3.1, \"utt_per_s\": 50.0, \"loss_ce\": 1.4}\n"
    "{\"event\": \"step\", \"epoch\": 1, \"step\": 2, \"loss\": nan, \"lr\": 0.001, \"grad_norm\": -nan, \"utt_per_s\": 51.0, \"loss_ce\": 1.3}\n"
    "{\"event\": \"step\", \"epoch\": 1, \"step\": 3, \"loss\": 2.1, \"lr\": 0.001, \"grad_norm\": 2.2, \"utt_per_s\": 52.0, \"loss_ce\": 1.2}\n"
    "{\"event\": \"epoch\", \"epoch\": 1, \"step\": 3, \"loss\": 2.3, \"utterances\": 24, \"bad_skipped\": 0, \"seconds\": 10.5}\n"
    "{\"event\": \"eval\", \"split\": \"dev\", \"epoch\": 1, \"step\": 3, \"wa\": 0.5, \"ua\": 0.45, \"macro_f1\": 0.4, \"loss\": 1.9, \"ccc\": [0.3, 0.2, 0.1], \"utterances\": 12, \"bad_skipped\": 0}\n"
    "{\"event\": \"mea\", \"utterances\": 24, \"blocks\": 5, \"components\": 3, \"train_accuracy\": 0.75, \"objective\": 0.61}\n"
    "{\"event\": \"eval_mea\", \"split\": \"dev_mea\", \"epoch\": 1, \"step\": 3, \"wa\": 0.55, \"ua\": 0.5, \"macro_f1\": 0.45, \"utterances\": 12, \"bad_skipped\": 0}\n"
    "{\"event\": \"test\", \"split\": \"test\", \"epoch\": 1, \"step\": 3, \"wa\": 0.6, \"ua\": 0.55, \"macro_f1\": 0.5, \"utterances\": 10, \"bad_skipped\": 0}\n";

static const char HAND_ROBUST[] =
    "{\"manifest\": \"test.jsonl\", \"cross\": null, \"seed\": 1, \"snr_db\": [10, 0], \"noise\": [\"white\"],\n"
    " \"models\": [{\"name\": \"m<1>\", \"checkpoint\": \"best.safetensors\", \"classes\": [\"a\", \"b\"], \"rows\": [\n"
    "  {\"condition\": \"clean\", \"snr_db\": null, \"rt60_s\": null, \"ua\": 0.55, \"wa\": 0.6, \"macro_f1\": 0.5, \"utterances\": 10, \"bad_skipped\": 0},\n"
    "  {\"condition\": \"white\", \"snr_db\": 10, \"rt60_s\": null, \"ua\": 0.5, \"wa\": 0.5, \"macro_f1\": 0.45, \"utterances\": 10, \"bad_skipped\": 0},\n"
    "  {\"condition\": \"white\", \"snr_db\": 0, \"rt60_s\": null, \"ua\": 0.3125, \"wa\": 0.3, \"macro_f1\": 0.25, \"utterances\": 10, \"bad_skipped\": 0}]}]}\n";

static void make_handmade(void) {
    cr_assert_not_null(mkdtemp(handmade));
    test_put_file(handmade, "config.toml",
                  "# a comment\n[data]\ntest = \"</td><script>alert('x')</script>&amp;\"\n[run]\nseed = 7\nout = \"runs/x\"\n");
    test_put_file(handmade, "metrics.jsonl", HAND_METRICS);
    Confusion cm;
    confusion_init(&cm, 2);
    cm.counts[0] = 4, cm.counts[1] = 1, cm.counts[2] = 3, cm.counts[3] = 2;
    const char *names[] = {"<b>bold</b>", "x&y", NULL};
    char *svg = path2(handmade, "confusion_test.svg");
    SercErr err;
    cr_assert_eq(confusion_write_svg(&cm, names, "test", svg, &err), 0, "%s", err.msg);
    free(svg);
    confusion_free(&cm);
    test_put_file(handmade, "robust/robust.json", HAND_ROBUST);
    test_put_file(handmade, "robust/robust_ua.svg",
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" "
                  "height=\"10\"><text x=\"1\" y=\"9\">UA plot</text></svg>\n");
    test_put_file(handmade, "fairness.json", "{\"gap\": {\"gender_ua\": 0.031, \"note\": \"<i>\"}, \"groups\": [\"f\", \"m\"]}");
    test_put_file(handmade, "saliency/utt1.png", "not really a png");
}

Test(report, handmade_run_every_section, .init = make_handmade) {
    SercErr err;
    cr_assert_eq(report_write(handmade, &err), 0, "%s", err.msg);
    char *out = path2(handmade, "report.html");
    static const char *const ids[] = {"summary", "curves", "confusion", "per-class", "mea", "robustness",
                                      "fairness", "saliency", "config", NULL};
    char *html = check_page(out, ids);
    /* escaping: the config value and the class names appear as text, never as markup */
    cr_expect_not_null(strstr(html, "&lt;/td&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;amp;"));
    cr_expect_not_null(strstr(html, "&lt;b&gt;bold&lt;/b&gt;"));
    cr_expect_not_null(strstr(html, "<td>x&amp;y</td>"));
    cr_expect_null(strstr(html, "<b>bold"));
    /* the confusion matrix as the trainer wrote it: 4 1 / 3 2 */
    Confusion cm;
    confusion_init(&cm, 2);
    cm.counts[0] = 4, cm.counts[1] = 1, cm.counts[2] = 3, cm.counts[3] = 2;
    char *names[] = {"&lt;b&gt;bold&lt;/b&gt;", "x&amp;y"};
    expect_per_class_rows(html, &cm, names);
    confusion_free(&cm);
    cr_expect_not_null(strstr(html, "confusion_test.svg, written by the trainer"));
    /* MEA, robustness (serc robust's SVG inlined without its namespace URL), fairness, saliency */
    cr_expect_not_null(strstr(html, "<th>train_accuracy</th><td>0.75</td>"));
    cr_expect_not_null(strstr(html, "m&lt;1&gt;"));
    cr_expect_not_null(strstr(html, "<td class=\"num\">0.3125</td>"));
    cr_expect_not_null(strstr(html, "UA plot"));
    cr_expect_not_null(strstr(html, "gap.gender_ua"));
    cr_expect_not_null(strstr(html, "&lt;i&gt;"));
    cr_expect_not_null(strstr(html, "href=\"saliency/utt1.png\""));
    /* the nan step breaks the loss line: two polylines in the first plot, and no nan coordinate */
    const char *plot = strstr(html, "<svg"), *plot_end = plot ? strstr(plot, "</svg>") : NULL;
    cr_assert(plot && plot_end);
    int lines = 0;
    for (const char *q = plot; (q = strstr(q, "<polyline")) && q < plot_end; q++) lines++;
    cr_expect_eq(lines, 2);
    cr_expect(!strstr(html, ",nan") && !strstr(html, "nan,") && !strstr(html, ">nan<"));
    cr_expect_null(strstr(html, "<section id=\"notes\">"), "no warnings expected");
    free(html);

    /* an unterminated last line (a run still writing) is skipped with a warning in the page */
    char *m = path2(handmade, "metrics.jsonl");
    FILE *f = fopen(m, "ab");
    fputs("{\"event\": \"step\", \"epoch\": 2, \"ste", f);
    fclose(f);
    cr_assert_eq(report_write(handmade, &err), 0, "%s", err.msg);
    html = check_page(out, ids);
    cr_expect_not_null(strstr(html, "<section id=\"notes\">"));
    cr_expect_not_null(strstr(html, "metrics.jsonl:9: unterminated last line skipped"));
    free(html);
    /* without the robust SVG the plot is drawn from robust.json */
    char *rs = path2(handmade, "robust/robust_ua.svg");
    unlink(rs);
    free(rs);
    cr_assert_eq(report_write(handmade, &err), 0, "%s", err.msg);
    html = check_page(out, ids);
    cr_expect_not_null(strstr(html, "UA against SNR"));
    cr_expect_not_null(strstr(html, "m&lt;1&gt;: white"));
    free(html);
    free(m);
    free(out);
}

Test(report, bad_inputs_are_clear_errors, .init = make_handmade) {
    SercErr err;
    cr_expect_eq(report_write("/nonexistent/run", &err), -1);
    cr_expect_not_null(strstr(err.msg, "/nonexistent/run"), "%s", err.msg);
    char *m = path2(handmade, "metrics.jsonl");
    /* malformed lines: file and line named */
    static const struct {
        const char *text, *want;
    } CASES[] = {
        {"{\"event\": \"step\", \"step\": 1}\n{\"event\": \"step\", \"step\": \n{\"event\": \"epoch\"}\n", "metrics.jsonl:2:"},
        {"{\"event\": \"step\", \"step\": 1}\n[1, 2]\n", "metrics.jsonl:2: not a JSON object"},
        {"\n\n{\"step\": 1}\n", "metrics.jsonl:3: no string member \"event\""},
        {"{\"event\": \"step\", \"step\": 1,}\n", "metrics.jsonl:1:"},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        test_put_file(handmade, "metrics.jsonl", CASES[i].text);
        cr_expect_eq(report_write(handmade, &err), -1, "case %zu accepted", i);
        cr_expect_not_null(strstr(err.msg, CASES[i].want), "case %zu: %s", i, err.msg);
        cr_expect_not_null(strstr(err.msg, handmade), "case %zu: %s", i, err.msg);
    }
    /* no metrics.jsonl: not a run directory */
    unlink(m);
    cr_expect_eq(report_write(handmade, &err), -1);
    cr_expect_not_null(strstr(err.msg, "no metrics.jsonl"), "%s", err.msg);
    const char *runs[] = {handmade};
    CompareOptions co = {1, "/tmp/unused-compare.html", NULL, NULL};
    cr_expect_eq(report_compare(runs, 1, &co, &err), -1);
    cr_expect_not_null(strstr(err.msg, "no metrics.jsonl"), "%s", err.msg);
    /* the command: usage errors exit 2, input errors 1 */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s report >/dev/null 2>&1", SERC_BINARY);
    cr_expect_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s report %s >/dev/null 2>&1", SERC_BINARY, handmade);
    cr_expect_eq(WEXITSTATUS(system(cmd)), 1);
    snprintf(cmd, sizeof cmd, "%s report --markdown x.md %s >/dev/null 2>&1", SERC_BINARY, handmade);
    cr_expect_eq(WEXITSTATUS(system(cmd)), 2);
    free(m);
}

/* ---- a trained run: per-class values against eval_checkpoint, the fallback, compare ---- */

static char corpus[] = "/tmp/serc-report-XXXXXX";

static void render(void) { test_render_small_corpus(corpus); }

static void train_one(const char *out, const char *seed) {
    const char *const extra[] = {seed, NULL};
    TrainConfig cfg;
    test_small_train_config(&cfg, corpus, out, extra);
    FILE *null = fopen("/dev/null", "w");
    TrainOptions opt = {NULL, 0, 1, null};
    TrainResult res;
    SercErr err;
    cr_assert_eq(train_run(&cfg, &opt, &res, &err), 0, "%s", err.msg);
    train_result_free(&res);
    config_free(&cfg);
    fclose(null);
}

/* "| `a`, `b` | ... " row of the Markdown table that starts with `first`: the numbers of its cells 3..5. */
static void md_row_stats(const char *md, const char *first, double mean[3], double sd[3]) {
    const char *row = strstr(md, first);
    cr_assert_not_null(row, "no row %s in\n%s", first, md);
    const char *cell = row;
    for (int k = 0; k < 2; k++) cell = strstr(cell + 1, " | ");
    for (int k = 0; k < 3; k++) {
        cr_assert_not_null(cell);
        /* strtod, not sscanf: a "±" in a scanf format depends on the locale */
        char *e1 = NULL, *e2 = NULL;
        mean[k] = strtod(cell + 3, &e1);
        cr_assert(e1 != cell + 3 && !strncmp(e1, " ± ", strlen(" ± ")), "cell %d: [%.40s]", k, cell);
        sd[k] = strtod(e1 + strlen(" ± "), &e2);
        cr_assert(e2 != e1 + strlen(" ± "), "cell %d: [%.40s]", k, cell);
        cell = strstr(cell + 1, " | ");
    }
}

Test(report, trained_run_report_and_compare, .init = render, .timeout = 0) {
    char *run_a = path2(corpus, "run-a"), *run_b = path2(corpus, "run-b");
    train_one(run_a, "run.seed=1");
    train_one(run_b, "run.seed=2");
    SercErr err;
    cr_assert_eq(report_write(run_a, &err), 0, "%s", err.msg);
    char *page = path2(run_a, "report.html");
    static const char *const ids[] = {"summary", "curves", "confusion", "per-class", "config", NULL};
    char *html = check_page(page, ids);
    cr_expect_null(strstr(html, "<section id=\"mea\">"), "no MEA in this run");
    cr_expect_null(strstr(html, "<section id=\"robustness\">"));
    cr_expect_null(strstr(html, "<section id=\"notes\">"), "unexpected warnings");
    cr_expect_not_null(strstr(html, "Loss terms"));
    cr_expect_not_null(strstr(html, "train/loss_focal"));
    cr_expect_not_null(strstr(html, "dev/ua"));

    /* the per-class table equals an independent evaluation of the best checkpoint */
    char *ckpt = path2(run_a, "best.safetensors"), *test = path2(corpus, "test.jsonl");
    EvalResult er;
    char **names = NULL;
    cr_assert_eq(eval_checkpoint(ckpt, test, 0, &er, &names, &err), 0, "%s", err.msg);
    expect_per_class_rows(html, &er.cm, names);
    free(html);

    /* without confusion_test.svg the report evaluates best.safetensors on data.test: the same table */
    char *run_c = path2(corpus, "run-c");
    cr_assert_eq(mkdir(run_c, 0755), 0);
    const char *files[] = {"config.toml", "metrics.jsonl", "best.safetensors", NULL};
    for (int i = 0; files[i]; i++) {
        char *from = path2(run_a, files[i]), *to = path2(run_c, files[i]);
        copy_file(from, to);
        free(from);
        free(to);
    }
    ReportOptions ro = {NULL, 0, NULL};
    cr_assert_eq(report_write_opts(run_c, &ro, &err), 0, "%s", err.msg);
    char *page_c = path2(run_c, "report.html");
    html = check_page(page_c, ids);
    cr_expect_not_null(strstr(html, "best.safetensors evaluated on"));
    expect_per_class_rows(html, &er.cm, names);
    free(html);
    /* report_write (the trainer's call) never evaluates: the section says why it is missing */
    cr_assert_eq(report_write(run_c, &err), 0, "%s", err.msg);
    html = check_page(page_c, ids);
    cr_expect_not_null(strstr(html, "Not available"));
    free(html);
    for (int i = 0; names[i]; i++) free(names[i]);
    free(names);
    eval_result_free(&er);

    /* compare: a and b differ only in run.seed and run.out; d in loss.focal too */
    char *run_d = path2(corpus, "run-d");
    cr_assert_eq(mkdir(run_d, 0755), 0);
    char *from = path2(run_a, "metrics.jsonl"), *to = path2(run_d, "metrics.jsonl");
    copy_file(from, to);
    free(from);
    free(to);
    from = path2(run_a, "config.toml");
    char *cfg_text = test_read_file(from, NULL), *focal = strstr(cfg_text, "\nfocal = 0.5\n");
    cr_assert_not_null(focal, "config.toml writes focal = 0.5");
    focal[strlen("\nfocal = 0.")] = '7';
    test_put_file(run_d, "config.toml", cfg_text);
    free(cfg_text);
    free(from);
    char *cmp_html = path2(corpus, "compare.html"), *cmp_md = path2(corpus, "compare.md");
    const char *runs[] = {run_a, run_b, run_d};
    CompareOptions co = {1, cmp_html, cmp_md, NULL};
    cr_assert_eq(report_compare(runs, 3, &co, &err), 0, "%s", err.msg);
    static const char *const cids[] = {"compare", "runs", "curves", NULL};
    free(check_page(cmp_html, cids));
    char *md = test_read_file(cmp_md, NULL);
    static const char *const keys[3] = {"wa", "ua", "macro_f1"};
    double mean[3], sd[3];
    md_row_stats(md, "| `run-a`, `run-b` | 1, 2 |", mean, sd);
    for (int k = 0; k < 3; k++) {
        double a = test_metric(run_a, keys[k]), b = test_metric(run_b, keys[k]);
        double m = 0.5 * (a + b), s = fabs(a - b) / 2; /* population std of two values */
        cr_expect(fabs(mean[k] - m) < 6e-5, "%s mean %.4f, expected %.6f", keys[k], mean[k], m);
        cr_expect(fabs(sd[k] - s) < 6e-5, "%s std %.4f, expected %.6f", keys[k], sd[k], s);
    }
    const char *row_d = strstr(md, "| `run-d` | 1 |");
    cr_expect_not_null(row_d, "run-d is a row of its own:\n%s", md);
    cr_expect(row_d && strstr(row_d, "loss.focal=0.7"), "the row names the key that differs:\n%s", md);
    cr_expect_not_null(strstr(md, "| runs | seeds | test WA | test UA | test macro-F1 |"));
    cr_expect_not_null(strstr(md, "population standard deviation"));
    free(md);
    /* without --group-by-seed every run is a row */
    co.group_by_seed = 0;
    cr_assert_eq(report_compare(runs, 3, &co, &err), 0, "%s", err.msg);
    md = test_read_file(cmp_md, NULL);
    cr_expect_not_null(strstr(md, "| `run-a` | 1 |"));
    cr_expect_not_null(strstr(md, "| `run-b` | 2 |"));
    free(md);
    free(cmp_html);
    free(cmp_md);
    free(run_d);
    free(page_c);
    free(run_c);
    free(ckpt);
    free(test);
    free(page);
    free(run_a);
    free(run_b);
}

/* ---- the page in a real browser ---- */

Test(report, renders_in_headless_chromium, .init = make_handmade, .timeout = 120) {
    if (system("command -v chromium >/dev/null 2>&1") != 0) {
        cr_skip("chromium is not installed (Debian package chromium)");
        return;
    }
    SercErr err;
    cr_assert_eq(report_write(handmade, &err), 0, "%s", err.msg);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "chromium --headless --disable-gpu --no-sandbox --screenshot=%s/shot.png --window-size=1200,2000 "
             "file://%s/report.html >/dev/null 2>&1",
             handmade, handmade);
    int rc = system(cmd);
    cr_expect_eq(WEXITSTATUS(rc), 0, "chromium exited %d", WEXITSTATUS(rc));
    char *png = path2(handmade, "shot.png");
    struct stat sb;
    cr_assert_eq(stat(png, &sb), 0, "no screenshot");
    cr_expect_gt(sb.st_size, 20000, "screenshot of %lld bytes", (long long)sb.st_size);
    size_t n;
    char *data = test_read_file(png, &n);
    cr_expect(n > 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8), "not a PNG");
    free(data);
    free(png);
    /* the DOM the browser built from the file holds every section (parsed, not just served) */
    snprintf(cmd, sizeof cmd,
             "chromium --headless --disable-gpu --no-sandbox --dump-dom file://%s/report.html > %s/dom.html 2>/dev/null",
             handmade, handmade);
    rc = system(cmd);
    cr_expect_eq(WEXITSTATUS(rc), 0, "chromium --dump-dom exited %d", WEXITSTATUS(rc));
    char *dom_path = path2(handmade, "dom.html");
    char *dom = test_read_file(dom_path, &n);
    static const char *const sections[] = {"config", "curves", "confusion", "per-class"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "<section id=\"%s\">", sections[i]);
        cr_expect_not_null(strstr(dom, want), "the browser's DOM lacks %s", want);
    }
    cr_expect_not_null(strstr(dom, "<svg"), "no inline SVG in the browser's DOM");
    free(dom);
    free(dom_path);
}
