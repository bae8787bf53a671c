/* Helpers shared by the Criterion suites (linked into every test binary with the op harness). */
#ifndef SERC_TESTS_TESTUTIL_H
#define SERC_TESTS_TESTUTIL_H

#include <stddef.h>

#include "config.h"

/* The whole file, NUL-terminated; *n (when not NULL) its length. Fails the test when it cannot be read. */
char *test_read_file(const char *path, size_t *n);

/* test_small_train_config(corpus, out, extra), then train_run quietly; fails the test on an error. The run
 * directory is out. */
void test_train_small(const char *corpus, const char *out, const char *const *extra);

/* Runs `SERC_BINARY args` (args: subcommand and options, shell-quoted as needed) in folder dir with stdout
 * and stderr to dir/out.txt and dir/err.txt; returns the exit status (fails the test when serc does not
 * exit normally). */
int test_run_serc(const char *dir, const char *args);

/* Removes path and everything below it (no error when it is absent). */
void test_remove_tree(const char *path);

/* Writes text to root/rel, creating the folders on the way (fake corpus trees). */
void test_put_file(const char *root, const char *rel, const char *text);

/* Renders a small corpus into mkdtemp(dir_template): the tiny preset cut to 12 speakers x 6 utterances,
 * the IEMOCAP 4 classes, no noisy conditions (train/dev/test/all manifests, a few seconds). */
void test_render_small_corpus(char *dir_template);

/* A configuration that trains in seconds on that corpus: TDNN 2 x 32, dim 32, 4 heads, 24 mels, 1.5 s
 * crops, CE + focal + center, batch 8, 2 epochs; data.* point at corpus, run.out at out; then each
 * "key=value" of extra (NULL-terminated, may be NULL) is applied and the result validated. */
void test_small_train_config(TrainConfig *cfg, const char *corpus, const char *out, const char *const *extra);

#endif
