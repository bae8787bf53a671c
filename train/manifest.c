/* Manifest reader and writer (schema: docs/manifest.md). */
#include "manifest.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "json.h"

/* ---- paths ---- */

/* Normalises "a/./b//../c" to "a/c" lexically; keeps leading ".." of relative paths. */
static char *path_normalise(const char *p) {
    size_t n = strlen(p);
    int absolute = p[0] == '/';
    char *copy = serc_strdup(p);
    const char **parts = serc_malloc((n / 2 + 2) * sizeof *parts);
    int np = 0;
    for (char *save = NULL, *tok = strtok_r(copy, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0) continue;
        if (strcmp(tok, "..") == 0) {
            if (np > 0 && strcmp(parts[np - 1], "..") != 0) {
                np--;
                continue;
            }
            if (absolute) continue; /* "/.." is "/" */
        }
        parts[np++] = tok;
    }
    char *out = serc_malloc(n + 3);
    size_t k = 0;
    if (absolute) out[k++] = '/';
    for (int i = 0; i < np; i++) {
        if (i) out[k++] = '/';
        size_t len = strlen(parts[i]);
        memcpy(out + k, parts[i], len);
        k += len;
    }
    if (k == 0) out[k++] = '.';
    out[k] = '\0';
    free(parts);
    free(copy);
    return out;
}

char *manifest_path_join(const char *dir, const char *rel) {
    if (rel[0] == '/' || !dir || !dir[0]) return path_normalise(rel);
    size_t a = strlen(dir), b = strlen(rel);
    char *t = serc_malloc(a + b + 2);
    memcpy(t, dir, a);
    t[a] = '/';
    memcpy(t + a + 1, rel, b + 1);
    char *out = path_normalise(t);
    free(t);
    return out;
}

static char *path_absolute(const char *p) {
    if (p[0] == '/') return path_normalise(p);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, "/");
    return manifest_path_join(cwd, p);
}

char *manifest_dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return serc_strdup(".");
    if (slash == path) return serc_strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = serc_malloc(n + 1);
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

/* Splits an absolute normalised path into its components (pointers into p, which is modified). */
static int path_components(char *p, char **parts) {
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(p, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) parts[n++] = tok;
    return n;
}

char *manifest_path_relative(const char *target, const char *from) {
    char *t = path_absolute(target), *f = path_absolute(from);
    char **tp = serc_malloc((strlen(t) / 2 + 2) * sizeof *tp), **fp = serc_malloc((strlen(f) / 2 + 2) * sizeof *fp);
    int nt = path_components(t, tp), nf = path_components(f, fp), common = 0;
    while (common < nt && common < nf && strcmp(tp[common], fp[common]) == 0) common++;
    JsonBuf b = {0};
    for (int i = common; i < nf; i++) jsonbuf_append(&b, i > common ? "/.." : "..", i > common ? 3 : 2);
    for (int i = common; i < nt; i++) {
        if (b.len) jsonbuf_append(&b, "/", 1);
        jsonbuf_append(&b, tp[i], strlen(tp[i]));
    }
    char *out = serc_strdup(b.len ? b.data : ".");
    jsonbuf_free(&b);
    free(tp);
    free(fp);
    free(t);
    free(f);
    return out;
}

/* ---- construction ---- */

Manifest *manifest_new(const char *dir) {
    Manifest *m = serc_calloc(1, sizeof *m);
    m->dir = serc_strdup(dir && dir[0] ? dir : ".");
    return m;
}

Utterance *manifest_append(Manifest *m) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->utts = serc_realloc(m->utts, (size_t)m->cap * sizeof *m->utts);
    }
    Utterance *u = &m->utts[m->n++];
    memset(u, 0, sizeof *u);
    u->fold = -1;
    return u;
}

void manifest_set_audio(const Manifest *m, Utterance *u, const char *audio) {
    free(u->audio);
    free(u->audio_path);
    u->audio = serc_strdup(audio);
    u->audio_path = manifest_path_join(m->dir, audio);
}

static char *dup_or_null(const char *s) { return s ? serc_strdup(s) : NULL; }

Utterance *manifest_append_copy(Manifest *m, const Utterance *src) {
    Utterance *u = manifest_append(m);
    *u = *src;
    u->id = dup_or_null(src->id);
    u->audio = dup_or_null(src->audio);
    u->audio_path = dup_or_null(src->audio_path);
    u->speaker = dup_or_null(src->speaker);
    u->label = dup_or_null(src->label);
    u->transcript = dup_or_null(src->transcript);
    u->split_name = dup_or_null(src->split_name);
    u->corpus = dup_or_null(src->corpus);
    u->condition = dup_or_null(src->condition);
    u->lang = dup_or_null(src->lang);
    if (src->n_dist) {
        u->label_dist = serc_malloc((size_t)src->n_dist * sizeof *u->label_dist);
        for (int i = 0; i < src->n_dist; i++)
            u->label_dist[i] = (LabelProb){serc_strdup(src->label_dist[i].name), src->label_dist[i].prob};
    }
    if (src->n_words) {
        u->words = serc_malloc((size_t)src->n_words * sizeof *u->words);
        for (int i = 0; i < src->n_words; i++)
            u->words[i] = (ManifestWord){serc_strdup(src->words[i].w), src->words[i].start, src->words[i].end};
    }
    return u;
}

static void utterance_free(Utterance *u) {
    free(u->id);
    free(u->audio);
    free(u->audio_path);
    free(u->speaker);
    free(u->label);
    free(u->transcript);
    free(u->split_name);
    free(u->corpus);
    free(u->condition);
    free(u->lang);
    for (int i = 0; i < u->n_dist; i++) free(u->label_dist[i].name);
    free(u->label_dist);
    for (int i = 0; i < u->n_words; i++) free(u->words[i].w);
    free(u->words);
}

void manifest_free(Manifest *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) utterance_free(&m->utts[i]);
    free(m->utts);
    free(m->path);
    free(m->dir);
    free(m);
}

const char *manifest_gender_name(ManifestGender g) {
    switch (g) {
    case GENDER_FEMALE: return "female";
    case GENDER_MALE: return "male";
    case GENDER_UNKNOWN: return "unknown";
    default: return NULL;
    }
}

const char *manifest_split_name(ManifestSplit s) {
    switch (s) {
    case SPLIT_TRAIN: return "train";
    case SPLIT_DEV: return "dev";
    case SPLIT_TEST: return "test";
    default: return NULL;
    }
}

int manifest_find(const Manifest *m, const char *id) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->utts[i].id, id) == 0) return i;
    return -1;
}

ManifestFilter manifest_filter_any(void) {
    return (ManifestFilter){.split = SPLIT_ABSENT, .fold = -1, .exclude_fold = -1};
}

Manifest *manifest_filter(const Manifest *m, const ManifestFilter *f) {
    Manifest *out = manifest_new(m->dir);
    for (int i = 0; i < m->n; i++) {
        const Utterance *u = &m->utts[i];
        if (f->split != SPLIT_ABSENT && u->split != f->split) continue;
        if (f->fold >= 0 && u->fold != f->fold) continue;
        if (f->exclude_fold >= 0 && u->fold == f->exclude_fold) continue;
        if (f->condition && (!u->condition || strcmp(u->condition, f->condition) != 0)) continue;
        if (f->corpus && (!u->corpus || strcmp(u->corpus, f->corpus) != 0)) continue;
        if (f->require_label && !u->label) continue;
        manifest_append_copy(out, u);
    }
    return out;
}

/* ---- id set: open addressing over utterance indices ---- */

typedef struct IdSet {
    int *slot; /* utterance index + 1, 0 = empty */
    size_t cap;
} IdSet;

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Returns the index of an utterance with the same id, or -1 after inserting idx. */
static int idset_insert(IdSet *set, const Manifest *m, int idx) {
    if ((size_t)(idx + 1) * 2 > set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 1024;
        int *slot = serc_calloc(cap, sizeof *slot);
        for (size_t i = 0; i < set->cap; i++) {
            if (!set->slot[i]) continue;
            size_t h = fnv1a(m->utts[set->slot[i] - 1].id) & (cap - 1);
            while (slot[h]) h = (h + 1) & (cap - 1);
            slot[h] = set->slot[i];
        }
        free(set->slot);
        set->slot = slot;
        set->cap = cap;
    }
    const char *id = m->utts[idx].id;
    size_t h = fnv1a(id) & (set->cap - 1);
    while (set->slot[h]) {
        if (strcmp(m->utts[set->slot[h] - 1].id, id) == 0) return set->slot[h] - 1;
        h = (h + 1) & (set->cap - 1);
    }
    set->slot[h] = idx + 1;
    return -1;
}

/* ---- reader ---- */

typedef struct LineCtx {
    const char *path;
    int64_t line;
    SercErr *err;
} LineCtx;

#define LINE_FAIL(c, ...) line_fail((c), __VA_ARGS__)
SERC_PRINTF(2, 3) static int line_fail(const LineCtx *c, const char *fmt, ...) {
    char msg[SERC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return serc_fail(c->err, "%s:%lld: %s", c->path, (long long)c->line, msg);
}

static int want_type(const LineCtx *c, const char *key, const JsonValue *v, JsonType t, const char *what) {
    if (json_type(v) == t) return 0;
    return LINE_FAIL(c, "key '%s' must be %s, got %s", key, what, json_type_name(json_type(v)));
}

/* A non-empty string without NUL bytes, copied into *out. */
static int get_string(const LineCtx *c, const char *key, const JsonValue *v, char **out) {
    if (want_type(c, key, v, JSON_STRING, "a string")) return -1;
    if (json_string_len(v) != strlen(json_string(v)))
        return LINE_FAIL(c, "key '%s' must not contain NUL characters", key);
    if (json_string_len(v) == 0) return LINE_FAIL(c, "key '%s' must not be empty", key);
    *out = serc_strdup(json_string(v));
    return 0;
}

static int get_number(const LineCtx *c, const char *key, const JsonValue *v, double *out) {
    if (want_type(c, key, v, JSON_NUMBER, "a number")) return -1;
    double x = json_number(v);
    if (!isfinite(x)) return LINE_FAIL(c, "key '%s' is out of the range of a double", key);
    *out = x;
    return 0;
}

static int parse_label_dist(const LineCtx *c, const JsonValue *v, Utterance *u) {
    if (want_type(c, "label_dist", v, JSON_OBJECT, "an object")) return -1;
    size_t n = json_len(v);
    if (n == 0) return LINE_FAIL(c, "key 'label_dist' must not be empty");
    u->label_dist = serc_calloc(n, sizeof *u->label_dist);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_key_at(v, i);
        const JsonValue *p = json_value_at(v, i);
        if (!name[0]) return LINE_FAIL(c, "key 'label_dist' has an empty label name");
        if (json_type(p) != JSON_NUMBER)
            return LINE_FAIL(c, "key 'label_dist' value for '%s' must be a number, got %s", name,
                             json_type_name(json_type(p)));
        double x = json_number(p);
        if (!isfinite(x) || x < 0)
            return LINE_FAIL(c, "key 'label_dist' value for '%s' must be >= 0, got %g", name, x);
        u->label_dist[u->n_dist++] = (LabelProb){serc_strdup(name), x};
        sum += x;
    }
    if (fabs(sum - 1.0) > 1e-3) return LINE_FAIL(c, "key 'label_dist' values must sum to 1 (within 1e-3), sum is %.6g", sum);
    return 0;
}

static int parse_words(const LineCtx *c, const JsonValue *v, Utterance *u) {
    if (want_type(c, "words", v, JSON_ARRAY, "an array")) return -1;
    size_t n = json_len(v);
    u->has_words = 1;
    u->words = n ? serc_calloc(n, sizeof *u->words) : NULL;
    for (size_t i = 0; i < n; i++) {
        const JsonValue *w = json_at(v, i);
        if (json_type(w) != JSON_OBJECT)
            return LINE_FAIL(c, "key 'words' element %zu must be an object, got %s", i, json_type_name(json_type(w)));
        for (size_t k = 0; k < json_len(w); k++) {
            const char *key = json_key_at(w, k);
            if (strcmp(key, "w") && strcmp(key, "start") && strcmp(key, "end"))
                return LINE_FAIL(c, "key 'words' element %zu has unknown key '%s' (expected w, start, end)", i, key);
        }
        const JsonValue *ww = json_get(w, "w"), *ws = json_get(w, "start"), *we = json_get(w, "end");
        if (!ww || !ws || !we) return LINE_FAIL(c, "key 'words' element %zu must have w, start and end", i);
        ManifestWord *mw = &u->words[u->n_words];
        char key[48];
        snprintf(key, sizeof key, "words[%zu].w", i);
        if (want_type(c, key, ww, JSON_STRING, "a string")) return -1;
        if (json_string_len(ww) != strlen(json_string(ww))) return LINE_FAIL(c, "key '%s' must not contain NUL characters", key);
        snprintf(key, sizeof key, "words[%zu].start", i);
        if (get_number(c, key, ws, &mw->start)) return -1;
        snprintf(key, sizeof key, "words[%zu].end", i);
        if (get_number(c, key, we, &mw->end)) return -1;
        mw->w = serc_strdup(json_string(ww));
        u->n_words++;
        if (mw->start < 0) return LINE_FAIL(c, "key 'words' element %zu: start %g must be >= 0", i, mw->start);
        if (mw->start > mw->end)
            return LINE_FAIL(c, "key 'words' element %zu: start %g is after end %g", i, mw->start, mw->end);
        if (i > 0 && mw->start < u->words[i - 1].start)
            return LINE_FAIL(c, "key 'words' element %zu: start %g is before the previous word's start %g (words must be non-decreasing)",
                             i, mw->start, u->words[i - 1].start);
    }
    return 0;
}

static int parse_member(const LineCtx *c, const char *key, const JsonValue *v, Utterance *u) {
    if (!strcmp(key, "id")) return get_string(c, key, v, &u->id);
    if (!strcmp(key, "audio")) return get_string(c, key, v, &u->audio);
    if (!strcmp(key, "start")) {
        if (get_number(c, key, v, &u->start)) return -1;
        u->has_start = 1;
        if (u->start < 0) return LINE_FAIL(c, "key 'start' must be >= 0, got %g", u->start);
        return 0;
    }
    if (!strcmp(key, "end")) {
        if (get_number(c, key, v, &u->end)) return -1;
        u->has_end = 1;
        if (u->end <= 0) return LINE_FAIL(c, "key 'end' must be > 0, got %g", u->end);
        return 0;
    }
    if (!strcmp(key, "speaker")) return get_string(c, key, v, &u->speaker);
    if (!strcmp(key, "gender")) {
        if (want_type(c, key, v, JSON_STRING, "a string")) return -1;
        const char *g = json_string(v);
        if (!strcmp(g, "female")) u->gender = GENDER_FEMALE;
        else if (!strcmp(g, "male")) u->gender = GENDER_MALE;
        else if (!strcmp(g, "unknown")) u->gender = GENDER_UNKNOWN;
        else return LINE_FAIL(c, "key 'gender' must be one of female, male, unknown; got '%s'", g);
        return 0;
    }
    if (!strcmp(key, "age")) {
        if (get_number(c, key, v, &u->age)) return -1;
        u->has_age = 1;
        if (u->age < 0) return LINE_FAIL(c, "key 'age' must be >= 0, got %g", u->age);
        return 0;
    }
    if (!strcmp(key, "label")) return get_string(c, key, v, &u->label);
    if (!strcmp(key, "label_dist")) return parse_label_dist(c, v, u);
    if (!strcmp(key, "arousal")) return u->has_arousal = 1, get_number(c, key, v, &u->arousal);
    if (!strcmp(key, "valence")) return u->has_valence = 1, get_number(c, key, v, &u->valence);
    if (!strcmp(key, "dominance")) return u->has_dominance = 1, get_number(c, key, v, &u->dominance);
    if (!strcmp(key, "transcript")) {
        /* an empty transcript is a real value (nothing was said), unlike an empty id */
        if (want_type(c, key, v, JSON_STRING, "a string")) return -1;
        if (json_string_len(v) != strlen(json_string(v))) return LINE_FAIL(c, "key 'transcript' must not contain NUL characters");
        u->transcript = serc_strdup(json_string(v));
        return 0;
    }
    if (!strcmp(key, "words")) return parse_words(c, v, u);
    if (!strcmp(key, "fold")) {
        if (json_type(v) != JSON_NUMBER) return want_type(c, key, v, JSON_NUMBER, "an integer");
        if (!json_is_int(v)) return LINE_FAIL(c, "key 'fold' must be an integer, got %g", json_number(v));
        int64_t f = json_int(v);
        if (f < 0 || f > INT_MAX) return LINE_FAIL(c, "key 'fold' must be >= 0, got %lld", (long long)f);
        u->fold = (int)f;
        return 0;
    }
    if (!strcmp(key, "split")) {
        if (want_type(c, key, v, JSON_STRING, "a string")) return -1;
        const char *s = json_string(v);
        if (!strcmp(s, "train")) u->split = SPLIT_TRAIN;
        else if (!strcmp(s, "dev")) u->split = SPLIT_DEV;
        else if (!strcmp(s, "test")) u->split = SPLIT_TEST;
        else return LINE_FAIL(c, "key 'split' must be one of train, dev, test; got '%s' (keep corpus names in split_name)", s);
        return 0;
    }
    if (!strcmp(key, "split_name")) return get_string(c, key, v, &u->split_name);
    if (!strcmp(key, "corpus")) return get_string(c, key, v, &u->corpus);
    if (!strcmp(key, "condition")) return get_string(c, key, v, &u->condition);
    if (!strcmp(key, "lang")) return get_string(c, key, v, &u->lang);
    return LINE_FAIL(c, "unknown key '%s'", key);
}

/* Parses one line into u (already appended). */
static int parse_line(const LineCtx *c, const Manifest *m, const char *buf, size_t len, Utterance *u) {
    if (len == 0) return LINE_FAIL(c, "blank line (a manifest has one JSON object per line)");
    if (buf[len - 1] == '\r') return LINE_FAIL(c, "line ends in CR LF; manifests use LF line ends");
    size_t ws = 0;
    while (ws < len && (buf[ws] == ' ' || buf[ws] == '\t')) ws++;
    if (ws == len) return LINE_FAIL(c, "blank line (only spaces)");
    if (c->line == 1 && len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3))
        return LINE_FAIL(c, "file starts with a UTF-8 byte-order mark; remove it");
    if (!json_utf8_valid(buf, len)) return LINE_FAIL(c, "not valid UTF-8");
    SercErr jerr = {{0}};
    JsonValue *v = json_parse(buf, len, &jerr);
    if (!v) {
        const char *msg = jerr.msg;
        if (!strncmp(msg, "line 1, ", 8)) msg += 8;
        return LINE_FAIL(c, "malformed JSON: %s", msg);
    }
    int rc = 0;
    if (json_type(v) != JSON_OBJECT) {
        rc = LINE_FAIL(c, "each line must be a JSON object, got %s", json_type_name(json_type(v)));
        goto done;
    }
    for (size_t i = 0; i < json_len(v) && rc == 0; i++) rc = parse_member(c, json_key_at(v, i), json_value_at(v, i), u);
    if (rc) goto done;
    if (!u->id) rc = LINE_FAIL(c, "missing required key 'id'");
    else if (!u->audio) rc = LINE_FAIL(c, "missing required key 'audio'");
    else if (u->has_start && u->has_end && !(u->start < u->end))
        rc = LINE_FAIL(c, "start %g must be before end %g", u->start, u->end);
    if (rc == 0) u->audio_path = manifest_path_join(m->dir, u->audio);
done:
    json_free(v);
    return rc;
}

Manifest *manifest_read(const char *path, SercErr *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        serc_fail(err, "%s: cannot open manifest: %s", path, strerror(errno));
        return NULL;
    }
    char *d = manifest_dirname(path);
    Manifest *m = manifest_new(d);
    free(d);
    m->path = serc_strdup(path);
    IdSet ids = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    LineCtx c = {path, 0, err};
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        c.line++;
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n') len--;
        Utterance *u = manifest_append(m);
        u->line = c.line;
        rc = parse_line(&c, m, line, len, u);
        if (rc == 0) {
            int prev = idset_insert(&ids, m, m->n - 1);
            if (prev >= 0)
                rc = LINE_FAIL(&c, "duplicate id '%s' (first on line %lld)", u->id, (long long)m->utts[prev].line);
        }
    }
    if (rc == 0 && ferror(f)) rc = serc_fail(err, "%s: read error: %s", path, strerror(errno));
    if (rc == 0 && c.line == 0) rc = serc_fail(err, "%s: empty manifest (no utterances)", path);
    free(line);
    free(ids.slot);
    fclose(f);
    if (rc) {
        manifest_free(m);
        return NULL;
    }
    return m;
}

/* ---- writer ---- */

/* Shortest %.Ng (N = 15..17) that reads back to x exactly. */
static void append_number(JsonBuf *b, double x) {
    char s[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, x);
        if (strtod(s, NULL) == x) break;
    }
    jsonbuf_append(b, s, strlen(s));
}

static void key_string(JsonBuf *b, const char *key, const char *val) {
    if (!val) return;
    jsonbuf_appendf(b, ",\"%s\":", key);
    jsonbuf_string(b, val, strlen(val));
}

static void key_number(JsonBuf *b, const char *key, int has, double x) {
    if (!has) return;
    jsonbuf_appendf(b, ",\"%s\":", key);
    append_number(b, x);
}

static int check_finite(const Utterance *u, int i, const char *path, SercErr *err) {
    double vals[7] = {u->start, u->end, u->age, u->arousal, u->valence, u->dominance, 0};
    int has[7] = {u->has_start, u->has_end, u->has_age, u->has_arousal, u->has_valence, u->has_dominance, 0};
    for (int k = 0; k < 6; k++)
        if (has[k] && !isfinite(vals[k])) return serc_fail(err, "%s: utterance %d ('%s') has a non-finite number", path, i, u->id);
    for (int k = 0; k < u->n_dist; k++)
        if (!isfinite(u->label_dist[k].prob)) return serc_fail(err, "%s: utterance '%s' has a non-finite label_dist", path, u->id);
    for (int k = 0; k < u->n_words; k++)
        if (!isfinite(u->words[k].start) || !isfinite(u->words[k].end))
            return serc_fail(err, "%s: utterance '%s' has a non-finite word time", path, u->id);
    return 0;
}

static void append_utterance(JsonBuf *b, const Utterance *u, const char *audio) {
    jsonbuf_append(b, "{\"id\":", 6);
    jsonbuf_string(b, u->id, strlen(u->id));
    key_string(b, "audio", audio);
    key_number(b, "start", u->has_start, u->start);
    key_number(b, "end", u->has_end, u->end);
    key_string(b, "speaker", u->speaker);
    key_string(b, "gender", manifest_gender_name(u->gender));
    key_number(b, "age", u->has_age, u->age);
    key_string(b, "label", u->label);
    if (u->n_dist) {
        jsonbuf_append(b, ",\"label_dist\":{", 15);
        for (int k = 0; k < u->n_dist; k++) {
            if (k) jsonbuf_append(b, ",", 1);
            jsonbuf_string(b, u->label_dist[k].name, strlen(u->label_dist[k].name));
            jsonbuf_append(b, ":", 1);
            append_number(b, u->label_dist[k].prob);
        }
        jsonbuf_append(b, "}", 1);
    }
    key_number(b, "arousal", u->has_arousal, u->arousal);
    key_number(b, "valence", u->has_valence, u->valence);
    key_number(b, "dominance", u->has_dominance, u->dominance);
    key_string(b, "transcript", u->transcript);
    if (u->has_words || u->n_words) {
        jsonbuf_append(b, ",\"words\":[", 10);
        for (int k = 0; k < u->n_words; k++) {
            jsonbuf_append(b, k ? ",{\"w\":" : "{\"w\":", k ? 6 : 5);
            jsonbuf_string(b, u->words[k].w, strlen(u->words[k].w));
            jsonbuf_append(b, ",\"start\":", 9);
            append_number(b, u->words[k].start);
            jsonbuf_append(b, ",\"end\":", 7);
            append_number(b, u->words[k].end);
            jsonbuf_append(b, "}", 1);
        }
        jsonbuf_append(b, "]", 1);
    }
    if (u->fold >= 0) jsonbuf_appendf(b, ",\"fold\":%d", u->fold);
    key_string(b, "split", manifest_split_name(u->split));
    key_string(b, "split_name", u->split_name);
    key_string(b, "corpus", u->corpus);
    key_string(b, "condition", u->condition);
    key_string(b, "lang", u->lang);
    jsonbuf_append(b, "}\n", 2);
}

int manifest_write(const char *path, const Manifest *m, SercErr *err) {
    char *out_dir = manifest_dirname(path);
    char *a = path_absolute(out_dir), *bdir = path_absolute(m->dir ? m->dir : ".");
    int same_dir = strcmp(a, bdir) == 0;
    free(a);
    free(bdir);
    JsonBuf b = {0};
    int rc = 0;
    for (int i = 0; i < m->n && rc == 0; i++) {
        const Utterance *u = &m->utts[i];
        if (!u->id || !u->id[0] || !u->audio || !u->audio[0]) {
            rc = serc_fail(err, "%s: utterance %d has no id or audio", path, i);
            break;
        }
        if ((rc = check_finite(u, i, path, err))) break;
        char *rel = NULL;
        const char *audio = u->audio;
        if (!same_dir && u->audio[0] != '/') {
            rel = manifest_path_relative(u->audio_path ? u->audio_path : u->audio, out_dir);
            audio = rel;
        }
        append_utterance(&b, u, audio);
        free(rel);
    }
    if (rc == 0) rc = write_file_atomic(path, b.data, b.len, 0, err);
    jsonbuf_free(&b);
    free(out_dir);
    return rc;
}

/* ---- label maps ---- */

LabelMap *labelmap_new(void) { return serc_calloc(1, sizeof(LabelMap)); }

void labelmap_free(LabelMap *map) {
    if (!map) return;
    for (int i = 0; i < map->n; i++) free(map->names[i]);
    free(map->names);
    free(map);
}

int labelmap_index(const LabelMap *map, const char *name) {
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->names[i], name) == 0) return i;
    return -1;
}

int labelmap_add(LabelMap *map, const char *name) {
    int i = labelmap_index(map, name);
    if (i >= 0) return i;
    map->names = serc_realloc(map->names, (size_t)(map->n + 1) * sizeof *map->names);
    map->names[map->n] = serc_strdup(name);
    return map->n++;
}

LabelMap *labelmap_read(const char *path, SercErr *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        serc_fail(err, "%s: cannot open label map: %s", path, strerror(errno));
        return NULL;
    }
    LabelMap *map = labelmap_new();
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    LineCtx c = {path, 0, err};
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        c.line++;
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        if (len && line[len - 1] == '\r') rc = LINE_FAIL(&c, "line ends in CR LF; label maps use LF line ends");
        else if (len == 0) rc = LINE_FAIL(&c, "blank line in label map");
        else if (strlen(line) != len) rc = LINE_FAIL(&c, "NUL byte in label name");
        else if (!json_utf8_valid(line, len)) rc = LINE_FAIL(&c, "not valid UTF-8");
        else if (line[0] == ' ' || line[0] == '\t' || line[len - 1] == ' ' || line[len - 1] == '\t')
            rc = LINE_FAIL(&c, "label name '%s' has leading or trailing spaces", line);
        else if (labelmap_index(map, line) >= 0)
            rc = LINE_FAIL(&c, "duplicate label '%s' (first on line %d)", line, labelmap_index(map, line) + 1);
        else labelmap_add(map, line);
    }
    if (rc == 0 && map->n == 0) rc = serc_fail(err, "%s: empty label map", path);
    free(line);
    fclose(f);
    if (rc) {
        labelmap_free(map);
        return NULL;
    }
    return map;
}

int labelmap_write(const char *path, const LabelMap *map, SercErr *err) {
    JsonBuf b = {0};
    for (int i = 0; i < map->n; i++) jsonbuf_appendf(&b, "%s\n", map->names[i]);
    int rc = write_file_atomic(path, b.data, b.len, 0, err);
    jsonbuf_free(&b);
    return rc;
}

int manifest_check_labels(const Manifest *m, const LabelMap *map, SercErr *err) {
    const char *path = m->path ? m->path : "(manifest)";
    for (int i = 0; i < m->n; i++) {
        const Utterance *u = &m->utts[i];
        if (u->label && labelmap_index(map, u->label) < 0)
            return serc_fail(err, "%s:%lld: label '%s' is not in the label map", path, (long long)u->line, u->label);
        for (int k = 0; k < u->n_dist; k++)
            if (labelmap_index(map, u->label_dist[k].name) < 0)
                return serc_fail(err, "%s:%lld: label_dist name '%s' is not in the label map", path, (long long)u->line,
                                 u->label_dist[k].name);
    }
    return 0;
}
