/* serc predict: labels audio files with a trained checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "import.h"
#include "json.h"
#include "predict.h"
#include "sernc.h"

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
           "  --json          one JSON object per file (JSON Lines) instead of text (= --format json)\n"
           "  --format F      text (default), json, or sernc: write the SERNC challenge's submission files\n"
           "                  into --out-dir (docs/sernc.md): categorical.csv (FileName,EmoClass, one letter\n"
           "                  of A S H U F D C N per file) and, when the model has an A/V/D head,\n"
           "                  attributes.csv (FileName,EmoAct,EmoVal,EmoDom, clamped to 1-7); FileName is\n"
           "                  the audio file's base name with its extension, rows sorted by FileName. The\n"
           "                  label map's names must be those letters or angry, sad, happy, surprise, fear,\n"
           "                  disgust, contempt, neutral. Nothing is written when a file fails.\n"
           "  --out-dir DIR   with --format sernc: the folder for the submission files (created)\n");
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

/* --format sernc: every file predicted first; the submission files are written only when all succeeded,
 * since the challenge refuses a submission that lacks a file. */
static int predict_sernc(Experiment *e, const char *const *files, int n_files, double window, double hop,
                         const char *out_dir) {
    SercErr err;
    int to_sernc[256];
    if (e->labels->n > 256) return cli_fail("predict", "%d classes: more than the 8 SERNC classes", e->labels->n);
    if (sernc_label_map((const char *const *)e->labels->names, e->labels->n, to_sernc, &err) < 0)
        return cli_fail("predict", "--format sernc: %s", err.msg);
    int *cls = serc_calloc((size_t)n_files, sizeof *cls);
    float *avd = serc_calloc((size_t)n_files * 3, sizeof *avd);
    int failures = 0, has_avd = e->model_cfg.avd;
    for (int f = 0; f < n_files; f++) {
        Prediction p;
        if (predict_file(e, files[f], window, hop, &p, &err) < 0) {
            fprintf(stderr, "serc predict: error: %s\n", err.msg);
            failures++;
            continue;
        }
        cls[f] = to_sernc[p.label];
        memcpy(avd + 3 * f, p.avd, sizeof p.avd);
        prediction_free(&p);
    }
    int rc = CLI_OK;
    char *cat = import_path("%s/categorical.csv", out_dir), *att = import_path("%s/attributes.csv", out_dir);
    if (failures) {
        rc = cli_fail("predict", "%d of %d files failed: no submission written", failures, n_files);
    } else if (import_mkdirs(out_dir, &err) < 0 || sernc_write_categorical(cat, files, cls, n_files, &err) < 0 ||
               (has_avd && sernc_write_attributes(att, files, avd, n_files, &err) < 0)) {
        rc = cli_fail("predict", "%s", err.msg);
    } else {
        printf("wrote %s (%d files)\n", cat, n_files);
        if (has_avd) printf("wrote %s (%d files)\n", att, n_files);
    }
    free(cat);
    free(att);
    free(cls);
    free(avd);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    const char *ckpt = NULL;
    double window = 0, hop = 0;
    const char *format = "text", *out_dir = NULL;
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
        } else if ((r = cli_opt_str(argc, argv, &i, "--format", &format)) != 0) {
            if (r < 0) return CLI_USAGE;
            if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 && strcmp(format, "sernc") != 0)
                return cli_usage_error("predict", "--format must be text, json or sernc, got '%s'", format);
        } else if ((r = cli_opt_str(argc, argv, &i, "--out-dir", &out_dir)) != 0) {
            if (r < 0) return CLI_USAGE;
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
    if (strcmp(format, "json") == 0) json = 1;
    int sernc = strcmp(format, "sernc") == 0;
    if (sernc && (json || windows)) return cli_usage_error("predict", "--format sernc goes without --json and --windows");
    if (sernc && !out_dir) return cli_usage_error("predict", "--format sernc needs --out-dir");
    if (!sernc && out_dir) return cli_usage_error("predict", "--out-dir goes with --format sernc");
    Experiment e;
    SercErr err;
    if (experiment_from_checkpoint(&e, ckpt, &err) < 0) {
        if (e.ps) experiment_free(&e);
        return cli_fail("predict", "%s", err.msg);
    }
    if (sernc) {
        int rc = predict_sernc(&e, files, n_files, window, hop, out_dir);
        experiment_free(&e);
        return rc;
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
