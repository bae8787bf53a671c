#include "predict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"

/* Class probabilities (and A/V/D) of one span of audio. */
static void score_span(Experiment *e, const MelPlan *plan, const float *x, int64_t n, float *probs, float *avd) {
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
    SerOutput o = ser_model_forward(g, &e->model, feats, len);
    const float *p = tensor_f32(op_softmax(g, o.logits, NULL));
    memcpy(probs, p, sizeof(float) * (size_t)C);
    if (o.avd && avd) memcpy(avd, tensor_f32(o.avd), 3 * sizeof(float));
    ctx_free(g);
}

int predict_file(Experiment *e, const char *path, double window_s, double hop_s, Prediction *p, SercErr *err) {
    memset(p, 0, sizeof *p);
    if (e->cache)
        return serc_fail(err, "%s: the model reads cached %s features (data.features = %s), not audio; run `serc embed` "
                              "on the files and evaluate with a manifest", path, e->cache->encoder, e->cache->path);
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
        score_span(e, plan, x + s0, len, pw->probs, avd);
        for (int c = 0; c < C; c++) p->probs[c] += (float)((double)pw->probs[c] * (double)len);
        for (int k = 0; k < 3; k++) avd_acc[k] += (double)avd[k] * (double)len;
        total += (double)len;
    }
    for (int c = 0; c < C; c++) p->probs[c] = (float)(p->probs[c] / total);
    for (int k = 0; k < 3; k++) p->avd[k] = (float)(avd_acc[k] / total);
    p->label = argmax_f32(p->probs, C);
    mel_plan_free(plan);
    free(x);
    return 0;
}

void prediction_free(Prediction *p) {
    for (int w = 0; w < p->n_windows; w++) free(p->windows[w].probs);
    free(p->windows);
    free(p->probs);
    memset(p, 0, sizeof *p);
}
