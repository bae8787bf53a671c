/* Self-supervised speech encoders: wav2vec 2.0 (Baevski et al. 2020), HuBERT (Hsu et al. 2021),
 * WavLM (Chen et al. 2022) and DistilHuBERT (Chang et al. 2022, a 2-layer HuBERT student), one
 * implementation configured by the checkpoint's own config.json and exact to Hugging Face transformers'
 * Wav2Vec2Model / HubertModel / WavLMModel (docs/encoders.md lists every convention followed).
 *
 * Use:
 *     SslConfig cfg;
 *     ssl_config_load(&cfg, "wavlm-base-plus/config.json", &err);
 *     SslModel *m = ssl_new(&cfg, ps, "ssl.", SSL_FROZEN);   // registers parameters under "ssl." + HF name
 *     ... register the rest of the model ...
 *     params_finalize(ps);
 *     ssl_load_weights(m, "wavlm-base-plus", &err);         // every tensor matched by name and shape
 *     SslOutput o;
 *     ssl_forward(g, m, wav, lengths, &o, &err);                 // o.hidden[0..num_layers], o.lengths, o.mask
 */
#ifndef SERC_SSL_H
#define SERC_SSL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "layers.h"
#include "ops.h"
#include "params.h"

#define SSL_MAX_CONV 16

typedef enum SslArch { SSL_WAV2VEC2 = 0, SSL_HUBERT, SSL_WAVLM } SslArch;

typedef enum SslAct { SSL_ACT_GELU = 0, SSL_ACT_GELU_TANH, SSL_ACT_RELU, SSL_ACT_SILU } SslAct;

/* The fields of config.json that shape the base model (names as in transformers). */
typedef struct SslConfig {
    SslArch arch; /* model_type "wav2vec2" | "hubert" | "wavlm" */
    int hidden_size, num_hidden_layers, num_attention_heads, intermediate_size;
    SslAct hidden_act, feat_extract_activation;
    int feat_extract_norm_layer; /* feat_extract_norm: 0 "group" (GroupNorm on conv layer 0), 1 "layer" */
    int num_conv_layers;
    int conv_dim[SSL_MAX_CONV], conv_kernel[SSL_MAX_CONV], conv_stride[SSL_MAX_CONV];
    int conv_bias;
    float layer_norm_eps;
    int num_conv_pos_embeddings, num_conv_pos_embedding_groups;
    int do_stable_layer_norm;
    int feat_proj_layer_norm; /* HuBERT option; always 1 for wav2vec2 and WavLM */
    float hidden_dropout, attention_dropout, activation_dropout, feat_proj_dropout, layerdrop;
    int apply_spec_augment;
    float mask_time_prob, mask_feature_prob;
    int mask_time_length, mask_time_min_masks, mask_feature_length, mask_feature_min_masks;
    int num_buckets, max_bucket_distance; /* WavLM relative position bias */
} SslConfig;

/* Parses config.json text (label names it in messages). Options that change the base model and are
 * not supported (add_adapter, adapter_attn_dim, conv_pos_batch_norm, an unknown activation or
 * feat_extract_norm, ...) are errors that name the option; head-only options (classifier, CTC, x-vector,
 * quantizer) are ignored, since those modules are not built. Returns 0 or -1 with err. */
int ssl_config_parse(SslConfig *c, const char *json, size_t len, const char *label, SercErr *err);
int ssl_config_load(SslConfig *c, const char *path, SercErr *err);

/* Frames the conv feature encoder makes of `samples` samples: L <- floor((L - kernel) / stride) + 1 per
 * conv layer (0 when the input is shorter than the receptive field). */
int64_t ssl_output_frames(const SslConfig *c, int64_t samples);
/* The fewest samples that give one frame. */
int64_t ssl_receptive_field(const SslConfig *c);

/* How the encoder trains:
 *   SSL_FROZEN     every tensor is a non-trainable buffer; forward records nothing, runs in eval mode
 *                  whatever g->training says (SUPERB protocol), and keeps only the hidden states
 *   SSL_FINETUNE   the conv feature encoder is frozen (buffers, computed without a tape and without
 *                  keeping its activations); everything after it trains, with dropout, layerdrop and
 *                  time/feature masking from config.json while g->training
 *   SSL_FULL       every tensor trains */
typedef enum SslTrainMode { SSL_FROZEN = 0, SSL_FINETUNE, SSL_FULL } SslTrainMode;

typedef struct SslConvLayer {
    Tensor *w, *b;           /* conv (Cout, Cin, K), bias (Cout) or NULL */
    Tensor *norm_w, *norm_b; /* GroupNorm (layer 0 of "group") or LayerNorm ("layer"); NULL otherwise */
} SslConvLayer;

typedef struct SslLayer {
    Tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
    Tensor *ln_w, *ln_b;                     /* layer_norm */
    Tensor *ff1_w, *ff1_b, *ff2_w, *ff2_b;   /* feed_forward.intermediate_dense / output_dense */
    Tensor *fln_w, *fln_b;                   /* final_layer_norm */
    Tensor *gru_const, *gru_w, *gru_b;       /* WavLM: gru_rel_pos_const (1, H, 1, 1), gru_rel_pos_linear (8, D) */
    Tensor *rel_embed;                       /* WavLM layer 0: rel_attn_embed (num_buckets, H) */
} SslLayer;

typedef struct SslModel {
    SslConfig cfg;
    SslTrainMode mode;
    char prefix[64];
    SslConvLayer conv[SSL_MAX_CONV];
    Tensor *fp_ln_w, *fp_ln_b, *fp_w, *fp_b; /* feature_projection.layer_norm (or NULL) / .projection */
    Tensor *masked_spec_embed;               /* (C), present when mask_time_prob or mask_feature_prob > 0 */
    Tensor *pos_g, *pos_v, *pos_b;           /* pos_conv_embed.conv: weight-norm gain (1, 1, K), direction, bias */
    Tensor *enc_ln_w, *enc_ln_b;             /* encoder.layer_norm */
    SslLayer *layers;
    ParamStore *ps;
    int n_tensors;       /* every registered tensor, by Hugging Face name (without prefix) */
    char **names;
    Tensor **tensors;
    Ctx *scratch[2]; /* no-tape work: activations freed per layer (arena reset), not kept */
} SslModel;

/* Registers every tensor in ps as "<prefix><Hugging Face name>" (prefix "" gives the HF names) and
 * returns the model; trainable or buffer per mode. Call params_finalize after, then ssl_load_weights
 * or ssl_init_random. */
SslModel *ssl_new(const SslConfig *c, ParamStore *ps, const char *prefix, SslTrainMode mode);
void ssl_free(SslModel *m);

/* Random weights as PyTorch's default inits (Linear/Conv U(+-1/sqrt(fan_in)), norms 1/0, the weight-norm
 * gain = ||v|| so that w = v at start), from Philox; for benchmarks and tests. */
void ssl_init_random(SslModel *m, InitRng *r);

/* Loads `dir`/model.safetensors or the shards named by `dir`/model.safetensors.index.json. Tensors
 * are matched by Hugging Face name, with or without a leading "wav2vec2." / "hubert." / "wavlm."
 * (a *For... checkpoint: its head tensors outside that prefix are skipped); the positional
 * convolution's weight norm is accepted as weight_g / weight_v or parametrizations.weight.original0 /
 * original1. F32, BF16 and F16 are converted to f32. Missing, unexpected or mis-shaped tensors reject
 * the checkpoint with their names listed. Returns 0 or -1 with err. */
int ssl_load_weights(SslModel *m, const char *dir, SercErr *err);

/* What a forward returns; every tensor lives in g's arena. */
typedef struct SslOutput {
    int n_hidden;          /* num_hidden_layers + 1 */
    Tensor **hidden;       /* (B, T, C) each: Hugging Face's hidden_states (see below) */
    Tensor *last_hidden;   /* (B, T, C) last_hidden_state */
    Tensor *lengths;       /* i32 (B) valid frames per item */
    Tensor *mask;          /* u8 (B, T), 1 on the first lengths[b] frames */
} SslOutput;

/* Forward of raw 16 kHz waveforms wav (B, N) f32, zero-padded; lengths (B) i32/i64 in samples, or NULL
 * for all N valid. As the HF model given attention_mask: frames past an item's length are zeroed
 * before the positional convolution and masked as attention keys (for feat_extract_norm "group" the
 * GroupNorm statistics still span the padded length, as in HF).
 *   hidden[0]   input of layer 0: post-norm models (do_stable_layer_norm false) after the encoder
 *               layer_norm of x + pos_conv(x); stable models x + pos_conv(x) with no norm
 *   hidden[l]   output of layer l - 1 (l = 1..L); for stable models hidden[L] is before the final
 *               encoder.layer_norm, as transformers 5 returns it (4.x returned it after)
 *   last_hidden hidden[L] for post-norm models; encoder.layer_norm(hidden[L]) for stable ones
 * A layer skipped by layerdrop repeats the previous hidden state (HF returns a shorter tuple).
 * Returns 0, or -1 with err when N is shorter than the receptive field or a length is outside [0, N]. */
int ssl_forward(Ctx *g, SslModel *m, Tensor *wav, const Tensor *lengths, SslOutput *out, SercErr *err);

/* Peak bytes of the model's no-tape scratch arenas (add g->arena.peak for a forward's total). */
size_t ssl_scratch_peak(const SslModel *m);

/* WavLM's bucket of relative position rel = key - query (T5-style, log-spaced beyond num_buckets / 4). */
int ssl_wavlm_bucket(int64_t rel, int num_buckets, int max_distance);

/* The SUPERB weighted sum of hidden states (Yang et al. 2021): out = sum_l softmax(w)_l h_l, w (n)
 * learnable and initialised to zeros (equal weights); with layer_norm, each h_l is first normalised over
 * its last dim without affine (s3prl's featurizer option). */
typedef struct SslLayerSum {
    Tensor *weights; /* (n) */
    int n, layer_norm;
} SslLayerSum;

void ssl_layer_sum_register(SslLayerSum *s, ParamStore *ps, const char *name, int n, int layer_norm);
void ssl_layer_sum_init(SslLayerSum *s);
/* hidden: n tensors of one shape (B, T, C) -> (B, T, C). */
Tensor *ssl_layer_sum_forward(Ctx *g, const SslLayerSum *s, Tensor *const *hidden, int n);

#endif
