/* core/train/distributed.c - distributed set-up (ttml/distributed.h):
 * settings from the config, the world, the batch split, and the start-up
 * check that every rank runs the same config and plugin set. Public headers
 * only. mesh_shape is TT-Train's [dp, tp]: one device per rank, tp ranks
 * per tensor-parallel group (enable_tp), dp replicas. */
#include <ttml/ttml.h>
#include <ttml/distributed.h>

#include <stdarg.h>
#include <string.h>

static gboolean config_error(GError **error, ttml_config *node, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean config_error(GError **error, ttml_config *node, const char *fmt, ...)
{
    char where[256];
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: %s", node ? ttml_config_where(node, where, sizeof where) : "config",
                msg);
    g_free(msg);
    return FALSE;
}

int ttml_dist_mesh_board(const char *device, char **chip_spec)
{
    static const struct { const char *board; int chips; } boards[] = {{"n300", 2}, {"t3k", 8}};
    if (chip_spec) *chip_spec = NULL;
    if (!device || !g_str_has_prefix(device, "ttsim:")) return 0;
    const char *arch = device + strlen("ttsim:");
    size_t len = strcspn(arch, ",");
    for (size_t i = 0; i < G_N_ELEMENTS(boards); i++) {
        if (len != strlen(boards[i].board) || g_ascii_strncasecmp(arch, boards[i].board, len) != 0) continue;
        if (chip_spec) *chip_spec = g_strdup_printf("ttsim:wormhole_b0%s", arch + len);
        return boards[i].chips;
    }
    return 0;
}

/* The layouts a mesh board of `chips` chips takes (for errors; g_free). */
static char *board_layouts(int chips)
{
    if (chips == 2)
        return g_strdup("[2, 1] with enable_ddp: true (data parallel) or [1, 2] with enable_tp: true (tensor "
                        "parallel)");
    return g_strdup_printf("[%d, 1] with enable_ddp: true (data parallel), [1, %d] with enable_tp: true (tensor "
                           "parallel) or [dp, tp] with dp x tp = %d and both (e.g. [2, %d])", chips, chips, chips,
                           chips / 2);
}

/* A mesh board (device ttsim:n300 / ttsim:t3k): one rank per chip, so
 * dp x tp = chips, and dp > 1 needs enable_ddp. ttsim:n300 with [1, 1] is
 * one device spanning both chips (docs/ttsim.md); a T3000 only a mesh. */
static gboolean check_board(ttml_config *dev, const ttml_dist_settings *s, const char *device, int chips,
                            GError **error)
{
    gint64 n = s->mesh_rows * s->mesh_cols;
    if ((n == chips && (s->mesh_rows == 1 || s->enable_ddp)) || (n == 1 && chips == 2)) return TRUE;
    char *use = board_layouts(chips);
    if (n == 1)
        config_error(error, ttml_config_peek(dev, "device"), "device %s is a mesh of %d Wormhole chips: set "
                     "device_config.mesh_shape: use %s (or use ttsim:wormhole_b0 for one chip)", device, chips, use);
    else
        config_error(error, ttml_config_peek(dev, "mesh_shape"),
                     "device_config.mesh_shape [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] on %s (%d chips): the "
                     "mesh runs one rank per chip, so dp x tp must be %d%s; use %s", s->mesh_rows, s->mesh_cols,
                     device, chips, chips, n == chips ? " and dp > 1 needs enable_ddp: true" : "", use);
    g_free(use);
    return FALSE;
}

/* mesh_shape [dp, tp]: one device per rank (mpirun's processes, or with
 * comm: local rank threads of this process), or a simulated mesh board
 * (device ttsim:n300 / ttsim:t3k) with one rank per chip. */
static gboolean check_mesh(ttml_config *dev, const ttml_dist_settings *s, GError **error)
{
    gint64 n = s->mesh_rows * s->mesh_cols;
    ttml_config *where = ttml_config_peek(dev, "mesh_shape");
    ttml_config *dnode = ttml_config_peek(dev, "device");
    const char *device = dnode && ttml_config_get_type(dnode) == TTML_CONFIG_SCALAR ? ttml_config_scalar(dnode) : NULL;
    int chips = ttml_dist_mesh_board(device, NULL);
    if (s->mesh_cols > 1 && !s->enable_tp)
        return config_error(error, where,
                            "device_config.mesh_shape [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] splits the model "
                            "over %" G_GINT64_FORMAT " tensor-parallel ranks: set enable_tp: true (or use [N, 1])",
                            s->mesh_rows, s->mesh_cols, s->mesh_cols);
    if (s->mesh_cols > 4096 || s->mesh_rows > 4096)
        return config_error(error, where, "device_config.mesh_shape entries must be at most 4096");
    if (chips) return check_board(dev, s, device, chips, error);
    if (n == 1 || strcmp(s->comm, "local") != 0) return TRUE; /* [dp, tp] over mpirun's ranks */
    if (n > TTML_DIST_LOCAL_MAX_RANKS)
        return config_error(error, where,
                            "device_config.mesh_shape [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] with comm: local "
                            "asks for %" G_GINT64_FORMAT " rank threads in one process (at most %d); use mpirun "
                            "(comm: mpi) for more ranks", s->mesh_rows, s->mesh_cols, n, TTML_DIST_LOCAL_MAX_RANKS);
    if (s->mesh_rows > 1 && !s->enable_ddp)
        return config_error(error, where,
                            "device_config.mesh_shape [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] with comm: local "
                            "makes %" G_GINT64_FORMAT " data-parallel replicas: set enable_ddp: true (or use [1, %"
                            G_GINT64_FORMAT "])", s->mesh_rows, s->mesh_cols, s->mesh_rows, s->mesh_cols);
    return TRUE;
}

static gboolean read_device(ttml_config *dev, ttml_dist_settings *s, GError **error)
{
    GError *e = NULL;
    s->enable_ddp = ttml_config_bool(dev, "enable_ddp", FALSE, &e);
    s->enable_tp = ttml_config_bool(dev, "enable_tp", FALSE, &e);
    const char *comm = ttml_config_string(dev, "comm", "", &e);
    s->comm_timeout_s = ttml_config_double(dev, "comm_timeout_s", 300.0, &e);
    s->bucket_cap_mb = ttml_config_double(dev, "bucket_cap_mb", 25.0, &e);
    s->ddp_overlap = ttml_config_bool(dev, "ddp_overlap", TRUE, &e);
    gint64 *mesh = NULL;
    int n_mesh = ttml_config_int_list(dev, "mesh_shape", &mesh, &e);
    if (e) {
        g_free(mesh);
        g_propagate_error(error, e);
        return FALSE;
    }
    if (strcmp(comm, "") != 0 && strcmp(comm, "mpi") != 0 && strcmp(comm, "local") != 0) {
        g_free(mesh);
        return config_error(error, ttml_config_peek(dev, "comm"), "device_config.comm must be mpi or local, got '%s'",
                            comm);
    }
    g_strlcpy(s->comm, comm, sizeof s->comm);
    if (!(s->comm_timeout_s > 0) || !(s->bucket_cap_mb > 0)) {
        g_free(mesh);
        return config_error(error, dev, "device_config.comm_timeout_s (%g) and bucket_cap_mb (%g) must be > 0",
                            s->comm_timeout_s, s->bucket_cap_mb);
    }
    gboolean ok = n_mesh == 0 || (n_mesh == 2 && mesh[0] >= 1 && mesh[1] >= 1);
    if (n_mesh == 2) {
        s->mesh_rows = mesh[0];
        s->mesh_cols = mesh[1];
    }
    g_free(mesh);
    if (!ok)
        return config_error(error, ttml_config_peek(dev, "mesh_shape"),
                            "device_config.mesh_shape must be two positive integers, e.g. [1, 1]");
    return check_mesh(dev, s, error);
}

gboolean ttml_dist_settings_read(ttml_config *root, ttml_dist_settings *s, GError **error)
{
    memset(s, 0, sizeof *s);
    s->comm_timeout_s = 300.0;
    s->bucket_cap_mb = 25.0;
    s->ddp_overlap = TRUE;
    s->mesh_rows = s->mesh_cols = 1;
    ttml_config *dev = ttml_config_get(root, "device_config");
    if (dev && !read_device(dev, s, error)) return FALSE;
    ttml_config *mh = ttml_config_get(root, "multihost_config");
    if (!mh) return TRUE;
    GError *e = NULL;
    s->multihost = ttml_config_bool(mh, "enabled", FALSE, &e);
    s->num_workers = ttml_config_int(mh, "num_workers", 0, &e);
    const char *socket = ttml_config_string(mh, "socket_type", "mpi", &e);
    if (e) {
        g_propagate_error(error, e);
        return FALSE;
    }
    if (strcmp(socket, "mpi") != 0)
        return config_error(error, ttml_config_peek(mh, "socket_type"),
                            "multihost_config.socket_type must be mpi (Open MPI is the only transport), got '%s'",
                            socket);
    if (s->multihost && strcmp(s->comm, "local") == 0)
        return config_error(error, mh, "multihost_config.enabled needs device_config.comm: mpi (local is one process)");
    return TRUE;
}

gboolean ttml_dist_launched_by_mpirun(void)
{
    return g_getenv("OMPI_COMM_WORLD_SIZE") || g_getenv("PMIX_RANK") || g_getenv("PMI_RANK");
}

static int env_int(const char *a, const char *b, int def)
{
    const char *v = g_getenv(a);
    if (!v) v = g_getenv(b);
    return v && *v ? (int)g_ascii_strtoll(v, NULL, 10) : def;
}

int ttml_dist_launch_rank(int *size)
{
    int n = env_int("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", 1), r = env_int("OMPI_COMM_WORLD_RANK", "PMI_RANK", 0);
    if (n < 1 || r < 0 || r >= n) n = 1, r = 0;
    if (size) *size = n;
    return r;
}

char *ttml_dist_rank_path(const char *path)
{
    int n = 1, r = ttml_dist_launch_rank(&n);
    if (!path || r == 0 || n < 2) return g_strdup(path);
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path, *dot = strrchr(base, '.');
    if (!dot || dot == base) return g_strdup_printf("%s.rank%d", path, r);
    return g_strdup_printf("%.*s.rank%d%s", (int)(dot - path), path, r, dot);
}

gboolean ttml_dist_world_open(const ttml_dist_settings *s, ttml_comm **world, GError **error)
{
    gboolean mpi = strcmp(s->comm, "mpi") == 0 || (s->comm[0] == '\0' && ttml_dist_launched_by_mpirun());
    if (!mpi && ttml_dist_launched_by_mpirun()) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "launched by mpirun with device_config.comm: local: the local communicator joins threads of "
                    "one process, not processes; use comm: mpi (or leave it out)");
        return FALSE;
    }
    if (s->multihost && !ttml_dist_launched_by_mpirun()) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "multihost_config.enabled: start the job with mpirun (e.g. mpirun -np 2 --host a,b ttml-run "
                    "CONFIG)");
        return FALSE;
    }
    ttml_comm_options o = {sizeof o, s->comm_timeout_s};
    if (!ttml_comm_world(mpi ? "mpi" : "local", 1, &o, world, error)) return FALSE;
    int n = ttml_comm_size(*world);
    if (s->num_workers > 0 && s->num_workers != n) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "multihost_config.num_workers is %" G_GINT64_FORMAT " but the job has %d rank(s); start it with "
                    "mpirun -np %" G_GINT64_FORMAT " or set num_workers: 0", s->num_workers, n, s->num_workers);
        ttml_comm_free(*world);
        *world = NULL;
        return FALSE;
    }
    return TRUE;
}

gboolean ttml_dist_local_batch(gint64 global_batch, int n_ranks, gint64 *local_batch, GError **error)
{
    if (n_ranks < 1 || global_batch < n_ranks || global_batch % n_ranks != 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "training_config.batch_size %" G_GINT64_FORMAT " (the global batch) cannot be split across %d "
                    "ranks: it must be a multiple of the rank count; change batch_size or mpirun -np",
                    global_batch, n_ranks);
        return FALSE;
    }
    *local_batch = global_batch / n_ranks;
    return TRUE;
}

static gint str_ptr_cmp(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* Name and version of every loaded plugin, sorted. */
static char *plugin_set(void)
{
    const GPtrArray *recs = ttml_registry_records();
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; recs && i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (r->status == TTML_PLUGIN_OK)
            g_ptr_array_add(names, g_strdup_printf("%s@%s", r->name, r->version ? r->version : "?"));
    }
    g_ptr_array_sort(names, str_ptr_cmp);
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < names->len; i++)
        g_string_append_printf(s, "%s%s", i ? "," : "", (const char *)g_ptr_array_index(names, i));
    g_ptr_array_unref(names);
    return g_string_free(s, FALSE);
}

static guint64 fnv1a(const char *a, const char *b)
{
    guint64 h = 1469598103934665603ull;
    for (const char *p = a; p && *p; p++) h = (h ^ (guchar)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = b; p && *p; p++) h = (h ^ (guchar)*p) * 1099511628211ull;
    return h;
}

gboolean ttml_dist_check_consistent(ttml_comm *comm, const char *const *keys, const char *const *values, int n,
                                    GError **error)
{
    int size = ttml_comm_size(comm), rank = ttml_comm_rank(comm), m = n + 1;
    char *plugins = plugin_set();
    /* per-key hashes, gathered from every rank (moved as raw 32-bit words) */
    guint64 *mine = g_new(guint64, m), *all = g_new(guint64, (size_t)m * (size_t)size);
    for (int k = 0; k < n; k++) mine[k] = fnv1a(keys[k], values[k]);
    mine[n] = fnv1a("plugins", plugins);
    gboolean ok = ttml_comm_allgather(comm, mine, all, (size_t)m * 2, TTML_DTYPE_F32, error);
    for (int q = 1; ok && q < size; q++) {
        for (int k = 0; k < m; k++) {
            if (all[(size_t)q * m + k] == all[k]) continue;
            const char *key = k < n ? keys[k] : "plugins (the set of loaded plugins and versions)";
            const char *val = k < n ? values[k] : plugins;
            g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                        "rank %d runs a different configuration than rank 0: '%s' differs (on this rank, %d: '%s'); "
                        "every rank must run the same config file, overrides and plugins", q, key, rank, val);
            ok = FALSE;
            break;
        }
        if (!ok) break;
    }
    g_free(mine);
    g_free(all);
    g_free(plugins);
    return ok;
}
