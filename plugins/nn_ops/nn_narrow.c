/* plugins/nn_ops/nn_narrow.c - narrow (the slice [start, start + length) of a
 * dim, materialised by one "strided_copy"); ttml_split is one narrow per
 * piece, so the pieces of one split form a group whose backward writes x's
 * gradient once.
 *
 * Group: narrows of the same x along the same dim, each starting where the
 * previous one ended, recorded back to back in the graph (no node between
 * them) by one thread, form a group (ttml_split's pieces; the q, k and v of a
 * fused qkv projection). Every node recorded after the group runs its
 * backward before any node of the group (reverse creation order), so when the
 * first node of the group runs its backward, the gradients of all pieces are
 * final: that node writes each piece's gradient into its slice of one new
 * tensor (no zero-fill when the pieces cover x and all have a gradient) and
 * accumulates it into x once; the others then find their gradient taken and
 * do nothing. Before, each piece zero-filled and accumulated a whole x-sized
 * gradient: 3x the traffic of a qkv split, plus two x-sized adds.
 *
 * A graph mark (ttml_graph_mark) taken between two narrows of one tensor,
 * with a partial backward from it, is not supported (ttml_split never does).
 */
#include "nn_internal.h"

#include <string.h>

typedef struct {
    ttml_tensor *out;    /* borrowed from the piece's node; NULL once the node is freed */
    ttml_tensor *taken;  /* owned: the gradient the group's writer already used */
    int64_t start, len;
} narrow_piece;

typedef struct {
    gint ref;
    const ttml_tensor *x;  /* identity only: held by the live nodes (alive > 0) */
    int dim;
    int alive;             /* pieces whose node is not freed yet */
    gsize mark_after;      /* graph size right after the last piece was recorded */
    GArray *pieces;        /* narrow_piece */
} narrow_group;

typedef struct {
    narrow_group *group;
    guint index;
} narrow_link;

static narrow_group *group_ref(narrow_group *g)
{
    g_atomic_int_inc(&g->ref);
    return g;
}

static void group_unref(gpointer p)
{
    narrow_group *g = p;
    if (!g || !g_atomic_int_dec_and_test(&g->ref)) return;
    for (guint i = 0; i < g->pieces->len; i++) ttml_tensor_unref(g_array_index(g->pieces, narrow_piece, i).taken);
    g_array_unref(g->pieces);
    g_free(g);
}

/* The group the last narrow of this thread joined or started (a reference). */
static GPrivate open_group = G_PRIVATE_INIT(group_unref);

static void link_free(gpointer p)
{
    narrow_link *l = p;
    g_array_index(l->group->pieces, narrow_piece, l->index).out = NULL;
    /* a group without nodes can never be joined: this thread's open-group
     * reference goes with its last node (nothing is left at exit) */
    if (--l->group->alive == 0 && g_private_get(&open_group) == l->group) g_private_replace(&open_group, NULL);
    group_unref(l->group);
    g_free(l);
}

/* The writer: one gradient for x from every piece's gradient (zeros where
 * a piece has none or the group does not cover x), accumulated once. */
static gboolean group_write(ttml_node *node, narrow_group *g, guint self, GError **error)
{
    ttml_tensor *x = node->in[0];
    int64_t outer, inner, ext = x->shape[g->dim];
    nn_split_dims(x, g->dim, &outer, &inner);
    narrow_piece *first = &g_array_index(g->pieces, narrow_piece, 0);
    narrow_piece *last = &g_array_index(g->pieces, narrow_piece, g->pieces->len - 1);
    gboolean gaps = first->start > 0 || last->start + last->len < ext;
    for (guint i = 0; i < g->pieces->len; i++) {
        narrow_piece *p = &g_array_index(g->pieces, narrow_piece, i);
        g_clear_pointer(&p->taken, ttml_tensor_unref);
        ttml_tensor *dy = i == self ? nn_node_dy(node) : p->out ? p->out->grad : NULL;
        if (!dy) gaps = TRUE;
        else if (i != self) p->taken = ttml_tensor_ref(dy);
    }
    ttml_tensor *gx = gaps ? ttml_tensor_zeros(x->device, x->ndim, x->shape, TTML_DTYPE_F32, error)
                           : nn_new_like(x, error);
    gboolean ok = gx != NULL;
    for (guint i = 0; ok && i < g->pieces->len; i++) {
        narrow_piece *p = &g_array_index(g->pieces, narrow_piece, i);
        ttml_tensor *dy = i == self ? nn_node_dy(node) : p->taken;
        if (dy)
            ok = nn_slab_copy(dy, gx, outer, p->len * inner, p->len * inner, 0, ext * inner, p->start * inner,
                              error);
    }
    if (!ok) {
        ttml_tensor_unref(gx);
        return FALSE;
    }
    return nn_accumulate(x, gx, error);
}

static gboolean narrow_backward(ttml_node *node, GError **error)
{
    ttml_tensor *dy = nn_node_dy(node);
    if (!dy || !nn_needs_grad(node, 0) || !node->user_data) return TRUE;
    narrow_link *l = node->user_data;
    narrow_piece *p = &g_array_index(l->group->pieces, narrow_piece, l->index);
    if (p->taken && p->taken == dy) {
        /* already written into x's gradient by the group's writer */
        g_clear_pointer(&p->taken, ttml_tensor_unref);
        return TRUE;
    }
    return group_write(node, l->group, l->index, error);
}

/* Join this thread's open group when the piece continues it, else start a
 * new group; attach the piece to the node. */
static void group_attach(ttml_node *node, ttml_tensor *x, int dim, int64_t start, int64_t len, gsize mark_before)
{
    narrow_group *g = g_private_get(&open_group);
    gboolean join = g && g->alive > 0 && g->x == x && g->dim == dim && g->mark_after == mark_before;
    if (join) {
        narrow_piece *last = &g_array_index(g->pieces, narrow_piece, g->pieces->len - 1);
        join = last->start + last->len == start;
    }
    if (!join) {
        g = g_new0(narrow_group, 1);
        g->ref = 1;
        g->x = x;
        g->dim = dim;
        g->pieces = g_array_new(FALSE, TRUE, sizeof(narrow_piece));
        g_private_replace(&open_group, g);
    }
    narrow_piece piece = {node->out, NULL, start, len};
    g_array_append_val(g->pieces, piece);
    g->alive++;
    g->mark_after = ttml_graph_mark();
    narrow_link *l = g_new(narrow_link, 1);
    l->group = group_ref(g);
    l->index = g->pieces->len - 1;
    ttml_node_set_user_data(node, l, link_free);
}

void nn_narrow_fini(void) { g_private_replace(&open_group, NULL); }

ttml_tensor *nn_narrow_forward(ttml_tensor *const *in, int n_in, const void *params, GError **error)
{
    if (!ttml_op_check_inputs("narrow", in, n_in, 1, 1, 0, error) ||
        !nn_need_params("narrow", params, "ttml_narrow_op_params", error))
        return NULL;
    const ttml_narrow_op_params *p = params;
    ttml_tensor *x = in[0];
    int dim = nn_norm_dim("narrow", x, p->dim, error);
    if (dim < 0) return NULL;
    int64_t ext = x->shape[dim];
    if (p->start < 0 || p->length < 1 || p->start > ext || p->length > ext - p->start) {
        char s[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "narrow: [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ") is not a non-empty range "
                    "inside dim %d (extent %" G_GINT64_FORMAT ") of shape %s",
                    p->start, p->start + p->length, dim, ext, ttml_shape_str(x->ndim, x->shape, s, sizeof s));
        return NULL;
    }
    int64_t shape[TTML_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = p->length;
    ttml_tensor *y = ttml_op_output(x, x->ndim, shape, error);
    if (!y) return NULL;
    int64_t outer, inner;
    nn_split_dims(x, dim, &outer, &inner);
    if (!nn_slab_copy(x, y, outer, p->length * inner, ext * inner, p->start * inner, p->length * inner, 0, error)) {
        ttml_tensor_unref(y);
        return NULL;
    }
    gsize mark_before = ttml_graph_mark();
    ttml_node *node = ttml_graph_record("narrow", y, in, 1, narrow_backward);
    if (node) group_attach(node, x, dim, p->start, p->length, mark_before);
    return y;
}
