#include "ser_model.h"

#include <stdlib.h>
#include <string.h>

void ser_model_config_default(SerModelConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->frontend, sizeof cfg->frontend, "cnn2d");
    cfg->n_mels = 80;
    cfg->in_layers = 1;
    cfg->cnn_channels[0] = 32;
    cfg->cnn_channels[1] = 64;
    cfg->cnn_pool_time = 2;
    cfg->cnn_pool_freq = 2;
    snprintf(cfg->act, sizeof cfg->act, "relu");
    static const int dims[4] = {256, 256, 256, 512}, kernels[4] = {5, 3, 3, 1}, dilations[4] = {1, 2, 3, 1};
    for (int i = 0; i < 4; i++) {
        cfg->tdnn_dims[i] = dims[i];
        cfg->tdnn_kernels[i] = kernels[i];
        cfg->tdnn_dilations[i] = dilations[i];
    }
    cfg->tdnn_same_padding = 1;
    cfg->masked_bn = 0;
    cfg->dim = 128;
    cfg->flam = 1;
    cfg->heads = 16;
    cfg->flam_att_dim = 128;
    cfg->flam_dropout = 0.1f;
    snprintf(cfg->pooling, sizeof cfg->pooling, "attention");
    cfg->stats_att_dim = 128;
    cfg->head_hidden = 128;
    cfg->dropout = 0.3f;
    cfg->n_classes = 4;
    cfg->proj_dim = 64;
    cfg->avd = 0;
    cfg->edrl = 0;
    cfg->edrl_block_dim = 16;
    cfg->edrl_shared_dim = 64;
    cfg->mea_components = 0;
    cfg->text_dim = 0;
    cfg->text_layer = -1;
    cfg->mater_levels = MATER_ALL_LEVELS;
    cfg->mater_text_only = 0;
    snprintf(cfg->mater_utt_fusion, sizeof cfg->mater_utt_fusion, "concat");
    cfg->mater_dim = 128;
    cfg->mater_heads = 4;
    cfg->emosphere = 0;
}

static int frontend_kind(const char *s, SerFrontendKind *k) {
    if (!strcmp(s, "cnn2d")) *k = SER_FRONTEND_CNN2D;
    else if (!strcmp(s, "tdnn")) *k = SER_FRONTEND_TDNN;
    else if (!strcmp(s, "none")) *k = SER_FRONTEND_NONE;
    else return -1;
    return 0;
}

static int pooling_kind(const char *s, SerPoolingKind *k) {
    if (!strcmp(s, "attention")) *k = SER_POOL_ATTENTION;
    else if (!strcmp(s, "mean")) *k = SER_POOL_MEAN;
    else if (!strcmp(s, "stats")) *k = SER_POOL_STATS;
    else return -1;
    return 0;
}

int ser_model_config_check(const SerModelConfig *c, SercErr *err) {
    SerFrontendKind fk;
    SerPoolingKind pk;
    if (frontend_kind(c->frontend, &fk))
        return serc_fail(err, "model.frontend: \"%s\" is not one of cnn2d, tdnn, none", c->frontend);
    if (pooling_kind(c->pooling, &pk))
        return serc_fail(err, "model.pooling: \"%s\" is not one of attention, mean, stats", c->pooling);
    if (c->n_mels < 1) return serc_fail(err, "model.n_mels: %d, want at least 1", c->n_mels);
    if (c->in_layers < 1) return serc_fail(err, "model.in_layers: %d, want at least 1", c->in_layers);
    if (c->dim < 1) return serc_fail(err, "model.dim: %d, want at least 1", c->dim);
    if (fk == SER_FRONTEND_CNN2D) {
        if (c->cnn_channels[0] < 1) return serc_fail(err, "model.cnn_channels: empty, want 1 to %d channel counts", CNN2D_MAX_BLOCKS);
        if (c->cnn_pool_time < 1 || c->cnn_pool_freq < 1)
            return serc_fail(err, "model.cnn_pool_time/cnn_pool_freq: %d, %d, want at least 1", c->cnn_pool_time,
                             c->cnn_pool_freq);
        int F = c->n_mels;
        for (int i = 0; i < CNN2D_MAX_BLOCKS && c->cnn_channels[i] > 0; i++) F /= c->cnn_pool_freq;
        if (F < 1)
            return serc_fail(err, "model.cnn_pool_freq: %d mels pooled by %d per block leave no frequency bin",
                             c->n_mels, c->cnn_pool_freq);
    }
    if (fk == SER_FRONTEND_TDNN) {
        if (c->tdnn_dims[0] < 1) return serc_fail(err, "model.tdnn_dims: empty, want 1 to %d layer widths", TDNN_MAX_LAYERS);
        for (int i = 0; i < TDNN_MAX_LAYERS && c->tdnn_dims[i] > 0; i++) {
            if (c->tdnn_kernels[i] < 1 || c->tdnn_dilations[i] < 1)
                return serc_fail(err, "model.tdnn_kernels/tdnn_dilations: layer %d has kernel %d, dilation %d", i,
                                 c->tdnn_kernels[i], c->tdnn_dilations[i]);
            if (c->tdnn_same_padding && c->tdnn_kernels[i] % 2 == 0)
                return serc_fail(err, "model.tdnn_kernels: layer %d kernel %d is even; same padding needs odd kernels", i,
                                 c->tdnn_kernels[i]);
        }
    }
    if (fk != SER_FRONTEND_NONE && strcmp(c->act, "relu") && strcmp(c->act, "gelu"))
        return serc_fail(err, "model.act: \"%s\" is not relu or gelu", c->act);
    if (c->flam && (c->heads < 1 || c->dim % c->heads))
        return serc_fail(err, "model.heads: dim %d is not divisible by %d heads", c->dim, c->heads);
    if (c->flam && c->flam_att_dim < 0) return serc_fail(err, "model.flam_att_dim: %d is negative", c->flam_att_dim);
    if (pk == SER_POOL_ATTENTION && !c->flam)
        return serc_fail(err, "model.pooling: \"attention\" is FLAM's pooling and needs model.flam = true");
    if (pk == SER_POOL_STATS && c->stats_att_dim < 0)
        return serc_fail(err, "model.stats_att_dim: %d is negative", c->stats_att_dim);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f)) return serc_fail(err, "model.dropout: %g outside [0, 1)", (double)c->dropout);
    if (!(c->flam_dropout >= 0.0f && c->flam_dropout < 1.0f))
        return serc_fail(err, "model.flam_dropout: %g outside [0, 1)", (double)c->flam_dropout);
    if (c->head_hidden < 0) return serc_fail(err, "model.head_hidden: %d is negative", c->head_hidden);
    if (c->n_classes < 1) return serc_fail(err, "model.n_classes: %d, want at least 1", c->n_classes);
    if (c->proj_dim < 0) return serc_fail(err, "model.proj_dim: %d is negative", c->proj_dim);
    if (c->edrl && (c->edrl_block_dim < 1 || c->edrl_shared_dim < 1))
        return serc_fail(err, "model.edrl_block_dim/edrl_shared_dim: %d, %d, want at least 1", c->edrl_block_dim,
                         c->edrl_shared_dim);
    if (c->mea_components < 0) return serc_fail(err, "mea.components: %d is negative", c->mea_components);
    if (c->mea_components > 0 && !c->edrl) return serc_fail(err, "mea.components: MEA aligns EDRL's embeddings; set model.edrl = true");
    if (c->text_dim < 0) return serc_fail(err, "model.text_dim: %d is negative", c->text_dim);
    if (c->emosphere && c->text_dim > 0)
        return serc_fail(err, "model.emosphere: EmoSphere-SER's heads are audio-only and do not combine with MATER "
                              "(model.text_encoder); turn one off");
    if (c->text_dim > 0) {
        if (c->edrl) return serc_fail(err, "model.edrl: EDRL and MATER (model.text_encoder) do not combine; turn one off");
        if (!c->mater_text_only && !(c->mater_levels & MATER_ALL_LEVELS))
            return serc_fail(err, "model.mater_levels: empty; name at least one of word, utterance, embedding (or set "
                                  "model.mater_text_only = true)");
        if (mater_utt_fusion_kind(c->mater_utt_fusion) < 0)
            return serc_fail(err, "model.mater_utt_fusion: \"%s\" is not one of concat, cross", c->mater_utt_fusion);
        if (c->mater_dim < 1) return serc_fail(err, "model.mater_dim: %d, want at least 1", c->mater_dim);
        if (c->mater_heads < 1 || c->mater_dim % c->mater_heads)
            return serc_fail(err, "model.mater_heads: model.mater_dim %d is not divisible by %d heads", c->mater_dim,
                             c->mater_heads);
    }
    return 0;
}

void ser_model_register(SerModel *m, ParamStore *ps, const SerModelConfig *cfg) {
    SercErr err;
    if (ser_model_config_check(cfg, &err)) serc_die("ser_model_register: %s", err.msg);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    frontend_kind(cfg->frontend, &m->frontend);
    pooling_kind(cfg->pooling, &m->pooling);
    FrontendAct act = strcmp(cfg->act, "gelu") ? FRONTEND_RELU : FRONTEND_GELU;
    if (m->frontend == SER_FRONTEND_CNN2D) {
        Cnn2dConfig cc = {.n_mels = cfg->n_mels, .pool_time = cfg->cnn_freq_only_pool ? 1 : cfg->cnn_pool_time,
                          .pool_freq = cfg->cnn_pool_freq, .act = act,
                          .masked_bn = cfg->masked_bn};
        memcpy(cc.channels, cfg->cnn_channels, sizeof cc.channels);
        cnn2d_register(&m->cnn, ps, "frontend", &cc);
        m->frontend_dim = m->cnn.out_dim;
    } else if (m->frontend == SER_FRONTEND_TDNN) {
        TdnnConfig tc = {.n_mels = cfg->n_mels, .same_padding = cfg->tdnn_same_padding, .act = act,
                         .masked_bn = cfg->masked_bn};
        memcpy(tc.dims, cfg->tdnn_dims, sizeof tc.dims);
        memcpy(tc.kernels, cfg->tdnn_kernels, sizeof tc.kernels);
        memcpy(tc.dilations, cfg->tdnn_dilations, sizeof tc.dilations);
        tdnn_register(&m->tdnn, ps, "frontend", &tc);
        m->frontend_dim = m->tdnn.out_dim;
    } else {
        m->frontend_dim = cfg->n_mels;
    }
    if (cfg->in_layers > 1) ssl_layer_sum_register(&m->layer_sum, ps, "layer_sum.weights", cfg->in_layers, 0);
    linear_register(&m->input_proj, ps, "input_proj", m->frontend_dim, cfg->dim, 1);
    if (cfg->flam) flam_register(&m->flam, ps, "flam", cfg->dim, cfg->heads, cfg->flam_att_dim, cfg->flam_dropout);
    m->pooled_dim = cfg->dim;
    if (m->pooling == SER_POOL_STATS) {
        attention_pool_register(&m->stats_pool, ps, "pooling", cfg->dim, cfg->stats_att_dim, 1);
        m->pooled_dim = 2 * cfg->dim;
    }
    int cls_in = m->pooled_dim;
    if (cfg->edrl) {
        EdrlConfig ec = {.in = m->pooled_dim, .n_classes = cfg->n_classes, .block_dim = cfg->edrl_block_dim,
                         .shared_dim = cfg->edrl_shared_dim, .recon_dim = 2 * cfg->n_mels * cfg->in_layers,
                         .mea_components = cfg->mea_components};
        edrl_register(&m->edrl, ps, &ec);
        cls_in = edrl_embedding_dim(&ec);
    }
    mlp_head_register(&m->classifier, ps, "classifier", cls_in, cfg->head_hidden, cfg->n_classes, cfg->dropout);
    if (cfg->proj_dim > 0) projection_head_register(&m->projection, ps, "projection", m->pooled_dim, m->pooled_dim, cfg->proj_dim);
    if (cfg->avd || cfg->emosphere) mlp_head_register(&m->avd_head, ps, "avd", m->pooled_dim, cfg->head_hidden, 3, cfg->dropout);
    if (cfg->text_dim > 0) {
        MaterConfig mc = {.levels = cfg->mater_levels, .text_only = cfg->mater_text_only,
                          .utt_fusion = (MaterUttFusion)mater_utt_fusion_kind(cfg->mater_utt_fusion),
                          .audio_dim = cfg->dim, .pooled_dim = m->pooled_dim, .text_dim = cfg->text_dim,
                          .dim = cfg->mater_dim, .heads = cfg->mater_heads, .head_hidden = cfg->head_hidden,
                          .dropout = cfg->dropout, .n_classes = cfg->n_classes, .avd = cfg->avd};
        mater_register(&m->mater, ps, &mc);
    }
    if (cfg->emosphere) emosphere_register(&m->emosphere, ps, m->pooled_dim, cfg->head_hidden, cfg->dropout);
}

void ser_model_set_text_encoder(SerModel *m, const TextEncoder *enc) {
    SERC_ASSERT(m->cfg.text_dim > 0 && enc && text_encoder_config(enc)->hidden_size == m->cfg.text_dim,
                "ser_model: a text encoder of width %d for a model with text_dim %d",
                enc ? text_encoder_config(enc)->hidden_size : 0, m->cfg.text_dim);
    m->text_encoder = enc;
}

int ser_model_time_stride(const SerModel *m) {
    if (m->frontend != SER_FRONTEND_CNN2D) return 1;
    int s = 1;
    for (int i = 0; i < m->cnn.n_blocks; i++) s *= m->cnn.cfg.pool_time;
    return s;
}

void ser_model_init(SerModel *m, uint64_t seed) {
    InitRng r = {seed, 0};
    if (m->frontend == SER_FRONTEND_CNN2D) cnn2d_init(&m->cnn, &r);
    if (m->frontend == SER_FRONTEND_TDNN) tdnn_init(&m->tdnn, &r);
    if (m->cfg.in_layers > 1) ssl_layer_sum_init(&m->layer_sum);
    linear_init(&m->input_proj, &r);
    if (m->cfg.flam) flam_init(&m->flam, &r);
    if (m->pooling == SER_POOL_STATS) attention_pool_init(&m->stats_pool, &r);
    if (m->cfg.edrl) edrl_init(&m->edrl, &r);
    mlp_head_init(&m->classifier, &r);
    if (m->cfg.proj_dim > 0) projection_head_init(&m->projection, &r);
    if (m->cfg.avd || m->cfg.emosphere) mlp_head_init(&m->avd_head, &r);
    if (m->cfg.text_dim > 0) mater_init(&m->mater, &r);
    if (m->cfg.emosphere) emosphere_init(&m->emosphere, &r);
}

int64_t ser_model_out_frames(const SerModel *m, int64_t T) {
    if (m->frontend == SER_FRONTEND_CNN2D) return cnn2d_out_length(&m->cnn, T);
    if (m->frontend == SER_FRONTEND_TDNN) return tdnn_out_length(&m->tdnn, T);
    return T;
}

/* The audio model: everything but MATER. */
static SerOutput audio_forward(Ctx *g, const SerModel *m, Tensor *feats, Tensor *lengths) {
    char df[64], dl[64];
    const int L = m->cfg.in_layers;
    SERC_ASSERT(feats->ndim == 3 && feats->shape[2] == (int64_t)m->cfg.n_mels * L && lengths->ndim == 1 &&
                    lengths->shape[0] == feats->shape[0],
                "ser_model: feats %s, lengths %s (want (B, T, %d) and (B))", tensor_describe(feats, df, sizeof df),
                tensor_describe(lengths, dl, sizeof dl), m->cfg.n_mels * L);
    SerOutput o = {0};
    if (L > 1) {
        Tensor *parts[64];
        SERC_ASSERT(L <= 64, "ser_model: %d input layers, at most 64", L);
        for (int l = 0; l < L; l++) parts[l] = op_contiguous(g, op_narrow(g, feats, 2, (int64_t)l * m->cfg.n_mels, m->cfg.n_mels));
        feats = ssl_layer_sum_forward(g, &m->layer_sum, parts, L);
    }
    Tensor *h, *len = NULL;
    if (m->frontend == SER_FRONTEND_CNN2D) {
        h = cnn2d_forward(g, &m->cnn, feats, lengths, &len);
    } else if (m->frontend == SER_FRONTEND_TDNN) {
        h = tdnn_forward(g, &m->tdnn, feats, lengths, &len);
    } else {
        int64_t B = feats->shape[0], T = feats->shape[1];
        len = tensor_empty(g, SERC_I32, SHAPE(B));
        for (int64_t b = 0; b < B; b++) {
            int64_t l = tensor_get_index(lengths, b);
            SERC_ASSERT(l >= 0 && l <= T, "ser_model: length %lld of item %lld outside [0, %lld]", (long long)l,
                        (long long)b, (long long)T);
            tensor_i32(len)[b] = (int32_t)l;
        }
        h = feats;
    }
    h = linear_forward(g, &m->input_proj, h); /* (B, T', dim) */
    Tensor *mask = lengths_to_mask(g, len, h->shape[1]);
    if (m->cfg.flam) h = flam_frames(g, &m->flam, h, mask);
    if (m->pooling == SER_POOL_ATTENTION) o.pooled = flam_pool(g, &m->flam, h, mask, &o.frame_weights);
    else if (m->pooling == SER_POOL_STATS)
        o.pooled = attentive_stats_pool_forward(g, &m->stats_pool, h, mask, 1e-5f, &o.frame_weights);
    else o.pooled = masked_mean_pool(g, h, len);
    o.frames = h;
    o.frame_lengths = len;
    if (m->cfg.edrl) {
        o.edrl = edrl_forward(g, &m->edrl, o.pooled);
        o.logits = o.edrl.mea_logits ? o.edrl.mea_logits : mlp_head_forward(g, &m->classifier, o.edrl.embedding);
    } else {
        o.logits = mlp_head_forward(g, &m->classifier, o.pooled);
    }
    if (m->cfg.proj_dim > 0) o.embedding = projection_head_forward(g, &m->projection, o.pooled);
    if (m->cfg.avd || m->cfg.emosphere) o.avd = mlp_head_forward(g, &m->avd_head, o.pooled);
    if (m->cfg.emosphere) o.octant_logits = emosphere_octant_logits(g, &m->emosphere, o.pooled);
    return o;
}

SerOutput ser_model_forward_text(Ctx *g, const SerModel *m, Tensor *feats, Tensor *lengths, const SerTextInput *t) {
    if (m->cfg.text_dim == 0) return audio_forward(g, m, feats, lengths);
    SERC_ASSERT(m->text_encoder, "ser_model: a MATER model (text_dim %d) without its text encoder "
                                 "(ser_model_set_text_encoder)", m->cfg.text_dim);
    const int B = (int)feats->shape[0];
    SerOutput o;
    memset(&o, 0, sizeof o);
    MaterAudio a;
    memset(&a, 0, sizeof a);
    if (!m->cfg.mater_text_only) {
        o = audio_forward(g, m, feats, lengths);
        a = (MaterAudio){.frames = o.frames, .frame_lengths = o.frame_lengths, .pooled = o.pooled, .logits = o.logits,
                         .avd = o.avd, .frame_rate = t ? t->frame_rate / ser_model_time_stride(m) : 0.0};
    }
    MaterText tx;
    SercErr err;
    if (mater_encode_text(g, m->text_encoder, m->cfg.text_layer, t, B, &tx, &err))
        serc_die("ser_model: the batch's text: %s", err.msg);
    o.mater = mater_forward(g, &m->mater, &tx, &a, t);
    o.logits = o.mater.logits;
    o.avd = o.mater.avd;
    return o;
}

SerOutput ser_model_forward(Ctx *g, const SerModel *m, Tensor *feats, Tensor *lengths) {
    return ser_model_forward_text(g, m, feats, lengths, NULL);
}

/* ---- description ---- */

size_t ser_model_activation_bytes(const SerModel *m, const ParamStore *ps, int batch, int frames, int train) {
    /* keep what a training step would change: batch-norm buffers and the gradient buffer */
    int n = params_len(ps);
    int64_t nbuf = 0, ngrad = params_count(ps);
    for (int i = 0; i < n; i++)
        if (!params_is_trainable(ps, i)) nbuf += tensor_numel(params_at(ps, i));
    float *saved = serc_malloc((size_t)(nbuf + ngrad + 1) * sizeof(float));
    float *p = saved;
    for (int i = 0; i < n; i++)
        if (!params_is_trainable(ps, i)) {
            Tensor *t = params_at(ps, i);
            memcpy(p, t->data, (size_t)tensor_numel(t) * sizeof(float));
            p += tensor_numel(t);
        }
    memcpy(p, params_grad(ps), (size_t)ngrad * sizeof(float));

    Ctx *g = ctx_new(1);
    g->training = train;
    ctx_set_grad(g, train);
    ctx_step_begin(g);
    Tensor *x = tensor_zeros(g, SERC_F32, SHAPE(batch, frames, m->cfg.n_mels * m->cfg.in_layers));
    Tensor *len = tensor_empty(g, SERC_I32, SHAPE(batch));
    for (int b = 0; b < batch; b++) tensor_i32(len)[b] = frames;
    SerOutput o = ser_model_forward(g, m, x, len);
    if (train) {
        Tensor *loss = op_sum(g, o.logits);
        if (o.embedding) loss = op_add(g, loss, op_sum(g, o.embedding));
        if (o.avd) loss = op_add(g, loss, op_sum(g, o.avd));
        if (o.octant_logits) loss = op_add(g, loss, op_sum(g, o.octant_logits));
        serc_backward(g, loss, NULL);
    }
    size_t peak = g->arena.peak;
    ctx_free(g);

    p = saved;
    for (int i = 0; i < n; i++)
        if (!params_is_trainable(ps, i)) {
            Tensor *t = params_at(ps, i);
            memcpy(t->data, p, (size_t)tensor_numel(t) * sizeof(float));
            p += tensor_numel(t);
        }
    memcpy(params_grad(ps), p, (size_t)ngrad * sizeof(float));
    free(saved);
    return peak;
}

/* Length of the module name: the parameter name up to its first dot. */
static size_t module_len(const char *name) {
    const char *dot = strchr(name, '.');
    return dot ? (size_t)(dot - name) : strlen(name);
}

static void print_architecture(const SerModel *m, FILE *f) {
    const SerModelConfig *c = &m->cfg;
    fprintf(f, "model: ");
    if (m->frontend == SER_FRONTEND_CNN2D) {
        fprintf(f, "cnn2d [");
        for (int i = 0; i < m->cnn.n_blocks; i++) fprintf(f, "%s%d", i ? ", " : "", c->cnn_channels[i]);
        fprintf(f, "] 3x3 conv, %s bn, %s, max pool %dx%d -> %d x %d", c->masked_bn ? "masked" : "plain", c->act,
                m->cnn.cfg.pool_time, m->cnn.cfg.pool_freq, m->cnn.out_dim / m->cnn.out_freq, m->cnn.out_freq);
    } else if (m->frontend == SER_FRONTEND_TDNN) {
        fprintf(f, "tdnn [");
        for (int i = 0; i < m->tdnn.n_layers; i++)
            fprintf(f, "%s%d k%d d%d", i ? ", " : "", c->tdnn_dims[i], c->tdnn_kernels[i], c->tdnn_dilations[i]);
        fprintf(f, "] %s, %s padding, %s bn", c->act, c->tdnn_same_padding ? "same" : "valid",
                c->masked_bn ? "masked" : "plain");
    } else {
        fprintf(f, "log-mel frames");
    }
    fprintf(f, " (%d per frame)\n  -> input_proj %d -> %d", m->frontend_dim, m->frontend_dim, c->dim);
    if (c->flam) fprintf(f, " -> FLAM (%d heads, score dim %d, dropout %g)", c->heads, c->flam_att_dim, (double)c->flam_dropout);
    fprintf(f, " -> %s pooling (%d)", c->pooling, m->pooled_dim);
    if (c->edrl)
        fprintf(f, "\n  -> EDRL: intra-class %d blocks of %d, inter-class %d (decoder -> %d)%s", c->n_classes,
                c->edrl_block_dim, c->edrl_shared_dim, 2 * c->n_mels,
                c->mea_components ? "; MEA read-out fitted after training" : "");
    fprintf(f, "\n  -> classifier (hidden %d, dropout %g) -> %d classes", c->head_hidden, (double)c->dropout, c->n_classes);
    if (c->proj_dim) fprintf(f, "; projection -> %d", c->proj_dim);
    if (c->avd && !c->emosphere) fprintf(f, "; A/V/D head -> 3");
    if (c->emosphere) fprintf(f, "; EmoSphere: A/V/D head -> 3 (normalised to [-1, 1]), octant head -> 8");
    if (c->text_dim > 0) {
        if (c->mater_text_only) {
            fprintf(f, "\n  MATER text only: text encoder (%d) layer %d -> text head", c->text_dim, c->text_layer);
        } else {
            fprintf(f, "\n  MATER (text encoder %d, layer %d, fusion width %d, %d heads): levels", c->text_dim, c->text_layer,
                    c->mater_dim, c->mater_heads);
            for (int l = 0; l < MATER_N_LEVELS; l++)
                if (c->mater_levels & (1 << l)) fprintf(f, " %s", mater_level_names[l]);
            if (c->mater_levels & MATER_UTTERANCE) fprintf(f, " (utterance fusion %s)", c->mater_utt_fusion);
            fprintf(f, "; logits = mean of the levels'");
        }
    }
    fprintf(f, "\n");
}

void ser_model_describe(const SerModel *m, const ParamStore *ps, int batch, int frames, FILE *f) {
    print_architecture(m, f);
    fprintf(f, "%-44s %-18s %10s\n", "parameter", "shape", "count");
    int n = params_len(ps);
    for (int i = 0; i < n; i++) {
        Tensor *t = params_at(ps, i);
        char shape[64];
        int k = snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < t->ndim && k < (int)sizeof shape; d++)
            k += snprintf(shape + k, sizeof shape - (size_t)k, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        if (k < (int)sizeof shape) snprintf(shape + k, sizeof shape - (size_t)k, "]");
        fprintf(f, "%-44s %-18s %10lld%s\n", t->name ? t->name : "?", shape, (long long)tensor_numel(t),
                params_is_trainable(ps, i) ? "" : " (buffer)");
    }
    /* per module: trainable entries grouped by the name's first component, in first-seen order */
    fprintf(f, "parameters per module:\n");
    for (int i = 0; i < n; i++) {
        const char *name = params_at(ps, i)->name;
        if (!name || !params_is_trainable(ps, i)) continue;
        size_t len = module_len(name);
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) {
            const char *other = params_at(ps, j)->name;
            seen = other && params_is_trainable(ps, j) && module_len(other) == len && !strncmp(other, name, len);
        }
        if (seen) continue;
        int64_t count = 0;
        for (int j = i; j < n; j++) {
            const char *other = params_at(ps, j)->name;
            if (other && params_is_trainable(ps, j) && module_len(other) == len && !strncmp(other, name, len))
                count += tensor_numel(params_at(ps, j));
        }
        fprintf(f, "  %-20.*s %12lld\n", (int)len, name, (long long)count);
    }
    fprintf(f, "  %-20s %12lld (%.2f MiB f32)\n", "total", (long long)params_count(ps),
            (double)params_count(ps) * 4.0 / (1024.0 * 1024.0));
    if (batch > 0 && frames > 0) {
        size_t train = ser_model_activation_bytes(m, ps, batch, frames, 1);
        size_t eval = ser_model_activation_bytes(m, ps, batch, frames, 0);
        fprintf(f, "activation memory (batch %d x %d frames, measured arena peak): training step %.1f MiB, "
                   "eval forward %.1f MiB\n",
                batch, frames, (double)train / (1024.0 * 1024.0), (double)eval / (1024.0 * 1024.0));
    }
}
