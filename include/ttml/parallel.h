/* ttml/parallel.h - the rank layout of a job that combines tensor (TP),
 * data (DP) and pipeline (PP) parallelism, and its communicators.
 *
 * Layout (DESIGN.md: TP innermost, then DP, then PP). For world rank r:
 *   tp_rank = r % tp;  dp_rank = (r / tp) % dp;  pp_rank = r / (tp * dp)
 *   TP group: the ranks with the same (dp_rank, pp_rank)
 *             = split(color r / tp, key tp_rank)
 *   DP group: the same (tp_rank, pp_rank)
 *             = split(color pp_rank * tp + tp_rank, key dp_rank)
 *   PP group: the same (tp_rank, dp_rank)
 *             = split(color r % (tp * dp), key pp_rank)
 * TT-Train spells the first two as device_config.mesh_shape [dp, tp]; e.g.
 * 4 ranks as mesh_shape [2, 2] are dp 2 x tp 2: ranks 0,1 and 2,3 are TP
 * groups, ranks 0,2 and 1,3 DP groups.
 */
#ifndef TTML_PARALLEL_H
#define TTML_PARALLEL_H

#include <ttml/comm.h>

G_BEGIN_DECLS

typedef struct ttml_parallel {
    int world_size, world_rank;
    int tp, dp, pp;                   /* sizes; tp * dp * pp = world_size */
    int tp_rank, dp_rank, pp_rank;
    ttml_comm *tp_comm, *dp_comm, *pp_comm;   /* owned                     */
} ttml_parallel;

/* Collective over `world` (borrowed): the layout for TP size tp and PP size
 * pp (dp = world size / (tp * pp)) with its three communicators. FALSE/NULL
 * with TTML_ERROR_CONFIG naming the world size, tp and pp when they do not
 * divide, or the communicator's error. Free with ttml_parallel_free. */
TTML_API ttml_parallel *ttml_parallel_new(ttml_comm *world, int tp, int pp, GError **error);
/* Frees the communicators (not the world). NULL-safe. */
TTML_API void ttml_parallel_free(ttml_parallel *p);
/* The ranks of a layout without communicators (for tests and docs). */
TTML_API void ttml_parallel_ranks(int world_rank, int tp, int dp, int *tp_rank, int *dp_rank, int *pp_rank);

G_END_DECLS

#endif
