/* serc score: scores a SERNC submission file against labels_consensus.csv. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sernc.h"

static void help(void) {
    printf("usage: serc score --task categorical|attributes --labels labels_consensus.csv --pred SUBMISSION.csv\n"
           "                  [--split NAME] [--json]\n\n"
           "Scores a SERNC challenge submission (MSP-Podcast, Interspeech 2025) as the challenge does\n"
           "(docs/sernc.md). Rows are matched by FileName, in any order.\n"
           "  task 1, categorical: SUBMISSION.csv is FileName,EmoClass with one letter of A S H U F D C N\n"
           "    per file; macro-F1 over the files whose consensus EmoClass is one of those 8 (O and X files\n"
           "    are predicted but not scored), averaged over the classes that occur in the truth or the\n"
           "    predictions, as the challenge's scikit-learn call f1_score(average=\"macro\") does.\n"
           "  task 2, attributes: SUBMISSION.csv is FileName,EmoAct,EmoVal,EmoDom (1-7); CCC with\n"
           "    population statistics per attribute over every file of the split, and their mean.\n"
           "The submission must list every file of one split of the labels once and no other file; a file\n"
           "missing, repeated or unknown, a bad header or a bad value is refused with the file and line.\n\n"
           "options:\n"
           "  --task T       categorical (task 1) or attributes (task 2)\n"
           "  --labels FILE  labels_consensus.csv (FileName, EmoClass, EmoAct, EmoVal, EmoDom, Split_Set)\n"
           "  --pred FILE    the submission\n"
           "  --split NAME   score the rows whose Split_Set is NAME (default: the one split the\n"
           "                 submission's files belong to; files of two splits are refused)\n"
           "  --json         print one JSON object: macro_f1 (task 1) or ccc_arousal, ccc_valence,\n"
           "                 ccc_dominance, ccc_mean (task 2)\n");
}

int cmd_score(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    const char *task_s = NULL, *labels_path = NULL, *pred_path = NULL, *split = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--task", &task_s)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--labels", &labels_path)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--pred", &pred_path)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--split", &split)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            return cli_usage_error("score", "unknown argument '%s'", argv[i]);
        }
    }
    if (!task_s || !labels_path || !pred_path) return cli_usage_error("score", "--task, --labels and --pred are required");
    SerncTask task = sernc_task_parse(task_s);
    if (!task) return cli_usage_error("score", "--task must be categorical or attributes, got '%s'", task_s);
    SercErr err;
    SerncLabels labels;
    if (sernc_labels_read(labels_path, &labels, &err) < 0) return cli_fail("score", "%s", err.msg);
    SerncSubmission sub;
    if (sernc_submission_read(pred_path, task, &sub, &err) < 0) {
        sernc_labels_free(&labels);
        return cli_fail("score", "%s", err.msg);
    }
    SerncScore s;
    int rc = CLI_OK;
    if (sernc_score(&labels, &sub, split, &s, &err) < 0) {
        rc = cli_fail("score", "%s", err.msg);
    } else if (json) {
        JsonBuf b = {0};
        sernc_score_json(&s, &b);
        printf("%s\n", b.data);
        jsonbuf_free(&b);
    } else {
        sernc_score_print(&s, stdout);
    }
    sernc_score_free(&s);
    sernc_submission_free(&sub);
    sernc_labels_free(&labels);
    return rc;
}
