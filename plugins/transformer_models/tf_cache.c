/* plugins/transformer_models/tf_cache.c - KV-cache decoding (the cache_new /
 * cache_free / decode hooks of ttml_module_class).
 *
 * The cache keeps, per block, the keys and values of every position decoded
 * so far as device tensors k, v [B, G, len, D] (G = num_groups for llama,
 * num_heads for gpt2; llama's keys are stored after RoPE). decode(ids
 * [B,1,1,T], pos) embeds the T new tokens at positions pos .. pos+T-1 (gpt2:
 * rows pos.. of wpe; llama: RoPE offset pos), computes their q, k, v,
 * appends k, v to the cache with ttml_concat along the sequence dim, and runs
 * sdpa with q [B,H,T,D] over k, v [B,G,pos+T,D], causal: sdpa's offset rule
 * (query i sees keys j <= i + Skv - Sq) makes this exactly the full
 * forward's attention. Gradients are off and the model runs in eval mode
 * (no dropout) for the call; the previous mode is restored afterwards.
 *
 * Why concat rather than a preallocated buffer written in place: the public
 * API has no "write rows at an offset" kernel, and a host round trip
 * (ttml_tensor_read/write of the whole cache) would cost O(max_len) per step
 * plus a device<->host copy. Concat stays on the device and copies the
 * pos+T rows once per step, the same order of work as the attention itself
 * (which reads all pos+T keys), so each new token still costs O(one
 * position) of matmul work in the projections and MLP, and O(pos) in the
 * attention as it must.
 *
 * pos may be smaller than the number of cached positions (rewinding: the
 * cache is cut back to pos first) but not larger (a gap would have no keys).
 * pos + T beyond max_len or max_sequence_length is an error.
 */
#include "tf_internal.h"

typedef struct tf_cache {
    ttml_module *model;     /* owned reference */
    int64_t batch, max_len;
    int64_t len;            /* positions cached */
    int64_t n_blocks;
    tf_kv *kv;
} tf_cache;

void *tf_cache_new(ttml_module *m, int64_t batch, int64_t max_len, GError **error)
{
    tf_model *p = m->priv;
    if (p->cfg.tp) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: cached decoding of a tensor-parallel model (TP %d) is not supported; consolidate the "
                    "checkpoint (ttml-run consolidate) and generate at TP 1",
                    p->cfg.model_name, p->cfg.tp_size);
        return NULL;
    }
    if (batch <= 0 || max_len <= 0 || max_len > p->cfg.max_seq_len) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: a KV cache needs batch > 0 and 0 < max_len <= max_sequence_length (%"
                    G_GINT64_FORMAT "); got batch %" G_GINT64_FORMAT ", max_len %" G_GINT64_FORMAT,
                    p->cfg.model_name, p->cfg.max_seq_len, batch, max_len);
        return NULL;
    }
    tf_cache *c = g_new0(tf_cache, 1);
    c->model = ttml_module_ref(m);
    c->batch = batch;
    c->max_len = max_len;
    c->n_blocks = p->cfg.num_blocks;
    c->kv = g_new0(tf_kv, c->n_blocks);
    return c;
}

void tf_cache_free(void *cache)
{
    tf_cache *c = cache;
    if (!c) return;
    for (int64_t i = 0; i < c->n_blocks; i++) {
        ttml_tensor_unref(c->kv[i].k);
        ttml_tensor_unref(c->kv[i].v);
    }
    g_free(c->kv);
    ttml_module_unref(c->model);
    g_free(c);
}

/* Cut *t [B,G,S,D] to its first `keep` positions (NULL when keep == 0). */
static gboolean truncate_seq(ttml_tensor **t, int64_t keep, GError **error)
{
    if (!*t || (*t)->shape[2] <= keep) return TRUE;
    if (keep == 0) {
        ttml_tensor_unref(*t);
        *t = NULL;
        return TRUE;
    }
    ttml_tensor *parts[2] = {NULL, NULL};
    const int64_t sizes[2] = {keep, (*t)->shape[2] - keep};
    if (!ttml_split(*t, 2, sizes, 2, parts, error)) return FALSE;
    ttml_tensor_unref(parts[1]);
    ttml_tensor_unref(*t);
    *t = parts[0];
    return TRUE;
}

static ttml_tensor *decode_steps(ttml_module *m, tf_cache *c, ttml_tensor *ids, int64_t pos,
                                 GError **error)
{
    tf_model *p = m->priv;
    /* cut back to pos (rewinding, or a previous call that failed half-way) */
    for (int64_t i = 0; i < c->n_blocks; i++)
        if (!truncate_seq(&c->kv[i].k, pos, error) || !truncate_seq(&c->kv[i].v, pos, error))
            return NULL;
    c->len = pos;
    ttml_tensor *x = p->embed(m, ids, pos, error);
    for (int64_t i = 0; x && i < c->n_blocks; i++) {
        ttml_tensor *y = tf_block_run(p->blocks[i], x, &c->kv[i], pos, error);
        ttml_tensor_unref(x);
        x = y;
    }
    if (!x) return NULL;
    ttml_tensor *logits = tf_model_head(m, x, error);
    ttml_tensor_unref(x);
    if (logits) c->len = pos + ids->shape[ids->ndim - 1];
    return logits;
}

ttml_tensor *tf_decode(ttml_module *m, void *cache, ttml_tensor *ids, int64_t pos, GError **error)
{
    tf_model *p = m->priv;
    tf_cache *c = cache;
    const char *model = p->cfg.model_name;
    if (!c || c->model != m) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: decode needs a cache made by this model's cache_new", model);
        return NULL;
    }
    int64_t t = tf_check_ids(p, ids, pos, error);
    if (t < 0) return NULL;
    if (ids->shape[0] != c->batch) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "%s: decode got a batch of %" G_GINT64_FORMAT " sequences, but the cache was "
                    "made for %" G_GINT64_FORMAT,
                    model, ids->shape[0], c->batch);
        return NULL;
    }
    if (pos > c->len) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: decode at position %" G_GINT64_FORMAT " but the cache holds only %"
                    G_GINT64_FORMAT " positions; decode positions in order (pos <= cached length)",
                    model, pos, c->len);
        return NULL;
    }
    if (pos + t > c->max_len) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: positions %" G_GINT64_FORMAT " .. %" G_GINT64_FORMAT
                    " exceed the cache's max_len (%" G_GINT64_FORMAT ")",
                    model, pos, pos + t - 1, c->max_len);
        return NULL;
    }
    gboolean was_training = m->training;
    if (was_training) ttml_module_train(m, FALSE);
    gboolean prev = ttml_set_grad_enabled(FALSE);
    ttml_tensor *logits = decode_steps(m, c, ids, pos, error);
    ttml_set_grad_enabled(prev);
    if (was_training) ttml_module_train(m, TRUE);
    return logits;
}
