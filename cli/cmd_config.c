/* serc config: the training configuration's keys, and checking a file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"

static void help(void) {
    printf("usage: serc config --doc\n"
           "       serc config --check FILE [--set KEY=VALUE ...]\n\n"
           "--doc prints every configuration key with its type, default and meaning (docs/config.md is this\n"
           "list). --check reads FILE strictly (unknown keys, wrong types and out-of-range values are errors\n"
           "naming the line), applies the overrides, validates, and prints the resolved configuration.\n");
}

int cmd_config(int argc, char **argv) {
    if (cli_wants_help(argc, argv) || argc < 2) {
        help();
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "--doc") == 0) {
        if (argc > 2) return cli_usage_error("config", "--doc takes no other argument");
        config_print_doc(stdout);
        return CLI_OK;
    }
    const char *file = NULL;
    TrainConfig cfg;
    config_default(&cfg);
    SercErr err;
    int rc = CLI_OK;
    for (int i = 1; i < argc && rc == CLI_OK; i++) {
        int r;
        const char *v;
        if ((r = cli_opt_str(argc, argv, &i, "--check", &file)) != 0) {
            if (r < 0) rc = CLI_USAGE;
            else if (config_load(&cfg, file, &err) < 0) rc = cli_fail("config", "%s", err.msg);
        } else if ((r = cli_opt_str(argc, argv, &i, "--set", &v)) != 0) {
            if (r < 0) rc = CLI_USAGE;
            else if (config_set(&cfg, v, &err) < 0) rc = cli_fail("config", "%s", err.msg);
        } else {
            rc = cli_usage_error("config", "unknown argument '%s'", argv[i]);
        }
    }
    if (rc == CLI_OK && !file) rc = cli_usage_error("config", "--check FILE or --doc is required");
    if (rc == CLI_OK && config_validate(&cfg, &err) < 0) rc = cli_fail("config", "%s", err.msg);
    if (rc == CLI_OK) config_write_file(&cfg, stdout);
    config_free(&cfg);
    return rc;
}
