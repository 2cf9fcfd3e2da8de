/* core/runtime/autograd.c - the step's graph: nodes in creation order, run in reverse
 * by backward(). Nodes own references to their output, inputs and saved
 * tensors; a tensor's ->node is a borrowed pointer cleared when the node is
 * freed, which breaks the tensor <-> node cycle.
 *
 * The graph, the gradient-ready hooks and the gradient mode are per thread
 * (ranks of a mesh are threads of one process): a thread's graph is created
 * on its first recorded node while the library is initialised, and freed by
 * ttml_graph_thread_end() (ttml_context_thread_end) or ttml_graph_fini(). */
#include "internal.h"

#include <ttml/profile_zones.h>

#include <string.h>

static gint graphs_on; /* atomic: TRUE between ttml_graph_init and ttml_graph_fini */
static _Thread_local gboolean grad_disabled; /* zero-initialised: gradients on */
static _Thread_local GPtrArray *graph;      /* ttml_node*, owned; created lazily */

typedef struct { ttml_grad_ready_fn fn; gpointer data; } grad_hook;
static _Thread_local GHashTable *grad_hooks; /* ttml_tensor* (ref held) -> grad_hook* */

gboolean ttml_grad_enabled(void) { return !grad_disabled; }

gboolean ttml_set_grad_enabled(gboolean enabled)
{
    gboolean prev = !grad_disabled;
    grad_disabled = !enabled;
    return prev;
}

static void node_free(gpointer p)
{
    ttml_node *n = p;
    if (!n) return; /* already released by a backward that did not retain the graph */
    if (n->out && n->out->node == n) n->out->node = NULL;
    ttml_tensor_unref(n->out);
    for (int i = 0; i < n->n_in; i++) ttml_tensor_unref(n->in[i]);
    for (int i = 0; i < n->n_saved; i++) ttml_tensor_unref(n->saved[i]);
    if (n->user_destroy) n->user_destroy(n->user_data);
    g_slice_free(ttml_node, n);
}

/* This thread's graph, created on first use; NULL outside ttml_init..ttml_shutdown. */
static GPtrArray *graph_get(void)
{
    if (!graph && g_atomic_int_get(&graphs_on)) graph = g_ptr_array_new_with_free_func(node_free);
    return graph;
}

static GPtrArray *graph_checked(void)
{
    GPtrArray *g = graph_get();
    g_assert(g != NULL); /* ttml_init() enables graphs */
    return g;
}

ttml_node *ttml_graph_record(const char *op, ttml_tensor *out, ttml_tensor *const *in, int n_in,
                             ttml_backward_fn backward)
{
    if (grad_disabled) return NULL;
    gboolean any = FALSE;
    for (int i = 0; i < n_in; i++) any |= in[i] && in[i]->requires_grad;
    if (!any) return NULL;
    g_return_val_if_fail(n_in <= TTML_NODE_MAX_IN, NULL);
    GPtrArray *g = graph_get();
    if (!g) return NULL;
    ttml_node *n = g_slice_new0(ttml_node);
    n->op = op;
    n->backward = backward;
    n->out = ttml_tensor_ref(out);
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) n->in[i] = ttml_tensor_ref(in[i]);
    out->requires_grad = TRUE;
    out->node = n;
    g_ptr_array_add(g, n);
    return n;
}

void ttml_node_save(ttml_node *node, ttml_tensor *t)
{
    g_return_if_fail(node->n_saved < TTML_NODE_MAX_SAVED);
    node->saved[node->n_saved++] = ttml_tensor_ref(t);
}

void ttml_node_set_user_data(ttml_node *node, void *data, GDestroyNotify destroy)
{
    g_return_if_fail(node != NULL);
    if (node->user_destroy) node->user_destroy(node->user_data);
    node->user_data = data;
    node->user_destroy = destroy;
}

guint ttml_graph_size(void) { return graph ? graph->len : 0; }

void ttml_reset_graph(void)
{
    if (graph) g_ptr_array_set_size(graph, 0);
}

void ttml_graph_init(void)
{
    g_atomic_int_set(&graphs_on, TRUE);
    (void)graph_get();
}

void ttml_graph_thread_end(void)
{
    if (graph) ttml_reset_graph();
    g_clear_pointer(&graph, g_ptr_array_unref);
    g_clear_pointer(&grad_hooks, g_hash_table_unref); /* hooks left set drop their references */
    grad_disabled = FALSE;
}

void ttml_graph_fini(void)
{
    ttml_graph_thread_end();
    g_atomic_int_set(&graphs_on, FALSE);
}

static void hook_key_free(gpointer t) { ttml_tensor_unref(t); }

void ttml_set_grad_ready_hook(ttml_tensor *t, ttml_grad_ready_fn fn, gpointer user_data)
{
    if (!grad_hooks) {
        if (!fn) return;
        grad_hooks = g_hash_table_new_full(g_direct_hash, g_direct_equal, hook_key_free, g_free);
    }
    if (!fn) {
        g_hash_table_remove(grad_hooks, t);
        if (g_hash_table_size(grad_hooks) == 0) g_clear_pointer(&grad_hooks, g_hash_table_unref);
        return;
    }
    grad_hook *h = g_new(grad_hook, 1);
    *h = (grad_hook){fn, user_data};
    /* an existing entry keeps its key and drops the new reference */
    g_hash_table_insert(grad_hooks, ttml_tensor_ref(t), h);
}

/* For nodes [0, len): fire_at[i] lists the hooked tensors whose last
 * accumulation is node i (the first node taking them as input). */
static GSList **hooks_plan(GPtrArray *g)
{
    if (!grad_hooks || g->len == 0) return NULL;
    GSList **fire_at = g_new0(GSList *, g->len);
    GHashTable *seen = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (guint i = 0; i < g->len; i++) {
        ttml_node *n = g_ptr_array_index(g, i);
        for (int k = 0; n && k < n->n_in; k++) {
            ttml_tensor *t = n->in[k];
            if (!g_hash_table_contains(grad_hooks, t) || !g_hash_table_add(seen, t)) continue;
            fire_at[i] = g_slist_prepend(fire_at[i], t);
        }
    }
    g_hash_table_unref(seen);
    return fire_at;
}

static gboolean fire_hooks(GSList *list, GHashTable *fired, GError **error)
{
    for (GSList *l = list; l; l = l->next) {
        grad_hook *h = g_hash_table_lookup(grad_hooks, l->data);
        if (!h || !g_hash_table_add(fired, l->data)) continue;
        if (!h->fn(l->data, h->data, error)) return FALSE;
    }
    return TRUE;
}

/* The hooked tensors the graph did not reach that have a gradient. */
static gboolean fire_rest(GHashTable *fired, GError **error)
{
    GSList *rest = NULL;
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, grad_hooks); /* this thread's hooks only */
    while (g_hash_table_iter_next(&it, &key, &value))
        if (((ttml_tensor *)key)->grad && !g_hash_table_contains(fired, key))
            rest = g_slist_prepend(rest, key);
    gboolean ok = fire_hooks(rest, fired, error);
    g_slist_free(rest);
    return ok;
}

/* Run the nodes [from, len) in reverse creation order. Unless `retain`, a
 * node is released as soon as it ran (PyTorch frees a node's saved tensors
 * the same way): when node i runs, every node that consumes its output has
 * already run, so what it saved for backward and its references to its
 * inputs are no longer needed, and activations are freed progressively
 * while the gradients are being created (a much lower peak). */
static gboolean run_backward(GPtrArray *g, gsize from, gboolean retain, GSList **fire_at, GError **error)
{
    gboolean prev = ttml_set_grad_enabled(FALSE);
    gboolean ok = TRUE;
    GHashTable *fired = fire_at ? g_hash_table_new(g_direct_hash, g_direct_equal) : NULL;
    for (guint i = g->len; ok && i-- > from;) {
        ttml_node *n = g_ptr_array_index(g, i);
        if (!n) continue;
        if (n->out->grad) {
            ttml_zone_begin(n->op, "backward");
            ok = n->backward(n, error);
            ttml_zone_end();
            if (!ok) {
                g_prefix_error(error, "backward of '%s': ", n->op);
                break;
            }
            /* intermediate results keep no gradient (PyTorch's non-leaf rule) */
            ttml_tensor_zero_grad(n->out);
        }
        if (!retain) {
            node_free(n);
            g->pdata[i] = NULL;
        }
        if (fire_at) ok = fire_hooks(fire_at[i], fired, error);
    }
    if (fire_at && ok) ok = fire_rest(fired, error);
    if (fired) g_hash_table_unref(fired);
    ttml_set_grad_enabled(prev);
    return ok;
}

gsize ttml_graph_mark(void) { return ttml_graph_size(); }

gboolean ttml_graph_backward_from(gsize mark, ttml_tensor *out, ttml_tensor *grad, GError **error)
{
    GPtrArray *g = graph_checked();
    gboolean ok = mark <= g->len && ttml_tensor_accumulate_grad(out, grad, error);
    if (ok) ok = run_backward(g, mark, FALSE, NULL, error);
    if (mark <= g->len) g_ptr_array_set_size(g, (guint)mark);
    return ok;
}

/* Seed `out` and run every node of the current graph (hooks fire as documented). */
static gboolean backward_current(ttml_tensor *loss, ttml_tensor *grad, gboolean retain_graph, GError **error)
{
    if (!loss->requires_grad) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "backward: the tensor does not require grad (no parameter with requires_grad "
                    "reached it, or it was computed with gradients disabled)");
        return FALSE;
    }
    ttml_tensor *seed = grad ? ttml_tensor_ref(grad) : ttml_tensor_full(loss->device, loss->ndim, loss->shape, TTML_DTYPE_F32, 1.0f, error);
    if (!seed) return FALSE;
    gboolean ok = ttml_tensor_accumulate_grad(loss, seed, error);
    ttml_tensor_unref(seed);
    if (!ok) return FALSE;

    GPtrArray *g = graph_checked();
    GSList **fire_at = hooks_plan(g);
    ok = run_backward(g, 0, retain_graph, fire_at, error);
    for (guint i = 0; fire_at && i < g->len; i++) g_slist_free(fire_at[i]);
    g_free(fire_at);
    if (!retain_graph) ttml_reset_graph();
    return ok;
}

gboolean ttml_backward(ttml_tensor *loss, ttml_tensor *grad, gboolean retain_graph, GError **error)
{
    return backward_current(loss, grad, retain_graph, error);
}

/* ---- graph handles: one graph per pipeline micro-batch ----
 * A handle owns a node array; begin() makes it the array ops record into
 * (remembering the previous one), end() restores the previous one; all of
 * it on the calling thread's `graph`. */
struct ttml_graph {
    GPtrArray *nodes;  /* owned                                      */
    GPtrArray *prev;   /* the current graph before begin (borrowed)  */
    gboolean recording;
};

ttml_graph *ttml_graph_begin(void)
{
    GPtrArray *cur = graph_get(); /* this thread's, created on first use */
    g_return_val_if_fail(cur != NULL, NULL); /* before ttml_init() */
    ttml_graph *h = g_new0(ttml_graph, 1);
    h->nodes = g_ptr_array_new_with_free_func(node_free);
    h->prev = cur;
    h->recording = TRUE;
    graph = h->nodes;
    return h;
}

void ttml_graph_end(ttml_graph *h)
{
    g_return_if_fail(h != NULL && h->recording && graph == h->nodes);
    graph = h->prev;
    h->prev = NULL;
    h->recording = FALSE;
}

guint ttml_graph_handle_size(const ttml_graph *h) { return h ? h->nodes->len : 0; }

gboolean ttml_graph_backward(ttml_graph *h, ttml_tensor *out, ttml_tensor *grad, GError **error)
{
    if (!h || h->recording) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "graph backward: %s (call ttml_graph_end() before its backward)",
                    h ? "the graph is still recording" : "no graph");
        return FALSE;
    }
    /* the nodes run with h as the current graph, so a re-computing node
     * (gradient checkpointing) records and frees its nodes inside h */
    GPtrArray *prev = graph_checked();
    graph = h->nodes;
    gboolean ok = backward_current(out, grad, FALSE, error);
    graph = prev;
    g_ptr_array_set_size(h->nodes, 0);
    return ok;
}

void ttml_graph_free(ttml_graph *h)
{
    if (!h) return;
    if (h->recording) ttml_graph_end(h);
    g_ptr_array_unref(h->nodes);
    g_free(h);
}
