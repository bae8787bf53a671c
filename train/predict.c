#include "predict.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"

int predict_explain_check(const Experiment *e, SercErr *err) {
    const SerModelConfig *c = &e->model_cfg;
    if (c->text_dim <= 0)
        return serc_fail(err, "--explain needs a MATER checkpoint (model.text_encoder set): its word-level attention "
                              "weights are the explanation; saliency for audio-only models is not implemented yet");
    if (c->mater_text_only)
        return serc_fail(err, "--explain: the checkpoint is a text-only MATER model, which has no word level");
    if (!(c->mater_levels & MATER_WORD))
        return serc_fail(err, "--explain: the checkpoint's MATER model has no word level (model.mater_levels lacks "
                              "\"word\"), whose attention weights are the explanation");
    return 0;
}

/* ---- explanations ---- */

static int word_by_weight(const void *a, const void *b) {
    const PredictWord *x = a, *y = b;
    if (x->weight != y->weight) return x->weight < y->weight ? 1 : -1;
    return (x->position > y->position) - (x->position < y->position);
}

/* p->words from item i of a MATER forward: the item's words (times: the manifest's, i.e. the item's
 * crop-relative times plus crop seconds), beta and the word mask. */
static void explain_item(Prediction *p, const SerOutput *o, const SerTextItem *it, int i, double crop_s) {
    const Tensor *beta = o->mater.word_weights, *mask = o->mater.word_mask;
    const int64_t W = beta ? beta->shape[1] : 0;
    p->n_words = it ? it->n_words : 0;
    p->words = serc_calloc((size_t)(p->n_words > 0 ? p->n_words : 1), sizeof *p->words);
    int used = 0;
    for (int k = 0; k < p->n_words; k++) {
        PredictWord *w = &p->words[k];
        w->word = serc_strdup(it->words[k]);
        w->start = it->start ? it->start[k] + crop_s : NAN;
        w->end = it->end ? it->end[k] + crop_s : NAN;
        w->position = k;
        if (k < W) {
            w->used = tensor_u8(mask)[(int64_t)i * W + k] != 0;
            w->weight = w->used ? tensor_f32(beta)[(int64_t)i * W + k] : 0.0f;
        }
        used += w->used;
    }
    qsort(p->words, (size_t)p->n_words, sizeof *p->words, word_by_weight);
    p->explained = used > 0;
    if (p->explained) return;
    const char *why = p->n_words == 0            ? "the utterance has no words (no transcript)"
                      : !(it && it->start)       ? "the transcript has no word times, so the word level is unavailable"
                                                 : "no word's time span falls inside the scored audio";
    snprintf(p->explain_note, sizeof p->explain_note, "%s", why);
}

/* ---- audio files ---- */

/* Class probabilities (and A/V/D) of one span of audio; text: the file's transcript as a one-utterance
 * manifest (NULL: none), read by experiment_batch_text like a training manifest's. */
static void score_span(Experiment *e, const MelPlan *plan, const float *x, int64_t n, const Manifest *text,
                       float *probs, float *avd, Prediction *explain) {
    const int C = e->labels->n;
    int64_t T = mel_num_frames(&e->mel, n);
    int F = mel_num_features(&e->mel);
    Ctx *g = ctx_new((uint64_t)e->cfg.run.seed);
    g->training = 0;
    ctx_no_grad(g);
    Tensor *feats = tensor_empty(g, SERC_F32, SHAPE(1, T, F));
    mel_plan_compute(plan, x, n, tensor_f32(feats));
    Tensor *len = tensor_empty(g, SERC_I32, SHAPE(1));
    tensor_i32(len)[0] = (int32_t)T;
    const SerTextInput *t = NULL;
    if (text) {
        int32_t index = 0;
        int64_t offset = 0;
        LoaderBatch b;
        memset(&b, 0, sizeof b);
        b.B = 1;
        b.index = &index;
        b.offset = &offset;
        t = experiment_batch_text(g, e, text, &b);
    }
    SerOutput o = ser_model_forward_text(g, &e->model, feats, len, t);
    const float *p = tensor_f32(op_softmax(g, o.logits, NULL));
    memcpy(probs, p, sizeof(float) * (size_t)C);
    if (o.avd && avd) {
        memcpy(avd, tensor_f32(o.avd), 3 * sizeof(float));
        if (o.octant_logits) /* EmoSphere-SER predicts on [-1, 1]: report the labels' 1..7 scale */
            for (int k = 0; k < 3; k++) avd[k] = emosphere_denormalise(avd[k]);
    }
    if (explain) explain_item(explain, &o, t ? &t->items[0] : NULL, 0, 0.0);
    ctx_free(g);
}

int predict_file_text(Experiment *e, const char *path, const char *transcript, double window_s, double hop_s,
                      int explain, Prediction *p, SercErr *err) {
    memset(p, 0, sizeof *p);
    if (e->cache)
        return serc_fail(err, "%s: the model reads cached %s features (data.features = %s), not audio; run `serc embed` "
                              "on the files and predict with --manifest", path, e->cache->encoder, e->cache->path);
    if (transcript && *transcript && !e->text_encoder)
        return serc_fail(err, "%s: a transcript was given but the checkpoint's model reads no text (not MATER)", path);
    if (explain && predict_explain_check(e, err) < 0) return -1;
    const int C = e->labels->n, sr = e->mel.sample_rate;
    float *x = NULL;
    int64_t n = 0;
    int got_sr = 0;
    if (audio_load(path, 0, -1, sr, &x, &n, &got_sr, err) < 0) return -1;
    MelPlan *plan = mel_plan_new(&e->mel, err);
    if (!plan) {
        free(x);
        return -1;
    }
    Manifest *text = NULL;
    if (e->text_encoder) {
        text = manifest_new(NULL);
        Utterance *u = manifest_append(text);
        u->id = serc_strdup(path);
        manifest_set_audio(text, u, path);
        if (transcript && *transcript) u->transcript = serc_strdup(transcript);
    }
    if (window_s <= 0) window_s = e->cfg.data.eval_max_seconds;
    int64_t win = window_s > 0 ? (int64_t)llround(window_s * sr) : n;
    if (win > n) win = n;
    int64_t hop = hop_s > 0 ? (int64_t)llround(hop_s * sr) : win / 2;
    if (hop < 1) hop = 1;
    /* window starts: every hop, and a last window flush with the end so no audio is left out */
    int64_t n_win = n > win ? 1 + (n - win + hop - 1) / hop : 1;
    p->duration = (double)n / sr;
    p->probs = serc_calloc((size_t)C, sizeof(float));
    p->windows = serc_calloc((size_t)n_win, sizeof *p->windows);
    p->n_windows = (int)n_win;
    p->has_avd = e->model_cfg.avd;
    double total = 0, avd_acc[3] = {0, 0, 0};
    for (int64_t w = 0; w < n_win; w++) {
        int64_t s0 = w * hop;
        if (s0 + win > n) s0 = n - win;
        if (s0 < 0) s0 = 0;
        int64_t len = s0 + win <= n ? win : n - s0;
        PredictWindow *pw = &p->windows[w];
        pw->start = (double)s0 / sr;
        pw->end = (double)(s0 + len) / sr;
        pw->probs = serc_calloc((size_t)C, sizeof(float));
        float avd[3] = {0, 0, 0};
        /* the words carry no times, so every window explains alike: the first one's is kept */
        score_span(e, plan, x + s0, len, text, pw->probs, avd, explain && w == 0 ? p : NULL);
        for (int c = 0; c < C; c++) p->probs[c] += (float)((double)pw->probs[c] * (double)len);
        for (int k = 0; k < 3; k++) avd_acc[k] += (double)avd[k] * (double)len;
        total += (double)len;
    }
    for (int c = 0; c < C; c++) p->probs[c] = (float)(p->probs[c] / total);
    for (int k = 0; k < 3; k++) p->avd[k] = (float)(avd_acc[k] / total);
    p->label = argmax_f32(p->probs, C);
    manifest_free(text);
    mel_plan_free(plan);
    free(x);
    return 0;
}

int predict_file(Experiment *e, const char *path, double window_s, double hop_s, Prediction *p, SercErr *err) {
    return predict_file_text(e, path, NULL, window_s, hop_s, 0, p, err);
}

/* ---- manifests ---- */

int predict_manifest(Experiment *e, const Manifest *m, int explain, Prediction *out, int64_t *skipped, SercErr *err) {
    memset(out, 0, sizeof *out * (size_t)m->n);
    if (skipped) *skipped = 0;
    if (explain && predict_explain_check(e, err) < 0) return -1;
    const int C = e->labels->n;
    LoaderOptions lo = experiment_loader_options(e, 0);
    Loader *ld = loader_new(m, e->labels, &lo, err);
    if (!ld) return -1;
    loader_epoch_begin(ld, 0);
    Ctx *g = ctx_new((uint64_t)e->cfg.run.seed);
    g->training = 0;
    ctx_no_grad(g);
    /* the crop's start in seconds, as experiment_batch_text computes it */
    const double per_offset = e->cache ? 1.0 / e->cache->frame_rate : 1.0 / (double)e->mel.sample_rate;
    LoaderBatch *b;
    int rc;
    while ((rc = loader_next(ld, &b, err)) == 1) {
        ctx_step_begin(g);
        BatchTensors bt;
        experiment_batch_tensors(g, b, &bt);
        /* experiment_forward, keeping the text for the explanation */
        const SerTextInput *t = experiment_batch_text(g, e, m, b);
        SerOutput o = ser_model_forward_text(g, &e->model, bt.feats, bt.lengths, t);
        const float *probs = tensor_f32(op_softmax(g, o.logits, NULL));
        for (int i = 0; i < b->B; i++) {
            Prediction *p = &out[b->index[i]];
            p->probs = serc_calloc((size_t)C, sizeof(float));
            memcpy(p->probs, probs + (int64_t)i * C, sizeof(float) * (size_t)C);
            /* the class eval counts: argmax of the logits (the softmax keeps it, ties aside) */
            p->label = argmax_f32(tensor_f32(o.logits) + (int64_t)i * C, C);
            p->duration = (double)b->lengths[i] / e->frame_rate;
            if (o.avd) {
                p->has_avd = 1;
                memcpy(p->avd, tensor_f32(o.avd) + 3 * i, 3 * sizeof(float));
                if (o.octant_logits)
                    for (int k = 0; k < 3; k++) p->avd[k] = emosphere_denormalise(p->avd[k]);
            }
            if (explain) explain_item(p, &o, t ? &t->items[i] : NULL, i, (double)b->offset[i] * per_offset);
        }
        loader_release(ld, b);
    }
    LoaderStats st = loader_epoch_stats(ld);
    if (skipped) *skipped = st.bad_skipped;
    loader_free(ld);
    ctx_free(g);
    if (rc < 0) {
        for (int i = 0; i < m->n; i++) prediction_free(&out[i]);
        return -1;
    }
    return 0;
}

void prediction_free(Prediction *p) {
    for (int w = 0; w < p->n_windows; w++) free(p->windows[w].probs);
    free(p->windows);
    free(p->probs);
    for (int k = 0; k < p->n_words; k++) free(p->words[k].word);
    free(p->words);
    memset(p, 0, sizeof *p);
}

/* ---- transcripts file ---- */

int predict_transcripts_read(const char *path, PredictTranscripts *t, SercErr *err) {
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) return serc_fail(err, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0, slots = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0) continue;
        if ((size_t)len != strlen(line)) {
            rc = serc_fail(err, "%s:%ld: a NUL byte in the line", path, lineno);
            break;
        }
        char *tab = strchr(line, '\t');
        if (!tab) {
            rc = serc_fail(err, "%s:%ld: no tab: each line is PATH<TAB>TRANSCRIPT", path, lineno);
            break;
        }
        if (tab == line) {
            rc = serc_fail(err, "%s:%ld: empty audio path before the tab", path, lineno);
            break;
        }
        *tab = '\0';
        if (predict_transcripts_find(t, line)) {
            rc = serc_fail(err, "%s:%ld: '%s' has a transcript already", path, lineno, line);
            break;
        }
        if (t->n == slots) {
            slots = slots ? 2 * slots : 64;
            t->path = serc_realloc(t->path, sizeof(char *) * (size_t)slots);
            t->text = serc_realloc(t->text, sizeof(char *) * (size_t)slots);
        }
        t->path[t->n] = serc_strdup(line);
        t->text[t->n] = serc_strdup(tab + 1);
        t->n++;
    }
    if (rc == 0 && ferror(f)) rc = serc_fail(err, "%s: read error", path);
    free(line);
    fclose(f);
    if (rc < 0) predict_transcripts_free(t);
    return rc;
}

const char *predict_transcripts_find(const PredictTranscripts *t, const char *path) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->path[i], path) == 0) return t->text[i];
    return NULL;
}

void predict_transcripts_free(PredictTranscripts *t) {
    for (int i = 0; i < t->n; i++) {
        free(t->path[i]);
        free(t->text[i]);
    }
    free(t->path);
    free(t->text);
    memset(t, 0, sizeof *t);
}
