/* Corpus importers: read a corpus in its distributed layout and build a manifest and a label map
 * (docs/manifest.md, "Importers", gives each corpus's layout, label mapping and sources).
 *
 * Importers never decode audio: they check that each audio file exists. Errors in the corpus's own
 * label files name the file and line. Audio paths in the manifest are relative to the folder of the
 * manifest being written (ImportOptions.out).
 */
#ifndef SERC_IMPORT_H
#define SERC_IMPORT_H

#include <stdio.h>

#include "error.h"
#include "manifest.h"

typedef struct ImportOptions {
    const char *root;          /* corpus root folder */
    const char *out;           /* manifest path to be written (NULL: audio relative to the working dir) */
    const char *labels;        /* label set; NULL = the corpus default (see import_corpus_help) */
    const char *speaker_regex; /* generic: POSIX extended regex on the file name; group 1 = speaker */
    int include_song;          /* RAVDESS: also the sung recordings (vocal channel 02) */
} ImportOptions;

/* One importer: fills m (created with the manifest's folder) and map. */
typedef int (*ImportFn)(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err);

typedef struct ImportCorpus {
    const char *name;    /* as typed after `serc prepare` */
    const char *summary; /* one line for --help: layout and label sets */
    ImportFn run;
} ImportCorpus;

/* The table of importers and its length. */
extern const ImportCorpus IMPORT_CORPORA[];
extern const int IMPORT_N_CORPORA;

/* Runs the importer called `corpus`; on success *m and *map are owned by the caller. */
int import_corpus(const char *corpus, const ImportOptions *o, Manifest **m, LabelMap **map, SercErr *err);

int import_iemocap(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err);
int import_msp_podcast(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err);
int import_msp_improv(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err);
int import_ravdess(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err);
int import_crema_d(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err);
int import_savee(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err);
int import_emodb(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err);
int import_generic(const ImportOptions *o, Manifest *m, LabelMap *map, SercErr *err);

/* Prints utterances per class and per speaker (speakers summarised when there are many). */
void import_report(FILE *f, const Manifest *m, const LabelMap *map);

/* ---- helpers shared by the importers ---- */

/* mkdir -p. */
int import_mkdirs(const char *dir, SercErr *err);
int import_is_file(const char *path);
int import_is_dir(const char *path);
/* malloc'ed "a/b" (printf-style). */
char *import_path(const char *fmt, ...) SERC_PRINTF(1, 2);
/* Sorted names in dir (no "." entries, no hidden files); *n set; NULL with err when dir is unreadable. */
char **import_list_dir(const char *dir, int *n, SercErr *err);
/* All files under dir (recursively) whose name ends with ext (case-insensitive), sorted by path. */
char **import_find_files(const char *dir, const char *ext, int *n, SercErr *err);
void import_free_list(char **list, int n);

/* Adds an utterance for file `audio_file` (a path as found on disk): checks the file exists, sets id
 * and audio (relative to the manifest's folder). Fails naming `source` (a "file:line" or file) when the
 * audio file is missing. */
Utterance *import_add(Manifest *m, const char *id, const char *audio_file, const char *source, SercErr *err);

/* A text file split into lines (CR LF accepted, BOM skipped, must be valid UTF-8). */
typedef struct ImportLines {
    char *data;
    char **line;
    int n;
    const char *path;
} ImportLines;
int import_read_lines(const char *path, ImportLines *t, SercErr *err);
void import_free_lines(ImportLines *t);

/* Splits one CSV record (RFC 4180 quoting, no line breaks inside fields) into fields, in place.
 * Returns the field count, or -1 for an unterminated quote. */
int import_csv_split(char *line, char **fields, int max_fields);

/* A string -> int table (open addressing). */
typedef struct ImportTable {
    char **keys;
    int *vals;
    size_t cap, n;
} ImportTable;
void import_table_put(ImportTable *t, const char *key, int val);
int import_table_get(const ImportTable *t, const char *key); /* -1 when absent */
void import_table_free(ImportTable *t);

#endif
