/* plugins/attention_ops/attn_internal.h - private helpers of the attention_ops
 * plugin. Every op is built from the named kernels of ttml/kernels_attn.h,
 * launched through ttml_launch_tensors, so it runs on any driver (the cpu
 * kernels are the fallback). Nothing here is exported. */
#ifndef TTML_ATTN_INTERNAL_H
#define TTML_ATTN_INTERNAL_H

#include <ttml/ttml.h>

G_BEGIN_DECLS

/* Inputs are checked with ttml_op_check_inputs (ttml/ops.h). */
/* Check that t is 4-D (TTML_ERROR_SHAPE naming `what` and the shape). */
gboolean attn_check_4d(const char *op, const char *what, const ttml_tensor *t, const char *expect,
                       GError **error);
/* Accumulate g into t->grad, then drop g (NULL g = failure already set). */
gboolean attn_accumulate(ttml_tensor *t, ttml_tensor *g, GError **error);
/* A new tensor of `shape` holding kernel(in) (one output). */
ttml_tensor *attn_launch_new(const char *kernel, ttml_tensor *in, int ndim, const int64_t *shape,
                             const void *params, size_t params_size, GError **error);

ttml_tensor *attn_split_heads_forward(ttml_tensor *const *in, int n_in, const void *params,
                                      GError **error);
ttml_tensor *attn_merge_heads_forward(ttml_tensor *const *in, int n_in, const void *params,
                                      GError **error);
ttml_tensor *attn_rope_forward(ttml_tensor *const *in, int n_in, const void *params,
                               GError **error);
ttml_tensor *attn_sdpa_forward(ttml_tensor *const *in, int n_in, const void *params,
                               GError **error);

G_END_DECLS

#endif
