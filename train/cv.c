#include "cv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "experiment.h"
#include "manifest.h"
#include "trainer.h"

/* Writes the utterances of m whose fold passes keep(fold) to path. */
static int write_subset(const Manifest *m, const char *path, int fold_a, int fold_b, int exclude, SercErr *err) {
    Manifest *sub = manifest_new(m->dir);
    for (int i = 0; i < m->n; i++) {
        int f = m->utts[i].fold, in = f == fold_a || f == fold_b;
        if (exclude ? !in : in) manifest_append_copy(sub, &m->utts[i]);
    }
    int rc = sub->n ? manifest_write(path, sub, err) : serc_fail(err, "%s: no utterances for this fold", path);
    manifest_free(sub);
    return rc;
}

static int set_str(TrainConfig *cfg, const char *key, const char *value, SercErr *err) {
    char buf[1200];
    snprintf(buf, sizeof buf, "%s=%s", key, value);
    return config_set(cfg, buf, err);
}

int cv_run(const TrainConfig *cfg, int quiet, FILE *log, SercErr *err) {
    Manifest *m = manifest_read(cfg->data.train, err);
    if (!m) return -1;
    int folds[256], K = 0;
    for (int i = 0; i < m->n; i++) {
        int f = m->utts[i].fold, seen = 0;
        if (f < 0) {
            int rc = serc_fail(err, "%s:%lld: utterance '%s' has no fold (serc split assigns folds)", cfg->data.train,
                               (long long)m->utts[i].line, m->utts[i].id);
            manifest_free(m);
            return rc;
        }
        for (int k = 0; k < K; k++) seen |= folds[k] == f;
        if (!seen && K < 256) folds[K++] = f;
    }
    for (int a = 0; a < K; a++) /* ascending */
        for (int b = a + 1; b < K; b++)
            if (folds[b] < folds[a]) {
                int t = folds[a];
                folds[a] = folds[b];
                folds[b] = t;
            }
    if (K < 3) {
        manifest_free(m);
        return serc_fail(err, "%s: %d folds; cross-validation needs at least 3 (train, dev, test)", cfg->data.train, K);
    }
    /* the label map as the whole run sees it (the fold manifests live elsewhere than the corpus's own
     * *.labels file): written into every fold's folder and named there */
    LabelMap *labels = experiment_labels(cfg, err);
    if (!labels) {
        manifest_free(m);
        return -1;
    }
    if (mkdir(cfg->run.out, 0777) != 0 && errno != EEXIST) {
        labelmap_free(labels);
        manifest_free(m);
        return serc_fail(err, "%s: cannot create folder: %s", cfg->run.out, strerror(errno));
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/cv.jsonl", cfg->run.out);
    FILE *out = fopen(path, "w");
    if (!out) {
        labelmap_free(labels);
        manifest_free(m);
        return serc_fail(err, "%s: cannot open for writing: %s", path, strerror(errno));
    }
    double sum[3] = {0, 0, 0}, sq[3] = {0, 0, 0};
    int rc = 0;
    for (int k = 0; k < K && rc == 0; k++) {
        int test = folds[k], dev = folds[(k + 1) % K];
        char dir[1024], tr[1100], dv[1100], te[1100], lb[1100];
        snprintf(dir, sizeof dir, "%s/fold%d", cfg->run.out, test);
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            rc = serc_fail(err, "%s: cannot create folder: %s", dir, strerror(errno));
            break;
        }
        snprintf(tr, sizeof tr, "%s/train.jsonl", dir);
        snprintf(dv, sizeof dv, "%s/dev.jsonl", dir);
        snprintf(te, sizeof te, "%s/test.jsonl", dir);
        snprintf(lb, sizeof lb, "%s/classes.labels", dir);
        if (write_subset(m, tr, test, dev, 1, err) < 0 || write_subset(m, dv, dev, dev, 0, err) < 0 ||
            write_subset(m, te, test, test, 0, err) < 0 || labelmap_write(lb, labels, err) < 0) {
            rc = -1;
            break;
        }
        TrainConfig fc;
        config_copy(&fc, cfg);
        if (set_str(&fc, "data.train", tr, err) < 0 || set_str(&fc, "data.dev", dv, err) < 0 ||
            set_str(&fc, "data.test", te, err) < 0 || set_str(&fc, "run.out", dir, err) < 0 ||
            set_str(&fc, "data.labels", lb, err) < 0) {
            config_free(&fc);
            rc = -1;
            break;
        }
        if (!quiet) fprintf(log, "== fold %d of %d: test fold %d, dev fold %d\n", k + 1, K, test, dev);
        TrainOptions to = {NULL, 0, quiet, log};
        TrainResult r;
        rc = train_run(&fc, &to, &r, err);
        config_free(&fc);
        if (rc < 0) {
            serc_fail_prefix(err, "fold %d", test);
            break;
        }
        double v[3] = {r.test.wa, r.test.ua, r.test.macro_f1};
        for (int j = 0; j < 3; j++) {
            sum[j] += v[j];
            sq[j] += v[j] * v[j];
        }
        fprintf(out, "{\"fold\": %d, \"dev_fold\": %d, \"wa\": %.6f, \"ua\": %.6f, \"macro_f1\": %.6f, \"best_epoch\": %d}\n", test,
                dev, v[0], v[1], v[2], r.best_epoch);
        fflush(out);
        train_result_free(&r);
    }
    if (rc == 0) {
        double mean[3], sd[3];
        for (int j = 0; j < 3; j++) {
            mean[j] = sum[j] / K;
            sd[j] = sqrt(fmax(0.0, sq[j] / K - mean[j] * mean[j]));
        }
        fprintf(out, "{\"summary\": true, \"folds\": %d, \"wa\": [%.6f, %.6f], \"ua\": [%.6f, %.6f], \"macro_f1\": [%.6f, %.6f]}\n", K,
                mean[0], sd[0], mean[1], sd[1], mean[2], sd[2]);
        fprintf(log, "cross-validation over %d folds (mean +- std): WA %.4f +- %.4f  UA %.4f +- %.4f  macro-F1 %.4f +- %.4f\n", K,
                mean[0], sd[0], mean[1], sd[1], mean[2], sd[2]);
    }
    fclose(out);
    labelmap_free(labels);
    manifest_free(m);
    return rc;
}
