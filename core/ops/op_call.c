/* core/ops/op_call.c - calling a registered op by name: the input and
 * parameter checks every op gets (NULL params = the op's defaults), and
 * its profiler zone. */
#include "internal.h"

#include <ttml/profile_zones.h>

ttml_tensor *ttml_op_call(const char *name, ttml_tensor *const *in, int n_in, const void *params,
                          size_t params_size, GError **error)
{
    const ttml_op_desc *op = ttml_op_find(name);
    if (!op) {
        ttml_set_not_found(error, TTML_FEATURE_OP, "op", name);
        return NULL;
    }
    if (n_in < op->min_inputs || n_in > op->max_inputs) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "op '%s' takes %d to %d inputs, got %d",
                    name, op->min_inputs, op->max_inputs, n_in);
        return NULL;
    }
    if (!params && op->params_size) {
        params = ttml_op_default_params(op);
        if (!params) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "op '%s' needs its %zu-byte parameter struct and declares no defaults, "
                        "but was called with params NULL: pass the struct (see the op's "
                        "description in ttml-inspect %s)", name, op->params_size, name);
            return NULL;
        }
    } else if (params && params_size != op->params_size) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "op '%s' expects a %zu-byte parameter struct, got %zu bytes", name,
                    op->params_size, params_size);
        return NULL;
    }
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "op '%s': input %d is NULL", name, i);
            return NULL;
        }
    }
    ttml_zone_begin(op->name, "op");
    ttml_tensor *out = op->forward(in, n_in, params, error);
    ttml_zone_end();
    return out;
}
