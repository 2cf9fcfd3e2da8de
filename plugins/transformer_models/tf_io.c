/* plugins/transformer_models/tf_io.c - what the full forward (tf_model.c) and
 * cached decoding (tf_cache.c) share at the model's ends: the checks of the
 * input ids, position ids, and the final norm + head that makes the logits. */
#include "tf_internal.h"

int64_t tf_check_ids(const tf_model *p, const ttml_tensor *ids, int64_t pos, GError **error)
{
    const char *model = p->cfg.model_name;
    char s[96];
    if (!ids) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: no input ids given", model);
        return -1;
    }
    gboolean shape_ok = (ids->ndim == 4 && ids->shape[1] == 1 && ids->shape[2] == 1) || ids->ndim == 2;
    if (ids->dtype != TTML_DTYPE_U32 || !shape_ok) {
        g_set_error(error, TTML_ERROR, ids->dtype != TTML_DTYPE_U32 ? TTML_ERROR_DTYPE : TTML_ERROR_SHAPE,
                    "%s: the input must be token ids, u32 [B, 1, 1, S] or [B, S]; got %s %s", model,
                    ttml_dtype_name(ids->dtype), ttml_shape_str(ids->ndim, ids->shape, s, sizeof s));
        return -1;
    }
    int64_t t = ids->shape[ids->ndim - 1];
    if (pos < 0 || pos + t > p->cfg.max_seq_len) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: positions %" G_GINT64_FORMAT " .. %" G_GINT64_FORMAT
                    " exceed max_sequence_length (%" G_GINT64_FORMAT "); use shorter sequences or "
                    "raise max_sequence_length in transformer_config",
                    model, pos, pos + t - 1, p->cfg.max_seq_len);
        return -1;
    }
    return t;
}

ttml_tensor *tf_position_ids(int64_t pos, int64_t n, GError **error)
{
    guint32 *v = g_new(guint32, n);
    for (int64_t i = 0; i < n; i++) v[i] = (guint32)(pos + i);
    const int64_t shape[4] = {1, 1, 1, n};
    ttml_tensor *t = ttml_tensor_from_data(NULL, 4, shape, TTML_DTYPE_U32, v, error);
    g_free(v);
    return t;
}

ttml_tensor *tf_model_head(ttml_module *m, ttml_tensor *x, GError **error)
{
    tf_model *p = m->priv;
    ttml_tensor *h = ttml_module_forward(p->norm, x, error);
    if (h && p->cfg.tp) { /* the head is column-parallel on the vocabulary */
        ttml_tensor *c = ttml_tp_copy(h, p->cfg.tp, error);
        ttml_tensor_unref(h);
        h = c;
    }
    if (!h) return NULL;
    ttml_tensor *logits = p->head ? ttml_linear(h, tf_leaf_weight(p->head), NULL, error)
                                  : ttml_matmul(h, tf_leaf_weight(p->tok_emb), FALSE, TRUE, error);
    ttml_tensor_unref(h);
    return logits;
}
