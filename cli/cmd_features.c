/* serc features: decode audio files and write their log-mel features as .npy files, or featurise every
 * utterance of a manifest into one safetensors file. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "audio.h"
#include "cli.h"
#include "context.h"
#include "json.h"
#include "manifest.h"
#include "mel.h"
#include "npy.h"
#include "safetensors.h"

static const char *FEATURES_HELP =
    "usage: serc features --preset NAME [options] IN... --out DIR\n"
    "       serc features --preset NAME [options] MANIFEST.jsonl --out FILE.safetensors\n"
    "\n"
    "Decodes each audio file IN (WAV, FLAC, OGG/Vorbis, anything libsndfile reads; channels averaged to\n"
    "mono; resampled with libsoxr to the preset's sample rate when it differs) and writes its log-mel\n"
    "features to DIR/<name>.npy, where <name> is IN's file name without its extension: float32, shape\n"
    "(frames, features), NumPy format 1.0. Files are written atomically (temporary file, then rename).\n"
    "For each file it prints the shape and the time taken (decode + features) as a multiple of real time.\n"
    "\n"
    "With one input ending in .jsonl (a manifest, docs/manifest.md), every utterance is featurised (its\n"
    "start/end segment respected, resampled as above) by --workers threads and ONE safetensors file is\n"
    "written to --out: one F32 tensor (frames, features) per utterance, named by its id, in manifest order,\n"
    "with __metadata__ preset, mel_config (the resolved MelConfig as JSON), n_mels, n_features,\n"
    "sample_rate, manifest, utterances and skipped. An utterance that cannot be decoded (or is too short\n"
    "for one frame) is skipped with a message naming its manifest line and file, and counted; --strict\n"
    "stops at the first one instead and writes nothing. The file is written in manifest order as utterances\n"
    "finish, through a temporary file renamed into place at the end: memory holds only the utterances in\n"
    "flight (a few per worker). Prints progress every --progress utterances, then the shapes and the timing.\n"
    "\n"
    "options:\n"
    "  --preset NAME      torchaudio | kaldi | whisper | librosa (required):\n"
    "                       torchaudio  torchaudio.transforms.MelSpectrogram defaults (n_fft 400, hop 200,\n"
    "                                   hann, centred with reflect padding, power 2, 128 HTK mels), ln(x + 1e-6)\n"
    "                       kaldi       torchaudio.compliance.kaldi.fbank with dither 0 (25 ms / 10 ms frames,\n"
    "                                   povey window, pre-emphasis 0.97, DC removal, n_fft 512, snip edges,\n"
    "                                   23 Kaldi mels from 20 Hz to Nyquist), ln(max(x, FLT_EPSILON))\n"
    "                       whisper     openai-whisper log_mel_spectrogram (n_fft 400, hop 160, 80 Slaney mels\n"
    "                                   with Slaney norm; log10 clamped to max - 8, (x + 4) / 4; last frame\n"
    "                                   dropped)\n"
    "                       librosa     librosa.feature.melspectrogram defaults at 16 kHz (n_fft 2048, hop 512,\n"
    "                                   zero-padded centre, 128 Slaney mels, Slaney norm), power_to_db(ref=1,\n"
    "                                   amin=1e-10, top_db=80)\n"
    "                     docs/features.md gives every setting and formula.\n"
    "  --n-mels N         number of mel bands (default: the preset's)\n"
    "  --sample-rate R    rate the audio is resampled to and the features computed at, in Hz (default\n"
    "                     16000); kaldi frames stay 25 ms / 10 ms, the other presets keep their sizes in\n"
    "                     samples\n"
    "  --deltas K         append K orders of deltas (0, 1 or 2; torchaudio compute_deltas, window 5):\n"
    "                     features = n_mels * (1 + K)\n"
    "  --cmvn MODE        per-utterance normalisation of each mel band over frames, applied before the\n"
    "                     deltas: none (default), mean, meanvar\n"
    "  --out DIR|FILE     output directory (created if missing), or the .safetensors file for a manifest\n"
    "                     (required)\n"
    "  --workers N        manifest: threads featurising utterances (default: SERC_THREADS, else all cores)\n"
    "  --strict           manifest: stop at the first bad utterance (exit 1, nothing written)\n"
    "  --progress N       manifest: a progress line on stderr every N utterances (default 1000; 0 = none)\n"
    "  -h, --help         this help\n"
    "\n"
    "Exit status: files: 0 when every file was written, 1 when any file failed (the others are still\n"
    "written). Manifest: 0 when the safetensors file was written, even if utterances were skipped (the\n"
    "count is printed and stored in the metadata); 1 when --strict met a bad utterance, when every\n"
    "utterance was bad, or when the manifest or the output could not be read or written. 2 on a usage\n"
    "error.\n";

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* DIR/<basename of in without extension>.npy, in a new string. */
static char *output_path(const char *dir, const char *in) {
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    const char *dot = strrchr(base, '.');
    size_t blen = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    size_t n = strlen(dir) + blen + 8;
    char *p = malloc(n);
    if (!p) return NULL;
    snprintf(p, n, "%s/%.*s.npy", dir, (int)blen, base);
    return p;
}

/* Decodes, computes and writes one file; prints its line. */
static int features_one(const MelPlan *plan, const char *in, const char *out_path, SercErr *err) {
    const MelConfig *cfg = mel_plan_config(plan);
    double t0 = now_s();
    float *audio;
    int64_t n;
    int sr;
    if (audio_load(in, 0.0, -1.0, cfg->sample_rate, &audio, &n, &sr, err)) return -1;
    double t1 = now_s();
    int64_t frames = mel_num_frames(cfg, n);
    int nf = mel_num_features(cfg);
    if (frames == 0) {
        free(audio);
        return serc_fail(err, "%s: too short for one frame (%lld samples at %d Hz)", in, (long long)n, sr);
    }
    float *feat = malloc(sizeof(float) * (size_t)frames * (size_t)nf);
    if (!feat) {
        free(audio);
        return serc_fail(err, "%s: out of memory for %lld x %d features", in, (long long)frames, nf);
    }
    mel_plan_compute(plan, audio, n, feat);
    double t2 = now_s();
    int64_t shape[2] = {frames, nf};
    int rc = npy_write_f32(out_path, feat, 2, shape, err);
    free(feat);
    free(audio);
    if (rc) return rc;
    double dur = (double)n / sr, total = t2 - t0;
    printf("%s: (%lld, %d) -> %s  decode %.1f ms, features %.1f ms, %.0fx realtime\n", in, (long long)frames, nf,
           out_path, 1e3 * (t1 - t0), 1e3 * (t2 - t1), total > 0 ? dur / total : 0.0);
    return 0;
}

/* ---- manifest mode: every utterance of a manifest into one safetensors file ---- */

typedef struct ManifestJob {
    const Manifest *m;
    const MelPlan *plan;
    int strict;
    long progress;
    double t0;
    float **feats;   /* (n) features of utterance i, NULL when bad, not reached or already written */
    int64_t *frames; /* (n) */
    uint8_t *finished; /* (n) 1 once utterance i is featurised or found bad */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* a job finished, or one was written */
    int next, done, bad, stop;
    int written, window; /* the writer has handled [0, written); workers stay within window of it */
    double audio_s, load_s, feat_s; /* summed over workers */
    SercErr first_err;              /* --strict: the error that stopped the run */
} ManifestJob;

static void *manifest_worker(void *arg) {
    ManifestJob *J = arg;
#ifdef _OPENMP
    omp_set_num_threads(1); /* parallelism comes from the workers */
#endif
    const MelConfig *cfg = mel_plan_config(J->plan);
    int nf = mel_num_features(cfg);
    for (;;) {
        pthread_mutex_lock(&J->mu);
        while (!J->stop && J->next < J->m->n && J->next - J->written >= J->window) pthread_cond_wait(&J->cond, &J->mu);
        int i = J->stop || J->next >= J->m->n ? -1 : J->next++;
        pthread_mutex_unlock(&J->mu);
        if (i < 0) break;
        const Utterance *u = &J->m->utts[i];
        SercErr err = {{0}};
        float *audio = NULL, *feat = NULL;
        int64_t n = 0, frames = 0;
        double t0 = now_s(), t1 = t0;
        int sr_got = 0;
        int rc = audio_load(u->audio_path, u->has_start ? u->start : 0.0, u->has_end ? u->end : -1.0, cfg->sample_rate,
                            &audio, &n, &sr_got, &err);
        if (rc == 0) {
            t1 = now_s();
            frames = mel_num_frames(cfg, n);
            if (frames == 0) {
                rc = serc_fail(&err, "%s: too short: %lld samples (%.3f s) give no feature frames", u->audio_path,
                               (long long)n, (double)n / cfg->sample_rate);
            } else if (!(feat = malloc(sizeof(float) * (size_t)frames * (size_t)nf))) {
                rc = serc_fail(&err, "%s: out of memory for %lld x %d features", u->audio_path, (long long)frames, nf);
            } else {
                mel_plan_compute(J->plan, audio, n, feat);
            }
        }
        free(audio);
        double t2 = now_s();
        pthread_mutex_lock(&J->mu);
        J->done++;
        if (rc) {
            J->bad++;
            if (J->strict) {
                if (!J->stop) serc_fail(&J->first_err, "%s:%lld: utterance '%s': %s", J->m->path ? J->m->path : "manifest",
                                        (long long)u->line, u->id, err.msg);
                J->stop = 1;
            } else {
                fprintf(stderr, "serc features: skipped %s:%lld: utterance '%s': %s\n",
                        J->m->path ? J->m->path : "manifest", (long long)u->line, u->id, err.msg);
            }
        } else {
            J->feats[i] = feat;
            J->frames[i] = frames;
            J->audio_s += (double)n / cfg->sample_rate;
            J->load_s += t1 - t0;
            J->feat_s += t2 - t1;
        }
        J->finished[i] = 1;
        pthread_cond_broadcast(&J->cond);
        if (J->progress > 0 && J->done % J->progress == 0 && J->done < J->m->n && !J->stop) {
            double el = now_s() - J->t0;
            fprintf(stderr, "serc features: %d/%d utterances (%d skipped), %.1f s, %.0fx realtime\n", J->done,
                    J->m->n, J->bad, el, el > 0 ? J->audio_s / el : 0.0);
        }
        pthread_mutex_unlock(&J->mu);
    }
    return NULL;
}

static const char *window_name(MelWindow w) {
    static const char *n[] = {"hann", "hamming", "povey", "rectangular"};
    return (unsigned)w < 4 ? n[w] : "?";
}

/* The resolved configuration as a JSON object, every field, enums by name. */
static void mel_config_json(const MelConfig *c, JsonBuf *b) {
    static const char *scale[] = {"htk", "slaney", "kaldi"}, *norm[] = {"none", "slaney"},
                      *logn[] = {"none", "natural", "db", "whisper"}, *cmvn[] = {"none", "mean", "meanvar"};
    jsonbuf_appendf(b,
                    "{\"sample_rate\": %d, \"n_fft\": %d, \"win_length\": %d, \"hop_length\": %d, "
                    "\"frame_length_ms\": %.17g, \"frame_shift_ms\": %.17g, \"round_to_power_of_two\": %s, "
                    "\"window\": \"%s\", \"window_periodic\": %s, \"framing\": \"%s\", \"center\": %s, "
                    "\"pad_mode\": \"%s\", \"snip_edges\": %s, \"preemphasis\": %.17g, \"remove_dc_offset\": %s, "
                    "\"dither\": %.17g, \"dither_seed\": %llu, \"power\": %.17g, \"n_mels\": %d, \"f_min\": %.17g, "
                    "\"f_max\": %.17g, \"mel_scale\": \"%s\", \"norm\": \"%s\", \"log\": \"%s\", "
                    "\"log_offset\": %.17g, \"log_floor\": %.17g, \"db_amin\": %.17g, \"db_ref\": %.17g, "
                    "\"db_top_db\": %.17g, \"drop_last_frame\": %s, \"cmvn\": \"%s\", \"delta_order\": %d, "
                    "\"delta_win\": %d}",
                    c->sample_rate, c->n_fft, c->win_length, c->hop_length, c->frame_length_ms, c->frame_shift_ms,
                    c->round_to_power_of_two ? "true" : "false", window_name(c->window),
                    c->window_periodic ? "true" : "false", c->framing == MEL_FRAMING_KALDI ? "kaldi" : "stft",
                    c->center ? "true" : "false", c->pad_mode == MEL_PAD_CONSTANT ? "constant" : "reflect",
                    c->snip_edges ? "true" : "false", c->preemphasis, c->remove_dc_offset ? "true" : "false",
                    c->dither, (unsigned long long)c->dither_seed, c->power, c->n_mels, c->f_min, c->f_max,
                    (unsigned)c->mel_scale < 3 ? scale[c->mel_scale] : "?", (unsigned)c->norm < 2 ? norm[c->norm] : "?",
                    (unsigned)c->log < 4 ? logn[c->log] : "?", c->log_offset, c->log_floor, c->db_amin, c->db_ref,
                    c->db_top_db, c->drop_last_frame ? "true" : "false",
                    (unsigned)c->cmvn < 3 ? cmvn[c->cmvn] : "?", c->delta_order, c->delta_win);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Featurises every utterance of manifest_path into out_path; returns the exit status. */
static int features_manifest(const MelPlan *plan, const char *preset, const char *manifest_path, const char *out_path,
                             long workers, int strict, long progress) {
    const char *cmd = "features";
    SercErr err = {{0}};
    double t0 = now_s();
    Manifest *m = manifest_read(manifest_path, &err);
    if (!m) return cli_fail(cmd, "%s", err.msg);
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->utts[i].id, "__metadata__") == 0) {
            int rc = cli_fail(cmd, "%s:%lld: id '__metadata__' is reserved by the safetensors format", manifest_path,
                              (long long)m->utts[i].line);
            manifest_free(m);
            return rc;
        }
    const MelConfig *cfg = mel_plan_config(plan);
    int nf = mel_num_features(cfg);
    ManifestJob J = {.m = m, .plan = plan, .strict = strict, .progress = progress, .t0 = t0};
    J.feats = calloc((size_t)m->n, sizeof *J.feats);
    J.frames = calloc((size_t)m->n, sizeof *J.frames);
    J.finished = calloc((size_t)m->n + 1, 1);
    int nw = workers > 0 ? (int)(workers > 256 ? 256 : workers) : serc_num_threads();
    if (nw > m->n) nw = m->n;
    J.window = 4 * nw + 4;
    pthread_t *th = calloc((size_t)nw, sizeof *th);
    int status = CLI_OK, started = 0;
    SafetensorsStream *st = NULL;
    if (!J.feats || !J.frames || !J.finished || !th) {
        status = cli_fail(cmd, "out of memory for %d utterances", m->n);
        goto done;
    }
    /* written in manifest order as the workers finish: memory holds the window of utterances in flight */
    if (!(st = safetensors_stream_open(out_path, &err))) {
        status = cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    pthread_mutex_init(&J.mu, NULL);
    pthread_cond_init(&J.cond, NULL);
    for (; started < nw; started++)
        if (pthread_create(&th[started], NULL, manifest_worker, &J) != 0) break;
    if (started == 0) manifest_worker(&J); /* no thread could be started: do it here */
    int64_t min_f = INT64_MAX, max_f = 0, tot_f = 0;
    int good = 0, write_failed = 0;
    for (int i = 0; i < m->n; i++) {
        pthread_mutex_lock(&J.mu);
        while (!J.finished[i] && !J.stop) pthread_cond_wait(&J.cond, &J.mu);
        int ok = J.finished[i] && !(strict && J.stop);
        float *f = J.feats[i];
        J.feats[i] = NULL;
        pthread_mutex_unlock(&J.mu);
        if (!ok) {
            free(f); /* featurised before a --strict stop: not written */
            break;
        }
        if (f && !write_failed) {
            SafetensorsEntry e = {.name = m->utts[i].id, .dtype = SERC_F32, .ndim = 2, .data = f};
            e.shape[0] = J.frames[i];
            e.shape[1] = nf;
            if (safetensors_stream_add(st, &e, &err) < 0) {
                write_failed = 1;
                pthread_mutex_lock(&J.mu);
                J.stop = 1; /* the workers stop taking utterances */
                pthread_mutex_unlock(&J.mu);
            }
            good++;
            if (J.frames[i] < min_f) min_f = J.frames[i];
            if (J.frames[i] > max_f) max_f = J.frames[i];
            tot_f += J.frames[i];
        }
        free(f);
        pthread_mutex_lock(&J.mu);
        J.written = i + 1;
        pthread_cond_broadcast(&J.cond);
        pthread_mutex_unlock(&J.mu);
        if (write_failed) break;
    }
    for (int k = 0; k < started; k++) pthread_join(th[k], NULL);
    pthread_cond_destroy(&J.cond);
    pthread_mutex_destroy(&J.mu);
    double t1 = now_s();
    if (write_failed) {
        status = cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    if (strict && J.stop) {
        status = cli_fail(cmd, "%s", J.first_err.msg);
        fprintf(stderr, "serc features: stopped at a bad utterance (--strict); %s not written\n", out_path);
        goto done;
    }
    if (good == 0) {
        status = cli_fail(cmd, "%s: none of the %d utterances could be featurised; %s not written", manifest_path,
                          m->n, out_path);
        goto done;
    }
    JsonBuf cj = {0};
    mel_config_json(cfg, &cj);
    char s_mels[32], s_nf[32], s_sr[32], s_utt[32], s_bad[32];
    snprintf(s_mels, sizeof s_mels, "%d", cfg->n_mels);
    snprintf(s_nf, sizeof s_nf, "%d", nf);
    snprintf(s_sr, sizeof s_sr, "%d", cfg->sample_rate);
    snprintf(s_utt, sizeof s_utt, "%d", good);
    snprintf(s_bad, sizeof s_bad, "%d", J.bad);
    const char *meta[] = {"format", "serc-features", "preset", preset, "mel_config", cj.data, "n_mels", s_mels,
                          "n_features", s_nf, "sample_rate", s_sr, "manifest", manifest_path, "utterances", s_utt,
                          "skipped", s_bad, NULL};
    int wrc = safetensors_stream_close(st, meta, &err);
    st = NULL;
    double t2 = now_s();
    jsonbuf_free(&cj);
    if (wrc) {
        status = cli_fail(cmd, "%s", err.msg);
        goto done;
    }
    double wall = t1 - t0;
    printf("%s: %d utterances -> %s: %d tensors (frames, %d), %d skipped\n", manifest_path, m->n, out_path, good, nf,
           J.bad);
    printf("  frames per utterance %lld..%lld, %lld in all (%.1f MB of float32)\n", (long long)min_f,
           (long long)max_f, (long long)tot_f, 4e-6 * (double)tot_f * nf);
    printf("  %.1f s of audio in %.2f s with %d workers: %.0fx realtime (per worker: decode %.2f s, features "
           "%.2f s); write %.2f s\n",
           J.audio_s, wall, started ? started : 1, wall > 0 ? J.audio_s / wall : 0.0, J.load_s / (started ? started : 1),
           J.feat_s / (started ? started : 1), t2 - t1);
done:
    safetensors_stream_abort(st);
    for (int i = 0; J.feats && i < m->n; i++) free(J.feats[i]);
    free(J.feats);
    free(J.frames);
    free(J.finished);
    free(th);
    manifest_free(m);
    return status;
}

int cmd_features(int argc, char **argv) {
    const char *cmd = "features";
    if (cli_wants_help(argc, argv)) {
        fputs(FEATURES_HELP, stdout);
        return CLI_OK;
    }
    const char *preset = NULL, *out_dir = NULL, *cmvn = NULL;
    long n_mels = -1, sample_rate = -1, deltas = -1, workers = -1, progress = -1;
    int strict = 0;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    int n_in = 0, r;
    if (!inputs) return cli_fail(cmd, "out of memory");
    for (int i = 1; i < argc; i++) {
        if ((r = cli_opt_str(argc, argv, &i, "--preset", &preset)) ||
            (r = cli_opt_str(argc, argv, &i, "--out", &out_dir)) ||
            (r = cli_opt_str(argc, argv, &i, "--cmvn", &cmvn)) ||
            (r = cli_opt_int(argc, argv, &i, "--n-mels", &n_mels)) ||
            (r = cli_opt_int(argc, argv, &i, "--sample-rate", &sample_rate)) ||
            (r = cli_opt_int(argc, argv, &i, "--deltas", &deltas)) ||
            (r = cli_opt_int(argc, argv, &i, "--workers", &workers)) ||
            (r = cli_opt_int(argc, argv, &i, "--progress", &progress))) {
            if (r < 0) {
                free(inputs);
                return cli_usage_error(cmd, "bad value for %s", argv[i]);
            }
        } else if (strcmp(argv[i], "--strict") == 0) {
            strict = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            free(inputs);
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        } else {
            inputs[n_in++] = argv[i];
        }
    }
    int status = CLI_OK;
    MelConfig cfg;
    SercErr err = {{0}};
    MelPlan *plan = NULL;
    if (!preset) status = cli_usage_error(cmd, "--preset is required (torchaudio, kaldi, whisper, librosa)");
    else if (!out_dir) status = cli_usage_error(cmd, "--out DIR is required");
    else if (n_in == 0) status = cli_usage_error(cmd, "no input files");
    else if (mel_config_preset(preset, &cfg, &err)) status = cli_usage_error(cmd, "%s", err.msg);
    if (status != CLI_OK) goto done;
    int manifest_mode = 0;
    for (int i = 0; i < n_in; i++)
        if (ends_with(inputs[i], ".jsonl")) manifest_mode = 1;
    if (manifest_mode && n_in != 1) {
        status = cli_usage_error(cmd, "a manifest (.jsonl) must be the only input, got %d inputs", n_in);
        goto done;
    }
    if (!manifest_mode && (strict || workers != -1 || progress != -1)) {
        status = cli_usage_error(cmd, "--strict, --workers and --progress apply to a manifest (.jsonl) input only");
        goto done;
    }
    if (workers < -1 || workers == 0 || progress < -1) {
        status = cli_usage_error(cmd, "--workers must be >= 1 and --progress >= 0");
        goto done;
    }
    if (n_mels != -1) cfg.n_mels = (int)(n_mels > 100000 || n_mels < -100000 ? 0 : n_mels);
    if (sample_rate != -1) cfg.sample_rate = (int)(sample_rate > 100000000 || sample_rate < 0 ? 0 : sample_rate);
    if (deltas != -1) cfg.delta_order = (int)(deltas > 10 || deltas < 0 ? -1 : deltas);
    if (cmvn) {
        if (strcmp(cmvn, "none") == 0) cfg.cmvn = MEL_CMVN_NONE;
        else if (strcmp(cmvn, "mean") == 0) cfg.cmvn = MEL_CMVN_MEAN;
        else if (strcmp(cmvn, "meanvar") == 0) cfg.cmvn = MEL_CMVN_MEAN_VAR;
        else {
            status = cli_usage_error(cmd, "--cmvn must be none, mean or meanvar, got '%s'", cmvn);
            goto done;
        }
    }
    if (!(plan = mel_plan_new(&cfg, &err))) {
        status = cli_usage_error(cmd, "%s", err.msg);
        goto done;
    }
    if (manifest_mode) {
        status = features_manifest(plan, preset, inputs[0], out_dir, workers, strict, progress < 0 ? 1000 : progress);
        goto done;
    }
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        status = cli_fail(cmd, "%s: cannot create output directory (%s)", out_dir, strerror(errno));
        goto done;
    }
    /* two inputs with the same name would overwrite each other's output */
    char **outs = calloc((size_t)n_in, sizeof *outs);
    for (int i = 0; outs && i < n_in; i++) {
        outs[i] = output_path(out_dir, inputs[i]);
        for (int j = 0; outs[i] && j < i; j++)
            if (strcmp(outs[i], outs[j]) == 0) {
                status = cli_usage_error(cmd, "%s and %s would both be written to %s", inputs[j], inputs[i], outs[i]);
                break;
            }
        if (!outs[i] || status != CLI_OK) break;
    }
    int failed = 0;
    for (int i = 0; status == CLI_OK && outs && i < n_in; i++) {
        if (features_one(plan, inputs[i], outs[i], &err)) {
            cli_fail(cmd, "%s", err.msg);
            failed++;
        }
    }
    if (status == CLI_OK && failed) {
        fprintf(stderr, "serc features: %d of %d files failed\n", failed, n_in);
        status = CLI_FAIL;
    }
    for (int i = 0; outs && i < n_in; i++) free(outs[i]);
    free(outs);
done:
    mel_plan_free(plan);
    free(inputs);
    return status;
}
