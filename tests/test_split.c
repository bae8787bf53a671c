/* Tests for train/split.c and `serc split`: no speaker in two folds or in train and test, fold sizes
 * balanced, assignments deterministic per seed and independent of line order. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "split.h"
#include "testutil.h"

static const char *LABELS[4] = {"neutral", "happy", "sad", "angry"};

/* n_spk speakers, speaker s has 5 + (s * 7) % 13 utterances; `reverse` appends them in reverse. */
static Manifest *make_manifest(int n_spk, int reverse) {
    Manifest *m = manifest_new(".");
    int idx = 0;
    for (int s = 0; s < n_spk; s++) idx += 5 + (s * 7) % 13;
    int *spk_of = malloc((size_t)idx * sizeof *spk_of), *k_of = malloc((size_t)idx * sizeof *k_of), n = 0;
    for (int s = 0; s < n_spk; s++)
        for (int k = 0; k < 5 + (s * 7) % 13; k++) spk_of[n] = s, k_of[n++] = k;
    for (int j = 0; j < n; j++) {
        int i = reverse ? n - 1 - j : j;
        Utterance *u = manifest_append(m);
        char id[32], spk[16];
        snprintf(id, sizeof id, "s%02d_u%02d", spk_of[i], k_of[i]);
        snprintf(spk, sizeof spk, "spk%02d", spk_of[i]);
        u->id = strdup(id);
        u->speaker = strdup(spk);
        u->label = strdup(LABELS[(spk_of[i] + k_of[i]) % 4]);
        manifest_set_audio(m, u, "x.wav");
        u->line = j + 1;
    }
    free(spk_of);
    free(k_of);
    return m;
}

static int fold_of_speaker(const Manifest *m, const char *spk) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->utts[i].speaker, spk)) return m->utts[i].fold;
    return -2;
}

Test(split, kfold_speaker_independent_and_balanced) {
    Manifest *m = make_manifest(23, 0);
    SercErr err = {{0}};
    cr_assert_eq(split_speaker_kfold(m, 5, 7, 0, &err), 0, "%s", err.msg);
    int size[5] = {0}, max_spk = 17;
    for (int i = 0; i < m->n; i++) {
        const Utterance *u = &m->utts[i];
        cr_assert(u->fold >= 0 && u->fold < 5);
        cr_assert_eq(u->fold, fold_of_speaker(m, u->speaker), "speaker %s in two folds", u->speaker);
        size[u->fold]++;
    }
    int lo = m->n, hi = 0;
    for (int f = 0; f < 5; f++) {
        if (size[f] < lo) lo = size[f];
        if (size[f] > hi) hi = size[f];
    }
    cr_assert_leq(hi - lo, max_spk, "folds unbalanced: %d..%d", lo, hi);
    /* each fold's test side against its training side */
    for (int f = 0; f < 5; f++) {
        ManifestFilter te = manifest_filter_any(), tr = manifest_filter_any();
        te.fold = f;
        tr.exclude_fold = f;
        Manifest *a = manifest_filter(m, &te), *b = manifest_filter(m, &tr);
        cr_assert_gt(a->n, 0);
        cr_assert_eq(split_speaker_overlap(a, b), 0);
        cr_assert_eq(a->n + b->n, m->n);
        manifest_free(a);
        manifest_free(b);
    }
    manifest_free(m);
}

Test(split, kfold_deterministic_and_order_independent) {
    Manifest *a = make_manifest(17, 0), *b = make_manifest(17, 1), *c = make_manifest(17, 0);
    SercErr err = {{0}};
    cr_assert_eq(split_speaker_kfold(a, 4, 123, 0, &err), 0);
    cr_assert_eq(split_speaker_kfold(b, 4, 123, 0, &err), 0);
    cr_assert_eq(split_speaker_kfold(c, 4, 124, 0, &err), 0);
    int differs = 0;
    for (int i = 0; i < a->n; i++) {
        cr_assert_eq(a->utts[i].fold, fold_of_speaker(b, a->utts[i].speaker));
        differs |= a->utts[i].fold != c->utts[i].fold;
    }
    cr_assert(differs, "seed has no effect");
    manifest_free(a);
    manifest_free(b);
    manifest_free(c);
}

Test(split, kfold_errors) {
    Manifest *m = make_manifest(3, 0);
    SercErr err = {{0}};
    cr_assert_eq(split_speaker_kfold(m, 5, 0, 0, &err), -1);
    cr_assert_not_null(strstr(err.msg, "3 speakers for 5 folds"), "%s", err.msg);
    free(m->utts[4].speaker);
    m->utts[4].speaker = NULL;
    cr_assert_eq(split_speaker_kfold(m, 2, 0, 0, &err), -1);
    cr_assert_not_null(strstr(err.msg, ":5: utterance 's00_u04' has no speaker"), "%s", err.msg);
    /* utterance-level split when overlap is allowed */
    cr_assert_eq(split_speaker_kfold(m, 5, 0, 1, &err), 0, "%s", err.msg);
    manifest_free(m);
}

Test(split, train_dev_test_by_speaker) {
    Manifest *m = make_manifest(40, 0);
    SercErr err = {{0}};
    double frac[3] = {0.8, 0.1, 0.1};
    cr_assert_eq(split_speaker_train_dev_test(m, frac, 3, 0, &err), 0, "%s", err.msg);
    Manifest *p[3];
    for (int s = 0; s < 3; s++) {
        ManifestFilter f = manifest_filter_any();
        f.split = (ManifestSplit)(SPLIT_TRAIN + s);
        p[s] = manifest_filter(m, &f);
        cr_assert_gt(p[s]->n, 0);
    }
    cr_assert_eq(split_speaker_overlap(p[0], p[2]), 0);
    cr_assert_eq(split_speaker_overlap(p[0], p[1]), 0);
    cr_assert_eq(split_speaker_overlap(p[1], p[2]), 0);
    double tr = (double)p[0]->n / m->n;
    cr_assert(tr > 0.7 && tr < 0.9, "train fraction %g", tr);
    /* dev carved out of train, by speaker */
    for (int i = 0; i < m->n; i++) m->utts[i].split = m->utts[i].split == SPLIT_TEST ? SPLIT_TEST : SPLIT_TRAIN;
    cr_assert_eq(split_carve_dev(m, 0.2, 1, 0, &err), 0, "%s", err.msg);
    ManifestFilter fd = manifest_filter_any(), ft = manifest_filter_any();
    fd.split = SPLIT_DEV;
    ft.split = SPLIT_TRAIN;
    Manifest *dev = manifest_filter(m, &fd), *train = manifest_filter(m, &ft);
    cr_assert_gt(dev->n, 0);
    cr_assert_eq(split_speaker_overlap(dev, train), 0);
    manifest_free(dev);
    manifest_free(train);
    for (int s = 0; s < 3; s++) manifest_free(p[s]);
    manifest_free(m);
}

Test(split, leave_one_session_out_check) {
    Manifest *m = make_manifest(10, 0);
    SercErr err = {{0}};
    for (int i = 0; i < m->n; i++) m->utts[i].fold = atoi(m->utts[i].speaker + 3) / 2; /* 2 speakers/session */
    cr_assert_eq(split_check_folds(m, 0, &err), 5, "%s", err.msg);
    m->utts[3].fold = 4; /* speaker spk00 now in folds 0 and 4 */
    cr_assert_eq(split_check_folds(m, 0, &err), -1);
    cr_assert_not_null(strstr(err.msg, "speaker 'spk00' is in fold"), "%s", err.msg);
    cr_assert_eq(split_check_folds(m, 1, &err), 5, "%s", err.msg);
    m->utts[0].fold = -1;
    cr_assert_eq(split_check_folds(m, 1, &err), -1);
    cr_assert_not_null(strstr(err.msg, ":1: utterance 's00_u00' has no fold"), "%s", err.msg);
    manifest_free(m);
}

#ifdef SERC_BINARY

static char g_dir[64];
static void cleanup(void) { test_remove_tree(g_dir); }

Test(split, command_writes_folds, .fini = cleanup) {
    snprintf(g_dir, sizeof g_dir, "/tmp/serc_split_XXXXXX");
    char *dir = g_dir;
    cr_assert_not_null(mkdtemp(dir));
    char path[256], cmd[1024];
    snprintf(path, sizeof path, "%s/all.jsonl", dir);
    Manifest *m = make_manifest(12, 0);
    SercErr err = {{0}};
    cr_assert_eq(manifest_write(path, m, &err), 0, "%s", err.msg);
    snprintf(cmd, sizeof cmd, "%s split %s --folds 4 --seed 3 --dev-frac 0.2 --out %s/out > %s/log.txt 2>&1", SERC_BINARY,
             path, dir, dir);
    cr_assert_eq(system(cmd), 0, "serc split failed");
    int total = 0;
    for (int f = 0; f < 4; f++) {
        char p[300];
        snprintf(p, sizeof p, "%s/out/fold%d/test.jsonl", dir, f);
        Manifest *te = manifest_read(p, &err);
        cr_assert_not_null(te, "%s", err.msg);
        snprintf(p, sizeof p, "%s/out/fold%d/train.jsonl", dir, f);
        Manifest *tr = manifest_read(p, &err);
        cr_assert_not_null(tr, "%s", err.msg);
        snprintf(p, sizeof p, "%s/out/fold%d/dev.jsonl", dir, f);
        Manifest *dv = manifest_read(p, &err);
        cr_assert_not_null(dv, "%s", err.msg);
        cr_assert_eq(split_speaker_overlap(tr, te), 0);
        cr_assert_eq(split_speaker_overlap(dv, te), 0);
        cr_assert_eq(split_speaker_overlap(tr, dv), 0);
        cr_assert_eq(tr->n + dv->n + te->n, m->n);
        /* audio paths rewritten for the deeper folder still name the same file */
        char cwd_x[512];
        cr_assert_not_null(getcwd(cwd_x, sizeof cwd_x - 8));
        strcat(cwd_x, "/x.wav");
        cr_assert_str_eq(te->utts[0].audio_path, cwd_x);
        total += te->n;
        manifest_free(te);
        manifest_free(tr);
        manifest_free(dv);
    }
    cr_assert_eq(total, m->n);
    snprintf(path, sizeof path, "%s/out/folds.jsonl", dir);
    Manifest *all = manifest_read(path, &err);
    cr_assert_not_null(all, "%s", err.msg);
    cr_assert_eq(split_check_folds(all, 0, &err), 4, "%s", err.msg);
    manifest_free(all);
    manifest_free(m);
}
#endif
