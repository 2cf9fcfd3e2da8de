/* python/src/pyttml.h - the `ttml._ttml` CPython extension: declarations
 * shared by its files. It is a thin layer over the public C API
 * (include/ttml/); the interpreter lock is held for every call (the ttml API
 * is single-threaded; kernels use their own threads). */
#ifndef PYTTML_H
#define PYTTML_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <ttml/ttml.h>

/* ---- errors (module.c) ---- */
/* Raise the ttml.Error subclass of err->code with its message and free err.
 * When a Python exception is already set (raised inside a Python callback),
 * that one is kept. Returns NULL. */
PyObject *pyttml_raise(GError *err);
/* ttml.GraphError / ttml.DeviceError / ttml.DTypeError / ttml.ShapeError
 * (borrowed) for checks made in the binding itself. */
PyObject *pyttml_exc(int code);
extern PyObject *pyttml_graph_error;

/* ---- context (module.c) ---- */
/* ttml_init with default options unless done; FALSE with an exception set. */
gboolean pyttml_ensure_init(void);
/* The default device, opened lazily (TTML_DEVICE or "cpu") if none was ever
 * opened; after close_device a DeviceError. NULL with an exception set. */
ttml_device *pyttml_device(void);
/* TRUE when `dev` was closed by close_device() (tensors on it are stale). */
gboolean pyttml_device_closed(const ttml_device *dev);

/* ---- tensors (tensor.c) ---- */
typedef struct {
    PyObject_HEAD
    ttml_tensor *t;
    gboolean had_node;     /* produced by a recorded op (a non-leaf) */
} pyttml_tensor;

extern PyTypeObject pyttml_tensor_type;
#define pyttml_tensor_check(o) PyObject_TypeCheck((o), &pyttml_tensor_type)
/* Wrap a new reference (stolen). NULL-safe: NULL t gives NULL. */
PyObject *pyttml_tensor_wrap(ttml_tensor *t);
/* Borrow the ttml tensor of a Python Tensor, checking it is usable (type,
 * device not closed). NULL with an exception set. `what` names the argument. */
ttml_tensor *pyttml_tensor_get(PyObject *o, const char *what);
gboolean pyttml_tensor_init_types(PyObject *module);

/* ---- ops (ops.c), nn objects (nn.c), Python functions (function.c) ---- */
extern PyMethodDef pyttml_op_methods[];
extern PyMethodDef pyttml_function_methods[];
gboolean pyttml_nn_init_types(PyObject *module);
/* Python number -> float; FALSE (no exception) when o is not a number. */
gboolean pyttml_as_scalar(PyObject *o, float *out);
PyObject *pyttml_binary(const char *op, PyObject *a, PyObject *b);

#endif
