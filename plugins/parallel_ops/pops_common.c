/* plugins/parallel_ops/pops_common.c - what the parallel_ops files share:
 * the communicator of an op, host copies, and timed collectives. */
#include "pops_internal.h"

#include <string.h>

ttml_comm *pops_comm(const char *op, const void *params, GError **error)
{
    const ttml_tp_op_params *p = params;
    if (p && p->comm) return p->comm;
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                "%s: no communicator given (params.comm is NULL); pass the tensor-parallel group", op);
    return NULL;
}

void pops_node_set_comm(ttml_node *node, ttml_comm *comm)
{
    memcpy(node->state.bytes, &comm, sizeof comm);
}

ttml_comm *pops_node_comm(const ttml_node *node)
{
    ttml_comm *comm;
    memcpy(&comm, node->state.bytes, sizeof comm);
    return comm;
}

float *pops_read(const ttml_tensor *t, GError **error)
{
    float *v = g_try_new(float, MAX(t->numel, (size_t)1));
    if (!v) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_OOM, "tensor parallel: no host memory for %" G_GSIZE_FORMAT
                    " values", t->numel);
        return NULL;
    }
    if (!ttml_tensor_to_floats(t, v, error)) {
        g_free(v);
        return NULL;
    }
    return v;
}

ttml_tensor *pops_new(const ttml_tensor *like, int ndim, const int64_t *shape, const float *data, GError **error)
{
    return ttml_tensor_from_floats(like->device, ndim, shape, data, error);
}

gboolean pops_allreduce(ttml_comm *comm, const char *op, float *buf, size_t n, ttml_comm_op how, GError **error)
{
    gint64 t0 = g_get_monotonic_time();
    gboolean ok = ttml_comm_allreduce(comm, buf, n, TTML_DTYPE_F32, how, error);
    ttml_tp_stats_add(n * sizeof(float), (double)(g_get_monotonic_time() - t0) / 1000.0);
    if (!ok) g_prefix_error(error, "%s: ", op);
    return ok;
}

gboolean pops_allgather(ttml_comm *comm, const char *op, const float *send, float *recv, size_t n, GError **error)
{
    gint64 t0 = g_get_monotonic_time();
    gboolean ok = ttml_comm_allgather(comm, send, recv, n, TTML_DTYPE_F32, error);
    ttml_tp_stats_add(n * sizeof(float) * (size_t)ttml_comm_size(comm),
                      (double)(g_get_monotonic_time() - t0) / 1000.0);
    if (!ok) g_prefix_error(error, "%s: ", op);
    return ok;
}
