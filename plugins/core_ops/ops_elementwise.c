/* plugins/core_ops/ops_elementwise.c - add, sub, mul, div (NumPy broadcasting of
 * both operands), add_scalar, mul_scalar, relu and leaky_relu.
 *
 * Broadcast gradients are summed back to each input's shape with the
 * "reduce_to" kernel; the divisor's gradient uses the fused "div_bwd_b".
 */
#include "ops_internal.h"

#include <math.h>

/* Accumulate scale * g, reduced to t's shape, into t->grad. */
static gboolean accumulate_reduced(ttml_tensor *t, ttml_tensor *g, float scale, GError **error)
{
    if (scale == 1.0f && ttml_shape_equal(t, g)) return ttml_tensor_accumulate_grad(t, g, error);
    return ops_accumulate(t, ops_reduce_to(g, t, scale, error), error);
}

/* Accumulate reduce_to(target shape, dy OP other) into target->grad. */
static gboolean accumulate_product(ttml_tensor *target, ttml_binary_op op, ttml_tensor *dy,
                                   ttml_tensor *other, GError **error)
{
    ttml_tensor *t = ops_binary_new(op, dy, other, dy->ndim, dy->shape, error);
    if (!t) return FALSE;
    gboolean ok = accumulate_reduced(target, t, 1.0f, error);
    ttml_tensor_unref(t);
    return ok;
}

static ttml_tensor *binary_forward(const char *name, ttml_binary_op op, ttml_backward_fn backward,
                                   ttml_tensor *const *in, int n_in, GError **error)
{
    if (!ttml_op_check_inputs(name, in, n_in, 2, 2, 0, error)) return NULL;
    int ndim;
    int64_t shape[TTML_MAX_DIMS];
    if (!ttml_broadcast_shapes(name, in[0], in[1], &ndim, shape, error)) return NULL;
    ttml_tensor *out = ops_binary_new(op, in[0], in[1], ndim, shape, error);
    if (!out) return NULL;
    ttml_graph_record(name, out, in, 2, backward);
    return out;
}

/* ---- add / sub ---- */

static gboolean add_sub_backward(ttml_node *node, float sign_b, GError **error)
{
    ttml_tensor *dy = ops_node_dy(node);
    if (!dy) return TRUE;
    if (ops_needs_grad(node, 0) && !accumulate_reduced(node->in[0], dy, 1.0f, error))
        return FALSE;
    if (ops_needs_grad(node, 1) && !accumulate_reduced(node->in[1], dy, sign_b, error))
        return FALSE;
    return TRUE;
}

static gboolean add_backward(ttml_node *node, GError **error)
{
    return add_sub_backward(node, 1.0f, error);
}

static gboolean sub_backward(ttml_node *node, GError **error)
{
    return add_sub_backward(node, -1.0f, error);
}

ttml_tensor *ops_add_forward(ttml_tensor *const *in, int n_in, const void *params G_GNUC_UNUSED,
                             GError **error)
{
    return binary_forward("add", TTML_BINARY_ADD, add_backward, in, n_in, error);
}

ttml_tensor *ops_sub_forward(ttml_tensor *const *in, int n_in, const void *params G_GNUC_UNUSED,
                             GError **error)
{
    return binary_forward("sub", TTML_BINARY_SUB, sub_backward, in, n_in, error);
}

/* ---- mul / div ---- */

static gboolean mul_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = ops_node_dy(node);
    if (!dy) return TRUE;
    ttml_tensor *a = node->in[0], *b = node->in[1];
    if (ops_needs_grad(node, 0) && !accumulate_product(a, TTML_BINARY_MUL, dy, b, error))
        return FALSE;
    if (ops_needs_grad(node, 1) && !accumulate_product(b, TTML_BINARY_MUL, dy, a, error))
        return FALSE;
    return TRUE;
}

static gboolean div_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = ops_node_dy(node);
    if (!dy) return TRUE;
    ttml_tensor *a = node->in[0], *b = node->in[1];
    /* d(a/b)/da = 1/b */
    if (ops_needs_grad(node, 0) && !accumulate_product(a, TTML_BINARY_DIV, dy, b, error))
        return FALSE;
    /* d(a/b)/db = -a/b^2, reduced to b's shape by the kernel */
    if (ops_needs_grad(node, 1)) {
        ttml_tensor *gb = ttml_op_output(dy, b->ndim, b->shape, error);
        if (!gb) return FALSE;
        ttml_tensor *in[3] = {dy, a, b};
        if (!ops_launch("div_bwd_b", in, 3, gb, NULL, 0, error)) {
            ttml_tensor_unref(gb);
            return FALSE;
        }
        if (!ops_accumulate(b, gb, error)) return FALSE;
    }
    return TRUE;
}

ttml_tensor *ops_mul_forward(ttml_tensor *const *in, int n_in, const void *params G_GNUC_UNUSED,
                             GError **error)
{
    return binary_forward("mul", TTML_BINARY_MUL, mul_backward, in, n_in, error);
}

ttml_tensor *ops_div_forward(ttml_tensor *const *in, int n_in, const void *params G_GNUC_UNUSED,
                             GError **error)
{
    return binary_forward("div", TTML_BINARY_DIV, div_backward, in, n_in, error);
}

/* ---- add_scalar / mul_scalar: one "affine" each way ---- */

static ttml_tensor *affine_new(ttml_tensor *x, float mul, float add, GError **error)
{
    ttml_tensor *out = ttml_op_output(x, x->ndim, x->shape, error);
    if (!out) return NULL;
    ttml_affine_params p = {mul, add};
    if (!ops_launch("affine", &x, 1, out, &p, sizeof p, error)) {
        ttml_tensor_unref(out);
        return NULL;
    }
    return out;
}

static gboolean add_scalar_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = ops_node_dy(node);
    if (!dy || !ops_needs_grad(node, 0)) return TRUE;
    return ttml_tensor_accumulate_grad(node->in[0], dy, error);
}

static gboolean mul_scalar_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = ops_node_dy(node);
    if (!dy || !ops_needs_grad(node, 0)) return TRUE;
    return ops_accumulate(node->in[0], affine_new(dy, (float)node->state.d[0], 0.0f, error), error);
}

static ttml_tensor *scalar_forward(const char *name, gboolean is_mul, ttml_backward_fn backward,
                                   ttml_tensor *const *in, int n_in, const void *params,
                                   GError **error)
{
    if (!ttml_op_check_inputs(name, in, n_in, 1, 1, 0, error)) return NULL;
    if (!params) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: params (ttml_scalar_op_params) are required", name);
        return NULL;
    }
    float s = ((const ttml_scalar_op_params *)params)->value;
    ttml_tensor *out = affine_new(in[0], is_mul ? s : 1.0f, is_mul ? 0.0f : s, error);
    if (!out) return NULL;
    ttml_node *node = ttml_graph_record(name, out, in, 1, backward);
    if (node) node->state.d[0] = s;
    return out;
}

ttml_tensor *ops_add_scalar_forward(ttml_tensor *const *in, int n_in, const void *params,
                                    GError **error)
{
    return scalar_forward("add_scalar", FALSE, add_scalar_backward, in, n_in, params, error);
}

ttml_tensor *ops_mul_scalar_forward(ttml_tensor *const *in, int n_in, const void *params,
                                    GError **error)
{
    return scalar_forward("mul_scalar", TRUE, mul_scalar_backward, in, n_in, params, error);
}

/* ---- relu ---- */

static gboolean relu_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = ops_node_dy(node);
    if (!dy || !ops_needs_grad(node, 0)) return TRUE;
    ttml_tensor *x = node->in[0];
    ttml_tensor *dx = ttml_op_output(x, x->ndim, x->shape, error);
    if (!dx) return FALSE;
    ttml_tensor *in[2] = {x, dy};
    if (!ops_launch("relu_bwd", in, 2, dx, NULL, 0, error)) {
        ttml_tensor_unref(dx);
        return FALSE;
    }
    return ops_accumulate(x, dx, error);
}

ttml_tensor *ops_relu_forward(ttml_tensor *const *in, int n_in, const void *params G_GNUC_UNUSED,
                              GError **error)
{
    if (!ttml_op_check_inputs("relu", in, n_in, 1, 1, 0, error)) return NULL;
    ttml_tensor *x = in[0];
    ttml_tensor *out = ttml_op_output(x, x->ndim, x->shape, error);
    if (!out) return NULL;
    if (!ops_launch("relu", &x, 1, out, NULL, 0, error)) {
        ttml_tensor_unref(out);
        return NULL;
    }
    ttml_graph_record("relu", out, in, 1, relu_backward);
    return out;
}

/* ---- leaky_relu ----
 * x for x > 0, slope * x otherwise, composed as (1 - slope) * relu(x) +
 * slope * x from the ops above, so its gradient (1 or slope; slope at 0, as
 * PyTorch) comes from their backwards and it runs on every driver. */

ttml_tensor *ops_leaky_relu_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    if (!ttml_op_check_inputs("leaky_relu", in, n_in, 1, 1, 0, error)) return NULL;
    float s = ((const ttml_leaky_relu_op_params *)params)->slope;
    if (!isfinite(s)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "leaky_relu: slope must be finite, got %g",
                    (double)s);
        return NULL;
    }
    ttml_scalar_op_params keep = {1.0f - s}, leak = {s};
    ttml_tensor *r = ops_relu_forward(in, 1, NULL, error);
    ttml_tensor *rk = r ? ops_mul_scalar_forward(&r, 1, &keep, error) : NULL;
    ttml_tensor *xs = rk ? ops_mul_scalar_forward(in, 1, &leak, error) : NULL;
    ttml_tensor *sum[2] = {rk, xs};
    ttml_tensor *out = xs ? ops_add_forward(sum, 2, NULL, error) : NULL;
    if (r) ttml_tensor_unref(r);
    if (rk) ttml_tensor_unref(rk);
    if (xs) ttml_tensor_unref(xs);
    return out;
}
