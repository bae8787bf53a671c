/* serc split: speaker-independent folds or train/dev/test parts of a manifest. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "import.h"
#include "manifest.h"
#include "split.h"

static void print_help(void) {
    printf("usage: serc split MANIFEST --out DIR [--folds K | --by-fold | --ratios TRAIN,DEV,TEST]\n"
           "                  [--seed N] [--dev-frac F] [--allow-speaker-overlap]\n\n"
           "Splits a manifest so that no speaker is in both training and test data.\n\n"
           "modes (one of):\n"
           "  --folds K        speaker-independent k-fold: speakers are assigned to K folds, largest first\n"
           "                   into the fold with the fewest utterances (deterministic per --seed)\n"
           "  --by-fold        leave-one-session-out: folds are the manifest's own `fold` field (the IEMOCAP\n"
           "                   importer writes session - 1); checked to share no speaker\n"
           "  --ratios A,B,C   one train/dev/test split by speaker with these utterance fractions\n\n"
           "options:\n"
           "  --out DIR        output folder (created)\n"
           "  --seed N         seed for tie-breaking between equal-sized speakers (default 0)\n"
           "  --dev-frac F     with --folds/--by-fold: move a fraction F of each fold's training utterances,\n"
           "                   by speaker, into a dev part (default 0: no dev part)\n"
           "  --allow-speaker-overlap\n"
           "                   split utterances instead of speakers (speakers then overlap; for corpora\n"
           "                   without speaker ids, and only when a speaker-dependent protocol is intended)\n\n"
           "output (audio paths rewritten relative to each new file):\n"
           "  folds: DIR/folds.jsonl (every utterance with its fold), and per fold i DIR/fold<i>/train.jsonl,\n"
           "         [dev.jsonl], test.jsonl (test = fold i; `split` set to train/dev/test)\n"
           "  ratios: DIR/split.jsonl (every utterance with its split), DIR/train.jsonl, dev.jsonl, test.jsonl\n"
           "A table of utterances, speakers and per-class counts per fold or part is printed.\n");
}

static int parse_ratios(const char *s, double r[3]) {
    char *end;
    for (int i = 0; i < 3; i++) {
        r[i] = strtod(s, &end);
        if (end == s) return -1;
        if (i < 2 && *end != ',') return -1;
        s = end + 1;
    }
    return *end ? -1 : 0;
}

static int write_part(const char *dir, const char *name, const Manifest *m, SercErr *err) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", dir, name);
    int rc = manifest_write(path, m, err);
    free(path);
    return rc;
}

static Manifest *select_split(const Manifest *m, ManifestSplit s) {
    ManifestFilter f = manifest_filter_any();
    f.split = s;
    return manifest_filter(m, &f);
}

static int run_folds(const char *cmd, Manifest *m, const char *out, int k, double dev_frac, uint64_t seed, int overlap) {
    SercErr err = {{0}};
    if (write_part(out, "folds.jsonl", m, &err)) return cli_fail(cmd, "%s", err.msg);
    Manifest **tests = calloc((size_t)k, sizeof *tests);
    char **names = calloc((size_t)k, sizeof *names);
    int rc = CLI_OK;
    for (int f = 0; f < k && rc == CLI_OK; f++) {
        for (int i = 0; i < m->n; i++) m->utts[i].split = m->utts[i].fold == f ? SPLIT_TEST : SPLIT_TRAIN;
        if (dev_frac > 0 && split_carve_dev(m, dev_frac, seed + (uint64_t)f, overlap, &err)) {
            rc = cli_fail(cmd, "fold %d: %s", f, err.msg);
            break;
        }
        Manifest *tr = select_split(m, SPLIT_TRAIN), *dv = select_split(m, SPLIT_DEV), *te = select_split(m, SPLIT_TEST);
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/fold%d", out, f);
        if (import_mkdirs(dir, &err) || write_part(dir, "train.jsonl", tr, &err) || write_part(dir, "test.jsonl", te, &err) ||
            (dv->n && write_part(dir, "dev.jsonl", dv, &err)))
            rc = cli_fail(cmd, "%s", err.msg);
        int shared = split_speaker_overlap(tr, te) + split_speaker_overlap(dv, te);
        printf("fold %d: train %d, dev %d, test %d utterances; speakers shared by train/dev and test: %d\n", f, tr->n,
               dv->n, te->n, shared);
        if (shared && !overlap) rc = cli_fail(cmd, "fold %d: train and test share %d speakers (internal error)", f, shared);
        names[f] = malloc(16);
        snprintf(names[f], 16, "fold%d", f);
        tests[f] = te;
        manifest_free(tr);
        manifest_free(dv);
    }
    if (rc == CLI_OK) {
        printf("\nper fold (the utterances each fold tests on):\n");
        split_report(stdout, (const Manifest *const *)tests, (const char *const *)names, k);
    }
    for (int f = 0; f < k; f++) {
        manifest_free(tests[f]);
        free(names[f]);
    }
    free(tests);
    free(names);
    return rc;
}

static int run_ratios(const char *cmd, Manifest *m, const char *out, const double r[3], uint64_t seed, int overlap) {
    SercErr err = {{0}};
    if (split_speaker_train_dev_test(m, r, seed, overlap, &err)) return cli_fail(cmd, "%s", err.msg);
    Manifest *p[3] = {select_split(m, SPLIT_TRAIN), select_split(m, SPLIT_DEV), select_split(m, SPLIT_TEST)};
    const char *names[3] = {"train", "dev", "test"};
    int rc = CLI_OK;
    if (write_part(out, "split.jsonl", m, &err) || write_part(out, "train.jsonl", p[0], &err) ||
        write_part(out, "dev.jsonl", p[1], &err) || write_part(out, "test.jsonl", p[2], &err))
        rc = cli_fail(cmd, "%s", err.msg);
    if (rc == CLI_OK) {
        split_report(stdout, (const Manifest *const *)p, names, 3);
        printf("speakers shared: train/test %d, train/dev %d, dev/test %d\n", split_speaker_overlap(p[0], p[2]),
               split_speaker_overlap(p[0], p[1]), split_speaker_overlap(p[1], p[2]));
    }
    for (int i = 0; i < 3; i++) manifest_free(p[i]);
    return rc;
}

int cmd_split(int argc, char **argv) {
    const char *cmd = "split";
    if (cli_wants_help(argc, argv)) {
        print_help();
        return CLI_OK;
    }
    const char *in = NULL, *out = NULL, *ratios = NULL;
    long folds = 0, seed = 0;
    double dev_frac = 0;
    int by_fold = 0, overlap = 0;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--out", &out))) {
        } else if ((r = cli_opt_int(argc, argv, &i, "--folds", &folds))) {
        } else if ((r = cli_opt_int(argc, argv, &i, "--seed", &seed))) {
        } else if ((r = cli_opt_str(argc, argv, &i, "--ratios", &ratios))) {
        } else if ((r = cli_opt_double(argc, argv, &i, "--dev-frac", &dev_frac))) {
        } else if (!strcmp(argv[i], "--by-fold")) {
            by_fold = r = 1;
        } else if (!strcmp(argv[i], "--allow-speaker-overlap")) {
            overlap = r = 1;
        } else if (argv[i][0] == '-') {
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        } else if (!in) {
            in = argv[i];
            r = 1;
        } else {
            return cli_usage_error(cmd, "more than one manifest given ('%s' and '%s')", in, argv[i]);
        }
        if (r < 0) return CLI_USAGE;
    }
    if (!in) return cli_usage_error(cmd, "no manifest given");
    if (!out) return cli_usage_error(cmd, "--out DIR is required");
    if ((folds > 0) + by_fold + (ratios != NULL) != 1)
        return cli_usage_error(cmd, "give exactly one of --folds K, --by-fold, --ratios A,B,C");
    if (folds && (folds < 2 || folds > 1000)) return cli_usage_error(cmd, "--folds must be in 2..1000, got %ld", folds);
    if (dev_frac < 0 || dev_frac >= 1) return cli_usage_error(cmd, "--dev-frac must be in [0, 1), got %g", dev_frac);
    double r[3] = {0, 0, 0};
    if (ratios && parse_ratios(ratios, r)) return cli_usage_error(cmd, "--ratios expects three numbers like 0.8,0.1,0.1");

    SercErr err = {{0}};
    Manifest *m = manifest_read(in, &err);
    if (!m) return cli_fail(cmd, "%s", err.msg);
    int rc;
    if (import_mkdirs(out, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
    } else if (ratios) {
        rc = run_ratios(cmd, m, out, r, (uint64_t)seed, overlap);
    } else {
        int k = (int)folds;
        if (by_fold) {
            k = split_check_folds(m, overlap, &err);
        } else if (split_speaker_kfold(m, k, (uint64_t)seed, overlap, &err)) {
            k = -1;
        }
        rc = k < 0 ? cli_fail(cmd, "%s", err.msg) : run_folds(cmd, m, out, k, dev_frac, (uint64_t)seed, overlap);
    }
    manifest_free(m);
    if (rc == CLI_OK) printf("wrote %s\n", out);
    return rc;
}
