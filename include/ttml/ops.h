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

/* A named field of an op's params struct (ABI 1.3), so configs can set it
 * by name: `activation: {op: leaky_relu, slope: 0.1}` sets the float at
 * offsetof(ttml_leaky_relu_op_params, slope). A table ends with a NULL name. */
typedef enum {
    TTML_OP_PARAM_FLOAT = 1,   /* float                                        */
    TTML_OP_PARAM_INT,         /* int                                          */
    TTML_OP_PARAM_INT64,       /* int64_t                                      */
    TTML_OP_PARAM_BOOL,        /* int, 0 or 1 (YAML true/false)                */
} ttml_op_param_type;

typedef struct ttml_op_param_field {
    const char *name;          /* as written in a config: "slope"             */
    ttml_op_param_type type;
    size_t offset;             /* offsetof(the params struct, field)          */
    const char *description;   /* one line for errors and ttml-inspect, or NULL */
} ttml_op_param_field;

struct ttml_op_desc {
    size_t struct_size;        /* sizeof(ttml_op_desc) at build time          */
    const char *name;          /* "matmul", "mse_loss", ...                   */
    const char *description;
    int min_inputs, max_inputs;
    size_t params_size;        /* sizeof the params struct, 0 for none        */
    ttml_op_fn forward;
    /* ---- ABI 1.3 tail: read only through the accessors below, which check
     * struct_size, so 1.0-1.2 plugins (a shorter struct) still load and
     * their ops simply have neither. ---- */
    /* params_size bytes used when a caller passes params == NULL ("all
     * defaults"); NULL: the op has no defaults and NULL params is an error. */
    const void *default_params;
    /* The params struct's fields, by name, for configs (see above); NULL:
     * its parameters cannot be set from a config. */
    const ttml_op_param_field *param_fields;
};

/* Call a registered op by name. params may be NULL when params_size is 0 or
 * the op declares default_params (then those are used; params_size is
 * ignored). NULL params for an op that needs parameters and has no defaults
 * is TTML_ERROR_INVALID_ARG naming the op, as is a params_size that differs
 * from the op's. */
TTML_API ttml_tensor *ttml_op_call(const char *name, ttml_tensor *const *in, int n_in, const void *params,
                                   size_t params_size, GError **error);
TTML_API const ttml_op_desc *ttml_op_find(const char *name);
/* The op's defaults (params_size bytes) or NULL, and its field table or
 * NULL; both NULL for descriptors older than ABI 1.3 (struct_size checked). */
TTML_API const void *ttml_op_default_params(const ttml_op_desc *op);
TTML_API const ttml_op_param_field *ttml_op_param_fields(const ttml_op_desc *op);
/* A params struct for `op` from the mapping `map` (e.g. the activation's
 * `{op: leaky_relu, slope: 0.1}`): its defaults, then every field of the
 * op's table that `map` sets (read with the typed config getters, so a
 * wrong type is a TTML_ERROR_CONFIG with file:line:col). Keys other than
 * the fields and `ignore_key` ("op") are TTML_ERROR_CONFIG "unknown key
 * ... did you mean". An op without defaults needs every field set. Returns
 * op->params_size bytes (g_free; for an op without parameters a 1-byte
 * dummy) or NULL with the error set. */
TTML_API void *ttml_op_params_from_config(const ttml_op_desc *op, ttml_config *map, const char *ignore_key,
                                          GError **error);

/* ---- parameter structs of the core ops ---- */
/* Ops with defaults (NULL params allowed): matmul {0, 0}, mse_loss mean. */
typedef struct { int trans_a, trans_b; } ttml_matmul_op_params;
typedef struct { ttml_reduction reduction; } ttml_mse_op_params;
/* add_scalar / mul_scalar: no defaults (NULL params is an error). */
typedef struct { float value; } ttml_scalar_op_params;
/* "leaky_relu": x > 0 ? x : slope * x; defaults {0.01} (PyTorch's). */
typedef struct { float slope; } ttml_leaky_relu_op_params;

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
/* x > 0 ? x : slope * x (gradient 1 or slope; slope at x = 0). */
TTML_API ttml_tensor *ttml_leaky_relu(ttml_tensor *x, float slope, GError **error);
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
