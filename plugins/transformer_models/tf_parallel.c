/* plugins/transformer_models/tf_parallel.c - tensor parallelism of the
 * transformer models (Megatron-LM; TT-Train's modules/distributed): the TP
 * settings and their checks, parameter shards, and the vocab-parallel token
 * embedding.
 *
 * Layout under TP (size n, rank r):
 *   gpt2   attn.qkv column-parallel (q, k and v each split: heads H/n),
 *          attn.proj row-parallel, mlp.fc column, mlp.proj row
 *   llama  attn.q/k/v column (heads H/n, key/value groups G/n), attn.o row,
 *          mlp.w1/w3 column, mlp.w2 row
 *   both   norms and the row-parallel biases replicated; the token table
 *          and the head split on the vocabulary (embedding_placement:
 *          vocab_parallel, the default) or the table replicated
 *          (replicated; needs an untied head); gpt2's wpe replicated.
 * The logits come out vocab-sharded [B,1,S,V/n] for the vocab-parallel
 * cross-entropy.
 */
#include "tf_internal.h"

#include <stdarg.h>
#include <string.h>

static gboolean tp_error(GError **error, ttml_config *cfg, const char *key, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
static gboolean tp_error(GError **error, ttml_config *cfg, const char *key, const char *fmt, ...)
{
    char w[256];
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ttml_config *node = cfg && key ? ttml_config_peek(cfg, key) : NULL;
    g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: %s",
                node ? ttml_config_where(node, w, sizeof w) : cfg ? ttml_config_where(cfg, w, sizeof w)
                                                                  : "transformer_config",
                msg);
    g_free(msg);
    return FALSE;
}

/* embedding_placement: replicated | vocab_parallel (TT-Train's aliases too). */
static gboolean read_placement(ttml_config *cfg, tf_config *c, GError **error)
{
    GError *local = NULL;
    const char *s = cfg ? ttml_config_string(cfg, "embedding_placement", "vocab_parallel", &local) : "vocab_parallel";
    if (local) {
        g_propagate_error(error, local);
        return FALSE;
    }
    static const char *const vocab[] = {"vocab_parallel", "vocab", NULL};
    static const char *const repl[] = {"replicated", "none", "disabled", "off", NULL};
    for (int i = 0; vocab[i]; i++)
        if (g_ascii_strcasecmp(s, vocab[i]) == 0) c->vocab_parallel = TRUE;
    gboolean known = c->vocab_parallel;
    for (int i = 0; repl[i]; i++) known = known || g_ascii_strcasecmp(s, repl[i]) == 0;
    if (!known)
        return tp_error(error, cfg, "embedding_placement",
                        "'embedding_placement' must be vocab_parallel or replicated, got '%s'", s);
    return TRUE;
}

/* `what` (= v) divides by the TP size n, or an error naming both. */
static gboolean divides(ttml_config *cfg, const char *key, const char *what, int64_t v, int n, GError **error)
{
    if (v % n == 0) return TRUE;
    return tp_error(error, cfg, key,
                    "tensor parallelism over %d ranks splits %s, but %s is %" G_GINT64_FORMAT
                    ", not a multiple of %d; change it or the TP size (device_config.mesh_shape)",
                    n, what, what, v, n);
}

gboolean tf_config_tp(ttml_config *cfg, tf_config *c, GError **error)
{
    if (!read_placement(cfg, c, error)) return FALSE;
    ttml_comm *tp = ttml_tp_get_group();
    c->tp_size = tp ? ttml_comm_size(tp) : 1;
    c->tp_rank = tp ? ttml_comm_rank(tp) : 0;
    c->tp = c->tp_size > 1 ? tp : NULL;
    if (!c->tp) {
        c->vocab_parallel = FALSE;
        return TRUE;
    }
    int n = c->tp_size;
    if (!divides(cfg, "num_heads", "num_heads (the attention heads)", c->num_heads, n, error) ||
        (c->arch == TF_ARCH_LLAMA &&
         !divides(cfg, "num_groups", "num_groups (the key/value heads)", c->num_groups, n, error)) ||
        !divides(cfg, "intermediate_dim", "intermediate_dim (the MLP width)", c->intermediate_dim, n, error) ||
        !divides(cfg, "vocab_size", "vocab_size (the padded vocabulary of the head)", c->vocab_size, n, error))
        return FALSE;
    if (!c->vocab_parallel && c->weight_tying)
        return tp_error(error, cfg, "embedding_placement",
                        "embedding_placement: replicated cannot tie weights under tensor parallelism (the tied "
                        "head is vocab-sharded); use vocab_parallel or weight_tying: disabled");
    return TRUE;
}

ttml_tensor *tf_shard_param(const tf_config *c, ttml_tensor *full, int dim, int groups, const char *what,
                            GError **error)
{
    if (!c || !c->tp) return full;
    ttml_shard s;
    int64_t shape[TTML_MAX_DIMS];
    float *v = NULL, *part = NULL;
    ttml_tensor *t = NULL;
    if (ttml_shard_init(&s, what, full->ndim, full->shape, dim, groups, c->tp_size, c->tp_rank, error)) {
        ttml_shard_shape(&s, shape);
        v = g_new(float, full->numel);
        part = g_new(float, full->numel / (size_t)c->tp_size);
        if (ttml_tensor_to_floats(full, v, error)) {
            ttml_shard_copy(&s, v, part, FALSE);
            t = ttml_tensor_from_floats(full->device, full->ndim, shape, part, error);
        }
    }
    if (t) ttml_tensor_set_shard(t, &s);
    g_free(v);
    g_free(part);
    ttml_tensor_unref(full);
    return t;
}

ttml_tensor *tf_tp_embed_tokens(const tf_config *c, ttml_tensor *ids, ttml_tensor *weight, GError **error)
{
    if (!c->tp || !c->vocab_parallel) return ttml_embedding(ids, weight, error);
    int64_t rows = weight->shape[0], start = rows * c->tp_rank, t = ids->shape[ids->ndim - 1];
    int64_t b = (int64_t)ids->numel / MAX(t, 1);
    guint32 *v = g_new(guint32, MAX(ids->numel, (size_t)1));
    float *mask = g_new(float, MAX(ids->numel, (size_t)1));
    ttml_tensor *local = NULL, *m = NULL;
    if (ttml_tensor_read(ids, v, error)) {
        for (size_t i = 0; i < ids->numel; i++) {
            gboolean mine = (int64_t)v[i] >= start && (int64_t)v[i] < start + rows;
            mask[i] = mine ? 1.0f : 0.0f;
            v[i] = mine ? (guint32)((int64_t)v[i] - start) : 0u;
        }
        const int64_t ishape[4] = {b, 1, 1, t}, mshape[4] = {b, 1, t, 1};
        local = ttml_tensor_from_data(ids->device, 4, ishape, TTML_DTYPE_U32, v, error);
        m = local ? ttml_tensor_from_floats(ids->device, 4, mshape, mask, error) : NULL;
    }
    g_free(v);
    g_free(mask);
    ttml_tensor *e = m ? ttml_embedding(local, weight, error) : NULL;
    ttml_tensor *masked = e ? ttml_mul(e, m, error) : NULL;   /* [B,1,T,E] * [B,1,T,1] */
    ttml_tensor *sum = masked ? ttml_tp_reduce(masked, c->tp, error) : NULL;
    ttml_tensor_unref(local);
    ttml_tensor_unref(m);
    ttml_tensor_unref(e);
    ttml_tensor_unref(masked);
    return sum;
}
