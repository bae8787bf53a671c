/* Tests for the corpus importers: each runs on a small fake tree built here in the corpus's own layout
 * and label-file formats (tiny WAVs written with libsndfile), and the manifest it produces is checked
 * for counts, labels, speakers, genders, folds/splits, transcripts and word alignments, then written,
 * read back by the strict reader, and its audio paths resolved. Bad label files name file and line. */
#include <criterion/criterion.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import.h"
#include "manifest.h"
#include "testutil.h"

static char g_root[256];

static void cleanup(void) { test_remove_tree(g_root); }
TestSuite(import, .fini = cleanup);

static void make_root(void) {
    test_remove_tree(g_root);
    snprintf(g_root, sizeof g_root, "/tmp/serc_import_XXXXXX");
    cr_assert_not_null(mkdtemp(g_root));
}

/* Writes text to ROOT/rel, creating folders. */
static void put(const char *rel, const char *text) { test_put_file(g_root, rel, text); }

/* Writes a 10 ms 16 kHz mono WAV to ROOT/rel. */
static void put_wav(const char *rel) {
    char *path = import_path("%s/%s", g_root, rel);
    char *dir = manifest_dirname(path);
    SercErr err = {{0}};
    cr_assert_eq(import_mkdirs(dir, &err), 0, "%s", err.msg);
    SF_INFO info = {.samplerate = 16000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    cr_assert_not_null(sf, "%s: %s", path, sf_strerror(NULL));
    short pcm[160] = {0};
    for (int i = 0; i < 160; i++) pcm[i] = (short)((i % 20) * 100);
    cr_assert_eq(sf_write_short(sf, pcm, 160), 160);
    sf_close(sf);
    free(dir);
    free(path);
}

/* Imports, writes ROOT/out/<corpus>.jsonl, reads it back strictly and checks every audio path. */
static Manifest *run_import(const char *corpus, ImportOptions o, LabelMap **map_out) {
    char *out = import_path("%s/out/%s.jsonl", g_root, corpus);
    char *outdir = manifest_dirname(out);
    SercErr err = {{0}};
    cr_assert_eq(import_mkdirs(outdir, &err), 0);
    o.root = g_root;
    o.out = out;
    Manifest *m = NULL;
    LabelMap *map = NULL;
    cr_assert_eq(import_corpus(corpus, &o, &m, &map, &err), 0, "%s: %s", corpus, err.msg);
    cr_assert_eq(manifest_check_labels(m, map, &err), 0, "%s", err.msg);
    cr_assert_eq(manifest_write(out, m, &err), 0, "%s", err.msg);
    Manifest *back = manifest_read(out, &err);
    cr_assert_not_null(back, "%s", err.msg);
    cr_assert_eq(back->n, m->n);
    for (int i = 0; i < back->n; i++) {
        cr_assert(import_is_file(back->utts[i].audio_path), "%s: %s does not resolve", back->utts[i].id, back->utts[i].audio);
        cr_assert_neq(back->utts[i].audio[0], '/', "audio paths are relative to the manifest");
    }
    manifest_free(m);
    free(out);
    free(outdir);
    *map_out = map;
    return back;
}

static const Utterance *find(const Manifest *m, const char *id) {
    int i = manifest_find(m, id);
    cr_assert_geq(i, 0, "utterance %s missing", id);
    return &m->utts[i];
}

static void expect_import_error(const char *corpus, ImportOptions o, const char *want) {
    o.root = g_root;
    Manifest *m = NULL;
    LabelMap *map = NULL;
    SercErr err = {{0}};
    cr_assert_eq(import_corpus(corpus, &o, &m, &map, &err), -1, "%s accepted bad input", corpus);
    cr_assert_not_null(strstr(err.msg, want), "%s: message '%s' lacks '%s'", corpus, err.msg, want);
}

/* ---- IEMOCAP ---- */

static void build_iemocap(void) {
    put("Session1/dialog/EmoEvaluation/Ses01F_impro01.txt",
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tNeutral;\t()\nC-E3:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M000\tfru\t[2.0000, 3.5000, 3.5000]\n"
        "C-E2:\tFrustration;\t()\n\n"
        "[14.8872 - 18.0175]\tSes01F_impro01_M001\texc\t[4.0000, 4.5000, 3.0000]\n\n"
        "[19.2900 - 20.7875]\tSes01F_impro01_F001\txxx\t[2.5000, 3.0000, 3.0000]\n");
    put("Session1/dialog/transcriptions/Ses01F_impro01.txt",
        "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\n"
        "Ses01F_impro01_M000 [010.0100-011.3925]: Do you have your forms?\n"
        "M: [BREATHING]\n"
        "Ses01F_impro01_M001 [014.8872-018.0175]: Yeah!\n");
    put("Session1/sentences/ForcedAlignment/Ses01F_impro01/Ses01F_impro01_F000.wdseg",
        " SFrm  EFrm    SegAScr Word\n"
        "    0    26    -203037 <s>\n"
        "   27    47    -164506 EXCUSE(2)\n"
        "   48    67     -99836 ME\n"
        "   68    70     -10000 ++BREATH++\n"
        "   71   175    -400154 </s>\n"
        " Total score:    -867481\n");
    const char *s1[] = {"Ses01F_impro01_F000", "Ses01F_impro01_M000", "Ses01F_impro01_M001", "Ses01F_impro01_F001"};
    for (int i = 0; i < 4; i++) {
        char rel[200];
        snprintf(rel, sizeof rel, "Session1/sentences/wav/Ses01F_impro01/%s.wav", s1[i]);
        put_wav(rel);
    }
    put("Session2/dialog/EmoEvaluation/Ses02M_script01_1.txt",
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[1.0000 - 2.5000]\tSes02M_script01_1_F000\tang\t[1.5000, 4.0000, 4.5000]\n\n"
        "[3.0000 - 4.0000]\tSes02M_script01_1_M003\tsad\t[2.0000, 1.5000, 2.0000]\n\n"
        "[5.0000 - 6.0000]\tSes02M_script01_1_M004\thap\t[4.0000, 3.5000, 3.0000]\n");
    put_wav("Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_F000.wav");
    put_wav("Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_M003.wav");
    put_wav("Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_M004.wav");
}

Test(import, iemocap_four_class) {
    make_root();
    build_iemocap();
    LabelMap *map;
    Manifest *m = run_import("iemocap", (ImportOptions){0}, &map);
    cr_assert_eq(map->n, 4);
    cr_assert_str_eq(map->names[1], "happy");
    cr_assert_eq(m->n, 5, "neu, exc, ang, sad, hap kept; fru and xxx dropped");
    const Utterance *u = find(m, "Ses01F_impro01_F000");
    cr_assert_str_eq(u->label, "neutral");
    cr_assert_str_eq(u->speaker, "Ses01F");
    cr_assert_eq(u->gender, GENDER_FEMALE);
    cr_assert_eq(u->fold, 0);
    cr_assert_str_eq(u->transcript, "Excuse me.");
    cr_assert_eq(u->n_words, 2);
    cr_assert_str_eq(u->words[0].w, "EXCUSE");
    cr_assert_float_eq(u->words[0].start, 0.27, 1e-12);
    cr_assert_float_eq(u->words[0].end, 0.48, 1e-12);
    cr_assert_str_eq(u->words[1].w, "ME");
    cr_assert_str_eq(u->corpus, "iemocap");
    u = find(m, "Ses01F_impro01_M001");
    cr_assert_str_eq(u->label, "happy", "excited merged into happy");
    cr_assert_str_eq(u->speaker, "Ses01M");
    cr_assert_eq(u->gender, GENDER_MALE);
    cr_assert(u->valence == 4.0 && u->arousal == 4.5 && u->dominance == 3.0, "[V, A, D] order");
    cr_assert(!u->has_words);
    u = find(m, "Ses02M_script01_1_F000");
    cr_assert_str_eq(u->label, "angry");
    cr_assert_str_eq(u->speaker, "Ses02F");
    cr_assert_eq(u->fold, 1);
    cr_assert_null(u->transcript);
    cr_assert_lt(manifest_find(m, "Ses01F_impro01_M000"), 0);
    manifest_free(m);
    labelmap_free(map);
}

Test(import, iemocap_other_label_sets_and_errors) {
    make_root();
    build_iemocap();
    LabelMap *map;
    Manifest *m = run_import("iemocap", (ImportOptions){.labels = "6"}, &map);
    cr_assert_eq(map->n, 6);
    cr_assert_eq(m->n, 6);
    cr_assert_str_eq(find(m, "Ses01F_impro01_M001")->label, "excited");
    cr_assert_str_eq(find(m, "Ses01F_impro01_M000")->label, "frustrated");
    manifest_free(m);
    labelmap_free(map);
    m = run_import("iemocap", (ImportOptions){.labels = "all"}, &map);
    cr_assert_eq(m->n, 7);
    cr_assert_null(find(m, "Ses01F_impro01_F001")->label, "xxx kept without a label");
    manifest_free(m);
    labelmap_free(map);
    m = run_import("iemocap", (ImportOptions){.labels = "4-noexc"}, &map);
    cr_assert_eq(m->n, 4);
    manifest_free(m);
    labelmap_free(map);
    expect_import_error("iemocap", (ImportOptions){.labels = "5"}, "unknown label set '5'");
    put("Session2/dialog/EmoEvaluation/Ses02M_script01_1.txt", "% header\n\n[1.0000 - 2.5000]\tSes02M_script01_1_F000\tang\n");
    expect_import_error("iemocap", (ImportOptions){0}, "Ses02M_script01_1.txt:3: expected '[start - end]");
    put("Session2/dialog/EmoEvaluation/Ses02M_script01_1.txt",
        "[1.0000 - 2.5000]\tSes02M_script01_1_F000\tjoy\t[1.5000, 4.0000, 4.5000]\n");
    expect_import_error("iemocap", (ImportOptions){0}, "Ses02M_script01_1.txt:1: unknown emotion code 'joy'");
    put("Session2/dialog/EmoEvaluation/Ses02M_script01_1.txt",
        "[1.0000 - 2.5000]\tSes02M_script01_1_F009\tang\t[1.5000, 4.0000, 4.5000]\n");
    expect_import_error("iemocap", (ImportOptions){0}, "Ses02M_script01_1.txt:1: audio file");
}

/* ---- MSP-Podcast ---- */

static void build_msp_podcast(void) {
    put("Labels/labels_consensus.csv",
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
        "MSP-PODCAST_0001_0008.wav,N,4.2,4.0,4.4,127,Female,Train\n"
        "MSP-PODCAST_0001_0010.wav,X,3.0,2.5,3.5,127,Female,Development\n"
        "MSP-PODCAST_0002_0001.wav,A,6.0,2.0,5.5,Unknown,Unknown,Test1\n"
        "MSP-PODCAST_0003_0004.wav,O,3.5,3.5,3.5,88,Male,Test2\n"
        "MSP-PODCAST_0004_0002.wav,C,4.0,2.0,4.5,90,Male,Test3\n");
    const char *f[] = {"0001_0008", "0001_0010", "0002_0001", "0003_0004", "0004_0002"};
    for (int i = 0; i < 5; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "Audios/MSP-PODCAST_%s.wav", f[i]);
        put_wav(rel);
    }
    put("Transcripts/MSP-PODCAST_0001_0008.txt", "Hello there,\nfriends.\n");
    put("Labels/labels_detailed.csv",
        "FileName,EmoDetail\n"
        "MSP-PODCAST_0001_0008.wav,\"WORKER00001; Neutral; Neutral,Happy; A:4.0; V:4.0; D:4.0;\"\n"
        "MSP-PODCAST_0001_0008.wav,\"WORKER00002; Neutral; ; A:4.0; V:4.0; D:5.0;\"\n"
        "MSP-PODCAST_0001_0008.wav,\"WORKER00003; Happy; Amused; A:5.0; V:4.0; D:4.0;\"\n"
        "MSP-PODCAST_0001_0010.wav,\"WORKER00001; Angry; ; A:3.0; V:2.0; D:3.0;\"\n"
        "MSP-PODCAST_0001_0010.wav,\"WORKER00004; Other-annoyed; Angry; A:3.0; V:3.0; D:4.0;\"\n"
        "MSP-PODCAST_0001_0010.wav,\"WORKER00005; Sad; ; A:3.0; V:2.5; D:3.5;\"\n");
}

Test(import, msp_podcast_consensus_and_detailed) {
    make_root();
    build_msp_podcast();
    LabelMap *map;
    Manifest *m = run_import("msp-podcast", (ImportOptions){0}, &map);
    cr_assert_eq(map->n, 8);
    cr_assert_str_eq(map->names[7], "contempt");
    cr_assert_eq(m->n, 5, "X and O turns are kept for A/V/D");
    const Utterance *u = find(m, "MSP-PODCAST_0001_0008");
    cr_assert_str_eq(u->label, "neutral");
    cr_assert(u->arousal == 4.2 && u->valence == 4.0 && u->dominance == 4.4);
    cr_assert_str_eq(u->speaker, "msp127");
    cr_assert_eq(u->gender, GENDER_FEMALE);
    cr_assert_eq(u->split, SPLIT_TRAIN);
    cr_assert_str_eq(u->split_name, "Train");
    cr_assert_str_eq(u->transcript, "Hello there, friends.");
    cr_assert_eq(u->n_dist, 2);
    cr_assert_str_eq(u->label_dist[0].name, "neutral");
    cr_assert_float_eq(u->label_dist[0].prob, 2.0 / 3, 1e-12);
    cr_assert_str_eq(u->label_dist[1].name, "happy");
    u = find(m, "MSP-PODCAST_0001_0010");
    cr_assert_null(u->label, "X has no categorical label");
    cr_assert_eq(u->split, SPLIT_DEV);
    cr_assert_eq(u->n_dist, 2, "the 'Other' vote is outside the 8 classes");
    cr_assert_float_eq(u->label_dist[0].prob, 0.5, 1e-12);
    u = find(m, "MSP-PODCAST_0002_0001");
    cr_assert_null(u->speaker, "SpkrID Unknown is left out");
    cr_assert_eq(u->gender, GENDER_UNKNOWN);
    cr_assert_eq(u->split, SPLIT_TEST);
    cr_assert_str_eq(u->split_name, "Test1");
    cr_assert_eq(u->n_dist, 0);
    cr_assert_null(find(m, "MSP-PODCAST_0003_0004")->label);
    cr_assert_str_eq(find(m, "MSP-PODCAST_0004_0002")->split_name, "Test3");
    manifest_free(m);
    labelmap_free(map);
    m = run_import("msp-podcast", (ImportOptions){.labels = "all"}, &map);
    cr_assert_str_eq(find(m, "MSP-PODCAST_0003_0004")->label, "other");
    cr_assert_eq(find(m, "MSP-PODCAST_0001_0010")->n_dist, 3);
    manifest_free(m);
    labelmap_free(map);
}

Test(import, msp_podcast_old_detailed_layout_and_errors) {
    make_root();
    build_msp_podcast();
    put("Labels/labels_detailed.csv",
        "FileName,Workers,EmoClass_Major,EmoClass_Second,EmoAct,EmoVal,EmoDom\n"
        "MSP-PODCAST_0002_0001.wav,WORKER1,A,\"Angry,Disgust\",6,2,5\n"
        "MSP-PODCAST_0002_0001.wav,WORKER2,Disgust,,6,2,6\n"
        "MSP-PODCAST_0002_0001.wav,WORKER3,A,,5,2,5\n"
        "MSP-PODCAST_0002_0001.wav,WORKER4,Contempt,,6,2,5\n");
    LabelMap *map;
    Manifest *m = run_import("msp-podcast", (ImportOptions){0}, &map);
    const Utterance *u = find(m, "MSP-PODCAST_0002_0001");
    cr_assert_eq(u->n_dist, 3);
    cr_assert_str_eq(u->label_dist[0].name, "angry");
    cr_assert_float_eq(u->label_dist[0].prob, 0.5, 1e-12);
    cr_assert_str_eq(u->label_dist[2].name, "contempt");
    manifest_free(m);
    labelmap_free(map);
    put("Labels/labels_detailed.csv", "FileName,EmoDetail\nMSP-PODCAST_0002_0001.wav,\"WORKER1 Angry\"\n");
    expect_import_error("msp-podcast", (ImportOptions){0}, "labels_detailed.csv:2: EmoDetail");
    put("Labels/labels_consensus.csv",
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
        "MSP-PODCAST_0001_0008.wav,N,4.2,4.0,4.4,127,Female,Train\n"
        "MSP-PODCAST_0001_0010.wav,N,high,2.5,3.5,127,Female,Train\n");
    expect_import_error("msp-podcast", (ImportOptions){0}, "labels_consensus.csv:3: EmoAct must be a number, got 'high'");
    put("Labels/labels_consensus.csv",
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
        "MSP-PODCAST_0001_0008.wav,N,4.2,4.0,4.4,127,Female,Holdout\n");
    expect_import_error("msp-podcast", (ImportOptions){0}, "labels_consensus.csv:2: unknown Split_Set 'Holdout'");
    put("Labels/labels_consensus.csv", "FileName,EmoClass,EmoAct\nx.wav,N,4\n");
    expect_import_error("msp-podcast", (ImportOptions){0}, "labels_consensus.csv:1: header has no 'EmoVal' column");
}

/* ---- RAVDESS, CREMA-D, SAVEE, EmoDB, generic ---- */

Test(import, ravdess) {
    make_root();
    put_wav("Actor_01/03-01-01-01-01-01-01.wav");
    put_wav("Actor_02/03-01-05-02-02-01-02.wav");
    put_wav("Actor_02/03-02-03-01-01-01-02.wav");
    LabelMap *map;
    Manifest *m = run_import("ravdess", (ImportOptions){0}, &map);
    cr_assert_eq(map->n, 8);
    cr_assert_eq(m->n, 2, "song excluded by default");
    const Utterance *u = find(m, "03-01-01-01-01-01-01");
    cr_assert_str_eq(u->label, "neutral");
    cr_assert_str_eq(u->speaker, "Actor_01");
    cr_assert_eq(u->gender, GENDER_MALE);
    cr_assert_str_eq(u->transcript, "Kids are talking by the door");
    u = find(m, "03-01-05-02-02-01-02");
    cr_assert_str_eq(u->label, "angry");
    cr_assert_eq(u->gender, GENDER_FEMALE);
    cr_assert_str_eq(u->transcript, "Dogs are sitting by the door");
    manifest_free(m);
    labelmap_free(map);
    m = run_import("ravdess", (ImportOptions){.include_song = 1}, &map);
    cr_assert_eq(m->n, 3);
    cr_assert_str_eq(find(m, "03-02-03-01-01-01-02")->condition, "song");
    manifest_free(m);
    labelmap_free(map);
    put_wav("Actor_03/03-01-09-01-01-01-03.wav");
    expect_import_error("ravdess", (ImportOptions){0}, "03-01-09-01-01-01-03.wav: name is not a RAVDESS code");
}

Test(import, crema_d) {
    make_root();
    put_wav("AudioWAV/1001_DFA_ANG_XX.wav");
    put_wav("AudioWAV/1001_IEO_HAP_HI.wav");
    put_wav("AudioWAV/1002_TIE_SAD_LO.wav");
    put("VideoDemographics.csv", "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
                                 "1002,21,Female,Caucasian,Not Hispanic\n");
    LabelMap *map;
    Manifest *m = run_import("crema-d", (ImportOptions){0}, &map);
    cr_assert_eq(map->n, 6);
    cr_assert_eq(m->n, 3);
    const Utterance *u = find(m, "1001_DFA_ANG_XX");
    cr_assert_str_eq(u->label, "angry");
    cr_assert_str_eq(u->speaker, "1001");
    cr_assert_eq(u->gender, GENDER_MALE);
    cr_assert(u->has_age && u->age == 51);
    cr_assert_str_eq(u->transcript, "Don't forget a jacket");
    u = find(m, "1002_TIE_SAD_LO");
    cr_assert_eq(u->gender, GENDER_FEMALE);
    cr_assert_eq(u->age, 21);
    manifest_free(m);
    labelmap_free(map);
    put("VideoDemographics.csv", "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,F,x,y\n");
    expect_import_error("crema-d", (ImportOptions){0}, "VideoDemographics.csv:3: Sex must be Male or Female");
    put("VideoDemographics.csv", "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n");
    expect_import_error("crema-d", (ImportOptions){0}, "actor 1002 is not in VideoDemographics.csv");
}

Test(import, savee_both_layouts) {
    make_root();
    put_wav("AudioData/DC/a01.wav");
    put_wav("AudioData/JE/sa02.wav");
    put_wav("AudioData/KL/su15.wav");
    put_wav("AudioData/JK/n30.wav");
    LabelMap *map;
    Manifest *m = run_import("savee", (ImportOptions){0}, &map);
    cr_assert_eq(map->n, 7);
    cr_assert_eq(m->n, 4);
    cr_assert_str_eq(find(m, "DC_a01")->label, "angry");
    cr_assert_str_eq(find(m, "JE_sa02")->label, "sad");
    cr_assert_str_eq(find(m, "KL_su15")->label, "surprise");
    cr_assert_str_eq(find(m, "JK_n30")->speaker, "JK");
    cr_assert_eq(find(m, "JK_n30")->gender, GENDER_MALE);
    manifest_free(m);
    labelmap_free(map);
    make_root();
    put_wav("ALL/DC_h05.wav");
    put_wav("ALL/KL_f11.wav");
    m = run_import("savee", (ImportOptions){0}, &map);
    cr_assert_eq(m->n, 2);
    cr_assert_str_eq(find(m, "DC_h05")->label, "happy");
    cr_assert_str_eq(find(m, "KL_f11")->label, "fear");
    manifest_free(m);
    labelmap_free(map);
    put_wav("ALL/XY_a01.wav");
    expect_import_error("savee", (ImportOptions){0}, "XY_a01.wav: not a SAVEE file");
}

Test(import, emodb) {
    make_root();
    put_wav("wav/03a01Fa.wav");
    put_wav("wav/08b02Tb.wav");
    put_wav("wav/16b10Lb.wav");
    put_wav("wav/11a05Wc.wav");
    LabelMap *map;
    Manifest *m = run_import("emodb", (ImportOptions){0}, &map);
    cr_assert_eq(map->n, 7);
    cr_assert_eq(m->n, 4);
    const Utterance *u = find(m, "03a01Fa");
    cr_assert_str_eq(u->label, "happy");
    cr_assert_str_eq(u->speaker, "03");
    cr_assert_eq(u->gender, GENDER_MALE);
    cr_assert_str_eq(u->transcript, "Der Lappen liegt auf dem Eisschrank.");
    cr_assert_str_eq(u->lang, "de-DE");
    cr_assert_eq(find(m, "08b02Tb")->gender, GENDER_FEMALE);
    cr_assert_str_eq(find(m, "08b02Tb")->label, "sad");
    cr_assert_str_eq(find(m, "16b10Lb")->label, "boredom");
    cr_assert_str_eq(find(m, "11a05Wc")->label, "angry");
    manifest_free(m);
    labelmap_free(map);
    put_wav("wav/04a01Fa.wav");
    expect_import_error("emodb", (ImportOptions){0}, "04a01Fa.wav: name is not an EmoDB code");
}

Test(import, generic_folder_per_class) {
    make_root();
    put_wav("Angry/spk1_001.wav");
    put_wav("neutral/spk2_001.wav");
    put_wav("neutral/sub/spk1_002.wav");
    put("neutral/notes.txt", "not audio");
    LabelMap *map;
    Manifest *m = run_import("generic", (ImportOptions){.speaker_regex = "^(spk[0-9]+)_"}, &map);
    cr_assert_eq(map->n, 2);
    cr_assert_str_eq(map->names[0], "angry");
    cr_assert_eq(m->n, 3);
    cr_assert_str_eq(find(m, "Angry/spk1_001")->label, "angry");
    cr_assert_str_eq(find(m, "neutral/sub/spk1_002")->speaker, "spk1");
    cr_assert_str_eq(find(m, "neutral/spk2_001")->speaker, "spk2");
    manifest_free(m);
    labelmap_free(map);
    m = run_import("generic", (ImportOptions){0}, &map);
    cr_assert_null(m->utts[0].speaker);
    manifest_free(m);
    labelmap_free(map);
    expect_import_error("generic", (ImportOptions){.speaker_regex = "^(x[0-9]+)_"}, "does not match the file name");
    expect_import_error("generic", (ImportOptions){.speaker_regex = "(["}, "--speaker-regex '(['");
}

#ifdef SERC_BINARY
Test(import, prepare_command_writes_manifest_and_label_map) {
    make_root();
    build_iemocap();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s prepare iemocap --root %s --out %s/data/iemocap.jsonl > %s/log.txt 2>&1", SERC_BINARY,
             g_root, g_root, g_root);
    cr_assert_eq(system(cmd), 0, "serc prepare failed");
    char *p = import_path("%s/data/iemocap.jsonl", g_root), *l = import_path("%s/data/iemocap.labels", g_root);
    SercErr err = {{0}};
    Manifest *m = manifest_read(p, &err);
    cr_assert_not_null(m, "%s", err.msg);
    LabelMap *map = labelmap_read(l, &err);
    cr_assert_not_null(map, "%s", err.msg);
    cr_assert_eq(m->n, 5);
    cr_assert_eq(manifest_check_labels(m, map, &err), 0, "%s", err.msg);
    cr_assert_str_eq(m->utts[0].audio, "../Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav");
    manifest_free(m);
    labelmap_free(map);
    free(p);
    free(l);
    snprintf(cmd, sizeof cmd, "%s prepare nosuch --root %s --out %s/x.jsonl 2>/dev/null", SERC_BINARY, g_root, g_root);
    cr_assert_neq(system(cmd), 0);
}
#endif
