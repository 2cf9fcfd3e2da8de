/* plugins/nn_ops/nn_embedding.c - token embedding: rows of weight [V, E] gathered
 * by u32 ids ([B, 1, 1, S], [B, S] or [S]) into [B, 1, S, E]. The kernel checks
 * every id against V (the error names the id, its row and V); the backward
 * scatter-adds dy into a dense dweight (repeated ids accumulate), or, when the
 * weight already has an unshared gradient (a tied head, micro-steps) and
 * the ids touch few of its rows, into those rows only (sparse_backward). */
#include "nn_internal.h"

#include <stdlib.h>
#include <string.h>

/* The sparse path when the distinct ids are at most this share of V. */
#define SPARSE_MAX_SHARE 4
/* ... and form at most this many runs of consecutive rows (one copy each). */
#define SPARSE_MAX_RUNS 4096

static int cmp_u32(const void *a, const void *b)
{
    guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;
    return x < y ? -1 : x > y;
}

/* rows[0, u) the sorted distinct ids; ids[n] rewritten to its row's slot.
 * Returns the number of runs of consecutive rows. */
static size_t compact_ids(guint32 *ids, size_t n, guint32 *rows, size_t *u)
{
    memcpy(rows, ids, n * sizeof *rows);
    qsort(rows, n, sizeof *rows, cmp_u32);
    size_t k = 0, runs = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || rows[i] != rows[k - 1]) {
            runs += k == 0 || rows[i] != rows[k - 1] + 1;
            rows[k++] = rows[i];
        }
    for (size_t i = 0; i < n; i++) {
        const guint32 *hit = bsearch(&ids[i], rows, k, sizeof *rows, cmp_u32);
        ids[i] = (guint32)(hit - rows);
    }
    *u = k;
    return runs;
}

/* g[rows] += the scatter of dy, from existing kernels: embedding_bwd into
 * [u, E] by slot (each row's sum in token order, from 0, as the dense path),
 * embedding_fwd gathers g's rows, binary adds (new + old, as axpby does),
 * and one strided_copy per run of consecutive rows writes them back. The
 * same bits as the dense path; O(u * E) traffic instead of O(V * E). */
static gboolean sparse_write(ttml_tensor *g, ttml_tensor *dy, const guint32 *slots, const guint32 *rows,
                             size_t n, size_t u, GError **error)
{
    const int64_t e = g->shape[1], un = (int64_t)u, nn = (int64_t)n, sh[2] = {un, e};
    ttml_tensor *sid = ttml_tensor_from_data(g->device, 1, &nn, TTML_DTYPE_U32, slots, error);
    ttml_tensor *rid = sid ? ttml_tensor_from_data(g->device, 1, &un, TTML_DTYPE_U32, rows, error) : NULL;
    ttml_tensor *in1[2] = {sid, dy}, *in2[2] = {rid, g};
    ttml_tensor *add = rid ? nn_launch_new("embedding_bwd", in1, 2, g, 2, sh, NULL, 0, error) : NULL;
    ttml_tensor *old = add ? nn_launch_new("embedding_fwd", in2, 2, g, 2, sh, NULL, 0, error) : NULL;
    ttml_binary_params bp = {TTML_BINARY_ADD};
    ttml_tensor *bin[2] = {add, old};
    gboolean ok = old && nn_launch("binary", bin, 2, add, &bp, sizeof bp, error);
    for (size_t s = 0; ok && s < u;) {
        size_t k = 1;
        while (s + k < u && rows[s + k] == rows[s] + k) k++;
        ok = nn_slab_copy(add, g, 1, (int64_t)k * e, 0, (int64_t)s * e, 0, (int64_t)rows[s] * e, error);
        s += k;
    }
    ttml_tensor_unref(sid);
    ttml_tensor_unref(rid);
    ttml_tensor_unref(add);
    ttml_tensor_unref(old);
    return ok;
}

/* 1 = done sparsely, 0 = not worth it here (use the dense path), -1 = error. */
static int sparse_backward(ttml_tensor *ids, ttml_tensor *dy, ttml_tensor *w, GError **error)
{
    ttml_tensor *g = w->grad;
    /* many more tokens than rows (nanogpt: 512 ids, 96 rows): they cover
     * most rows, do not even read them */
    if (!g || g->ref != 1 || g->buf->ref != 1 || g->dtype != TTML_DTYPE_F32 || g->ndim != 2 ||
        g->numel != w->numel || ids->numel > (size_t)w->shape[0] * SPARSE_MAX_SHARE)
        return 0;
    size_t n = ids->numel, u = 0;
    guint32 *slots = g_new(guint32, n ? n : 1), *rows = g_new(guint32, n ? n : 1);
    int r = ttml_tensor_read(ids, slots, error) ? 0 : -1;
    for (size_t i = 0; r == 0 && i < n; i++)
        if (slots[i] >= (guint32)w->shape[0]) r = -2;   /* the dense kernel reports it */
    if (r == 0) {
        size_t runs = compact_ids(slots, n, rows, &u);
        if (u * SPARSE_MAX_SHARE <= (size_t)w->shape[0] && runs <= SPARSE_MAX_RUNS)
            r = sparse_write(g, dy, slots, rows, n, u, error) ? 1 : -1;
    }
    g_free(slots);
    g_free(rows);
    return r == -2 ? 0 : r;
}

static gboolean embedding_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy || !nn_needs_grad(node, 1)) return TRUE;
    ttml_tensor *w = node->in[1];
    int sparse = sparse_backward(node->in[0], dy, w, error);
    if (sparse != 0) return sparse > 0;
    ttml_tensor *in[2] = {node->in[0], dy};
    return nn_accumulate(w, nn_launch_new("embedding_bwd", in, 2, w, w->ndim, w->shape, NULL, 0, error), error);
}

ttml_tensor *nn_embedding_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    const char *op = "embedding";
    if (!ttml_op_check_inputs(op, in, n_in, 2, 2, 1u << 0, error)) return NULL;
    ttml_tensor *ids = in[0], *w = in[1];
    if (w->ndim != 2) {
        ttml_op_shape_error(error, op, ids, w, "do not fit: the weight must be 2-D [vocab, embedding_dim]");
        return NULL;
    }
    /* ids: [S], [B, S] or [B, 1, ..., S] with every middle dim 1 */
    gboolean ok = TRUE;
    for (int d = 1; d < ids->ndim - 1; d++) ok = ok && ids->shape[d] == 1;
    if (!ok) {
        ttml_op_shape_error(error, op, ids, w,
                            "do not fit: ids must be [B, 1, 1, S], [B, S] or [S] (middle dims 1)");
        return NULL;
    }
    int64_t b = ids->ndim >= 2 ? ids->shape[0] : 1, s = ids->shape[ids->ndim - 1];
    int64_t shape[4] = {b, 1, s, w->shape[1]};
    ttml_tensor *y = nn_launch_new("embedding_fwd", in, 2, w, 4, shape, NULL, 0, error);
    if (y) ttml_graph_record(op, y, in, 2, embedding_backward);
    return y;
}
