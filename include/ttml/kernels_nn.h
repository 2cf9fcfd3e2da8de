/* ttml/kernels_nn.h - names and parameter structs of the neural-network
 * kernels used by the nn_ops plugin (ttml/ops_nn.h).
 *
 * Conventions as in ttml/kernels.h: logical row-major views, f32 unless
 * stated, in[i] / out[i] are ttml_launch slots, outputs are overwritten (never
 * accumulated into). "Row-wise" kernels treat in[0] as rows x F with F its
 * last dim and rows = numel / F; per-row statistics are f32 tensors of
 * `rows` elements (any shape with that numel). Ids and targets are u32 views
 * and every kernel reading them checks each id against its range before it
 * writes anything: an id out of range is a TTML_ERROR_INVALID_ARG naming the
 * id, its position (row) and the range. The cpu driver implements all of them.
 */
#ifndef TTML_KERNELS_NN_H
#define TTML_KERNELS_NN_H

#include <ttml/kernels.h>

G_BEGIN_DECLS

/* ---- normalisation (row-wise over the last dim F) ----
 *
 * "layernorm_fwd": in[0] = x, in[1] = gamma [F], in[2] = beta [F] (optional:
 *   n_in = 2 means beta = 0); out[0] = y (x's shape), out[1] = mean [rows],
 *   out[2] = rstd [rows]:
 *     mean = sum(x) / F, var = sum((x - mean)^2) / F (biased),
 *     rstd = 1 / sqrt(var + eps), y = (x - mean) * rstd * gamma + beta.
 * "layernorm_bwd": in[0] = x, in[1] = gamma, in[2] = mean, in[3] = rstd,
 *   in[4] = dy; out[0] = dx, out[1] = dgamma [F], out[2] = dbeta [F]
 *   (optional, n_out = 2 skips it). One pass over the rows; dgamma / dbeta are
 *   summed per block of rows and the blocks reduced afterwards. With
 *   xhat = (x - mean) * rstd, g = dy * gamma:
 *     dx = rstd * (g - mean_F(g) - xhat * mean_F(g * xhat)),
 *     dgamma = sum_rows(dy * xhat), dbeta = sum_rows(dy).
 * "rmsnorm_fwd": in[0] = x, in[1] = gamma [F]; out[0] = y, out[1] = rstd
 *   [rows]: rstd = 1 / sqrt(sum(x^2) / F + eps), y = x * rstd * gamma.
 * "rmsnorm_bwd": in[0] = x, in[1] = gamma, in[2] = rstd, in[3] = dy;
 *   out[0] = dx, out[1] = dgamma [F]. With xhat = x * rstd, g = dy * gamma:
 *     dx = rstd * (g - xhat * mean_F(g * xhat)), dgamma = sum_rows(dy * xhat).
 */
typedef struct { float eps; } ttml_norm_params;

/* ---- activations (elementwise, same numel everywhere) ----
 *
 * "gelu_fwd": out[0] = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 *   (PyTorch approximate="tanh"). "gelu_bwd": in[0] = x, in[1] = dy;
 *   out[0] = dy * gelu'(x).
 * "silu_fwd": out[0] = x * sigmoid(x). "silu_bwd": in[0] = x, in[1] = dy;
 *   out[0] = dy * s (1 + x (1 - s)), s = sigmoid(x).
 * "swiglu_fwd": in[0] = gate, in[1] = up; out[0] = silu(gate) * up.
 * "swiglu_bwd": in[0] = gate, in[1] = up, in[2] = dy; out[0] = dgate =
 *   dy * up * silu'(gate), out[1] = dup = dy * silu(gate), in one pass.
 */

/* ---- softmax family (row-wise over the last dim, max-subtracted) ----
 *
 * "softmax_fwd": out[0] = exp(x - max) / sum(exp(x - max)).
 * "softmax_bwd": in[0] = y (the forward's output), in[1] = dy;
 *   out[0] = y * (dy - sum_F(dy * y)).
 * "log_softmax_fwd": out[0] = x - max - log(sum(exp(x - max))).
 * "log_softmax_bwd": in[0] = y (the forward's output), in[1] = dy;
 *   out[0] = dy - exp(y) * sum_F(dy).
 */

/* ---- dropout (inverted; the mask is never stored) ----
 *
 * "dropout_fwd": in[0] = x; out[0] = x * keep(i) / (1 - p).
 * "dropout_bwd": in[0] = dy; out[0] = dy * keep(i) / (1 - p), the same mask
 *   regenerated from the same params.
 * keep(i) for flat element i is a counter-based hash, so the mask depends on
 * (seed, counter, i) only (not on threads or chunking):
 *   h = mix64(seed ^ mix64(counter + i)), mix64 = the splitmix64 finaliser
 *   (x ^= x >> 30; x *= 0xbf58476d1ce4e5b9; x ^= x >> 27;
 *    x *= 0x94d049bb133111eb; x ^= x >> 31),
 *   u = (h >> 40) * 2^-24 in [0, 1), keep(i) = u >= p.
 * 0 <= p < 1 (p = 0 keeps everything). The nn_ops dropout draws seed once
 * per call from the context RNG (ttml_rng_u64) and passes counter = 0.
 */
typedef struct {
    guint64 seed;
    guint64 counter;
    float p;
} ttml_dropout_params;

/* ---- embedding ----
 *
 * "embedding_fwd": in[0] = ids (u32, N elements, any shape), in[1] = weight
 *   [V, E]; out[0] = N x E: row n = weight[ids[n]].
 * "embedding_bwd": in[0] = ids (u32, N), in[1] = dy (N x E); out[0] =
 *   dweight [V, E] = zeros, then dweight[ids[n]] += dy[n] for every n (a
 *   repeated id accumulates). Race-free: threads split the E columns.
 */

/* ---- shape kernels ----
 *
 * "transpose_last2": in[0] = x [..., M, N]; out[0] = [..., N, M] with
 *   out[b, j, i] = x[b, i, j].
 * "strided_copy": for o in [0, outer), j in [0, len):
 *     out[0][o * out_stride + out_offset + j] = in[0][o * in_stride + in_offset + j]
 *   (flat element indices into each view; every index must lie inside the
 *   view). Other elements of out[0] are left as they are. Concat and
 *   narrow/split are built from it.
 */
typedef struct {
    gint64 outer, len;
    gint64 in_stride, in_offset;
    gint64 out_stride, out_offset;
} ttml_strided_copy_params;

/* ---- losses (rows x V logits, one u32 target per row) ----
 *
 * "cross_entropy_fwd": in[0] = logits (rows x V, V = last dim), in[1] =
 *   targets (u32, rows elements); out[0] = loss (1 element), out[1] = lse
 *   [rows] (log-sum-exp of the valid columns, for backward). Columns
 *   >= valid_vocab are ignored (as if -inf); valid_vocab <= 0 means V, and it
 *   must not exceed V. Each target must be < valid_vocab.
 *     loss = reduce over rows of (lse[r] - logits[r, target[r]]),
 *   accumulated in double; mean divides by rows.
 * "cross_entropy_bwd": in[0] = logits, in[1] = targets, in[2] = lse, in[3] =
 *   dloss (1 element); out[0] = dlogits = (softmax - onehot(target)) * dloss
 *   (/ rows for mean); 0 in the ignored columns.
 * "nll_fwd" (params ttml_loss_params of ttml/kernels.h): in[0] = logp
 *   (rows x V), in[1] = targets (u32, rows; each < V); out[0] = loss
 *   (1 element) = reduce over rows of -logp[r, target[r]].
 * "nll_bwd" (ttml_loss_params): in[0] = targets, in[1] = dloss (1 element); out[0] = dlogp
 *   (rows x V, V from out[0]'s last dim) = -dloss (/ rows for mean) at the
 *   target column, 0 elsewhere.
 */
typedef struct {
    gint64 valid_vocab;
    ttml_reduction reduction;
} ttml_cross_entropy_params;

G_END_DECLS

#endif
