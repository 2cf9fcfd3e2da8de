/* python/src/ops.c - ops callable from Python: typed wrappers over the
 * public op API (ops.h, ops_nn.h, ops_attn.h) and ttml_op_call by name for
 * any op a plugin registered. Results are new Tensors. */
#include "pyttml.h"

#include <string.h>

gboolean pyttml_as_scalar(PyObject *o, float *out)
{
    if (PyFloat_Check(o)) {
        *out = (float)PyFloat_AS_DOUBLE(o);
        return TRUE;
    }
    if (PyLong_Check(o) || (!pyttml_tensor_check(o) && PyNumber_Check(o) && PyIndex_Check(o))) {
        double d = PyLong_AsDouble(o);
        if (d == -1.0 && PyErr_Occurred()) return FALSE;
        *out = (float)d;
        return TRUE;
    }
    if (!pyttml_tensor_check(o) && PyNumber_Check(o)) {   /* numpy scalars etc. */
        double d = PyFloat_AsDouble(o);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return FALSE;
        }
        *out = (float)d;
        return TRUE;
    }
    return FALSE;
}

/* Called as result(op(..., &err), &err): *err is read after the op ran. */
static PyObject *result(ttml_tensor *t, GError **err)
{
    return t ? pyttml_tensor_wrap(t) : pyttml_raise(*err);
}

/* scalar (op) tensor */
static ttml_tensor *scalar_lhs(const char *op, float s, ttml_tensor *b, GError **err)
{
    if (!strcmp(op, "add")) return ttml_add_scalar(b, s, err);
    if (!strcmp(op, "mul")) return ttml_mul_scalar(b, s, err);
    if (!strcmp(op, "sub")) {
        ttml_tensor *nb = ttml_mul_scalar(b, -1.0f, err);
        ttml_tensor *r = nb ? ttml_add_scalar(nb, s, err) : NULL;
        ttml_tensor_unref(nb);
        return r;
    }
    ttml_tensor *st = ttml_tensor_scalar(b->device, s, err);   /* div */
    ttml_tensor *r = st ? ttml_div(st, b, err) : NULL;
    ttml_tensor_unref(st);
    return r;
}

/* tensor (op) scalar */
static ttml_tensor *scalar_rhs(const char *op, ttml_tensor *a, float s, GError **err)
{
    switch (op[0]) {
    case 'a': return ttml_add_scalar(a, s, err);
    case 's': return ttml_add_scalar(a, -s, err);
    case 'm': return ttml_mul_scalar(a, s, err);
    default: return ttml_mul_scalar(a, 1.0f / s, err);
    }
}

/* a (op) b for op in add, sub, mul, div, matmul; Tensor or number on either
 * side. Py_NotImplemented when neither is a Tensor or the other is not a
 * number (the number protocol then tries the reflected operation). */
PyObject *pyttml_binary(const char *op, PyObject *a, PyObject *b)
{
    int ta = pyttml_tensor_check(a), tb = pyttml_tensor_check(b);
    float s;
    GError *err = NULL;
    if (ta && tb) {
        ttml_tensor *x = pyttml_tensor_get(a, "input a"), *y = x ? pyttml_tensor_get(b, "input b") : NULL;
        if (!y) return NULL;
        switch (op[0]) {
        case 'a': return result(ttml_add(x, y, &err), &err);
        case 's': return result(ttml_sub(x, y, &err), &err);
        case 'd': return result(ttml_div(x, y, &err), &err);
        default:
            return result(op[1] == 'u' ? ttml_mul(x, y, &err) : ttml_matmul(x, y, FALSE, FALSE, &err), &err);
        }
    }
    if (strcmp(op, "matmul") != 0 && (ta || tb) && pyttml_as_scalar(ta ? b : a, &s)) {
        ttml_tensor *t = pyttml_tensor_get(ta ? a : b, ta ? "input a" : "input b");
        if (!t) return NULL;
        return result(ta ? scalar_rhs(op, t, s, &err) : scalar_lhs(op, s, t, &err), &err);
    }
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NOTIMPLEMENTED;
}

static PyObject *binary_fn(const char *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes 2 arguments (a, b), got %zd", op, nargs);
        return NULL;
    }
    PyObject *r = pyttml_binary(op, args[0], args[1]);
    if (r == Py_NotImplemented) {
        Py_DECREF(r);
        PyErr_Format(PyExc_TypeError, "%s(): needs Tensors or a Tensor and a number, got %s and %s", op,
                     Py_TYPE(args[0])->tp_name, Py_TYPE(args[1])->tp_name);
        return NULL;
    }
    return r;
}

#define BINARY(NAME)                                                                        \
    static PyObject *py_##NAME(PyObject *self, PyObject *const *args, Py_ssize_t nargs) \
    {                                                                                       \
        return binary_fn(#NAME, args, nargs);                                               \
    }
BINARY(add)
BINARY(sub)
BINARY(mul)
BINARY(div)

#define UNARY(NAME, CALL)                                     \
    static PyObject *py_##NAME(PyObject *self, PyObject *x)   \
    {                                                         \
        ttml_tensor *t = pyttml_tensor_get(x, "x");           \
        GError *err = NULL;                                   \
        if (!t) return NULL;                                  \
        return result(CALL(t, &err), &err);                    \
    }
UNARY(relu, ttml_relu)
UNARY(gelu, ttml_gelu)
UNARY(silu, ttml_silu)
UNARY(sum, ttml_sum)
UNARY(mean, ttml_mean)
UNARY(transpose, ttml_transpose)
UNARY(merge_heads, ttml_merge_heads)
UNARY(softmax1, ttml_softmax)
UNARY(log_softmax1, ttml_log_softmax)

/* softmax(x, dim=-1): ttml normalises over the last dim only. */
static PyObject *last_dim_op(PyObject *args, PyObject *kw, const char *name, PyObject *(*fn)(PyObject *, PyObject *))
{
    static char *kwlist[] = {"x", "dim", NULL};
    PyObject *x;
    int dim = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i", kwlist, &x, &dim)) return NULL;
    ttml_tensor *t = pyttml_tensor_get(x, "x");
    if (!t) return NULL;
    if (dim != -1 && dim != t->ndim - 1) {
        PyErr_Format(pyttml_exc(TTML_ERROR_UNSUPPORTED), "%s: ttml normalises over the last "
                     "dimension only (dim=-1 or %d), got dim=%d", name, t->ndim - 1, dim);
        return NULL;
    }
    return fn(NULL, x);
}

static PyObject *py_softmax(PyObject *self, PyObject *args, PyObject *kw)
{
    return last_dim_op(args, kw, "softmax", py_softmax1);
}

static PyObject *py_log_softmax(PyObject *self, PyObject *args, PyObject *kw)
{
    return last_dim_op(args, kw, "log_softmax", py_log_softmax1);
}

static gboolean reduction_arg(int r, ttml_reduction *out)
{
    if (r == TTML_REDUCE_MEAN || r == TTML_REDUCE_SUM) {
        *out = (ttml_reduction)r;
        return TRUE;
    }
    PyErr_SetString(pyttml_exc(TTML_ERROR_UNSUPPORTED),
                    "ttml's losses reduce to one value: ReduceType.MEAN or ReduceType.SUM");
    return FALSE;
}

static PyObject *py_mse_loss(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"prediction", "target", "reduce", NULL};
    PyObject *p, *y;
    int r = TTML_REDUCE_MEAN;
    ttml_reduction red;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|i:mse_loss", kwlist, &p, &y, &r)) return NULL;
    ttml_tensor *a = pyttml_tensor_get(p, "prediction"), *b = a ? pyttml_tensor_get(y, "target") : NULL;
    GError *err = NULL;
    if (!b || !reduction_arg(r, &red)) return NULL;
    return result(ttml_mse_loss(a, b, red, &err), &err);
}

static PyObject *py_cross_entropy_loss(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"logits", "target", "reduce", "valid_vocab", NULL};
    PyObject *p, *y;
    int r = TTML_REDUCE_MEAN;
    long long valid = 0;
    ttml_reduction red;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|iL:cross_entropy_loss", kwlist, &p, &y, &r, &valid)) return NULL;
    ttml_tensor *a = pyttml_tensor_get(p, "logits"), *b = a ? pyttml_tensor_get(y, "target") : NULL;
    GError *err = NULL;
    if (!b || !reduction_arg(r, &red)) return NULL;
    return result(ttml_cross_entropy_loss(a, b, valid, red, &err), &err);
}

static PyObject *py_nll_loss(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"log_probs", "target", "reduce", NULL};
    PyObject *p, *y;
    int r = TTML_REDUCE_MEAN;
    ttml_reduction red;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|i:nll_loss", kwlist, &p, &y, &r)) return NULL;
    ttml_tensor *a = pyttml_tensor_get(p, "log_probs"), *b = a ? pyttml_tensor_get(y, "target") : NULL;
    GError *err = NULL;
    if (!b || !reduction_arg(r, &red)) return NULL;
    return result(ttml_nll_loss(a, b, red, &err), &err);
}

static PyObject *py_matmul(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"a", "b", "transpose_a", "transpose_b", NULL};
    PyObject *pa, *pb;
    int ta = 0, tb = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|pp:matmul", kwlist, &pa, &pb, &ta, &tb)) return NULL;
    ttml_tensor *a = pyttml_tensor_get(pa, "a"), *b = a ? pyttml_tensor_get(pb, "b") : NULL;
    GError *err = NULL;
    if (!b) return NULL;
    return result(ttml_matmul(a, b, ta, tb, &err), &err);
}

static PyObject *py_linear(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"x", "weight", "bias", NULL};
    PyObject *px, *pw, *pb = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:linear", kwlist, &px, &pw, &pb)) return NULL;
    ttml_tensor *x = pyttml_tensor_get(px, "x"), *w = x ? pyttml_tensor_get(pw, "weight") : NULL;
    ttml_tensor *b = w && pb != Py_None ? pyttml_tensor_get(pb, "bias") : NULL;
    GError *err = NULL;
    if (!w || (pb != Py_None && !b)) return NULL;
    return result(ttml_linear(x, w, b, &err), &err);
}

static PyObject *py_embedding(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ids", "weight", NULL};
    PyObject *pi, *pw;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO:embedding", kwlist, &pi, &pw)) return NULL;
    ttml_tensor *i = pyttml_tensor_get(pi, "ids"), *w = i ? pyttml_tensor_get(pw, "weight") : NULL;
    GError *err = NULL;
    if (!w) return NULL;
    return result(ttml_embedding(i, w, &err), &err);
}

static PyObject *py_layernorm(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"x", "gamma", "beta", "eps", NULL};
    PyObject *px, *pg, *pb = Py_None;
    float eps = 1e-5f;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|Of:layernorm", kwlist, &px, &pg, &pb, &eps)) return NULL;
    ttml_tensor *x = pyttml_tensor_get(px, "x"), *g = x ? pyttml_tensor_get(pg, "gamma") : NULL;
    ttml_tensor *b = g && pb != Py_None ? pyttml_tensor_get(pb, "beta") : NULL;
    GError *err = NULL;
    if (!g || (pb != Py_None && !b)) return NULL;
    return result(ttml_layernorm(x, g, b, eps, &err), &err);
}

static PyObject *py_rmsnorm(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"x", "gamma", "eps", NULL};
    PyObject *px, *pg;
    float eps = 1e-5f;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|f:rmsnorm", kwlist, &px, &pg, &eps)) return NULL;
    ttml_tensor *x = pyttml_tensor_get(px, "x"), *g = x ? pyttml_tensor_get(pg, "gamma") : NULL;
    GError *err = NULL;
    if (!g) return NULL;
    return result(ttml_rmsnorm(x, g, eps, &err), &err);
}

static PyObject *py_dropout(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"x", "p", "training", NULL};
    PyObject *px;
    float p;
    int training = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Of|p:dropout", kwlist, &px, &p, &training)) return NULL;
    ttml_tensor *x = pyttml_tensor_get(px, "x");
    GError *err = NULL;
    if (!x) return NULL;
    return result(ttml_dropout(x, p, training, &err), &err);
}

static PyObject *py_swiglu(PyObject *self, PyObject *args)
{
    PyObject *pg, *pu;
    if (!PyArg_ParseTuple(args, "OO:swiglu", &pg, &pu)) return NULL;
    ttml_tensor *g = pyttml_tensor_get(pg, "gate"), *u = g ? pyttml_tensor_get(pu, "up") : NULL;
    GError *err = NULL;
    if (!u) return NULL;
    return result(ttml_swiglu(g, u, &err), &err);
}

/* A shape from a sequence of up to 4 ints. */
static gboolean shape_arg(PyObject *o, int *ndim, int64_t *shape)
{
    PyObject *seq = PySequence_Fast(o, "shape must be a sequence of integers");
    if (!seq) return FALSE;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    gboolean ok = n >= 1 && n <= TTML_MAX_DIMS;
    if (!ok) PyErr_Format(pyttml_exc(TTML_ERROR_SHAPE), "shape: 1 to %d dimensions, got %zd", TTML_MAX_DIMS, n);
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        shape[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, i));
        ok = !(shape[i] == -1 && PyErr_Occurred());
    }
    *ndim = (int)n;
    Py_DECREF(seq);
    return ok;
}

static PyObject *py_reshape(PyObject *self, PyObject *args)
{
    PyObject *px, *ps;
    int ndim;
    int64_t shape[TTML_MAX_DIMS];
    if (!PyArg_ParseTuple(args, "OO:reshape", &px, &ps)) return NULL;
    ttml_tensor *x = pyttml_tensor_get(px, "x");
    GError *err = NULL;
    if (!x || !shape_arg(ps, &ndim, shape)) return NULL;
    return result(ttml_reshape(x, ndim, shape, &err), &err);
}

/* Borrowed tensors of a sequence (at most `max`). */
static int tensors_arg(PyObject *o, ttml_tensor **out, int max, const char *what)
{
    PyObject *seq = PySequence_Fast(o, "expected a sequence of Tensors");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > max) {
        PyErr_Format(PyExc_ValueError, "%s: at most %d tensors, got %zd", what, max, n);
        n = -1;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!(out[i] = pyttml_tensor_get(PySequence_Fast_GET_ITEM(seq, i), what))) n = -1;
    Py_DECREF(seq);   /* the caller's sequence keeps the tensors alive */
    return (int)n;
}

static PyObject *py_concat(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"tensors", "dim", NULL};
    PyObject *pl;
    int dim = -1;
    ttml_tensor *xs[64];
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i:concat", kwlist, &pl, &dim)) return NULL;
    int n = tensors_arg(pl, xs, 64, "concat");
    GError *err = NULL;
    if (n < 0) return NULL;
    return result(ttml_concat(xs, n, dim, &err), &err);
}

static PyObject *py_split(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"x", "sizes", "dim", NULL};
    PyObject *px, *ps;
    int dim = -1, n = 0;
    int64_t sizes[TTML_MAX_DIMS * 16];
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|i:split", kwlist, &px, &ps, &dim)) return NULL;
    ttml_tensor *x = pyttml_tensor_get(px, "x");
    PyObject *seq = x ? PySequence_Fast(ps, "sizes must be a sequence of integers") : NULL;
    if (!seq) return NULL;
    n = (int)MIN(PySequence_Fast_GET_SIZE(seq), (Py_ssize_t)G_N_ELEMENTS(sizes));
    for (int i = 0; i < n; i++) sizes[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, i));
    Py_DECREF(seq);
    if (PyErr_Occurred()) return NULL;
    ttml_tensor *outs[G_N_ELEMENTS(sizes)];
    GError *err = NULL;
    if (!ttml_split(x, dim, sizes, n, outs, &err)) return pyttml_raise(err);
    PyObject *list = PyList_New(n);
    for (int i = 0; i < n; i++) {
        PyObject *w = pyttml_tensor_wrap(outs[i]);
        if (list && w) PyList_SET_ITEM(list, i, w);
        else Py_XDECREF(w);
    }
    return list;
}

static PyObject *py_split_heads(PyObject *self, PyObject *args)
{
    PyObject *px;
    int heads;
    if (!PyArg_ParseTuple(args, "Oi:split_heads", &px, &heads)) return NULL;
    ttml_tensor *x = pyttml_tensor_get(px, "x");
    GError *err = NULL;
    if (!x) return NULL;
    return result(ttml_split_heads(x, heads, &err), &err);
}

static PyObject *py_rope(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"x", "theta", "pos_offset", NULL};
    PyObject *px;
    float theta = 10000.0f;
    long long off = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|fL:rope", kwlist, &px, &theta, &off)) return NULL;
    ttml_tensor *x = pyttml_tensor_get(px, "x");
    GError *err = NULL;
    if (!x) return NULL;
    return result(ttml_rope(x, theta, off, &err), &err);
}

static PyObject *py_sdpa(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"query", "key", "value", "causal", NULL};
    PyObject *pq, *pk, *pv;
    int causal = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|p:scaled_dot_product_attention", kwlist, &pq, &pk, &pv,
                                     &causal))
        return NULL;
    ttml_tensor *q = pyttml_tensor_get(pq, "query"), *k = q ? pyttml_tensor_get(pk, "key") : NULL;
    ttml_tensor *v = k ? pyttml_tensor_get(pv, "value") : NULL;
    GError *err = NULL;
    if (!v) return NULL;
    return result(ttml_sdpa(q, k, v, causal, &err), &err);
}

/* call(name, *tensors, params=None): any registered op (a third-party
 * plugin's too) by name; params are the raw bytes of its parameter struct
 * (bytes(ctypes_struct) or struct.pack), as the op's header defines it. */
static PyObject *py_call(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"params", NULL};
    PyObject *params = Py_None, *empty = PyTuple_New(0);
    int ok = empty && PyArg_ParseTupleAndKeywords(empty, kw, "|O:call", kwlist, &params);
    Py_XDECREF(empty);
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (!ok) return NULL;
    if (n < 1 || !PyUnicode_Check(PyTuple_GET_ITEM(args, 0))) {
        PyErr_SetString(PyExc_TypeError, "call(name, *tensors, params=None): name must be a str");
        return NULL;
    }
    const char *name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(args, 0));
    ttml_tensor *in[16];
    if (n - 1 > 16) {
        PyErr_SetString(PyExc_ValueError, "call: at most 16 input tensors");
        return NULL;
    }
    for (Py_ssize_t i = 1; i < n; i++)
        if (!(in[i - 1] = pyttml_tensor_get(PyTuple_GET_ITEM(args, i), "an input"))) return NULL;
    Py_buffer view = {0};
    if (params != Py_None && PyObject_GetBuffer(params, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (!pyttml_ensure_init()) {
        if (view.obj) PyBuffer_Release(&view);
        return NULL;
    }
    GError *err = NULL;
    ttml_tensor *t = ttml_op_call(name, in, (int)(n - 1), view.obj ? view.buf : NULL,
                                  view.obj ? (size_t)view.len : 0, &err);
    if (view.obj) PyBuffer_Release(&view);
    return result(t, &err);
}

/* (min_inputs, max_inputs, params_size, description) of a registered op,
 * or None. */
static PyObject *py_op_info(PyObject *self, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name || !pyttml_ensure_init()) return NULL;
    const ttml_op_desc *d = ttml_op_find(name);
    if (!d) Py_RETURN_NONE;
    return Py_BuildValue("(iins)", d->min_inputs, d->max_inputs, (Py_ssize_t)d->params_size,
                         d->description ? d->description : "");
}

#define KW(f) (PyCFunction)(void (*)(void))f, METH_VARARGS | METH_KEYWORDS
#define FAST(f) (PyCFunction)(void (*)(void))f, METH_FASTCALL

PyMethodDef pyttml_op_methods[] = {
    {"add", FAST(py_add), "add(a, b): a + b (Tensors or a Tensor and a number; broadcasting)"},
    {"sub", FAST(py_sub), "sub(a, b): a - b"},
    {"mul", FAST(py_mul), "mul(a, b): a * b"},
    {"div", FAST(py_div), "div(a, b): a / b"},
    {"relu", py_relu, METH_O, "relu(x)"},
    {"gelu", py_gelu, METH_O, "gelu(x), tanh approximation"},
    {"silu", py_silu, METH_O, "silu(x)"},
    {"sum", py_sum, METH_O, "sum of all elements -> [1]"},
    {"mean", py_mean, METH_O, "mean of all elements -> [1]"},
    {"transpose", py_transpose, METH_O, "swap the last two dims"},
    {"merge_heads", py_merge_heads, METH_O, "[B, H, S, D] -> [B, 1, S, H*D]"},
    {"softmax", KW(py_softmax), "softmax(x, dim=-1)"},
    {"log_softmax", KW(py_log_softmax), "log_softmax(x, dim=-1)"},
    {"mse_loss", KW(py_mse_loss), "mse_loss(prediction, target, reduce=ReduceType.MEAN)"},
    {"cross_entropy_loss", KW(py_cross_entropy_loss),
     "cross_entropy_loss(logits, target, reduce=MEAN, valid_vocab=0): fused log-softmax + NLL; u32 targets"},
    {"nll_loss", KW(py_nll_loss), "nll_loss(log_probs, target, reduce=MEAN)"},
    {"matmul", KW(py_matmul), "matmul(a, b, transpose_a=False, transpose_b=False)"},
    {"linear", KW(py_linear), "linear(x, weight, bias=None): x @ weight^T + bias"},
    {"embedding", KW(py_embedding), "embedding(ids, weight)"},
    {"layernorm", KW(py_layernorm), "layernorm(x, gamma, beta=None, eps=1e-5)"},
    {"rmsnorm", KW(py_rmsnorm), "rmsnorm(x, gamma, eps=1e-5)"},
    {"dropout", KW(py_dropout), "dropout(x, p, training=True)"},
    {"swiglu", py_swiglu, METH_VARARGS, "swiglu(gate, up): silu(gate) * up"},
    {"reshape", py_reshape, METH_VARARGS, "reshape(x, shape)"},
    {"concat", KW(py_concat), "concat(tensors, dim=-1)"},
    {"split", KW(py_split), "split(x, sizes, dim=-1) -> list"},
    {"split_heads", py_split_heads, METH_VARARGS, "split_heads(x, n_heads)"},
    {"rope", KW(py_rope), "rope(x, theta=10000, pos_offset=0)"},
    {"scaled_dot_product_attention", KW(py_sdpa), "scaled_dot_product_attention(query, key, value, causal=True)"},
    {"call", KW(py_call), "call(name, *tensors, params=None): any registered op by name"},
    {"op_info", py_op_info, METH_O, "op_info(name) -> (min_inputs, max_inputs, params_size, description) or None"},
    {NULL, NULL, 0, NULL},
};
