/* ttml/autograd.h - the context and the autograd graph (after TT-Train's
 * AutoContext).
 *
 * The process-wide context holds the registry of loaded plugins and the open
 * devices. The default device, the seeded RNG, the gradient mode, the
 * gradient-ready hooks and the graph of the current step are per thread, so
 * that ranks of a simulated mesh can be threads of one process, each with its
 * own device and graph (the `local` communicator between them). A thread's
 * state is created lazily (its graph on its first recorded node; its RNG
 * starts at seed 5489; its default device is, until it opens or sets one, the
 * device most recently opened by any thread) and is freed by
 * ttml_context_thread_end(), which a rank thread calls before it exits
 * (ttml_shutdown() frees the calling thread's). Single-threaded programs see
 * one context, as before. Tensors, modules and optimizers are not
 * thread-safe: each belongs to one thread at a time.
 *
 * Ops record a node per result when gradients are enabled and an input
 * requires them. backward() runs the nodes in reverse creation order (a
 * reverse topological order), accumulating into ->grad; reset_graph() frees
 * the step's nodes.
 */
#ifndef TTML_AUTOGRAD_H
#define TTML_AUTOGRAD_H

#include <ttml/tensor.h>

G_BEGIN_DECLS

typedef struct ttml_init_options {
    size_t struct_size;
    const char *const *plugin_paths;  /* NULL-terminated dirs, searched first */
    const char *const *plugin_files;  /* NULL-terminated explicit .so files   */
    gboolean skip_env_path;           /* ignore TTML_PLUGIN_PATH              */
    gboolean skip_default_path;       /* ignore the dirs beside libttml and the compile-time dir */
    /* Load every plugin file in a child process first (as with
     * TTML_REGISTRY_FORK=1), ignoring the crash cache (ttml-inspect --scan). */
    gboolean force_scan;
} ttml_init_options;

/* Load plugins (options may be NULL). Bad plugins are recorded, not fatal.
 * Calling it again after ttml_shutdown() starts afresh. */
TTML_API gboolean ttml_init(const ttml_init_options *options, GError **error);
/* Close devices, free the graph, call plugins' fini. */
TTML_API void ttml_shutdown(void);

/* The context's default device (TT-Train's AutoContext open_device /
 * get_device / close_device). ttml_context_open_device opens `spec` ("cpu",
 * "ttsim:n300", ...) with ttml_device_open (driver.h) and makes it the
 * default; the device is core-owned and stays open until ttml_shutdown.
 * Errors: ttml_init not called, or the device cannot be opened. */
TTML_API ttml_device *ttml_context_open_device(const char *spec, GError **error);
/* Forget the default device (NULL afterwards); closes nothing: devices are
 * closed by ttml_shutdown. */
TTML_API void ttml_context_clear_device(void);
/* The calling thread's default device: the one it opened or set, else the
 * device most recently opened by any thread (NULL before the first). */
TTML_API ttml_device *ttml_context_get_device(void);
/* Make `device` (core-owned, already open; NULL: none of its own) the calling
 * thread's default device, e.g. a mesh rank thread's chip. */
TTML_API void ttml_context_set_thread_device(ttml_device *device);
/* End the calling thread's use of the context: free its graph (and the
 * references its nodes and gradient-ready hooks hold), re-enable its
 * gradients, reset its RNG and forget its default device. Call it on a rank
 * thread before the thread exits, while ttml is initialised; state of a thread
 * that exits without it is leaked. Process-wide state is left alone. */
TTML_API void ttml_context_thread_end(void);

/* Seeded counter-based RNG (splitmix64), per thread; state is two integers so
 * it can be checkpointed. */
typedef struct ttml_rng_state { guint64 seed, counter; } ttml_rng_state;
TTML_API void ttml_set_seed(guint64 seed);
TTML_API ttml_rng_state ttml_get_rng_state(void);
TTML_API void ttml_set_rng_state(ttml_rng_state state);
/* Draw from the context RNG. */
TTML_API guint64 ttml_rng_u64(void);
TTML_API float ttml_rng_uniform(void);            /* [0, 1)        */
TTML_API float ttml_rng_normal(void);             /* N(0, 1)       */
/* Fill host arrays (fast, one counter step per value). */
TTML_API void ttml_rng_fill_uniform(float *out, size_t n, float lo, float hi);
TTML_API void ttml_rng_fill_normal(float *out, size_t n, float mean, float std);

/* Position-keyed draws (dropout masks). A kernel that keys element i of a
 * tensor by a hash of (seed, counter + i) (ttml/kernels_nn.h) gets the same
 * draw for an element wherever the tensor is split when `counter` is the
 * flat index, in the unsharded (global) tensor, of the local tensor's first
 * element. Data parallelism splits dim 0 (the batch): this thread's rows
 * are [row_offset, row_offset + local rows) of `global_rows`; the training
 * loop sets it once (DDP: rank * batch_size / ranks of batch_size) and
 * ttml_rng_position_base() turns it into the counter of a tensor whose dim 0
 * is the batch: row_offset * (numel / shape[0]). Defaults (0, 0): not split,
 * counter 0. Per thread (ranks as threads of the local communicator each set
 * their own); the seed still comes from the context RNG, which every rank
 * draws in the same order.
 * Tensor parallelism (a later layer) splits an inner dim: a shard that is not
 * a run of whole rows of the global tensor, e.g. columns [c0, c0 + c) of rows
 * of length C, maps local element i to global
 *   g(i) = counter + (i / c) * C + c0 + i % c
 * (counter from the dim-0 split as above); that is the (row_len c,
 * global_row_len C, col_offset c0) extension of the dropout kernel params
 * planned for it, with c = 0 meaning "contiguous" (today's kernels). */
TTML_API void ttml_set_batch_shard(int64_t row_offset, int64_t global_rows);
TTML_API void ttml_get_batch_shard(int64_t *row_offset, int64_t *global_rows);
/* The counter of a tensor [shape[0] batch rows, ...] of this thread's shard. */
TTML_API guint64 ttml_rng_position_base(int ndim, const int64_t *shape);

/* Gradient mode (TT-Train's GradMode), per thread. */
TTML_API gboolean ttml_grad_enabled(void);
/* Returns the previous mode. */
TTML_API gboolean ttml_set_grad_enabled(gboolean enabled);

/* Operand precision of the matmul op (and so of linear layers and the LM
 * head): TTML_PRECISION_FP32 by default. Drivers without a bf16 path (or the
 * cpu driver without oneDNN) compute in fp32 and say so once. Returns the
 * previous setting. */
TTML_API ttml_precision ttml_get_matmul_precision(void);
TTML_API ttml_precision ttml_set_matmul_precision(ttml_precision precision);

/* ---- graph ---- */

typedef gboolean (*ttml_backward_fn)(ttml_node *node, GError **error);

#define TTML_NODE_MAX_IN 6
#define TTML_NODE_MAX_SAVED 6

/* A node owns references to its output, its inputs and its saved tensors. */
struct ttml_node {
    const char *op;                          /* static string */
    ttml_backward_fn backward;
    ttml_tensor *out;
    int n_in;
    ttml_tensor *in[TTML_NODE_MAX_IN];
    int n_saved;
    ttml_tensor *saved[TTML_NODE_MAX_SAVED];
    union {                                  /* small per-op state */
        double d[8];
        gint64 i[8];
        unsigned char bytes[64];
    } state;
    /* Caller data released with user_destroy(user_data) when the node is
     * freed (set with ttml_node_set_user_data; e.g. a Python op's context). */
    void *user_data;
    GDestroyNotify user_destroy;
};

/* Record `out` = op(in...). Returns NULL (and records nothing) when grad mode
 * is off or no input requires grad; otherwise sets out->requires_grad and
 * out->node. The caller then fills saved[] / state. */
TTML_API ttml_node *ttml_graph_record(const char *op, ttml_tensor *out, ttml_tensor *const *in, int n_in,
                                      ttml_backward_fn backward);
/* Keep a reference to `t` in node->saved[node->n_saved++]. */
TTML_API void ttml_node_save(ttml_node *node, ttml_tensor *t);
/* Attach `data` to the node; destroy(data) (may be NULL) runs when the node
 * is freed (after its backward without retain_graph, or by reset_graph).
 * Replaces (and destroys) earlier data. For ops whose state does not fit
 * node->state, such as an op written in Python. */
TTML_API void ttml_node_set_user_data(ttml_node *node, void *data, GDestroyNotify destroy);

/* Seed loss->grad with ones (or `grad` when not NULL) and run backward.
 * retain_graph=FALSE frees the nodes afterwards (as reset_graph does). */
TTML_API gboolean ttml_backward(ttml_tensor *loss, ttml_tensor *grad, gboolean retain_graph, GError **error);
/* Gradient checkpointing support: ttml_graph_mark() returns the current
 * number of nodes; ttml_graph_backward_from(mark, out, grad) seeds out->grad
 * with `grad` (same shape), runs the nodes recorded since `mark` in reverse,
 * then frees exactly those nodes. Usable inside a node's backward (which runs
 * with gradients disabled: enable them around the re-computation). */
TTML_API gsize ttml_graph_mark(void);
TTML_API gboolean ttml_graph_backward_from(gsize mark, ttml_tensor *out, ttml_tensor *grad, GError **error);
/* Gradient-ready hooks (PyTorch's post-accumulate-grad hooks; DDP starts a
 * bucket's all-reduce from them while backward continues). During
 * ttml_backward(), fn(t, user_data, error) is called once for each hooked
 * tensor reached by the graph, right after the last node that accumulates
 * into t->grad has run (the earliest-recorded node taking t as input), so
 * t->grad is final for this backward; t->grad may be NULL when that node
 * received no gradient. A hooked tensor that is not an input of any recorded
 * node (used only inside a re-computed checkpoint region, or not at all) is
 * reported after the last node, when it has a gradient (hooks are per
 * thread: ranks that are threads of one process each see only their own
 * replica's tensors). A hook returning
 * FALSE (with the error set) stops the backward with its error. Not called
 * by ttml_graph_backward_from(). Setting fn = NULL removes the hook. The
 * core holds a reference to t while it is hooked; user_data is borrowed. */
typedef gboolean (*ttml_grad_ready_fn)(ttml_tensor *t, gpointer user_data, GError **error);
TTML_API void ttml_set_grad_ready_hook(ttml_tensor *t, ttml_grad_ready_fn fn, gpointer user_data);
/* Graph handles (pipeline parallelism: several micro-batches' graphs alive
 * at once). ttml_graph_begin() creates an empty graph and makes it the one
 * ops record into until ttml_graph_end(h), which makes the graph that was
 * current before begin() current again (begin/end pairs nest like a stack).
 * ttml_graph_backward(h, out, grad) seeds out->grad with `grad` (same shape
 * as out; NULL = ones, e.g. for a loss) and runs h's nodes in reverse,
 * accumulating into leaves' ->grad (parameters, and a received activation
 * made a leaf with requires_grad = TRUE, whose ->grad is then the gradient
 * to send upstream); the nodes are freed as they run (h is then empty but
 * valid). Grad-ready hooks fire as in ttml_backward (DDP overlaps its
 * all-reduce with a handle's backward). ttml_graph_free(h) frees the nodes
 * not run (dropping a micro-batch) and the handle (ending it if still
 * recording). ttml_graph_begin() returns NULL before ttml_init(). Errors:
 * backward of a handle still recording or NULL, or an
 * `out` that does not require grad (TTML_ERROR_INVALID_ARG). */
typedef struct ttml_graph ttml_graph;
TTML_API ttml_graph *ttml_graph_begin(void);
TTML_API void ttml_graph_end(ttml_graph *h);
TTML_API gboolean ttml_graph_backward(ttml_graph *h, ttml_tensor *out, ttml_tensor *grad, GError **error);
TTML_API void ttml_graph_free(ttml_graph *h);
/* Number of nodes recorded in h (for tests). */
TTML_API guint ttml_graph_handle_size(const ttml_graph *h);
/* Free every node of the calling thread's current graph. */
TTML_API void ttml_reset_graph(void);
/* Number of nodes currently recorded (for tests). */
TTML_API guint ttml_graph_size(void);

G_END_DECLS

#endif
