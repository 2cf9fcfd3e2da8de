/* plugins/parallel_ops/pops_plugin.c - the parallel_ops plugin: entry point
 * and the table of tensor-parallel ops it registers (ttml/ops_parallel.h). */
#include "pops_internal.h"

#define OP(NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD) \
    {sizeof(ttml_op_desc), NAME, DESCRIPTION, MIN_IN, MAX_IN, PARAMS_SIZE, FORWARD}

static const ttml_op_desc pops_ops[] = {
    OP("tp_copy", "copy to the TP region: identity forward, all-reduce of the gradient (ttml_tp_op_params)", 1, 1,
       sizeof(ttml_tp_op_params), pops_tp_copy_forward),
    OP("tp_reduce", "reduce from the TP region: all-reduce forward, identity backward (ttml_tp_op_params)", 1, 1,
       sizeof(ttml_tp_op_params), pops_tp_reduce_forward),
    OP("tp_gather", "all-gather along the last dim; backward keeps this rank's slice (ttml_tp_op_params)", 1, 1,
       sizeof(ttml_tp_op_params), pops_tp_gather_forward),
    OP("tp_scatter", "this rank's slice of the last dim; backward all-gathers (ttml_tp_op_params)", 1, 1,
       sizeof(ttml_tp_op_params), pops_tp_scatter_forward),
    OP("vocab_parallel_cross_entropy", "mean cross-entropy of vocab-sharded logits (ttml_vocab_ce_op_params)",
       2, 2, sizeof(ttml_vocab_ce_op_params), pops_vocab_ce_forward),
};

static gboolean pops_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    for (size_t i = 0; i < G_N_ELEMENTS(pops_ops); i++)
        if (!host->register_op(plugin, &pops_ops[i], error)) return FALSE;
    return TRUE;
}

TTML_PLUGIN_DEFINE(parallel_ops, TTML_PLUGIN_OPS, "0.1.0",
                   "Tensor-parallel ops: tp_copy, tp_reduce, tp_gather, tp_scatter, vocab_parallel_cross_entropy",
                   "MIT", NULL, pops_init, NULL)
