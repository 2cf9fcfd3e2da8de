/* core/train/mesh.c - the simulated multi-chip mesh: `device: ttsim:n300`
 * (2 Wormhole chips) or `ttsim:t3k` (2 x 4) with device_config.mesh_shape
 * [chips, 1] and enable_ddp. One ttsim device per chip in one process and one
 * rank thread per chip (rank = chip; rank 0 runs on the calling thread, so it
 * logs, writes the metrics and checkpoints, and is the profiled thread), each
 * running the same per-rank LM training as an MPI rank (ttml_train_lm_rank)
 * over its rank of a `local` world. Every rank thread has its own autograd
 * graph, RNG and default device (ttml_context_thread_end frees them).
 *
 * Timing: each chip's world carries an observer (ttml_comm_set_observer) that
 * turns every collective into its ring schedule over the communicator's chips
 * and charges it to the chip's simulated device (ttml_device_charge_collective;
 * the ttsim driver prices a step as one hop's latency plus the bytes over the
 * link bandwidth). Ring algorithms, n chips, B bytes:
 *   all-reduce      2(n-1) steps of B/n  (reduce-scatter then all-gather)
 *   reduce-scatter  n-1 steps of B/n     (B = the whole send buffer)
 *   all-gather      n-1 steps of B       (B = one rank's block)
 *   broadcast       n-1 steps of B       (store-and-forward along the ring)
 *   barrier         2(n-1) steps of 0
 *   send / recv     1 step of B
 * Communicators split from the world inherit the observer, so tensor
 * parallelism (TP groups = rank / tp) is charged the same way once the
 * parallel ops exist: the layout is only a matter of rank -> chip. */
#include "train_app.h"

#include <ttml/distributed.h>

#include <string.h>

/* Ethernet links used in parallel per ring hop: the n300's two chips are
 * joined by 2 links, one reserved for the dispatcher (BasicEthernetGuide.md,
 * "N300"); the T3000 is built from n300s with the same link speeds, modelled
 * with the same single user link per hop. */
#define MESH_LINKS_PER_HOP 1

typedef struct mesh_rank {
    int rank;
    ttml_device *device;        /* core-owned */
    ttml_comm *world;           /* owned      */
    ttml_config *root;          /* owned for ranks > 0 (each rank parses the config itself) */
    ttml_run_options options;
    gint *first_failed;         /* the rank that failed first (-1: none), shared */
    GError *charge_error;       /* the first collective that could not be charged */
    gboolean ok;
    GError *error;
} mesh_rank;

static void ring_schedule(const ttml_comm_event *ev, int *steps, double *bytes_per_step)
{
    int n = ev->size;
    double b = (double)ev->bytes;
    *steps = 0;
    *bytes_per_step = 0.0;
    if (n < 2) return;
    switch (ev->kind) {
    case TTML_COMM_KIND_ALLREDUCE: *steps = 2 * (n - 1); *bytes_per_step = b / n; break;
    case TTML_COMM_KIND_REDUCE_SCATTER: *steps = n - 1; *bytes_per_step = b / n; break;
    case TTML_COMM_KIND_ALLGATHER:
    case TTML_COMM_KIND_BROADCAST: *steps = n - 1; *bytes_per_step = b; break;
    case TTML_COMM_KIND_BARRIER: *steps = 2 * (n - 1); break;
    case TTML_COMM_KIND_SEND:
    case TTML_COMM_KIND_RECV: *steps = 1; *bytes_per_step = b; break;
    }
}

/* The communicator's observer: charge the chip's device. */
static void charge(const ttml_comm_event *ev, gpointer user_data)
{
    mesh_rank *m = user_data;
    ttml_collective_cost c = {sizeof c, ev->name, ev->bytes, 0, 0.0, MESH_LINKS_PER_HOP, 0.0};
    ring_schedule(ev, &c.steps, &c.bytes_per_step);
    if (c.steps == 0) return;
    GError *e = NULL;
    if (!ttml_device_charge_collective(m->device, &c, &e)) {
        if (!m->charge_error)
            m->charge_error = e;
        else
            g_error_free(e);
    }
}

static gpointer rank_main(gpointer data)
{
    mesh_rank *m = data;
    m->ok = ttml_train_lm_rank(&m->options, m->root, m->device, m->world, &m->error);
    if (m->ok && m->charge_error) {
        m->ok = FALSE;
        m->error = g_error_copy(m->charge_error);
    }
    if (!m->ok && !g_error_matches(m->error, TTML_ERROR, TTML_ERROR_INTERRUPTED)) {
        /* the others would otherwise wait for this rank until the timeout
         * (an interruption is agreed by all ranks: they all stop) */
        g_atomic_int_compare_and_exchange(m->first_failed, -1, m->rank);
        ttml_comm_abort(m->world, 1);
    }
    if (m->rank != 0) ttml_context_thread_end(); /* rank 0's is freed by ttml_shutdown */
    return NULL;
}

int ttml_train_mesh_chips(const ttml_run_options *o, ttml_config *root)
{
    ttml_config *dev = ttml_config_peek(root, "device_config");
    ttml_config *dnode = dev && ttml_config_get_type(dev) == TTML_CONFIG_MAP ? ttml_config_peek(dev, "device") : NULL;
    const char *spec = o->device ? o->device
                       : dnode && ttml_config_get_type(dnode) == TTML_CONFIG_SCALAR ? ttml_config_scalar(dnode)
                                                                                    : NULL;
    int chips = ttml_dist_mesh_board(spec, NULL);
    ttml_dist_settings s;
    GError *ignored = NULL; /* a bad device_config is reported by the single-device path */
    if (!chips || !ttml_dist_settings_read(root, &s, &ignored)) {
        g_clear_error(&ignored);
        return 0;
    }
    return s.mesh_rows * s.mesh_cols > 1 ? chips : 0;
}

/* Devices (opened on this thread, rank 0's, in chip order), worlds and
 * per-rank configs and options. */
static gboolean mesh_open(const ttml_run_options *o, ttml_config *root, const char *chip_spec, double timeout_s,
                          mesh_rank *ranks, int n, GError **error)
{
    ttml_comm **worlds = g_new0(ttml_comm *, n);
    ttml_comm_options co = {sizeof co, timeout_s};
    gboolean ok = ttml_comm_world("local", n, &co, worlds, error);
    for (int r = 0; r < n; r++) {
        mesh_rank *m = &ranks[r];
        m->rank = r;
        m->world = ok ? worlds[r] : NULL;
        m->options = *o;
        if (r > 0) {
            m->options.quiet = TRUE;
            m->options.metrics_path = NULL;
            m->options.memory_report = FALSE;
        }
        /* chip 0 speaks for the mesh: the others close without ttsim's report */
        char *spec = r == 0 ? g_strdup(chip_spec) : g_strdup_printf("%s,report=off", chip_spec);
        if (ok) m->device = ttml_device_open(spec, error);
        g_free(spec);
        if (ok && !m->device) {
            g_prefix_error(error, "mesh chip %d of %d: ", r, n);
            ok = FALSE;
        }
        m->root = r == 0 ? root : ok ? ttml_config_load_file(o->config_path, error) : NULL;
        ok = ok && m->root;
        if (ok) ttml_comm_set_observer(m->world, charge, m);
    }
    g_free(worlds);
    return ok;
}

static void mesh_free(mesh_rank *ranks, int n)
{
    for (int r = 0; r < n; r++) {
        ttml_comm_free(ranks[r].world);
        if (r > 0 && ranks[r].root) ttml_config_free(ranks[r].root);
        g_clear_error(&ranks[r].charge_error);
        g_clear_error(&ranks[r].error);
    }
    g_free(ranks);
}

/* Rank 0 here, the others on threads; the error of the rank that failed first. */
static gboolean mesh_train(mesh_rank *ranks, int n, GError **error)
{
    gint first_failed = -1;
    GThread **threads = g_new0(GThread *, n);
    for (int r = 0; r < n; r++) ranks[r].first_failed = &first_failed;
    for (int r = 1; r < n; r++) {
        threads[r] = g_thread_try_new("ttml-mesh-rank", rank_main, &ranks[r], error);
        if (!threads[r]) {
            g_prefix_error(error, "mesh: starting the thread of rank %d: ", r);
            for (int q = 1; q < r; q++) ttml_comm_abort(ranks[q].world, 1);
            for (int q = 1; q < r; q++) g_thread_join(threads[q]);
            g_free(threads);
            return FALSE;
        }
    }
    rank_main(&ranks[0]);
    for (int r = 1; r < n; r++) g_thread_join(threads[r]);
    g_free(threads);
    int bad = g_atomic_int_get(&first_failed);
    if (bad < 0 && ranks[0].ok) return TRUE;
    if (bad < 0) { /* stopped by a signal: rank 0 says where its checkpoint is */
        g_propagate_error(error, ranks[0].error);
        ranks[0].error = NULL;
        return FALSE;
    }
    g_propagate_prefixed_error(error, ranks[bad].error, "mesh rank %d of %d: ", bad, n);
    ranks[bad].error = NULL;
    return FALSE;
}

gboolean ttml_train_mesh_run(const ttml_run_options *o, ttml_config *root, GError **error)
{
    ttml_config *dev = ttml_config_peek(root, "device_config");
    const char *spec = o->device ? o->device : ttml_config_scalar(ttml_config_peek(dev, "device"));
    char *chip_spec = NULL;
    int n = ttml_dist_mesh_board(spec, &chip_spec);
    ttml_dist_settings st;
    if (n < 2 || !ttml_dist_settings_read(root, &st, error)) {
        if (n < 2)
            g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "'%s' is not a simulated mesh board (ttsim:n300, "
                        "ttsim:t3k)", spec ? spec : "(none)");
        g_free(chip_spec);
        return FALSE;
    }
    ttml_run_options init_opts = *o;
    init_opts.metrics_path = NULL; /* rank 0 opens the metrics file */
    FILE *unused = NULL;
    gboolean initialised = FALSE;
    mesh_rank *ranks = g_new0(mesh_rank, n);
    gboolean ok = ttml_train_begin(&init_opts, &unused, &initialised, error) &&
                  mesh_open(o, root, chip_spec, st.comm_timeout_s, ranks, n, error);
    if (ok && !o->quiet)
        printf("mesh: %s = %d x %s, one rank thread per chip, data parallel over the local communicator\n", spec,
               n, chip_spec);
    ok = ok && mesh_train(ranks, n, error);
    mesh_free(ranks, n);
    g_free(chip_spec);
    if (initialised) ttml_shutdown();
    return ok;
}
