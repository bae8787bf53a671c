/* The SERNC challenge (Speech Emotion Recognition in Naturalistic Conditions, Interspeech 2025, on
 * MSP-Podcast 1.12): its submission files and its scoring, behind `serc score`, `serc predict --format
 * sernc` and `serc eval --format sernc`. docs/sernc.md states every rule and how it matches the
 * challenge's own code (msplabresearch/MSP-Podcast_Challenge_IS2025 and the Odyssey 2024 scorer).
 *
 * Task 1 (categorical): one letter per file; macro-F1 over the files whose consensus class is one of the
 * 8 challenge classes (O and X rows are left out), as sklearn's f1_score(y_true, y_pred,
 * average="macro") without labels=: the mean F1 over the classes that occur in the truth or in the
 * predictions. Task 2 (attributes): CCC with population statistics per attribute over every file of the
 * split, and their mean.
 *
 * Files: labels_consensus.csv as distributed (FileName, EmoClass, EmoAct, EmoVal, EmoDom, Split_Set; other
 * columns ignored); submissions "FileName,EmoClass" and "FileName,EmoAct,EmoVal,EmoDom". CSV is read
 * with a byte-order mark skipped, CR LF accepted, RFC 4180 quotes, blank lines skipped, and spaces around
 * a field trimmed. Every refusal names the file and line.
 */
#ifndef SERC_SERNC_H
#define SERC_SERNC_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "json.h"
#include "metrics.h"

/* The 8 classes in the challenge baseline's order (its one-hot columns Angry, Sad, Happy, Surprise,
 * Fear, Disgust, Contempt, Neutral). */
#define SERNC_N_CLASSES 8
extern const char SERNC_LETTERS[SERNC_N_CLASSES + 1];          /* "ASHUFDCN" */
extern const char *const SERNC_CLASS_NAMES[SERNC_N_CLASSES]; /* "angry", ..., "neutral" */

/* Index 0..7 of a class given as its letter or its full name (angry, sad, happy, surprise, fear,
 * disgust, contempt, neutral), case-insensitive, spaces around it ignored; -1 otherwise. */
int sernc_class_index(const char *s);

/* to_sernc[c] = sernc_class_index(names[c]) for the n classes of a checkpoint's label map; fails naming
 * the first label that is neither a letter nor a full name (e.g. "other", "calm"). */
int sernc_label_map(const char *const *names, int n, int *to_sernc, SercErr *err);

typedef enum SerncTask { SERNC_CATEGORICAL = 1, SERNC_ATTRIBUTES = 2 } SerncTask;

/* Parses "categorical" / "attributes" (also "1" / "2"); 0 when neither. */
SerncTask sernc_task_parse(const char *s);

/* The rows of labels_consensus.csv. cls[i] is the EmoClass letter (one of NHSAUFDCOX); avd[3 i + k] is
 * EmoAct, EmoVal, EmoDom; line[i] its 1-based line in the file. */
typedef struct SerncLabels {
    const char *path;
    int n;
    char **file;
    char **split;
    char *cls;
    double *avd;
    int *line;
    struct ImportTable *index; /* FileName -> row */
} SerncLabels;

/* Reads labels_consensus.csv: the columns FileName, EmoClass, EmoAct, EmoVal, EmoDom and Split_Set must
 * be in the header; EmoClass one of N H S A U F D C O X; A/V/D finite numbers; FileName unique. */
int sernc_labels_read(const char *path, SerncLabels *l, SercErr *err);
void sernc_labels_free(SerncLabels *l);
/* Row of a FileName, or -1. */
int sernc_labels_find(const SerncLabels *l, const char *file);

/* A submission file as read: per row, the FileName, its line, and either the class index (task 1) or
 * the three attributes (task 2). */
typedef struct SerncSubmission {
    const char *path;
    SerncTask task;
    int n;
    char **file;
    int *line;
    int *cls;      /* (n) index into SERNC_LETTERS, task 1 */
    double *avd;   /* (n, 3) EmoAct, EmoVal, EmoDom, task 2 */
} SerncSubmission;

/* Reads a submission: the header must name exactly FileName,EmoClass (task 1) or
 * FileName,EmoAct,EmoVal,EmoDom (task 2), in any order; each row needs as many fields as the header; a
 * class is one of the letters A S H U F D C N (upper case), an attribute a finite number. Checks the file
 * on its own; sernc_score checks it against the labels. */
int sernc_submission_read(const char *path, SerncTask task, SerncSubmission *s, SercErr *err);
void sernc_submission_free(SerncSubmission *s);

/* A score. Task 1 fills cm (8 x 8, rows = truth, in SERNC_LETTERS order) and the F1 figures; task 2 the
 * CCCs. */
typedef struct SerncScore {
    SerncTask task;
    char split[128];
    int64_t rows;          /* files scored (task 1: those with one of the 8 classes as truth) */
    int64_t excluded;      /* task 1: files of the split whose truth is O or X (predicted, not scored) */
    Confusion cm;
    double macro_f1;       /* the challenge's figure: mean F1 over the classes true or predicted at least once */
    double macro_f1_all8;  /* mean F1 over all 8 classes (a class never seen counts 0) */
    int n_observed;        /* classes in macro_f1's mean */
    double precision[SERNC_N_CLASSES], recall[SERNC_N_CLASSES], f1[SERNC_N_CLASSES];
    int64_t support[SERNC_N_CLASSES], predicted[SERNC_N_CLASSES];
    double ccc[3];         /* arousal (EmoAct), valence (EmoVal), dominance (EmoDom) */
    double ccc_mean;
} SerncScore;

/* Task 1 figures from an 8 x 8 confusion matrix (taken over by s; the one computation behind both
 * `serc score` and `serc eval --format sernc`). */
void sernc_score_categorical(Confusion *cm8, SerncScore *s);
/* Task 2 figures from per-attribute CCCs (concordance_cc, population statistics) and their mean. */
void sernc_score_attributes(const double ccc[3], SerncScore *s);
void sernc_score_free(SerncScore *s);

/* Scores submission sub against labels. split: the Split_Set to score, or NULL for the one split whose
 * FileNames the submission lists. The submission must name every file of that split once (task 1: O and
 * X files too) and no other; otherwise it is refused naming the file and line at fault. */
int sernc_score(const SerncLabels *labels, const SerncSubmission *sub, const char *split, SerncScore *s,
                SercErr *err);

/* Prints a score as a table: task 1 the headline macro-F1, per-class precision, recall, F1, support and
 * predicted counts, and the confusion matrix; task 2 the CCCs. */
void sernc_score_print(const SerncScore *s, FILE *f);
/* One JSON object: task 1 {"task", "split", "rows", "excluded", "macro_f1", "macro_f1_all8"}; task 2
 * {"task", "split", "rows", "ccc_arousal", "ccc_valence", "ccc_dominance", "ccc_mean"}. */
void sernc_score_json(const SerncScore *s, JsonBuf *b);

/* Writes a task 1 submission to path atomically: header FileName,EmoClass and one row per file, FileName
 * = the base name of paths[i] (directory removed, extension kept), EmoClass = SERNC_LETTERS[cls[i]], rows
 * sorted by FileName (byte order). Fails when two paths share a base name. */
int sernc_write_categorical(const char *path, const char *const *paths, const int *cls, int n, SercErr *err);
/* The same for task 2: FileName,EmoAct,EmoVal,EmoDom from avd (n, 3) = arousal, valence, dominance on the
 * 1-7 scale, each clamped to [1, 7] as the challenge baseline writes them. */
int sernc_write_attributes(const char *path, const char *const *paths, const float *avd, int n, SercErr *err);

#endif
