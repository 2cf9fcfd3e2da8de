/* core/train/parallel.c - the rank layout (ttml/parallel.h): TP innermost,
 * then DP, then PP; split() builds the three groups. Public headers only. */
#include <ttml/ttml.h>
#include <ttml/parallel.h>

void ttml_parallel_ranks(int world_rank, int tp, int dp, int *tp_rank, int *dp_rank, int *pp_rank)
{
    *tp_rank = world_rank % tp;
    *dp_rank = (world_rank / tp) % dp;
    *pp_rank = world_rank / (tp * dp);
}

ttml_parallel *ttml_parallel_new(ttml_comm *world, int tp, int pp, GError **error)
{
    int n = ttml_comm_size(world), r = ttml_comm_rank(world);
    if (tp < 1 || pp < 1 || n % (tp * pp) != 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%d rank(s) cannot be laid out as tensor-parallel %d x pipeline of %d stage(s) (x data-parallel "
                    "replicas): the rank count must be a multiple of %d; change mesh_shape, the pipeline "
                    "or mpirun -np", n, tp, pp, tp * pp);
        return NULL;
    }
    ttml_parallel *p = g_new0(ttml_parallel, 1);
    p->world_size = n;
    p->world_rank = r;
    p->tp = tp;
    p->pp = pp;
    p->dp = n / (tp * pp);
    ttml_parallel_ranks(r, tp, p->dp, &p->tp_rank, &p->dp_rank, &p->pp_rank);
    /* the same three splits, in the same order, on every rank */
    if (!(p->tp_comm = ttml_comm_split(world, r / tp, p->tp_rank, error)) ||
        !(p->dp_comm = ttml_comm_split(world, p->pp_rank * tp + p->tp_rank, p->dp_rank, error)) ||
        !(p->pp_comm = ttml_comm_split(world, r % (tp * p->dp), p->pp_rank, error))) {
        g_prefix_error(error, "rank layout (tp %d, dp %d, pp %d): ", tp, p->dp, pp);
        ttml_parallel_free(p);
        return NULL;
    }
    return p;
}

void ttml_parallel_free(ttml_parallel *p)
{
    if (!p) return;
    ttml_comm_free(p->tp_comm);
    ttml_comm_free(p->dp_comm);
    ttml_comm_free(p->pp_comm);
    g_free(p);
}
