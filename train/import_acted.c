/* Importers for acted corpora whose labels live in the file names: RAVDESS, CREMA-D, SAVEE, EmoDB.
 * Each file name is decoded in full; a .wav whose name does not follow the corpus's pattern is an
 * error naming the file (a stray file in a corpus folder usually means a wrong --root). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "import.h"

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* File name without its extension, malloc'ed. */
static char *stem(const char *path) {
    char *s = serc_strdup(base_name(path));
    char *dot = strrchr(s, '.');
    if (dot) *dot = '\0';
    return s;
}

static void set_common(Utterance *u, const char *corpus, const char *lang) {
    u->corpus = serc_strdup(corpus);
    u->lang = serc_strdup(lang);
}

/* ---- RAVDESS (Livingstone and Russo 2018): MM-VV-EE-II-SS-RR-AA.wav ---- */

static const char *RAVDESS_EMO[8] = {"neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise"};
static const char *RAVDESS_TEXT[2] = {"Kids are talking by the door", "Dogs are sitting by the door"};

int import_ravdess(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err) {
    if (o->labels && strcmp(o->labels, "8")) return serc_fail(err, "ravdess: unknown label set '%s' (8)", o->labels);
    for (int k = 0; k < 8; k++) labelmap_add(map, RAVDESS_EMO[k]);
    int n = 0, rc = 0;
    char **files = import_find_files(o->root, ".wav", &n, err);
    if (!files) return -1;
    for (int i = 0; i < n && rc == 0; i++) {
        char *id = stem(files[i]);
        int f[7], used = 0;
        if (sscanf(id, "%2d-%2d-%2d-%2d-%2d-%2d-%2d%n", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &used) != 7 ||
            id[used] || strlen(id) != 20 || f[0] < 1 || f[0] > 3 || f[1] < 1 || f[1] > 2 || f[2] < 1 || f[2] > 8 ||
            f[3] < 1 || f[3] > 2 || f[4] < 1 || f[4] > 2 || f[5] < 1 || f[5] > 2 || f[6] < 1 || f[6] > 24) {
            rc = serc_fail(err, "%s: name is not a RAVDESS code MM-VV-EE-II-SS-RR-AA (e.g. 03-01-06-01-02-01-12)", files[i]);
        } else if (f[1] == 1 || o->include_song) {
            Utterance *u = import_add(m, id, files[i], files[i], err);
            if (!u) {
                rc = -1;
            } else {
                u->label = serc_strdup(RAVDESS_EMO[f[2] - 1]);
                u->speaker = import_path("Actor_%02d", f[6]);
                u->gender = f[6] % 2 ? GENDER_MALE : GENDER_FEMALE;
                u->transcript = serc_strdup(RAVDESS_TEXT[f[4] - 1]);
                set_common(u, "ravdess", "en-US");
                if (f[1] == 2) u->condition = serc_strdup("song");
            }
        }
        free(id);
    }
    import_free_list(files, n);
    return rc;
}

/* ---- CREMA-D (Cao et al. 2014): AudioWAV/AAAA_SSS_EEE_LL.wav, VideoDemographics.csv ---- */

static const char *CREMA_CODES[6][2] = {{"NEU", "neutral"}, {"HAP", "happy"}, {"SAD", "sad"},
                                        {"ANG", "angry"},   {"FEA", "fear"},  {"DIS", "disgust"}};
static const char *CREMA_TEXT[12][2] = {
    {"IEO", "It's eleven o'clock"},         {"TIE", "That is exactly what happened"},
    {"IOM", "I'm on my way to the meeting"}, {"IWW", "I wonder what this is about"},
    {"TAI", "The airplane is almost full"},  {"MTI", "Maybe tomorrow it will be cold"},
    {"IWL", "I would like a new alarm clock"}, {"ITH", "I think I have a doctor's appointment"},
    {"DFA", "Don't forget a jacket"},        {"ITS", "I think I've seen this before"},
    {"TSI", "The surface is slick"},         {"WSI", "We'll stop in a couple of minutes"},
};

typedef struct CremaActor {
    int gender; /* ManifestGender */
    double age;
} CremaActor;

/* Reads VideoDemographics.csv (ActorID,Age,Sex,Race,Ethnicity) into actors[id - 1001]. */
static int crema_demographics(const char *path, CremaActor *actors, SercErr *err) {
    ImportLines t;
    if (import_read_lines(path, &t, err)) return -1;
    int rc = 0;
    char *f[16];
    int nf = t.n ? import_csv_split(t.line[0], f, 16) : 0;
    int c_id = -1, c_age = -1, c_sex = -1;
    for (int k = 0; k < nf; k++) {
        if (!strcmp(f[k], "ActorID")) c_id = k;
        if (!strcmp(f[k], "Age")) c_age = k;
        if (!strcmp(f[k], "Sex")) c_sex = k;
    }
    if (c_id < 0 || c_age < 0 || c_sex < 0) rc = serc_fail(err, "%s:1: header needs ActorID, Age and Sex columns", path);
    for (int i = 1; rc == 0 && i < t.n; i++) {
        if (!t.line[i][0]) continue;
        nf = import_csv_split(t.line[i], f, 16);
        char *end;
        long id = nf > c_id ? strtol(f[c_id], &end, 10) : 0;
        if (nf <= c_sex || nf <= c_age || id < 1001 || id > 1091 || *end) {
            rc = serc_fail(err, "%s:%d: expected an ActorID 1001..1091 with Age and Sex", path, i + 1);
            break;
        }
        double age = strtod(f[c_age], &end);
        if (end == f[c_age] || *end || age < 0) {
            rc = serc_fail(err, "%s:%d: Age must be a number, got '%s'", path, i + 1, f[c_age]);
            break;
        }
        const char *sex = f[c_sex];
        if (strcasecmp(sex, "Male") && strcasecmp(sex, "Female")) {
            rc = serc_fail(err, "%s:%d: Sex must be Male or Female, got '%s'", path, i + 1, sex);
            break;
        }
        actors[id - 1001] = (CremaActor){!strcasecmp(sex, "Male") ? GENDER_MALE : GENDER_FEMALE, age};
    }
    import_free_lines(&t);
    return rc;
}

int import_crema_d(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err) {
    if (o->labels && strcmp(o->labels, "6")) return serc_fail(err, "crema-d: unknown label set '%s' (6)", o->labels);
    for (int k = 0; k < 6; k++) labelmap_add(map, CREMA_CODES[k][1]);
    CremaActor actors[91] = {{0}};
    char *demo = import_path("%s/VideoDemographics.csv", o->root);
    int have_demo = import_is_file(demo), rc = have_demo ? crema_demographics(demo, actors, err) : 0;
    free(demo);
    if (rc) return -1;
    char *dir = import_path("%s/AudioWAV", o->root);
    int n = 0;
    char **files = import_find_files(import_is_dir(dir) ? dir : o->root, ".wav", &n, err);
    free(dir);
    if (!files) return -1;
    for (int i = 0; i < n && rc == 0; i++) {
        char *id = stem(files[i]);
        int actor = 0, used = 0;
        char sent[4] = "", emo[4] = "", level[4] = "";
        const char *label = NULL, *text = NULL;
        if (sscanf(id, "%4d_%3[A-Z]_%3[A-Z]_%2[A-Z]%n", &actor, sent, emo, level, &used) == 4 && !id[used]) {
            for (int k = 0; k < 6; k++)
                if (!strcmp(emo, CREMA_CODES[k][0])) label = CREMA_CODES[k][1];
            for (int k = 0; k < 12; k++)
                if (!strcmp(sent, CREMA_TEXT[k][0])) text = CREMA_TEXT[k][1];
        }
        if (!label || !text || actor < 1001 || actor > 1091) {
            rc = serc_fail(err, "%s: name is not a CREMA-D code ACTOR_SENTENCE_EMOTION_LEVEL (e.g. 1001_DFA_ANG_XX)", files[i]);
        } else {
            Utterance *u = import_add(m, id, files[i], files[i], err);
            if (!u) {
                rc = -1;
            } else {
                u->label = serc_strdup(label);
                u->speaker = import_path("%d", actor);
                u->transcript = serc_strdup(text);
                set_common(u, "crema-d", "en-US");
                if (have_demo) {
                    const CremaActor *a = &actors[actor - 1001];
                    if (!a->gender) rc = serc_fail(err, "%s: actor %d is not in VideoDemographics.csv", files[i], actor);
                    u->gender = (ManifestGender)a->gender;
                    u->has_age = 1;
                    u->age = a->age;
                }
            }
        }
        free(id);
    }
    import_free_list(files, n);
    return rc;
}

/* ---- SAVEE (Haq and Jackson 2009): AudioData/<SPK>/<code><NN>.wav or <SPK>_<code><NN>.wav ---- */

static const char *SAVEE_CODES[7][2] = {{"n", "neutral"}, {"h", "happy"},    {"sa", "sad"},     {"a", "angry"},
                                        {"f", "fear"},    {"d", "disgust"}, {"su", "surprise"}};
static const char *SAVEE_SPEAKERS[4] = {"DC", "JE", "JK", "KL"};

int import_savee(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err) {
    if (o->labels && strcmp(o->labels, "7")) return serc_fail(err, "savee: unknown label set '%s' (7)", o->labels);
    for (int k = 0; k < 7; k++) labelmap_add(map, SAVEE_CODES[k][1]);
    int n = 0, rc = 0;
    char **files = import_find_files(o->root, ".wav", &n, err);
    if (!files) return -1;
    for (int i = 0; i < n && rc == 0; i++) {
        char *name = stem(files[i]);
        char spk[3] = "", *code = name;
        if (strlen(name) > 3 && name[2] == '_') { /* flat layout: DC_a01 */
            memcpy(spk, name, 2);
            code = name + 3;
        } else { /* AudioData/DC/a01 */
            char *parent = manifest_dirname(files[i]);
            const char *p = base_name(parent);
            if (strlen(p) == 2) memcpy(spk, p, 2);
            free(parent);
        }
        int known_spk = 0;
        for (int k = 0; k < 4; k++) known_spk |= !strcmp(spk, SAVEE_SPEAKERS[k]);
        size_t letters = strspn(code, "adfhnsu");
        const char *label = NULL;
        char num[8] = "";
        if (letters >= 1 && letters <= 2 && strlen(code + letters) == 2 && isdigit((unsigned char)code[letters]) &&
            isdigit((unsigned char)code[letters + 1])) {
            memcpy(num, code + letters, 2);
            for (int k = 0; k < 7; k++)
                if (strlen(SAVEE_CODES[k][0]) == letters && !strncmp(code, SAVEE_CODES[k][0], letters)) label = SAVEE_CODES[k][1];
        }
        if (!known_spk || !label) {
            rc = serc_fail(err, "%s: not a SAVEE file (AudioData/{DC,JE,JK,KL}/<a|d|f|h|n|sa|su><NN>.wav or DC_a01.wav)", files[i]);
        } else {
            char *id = import_path("%s_%s", spk, code);
            Utterance *u = import_add(m, id, files[i], files[i], err);
            free(id);
            if (!u) {
                rc = -1;
            } else {
                u->label = serc_strdup(label);
                u->speaker = serc_strdup(spk);
                u->gender = GENDER_MALE; /* the four SAVEE speakers are male */
                set_common(u, "savee", "en-GB");
            }
        }
        free(name);
    }
    import_free_list(files, n);
    return rc;
}

/* ---- EmoDB (Burkhardt et al. 2005): wav/SSTTTEV.wav, e.g. 03a01Fa.wav ---- */

static const char *EMODB_EMO[7][2] = {{"N", "neutral"}, {"F", "happy"},   {"T", "sad"},    {"W", "angry"},
                                      {"A", "fear"},    {"E", "disgust"}, {"L", "boredom"}};
/* speaker code, gender, age (from the corpus documentation) */
static const struct {
    int code;
    ManifestGender gender;
    int age;
} EMODB_SPEAKERS[10] = {{3, GENDER_MALE, 31},    {8, GENDER_FEMALE, 34},  {9, GENDER_FEMALE, 21}, {10, GENDER_MALE, 32},
                        {11, GENDER_MALE, 26},   {12, GENDER_MALE, 30},   {13, GENDER_FEMALE, 32}, {14, GENDER_FEMALE, 35},
                        {15, GENDER_MALE, 25},   {16, GENDER_FEMALE, 31}};
static const char *EMODB_TEXT[10][2] = {
    {"a01", "Der Lappen liegt auf dem Eisschrank."},
    {"a02", "Das will sie am Mittwoch abgeben."},
    {"a04", "Heute abend k\xc3\xb6nnte ich es ihm sagen."},
    {"a05", "Das schwarze St\xc3\xbc" "ck Papier befindet sich da oben neben dem Holzst\xc3\xbc" "ck."},
    {"a07", "In sieben Stunden wird es soweit sein."},
    {"b01", "Was sind denn das f\xc3\xbcr T\xc3\xbcten, die da unter dem Tisch stehen?"},
    {"b02", "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter."},
    {"b03", "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht."},
    {"b09", "Ich will das eben wegbringen und dann mit Karl was trinken gehen."},
    {"b10", "Die wird auf dem Platz sein, wo wir sie immer hinlegen."},
};

int import_emodb(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err) {
    if (o->labels && strcmp(o->labels, "7")) return serc_fail(err, "emodb: unknown label set '%s' (7)", o->labels);
    for (int k = 0; k < 7; k++) labelmap_add(map, EMODB_EMO[k][1]);
    char *dir = import_path("%s/wav", o->root);
    int n = 0, rc = 0;
    char **files = import_find_files(import_is_dir(dir) ? dir : o->root, ".wav", &n, err);
    free(dir);
    if (!files) return -1;
    for (int i = 0; i < n && rc == 0; i++) {
        char *id = stem(files[i]);
        int spk = -1, code = 0;
        const char *label = NULL, *text = NULL;
        if (strlen(id) == 7 && isdigit((unsigned char)id[0]) && isdigit((unsigned char)id[1]) && islower((unsigned char)id[6])) {
            code = (id[0] - '0') * 10 + (id[1] - '0');
            for (int k = 0; k < 10; k++)
                if (EMODB_SPEAKERS[k].code == code) spk = k;
            for (int k = 0; k < 7; k++)
                if (id[5] == EMODB_EMO[k][0][0]) label = EMODB_EMO[k][1];
            for (int k = 0; k < 10; k++)
                if (!strncmp(id + 2, EMODB_TEXT[k][0], 3)) text = EMODB_TEXT[k][1];
        }
        if (spk < 0 || !label || !text) {
            rc = serc_fail(err, "%s: name is not an EmoDB code SSTTTEV (speaker, text, emotion W L E A F T N, version; e.g. 03a01Fa)",
                           files[i]);
        } else {
            Utterance *u = import_add(m, id, files[i], files[i], err);
            if (!u) {
                rc = -1;
            } else {
                u->label = serc_strdup(label);
                u->speaker = import_path("%02d", code);
                u->gender = EMODB_SPEAKERS[spk].gender;
                u->has_age = 1;
                u->age = EMODB_SPEAKERS[spk].age;
                u->transcript = serc_strdup(text);
                set_common(u, "emodb", "de-DE");
            }
        }
        free(id);
    }
    import_free_list(files, n);
    return rc;
}
