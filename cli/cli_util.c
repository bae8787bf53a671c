#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "serc %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'serc %s --help')\n", cmd);
    return CLI_USAGE;
}

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "serc %s: error: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

/* Matches "--name value" / "--name=value"; sets *val. */
static int match_opt(int argc, char **argv, int *i, const char *name, const char **val) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "serc: option %s needs a value\n", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int cli_opt_str(int argc, char **argv, int *i, const char *name, const char **out) {
    return match_opt(argc, argv, i, name, out);
}

int cli_opt_int(int argc, char **argv, int *i, const char *name, long *out) {
    const char *v;
    int r = match_opt(argc, argv, i, name, &v);
    if (r != 1) return r;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) {
        fprintf(stderr, "serc: option %s expects an integer, got '%s'\n", name, v);
        return -1;
    }
    *out = x;
    return 1;
}

int cli_opt_double(int argc, char **argv, int *i, const char *name, double *out) {
    const char *v;
    int r = match_opt(argc, argv, i, name, &v);
    if (r != 1) return r;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end) {
        fprintf(stderr, "serc: option %s expects a number, got '%s'\n", name, v);
        return -1;
    }
    *out = x;
    return 1;
}

int cli_config_arg(const char *cmd, int argc, char **argv, int *i, CliConfigArgs *a) {
    const char *v;
    int r;
    if ((r = cli_opt_str(argc, argv, i, "--config", &a->config)) != 0) return r;
    if ((r = cli_opt_str(argc, argv, i, "--set", &v)) != 0) {
        if (r < 0) return -1;
        if (a->n_sets == CLI_MAX_SETS) {
            cli_usage_error(cmd, "at most %d --set overrides", CLI_MAX_SETS);
            return -1;
        }
        a->sets[a->n_sets++] = v;
        return 1;
    }
    return 0;
}

int cli_config_apply(const char *cmd, const CliConfigArgs *a, TrainConfig *cfg) {
    SercErr err;
    if (a->config && config_load(cfg, a->config, &err) < 0) return cli_fail(cmd, "%s", err.msg);
    for (int i = 0; i < a->n_sets; i++)
        if (config_set(cfg, a->sets[i], &err) < 0) return cli_fail(cmd, "%s", err.msg); /* names the --set */
    return CLI_OK;
}
