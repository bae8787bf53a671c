/* serc robust: noise, reverberation and cross-corpus evaluation of checkpoints (train/robust.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "robust.h"

static void help(void) {
    printf("usage: serc robust --ckpt CKPT [--ckpt CKPT ...] [--name NAME ...] --manifest TEST.jsonl --out DIR\n"
           "                   [--noise white,pink,babble,hum,real:NOISE.jsonl] [--snr 20,10,5,0,-5]\n"
           "                   [--reverb] [--rt60 0.3,0.6,1.0] [--cross MANIFEST [--map FROM=TO,...|FILE]]\n"
           "                   [--seed N] [--workers N] [--write DIR]\n\n"
           "Scores each checkpoint on the test manifest clean, with additive noise at each SNR, with synthetic\n"
           "reverberation, and on another corpus, and writes DIR/robust.md (table), DIR/robust.json and\n"
           "DIR/robust_ua.svg (UA against SNR, one line per model and noise). Noisy audio is made on the fly\n"
           "before the features; the SNR is measured over speech-active samples (20 ms frames within 30 dB\n"
           "of the utterance's loudest frame), and every noisy utterance is a function of (seed, noise,\n"
           "utterance index) alone. docs/robustness.md describes the protocol.\n\n"
           "options:\n"
           "  --ckpt FILE        a checkpoint written by serc train (repeat to compare models)\n"
           "  --name NAME        a name per checkpoint, in the same order (default: the checkpoint's folder)\n"
           "  --manifest FILE    the test set (utterances whose label the checkpoint lacks are skipped)\n"
           "  --noise LIST       noise types (default white,pink,babble): white, pink, babble (4 talkers\n"
           "                     from the test set, other speakers), hum (50 Hz mains), real:NOISE.jsonl (a\n"
           "                     noise manifest from `serc prepare noise --root DIR`); 'none' for no noise\n"
           "  --snr LIST         SNRs in dB (default 20,10,5,0,-5), each in [-30, 60]\n"
           "  --reverb           add reverberation rows (RT60 0.3, 0.6 and 1.0 s unless --rt60 is given)\n"
           "  --rt60 LIST        reverberation times in seconds, each in [0.05, 5] (implies --reverb)\n"
           "  --cross FILE       a manifest of another corpus, scored clean through a label mapping\n"
           "  --map SPEC         FROM=TO pairs (\"neu=neutral,ang=angry,fea=-\"; '-' or nothing skips a label)\n"
           "                     or a file of such lines; default: the identity on label names both share\n"
           "  --seed N           noise seed (default 1)\n"
           "  --workers N        loader threads (default: each checkpoint's data.workers)\n"
           "  --write DIR        also write the noisy test sets as 16 kHz WAV with manifests (whole\n"
           "                     utterances) for other tools\n"
           "  --out DIR          where robust.md, robust.json and robust_ua.svg go (created)\n");
}

/* Splits a comma list into o->noise (pointers into the kept copy `buf`). */
static int parse_noise(char *buf, RobustOptions *o) {
    o->n_noise = 0;
    if (!strcmp(buf, "none")) return 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->n_noise == ROBUST_MAX_NOISES) return cli_usage_error("robust", "--noise: more than %d noise types", ROBUST_MAX_NOISES);
        if (strcmp(tok, "white") && strcmp(tok, "pink") && strcmp(tok, "babble") && strcmp(tok, "hum") &&
            (strncmp(tok, "real:", 5) || !tok[5]))
            return cli_usage_error("robust", "--noise: unknown noise '%s' (white, pink, babble, hum, real:NOISE.jsonl)", tok);
        for (int i = 0; i < o->n_noise; i++)
            if (!strcmp(o->noise[i], tok)) return cli_usage_error("robust", "--noise: '%s' is given twice", tok);
        o->noise[o->n_noise++] = tok;
    }
    if (o->n_noise == 0) return cli_usage_error("robust", "--noise: empty list");
    return 0;
}

int cmd_robust(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    RobustOptions o;
    robust_options_default(&o);
    o.log = stdout;
    const char *out = NULL, *noise = NULL, *snr = NULL, *rt60 = NULL, *v;
    int n_names = 0, reverb = 0;
    long seed = 1, workers = -1;
    SercErr err;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--ckpt", &v)) > 0) {
            if (o.n_models == ROBUST_MAX_MODELS) return cli_usage_error("robust", "more than %d checkpoints", ROBUST_MAX_MODELS);
            o.ckpt[o.n_models++] = v;
        } else if (r == 0 && (r = cli_opt_str(argc, argv, &i, "--name", &v)) > 0) {
            if (n_names == ROBUST_MAX_MODELS) return cli_usage_error("robust", "more than %d names", ROBUST_MAX_MODELS);
            o.name[n_names++] = v;
        } else if (r == 0 && (r = cli_opt_str(argc, argv, &i, "--manifest", &o.manifest)) > 0) {
        } else if (r == 0 && (r = cli_opt_str(argc, argv, &i, "--noise", &noise)) > 0) {
        } else if (r == 0 && (r = cli_opt_str(argc, argv, &i, "--snr", &snr)) > 0) {
        } else if (r == 0 && (r = cli_opt_str(argc, argv, &i, "--rt60", &rt60)) > 0) {
        } else if (r == 0 && (r = cli_opt_str(argc, argv, &i, "--cross", &o.cross)) > 0) {
        } else if (r == 0 && (r = cli_opt_str(argc, argv, &i, "--map", &o.map)) > 0) {
        } else if (r == 0 && (r = cli_opt_str(argc, argv, &i, "--write", &o.write_dir)) > 0) {
        } else if (r == 0 && (r = cli_opt_str(argc, argv, &i, "--out", &out)) > 0) {
        } else if (r == 0 && (r = cli_opt_int(argc, argv, &i, "--seed", &seed)) > 0) {
            if (seed < 0) return cli_usage_error("robust", "--seed must be a non-negative integer");
        } else if (r == 0 && (r = cli_opt_int(argc, argv, &i, "--workers", &workers)) > 0) {
            if (workers < 0) return cli_usage_error("robust", "--workers must be a non-negative integer");
        } else if (r == 0 && !strcmp(argv[i], "--reverb")) {
            reverb = 1;
        } else if (r == 0) {
            return cli_usage_error("robust", "unknown argument '%s'", argv[i]);
        }
        if (r < 0) return CLI_USAGE;
    }
    if (o.n_models == 0) return cli_usage_error("robust", "--ckpt is required");
    if (!o.manifest) return cli_usage_error("robust", "--manifest is required");
    if (!out) return cli_usage_error("robust", "--out DIR is required");
    if (n_names && n_names != o.n_models)
        return cli_usage_error("robust", "%d --name for %d --ckpt: give one name per checkpoint, or none", n_names, o.n_models);
    if (o.map && !o.cross) return cli_usage_error("robust", "--map needs --cross MANIFEST");
    char *noise_buf = noise ? strdup(noise) : NULL;
    if (noise_buf && parse_noise(noise_buf, &o)) {
        free(noise_buf);
        return CLI_USAGE;
    }
    if ((snr && robust_parse_levels(snr, "--snr", -30, 60, o.snr_db, &o.n_snr, &err)) ||
        (rt60 && robust_parse_levels(rt60, "--rt60", 0.05, 5, o.rt60_s, &o.n_rt60, &err))) {
        free(noise_buf);
        return cli_usage_error("robust", "%s", err.msg);
    }
    if (reverb && !rt60) {
        static const double RT60[] = {0.3, 0.6, 1.0};
        for (int i = 0; i < 3; i++) o.rt60_s[o.n_rt60++] = RT60[i];
    }
    o.seed = (uint64_t)seed;
    o.workers = (int)workers;
    RobustReport rep;
    int rc = CLI_OK;
    if (robust_run(&o, &rep, &err)) {
        rc = cli_fail("robust", "%s", err.msg);
    } else {
        if (robust_write_report(&rep, out, &err)) rc = cli_fail("robust", "%s", err.msg);
        else printf("wrote %s/robust.md, %s/robust.json and %s/robust_ua.svg\n", out, out, out);
        robust_report_free(&rep);
        if (rc == CLI_OK && o.write_dir) {
            if (robust_write_noisy_sets(&o, 16000, &err)) rc = cli_fail("robust", "--write: %s", err.msg);
            else printf("wrote the noisy test sets under %s\n", o.write_dir);
        }
    }
    free(noise_buf);
    return rc;
}
