/* Log-mel feature throughput of SERC's CPU front end (mel_plan_compute), in seconds of audio featurised
 * per second of wall time.
 *
 *   bench_features --make DIR [--files 100] [--seconds 4]   writes the benchmark files (once)
 *   bench_features --dir DIR [--presets kaldi,torchaudio,librosa] [--repeat 3]
 *
 * --make writes N mono 16 kHz PCM16 WAVs DIR/f000.wav ... : seeded white noise (std 0.05) plus two tones
 * whose frequencies change per file, plus a quiet stretch, so that every file differs. bench/bench_features.py
 * times torchaudio and librosa on the same files.
 *
 * Timed region: feature computation only. Every file is decoded once (audio_load) into memory before
 * timing; a plan per preset is made before timing. For each preset, one untimed warm-up pass over all
 * files, then --repeat passes, each timing mel_plan_compute over every file; the best pass is reported.
 * Threads: SERC_THREADS (default: all cores). "serc": OpenMP threads over the frames of each utterance
 * (mel_plan_compute as it is, as `serc features` on one file uses it); with more than one thread also
 * "serc-files": the threads share out the utterances, each computed on one thread (as `serc features
 * MANIFEST.jsonl` and the data loader do).
 *
 * Output: one line per preset and mode, "RESULT serc|serc-files <preset> <threads> <audio_s> <best_wall_s>
 * <x_realtime>".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "audio.h"
#include "context.h"
#include "mel.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int make_files(const char *dir, int n_files, double seconds) {
    if (mkdir(dir, 0755) != 0) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "bench_features: cannot create %s\n", dir);
            return 1;
        }
    }
    const int sr = 16000;
    int64_t n = (int64_t)(seconds * sr);
    float *x = malloc(sizeof(float) * (size_t)n);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int f = 0; f < n_files; f++) {
        double f1 = 200.0 + 37.0 * f, f2 = 1500.0 + 53.0 * f;
        for (int64_t i = 0; i < n; i++) {
            /* xorshift64* -> two uniforms -> Box-Muller */
            s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
            double u1 = ((double)((s * 2685821657736338717ull) >> 11) + 0.5) / 9007199254740992.0;
            s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
            double u2 = (double)((s * 2685821657736338717ull) >> 11) / 9007199254740992.0;
            double g = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
            double t = (double)i / sr;
            double quiet = (t > 0.5 * seconds && t < 0.6 * seconds) ? 0.01 : 1.0;
            x[i] = (float)(quiet * (0.05 * g + 0.2 * sin(2 * M_PI * f1 * t) + 0.1 * sin(2 * M_PI * f2 * t)));
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/f%03d.wav", dir, f);
        SercErr err = {{0}};
        if (audio_write_wav(path, x, n, sr, AUDIO_PCM16, &err)) {
            fprintf(stderr, "bench_features: %s\n", err.msg);
            free(x);
            return 1;
        }
    }
    free(x);
    printf("wrote %d files of %.1f s (16 kHz, PCM16) to %s\n", n_files, seconds, dir);
    return 0;
}

int main(int argc, char **argv) {
    const char *make_dir = NULL, *dir = NULL, *presets = "kaldi,torchaudio,librosa";
    int n_files = 100, repeat = 3;
    double seconds = 4.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--make") && i + 1 < argc) make_dir = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--files") && i + 1 < argc) n_files = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--presets") && i + 1 < argc) presets = argv[++i];
        else {
            fprintf(stderr, "usage: bench_features --make DIR [--files N] [--seconds S]\n"
                            "       bench_features --dir DIR [--presets a,b] [--repeat R]   (threads: SERC_THREADS)\n");
            return 2;
        }
    }
    if (make_dir) return make_files(make_dir, n_files > 0 ? n_files : 1, seconds > 0 ? seconds : 4.0);
    if (!dir) {
        fprintf(stderr, "bench_features: --dir DIR (or --make DIR) is required\n");
        return 2;
    }
    if (repeat < 1) repeat = 1;
    int threads = serc_num_threads();
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif

    /* decode every file once (not timed) */
    int cap = 16, n = 0;
    float **audio = malloc(sizeof(float *) * (size_t)cap);
    int64_t *len = malloc(sizeof(int64_t) * (size_t)cap);
    double audio_s = 0.0;
    for (int f = 0;; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/f%03d.wav", dir, f);
        struct stat st;
        if (stat(path, &st) != 0) break;
        if (n == cap) {
            cap *= 2;
            audio = realloc(audio, sizeof(float *) * (size_t)cap);
            len = realloc(len, sizeof(int64_t) * (size_t)cap);
        }
        SercErr err = {{0}};
        int sr;
        if (audio_load(path, 0.0, -1.0, 16000, &audio[n], &len[n], &sr, &err)) {
            fprintf(stderr, "bench_features: %s\n", err.msg);
            return 1;
        }
        audio_s += (double)len[n] / 16000.0;
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "bench_features: no f000.wav in %s (make them with --make)\n", dir);
        return 1;
    }
    printf("# SERC mel_plan_compute: %d files, %.1f s of audio, %d thread(s), best of %d passes; decoding "
           "excluded (done once before timing)\n",
           n, audio_s, threads, repeat);

    char *list = strdup(presets);
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        MelConfig cfg;
        SercErr err = {{0}};
        if (mel_config_preset(name, &cfg, &err)) {
            fprintf(stderr, "bench_features: %s\n", err.msg);
            return 2;
        }
        MelPlan *plan = mel_plan_new(&cfg, &err);
        if (!plan) {
            fprintf(stderr, "bench_features: %s\n", err.msg);
            return 1;
        }
        int nf = mel_num_features(&cfg);
        int64_t max_frames = 0;
        for (int f = 0; f < n; f++) {
            int64_t fr = mel_num_frames(mel_plan_config(plan), len[f]);
            if (fr > max_frames) max_frames = fr;
        }
        float *out = malloc(sizeof(float) * (size_t)(max_frames * nf));
        double best = 1e30, checksum = 0.0;
        for (int r = 0; r <= repeat; r++) { /* pass 0 is the warm-up */
            double t0 = now_s();
            for (int f = 0; f < n; f++) mel_plan_compute(plan, audio[f], len[f], out);
            double dt = now_s() - t0;
            checksum += out[0];
            if (r > 0 && dt < best) best = dt;
        }
        printf("RESULT serc %s %d %.3f %.6f %.1f\n", name, threads, audio_s, best, audio_s / best);
        fflush(stdout);
#ifdef _OPENMP
        if (threads > 1) {
            /* threads across utterances, each utterance on one thread (serc features MANIFEST, the loader) */
            int levels = omp_get_max_active_levels();
            omp_set_max_active_levels(1);
            float **outs = malloc(sizeof(float *) * (size_t)threads);
            for (int k = 0; k < threads; k++) outs[k] = malloc(sizeof(float) * (size_t)(max_frames * nf));
            double best_files = 1e30;
            for (int r = 0; r <= repeat; r++) {
                double t0 = now_s();
#pragma omp parallel for schedule(dynamic)
                for (int f = 0; f < n; f++) mel_plan_compute(plan, audio[f], len[f], outs[omp_get_thread_num()]);
                double dt = now_s() - t0;
                if (r > 0 && dt < best_files) best_files = dt;
            }
            for (int k = 0; k < threads; k++) free(outs[k]);
            free(outs);
            omp_set_max_active_levels(levels);
            printf("RESULT serc-files %s %d %.3f %.6f %.1f\n", name, threads, audio_s, best_files, audio_s / best_files);
            fflush(stdout);
        }
#endif
        (void)checksum;
        free(out);
        mel_plan_free(plan);
    }
    free(list);
    for (int f = 0; f < n; f++) free(audio[f]);
    free(audio);
    free(len);
    return 0;
}
