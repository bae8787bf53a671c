/* serc cv: cross-validation over the folds of a manifest. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cv.h"

static void help(void) {
    printf("usage: serc cv --config FILE [--set KEY=VALUE ...] [--quiet]\n\n"
           "Cross-validation over the `fold` values of the manifest in data.train (leave-one-session-out\n"
           "folds from `serc prepare iemocap`, speaker folds from `serc split` or `serc synth`). For each fold\n"
           "k the test set is fold k, the dev set (model selection) the next fold, and the model trains on\n"
           "the rest; data.dev and data.test are ignored. Each fold's run goes to <run.out>/fold<k>/, and\n"
           "<run.out>/cv.jsonl holds per-fold WA, UA and macro-F1 and their mean and standard deviation.\n");
}

int cmd_cv(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    const char *config = NULL;
    int quiet = 0;
    TrainConfig cfg;
    config_default(&cfg);
    SercErr err;
    const char *sets[64];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        const char *v;
        if ((r = cli_opt_str(argc, argv, &i, "--config", &config)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--set", &v)) != 0) {
            if (r < 0) return CLI_USAGE;
            if (n_sets == 64) return cli_usage_error("cv", "at most 64 --set overrides");
            sets[n_sets++] = v;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else {
            return cli_usage_error("cv", "unknown argument '%s'", argv[i]);
        }
    }
    if (!config) return cli_usage_error("cv", "--config FILE is required");
    int rc = config_load(&cfg, config, &err);
    for (int i = 0; rc == 0 && i < n_sets; i++) rc = config_set(&cfg, sets[i], &err);
    if (rc == 0) rc = config_validate(&cfg, &err);
    if (rc == 0) rc = cv_run(&cfg, quiet, stdout, &err);
    config_free(&cfg);
    return rc < 0 ? cli_fail("cv", "%s", err.msg) : CLI_OK;
}
