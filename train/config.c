/* The training configuration: schema table, file reader, --set, writer and documentation. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config_toml.h"
#include "fileio.h"

typedef enum ConfigType { CFG_STRING, CFG_INT, CFG_FLOAT, CFG_BOOL, CFG_INT_ARRAY, CFG_STRING_ARRAY } ConfigType;

/* Range flags: bounds are inclusive unless marked open; arrays may be required non-empty. */
enum { CFG_MIN_OPEN = 1, CFG_MAX_OPEN = 2, CFG_NONEMPTY = 4, CFG_NO_MIN = 8, CFG_NO_MAX = 16 };

typedef struct ConfigKey {
    const char *section, *key;
    ConfigType type;
    const char *def;     /* default, as TOML text read by the same parser */
    double min, max;     /* range of numbers (of each element for int arrays) */
    int flags;
    const char *choices; /* "a,b,c": allowed strings; NULL = any */
    const char *doc;
    size_t offset;       /* of the field in TrainConfig */
} ConfigKey;

/* K(section, key, type, default, min, max, flags, choices, doc); NONNEG and POS stand for min, max, flags */
#define K_(sec, name, type, def, lo, hi, flags, choices, doc) \
    {#sec, #name, type, def, lo, hi, flags, choices, doc, offsetof(TrainConfig, sec.name)}
#define K(...) K_(__VA_ARGS__)
#define NONNEG 0, 0, CFG_NO_MAX
#define POS 0, 0, CFG_MIN_OPEN | CFG_NO_MAX

static const ConfigKey SCHEMA[] = {
    K(data, train, CFG_STRING, "\"\"", 0, 0, 0, NULL, "Training manifest (JSONL, docs/manifest.md)."),
    K(data, dev, CFG_STRING, "\"\"", 0, 0, 0, NULL,
      "Development manifest, used for early stopping and model selection; \"\" = none."),
    K(data, test, CFG_STRING, "\"\"", 0, 0, 0, NULL, "Test manifest, evaluated with the best checkpoint; \"\" = none."),
    K(data, labels, CFG_STRING, "\"\"", 0, 0, 0, NULL,
      "Label map file (one class name a line, in class-index order); \"\" = derive it from the manifests "
      "(sorted class names)."),
    K(data, classes, CFG_STRING_ARRAY, "[]", 0, 0, 0, NULL,
      "Classes to keep, in this index order; utterances of other classes are dropped. [] = every class."),
    K(data, preset, CFG_STRING, "\"kaldi\"", 0, 0, 0, "torchaudio,kaldi,whisper,librosa",
      "Log-mel feature preset (docs/features.md)."),
    K(data, n_mels, CFG_INT, "80", 1, 512, 0, NULL, "Mel bands."),
    K(data, features, CFG_STRING, "\"\"", 0, 0, 0, NULL,
      "Cached encoder features (`serc embed --manifest`, docs/encoders.md) read instead of audio: every "
      "utterance of the manifests is looked up by id; \"\" = log-mel from audio."),
    K(data, feature_layers, CFG_STRING, "\"all\"", 0, 0, 0, NULL,
      "Hidden states of data.features the model reads: all (a learnable softmax-weighted sum, the SUPERB "
      "protocol), last, or indices such as \"6\" or \"0,6,12\" (several are summed with learned weights)."),
    K(data, sample_rate, CFG_INT, "16000", 8000, 192000, 0, NULL, "Audio is resampled to this rate (Hz)."),
    K(data, max_seconds, CFG_FLOAT, "6.0", POS, NULL,
      "Training crop: longer utterances are cut to a random window of this many seconds."),
    K(data, eval_max_seconds, CFG_FLOAT, "0.0", NONNEG, NULL,
      "Evaluation crop in seconds (from the start); 0 = whole utterances."),
    K(data, workers, CFG_INT, "2", 0, 64, 0, NULL, "Data-loading threads; 0 = load in the training thread."),
    K(data, bucket, CFG_BOOL, "true", 0, 0, 0, NULL, "Batch utterances of similar length together (less padding)."),
    K(data, skip_bad, CFG_BOOL, "true", 0, 0, 0, NULL,
      "Skip unreadable or empty audio with a warning instead of stopping."),

    K(model, frontend, CFG_STRING, "\"cnn2d\"", 0, 0, 0, "cnn2d,tdnn,none",
      "Front end on the input frames: a 2-D CNN stack, a 1-D TDNN stack, or none (frames straight into "
      "input_proj: the usual choice on encoder features)."),
    K(model, cnn_channels, CFG_INT_ARRAY, "[32, 64]", 1, 1024, CFG_NONEMPTY, NULL,
      "Output channels of each CNN block (conv, batch norm, ReLU, pooling)."),
    K(model, freq_pool_only, CFG_BOOL, "false", 0, 0, 0, NULL,
      "CNN pooling over frequency only, keeping every frame (no time downsampling)."),
    K(model, tdnn_dims, CFG_INT_ARRAY, "[128, 128, 128]", 1, 4096, CFG_NONEMPTY, NULL,
      "Output width of each TDNN layer."),
    K(model, dim, CFG_INT, "128", 1, 4096, 0, NULL, "Frame embedding width after the front end (the width FLAM works in)."),
    K(model, flam, CFG_BOOL, "true", 0, 0, 0, NULL,
      "Frame-level attention module: multi-head self-attention over frames with a residual."),
    K(model, heads, CFG_INT, "16", 1, 256, 0, NULL, "Attention heads in FLAM; must divide model.dim."),
    K(model, pooling, CFG_STRING, "\"attention\"", 0, 0, 0, "attention,stats,mean",
      "Utterance pooling: attention (learnable projection vector, FLAM's), stats (attentive statistics: "
      "weighted mean and standard deviation) or mean (masked mean)."),
    K(model, head_hidden, CFG_INT, "128", 0, 8192, 0, NULL,
      "Width of the classifier's Linear-LayerNorm-ReLU-Dropout block; 0 = a single Linear."),
    K(model, dropout, CFG_FLOAT, "0.3", 0, 1, CFG_MAX_OPEN, NULL, "Dropout probability in the heads."),
    K(model, proj_dim, CFG_INT, "64", 1, 4096, 0, NULL,
      "Width of the projection head used by the center and supervised contrastive losses."),
    K(model, avd, CFG_BOOL, "false", 0, 0, 0, NULL,
      "Add an arousal/valence/dominance regression head (needs A/V/D in the manifests)."),
    K(model, edrl, CFG_BOOL, "false", 0, 0, 0, NULL,
      "Emotion-disentangled representation learning: intra-class branch of per-class blocks and inter-class "
      "branch after pooling; the classifier reads their concatenation (docs/methods.md, EDRL-MEA)."),
    K(model, edrl_block_dim, CFG_INT, "16", 1, 4096, 0, NULL, "Width of each class block of EDRL's intra-class branch."),
    K(model, edrl_shared_dim, CFG_INT, "64", 1, 4096, 0, NULL, "Width of EDRL's inter-class (shared) branch."),
    K(model, text_encoder, CFG_STRING, "\"\"", 0, 0, 0, NULL,
      "MATER's text branch: folder of a Hugging Face BERT or RoBERTa checkpoint with its tokenizer (frozen, not "
      "in the checkpoint; docs/encoders.md), run on each utterance's manifest words (or transcript); \"\" = "
      "audio only (docs/methods.md, MATER)."),
    K(model, text_layer, CFG_INT, "-1", -64, 64, 0, NULL,
      "Hidden state of the text encoder MATER reads: -1 the last layer, 0 the embeddings, negative counts from "
      "the last."),
    K(model, mater_levels, CFG_STRING_ARRAY, "[\"word\", \"utterance\", \"embedding\"]", 0, 0, 0, NULL,
      "MATER fusion levels, any of word (word-aligned frames and word vectors), utterance (pooled audio and "
      "text) and embedding (late fusion of the audio-only and text-only heads); the logits are the mean of "
      "the levels'."),
    K(model, mater_utt_fusion, CFG_STRING, "\"concat\"", 0, 0, 0, "concat,cross",
      "MATER utterance level: concat (Linear over [pooled audio, mean text]) or cross (frames attend to the "
      "text tokens, then mean over frames)."),
    K(model, mater_text_only, CFG_BOOL, "false", 0, 0, 0, NULL,
      "MATER: the text head alone (no audio); model.mater_levels is then ignored."),
    K(model, mater_dim, CFG_INT, "128", 1, 4096, 0, NULL, "MATER fusion width."),
    K(model, mater_heads, CFG_INT, "4", 1, 256, 0, NULL,
      "Attention heads of MATER's word block and cross attention; must divide model.mater_dim."),
    K(model, emosphere, CFG_BOOL, "false", 0, 0, 0, NULL,
      "EmoSphere-SER: the A/V/D head (implied) regresses A/V/D normalised from 1..7 to [-1, 1] and an octant "
      "head classifies the sign pattern of (A, V, D); evaluation maps back to 1..7 (docs/methods.md, "
      "EmoSphere-SER). Audio only."),

    K(loss, ce, CFG_FLOAT, "1.0", NONNEG, NULL, "Weight of cross-entropy."),
    K(loss, focal, CFG_FLOAT, "0.0", NONNEG, NULL, "Weight of focal loss."),
    K(loss, focal_gamma, CFG_FLOAT, "2.0", NONNEG, NULL, "Focusing parameter gamma of focal loss."),
    K(loss, kl, CFG_FLOAT, "0.0", NONNEG, NULL,
      "Weight of KL divergence against soft targets (EAM mixtures, rater distributions)."),
    K(loss, center, CFG_FLOAT, "0.0", NONNEG, NULL, "Weight of center loss (in the projection space)."),
    K(loss, center_lr, CFG_FLOAT, "0.005", POS, NULL, "Learning rate of the class centers."),
    K(loss, supcon, CFG_FLOAT, "0.0", NONNEG, NULL, "Weight of supervised contrastive loss."),
    K(loss, temperature, CFG_FLOAT, "0.1", POS, NULL, "Temperature of supervised contrastive loss."),
    K(loss, ccc, CFG_FLOAT, "0.0", NONNEG, NULL, "Weight of the 1 - CCC loss summed over A/V/D (needs model.avd)."),
    K(loss, label_smoothing, CFG_FLOAT, "0.0", 0, 1, CFG_MAX_OPEN, NULL, "Label smoothing of cross-entropy."),
    K(loss, class_weights, CFG_BOOL, "true", 0, 0, 0, NULL,
      "Weight classes by N / (C * count_c) from the training set (the SERNC baseline's choice)."),
    K(loss, normalise, CFG_BOOL, "false", 0, 0, 0, NULL,
      "Normalise each loss term to [0, 1] before the weighted sum (the multi-loss recipe)."),
    K(loss, edrl_intra, CFG_FLOAT, "1.0", NONNEG, NULL,
      "EDRL: weight of cross-entropy on the block scores (class c scored from its own block only)."),
    K(loss, edrl_recon, CFG_FLOAT, "0.5", NONNEG, NULL,
      "EDRL: weight of the inter-class branch's reconstruction of the input's log-mel mean and std."),
    K(loss, edrl_orth, CFG_FLOAT, "0.1", NONNEG, NULL,
      "EDRL: weight of the decorrelation of the intra-class and inter-class branches over the batch."),
    K(loss, mater_heads, CFG_FLOAT, "1.0", NONNEG, NULL,
      "MATER: weight of cross-entropy on each head's own logits (word, utterance, audio-only, text-only), "
      "averaged over the heads, beside the loss on the combined logits."),
    K(loss, ldl, CFG_FLOAT, "0.0", NONNEG, NULL,
      "Weight of the EM2LDL label-distribution loss KL(t || softmax) + loss.ldl_cos (1 - cosine) against the "
      "manifest's label_dist (one-hot where absent)."),
    K(loss, ldl_cos, CFG_FLOAT, "0.3", NONNEG, NULL, "Weight of (1 - cosine similarity) inside loss.ldl."),
    K(loss, sphere_aux, CFG_FLOAT, "1.0", NONNEG, NULL,
      "EmoSphere-SER: weight of the class-weighted octant cross-entropy, times the decay 1 - (epoch / "
      "loss.sphere_aux_epochs) 0.99 (needs model.emosphere)."),
    K(loss, sphere_aux_epochs, CFG_INT, "5", 0, 100000, 0, NULL,
      "EmoSphere-SER: epochs the octant loss is kept (decaying); dropped from this 0-based epoch on."),

    K(eam, enabled, CFG_BOOL, "false", 0, 0, 0, NULL, "Energy-adaptive mixup on training waveforms (docs/methods.md)."),
    K(eam, prob, CFG_FLOAT, "0.5", 0, 1, 0, NULL, "Probability that a training utterance is mixed."),
    K(eam, snr_min, CFG_FLOAT, "-5.0", -60, 60, 0, NULL, "Lower end of the SNR draw (dB); at most eam.snr_max."),
    K(eam, snr_max, CFG_FLOAT, "10.0", -60, 60, 0, NULL, "Upper end of the SNR draw (dB)."),
    K(eam, min_fraction, CFG_FLOAT, "0.1", 0, 0.5, CFG_MAX_OPEN, NULL,
      "Shortest mixed segment as a fraction of the utterance (the longest is just under half)."),

    K(mea, components, CFG_INT, "0", 0, 4096, 0, NULL,
      "Multiblock embedding alignment: MBPLS components fitted on the training set's EDRL embeddings after "
      "training, with a classifier on the aligned scores; 0 = off (needs model.edrl)."),
    K(mea, blocks, CFG_STRING, "\"class\"", 0, 0, 0, "class,branch",
      "MBPLS blocks: class (each class block of the intra-class branch, and the inter-class branch) or "
      "branch (the two branches)."),
    K(mea, response, CFG_STRING, "\"input\"", 0, 0, 0, "input,labels",
      "MBPLS response: input (each utterance's log-mel mean and std, covariance with the speech input) or "
      "labels (one-hot classes, PLS-DA; an ablation)."),
    K(mea, standardize, CFG_BOOL, "true", 0, 0, 0, NULL, "Standardise blocks and response before MBPLS (mbpls's default)."),
    K(mea, l2, CFG_FLOAT, "0.001", NONNEG, NULL, "L2 penalty of the logistic-regression classifier on the aligned scores."),
    K(mea, steps, CFG_INT, "500", 1, 1000000, 0, NULL, "Full-batch gradient steps of that classifier."),

    K(optim, lr, CFG_FLOAT, "0.001", POS, NULL, "Peak learning rate of AdamW."),
    K(optim, weight_decay, CFG_FLOAT, "0.01", NONNEG, NULL, "Decoupled weight decay of AdamW."),
    K(optim, schedule, CFG_STRING, "\"exp\"", 0, 0, 0, "exp,cosine,constant",
      "Learning-rate schedule after warm-up: exp (times optim.decay each epoch), cosine (to 0 at the "
      "last step) or constant."),
    K(optim, decay, CFG_FLOAT, "0.875", 0, 1, CFG_MIN_OPEN, NULL, "Per-epoch factor of the exp schedule (7/8)."),
    K(optim, warmup_steps, CFG_INT, "0", 0, INT_MAX, 0, NULL, "Optimiser steps of linear warm-up."),
    K(optim, clip, CFG_FLOAT, "5.0", NONNEG, NULL, "Global gradient-norm clipping; 0 = off."),
    K(optim, accumulate, CFG_INT, "1", 1, 1024, 0, NULL, "Batches whose gradients are summed per optimiser step."),
    K(optim, batch, CFG_INT, "16", 1, 65536, 0, NULL, "Utterances per batch."),
    K(optim, epochs, CFG_INT, "20", 1, 100000, 0, NULL, "Training epochs."),
    K(optim, early_stop, CFG_STRING, "\"ua\"", 0, 0, 0, "ua,wa,macro_f1,loss,ccc,none",
      "Development metric that selects the best checkpoint and stops training when it stalls; none = "
      "train every epoch and keep the last."),
    K(optim, patience, CFG_INT, "5", 1, 100000, 0, NULL, "Epochs without improvement before stopping."),

    K(run, seed, CFG_INT, "0", 0, INT_MAX, 0, NULL, "Seed of every random draw (Philox)."),
    K(run, out, CFG_STRING, "\"runs/default\"", 0, 0, 0, NULL, "Run directory."),
    K(run, log_every, CFG_INT, "10", 1, INT_MAX, 0, NULL, "Optimiser steps between log lines."),
    K(run, threads, CFG_INT, "0", 0, 1024, 0, NULL, "CPU threads; 0 = SERC_THREADS, or every core."),
};
#define N_KEYS ((int)(sizeof SCHEMA / sizeof SCHEMA[0]))

static const char *const SECTIONS[] = {"data", "model", "loss", "eam", "mea", "optim", "run"};
static const char *const SECTION_DOCS[] = {
    "Manifests, labels and features.",
    "Architecture.",
    "Loss terms: each weight multiplies its term; 0 turns it off.",
    "Energy-adaptive mixup.",
    "Multiblock embedding alignment of EDRL embeddings (EDRL-MEA), fitted after training.",
    "Optimiser, schedule and stopping.",
    "Run directory, seed, logging and threads.",
};
#define N_SECTIONS ((int)(sizeof SECTIONS / sizeof SECTIONS[0]))

static void *field(TrainConfig *cfg, const ConfigKey *k) { return (char *)cfg + k->offset; }
static const void *cfield(const TrainConfig *cfg, const ConfigKey *k) { return (const char *)cfg + k->offset; }

static int find_section(const char *name) {
    for (int s = 0; s < N_SECTIONS; s++)
        if (!strcmp(SECTIONS[s], name)) return s;
    return -1;
}

static int find_key(const char *section, const char *key) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(SCHEMA[i].section, section) && !strcmp(SCHEMA[i].key, key)) return i;
    return -1;
}

static void strings_free(ConfigStrings *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL, s->n = 0;
}

/* ---- checking and storing one value ---- */

static int out_of_range(const ConfigKey *k, double v) {
    if (!(k->flags & CFG_NO_MIN) && (v < k->min || ((k->flags & CFG_MIN_OPEN) && v == k->min))) return 1;
    if (!(k->flags & CFG_NO_MAX) && (v > k->max || ((k->flags & CFG_MAX_OPEN) && v == k->max))) return 1;
    return 0;
}

/* "in [0, 1)", "> 0", ">= 0", "in [1, 512]" */
static void describe_range(const ConfigKey *k, char *buf, size_t n) {
    int lo = !(k->flags & CFG_NO_MIN), hi = !(k->flags & CFG_NO_MAX);
    const char *lo_op = (k->flags & CFG_MIN_OPEN) ? ">" : ">=", *hi_op = (k->flags & CFG_MAX_OPEN) ? "<" : "<=";
    if (lo && hi)
        snprintf(buf, n, "in %c%.10g, %.10g%c", (k->flags & CFG_MIN_OPEN) ? '(' : '[', k->min, k->max,
                 (k->flags & CFG_MAX_OPEN) ? ')' : ']');
    else if (lo) snprintf(buf, n, "%s %.10g", lo_op, k->min);
    else if (hi) snprintf(buf, n, "%s %.10g", hi_op, k->max);
    else buf[0] = 0;
}

static int in_choices(const char *choices, const char *s) {
    size_t len = strlen(s);
    for (const char *p = choices; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == len && !strncmp(p, s, l)) return 1;
        p += l + (e ? 1 : 0);
    }
    return 0;
}

static const char *type_name(ConfigType t) {
    static const char *const names[] = {"string", "int", "float", "bool", "int-array", "string-array"};
    return names[t];
}

/* Checks v against key k and stores it in cfg. Message (without place) in msg on failure. */
static int store_value(TrainConfig *cfg, const ConfigKey *k, const TomlValue *v, char *msg, size_t n) {
    char range[64];
    describe_range(k, range, sizeof range);
    switch (k->type) {
    case CFG_STRING:
        if (v->kind != TV_STRING)
            return snprintf(msg, n, "%s.%s must be a string, got %s", k->section, k->key, toml_kind_name(v->kind)), -1;
        if (k->choices && !in_choices(k->choices, v->s))
            return snprintf(msg, n, "%s.%s must be one of %s, got \"%s\"", k->section, k->key, k->choices, v->s), -1;
        free(*(char **)field(cfg, k));
        *(char **)field(cfg, k) = serc_strdup(v->s);
        return 0;
    case CFG_INT:
        if (v->kind != TV_INT)
            return snprintf(msg, n, "%s.%s must be an integer, got %s", k->section, k->key, toml_kind_name(v->kind)), -1;
        if (v->i < INT_MIN || v->i > INT_MAX || out_of_range(k, (double)v->i))
            return snprintf(msg, n, "%s.%s must be %s, got %lld", k->section, k->key, range, (long long)v->i), -1;
        *(int *)field(cfg, k) = (int)v->i;
        return 0;
    case CFG_FLOAT:
        if (v->kind != TV_FLOAT && v->kind != TV_INT)
            return snprintf(msg, n, "%s.%s must be a number, got %s", k->section, k->key, toml_kind_name(v->kind)), -1;
        if (out_of_range(k, v->f))
            return snprintf(msg, n, "%s.%s must be %s, got %g", k->section, k->key, range, v->f), -1;
        *(double *)field(cfg, k) = v->f;
        return 0;
    case CFG_BOOL:
        if (v->kind != TV_BOOL)
            return snprintf(msg, n, "%s.%s must be true or false, got %s", k->section, k->key, toml_kind_name(v->kind)), -1;
        *(int *)field(cfg, k) = v->b;
        return 0;
    case CFG_INT_ARRAY: {
        if (v->kind != TV_ARRAY)
            return snprintf(msg, n, "%s.%s must be an array of integers, got %s", k->section, k->key,
                            toml_kind_name(v->kind)), -1;
        if (v->n > CONFIG_MAX_INTS)
            return snprintf(msg, n, "%s.%s holds at most %d integers, got %d", k->section, k->key, CONFIG_MAX_INTS, v->n), -1;
        if ((k->flags & CFG_NONEMPTY) && v->n == 0)
            return snprintf(msg, n, "%s.%s must not be empty", k->section, k->key), -1;
        ConfigInts out = {0};
        for (int i = 0; i < v->n; i++) {
            const TomlValue *it = &v->items[i];
            if (it->kind != TV_INT)
                return snprintf(msg, n, "%s.%s must be an array of integers, element %d is %s", k->section, k->key,
                                i + 1, toml_kind_name(it->kind)), -1;
            if (it->i < INT_MIN || it->i > INT_MAX || out_of_range(k, (double)it->i))
                return snprintf(msg, n, "%s.%s: element %d must be %s, got %lld", k->section, k->key, i + 1, range,
                                (long long)it->i), -1;
            out.v[out.n++] = (int)it->i;
        }
        *(ConfigInts *)field(cfg, k) = out;
        return 0;
    }
    case CFG_STRING_ARRAY: {
        if (v->kind != TV_ARRAY || (v->n > 0 && v->items[0].kind != TV_STRING))
            return snprintf(msg, n, "%s.%s must be an array of strings, got %s", k->section, k->key,
                            v->kind == TV_ARRAY ? "an array of numbers" : toml_kind_name(v->kind)), -1;
        if ((k->flags & CFG_NONEMPTY) && v->n == 0)
            return snprintf(msg, n, "%s.%s must not be empty", k->section, k->key), -1;
        ConfigStrings *s = field(cfg, k);
        strings_free(s);
        s->v = v->n ? serc_malloc((size_t)v->n * sizeof(char *)) : NULL;
        for (int i = 0; i < v->n; i++) s->v[i] = serc_strdup(v->items[i].s);
        s->n = v->n;
        return 0;
    }
    }
    return -1;
}

/* ---- unknown names: "did you mean" or the list ---- */

static void suggest(char *out, size_t n, const char *name, const char *section) {
    const char *best = NULL;
    int best_d = 1 << 20;
    size_t used = 0;
    for (int i = 0; i < (section ? N_KEYS : N_SECTIONS); i++) {
        if (section && strcmp(SCHEMA[i].section, section)) continue;
        const char *cand = section ? SCHEMA[i].key : SECTIONS[i];
        int d = toml_edit_distance(name, cand);
        if (d < best_d) best_d = d, best = cand;
    }
    int close = best && best_d <= 2 && (size_t)best_d < strlen(name);
    if (close) {
        snprintf(out, n, "; did you mean '%s'?", best);
        return;
    }
    used = (size_t)snprintf(out, n, "; valid %s: ", section ? "keys" : "sections");
    int first = 1;
    for (int i = 0; i < (section ? N_KEYS : N_SECTIONS) && used < n; i++) {
        if (section && strcmp(SCHEMA[i].section, section)) continue;
        used += (size_t)snprintf(out + used, n - used, "%s%s", first ? "" : ", ", section ? SCHEMA[i].key : SECTIONS[i]);
        first = 0;
    }
}

/* ---- file reader ---- */

static int is_bare(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }
static const char *skip_blank(const char *p) {
    while (*p == ' ' || *p == '\t') p++;
    return p;
}

/* One line (NUL-terminated, no newline). section: index of the current section or -1. */
static int parse_line(TrainConfig *cfg, const char *line, int *section, int *key_line, int *section_line, int lineno,
                      char *msg, size_t n) {
    const char *p = skip_blank(line);
    if (*p == '\0' || *p == '#') return 0;
    if (*p == '[') {
        if (p[1] == '[') return snprintf(msg, n, "arrays of tables ([[...]]) are not supported"), -1;
        p = skip_blank(p + 1);
        const char *s = p;
        while (is_bare(*p)) p++;
        size_t len = (size_t)(p - s);
        p = skip_blank(p);
        if (*p == '.') return snprintf(msg, n, "nested sections ([a.b]) are not supported"), -1;
        if (len == 0 || *p != ']') return snprintf(msg, n, "malformed section header (expected [name])"), -1;
        p = skip_blank(p + 1);
        if (*p != '\0' && *p != '#') return snprintf(msg, n, "unexpected '%.40s' after the section header", p), -1;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), s);
        int sec = find_section(name);
        if (sec < 0) {
            char hint[512];
            suggest(hint, sizeof hint, name, NULL);
            return snprintf(msg, n, "unknown section [%s]%s", name, hint), -1;
        }
        if (section_line[sec])
            return snprintf(msg, n, "duplicate section [%s] (first at line %d)", name, section_line[sec]), -1;
        section_line[sec] = lineno;
        *section = sec;
        return 0;
    }
    if (*p == '"' || *p == '\'') return snprintf(msg, n, "quoted keys are not supported"), -1;
    const char *s = p;
    while (is_bare(*p)) p++;
    size_t len = (size_t)(p - s);
    if (len == 0) return snprintf(msg, n, "expected a key or a [section], got '%.20s'", s), -1;
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(len < 63 ? len : 63), s);
    p = skip_blank(p);
    if (*p == '.') return snprintf(msg, n, "dotted keys (%s.…) are not supported; use a [section]", key), -1;
    if (*p != '=') return snprintf(msg, n, "expected '=' after key '%s'", key), -1;
    if (*section < 0) return snprintf(msg, n, "key '%s' outside a section (start with [data], [model], ...)", key), -1;
    const char *sec = SECTIONS[*section];
    int ki = find_key(sec, key);
    if (ki < 0) {
        char hint[512];
        suggest(hint, sizeof hint, key, sec);
        return snprintf(msg, n, "unknown key '%s' in [%s]%s", key, sec, hint), -1;
    }
    if (key_line[ki]) return snprintf(msg, n, "duplicate key '%s.%s' (first set at line %d)", sec, key, key_line[ki]), -1;
    key_line[ki] = lineno;
    TomlValue v;
    if (toml_parse_value(p + 1, &v, msg, n) != 0) return -1;
    int rc = store_value(cfg, &SCHEMA[ki], &v, msg, n);
    toml_value_free(&v);
    return rc;
}

int config_parse(TrainConfig *cfg, const char *buf, size_t len, const char *name, SercErr *err) {
    int key_line[N_KEYS] = {0}, section_line[N_SECTIONS] = {0}, section = -1, lineno = 0;
    char msg[900];
    char *line = serc_malloc(len + 1);
    size_t pos = 0;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) pos = 3; /* a UTF-8 byte-order mark is allowed */
    while (pos < len) {
        lineno++;
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - (buf + pos)) : len - pos;
        memcpy(line, buf + pos, l);
        line[l] = 0;
        pos += l + (nl ? 1 : 0);
        if (l > 0 && line[l - 1] == '\r') line[--l] = 0;
        int rc = -1;
        if (strlen(line) != l) snprintf(msg, sizeof msg, "NUL byte in the line");
        else rc = parse_line(cfg, line, &section, key_line, section_line, lineno, msg, sizeof msg);
        if (rc != 0) {
            free(line);
            return serc_fail(err, "%s:%d: %s", name, lineno, msg);
        }
    }
    free(line);
    return 0;
}

int config_load(TrainConfig *cfg, const char *path, SercErr *err) {
    config_free(cfg); /* cfg holds a configuration (or zeroes): release its strings before the defaults */
    config_default(cfg);
    size_t len;
    char *buf = file_read_all(path, &len, err);
    if (!buf) return -1;
    int rc = config_parse(cfg, buf, len, path, err);
    free(buf);
    return rc;
}

int config_set(TrainConfig *cfg, const char *assignment, SercErr *err) {
    const char *eq = strchr(assignment, '=');
    if (!eq) return serc_fail(err, "--set %s: expected SECTION.KEY=VALUE", assignment);
    char name[128], msg[900];
    const char *s = skip_blank(assignment), *e = eq;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    snprintf(name, sizeof name, "%.*s", (int)(e - s < 127 ? e - s : 127), s);
    char *dot = strchr(name, '.');
    if (!dot) return serc_fail(err, "--set %s: expected SECTION.KEY=VALUE", assignment);
    *dot = 0;
    const char *key = dot + 1;
    if (find_section(name) < 0) {
        suggest(msg, sizeof msg, name, NULL);
        return serc_fail(err, "--set %s: unknown section [%s]%s", assignment, name, msg);
    }
    int ki = find_key(name, key);
    if (ki < 0) {
        suggest(msg, sizeof msg, key, name);
        return serc_fail(err, "--set %s: unknown key '%s' in [%s]%s", assignment, key, name, msg);
    }
    const char *val = skip_blank(eq + 1);
    TomlValue v;
    memset(&v, 0, sizeof v);
    if (SCHEMA[ki].type == CFG_STRING && *val != '"') {
        /* unquoted string on the command line: the text itself */
        v.kind = TV_STRING;
        v.s = serc_strdup(val);
    } else if (toml_parse_value(val, &v, msg, sizeof msg) != 0) {
        return serc_fail(err, "--set %s: %s", assignment, msg);
    }
    int rc = store_value(cfg, &SCHEMA[ki], &v, msg, sizeof msg);
    toml_value_free(&v);
    return rc ? serc_fail(err, "--set %s: %s", assignment, msg) : 0;
}

int config_validate(const TrainConfig *cfg, SercErr *err) {
    if (cfg->eam.snr_min > cfg->eam.snr_max)
        return serc_fail(err, "config: eam.snr_min (%g) is above eam.snr_max (%g)", cfg->eam.snr_min, cfg->eam.snr_max);
    if (cfg->model.flam && cfg->model.dim % cfg->model.heads != 0)
        return serc_fail(err, "config: model.dim (%d) must be divisible by model.heads (%d)", cfg->model.dim,
                         cfg->model.heads);
    const ConfigStrings *c = &cfg->data.classes;
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(c->v[i], c->v[j])) return serc_fail(err, "config: data.classes names \"%s\" twice", c->v[i]);
    if (cfg->model.emosphere && cfg->model.text_encoder && cfg->model.text_encoder[0])
        return serc_fail(err, "config: model.emosphere is audio-only and does not combine with model.text_encoder");
    const ConfigStrings *lv = &cfg->model.mater_levels;
    for (int i = 0; i < lv->n; i++) {
        if (strcmp(lv->v[i], "word") && strcmp(lv->v[i], "utterance") && strcmp(lv->v[i], "embedding"))
            return serc_fail(err, "config: model.mater_levels: \"%s\" is not one of word, utterance, embedding", lv->v[i]);
        for (int j = 0; j < i; j++)
            if (!strcmp(lv->v[i], lv->v[j])) return serc_fail(err, "config: model.mater_levels names \"%s\" twice", lv->v[i]);
    }
    return 0;
}

/* ---- defaults, copies, comparison ---- */

void config_default(TrainConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < N_KEYS; i++) {
        TomlValue v;
        char msg[256];
        SERC_ASSERT(toml_parse_value(SCHEMA[i].def, &v, msg, sizeof msg) == 0, "bad default of %s.%s: %s",
                    SCHEMA[i].section, SCHEMA[i].key, msg);
        SERC_ASSERT(store_value(cfg, &SCHEMA[i], &v, msg, sizeof msg) == 0, "bad default: %s", msg);
        toml_value_free(&v);
    }
}

void config_free(TrainConfig *cfg) {
    for (int i = 0; i < N_KEYS; i++) {
        if (SCHEMA[i].type == CFG_STRING) free(*(char **)field(cfg, &SCHEMA[i]));
        if (SCHEMA[i].type == CFG_STRING_ARRAY) strings_free(field(cfg, &SCHEMA[i]));
    }
    memset(cfg, 0, sizeof *cfg);
}

void config_copy(TrainConfig *dst, const TrainConfig *src) {
    *dst = *src;
    for (int i = 0; i < N_KEYS; i++) {
        const ConfigKey *k = &SCHEMA[i];
        if (k->type == CFG_STRING) *(char **)field(dst, k) = serc_strdup(*(char *const *)cfield(src, k));
        if (k->type == CFG_STRING_ARRAY) {
            const ConfigStrings *s = cfield(src, k);
            ConfigStrings *d = field(dst, k);
            d->v = s->n ? serc_malloc((size_t)s->n * sizeof(char *)) : NULL;
            for (int j = 0; j < s->n; j++) d->v[j] = serc_strdup(s->v[j]);
        }
    }
}

int config_equal(const TrainConfig *a, const TrainConfig *b) {
    for (int i = 0; i < N_KEYS; i++) {
        const ConfigKey *k = &SCHEMA[i];
        const void *x = cfield(a, k), *y = cfield(b, k);
        switch (k->type) {
        case CFG_STRING:
            if (strcmp(*(char *const *)x, *(char *const *)y)) return 0;
            break;
        case CFG_INT:
        case CFG_BOOL:
            if (*(const int *)x != *(const int *)y) return 0;
            break;
        case CFG_FLOAT:
            if (*(const double *)x != *(const double *)y) return 0;
            break;
        case CFG_INT_ARRAY: {
            const ConfigInts *p = x, *q = y;
            if (p->n != q->n || memcmp(p->v, q->v, (size_t)p->n * sizeof(int))) return 0;
            break;
        }
        case CFG_STRING_ARRAY: {
            const ConfigStrings *p = x, *q = y;
            if (p->n != q->n) return 0;
            for (int j = 0; j < p->n; j++)
                if (strcmp(p->v[j], q->v[j])) return 0;
            break;
        }
        }
    }
    return 1;
}

/* ---- writer and documentation ---- */

static void write_value(FILE *f, const TrainConfig *cfg, const ConfigKey *k) {
    const void *x = cfield(cfg, k);
    char buf[64];
    switch (k->type) {
    case CFG_STRING: toml_write_string(f, *(char *const *)x); break;
    case CFG_INT: fprintf(f, "%d", *(const int *)x); break;
    case CFG_BOOL: fputs(*(const int *)x ? "true" : "false", f); break;
    case CFG_FLOAT: toml_format_float(*(const double *)x, buf, sizeof buf), fputs(buf, f); break;
    case CFG_INT_ARRAY: {
        const ConfigInts *a = x;
        fputc('[', f);
        for (int i = 0; i < a->n; i++) fprintf(f, "%s%d", i ? ", " : "", a->v[i]);
        fputc(']', f);
        break;
    }
    case CFG_STRING_ARRAY: {
        const ConfigStrings *a = x;
        fputc('[', f);
        for (int i = 0; i < a->n; i++) fputs(i ? ", " : "", f), toml_write_string(f, a->v[i]);
        fputc(']', f);
        break;
    }
    }
}

void config_write_file(const TrainConfig *cfg, FILE *f) {
    fputs("# SERC training configuration (every key; reference in docs/config.md)\n", f);
    for (int s = 0; s < N_SECTIONS; s++) {
        fprintf(f, "\n[%s]\n", SECTIONS[s]);
        for (int i = 0; i < N_KEYS; i++) {
            if (strcmp(SCHEMA[i].section, SECTIONS[s])) continue;
            fprintf(f, "%s = ", SCHEMA[i].key);
            write_value(f, cfg, &SCHEMA[i]);
            fputc('\n', f);
        }
    }
}

int config_write(const TrainConfig *cfg, const char *path, SercErr *err) {
    AtomicFile af;
    if (atomic_open(&af, path, 0, err) != 0) return -1;
    config_write_file(cfg, af.f);
    return atomic_commit(&af, err);
}

void config_print_doc(FILE *f) {
    TrainConfig def;
    config_default(&def);
    for (int s = 0; s < N_SECTIONS; s++) {
        fprintf(f, "## [%s]\n\n%s\n\n| key | type | default | description |\n|---|---|---|---|\n", SECTIONS[s],
                SECTION_DOCS[s]);
        for (int i = 0; i < N_KEYS; i++) {
            const ConfigKey *k = &SCHEMA[i];
            if (strcmp(k->section, SECTIONS[s])) continue;
            fprintf(f, "| `%s.%s` | %s | `", k->section, k->key, type_name(k->type));
            write_value(f, &def, k);
            fprintf(f, "` | %s", k->doc);
            if (k->choices) {
                fputs(" One of:", f);
                for (const char *p = k->choices; *p;) {
                    const char *e = strchr(p, ',');
                    size_t l = e ? (size_t)(e - p) : strlen(p);
                    fprintf(f, "%s `%.*s`", p == k->choices ? "" : ",", (int)l, p);
                    p += l + (e ? 1 : 0);
                }
                fputc('.', f);
            }
            char range[64];
            if (k->type == CFG_INT || k->type == CFG_FLOAT || k->type == CFG_INT_ARRAY) {
                describe_range(k, range, sizeof range);
                if (range[0]) fprintf(f, " Range: %s%s.", k->type == CFG_INT_ARRAY ? "each " : "", range);
            }
            fputs(" |\n", f);
        }
        fputc('\n', f);
    }
    config_free(&def);
}

int config_key_count(void) { return N_KEYS; }

const char *config_key_name(int i, char *buf, size_t n) {
    SERC_ASSERT(i >= 0 && i < N_KEYS, "config_key_name: %d outside [0, %d)", i, N_KEYS);
    snprintf(buf, n, "%s.%s", SCHEMA[i].section, SCHEMA[i].key);
    return buf;
}
