/* ttml/kernels.h - names and parameter structs of the standard kernels.
 *
 * Every driver may implement any of these; the cpu driver implements all of
 * them and is the fallback. Shapes are logical row-major; all kernels take
 * and produce f32 unless stated. in[i] / out[i] refer to ttml_launch slots.
 * Outputs are written in place into the given buffers (they may be inputs
 * of the optimizer kernels, which update state in place).
 */
#ifndef TTML_KERNELS_H
#define TTML_KERNELS_H

#include <ttml/driver.h>

G_BEGIN_DECLS

/* "fill": out[0][*] = value. */
typedef struct { float value; } ttml_fill_params;

/* "copy": out[0] = in[0] element by element (same numel; converts dtype). */

/* "affine": out[0] = in[0] * mul + add (out may alias in). */
typedef struct { float mul, add; } ttml_affine_params;

/* "binary": out[0] = in[0] OP in[1] with NumPy broadcasting of both inputs
 * to out[0]'s shape (shapes right-aligned, missing dims = 1). */
typedef enum { TTML_BINARY_ADD, TTML_BINARY_SUB, TTML_BINARY_MUL, TTML_BINARY_DIV } ttml_binary_op;
typedef struct { ttml_binary_op op; } ttml_binary_params;

/* "div_bwd_b": out[0] = reduce_to(out shape, -dy * a / (b*b)) with
 * in[0]=dy, in[1]=a, in[2]=b broadcast to dy's shape. */

/* "reduce_to": out[0] = scale * sum of in[0] over the dims in which out[0]
 * (right-aligned) has extent 1 and in[0] does not; plus beta * out[0].
 * Used for broadcast gradients, sum and mean. */
typedef struct { float scale; float beta; } ttml_reduce_params;

/* "axpby": out[0] = alpha * in[0] + beta * out[0] (same numel). */
typedef struct { float alpha, beta; } ttml_axpby_params;

/* "relu": out[0] = max(in[0], 0).
 * "relu_bwd": out[0] = in[1] where in[0] > 0 else 0 (in[0]=x, in[1]=dy). */

/* "matmul": out[0] = alpha * op(in[0]) @ op(in[1]) + beta * out[0],
 * op = transpose of the last two dims when trans_* is set. Batch dims (all
 * but the last two) broadcast: in[1] may have batch 1 (shared weights).
 * precision (a tail field: launches whose params_size stops before it mean
 * fp32) asks for bf16 operands with fp32 accumulation; a kernel without a
 * bf16 path computes in fp32. Operands and out stay f32 tensors. */
typedef struct {
    int trans_a, trans_b;
    float alpha, beta;
    int precision;       /* ttml_precision */
} ttml_matmul_params;

/* "mse_fwd": out[0] (1 element) = reduce((in[0] - in[1])^2).
 * "mse_bwd": out[0] = in[2][0] * d reduce / d in[0] (in[2] = dloss, 1 element). */
typedef enum { TTML_REDUCE_MEAN = 0, TTML_REDUCE_SUM = 1 } ttml_reduction;
typedef struct { ttml_reduction reduction; } ttml_loss_params;

/* "sum_sq": out[0] (1 element) = sum(in[0]^2), accumulated in double. */

/* "sgd_step" (PyTorch SGD): in[0] = grad; out[0] = param, out[1] = momentum
 * buffer (may be absent when momentum == 0), both updated in place. */
typedef struct {
    float lr, momentum, dampening, weight_decay;
    int nesterov;
    int first_step;      /* momentum buffer initialised to the gradient */
} ttml_sgd_params;

/* "adamw_step" (PyTorch AdamW, decoupled decay, fused one pass):
 * in[0] = grad; out[0] = param, out[1] = exp_avg, out[2] = exp_avg_sq. */
typedef struct {
    float lr, beta1, beta2, epsilon, weight_decay;
    gint64 step;         /* 1-based, for bias correction */
} ttml_adamw_params;

G_END_DECLS

#endif
