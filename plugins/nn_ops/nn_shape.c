/* plugins/nn_ops/nn_shape.c - reshape (a view: no copy), transpose of the last
 * two dims and concat (one "strided_copy" per input); narrow is in
 * nn_narrow.c. */
#include "nn_internal.h"

#include <string.h>

/* ---- reshape ---- */

static gboolean reshape_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy || !nn_needs_grad(node, 0)) return TRUE;
    ttml_tensor *x = node->in[0];
    return nn_accumulate(x, ttml_tensor_view_as(dy, x->ndim, x->shape, error), error);
}

ttml_tensor *nn_reshape_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    if (!ttml_op_check_inputs("reshape", in, n_in, 1, 1, 0, error) ||
        !nn_need_params("reshape", params, "ttml_reshape_op_params", error))
        return NULL;
    const ttml_reshape_op_params *p = params;
    ttml_tensor *x = in[0];
    if (p->ndim < 1 || p->ndim > TTML_MAX_DIMS) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE, "reshape: ndim %d is not in 1..%d", p->ndim,
                    TTML_MAX_DIMS);
        return NULL;
    }
    int64_t shape[TTML_MAX_DIMS];
    memcpy(shape, p->shape, sizeof shape);
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < p->ndim; d++) {
        if (shape[d] == -1 && infer < 0) {
            infer = d;
        } else if (shape[d] < 0) {
            char s[96];
            g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                        "reshape: bad target shape %s (extents must be >= 0; one may be -1)",
                        ttml_shape_str(p->ndim, shape, s, sizeof s));
            return NULL;
        } else {
            known *= shape[d];
        }
    }
    if (infer >= 0) {
        if (known == 0 || (int64_t)x->numel % known != 0) {
            char a[96], b[96];
            g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                        "reshape: cannot view %s (%zu elements) as %s: the -1 extent cannot be inferred",
                        ttml_shape_str(x->ndim, x->shape, a, sizeof a), x->numel,
                        ttml_shape_str(p->ndim, shape, b, sizeof b));
            return NULL;
        }
        shape[infer] = (int64_t)x->numel / known;
    }
    ttml_tensor *y = ttml_tensor_view_as(x, p->ndim, shape, error);
    if (y) ttml_graph_record("reshape", y, in, 1, reshape_backward);
    return y;
}

/* ---- transpose ---- */

static ttml_tensor *transpose_new(ttml_tensor *x, GError **error)
{
    int64_t shape[TTML_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = x->shape[x->ndim - 2];
    shape[x->ndim - 2] = x->shape[x->ndim - 1];
    return nn_launch_new("transpose_last2", &x, 1, x, x->ndim, shape, NULL, 0, error);
}

static gboolean transpose_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy || !nn_needs_grad(node, 0)) return TRUE;
    return nn_accumulate(node->in[0], transpose_new(dy, error), error);
}

ttml_tensor *nn_transpose_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    if (!ttml_op_check_inputs("transpose", in, n_in, 1, 1, 0, error)) return NULL;
    if (in[0]->ndim < 2) {
        char s[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "transpose: shape %s has fewer than 2 dims; reshape it to [1, N] first",
                    ttml_shape_str(in[0]->ndim, in[0]->shape, s, sizeof s));
        return NULL;
    }
    ttml_tensor *y = transpose_new(in[0], error);
    if (y) ttml_graph_record("transpose", y, in, 1, transpose_backward);
    return y;
}

/* ---- concat ---- */

static gboolean concat_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy) return TRUE;
    int dim = (int)node->state.i[0];
    int64_t outer, inner, off = 0, total = dy->shape[dim];
    nn_split_dims(dy, dim, &outer, &inner);
    for (int i = 0; i < node->n_in; i++) {
        ttml_tensor *x = node->in[i];
        int64_t ext = x->shape[dim];
        if (nn_needs_grad(node, i)) {
            ttml_tensor *g = nn_new_like(x, error);
            if (!g || !nn_slab_copy(dy, g, outer, ext * inner, total * inner, off * inner, ext * inner, 0, error)) {
                ttml_tensor_unref(g);
                return FALSE;
            }
            if (!nn_accumulate(x, g, error)) return FALSE;
        }
        off += ext;
    }
    return TRUE;
}

static ttml_tensor *concat_impl(ttml_tensor *const *xs, int n, int dim, GError **error)
{
    /* a node holds at most TTML_NODE_MAX_IN inputs: concatenate groups first */
    if (n > TTML_NODE_MAX_IN) {
        int n_groups = (n + TTML_NODE_MAX_IN - 1) / TTML_NODE_MAX_IN;
        ttml_tensor *parts[TTML_NODE_MAX_IN * TTML_NODE_MAX_IN];
        if (n_groups > TTML_NODE_MAX_IN) {
            /* recursion keeps every level within the node limit */
            n_groups = TTML_NODE_MAX_IN;
        }
        int per = (n + n_groups - 1) / n_groups, k = 0;
        for (int s = 0; s < n; s += per, k++) {
            parts[k] = concat_impl(xs + s, MIN(per, n - s), dim, error);
            if (!parts[k]) {
                for (int j = 0; j < k; j++) ttml_tensor_unref(parts[j]);
                return NULL;
            }
        }
        ttml_tensor *y = concat_impl(parts, k, dim, error);
        for (int j = 0; j < k; j++) ttml_tensor_unref(parts[j]);
        return y;
    }
    ttml_tensor *x0 = xs[0];
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        ttml_tensor *x = xs[i];
        gboolean ok = x->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++) ok = d == dim || x->shape[d] == x0->shape[d];
        if (!ok) {
            ttml_op_shape_error(error, "concat", x0, x, "of inputs 0 and %d differ outside dim %d", i, dim);
            return NULL;
        }
        total += x->shape[dim];
    }
    int64_t shape[TTML_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof shape);
    shape[dim] = total;
    ttml_tensor *y = ttml_op_output(x0, x0->ndim, shape, error);
    if (!y) return NULL;
    int64_t outer, inner, off = 0;
    nn_split_dims(y, dim, &outer, &inner);
    for (int i = 0; i < n; i++) {
        int64_t ext = xs[i]->shape[dim];
        if (!nn_slab_copy(xs[i], y, outer, ext * inner, ext * inner, 0, total * inner, off * inner, error)) {
            ttml_tensor_unref(y);
            return NULL;
        }
        off += ext;
    }
    ttml_node *node = ttml_graph_record("concat", y, xs, n, concat_backward);
    if (node) node->state.i[0] = dim;
    return y;
}

ttml_tensor *nn_concat_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    if (!ttml_op_check_inputs("concat", in, n_in, 1, 1024, 0, error) ||
        !nn_need_params("concat", params, "ttml_concat_op_params", error))
        return NULL;
    int dim = nn_norm_dim("concat", in[0], ((const ttml_concat_op_params *)params)->dim, error);
    if (dim < 0) return NULL;
    return concat_impl(in, n_in, dim, error);
}
