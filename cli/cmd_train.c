/* serc train: trains a model as a configuration file says (train/trainer.h, docs/config.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "trainer.h"

static void help(void) {
    printf("usage: serc train --config FILE [--set section.key=value ...] [options]\n"
           "       serc train --resume RUN_DIR\n\n"
           "Trains a speech emotion recognition model on the manifests the configuration names, selects the\n"
           "best epoch on the dev set, scores the test set with it, and writes a run directory:\n"
           "  config.toml        the resolved configuration (every key)\n"
           "  metrics.jsonl      step, epoch, dev and test records (one JSON object per line)\n"
           "  last.safetensors   weights + optimizer + run state after the latest epoch\n"
           "  best.safetensors   the best dev checkpoint (data.dev), used for the test set\n"
           "  confusion_dev.svg, confusion_test.svg\n"
           "  events.out.tfevents.*  TensorBoard scalars (tensorboard --logdir RUN_DIR; docs/reports.md)\n"
           "Ctrl-C saves last.safetensors at the next step and exits; --resume continues where it stopped and\n"
           "ends bitwise identical to an uninterrupted run on the CPU.\n\n"
           "options:\n"
           "  --config FILE        TOML configuration (docs/config.md lists every key and default)\n"
           "  --set KEY=VALUE      override one key, e.g. --set optim.lr=3e-4 --set run.out=runs/x (repeatable)\n"
           "  --resume RUN_DIR     continue an interrupted run with its own config.toml\n"
           "  --stop-after-steps N save and stop after N optimiser steps (time-boxed jobs, tests)\n"
           "  --quiet              no progress output\n\n"
           "Run `serc config --doc` for every configuration key.\n");
}

int cmd_train(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    const char *resume = NULL;
    long stop_after = 0;
    int quiet = 0;
    CliConfigArgs ca = {0};
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_config_arg("train", argc, argv, &i, &ca)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--resume", &resume)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_int(argc, argv, &i, "--stop-after-steps", &stop_after)) != 0) {
            if (r < 0 || stop_after < 1) return cli_usage_error("train", "--stop-after-steps must be a positive integer");
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else {
            return cli_usage_error("train", "unknown argument '%s'", argv[i]);
        }
    }
    if (!ca.config && !resume) return cli_usage_error("train", "--config FILE (or --resume RUN_DIR) is required");
    if (ca.config && resume) return cli_usage_error("train", "--resume uses the run's own config.toml; drop --config");
    if (resume && ca.n_sets) return cli_usage_error("train", "--set cannot change a resumed run");
    TrainConfig cfg;
    config_default(&cfg);
    SercErr err;
    if (cli_config_apply("train", &ca, &cfg) != CLI_OK) {
        config_free(&cfg);
        return CLI_FAIL;
    }
    TrainOptions opt = {resume, stop_after, quiet, stdout};
    TrainResult res;
    int rc = train_run(&cfg, &opt, &res, &err);
    config_free(&cfg);
    if (rc < 0) {
        train_result_free(&res);
        return cli_fail("train", "%s", err.msg);
    }
    if (!res.interrupted) {
        printf("trained %d epochs (%lld steps) in %.1f s, %.1f utterances/s; best dev epoch %d\n", res.epochs_done,
               (long long)res.steps, res.seconds, res.utt_per_second, res.best_epoch);
    }
    train_result_free(&res);
    return CLI_OK;
}
