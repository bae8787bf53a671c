/* serc predict: labels audio files with a trained checkpoint. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "predict.h"

static void help(void) {
    printf("usage: serc predict --ckpt CHECKPOINT [options] AUDIO...\n\n"
           "Prints each file's predicted label and class probabilities. Audio in any format libsndfile\n"
           "reads, any rate and channel count (mixed to mono, resampled to the model's rate). Files longer\n"
           "than the window are scored in sliding windows whose probabilities are averaged, weighted by\n"
           "duration.\n\n"
           "options:\n"
           "  --ckpt FILE     a checkpoint written by serc train\n"
           "  --window S      window length in seconds (default: the checkpoint's data.eval_max_seconds;\n"
           "                  0 there means the whole file)\n"
           "  --hop S         window hop in seconds (default: half the window)\n"
           "  --windows       also print every window's result\n"
           "  --json          one JSON object per file (JSON Lines) instead of text\n");
}

static void print_json(const char *path, const Experiment *e, const Prediction *p, int windows) {
    JsonBuf b = {0};
    jsonbuf_append(&b, "{\"file\": ", 9);
    jsonbuf_string(&b, path, strlen(path));
    jsonbuf_appendf(&b, ", \"duration\": %.3f, \"label\": ", p->duration);
    jsonbuf_string(&b, e->labels->names[p->label], strlen(e->labels->names[p->label]));
    jsonbuf_append(&b, ", \"probs\": {", 12);
    for (int c = 0; c < e->labels->n; c++) {
        if (c) jsonbuf_append(&b, ", ", 2);
        jsonbuf_string(&b, e->labels->names[c], strlen(e->labels->names[c]));
        jsonbuf_appendf(&b, ": %.6f", p->probs[c]);
    }
    jsonbuf_append(&b, "}", 1);
    if (p->has_avd) jsonbuf_appendf(&b, ", \"arousal\": %.4f, \"valence\": %.4f, \"dominance\": %.4f", p->avd[0], p->avd[1], p->avd[2]);
    if (windows) {
        jsonbuf_append(&b, ", \"windows\": [", 14);
        for (int w = 0; w < p->n_windows; w++) {
            int best = argmax_f32(p->windows[w].probs, e->labels->n);
            jsonbuf_appendf(&b, "%s{\"start\": %.3f, \"end\": %.3f, \"label\": ", w ? ", " : "", p->windows[w].start, p->windows[w].end);
            jsonbuf_string(&b, e->labels->names[best], strlen(e->labels->names[best]));
            jsonbuf_appendf(&b, ", \"prob\": %.6f}", p->windows[w].probs[best]);
        }
        jsonbuf_append(&b, "]", 1);
    }
    jsonbuf_append(&b, "}", 1);
    printf("%.*s\n", (int)b.len, b.data);
    jsonbuf_free(&b);
}

static void print_text(const char *path, const Experiment *e, const Prediction *p, int windows) {
    printf("%s  %s (%.1f%%)  [", path, e->labels->names[p->label], 100.0 * p->probs[p->label]);
    for (int c = 0; c < e->labels->n; c++) printf("%s%s %.3f", c ? ", " : "", e->labels->names[c], p->probs[c]);
    printf("]\n");
    if (p->has_avd) printf("  arousal %.2f  valence %.2f  dominance %.2f\n", p->avd[0], p->avd[1], p->avd[2]);
    for (int w = 0; windows && w < p->n_windows; w++) {
        int best = argmax_f32(p->windows[w].probs, e->labels->n);
        printf("  %7.2f-%7.2f s  %s (%.1f%%)\n", p->windows[w].start, p->windows[w].end, e->labels->names[best],
               100.0 * p->windows[w].probs[best]);
    }
}

int cmd_predict(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    const char *ckpt = NULL;
    double window = 0, hop = 0;
    int json = 0, windows = 0, first_file = 0;
    const char *files[4096];
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--ckpt", &ckpt)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_double(argc, argv, &i, "--window", &window)) != 0) {
            if (r < 0 || window < 0) return cli_usage_error("predict", "--window must be a non-negative number of seconds");
        } else if ((r = cli_opt_double(argc, argv, &i, "--hop", &hop)) != 0) {
            if (r < 0 || hop < 0) return cli_usage_error("predict", "--hop must be a non-negative number of seconds");
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--windows") == 0) {
            windows = 1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return cli_usage_error("predict", "unknown option '%s'", argv[i]);
        } else {
            if (n_files == 4096) return cli_usage_error("predict", "at most 4096 files per call");
            files[n_files++] = argv[i];
        }
    }
    (void)first_file;
    if (!ckpt) return cli_usage_error("predict", "--ckpt is required");
    if (n_files == 0) return cli_usage_error("predict", "no audio files given");
    Experiment e;
    SercErr err;
    if (experiment_from_checkpoint(&e, ckpt, &err) < 0) {
        if (e.ps) experiment_free(&e);
        return cli_fail("predict", "%s", err.msg);
    }
    int failures = 0;
    for (int f = 0; f < n_files; f++) {
        Prediction p;
        if (predict_file(&e, files[f], window, hop, &p, &err) < 0) {
            fprintf(stderr, "serc predict: error: %s\n", err.msg);
            failures++;
            continue;
        }
        if (json) print_json(files[f], &e, &p, windows);
        else print_text(files[f], &e, &p, windows);
        prediction_free(&p);
    }
    experiment_free(&e);
    return failures ? CLI_FAIL : CLI_OK;
}
