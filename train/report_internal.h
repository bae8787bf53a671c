/* What train/report.c (one run) and train/report_compare.c (several runs) share: the metrics.jsonl
 * reader, the config.toml key/value reader and the page frame. Internal to those two files. */
#ifndef SERC_REPORT_INTERNAL_H
#define SERC_REPORT_INTERNAL_H

#include <stdio.h>

#include "fileio.h"
#include "json.h"
#include "report.h"

#define APPEND_LIT(b, lit) jsonbuf_append((b), (lit), sizeof(lit) - 1)

/* One curve: x (optimizer step or epoch) increasing; a record whose x is not beyond the last point
 * (a resumed run repeating steps) replaces the points from that x on, as TensorBoard keeps the newer. */
typedef struct ReportSeries {
    char *name; /* "train/loss", "train/loss_ce", "dev/ua", ... */
    double *x, *y;
    int n, cap;
} ReportSeries;

/* Everything read from metrics.jsonl. */
typedef struct RunLog {
    ReportSeries *series;
    int n_series, cap_series;
    ReportEval test, eval_mea;
    int has_mea;
    char **mea_keys, **mea_vals; /* the "mea" record's members, values as written */
    int n_mea;
    double *epoch_seconds; /* [epoch] (index 0 unused), NaN where absent */
    int max_epoch;
    int64_t max_step;
    int records;
    char **warnings;
    int n_warnings;
} RunLog;

/* Reads path (metrics.jsonl). Errors: unreadable file, malformed line (not the unterminated last). */
int runlog_read(const char *path, RunLog *log, SercErr *err);
void runlog_free(RunLog *log);
const ReportSeries *runlog_series(const RunLog *log, const char *name);
/* Sum of the epochs' seconds (NaN when no epoch record has them). */
double runlog_train_seconds(const RunLog *log);
void runlog_warn(RunLog *log, const char *fmt, ...) SERC_PRINTF(2, 3);

/* config.toml as written: (section.key, value text) pairs in file order, comments dropped. */
typedef struct ConfigText {
    char **keys, **vals;
    int n;
} ConfigText;

/* 0; -1 with err when the file cannot be read (a file is read as well as it parses: lines that are not
 * "[section]" or "key = value" are ignored). */
int config_text_read(const char *path, ConfigText *c, SercErr *err);
void config_text_free(ConfigText *c);
const char *config_text_get(const ConfigText *c, const char *key);

char *report_path(const char *dir, const char *name);
const char *report_basename(const char *dir, char *buf, size_t n);

/* <!DOCTYPE html> ... <body> with the shared style sheet, and the closing tags. */
void html_begin(JsonBuf *b, const char *title);
void html_end(JsonBuf *b);
/* A number with `decimals` decimals, or "–" when not finite. */
void html_num(JsonBuf *b, double v, int decimals);
/* "1 h 02 min", "12 min 30 s", "45.2 s"; "–" when not finite. */
void format_duration(double s, char *buf, size_t n);

#endif
