/* The readers behind serc report (report_internal.h): metrics.jsonl as curves and records, config.toml
 * as key/value text, the trainer's confusion_test.svg as a matrix, and the page frame. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report_internal.h"
#include "svgplot.h"

/* ---- small helpers ---- */


char *report_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = serc_malloc(a + b + 2);
    memcpy(p, dir, a);
    size_t k = a;
    if (k == 0 || p[k - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

const char *report_basename(const char *dir, char *buf, size_t n) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/') start--;
    size_t k = len - start;
    if (k == 0) {
        snprintf(buf, n, "%s", dir);
        return buf;
    }
    if (k >= n) k = n - 1;
    memcpy(buf, dir + start, k);
    buf[k] = '\0';
    return buf;
}

void runlog_warn(RunLog *log, const char *fmt, ...) {
    char msg[SERC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log->warnings = serc_realloc(log->warnings, sizeof(char *) * (size_t)(log->n_warnings + 1));
    log->warnings[log->n_warnings++] = serc_strdup(msg);
}

/* ---- metrics.jsonl ---- */

static ReportSeries *series_get(RunLog *log, const char *name) {
    for (int i = 0; i < log->n_series; i++)
        if (!strcmp(log->series[i].name, name)) return &log->series[i];
    if (log->n_series == log->cap_series) {
        log->cap_series = log->cap_series ? 2 * log->cap_series : 16;
        log->series = serc_realloc(log->series, sizeof(ReportSeries) * (size_t)log->cap_series);
    }
    ReportSeries *s = &log->series[log->n_series++];
    memset(s, 0, sizeof *s);
    s->name = serc_strdup(name);
    return s;
}

static void series_add(RunLog *log, const char *name, double x, double y) {
    if (!isfinite(x)) return;
    ReportSeries *s = series_get(log, name);
    while (s->n > 0 && s->x[s->n - 1] >= x) s->n--; /* a resumed run repeats: keep the newer values */
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->x = serc_realloc(s->x, sizeof(double) * (size_t)s->cap);
        s->y = serc_realloc(s->y, sizeof(double) * (size_t)s->cap);
    }
    s->x[s->n] = x;
    s->y[s->n++] = y;
}

const ReportSeries *runlog_series(const RunLog *log, const char *name) {
    for (int i = 0; i < log->n_series; i++)
        if (!strcmp(log->series[i].name, name)) return &log->series[i];
    return NULL;
}

/* Copies line[0..n) with bare nan / inf tokens (outside strings) replaced by null: glibc's printf
 * writes "nan", "-nan", "inf", "-inf" for non-finite doubles, which JSON cannot hold. */
static char *replace_nonfinite(const char *line, size_t n, size_t *out_n) {
    static const char *const TOKENS[] = {"-infinity", "infinity", "-nan", "nan", "-inf", "inf"};
    char *out = serc_malloc(n + 1);
    size_t k = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = line[i];
        if (in_str) {
            out[k++] = ch;
            if (ch == '\\' && i + 1 < n) out[k++] = line[++i];
            else if (ch == '"') in_str = 0;
            continue;
        }
        if (ch == '"') {
            in_str = 1;
            out[k++] = ch;
            continue;
        }
        int replaced = 0;
        if (ch == '-' || ch == 'n' || ch == 'N' || ch == 'i' || ch == 'I') {
            for (size_t t = 0; t < sizeof TOKENS / sizeof TOKENS[0] && !replaced; t++) {
                size_t len = strlen(TOKENS[t]);
                if (i + len > n || strncasecmp(line + i, TOKENS[t], len) != 0) continue;
                char next = i + len < n ? line[i + len] : ' ';
                if (isalnum((unsigned char)next) || next == '_') continue;
                /* "null" is as long as "-nan"; a shorter token grows the line by at most 1 */
                if (k + 4 > n + 1) out = serc_realloc(out, k + 4 + (n - i) + 1);
                memcpy(out + k, "null", 4);
                k += 4;
                i += len - 1;
                replaced = 1;
            }
        }
        if (!replaced) {
            if (k + 1 > n) out = serc_realloc(out, k + 1 + (n - i) + 1);
            out[k++] = ch;
        }
    }
    out[k] = '\0';
    *out_n = k;
    return out;
}

static double num_or_nan(const JsonValue *obj, const char *key) {
    const JsonValue *v = json_get(obj, key);
    return v && json_type(v) == JSON_NUMBER ? json_number(v) : NAN;
}

static void read_eval(const JsonValue *o, ReportEval *e) {
    memset(e, 0, sizeof *e);
    e->present = 1;
    double ep = num_or_nan(o, "epoch"), utt = num_or_nan(o, "utterances");
    e->epoch = isfinite(ep) ? (int)ep : 0;
    e->utterances = isfinite(utt) ? (int64_t)utt : -1;
    e->wa = num_or_nan(o, "wa");
    e->ua = num_or_nan(o, "ua");
    e->macro_f1 = num_or_nan(o, "macro_f1");
    e->loss = num_or_nan(o, "loss");
    const JsonValue *c = json_get(o, "ccc");
    if (c && json_type(c) == JSON_ARRAY && json_len(c) == 3) {
        e->has_ccc = 1;
        for (int d = 0; d < 3; d++) {
            const JsonValue *v = json_at(c, (size_t)d);
            e->ccc[d] = json_type(v) == JSON_NUMBER ? json_number(v) : NAN;
        }
    }
}

static const char *const CCC_DIMS[3] = {"arousal", "valence", "dominance"};

static void read_record(RunLog *log, const JsonValue *o, const char *event) {
    char name[160];
    const double epoch = num_or_nan(o, "epoch"), step = num_or_nan(o, "step");
    if (isfinite(step) && step > (double)log->max_step) log->max_step = (int64_t)step;
    if (!strcmp(event, "step")) {
        for (size_t i = 0; i < json_len(o); i++) {
            const char *k = json_key_at(o, i);
            const JsonValue *v = json_value_at(o, i);
            if (!strcmp(k, "event") || !strcmp(k, "epoch") || !strcmp(k, "step")) continue;
            if (json_type(v) != JSON_NUMBER && json_type(v) != JSON_NULL) continue;
            snprintf(name, sizeof name, "train/%s", k);
            series_add(log, name, step, json_type(v) == JSON_NUMBER ? json_number(v) : NAN);
        }
    } else if (!strcmp(event, "epoch")) {
        series_add(log, "train/epoch_loss", epoch, num_or_nan(o, "loss"));
        if (isfinite(epoch) && epoch >= 1 && epoch < 1e6) {
            int e = (int)epoch;
            if (e > log->max_epoch) {
                log->epoch_seconds = serc_realloc(log->epoch_seconds, sizeof(double) * (size_t)(e + 1));
                for (int j = log->max_epoch + 1; j <= e; j++) log->epoch_seconds[j] = NAN;
                log->max_epoch = e;
            }
            log->epoch_seconds[e] = num_or_nan(o, "seconds");
        }
    } else if (!strcmp(event, "eval")) {
        const JsonValue *sp = json_get(o, "split");
        const char *split = sp && json_type(sp) == JSON_STRING ? json_string(sp) : "dev";
        for (size_t i = 0; i < json_len(o); i++) {
            const char *k = json_key_at(o, i);
            const JsonValue *v = json_value_at(o, i);
            if (!strcmp(k, "epoch") || !strcmp(k, "step") || !strcmp(k, "utterances") || !strcmp(k, "bad_skipped"))
                continue;
            if (json_type(v) == JSON_NUMBER || json_type(v) == JSON_NULL) {
                snprintf(name, sizeof name, "%s/%s", split, k);
                series_add(log, name, epoch, json_type(v) == JSON_NUMBER ? json_number(v) : NAN);
            } else if (!strcmp(k, "ccc") && json_type(v) == JSON_ARRAY && json_len(v) == 3) {
                for (int d = 0; d < 3; d++) {
                    const JsonValue *c = json_at(v, (size_t)d);
                    snprintf(name, sizeof name, "%s/ccc_%s", split, CCC_DIMS[d]);
                    series_add(log, name, epoch, json_type(c) == JSON_NUMBER ? json_number(c) : NAN);
                }
            }
        }
    } else if (!strcmp(event, "test")) {
        read_eval(o, &log->test);
    } else if (!strcmp(event, "eval_mea")) {
        read_eval(o, &log->eval_mea);
    } else if (!strcmp(event, "mea")) {
        for (int i = 0; i < log->n_mea; i++) free(log->mea_keys[i]), free(log->mea_vals[i]);
        log->has_mea = 1;
        log->n_mea = 0;
        for (size_t i = 0; i < json_len(o); i++) {
            const char *k = json_key_at(o, i);
            const JsonValue *v = json_value_at(o, i);
            if (!strcmp(k, "event")) continue;
            char val[64];
            if (json_type(v) == JSON_NUMBER) snprintf(val, sizeof val, "%.6g", json_number(v));
            else if (json_type(v) == JSON_STRING) snprintf(val, sizeof val, "%s", json_string(v));
            else if (json_type(v) == JSON_BOOL) snprintf(val, sizeof val, "%s", json_bool(v) ? "true" : "false");
            else snprintf(val, sizeof val, "(%s)", json_type_name(json_type(v)));
            log->mea_keys = serc_realloc(log->mea_keys, sizeof(char *) * (size_t)(log->n_mea + 1));
            log->mea_vals = serc_realloc(log->mea_vals, sizeof(char *) * (size_t)(log->n_mea + 1));
            log->mea_keys[log->n_mea] = serc_strdup(k);
            log->mea_vals[log->n_mea++] = serc_strdup(val);
        }
    }
}

int runlog_read(const char *path, RunLog *log, SercErr *err) {
    memset(log, 0, sizeof *log);
    size_t len = 0;
    char *buf = file_read_all(path, &len, err);
    if (!buf) return -1;
    int line_no = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = pos;
        while (end < len && buf[end] != '\n') end++;
        const int terminated = end < len;
        line_no++;
        size_t a = pos, b = end;
        pos = end + 1;
        while (a < b && isspace((unsigned char)buf[a])) a++;
        while (b > a && isspace((unsigned char)buf[b - 1])) b--;
        if (a == b) continue;
        size_t n = 0;
        char *line = replace_nonfinite(buf + a, b - a, &n);
        SercErr perr;
        JsonValue *v = json_parse(line, n, &perr);
        free(line);
        const char *problem = NULL;
        if (!v) problem = perr.msg;
        else if (json_type(v) != JSON_OBJECT) problem = "not a JSON object";
        else if (!json_get(v, "event") || json_type(json_get(v, "event")) != JSON_STRING)
            problem = "no string member \"event\"";
        if (problem) {
            if (!terminated) {
                runlog_warn(log, "%s:%d: unterminated last line skipped (a run still writing or killed mid-write): %s",
                            path, line_no, problem);
                json_free(v);
                break;
            }
            serc_fail(err, "%s:%d: %s", path, line_no, problem);
            json_free(v);
            free(buf);
            runlog_free(log);
            return -1;
        }
        log->records++;
        read_record(log, v, json_string(json_get(v, "event")));
        json_free(v);
    }
    free(buf);
    return 0;
}

void runlog_free(RunLog *log) {
    for (int i = 0; i < log->n_series; i++) {
        free(log->series[i].name);
        free(log->series[i].x);
        free(log->series[i].y);
    }
    free(log->series);
    for (int i = 0; i < log->n_mea; i++) free(log->mea_keys[i]), free(log->mea_vals[i]);
    free(log->mea_keys);
    free(log->mea_vals);
    free(log->epoch_seconds);
    for (int i = 0; i < log->n_warnings; i++) free(log->warnings[i]);
    free(log->warnings);
    memset(log, 0, sizeof *log);
}

double runlog_train_seconds(const RunLog *log) {
    double sum = 0;
    int any = 0;
    for (int e = 1; e <= log->max_epoch; e++)
        if (isfinite(log->epoch_seconds[e])) sum += log->epoch_seconds[e], any = 1;
    return any ? sum : NAN;
}

/* ---- config.toml ---- */

int config_text_read(const char *path, ConfigText *c, SercErr *err) {
    memset(c, 0, sizeof *c);
    size_t len = 0;
    char *buf = file_read_all(path, &len, err);
    if (!buf) return -1;
    char section[128] = "";
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        char *s = line;
        line = nl ? nl + 1 : NULL;
        while (isspace((unsigned char)*s)) s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
        if (n == 0 || s[0] == '#') continue;
        if (s[0] == '[' && s[n - 1] == ']') {
            snprintf(section, sizeof section, "%.*s", (int)(n - 2), s + 1);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) continue;
        char *k_end = eq;
        while (k_end > s && isspace((unsigned char)k_end[-1])) k_end--;
        char *v = eq + 1;
        while (isspace((unsigned char)*v)) v++;
        char key[300];
        snprintf(key, sizeof key, "%s%s%.*s", section, section[0] ? "." : "", (int)(k_end - s), s);
        c->keys = serc_realloc(c->keys, sizeof(char *) * (size_t)(c->n + 1));
        c->vals = serc_realloc(c->vals, sizeof(char *) * (size_t)(c->n + 1));
        c->keys[c->n] = serc_strdup(key);
        c->vals[c->n++] = serc_strdup(v);
    }
    free(buf);
    return 0;
}

void config_text_free(ConfigText *c) {
    for (int i = 0; i < c->n; i++) free(c->keys[i]), free(c->vals[i]);
    free(c->keys);
    free(c->vals);
    memset(c, 0, sizeof *c);
}

const char *config_text_get(const ConfigText *c, const char *key) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->keys[i], key)) return c->vals[i];
    return NULL;
}

/* ---- the trainer's confusion SVG ---- */

static char *xml_unescape(const char *s, size_t n) {
    char *out = serc_malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        static const struct {
            const char *ent;
            char ch;
        } E[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&apos;", '\''}};
        int done = 0;
        if (s[i] == '&')
            for (size_t e = 0; e < sizeof E / sizeof E[0] && !done; e++) {
                size_t el = strlen(E[e].ent);
                if (i + el <= n && !memcmp(s + i, E[e].ent, el)) out[k++] = E[e].ch, i += el - 1, done = 1;
            }
        if (!done) out[k++] = s[i];
    }
    out[k] = '\0';
    return out;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int report_parse_confusion_svg(const char *text, size_t len, Confusion *cm, char ***names_out, SercErr *err) {
    char **rows = NULL, **cols = NULL;
    int64_t *counts = NULL;
    int n_rows = 0, n_cols = 0, n_counts = 0, rc = -1;
    const char *end = text + len;
    if (!memmem(text, len, "<svg", 4)) {
        serc_fail(err, "not an SVG file");
        goto out;
    }
#define HAS_ATTR(lit) (memmem(attrs, alen, (lit), sizeof(lit) - 1) != NULL)
    for (const char *p = text; (p = memmem(p, (size_t)(end - p), "<text", 5)) != NULL;) {
        const char *gt = memchr(p, '>', (size_t)(end - p));
        if (!gt) break;
        const char *close = memmem(gt, (size_t)(end - gt), "</text>", 7);
        if (!close) {
            serc_fail(err, "unterminated <text> element");
            goto out;
        }
        const char *attrs = p;
        const size_t alen = (size_t)(gt - attrs);
        char *content = xml_unescape(gt + 1, (size_t)(close - gt - 1));
        p = close + 7;
        if (HAS_ATTR("rotate(-45")) {
            cols = serc_realloc(cols, sizeof(char *) * (size_t)(n_cols + 1));
            cols[n_cols++] = content;
        } else if (HAS_ATTR("text-anchor=\"end\"")) {
            rows = serc_realloc(rows, sizeof(char *) * (size_t)(n_rows + 1));
            rows[n_rows++] = content;
        } else if (HAS_ATTR("text-anchor=\"middle\" fill=")) {
            char *e = NULL;
            errno = 0;
            long long v = strtoll(content, &e, 10);
            int ok = e != content && *e == '\0' && errno == 0 && v >= 0;
            free(content);
            if (!ok) {
                serc_fail(err, "cell %d: count is not a non-negative integer", n_counts + 1);
                goto out;
            }
            counts = serc_realloc(counts, sizeof(int64_t) * (size_t)(n_counts + 1));
            counts[n_counts++] = (int64_t)v;
        } else {
            free(content);
        }
    }
#undef HAS_ATTR
    if (n_rows < 1 || n_rows != n_cols || (int64_t)n_counts != (int64_t)n_rows * n_rows) {
        serc_fail(err, "not a confusion matrix written by serc (%d row names, %d column names, %d cells)", n_rows,
                  n_cols, n_counts);
        goto out;
    }
    for (int c = 0; c < n_rows; c++)
        if (strcmp(rows[c], cols[c]) != 0) {
            serc_fail(err, "class %d is '%s' as a row and '%s' as a column", c, rows[c], cols[c]);
            goto out;
        }
    confusion_init(cm, n_rows);
    memcpy(cm->counts, counts, sizeof(int64_t) * (size_t)n_counts);
    *names_out = serc_realloc(rows, sizeof(char *) * (size_t)(n_rows + 1));
    (*names_out)[n_rows] = NULL;
    rows = NULL;
    n_rows = 0;
    rc = 0;
out:
    free_names(rows, n_rows);
    free_names(cols, n_cols);
    free(counts);
    return rc;
}

/* ---- the page frame ---- */

static const char STYLE[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1180px;"
    "color:#222;padding:0 16px}\n"
    "h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;border-bottom:1px solid #ccc;padding-bottom:4px;"
    "margin-top:32px}\n"
    "table{border-collapse:collapse;margin:8px 0 16px 0;font-size:13px}\n"
    "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f3f3f3}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "td.cell{text-align:center;min-width:48px}\n"
    ".plots{display:flex;flex-wrap:wrap;gap:12px}.plots svg{border:1px solid #eee}\n"
    ".note{color:#666;font-size:13px}.warn{color:#a40000}\n"
    "code{background:#f5f5f5;padding:0 3px}nav a{margin-right:12px}\n";

void html_begin(JsonBuf *b, const char *title) {
    APPEND_LIT(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    html_escape(b, title);
    APPEND_LIT(b, "</title>\n<style>\n");
    APPEND_LIT(b, STYLE);
    APPEND_LIT(b, "</style>\n</head>\n<body>\n");
}

void html_end(JsonBuf *b) { APPEND_LIT(b, "</body>\n</html>\n"); }

void html_num(JsonBuf *b, double v, int decimals) {
    if (isfinite(v)) jsonbuf_appendf(b, "%.*f", decimals, v);
    else APPEND_LIT(b, "–");
}

void format_duration(double s, char *buf, size_t n) {
    if (!isfinite(s) || s < 0) snprintf(buf, n, "–");
    else if (s < 60) snprintf(buf, n, "%.1f s", s);
    else if (s < 3600) snprintf(buf, n, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
}
