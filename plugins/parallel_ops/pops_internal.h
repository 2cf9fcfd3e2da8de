/* plugins/parallel_ops/pops_internal.h - private declarations of the
 * parallel_ops plugin (tensor-parallel ops, ttml/ops_parallel.h). The ops
 * move host copies of the values through the communicator, so they run on
 * every driver; each communication is counted in ttml_tp_stats_add.
 * Nothing here is exported (-fvisibility=hidden). */
#ifndef TTML_POPS_INTERNAL_H
#define TTML_POPS_INTERNAL_H

#include <ttml/ttml.h>

G_BEGIN_DECLS

/* ---- shared helpers (pops_common.c) ---- */
/* The communicator of an op's params (an error naming op when missing). */
ttml_comm *pops_comm(const char *op, const void *params, GError **error);
/* Keep / fetch the communicator in a node's state. */
void pops_node_set_comm(ttml_node *node, ttml_comm *comm);
ttml_comm *pops_node_comm(const ttml_node *node);
/* t's values as a new host f32 array (g_free), NULL with an error. */
float *pops_read(const ttml_tensor *t, GError **error);
/* A new f32 tensor on like's device with shape (ndim, shape) holding data. */
ttml_tensor *pops_new(const ttml_tensor *like, int ndim, const int64_t *shape, const float *data, GError **error);
/* Timed, counted collectives (prefixing errors with op). */
gboolean pops_allreduce(ttml_comm *comm, const char *op, float *buf, size_t n, ttml_comm_op how, GError **error);
gboolean pops_allgather(ttml_comm *comm, const char *op, const float *send, float *recv, size_t n, GError **error);

/* ---- forwards ---- */
#define POPS_FORWARD(name) \
    ttml_tensor *pops_##name##_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
POPS_FORWARD(tp_copy);
POPS_FORWARD(tp_reduce);
POPS_FORWARD(tp_gather);
POPS_FORWARD(tp_scatter);
POPS_FORWARD(vocab_ce);

G_END_DECLS

#endif
