/* ttml/ops.h - autograd ops.
 *
 * Ops live in plugins and are registered by name. An op's forward computes
 * its result from kernels (ttml_kernel_launch) and records a graph node whose
 * backward does the same, so an op written once runs on every driver.
 * The typed wrappers below look the op up by name in the registry; a missing
 * op fails with TTML_ERROR_NOT_FOUND. Results are new references.
 */
#ifndef TTML_OPS_H
#define TTML_OPS_H

#include <ttml/autograd.h>
#include <ttml/kernels.h>

G_BEGIN_DECLS

typedef ttml_tensor *(*ttml_op_fn)(ttml_tensor *const *in, int n_in, const void *params,
                                    GError **error);

struct ttml_op_desc {
    size_t struct_size;
    const char *name;          /* "matmul", "mse_loss", ...                   */
    const char *description;
    int min_inputs, max_inputs;
    size_t params_size;        /* sizeof the params struct, 0 for none        */
    ttml_op_fn forward;
};

/* Call a registered op by name (params may be NULL when params_size is 0). */
TTML_API ttml_tensor *ttml_op_call(const char *name, ttml_tensor *const *in, int n_in, const void *params,
                                   size_t params_size, GError **error);
TTML_API const ttml_op_desc *ttml_op_find(const char *name);

/* ---- parameter structs of the core ops ---- */
typedef struct { int trans_a, trans_b; } ttml_matmul_op_params;
typedef struct { ttml_reduction reduction; } ttml_mse_op_params;
typedef struct { float value; } ttml_scalar_op_params;

/* ---- typed wrappers (core_ops plugin) ---- */
TTML_API ttml_tensor *ttml_add(ttml_tensor *a, ttml_tensor *b, GError **error);
TTML_API ttml_tensor *ttml_sub(ttml_tensor *a, ttml_tensor *b, GError **error);
TTML_API ttml_tensor *ttml_mul(ttml_tensor *a, ttml_tensor *b, GError **error);
TTML_API ttml_tensor *ttml_div(ttml_tensor *a, ttml_tensor *b, GError **error);
/* a + s, a * s (scalars) */
TTML_API ttml_tensor *ttml_add_scalar(ttml_tensor *a, float s, GError **error);
TTML_API ttml_tensor *ttml_mul_scalar(ttml_tensor *a, float s, GError **error);
/* a @ b with optional transposes of the last two dims; batched. */
TTML_API ttml_tensor *ttml_matmul(ttml_tensor *a, ttml_tensor *b, gboolean trans_a, gboolean trans_b,
                                  GError **error);
/* x @ weight^T + bias; weight [out, in], bias [out] or NULL. */
TTML_API ttml_tensor *ttml_linear(ttml_tensor *x, ttml_tensor *weight, ttml_tensor *bias, GError **error);
TTML_API ttml_tensor *ttml_relu(ttml_tensor *x, GError **error);
/* Sum / mean of all elements, shape [1]. */
TTML_API ttml_tensor *ttml_sum(ttml_tensor *x, GError **error);
TTML_API ttml_tensor *ttml_mean(ttml_tensor *x, GError **error);
TTML_API ttml_tensor *ttml_mse_loss(ttml_tensor *pred, ttml_tensor *target, ttml_reduction reduction,
                                    GError **error);

/* Helpers for op authors: allocate an output on the inputs' device and check
 * that every input lives on the same device. */
TTML_API ttml_tensor *ttml_op_output(ttml_tensor *like_device, int ndim, const int64_t *shape, GError **error);
/* NumPy broadcast of two shapes into out (returns FALSE with a
 * TTML_ERROR_SHAPE naming both shapes and `op`). */
TTML_API gboolean ttml_broadcast_shapes(const char *op, const ttml_tensor *a, const ttml_tensor *b, int *ndim,
                                        int64_t *shape, GError **error);
/* Launch with tensors (builds views). */
TTML_API gboolean ttml_launch_tensors(const char *kernel, ttml_tensor *const *in, int n_in, ttml_tensor *const *out,
                                      int n_out, const void *params, size_t params_size, GError **error);

/* Input checks for op authors, as every op's forward begins:
 * n_in within [min_in, max_in], no NULL input (nor a NULL array), every
 * input f32 except those whose bit is set in `u32_mask` (token ids / class
 * targets), which must be u32, and all inputs on input 0's device.
 * FALSE with TTML_ERROR_INVALID_ARG (count, NULL), TTML_ERROR_DTYPE or
 * TTML_ERROR_DEVICE naming `op`, the input index and the fix. */
TTML_API gboolean ttml_op_check_inputs(const char *op, ttml_tensor *const *in, int n_in, int min_in,
                                       int max_in, guint u32_mask, GError **error);
/* Set a TTML_ERROR_SHAPE "OP: shapes A and B DETAIL" naming both shapes;
 * DETAIL is printf `format` (e.g. "differ (gate and up must match)"). */
TTML_API void ttml_op_shape_error(GError **error, const char *op, const ttml_tensor *a, const ttml_tensor *b,
                                  const char *format, ...) G_GNUC_PRINTF(5, 6);

G_END_DECLS

#endif
