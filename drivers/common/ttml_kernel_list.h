/* drivers/common/ttml_kernel_list.h - every built-in kernel name, listed
 * once. The cpu driver's kernel tables, ttsim's registration list and
 * native tables, and the parity test expand these X-macros, so a kernel
 * added here is registered (or fails to compile) everywhere.
 *
 * The parameter structs stay in include/ttml/kernels*.h (the contract with
 * third-party kernels, which need no list); the names live here because
 * only the project's own drivers and tests enumerate them. Grouped by the
 * header that documents each kernel's parameters. Internal to the drivers
 * and tests. */
#ifndef TTML_KERNEL_LIST_H
#define TTML_KERNEL_LIST_H

/* ttml/kernels.h */
#define TTML_KERNELS_CORE(X)                                                                     \
    X(fill) X(copy) X(affine) X(binary) X(div_bwd_b) X(reduce_to) X(axpby) X(relu) X(relu_bwd)   \
    X(matmul) X(mse_fwd) X(mse_bwd) X(sum_sq) X(sgd_step) X(adamw_step)

/* ttml/kernels_nn.h */
#define TTML_KERNELS_NN(X)                                                                       \
    X(layernorm_fwd) X(layernorm_bwd) X(rmsnorm_fwd) X(rmsnorm_bwd) X(gelu_fwd) X(gelu_bwd)       \
    X(silu_fwd) X(silu_bwd) X(swiglu_fwd) X(swiglu_bwd) X(softmax_fwd) X(softmax_bwd)             \
    X(log_softmax_fwd) X(log_softmax_bwd) X(dropout_fwd) X(dropout_bwd) X(embedding_fwd)          \
    X(embedding_bwd) X(transpose_last2) X(strided_copy) X(cross_entropy_fwd) X(cross_entropy_bwd) \
    X(nll_fwd) X(nll_bwd)

/* ttml/kernels_attn.h */
#define TTML_KERNELS_ATTN(X) X(heads_split) X(heads_merge) X(rope_fwd) X(rope_bwd) X(sdpa_fwd) X(sdpa_bwd)

/* All of them, in registration order. */
#define TTML_KERNEL_LIST(X) TTML_KERNELS_CORE(X) TTML_KERNELS_NN(X) TTML_KERNELS_ATTN(X)

/* TTML_KERNEL_ID_<name>: one constant per listed kernel. */
#define TTML_KERNEL_ID_(name) TTML_KERNEL_ID_##name,
enum { TTML_KERNEL_LIST(TTML_KERNEL_ID_) TTML_KERNEL_COUNT };

/* The name string of a listed kernel, usable in static initializers; a name
 * not in the list does not compile (`TTML_KERNEL_NAME(matmull)`). */
#define TTML_KERNEL_NAME(name) ("" #name + 0 * TTML_KERNEL_ID_##name)

#endif
