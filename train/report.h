/* serc report: a run directory as one self-contained HTML page, and several runs side by side.
 *
 * report_write reads RUN/config.toml, RUN/metrics.jsonl, the test confusion matrix and, when present,
 * the robustness, fairness and saliency files, and writes RUN/report.html: inline SVG and CSS, no
 * script, no reference outside the file (docs/reports.md lists every section and the files read).
 *
 * The test confusion matrix is recovered, in order, from
 *   1. RUN/confusion_test.svg, which the trainer writes from the very EvalResult it logs as the "test"
 *      record: exact counts and class names, no audio needed, instant; the parser is pinned to
 *      confusion_svg's layout by a round-trip test, and its WA is checked against the logged test WA;
 *   2. evaluating RUN/best.safetensors on the configuration's data.test manifest with eval_checkpoint
 *      (when the SVG is missing or unreadable and both files exist);
 *   3. otherwise the section says why it is missing.
 *
 * metrics.jsonl: every line must be a JSON object with a string "event" (unknown events are ignored).
 * A malformed line is an error "RUN/metrics.jsonl:LINE: ...", except an unterminated last line (a run
 * still writing or killed mid-write), which is skipped with a warning. Bare nan / inf tokens, which
 * the trainer's printf can write for a diverged loss, read as missing values. */
#ifndef SERC_REPORT_H
#define SERC_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "metrics.h"

/* Writes RUN/report.html (atomically). The call the trainer makes at the end of a run: it never
 * evaluates a checkpoint when RUN/confusion_test.svg is there, and prints nothing. 0, or -1 with err
 * (missing directory, missing or malformed metrics.jsonl, write failure). */
int report_write(const char *run_dir, SercErr *err);

typedef struct ReportOptions {
    const char *out; /* output file; NULL: RUN/report.html */
    int no_eval;     /* 1: never evaluate best.safetensors for the confusion matrix */
    FILE *log;       /* warnings, one line each; NULL: none (they are in the page too) */
} ReportOptions;

int report_write_opts(const char *run_dir, const ReportOptions *o, SercErr *err);

/* One evaluation record of metrics.jsonl ("test", "eval", "eval_mea"). Missing numbers are NaN. */
typedef struct ReportEval {
    int present, epoch;
    double wa, ua, macro_f1, loss;
    int has_ccc;
    double ccc[3]; /* arousal, valence, dominance */
    int64_t utterances;
} ReportEval;

/* What compare mode reads from a run directory. */
typedef struct RunSummary {
    char *dir, *name;       /* as given; its last path component */
    ReportEval test;        /* the last "test" record */
    int epochs;             /* highest epoch with an "epoch" record */
    int64_t steps;          /* highest optimizer step logged */
    double train_seconds;   /* sum over epochs of the last "epoch" record's seconds (NaN: none) */
    int has_config;
    int seed;               /* run.seed from config.toml (-1: unknown) */
} RunSummary;

/* Reads RUN/metrics.jsonl and RUN/config.toml (warnings to log, may be NULL). */
int report_read_summary(const char *run_dir, RunSummary *s, FILE *log, SercErr *err);
void report_summary_free(RunSummary *s);

typedef struct CompareOptions {
    int group_by_seed;     /* group runs whose config.toml differs only in run.seed and run.out */
    const char *html;      /* compare.html path; NULL: "compare.html" */
    const char *markdown;  /* also write the Markdown table here; NULL: no */
    FILE *log;             /* warnings; NULL: none */
} CompareOptions;

/* Writes the comparison of runs[0..n) (each a run directory). Groups: runs in order of first
 * appearance; with group_by_seed, runs whose config.toml key/value pairs are equal except run.seed
 * and run.out share a group, shown as mean +- population standard deviation (as serc cv). */
int report_compare(const char *const *runs, int n_runs, const CompareOptions *o, SercErr *err);

/* Recovers the matrix and class names from an SVG written by confusion_svg (metrics.h). names is a
 * NULL-terminated array (free each and the array). -1 with err when text is not such a file. */
int report_parse_confusion_svg(const char *text, size_t len, Confusion *cm, char ***names, SercErr *err);

#endif
