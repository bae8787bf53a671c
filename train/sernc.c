/* SERNC submissions and scoring; rules in sernc.h and docs/sernc.md. */
#include "sernc.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fileio.h"
#include "import.h"

const char SERNC_LETTERS[SERNC_N_CLASSES + 1] = "ASHUFDCN";
const char *const SERNC_CLASS_NAMES[SERNC_N_CLASSES] = {"angry", "sad",     "happy",    "surprise",
                                                        "fear",  "disgust", "contempt", "neutral"};
static const char *const ATTR_COLS[3] = {"EmoAct", "EmoVal", "EmoDom"};
static const char *const ATTR_NAMES[3] = {"arousal", "valence", "dominance"};

#define MAX_FIELDS 64

/* Trims ASCII spaces and tabs around s in place. */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return s;
}

/* Splits line into trimmed fields; -1 for an unterminated quote. */
static int split_fields(char *line, char **f) {
    int n = import_csv_split(line, f, MAX_FIELDS);
    for (int i = 0; i < n; i++) f[i] = trim(f[i]);
    return n;
}

static int is_blank(const char *s) {
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return 0;
    return 1;
}

int sernc_class_index(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    for (int c = 0; c < SERNC_N_CLASSES; c++) {
        if (n == 1 && toupper((unsigned char)s[0]) == SERNC_LETTERS[c]) return c;
        if (n == strlen(SERNC_CLASS_NAMES[c]) && strncasecmp(s, SERNC_CLASS_NAMES[c], n) == 0) return c;
    }
    return -1;
}

int sernc_label_map(const char *const *names, int n, int *to_sernc, SercErr *err) {
    for (int c = 0; c < n; c++) {
        to_sernc[c] = sernc_class_index(names[c]);
        if (to_sernc[c] < 0)
            return serc_fail(err, "label '%s' (class %d) has no SERNC class: the label map's names must be the letters "
                                  "A S H U F D C N or angry, sad, happy, surprise, fear, disgust, contempt, neutral",
                             names[c], c);
    }
    return 0;
}

SerncTask sernc_task_parse(const char *s) {
    if (!strcmp(s, "categorical") || !strcmp(s, "1")) return SERNC_CATEGORICAL;
    if (!strcmp(s, "attributes") || !strcmp(s, "2")) return SERNC_ATTRIBUTES;
    return 0;
}

/* A finite number filling the whole field. */
static int parse_finite(const char *s, double *out) {
    char *end;
    if (!*s) return 0;
    *out = strtod(s, &end);
    return *end == '\0' && isfinite(*out);
}

static int col_index(char **f, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(f[i], name)) return i;
    return -1;
}

/* ---- labels_consensus.csv ---- */

int sernc_labels_read(const char *path, SerncLabels *l, SercErr *err) {
    memset(l, 0, sizeof *l);
    l->path = path;
    ImportLines t;
    if (import_read_lines(path, &t, err)) return -1;
    char *f[MAX_FIELDS];
    int rc = 0, nf = t.n ? split_fields(t.line[0], f) : 0;
    static const char *const COLS[6] = {"FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "Split_Set"};
    int col[6] = {0, 0, 0, 0, 0, 0};
    for (int k = 0; k < 6 && rc == 0; k++)
        if ((col[k] = col_index(f, nf, COLS[k])) < 0) rc = serc_fail(err, "%s:1: header has no '%s' column", path, COLS[k]);
    const int ncol = nf;
    ImportTable *index = serc_calloc(1, sizeof *index);
    l->index = index;
    l->file = serc_calloc((size_t)t.n + 1, sizeof *l->file);
    l->split = serc_calloc((size_t)t.n + 1, sizeof *l->split);
    l->cls = serc_calloc((size_t)t.n + 1, 1);
    l->avd = serc_calloc((size_t)t.n * 3 + 1, sizeof *l->avd);
    l->line = serc_calloc((size_t)t.n + 1, sizeof *l->line);
    for (int i = 1; rc == 0 && i < t.n; i++) {
        if (is_blank(t.line[i])) continue;
        nf = split_fields(t.line[i], f);
        if (nf < 0) {
            rc = serc_fail(err, "%s:%d: unterminated quote", path, i + 1);
            break;
        }
        if (nf != ncol) {
            rc = serc_fail(err, "%s:%d: %d fields, the header has %d", path, i + 1, nf, ncol);
            break;
        }
        const char *file = f[col[0]], *cls = f[col[1]];
        if (!*file) {
            rc = serc_fail(err, "%s:%d: empty FileName", path, i + 1);
            break;
        }
        if (strlen(cls) != 1 || !strchr("NHSAUFDCOX", cls[0])) {
            rc = serc_fail(err, "%s:%d: EmoClass of %s must be one of N H S A U F D C O X, got '%s'", path, i + 1, file, cls);
            break;
        }
        int r = l->n;
        for (int k = 0; k < 3 && rc == 0; k++)
            if (!parse_finite(f[col[2 + k]], &l->avd[3 * r + k]))
                rc = serc_fail(err, "%s:%d: %s of %s must be a finite number, got '%s'", path, i + 1, ATTR_COLS[k], file, f[col[2 + k]]);
        if (rc) break;
        int prev = import_table_get(index, file);
        if (prev >= 0) {
            rc = serc_fail(err, "%s:%d: FileName %s repeats line %d", path, i + 1, file, l->line[prev]);
            break;
        }
        import_table_put(index, file, r);
        l->file[r] = serc_strdup(file);
        l->split[r] = serc_strdup(f[col[5]]);
        l->cls[r] = cls[0];
        l->line[r] = i + 1;
        l->n++;
    }
    if (rc == 0 && l->n == 0) rc = serc_fail(err, "%s: no rows after the header", path);
    import_free_lines(&t);
    if (rc) sernc_labels_free(l);
    return rc;
}

void sernc_labels_free(SerncLabels *l) {
    for (int i = 0; i < l->n; i++) free(l->file[i]), free(l->split[i]);
    free(l->file);
    free(l->split);
    free(l->cls);
    free(l->avd);
    free(l->line);
    if (l->index) import_table_free(l->index);
    free(l->index);
    memset(l, 0, sizeof *l);
}

int sernc_labels_find(const SerncLabels *l, const char *file) {
    return l->index ? import_table_get(l->index, file) : -1;
}

/* ---- submissions ---- */

int sernc_submission_read(const char *path, SerncTask task, SerncSubmission *s, SercErr *err) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->task = task;
    ImportLines t;
    if (import_read_lines(path, &t, err)) return -1;
    int first = 0;
    while (first < t.n && is_blank(t.line[first])) first++;
    if (first == t.n) {
        import_free_lines(&t);
        return serc_fail(err, "%s: empty file: no header", path);
    }
    const char *want = task == SERNC_CATEGORICAL ? "FileName,EmoClass" : "FileName,EmoAct,EmoVal,EmoDom";
    const int ncol = task == SERNC_CATEGORICAL ? 2 : 4;
    static const char *const NAMES[2][4] = {{"FileName", "EmoClass", NULL, NULL}, {"FileName", "EmoAct", "EmoVal", "EmoDom"}};
    const char *const *names = NAMES[task == SERNC_CATEGORICAL ? 0 : 1];
    char header[256];
    snprintf(header, sizeof header, "%s", t.line[first]);
    char *f[MAX_FIELDS];
    int col[4] = {-1, -1, -1, -1}, rc = 0;
    int nf = split_fields(t.line[first], f);
    int header_ok = nf == ncol;
    for (int k = 0; k < ncol && header_ok; k++) {
        col[k] = col_index(f, nf, names[k]);
        header_ok = col[k] >= 0;
    }
    if (!header_ok)
        rc = serc_fail(err, "%s:%d: header must be %s (task %d), got '%s'", path, first + 1, want, (int)task, header);
    s->file = serc_calloc((size_t)t.n + 1, sizeof *s->file);
    s->line = serc_calloc((size_t)t.n + 1, sizeof *s->line);
    s->cls = serc_calloc((size_t)t.n + 1, sizeof *s->cls);
    s->avd = serc_calloc((size_t)t.n * 3 + 1, sizeof *s->avd);
    ImportTable seen = {0};
    for (int i = first + 1; rc == 0 && i < t.n; i++) {
        if (is_blank(t.line[i])) continue;
        nf = split_fields(t.line[i], f);
        if (nf < 0) {
            rc = serc_fail(err, "%s:%d: unterminated quote", path, i + 1);
            break;
        }
        if (nf != ncol) {
            rc = serc_fail(err, "%s:%d: %d fields%s%s, the header %s has %d", path, i + 1, nf, nf > col[0] ? " for " : "",
                           nf > col[0] ? f[col[0]] : "", want, ncol);
            break;
        }
        const char *file = f[col[0]];
        if (!*file) {
            rc = serc_fail(err, "%s:%d: empty FileName", path, i + 1);
            break;
        }
        int r = s->n;
        if (task == SERNC_CATEGORICAL) {
            const char *v = f[col[1]];
            const char *hit = strlen(v) == 1 ? strchr(SERNC_LETTERS, v[0]) : NULL;
            if (!hit || !*v) {
                rc = serc_fail(err, "%s:%d: EmoClass of %s must be one of the letters A S H U F D C N, got '%s'%s", path,
                               i + 1, file, v,
                               (!strcmp(v, "O") || !strcmp(v, "X")) ? " (O and X are not challenge classes)" : "");
                break;
            }
            s->cls[r] = (int)(hit - SERNC_LETTERS);
        } else {
            for (int k = 0; k < 3 && rc == 0; k++)
                if (!parse_finite(f[col[1 + k]], &s->avd[3 * r + k]))
                    rc = serc_fail(err, "%s:%d: %s of %s must be a finite number, got '%s'", path, i + 1, ATTR_COLS[k],
                                   file, f[col[1 + k]]);
            if (rc) break;
        }
        int prev = import_table_get(&seen, file);
        if (prev >= 0) {
            rc = serc_fail(err, "%s:%d: %s repeats line %d", path, i + 1, file, s->line[prev]);
            break;
        }
        import_table_put(&seen, file, r);
        s->file[r] = serc_strdup(file);
        s->line[r] = i + 1;
        s->n++;
    }
    if (rc == 0 && s->n == 0) rc = serc_fail(err, "%s: no rows after the header", path);
    import_table_free(&seen);
    import_free_lines(&t);
    if (rc) sernc_submission_free(s);
    return rc;
}

void sernc_submission_free(SerncSubmission *s) {
    for (int i = 0; i < s->n; i++) free(s->file[i]);
    free(s->file);
    free(s->line);
    free(s->cls);
    free(s->avd);
    memset(s, 0, sizeof *s);
}

/* ---- scoring ---- */

void sernc_score_categorical(Confusion *cm8, SerncScore *s) {
    SERC_ASSERT(cm8->n_classes == SERNC_N_CLASSES, "sernc_score_categorical: %d classes, not 8", cm8->n_classes);
    s->task = SERNC_CATEGORICAL;
    s->cm = *cm8;
    memset(cm8, 0, sizeof *cm8);
    confusion_per_class(&s->cm, s->precision, s->recall, s->f1, s->support);
    s->n_observed = 0;
    for (int c = 0; c < SERNC_N_CLASSES; c++) {
        s->predicted[c] = 0;
        for (int t = 0; t < SERNC_N_CLASSES; t++) s->predicted[c] += s->cm.counts[t * SERNC_N_CLASSES + c];
        s->n_observed += s->support[c] > 0 || s->predicted[c] > 0;
    }
    s->rows = confusion_total(&s->cm);
    /* sklearn's f1_score(average="macro") without labels= averages over the sorted union of the labels
     * in y_true and y_pred, as the challenge baseline calls it; with labels= all 8 it would count a class
     * seen nowhere as 0 (kept beside it as macro_f1_all8). */
    s->macro_f1 = confusion_macro_f1_observed(&s->cm);
    s->macro_f1_all8 = confusion_macro_f1(&s->cm);
}

void sernc_score_attributes(const double ccc[3], SerncScore *s) {
    s->task = SERNC_ATTRIBUTES;
    for (int k = 0; k < 3; k++) s->ccc[k] = ccc[k];
    s->ccc_mean = (ccc[0] + ccc[1] + ccc[2]) / 3.0;
}

void sernc_score_free(SerncScore *s) {
    if (s->cm.counts) confusion_free(&s->cm);
    memset(s, 0, sizeof *s);
}

/* The distinct Split_Set values of the labels, comma-separated, in first-seen order (for messages; the
 * first 32). */
static void split_list(const SerncLabels *l, char *out, size_t n) {
    const char *seen[32];
    int n_seen = 0;
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < l->n && n_seen < 32 && used + 1 < n; i++) {
        int dup = 0;
        for (int j = 0; j < n_seen && !dup; j++) dup = !strcmp(l->split[i], seen[j]);
        if (dup) continue;
        seen[n_seen++] = l->split[i];
        used += (size_t)snprintf(out + used, n - used, "%s%s", used ? ", " : "", l->split[i]);
        if (used >= n) used = n - 1;
    }
}

/* The message for a submission row whose FileName is not in the labels. */
static int unknown_file(const SerncLabels *l, const SerncSubmission *sub, int r, SercErr *err) {
    const char *file = sub->file[r];
    char with_wav[1024];
    snprintf(with_wav, sizeof with_wav, "%s.wav", file);
    const char *hint = strlen(file) + 4 < sizeof with_wav && sernc_labels_find(l, with_wav) >= 0 ? " (FileName keeps the .wav extension)" : "";
    return serc_fail(err, "%s:%d: %s is not a FileName of %s%s", sub->path, sub->line[r], file, l->path, hint);
}

int sernc_score(const SerncLabels *l, const SerncSubmission *sub, const char *split, SerncScore *s, SercErr *err) {
    memset(s, 0, sizeof *s);
    if (split) {
        int any = 0;
        for (int i = 0; i < l->n && !any; i++) any = !strcmp(l->split[i], split);
        if (!any) {
            char list[512];
            split_list(l, list, sizeof list);
            return serc_fail(err, "%s: no row has Split_Set '%s' (splits: %s)", l->path, split, list);
        }
    }
    /* every row must name a file of the labels, all in one split */
    int *row_of = serc_calloc((size_t)sub->n + 1, sizeof *row_of);
    int first = -1, rc = 0;
    for (int r = 0; r < sub->n && rc == 0; r++) {
        int i = row_of[r] = sernc_labels_find(l, sub->file[r]);
        if (i < 0) {
            rc = unknown_file(l, sub, r, err);
        } else if (split && strcmp(l->split[i], split) != 0) {
            rc = serc_fail(err, "%s:%d: %s is in split '%s' of %s, not in '%s'", sub->path, sub->line[r], sub->file[r],
                           l->split[i], l->path, split);
        } else if (!split && first >= 0 && strcmp(l->split[i], l->split[row_of[first]]) != 0) {
            rc = serc_fail(err, "%s:%d: %s is in split '%s' of %s, but line %d (%s) is in '%s': a submission covers one "
                                "split (or give --split)",
                           sub->path, sub->line[r], sub->file[r], l->split[i], l->path, sub->line[first], sub->file[first],
                           l->split[row_of[first]]);
        } else if (first < 0) {
            first = r;
        }
    }
    if (rc) {
        free(row_of);
        return -1;
    }
    const char *which = split ? split : l->split[row_of[first]];
    snprintf(s->split, sizeof s->split, "%s", which);
    /* ... and every file of that split must be there */
    ImportTable in_sub = {0};
    for (int r = 0; r < sub->n; r++) import_table_put(&in_sub, sub->file[r], r);
    int missing = 0, first_missing = -1;
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->split[i], which) != 0 || import_table_get(&in_sub, l->file[i]) >= 0) continue;
        if (!missing++) first_missing = i;
    }
    if (missing) {
        char more[64] = "";
        if (missing > 1) snprintf(more, sizeof more, " and %d more", missing - 1);
        rc = serc_fail(err, "%s: lacks %s (%s:%d, split '%s')%s: a submission lists every file of its split", sub->path,
                       l->file[first_missing], l->path, l->line[first_missing], which, more);
    }
    if (rc == 0 && sub->task == SERNC_CATEGORICAL) {
        Confusion cm;
        confusion_init(&cm, SERNC_N_CLASSES);
        for (int r = 0; r < sub->n; r++) {
            const char *hit = strchr(SERNC_LETTERS, l->cls[row_of[r]]);
            if (!hit) {
                s->excluded++; /* O or X: no challenge class */
                continue;
            }
            confusion_add(&cm, (int)(hit - SERNC_LETTERS), sub->cls[r]);
        }
        int64_t excluded = s->excluded;
        sernc_score_categorical(&cm, s);
        s->excluded = excluded;
    } else if (rc == 0) {
        float *pred = serc_malloc(sizeof(float) * (size_t)sub->n * 3), *truth = serc_malloc(sizeof(float) * (size_t)sub->n * 3);
        for (int r = 0; r < sub->n; r++)
            for (int k = 0; k < 3; k++) {
                pred[3 * r + k] = (float)sub->avd[3 * r + k];
                truth[3 * r + k] = (float)l->avd[3 * row_of[r] + k];
            }
        double ccc[3];
        concordance_cc_per_attribute(pred, truth, sub->n, 3, ccc);
        sernc_score_attributes(ccc, s);
        s->rows = sub->n;
        free(pred);
        free(truth);
    }
    import_table_free(&in_sub);
    free(row_of);
    return rc;
}

/* ---- reports ---- */

void sernc_score_print(const SerncScore *s, FILE *f) {
    if (s->task == SERNC_ATTRIBUTES) {
        fprintf(f, "SERNC task 2 (attributes), split %s: mean CCC %.4f  (%lld files)\n", s->split, s->ccc_mean,
                (long long)s->rows);
        for (int k = 0; k < 3; k++) fprintf(f, "  %-10s %-7s  CCC %.4f\n", ATTR_NAMES[k], ATTR_COLS[k], s->ccc[k]);
        return;
    }
    fprintf(f, "SERNC task 1 (categorical), split %s: macro-F1 %.4f over the %d classes seen  (%lld files scored",
            s->split, s->macro_f1, s->n_observed, (long long)s->rows);
    if (s->excluded) fprintf(f, "; %lld with truth O or X not scored", (long long)s->excluded);
    fprintf(f, ")\n");
    fprintf(f, "macro-F1 over all 8 classes (unseen classes as 0): %.4f\n\n", s->macro_f1_all8);
    fprintf(f, "%-12s %9s %9s %9s %9s %9s\n", "class", "precision", "recall", "F1", "support", "predicted");
    for (int c = 0; c < SERNC_N_CLASSES; c++)
        fprintf(f, "%c %-10s %9.4f %9.4f %9.4f %9lld %9lld\n", SERNC_LETTERS[c], SERNC_CLASS_NAMES[c], s->precision[c],
                s->recall[c], s->f1[c], (long long)s->support[c], (long long)s->predicted[c]);
    int64_t maxc = 0;
    for (int i = 0; i < SERNC_N_CLASSES * SERNC_N_CLASSES; i++)
        if (s->cm.counts[i] > maxc) maxc = s->cm.counts[i];
    char buf[32];
    int w = snprintf(buf, sizeof buf, "%lld", (long long)maxc);
    if (w < 3) w = 3;
    fprintf(f, "\nconfusion (rows: truth, columns: prediction)\n%9s", "true\\pred");
    for (int p = 0; p < SERNC_N_CLASSES; p++) fprintf(f, " %*c", w, SERNC_LETTERS[p]);
    fprintf(f, "\n");
    for (int t = 0; t < SERNC_N_CLASSES; t++) {
        fprintf(f, "%9c", SERNC_LETTERS[t]);
        for (int p = 0; p < SERNC_N_CLASSES; p++) fprintf(f, " %*lld", w, (long long)s->cm.counts[t * SERNC_N_CLASSES + p]);
        fprintf(f, "\n");
    }
}

void sernc_score_json(const SerncScore *s, JsonBuf *b) {
    jsonbuf_appendf(b, "{\"task\": \"%s\", \"split\": ", s->task == SERNC_CATEGORICAL ? "categorical" : "attributes");
    jsonbuf_string(b, s->split, strlen(s->split));
    jsonbuf_appendf(b, ", \"rows\": %lld", (long long)s->rows);
    if (s->task == SERNC_CATEGORICAL)
        jsonbuf_appendf(b, ", \"excluded\": %lld, \"macro_f1\": %.17g, \"macro_f1_all8\": %.17g}", (long long)s->excluded,
                        s->macro_f1, s->macro_f1_all8);
    else
        jsonbuf_appendf(b, ", \"ccc_arousal\": %.17g, \"ccc_valence\": %.17g, \"ccc_dominance\": %.17g, \"ccc_mean\": %.17g}",
                        s->ccc[0], s->ccc[1], s->ccc[2], s->ccc_mean);
}

/* ---- writing submissions ---- */

typedef struct NamedRow {
    const char *name;
    int i;
} NamedRow;

static int cmp_named_row(const void *a, const void *b) {
    return strcmp(((const NamedRow *)a)->name, ((const NamedRow *)b)->name);
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Rows sorted by base name; fails on an empty or repeated base name. */
static NamedRow *sorted_rows(const char *const *paths, int n, SercErr *err) {
    NamedRow *rows = serc_malloc(sizeof *rows * ((size_t)n + 1));
    for (int i = 0; i < n; i++) rows[i] = (NamedRow){base_name(paths[i]), i};
    qsort(rows, (size_t)n, sizeof *rows, cmp_named_row);
    for (int i = 0; i < n; i++) {
        if (!rows[i].name[0]) {
            serc_fail(err, "'%s' has no file name", paths[rows[i].i]);
            free(rows);
            return NULL;
        }
        if (i && !strcmp(rows[i].name, rows[i - 1].name)) {
            serc_fail(err, "'%s' and '%s' have the same FileName %s: a submission names each file once",
                      paths[rows[i - 1].i], paths[rows[i].i], rows[i].name);
            free(rows);
            return NULL;
        }
    }
    return rows;
}

/* A FileName as a CSV field: quoted when it holds a comma, a quote or a space at either end. */
static void csv_field(JsonBuf *b, const char *s) {
    size_t n = strlen(s);
    int quote = strpbrk(s, ",\"\r\n") != NULL || (n && (s[0] == ' ' || s[n - 1] == ' '));
    if (!quote) {
        jsonbuf_append(b, s, n);
        return;
    }
    jsonbuf_append(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"') jsonbuf_append(b, "\"", 1); /* a quote is written twice (RFC 4180) */
        jsonbuf_append(b, s, 1);
    }
    jsonbuf_append(b, "\"", 1);
}

static double clamp17(float v) {
    double x = v;
    return x < 1.0 ? 1.0 : x > 7.0 ? 7.0 : x;
}

int sernc_write_categorical(const char *path, const char *const *paths, const int *cls, int n, SercErr *err) {
    NamedRow *rows = sorted_rows(paths, n, err);
    if (!rows) return -1;
    JsonBuf b = {0};
    jsonbuf_append(&b, "FileName,EmoClass\n", 18);
    for (int r = 0; r < n; r++) {
        int c = cls[rows[r].i];
        SERC_ASSERT(c >= 0 && c < SERNC_N_CLASSES, "sernc_write_categorical: class %d", c);
        csv_field(&b, rows[r].name);
        jsonbuf_appendf(&b, ",%c\n", SERNC_LETTERS[c]);
    }
    int rc = write_file_atomic(path, b.data, b.len, 0, err);
    jsonbuf_free(&b);
    free(rows);
    return rc;
}

int sernc_write_attributes(const char *path, const char *const *paths, const float *avd, int n, SercErr *err) {
    for (int i = 0; i < 3 * n; i++)
        if (!isfinite(avd[i])) return serc_fail(err, "%s: the A/V/D prediction for '%s' is not a finite number", path, paths[i / 3]);
    NamedRow *rows = sorted_rows(paths, n, err);
    if (!rows) return -1;
    JsonBuf b = {0};
    jsonbuf_append(&b, "FileName,EmoAct,EmoVal,EmoDom\n", 30);
    for (int r = 0; r < n; r++) {
        const float *v = avd + 3 * (size_t)rows[r].i;
        csv_field(&b, rows[r].name);
        jsonbuf_appendf(&b, ",%.6f,%.6f,%.6f\n", clamp17(v[0]), clamp17(v[1]), clamp17(v[2]));
    }
    int rc = write_file_atomic(path, b.data, b.len, 0, err);
    jsonbuf_free(&b);
    free(rows);
    return rc;
}
