/* Faults in training (docs/robustness.md, "Faults in training"): `serc train` killed with SIGKILL at
 * several points and resumed ends bitwise equal to an uninterrupted run; a second run on a directory in
 * use is refused; a diverging run stops with the term values named and leaves no non-finite checkpoint. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "safetensors.h"
#include "testutil.h"
#include "trainer.h"

static char corpus[] = "/tmp/serc-faults-XXXXXX";
static void render(void) { test_render_small_corpus(corpus); }

static void write_config(const char *out, const char *path, const char *const *extra) {
    TrainConfig cfg;
    test_small_train_config(&cfg, corpus, out, extra);
    SercErr err;
    cr_assert_eq(config_write(&cfg, path, &err), 0, "%s", err.msg);
    config_free(&cfg);
}

static int run_serc(const char *args, const char *log) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "SERC_THREADS=1 '%s' %s > '%s' 2>&1", SERC_BINARY, args, log);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "serc did not exit normally: %s", args);
    return WEXITSTATUS(st);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Starts `serc train --config cfg`, waits until `marker` exists plus delay_s, and kills it with SIGKILL.
 * Returns 1 when it was killed, 0 when it ended first. */
static int train_and_kill(const char *cfg, const char *marker, double delay_s, const char *log) {
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("SERC_THREADS", "1", 1);
        execl(SERC_BINARY, SERC_BINARY, "train", "--config", cfg, (char *)NULL);
        _exit(127);
    }
    double t0 = now_s(), seen = -1;
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return 0;
        if (seen < 0 && access(marker, F_OK) == 0) seen = now_s();
        if (seen >= 0 && now_s() - seen >= delay_s) break;
        cr_assert_lt(now_s() - t0, 300.0, "training never wrote %s", marker);
        usleep(2000);
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st);
}

/* Every tensor of a equals b's bitwise. */
static void expect_same_tensors(const char *a, const char *b) {
    SercErr err;
    SafetensorsFile *fa = safetensors_open(a, &err), *fb = safetensors_open(b, &err);
    cr_assert(fa && fb, "%s", err.msg);
    cr_assert_eq(safetensors_count(fa), safetensors_count(fb));
    for (int i = 0; i < safetensors_count(fa); i++) {
        int j = safetensors_find(fb, safetensors_name(fa, i));
        cr_assert_geq(j, 0, "%s missing", safetensors_name(fa, i));
        cr_expect_eq(memcmp(safetensors_data(fa, i), safetensors_data(fb, j), safetensors_nbytes(fa, i)), 0,
                     "%s: tensor %s differs from the uninterrupted run", b, safetensors_name(fa, i));
    }
    safetensors_close(fa);
    safetensors_close(fb);
}

Test(faults, sigkill_then_resume_ends_bitwise_equal, .init = render, .timeout = 0) {
    static const char *const extra[] = {"optim.epochs=3", NULL};
    char ref[600], cfg[700], log[700];
    snprintf(ref, sizeof ref, "%s/ref", corpus);
    snprintf(cfg, sizeof cfg, "%s/ref.toml", corpus);
    snprintf(log, sizeof log, "%s/ref.log", corpus);
    write_config(ref, cfg, extra);
    char args[1024];
    snprintf(args, sizeof args, "train --config '%s'", cfg);
    cr_assert_eq(run_serc(args, log), 0, "%s", test_read_file(log, NULL));
    char ref_last[700];
    snprintf(ref_last, sizeof ref_last, "%s/last.safetensors", ref);

    /* kill points: just as the first checkpoint appears (often inside the next write or the dev pass),
     * and later inside the second epoch */
    const double delays[] = {0.0, 0.15, 0.6, 1.5};
    int killed = 0;
    for (int k = 0; k < (int)(sizeof delays / sizeof delays[0]); k++) {
        char run[600], rcfg[700], marker[700];
        snprintf(run, sizeof run, "%s/kill%d", corpus, k);
        snprintf(rcfg, sizeof rcfg, "%s/kill%d.toml", corpus, k);
        snprintf(log, sizeof log, "%s/kill%d.log", corpus, k);
        snprintf(marker, sizeof marker, "%s/last.safetensors", run);
        write_config(run, rcfg, extra);
        if (!train_and_kill(rcfg, marker, delays[k], log)) continue; /* it finished first: nothing to test */
        killed++;
        /* what a kill leaves: a readable checkpoint, no temporary files */
        SercErr err;
        SafetensorsFile *f = safetensors_open(marker, &err);
        cr_assert(f, "after SIGKILL: %s", err.msg);
        safetensors_close(f);
        snprintf(args, sizeof args, "train --resume '%s'", run);
        char rlog[700];
        snprintf(rlog, sizeof rlog, "%s/resume%d.log", corpus, k);
        cr_assert_eq(run_serc(args, rlog), 0, "resume after a kill %.2f s past the first checkpoint:\n%s", delays[k],
                     test_read_file(rlog, NULL));
        expect_same_tensors(ref_last, marker);
        char cmd[800];
        snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp > /dev/null", run);
        cr_expect_neq(system(cmd), 0, "a temporary file is left in %s", run);
    }
    cr_expect_geq(killed, 2, "only %d of the kill points hit a running process", killed);
}

Test(faults, a_run_directory_in_use_is_refused, .init = render, .timeout = 0) {
    char run[600], lock[700];
    snprintf(run, sizeof run, "%s/locked", corpus);
    snprintf(lock, sizeof lock, "%s/.lock", run);
    cr_assert_eq(mkdir(run, 0777), 0);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(flock(fd, LOCK_EX), 0);
    cr_assert_eq(write(fd, "4242\n", 5), 5);
    /* flock locks belong to open file descriptions: train_run opens its own, which conflicts with ours */
    TrainConfig cfg;
    test_small_train_config(&cfg, corpus, run, NULL);
    SercErr err;
    FILE *null = fopen("/dev/null", "w");
    TrainOptions opt = {NULL, 0, 1, null};
    TrainResult res;
    cr_assert_eq(train_run(&cfg, &opt, &res, &err), -1);
    cr_expect(strstr(err.msg, "another serc train (pid 4242)"), "%s", err.msg);
    char cfgp[700];
    snprintf(cfgp, sizeof cfgp, "%s/config.toml", run);
    cr_expect(access(cfgp, F_OK) != 0, "the refused run wrote into the directory");
    close(fd); /* released: the same configuration now runs */
    cr_assert_eq(train_run(&cfg, &opt, &res, &err), 0, "%s", err.msg);
    train_result_free(&res);
    config_free(&cfg);
    fclose(null);
}

Test(faults, divergence_stops_and_leaves_no_nonfinite_checkpoint, .init = render, .timeout = 0) {
    static const char *const extra[] = {"optim.lr=1e6", "optim.clip=0", "optim.epochs=3", NULL};
    char run[600];
    snprintf(run, sizeof run, "%s/diverge", corpus);
    TrainConfig cfg;
    test_small_train_config(&cfg, corpus, run, extra);
    SercErr err;
    FILE *null = fopen("/dev/null", "w");
    TrainOptions opt = {NULL, 0, 1, null};
    TrainResult res;
    int rc = train_run(&cfg, &opt, &res, &err);
    if (rc == 0) {
        train_result_free(&res);
        cr_skip("this configuration did not diverge");
    }
    cr_expect(strstr(err.msg, "loss is") || strstr(err.msg, "gradient of"), "%s", err.msg);
    cr_expect(strstr(err.msg, "holds the last good state"), "%s", err.msg);
    char last[700];
    snprintf(last, sizeof last, "%s/last.safetensors", run);
    SafetensorsFile *f = safetensors_open(last, &err);
    if (f) { /* a checkpoint from before the divergence: every value finite */
        for (int i = 0; i < safetensors_count(f); i++) {
            if (safetensors_dtype(f, i) != SERC_F32) continue;
            const float *x = safetensors_data(f, i);
            for (int64_t k = 0; k < safetensors_numel(f, i); k++)
                cr_assert(isfinite(x[k]), "%s holds a non-finite value in %s", last, safetensors_name(f, i));
        }
        safetensors_close(f);
    }
    config_free(&cfg);
    fclose(null);
}
