/* serc ensemble: the uncertainty-aware ensemble of MATER's heads (and of several checkpoints), fitted on a
 * dev manifest against the raters' label distributions and scored on a test manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ensemble.h"
#include "fileio.h"
#include "import.h"

static void help(void) {
    printf("usage: serc ensemble --ckpt CHECKPOINT [--ckpt CHECKPOINT ...] --dev DEV.jsonl --test TEST.jsonl\n"
           "                     [--out DIR] [--workers N]\n\n"
           "Members: every head of a MATER checkpoint (word, utterance and embedding levels, the audio-only and\n"
           "text-only heads, as the model has them) or the output of any other checkpoint, over all the\n"
           "checkpoints given (seeds, encoders; one label map). Per utterance, each member's weight falls with\n"
           "the normalised entropy H of its temperature-scaled softmax:\n\n"
           "  w_m(x) = r_m exp(-beta H_m(x)) / sum_k r_k exp(-beta H_k(x)),   q(x) = sum_m w_m(x) p_m(x)\n\n"
           "with the reliabilities r_m, temperatures T_m and beta fitted on the dev manifest by minimising the\n"
           "NLL of the raters' label distribution (label_dist; the label's one-hot where absent). Reports, on\n"
           "the test manifest, UA, macro-F1, WA, NLL and KL against label_dist for the checkpoints' own output,\n"
           "plain averaging, calibrated averaging (T_m only) and the uncertainty weighting, on all utterances\n"
           "and on those where raters disagree (largest label_dist share below 0.6), and each member alone.\n"
           "docs/methods.md, \"Uncertainty-aware ensemble\".\n\n"
           "options:\n"
           "  --ckpt FILE     a checkpoint (repeat for several)\n"
           "  --dev FILE      the manifest the ensemble is fitted on\n"
           "  --test FILE     the manifest it is scored on\n"
           "  --out DIR       also write DIR/ensemble.json and DIR/ensemble.md (created)\n"
           "  --workers N     loader threads (default: each checkpoint's data.workers)\n");
}

int cmd_ensemble(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    const char *ckpts[ENSEMBLE_MAX_MEMBERS];
    int n_ckpts = 0;
    const char *dev = NULL, *test = NULL, *out = NULL;
    long workers = -1;
    for (int i = 1; i < argc; i++) {
        int r;
        const char *ck = NULL;
        if ((r = cli_opt_str(argc, argv, &i, "--ckpt", &ck)) != 0) {
            if (r < 0) return CLI_USAGE;
            if (n_ckpts == ENSEMBLE_MAX_MEMBERS) return cli_usage_error("ensemble", "at most %d checkpoints", ENSEMBLE_MAX_MEMBERS);
            ckpts[n_ckpts++] = ck;
        } else if ((r = cli_opt_str(argc, argv, &i, "--dev", &dev)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--test", &test)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--out", &out)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_int(argc, argv, &i, "--workers", &workers)) != 0) {
            if (r < 0 || workers < 0) return cli_usage_error("ensemble", "--workers must be a non-negative integer");
        } else {
            return cli_usage_error("ensemble", "unknown argument '%s'", argv[i]);
        }
    }
    if (n_ckpts == 0) return cli_usage_error("ensemble", "--ckpt is required (one or more)");
    if (!dev || !test) return cli_usage_error("ensemble", "--dev and --test are required");
    SercErr err;
    EnsembleData d_dev, d_test;
    if (ensemble_collect(ckpts, n_ckpts, dev, (int)workers, &d_dev, NULL, &err) < 0) return cli_fail("ensemble", "%s", err.msg);
    if (ensemble_collect(ckpts, n_ckpts, test, (int)workers, &d_test, NULL, &err) < 0) {
        ensemble_data_free(&d_dev);
        return cli_fail("ensemble", "%s", err.msg);
    }
    int rc = CLI_OK;
    EnsembleReport rep;
    if (ensemble_run(&d_dev, &d_test, &rep, &err) < 0) {
        rc = cli_fail("ensemble", "%s", err.msg);
    } else {
        ensemble_report_markdown(&rep, &d_test, ckpts, n_ckpts, dev, test, stdout);
        if (out) {
            JsonBuf j = {0};
            ensemble_report_json(&rep, &d_test, ckpts, n_ckpts, dev, test, &j);
            char *jp = import_path("%s/ensemble.json", out), *mp = import_path("%s/ensemble.md", out);
            char *md = NULL;
            size_t md_len = 0;
            FILE *mf = open_memstream(&md, &md_len);
            ensemble_report_markdown(&rep, &d_test, ckpts, n_ckpts, dev, test, mf);
            fclose(mf);
            if (import_mkdirs(out, &err) < 0 || write_file_atomic(jp, j.data, j.len, 0, &err) < 0 ||
                write_file_atomic(mp, md, md_len, 0, &err) < 0)
                rc = cli_fail("ensemble", "%s", err.msg);
            else
                printf("\nwrote %s and %s\n", jp, mp);
            free(md);
            free(jp);
            free(mp);
            jsonbuf_free(&j);
        }
    }
    ensemble_data_free(&d_dev);
    ensemble_data_free(&d_test);
    return rc;
}
