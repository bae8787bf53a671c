/* Speaker-independent data splits: k-fold over speakers, leave-one-session-out from the `fold` field,
 * and train/dev/test by speaker. A speaker's utterances always land in one part, so train and test
 * share no speaker, unless allow_overlap asks for an utterance-level split (then speakers may overlap).
 *
 * Assignment (deterministic per seed, independent of the manifest's line order): groups (speakers, or
 * utterances with allow_overlap) are taken in decreasing utterance count, ties in an order drawn from
 * Philox(seed) over the sorted group names; each goes to the part furthest below its target
 * (target_i - assigned_i, the lowest index on a tie). With equal targets this is the classic greedy
 * "largest first into the emptiest fold", which keeps fold sizes within one speaker's count.
 */
#ifndef SERC_SPLIT_H
#define SERC_SPLIT_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "manifest.h"

/* Sets u->fold in [0, k) for every utterance of m, by speaker. Fails (naming the line) when an
 * utterance has no speaker and allow_overlap is 0, when k < 2, or when there are fewer speakers than
 * folds. */
int split_speaker_kfold(Manifest *m, int k, uint64_t seed, int allow_overlap, SercErr *err);

/* Sets u->split to train/dev/test by speaker with target fractions frac[0..3) of the utterances
 * (each >= 0, summing to 1 within 1e-6). Parts with a positive fraction get at least one speaker when
 * there are enough speakers. Same failure rules as split_speaker_kfold. */
int split_speaker_train_dev_test(Manifest *m, const double frac[3], uint64_t seed, int allow_overlap, SercErr *err);

/* Leave-one-session-out: checks that every utterance has a `fold` (IEMOCAP's importer writes
 * session - 1) and, unless allow_overlap, that no speaker appears in two folds. Returns the number
 * of folds (max fold + 1), or -1 with err naming the offending line. */
int split_check_folds(const Manifest *m, int allow_overlap, SercErr *err);

/* Moves a fraction dev_frac of the training utterances of m (those with split == SPLIT_TRAIN) into
 * SPLIT_DEV, by speaker, with the same greedy rule. */
int split_carve_dev(Manifest *m, double dev_frac, uint64_t seed, int allow_overlap, SercErr *err);

/* Number of distinct speakers that occur in both a and b (utterances without a speaker ignored). */
int split_speaker_overlap(const Manifest *a, const Manifest *b);

/* Prints a table, one row per part: name, utterances, speakers, then the utterance count of every
 * label seen in any part (columns in order of first appearance), and "-" for unlabelled ones. */
void split_report(FILE *f, const Manifest *const *parts, const char *const *names, int nparts);

#endif
