#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "import.h"
#include "manifest.h"
#include "synth.h"
#include "trainer.h"

char *test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len, "short read of %s", path);
    buf[len] = '\0';
    fclose(f);
    if (n) *n = (size_t)len;
    return buf;
}

void test_render_small_corpus(char *dir_template) {
    cr_assert_not_null(mkdtemp(dir_template));
    SynthOptions o;
    SercErr err;
    cr_assert_eq(synth_preset(&o, "tiny", &err), 0, "%s", err.msg);
    o.utts_per_speaker = 6;
    o.n_classes = 4;
    o.n_conditions = 0;
    o.out_dir = dir_template;
    o.progress_every = 0;
    SynthReport rep;
    cr_assert_eq(synth_render(&o, &rep, &err), 0, "%s", err.msg);
}

void test_small_train_config(TrainConfig *cfg, const char *corpus, const char *out, const char *const *extra) {
    char kv[1024];
    SercErr err;
    config_default(cfg);
    const char *parts[3][2] = {{"data.train", "train"}, {"data.dev", "dev"}, {"data.test", "test"}};
    for (int i = 0; i < 3; i++) {
        snprintf(kv, sizeof kv, "%s=%s/%s.jsonl", parts[i][0], corpus, parts[i][1]);
        cr_assert_eq(config_set(cfg, kv, &err), 0, "%s", err.msg);
    }
    snprintf(kv, sizeof kv, "run.out=%s", out);
    cr_assert_eq(config_set(cfg, kv, &err), 0, "%s", err.msg);
    static const char *const base[] = {"data.n_mels=24", "data.max_seconds=1.5", "data.workers=2",
                                       "model.frontend=tdnn", "model.tdnn_dims=[32, 32]", "model.dim=32",
                                       "model.heads=4", "model.head_hidden=16", "model.proj_dim=16", "loss.focal=0.5",
                                       "loss.center=0.1", "optim.batch=8", "optim.epochs=2", NULL};
    for (int i = 0; base[i]; i++) cr_assert_eq(config_set(cfg, base[i], &err), 0, "%s: %s", base[i], err.msg);
    for (int i = 0; extra && extra[i]; i++) cr_assert_eq(config_set(cfg, extra[i], &err), 0, "%s: %s", extra[i], err.msg);
    cr_assert_eq(config_validate(cfg, &err), 0, "%s", err.msg);
}

void test_put_file(const char *root, const char *rel, const char *text) {
    char *path = import_path("%s/%s", root, rel);
    char *dir = manifest_dirname(path);
    SercErr err = {{0}};
    cr_assert_eq(import_mkdirs(dir, &err), 0, "%s", err.msg);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
    free(dir);
    free(path);
}

void test_remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) test_remove_tree(p);
            else unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

int test_run_serc(const char *dir, const char *args) {
    size_t n = strlen(dir) + strlen(args) + strlen(SERC_BINARY) + 64;
    char *cmd = malloc(n);
    snprintf(cmd, n, "cd '%s' && '%s' %s > out.txt 2> err.txt", dir, SERC_BINARY, args);
    int st = system(cmd);
    free(cmd);
    cr_assert(WIFEXITED(st), "serc did not exit normally: %s", args);
    return WEXITSTATUS(st);
}

void test_train_small(const char *corpus, const char *out, const char *const *extra) {
    TrainConfig cfg;
    test_small_train_config(&cfg, corpus, out, extra);
    SercErr err;
    FILE *null = fopen("/dev/null", "w");
    TrainOptions opt = {NULL, 0, 1, null};
    TrainResult res;
    cr_assert_eq(train_run(&cfg, &opt, &res, &err), 0, "%s: %s", out, err.msg);
    train_result_free(&res);
    config_free(&cfg);
    fclose(null);
}
