/* Helpers shared by the corpus importers, the importer table and the report. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "import.h"
#include "json.h"

const ImportCorpus IMPORT_CORPORA[] = {
    {"iemocap", "Session1..5/ (--labels 4 [default, excited->happy] | 4-noexc | 6 | all)", import_iemocap},
    {"msp-podcast", "Labels/labels_consensus.csv, Audios/ (--labels 8 [SERNC, default] | all)", import_msp_podcast},
    {"msp-improv", "Evaluation.txt, session1..6/**/MSP-IMPROV-*.wav (--labels 4 [default] | all)", import_msp_improv},
    {"ravdess", "Actor_NN/03-01-EE-II-SS-RR-NN.wav (8 classes; --include-song)", import_ravdess},
    {"crema-d", "AudioWAV/1001_DFA_ANG_XX.wav, VideoDemographics.csv (6 classes)", import_crema_d},
    {"savee", "AudioData/DC/a01.wav or DC_a01.wav (7 classes)", import_savee},
    {"emodb", "wav/03a01Fa.wav (7 classes)", import_emodb},
    {"generic", "ROOT/<label>/*.wav (--speaker-regex RE, group 1 = speaker)", import_generic},
};
const int IMPORT_N_CORPORA = (int)(sizeof IMPORT_CORPORA / sizeof IMPORT_CORPORA[0]);

int import_corpus(const char *corpus, const ImportOptions *o, Manifest **m, LabelMap **map, SercErr *err) {
    for (int i = 0; i < IMPORT_N_CORPORA; i++) {
        if (strcmp(corpus, IMPORT_CORPORA[i].name) != 0) continue;
        if (!o->root || !import_is_dir(o->root)) return serc_fail(err, "%s: corpus root is not a folder", o->root ? o->root : "(none)");
        char *dir = o->out ? manifest_dirname(o->out) : serc_strdup(".");
        *m = manifest_new(dir);
        free(dir);
        *map = labelmap_new();
        if (IMPORT_CORPORA[i].run(o, *m, *map, err)) {
            manifest_free(*m);
            labelmap_free(*map);
            *m = NULL;
            *map = NULL;
            return -1;
        }
        if ((*m)->n == 0) {
            manifest_free(*m);
            labelmap_free(*map);
            *m = NULL;
            *map = NULL;
            return serc_fail(err, "%s: no utterances found for corpus %s", o->root, corpus);
        }
        return 0;
    }
    return serc_fail(err, "unknown corpus '%s' (see serc prepare --help)", corpus);
}

/* ---- files ---- */

int import_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int import_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int import_mkdirs(const char *dir, SercErr *err) {
    char *p = serc_strdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int rc = serc_fail(err, "%s: cannot create folder: %s", p, strerror(errno));
                free(p);
                return rc;
            }
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    if (!import_is_dir(dir)) return serc_fail(err, "%s: exists and is not a folder", dir);
    return 0;
}

char *import_path(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) serc_die("out of memory");
    va_end(ap);
    return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **import_list_dir(const char *dir, int *n, SercErr *err) {
    DIR *d = opendir(dir);
    if (!d) {
        serc_fail(err, "%s: cannot list folder: %s", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    int cnt = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (cnt == cap) names = serc_realloc(names, (size_t)(cap = cap ? cap * 2 : 64) * sizeof *names);
        names[cnt++] = serc_strdup(e->d_name);
    }
    closedir(d);
    if (cnt) qsort(names, (size_t)cnt, sizeof *names, cmp_str);
    *n = cnt;
    return names ? names : serc_calloc(1, sizeof(char *));
}

static int ends_with_ci(const char *s, const char *ext) {
    size_t a = strlen(s), b = strlen(ext);
    return a >= b && strcasecmp(s + a - b, ext) == 0;
}

static int find_rec(const char *dir, const char *ext, char ***out, int *n, int *cap, int depth, SercErr *err) {
    if (depth > 32) return serc_fail(err, "%s: folders nested too deep", dir);
    int nn = 0;
    char **names = import_list_dir(dir, &nn, err);
    if (!names) return -1;
    int rc = 0;
    for (int i = 0; i < nn && rc == 0; i++) {
        char *p = import_path("%s/%s", dir, names[i]);
        if (import_is_dir(p)) {
            rc = find_rec(p, ext, out, n, cap, depth + 1, err);
            free(p);
        } else if (ends_with_ci(names[i], ext) && import_is_file(p)) {
            if (*n == *cap) *out = serc_realloc(*out, (size_t)(*cap = *cap ? *cap * 2 : 256) * sizeof **out);
            (*out)[(*n)++] = p;
        } else {
            free(p);
        }
    }
    import_free_list(names, nn);
    return rc;
}

char **import_find_files(const char *dir, const char *ext, int *n, SercErr *err) {
    char **out = NULL;
    int cap = 0;
    *n = 0;
    if (find_rec(dir, ext, &out, n, &cap, 0, err)) {
        import_free_list(out, *n);
        return NULL;
    }
    if (*n) qsort(out, (size_t)*n, sizeof *out, cmp_str);
    return out ? out : serc_calloc(1, sizeof(char *));
}

void import_free_list(char **list, int n) {
    if (!list) return;
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
}

Utterance *import_add(Manifest *m, const char *id, const char *audio_file, const char *source, SercErr *err) {
    if (!import_is_file(audio_file)) {
        serc_fail(err, "%s: audio file %s not found", source, audio_file);
        return NULL;
    }
    Utterance *u = manifest_append(m);
    u->id = serc_strdup(id);
    char *rel = manifest_path_relative(audio_file, m->dir);
    manifest_set_audio(m, u, rel);
    free(rel);
    return u;
}

/* ---- text ---- */

int import_read_lines(const char *path, ImportLines *t, SercErr *err) {
    memset(t, 0, sizeof *t);
    t->path = path;
    FILE *f = fopen(path, "rb");
    if (!f) return serc_fail(err, "%s: cannot open: %s", path, strerror(errno));
    JsonBuf b = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) jsonbuf_append(&b, chunk, got);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        jsonbuf_free(&b);
        return serc_fail(err, "%s: read error", path);
    }
    char *s = b.data ? b.data : serc_calloc(1, 1);
    size_t len = b.len;
    if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) memmove(s, s + 3, (len -= 3) + 1);
    if (memchr(s, '\0', len)) {
        free(s);
        return serc_fail(err, "%s: contains NUL bytes (not a text file)", path);
    }
    if (!json_utf8_valid(s, len)) {
        free(s);
        return serc_fail(err, "%s: not valid UTF-8", path);
    }
    int cap = 64;
    t->line = serc_malloc((size_t)cap * sizeof *t->line);
    char *p = s;
    while (*p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[l - 1] = '\0';
        if (t->n == cap) t->line = serc_realloc(t->line, (size_t)(cap *= 2) * sizeof *t->line);
        t->line[t->n++] = p;
        if (!nl) break;
        p = nl + 1;
    }
    t->data = s;
    return 0;
}

void import_free_lines(ImportLines *t) {
    free(t->data);
    free(t->line);
    memset(t, 0, sizeof *t);
}

int import_csv_split(char *line, char **fields, int max_fields) {
    int n = 0;
    char *r = line, *w = line;
    for (;;) {
        if (n == max_fields) return n;
        fields[n++] = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (*r == '\0') return -1;
                if (*r == '"') {
                    if (r[1] == '"') {
                        *w++ = '"';
                        r += 2;
                        continue;
                    }
                    r++;
                    break;
                }
                *w++ = *r++;
            }
            while (*r && *r != ',') *w++ = *r++; /* stray text after the closing quote is kept */
        } else {
            while (*r && *r != ',') *w++ = *r++;
        }
        int more = *r == ',';
        *w++ = '\0';
        if (!more) return n;
        r++;
    }
}

/* ---- string table ---- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void import_table_put(ImportTable *t, const char *key, int val) {
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        char **keys = serc_calloc(cap, sizeof *keys);
        int *vals = serc_calloc(cap, sizeof *vals);
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->keys[i]) continue;
            size_t h = hash_str(t->keys[i]) & (cap - 1);
            while (keys[h]) h = (h + 1) & (cap - 1);
            keys[h] = t->keys[i];
            vals[h] = t->vals[i];
        }
        free(t->keys);
        free(t->vals);
        t->keys = keys;
        t->vals = vals;
        t->cap = cap;
    }
    size_t h = hash_str(key) & (t->cap - 1);
    while (t->keys[h]) {
        if (strcmp(t->keys[h], key) == 0) {
            t->vals[h] = val;
            return;
        }
        h = (h + 1) & (t->cap - 1);
    }
    t->keys[h] = serc_strdup(key);
    t->vals[h] = val;
    t->n++;
}

int import_table_get(const ImportTable *t, const char *key) {
    if (!t->cap) return -1;
    size_t h = hash_str(key) & (t->cap - 1);
    while (t->keys[h]) {
        if (strcmp(t->keys[h], key) == 0) return t->vals[h];
        h = (h + 1) & (t->cap - 1);
    }
    return -1;
}

void import_table_free(ImportTable *t) {
    for (size_t i = 0; i < t->cap; i++) free(t->keys[i]);
    free(t->keys);
    free(t->vals);
    memset(t, 0, sizeof *t);
}

/* ---- report ---- */

void import_report(FILE *f, const Manifest *m, const LabelMap *map) {
    int *per_class = serc_calloc((size_t)map->n + 1, sizeof *per_class);
    ImportTable spk = {0};
    int n_spk = 0, no_spk = 0;
    int *spk_count = serc_calloc((size_t)m->n + 1, sizeof *spk_count);
    const char **spk_name = serc_calloc((size_t)m->n + 1, sizeof *spk_name);
    for (int i = 0; i < m->n; i++) {
        const Utterance *u = &m->utts[i];
        int c = u->label ? labelmap_index(map, u->label) : -1;
        per_class[c >= 0 ? c : map->n]++;
        if (!u->speaker) {
            no_spk++;
            continue;
        }
        int s = import_table_get(&spk, u->speaker);
        if (s < 0) {
            import_table_put(&spk, u->speaker, s = n_spk);
            spk_name[n_spk++] = u->speaker;
        }
        spk_count[s]++;
    }
    fprintf(f, "%d utterances, %d speakers%s\n", m->n, n_spk, no_spk ? "" : "");
    if (no_spk) fprintf(f, "%d utterances without a speaker id\n", no_spk);
    fprintf(f, "per class:\n");
    for (int c = 0; c < map->n; c++) fprintf(f, "  %-12s %7d\n", map->names[c], per_class[c]);
    if (per_class[map->n]) fprintf(f, "  %-12s %7d\n", "(no label)", per_class[map->n]);
    if (n_spk <= 60) {
        fprintf(f, "per speaker:\n");
        for (int s = 0; s < n_spk; s++) fprintf(f, "  %-16s %7d\n", spk_name[s], spk_count[s]);
    } else {
        int lo = m->n, hi = 0;
        for (int s = 0; s < n_spk; s++) {
            if (spk_count[s] < lo) lo = spk_count[s];
            if (spk_count[s] > hi) hi = spk_count[s];
        }
        fprintf(f, "per speaker: %d to %d utterances\n", lo, hi);
    }
    free(per_class);
    free(spk_count);
    free(spk_name);
    import_table_free(&spk);
}
