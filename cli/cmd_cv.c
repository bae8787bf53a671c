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
    int quiet = 0;
    CliConfigArgs ca = {0};
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_config_arg("cv", argc, argv, &i, &ca)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else {
            return cli_usage_error("cv", "unknown argument '%s'", argv[i]);
        }
    }
    if (!ca.config) return cli_usage_error("cv", "--config FILE is required");
    TrainConfig cfg;
    config_default(&cfg);
    SercErr err;
    if (cli_config_apply("cv", &ca, &cfg) != CLI_OK) {
        config_free(&cfg);
        return CLI_FAIL;
    }
    int rc = config_validate(&cfg, &err);
    if (rc == 0) rc = cv_run(&cfg, quiet, stdout, &err);
    config_free(&cfg);
    return rc < 0 ? cli_fail("cv", "%s", err.msg) : CLI_OK;
}
