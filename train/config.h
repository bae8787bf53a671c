/* The training configuration: a TOML file in a documented subset (docs/config.md), a schema table that
 * drives parsing, defaults, validation, writing and documentation, and `--set section.key=value`
 * overrides parsed by the same value parser.
 *
 * The TOML subset: `# comments`, one level of `[section]` headers, `key = value` with values
 *   basic strings "..." (escapes \" \\ \n \t \r \uXXXX), integers (42, -3), floats (0.5, 1e-4, -2.5E3),
 *   booleans (true, false), one-line arrays of numbers or of strings ([32, 64], ["a", "b"], [] ).
 * Rejected with "FILE:LINE: message": inline tables, multi-line arrays and strings, literal strings,
 * dotted or quoted keys, dates and times, nested or array-of-tables headers, duplicate keys and sections,
 * keys outside a section, unknown sections and keys (with a "did you mean" or the list of valid keys),
 * wrong types, out-of-range values, anything after a value but a comment. Every file is valid TOML 1.0,
 * and every key has a default, so an empty file is a complete configuration.
 */
#ifndef SERC_CONFIG_H
#define SERC_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "eam.h"
#include "error.h"

#define CONFIG_MAX_INTS 16

/* An int-array value: v[0..n). */
typedef struct ConfigInts {
    int n;
    int v[CONFIG_MAX_INTS];
} ConfigInts;

/* A string-array value: v[0..n), each owned. */
typedef struct ConfigStrings {
    int n;
    char **v;
} ConfigStrings;

/* Booleans are int (0 / 1); strings are owned, never NULL ("" = none). Meaning of each field: the doc
 * string of its schema entry (config.c), printed by config_print_doc into docs/config.md. */
typedef struct DataConfig {
    char *train, *dev, *test, *labels;
    ConfigStrings classes;
    char *preset;
    int n_mels, sample_rate;
    char *features, *feature_layers;
    double max_seconds, eval_max_seconds;
    int workers, bucket, skip_bad;
} DataConfig;

typedef struct ModelConfig {
    char *frontend;
    ConfigInts cnn_channels;
    int freq_pool_only;
    ConfigInts tdnn_dims;
    int dim, flam, heads;
    char *pooling;
    int head_hidden;
    double dropout;
    int proj_dim, avd;
    int edrl, edrl_block_dim, edrl_shared_dim;
    char *text_encoder;
    int text_layer;
    ConfigStrings mater_levels;
    char *mater_utt_fusion;
    int mater_text_only, mater_dim, mater_heads;
    int emosphere; /* EmoSphere-SER (issue 13) */
} ModelConfig;

typedef struct LossConfig {
    double ce, focal, focal_gamma, kl, center, center_lr, supcon, temperature, ccc, label_smoothing;
    int class_weights, normalise;
    double edrl_intra, edrl_recon, edrl_orth;
    double mater_heads;
    /* issue 13: label-distribution learning (EM2LDL) and EmoSphere-SER's auxiliary octant loss */
    double ldl, ldl_cos, sphere_aux;
    int sphere_aux_epochs;
} LossConfig;

typedef struct MeaConfig {
    int components;
    char *blocks, *response;
    int standardize;
    double l2;
    int steps;
} MeaConfig;

typedef struct OptimConfig {
    double lr, weight_decay;
    char *schedule;
    double decay;
    int warmup_steps;
    double clip;
    int accumulate, batch, epochs;
    char *early_stop;
    int patience;
} OptimConfig;

typedef struct RunConfig {
    int seed;
    char *out;
    int log_every, threads;
} RunConfig;

typedef struct TrainConfig {
    DataConfig data;
    ModelConfig model;
    LossConfig loss;
    EamConfig eam; /* enabled, prob, snr_min, snr_max, min_fraction */
    MeaConfig mea;
    OptimConfig optim;
    RunConfig run;
} TrainConfig;

/* Fills every key with its default (allocating the strings). Free with config_free. */
void config_default(TrainConfig *cfg);
void config_free(TrainConfig *cfg);
/* Deep copy; dst must not hold allocations (free it first). */
void config_copy(TrainConfig *dst, const TrainConfig *src);
/* 1 when every key has the same value (floats compared with ==). */
int config_equal(const TrainConfig *a, const TrainConfig *b);

/* Applies the TOML text buf[0..len) onto cfg (which holds defaults or an earlier state): keys the text
 * does not name keep their values. name is used in messages ("name:LINE: ..."). On error cfg may be
 * partly updated: discard it. */
int config_parse(TrainConfig *cfg, const char *buf, size_t len, const char *name, SercErr *err);
/* Resets cfg to the defaults, then applies the file at path. cfg must hold a configuration: one from
 * config_default, an earlier load, or the zeroes config_free leaves. */
int config_load(TrainConfig *cfg, const char *path, SercErr *err);

/* Applies one override "section.key=value" (spaces around '=' allowed). The value is parsed as in a
 * file, except that a string value may be written without quotes (--set run.out=runs/x). */
int config_set(TrainConfig *cfg, const char *assignment, SercErr *err);

/* Checks relations between keys, after the file and every --set: eam.snr_min <= eam.snr_max;
 * model.dim divisible by model.heads when model.flam; data.classes without duplicates; model.mater_levels
 * names known levels, each once. */
int config_validate(const TrainConfig *cfg, SercErr *err);

/* Writes every key, in schema order, as TOML that config_parse reads back to an equal config; each key
 * preceded by its doc as a comment. config_write goes through a temporary file and rename. */
void config_write_file(const TrainConfig *cfg, FILE *f);
int config_write(const TrainConfig *cfg, const char *path, SercErr *err);

/* Prints the reference of every key (Markdown: one table per section with key, type, default and
 * description); docs/config.md is a preamble followed by exactly this output. */
void config_print_doc(FILE *f);

/* Number of schema keys, and key i as "section.key" (for tests and shell completion). */
int config_key_count(void);
const char *config_key_name(int i, char *buf, size_t n);

#endif
