/* bench_ssl: CPU throughput and memory of the frozen speech encoder (models/ssl.h) with random
 * weights, WavLM-Base-sized or WavLM-Large-sized, on N(0, 0.1) waveforms of a fixed length; the twin of
 * bench/bench_ssl.py (transformers' WavLMModel under torch.no_grad, same config, same shapes).
 *
 *   SERC_THREADS=2 bench_ssl [--size base|large] [--batch 1] [--seconds 10] [--warmup 1] [--repeat 3]
 *
 * Timed region: one ssl_forward of the batch (SSL_FROZEN: every hidden state kept, nothing recorded),
 * best of --repeat after --warmup untimed runs; the arena is reset before each.
 * Prints "RESULT serc <size> <threads> <batch> <seconds> <best_s> <utt_per_s> <peak_mib> <rss_mib>":
 * peak_mib = the caller's arena peak + the encoder's scratch peak (activations and hidden states), and
 * rss_mib = the process's peak resident set (weights included).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "rng.h"
#include "ssl.h"

void openblas_set_num_threads(int num_threads);

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The configs of microsoft/wavlm-base-plus and microsoft/wavlm-large (shape-relevant keys). */
static const char *const WAVLM_BASE =
    "{\"model_type\": \"wavlm\", \"hidden_size\": 768, \"num_hidden_layers\": 12, \"num_attention_heads\": 12, "
    "\"intermediate_size\": 3072, \"feat_extract_norm\": \"group\", \"do_stable_layer_norm\": false, "
    "\"conv_bias\": false, \"num_buckets\": 320, \"max_bucket_distance\": 800}";
static const char *const WAVLM_LARGE =
    "{\"model_type\": \"wavlm\", \"hidden_size\": 1024, \"num_hidden_layers\": 24, \"num_attention_heads\": 16, "
    "\"intermediate_size\": 4096, \"feat_extract_norm\": \"layer\", \"do_stable_layer_norm\": true, "
    "\"conv_bias\": true, \"num_buckets\": 320, \"max_bucket_distance\": 800}";

int main(int argc, char **argv) {
    const char *size = "base";
    int batch = 1, warmup = 1, repeat = 3;
    double seconds = 10.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) size = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_ssl [--size base|large] [--batch B] [--seconds S] [--warmup W] [--repeat R]\n");
            return 2;
        }
    }
    const char *json = strcmp(size, "large") == 0 ? WAVLM_LARGE : WAVLM_BASE;
    SslConfig cfg;
    SercErr err = {{0}};
    if (ssl_config_parse(&cfg, json, strlen(json), size, &err)) {
        fprintf(stderr, "bench_ssl: %s\n", err.msg);
        return 1;
    }
    ParamStore *ps = params_new();
    SslModel *m = ssl_new(&cfg, ps, "", SSL_FROZEN);
    params_finalize(ps);
    InitRng r = {1, 0};
    ssl_init_random(m, &r);
    Ctx *g = ctx_new(0);
    openblas_set_num_threads(g->threads);
    g->training = 0;
    const int64_t N = (int64_t)(seconds * 16000.0);
    float *wav = malloc((size_t)(batch * N) * sizeof(float));
    serc_rng_fill_normal(wav, batch * N, 2, 0, 0.0f, 0.1f);
    double best = 1e30;
    size_t peak = 0;
    for (int it = 0; it < warmup + repeat; it++) {
        ctx_step_begin(g);
        Tensor *w = tensor_empty(g, SERC_F32, SHAPE(batch, N));
        memcpy(w->data, wav, (size_t)(batch * N) * sizeof(float));
        SslOutput o;
        double t0 = now_s();
        if (ssl_forward(g, m, w, NULL, &o, &err)) {
            fprintf(stderr, "bench_ssl: %s\n", err.msg);
            return 1;
        }
        double dt = now_s() - t0;
        if (it >= warmup && dt < best) best = dt;
        size_t p = g->arena.peak + ssl_scratch_peak(m);
        if (p > peak) peak = p;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT serc %s %d %d %.1f %.4f %.3f %.1f %.1f\n", size, g->threads, batch, seconds, best, batch / best,
           (double)peak / (1 << 20), (double)ru.ru_maxrss / 1024.0);
    free(wav);
    ctx_free(g);
    ssl_free(m);
    params_free(ps);
    return 0;
}
