/* IEMOCAP importer (Busso et al. 2008). Layout, as the release unpacks and as s3prl's and SpeechBrain's
 * preparation scripts read it:
 *   SessionN/dialog/EmoEvaluation/<dialog>.txt    "[start - end]\t<utt>\t<emo>\t[V, A, D]" per turn
 *   SessionN/dialog/transcriptions/<dialog>.txt   "<utt> [start-end]: text"
 *   SessionN/sentences/wav/<dialog>/<utt>.wav     one file per turn
 *   SessionN/sentences/ForcedAlignment/<dialog>/<utt>.wdseg   word segmentation, 10 ms frames
 * Utterance ids look like Ses01F_impro01_F000: session 01, the dialog's first speaker female, and the
 * turn's speaker (the letter opening the last part) female. Speaker id = "Ses01F" + that letter's
 * session, fold = session - 1 (leave-one-session-out). Dimensional labels are on 1-5 and appear in the
 * order valence, activation (arousal), dominance.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

/* Emotion codes of EmoEvaluation lines and their names in each label set (NULL: dropped). */
typedef struct IemocapSet {
    const char *name;
    const char *order[11];   /* label map order */
    const char *map[11][2];  /* code -> label */
} IemocapSet;

static const IemocapSet SETS[] = {
    {"4", {"neutral", "happy", "sad", "angry"},
     {{"neu", "neutral"}, {"hap", "happy"}, {"exc", "happy"}, {"sad", "sad"}, {"ang", "angry"}}},
    {"4-noexc", {"neutral", "happy", "sad", "angry"},
     {{"neu", "neutral"}, {"hap", "happy"}, {"sad", "sad"}, {"ang", "angry"}}},
    {"6", {"neutral", "happy", "sad", "angry", "excited", "frustrated"},
     {{"neu", "neutral"}, {"hap", "happy"}, {"exc", "excited"}, {"sad", "sad"}, {"ang", "angry"}, {"fru", "frustrated"}}},
    {"all", {"neutral", "happy", "sad", "angry", "excited", "frustrated", "fear", "surprise", "disgust", "other"},
     {{"neu", "neutral"}, {"hap", "happy"}, {"exc", "excited"}, {"sad", "sad"}, {"ang", "angry"}, {"fru", "frustrated"},
      {"fea", "fear"}, {"sur", "surprise"}, {"dis", "disgust"}, {"oth", "other"}}},
};

static const char *KNOWN_CODES[] = {"neu", "hap", "exc", "sad", "ang", "fru", "fea", "sur", "dis", "oth", "xxx"};

/* Parses a .wdseg file into u->words; missing file is not an error (some turns have none). */
static int read_wdseg(const char *path, Utterance *u, SercErr *err) {
    if (!import_is_file(path)) return 0;
    ImportLines t;
    if (import_read_lines(path, &t, err)) return -1;
    int rc = 0, header = 0;
    u->has_words = 1;
    for (int i = 0; i < t.n && rc == 0; i++) {
        const char *l = t.line[i];
        while (*l == ' ' || *l == '\t') l++;
        if (!*l) continue;
        if (!strncmp(l, "SFrm", 4)) {
            header = 1;
            continue;
        }
        if (!strncmp(l, "Total score", 11)) break;
        long sf, ef, score;
        char word[256];
        if (!header || sscanf(l, "%ld %ld %ld %255s", &sf, &ef, &score, word) != 4 || sf < 0 || ef < sf) {
            rc = serc_fail(err, "%s:%d: expected 'SFrm EFrm SegAScr Word' after the header, got '%s'", path, i + 1, t.line[i]);
            break;
        }
        /* sentence markers, silence and noise tokens are not words */
        if (!strcmp(word, "<s>") || !strcmp(word, "</s>") || !strcmp(word, "<sil>") || word[0] == '+') continue;
        char *paren = strchr(word, '('); /* pronunciation variant: EXCUSE(2) */
        if (paren && paren != word) *paren = '\0';
        u->words = serc_realloc(u->words, (size_t)(u->n_words + 1) * sizeof *u->words);
        u->words[u->n_words++] = (ManifestWord){serc_strdup(word), sf * 0.01, (ef + 1) * 0.01};
    }
    import_free_lines(&t);
    return rc;
}

/* Reads "<utt> [start-end]: text" lines of one dialog's transcription into a table of line indices. */
static int read_transcripts(const char *path, ImportLines *t, ImportTable *tab, SercErr *err) {
    memset(t, 0, sizeof *t);
    if (!import_is_file(path)) return 0;
    if (import_read_lines(path, t, err)) return -1;
    for (int i = 0; i < t->n; i++) {
        char *l = t->line[i];
        char *sp = strchr(l, ' '), *colon = strstr(l, "]:");
        if (!sp || !colon || strncmp(l, "Ses", 3) != 0) continue; /* other speakers' noise lines */
        *sp = '\0';
        char *text = colon + 2;
        while (*text == ' ') text++;
        import_table_put(tab, l, (int)(text - t->data));
    }
    return 0;
}

static int import_session(const ImportOptions *o, const IemocapSet *set, int session, Manifest *m, SercErr *err) {
    char *eval_dir = import_path("%s/Session%d/dialog/EmoEvaluation", o->root, session);
    int nd = 0, rc = 0;
    char **dialogs = import_list_dir(eval_dir, &nd, err);
    if (!dialogs) {
        free(eval_dir);
        return -1;
    }
    for (int d = 0; d < nd && rc == 0; d++) {
        size_t len = strlen(dialogs[d]);
        if (len < 5 || strcmp(dialogs[d] + len - 4, ".txt") != 0) continue;
        char *dialog = serc_strdup(dialogs[d]);
        dialog[len - 4] = '\0';
        char *path = import_path("%s/%s", eval_dir, dialogs[d]);
        char *tr_path = import_path("%s/Session%d/dialog/transcriptions/%s.txt", o->root, session, dialog);
        ImportLines t, tr;
        ImportTable trtab = {0};
        rc = import_read_lines(path, &t, err);
        if (rc == 0 && (rc = read_transcripts(tr_path, &tr, &trtab, err)) != 0) import_free_lines(&t);
        for (int i = 0; rc == 0 && i < t.n; i++) {
            const char *l = t.line[i];
            if (l[0] != '[') continue;
            double t0, t1, v, a, dm;
            char utt[128], code[16];
            int n = sscanf(l, "[%lf - %lf] %127s %15s [%lf, %lf, %lf]", &t0, &t1, utt, code, &v, &a, &dm);
            if (n != 7) {
                rc = serc_fail(err, "%s:%d: expected '[start - end]\\tTURN\\tEMOTION\\t[V, A, D]', got '%s'", path, i + 1, l);
                break;
            }
            int known = 0;
            for (size_t k = 0; k < sizeof KNOWN_CODES / sizeof *KNOWN_CODES; k++) known |= !strcmp(code, KNOWN_CODES[k]);
            if (!known) {
                rc = serc_fail(err, "%s:%d: unknown emotion code '%s'", path, i + 1, code);
                break;
            }
            const char *label = NULL;
            for (int k = 0; k < 11 && set->map[k][0]; k++)
                if (!strcmp(set->map[k][0], code)) label = set->map[k][1];
            /* "all" keeps every turn, the others only turns in their label set */
            if (!label && strcmp(set->name, "all") != 0) continue;
            const char *last = strrchr(utt, '_');
            int sess = 0;
            if (strncmp(utt, "Ses", 3) != 0 || sscanf(utt + 3, "%2d", &sess) != 1 || !last || (last[1] != 'F' && last[1] != 'M')) {
                rc = serc_fail(err, "%s:%d: turn name '%s' is not like Ses01F_impro01_F000", path, i + 1, utt);
                break;
            }
            char *wav = import_path("%s/Session%d/sentences/wav/%s/%s.wav", o->root, session, dialog, utt);
            char *source = import_path("%s:%d", path, i + 1);
            Utterance *u = import_add(m, utt, wav, source, err);
            free(wav);
            free(source);
            if (!u) {
                rc = -1;
                break;
            }
            char spk[16];
            snprintf(spk, sizeof spk, "Ses%02d%c", sess, last[1]);
            u->speaker = serc_strdup(spk);
            u->gender = last[1] == 'F' ? GENDER_FEMALE : GENDER_MALE;
            if (label) u->label = serc_strdup(label);
            u->valence = v, u->arousal = a, u->dominance = dm;
            u->has_valence = u->has_arousal = u->has_dominance = 1;
            u->fold = session - 1;
            u->corpus = serc_strdup("iemocap");
            u->lang = serc_strdup("en-US");
            int off = import_table_get(&trtab, utt);
            if (off >= 0) u->transcript = serc_strdup(tr.data + off);
            char *wd = import_path("%s/Session%d/sentences/ForcedAlignment/%s/%s.wdseg", o->root, session, dialog, utt);
            rc = read_wdseg(wd, u, err);
            free(wd);
        }
        if (t.data) import_free_lines(&t);
        import_free_lines(&tr);
        import_table_free(&trtab);
        free(path);
        free(tr_path);
        free(dialog);
    }
    import_free_list(dialogs, nd);
    free(eval_dir);
    return rc;
}

int import_iemocap(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err) {
    const char *want = o->labels ? o->labels : "4";
    const IemocapSet *set = NULL;
    for (size_t i = 0; i < sizeof SETS / sizeof *SETS; i++)
        if (!strcmp(SETS[i].name, want)) set = &SETS[i];
    if (!set) return serc_fail(err, "iemocap: unknown label set '%s' (4, 4-noexc, 6, all)", want);
    for (int k = 0; k < 11 && set->order[k]; k++) labelmap_add(map, set->order[k]);
    int found = 0;
    for (int s = 1; s <= 5; s++) {
        char *dir = import_path("%s/Session%d", o->root, s);
        int present = import_is_dir(dir);
        free(dir);
        if (!present) continue;
        found++;
        if (import_session(o, set, s, m, err)) return -1;
    }
    if (!found) return serc_fail(err, "%s: no Session1..Session5 folders (is this the IEMOCAP root?)", o->root);
    return 0;
}
