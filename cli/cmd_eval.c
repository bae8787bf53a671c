/* serc eval: scores a checkpoint on a manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "trainer.h"

static void help(void) {
    printf("usage: serc eval --ckpt CHECKPOINT --manifest MANIFEST [--workers N] [--svg FILE]\n\n"
           "Rebuilds the model a checkpoint was trained with (its configuration and label map travel in the\n"
           "checkpoint), scores every labelled utterance of the manifest (whole utterances, capped by the\n"
           "configuration's data.eval_max_seconds), and prints WA (accuracy), UA (unweighted average recall),\n"
           "macro-F1, CCC for A/V/D models, and the confusion matrix (rows: truth). docs/metrics.md defines\n"
           "each metric. Utterances whose label is not in the checkpoint's label map are not scored.\n\n"
           "options:\n"
           "  --ckpt FILE       a checkpoint written by serc train (best.safetensors or last.safetensors)\n"
           "  --manifest FILE   utterances to score (docs/manifest.md)\n"
           "  --workers N       loader threads (default: the checkpoint's data.workers)\n"
           "  --svg FILE        also write the confusion matrix as SVG\n");
}

int cmd_eval(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    const char *ckpt = NULL, *manifest = NULL, *svg = NULL;
    long workers = -1;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--ckpt", &ckpt)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--manifest", &manifest)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--svg", &svg)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_int(argc, argv, &i, "--workers", &workers)) != 0) {
            if (r < 0 || workers < 0) return cli_usage_error("eval", "--workers must be a non-negative integer");
        } else {
            return cli_usage_error("eval", "unknown argument '%s'", argv[i]);
        }
    }
    if (!ckpt || !manifest) return cli_usage_error("eval", "--ckpt and --manifest are required");
    EvalResult r;
    char **names = NULL;
    SercErr err;
    if (eval_checkpoint(ckpt, manifest, (int)workers, &r, &names, &err) < 0) return cli_fail("eval", "%s", err.msg);
    eval_print(&r, (const char *const *)names, manifest, stdout);
    int rc = CLI_OK;
    if (svg && confusion_write_svg(&r.cm, (const char *const *)names, manifest, svg, &err) < 0) rc = cli_fail("eval", "%s", err.msg);
    for (int i = 0; names && names[i]; i++) free(names[i]);
    free(names);
    eval_result_free(&r);
    return rc;
}
