/* plugins/transformer_models/tf_internal.h - private declarations of the
 * transformer_models plugin (gpt2 / nanogpt and llama).
 *
 * Module tree (parameter names compose from child names):
 *
 *   gpt2   wte.weight [V,E]  wpe.weight [S,E] (trainable positions only)
 *          blocks.i.{ln1,attn.qkv,attn.proj,ln2,mlp.fc,mlp.proj}.{weight,bias}
 *          ln_f.{weight,bias}  head.weight [V,E] (untied only)
 *   llama  tok_emb.weight [V,E]
 *          blocks.i.attn_norm.weight  blocks.i.attn.{q,k,v,o}.weight
 *          blocks.i.mlp_norm.weight   blocks.i.mlp.{w1,w2,w3}.weight
 *          norm.weight  head.weight (untied only)
 *
 * Nothing here is exported (the plugin is built with -fvisibility=hidden).
 */
#ifndef TTML_TF_INTERNAL_H
#define TTML_TF_INTERNAL_H

#include <ttml/ttml.h>

G_BEGIN_DECLS

typedef enum { TF_ARCH_GPT2 = 0, TF_ARCH_LLAMA = 1 } tf_arch;

/* The parsed transformer_config (see tf_config.c for keys and defaults). */
typedef struct tf_config {
    tf_arch arch;
    const char *model_name;      /* "gpt2", "nanogpt", "llama" (static) */
    int64_t num_heads;
    int64_t num_groups;          /* kv heads (llama); gpt2: = num_heads  */
    int64_t embedding_dim;
    int64_t head_dim;            /* embedding_dim / num_heads            */
    int64_t num_blocks;
    int64_t vocab_size;          /* as given (the trainer pads it to 32) */
    int64_t valid_vocab_size;    /* informational, <= vocab_size         */
    int64_t max_seq_len;
    int64_t intermediate_dim;    /* MLP hidden width                     */
    float dropout_prob;
    float theta;                 /* RoPE base (llama)                    */
    float norm_eps;
    gboolean weight_tying;
    gboolean bias;               /* gpt2: linear and LayerNorm biases    */
    gboolean fixed_positions;    /* gpt2: sinusoidal constant table      */
    gboolean memory_efficient;   /* runner_type: memory_efficient        */
    /* tensor parallelism (tf_parallel.c): the TP group the model was built
     * for (borrowed; NULL = none), its size and this rank */
    ttml_comm *tp;
    int tp_size, tp_rank;
    gboolean vocab_parallel;     /* embedding_placement: vocab_parallel   */
} tf_config;

/* Read and validate cfg (may be NULL: all defaults). */
gboolean tf_config_parse(ttml_config *cfg, tf_arch arch, const char *model_name, tf_config *out,
                         GError **error);

/* The descriptor's estimate hook for `arch` (tf_estimate.c). */
gboolean tf_estimate(ttml_config *cfg, tf_arch arch, const char *name, ttml_model_size *out, GError **error);

/* ---- tensor parallelism (tf_parallel.c) ----
 * Megatron-style: per block half one copy-to-TP (after the norm) and one
 * reduce-from-TP (in the row-parallel output linear). Every rank draws the
 * FULL parameter from the seed and keeps its shard, so TP N starts exactly
 * as TP 1. */
typedef enum {
    TF_REPLICATED = 0,   /* whole on every rank                                   */
    TF_COLUMN,           /* weight [out, in] split on out, bias split              */
    TF_COLUMN_QKV,       /* the same for a fused q|k|v weight (3 blocks)           */
    TF_ROW,              /* weight split on in, no bias before the reduce          */
} tf_split;
/* The TP group (ttml_tp_get_group) and embedding_placement of cfg; checks
 * that heads, groups, widths and the vocabulary divide by the TP size. */
gboolean tf_config_tp(ttml_config *cfg, tf_config *c, GError **error);
/* The shard of `full` (taken) along dim in `groups` blocks for c's TP rank,
 * carrying its ttml_shard; `full` itself without TP. */
ttml_tensor *tf_shard_param(const tf_config *c, ttml_tensor *full, int dim, int groups, const char *what,
                            GError **error);
/* Token embeddings of ids from a vocab-sharded table (ids outside this
 * rank's rows give zeros; summed over the TP group). */
ttml_tensor *tf_tp_embed_tokens(const tf_config *c, ttml_tensor *ids, ttml_tensor *weight, GError **error);

/* ---- parameter-holding leaf modules (tf_blocks.c) ---- */

/* A normal(0, std) tensor (std 0: zeros) on the context device; value `fill`
 * when std < 0. */
ttml_tensor *tf_param_tensor(int ndim, const int64_t *shape, float std, float fill,
                             GError **error);
/* Linear layer: weight [out, in] ~ N(0, std), bias [out] = 0 (optional),
 * split over c's TP group as `split` says (c NULL: whole). */
ttml_module *tf_linear_new(const tf_config *c, int64_t in, int64_t out, gboolean bias, float std, tf_split split,
                           GError **error);
/* LayerNorm (gamma 1, beta 0 when `bias`) or RMSNorm (gamma 1) over `dim`. */
ttml_module *tf_norm_new(int64_t dim, gboolean rms, gboolean bias, float eps, GError **error);
/* Embedding table weight [rows, dim] ~ N(0, std); rows split over
 * vocab_parallel's TP group when not NULL. */
ttml_module *tf_embedding_new(int64_t rows, int64_t dim, float std, const tf_config *vocab_parallel,
                              GError **error);
/* The first parameter ("weight") of a leaf module (borrowed). */
ttml_tensor *tf_leaf_weight(ttml_module *m);
ttml_tensor *tf_leaf_bias(ttml_module *m);

/* ---- transformer blocks (tf_blocks.c) ---- */

/* Per-block KV cache slot: k, v [B, G, len, D] (owned; NULL when empty). */
typedef struct tf_kv {
    ttml_tensor *k, *v;
} tf_kv;

ttml_module *tf_block_new(const tf_config *cfg, GError **error);
/* Run one block. kv == NULL: full causal self-attention over x's sequence.
 * kv != NULL (decoding, gradients off): x holds positions pos .. pos+T-1;
 * their keys/values are appended to kv and attention covers the cache. */
ttml_tensor *tf_block_run(ttml_module *block, ttml_tensor *x, tf_kv *kv, int64_t pos,
                          GError **error);

/* ---- gradient checkpointing (tf_checkpointing.c) ---- */

typedef struct { ttml_module *block; } tf_checkpoint_op_params;
extern const ttml_op_desc tf_checkpoint_op_desc;
/* y = block(x) recorded as ONE node that re-computes the block in backward. */
ttml_tensor *tf_block_checkpoint(ttml_module *block, ttml_tensor *x, GError **error);

/* ---- the language model (tf_model.c shared by tf_gpt2.c, tf_llama.c) ---- */

typedef struct tf_model {
    tf_config cfg;
    ttml_module *tok_emb;        /* borrowed child: wte / tok_emb        */
    ttml_module *pos_emb;        /* gpt2 trainable: wpe; else NULL       */
    ttml_tensor *pos_table;      /* gpt2 fixed: sinusoidal [S, E], owned */
    ttml_module **blocks;        /* borrowed children, num_blocks        */
    ttml_module *norm;           /* ln_f / norm                          */
    ttml_module *head;           /* NULL when tied                       */
    /* token (+ position) embeddings: tf_gpt2_embed / tf_llama_embed, set
     * by the arch's build */
    ttml_tensor *(*embed)(ttml_module *m, ttml_tensor *ids, int64_t pos, GError **error);
} tf_model;

extern const ttml_module_class tf_model_classes[2];   /* by tf_arch */

/* A new model module of cfg->arch whose tf_model (*out: cfg copied, the
 * blocks array allocated, no children yet) the caller fills. */
ttml_module *tf_model_new(const tf_config *cfg, tf_model **out);
/* Add the children after the embeddings, in parameter order: the blocks
 * "blocks.0".., the final norm `norm_name` (RMSNorm when rms, with a bias
 * when bias) and, without weight tying, "head". FALSE with *error set. */
gboolean tf_model_add_body(ttml_module *m, const char *norm_name, gboolean rms, gboolean bias,
                           GError **error);

/* Build the model module (children per arch); tf_gpt2.c / tf_llama.c. */
ttml_module *tf_gpt2_build(const tf_config *cfg, GError **error);
ttml_module *tf_llama_build(const tf_config *cfg, GError **error);
/* Token (+ position) embeddings of ids at positions pos.. -> [B,1,T,E]. */
ttml_tensor *tf_gpt2_embed(ttml_module *m, ttml_tensor *ids, int64_t pos, GError **error);
ttml_tensor *tf_llama_embed(ttml_module *m, ttml_tensor *ids, int64_t pos, GError **error);

/* KV cache hooks (tf_cache.c). */
void *tf_cache_new(ttml_module *m, int64_t batch, int64_t max_len, GError **error);
void tf_cache_free(void *cache);
ttml_tensor *tf_decode(ttml_module *m, void *cache, ttml_tensor *ids, int64_t pos, GError **error);

/* ---- the model's input checks and output head (tf_io.c) ---- */
/* Checks ids (u32 [B,1,1,T] or [B,T]); returns T (or -1 with an error). */
int64_t tf_check_ids(const tf_model *p, const ttml_tensor *ids, int64_t pos, GError **error);
/* Final norm and head: x [B,1,T,E] -> logits [B,1,T,V]. */
ttml_tensor *tf_model_head(ttml_module *m, ttml_tensor *x, GError **error);
/* A u32 tensor [1,1,1,n] holding pos, pos+1, ... */
ttml_tensor *tf_position_ids(int64_t pos, int64_t n, GError **error);

G_END_DECLS

#endif
