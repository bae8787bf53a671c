/* serc predict: labels audio files or a manifest's utterances with a trained checkpoint; with --explain,
 * a MATER model's per-word contribution scores beside each prediction. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "import.h"
#include "json.h"
#include "predict.h"
#include "sernc.h"

static void help(void) {
    printf("usage: serc predict --ckpt CHECKPOINT [options] AUDIO...\n"
           "       serc predict --ckpt CHECKPOINT --manifest MANIFEST.jsonl [options]\n\n"
           "Prints each file's predicted label and class probabilities. Audio in any format libsndfile\n"
           "reads, any rate and channel count (mixed to mono, resampled to the model's rate). Files longer\n"
           "than the window are scored in sliding windows whose probabilities are averaged, weighted by\n"
           "duration. A manifest's utterances are scored as serc eval scores them (whole utterances up to\n"
           "data.eval_max_seconds), a MATER model reading each utterance's words with their times (or its\n"
           "transcript) as training does.\n\n"
           "options:\n"
           "  --ckpt FILE     a checkpoint written by serc train\n"
           "  --manifest FILE score the manifest's utterances instead of audio files (docs/manifest.md)\n"
           "  --transcript T  the text of the one audio file, for a MATER model (no word times: its word\n"
           "                  level is unavailable; without a transcript the model reads empty text)\n"
           "  --transcripts F the texts of the audio files: lines PATH<TAB>TEXT, PATH as given on the\n"
           "                  command line; without AUDIO arguments every file of F is scored\n"
           "  --explain       per-word contribution scores of a MATER model: the word level's attention\n"
           "                  pooling weights (summing to 1 over the words that take part), sorted by\n"
           "                  weight, with each word's time span; JSON: a \"words\" array; text: the top\n"
           "                  words. Needs word times (a manifest's words); audio-only models: an error\n"
           "  --top-words N   words shown per prediction in text format with --explain (default 5)\n"
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

/* How a prediction is named in the output: a file, or a manifest utterance (id, audio, truth). */
typedef struct PredictSource {
    const char *file;       /* audio file, or NULL */
    const Utterance *utt;   /* manifest utterance, or NULL */
} PredictSource;

static void json_words(JsonBuf *b, const Prediction *p) {
    jsonbuf_append(b, ", \"words\": [", 12);
    for (int k = 0; k < p->n_words; k++) {
        const PredictWord *w = &p->words[k];
        jsonbuf_append(b, k ? ", {\"word\": " : "{\"word\": ", k ? 11 : 9);
        jsonbuf_string(b, w->word, strlen(w->word));
        if (isnan(w->start)) jsonbuf_append(b, ", \"start\": null, \"end\": null", 28);
        else jsonbuf_appendf(b, ", \"start\": %.3f, \"end\": %.3f", w->start, w->end);
        jsonbuf_appendf(b, ", \"weight\": %.6f, \"used\": %s, \"position\": %d}", w->weight, w->used ? "true" : "false",
                        w->position);
    }
    jsonbuf_append(b, "]", 1);
    if (!p->explained) {
        jsonbuf_append(b, ", \"word_level\": ", 16);
        jsonbuf_string(b, p->explain_note, strlen(p->explain_note));
    }
}

static void print_json(const PredictSource *src, const Experiment *e, const Prediction *p, int windows, int explain) {
    JsonBuf b = {0};
    if (src->utt) {
        jsonbuf_append(&b, "{\"id\": ", 7);
        jsonbuf_string(&b, src->utt->id, strlen(src->utt->id));
        jsonbuf_append(&b, ", \"audio\": ", 11);
        jsonbuf_string(&b, src->utt->audio, strlen(src->utt->audio));
        if (src->utt->label) {
            jsonbuf_append(&b, ", \"truth\": ", 11);
            jsonbuf_string(&b, src->utt->label, strlen(src->utt->label));
        }
    } else {
        jsonbuf_append(&b, "{\"file\": ", 9);
        jsonbuf_string(&b, src->file, strlen(src->file));
    }
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
    if (windows && p->n_windows) {
        jsonbuf_append(&b, ", \"windows\": [", 14);
        for (int w = 0; w < p->n_windows; w++) {
            int best = argmax_f32(p->windows[w].probs, e->labels->n);
            jsonbuf_appendf(&b, "%s{\"start\": %.3f, \"end\": %.3f, \"label\": ", w ? ", " : "", p->windows[w].start, p->windows[w].end);
            jsonbuf_string(&b, e->labels->names[best], strlen(e->labels->names[best]));
            jsonbuf_appendf(&b, ", \"prob\": %.6f}", p->windows[w].probs[best]);
        }
        jsonbuf_append(&b, "]", 1);
    }
    if (explain) json_words(&b, p);
    jsonbuf_append(&b, "}", 1);
    printf("%.*s\n", (int)b.len, b.data);
    jsonbuf_free(&b);
}

static void print_text(const PredictSource *src, const Experiment *e, const Prediction *p, int windows, int explain,
                       int top_words) {
    if (src->utt) printf("%s", src->utt->id);
    else printf("%s", src->file);
    printf("  %s (%.1f%%)  [", e->labels->names[p->label], 100.0 * p->probs[p->label]);
    for (int c = 0; c < e->labels->n; c++) printf("%s%s %.3f", c ? ", " : "", e->labels->names[c], p->probs[c]);
    printf("]");
    if (src->utt && src->utt->label) printf("  truth %s", src->utt->label);
    printf("\n");
    if (p->has_avd) printf("  arousal %.2f  valence %.2f  dominance %.2f\n", p->avd[0], p->avd[1], p->avd[2]);
    for (int w = 0; windows && w < p->n_windows; w++) {
        int best = argmax_f32(p->windows[w].probs, e->labels->n);
        printf("  %7.2f-%7.2f s  %s (%.1f%%)\n", p->windows[w].start, p->windows[w].end, e->labels->names[best],
               100.0 * p->windows[w].probs[best]);
    }
    if (!explain) return;
    if (!p->explained) {
        printf("  words: word level unavailable: %s\n", p->explain_note);
        return;
    }
    printf("  words:");
    for (int k = 0; k < p->n_words && k < top_words && p->words[k].used; k++)
        printf("%s %s %.3f (%.2f-%.2f s)", k ? "," : "", p->words[k].word, p->words[k].weight, p->words[k].start,
               p->words[k].end);
    printf("\n");
}

/* --format sernc: every item predicted first; the submission files are written only when all succeeded,
 * since the challenge refuses a submission that lacks a file. With a manifest, `names` are the
 * utterances' audio paths and preds their predictions (NULL probs: failed). */
static int write_sernc(Experiment *e, const char *const *names, const Prediction *preds, int n, const char *out_dir) {
    SercErr err;
    int to_sernc[256];
    if (e->labels->n > 256) return cli_fail("predict", "%d classes: more than the 8 SERNC classes", e->labels->n);
    if (sernc_label_map((const char *const *)e->labels->names, e->labels->n, to_sernc, &err) < 0)
        return cli_fail("predict", "--format sernc: %s", err.msg);
    int *cls = serc_calloc((size_t)n, sizeof *cls);
    float *avd = serc_calloc((size_t)n * 3, sizeof *avd);
    int failures = 0, has_avd = e->model_cfg.avd;
    for (int f = 0; f < n; f++) {
        if (!preds[f].probs) {
            failures++;
            continue;
        }
        cls[f] = to_sernc[preds[f].label];
        memcpy(avd + 3 * f, preds[f].avd, sizeof preds[f].avd);
    }
    int rc = CLI_OK;
    char *cat = import_path("%s/categorical.csv", out_dir), *att = import_path("%s/attributes.csv", out_dir);
    if (failures) {
        rc = cli_fail("predict", "%d of %d files failed: no submission written", failures, n);
    } else if (import_mkdirs(out_dir, &err) < 0 || sernc_write_categorical(cat, names, cls, n, &err) < 0 ||
               (has_avd && sernc_write_attributes(att, names, avd, n, &err) < 0)) {
        rc = cli_fail("predict", "%s", err.msg);
    } else {
        printf("wrote %s (%d files)\n", cat, n);
        if (has_avd) printf("wrote %s (%d files)\n", att, n);
    }
    free(cat);
    free(att);
    free(cls);
    free(avd);
    return rc;
}

typedef struct PredictArgs {
    const char *ckpt, *manifest, *transcript, *transcripts, *format, *out_dir;
    double window, hop;
    int json, windows, explain, sernc;
    long top_words;
} PredictArgs;

/* Every utterance of a manifest. */
static int predict_manifest_cmd(Experiment *e, const PredictArgs *a) {
    SercErr err;
    Manifest *m = manifest_read(a->manifest, &err);
    if (!m) return cli_fail("predict", "%s", err.msg);
    Prediction *preds = serc_calloc((size_t)(m->n > 0 ? m->n : 1), sizeof *preds);
    int64_t skipped = 0;
    if (predict_manifest(e, m, a->explain, preds, &skipped, &err) < 0) {
        free(preds);
        manifest_free(m);
        return cli_fail("predict", "%s", err.msg);
    }
    int rc = CLI_OK;
    if (a->sernc) {
        const char **names = serc_calloc((size_t)(m->n > 0 ? m->n : 1), sizeof *names);
        for (int i = 0; i < m->n; i++) names[i] = m->utts[i].audio_path;
        rc = write_sernc(e, names, preds, m->n, a->out_dir);
        free(names);
    } else {
        for (int i = 0; i < m->n; i++) {
            if (!preds[i].probs) continue;
            PredictSource src = {NULL, &m->utts[i]};
            if (a->json) print_json(&src, e, &preds[i], 0, a->explain);
            else print_text(&src, e, &preds[i], 0, a->explain, (int)a->top_words);
        }
        if (skipped) {
            fprintf(stderr, "serc predict: %lld unreadable utterances skipped (data.skip_bad)\n", (long long)skipped);
            rc = CLI_FAIL;
        }
    }
    for (int i = 0; i < m->n; i++) prediction_free(&preds[i]);
    free(preds);
    manifest_free(m);
    return rc;
}

/* Audio files, each with its transcript when given. */
static int predict_files_cmd(Experiment *e, const PredictArgs *a, const char *const *files, int n_files,
                             const PredictTranscripts *tr) {
    SercErr err;
    if (e->text_encoder && !a->transcript && !a->transcripts)
        fprintf(stderr, "serc predict: warning: a MATER model without --transcript or --transcripts reads empty text\n");
    Prediction *preds = serc_calloc((size_t)n_files, sizeof *preds);
    int failures = 0;
    for (int f = 0; f < n_files; f++) {
        const char *text = a->transcript;
        if (tr) text = predict_transcripts_find(tr, files[f]);
        if (tr && !text) {
            fprintf(stderr, "serc predict: error: %s: no line for it in %s\n", files[f], a->transcripts);
            failures++;
            continue;
        }
        if (predict_file_text(e, files[f], text, a->window, a->hop, a->explain, &preds[f], &err) < 0) {
            fprintf(stderr, "serc predict: error: %s\n", err.msg);
            failures++;
            continue;
        }
        if (a->sernc) continue;
        PredictSource src = {files[f], NULL};
        if (a->json) print_json(&src, e, &preds[f], a->windows, a->explain);
        else print_text(&src, e, &preds[f], a->windows, a->explain, (int)a->top_words);
    }
    int rc = failures ? CLI_FAIL : CLI_OK;
    if (a->sernc) rc = write_sernc(e, files, preds, n_files, a->out_dir);
    for (int f = 0; f < n_files; f++) prediction_free(&preds[f]);
    free(preds);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    PredictArgs a;
    memset(&a, 0, sizeof a);
    a.format = "text";
    a.top_words = 5;
    static const char *files[4096];
    int n_files = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--ckpt", &a.ckpt)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--manifest", &a.manifest)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--transcript", &a.transcript)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--transcripts", &a.transcripts)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_int(argc, argv, &i, "--top-words", &a.top_words)) != 0) {
            if (r < 0 || a.top_words < 1) return cli_usage_error("predict", "--top-words must be a positive integer");
        } else if ((r = cli_opt_double(argc, argv, &i, "--window", &a.window)) != 0) {
            if (r < 0 || a.window < 0) return cli_usage_error("predict", "--window must be a non-negative number of seconds");
        } else if ((r = cli_opt_double(argc, argv, &i, "--hop", &a.hop)) != 0) {
            if (r < 0 || a.hop < 0) return cli_usage_error("predict", "--hop must be a non-negative number of seconds");
        } else if ((r = cli_opt_str(argc, argv, &i, "--format", &a.format)) != 0) {
            if (r < 0) return CLI_USAGE;
            if (strcmp(a.format, "text") != 0 && strcmp(a.format, "json") != 0 && strcmp(a.format, "sernc") != 0)
                return cli_usage_error("predict", "--format must be text, json or sernc, got '%s'", a.format);
        } else if ((r = cli_opt_str(argc, argv, &i, "--out-dir", &a.out_dir)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if (strcmp(argv[i], "--json") == 0) {
            a.json = 1;
        } else if (strcmp(argv[i], "--windows") == 0) {
            a.windows = 1;
        } else if (strcmp(argv[i], "--explain") == 0) {
            a.explain = 1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            return cli_usage_error("predict", "unknown option '%s'", argv[i]);
        } else {
            if (n_files == 4096) return cli_usage_error("predict", "at most 4096 files per call");
            files[n_files++] = argv[i];
        }
    }
    if (!a.ckpt) return cli_usage_error("predict", "--ckpt is required");
    if (a.transcript && a.transcripts) return cli_usage_error("predict", "--transcript and --transcripts exclude each other");
    if (a.manifest) {
        if (n_files) return cli_usage_error("predict", "--manifest goes without audio file arguments");
        if (a.transcript || a.transcripts)
            return cli_usage_error("predict", "--manifest reads each utterance's words and transcript from the manifest; "
                                              "--transcript/--transcripts are for audio files");
        if (a.window > 0 || a.hop > 0 || a.windows)
            return cli_usage_error("predict", "--manifest scores utterances as serc eval does (data.eval_max_seconds); "
                                              "--window, --hop and --windows are for audio files");
    } else {
        if (a.transcript && n_files != 1)
            return cli_usage_error("predict", "--transcript is the text of one audio file; give --transcripts FILE for %d",
                                   n_files);
        if (n_files == 0 && !a.transcripts) return cli_usage_error("predict", "no audio files given (or --manifest)");
    }
    if (strcmp(a.format, "json") == 0) a.json = 1;
    a.sernc = strcmp(a.format, "sernc") == 0;
    if (a.sernc && (a.json || a.windows || a.explain))
        return cli_usage_error("predict", "--format sernc goes without --json, --windows and --explain");
    if (a.sernc && !a.out_dir) return cli_usage_error("predict", "--format sernc needs --out-dir");
    if (!a.sernc && a.out_dir) return cli_usage_error("predict", "--out-dir goes with --format sernc");
    SercErr err;
    PredictTranscripts tr;
    memset(&tr, 0, sizeof tr);
    if (a.transcripts) {
        if (predict_transcripts_read(a.transcripts, &tr, &err) < 0) return cli_fail("predict", "%s", err.msg);
        if (n_files == 0) {
            if (tr.n > 4096) {
                predict_transcripts_free(&tr);
                return cli_usage_error("predict", "%s: at most 4096 files per call", a.transcripts);
            }
            for (int k = 0; k < tr.n; k++) files[n_files++] = tr.path[k];
        }
        if (n_files == 0) {
            predict_transcripts_free(&tr);
            return cli_fail("predict", "%s: no lines", a.transcripts);
        }
    }
    Experiment e;
    if (experiment_from_checkpoint(&e, a.ckpt, &err) < 0) {
        if (e.ps) experiment_free(&e);
        predict_transcripts_free(&tr);
        return cli_fail("predict", "%s", err.msg);
    }
    int rc;
    if (a.explain && predict_explain_check(&e, &err) < 0) rc = cli_fail("predict", "%s: %s", a.ckpt, err.msg);
    else if ((a.transcript || a.transcripts) && !e.text_encoder)
        rc = cli_fail("predict", "%s: --transcript%s given, but the checkpoint's model reads no text (not MATER)", a.ckpt,
                      a.transcripts ? "s" : "");
    else if (a.manifest) rc = predict_manifest_cmd(&e, &a);
    else rc = predict_files_cmd(&e, &a, files, n_files, a.transcripts ? &tr : NULL);
    experiment_free(&e);
    predict_transcripts_free(&tr);
    return rc;
}
