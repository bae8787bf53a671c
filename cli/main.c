/* serc: the command. `serc help` lists the subcommands; each takes --help. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"
#include "cli.h"

static const CliCommand COMMANDS[] = {
    {"demo", "train a small conv + attention classifier on a generated task (end-to-end check of the core)", cmd_demo},
    {"features", "compute log-mel features (.npy) of audio files with a preset (torchaudio, kaldi, whisper, librosa)", cmd_features},
    {"synth", "render the embedded default corpus (emotional speech with espeak-ng) with manifests", cmd_synth},
    {"prepare", "import a corpus (iemocap, msp-podcast, ravdess, ...) into a manifest and label map", cmd_prepare},
    {"split", "speaker-independent folds or train/dev/test parts of a manifest", cmd_split},
    {"train", "train a model from a configuration (run directory with checkpoints and metrics)", cmd_train},
    {"eval", "score a checkpoint on a manifest: WA, UA, macro-F1, confusion matrix", cmd_eval},
    {"predict", "label audio files with a checkpoint (class probabilities; sliding windows for long files)", cmd_predict},
    {"score", "score a SERNC challenge submission against labels_consensus.csv: macro-F1 (task 1), CCC (task 2)", cmd_score},
    {"robust", "noise (white, pink, babble, real) at SNRs, reverberation and cross-corpus scores of checkpoints", cmd_robust},
    {"report", "one run as a self-contained HTML page (curves, confusion, per-class scores), or --compare runs", cmd_report},
    {"ensemble", "fit the uncertainty-aware ensemble of MATER heads / checkpoints on dev (NLL vs label_dist), score on test", cmd_ensemble},
    {"cv", "cross-validation: train and test every fold of a manifest, mean and standard deviation", cmd_cv},
    {"embed", "run a pretrained speech or text encoder (Hugging Face folder) and write its hidden states", cmd_embed},
    {"mbpls", "multiblock PLS on .npy feature blocks (fit, transform, predict; as the mbpls 1.0.4 package)", cmd_mbpls},
    {"config", "list every configuration key (--doc) or check a configuration file", cmd_config},
    {"version", "print the version and build options (CUDA, BLAS, threads)", cmd_version},
};
static const int N_COMMANDS = (int)(sizeof COMMANDS / sizeof COMMANDS[0]);

static void print_help(FILE *f) {
    fprintf(f,
            "serc %s: speech emotion recognition\n\n"
            "usage: serc <command> [options]    (serc <command> --help for its options)\n\n"
            "commands:\n",
            SERC_VERSION);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "this list");
    fprintf(f, "\nenvironment: SERC_THREADS sets the CPU thread count (default: all cores)\n");
}

/* OpenMP threads that spin after each parallel region take the cores OpenBLAS's own threads need (4x on
 * the encoder bench, 10x on training throughput with other jobs running; bench/NOTES.md). libgomp reads
 * OMP_WAIT_POLICY when it loads, before main, so when the user has not chosen a policy, serc re-executes
 * itself once with passive waiting. */
static void prefer_passive_openmp(char **argv) {
#ifdef _OPENMP
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv); /* returns only on failure: carry on with the default policy */
#else
    (void)argv;
#endif
}

int main(int argc, char **argv) {
    prefer_passive_openmp(argv);
    if (argc < 2) {
        print_help(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        if (argc > 2) {
            for (int i = 0; i < N_COMMANDS; i++) {
                if (strcmp(argv[2], COMMANDS[i].name) == 0) {
                    char *sub[] = {argv[2], "--help", NULL};
                    return COMMANDS[i].run(2, sub);
                }
            }
        }
        print_help(stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) return cmd_version(1, argv + 1);
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(name, COMMANDS[i].name) == 0) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "serc: unknown command '%s'\n\n", name);
    print_help(stderr);
    return CLI_USAGE;
}
