/* serc features: decode audio files and write their log-mel features as .npy files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "audio.h"
#include "cli.h"
#include "mel.h"
#include "npy.h"

static const char *FEATURES_HELP =
    "usage: serc features --preset NAME [options] IN... --out DIR\n"
    "\n"
    "Decodes each audio file IN (WAV, FLAC, OGG/Vorbis, anything libsndfile reads; channels averaged to\n"
    "mono; resampled with libsoxr to the preset's sample rate when it differs) and writes its log-mel\n"
    "features to DIR/<name>.npy, where <name> is IN's file name without its extension: float32, shape\n"
    "(frames, features), NumPy format 1.0. Files are written atomically (temporary file, then rename).\n"
    "For each file it prints the shape and the time taken (decode + features) as a multiple of real time.\n"
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
    "  --out DIR          output directory (created if missing; required)\n"
    "  -h, --help         this help\n"
    "\n"
    "Exit status: 0 when every file was written, 1 when any file failed (the others are still written),\n"
    "2 on a usage error.\n";

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

int cmd_features(int argc, char **argv) {
    const char *cmd = "features";
    if (cli_wants_help(argc, argv)) {
        fputs(FEATURES_HELP, stdout);
        return CLI_OK;
    }
    const char *preset = NULL, *out_dir = NULL, *cmvn = NULL;
    long n_mels = -1, sample_rate = -1, deltas = -1;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    int n_in = 0, r;
    if (!inputs) return cli_fail(cmd, "out of memory");
    for (int i = 1; i < argc; i++) {
        if ((r = cli_opt_str(argc, argv, &i, "--preset", &preset)) ||
            (r = cli_opt_str(argc, argv, &i, "--out", &out_dir)) ||
            (r = cli_opt_str(argc, argv, &i, "--cmvn", &cmvn)) ||
            (r = cli_opt_int(argc, argv, &i, "--n-mels", &n_mels)) ||
            (r = cli_opt_int(argc, argv, &i, "--sample-rate", &sample_rate)) ||
            (r = cli_opt_int(argc, argv, &i, "--deltas", &deltas))) {
            if (r < 0) {
                free(inputs);
                return cli_usage_error(cmd, "bad value for %s", argv[i]);
            }
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
