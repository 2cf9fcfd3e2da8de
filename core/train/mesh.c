/* core/train/mesh.c - in-process meshes: rank threads over the `local`
 * communicator. Two kinds:
 *   - a simulated mesh board, `device: ttsim:n300` (2 Wormhole chips) or
 *     `ttsim:t3k` (2 x 4), with device_config.mesh_shape [dp, tp] and
 *     dp x tp = chips (enable_ddp for dp > 1, enable_tp for tp > 1): one
 *     ttsim chip per rank, collectives charged to the chips' Ethernet;
 *   - `comm: local` with mesh_shape [dp, tp] of more than one rank on any
 *     other device (e.g. `device: cpu`): dp x tp rank threads, each opening
 *     its own `device` (no link model).
 * One rank thread per device (rank 0 runs on the calling thread, so it
 * logs, writes the metrics and checkpoints, and is the profiled thread),
 * each running the same per-rank LM training as an MPI rank
 * (ttml_train_lm_rank) over its rank of a `local` world; the rank layout
 * (parallel.c: tp_rank = r % tp, dp_rank = r / tp) builds the TP and DP
 * groups from each rank's world. Every rank thread has its own autograd
 * graph, RNG, TP group and default device (ttml_context_thread_end frees
 * them).
 *
 * Timing (boards): each chip's world carries an observer
 * (ttml_comm_set_observer, inherited by split(), so the TP and DP groups'
 * collectives are seen too) that turns every collective into its ring
 * schedule over the communicator's chips and charges it to the chip's
 * simulated device (ttml_device_charge_collective; the ttsim driver prices
 * a step as one hop's latency plus the bytes over the link bandwidth). Ring
 * algorithms, n chips, B bytes:
 *   all-reduce      2(n-1) steps of B/n  (reduce-scatter then all-gather)
 *   reduce-scatter  n-1 steps of B/n     (B = the whole send buffer)
 *   all-gather      n-1 steps of B       (B = one rank's block)
 *   broadcast       n-1 steps of B       (store-and-forward along the ring)
 *   barrier         2(n-1) steps of 0
 *   send / recv     1 step of B
 * A TP group of a t3k ([2, 4]: ranks 0-3 and 4-7) is charged as a ring over
 * its own 4 chips. */
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

/* The device spec of a run: --device, else device_config.device, else cpu. */
static const char *run_device(const ttml_run_options *o, ttml_config *root)
{
    ttml_config *dev = ttml_config_peek(root, "device_config");
    ttml_config *dnode = dev && ttml_config_get_type(dev) == TTML_CONFIG_MAP ? ttml_config_peek(dev, "device") : NULL;
    if (o->device) return o->device;
    return dnode && ttml_config_get_type(dnode) == TTML_CONFIG_SCALAR ? ttml_config_scalar(dnode) : "cpu";
}

/* The rank threads of a mesh run (0: not one) and each rank's device spec
 * (*rank_spec, g_free): a mesh board's chips, or with comm: local (not under
 * mpirun) the mesh_shape's dp x tp ranks on the run's device. *board: the
 * chips are linked by the board's Ethernet. */
static int mesh_ranks(const ttml_run_options *o, ttml_config *root, ttml_dist_settings *s, char **rank_spec,
                      gboolean *board, GError **error)
{
    const char *spec = run_device(o, root);
    int chips = ttml_dist_mesh_board(spec, rank_spec);
    *board = chips > 0;
    if (!ttml_dist_settings_read(root, s, error) || s->mesh_rows * s->mesh_cols < 2) {
        g_free(*rank_spec);
        *rank_spec = NULL;
        return 0;
    }
    if (chips) return chips;
    if (strcmp(s->comm, "local") != 0 || ttml_dist_launched_by_mpirun()) return 0;
    *rank_spec = g_strdup(spec);
    return (int)(s->mesh_rows * s->mesh_cols);
}

int ttml_train_mesh_chips(const ttml_run_options *o, ttml_config *root)
{
    ttml_dist_settings s;
    char *rank_spec = NULL;
    gboolean board;
    GError *ignored = NULL; /* a bad device_config is reported by the single-device path */
    int n = mesh_ranks(o, root, &s, &rank_spec, &board, &ignored);
    g_clear_error(&ignored);
    g_free(rank_spec);
    return n;
}

/* Devices (opened on this thread, rank 0's, in chip order), worlds and
 * per-rank configs and options. */
static gboolean mesh_open(const ttml_run_options *o, ttml_config *root, const char *chip_spec, gboolean board,
                          double timeout_s, mesh_rank *ranks, int n, GError **error)
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
        char *spec = r == 0 || !g_str_has_prefix(chip_spec, "ttsim:") ? g_strdup(chip_spec)
                                                                        : g_strdup_printf("%s,report=off", chip_spec);
        if (ok) m->device = ttml_device_open(spec, error);
        g_free(spec);
        if (ok && !m->device) {
            g_prefix_error(error, "mesh chip %d of %d: ", r, n);
            ok = FALSE;
        }
        m->root = r == 0 ? root : ok ? ttml_config_load_file(o->config_path, error) : NULL;
        ok = ok && m->root;
        if (ok && board) ttml_comm_set_observer(m->world, charge, m);
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

/* "data parallel (dp 2)", "tensor parallel (tp 2)" or "dp 2 x tp 4" (g_free). */
static char *layout_text(const ttml_dist_settings *st)
{
    gint64 dp = st->mesh_rows, tp = st->mesh_cols;
    if (tp == 1) return g_strdup_printf("data parallel (dp %" G_GINT64_FORMAT ")", dp);
    if (dp == 1) return g_strdup_printf("tensor parallel (tp %" G_GINT64_FORMAT ")", tp);
    return g_strdup_printf("dp %" G_GINT64_FORMAT " x tp %" G_GINT64_FORMAT, dp, tp);
}

static void say_mesh(const ttml_run_options *o, ttml_config *root, const ttml_dist_settings *st, int n,
                     const char *rank_spec, gboolean board)
{
    if (o->quiet) return;
    char *layout = layout_text(st);
    if (board)
        printf("mesh: %s = %d x %s, one rank thread per chip, %s over the local communicator\n", run_device(o, root),
               n, rank_spec, layout);
    else
        printf("mesh: %d rank threads x %s in this process (device_config.comm: local), %s over the local "
               "communicator\n", n, rank_spec, layout);
    g_free(layout);
}

gboolean ttml_train_mesh_run(const ttml_run_options *o, ttml_config *root, GError **error)
{
    char *rank_spec = NULL;
    gboolean board = FALSE;
    ttml_dist_settings st;
    int n = mesh_ranks(o, root, &st, &rank_spec, &board, error);
    if (n < 2) {
        if (error && !*error)
            g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "'%s' with this device_config is not a mesh run "
                        "(a mesh board such as ttsim:n300, or comm: local with mesh_shape of several ranks)",
                        run_device(o, root));
        g_free(rank_spec);
        return FALSE;
    }
    ttml_run_options init_opts = *o;
    init_opts.metrics_path = NULL; /* rank 0 opens the metrics file */
    FILE *unused = NULL;
    gboolean initialised = FALSE;
    mesh_rank *ranks = g_new0(mesh_rank, n);
    gboolean ok = ttml_train_begin(&init_opts, &unused, &initialised, error) &&
                  mesh_open(o, root, rank_spec, board, st.comm_timeout_s, ranks, n, error);
    if (ok) say_mesh(o, root, &st, n, rank_spec, board);
    ok = ok && mesh_train(ranks, n, error);
    mesh_free(ranks, n);
    g_free(rank_spec);
    if (initialised) ttml_shutdown();
    return ok;
}
