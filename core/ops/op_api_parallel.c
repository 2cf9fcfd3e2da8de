/* core/ops/op_api_parallel.c - typed wrappers of the tensor-parallel ops
 * (ttml/ops_parallel.h): one registry call each into the parallel_ops plugin. */
#include <ttml/ttml.h>

static ttml_tensor *tp_call(const char *name, ttml_tensor *x, ttml_comm *tp, GError **error)
{
    ttml_tp_op_params p = {tp};
    return ttml_op_call(name, &x, 1, &p, sizeof p, error);
}

ttml_tensor *ttml_tp_copy(ttml_tensor *x, ttml_comm *tp, GError **error)
{
    return tp_call("tp_copy", x, tp, error);
}

ttml_tensor *ttml_tp_reduce(ttml_tensor *x, ttml_comm *tp, GError **error)
{
    return tp_call("tp_reduce", x, tp, error);
}

ttml_tensor *ttml_tp_gather(ttml_tensor *x, ttml_comm *tp, GError **error)
{
    return tp_call("tp_gather", x, tp, error);
}

ttml_tensor *ttml_tp_scatter(ttml_tensor *x, ttml_comm *tp, GError **error)
{
    return tp_call("tp_scatter", x, tp, error);
}

ttml_tensor *ttml_vocab_parallel_cross_entropy(ttml_tensor *logits, ttml_tensor *targets, ttml_comm *tp,
                                               int64_t valid_vocab, GError **error)
{
    ttml_vocab_ce_op_params p = {tp, valid_vocab};
    ttml_tensor *in[2] = {logits, targets};
    return ttml_op_call("vocab_parallel_cross_entropy", in, 2, &p, sizeof p, error);
}
