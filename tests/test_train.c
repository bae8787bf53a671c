/* The training workflow end to end on a small rendered corpus: a run directory with every file, eval
 * and predict from the checkpoint, and resume: a run stopped after some steps and resumed ends with
 * parameters bitwise identical to an uninterrupted run. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "experiment.h"
#include "predict.h"
#include "safetensors.h"
#include "cv.h"
#include "testutil.h"
#include "trainer.h"

static char corpus[] = "/tmp/serc-train-XXXXXX";

static void render(void) { test_render_small_corpus(corpus); }

/* test_small_train_config plus SupCon, EAM, accumulation and a log line every step. */
static void small_config(TrainConfig *cfg, const char *out) {
    static const char *const extra[] = {"loss.supcon=0.1", "eam.enabled=true", "optim.accumulate=2", "run.log_every=1",
                                        NULL};
    test_small_train_config(cfg, corpus, out, extra);
}

/* The tensors of two checkpoints are bitwise equal (metadata may differ only in nothing we compare). */
static void expect_same_tensors(const char *a, const char *b) {
    SercErr err;
    SafetensorsFile *fa = safetensors_open(a, &err), *fb = safetensors_open(b, &err);
    cr_assert(fa && fb, "%s", err.msg);
    cr_assert_eq(safetensors_count(fa), safetensors_count(fb));
    for (int i = 0; i < safetensors_count(fa); i++) {
        int j = safetensors_find(fb, safetensors_name(fa, i));
        cr_assert_geq(j, 0, "%s missing", safetensors_name(fa, i));
        cr_expect_eq(memcmp(safetensors_data(fa, i), safetensors_data(fb, j), safetensors_nbytes(fa, i)), 0,
                     "tensor %s differs", safetensors_name(fa, i));
    }
    safetensors_close(fa);
    safetensors_close(fb);
}

Test(train, run_directory_eval_predict_and_bitwise_resume, .init = render, .timeout = 0) {
    char full[600], part[600];
    snprintf(full, sizeof full, "%s/run-full", corpus);
    snprintf(part, sizeof part, "%s/run-part", corpus);
    SercErr err;
    TrainConfig cfg;
    FILE *null = fopen("/dev/null", "w");

    small_config(&cfg, full);
    TrainOptions opt = {NULL, 0, 1, null};
    TrainResult res;
    cr_assert_eq(train_run(&cfg, &opt, &res, &err), 0, "%s", err.msg);
    cr_expect_eq(res.epochs_done, 2);
    cr_expect(res.has_dev && res.has_test);
    cr_expect_gt(confusion_total(&res.test.cm), 0);
    train_result_free(&res);
    config_free(&cfg);
    const char *files[] = {"config.toml", "metrics.jsonl", "last.safetensors", "best.safetensors", "confusion_test.svg",
                           "confusion_dev.svg", NULL};
    for (int i = 0; files[i]; i++) {
        char p[700];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", full, files[i]);
        cr_expect_eq(stat(p, &sb), 0, "missing %s", p);
    }
    char p[700];
    size_t n;
    snprintf(p, sizeof p, "%s/metrics.jsonl", full);
    char *log = test_read_file(p, &n);
    cr_expect(strstr(log, "\"event\": \"step\"") && strstr(log, "\"event\": \"eval\"") && strstr(log, "\"event\": \"test\""));
    free(log);

    /* interrupted after 3 optimiser steps (mid-epoch), then resumed: the same final parameters */
    small_config(&cfg, part);
    TrainOptions stop = {NULL, 3, 1, null};
    cr_assert_eq(train_run(&cfg, &stop, &res, &err), 0, "%s", err.msg);
    cr_expect(res.interrupted);
    train_result_free(&res);
    config_free(&cfg);
    TrainOptions resume = {part, 0, 1, null};
    config_default(&cfg);
    cr_assert_eq(train_run(&cfg, &resume, &res, &err), 0, "%s", err.msg);
    train_result_free(&res);
    config_free(&cfg);
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/last.safetensors", full);
    snprintf(b, sizeof b, "%s/last.safetensors", part);
    expect_same_tensors(a, b);

    /* eval of the checkpoint reproduces the trainer's test numbers; predict gives a distribution */
    snprintf(a, sizeof a, "%s/best.safetensors", full);
    snprintf(b, sizeof b, "%s/test.jsonl", corpus);
    EvalResult er;
    char **names = NULL;
    cr_assert_eq(eval_checkpoint(a, b, 0, &er, &names, &err), 0, "%s", err.msg);
    cr_expect_gt(confusion_total(&er.cm), 0);
    cr_expect_str_eq(names[0], "neutral");
    for (int i = 0; names[i]; i++) free(names[i]);
    free(names);
    eval_result_free(&er);
    Experiment e;
    cr_assert_eq(experiment_from_checkpoint(&e, a, &err), 0, "%s", err.msg);
    Manifest *m = manifest_read(b, &err);
    cr_assert_not_null(m);
    Prediction pr;
    cr_assert_eq(predict_file(&e, m->utts[0].audio_path, 1.0, 0.5, &pr, &err), 0, "%s", err.msg);
    double sum = 0;
    for (int c = 0; c < e.labels->n; c++) sum += pr.probs[c];
    cr_expect(sum > 0.999 && sum < 1.001, "probabilities sum to %g", sum);
    cr_expect_geq(pr.n_windows, 2);
    prediction_free(&pr);
    cr_expect_eq(predict_file(&e, "/nonexistent.wav", 0, 0, &pr, &err), -1);
    cr_expect(strstr(err.msg, "/nonexistent.wav") != NULL, "%s", err.msg);
    manifest_free(m);
    experiment_free(&e);
    fclose(null);
}

/* serc cv: one run per fold, dev = the next fold, no speaker shared between a fold's parts, and a
 * summary line with mean and standard deviation. */
Test(train, cross_validation_over_speaker_folds, .init = render, .timeout = 0) {
    char out[600], path[700];
    snprintf(out, sizeof out, "%s/cv", corpus);
    TrainConfig cfg;
    small_config(&cfg, out);
    SercErr err;
    snprintf(path, sizeof path, "data.train=%s/all.jsonl", corpus);
    cr_assert_eq(config_set(&cfg, path, &err), 0, "%s", err.msg);
    cr_assert_eq(config_set(&cfg, "optim.epochs=1", &err), 0, "%s", err.msg);
    FILE *null = fopen("/dev/null", "w");
    cr_assert_eq(cv_run(&cfg, 1, null, &err), 0, "%s", err.msg);
    fclose(null);
    config_free(&cfg);

    Manifest *all = manifest_read(path + strlen("data.train="), &err);
    cr_assert_not_null(all, "%s", err.msg);
    int folds[64] = {0}, n_folds = 0;
    for (int i = 0; i < all->n; i++) {
        int seen = 0;
        for (int k = 0; k < n_folds; k++) seen |= folds[k] == all->utts[i].fold;
        if (!seen) folds[n_folds++] = all->utts[i].fold;
    }
    cr_assert_geq(n_folds, 3);
    for (int k = 0; k < n_folds; k++) {
        const char *parts[3] = {"train", "dev", "test"};
        Manifest *m[3];
        for (int p = 0; p < 3; p++) {
            snprintf(path, sizeof path, "%s/fold%d/%s.jsonl", out, folds[k], parts[p]);
            m[p] = manifest_read(path, &err);
            cr_assert_not_null(m[p], "%s", err.msg);
        }
        for (int i = 0; i < m[2]->n; i++) cr_expect_eq(m[2]->utts[i].fold, folds[k]);
        for (int a = 0; a < 3; a++)
            for (int b = a + 1; b < 3; b++)
                for (int i = 0; i < m[a]->n; i++)
                    for (int j = 0; j < m[b]->n; j++)
                        cr_expect(strcmp(m[a]->utts[i].speaker, m[b]->utts[j].speaker) != 0,
                                  "fold %d: speaker %s in %s and %s", folds[k], m[a]->utts[i].speaker, parts[a], parts[b]);
        cr_expect_eq(m[0]->n + m[1]->n + m[2]->n, all->n, "fold %d: the parts do not cover the manifest", folds[k]);
        for (int p = 0; p < 3; p++) manifest_free(m[p]);
    }
    manifest_free(all);
    size_t n;
    snprintf(path, sizeof path, "%s/cv.jsonl", out);
    char *log = test_read_file(path, &n);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += log[i] == '\n';
    cr_expect_eq(lines, n_folds + 1, "cv.jsonl: %d lines for %d folds", lines, n_folds);
    cr_expect(strstr(log, "\"summary\": true") != NULL);
    free(log);
}
