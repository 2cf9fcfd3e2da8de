/* plugins/core_ops/ops_matmul.c - matmul (batched, optional transposes, shared
 * second operand) and linear (x @ W^T + b), from the "matmul" kernel.
 *
 * With C = op(A) @ op(B):  d op(A) = dC @ op(B)^T,  d op(B) = op(A)^T @ dC,
 * transposed back when the operand was used transposed.
 */
#include "ops_internal.h"

/* Product of all dims but the last two. */
static int64_t batch_of(const ttml_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim - 2; i++) n *= t->shape[i];
    return n;
}

/* Linear outputs of at least this many elements start from the bias and
 * accumulate the product into it (smaller ones: product, then bias add; the
 * extra launches would cost more than the pass they save). */
#define LINEAR_BIAS_FIRST_MIN 16384

/* out = op(a) @ op(b) + beta * out (the kernel broadcasts b's batch when it
 * is 1). */
static gboolean mm_launch_beta(ttml_tensor *a, ttml_tensor *b, int trans_a, int trans_b,
                               ttml_tensor *out, float beta, GError **error)
{
    ttml_matmul_params p = {trans_a, trans_b, 1.0f, beta, (int)ttml_get_matmul_precision()};
    ttml_tensor *in[2] = {a, b};
    return ops_launch("matmul", in, 2, out, &p, sizeof p, error);
}

/* out = op(a) @ op(b). */
static gboolean mm_launch(ttml_tensor *a, ttml_tensor *b, int trans_a, int trans_b,
                          ttml_tensor *out,
                          GError **error)
{
    return mm_launch_beta(a, b, trans_a, trans_b, out, 0.0f, error);
}

/* t viewed as [numel / cols, cols] (shares t's buffer). */
static ttml_tensor *view_2d(ttml_tensor *t, int64_t cols, GError **error)
{
    int64_t shape[2] = {(int64_t)t->numel / cols, cols};
    return ttml_tensor_view_as(t, 2, shape, error);
}

/* Launch on 2-D views of a, b and out (row counts derived from numel):
 * out = op(a) @ op(b) + beta * out. */
static gboolean mm_launch_2d_beta(ttml_tensor *a, int64_t a_cols, ttml_tensor *b, int64_t b_cols,
                                  int trans_a, int trans_b, ttml_tensor *out, int64_t out_cols,
                                  float beta, GError **error)
{
    ttml_tensor *a2 = view_2d(a, a_cols, error);
    ttml_tensor *b2 = a2 ? view_2d(b, b_cols, error) : NULL;
    ttml_tensor *o2 = b2 ? view_2d(out, out_cols, error) : NULL;
    gboolean ok = o2 && mm_launch_beta(a2, b2, trans_a, trans_b, o2, beta, error);
    ttml_tensor_unref(a2);
    ttml_tensor_unref(b2);
    ttml_tensor_unref(o2);
    return ok;
}

static gboolean mm_launch_2d(ttml_tensor *a, int64_t a_cols, ttml_tensor *b, int64_t b_cols,
                             int trans_a, int trans_b, ttml_tensor *out, int64_t out_cols,
                             GError **error)
{
    return mm_launch_2d_beta(a, a_cols, b, b_cols, trans_a, trans_b, out, out_cols, 0.0f, error);
}

/* ---- matmul ---- */

static gboolean matmul_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = ops_node_dy(node);
    if (!dy) return TRUE;
    ttml_tensor *a = node->in[0], *b = node->in[1];
    int ta = (int)node->state.i[0], tb = (int)node->state.i[1];
    gboolean shared = batch_of(b) == 1 && batch_of(a) > 1;
    int64_t b_rows = b->shape[b->ndim - 2], b_cols = b->shape[b->ndim - 1];

    if (ops_needs_grad(node, 0)) {
        ttml_tensor *ga = ttml_op_output(dy, a->ndim, a->shape, error);
        if (!ga) return FALSE;
        gboolean ok;
        if (!ta) {
            ok = mm_launch(dy, b, 0, !tb, ga, error);                /* dC @ op(B)^T     */
        } else if (!shared) {
            ok = mm_launch(b, dy, tb, 1, ga, error);                 /* op(B) @ dC^T     */
        } else {
            /* The kernel broadcasts only its second operand: expand B over
             * A's batch first (rare: trans_a with shared weights). */
            int64_t shape[TTML_MAX_DIMS];
            for (int i = 0; i < a->ndim - 2; i++) shape[i] = a->shape[i];
            shape[a->ndim - 2] = b_rows;
            shape[a->ndim - 1] = b_cols;
            ttml_tensor *zero = ttml_tensor_zeros(b->device, 1, (const int64_t[]){1},
                                                  TTML_DTYPE_F32, error);
            ttml_tensor *bx = zero ? ops_binary_new(TTML_BINARY_ADD, b, zero, a->ndim, shape, error)
                                   : NULL;
            ok = bx && mm_launch(bx, dy, tb, 1, ga, error);
            ttml_tensor_unref(zero);
            ttml_tensor_unref(bx);
        }
        if (!ok) {
            ttml_tensor_unref(ga);
            return FALSE;
        }
        if (!ops_accumulate(a, ga, error)) return FALSE;
    }

    if (ops_needs_grad(node, 1)) {
        ttml_tensor *gb = NULL;
        gboolean ok;
        if (!shared) {
            gb = ttml_op_output(dy, b->ndim, b->shape, error);
            ok = gb && (!tb ? mm_launch(a, dy, !ta, 0, gb, error)      /* op(A)^T @ dC   */
                            : mm_launch(dy, a, 1, ta, gb, error));     /* dC^T @ op(A)   */
        } else if (!ta) {
            /* Shared weights: the batch sum is one 2-D product over all rows. */
            int64_t k = a->shape[a->ndim - 1], n = dy->shape[dy->ndim - 1];
            gb = ttml_op_output(dy, b->ndim, b->shape, error);
            ok = gb && (!tb ? mm_launch_2d(a, k, dy, n, 1, 0, gb, b_cols, error)
                            : mm_launch_2d(dy, n, a, k, 1, 0, gb, b_cols, error));
        } else {
            /* Shared weights with op(A) = A^T: per-batch products, then sum. */
            int64_t shape[TTML_MAX_DIMS];
            for (int i = 0; i < a->ndim - 2; i++) shape[i] = a->shape[i];
            shape[a->ndim - 2] = b_rows;
            shape[a->ndim - 1] = b_cols;
            ttml_tensor *tmp = ttml_op_output(dy, a->ndim, shape, error);
            ok = tmp && (!tb ? mm_launch(a, dy, 0, 0, tmp, error)
                             : mm_launch(dy, a, 1, 1, tmp, error));
            if (ok) {
                gb = ops_reduce_to(tmp, b, 1.0f, error);
                ok = gb != NULL;
            }
            ttml_tensor_unref(tmp);
        }
        if (!ok) {
            ttml_tensor_unref(gb);
            return FALSE;
        }
        if (!ops_accumulate(b, gb, error)) return FALSE;
    }
    return TRUE;
}

ttml_tensor *ops_matmul_forward(ttml_tensor *const *in, int n_in, const void *params,
                                GError **error)
{
    if (!ttml_op_check_inputs("matmul", in, n_in, 2, 2, 0, error)) return NULL;
    const ttml_matmul_op_params *mp = params;
    int ta = mp ? mp->trans_a != 0 : 0, tb = mp ? mp->trans_b != 0 : 0;
    ttml_tensor *a = in[0], *b = in[1];
    if (a->ndim < 2 || b->ndim < 2) {
        ttml_op_shape_error(error, "matmul", a, b, "do not fit: both operands need at least 2 dims");
        return NULL;
    }
    int64_t m = a->shape[a->ndim - (ta ? 1 : 2)], ka = a->shape[a->ndim - (ta ? 2 : 1)];
    int64_t kb = b->shape[b->ndim - (tb ? 1 : 2)], n = b->shape[b->ndim - (tb ? 2 : 1)];
    if (ka != kb) {
        ttml_op_shape_error(error, "matmul", a, b,
                            "do not fit (inner dims %" G_GINT64_FORMAT " vs %" G_GINT64_FORMAT
                            ", trans_a=%d, trans_b=%d)",
                            ka, kb, ta, tb);
        return NULL;
    }
    if (batch_of(b) != 1) {
        gboolean same = a->ndim == b->ndim;
        for (int i = 0; same && i < a->ndim - 2; i++) same = a->shape[i] == b->shape[i];
        if (!same) {
            ttml_op_shape_error(error, "matmul", a, b,
                                "have incompatible batch dims (the second operand needs the first's "
                                "batch dims, or batch 1 to be shared)");
            return NULL;
        }
    }
    int ndim = MAX(a->ndim, b->ndim);
    int64_t shape[TTML_MAX_DIMS];
    for (int i = 0; i < ndim - 2; i++) {
        int ia = i - (ndim - a->ndim);
        shape[i] = ia >= 0 ? a->shape[ia] : 1;
    }
    shape[ndim - 2] = m;
    shape[ndim - 1] = n;
    ttml_tensor *out = ttml_op_output(a, ndim, shape, error);
    if (!out) return NULL;
    if (!mm_launch(a, b, ta, tb, out, error)) {
        ttml_tensor_unref(out);
        return NULL;
    }
    ttml_node *node = ttml_graph_record("matmul", out, in, 2, matmul_backward);
    if (node) {
        node->state.i[0] = ta;
        node->state.i[1] = tb;
    }
    return out;
}

/* ---- linear: y = x @ W^T + b over all leading dims of x ---- */

static gboolean linear_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = ops_node_dy(node);
    if (!dy) return TRUE;
    ttml_tensor *x = node->in[0], *w = node->in[1];
    int64_t n_out = w->shape[0], n_in = w->shape[1];

    /* A gradient that already exists and is not shared (the input feeds
     * several linears, gradient accumulation, tied weights) is added to in
     * place by the kernel (beta = 1): no new tensor, no separate add. */
    ttml_tensor *acc;
    if (ops_needs_grad(node, 0)) {                       /* dx = dy @ W     */
        if ((acc = ops_grad_in_place(x))) {
            if (!mm_launch_2d_beta(dy, n_out, w, n_in, 0, 0, acc, n_in, 1.0f, error)) return FALSE;
        } else {
            ttml_tensor *gx = ttml_op_output(dy, x->ndim, x->shape, error);
            if (!gx || !mm_launch_2d(dy, n_out, w, n_in, 0, 0, gx, n_in, error)) {
                ttml_tensor_unref(gx);
                return FALSE;
            }
            if (!ops_accumulate(x, gx, error)) return FALSE;
        }
    }
    if (ops_needs_grad(node, 1)) {                       /* dW = dy^T @ x   */
        if ((acc = ops_grad_in_place(w))) {
            if (!mm_launch_2d_beta(dy, n_out, x, n_in, 1, 0, acc, n_in, 1.0f, error)) return FALSE;
        } else {
            ttml_tensor *gw = ttml_op_output(dy, 2, w->shape, error);
            if (!gw || !mm_launch_2d(dy, n_out, x, n_in, 1, 0, gw, n_in, error)) {
                ttml_tensor_unref(gw);
                return FALSE;
            }
            if (!ops_accumulate(w, gw, error)) return FALSE;
        }
    }
    if (node->n_in > 2 && ops_needs_grad(node, 2)) {    /* db = sum of dy  */
        ttml_tensor *bias = node->in[2];
        if ((acc = ops_grad_in_place(bias))) {
            ttml_reduce_params p = {1.0f, 1.0f};
            if (!ops_launch("reduce_to", &dy, 1, acc, &p, sizeof p, error)) return FALSE;
        } else if (!ops_accumulate(bias, ops_reduce_to(dy, bias, 1.0f, error), error)) {
            return FALSE;
        }
    }
    return TRUE;
}

ttml_tensor *ops_linear_forward(ttml_tensor *const *in, int n_in, const void *params G_GNUC_UNUSED,
                                GError **error)
{
    if (!ttml_op_check_inputs("linear", in, n_in, 2, 3, 0, error)) return NULL;
    ttml_tensor *x = in[0], *w = in[1], *bias = n_in > 2 ? in[2] : NULL;
    if (w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[w->ndim - 1]) {
        ttml_op_shape_error(error, "linear", x, w,
                            "do not fit (x is [..., in_features], weight is [out_features, "
                            "in_features])");
        return NULL;
    }
    int64_t n_out = w->shape[0], n_in_f = w->shape[1];
    if (bias && (bias->ndim != 1 || bias->shape[0] != n_out)) {
        ttml_op_shape_error(error, "linear", w, bias,
                            "do not fit (weight is [out_features, in_features], bias is "
                            "[out_features])");
        return NULL;
    }
    int64_t shape[TTML_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = n_out;
    ttml_tensor *out = ttml_op_output(x, x->ndim, shape, error);
    if (!out) return NULL;
    gboolean ok;
    if (bias && out->numel >= LINEAR_BIAS_FIRST_MIN) {
        /* out = bias on every row, then out += x @ W^T (beta = 1): one pass
         * over out instead of two (the GEMM's zeroing, then the bias add) */
        ttml_tensor *zero = ttml_tensor_zeros(x->device, 1, (const int64_t[]){1}, TTML_DTYPE_F32, error);
        ttml_binary_params p = {TTML_BINARY_ADD};
        ttml_tensor *bin[2] = {bias, zero};
        ok = zero && ops_launch("binary", bin, 2, out, &p, sizeof p, error) &&
             mm_launch_2d_beta(x, n_in_f, w, n_in_f, 0, 1, out, n_out, 1.0f, error);
        ttml_tensor_unref(zero);
    } else {
        ok = mm_launch_2d(x, n_in_f, w, n_in_f, 0, 1, out, n_out, error);
        if (ok && bias) {
            ttml_binary_params p = {TTML_BINARY_ADD};
            ttml_tensor *bin[2] = {out, bias};
            ok = ops_launch("binary", bin, 2, out, &p, sizeof p, error);  /* in place */
        }
    }
    if (!ok) {
        ttml_tensor_unref(out);
        return NULL;
    }
    ttml_graph_record("linear", out, in, n_in, linear_backward);
    return out;
}
