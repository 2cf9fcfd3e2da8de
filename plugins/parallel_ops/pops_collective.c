/* plugins/parallel_ops/pops_collective.c - Megatron's conjugate pairs:
 *   tp_copy    y = x            dx = all-reduce(dy)
 *   tp_reduce  y = all-reduce(x) dx = dy
 *   tp_gather  y = [x_0 | x_1 | ...] along the last dim   dx = dy's own slice
 *   tp_scatter y = x's own slice of the last dim          dx = [dy_0 | dy_1 | ...]
 */
#include "pops_internal.h"

#include <string.h>

/* y = all-reduce(x) as a new tensor (also the backward of tp_copy). */
static ttml_tensor *allreduced(ttml_comm *comm, const char *op, ttml_tensor *x, GError **error)
{
    float *v = pops_read(x, error);
    if (!v) return NULL;
    ttml_tensor *y = pops_allreduce(comm, op, v, x->numel, TTML_COMM_SUM, error)
                         ? pops_new(x, x->ndim, x->shape, v, error)
                         : NULL;
    g_free(v);
    return y;
}

/* The own slice (rank r of n) of the last dim of x as a new tensor. */
static ttml_tensor *own_slice(ttml_comm *comm, ttml_tensor *x, GError **error)
{
    int n = ttml_comm_size(comm);
    size_t wide = (size_t)x->shape[x->ndim - 1], f = wide / (size_t)n, rows = wide ? x->numel / wide : 0;
    size_t off = f * (size_t)ttml_comm_rank(comm);
    float *v = pops_read(x, error);
    if (!v) return NULL;
    float *mine = g_new(float, MAX(rows * f, (size_t)1));
    for (size_t r = 0; r < rows; r++) memcpy(mine + r * f, v + r * wide + off, f * sizeof(float));
    int64_t shape[TTML_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = (int64_t)f;
    ttml_tensor *y = pops_new(x, x->ndim, shape, mine, error);
    g_free(mine);
    g_free(v);
    return y;
}

/* x [.., f] of every rank side by side: [.., n f] (rank order). */
static ttml_tensor *gathered(ttml_comm *comm, const char *op, ttml_tensor *x, GError **error)
{
    int n = ttml_comm_size(comm);
    size_t f = (size_t)x->shape[x->ndim - 1], rows = f ? x->numel / f : 0;
    float *v = pops_read(x, error);
    if (!v) return NULL;
    float *all = g_new(float, MAX(x->numel * (size_t)n, (size_t)1));
    float *out = g_new(float, MAX(x->numel * (size_t)n, (size_t)1));
    ttml_tensor *y = NULL;
    if (pops_allgather(comm, op, v, all, x->numel, error)) {
        for (int q = 0; q < n; q++)
            for (size_t r = 0; r < rows; r++)
                memcpy(out + r * f * (size_t)n + (size_t)q * f, all + (size_t)q * x->numel + r * f, f * sizeof(float));
        int64_t shape[TTML_MAX_DIMS];
        memcpy(shape, x->shape, sizeof shape);
        shape[x->ndim - 1] *= n;
        y = pops_new(x, x->ndim, shape, out, error);
    }
    g_free(v);
    g_free(all);
    g_free(out);
    return y;
}

/* Accumulate dx (taken; NULL = failed) into x. */
static gboolean take_grad(ttml_tensor *x, ttml_tensor *dx, GError **error)
{
    gboolean ok = dx && ttml_tensor_accumulate_grad(x, dx, error);
    ttml_tensor_unref(dx);
    return ok;
}

static gboolean tp_copy_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = node->out->grad;
    if (!dy || !node->in[0]->requires_grad) return TRUE;
    ttml_tensor *dx = allreduced(pops_node_comm(node), "tp_copy backward", dy, error);
    gboolean ok = dx && ttml_tensor_accumulate_grad(node->in[0], dx, error);
    ttml_tensor_unref(dx);
    return ok;
}

POPS_FORWARD(tp_copy)
{
    ttml_comm *comm = pops_comm("tp_copy", params, error);
    if (!comm || !ttml_op_check_inputs("tp_copy", in, n_in, 1, 1, 0, error)) return NULL;
    ttml_tensor *y = ttml_tensor_view_as(in[0], in[0]->ndim, in[0]->shape, error);
    if (!y) return NULL;
    ttml_node *node = ttml_graph_record("tp_copy", y, in, 1, tp_copy_backward);
    if (node) pops_node_set_comm(node, comm);
    return y;
}

static gboolean tp_reduce_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = node->out->grad;
    if (!dy || !node->in[0]->requires_grad) return TRUE;
    return ttml_tensor_accumulate_grad(node->in[0], dy, error);
}

POPS_FORWARD(tp_reduce)
{
    ttml_comm *comm = pops_comm("tp_reduce", params, error);
    if (!comm || !ttml_op_check_inputs("tp_reduce", in, n_in, 1, 1, 0, error)) return NULL;
    ttml_tensor *y = allreduced(comm, "tp_reduce", in[0], error);
    if (y) (void)ttml_graph_record("tp_reduce", y, in, 1, tp_reduce_backward);
    return y;
}

static gboolean tp_gather_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = node->out->grad, *x = node->in[0];
    if (!dy || !x->requires_grad) return TRUE;
    return take_grad(x, own_slice(pops_node_comm(node), dy, error), error);
}

POPS_FORWARD(tp_gather)
{
    ttml_comm *comm = pops_comm("tp_gather", params, error);
    if (!comm || !ttml_op_check_inputs("tp_gather", in, n_in, 1, 1, 0, error)) return NULL;
    ttml_tensor *y = gathered(comm, "tp_gather", in[0], error);
    if (y) {
        ttml_node *node = ttml_graph_record("tp_gather", y, in, 1, tp_gather_backward);
        if (node) pops_node_set_comm(node, comm);
    }
    return y;
}

static gboolean tp_scatter_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = node->out->grad, *x = node->in[0];
    if (!dy || !x->requires_grad) return TRUE;
    return take_grad(x, gathered(pops_node_comm(node), "tp_scatter backward", dy, error), error);
}

POPS_FORWARD(tp_scatter)
{
    ttml_comm *comm = pops_comm("tp_scatter", params, error);
    if (!comm || !ttml_op_check_inputs("tp_scatter", in, n_in, 1, 1, 0, error)) return NULL;
    int64_t wide = in[0]->shape[in[0]->ndim - 1];
    int n = ttml_comm_size(comm);
    if (wide % n != 0) {
        char sh[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "tp_scatter: the last dim of %s (%" G_GINT64_FORMAT ") cannot be split over %d ranks",
                    ttml_shape_str(in[0]->ndim, in[0]->shape, sh, sizeof sh), wide, n);
        return NULL;
    }
    ttml_tensor *y = own_slice(comm, in[0], error);
    if (y) {
        ttml_node *node = ttml_graph_record("tp_scatter", y, in, 1, tp_scatter_backward);
        if (node) pops_node_set_comm(node, comm);
    }
    return y;
}
