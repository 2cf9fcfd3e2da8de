/* ttml/tensor.h - refcounted tensors with autograd fields (after TT-Train's
 * autograd::Tensor: value, grad, requires_grad, producing node).
 *
 * Ownership: every function returning ttml_tensor * returns a new reference
 * the caller must drop with ttml_tensor_unref (NULL-safe). Functions taking
 * tensors borrow them. Fields are public for reading; change them only
 * through the API.
 */
#ifndef TTML_TENSOR_H
#define TTML_TENSOR_H

#include <ttml/driver.h>

G_BEGIN_DECLS

typedef struct ttml_shard ttml_shard;   /* ttml/ops_parallel.h */

struct ttml_tensor {
    gint ref;
    int ndim;                       /* 1..4                                    */
    int64_t shape[TTML_MAX_DIMS];   /* logical shape, row-major                */
    size_t numel;
    ttml_dtype dtype;
    ttml_device *device;
    ttml_buffer *buf;               /* owned reference; shared by views        */
    size_t offset;                  /* bytes into buf                          */
    ttml_tensor *grad;              /* owned; NULL until a backward reaches it */
    gboolean requires_grad;
    ttml_node *node;                /* producing node (owned by the graph)     */
    char *name;                     /* optional, owned                         */
    ttml_shard *shard;              /* tensor parallel: the slice of the unsharded
                                     * parameter held (owned; NULL = whole)     */
};

/* New uninitialised tensor on `device` (NULL = the context's device). */
TTML_API ttml_tensor *ttml_tensor_empty(ttml_device *device, int ndim, const int64_t *shape,
                                        ttml_dtype dtype, GError **error);
TTML_API ttml_tensor *ttml_tensor_zeros(ttml_device *device, int ndim, const int64_t *shape,
                                        ttml_dtype dtype, GError **error);
TTML_API ttml_tensor *ttml_tensor_full(ttml_device *device, int ndim, const int64_t *shape,
                                       ttml_dtype dtype, float value, GError **error);
/* Copy `data` (row-major host values of `dtype`) into a new tensor. */
TTML_API ttml_tensor *ttml_tensor_from_data(ttml_device *device, int ndim, const int64_t *shape,
                                            ttml_dtype dtype, const void *data, GError **error);
/* Convenience: f32 host data. */
TTML_API ttml_tensor *ttml_tensor_from_floats(ttml_device *device, int ndim, const int64_t *shape,
                                              const float *data, GError **error);
/* A 1-element tensor (shape [1]). */
TTML_API ttml_tensor *ttml_tensor_scalar(ttml_device *device, float value, GError **error);
/* Same shape/dtype/device as `like`. */
TTML_API ttml_tensor *ttml_tensor_empty_like(const ttml_tensor *like, GError **error);
TTML_API ttml_tensor *ttml_tensor_zeros_like(const ttml_tensor *like, GError **error);
/* Deep copy of the value (no grad, no node). */
TTML_API ttml_tensor *ttml_tensor_clone(const ttml_tensor *t, GError **error);
/* A tensor sharing t's buffer with another shape of the same numel (no autograd). */
TTML_API ttml_tensor *ttml_tensor_view_as(ttml_tensor *t, int ndim, const int64_t *shape, GError **error);
/* A tensor sharing t's buffer: the numel(shape) elements from element
 * `start` of t (no autograd); writes through either show in both. An error
 * (TTML_ERROR_SHAPE) when the range passes t's end. */
TTML_API ttml_tensor *ttml_tensor_view_at(ttml_tensor *t, size_t start, int ndim, const int64_t *shape,
                                          GError **error);

TTML_API ttml_tensor *ttml_tensor_ref(ttml_tensor *t);
TTML_API void ttml_tensor_unref(ttml_tensor *t);

/* Read values to host as f32 (converting bf16/u32). `out` holds numel floats. */
TTML_API gboolean ttml_tensor_to_floats(const ttml_tensor *t, float *out, GError **error);
/* Read raw values in t->dtype. */
TTML_API gboolean ttml_tensor_read(const ttml_tensor *t, void *out, GError **error);
/* Overwrite the value from host data in t->dtype. */
TTML_API gboolean ttml_tensor_write(ttml_tensor *t, const void *data, GError **error);
/* Value of a 1-element tensor (NAN and an error otherwise). */
TTML_API float ttml_tensor_item(const ttml_tensor *t, GError **error);

TTML_API void ttml_tensor_set_requires_grad(ttml_tensor *t, gboolean requires_grad);
TTML_API void ttml_tensor_set_name(ttml_tensor *t, const char *name);
/* Drop the gradient (PyTorch zero_grad(set_to_none=True)). */
TTML_API void ttml_tensor_zero_grad(ttml_tensor *t);
/* Add `g` (same shape) into t->grad; takes no ownership of g. */
TTML_API gboolean ttml_tensor_accumulate_grad(ttml_tensor *t, ttml_tensor *g, GError **error);

/* A view descriptor of t for a kernel launch. */
TTML_API ttml_view ttml_tensor_view(const ttml_tensor *t);
/* "[2, 3, 4]" into buf (at least 64 bytes); returns buf. */
TTML_API char *ttml_shape_str(int ndim, const int64_t *shape, char *buf, size_t size);
TTML_API gboolean ttml_shape_equal(const ttml_tensor *a, const ttml_tensor *b);

/* bf16 helpers (round to nearest even, NaN preserved). */
TTML_API guint16 ttml_f32_to_bf16(float f);
TTML_API float ttml_bf16_to_f32(guint16 b);

G_END_DECLS

#endif
