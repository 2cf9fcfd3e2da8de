/* python/src/nn.c - modules (C models and layers), optimizers, schedulers,
 * the character tokenizer and safetensors checkpoints. */
#include "pyttml.h"

/* A config node parsed from YAML text (the Python side writes it from its
 * dataclasses/kwargs); NULL text gives NULL without error. */
static ttml_config *config_arg(const char *yaml, gboolean *ok)
{
    *ok = TRUE;
    if (!yaml) return NULL;
    GError *err = NULL;
    ttml_config *c = ttml_config_load_string(yaml, "python", &err);
    if (!c) {
        *ok = FALSE;
        pyttml_raise(err);
    }
    return c;
}

/* [(name, Tensor)] of a ttml_param array. */
static PyObject *param_list(const GPtrArray *ps)
{
    PyObject *out = PyList_New(ps->len);
    for (guint i = 0; out && i < ps->len; i++) {
        const ttml_param *p = g_ptr_array_index(ps, i);
        PyObject *t = pyttml_tensor_wrap(ttml_tensor_ref(p->tensor));
        PyObject *item = t ? Py_BuildValue("(sN)", p->name, t) : NULL;
        if (!item) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, i, item);
    }
    return out;
}

/* ---- Every type of this file: a Python object owning one ttml handle ---- */

/* The object owns h and releases it with release (the type's free/unref) when
 * it is deallocated. */
typedef struct {
    PyObject_HEAD
    void *h;
    void (*release)(void *h);
} py_handle;

/* The handle of self, as type T. */
#define HANDLE(self, T) ((T *)((py_handle *)(self))->h)

/* A new object of type owning h (consumed: released when the allocation
 * fails); NULL h gives NULL (the caller has set or will set the error). */
static PyObject *handle_wrap(PyTypeObject *type, void *h, void (*release)(void *))
{
    if (!h) return NULL;
    py_handle *o = (py_handle *)type->tp_alloc(type, 0);
    if (!o) {
        release(h);
        return NULL;
    }
    o->h = h;
    o->release = release;
    return (PyObject *)o;
}

static void handle_dealloc(PyObject *self)
{
    py_handle *o = (py_handle *)self;
    if (o->h) o->release(o->h);
    Py_TYPE(self)->tp_free(self);
}

/* A type of py_handle objects: name (under ttml._ttml.), doc, flags, then the
 * type's own slots (.tp_new, .tp_methods, ...). */
#define HANDLE_TYPE(name, doc, flags, ...)                                                  \
    {                                                                                       \
        PyVarObject_HEAD_INIT(NULL, 0)                                                      \
        .tp_name = "ttml._ttml." name, .tp_doc = doc, .tp_basicsize = sizeof(py_handle),    \
        .tp_flags = flags, .tp_dealloc = handle_dealloc, __VA_ARGS__                        \
    }

static void release_module(void *h) { ttml_module_unref(h); }
static void release_optimizer(void *h) { ttml_optimizer_free(h); }
static void release_scheduler(void *h) { ttml_scheduler_free(h); }
static void release_tokenizer(void *h) { ttml_tokenizer_free(h); }
static void release_reader(void *h) { ttml_checkpoint_close(h); }

/* ---- NativeModule: a ttml_module (a model plugin's or a core layer) ---- */

static PyTypeObject module_type;

static PyObject *module_wrap(ttml_module *m)
{
    return handle_wrap(&module_type, m, release_module);
}

/* forward(x, *ignored): extra arguments (the guide's causal mask) are
 * accepted and ignored: ttml's attention is causal by construction. */
static PyObject *module_call(PyObject *self, PyObject *args, PyObject *kw)
{
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_SetString(PyExc_TypeError, "a module is called with its input tensor");
        return NULL;
    }
    ttml_tensor *x = pyttml_tensor_get(PyTuple_GET_ITEM(args, 0), "the input");
    GError *err = NULL;
    if (!x) return NULL;
    ttml_tensor *y = ttml_module_forward(HANDLE(self, ttml_module), x, &err);
    return y ? pyttml_tensor_wrap(y) : pyttml_raise(err);
}

static PyObject *module_parameters(PyObject *self, PyObject *noargs)
{
    GPtrArray *ps = ttml_module_parameters(HANDLE(self, ttml_module));
    PyObject *out = param_list(ps);
    g_ptr_array_unref(ps);
    return out;
}

static PyObject *module_train(PyObject *self, PyObject *args)
{
    int mode = 1;
    if (!PyArg_ParseTuple(args, "|p:train", &mode)) return NULL;
    ttml_module_train(HANDLE(self, ttml_module), mode);
    Py_RETURN_NONE;
}

static PyObject *module_eval(PyObject *self, PyObject *noargs)
{
    ttml_module_train(HANDLE(self, ttml_module), FALSE);
    Py_RETURN_NONE;
}

static PyObject *module_get_training(PyObject *self, void *c)
{
    return PyBool_FromLong(HANDLE(self, ttml_module)->training);
}

static PyObject *module_get_type(PyObject *self, void *c)
{
    const ttml_module *m = HANDLE(self, ttml_module);
    return PyUnicode_FromString(m->klass && m->klass->type ? m->klass->type : "module");
}

static PyObject *module_num_params(PyObject *self, PyObject *noargs)
{
    return PyLong_FromSize_t(ttml_module_num_params(HANDLE(self, ttml_module)));
}

static PyMethodDef module_methods[] = {
    {"forward", (PyCFunction)(void (*)(void))module_call, METH_VARARGS | METH_KEYWORDS, "forward(x)"},
    {"parameters", module_parameters, METH_NOARGS, "[(name, Tensor)] depth first"},
    {"train", module_train, METH_VARARGS, "train(mode=True)"},
    {"eval", module_eval, METH_NOARGS, "evaluation mode (dropout off)"},
    {"num_params", module_num_params, METH_NOARGS, "number of parameter elements"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef module_getset[] = {
    {"training", module_get_training, NULL, "training mode", NULL},
    {"type", module_get_type, NULL, "the module class name", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject module_type =
    HANDLE_TYPE("NativeModule", "A module implemented in C (a model plugin's or a core layer).", Py_TPFLAGS_DEFAULT,
                .tp_call = module_call, .tp_methods = module_methods, .tp_getset = module_getset);

static PyObject *py_create_model(PyObject *self, PyObject *args)
{
    const char *name, *yaml = NULL;
    gboolean ok;
    if (!PyArg_ParseTuple(args, "s|z:create_model", &name, &yaml)) return NULL;
    if (!pyttml_ensure_init() || !pyttml_device()) return NULL;
    ttml_config *cfg = config_arg(yaml, &ok);
    if (!ok) return NULL;
    GError *err = NULL;
    ttml_module *m = ttml_model_create(name, cfg, &err);
    ttml_config_free(cfg);
    return m ? module_wrap(m) : pyttml_raise(err);
}

static PyObject *py_linear_layer(PyObject *self, PyObject *args)
{
    long long in, out;
    int bias = 1;
    if (!PyArg_ParseTuple(args, "LL|p:linear_layer", &in, &out, &bias)) return NULL;
    if (!pyttml_ensure_init() || !pyttml_device()) return NULL;
    GError *err = NULL;
    ttml_module *m = ttml_linear_layer_new(in, out, bias, &err);
    return m ? module_wrap(m) : pyttml_raise(err);
}

/* ---- Optimizer ---- */

static void param_free(gpointer p)
{
    ttml_param *pa = p;
    g_free(pa->name);
    ttml_tensor_unref(pa->tensor);
    g_free(pa);
}

/* ttml_param* array from [(name, Tensor)]. NULL with an exception set. */
static GPtrArray *params_arg(PyObject *o)
{
    PyObject *seq = PySequence_Fast(o, "parameters must be a list of (name, Tensor) pairs");
    if (!seq) return NULL;
    GPtrArray *ps = g_ptr_array_new_with_free_func(param_free);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        const char *name;
        PyObject *pt;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "sO:parameter", &name, &pt)) goto fail;
        ttml_tensor *t = pyttml_tensor_get(pt, name);
        if (!t) goto fail;
        ttml_param *p = g_new(ttml_param, 1);
        p->name = g_strdup(name);
        p->tensor = ttml_tensor_ref(t);
        g_ptr_array_add(ps, p);
    }
    Py_DECREF(seq);
    return ps;
fail:
    Py_DECREF(seq);
    g_ptr_array_unref(ps);
    return NULL;
}

static PyObject *optimizer_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", "parameters", "config", "lr", "weight_decay", NULL};
    const char *name, *yaml = NULL;
    PyObject *plist;
    double lr = 1e-3, wd = TTML_WEIGHT_DECAY_DEFAULT;
    gboolean ok;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sO|zdd:Optimizer", kwlist, &name, &plist, &yaml, &lr, &wd))
        return NULL;
    if (!pyttml_ensure_init()) return NULL;
    GPtrArray *ps = params_arg(plist);
    if (!ps) return NULL;
    ttml_config *cfg = config_arg(yaml, &ok);
    GError *err = NULL;
    ttml_optimizer *opt = ok ? ttml_optimizer_create(name, ps, cfg, lr, wd, &err) : NULL;
    ttml_config_free(cfg);
    g_ptr_array_unref(ps);
    if (!opt) return ok ? pyttml_raise(err) : NULL;
    return handle_wrap(type, opt, release_optimizer);
}

static PyObject *optimizer_step(PyObject *self, PyObject *noargs)
{
    ttml_optimizer *opt = HANDLE(self, ttml_optimizer);
    if (opt->params->len && pyttml_device_closed(((ttml_param *)opt->params->pdata[0])->tensor->device)) {
        PyErr_SetString(pyttml_exc(TTML_ERROR_DEVICE), "optimizer.step: the parameters live on a closed device");
        return NULL;
    }
    GError *err = NULL;
    if (!ttml_optimizer_step(opt, &err)) return pyttml_raise(err);
    Py_RETURN_NONE;
}

static PyObject *optimizer_zero_grad(PyObject *self, PyObject *noargs)
{
    ttml_optimizer_zero_grad(HANDLE(self, ttml_optimizer));
    Py_RETURN_NONE;
}

static PyObject *optimizer_get_lr(PyObject *self, PyObject *noargs)
{
    return PyFloat_FromDouble(ttml_optimizer_get_lr(HANDLE(self, ttml_optimizer)));
}

static PyObject *optimizer_set_lr(PyObject *self, PyObject *arg)
{
    double lr = PyFloat_AsDouble(arg);
    if (PyErr_Occurred()) return NULL;
    ttml_optimizer_set_lr(HANDLE(self, ttml_optimizer), (float)lr);
    Py_RETURN_NONE;
}

static PyObject *optimizer_get_steps(PyObject *self, void *c)
{
    return PyLong_FromLongLong(HANDLE(self, ttml_optimizer)->steps);
}

static int optimizer_set_steps(PyObject *self, PyObject *v, void *c)
{
    long long s = v ? PyLong_AsLongLong(v) : -1;
    if (s < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "steps must be a non-negative integer");
        return -1;
    }
    HANDLE(self, ttml_optimizer)->steps = s;
    return 0;
}

/* [(param_name, state_name, Tensor)] for parameters that have a gradient
 * (state is created on a parameter's first step; asking earlier would
 * create it). */
static PyObject *optimizer_state(PyObject *self, PyObject *args)
{
    int all = 0;
    if (!PyArg_ParseTuple(args, "|p:state", &all)) return NULL;
    ttml_optimizer *opt = HANDLE(self, ttml_optimizer);
    PyObject *out = PyList_New(0);
    for (guint i = 0; out && opt->klass->state && i < opt->params->len; i++) {
        ttml_param *p = g_ptr_array_index(opt->params, i);
        if (!p->tensor->grad && !all) continue;
        const char *names[8];
        ttml_tensor *ts[8];
        int n = opt->klass->state(opt, i, names, ts, 8);
        for (int k = 0; k < n && out; k++) {
            if (!ts[k]) continue;
            PyObject *t = pyttml_tensor_wrap(ttml_tensor_ref(ts[k]));
            PyObject *item = t ? Py_BuildValue("(ssN)", p->name, names[k], t) : NULL;
            if (!item || PyList_Append(out, item) < 0) Py_CLEAR(out);
            Py_XDECREF(item);
        }
    }
    return out;
}

static PyMethodDef optimizer_methods[] = {
    {"step", optimizer_step, METH_NOARGS, "apply one update"},
    {"zero_grad", optimizer_zero_grad, METH_NOARGS, "drop the parameters' gradients"},
    {"get_lr", optimizer_get_lr, METH_NOARGS, "the current learning rate"},
    {"set_lr", optimizer_set_lr, METH_O, "set the learning rate"},
    {"state", optimizer_state, METH_VARARGS, "[(param, state, Tensor)] (checkpoints)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef optimizer_getset[] = {
    {"steps", optimizer_get_steps, optimizer_set_steps, "completed steps", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject optimizer_type =
    HANDLE_TYPE("Optimizer",
                "Optimizer(name, parameters, config=None, lr=1e-3, weight_decay=default): a registered optimizer",
                Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, .tp_new = optimizer_new, .tp_methods = optimizer_methods,
                .tp_getset = optimizer_getset);

/* ---- Scheduler: factor(step) of a registered scheduler ---- */

static PyObject *scheduler_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", "total_steps", "config", NULL};
    const char *name, *yaml = NULL;
    long long total;
    gboolean ok;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sL|z:Scheduler", kwlist, &name, &total, &yaml)) return NULL;
    if (!pyttml_ensure_init()) return NULL;
    ttml_config *cfg = config_arg(yaml, &ok);
    GError *err = NULL;
    ttml_scheduler *s = ok ? ttml_scheduler_create(name, cfg, total, &err) : NULL;
    if (s && cfg && !ttml_config_check_unused(cfg, &err)) g_clear_pointer(&s, ttml_scheduler_free);
    ttml_config_free(cfg);
    if (!s) return ok ? pyttml_raise(err) : NULL;
    return handle_wrap(type, s, release_scheduler);
}

static PyObject *scheduler_factor(PyObject *self, PyObject *arg)
{
    long long step = PyLong_AsLongLong(arg);
    if (step == -1 && PyErr_Occurred()) return NULL;
    return PyFloat_FromDouble(ttml_scheduler_factor(HANDLE(self, ttml_scheduler), step));
}

static PyMethodDef scheduler_methods[] = {
    {"factor", scheduler_factor, METH_O, "factor(step): multiplier of the base learning rate"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject scheduler_type =
    HANDLE_TYPE("Scheduler", "Scheduler(name, total_steps, config=None): a registered learning-rate schedule",
                Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, .tp_new = scheduler_new, .tp_methods = scheduler_methods);

/* ---- CharTokenizer ---- */

static PyObject *tokenizer_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"text", NULL};
    const char *text;
    Py_ssize_t len;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s#:CharTokenizer", kwlist, &text, &len)) return NULL;
    GError *err = NULL;
    ttml_tokenizer *t = ttml_char_tokenizer_new(text, len, &err);
    if (!t) return pyttml_raise(err);
    return handle_wrap(type, t, release_tokenizer);
}

static PyObject *tokenizer_encode(PyObject *self, PyObject *arg)
{
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(arg, &len);
    if (!s) return NULL;
    gsize n = 0;
    GError *err = NULL;
    guint32 *ids = ttml_tokenizer_encode(HANDLE(self, ttml_tokenizer), s, len, &n, &err);
    if (!ids) return n == 0 && !err ? PyList_New(0) : pyttml_raise(err);
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (gsize i = 0; out && i < n; i++) PyList_SET_ITEM(out, i, PyLong_FromUnsignedLong(ids[i]));
    g_free(ids);
    return out;
}

static PyObject *tokenizer_decode(PyObject *self, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "decode takes a sequence of token ids");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    guint32 *ids = g_new(guint32, n ? n : 1);
    for (Py_ssize_t i = 0; i < n; i++) {
        ids[i] = (guint32)PyLong_AsUnsignedLongMask(PySequence_Fast_GET_ITEM(seq, i));
    }
    Py_DECREF(seq);
    if (PyErr_Occurred()) {
        g_free(ids);
        return NULL;
    }
    char *s = ttml_tokenizer_decode(HANDLE(self, ttml_tokenizer), ids, n);
    g_free(ids);
    PyObject *out = PyUnicode_FromString(s);
    g_free(s);
    return out;
}

static PyObject *tokenizer_serialize(PyObject *self, PyObject *noargs)
{
    char *s = ttml_tokenizer_serialize(HANDLE(self, ttml_tokenizer));
    PyObject *out = PyUnicode_FromString(s);
    g_free(s);
    return out;
}

static PyObject *tokenizer_vocab_size(PyObject *self, void *c)
{
    return PyLong_FromLongLong(ttml_tokenizer_vocab_size(HANDLE(self, ttml_tokenizer)));
}

static PyObject *tokenizer_padded_vocab_size(PyObject *self, void *c)
{
    return PyLong_FromLongLong(ttml_tokenizer_padded_vocab_size(HANDLE(self, ttml_tokenizer)));
}

static PyMethodDef tokenizer_methods[] = {
    {"encode", tokenizer_encode, METH_O, "encode(text) -> list of ids"},
    {"decode", tokenizer_decode, METH_O, "decode(ids) -> text"},
    {"serialize", tokenizer_serialize, METH_NOARGS, "the vocabulary as a string (checkpoint metadata)"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef tokenizer_getset[] = {
    {"vocab_size", tokenizer_vocab_size, NULL, "distinct characters", NULL},
    {"padded_vocab_size", tokenizer_padded_vocab_size, NULL, "vocab_size rounded up to 32", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject tokenizer_type =
    HANDLE_TYPE("CharTokenizer", "CharTokenizer(text): the sorted characters of text are the vocabulary",
                Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, .tp_new = tokenizer_new, .tp_methods = tokenizer_methods,
                .tp_getset = tokenizer_getset);

/* ---- safetensors ---- */

/* save_safetensors(path, [(name, Tensor)], {key: value}) */
static PyObject *py_save_safetensors(PyObject *self, PyObject *args)
{
    const char *path;
    PyObject *plist, *meta = Py_None;
    if (!PyArg_ParseTuple(args, "sO|O:save_safetensors", &path, &plist, &meta)) return NULL;
    GPtrArray *ps = params_arg(plist);
    if (!ps) return NULL;
    GHashTable *md = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (meta != Py_None && PyDict_Check(meta) && PyDict_Next(meta, &pos, &k, &v)) {
        PyObject *sv = PyObject_Str(v);
        const char *ks = PyUnicode_AsUTF8(k), *vs = sv ? PyUnicode_AsUTF8(sv) : NULL;
        if (ks && vs) g_hash_table_insert(md, g_strdup(ks), g_strdup(vs));
        Py_XDECREF(sv);
        if (!ks || !vs) break;
    }
    GError *err = NULL;
    gboolean ok = !PyErr_Occurred() && ttml_checkpoint_save(path, ps, md, &err);
    g_hash_table_unref(md);
    g_ptr_array_unref(ps);
    if (PyErr_Occurred()) return NULL;
    if (!ok) return pyttml_raise(err);
    Py_RETURN_NONE;
}

static PyObject *reader_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    const char *path;
    if (!PyArg_ParseTuple(args, "s:SafetensorsReader", &path)) return NULL;
    GError *err = NULL;
    ttml_checkpoint *ck = ttml_checkpoint_open(path, &err);
    if (!ck) return pyttml_raise(err);
    return handle_wrap(type, ck, release_reader);
}

static PyObject *reader_names(PyObject *self, PyObject *noargs)
{
    const GPtrArray *names = ttml_checkpoint_names(HANDLE(self, ttml_checkpoint));
    PyObject *out = PyList_New(names->len);
    for (guint i = 0; out && i < names->len; i++)
        PyList_SET_ITEM(out, i, PyUnicode_FromString(g_ptr_array_index(names, i)));
    return out;
}

static PyObject *reader_metadata(PyObject *self, PyObject *arg)
{
    const char *key = PyUnicode_AsUTF8(arg);
    if (!key) return NULL;
    const char *v = ttml_checkpoint_metadata(HANDLE(self, ttml_checkpoint), key);
    if (!v) Py_RETURN_NONE;
    return PyUnicode_FromString(v);
}

static PyObject *reader_load(PyObject *self, PyObject *args)
{
    const char *name;
    PyObject *pt;
    if (!PyArg_ParseTuple(args, "sO:load", &name, &pt)) return NULL;
    ttml_tensor *t = pyttml_tensor_get(pt, name);
    GError *err = NULL;
    if (!t) return NULL;
    if (!ttml_checkpoint_load_tensor(HANDLE(self, ttml_checkpoint), name, t, &err)) return pyttml_raise(err);
    Py_RETURN_NONE;
}

static PyMethodDef reader_methods[] = {
    {"names", reader_names, METH_NOARGS, "tensor names in file order"},
    {"metadata", reader_metadata, METH_O, "metadata(key) -> str or None"},
    {"load", reader_load, METH_VARARGS, "load(name, tensor): copy a stored tensor into tensor"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject reader_type =
    HANDLE_TYPE("SafetensorsReader", "SafetensorsReader(path): a validated safetensors file", Py_TPFLAGS_DEFAULT,
                .tp_new = reader_new, .tp_methods = reader_methods);

static PyMethodDef nn_functions[] = {
    {"create_model", py_create_model, METH_VARARGS, "create_model(name, config_yaml=None) -> NativeModule"},
    {"linear_layer", py_linear_layer, METH_VARARGS, "linear_layer(in, out, bias=True) -> NativeModule"},
    {"save_safetensors", py_save_safetensors, METH_VARARGS, "save_safetensors(path, [(name, Tensor)], metadata)"},
    {NULL, NULL, 0, NULL},
};

gboolean pyttml_nn_init_types(PyObject *m)
{
    PyTypeObject *types[] = {&module_type, &optimizer_type, &scheduler_type, &tokenizer_type, &reader_type};
    const char *names[] = {"NativeModule", "Optimizer", "Scheduler", "CharTokenizer", "SafetensorsReader"};
    for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
        if (PyType_Ready(types[i]) < 0 || PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) < 0)
            return FALSE;
    return PyModule_AddFunctions(m, nn_functions) == 0;
}
