/* serc eval: scores a checkpoint on a manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sernc.h"
#include "trainer.h"

static void help(void) {
    printf("usage: serc eval --ckpt CHECKPOINT --manifest MANIFEST [--workers N] [--svg FILE]\n"
           "                 [--format text|sernc] [--json]\n\n"
           "Rebuilds the model a checkpoint was trained with (its configuration and label map travel in the\n"
           "checkpoint), scores every labelled utterance of the manifest (whole utterances, capped by the\n"
           "configuration's data.eval_max_seconds), and prints WA (accuracy), UA (unweighted average recall),\n"
           "macro-F1, CCC for A/V/D models, and the confusion matrix (rows: truth). docs/metrics.md defines\n"
           "each metric. Utterances whose label is not in the checkpoint's label map are not scored.\n\n"
           "options:\n"
           "  --ckpt FILE       a checkpoint written by serc train (best.safetensors or last.safetensors)\n"
           "  --manifest FILE   utterances to score (docs/manifest.md)\n"
           "  --workers N       loader threads (default: the checkpoint's data.workers)\n"
           "  --svg FILE        also write the confusion matrix as SVG\n"
           "  --format F        text (default) or sernc: the SERNC challenge's figures by the code behind\n"
           "                    serc score (docs/sernc.md): macro-F1 over the 8 classes A S H U F D C N,\n"
           "                    and CCC per attribute with their mean when the model has an A/V/D head (on\n"
           "                    the head's outputs, not clamped to 1-7 as predict --format sernc writes\n"
           "                    them); the label map's names must be those letters or their full names\n"
           "  --json            with --format sernc: one JSON object per task, as serc score --json\n");
}

/* The SERNC figures of an evaluation: the checkpoint's confusion matrix folded onto the 8 challenge
 * classes, scored by the code behind serc score; CCC as the evaluation computed it (concordance_cc). */
static int print_sernc(const EvalResult *r, const char *const *names, const char *title, int json) {
    int to_sernc[256];
    SercErr err;
    if (r->n_classes > 256) return cli_fail("eval", "%d classes: more than the 8 SERNC classes", r->n_classes);
    if (sernc_label_map(names, r->n_classes, to_sernc, &err) < 0) return cli_fail("eval", "--format sernc: %s", err.msg);
    Confusion cm8;
    confusion_init(&cm8, SERNC_N_CLASSES);
    for (int t = 0; t < r->n_classes; t++)
        for (int p = 0; p < r->n_classes; p++)
            cm8.counts[to_sernc[t] * SERNC_N_CLASSES + to_sernc[p]] += r->cm.counts[t * r->n_classes + p];
    SerncScore cat, att;
    memset(&att, 0, sizeof att);
    sernc_score_categorical(&cm8, &cat);
    snprintf(cat.split, sizeof cat.split, "%s", title);
    if (r->utterances > cat.rows) cat.excluded = r->utterances - cat.rows; /* no label among the classes */
    if (r->has_ccc) {
        sernc_score_attributes(r->ccc, &att);
        snprintf(att.split, sizeof att.split, "%s", title);
        att.rows = r->utterances;
    }
    if (json) {
        JsonBuf b = {0};
        sernc_score_json(&cat, &b);
        printf("%s\n", b.data);
        jsonbuf_free(&b);
        if (r->has_ccc) {
            JsonBuf a = {0};
            sernc_score_json(&att, &a);
            printf("%s\n", a.data);
            jsonbuf_free(&a);
        }
    } else {
        sernc_score_print(&cat, stdout);
        if (r->has_ccc) {
            printf("\n");
            sernc_score_print(&att, stdout);
        }
    }
    sernc_score_free(&cat);
    return CLI_OK;
}

int cmd_eval(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    const char *ckpt = NULL, *manifest = NULL, *svg = NULL;
    const char *format = "text";
    int json = 0;
    long workers = -1;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--ckpt", &ckpt)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--manifest", &manifest)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--svg", &svg)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--format", &format)) != 0) {
            if (r < 0) return CLI_USAGE;
            if (strcmp(format, "text") != 0 && strcmp(format, "sernc") != 0)
                return cli_usage_error("eval", "--format must be text or sernc, got '%s'", format);
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if ((r = cli_opt_int(argc, argv, &i, "--workers", &workers)) != 0) {
            if (r < 0 || workers < 0) return cli_usage_error("eval", "--workers must be a non-negative integer");
        } else {
            return cli_usage_error("eval", "unknown argument '%s'", argv[i]);
        }
    }
    if (!ckpt || !manifest) return cli_usage_error("eval", "--ckpt and --manifest are required");
    int sernc = strcmp(format, "sernc") == 0;
    if (json && !sernc) return cli_usage_error("eval", "--json goes with --format sernc");
    EvalResult r;
    char **names = NULL;
    SercErr err;
    if (eval_checkpoint(ckpt, manifest, (int)workers, &r, &names, &err) < 0) return cli_fail("eval", "%s", err.msg);
    int rc = CLI_OK;
    if (sernc) rc = print_sernc(&r, (const char *const *)names, manifest, json);
    else eval_print(&r, (const char *const *)names, manifest, stdout);
    if (svg && confusion_write_svg(&r.cm, (const char *const *)names, manifest, svg, &err) < 0) rc = cli_fail("eval", "%s", err.msg);
    for (int i = 0; names && names[i]; i++) free(names[i]);
    free(names);
    eval_result_free(&r);
    return rc;
}
