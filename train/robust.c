/* `serc robust`: noise sources, the label mapping and the evaluation loop (train/robust.h). The report
 * writers are in train/robust_report.c, the noise-folder importer in train/import_noise.c. */
#include "robust.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio.h"
#include "checkpoint.h"
#include "experiment.h"
#include "noise.h"
#include "rng.h"
#include "trainer.h"

/* ---- Philox streams ----
 * Each source has its own Philox key, seed_c = splitmix64(seed ^ fnv1a(source name)); utterance i of
 * the test manifest owns the counter range [i << 28, (i + 1) << 28), cut into four sub-streams of 2^26
 * blocks: 0 the noise samples (white, pink), 1 the scalar draws (hum phases, babble talkers, a real
 * file and its offset, reverb taps), 2 the babble pool choice (used with i = 0 only). */
enum { SUB_SAMPLES = 0, SUB_DRAWS = 1, SUB_POOL = 2 };

static uint64_t stream_offset(uint64_t index, int sub) { return (index << 28) | ((uint64_t)sub << 26); }

static uint64_t fnv1a64(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* ---- sources ---- */

struct RobustSource {
    RobustKind kind;
    char name[96];
    int sr;
    uint64_t seed;            /* this source's Philox key */
    const Manifest *speech;   /* babble: speakers of the corrupted utterances */
    /* babble pool */
    float **pool_x;
    int64_t *pool_n;
    int32_t *pool_index;      /* index in speech */
    int pool_count;
    /* real noise */
    Manifest *noise;
    double *noise_dur;        /* seconds of each listed segment */
};

RobustKind robust_source_kind(const RobustSource *s) { return s->kind; }
const char *robust_source_name(const RobustSource *s) { return s->name; }

void robust_source_free(RobustSource *s) {
    if (!s) return;
    for (int k = 0; k < s->pool_count; k++) free(s->pool_x[k]);
    free(s->pool_x);
    free(s->pool_n);
    free(s->pool_index);
    manifest_free(s->noise);
    free(s->noise_dur);
    free(s);
}

/* Up to ROBUST_BABBLE_POOL utterances of speech in a Philox order, unreadable ones passed over. */
static int babble_pool_load(RobustSource *s, SercErr *err) {
    const Manifest *m = s->speech;
    if (!m || m->n < 2) return serc_fail(err, "babble: needs at least 2 utterances in the test manifest to draw talkers from");
    int32_t *order = serc_malloc((size_t)m->n * sizeof *order);
    for (int32_t i = 0; i < m->n; i++) order[i] = i;
    NoiseRng r = {s->seed, stream_offset(0, SUB_POOL), 0};
    for (int32_t i = m->n - 1; i > 0; i--) { /* Fisher-Yates */
        int32_t j = (int32_t)noise_randint(&r, i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    s->pool_x = serc_calloc(ROBUST_BABBLE_POOL, sizeof *s->pool_x);
    s->pool_n = serc_calloc(ROBUST_BABBLE_POOL, sizeof *s->pool_n);
    s->pool_index = serc_calloc(ROBUST_BABBLE_POOL, sizeof *s->pool_index);
    const int64_t cap = (int64_t)(ROBUST_BABBLE_MAX_S * s->sr);
    SercErr first = {{0}};
    for (int32_t i = 0; i < m->n && s->pool_count < ROBUST_BABBLE_POOL; i++) {
        const Utterance *u = &m->utts[order[i]];
        float *x = NULL;
        int64_t n = 0;
        int sr_got;
        SercErr e;
        if (audio_load(u->audio_path, u->has_start ? u->start : 0, u->has_end ? u->end : -1, s->sr, &x, &n, &sr_got, &e)) {
            if (!first.msg[0]) first = e;
            continue;
        }
        if (n == 0 || noise_power(x, n) == 0) {
            free(x);
            continue;
        }
        s->pool_x[s->pool_count] = x;
        s->pool_n[s->pool_count] = n < cap ? n : cap;
        s->pool_index[s->pool_count++] = order[i];
    }
    free(order);
    if (s->pool_count < 2)
        return serc_fail(err, "babble: fewer than 2 readable, non-silent utterances in the test manifest%s%s",
                         first.msg[0] ? "; first failure: " : "", first.msg);
    return 0;
}

/* Reads a noise manifest and probes every listed file. */
static int real_noise_load(RobustSource *s, const char *path, SercErr *err) {
    s->noise = manifest_read(path, err);
    if (!s->noise) return serc_fail_prefix(err, "noise manifest");
    s->noise_dur = serc_malloc((size_t)s->noise->n * sizeof *s->noise_dur);
    for (int k = 0; k < s->noise->n; k++) {
        const Utterance *u = &s->noise->utts[k];
        AudioInfo info;
        if (audio_probe(u->audio_path, &info, err))
            return serc_fail_prefix(err, "%s:%lld: noise '%s'", path, (long long)u->line, u->id);
        double a = u->has_start ? u->start : 0, b = u->has_end ? u->end : info.duration_s;
        if (b > info.duration_s + AUDIO_END_TOLERANCE_S || a >= b)
            return serc_fail(err, "%s:%lld: noise '%s': segment [%.3f, %.3f) s is not inside %s (duration %.3f s)", path,
                             (long long)u->line, u->id, a, b, u->audio_path, info.duration_s);
        s->noise_dur[k] = fmin(b, info.duration_s) - a;
    }
    return 0;
}

/* The stem of a path: "data/musan.jsonl" -> "musan". */
static void path_stem(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, n, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
}

RobustSource *robust_source_new(const char *spec, const Manifest *speech, int sample_rate, uint64_t seed,
                                SercErr *err) {
    static const struct {
        const char *name;
        RobustKind kind;
    } KINDS[] = {{"white", ROBUST_WHITE}, {"pink", ROBUST_PINK}, {"babble", ROBUST_BABBLE},
                 {"hum", ROBUST_HUM},     {"reverb", ROBUST_REVERB}};
    if (sample_rate < 1000) {
        serc_fail(err, "noise '%s': sample rate %d Hz is too low", spec, sample_rate);
        return NULL;
    }
    RobustSource *s = serc_calloc(1, sizeof *s);
    s->sr = sample_rate;
    s->speech = speech;
    int found = 0;
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (!strcmp(spec, KINDS[i].name)) {
            s->kind = KINDS[i].kind;
            snprintf(s->name, sizeof s->name, "%s", spec);
            found = 1;
        }
    if (!found && !strncmp(spec, "real:", 5) && spec[5]) {
        s->kind = ROBUST_REAL;
        char stem[80];
        path_stem(spec + 5, stem, sizeof stem);
        snprintf(s->name, sizeof s->name, "real:%s", stem);
        found = 1;
    }
    if (!found) {
        serc_fail(err, "unknown noise '%s' (white, pink, babble, hum, real:NOISE.jsonl)", spec);
        robust_source_free(s);
        return NULL;
    }
    s->seed = splitmix64(seed ^ fnv1a64(s->name));
    int rc = 0;
    if (s->kind == ROBUST_BABBLE) rc = babble_pool_load(s, err);
    if (s->kind == ROBUST_REAL) rc = real_noise_load(s, spec + 5, err);
    if (rc) {
        robust_source_free(s);
        return NULL;
    }
    return s;
}

/* Babble for utterance `index`: the pool without the utterance itself and, when others remain, without
 * its speaker's utterances. */
static void babble_for(const RobustSource *s, int32_t index, float *y, int64_t n, NoiseRng *r) {
    const char *spk = s->speech && index < s->speech->n ? s->speech->utts[index].speaker : NULL;
    const float *x[ROBUST_BABBLE_POOL];
    int64_t nx[ROBUST_BABBLE_POOL];
    int count = 0;
    for (int pass = 0; pass < 2 && count == 0; pass++)
        for (int k = 0; k < s->pool_count; k++) {
            if (s->pool_index[k] == index) continue;
            const char *ps = s->speech->utts[s->pool_index[k]].speaker;
            if (pass == 0 && spk && ps && !strcmp(spk, ps)) continue;
            x[count] = s->pool_x[k], nx[count++] = s->pool_n[k];
        }
    NoisePool pool = {x, nx, count};
    noise_babble(y, n, &pool, ROBUST_BABBLE_TALKERS, r);
}

/* A stretch of a listed noise recording, looped to n samples: file k and a start drawn from r. */
static int real_noise_for(const RobustSource *s, float *y, int64_t n, NoiseRng *r, int *file, SercErr *err) {
    const int k = noise_randint(r, s->noise->n);
    const double u_start = noise_uniform(r), u_loop = noise_uniform(r);
    const Utterance *u = &s->noise->utts[k];
    const double a0 = u->has_start ? u->start : 0, dur = s->noise_dur[k], need = (double)n / s->sr + 0.01;
    double a = a0, b = a0 + dur;
    if (dur > need) a = a0 + u_start * (dur - need), b = a + need;
    float *z = NULL;
    int64_t nz = 0;
    int sr_got;
    *file = k;
    if (audio_load(u->audio_path, a, b, s->sr, &z, &nz, &sr_got, err))
        return serc_fail_prefix(err, "noise '%s' (%s:%lld)", u->id, s->noise->path, (long long)u->line);
    if (nz == 0) {
        free(z);
        return serc_fail(err, "noise '%s' (%s:%lld): %s: no samples", u->id, s->noise->path, (long long)u->line, u->audio_path);
    }
    int64_t o = dur > need ? 0 : (int64_t)(u_loop * (double)nz) % nz;
    for (int64_t i = 0; i < n; i++) y[i] = z[(o + i) % nz];
    free(z);
    return 0;
}

int robust_corrupt(const RobustSource *s, double level, int32_t index, float *x, int64_t n, SercErr *err) {
    if (n <= 0) return 0;
    SERC_ASSERT(index >= 0 && n < ((int64_t)1 << 28), "robust_corrupt: index %d, %lld samples out of range", index,
                (long long)n);
    NoiseRng r = {s->seed, stream_offset((uint64_t)index, SUB_DRAWS), 0};
    float *y = serc_malloc((size_t)n * sizeof *y);
    if (s->kind == ROBUST_REVERB) {
        noise_reverb(x, n, y, level, s->sr, &r);
        memcpy(x, y, (size_t)n * sizeof *x);
        free(y);
        return 0;
    }
    int file = -1;
    switch (s->kind) {
    case ROBUST_WHITE: noise_white(y, n, s->seed, stream_offset((uint64_t)index, SUB_SAMPLES)); break;
    case ROBUST_PINK: noise_pink(y, n, s->seed, stream_offset((uint64_t)index, SUB_SAMPLES)); break;
    case ROBUST_HUM: noise_hum(y, n, s->sr, &r); break;
    case ROBUST_BABBLE: babble_for(s, index, y, n, &r); break;
    case ROBUST_REAL:
        if (real_noise_for(s, y, n, &r, &file, err)) {
            free(y);
            return -1;
        }
        break;
    case ROBUST_REVERB: break;
    }
    uint8_t *active = serc_malloc((size_t)n);
    int rc = 0;
    if (noise_speech_activity(x, n, s->sr, ROBUST_VAD_FRAME_S, ROBUST_VAD_THRESHOLD_DB, active) > 0 &&
        noise_mix_snr_active(x, y, active, n, level, x) == 0) {
        if (file >= 0)
            rc = serc_fail(err, "noise '%s' (%s): silent where utterance %d is speech-active; no SNR can be set",
                           s->noise->utts[file].id, s->noise->utts[file].audio_path, index);
        else
            rc = serc_fail(err, "noise '%s' is silent where utterance %d is speech-active; no SNR can be set", s->name, index);
    }
    free(active);
    free(y);
    return rc;
}

/* ---- label mapping ---- */

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

static int map_add_pair(RobustLabelMap *map, char *pair, const char *where, SercErr *err) {
    char *eq = strchr(pair, '=');
    if (!eq) return serc_fail(err, "%s: '%s' is not a pair FROM=TO", where, trim(pair));
    *eq = '\0';
    char *from = trim(pair), *to = trim(eq + 1);
    if (!*from) return serc_fail(err, "%s: a pair has an empty source label ('=%s')", where, to);
    for (int i = 0; i < map->n; i++)
        if (!strcmp(map->from[i], from)) return serc_fail(err, "%s: label '%s' is mapped twice", where, from);
    map->from = serc_realloc(map->from, (size_t)(map->n + 1) * sizeof *map->from);
    map->to = serc_realloc(map->to, (size_t)(map->n + 1) * sizeof *map->to);
    map->from[map->n] = serc_strdup(from);
    map->to[map->n++] = (*to && strcmp(to, "-")) ? serc_strdup(to) : NULL;
    return 0;
}

int robust_parse_label_map(const char *spec, RobustLabelMap *map, SercErr *err) {
    memset(map, 0, sizeof *map);
    int rc = 0;
    if (strchr(spec, '=')) {
        char *buf = serc_strdup(spec);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save))
            rc = map_add_pair(map, tok, "--map", err);
        free(buf);
    } else {
        FILE *f = fopen(spec, "r");
        if (!f) return serc_fail(err, "%s: cannot read the label mapping file", spec);
        char *line = NULL;
        size_t cap = 0;
        long no = 0;
        while (!rc && getline(&line, &cap, f) >= 0) {
            no++;
            char *hash = strchr(line, '#');
            if (hash) *hash = '\0';
            char *t = trim(line);
            if (!*t) continue;
            char where[600];
            snprintf(where, sizeof where, "%s:%ld", spec, no);
            rc = map_add_pair(map, t, where, err);
        }
        free(line);
        fclose(f);
    }
    if (!rc && map->n == 0) rc = serc_fail(err, "label mapping '%s' has no pair", spec);
    if (rc) robust_label_map_free(map);
    return rc;
}

void robust_label_map_free(RobustLabelMap *map) {
    for (int i = 0; i < map->n; i++) free(map->from[i]), free(map->to[i]);
    free(map->from);
    free(map->to);
    memset(map, 0, sizeof *map);
}

void robust_mapping_free(RobustMapping *rep) {
    robust_label_map_free(&rep->used);
    free(rep->count);
    memset(rep, 0, sizeof *rep);
}

static int class_of(const char *const *classes, int n, const char *name) {
    for (int c = 0; c < n; c++)
        if (!strcmp(classes[c], name)) return c;
    return -1;
}

static void list_classes(const char *const *classes, int n, char *out, size_t cap) {
    size_t len = 0;
    out[0] = '\0';
    for (int c = 0; c < n && len + 1 < cap; c++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", c ? ", " : "", classes[c]);
}

/* Target of source label `from` (NULL: nothing), or -1 with err. */
static int map_target(const char *from, const char *const *classes, int n_classes, const RobustLabelMap *map,
                      const Manifest *m, const Utterance *u, const char **to, SercErr *err) {
    if (!map) {
        *to = class_of(classes, n_classes, from) >= 0 ? from : NULL;
        return 0;
    }
    for (int j = 0; j < map->n; j++) {
        if (strcmp(map->from[j], from)) continue;
        *to = map->to[j];
        return 0;
    }
    return serc_fail(err, "%s:%lld: label '%s' is not in the label mapping (map it to a class, or to nothing with %s=-)",
                     m->path ? m->path : "manifest", (long long)u->line, from, from);
}

int robust_map_labels(const Manifest *m, const char *const *classes, int n_classes, const RobustLabelMap *map,
                      Manifest **out, int32_t **orig_index, RobustMapping *rep, SercErr *err) {
    memset(rep, 0, sizeof *rep);
    rep->identity = map == NULL;
    *out = NULL;
    *orig_index = NULL;
    for (int j = 0; map && j < map->n; j++) /* every target is a class, used or not */
        if (map->to[j] && class_of(classes, n_classes, map->to[j]) < 0) {
            char names[512];
            list_classes(classes, n_classes, names, sizeof names);
            return serc_fail(err, "label mapping %s=%s: '%s' is not a class of the checkpoint (%s)", map->from[j],
                             map->to[j], map->to[j], names);
        }
    *out = manifest_new(m->dir);
    if (m->path) (*out)->path = serc_strdup(m->path);
    *orig_index = serc_malloc((size_t)(m->n ? m->n : 1) * sizeof **orig_index);
    int cap = 0;
    for (int i = 0; i < m->n; i++) {
        const Utterance *u = &m->utts[i];
        if (!u->label) {
            rep->unlabeled++;
            continue;
        }
        int k = 0;
        while (k < rep->used.n && strcmp(rep->used.from[k], u->label)) k++;
        if (k == rep->used.n) {
            const char *to = NULL;
            if (map_target(u->label, classes, n_classes, map, m, u, &to, err)) goto fail;
            if (rep->used.n == cap) {
                cap = cap ? 2 * cap : 16;
                rep->used.from = serc_realloc(rep->used.from, (size_t)cap * sizeof(char *));
                rep->used.to = serc_realloc(rep->used.to, (size_t)cap * sizeof(char *));
                rep->count = serc_realloc(rep->count, (size_t)cap * sizeof(int64_t));
            }
            rep->used.from[k] = serc_strdup(u->label);
            rep->used.to[k] = to ? serc_strdup(to) : NULL;
            rep->count[k] = 0;
            rep->used.n++;
        }
        rep->count[k]++;
        if (!rep->used.to[k]) {
            rep->skipped++;
            continue;
        }
        (*orig_index)[(*out)->n] = i;
        Utterance *c = manifest_append_copy(*out, u);
        free(c->label);
        c->label = serc_strdup(rep->used.to[k]);
        for (int d = 0; d < c->n_dist; d++) free(c->label_dist[d].name);
        free(c->label_dist);
        c->label_dist = NULL;
        c->n_dist = 0;
        rep->kept++;
    }
    if (rep->kept == 0) {
        char names[512];
        list_classes(classes, n_classes, names, sizeof names);
        serc_fail(err, "%s: no utterance has a label that maps to a class of the checkpoint (%s)%s",
                  m->path ? m->path : "manifest", names,
                  map ? "" : "; give --map FROM=TO,... when the label names differ");
        goto fail;
    }
    return 0;
fail:
    manifest_free(*out);
    *out = NULL;
    free(*orig_index);
    *orig_index = NULL;
    robust_mapping_free(rep);
    return -1;
}

/* ---- options ---- */

void robust_options_default(RobustOptions *o) {
    memset(o, 0, sizeof *o);
    static const char *const NOISE[] = {"white", "pink", "babble"};
    static const double SNR[] = {20, 10, 5, 0, -5};
    for (int i = 0; i < 3; i++) o->noise[o->n_noise++] = NOISE[i];
    for (int i = 0; i < 5; i++) o->snr_db[o->n_snr++] = SNR[i];
    o->seed = 1;
    o->workers = -1;
}

int robust_parse_levels(const char *list, const char *what, double lo, double hi, double *out, int *n, SercErr *err) {
    *n = 0;
    if (!*list) return serc_fail(err, "%s: empty list", what);
    const char *p = list;
    for (;;) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || (*end && *end != ',') || !isfinite(v)) {
            size_t len = strcspn(p, ",");
            return serc_fail(err, "%s '%s': '%.*s' is not a number", what, list, (int)len, p);
        }
        if (v < lo || v > hi) return serc_fail(err, "%s '%s': %g is outside [%g, %g]", what, list, v, lo, hi);
        for (int i = 0; i < *n; i++)
            if (out[i] == v) return serc_fail(err, "%s '%s': %g is given twice", what, list, v);
        if (*n == ROBUST_MAX_LEVELS) return serc_fail(err, "%s '%s': more than %d values", what, list, ROBUST_MAX_LEVELS);
        out[(*n)++] = v;
        if (!*end) return 0;
        p = end + 1;
    }
}

/* ---- the protocol ---- */

/* The loader transform: corrupts utterance i of the mapped manifest as utterance orig[i] of the test
 * manifest. The first failure is kept, so that it stops the run even under data.skip_bad. */
typedef struct Corruption {
    const RobustSource *src;
    double level;
    const int32_t *orig;
    pthread_mutex_t mu;
    int failed;
    SercErr first;
} Corruption;

static int corrupt_item(void *user, int32_t index, float *audio, int64_t n, int sample_rate, SercErr *err) {
    Corruption *c = user;
    SERC_ASSERT(sample_rate == c->src->sr, "robust: loader at %d Hz, noise source at %d Hz", sample_rate, c->src->sr);
    if (robust_corrupt(c->src, c->level, c->orig[index], audio, n, err) == 0) return 0;
    pthread_mutex_lock(&c->mu);
    if (!c->failed) c->failed = 1, c->first = *err;
    pthread_mutex_unlock(&c->mu);
    return -1;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static RobustRow *add_row(RobustModel *md, const char *condition, double level) {
    md->rows = serc_realloc(md->rows, (size_t)(md->n_rows + 1) * sizeof *md->rows);
    RobustRow *r = &md->rows[md->n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->condition, sizeof r->condition, "%s", condition);
    r->level = level;
    return r;
}

/* Scores e on m (corrupted by src at level when src is set) into a new row of md. */
static int score(Experiment *e, const Manifest *m, const int32_t *orig, const RobustSource *src, double level,
                 const char *condition, RobustModel *md, FILE *log, SercErr *err) {
    LoaderOptions lo = experiment_loader_options(e, 0);
    Corruption c = {.src = src, .level = level, .orig = orig};
    pthread_mutex_init(&c.mu, NULL);
    if (src) lo.transform = corrupt_item, lo.transform_user = &c;
    double t0 = now_s();
    EvalResult r;
    int rc = eval_experiment(e, m, &lo, &r, err);
    pthread_mutex_destroy(&c.mu);
    if (rc == 0 && c.failed) {
        *err = c.first;
        eval_result_free(&r);
        rc = -1;
    }
    if (rc) return serc_fail_prefix(err, "%s, %s", md->name, condition);
    RobustRow *row = add_row(md, condition, level);
    row->ua = r.ua, row->wa = r.wa, row->macro_f1 = r.macro_f1;
    row->utterances = confusion_total(&r.cm);
    row->bad_skipped = r.bad_skipped;
    eval_result_free(&r);
    if (log) {
        char lv[32] = "";
        if (src && src->kind == ROBUST_REVERB) snprintf(lv, sizeof lv, "RT60 %g s", level);
        else if (src) snprintf(lv, sizeof lv, "%g dB", level);
        fprintf(log, "[%s] %-14s %-11s UA %.4f  macro-F1 %.4f  (%lld utterances, %.1f s)\n", md->name, condition, lv,
                row->ua, row->macro_f1, (long long)row->utterances, now_s() - t0);
        fflush(log);
    }
    return 0;
}

/* The class names stored in a checkpoint (serc.labels). */
static int checkpoint_classes(const char *ckpt, RobustModel *md, SercErr *err) {
    char *text = checkpoint_read_meta(ckpt, "serc.labels", err);
    if (!text) return -1;
    JsonValue *j = json_parse(text, strlen(text), err);
    free(text);
    if (!j || json_type(j) != JSON_ARRAY || json_len(j) == 0) {
        json_free(j);
        return serc_fail(err, "%s: serc.labels is not a non-empty JSON array of class names", ckpt);
    }
    md->n_labels = (int)json_len(j);
    md->labels = serc_calloc((size_t)md->n_labels, sizeof *md->labels);
    for (int c = 0; c < md->n_labels; c++) {
        const char *s = json_string(json_at(j, (size_t)c));
        md->labels[c] = serc_strdup(s ? s : "?");
    }
    json_free(j);
    return 0;
}

/* "runs/baseline/best.safetensors" -> "baseline"; a file in the working folder gives its stem. */
static char *default_name(const char *ckpt) {
    char *dir = manifest_dirname(ckpt), stem[128];
    const char *b = strrchr(dir, '/');
    b = b ? b + 1 : dir;
    if (!strcmp(b, ".") || !strcmp(b, "..") || !*b) path_stem(ckpt, stem, sizeof stem);
    else snprintf(stem, sizeof stem, "%s", b);
    free(dir);
    return serc_strdup(stem);
}

/* Sources for one sample rate, rebuilt only when a checkpoint uses another. */
typedef struct SourceSet {
    int sr;
    RobustSource *src[ROBUST_MAX_NOISES + 1];
    int n;
} SourceSet;

static void source_set_free(SourceSet *ss) {
    for (int i = 0; i < ss->n; i++) robust_source_free(ss->src[i]);
    ss->n = 0;
    ss->sr = 0;
}

static int source_set_build(SourceSet *ss, const RobustOptions *o, const Manifest *test, int sr, SercErr *err) {
    if (ss->sr == sr) return 0;
    source_set_free(ss);
    for (int i = 0; i <= o->n_noise; i++) {
        if (i == o->n_noise && o->n_rt60 == 0) break;
        const char *spec = i < o->n_noise ? o->noise[i] : "reverb";
        RobustSource *s = robust_source_new(spec, test, sr, o->seed, err);
        if (!s) {
            source_set_free(ss);
            return -1;
        }
        ss->src[ss->n++] = s;
    }
    ss->sr = sr;
    return 0;
}

static int run_model(const RobustOptions *o, int k, const Manifest *test, const Manifest *cross,
                     const RobustLabelMap *map, SourceSet *ss, RobustModel *md, SercErr *err) {
    Manifest *mt = NULL, *mc = NULL;
    int32_t *orig = NULL, *orig_c = NULL;
    Experiment e;
    int rc = experiment_from_checkpoint(&e, o->ckpt[k], err);
    if (rc) {
        if (e.ps) experiment_free(&e);
        return -1;
    }
    if (o->workers >= 0) e.cfg.data.workers = o->workers;
    rc = robust_map_labels(test, (const char *const *)md->labels, md->n_labels, NULL, &mt, &orig, &md->test_map, err);
    if (!rc) rc = source_set_build(ss, o, test, e.mel.sample_rate, err);
    if (!rc) rc = score(&e, mt, orig, NULL, NAN, "clean", md, o->log, err);
    for (int i = 0; !rc && i < ss->n; i++) {
        const RobustSource *s = ss->src[i];
        const int reverb = s->kind == ROBUST_REVERB;
        for (int j = 0; !rc && j < (reverb ? o->n_rt60 : o->n_snr); j++)
            rc = score(&e, mt, orig, s, reverb ? o->rt60_s[j] : o->snr_db[j], s->name, md, o->log, err);
    }
    if (!rc && cross) {
        md->has_cross = 1;
        rc = robust_map_labels(cross, (const char *const *)md->labels, md->n_labels, map, &mc, &orig_c, &md->cross_map, err);
        if (!rc) rc = score(&e, mc, orig_c, NULL, NAN, "cross", md, o->log, err);
    }
    manifest_free(mt);
    manifest_free(mc);
    free(orig);
    free(orig_c);
    experiment_free(&e);
    return rc;
}

int robust_run(const RobustOptions *o, RobustReport *rep, SercErr *err) {
    memset(rep, 0, sizeof *rep);
    if (o->n_models < 1) return serc_fail(err, "no checkpoint given");
    if (!o->manifest) return serc_fail(err, "no test manifest given");
    if (o->map && !o->cross) return serc_fail(err, "a label mapping needs a cross-corpus manifest");
    Manifest *test = manifest_read(o->manifest, err), *cross = NULL;
    if (!test) return -1;
    RobustLabelMap map = {0};
    int rc = 0;
    if (o->cross && !(cross = manifest_read(o->cross, err))) rc = -1;
    if (!rc && o->map) rc = robust_parse_label_map(o->map, &map, err);
    rep->manifest = serc_strdup(o->manifest);
    rep->cross = o->cross ? serc_strdup(o->cross) : NULL;
    rep->seed = o->seed;
    rep->n_snr = o->n_snr;
    memcpy(rep->snr_db, o->snr_db, sizeof rep->snr_db);
    rep->models = serc_calloc((size_t)o->n_models, sizeof *rep->models);
    /* every checkpoint's classes and both mappings first: a bad input fails before any evaluation */
    for (int k = 0; !rc && k < o->n_models; k++) {
        RobustModel *md = &rep->models[rep->n_models++];
        md->ckpt = serc_strdup(o->ckpt[k]);
        md->name = o->name[k] ? serc_strdup(o->name[k]) : default_name(o->ckpt[k]);
        for (int j = 0; j < k; j++)
            if (!strcmp(rep->models[j].name, md->name)) {
                char *nm = serc_malloc(strlen(md->name) + 16);
                sprintf(nm, "%s-%d", md->name, k + 1);
                free(md->name);
                md->name = nm;
            }
        rc = checkpoint_classes(o->ckpt[k], md, err);
        Manifest *tmp = NULL;
        int32_t *idx = NULL;
        RobustMapping rm;
        if (!rc) rc = robust_map_labels(test, (const char *const *)md->labels, md->n_labels, NULL, &tmp, &idx, &rm, err);
        if (!rc) manifest_free(tmp), free(idx), robust_mapping_free(&rm);
        if (!rc && cross) rc = robust_map_labels(cross, (const char *const *)md->labels, md->n_labels, o->map ? &map : NULL,
                                                 &tmp, &idx, &rm, err);
        if (!rc && cross) manifest_free(tmp), free(idx), robust_mapping_free(&rm);
        if (rc) serc_fail_prefix(err, "%s", md->name);
    }
    for (int i = 0; i < o->n_noise; i++) {
        char *nm = NULL;
        if (!strncmp(o->noise[i], "real:", 5)) {
            char stem[80];
            path_stem(o->noise[i] + 5, stem, sizeof stem);
            nm = serc_malloc(strlen(stem) + 6);
            sprintf(nm, "real:%s", stem);
        }
        rep->noise_names[rep->n_noise_names++] = nm ? nm : serc_strdup(o->noise[i]);
    }
    if (o->n_rt60) rep->noise_names[rep->n_noise_names++] = serc_strdup("reverb");
    SourceSet ss = {0};
    for (int k = 0; !rc && k < o->n_models; k++)
        rc = run_model(o, k, test, cross, o->map ? &map : NULL, &ss, &rep->models[k], err);
    source_set_free(&ss);
    robust_label_map_free(&map);
    manifest_free(test);
    manifest_free(cross);
    if (rc) robust_report_free(rep);
    return rc;
}

void robust_report_free(RobustReport *rep) {
    for (int k = 0; k < rep->n_models; k++) {
        RobustModel *md = &rep->models[k];
        free(md->name);
        free(md->ckpt);
        for (int c = 0; c < md->n_labels; c++) free(md->labels[c]);
        free(md->labels);
        free(md->rows);
        robust_mapping_free(&md->test_map);
        robust_mapping_free(&md->cross_map);
    }
    free(rep->models);
    free(rep->manifest);
    free(rep->cross);
    for (int i = 0; i < rep->n_noise_names; i++) free(rep->noise_names[i]);
    memset(rep, 0, sizeof *rep);
}
