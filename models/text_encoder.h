/* Text encoders: Hugging Face BertModel and RobertaModel from their checkpoint folder (config.json +
 * model.safetensors, and the tokenizer files beside them), giving every hidden state exactly as
 * `model(..., output_hidden_states=True).hidden_states` does: the embeddings output, then each layer's.
 *
 *   embeddings  LayerNorm(word[ids] + position[pos] + token_type[types])
 *               BERT: pos = 0, 1, ..., T-1; RoBERTa: pos = padding_idx + (running count of non-pad ids)
 *               at non-pad ids, padding_idx at pad ids (create_position_ids_from_input_ids)
 *   each layer  post-norm (Vaswani et al. 2017 as BERT has it):
 *               a = LayerNorm(x + Wo MHA(x, key mask)),  y = LayerNorm(a + W2 act(W1 a))
 *
 * Weights are matched by their Hugging Face names and shapes, with or without the "bert." / "roberta."
 * prefix; a missing, mis-shaped or unexpected tensor fails the load with the list of names. Ignored
 * (present or not): the pooler (pooler.*), the pretraining heads of BertForPreTraining / *ForMaskedLM
 * (cls.*, lm_head.*) and the position_ids / token_type_ids buffers older checkpoints store. F32, BF16
 * and F16 weights are read (computed in f32).
 *
 * The forward is frozen: it runs with recording off whatever the context's switch says, so it leaves
 * nothing on the tape.
 */
#ifndef SERC_TEXT_ENCODER_H
#define SERC_TEXT_ENCODER_H

#include "context.h"
#include "params.h"
#include "tokenizer.h"

typedef enum TextEncoderArch { TEXT_ENCODER_BERT = 0, TEXT_ENCODER_ROBERTA = 1 } TextEncoderArch;
typedef enum TextEncoderAct { TEXT_ACT_GELU = 0, TEXT_ACT_GELU_TANH, TEXT_ACT_RELU } TextEncoderAct;

/* What config.json says (the fields SERC uses). */
typedef struct TextEncoderConfig {
    TextEncoderArch arch; /* model_type "bert" / "roberta" (also "xlm-roberta", "camembert") */
    int vocab_size, hidden_size, num_layers, num_heads, intermediate_size;
    int max_position_embeddings, type_vocab_size, pad_token_id;
    float layer_norm_eps;
    TextEncoderAct act; /* hidden_act "gelu" | "gelu_new" / "gelu_pytorch_tanh" | "relu" */
} TextEncoderConfig;

typedef struct TextEncoder TextEncoder;

/* Loads config.json and model.safetensors from dir, and the tokenizer when the folder holds one
 * (vocab.txt, or vocab.json + merges.txt). NULL with err naming the file and the fault. */
TextEncoder *text_encoder_load(const char *dir, SercErr *err);
void text_encoder_free(TextEncoder *e);

const TextEncoderConfig *text_encoder_config(const TextEncoder *e);
/* The weights under their Hugging Face names without prefix ("encoder.layer.0.attention.self.query.weight"). */
ParamStore *text_encoder_params(const TextEncoder *e);
/* The folder's tokenizer, or NULL when it has none (owned by the encoder). */
const Tokenizer *text_encoder_tokenizer(const TextEncoder *e);

/* Every hidden state: ids (B, T) i32 or i64; mask (B, T) u8, 1 = token, 0 = padding (NULL: all
 * tokens); token_types (B, T) i32/i64 or NULL (all 0). Writes num_layers + 1 arena tensors (B, T, D) to
 * hidden[0..num_layers]: hidden[0] the embeddings output. Positions under padding are computed as
 * Hugging Face computes them (they attend to the valid keys only). Returns 0, or -1 with err when an id
 * or type is out of range or T exceeds the position table. Records nothing on the tape. */
int text_encoder_forward(Ctx *g, const TextEncoder *e, Tensor *ids, const Tensor *mask, Tensor *token_types,
                         Tensor **hidden, SercErr *err);

/* ---- batches ---- */

/* A padded batch of encoded texts. */
typedef struct TextBatch {
    int B, T, W;         /* items, tokens of the longest item, words of the wordiest item */
    Tensor *ids;         /* (B, T) i32, padded with the tokenizer's pad id (0 when it has none) */
    Tensor *mask;        /* (B, T) u8 */
    Tensor *lengths;     /* (B) i32: tokens of each item, specials included */
    Tensor *token_word;  /* (B, T) i32: word of each token in the item's word list, -1 for specials,
                            padding and whitespace-only tokens */
    Tensor *word_mask;   /* (B, W) u8: 1 where item b has word w and it kept at least one token */
} TextBatch;

/* Tokenizes B texts (truncated at max_length as tokenizer_encode says) into arena tensors; the words
 * are the whitespace-separated words of each text. */
int text_batch_encode(Ctx *g, const Tokenizer *tok, const char *const *texts, int B, int max_length,
                      TextBatch *out, SercErr *err);
/* The same for transcripts given as word lists (words[b][0..n_words[b])): each text is its words
 * joined by one space, and token_word refers to the given list, so word w of item b is exactly
 * words[b][w] (a word with inner spaces stays one word; an empty word, or one cut by truncation, gets
 * no token and word_mask 0). */
int text_batch_encode_words(Ctx *g, const Tokenizer *tok, const char *const *const *words, const int *n_words,
                            int B, int max_length, TextBatch *out, SercErr *err);

/* ---- pooling ---- */

/* Mean over each item's first lengths[b] tokens (specials included, as sentence-transformers' mean
 * pooling averages the attention mask): hidden (B, T, D), lengths (B) -> (B, D). */
Tensor *text_pool_mean(Ctx *g, Tensor *hidden, const Tensor *lengths);
/* The first token ([CLS] / <s>): (B, T, D) -> (B, D). */
Tensor *text_pool_cls(Ctx *g, Tensor *hidden);
/* One vector per word: out[b, w] = mean of hidden[b, t] over the tokens t with token_word[b, t] == w;
 * zeros for a word without tokens. hidden (B, T, D), token_word (B, T) i32 -> (B, W, D). Differentiable
 * in hidden (an averaging matrix times hidden). */
Tensor *text_pool_words(Ctx *g, Tensor *hidden, const Tensor *token_word, int W);

#endif
