/* The SERNC challenge's submission files and scoring (train/sernc.h, `serc score`, `serc predict --format
 * sernc`, `serc eval --format sernc`). Scores are checked against tests/fixtures/sernc/expected.json,
 * written by make_sernc_fixtures.py from scikit-learn's f1_score (the challenge's call, without labels=)
 * and numpy's population-variance CCC; every refusal of a bad submission is checked through the command:
 * exit status 1, nothing on stdout, and a message naming the file and line. The round trip trains a tiny
 * checkpoint, writes its submissions with predict --format sernc and scores them. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "import.h"
#include "json.h"
#include "manifest.h"
#include "sernc.h"
#include "testutil.h"
#include "trainer.h"

#define FIX SERC_FIXTURES_DIR "/sernc"

static char g_tmp[] = "/tmp/serc-sernc-XXXXXX";
static int g_tmp_made;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void make_tmp(void) {
    cr_assert_not_null(mkdtemp(g_tmp));
    g_tmp_made = 1;
}
static void remove_tmp(void) {
    if (g_tmp_made) nftw(g_tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
TestSuite(sernc, .init = make_tmp, .fini = remove_tmp);

static JsonValue *expected(char **text) {
    size_t n;
    *text = test_read_file(FIX "/expected.json", &n);
    SercErr err;
    JsonValue *v = json_parse(*text, n, &err);
    cr_assert_not_null(v, "expected.json: %s", err.msg);
    return v;
}

/* Runs `serc ARGS` in cwd with stdout and stderr to g_tmp/out.txt and g_tmp/err.txt; the exit status. */
static int run_serc(const char *cwd, const char *args) {
    JsonBuf cmd = {0};
    jsonbuf_appendf(&cmd, "cd '%s' && '%s' %s > '%s/out.txt' 2> '%s/err.txt'", cwd, SERC_BINARY, args, g_tmp, g_tmp);
    int st = system(cmd.data);
    cr_assert(WIFEXITED(st), "%s did not exit", cmd.data);
    jsonbuf_free(&cmd);
    return WEXITSTATUS(st);
}

static char *tmp_text(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_tmp, name);
    return test_read_file(p, NULL);
}

static double num(const JsonValue *o, const char *key) {
    const JsonValue *v = json_get(o, key);
    cr_assert_not_null(v, "no key %s", key);
    return json_number(v);
}

/* ---- the classes ---- */

Test(sernc, class_letters_names_and_label_maps) {
    cr_expect_eq(sernc_class_index("A"), 0);
    cr_expect_eq(sernc_class_index("n"), 7);
    cr_expect_eq(sernc_class_index(" Surprise "), 3);
    cr_expect_eq(sernc_class_index("CONTEMPT"), 6);
    cr_expect_eq(sernc_class_index("O"), -1);
    cr_expect_eq(sernc_class_index("other"), -1);
    cr_expect_eq(sernc_class_index("anger"), -1);
    cr_expect_eq(sernc_class_index(""), -1);
    const char *iemocap[] = {"neutral", "happy", "sad", "angry"};
    int map[8];
    SercErr err;
    cr_assert_eq(sernc_label_map(iemocap, 4, map, &err), 0, "%s", err.msg);
    cr_expect(map[0] == 7 && map[1] == 2 && map[2] == 1 && map[3] == 0);
    const char *with_other[] = {"N", "H", "other"};
    cr_expect_eq(sernc_label_map(with_other, 3, map, &err), -1);
    cr_expect_not_null(strstr(err.msg, "'other'"), "%s", err.msg);
}

/* ---- scores against scikit-learn and numpy ---- */

static void check_score(const JsonValue *c, const SerncScore *s) {
    const char *pred = json_string(json_get(c, "pred"));
    cr_expect_str_eq(s->split, json_string(json_get(c, "expect_split")), "%s", pred);
    cr_expect_eq(s->rows, (int64_t)num(c, "rows"), "%s rows", pred);
    if (!strcmp(json_string(json_get(c, "task")), "categorical")) {
        cr_expect_eq(s->excluded, (int64_t)num(c, "excluded"), "%s excluded", pred);
        cr_expect(fabs(s->macro_f1 - num(c, "macro_f1")) < 1e-12, "%s macro-F1 %.17g, sklearn %.17g", pred, s->macro_f1,
                  num(c, "macro_f1"));
        cr_expect(fabs(s->macro_f1_all8 - num(c, "macro_f1_all8")) < 1e-12, "%s macro-F1 (8) %.17g, sklearn %.17g", pred,
                  s->macro_f1_all8, num(c, "macro_f1_all8"));
    } else {
        /* values are held as float32 (concordance_cc), sums in double: agreement to 1e-6 */
        const char *keys[3] = {"ccc_arousal", "ccc_valence", "ccc_dominance"};
        for (int k = 0; k < 3; k++)
            cr_expect(fabs(s->ccc[k] - num(c, keys[k])) < 1e-6, "%s %s %.9f, numpy %.9f", pred, keys[k], s->ccc[k],
                      num(c, keys[k]));
        cr_expect(fabs(s->ccc_mean - num(c, "ccc_mean")) < 1e-6, "%s mean", pred);
    }
}

Test(sernc, library_scores_match_sklearn_and_numpy) {
    char *text;
    JsonValue *v = expected(&text);
    SerncLabels l;
    SercErr err;
    cr_assert_eq(sernc_labels_read(FIX "/labels_consensus.csv", &l, &err), 0, "%s", err.msg);
    const JsonValue *cases = json_get(v, "cases");
    cr_assert_geq(json_len(cases), 7);
    for (size_t i = 0; i < json_len(cases); i++) {
        const JsonValue *c = json_at(cases, i);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", FIX, json_string(json_get(c, "pred")));
        SerncTask task = sernc_task_parse(json_string(json_get(c, "task")));
        const JsonValue *sp = json_get(c, "split");
        SerncSubmission sub;
        cr_assert_eq(sernc_submission_read(path, task, &sub, &err), 0, "%s", err.msg);
        SerncScore s;
        cr_assert_eq(sernc_score(&l, &sub, json_type(sp) == JSON_STRING ? json_string(sp) : NULL, &s, &err), 0, "%s", err.msg);
        check_score(c, &s);
        sernc_score_free(&s);
        sernc_submission_free(&sub);
    }
    sernc_labels_free(&l);
    json_free(v);
    free(text);
}

Test(sernc, score_command_prints_the_same_numbers) {
    char *text;
    JsonValue *v = expected(&text);
    const JsonValue *cases = json_get(v, "cases");
    for (size_t i = 0; i < json_len(cases); i++) {
        const JsonValue *c = json_at(cases, i);
        const JsonValue *sp = json_get(c, "split");
        char args[1024];
        snprintf(args, sizeof args, "score --task %s --labels labels_consensus.csv --pred %s %s%s --json",
                 json_string(json_get(c, "task")), json_string(json_get(c, "pred")),
                 json_type(sp) == JSON_STRING ? "--split " : "", json_type(sp) == JSON_STRING ? json_string(sp) : "");
        cr_assert_eq(run_serc(FIX, args), 0, "serc %s: %s", args, tmp_text("err.txt"));
        char *out = tmp_text("out.txt");
        SercErr err;
        JsonValue *o = json_parse(out, strlen(out), &err);
        cr_assert_not_null(o, "%s: %s", out, err.msg);
        SerncScore s;
        memset(&s, 0, sizeof s);
        snprintf(s.split, sizeof s.split, "%s", json_string(json_get(o, "split")));
        s.rows = (int64_t)num(o, "rows");
        if (!strcmp(json_string(json_get(c, "task")), "categorical")) {
            s.excluded = (int64_t)num(o, "excluded");
            s.macro_f1 = num(o, "macro_f1");
            s.macro_f1_all8 = num(o, "macro_f1_all8");
        } else {
            s.ccc[0] = num(o, "ccc_arousal"), s.ccc[1] = num(o, "ccc_valence"), s.ccc[2] = num(o, "ccc_dominance");
            s.ccc_mean = num(o, "ccc_mean");
        }
        check_score(c, &s);
        json_free(o);
        free(out);
    }
    /* the table: headline, per-class rows, confusion matrix */
    cr_assert_eq(run_serc(FIX, "score --task categorical --labels labels_consensus.csv --pred cat_test1_neither.csv"), 0);
    char *out = tmp_text("out.txt");
    cr_expect_not_null(strstr(out, "split Test1: macro-F1 0.5918 over the 6 classes seen"), "%s", out);
    cr_expect_not_null(strstr(out, "macro-F1 over all 8 classes (unseen classes as 0): 0.4439"), "%s", out);
    cr_expect_not_null(strstr(out, "precision"), "%s", out);
    cr_expect_not_null(strstr(out, "F fear"), "%s", out);
    cr_expect_not_null(strstr(out, "2 with truth O or X not scored"), "%s", out);
    cr_expect_not_null(strstr(out, "confusion (rows: truth"), "%s", out);
    free(out);
    cr_assert_eq(run_serc(FIX, "score --task attributes --labels labels_consensus.csv --pred att_test1.csv"), 0);
    out = tmp_text("out.txt");
    cr_expect_not_null(strstr(out, "mean CCC 0.7851"), "%s", out);
    cr_expect_not_null(strstr(out, "valence"), "%s", out);
    free(out);
    json_free(v);
    free(text);
}

/* ---- refusals ---- */

Test(sernc, bad_submissions_are_refused_naming_file_and_line) {
    char *text;
    JsonValue *v = expected(&text);
    const JsonValue *bad = json_get(v, "refusals");
    cr_assert_geq(json_len(bad), 18);
    for (size_t i = 0; i < json_len(bad); i++) {
        const JsonValue *c = json_at(bad, i);
        const char *pred = json_string(json_get(c, "pred"));
        const JsonValue *sp = json_get(c, "split");
        char args[1024];
        snprintf(args, sizeof args, "score --task %s --labels labels_consensus.csv --pred %s --json %s%s",
                 json_string(json_get(c, "task")), pred, json_type(sp) == JSON_STRING ? "--split " : "",
                 json_type(sp) == JSON_STRING ? json_string(sp) : "");
        cr_expect_eq(run_serc(FIX, args), 1, "%s was not refused", pred);
        char *out = tmp_text("out.txt"), *errs = tmp_text("err.txt");
        cr_expect_eq(out[0], '\0', "%s: scored anyway: %s", pred, out);
        char where[256];
        snprintf(where, sizeof where, "%s:%d", json_string(json_get(c, "where")), (int)num(c, "line"));
        cr_expect_not_null(strstr(errs, where), "%s: message does not name %s: %s", pred, where, errs);
        cr_expect_not_null(strstr(errs, json_string(json_get(c, "mention"))), "%s: message does not mention '%s': %s",
                           pred, json_string(json_get(c, "mention")), errs);
        if (!strcmp(pred, "bad_missing.csv"))
            cr_expect_not_null(strstr(errs, "bad_missing.csv"), "the submission is named too: %s", errs);
        if (!strcmp(pred, "bad_no_extension.csv"))
            cr_expect_not_null(strstr(errs, ".wav extension"), "%s", errs);
        free(out);
        free(errs);
    }
    /* usage errors: exit 2 */
    cr_expect_eq(run_serc(FIX, "score --task both --labels labels_consensus.csv --pred cat_dev_all.csv"), 2);
    cr_expect_eq(run_serc(FIX, "score --task categorical --pred cat_dev_all.csv"), 2);
    /* an unknown --split names the splits there are */
    cr_expect_eq(run_serc(FIX, "score --task categorical --labels labels_consensus.csv --pred cat_dev_all.csv --split Test3"), 1);
    char *errs = tmp_text("err.txt");
    cr_expect_not_null(strstr(errs, "'Test3' (splits: Train, Development, Test1, Test2)"), "%s", errs);
    free(errs);
    json_free(v);
    free(text);
}

Test(sernc, bad_labels_files_are_refused_naming_the_line) {
    static const struct {
        const char *text, *where, *mention;
    } cases[] = {
        {"FileName,EmoClass,EmoAct,EmoVal,Split_Set\na.wav,N,4,4,Train\n", ":1:", "EmoDom"},
        {"FileName,EmoClass,EmoAct,EmoVal,EmoDom,Split_Set\na.wav,N,4,4,4,Train\nb.wav,Q,4,4,4,Train\n", ":3:", "'Q'"},
        {"FileName,EmoClass,EmoAct,EmoVal,EmoDom,Split_Set\na.wav,N,4,four,4,Train\n", ":2:", "EmoVal"},
        {"FileName,EmoClass,EmoAct,EmoVal,EmoDom,Split_Set\na.wav,N,4,4,4,Train\n\na.wav,S,4,4,4,Test1\n", ":4:", "line 2"},
        {"FileName,EmoClass,EmoAct,EmoVal,EmoDom,Split_Set\na.wav,N,4,4,4\n", ":2:", "fields"},
        {"FileName,EmoClass,EmoAct,EmoVal,EmoDom,Split_Set\n", "labels.csv", "no rows"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_put_file(g_tmp, "labels.csv", cases[i].text);
        char path[512];
        snprintf(path, sizeof path, "%s/labels.csv", g_tmp);
        SerncLabels l;
        SercErr err;
        cr_expect_eq(sernc_labels_read(path, &l, &err), -1, "case %zu accepted", i);
        cr_expect_not_null(strstr(err.msg, cases[i].where), "case %zu: %s", i, err.msg);
        cr_expect_not_null(strstr(err.msg, cases[i].mention), "case %zu: %s", i, err.msg);
    }
}

/* ---- writing submissions ---- */

Test(sernc, written_submissions_are_sorted_base_names) {
    const char *paths[] = {"/data/Audios/MSP-PODCAST_0002_0033.wav", "rel/MSP-PODCAST_0001_0002.wav",
                           "MSP-PODCAST_0001_0001.wav"};
    int cls[] = {7, 0, 3};
    float avd[] = {3.5f, 4.25f, 9.0f, 0.5f, 2.0f, 7.0f, 4.0f, 4.0f, 4.0f};
    char cat[512], att[512];
    snprintf(cat, sizeof cat, "%s/categorical.csv", g_tmp);
    snprintf(att, sizeof att, "%s/attributes.csv", g_tmp);
    SercErr err;
    cr_assert_eq(sernc_write_categorical(cat, paths, cls, 3, &err), 0, "%s", err.msg);
    cr_assert_eq(sernc_write_attributes(att, paths, avd, 3, &err), 0, "%s", err.msg);
    char *a = test_read_file(cat, NULL), *b = test_read_file(att, NULL);
    cr_expect_str_eq(a, "FileName,EmoClass\nMSP-PODCAST_0001_0001.wav,U\nMSP-PODCAST_0001_0002.wav,A\n"
                        "MSP-PODCAST_0002_0033.wav,N\n");
    cr_expect_str_eq(b, "FileName,EmoAct,EmoVal,EmoDom\nMSP-PODCAST_0001_0001.wav,4.000000,4.000000,4.000000\n"
                        "MSP-PODCAST_0001_0002.wav,1.000000,2.000000,7.000000\n"
                        "MSP-PODCAST_0002_0033.wav,3.500000,4.250000,7.000000\n");
    free(a);
    free(b);
    /* what was written reads back as a submission */
    SerncSubmission sub;
    cr_assert_eq(sernc_submission_read(cat, SERNC_CATEGORICAL, &sub, &err), 0, "%s", err.msg);
    cr_expect_eq(sub.n, 3);
    sernc_submission_free(&sub);
    cr_assert_eq(sernc_submission_read(att, SERNC_ATTRIBUTES, &sub, &err), 0, "%s", err.msg);
    sernc_submission_free(&sub);
    /* two files with one base name cannot both be in a submission */
    const char *dup[] = {"a/x.wav", "b/x.wav"};
    cr_expect_eq(sernc_write_categorical(cat, dup, cls, 2, &err), -1);
    cr_expect_not_null(strstr(err.msg, "x.wav"), "%s", err.msg);
    float nan_avd[] = {4.0f, NAN, 4.0f};
    cr_expect_eq(sernc_write_attributes(att, paths, nan_avd, 1, &err), -1);
}

/* ---- round trip: train, predict --format sernc, score ---- */

Test(sernc, predict_format_sernc_then_score_round_trip, .timeout = 0) {
    char corpus[600], run[600];
    snprintf(corpus, sizeof corpus, "%s/corpus-XXXXXX", g_tmp);
    test_render_small_corpus(corpus);
    snprintf(run, sizeof run, "%s/run", g_tmp);
    static const char *const extra[] = {"model.avd=true", "loss.ccc=1.0", NULL};
    TrainConfig cfg;
    test_small_train_config(&cfg, corpus, run, extra);
    FILE *null = fopen("/dev/null", "w");
    TrainOptions opt = {NULL, 0, 1, null};
    TrainResult res;
    SercErr err;
    cr_assert_eq(train_run(&cfg, &opt, &res, &err), 0, "%s", err.msg);
    train_result_free(&res);
    config_free(&cfg);
    fclose(null);

    /* labels_consensus.csv from the test manifest: FileName = the audio's base name; two splits */
    char mpath[700];
    snprintf(mpath, sizeof mpath, "%s/test.jsonl", corpus);
    Manifest *m = manifest_read(mpath, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_gt(m->n, 4);
    JsonBuf labels = {0}, args = {0};
    jsonbuf_appendf(&labels, "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n");
    jsonbuf_appendf(&labels, "MSP-PODCAST_9999_0001.wav,N,4.0,4.0,4.0,1,Male,Train\n");
    jsonbuf_appendf(&args, "predict --ckpt '%s/best.safetensors' --format sernc --out-dir '%s/sub'", run, g_tmp);
    for (int i = 0; i < m->n; i++) {
        const Utterance *u = &m->utts[i];
        cr_assert(u->label && u->has_arousal && u->has_valence && u->has_dominance);
        const char *base = strrchr(u->audio_path, '/');
        base = base ? base + 1 : u->audio_path;
        jsonbuf_appendf(&labels, "%s,%c,%.17g,%.17g,%.17g,1,Female,Test1\n", base, SERNC_LETTERS[sernc_class_index(u->label)],
                        u->arousal, u->valence, u->dominance);
        jsonbuf_appendf(&args, " '%s'", u->audio_path);
    }
    test_put_file(g_tmp, "labels_consensus.csv", labels.data);
    cr_assert_eq(run_serc(g_tmp, args.data), 0, "%s", tmp_text("err.txt"));
    char *out = tmp_text("out.txt");
    cr_expect_not_null(strstr(out, "categorical.csv"), "%s", out);
    cr_expect_not_null(strstr(out, "attributes.csv"), "%s", out);
    free(out);

    /* the same files through predict --json: the submission holds the same classes, and the A/V/D
     * clamped to [1, 7]; raw.csv holds the unclamped values, for comparing with eval */
    JsonBuf pargs = {0}, raw = {0};
    jsonbuf_appendf(&pargs, "predict --ckpt '%s/best.safetensors' --json", run);
    for (int i = 0; i < m->n; i++) jsonbuf_appendf(&pargs, " '%s'", m->utts[i].audio_path);
    cr_assert_eq(run_serc(g_tmp, pargs.data), 0, "%s", tmp_text("err.txt"));
    char *pj = tmp_text("out.txt");
    char cat_path[700], att_path[700];
    snprintf(cat_path, sizeof cat_path, "%s/sub/categorical.csv", g_tmp);
    snprintf(att_path, sizeof att_path, "%s/sub/attributes.csv", g_tmp);
    SerncSubmission sc, sa;
    cr_assert_eq(sernc_submission_read(cat_path, SERNC_CATEGORICAL, &sc, &err), 0, "%s", err.msg);
    cr_assert_eq(sernc_submission_read(att_path, SERNC_ATTRIBUTES, &sa, &err), 0, "%s", err.msg);
    cr_assert_eq(sc.n, m->n);
    cr_assert_eq(sa.n, m->n);
    for (int i = 1; i < sc.n; i++) cr_expect_lt(strcmp(sc.file[i - 1], sc.file[i]), 0, "rows not sorted by FileName");
    float *clamped = malloc(sizeof(float) * 3 * (size_t)m->n), *truth = malloc(sizeof(float) * 3 * (size_t)m->n);
    jsonbuf_appendf(&raw, "FileName,EmoAct,EmoVal,EmoDom\n");
    char *line = pj;
    for (int i = 0; i < m->n; i++) {
        char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "predict --json printed %d lines for %d files", i, m->n);
        JsonValue *o = json_parse(line, (size_t)(nl - line), &err);
        cr_assert_not_null(o, "%s", err.msg);
        const char *file = json_string(json_get(o, "file")), *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        int r = 0;
        while (r < sc.n && strcmp(sc.file[r], base) != 0) r++;
        cr_assert_lt(r, sc.n, "%s not in the submission", base);
        cr_expect_eq(sc.cls[r], sernc_class_index(json_string(json_get(o, "label"))), "%s", base);
        cr_assert_str_eq(sa.file[r], base);
        const char *keys[3] = {"arousal", "valence", "dominance"};
        double tv[3] = {m->utts[i].arousal, m->utts[i].valence, m->utts[i].dominance};
        jsonbuf_appendf(&raw, "%s", base);
        for (int k = 0; k < 3; k++) {
            double v = num(o, keys[k]), c = v < 1 ? 1 : v > 7 ? 7 : v;
            cr_expect(fabs(sa.avd[3 * r + k] - c) < 1e-4, "%s %s: %f, predict %f", base, keys[k], sa.avd[3 * r + k], v);
            clamped[3 * i + k] = (float)sa.avd[3 * r + k];
            truth[3 * i + k] = (float)tv[k];
            jsonbuf_appendf(&raw, ",%.9g", v);
        }
        jsonbuf_appendf(&raw, "\n");
        json_free(o);
        line = nl + 1;
    }
    test_put_file(g_tmp, "raw.csv", raw.data);

    /* score: task 1 equals serc eval --format sernc on the same utterances (one shared computation);
     * task 2 on the submission equals concordance_cc of what it holds, and on the unclamped values equals
     * eval's CCC (eval scores the head's raw outputs) */
    cr_assert_eq(run_serc(g_tmp, "score --task categorical --labels labels_consensus.csv --pred sub/categorical.csv --json"), 0,
                 "%s", tmp_text("err.txt"));
    char *cat = tmp_text("out.txt");
    cr_assert_eq(run_serc(g_tmp, "score --task attributes --labels labels_consensus.csv --pred sub/attributes.csv --json"), 0,
                 "%s", tmp_text("err.txt"));
    char *att = tmp_text("out.txt");
    cr_assert_eq(run_serc(g_tmp, "score --task attributes --labels labels_consensus.csv --pred raw.csv --json"), 0, "%s",
                 tmp_text("err.txt"));
    char *att_raw = tmp_text("out.txt");
    char eval_args[2048];
    snprintf(eval_args, sizeof eval_args, "eval --ckpt '%s/best.safetensors' --manifest '%s' --format sernc --json", run, mpath);
    cr_assert_eq(run_serc(g_tmp, eval_args), 0, "%s", tmp_text("err.txt"));
    char *ev = tmp_text("out.txt");
    char *nl = strchr(ev, '\n');
    cr_assert_not_null(nl, "%s", ev);
    JsonValue *jc = json_parse(cat, strlen(cat), &err), *ja = json_parse(att, strlen(att), &err);
    JsonValue *jr = json_parse(att_raw, strlen(att_raw), &err);
    JsonValue *ec = json_parse(ev, (size_t)(nl - ev), &err), *ea = json_parse(nl + 1, strlen(nl + 1), &err);
    cr_assert(jc && ja && jr && ec && ea, "%s | %s | %s | %s", cat, att, att_raw, ev);
    cr_expect_eq((int)num(jc, "rows"), m->n);
    cr_expect_str_eq(json_string(json_get(jc, "split")), "Test1");
    /* predict scores each whole file alone, eval in padded batches: the same classes */
    cr_expect(fabs(num(jc, "macro_f1") - num(ec, "macro_f1")) < 1e-12, "score %.6f, eval %.6f", num(jc, "macro_f1"),
              num(ec, "macro_f1"));
    cr_expect(fabs(num(jc, "macro_f1_all8") - num(ec, "macro_f1_all8")) < 1e-12);
    double ccc[3];
    concordance_cc_per_attribute(clamped, truth, m->n, 3, ccc);
    const char *keys[3] = {"ccc_arousal", "ccc_valence", "ccc_dominance"};
    for (int k = 0; k < 3; k++) {
        cr_expect(fabs(num(ja, keys[k]) - ccc[k]) < 1e-9, "%s: score %.9f, direct %.9f", keys[k], num(ja, keys[k]), ccc[k]);
        cr_expect(fabs(num(jr, keys[k]) - num(ea, keys[k])) < 1e-4, "%s: score of raw values %.6f, eval %.6f", keys[k],
                  num(jr, keys[k]), num(ea, keys[k]));
    }
    json_free(jc), json_free(ja), json_free(jr), json_free(ec), json_free(ea);
    free(cat), free(att), free(att_raw), free(ev), free(pj), free(clamped), free(truth);
    sernc_submission_free(&sc);
    sernc_submission_free(&sa);
    jsonbuf_free(&pargs);
    jsonbuf_free(&raw);

    /* a file that cannot be read: predict writes no submission (it would lack that file) */
    char bad_args[4096];
    snprintf(bad_args, sizeof bad_args, "predict --ckpt '%s/best.safetensors' --format sernc --out-dir '%s/sub2' '%s' nowhere.wav",
             run, g_tmp, m->utts[0].audio_path);
    cr_expect_eq(run_serc(g_tmp, bad_args), 1);
    struct stat sb;
    char sub2[700];
    snprintf(sub2, sizeof sub2, "%s/sub2/categorical.csv", g_tmp);
    cr_expect_neq(stat(sub2, &sb), 0, "a submission was written although a file failed");
    snprintf(bad_args, sizeof bad_args, "predict --ckpt '%s/best.safetensors' --format sernc '%s'", run, m->utts[0].audio_path);
    cr_expect_eq(run_serc(g_tmp, bad_args), 2, "--format sernc without --out-dir");
    jsonbuf_free(&labels);
    jsonbuf_free(&args);
    manifest_free(m);
}
