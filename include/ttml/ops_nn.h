/* ttml/ops_nn.h - neural-network ops for transformers (nn_ops plugin).
 *
 * Conventions (TT-Train): activations are [B, 1, S, F]; token ids are u32
 * [B, 1, 1, S] (or [B, S]); normalisation and softmax act on the last dim.
 * Every op records a backward node when gradients are on. Results are new
 * references; inputs are borrowed.
 */
#ifndef TTML_OPS_NN_H
#define TTML_OPS_NN_H

#include <ttml/ops.h>

G_BEGIN_DECLS

/* ids u32 [B,1,1,S] or [B,S]; weight [V, E] -> [B, 1, S, E]. Ids >= V are
 * a TTML_ERROR_INVALID_ARG naming the id and V. Backward scatter-adds. */
TTML_API ttml_tensor *ttml_embedding(ttml_tensor *ids, ttml_tensor *weight, GError **error);
/* LayerNorm over the last dim: gamma, beta [F] (beta may be NULL). */
TTML_API ttml_tensor *ttml_layernorm(ttml_tensor *x, ttml_tensor *gamma, ttml_tensor *beta, float eps, GError **error);
/* RMSNorm over the last dim: x / sqrt(mean(x^2) + eps) * gamma. */
TTML_API ttml_tensor *ttml_rmsnorm(ttml_tensor *x, ttml_tensor *gamma, float eps, GError **error);
/* GELU, tanh approximation (PyTorch approximate="tanh"). */
TTML_API ttml_tensor *ttml_gelu(ttml_tensor *x, GError **error);
TTML_API ttml_tensor *ttml_silu(ttml_tensor *x, GError **error);
/* silu(gate) * up, fused (same shapes). */
TTML_API ttml_tensor *ttml_swiglu(ttml_tensor *gate, ttml_tensor *up, GError **error);
/* Over the last dim. */
TTML_API ttml_tensor *ttml_softmax(ttml_tensor *x, GError **error);
TTML_API ttml_tensor *ttml_log_softmax(ttml_tensor *x, GError **error);
/* Inverted dropout with probability p when `training`, identity otherwise.
 * The mask comes from the context RNG (deterministic for a seed; restoring
 * the RNG state replays the same mask) and is keyed by each element's
 * position in the global batch (x's dim 0 is the batch; ttml_set_batch_shard),
 * so a data-parallel run draws the masks of the one-rank run. */
TTML_API ttml_tensor *ttml_dropout(ttml_tensor *x, float p, gboolean training, GError **error);
/* Same numel, new shape; autograd-aware (the gradient is reshaped back). */
TTML_API ttml_tensor *ttml_reshape(ttml_tensor *x, int ndim, const int64_t *shape, GError **error);
/* Swap the last two dims (materialised). */
TTML_API ttml_tensor *ttml_transpose(ttml_tensor *x, GError **error);
/* Concatenate along `dim` (negative counts from the end). */
TTML_API ttml_tensor *ttml_concat(ttml_tensor *const *xs, int n, int dim, GError **error);
/* Split along `dim` into n pieces of sizes[i] (sum = extent); out[i] are new
 * references. */
TTML_API gboolean ttml_split(ttml_tensor *x, int dim, const int64_t *sizes, int n, ttml_tensor **out, GError **error);
/* Fused log-softmax + NLL. logits [..., Vpad] f32, targets u32 with one id
 * per logits row ([B,1,1,S] or [B,S] for logits [B,1,S,Vpad]). Columns
 * >= valid_vocab (padding of a vocabulary rounded up to 32) are ignored
 * (treated as -inf); valid_vocab <= 0 means all columns. -> [1]. */
TTML_API ttml_tensor *ttml_cross_entropy_loss(ttml_tensor *logits, ttml_tensor *targets, int64_t valid_vocab,
                                              ttml_reduction reduction, GError **error);
/* NLL of log-probabilities (same layout as cross_entropy). -> [1]. */
TTML_API ttml_tensor *ttml_nll_loss(ttml_tensor *logp, ttml_tensor *targets, ttml_reduction reduction, GError **error);

/* ---- parameter structs of the nn ops (for ttml_op_call; appended for the
 * nn_ops plugin; the typed wrappers above fill them) ----
 * "embedding": no params; in = {ids (u32), weight}.
 * "layernorm": in = {x, gamma[, beta]}; "rmsnorm": in = {x, gamma}. */
typedef struct { float eps; } ttml_norm_op_params;
/* "gelu", "silu", "softmax", "log_softmax", "transpose": no params;
 * "swiglu": in = {gate, up}. "dropout": p in [0, 1); identity (a new
 * reference to x, no RNG draw) when !training or p == 0. */
typedef struct { float p; int training; } ttml_dropout_op_params;
/* "reshape": one extent may be -1 (inferred from numel). The result shares
 * x's buffer (no copy). */
typedef struct { int ndim; int64_t shape[TTML_MAX_DIMS]; } ttml_reshape_op_params;
/* "concat": in = the n tensors. */
typedef struct { int dim; } ttml_concat_op_params;
/* "narrow": the slice [start, start + length) of dim `dim` (negative counts
 * from the end), materialised; ttml_split() is n narrow calls. */
typedef struct { int dim; int64_t start, length; } ttml_narrow_op_params;
/* "cross_entropy_loss": in = {logits, targets (u32)}. */
typedef struct { int64_t valid_vocab; ttml_reduction reduction; } ttml_cross_entropy_op_params;
/* "nll_loss": in = {logp, targets (u32)}. */
typedef struct { ttml_reduction reduction; } ttml_nll_op_params;

G_END_DECLS

#endif
