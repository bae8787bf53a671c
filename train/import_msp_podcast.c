/* MSP-Podcast importer (release 1.12; Lotfian and Busso 2019; SERNC challenge, Interspeech 2025).
 *   Labels/labels_consensus.csv   FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
 *   Labels/labels_detailed.csv    one row per rating; two layouts (see parse_detailed)
 *   Audios/<FileName>             (Audio/ in some releases)
 *   Transcripts/<FileName without .wav>.txt
 * EmoClass letters: N neutral, H happy, S sad, A angry, U surprise, F fear, D disgust, C contempt (the
 * SERNC 8 classes), O other, X no agreement. O and X turns are kept (their A/V/D are valid) without a
 * categorical label; with --labels all, O becomes the label "other".
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import.h"
#include "json.h"

static const char *SERNC[8] = {"neutral", "happy", "sad", "angry", "surprise", "fear", "disgust", "contempt"};

/* The label for an EmoClass letter or a rater's primary-emotion word; NULL for other / no agreement. */
static const char *msp_label(const char *s, int with_other) {
    static const char *const WORDS[][3] = {
        {"N", "neutral", "neutral"}, {"H", "happy", "happiness"}, {"S", "sad", "sadness"},   {"A", "angry", "anger"},
        {"U", "surprise", "surprised"}, {"F", "fear", "fearful"}, {"D", "disgust", "disgusted"}, {"C", "contempt", "contemptuous"},
    };
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 3; k++)
            if (strlen(WORDS[i][k]) == n && strncasecmp(s, WORDS[i][k], n) == 0) return SERNC[i];
    if (with_other && ((n == 1 && toupper((unsigned char)s[0]) == 'O') || strncasecmp(s, "other", 5) == 0)) return "other";
    return NULL;
}

static int col_index(char **f, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(f[i], name)) return i;
    return -1;
}

static int parse_double(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == '\0';
}

/* Votes per (utterance, class) from labels_detailed.csv into votes[utt * 10 + slot] (slots below).
 * Layout 1 (1.6-era): columns FileName, ..., EmoClass_Major (a letter or word). Layout 2
 * (1.11/1.12): columns FileName, EmoDetail with "WORKER00014; Angry; Angry,Disgust; A:2.0; V:3.0; D:4.0;"
 * (rater; primary; secondary; attributes). */
static int parse_detailed(const char *path, const ImportTable *ids, int with_other, int *votes, SercErr *err) {
    ImportLines t;
    if (import_read_lines(path, &t, err)) return -1;
    char *f[64];
    int rc = 0;
    int nf = t.n ? import_csv_split(t.line[0], f, 64) : 0;
    int c_file = col_index(f, nf, "FileName"), c_major = col_index(f, nf, "EmoClass_Major"), c_detail = col_index(f, nf, "EmoDetail");
    if (c_file < 0 || (c_major < 0 && c_detail < 0))
        rc = serc_fail(err, "%s:1: header needs FileName and EmoClass_Major or EmoDetail columns", path);
    int ncol = nf;
    for (int i = 1; rc == 0 && i < t.n; i++) {
        if (!t.line[i][0]) continue;
        nf = import_csv_split(t.line[i], f, 64);
        if (nf != ncol) {
            rc = serc_fail(err, "%s:%d: %d fields, the header has %d%s", path, i + 1, nf < 0 ? 0 : nf, ncol,
                           nf < 0 ? " (unterminated quote)" : "");
            break;
        }
        int u = import_table_get(ids, f[c_file]);
        if (u < 0) continue; /* rated turn not in the consensus file */
        const char *primary = NULL;
        char buf[256];
        if (c_major >= 0) {
            primary = f[c_major];
        } else {
            const char *d = f[c_detail], *semi = strchr(d, ';');
            const char *semi2 = semi ? strchr(semi + 1, ';') : NULL;
            if (!semi || !semi2 || (size_t)(semi2 - semi - 1) >= sizeof buf) {
                rc = serc_fail(err, "%s:%d: EmoDetail '%s' is not 'WORKER; primary; secondary; A:x; V:x; D:x'", path, i + 1, d);
                break;
            }
            memcpy(buf, semi + 1, (size_t)(semi2 - semi - 1));
            buf[semi2 - semi - 1] = '\0';
            primary = buf;
        }
        const char *label = msp_label(primary, with_other);
        int cls = 8; /* slots: 0..7 the SERNC classes, 8 outside the label set, 9 "other" */
        if (label && !strcmp(label, "other")) cls = 9;
        for (int k = 0; k < 8 && label; k++)
            if (!strcmp(label, SERNC[k])) cls = k;
        votes[(size_t)u * 10 + cls]++;
    }
    import_free_lines(&t);
    return rc;
}

static char *read_transcript(const char *path) {
    ImportLines t;
    SercErr ignore;
    if (!import_is_file(path) || import_read_lines(path, &t, &ignore)) return NULL;
    JsonBuf b = {0};
    for (int i = 0; i < t.n; i++) {
        if (b.len && t.line[i][0]) jsonbuf_append(&b, " ", 1);
        jsonbuf_append(&b, t.line[i], strlen(t.line[i]));
    }
    import_free_lines(&t);
    char *s = b.data ? b.data : serc_strdup("");
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

static ManifestSplit msp_split(const char *s) {
    if (!strcmp(s, "Train")) return SPLIT_TRAIN;
    if (!strcmp(s, "Development") || !strcmp(s, "Validation")) return SPLIT_DEV;
    if (!strncmp(s, "Test", 4)) return SPLIT_TEST;
    return SPLIT_ABSENT;
}

int import_msp_podcast(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err) {
    const char *want = o->labels ? o->labels : "8";
    int with_other = !strcmp(want, "all");
    if (!with_other && strcmp(want, "8") != 0) return serc_fail(err, "msp-podcast: unknown label set '%s' (8, all)", want);
    for (int k = 0; k < 8; k++) labelmap_add(map, SERNC[k]);
    if (with_other) labelmap_add(map, "other");
    char *path = import_path("%s/Labels/labels_consensus.csv", o->root);
    char *audio_dir = import_path("%s/Audios", o->root);
    if (!import_is_dir(audio_dir)) {
        free(audio_dir);
        audio_dir = import_path("%s/Audio", o->root);
    }
    ImportLines t;
    int rc = import_read_lines(path, &t, err);
    if (rc) goto out_paths;
    char *f[64];
    int nf = t.n ? import_csv_split(t.line[0], f, 64) : 0;
    static const char *COLS[8] = {"FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set"};
    int col[8];
    for (int k = 0; k < 8 && rc == 0; k++)
        if ((col[k] = col_index(f, nf, COLS[k])) < 0) rc = serc_fail(err, "%s:1: header has no '%s' column", path, COLS[k]);
    int ncol = nf;
    ImportTable ids = {0};
    for (int i = 1; rc == 0 && i < t.n; i++) {
        if (!t.line[i][0]) continue;
        nf = import_csv_split(t.line[i], f, 64);
        if (nf != ncol) {
            rc = serc_fail(err, "%s:%d: %d fields, the header has %d", path, i + 1, nf < 0 ? 0 : nf, ncol);
            break;
        }
        double act, val, dom;
        const char *bad = !parse_double(f[col[2]], &act) ? "EmoAct" : !parse_double(f[col[3]], &val) ? "EmoVal"
                          : !parse_double(f[col[4]], &dom) ? "EmoDom" : NULL;
        if (bad) {
            rc = serc_fail(err, "%s:%d: %s must be a number, got '%s'", path, i + 1, bad, f[col[bad[3] == 'A' ? 2 : bad[3] == 'V' ? 3 : 4]]);
            break;
        }
        const char *cls = f[col[1]];
        if (strlen(cls) != 1 || !strchr("NHSAUFDCOX", cls[0])) {
            rc = serc_fail(err, "%s:%d: EmoClass must be one of N H S A U F D C O X, got '%s'", path, i + 1, cls);
            break;
        }
        ManifestSplit split = msp_split(f[col[7]]);
        if (split == SPLIT_ABSENT) {
            rc = serc_fail(err, "%s:%d: unknown Split_Set '%s' (Train, Development, Test1, Test2, Test3)", path, i + 1, f[col[7]]);
            break;
        }
        const char *g = f[col[6]];
        ManifestGender gender = !strcasecmp(g, "Female") ? GENDER_FEMALE : !strcasecmp(g, "Male") ? GENDER_MALE : GENDER_UNKNOWN;
        char *id = serc_strdup(f[col[0]]);
        size_t n = strlen(id);
        if (n > 4 && !strcasecmp(id + n - 4, ".wav")) id[n - 4] = '\0';
        char *wav = import_path("%s/%s", audio_dir, f[col[0]]);
        char *source = import_path("%s:%d", path, i + 1);
        Utterance *u = import_add(m, id, wav, source, err);
        free(wav);
        free(source);
        if (!u) {
            free(id);
            rc = -1;
            break;
        }
        import_table_put(&ids, f[col[0]], m->n - 1);
        const char *label = msp_label(cls, with_other);
        if (label) u->label = serc_strdup(label);
        u->arousal = act, u->valence = val, u->dominance = dom;
        u->has_arousal = u->has_valence = u->has_dominance = 1;
        if (strcasecmp(f[col[5]], "Unknown") != 0 && f[col[5]][0]) u->speaker = import_path("msp%s", f[col[5]]);
        u->gender = gender;
        u->split = split;
        u->split_name = serc_strdup(f[col[7]]);
        u->corpus = serc_strdup("msp-podcast");
        u->lang = serc_strdup("en");
        char *tp = import_path("%s/Transcripts/%s.txt", o->root, id);
        u->transcript = read_transcript(tp);
        free(tp);
        free(id);
    }
    import_free_lines(&t);
    char *detailed = import_path("%s/Labels/labels_detailed.csv", o->root);
    if (rc == 0 && import_is_file(detailed)) {
        int *votes = serc_calloc((size_t)m->n * 10 + 1, sizeof *votes);
        rc = parse_detailed(detailed, &ids, with_other, votes, err);
        for (int i = 0; rc == 0 && i < m->n; i++) {
            int *v = votes + (size_t)i * 10, total = 0, ncls = 0;
            for (int k = 0; k < 8; k++) total += v[k], ncls += v[k] > 0;
            if (with_other) total += v[9], ncls += v[9] > 0;
            if (!total) continue;
            Utterance *u = &m->utts[i];
            u->label_dist = serc_calloc((size_t)ncls, sizeof *u->label_dist);
            for (int k = 0; k < 9; k++) {
                int c = k < 8 ? v[k] : (with_other ? v[9] : 0);
                if (c) u->label_dist[u->n_dist++] = (LabelProb){serc_strdup(k < 8 ? SERNC[k] : "other"), (double)c / total};
            }
        }
        free(votes);
    }
    free(detailed);
    import_table_free(&ids);
out_paths:
    free(path);
    free(audio_dir);
    return rc;
}
