/* drivers/common/ttml_kernel_checks.h - launch checks shared by the cpu
 * driver's kernels and ttsim's native kernels, so both reject the same
 * launches with the same explanation. Internal to the drivers. */
#ifndef TTML_KERNEL_CHECKS_H
#define TTML_KERNEL_CHECKS_H

#include <ttml/kernels_attn.h>

#include <limits.h>
#include <string.h>

/* What is wrong with sdpa's q, k, v (see ttml/kernels_attn.h), or NULL. */
static inline const char *ttml_kc_sdpa_problem(const ttml_view *q, const ttml_view *k, const ttml_view *v,
                                               int causal)
{
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4)
        return "all must be 4-D ([B, H, Sq, D], [B, G, Skv, D], [B, G, Skv, D])";
    if (k->shape[0] != q->shape[0] || k->shape[3] != q->shape[3]) return "k must have q's batch B and head size D";
    if (memcmp(k->shape, v->shape, sizeof k->shape[0] * 4) != 0) return "k and v must have the same shape";
    if (k->shape[1] < 1 || q->shape[1] % k->shape[1] != 0)
        return "the query head count H must be a multiple of the kv head count G";
    if (q->shape[3] < 1 || k->shape[2] < 1) return "the head size D and the key count Skv must be at least 1";
    if (causal && k->shape[2] < q->shape[2])
        return "causal attention needs Skv >= Sq (query i sees keys j <= i + Skv - Sq)";
    if (q->shape[2] > INT_MAX || k->shape[2] > INT_MAX || q->shape[3] > INT_MAX)
        return "dims exceed the BLAS int range";
    return NULL;
}

#endif
