/* The serc command: one table of subcommands (cli/main.c), one file per subcommand (cli/cmd_*.c).
 * A subcommand returns the process exit status: 0 success, 1 failure on input (message printed),
 * 2 usage error. Every subcommand answers --help. */
#ifndef SERC_CLI_H
#define SERC_CLI_H

#include <stdio.h>

typedef struct CliCommand {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} CliCommand;

/* Exit statuses. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Whether argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

/* Prints "serc: <msg>" to stderr and returns CLI_USAGE (with a hint to --help for cmd). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "serc <cmd>: error: <msg>" to stderr and returns CLI_FAIL. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option parsing helpers over argv[i]: "--name value" or "--name=value". Each returns 1 and advances
 * *i when argv[*i] is that option (value in *out), 0 when it is another argument, -1 when the value is
 * missing or does not parse (message printed). */
int cli_opt_str(int argc, char **argv, int *i, const char *name, const char **out);
int cli_opt_int(int argc, char **argv, int *i, const char *name, long *out);
int cli_opt_double(int argc, char **argv, int *i, const char *name, double *out);

/* The configuration arguments shared by serc train and serc cv: --config FILE and --set KEY=VALUE. */
#define CLI_MAX_SETS 64
typedef struct CliConfigArgs {
    const char *config;
    const char *sets[CLI_MAX_SETS];
    int n_sets;
} CliConfigArgs;
/* Consumes --config or --set at argv[*i]: 1 when consumed, 0 for another argument, -1 on a usage error
 * (message printed). */
int cli_config_arg(const char *cmd, int argc, char **argv, int *i, CliConfigArgs *a);
struct TrainConfig;
/* Loads a->config (when given) into cfg, then applies the overrides in order. CLI_OK, or CLI_FAIL with
 * the message printed. */
int cli_config_apply(const char *cmd, const CliConfigArgs *a, struct TrainConfig *cfg);

/* Every subcommand, declared here and listed in cli/main.c. */
int cmd_version(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_cv(int argc, char **argv);
int cmd_prepare(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_robust(int argc, char **argv);
int cmd_mbpls(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_ensemble(int argc, char **argv);

#endif
