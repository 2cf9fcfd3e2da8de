/* python/src/function.c - ops written in Python join the autograd graph
 * (ttml.autograd.Function, after torch.autograd.Function): the Python
 * forward runs with gradients off, then record_function() records a node
 * whose backward calls back into Python and accumulates the gradients it
 * returns into the inputs. */
#include "pyttml.h"

static void callback_free(gpointer p)
{
    Py_XDECREF((PyObject *)p);
}

/* Accumulate grads (one per input, None allowed) returned by the callback. */
static gboolean accumulate(ttml_node *node, PyObject *res, GError **error)
{
    PyObject *seq = pyttml_tensor_check(res) || res == Py_None ? PyTuple_Pack(1, res)
                                                                : PySequence_Tuple(res);
    if (!seq) goto py_error;
    if (PyTuple_GET_SIZE(seq) != node->n_in) {
        PyErr_Format(pyttml_exc(TTML_ERROR_INVALID_ARG),
                     "backward returned %zd gradients for %d inputs", PyTuple_GET_SIZE(seq), node->n_in);
        Py_DECREF(seq);
        goto py_error;
    }
    for (int i = 0; i < node->n_in; i++) {
        PyObject *g = PyTuple_GET_ITEM(seq, i);
        if (g == Py_None || !node->in[i]->requires_grad) continue;
        ttml_tensor *gt = pyttml_tensor_get(g, "a gradient returned by backward");
        if (!gt) {
            Py_DECREF(seq);
            goto py_error;
        }
        if (!ttml_shape_equal(gt, node->in[i])) {
            ttml_op_shape_error(error, "python function backward", gt, node->in[i],
                                "differ (gradient %d must have its input's shape)", i);
            Py_DECREF(seq);
            return FALSE;
        }
        if (!ttml_tensor_accumulate_grad(node->in[i], gt, error)) {
            Py_DECREF(seq);
            return FALSE;
        }
    }
    Py_DECREF(seq);
    return TRUE;
py_error:   /* the Python exception stays set; Tensor.backward re-raises it */
    g_set_error(error, TTML_ERROR, TTML_ERROR_FAILED, "a Python backward failed");
    return FALSE;
}

static gboolean python_backward(ttml_node *node, GError **error)
{
    PyObject *cb = node->user_data;
    PyObject *g = pyttml_tensor_wrap(ttml_tensor_ref(node->out->grad));
    PyObject *res = g ? PyObject_CallOneArg(cb, g) : NULL;
    Py_XDECREF(g);
    if (!res) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_FAILED, "a Python backward raised");
        return FALSE;
    }
    gboolean ok = accumulate(node, res, error);
    Py_DECREF(res);
    return ok;
}

/* record_function(out, inputs, backward) -> Tensor: records a node
 * producing `out` (a view of it when out is an input or a leaf that needs
 * grad) from `inputs` (a tuple of Tensors); backward(grad) returns one
 * gradient (or None) per input. Returns out unchanged when nothing needs
 * a gradient or gradients are off. */
static PyObject *py_record_function(PyObject *self, PyObject *args)
{
    PyObject *po, *pin, *cb;
    if (!PyArg_ParseTuple(args, "OO!O:record_function", &po, &PyTuple_Type, &pin, &cb)) return NULL;
    ttml_tensor *out = pyttml_tensor_get(po, "the forward's result");
    ttml_tensor *in[TTML_NODE_MAX_IN];
    Py_ssize_t n = PyTuple_GET_SIZE(pin);
    if (!out) return NULL;
    if (n > TTML_NODE_MAX_IN) {
        PyErr_Format(PyExc_ValueError, "a Python function takes at most %d tensor inputs, got %zd",
                     TTML_NODE_MAX_IN, n);
        return NULL;
    }
    gboolean needs = FALSE, alias = out->requires_grad;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!(in[i] = pyttml_tensor_get(PyTuple_GET_ITEM(pin, i), "an input"))) return NULL;
        needs |= in[i]->requires_grad;
        alias |= in[i] == out || in[i]->buf == out->buf;
    }
    if (!needs || !ttml_grad_enabled()) return Py_NewRef(po);
    GError *err = NULL;
    ttml_tensor *res = alias ? ttml_tensor_clone(out, &err) : ttml_tensor_ref(out);
    if (!res) return pyttml_raise(err);
    ttml_node *node = ttml_graph_record("python_function", res, in, (int)n, python_backward);
    if (node) ttml_node_set_user_data(node, Py_NewRef(cb), callback_free);
    return pyttml_tensor_wrap(res);
}

PyMethodDef pyttml_function_methods[] = {
    {"record_function", py_record_function, METH_VARARGS,
     "record_function(out, inputs, backward) -> Tensor recorded in the graph"},
    {NULL, NULL, 0, NULL},
};
