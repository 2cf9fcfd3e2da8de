/* python/src/tensor.c - ttml.autograd.Tensor: a reference to a ttml_tensor,
 * NumPy conversion (fp32, bf16, u32), autograd entry points, operators. */
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include "pyttml.h"

#include <numpy/arrayobject.h>
#include <math.h>

/* ---- Shape: a tuple that can also be called (TT-Train's shape() method) ---- */

static PyObject *shape_call(PyObject *self, PyObject *args, PyObject *kw)
{
    return Py_NewRef(self);
}

static PyTypeObject shape_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ttml.autograd.Shape",
    .tp_doc = "A tensor's shape: a tuple; calling it returns itself (t.shape == t.shape()).",
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_call = shape_call,
};

/* ---- wrapping ---- */

PyObject *pyttml_tensor_wrap(ttml_tensor *t)
{
    if (!t) return NULL;
    pyttml_tensor *o = PyObject_New(pyttml_tensor, &pyttml_tensor_type);
    if (!o) {
        ttml_tensor_unref(t);
        return NULL;
    }
    o->t = t;
    o->had_node = t->node != NULL;
    return (PyObject *)o;
}

ttml_tensor *pyttml_tensor_get(PyObject *o, const char *what)
{
    if (!pyttml_tensor_check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be a ttml.autograd.Tensor, got %s", what,
                     Py_TYPE(o)->tp_name);
        return NULL;
    }
    ttml_tensor *t = ((pyttml_tensor *)o)->t;
    if (pyttml_device_closed(t->device)) {
        PyErr_Format(pyttml_exc(TTML_ERROR_DEVICE),
                     "%s lives on a device that was closed (close_device()); tensors do not "
                     "survive their device: create them again after open_device()", what);
        return NULL;
    }
    return t;
}

static void tensor_dealloc(PyObject *self)
{
    ttml_tensor_unref(((pyttml_tensor *)self)->t);
    Py_TYPE(self)->tp_free(self);
}

/* ---- NumPy -> tensor ---- */

static gboolean shape_from_array(PyArrayObject *a, int *ndim, int64_t *shape)
{
    int nd = PyArray_NDIM(a);
    if (nd > TTML_MAX_DIMS) {
        PyErr_Format(pyttml_exc(TTML_ERROR_SHAPE),
                     "from_numpy: ttml tensors have 1 to %d dimensions, the array has %d",
                     TTML_MAX_DIMS, nd);
        return FALSE;
    }
    if (PyArray_SIZE(a) == 0) {
        PyErr_SetString(pyttml_exc(TTML_ERROR_SHAPE), "from_numpy: the array is empty (a zero extent)");
        return FALSE;
    }
    *ndim = nd ? nd : 1;
    shape[0] = 1;
    for (int i = 0; i < nd; i++) shape[i] = PyArray_DIM(a, i);
    return TRUE;
}

/* The dtype an array becomes when from_numpy gets no new_type. */
static int default_dtype(PyArrayObject *a)
{
    switch (PyArray_DESCR(a)->kind) {
    case 'f': case 'b': return TTML_DTYPE_F32;
    case 'u': case 'i': return TTML_DTYPE_U32;
    default:
        PyErr_Format(pyttml_exc(TTML_ERROR_DTYPE),
                     "from_numpy: arrays of dtype %R cannot become tensors (use float32, bfloat16 "
                     "values as float32, or uint32 ids)", (PyObject *)PyArray_DESCR(a));
        return -1;
    }
}

/* u32 values from an integer or float array, each checked to be an integer
 * in [0, 2^32). */
static PyArrayObject *as_u32(PyArrayObject *a)
{
    PyArrayObject *c = (PyArrayObject *)PyArray_FROM_OTF((PyObject *)a, NPY_FLOAT64, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    if (!c) return NULL;
    const double *v = PyArray_DATA(c);
    npy_intp n = PyArray_SIZE(c);
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(PyArray_NDIM(a), PyArray_DIMS(a), NPY_UINT32);
    for (npy_intp i = 0; out && i < n; i++) {
        if (!(v[i] >= 0 && v[i] <= 4294967295.0 && v[i] == floor(v[i]))) {
            char *msg = g_strdup_printf("from_numpy: UINT32 needs integers in [0, 2^32), element %zd is %g",
                                        (Py_ssize_t)i, v[i]);
            PyErr_SetString(pyttml_exc(TTML_ERROR_DTYPE), msg);
            g_free(msg);
            Py_CLEAR(out);
            break;
        }
        ((guint32 *)PyArray_DATA(out))[i] = (guint32)v[i];
    }
    Py_DECREF(c);
    return out;
}

static PyObject *tensor_from_numpy(PyObject *cls, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"array", "layout", "new_type", NULL};
    PyObject *obj, *layout = Py_None, *new_type = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO:from_numpy", kwlist, &obj, &layout, &new_type))
        return NULL;
    PyArrayObject *a = (PyArrayObject *)PyArray_FROM_OF(obj, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED);
    if (!a) return NULL;
    int dtype = new_type == Py_None ? default_dtype(a) : (int)PyLong_AsLong(new_type);
    int ndim;
    int64_t shape[TTML_MAX_DIMS];
    ttml_device *dev = NULL;
    PyArrayObject *c = NULL;
    if (dtype == -1 && !PyErr_Occurred())
        PyErr_SetString(pyttml_exc(TTML_ERROR_DTYPE), "from_numpy: new_type must be a ttnn.DataType");
    else if (!PyErr_Occurred() && (dtype < 0 || dtype >= TTML_DTYPE_COUNT))
        PyErr_Format(pyttml_exc(TTML_ERROR_DTYPE), "from_numpy: unknown new_type %d (FLOAT32, "
                     "BFLOAT16 or UINT32)", dtype);
    else if (!PyErr_Occurred() && shape_from_array(a, &ndim, shape) && (dev = pyttml_device()))
        c = dtype == TTML_DTYPE_U32 ? as_u32(a)
            : (PyArrayObject *)PyArray_FROM_OTF((PyObject *)a, NPY_FLOAT32, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    Py_DECREF(a);
    if (!c) return NULL;
    GError *err = NULL;
    ttml_tensor *t;
    if (dtype == TTML_DTYPE_BF16) {
        npy_intp n = PyArray_SIZE(c);
        guint16 *h = g_new(guint16, n);
        const float *f = PyArray_DATA(c);
        for (npy_intp i = 0; i < n; i++) h[i] = ttml_f32_to_bf16(f[i]);
        t = ttml_tensor_from_data(dev, ndim, shape, TTML_DTYPE_BF16, h, &err);
        g_free(h);
    } else {
        t = ttml_tensor_from_data(dev, ndim, shape, dtype, PyArray_DATA(c), &err);
    }
    Py_DECREF(c);
    return t ? pyttml_tensor_wrap(t) : pyttml_raise(err);
}

/* ---- tensor -> NumPy ---- */

static PyObject *tensor_to_numpy(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"dtype", NULL};
    PyObject *want = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:to_numpy", kwlist, &want)) return NULL;
    ttml_tensor *t = pyttml_tensor_get(self, "the tensor");
    if (!t) return NULL;
    int dtype = want == Py_None ? (t->dtype == TTML_DTYPE_U32 ? TTML_DTYPE_U32 : TTML_DTYPE_F32)
                                : (int)PyLong_AsLong(want);
    if (PyErr_Occurred()) return NULL;
    if (dtype < 0 || dtype >= TTML_DTYPE_COUNT) {
        PyErr_Format(pyttml_exc(TTML_ERROR_DTYPE), "to_numpy: unknown dtype %d (FLOAT32, BFLOAT16 or UINT32)", dtype);
        return NULL;
    }
    npy_intp dims[TTML_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) dims[i] = (npy_intp)t->shape[i];
    gboolean raw_u32 = dtype == TTML_DTYPE_U32 && t->dtype == TTML_DTYPE_U32;
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(t->ndim, dims, raw_u32 ? NPY_UINT32 : NPY_FLOAT32);
    if (!out) return NULL;
    GError *err = NULL;
    gboolean ok = raw_u32 ? ttml_tensor_read(t, PyArray_DATA(out), &err)
                          : ttml_tensor_to_floats(t, PyArray_DATA(out), &err);
    if (!ok) {
        Py_DECREF(out);
        return pyttml_raise(err);
    }
    float *f = PyArray_DATA(out);
    if (dtype == TTML_DTYPE_BF16)   /* NumPy has no bfloat16: bf16 values held in float32 */
        for (npy_intp i = 0; i < PyArray_SIZE(out); i++) f[i] = ttml_bf16_to_f32(ttml_f32_to_bf16(f[i]));
    if (dtype == TTML_DTYPE_U32 && !raw_u32) {
        PyObject *u = PyArray_Cast(out, NPY_UINT32);
        Py_DECREF(out);
        return u;
    }
    return (PyObject *)out;
}

/* ---- autograd ---- */

static PyObject *tensor_backward(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"retain_graph", "grad", NULL};
    int retain = 0;
    PyObject *grad = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|pO:backward", kwlist, &retain, &grad)) return NULL;
    ttml_tensor *t = pyttml_tensor_get(self, "the tensor");
    ttml_tensor *g = t && grad != Py_None ? pyttml_tensor_get(grad, "grad") : NULL;
    if (!t || (grad != Py_None && !g)) return NULL;
    if (((pyttml_tensor *)self)->had_node && !t->node) {
        PyErr_SetString(pyttml_graph_error,
                        "backward: the graph that computed this tensor was freed (reset_graph() or an "
                        "earlier backward without retain_graph=True); compute it again, or pass "
                        "retain_graph=True to the first backward");
        return NULL;
    }
    GError *err = NULL;
    if (!ttml_backward(t, g, retain, &err)) return pyttml_raise(err);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyObject *tensor_get_grad(PyObject *self, PyObject *noargs)
{
    ttml_tensor *t = pyttml_tensor_get(self, "the tensor");
    if (!t) return NULL;
    if (!t->grad) Py_RETURN_NONE;
    return pyttml_tensor_wrap(ttml_tensor_ref(t->grad));
}

static PyObject *tensor_is_grad_initialized(PyObject *self, PyObject *noargs)
{
    return PyBool_FromLong(((pyttml_tensor *)self)->t->grad != NULL);
}

static PyObject *tensor_zero_grad(PyObject *self, PyObject *noargs)
{
    ttml_tensor_zero_grad(((pyttml_tensor *)self)->t);
    Py_RETURN_NONE;
}

/* A view of the value with no autograd history (TT-Train's get_value()). */
static PyObject *tensor_detach(PyObject *self, PyObject *noargs)
{
    ttml_tensor *t = pyttml_tensor_get(self, "the tensor");
    GError *err = NULL;
    if (!t) return NULL;
    ttml_tensor *v = ttml_tensor_view_as(t, t->ndim, t->shape, &err);
    return v ? pyttml_tensor_wrap(v) : pyttml_raise(err);
}

static PyObject *tensor_clone(PyObject *self, PyObject *noargs)
{
    ttml_tensor *t = pyttml_tensor_get(self, "the tensor");
    GError *err = NULL;
    if (!t) return NULL;
    ttml_tensor *v = ttml_tensor_clone(t, &err);
    return v ? pyttml_tensor_wrap(v) : pyttml_raise(err);
}

static PyObject *tensor_item(PyObject *self, PyObject *noargs)
{
    ttml_tensor *t = pyttml_tensor_get(self, "the tensor");
    GError *err = NULL;
    if (!t) return NULL;
    float v = ttml_tensor_item(t, &err);
    if (err) return pyttml_raise(err);
    if (t->dtype == TTML_DTYPE_U32) return PyLong_FromDouble(v);
    return PyFloat_FromDouble(v);
}

/* Overwrite the value from a NumPy array of the same numel. */
static PyObject *tensor_assign(PyObject *self, PyObject *arg)
{
    ttml_tensor *t = pyttml_tensor_get(self, "the tensor");
    if (!t) return NULL;
    int npt = t->dtype == TTML_DTYPE_U32 ? NPY_UINT32 : NPY_FLOAT32;
    PyArrayObject *a = (PyArrayObject *)PyArray_FROM_OTF(arg, npt, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
    if (!a) return NULL;
    GError *err = NULL;
    gboolean ok = FALSE;
    if ((size_t)PyArray_SIZE(a) != t->numel) {
        char buf[96];
        PyErr_Format(pyttml_exc(TTML_ERROR_SHAPE), "assign: the tensor %s has %zu elements, the array %zd",
                     ttml_shape_str(t->ndim, t->shape, buf, sizeof buf), t->numel, (Py_ssize_t)PyArray_SIZE(a));
    } else if (t->dtype == TTML_DTYPE_BF16) {
        guint16 *h = g_new(guint16, t->numel);
        for (size_t i = 0; i < t->numel; i++) h[i] = ttml_f32_to_bf16(((float *)PyArray_DATA(a))[i]);
        ok = ttml_tensor_write(t, h, &err);
        g_free(h);
    } else {
        ok = ttml_tensor_write(t, PyArray_DATA(a), &err);
    }
    Py_DECREF(a);
    if (PyErr_Occurred()) return NULL;
    if (!ok) return pyttml_raise(err);
    Py_RETURN_NONE;
}

/* np.asarray(tensor): a NumPy copy (float32 or uint32), cast when asked. */
static PyObject *tensor_array(PyObject *self, PyObject *args)
{
    PyObject *dtype = Py_None, *copy = Py_None;
    if (!PyArg_ParseTuple(args, "|OO:__array__", &dtype, &copy)) return NULL;
    PyObject *empty = PyTuple_New(0);
    PyObject *a = empty ? tensor_to_numpy(self, empty, NULL) : NULL;
    Py_XDECREF(empty);
    if (!a || dtype == Py_None) return a;
    PyObject *c = PyObject_CallMethod(a, "astype", "O", dtype);
    Py_DECREF(a);
    return c;
}

static PyObject *tensor_set_requires_grad(PyObject *self, PyObject *arg)
{
    int v = PyObject_IsTrue(arg);
    if (v < 0) return NULL;
    ttml_tensor_set_requires_grad(((pyttml_tensor *)self)->t, v);
    Py_RETURN_NONE;
}

static PyObject *tensor_get_requires_grad(PyObject *self, PyObject *noargs)
{
    return PyBool_FromLong(((pyttml_tensor *)self)->t->requires_grad);
}

/* ---- properties ---- */

static PyObject *tensor_shape(PyObject *self, void *closure)
{
    const ttml_tensor *t = ((pyttml_tensor *)self)->t;
    PyObject *tup = PyTuple_New(t->ndim);
    for (int i = 0; tup && i < t->ndim; i++) PyTuple_SET_ITEM(tup, i, PyLong_FromLongLong(t->shape[i]));
    if (!tup) return NULL;
    PyObject *s = PyObject_CallOneArg((PyObject *)&shape_type, tup);
    Py_DECREF(tup);
    return s;
}

static PyObject *tensor_dtype(PyObject *self, void *closure)
{
    return PyLong_FromLong(((pyttml_tensor *)self)->t->dtype);
}

static PyObject *tensor_ndim(PyObject *self, void *closure)
{
    return PyLong_FromLong(((pyttml_tensor *)self)->t->ndim);
}

static PyObject *tensor_numel(PyObject *self, void *closure)
{
    return PyLong_FromSize_t(((pyttml_tensor *)self)->t->numel);
}

static PyObject *tensor_requires_grad(PyObject *self, void *closure)
{
    return tensor_get_requires_grad(self, NULL);
}

static int tensor_set_requires_grad_prop(PyObject *self, PyObject *v, void *closure)
{
    if (!v) {
        PyErr_SetString(PyExc_AttributeError, "requires_grad cannot be deleted");
        return -1;
    }
    return tensor_set_requires_grad(self, v) ? 0 : -1;
}

static PyObject *tensor_is_leaf(PyObject *self, void *closure)
{
    return PyBool_FromLong(!((pyttml_tensor *)self)->had_node);
}

static PyObject *tensor_name(PyObject *self, void *closure)
{
    const char *n = ((pyttml_tensor *)self)->t->name;
    if (!n) Py_RETURN_NONE;
    return PyUnicode_FromString(n);
}

static int tensor_set_name(PyObject *self, PyObject *v, void *closure)
{
    const char *s = v && v != Py_None ? PyUnicode_AsUTF8(v) : NULL;
    if (v && v != Py_None && !s) return -1;
    ttml_tensor_set_name(((pyttml_tensor *)self)->t, s);
    return 0;
}

static PyObject *tensor_repr(PyObject *self)
{
    const ttml_tensor *t = ((pyttml_tensor *)self)->t;
    char buf[96];
    return PyUnicode_FromFormat("Tensor(shape=%s, dtype=%s, requires_grad=%s%s%s)",
                                ttml_shape_str(t->ndim, t->shape, buf, sizeof buf), ttml_dtype_name(t->dtype),
                                t->requires_grad ? "True" : "False", t->name ? ", name=" : "",
                                t->name ? t->name : "");
}

/* ---- operators ---- */

static PyObject *nb_add(PyObject *a, PyObject *b) { return pyttml_binary("add", a, b); }
static PyObject *nb_sub(PyObject *a, PyObject *b) { return pyttml_binary("sub", a, b); }
static PyObject *nb_mul(PyObject *a, PyObject *b) { return pyttml_binary("mul", a, b); }
static PyObject *nb_div(PyObject *a, PyObject *b) { return pyttml_binary("div", a, b); }
static PyObject *nb_matmul(PyObject *a, PyObject *b) { return pyttml_binary("matmul", a, b); }
static PyObject *nb_neg(PyObject *a)
{
    PyObject *m1 = PyFloat_FromDouble(-1.0);
    PyObject *r = m1 ? pyttml_binary("mul", a, m1) : NULL;
    Py_XDECREF(m1);
    return r;
}

static PyNumberMethods tensor_as_number = {
    .nb_add = nb_add,
    .nb_subtract = nb_sub,
    .nb_multiply = nb_mul,
    .nb_true_divide = nb_div,
    .nb_matrix_multiply = nb_matmul,
    .nb_negative = nb_neg,
};

static PyMethodDef tensor_methods[] = {
    {"from_numpy", (PyCFunction)(void (*)(void))tensor_from_numpy, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "from_numpy(array, layout=None, new_type=None): a tensor on the default device (float arrays -> "
     "FLOAT32, integer arrays -> UINT32 unless new_type says otherwise)"},
    {"to_numpy", (PyCFunction)(void (*)(void))tensor_to_numpy, METH_VARARGS | METH_KEYWORDS,
     "to_numpy(dtype=None): a NumPy copy (float32; uint32 for UINT32; BFLOAT16 gives bf16-rounded float32)"},
    {"backward", (PyCFunction)(void (*)(void))tensor_backward, METH_VARARGS | METH_KEYWORDS,
     "backward(retain_graph=False, grad=None)"},
    {"get_grad", tensor_get_grad, METH_NOARGS, "the gradient (None before a backward reached it)"},
    {"is_grad_initialized", tensor_is_grad_initialized, METH_NOARGS, "whether a gradient exists"},
    {"zero_grad", tensor_zero_grad, METH_NOARGS, "drop the gradient"},
    {"get_value", tensor_detach, METH_NOARGS, "the value, detached from the graph (shares storage)"},
    {"detach", tensor_detach, METH_NOARGS, "the value, detached from the graph (shares storage)"},
    {"clone", tensor_clone, METH_NOARGS, "a deep copy of the value"},
    {"item", tensor_item, METH_NOARGS, "the value of a 1-element tensor"},
    {"__array__", tensor_array, METH_VARARGS, "np.asarray(tensor): a NumPy copy"},
    {"assign", tensor_assign, METH_O, "overwrite the value from an array with the same number of elements"},
    {"set_requires_grad", tensor_set_requires_grad, METH_O, "set requires_grad"},
    {"get_requires_grad", tensor_get_requires_grad, METH_NOARGS, "requires_grad"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef tensor_getset[] = {
    {"shape", tensor_shape, NULL, "the shape (a tuple, also callable)", NULL},
    {"dtype", tensor_dtype, NULL, "the dtype code (ttnn.DataType value)", NULL},
    {"ndim", tensor_ndim, NULL, "number of dimensions", NULL},
    {"numel", tensor_numel, NULL, "number of elements", NULL},
    {"requires_grad", tensor_requires_grad, tensor_set_requires_grad_prop, "requires_grad", NULL},
    {"is_leaf", tensor_is_leaf, NULL, "not produced by a recorded op", NULL},
    {"name", tensor_name, tensor_set_name, "optional name", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject pyttml_tensor_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ttml.autograd.Tensor",
    .tp_doc = "A ttml tensor: value, gradient and autograd history (TT-Train's autograd.Tensor).",
    .tp_basicsize = sizeof(pyttml_tensor),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = tensor_dealloc,
    .tp_repr = tensor_repr,
    .tp_as_number = &tensor_as_number,
    .tp_methods = tensor_methods,
    .tp_getset = tensor_getset,
};

static int init_numpy(void)
{
    import_array1(-1);
    return 0;
}

gboolean pyttml_tensor_init_types(PyObject *module)
{
    if (init_numpy() < 0) return FALSE;
    shape_type.tp_base = &PyTuple_Type;
    if (PyType_Ready(&shape_type) < 0 || PyType_Ready(&pyttml_tensor_type) < 0) return FALSE;
    /* NumPy defers to Tensor's operators (ndarray + Tensor is a TypeError, not
     * an object array of Tensors). */
    if (PyDict_SetItemString(pyttml_tensor_type.tp_dict, "__array_ufunc__", Py_None) < 0) return FALSE;
    PyType_Modified(&pyttml_tensor_type);
    return PyModule_AddObjectRef(module, "Tensor", (PyObject *)&pyttml_tensor_type) >= 0 &&
           PyModule_AddObjectRef(module, "Shape", (PyObject *)&shape_type) >= 0;
}
