/* serc report: a run directory as one HTML page, or several runs side by side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"

static void help(void) {
    printf("usage: serc report RUN [--out FILE] [--no-eval]\n"
           "       serc report --compare RUN1 RUN2 ... [--group-by-seed] [--out FILE] [--markdown FILE]\n\n"
           "The first form writes RUN/report.html: one self-contained page (inline SVG and CSS, no script, nothing\n"
           "fetched) with the run's summary, its training and dev curves from metrics.jsonl, the test confusion\n"
           "matrix (counts and row-normalised) with per-class precision, recall and F1, the MEA records, the\n"
           "robustness results of serc robust (robust*.json in RUN or a subfolder), fairness.json and saliency/\n"
           "when present, and the resolved configuration. The confusion matrix is read from confusion_test.svg;\n"
           "without it, best.safetensors is evaluated on the configuration's test manifest (unless --no-eval).\n\n"
           "The second form writes compare.html: test WA, UA, macro-F1 (and CCC) of each run with its best epoch\n"
           "and training time; with --group-by-seed, runs whose config.toml differs only in run.seed and run.out\n"
           "form one row, as mean +- population standard deviation. --markdown writes the same table as\n"
           "Markdown for a recipe README. docs/reports.md describes every section and the grouping.\n\n"
           "options:\n"
           "  --out FILE        the page to write (default RUN/report.html, or compare.html)\n"
           "  --no-eval         never evaluate a checkpoint for the confusion matrix\n"
           "  --compare         compare the run directories that follow\n"
           "  --group-by-seed   with --compare: group runs that differ only in run.seed / run.out\n"
           "  --markdown FILE   with --compare: also write a Markdown table\n");
}

int cmd_report(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    const char *out = NULL, *markdown = NULL;
    int compare = 0, group = 0, no_eval = 0, n_runs = 0;
    const char **runs = calloc((size_t)argc, sizeof(char *));
    if (!runs) return cli_fail("report", "out of memory");
    int rc = CLI_OK;
    for (int i = 1; i < argc && rc == CLI_OK; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--out", &out)) != 0) {
            if (r < 0) rc = CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--markdown", &markdown)) != 0) {
            if (r < 0) rc = CLI_USAGE;
        } else if (!strcmp(argv[i], "--compare")) {
            compare = 1;
        } else if (!strcmp(argv[i], "--group-by-seed")) {
            group = 1;
        } else if (!strcmp(argv[i], "--no-eval")) {
            no_eval = 1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            rc = cli_usage_error("report", "unknown option '%s'", argv[i]);
        } else {
            runs[n_runs++] = argv[i];
        }
    }
    if (rc == CLI_OK) {
        if (n_runs == 0) rc = cli_usage_error("report", "a run directory is required");
        else if (!compare && n_runs > 1) rc = cli_usage_error("report", "one run directory (or --compare RUN1 RUN2 ...)");
        else if (!compare && (group || markdown))
            rc = cli_usage_error("report", "--group-by-seed and --markdown go with --compare");
    }
    if (rc == CLI_OK) {
        SercErr err;
        if (compare) {
            CompareOptions o = {group, out, markdown, stderr};
            if (report_compare(runs, n_runs, &o, &err) < 0) rc = cli_fail("report", "%s", err.msg);
            else printf("wrote %s%s%s\n", out ? out : "compare.html", markdown ? " and " : "", markdown ? markdown : "");
        } else {
            ReportOptions o = {out, no_eval, stderr};
            if (report_write_opts(runs[0], &o, &err) < 0) rc = cli_fail("report", "%s", err.msg);
            else if (out) printf("wrote %s\n", out);
            else printf("wrote %s%sreport.html\n", runs[0], runs[0][strlen(runs[0]) - 1] == '/' ? "" : "/");
        }
    }
    free(runs);
    return rc;
}
