/* serc prepare: import a corpus into a manifest and a label map. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "import.h"
#include "manifest.h"
#include "robust.h"

static void print_help(void) {
    printf("usage: serc prepare CORPUS --root DIR --out MANIFEST.jsonl [--labels SET] [--speaker-regex RE]\n"
           "                    [--include-song]\n\n"
           "Reads a corpus in its distributed layout and writes a manifest (docs/manifest.md) and the label\n"
           "map <corpus>.labels next to it. Audio is not decoded; every audio file must exist. Prints the\n"
           "utterance counts per class and per speaker.\n\n"
           "corpora:\n");
    for (int i = 0; i < IMPORT_N_CORPORA; i++) printf("  %-12s %s\n", IMPORT_CORPORA[i].name, IMPORT_CORPORA[i].summary);
    printf("  %-12s a noise manifest for `serc robust --noise real:FILE`: every audio file under --root (MUSAN\n"
           "  %-12s noise/, DEMAND, ...) with its duration; unreadable files are skipped and listed\n",
           "noise", "");
    printf("\noptions:\n"
           "  --root DIR           the corpus folder\n"
           "  --out FILE           manifest to write (folders created); audio paths are relative to its folder\n"
           "  --labels SET         label set, where the corpus has several (iemocap: 4, 4-noexc, 6, all;\n"
           "                       msp-podcast: 8, all; msp-improv: 4, all)\n"
           "  --speaker-regex RE   generic: POSIX extended regex on the file name, group 1 = speaker id\n"
           "  --include-song       ravdess: also import the sung recordings (vocal channel 02)\n\n"
           "Label mappings, folds and sources for each corpus: docs/manifest.md.\n");
}

/* serc prepare noise: no label map, every file probed. */
static int prepare_noise(const char *cmd, const ImportOptions *o) {
    SercErr err = {{0}};
    char *dir = manifest_dirname(o->out);
    Manifest *m = NULL;
    NoiseImportReport rep = {0};
    int rc = CLI_OK;
    if (import_mkdirs(dir, &err) || noise_import(o->root, o->out, &m, &rep, &err) || manifest_write(o->out, m, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
    } else {
        for (int i = 0; i < rep.unreadable; i++) printf("skipped (unreadable): %s\n", rep.bad[i]);
        printf("%d noise files (%.1f s) of %d found, %d unreadable skipped\nwrote %s\n", rep.kept, rep.total_seconds,
               rep.found, rep.unreadable, o->out);
    }
    noise_import_report_free(&rep);
    manifest_free(m);
    free(dir);
    return rc;
}

int cmd_prepare(int argc, char **argv) {
    const char *cmd = "prepare";
    if (cli_wants_help(argc, argv)) {
        print_help();
        return CLI_OK;
    }
    ImportOptions o = {0};
    const char *corpus = NULL;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = cli_opt_str(argc, argv, &i, "--root", &o.root))) {
        } else if ((r = cli_opt_str(argc, argv, &i, "--out", &o.out))) {
        } else if ((r = cli_opt_str(argc, argv, &i, "--labels", &o.labels))) {
        } else if ((r = cli_opt_str(argc, argv, &i, "--speaker-regex", &o.speaker_regex))) {
        } else if (!strcmp(argv[i], "--include-song")) {
            o.include_song = r = 1;
        } else if (argv[i][0] == '-') {
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        } else if (!corpus) {
            corpus = argv[i];
            r = 1;
        } else {
            return cli_usage_error(cmd, "more than one corpus given ('%s' and '%s')", corpus, argv[i]);
        }
        if (r < 0) return CLI_USAGE;
    }
    if (!corpus) return cli_usage_error(cmd, "no corpus given");
    if (!o.root) return cli_usage_error(cmd, "--root DIR is required");
    if (!o.out) return cli_usage_error(cmd, "--out FILE is required");
    if (!strcmp(corpus, "noise")) return prepare_noise(cmd, &o);
    SercErr err = {{0}};
    char *dir = manifest_dirname(o.out);
    if (import_mkdirs(dir, &err)) {
        free(dir);
        return cli_fail(cmd, "%s", err.msg);
    }
    Manifest *m = NULL;
    LabelMap *map = NULL;
    int rc = CLI_OK;
    if (import_corpus(corpus, &o, &m, &map, &err)) {
        rc = cli_fail(cmd, "%s", err.msg);
    } else {
        char *labels_path = import_path("%s/%s.labels", dir, corpus);
        if (manifest_write(o.out, m, &err) || labelmap_write(labels_path, map, &err)) {
            rc = cli_fail(cmd, "%s", err.msg);
        } else {
            import_report(stdout, m, map);
            printf("wrote %s and %s\n", o.out, labels_path);
        }
        free(labels_path);
    }
    manifest_free(m);
    labelmap_free(map);
    free(dir);
    return rc;
}
