/* python/src/module.c - module init, the ttml.Error hierarchy and the
 * context (TT-Train's AutoContext): init, devices, seed, graph, grad mode. */
#include "pyttml.h"

#include <string.h>

/* ---- errors ---- */

typedef struct { int code; const char *name; const char *doc; } exc_spec;

static const exc_spec exc_specs[] = {
    {TTML_ERROR_INVALID_ARG, "InvalidArgumentError", "a bad argument (TTML_ERROR_INVALID_ARG)"},
    {TTML_ERROR_SHAPE, "ShapeError", "shapes do not fit (TTML_ERROR_SHAPE)"},
    {TTML_ERROR_DTYPE, "DTypeError", "unsupported or mismatched dtype (TTML_ERROR_DTYPE)"},
    {TTML_ERROR_NOT_FOUND, "NotFoundError", "unknown op, model, device... (TTML_ERROR_NOT_FOUND)"},
    {TTML_ERROR_PLUGIN, "PluginError", "a plugin failed to load (TTML_ERROR_PLUGIN)"},
    {TTML_ERROR_ABI, "ABIError", "a plugin built for another ABI (TTML_ERROR_ABI)"},
    {TTML_ERROR_CONFIG, "ConfigError", "invalid configuration (TTML_ERROR_CONFIG)"},
    {TTML_ERROR_IO, "IOError", "a file could not be read or written (TTML_ERROR_IO)"},
    {TTML_ERROR_CHECKPOINT, "CheckpointError", "corrupt or mismatched checkpoint (TTML_ERROR_CHECKPOINT)"},
    {TTML_ERROR_DEVICE, "DeviceError", "device failure or a closed device (TTML_ERROR_DEVICE)"},
    {TTML_ERROR_OOM, "OutOfMemoryError", "device out of memory (TTML_ERROR_OOM)"},
    {TTML_ERROR_UNSUPPORTED, "UnsupportedError", "not supported by the driver or op (TTML_ERROR_UNSUPPORTED)"},
    {TTML_ERROR_NUMERIC, "NumericError", "non-finite values (TTML_ERROR_NUMERIC)"},
};
#define N_EXC (sizeof exc_specs / sizeof exc_specs[0])

static PyObject *base_error;
static PyObject *exc_objs[N_EXC];
PyObject *pyttml_graph_error;

/* The standard exception a ttml code also derives from (so `except
 * ValueError` works). */
static PyObject *std_base(int code)
{
    switch (code) {
    case TTML_ERROR_INVALID_ARG: case TTML_ERROR_SHAPE: case TTML_ERROR_CONFIG: return PyExc_ValueError;
    case TTML_ERROR_DTYPE: return PyExc_TypeError;
    case TTML_ERROR_NOT_FOUND: return PyExc_LookupError;
    case TTML_ERROR_IO: return PyExc_OSError;
    case TTML_ERROR_OOM: return PyExc_MemoryError;
    case TTML_ERROR_UNSUPPORTED: return PyExc_NotImplementedError;
    case TTML_ERROR_NUMERIC: return PyExc_ArithmeticError;
    default: return NULL;
    }
}

PyObject *pyttml_exc(int code)
{
    for (size_t i = 0; i < N_EXC; i++)
        if (exc_specs[i].code == code) return exc_objs[i];
    return base_error;
}

PyObject *pyttml_raise(GError *err)
{
    if (PyErr_Occurred()) {   /* a Python callback raised: keep its exception */
        g_clear_error(&err);
        return NULL;
    }
    if (!err) {
        PyErr_SetString(base_error, "ttml: operation failed without an error message");
        return NULL;
    }
    PyObject *cls = err->domain == TTML_ERROR ? pyttml_exc(err->code) : base_error;
    PyObject *exc = PyObject_CallFunction(cls, "s", err->message);
    if (exc) {
        PyObject *code = PyLong_FromLong(err->code);
        PyObject_SetAttrString(exc, "code", code);
        Py_XDECREF(code);
        PyErr_SetObject(cls, exc);
        Py_DECREF(exc);
    }
    g_error_free(err);
    return NULL;
}

static gboolean add_exceptions(PyObject *m)
{
    base_error = PyErr_NewExceptionWithDoc("ttml.Error", "Base of every ttml error; .code is the "
                                           "ttml_error_code.", NULL, NULL);
    if (!base_error || PyModule_AddObjectRef(m, "Error", base_error) < 0) return FALSE;
    for (size_t i = 0; i < N_EXC; i++) {
        PyObject *parent = exc_specs[i].code == TTML_ERROR_ABI ? pyttml_exc(TTML_ERROR_PLUGIN) : base_error;
        PyObject *std = std_base(exc_specs[i].code);
        PyObject *bases = std ? PyTuple_Pack(2, parent, std) : PyTuple_Pack(1, parent);
        char name[64];
        g_snprintf(name, sizeof name, "ttml.%s", exc_specs[i].name);
        exc_objs[i] = bases ? PyErr_NewExceptionWithDoc(name, exc_specs[i].doc, bases, NULL) : NULL;
        Py_XDECREF(bases);
        if (!exc_objs[i] || PyModule_AddObjectRef(m, exc_specs[i].name, exc_objs[i]) < 0) return FALSE;
    }
    PyObject *bases = PyTuple_Pack(2, base_error, PyExc_RuntimeError);
    pyttml_graph_error = bases ? PyErr_NewExceptionWithDoc(
        "ttml.GraphError", "the autograd graph a tensor needs was reset or freed", bases, NULL) : NULL;
    Py_XDECREF(bases);
    return pyttml_graph_error && PyModule_AddObjectRef(m, "GraphError", pyttml_graph_error) >= 0;
}

/* ---- context ---- */

static gboolean initialized;
static gboolean ever_opened;
static GPtrArray *closed_devices;   /* ttml_device* closed by close_device() */

static char **list_arg(PyObject *o)
{
    if (!o || o == Py_None) return NULL;
    PyObject *seq = PySequence_Fast(o, "expected a list of paths");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    char **v = g_new0(char *, n + 1);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyOS_FSPath(PySequence_Fast_GET_ITEM(seq, i));
        PyObject *b = s ? PyUnicode_Check(s) ? PyUnicode_EncodeFSDefault(s) : Py_NewRef(s) : NULL;
        if (b && PyBytes_Check(b)) v[i] = g_strdup(PyBytes_AS_STRING(b));
        Py_XDECREF(s);
        Py_XDECREF(b);
        if (!v[i]) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "paths must be str or bytes");
            g_strfreev(v);
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    return v;
}

static PyObject *py_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"plugin_paths", "plugin_files", NULL};
    PyObject *paths = NULL, *files = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO", kwlist, &paths, &files)) return NULL;
    if (initialized) {
        PyErr_SetString(pyttml_exc(TTML_ERROR_INVALID_ARG),
                        "ttml is already initialised (plugins load once per process): call "
                        "ttml.init(plugin_paths=...) before any other ttml call, or set TTML_PLUGIN_PATH");
        return NULL;
    }
    char **p = list_arg(paths);
    if (PyErr_Occurred()) return NULL;
    char **f = list_arg(files);
    if (PyErr_Occurred()) {
        g_strfreev(p);
        return NULL;
    }
    ttml_init_options opt = {sizeof opt, (const char *const *)p, (const char *const *)f, FALSE, FALSE, FALSE};
    GError *err = NULL;
    gboolean ok = ttml_init(&opt, &err);
    g_strfreev(p);
    g_strfreev(f);
    if (!ok) return pyttml_raise(err);
    initialized = TRUE;
    Py_RETURN_NONE;
}

gboolean pyttml_ensure_init(void)
{
    if (initialized) return TRUE;
    GError *err = NULL;
    if (!ttml_init(NULL, &err)) {
        pyttml_raise(err);
        return FALSE;
    }
    initialized = TRUE;
    return TRUE;
}

gboolean pyttml_device_closed(const ttml_device *dev)
{
    if (!closed_devices || !dev) return FALSE;
    for (guint i = 0; i < closed_devices->len; i++)
        if (closed_devices->pdata[i] == dev) return TRUE;
    return FALSE;
}

static ttml_device *open_spec(const char *spec)
{
    if (!pyttml_ensure_init()) return NULL;
    if (!spec || !*spec) spec = g_getenv("TTML_DEVICE");
    if (!spec || !*spec) spec = "cpu";
    GError *err = NULL;
    ttml_device *d = ttml_context_open_device(spec, &err);
    if (!d) {
        pyttml_raise(err);
        return NULL;
    }
    ever_opened = TRUE;
    if (closed_devices) g_ptr_array_remove(closed_devices, d);
    return d;
}

ttml_device *pyttml_device(void)
{
    ttml_device *d = initialized ? ttml_context_get_device() : NULL;
    if (d) return d;
    if (ever_opened) {
        PyErr_SetString(pyttml_exc(TTML_ERROR_DEVICE),
                        "no device is open (close_device() was called): call "
                        "AutoContext.get_instance().open_device() first");
        return NULL;
    }
    return open_spec(NULL);
}

static PyObject *py_open_device(PyObject *self, PyObject *args)
{
    const char *spec = NULL;
    if (!PyArg_ParseTuple(args, "|z", &spec)) return NULL;
    ttml_device *d = open_spec(spec);
    if (!d) return NULL;
    return PyUnicode_FromString(ttml_device_get_info(d)->name);
}

static PyObject *py_close_device(PyObject *self, PyObject *noargs)
{
    ttml_device *d = initialized ? ttml_context_get_device() : NULL;
    if (d) {
        ttml_reset_graph();
        if (!closed_devices) closed_devices = g_ptr_array_new();
        g_ptr_array_add(closed_devices, d);
        ttml_context_clear_device();
    }
    Py_RETURN_NONE;
}

static PyObject *py_set_seed(PyObject *self, PyObject *arg)
{
    unsigned long long seed = PyLong_AsUnsignedLongLongMask(arg);
    if (PyErr_Occurred()) return NULL;
    if (!pyttml_ensure_init()) return NULL;
    ttml_set_seed(seed);
    Py_RETURN_NONE;
}

static PyObject *py_get_seed(PyObject *self, PyObject *noargs)
{
    return PyLong_FromUnsignedLongLong(ttml_get_rng_state().seed);
}

static PyObject *py_reset_graph(PyObject *self, PyObject *noargs)
{
    if (initialized) ttml_reset_graph();
    Py_RETURN_NONE;
}

static PyObject *py_graph_size(PyObject *self, PyObject *noargs)
{
    return PyLong_FromUnsignedLong(initialized ? ttml_graph_size() : 0);
}

static PyObject *py_set_grad_enabled(PyObject *self, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
    return PyBool_FromLong(ttml_set_grad_enabled(on));
}

static PyObject *py_grad_enabled(PyObject *self, PyObject *noargs)
{
    return PyBool_FromLong(ttml_grad_enabled());
}

/* {"name", "arch", "driver", "mem_current", "mem_peak", "cores", "threads"} of
 * the default device (DRAM counters). */
static PyObject *py_device_info(PyObject *self, PyObject *noargs)
{
    ttml_device *d = pyttml_device();
    if (!d) return NULL;
    const ttml_device_info *info = ttml_device_get_info(d);
    return Py_BuildValue("{s:s,s:s,s:s,s:K,s:K,s:i,s:i}", "name", info->name, "arch", info->arch,
                         "driver", ttml_device_driver_name(d), "mem_current",
                         (unsigned long long)ttml_device_mem_current(d, TTML_MEM_DRAM), "mem_peak",
                         (unsigned long long)ttml_device_mem_peak(d, TTML_MEM_DRAM), "cores",
                         info->n_cores, "threads", info->n_threads);
}

static PyObject *py_device_mem_current(PyObject *self, PyObject *noargs)
{
    ttml_device *d = pyttml_device();
    return d ? PyLong_FromUnsignedLongLong(ttml_device_mem_current(d, TTML_MEM_DRAM)) : NULL;
}

static PyObject *py_synchronize(PyObject *self, PyObject *noargs)
{
    ttml_device *d = pyttml_device();
    GError *err = NULL;
    if (!d) return NULL;
    if (!ttml_device_synchronize(d, &err)) return pyttml_raise(err);
    Py_RETURN_NONE;
}

/* Registered names of one feature kind ("op", "model", "optimizer",
 * "scheduler", "driver") as a list. */
static PyObject *py_registered(PyObject *self, PyObject *arg)
{
    const char *kind = PyUnicode_AsUTF8(arg);
    if (!kind || !pyttml_ensure_init()) return NULL;
    static const struct { const char *name; ttml_feature_kind kind; } kinds[] = {
        {"op", TTML_FEATURE_OP}, {"model", TTML_FEATURE_MODEL}, {"optimizer", TTML_FEATURE_OPTIMIZER},
        {"scheduler", TTML_FEATURE_SCHEDULER}, {"driver", TTML_FEATURE_DRIVER},
        {"kernel", TTML_FEATURE_KERNEL}, {"layer", TTML_FEATURE_LAYER},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
        if (strcmp(kinds[i].name, kind) != 0) continue;
        const GPtrArray *fs = ttml_registry_features();
        PyObject *out = PyList_New(0);
        for (guint j = 0; out && j < fs->len; j++) {
            const ttml_feature *f = g_ptr_array_index(fs, j);
            if (f->kind != kinds[i].kind) continue;
            PyObject *s = PyUnicode_FromString(f->name);
            if (!s || PyList_Append(out, s) < 0) Py_CLEAR(out);
            Py_XDECREF(s);
        }
        return out;
    }
    PyErr_Format(PyExc_ValueError, "unknown feature kind '%s' (op, model, optimizer, scheduler, "
                 "driver, kernel, layer)", kind);
    return NULL;
}

/* [(path, status, message)] of every plugin file tried. */
static PyObject *py_plugin_records(PyObject *self, PyObject *noargs)
{
    if (!pyttml_ensure_init()) return NULL;
    const GPtrArray *rs = ttml_registry_records();
    PyObject *out = PyList_New(0);
    for (guint i = 0; out && i < rs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(rs, i);
        PyObject *t = Py_BuildValue("(sss)", r->path, ttml_plugin_status_name(r->status),
                                    r->message ? r->message : "");
        if (!t || PyList_Append(out, t) < 0) Py_CLEAR(out);
        Py_XDECREF(t);
    }
    return out;
}

static PyObject *py_library_path(PyObject *self, PyObject *noargs)
{
    return PyUnicode_FromString(ttml_library_path() ? ttml_library_path() : "");
}

static PyMethodDef context_methods[] = {
    {"init", (PyCFunction)(void (*)(void))py_init, METH_VARARGS | METH_KEYWORDS,
     "init(plugin_paths=None, plugin_files=None): load plugins (once, before anything else)"},
    {"open_device", py_open_device, METH_VARARGS, "open_device(spec=None) -> device name"},
    {"close_device", py_close_device, METH_NOARGS, "close the default device"},
    {"set_seed", py_set_seed, METH_O, "seed the context RNG"},
    {"get_seed", py_get_seed, METH_NOARGS, "the RNG seed"},
    {"reset_graph", py_reset_graph, METH_NOARGS, "free the autograd graph"},
    {"graph_size", py_graph_size, METH_NOARGS, "number of recorded nodes"},
    {"set_grad_enabled", py_set_grad_enabled, METH_O, "set the gradient mode; returns the previous"},
    {"grad_enabled", py_grad_enabled, METH_NOARGS, "the gradient mode"},
    {"device_info", py_device_info, METH_NOARGS, "the default device's info and DRAM counters"},
    {"device_mem_current", py_device_mem_current, METH_NOARGS, "current device DRAM bytes"},
    {"synchronize", py_synchronize, METH_NOARGS, "wait for the device"},
    {"registered", py_registered, METH_O, "registered feature names of a kind"},
    {"plugin_records", py_plugin_records, METH_NOARGS, "plugin files tried: (path, status, message)"},
    {"library_path", py_library_path, METH_NOARGS, "the path of the libttml in use"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "ttml._ttml", "ttml's C extension (use the ttml package).", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ttml(void);
PyMODINIT_FUNC PyInit__ttml(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (!m) return NULL;
    if (PyModule_AddFunctions(m, context_methods) < 0 || PyModule_AddFunctions(m, pyttml_op_methods) < 0 ||
        PyModule_AddFunctions(m, pyttml_function_methods) < 0 || !add_exceptions(m) ||
        !pyttml_tensor_init_types(m) || !pyttml_nn_init_types(m) ||
        PyModule_AddStringConstant(m, "version", ttml_version_string()) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
