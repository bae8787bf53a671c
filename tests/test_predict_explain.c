/* `serc predict` with text and explanations (train/predict.h) on a tiny MATER model trained with the
 * random BERT of the fixtures: a manifest's predictions are the classes `serc eval` counts, --explain
 * gives the word level's pooling weights (summing to 1 over the words that take part) on the
 * manifest's words and times, a file's --transcript reaches the model, and the bad inputs (--explain on
 * an audio-only model, a transcripts file without a file's line, a malformed line, a missing audio
 * path, a transcript for a model without text) fail with clear errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "json.h"
#include "predict.h"
#include "testutil.h"
#include "trainer.h"

#define TINY_BERT SERC_FIXTURES_DIR "/text/tiny_bert"

static char corpus[] = "/tmp/serc-explain-XXXXXX";
static char mater_ckpt[700], audio_ckpt[700], test_manifest[700];

static void train_tiny(const char *name, const char *const *extra, char *ckpt) {
    char out[600];
    snprintf(out, sizeof out, "%s/run-%s", corpus, name);
    test_train_small(corpus, out, extra);
    snprintf(ckpt, 700, "%s/best.safetensors", out);
}

/* One corpus and two checkpoints for the whole suite (each Test runs in its own process, so each
 * trains its own; the models are tiny). */
static void setup(void) {
    test_render_small_corpus(corpus);
    static const char *const mater[] = {"model.text_encoder=" TINY_BERT, "model.mater_dim=16", "model.mater_heads=2",
                                        "loss.center=0", "optim.epochs=1", NULL};
    train_tiny("mater", mater, mater_ckpt);
    snprintf(test_manifest, sizeof test_manifest, "%s/test.jsonl", corpus);
}
static void setup_with_audio_only(void) {
    setup();
    static const char *const audio[] = {"optim.epochs=1", NULL};
    train_tiny("audio", audio, audio_ckpt);
}
static void teardown(void) { test_remove_tree(corpus); }

static int run_predict(const char *args) {
    char a[4096];
    snprintf(a, sizeof a, "predict %s", args);
    return test_run_serc(corpus, a);
}
static char *slurp(const char *name) {
    char p[800];
    snprintf(p, sizeof p, "%s/%s", corpus, name);
    return test_read_file(p, NULL);
}

Test(predict_explain, manifest_predictions_are_the_eval_classes_and_the_weights_name_the_words, .init = setup,
     .fini = teardown, .timeout = 0) {
    SercErr err;
    EvalResult r;
    cr_assert_eq(eval_checkpoint(mater_ckpt, test_manifest, 0, &r, NULL, &err), 0, "%s", err.msg);
    Experiment e;
    cr_assert_eq(experiment_from_checkpoint(&e, mater_ckpt, &err), 0, "%s", err.msg);
    Manifest *m = manifest_read(test_manifest, &err);
    cr_assert(m, "%s", err.msg);
    Prediction *p = calloc((size_t)m->n, sizeof *p);
    int64_t skipped = -1;
    cr_assert_eq(predict_manifest(&e, m, 1, p, &skipped, &err), 0, "%s", err.msg);
    cr_expect_eq(skipped, 0);

    /* the classes: the confusion matrix of the predictions against the labels is eval's, cell by cell */
    Confusion cm;
    confusion_init(&cm, e.labels->n);
    int explained = 0;
    for (int i = 0; i < m->n; i++) {
        const Utterance *u = &m->utts[i];
        cr_assert(p[i].probs, "utterance %d not scored", i);
        double s = 0;
        for (int c = 0; c < e.labels->n; c++) s += p[i].probs[c];
        cr_expect(fabs(s - 1.0) < 1e-5);
        int t = labelmap_index(e.labels, u->label);
        if (t >= 0) confusion_add(&cm, t, p[i].label);
        /* the explanation: every manifest word once, with its times; weights sorted, sum 1 over used */
        cr_assert_eq(p[i].n_words, u->n_words, "%s: %d words explained, manifest %d", u->id, p[i].n_words, u->n_words);
        double sum = 0;
        int used = 0;
        for (int k = 0; k < p[i].n_words; k++) {
            const PredictWord *w = &p[i].words[k];
            cr_assert(w->position >= 0 && w->position < u->n_words);
            const ManifestWord *mw = &u->words[w->position];
            cr_expect_str_eq(w->word, mw->w);
            cr_expect(fabs(w->start - mw->start) < 1e-9 && fabs(w->end - mw->end) < 1e-9, "%s: %s at %g-%g, manifest %g-%g",
                      u->id, w->word, w->start, w->end, mw->start, mw->end);
            if (k) cr_expect_geq(p[i].words[k - 1].weight, w->weight, "%s: not sorted by weight", u->id);
            if (!w->used) cr_expect_eq(w->weight, 0.0f);
            cr_expect_geq(w->weight, 0.0f);
            sum += w->weight;
            used += w->used;
        }
        cr_expect_eq(p[i].explained, used > 0);
        if (used) cr_expect(fabs(sum - 1.0) < 1e-4, "%s: weights sum to %.6f", u->id, sum);
        else cr_expect(strlen(p[i].explain_note) > 0);
        explained += p[i].explained;
    }
    cr_expect_gt(explained, m->n / 2, "only %d of %d utterances explained", explained, m->n);
    cr_expect_eq(confusion_total(&cm), confusion_total(&r.cm));
    for (int k = 0; k < e.labels->n * e.labels->n; k++) cr_expect_eq(cm.counts[k], r.cm.counts[k], "confusion cell %d", k);

    /* the command prints the same classes and words, one JSON object per utterance */
    char args[1600];
    snprintf(args, sizeof args, "--ckpt '%s' --manifest '%s' --explain --json", mater_ckpt, test_manifest);
    cr_assert_eq(run_predict(args), 0, "%s", slurp("err.txt"));
    char *out = slurp("out.txt");
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        JsonValue *j = json_parse(line, strlen(line), &err);
        cr_assert(j, "%s: %s", err.msg, line);
        cr_assert_lt(lines, m->n);
        const Utterance *u = &m->utts[lines];
        cr_expect_str_eq(json_string(json_get(j, "id")), u->id);
        cr_expect_str_eq(json_string(json_get(j, "label")), e.labels->names[p[lines].label]);
        const JsonValue *words = json_get(j, "words");
        cr_assert(words && json_type(words) == JSON_ARRAY);
        cr_expect_eq((int)json_len(words), u->n_words);
        if (p[lines].n_words > 0) {
            const JsonValue *w0 = json_at(words, 0);
            cr_expect_str_eq(json_string(json_get(w0, "word")), p[lines].words[0].word);
            cr_expect(fabs(json_number(json_get(w0, "weight")) - p[lines].words[0].weight) < 1e-5);
        }
        cr_expect_eq(json_get(j, "word_level") != NULL, !p[lines].explained);
        json_free(j);
    }
    cr_expect_eq(lines, m->n);
    free(out);
    /* text format: the top words on a "words:" line */
    snprintf(args, sizeof args, "--ckpt '%s' --manifest '%s' --explain --top-words 2", mater_ckpt, test_manifest);
    cr_assert_eq(run_predict(args), 0, "%s", slurp("err.txt"));
    out = slurp("out.txt");
    cr_expect(strstr(out, "  words: "), "%s", out);
    free(out);

    for (int i = 0; i < m->n; i++) prediction_free(&p[i]);
    free(p);
    confusion_free(&cm);
    manifest_free(m);
    experiment_free(&e);
    eval_result_free(&r);
}

Test(predict_explain, a_files_transcript_reaches_the_model, .init = setup, .fini = teardown, .timeout = 0) {
    SercErr err;
    Experiment e;
    cr_assert_eq(experiment_from_checkpoint(&e, mater_ckpt, &err), 0, "%s", err.msg);
    Manifest *m = manifest_read(test_manifest, &err);
    cr_assert(m, "%s", err.msg);
    const Utterance *u = &m->utts[0];
    Prediction with, without;
    cr_assert_eq(predict_file_text(&e, u->audio_path, u->transcript, 0, 0, 1, &with, &err), 0, "%s", err.msg);
    cr_assert_eq(predict_file_text(&e, u->audio_path, NULL, 0, 0, 0, &without, &err), 0, "%s", err.msg);
    double diff = 0;
    for (int c = 0; c < e.labels->n; c++) diff += fabs(with.probs[c] - without.probs[c]);
    cr_expect_gt(diff, 1e-6, "the transcript did not change the probabilities");
    /* a transcript has no word times: the words are listed, the word level says it is unavailable */
    cr_expect_eq(with.explained, 0);
    cr_expect_gt(with.n_words, 0);
    cr_expect(strstr(with.explain_note, "no word times"), "%s", with.explain_note);
    prediction_free(&with);
    prediction_free(&without);

    /* the command: --transcript on one file, --transcripts for several */
    char args[2400], tsv[700];
    snprintf(args, sizeof args, "--ckpt '%s' --json --explain --transcript '%s' '%s'", mater_ckpt, "the cat sat",
             u->audio_path);
    cr_assert_eq(run_predict(args), 0, "%s", slurp("err.txt"));
    char *out = slurp("out.txt");
    cr_expect(strstr(out, "\"word_level\": ") && strstr(out, "\"word\": \"cat\""), "%s", out);
    free(out);
    snprintf(tsv, sizeof tsv, "%s/transcripts.tsv", corpus);
    FILE *f = fopen(tsv, "w");
    fprintf(f, "%s\t%s\n\n%s\t%s\n", m->utts[0].audio_path, m->utts[0].transcript, m->utts[1].audio_path,
            m->utts[1].transcript);
    fclose(f);
    snprintf(args, sizeof args, "--ckpt '%s' --transcripts '%s'", mater_ckpt, tsv);
    cr_assert_eq(run_predict(args), 0, "%s", slurp("err.txt"));
    out = slurp("out.txt");
    cr_expect(strstr(out, m->utts[0].audio_path) && strstr(out, m->utts[1].audio_path), "%s", out);
    free(out);
    manifest_free(m);
    experiment_free(&e);
}

/* Runs predict expecting exit status want and err.txt containing each of the NULL-terminated needles. */
static void expect_error(const char *args, int want, const char *const *needles) {
    int rc = run_predict(args);
    char *err = slurp("err.txt");
    cr_expect_eq(rc, want, "%s: exit %d, stderr: %s", args, rc, err);
    for (int k = 0; needles[k]; k++) cr_expect(strstr(err, needles[k]), "%s: want '%s' in: %s", args, needles[k], err);
    free(err);
}

Test(predict_explain, bad_inputs, .init = setup_with_audio_only, .fini = teardown, .timeout = 0) {
    SercErr err;
    Manifest *m = manifest_read(test_manifest, &err);
    cr_assert(m, "%s", err.msg);
    const char *wav = m->utts[0].audio_path;
    char args[2400];

    /* --explain on an audio-only model: in the library and from the command */
    Experiment e;
    cr_assert_eq(experiment_from_checkpoint(&e, audio_ckpt, &err), 0, "%s", err.msg);
    Prediction *p = calloc((size_t)m->n, sizeof *p);
    cr_expect_eq(predict_manifest(&e, m, 1, p, NULL, &err), -1);
    cr_expect(strstr(err.msg, "MATER") && strstr(err.msg, "saliency"), "%s", err.msg);
    cr_expect_eq(predict_manifest(&e, m, 0, p, NULL, &err), 0, "%s", err.msg); /* without --explain it predicts */
    for (int i = 0; i < m->n; i++) prediction_free(&p[i]);
    free(p);
    experiment_free(&e);
    snprintf(args, sizeof args, "--ckpt '%s' --manifest '%s' --explain", audio_ckpt, test_manifest);
    expect_error(args, 1, (const char *const[]){"--explain needs a MATER checkpoint", NULL});
    snprintf(args, sizeof args, "--ckpt '%s' --explain '%s'", audio_ckpt, wav);
    expect_error(args, 1, (const char *const[]){"--explain needs a MATER checkpoint", NULL});
    /* a transcript for a model that reads no text */
    snprintf(args, sizeof args, "--ckpt '%s' --transcript 'hello there' '%s'", audio_ckpt, wav);
    expect_error(args, 1, (const char *const[]){"reads no text", NULL});

    /* transcripts files: a file argument without a line, a malformed line, a listed file that is missing */
    char tsv[700];
    snprintf(tsv, sizeof tsv, "%s/t.tsv", corpus);
    FILE *f = fopen(tsv, "w");
    fprintf(f, "%s\thello there\n", m->utts[1].audio_path);
    fclose(f);
    snprintf(args, sizeof args, "--ckpt '%s' --transcripts '%s' '%s'", mater_ckpt, tsv, wav);
    expect_error(args, 1, (const char *const[]){wav, "no line for it in", NULL});
    f = fopen(tsv, "w");
    fprintf(f, "%s\thello there\n%s hello without a tab\n", m->utts[1].audio_path, wav);
    fclose(f);
    snprintf(args, sizeof args, "--ckpt '%s' --transcripts '%s'", mater_ckpt, tsv);
    expect_error(args, 1, (const char *const[]){"t.tsv:2: no tab", NULL});
    f = fopen(tsv, "w");
    fprintf(f, "\tjust text\n");
    fclose(f);
    expect_error(args, 1, (const char *const[]){"t.tsv:1: empty audio path", NULL});
    f = fopen(tsv, "w");
    fprintf(f, "%s\ta\n%s\tb\n", wav, wav);
    fclose(f);
    expect_error(args, 1, (const char *const[]){"t.tsv:2:", "has a transcript already", NULL});
    f = fopen(tsv, "w");
    fprintf(f, "%s/no-such.wav\thello\n", corpus);
    fclose(f);
    expect_error(args, 1, (const char *const[]){"no-such.wav", NULL});
    snprintf(args, sizeof args, "--ckpt '%s' --transcripts '%s/absent.tsv'", mater_ckpt, corpus);
    expect_error(args, 1, (const char *const[]){"absent.tsv", NULL});
    /* usage errors */
    snprintf(args, sizeof args, "--ckpt '%s' --manifest '%s' --transcript hi", mater_ckpt, test_manifest);
    expect_error(args, 2, (const char *const[]){"--manifest", NULL});
    snprintf(args, sizeof args, "--ckpt '%s' --transcript hi '%s' '%s'", mater_ckpt, wav, m->utts[1].audio_path);
    expect_error(args, 2, (const char *const[]){"--transcript is the text of one audio file", NULL});
    snprintf(args, sizeof args, "--ckpt '%s' --manifest '%s' --window 2", mater_ckpt, test_manifest);
    expect_error(args, 2, (const char *const[]){"--window", NULL});
    manifest_free(m);
}

/* The transcripts reader on its own: the table of malformed files. */
Test(predict_explain, transcripts_reader) {
    char dir[] = "/tmp/serc-tsv-XXXXXX";
    cr_assert(mkdtemp(dir));
    static const struct {
        const char *text, *want; /* want NULL: reads */
    } cases[] = {
        {"a.wav\thello world\nb.wav\t\n", NULL},
        {"a.wav\thello\tworld\r\n\n", NULL},
        {"a.wav hello\n", ":1: no tab"},
        {"a.wav\tx\n\tno path\n", ":2: empty audio path"},
        {"a.wav\tx\na.wav\ty\n", ":2: 'a.wav' has a transcript already"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        test_put_file(dir, "t.tsv", cases[k].text);
        char path[64];
        snprintf(path, sizeof path, "%s/t.tsv", dir);
        PredictTranscripts t;
        SercErr err;
        int rc = predict_transcripts_read(path, &t, &err);
        if (!cases[k].want) {
            cr_expect_eq(rc, 0, "case %zu: %s", k, err.msg);
            cr_expect_str_eq(predict_transcripts_find(&t, "a.wav"), k == 0 ? "hello world" : "hello\tworld");
            if (k == 0) cr_expect_str_eq(predict_transcripts_find(&t, "b.wav"), "");
            cr_expect_null(predict_transcripts_find(&t, "c.wav"));
            predict_transcripts_free(&t);
        } else {
            cr_expect_eq(rc, -1, "case %zu read", k);
            cr_expect(strstr(err.msg, cases[k].want), "case %zu: want '%s' in: %s", k, cases[k].want, err.msg);
        }
    }
    test_remove_tree(dir);
}
