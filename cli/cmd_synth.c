/* serc synth: renders the embedded default corpus (train/synth.h, docs/synth.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "synth.h"

static void help(void) {
    printf("usage: serc synth --preset tiny|demo|full [options]\n\n"
           "Renders SERC's embedded default corpus: emotional speech synthesised with libespeak-ng, byte for\n"
           "byte reproducible from the seed. Speakers are fixed combinations of espeak-ng voice, variant,\n"
           "base pitch, rate and timbre; each utterance acts a category with arousal/valence/dominance\n"
           "(1-7) drawn around the category's prototype, which drive pitch level and range, rate,\n"
           "loudness, pauses, per-word emphasis and spectral tilt; 5-10 simulated raters give the label\n"
           "distribution, the consensus label and mean A/V/D. See docs/synth.md.\n\n"
           "presets:\n"
           "  tiny    12 speakers x 16 =   192 utterances (tests; seconds)\n"
           "  demo    24 speakers x 80 =  1920 utterances (the main job's default corpus)\n"
           "  full    48 speakers x 216 = 10368 utterances\n\n"
           "options:\n"
           "  --preset NAME      tiny, demo or full (required)\n"
           "  --out DIR          output folder (default data/synth-PRESET, data/synth-b-PRESET for --corpus b)\n"
           "  --seed N           seed for the utterances (default 1); speakers and raters are fixed per corpus\n"
           "  --corpus a|b       a: 'synth' (default); b: 'synth-b' for cross-corpus evaluation (other voices\n"
           "                     and accents, another sentence bank, weaker rendering, other raters)\n"
           "  --classes 8|4      8 SERNC categories (default) or the IEMOCAP 4 (neutral happy sad angry)\n"
           "  --conditions LIST  evaluation conditions rendered for the test split, comma-separated:\n"
           "                     white@SNR pink@SNR babble@SNR hum@SNR (dB) reverb[@RT60 s], or none\n"
           "                     (default white@5,pink@5,babble@5,hum@5,reverb@0.6)\n"
           "  --utterances N     utterances per speaker (overrides the preset)\n"
           "  --quiet            no progress lines\n\n"
           "output (DIR):\n"
           "  wav/clean/<speaker>/<id>.wav, wav/<condition>/<speaker>/<id>.wav (16 kHz, 16-bit)\n"
           "  train.jsonl dev.jsonl test.jsonl test_<condition>.jsonl all.jsonl (docs/manifest.md)\n"
           "  <corpus>.labels truth.tsv README.txt\n"
           "all.jsonl is written last: a folder holding it is a complete render.\n");
}

int cmd_synth(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        help();
        return CLI_OK;
    }
    const char *preset = NULL, *out = NULL, *corpus = "a", *conditions = NULL;
    long seed = 1, classes = 8, utts = 0;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--preset", &preset)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--out", &out)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_str(argc, argv, &i, "--corpus", &corpus)) != 0) {
            if (r < 0 || (strcmp(corpus, "a") != 0 && strcmp(corpus, "b") != 0))
                return cli_usage_error("synth", "--corpus must be a or b");
        } else if ((r = cli_opt_str(argc, argv, &i, "--conditions", &conditions)) != 0) {
            if (r < 0) return CLI_USAGE;
        } else if ((r = cli_opt_int(argc, argv, &i, "--seed", &seed)) != 0) {
            if (r < 0 || seed < 0) return cli_usage_error("synth", "--seed must be a non-negative integer");
        } else if ((r = cli_opt_int(argc, argv, &i, "--classes", &classes)) != 0) {
            if (r < 0 || (classes != 8 && classes != 4)) return cli_usage_error("synth", "--classes must be 8 or 4");
        } else if ((r = cli_opt_int(argc, argv, &i, "--utterances", &utts)) != 0) {
            if (r < 0 || utts < 1 || utts > 9999) return cli_usage_error("synth", "--utterances must be in [1, 9999]");
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else {
            return cli_usage_error("synth", "unknown argument '%s'", argv[i]);
        }
    }
    if (!preset) return cli_usage_error("synth", "--preset is required (tiny, demo or full)");
    SynthOptions o;
    SercErr err = {{0}};
    if (synth_preset(&o, preset, &err) < 0) return cli_usage_error("synth", "%s", err.msg);
    o.seed = (uint64_t)seed;
    o.corpus = corpus[0];
    o.n_classes = (int)classes;
    if (utts > 0) o.utts_per_speaker = (int)utts;
    if (conditions && synth_parse_conditions(&o, conditions, &err) < 0) return cli_usage_error("synth", "--conditions: %s", err.msg);
    char out_buf[256];
    if (!out) {
        snprintf(out_buf, sizeof out_buf, "data/synth-%s%s", o.corpus == 'b' ? "b-" : "", preset);
        out = out_buf;
    }
    o.out_dir = out;
    o.progress_every = quiet ? 0 : (o.n_speakers * o.utts_per_speaker >= 1000 ? 100 : 50);
    o.log = stderr;
    SynthReport rep;
    if (synth_render(&o, &rep, &err) < 0) return cli_fail("synth", "%s", err.msg);
    printf("synth: %d utterances (%.1f min of audio) and %d condition files in %s, %.1f s\n", rep.n_utts,
           rep.audio_seconds / 60, rep.n_condition_files, out, rep.elapsed_seconds);
    return CLI_OK;
}
