/* libFuzzer target: train/manifest.c (manifest_read, which opens a path: the input is written to an
 * in-memory file read as /proc/self/fd/N). When a manifest is accepted, it is written back with
 * manifest_write (into a private folder under /dev/shm or /tmp) and read again: the writer must accept
 * what the reader accepted, and the second read must give back the same utterances. */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char out_dir[PATH_MAX];
static char out_path[PATH_MAX];

static void cleanup(void) {
    unlink(out_path);
    rmdir(out_dir);
}

static void setup_out(void) {
    if (out_dir[0]) return;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(out_dir, sizeof out_dir, "%s/serc-fuzz-manifest.%d", base, (int)getpid());
    if (mkdir(out_dir, 0700) != 0 && errno != EEXIST) {
        perror(out_dir);
        abort();
    }
    snprintf(out_path, sizeof out_path, "%s/m.jsonl", out_dir);
    atexit(cleanup);
}

static int str_eq(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }
static int num_eq(double a, double b) { return memcmp(&a, &b, sizeof a) == 0 || a == b; }

#define MISMATCH(what) \
    do { \
        fprintf(stderr, "fuzz_manifest: utterance %d: %s differs after manifest_write + manifest_read\n", i, what); \
        abort(); \
    } while (0)

static void compare(const Manifest *a, const Manifest *b) {
    if (a->n != b->n) {
        fprintf(stderr, "fuzz_manifest: %d utterances read, %d after write + read\n", a->n, b->n);
        abort();
    }
    for (int i = 0; i < a->n; i++) {
        const Utterance *u = &a->utts[i], *v = &b->utts[i];
        if (!str_eq(u->id, v->id)) MISMATCH("id");
        if (!str_eq(u->audio_path, v->audio_path)) MISMATCH("audio_path");
        if (u->has_start != v->has_start || (u->has_start && !num_eq(u->start, v->start))) MISMATCH("start");
        if (u->has_end != v->has_end || (u->has_end && !num_eq(u->end, v->end))) MISMATCH("end");
        if (!str_eq(u->speaker, v->speaker)) MISMATCH("speaker");
        if (u->gender != v->gender) MISMATCH("gender");
        if (u->has_age != v->has_age || (u->has_age && !num_eq(u->age, v->age))) MISMATCH("age");
        if (!str_eq(u->label, v->label)) MISMATCH("label");
        if (u->n_dist != v->n_dist) MISMATCH("label_dist size");
        for (int k = 0; k < u->n_dist; k++)
            if (!str_eq(u->label_dist[k].name, v->label_dist[k].name) || !num_eq(u->label_dist[k].prob, v->label_dist[k].prob))
                MISMATCH("label_dist entry");
        if (u->has_arousal != v->has_arousal || (u->has_arousal && !num_eq(u->arousal, v->arousal))) MISMATCH("arousal");
        if (u->has_valence != v->has_valence || (u->has_valence && !num_eq(u->valence, v->valence))) MISMATCH("valence");
        if (u->has_dominance != v->has_dominance || (u->has_dominance && !num_eq(u->dominance, v->dominance)))
            MISMATCH("dominance");
        if (!str_eq(u->transcript, v->transcript)) MISMATCH("transcript");
        if (u->has_words != v->has_words || u->n_words != v->n_words) MISMATCH("words");
        for (int k = 0; k < u->n_words; k++)
            if (!str_eq(u->words[k].w, v->words[k].w) || !num_eq(u->words[k].start, v->words[k].start) ||
                !num_eq(u->words[k].end, v->words[k].end))
                MISMATCH("word");
        if (u->fold != v->fold) MISMATCH("fold");
        if (u->split != v->split) MISMATCH("split");
        if (!str_eq(u->split_name, v->split_name)) MISMATCH("split_name");
        if (!str_eq(u->corpus, v->corpus)) MISMATCH("corpus");
        if (!str_eq(u->condition, v->condition)) MISMATCH("condition");
        if (!str_eq(u->lang, v->lang)) MISMATCH("lang");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    SercErr err;
    const char *path = fuzz_write_file(data, size);
    Manifest *m = manifest_read(path, &err);
    if (!m) return 0; /* rejected: fine */
    setup_out();
    if (manifest_write(out_path, m, &err) != 0) {
        fprintf(stderr, "fuzz_manifest: manifest_write rejects a manifest manifest_read accepted: %s\n", err.msg);
        abort();
    }
    Manifest *m2 = manifest_read(out_path, &err);
    if (!m2) {
        fprintf(stderr, "fuzz_manifest: manifest_read rejects what manifest_write wrote: %s\n", err.msg);
        abort();
    }
    compare(m, m2);
    manifest_free(m2);
    manifest_free(m);
    return 0;
}
