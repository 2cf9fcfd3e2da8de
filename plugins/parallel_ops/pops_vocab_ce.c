/* plugins/parallel_ops/pops_vocab_ce.c - vocab-parallel cross-entropy (after
 * Megatron and TT-Train's ops/distributed/losses.cpp). Rank r holds logit
 * columns [r*Vl, (r+1)*Vl) of every row. Per row:
 *   m = all-reduce-max(local max), s = all-reduce-sum(sum exp(x - m)),
 *   t = all-reduce-sum(x[target] on the rank holding it, else 0),
 *   loss = mean(log s + m - t);
 * backward (local): dx = dloss / rows * (exp(x - m - log s) - onehot).
 * Columns >= valid_vocab (vocabulary padding) are ignored everywhere. */
#include "pops_internal.h"

#include <math.h>
#include <string.h>

typedef struct {
    int64_t rows, vl, start, valid;
} ce_geom;

static gboolean ce_geometry(ttml_tensor *const *in, ttml_comm *comm, int64_t valid, ce_geom *g, GError **error)
{
    ttml_tensor *x = in[0], *t = in[1];
    g->vl = x->shape[x->ndim - 1];
    g->rows = g->vl ? (int64_t)x->numel / g->vl : 0;
    g->start = g->vl * ttml_comm_rank(comm);
    int64_t total = g->vl * ttml_comm_size(comm);
    g->valid = valid > 0 && valid < total ? valid : total;
    if ((int64_t)t->numel != g->rows || g->rows == 0) {
        ttml_op_shape_error(error, "vocab_parallel_cross_entropy", x, t,
                            "do not match (one target per logits row, at least one row)");
        return FALSE;
    }
    return TRUE;
}

static gboolean ce_backward(ttml_node *node, GError **error)
{
    ttml_tensor *x = node->in[0];
    if (!node->out->grad || !x->requires_grad) return TRUE;
    ce_geom g;
    memcpy(&g, node->state.bytes + sizeof(ttml_comm *), sizeof g);
    float dl = ttml_tensor_item(node->out->grad, error);
    float *v = pops_read(x, error), *st = v ? pops_read(node->saved[0], error) : NULL;
    guint32 *tg = g_new(guint32, g.rows);
    gboolean ok = st && ttml_tensor_read(node->in[1], tg, error);
    for (int64_t r = 0; ok && r < g.rows; r++) {
        float *row = v + r * g.vl;
        double m = st[2 * r], lse = st[2 * r + 1], scale = (double)dl / (double)g.rows;
        for (int64_t j = 0; j < g.vl; j++) {
            double p = g.start + j < g.valid ? exp((double)row[j] - m - lse) : 0.0;
            if ((int64_t)tg[r] == g.start + j) p -= 1.0;
            row[j] = (float)(p * scale);
        }
    }
    ttml_tensor *dx = ok ? pops_new(x, x->ndim, x->shape, v, error) : NULL;
    ok = dx && ttml_tensor_accumulate_grad(x, dx, error);
    ttml_tensor_unref(dx);
    g_free(tg);
    g_free(st);
    g_free(v);
    return ok;
}

/* Per-row global max (st[2r]) and log-sum-exp minus max (st[2r+1]); the
 * loss into *loss. */
static gboolean ce_rows(ttml_comm *comm, const ce_geom *g, const float *v, const guint32 *tg, float *st,
                        double *loss, GError **error)
{
    float *mx = g_new(float, g->rows), *sums = g_new(float, 2 * g->rows);
    for (int64_t r = 0; r < g->rows; r++) {
        float m = -INFINITY;
        for (int64_t j = 0; j < g->vl && g->start + j < g->valid; j++) m = MAX(m, v[r * g->vl + j]);
        mx[r] = m;
    }
    gboolean ok = pops_allreduce(comm, "vocab_parallel_cross_entropy", mx, (size_t)g->rows, TTML_COMM_MAX, error);
    for (int64_t r = 0; ok && r < g->rows; r++) {
        double s = 0.0;
        for (int64_t j = 0; j < g->vl && g->start + j < g->valid; j++) s += exp((double)v[r * g->vl + j] - mx[r]);
        int64_t local = (int64_t)tg[r] - g->start;
        sums[r] = (float)s;
        sums[g->rows + r] = local >= 0 && local < g->vl ? v[r * g->vl + local] : 0.0f;
    }
    ok = ok && pops_allreduce(comm, "vocab_parallel_cross_entropy", sums, 2 * (size_t)g->rows, TTML_COMM_SUM, error);
    double total = 0.0;
    for (int64_t r = 0; ok && r < g->rows; r++) {
        double lse = log((double)sums[r]);
        st[2 * r] = mx[r];
        st[2 * r + 1] = (float)lse;
        total += lse + (double)mx[r] - (double)sums[g->rows + r];
    }
    *loss = total / (double)g->rows;
    g_free(mx);
    g_free(sums);
    return ok;
}

static gboolean check_targets(const ce_geom *g, const guint32 *tg, GError **error)
{
    for (int64_t r = 0; r < g->rows; r++)
        if ((int64_t)tg[r] >= g->valid) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "vocab_parallel_cross_entropy: target %u (row %" G_GINT64_FORMAT ") is not below the "
                        "vocabulary size %" G_GINT64_FORMAT, tg[r], r, g->valid);
            return FALSE;
        }
    return TRUE;
}

POPS_FORWARD(vocab_ce)
{
    const char *op = "vocab_parallel_cross_entropy";
    ttml_comm *comm = pops_comm(op, params, error);
    ce_geom g;
    if (!comm || !ttml_op_check_inputs(op, in, n_in, 2, 2, 0x2, error) ||
        !ce_geometry(in, comm, ((const ttml_vocab_ce_op_params *)params)->valid_vocab, &g, error))
        return NULL;
    float *v = pops_read(in[0], error);
    guint32 *tg = g_new(guint32, g.rows);
    float *st = g_new(float, 2 * g.rows);
    double loss = 0.0;
    gboolean ok = v && ttml_tensor_read(in[1], tg, error) && check_targets(&g, tg, error) &&
                  ce_rows(comm, &g, v, tg, st, &loss, error);
    int64_t n2 = 2 * g.rows;
    ttml_tensor *stats = ok ? pops_new(in[0], 1, &n2, st, error) : NULL;
    ttml_tensor *y = stats ? ttml_tensor_scalar(in[0]->device, (float)loss, error) : NULL;
    g_free(v);
    g_free(tg);
    g_free(st);
    if (y) {
        ttml_node *node = ttml_graph_record(op, y, in, 2, ce_backward);
        if (node) {
            pops_node_set_comm(node, comm);
            memcpy(node->state.bytes + sizeof(ttml_comm *), &g, sizeof g);
            ttml_node_save(node, stats);
        }
    }
    ttml_tensor_unref(stats);
    return y;
}
