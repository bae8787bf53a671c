#include "experiment.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "json.h"
#include "rng.h"

static void copy_str(char *dst, size_t n, const char *src) {
    snprintf(dst, n, "%s", src ? src : "");
}

LabelMap *experiment_labels(const TrainConfig *cfg, SercErr *err) {
    if (cfg->data.labels && cfg->data.labels[0]) return labelmap_read(cfg->data.labels, err);
    if (cfg->data.classes.n > 0) {
        LabelMap *m = labelmap_new();
        for (int i = 0; i < cfg->data.classes.n; i++) labelmap_add(m, cfg->data.classes.v[i]);
        return m;
    }
    if (!cfg->data.train || !cfg->data.train[0]) {
        serc_fail(err, "no label map: set data.labels or data.classes");
        return NULL;
    }
    /* the one *.labels file beside the training manifest (what importers and serc synth write) */
    char *dir = manifest_dirname(cfg->data.train);
    DIR *d = opendir(dir);
    char *found = NULL;
    int count = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t n = strlen(de->d_name);
            if (n > 7 && strcmp(de->d_name + n - 7, ".labels") == 0) {
                count++;
                free(found);
                found = manifest_path_join(dir, de->d_name);
            }
        }
        closedir(d);
    }
    LabelMap *m = NULL;
    if (count == 1) m = labelmap_read(found, err);
    else if (count == 0) serc_fail(err, "no label map: set data.labels (no *.labels file in %s)", dir);
    else serc_fail(err, "%d *.labels files in %s: say which with data.labels", count, dir);
    free(found);
    free(dir);
    return m;
}

static int model_config_from(const TrainConfig *cfg, int n_classes, SerModelConfig *mc, SercErr *err) {
    ser_model_config_default(mc);
    copy_str(mc->frontend, sizeof mc->frontend, cfg->model.frontend);
    mc->n_mels = cfg->data.n_mels;
    int i;
    for (i = 0; i < cfg->model.cnn_channels.n && i < CNN2D_MAX_BLOCKS; i++) mc->cnn_channels[i] = cfg->model.cnn_channels.v[i];
    if (i < CNN2D_MAX_BLOCKS) mc->cnn_channels[i] = 0;
    mc->cnn_freq_only_pool = cfg->model.freq_pool_only;
    for (i = 0; i < cfg->model.tdnn_dims.n && i < TDNN_MAX_LAYERS; i++) mc->tdnn_dims[i] = cfg->model.tdnn_dims.v[i];
    if (i < TDNN_MAX_LAYERS) mc->tdnn_dims[i] = 0;
    mc->dim = cfg->model.dim;
    mc->flam = cfg->model.flam;
    mc->heads = cfg->model.heads;
    copy_str(mc->pooling, sizeof mc->pooling, cfg->model.pooling);
    mc->head_hidden = cfg->model.head_hidden;
    mc->dropout = (float)cfg->model.dropout;
    mc->n_classes = n_classes;
    mc->proj_dim = cfg->model.proj_dim;
    mc->avd = cfg->model.avd;
    mc->edrl = cfg->model.edrl;
    mc->edrl_block_dim = cfg->model.edrl_block_dim;
    mc->edrl_shared_dim = cfg->model.edrl_shared_dim;
    mc->mea_components = cfg->mea.components;
    mc->text_layer = cfg->model.text_layer;
    mc->mater_levels = 0;
    for (i = 0; i < cfg->model.mater_levels.n; i++) {
        int bit = mater_level_bit(cfg->model.mater_levels.v[i]);
        if (!bit)
            return serc_fail(err, "model.mater_levels: \"%s\" is not one of word, utterance, embedding",
                             cfg->model.mater_levels.v[i]);
        mc->mater_levels |= bit;
    }
    mc->mater_text_only = cfg->model.mater_text_only;
    copy_str(mc->mater_utt_fusion, sizeof mc->mater_utt_fusion, cfg->model.mater_utt_fusion);
    mc->mater_dim = cfg->model.mater_dim;
    mc->mater_heads = cfg->model.mater_heads;
    mc->emosphere = cfg->model.emosphere;
    if (mc->emosphere) mc->avd = 1; /* EmoSphere-SER implies the A/V/D head (on the normalised scale) */
    return 0;
}

int experiment_build(Experiment *e, const TrainConfig *cfg, LabelMap *labels, SercErr *err) {
    memset(e, 0, sizeof *e);
    config_copy(&e->cfg, cfg);
    e->labels = labels;
    if (mel_config_preset(cfg->data.preset, &e->mel, err) < 0) return serc_fail_prefix(err, "data.preset");
    e->mel.n_mels = cfg->data.n_mels;
    e->mel.sample_rate = cfg->data.sample_rate;
    e->mel.cmvn = MEL_CMVN_MEAN_VAR; /* per-utterance normalisation: level and channel differences removed */
    if (mel_config_validate(&e->mel, err) < 0) return serc_fail_prefix(err, "data (feature front end)");
    if (model_config_from(cfg, labels->n, &e->model_cfg, err) < 0) return -1;
    e->model_cfg.n_mels = mel_num_features(&e->mel);
    MelConfig resolved;
    if (mel_config_resolve(&e->mel, &resolved, err) < 0) return serc_fail_prefix(err, "data (feature front end)");
    e->frame_rate = (double)resolved.sample_rate / (double)resolved.hop_length;
    if (cfg->data.features && cfg->data.features[0]) {
        if (cfg->eam.enabled)
            return serc_fail(err, "eam.enabled: energy-adaptive mixup mixes audio, and data.features replaces audio by "
                                  "cached encoder features; turn one off");
        if (!(e->cache = featcache_open(cfg->data.features, cfg->data.feature_layers, err)))
            return serc_fail_prefix(err, "data.features");
        e->model_cfg.n_mels = e->cache->dim;
        e->model_cfg.in_layers = e->cache->n_sel;
        e->frame_rate = e->cache->frame_rate;
    }
    if ((cfg->loss.center > 0 || cfg->loss.supcon > 0) && e->model_cfg.proj_dim <= 0)
        return serc_fail(err, "loss.center and loss.supcon need an embedding: set model.proj_dim > 0");
    if (cfg->loss.ccc > 0 && !e->model_cfg.avd) return serc_fail(err, "loss.ccc needs the A/V/D head: set model.avd = true");
    const char *text_dir = cfg->model.text_encoder;
    if (text_dir[0]) {
        /* MATER: the frozen text encoder, loaded once; its width sizes the fusion */
        if (cfg->model.mater_text_only && (cfg->loss.center > 0 || cfg->loss.supcon > 0))
            return serc_fail(err, "model.mater_text_only: a text-only model has no audio embedding for loss.center / "
                                  "loss.supcon; set them to 0");
        if (!(e->text_encoder = text_encoder_load(text_dir, err))) return serc_fail_prefix(err, "model.text_encoder");
        const TextEncoderConfig *tc = text_encoder_config(e->text_encoder);
        int rc = 0;
        if (!text_encoder_tokenizer(e->text_encoder))
            rc = serc_fail(err, "model.text_encoder: %s has no tokenizer (vocab.txt, or vocab.json and merges.txt)", text_dir);
        else if (cfg->model.text_layer > tc->num_layers || cfg->model.text_layer < -(tc->num_layers + 1))
            rc = serc_fail(err, "model.text_layer: %d, the encoder in %s has hidden states 0..%d (or -1..-%d)",
                           cfg->model.text_layer, text_dir, tc->num_layers, tc->num_layers + 1);
        e->model_cfg.text_dim = tc->hidden_size;
        if (rc == 0 && ser_model_config_check(&e->model_cfg, err) < 0) rc = serc_fail_prefix(err, "model");
        if (rc < 0) {
            text_encoder_free(e->text_encoder);
            e->text_encoder = NULL;
            return -1;
        }
    }
    if (ser_model_config_check(&e->model_cfg, err) < 0) return serc_fail_prefix(err, "model");
    e->ps = params_new();
    ser_model_register(&e->model, e->ps, &e->model_cfg);
    if (e->text_encoder) ser_model_set_text_encoder(&e->model, e->text_encoder);
    if (cfg->loss.center > 0) e->centers = params_add(e->ps, "loss.centers", SHAPE(labels->n, e->model_cfg.proj_dim));
    params_finalize(e->ps);
    ser_model_init(&e->model, (uint64_t)cfg->run.seed);
    if (e->centers)
        serc_rng_fill_normal(tensor_f32(e->centers), tensor_numel(e->centers), (uint64_t)cfg->run.seed ^ 0xce17e5ull, 0, 0.0f, 1.0f);
    return 0;
}

void experiment_free(Experiment *e) {
    featcache_close(e->cache);
    text_encoder_free(e->text_encoder);
    params_free(e->ps);
    labelmap_free(e->labels);
    config_free(&e->cfg);
    memset(e, 0, sizeof *e);
}

LoaderOptions experiment_loader_options(const Experiment *e, int training) {
    LoaderOptions o = loader_options_default();
    o.output = LOADER_FEATURES;
    o.mel = e->mel;
    o.sample_rate = e->mel.sample_rate;
    o.batch_size = e->cfg.optim.batch;
    o.training = training;
    o.max_seconds = e->cfg.data.max_seconds;
    o.eval_max_seconds = e->cfg.data.eval_max_seconds;
    o.workers = e->cfg.data.workers;
    o.shuffle = training;
    o.bucket_batches = e->cfg.data.bucket ? 50 : 0;
    o.drop_last = 0;
    o.skip_bad = e->cfg.data.skip_bad;
    o.seed = (uint64_t)e->cfg.run.seed;
    if (e->cache) {
        o.output = LOADER_CACHED;
        o.cache = e->cache;
        o.sample_rate = 0;
    }
    return o;
}

void experiment_batch_tensors(Ctx *g, const LoaderBatch *b, BatchTensors *t) {
    const int B = b->B, T = b->T, F = b->F, C = b->C > 0 ? b->C : 1;
    t->feats = tensor_empty(g, SERC_F32, SHAPE(B, T, F));
    memcpy(t->feats->data, b->feats, sizeof(float) * (size_t)B * T * F);
    t->lengths = tensor_empty(g, SERC_I32, SHAPE(B));
    memcpy(t->lengths->data, b->lengths, sizeof(int32_t) * (size_t)B);
    t->labels = tensor_empty(g, SERC_I32, SHAPE(B));
    memcpy(t->labels->data, b->labels, sizeof(int32_t) * (size_t)B);
    t->soft = tensor_zeros(g, SERC_F32, SHAPE(B, C));
    t->dist = tensor_zeros(g, SERC_F32, SHAPE(B, C));
    if (b->C > 0) {
        memcpy(t->soft->data, b->soft, sizeof(float) * (size_t)B * C);
        memcpy(t->dist->data, b->label_dist, sizeof(float) * (size_t)B * C);
    }
    t->avd = tensor_empty(g, SERC_F32, SHAPE(B, 3));
    memcpy(t->avd->data, b->avd, sizeof(float) * (size_t)B * 3);
    t->all_labeled = 1;
    t->all_avd = 1;
    for (int i = 0; i < B; i++) {
        if (b->labels[i] < 0) t->all_labeled = 0;
        for (int k = 0; k < 3; k++)
            if (!b->has_avd[i * 3 + k]) t->all_avd = 0;
    }
}

/* Whitespace-separated words of s, copied into the arena. */
static int split_words(Ctx *g, const char *s, const char ***out) {
    int n = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        n++;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
    }
    const char **w = arena_alloc(&g->arena, sizeof(char *) * (size_t)(n > 0 ? n : 1));
    int k = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') q++;
        char *c = arena_alloc(&g->arena, (size_t)(q - p) + 1);
        memcpy(c, p, (size_t)(q - p));
        c[q - p] = '\0';
        w[k++] = c;
        p = q;
    }
    *out = w;
    return n;
}

const SerTextInput *experiment_batch_text(Ctx *g, const Experiment *e, const Manifest *m, const LoaderBatch *b) {
    if (!e->text_encoder) return NULL;
    SerTextInput *t = arena_calloc(&g->arena, sizeof *t);
    SerTextItem *items = arena_calloc(&g->arena, sizeof *items * (size_t)(b->B > 0 ? b->B : 1));
    t->B = b->B;
    t->items = items;
    t->frame_rate = e->frame_rate;
    /* the crop's start in seconds: loader offsets are samples of the audio, or frames of cached features */
    const double per_offset = e->cache ? 1.0 / e->cache->frame_rate : 1.0 / (double)e->mel.sample_rate;
    for (int i = 0; i < b->B; i++) {
        SERC_ASSERT(b->index[i] >= 0 && b->index[i] < m->n, "experiment_batch_text: manifest index %d outside [0, %d)",
                    b->index[i], m->n);
        const Utterance *u = &m->utts[b->index[i]];
        SerTextItem *it = &items[i];
        if (u->has_words && u->n_words > 0) {
            const double crop = (double)b->offset[i] * per_offset;
            const char **w = arena_alloc(&g->arena, sizeof(char *) * (size_t)u->n_words);
            double *st = arena_alloc(&g->arena, sizeof(double) * (size_t)u->n_words);
            double *en = arena_alloc(&g->arena, sizeof(double) * (size_t)u->n_words);
            for (int k = 0; k < u->n_words; k++) {
                w[k] = u->words[k].w;
                st[k] = u->words[k].start - crop;
                en[k] = u->words[k].end - crop;
            }
            it->n_words = u->n_words;
            it->words = w;
            it->start = st;
            it->end = en;
        } else if (u->transcript) {
            const char **w;
            it->n_words = split_words(g, u->transcript, &w);
            it->words = w;
        }
    }
    return t;
}

SerOutput experiment_forward(Ctx *g, const Experiment *e, const Manifest *m, const LoaderBatch *b, const BatchTensors *t) {
    return ser_model_forward_text(g, &e->model, t->feats, t->lengths, experiment_batch_text(g, e, m, b));
}

int argmax_f32(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Rebuilds the experiment a checkpoint was trained with (its config and label map) and loads it. */
int experiment_from_checkpoint(Experiment *e, const char *ckpt, SercErr *err) {
    memset(e, 0, sizeof *e);
    char *cfg_text = checkpoint_read_meta(ckpt, "serc.config", err);
    if (!cfg_text) return -1;
    char *labels_text = checkpoint_read_meta(ckpt, "serc.labels", err);
    if (!labels_text) {
        free(cfg_text);
        return -1;
    }
    TrainConfig cfg;
    config_default(&cfg);
    int rc = config_parse(&cfg, cfg_text, strlen(cfg_text), ckpt, err);
    JsonValue *j = rc == 0 ? json_parse(labels_text, strlen(labels_text), err) : NULL;
    if (rc == 0 && (!j || json_type(j) != JSON_ARRAY)) rc = serc_fail(err, "%s: serc.labels is not a JSON array", ckpt);
    if (rc == 0) {
        LabelMap *m = labelmap_new();
        for (size_t i = 0; i < json_len(j); i++) labelmap_add(m, json_string(json_at(j, i)));
        rc = experiment_build(e, &cfg, m, err);
        if (rc == 0) rc = checkpoint_load(ckpt, e->ps, NULL, NULL, err);
    }
    json_free(j);
    config_free(&cfg);
    free(cfg_text);
    free(labels_text);
    return rc;
}

