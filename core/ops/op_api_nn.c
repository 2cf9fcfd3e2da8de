/* core/ops/op_api_nn.c - typed wrappers of the nn ops (ttml/ops_nn.h): each is
 * one registry call into the nn_ops plugin; ttml_split is one "narrow" call
 * per piece. */
#include <ttml/ttml.h>

#include <string.h>

ttml_tensor *ttml_embedding(ttml_tensor *ids, ttml_tensor *weight, GError **error)
{
    ttml_tensor *in[2] = {ids, weight};
    return ttml_op_call("embedding", in, 2, NULL, 0, error);
}

ttml_tensor *ttml_layernorm(ttml_tensor *x, ttml_tensor *gamma, ttml_tensor *beta, float eps, GError **error)
{
    ttml_norm_op_params p = {eps};
    ttml_tensor *in[3] = {x, gamma, beta};
    return ttml_op_call("layernorm", in, beta ? 3 : 2, &p, sizeof p, error);
}

ttml_tensor *ttml_rmsnorm(ttml_tensor *x, ttml_tensor *gamma, float eps, GError **error)
{
    ttml_norm_op_params p = {eps};
    ttml_tensor *in[2] = {x, gamma};
    return ttml_op_call("rmsnorm", in, 2, &p, sizeof p, error);
}

ttml_tensor *ttml_gelu(ttml_tensor *x, GError **error)
{
    return ttml_op_call("gelu", &x, 1, NULL, 0, error);
}

ttml_tensor *ttml_silu(ttml_tensor *x, GError **error)
{
    return ttml_op_call("silu", &x, 1, NULL, 0, error);
}

ttml_tensor *ttml_swiglu(ttml_tensor *gate, ttml_tensor *up, GError **error)
{
    ttml_tensor *in[2] = {gate, up};
    return ttml_op_call("swiglu", in, 2, NULL, 0, error);
}

ttml_tensor *ttml_softmax(ttml_tensor *x, GError **error)
{
    return ttml_op_call("softmax", &x, 1, NULL, 0, error);
}

ttml_tensor *ttml_log_softmax(ttml_tensor *x, GError **error)
{
    return ttml_op_call("log_softmax", &x, 1, NULL, 0, error);
}

ttml_tensor *ttml_dropout(ttml_tensor *x, float p, gboolean training, GError **error)
{
    ttml_dropout_op_params op = {p, training ? 1 : 0};
    return ttml_op_call("dropout", &x, 1, &op, sizeof op, error);
}

ttml_tensor *ttml_reshape(ttml_tensor *x, int ndim, const int64_t *shape, GError **error)
{
    ttml_reshape_op_params p = {0};
    if (ndim < 1 || ndim > TTML_MAX_DIMS || !shape) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "ttml_reshape: a shape of 1..%d dims is required, got %d dims%s", TTML_MAX_DIMS, ndim,
                    shape ? "" : " (NULL)");
        return NULL;
    }
    p.ndim = ndim;
    memcpy(p.shape, shape, (size_t)ndim * sizeof(int64_t));
    return ttml_op_call("reshape", &x, 1, &p, sizeof p, error);
}

ttml_tensor *ttml_transpose(ttml_tensor *x, GError **error)
{
    return ttml_op_call("transpose", &x, 1, NULL, 0, error);
}

ttml_tensor *ttml_concat(ttml_tensor *const *xs, int n, int dim, GError **error)
{
    ttml_concat_op_params p = {dim};
    return ttml_op_call("concat", xs, n, &p, sizeof p, error);
}

gboolean ttml_split(ttml_tensor *x, int dim, const int64_t *sizes, int n, ttml_tensor **out, GError **error)
{
    if (!x || !sizes || !out || n < 1) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttml_split: needs a tensor, n >= 1 sizes and an output array (got n = %d)", n);
        return FALSE;
    }
    for (int i = 0; i < n; i++) out[i] = NULL;
    int d = dim < 0 ? dim + x->ndim : dim;
    if (d < 0 || d >= x->ndim) {
        char s[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttml_split: dim %d is out of range for a tensor of shape %s", dim,
                    ttml_shape_str(x->ndim, x->shape, s, sizeof s));
        return FALSE;
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += sizes[i] > 0 ? sizes[i] : 0;
    gboolean sizes_ok = total == x->shape[d];
    for (int i = 0; i < n; i++) sizes_ok = sizes_ok && sizes[i] > 0;
    if (!sizes_ok) {
        char s[96];
        GString *list = g_string_new(NULL);
        for (int i = 0; i < n; i++)
            g_string_append_printf(list, "%s%" G_GINT64_FORMAT, i ? ", " : "", sizes[i]);
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "ttml_split: sizes [%s] must be positive and sum to %" G_GINT64_FORMAT
                    " (dim %d of shape %s)",
                    list->str, x->shape[d], dim, ttml_shape_str(x->ndim, x->shape, s, sizeof s));
        g_string_free(list, TRUE);
        return FALSE;
    }
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        ttml_narrow_op_params p = {d, start, sizes[i]};
        out[i] = ttml_op_call("narrow", &x, 1, &p, sizeof p, error);
        if (!out[i]) {
            for (int j = 0; j < i; j++) {
                ttml_tensor_unref(out[j]);
                out[j] = NULL;
            }
            return FALSE;
        }
        start += sizes[i];
    }
    return TRUE;
}

ttml_tensor *ttml_cross_entropy_loss(ttml_tensor *logits, ttml_tensor *targets, int64_t valid_vocab,
                                     ttml_reduction reduction, GError **error)
{
    ttml_cross_entropy_op_params p = {valid_vocab, reduction};
    ttml_tensor *in[2] = {logits, targets};
    return ttml_op_call("cross_entropy_loss", in, 2, &p, sizeof p, error);
}

ttml_tensor *ttml_nll_loss(ttml_tensor *logp, ttml_tensor *targets, ttml_reduction reduction, GError **error)
{
    ttml_nll_op_params p = {reduction};
    ttml_tensor *in[2] = {logp, targets};
    return ttml_op_call("nll_loss", in, 2, &p, sizeof p, error);
}
