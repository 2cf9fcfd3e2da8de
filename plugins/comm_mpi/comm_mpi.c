/* comm_mpi - the "mpi" communicator over Open MPI. This .so alone links
 * libmpi, so libttml and every other plugin work without MPI; when libmpi
 * cannot be loaded the loader rejects this file with the dynamic loader's
 * reason (ttml-doctor explains the fix).
 *
 * The world is created lazily (not at plugin init, so ttml-inspect does not
 * start MPI): MPI_Init_thread(MPI_THREAD_SERIALIZED) unless MPI is already
 * initialised, MPI_COMM_WORLD duplicated, MPI_ERRORS_RETURN on it, and every
 * non-zero return turned into a GError naming the rank and the call. Launched
 * by mpirun the world is the job; without it, Open MPI's singleton mode gives
 * a one-rank world. Blocking calls are the non-blocking MPI-3 call plus a wait
 * that polls MPI_Test until the world's timeout (Open MPI 4.1 has no ULFM, so
 * a dead peer otherwise hangs a collective forever): fail-stop. MPI is
 * finalised at plugin fini when this plugin initialised it. Open MPI >= 3
 * works loaded RTLD_LOCAL (the loader's mode); 2.x needed RTLD_GLOBAL. */
#include <ttml/ttml.h>

#include <mpi.h>
#include <dlfcn.h>
#include <limits.h>
#include <string.h>

typedef struct {
    MPI_Comm comm;
    MPI_Comm side;             /* after a timeout: which ranks are missing   */
    int rank, size;
    double timeout_s;
} mpi_state;

typedef struct {
    MPI_Request req;
    const char *call;
} mpi_request;

static gboolean we_initialized;
static MPI_Op op_bf16_sum = MPI_OP_NULL, op_bf16_max = MPI_OP_NULL;

/* The all-reduce algorithm of Open MPI's non-blocking collectives (coll
 * libnbc; every all-reduce here is MPI_Iallreduce). For an in-place buffer
 * libnbc always picks its binomial tree: every rank first copies the buffer
 * into a scratch one, rank 0 receives and sums the whole buffer of each
 * peer and sends the sum back, so the sum is serial on one rank. Its ring
 * (algorithm 1, a reduce-scatter then an all-gather) has each of p ranks
 * sum 1/p and send and receive 2(p-1)/p of the buffer, with no copy; it is
 * chosen here for buffers of RING_MIN_BYTES and more (DDP buckets: nanogpt
 * on 2 ranks, comm_ms 23 -> 15 ms), through the MPI_T control variable
 * coll_libnbc_iallreduce_algorithm, which libnbc reads at every call.
 * Smaller buffers keep Open MPI's choice (latency: 2 rounds against
 * 2(p-1)). A user's setting wins: when OMPI_MCA_coll_libnbc_iallreduce_algorithm
 * is in the environment (mpirun --mca sets it too) or the variable is not 0
 * at start-up (a parameter file), it is never written. */
#define RING_MIN_BYTES ((size_t)64 << 10)
#define NBC_ALG_DEFAULT 0 /* "ignore": libnbc's own choice */
#define NBC_ALG_RING 1
static struct {
    gboolean ours;            /* TRUE: this plugin picks per call        */
    gboolean t_init;          /* MPI_T_init_thread succeeded             */
    MPI_T_cvar_handle handle;
    int value;                /* last value written                      */
} nbc_alg;

static gboolean check(const mpi_state *s, int rc, const char *call, GError **error)
{
    if (rc == MPI_SUCCESS) return TRUE;
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    g_set_error(error, TTML_ERROR, TTML_ERROR_DEVICE, "mpi rank %d/%d: %s failed: %s (error %d)",
                s ? s->rank : -1, s ? s->size : 0, call, msg, rc);
    return FALSE;
}

static void bf16_reduce(void *in, void *inout, int *len, MPI_Datatype *dt, gboolean max)
{
    const guint16 *a = in;
    guint16 *b = inout;
    for (int i = 0; i < *len; i++) {
        float x = ttml_bf16_to_f32(a[i]), y = ttml_bf16_to_f32(b[i]);
        b[i] = ttml_f32_to_bf16(max ? (x > y || y != y ? x : y) : x + y);
    }
}
static void bf16_sum(void *in, void *inout, int *len, MPI_Datatype *dt) { bf16_reduce(in, inout, len, dt, FALSE); }
static void bf16_max(void *in, void *inout, int *len, MPI_Datatype *dt) { bf16_reduce(in, inout, len, dt, TRUE); }

static MPI_Datatype mpi_type(ttml_dtype dt) { return dt == TTML_DTYPE_BF16 ? MPI_UINT16_T : MPI_FLOAT; }

static MPI_Op mpi_op(ttml_dtype dt, ttml_comm_op op)
{
    if (dt == TTML_DTYPE_BF16) return op == TTML_COMM_SUM ? op_bf16_sum : op_bf16_max;
    return op == TTML_COMM_SUM ? MPI_SUM : MPI_MAX;
}

static gboolean fits_int(const mpi_state *s, size_t count, const char *call, GError **error)
{
    if (count <= INT_MAX) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                "mpi rank %d/%d: %s of %zu elements exceeds MPI's int count; split the buffer", s->rank,
                s->size, call, count);
    return FALSE;
}

static void *new_request(const mpi_state *s, int rc, MPI_Request req, const char *call, GError **error)
{
    if (!check(s, rc, call, error)) return NULL;
    mpi_request *r = g_new0(mpi_request, 1);
    r->req = req;
    r->call = call;
    return r;
}

/* After MPI_Init: take over coll_libnbc_iallreduce_algorithm unless the
 * user set it (see nbc_alg). Any failure leaves Open MPI's choice. */
static void nbc_alg_open(void)
{
    if (nbc_alg.t_init) return;
    int provided = 0, index = -1, count = 0, value = -1;
    if (MPI_T_init_thread(MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) return;
    nbc_alg.t_init = TRUE;
    if (g_getenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm")) return;
    if (MPI_T_cvar_get_index("coll_libnbc_iallreduce_algorithm", &index) != MPI_SUCCESS) return;
    if (MPI_T_cvar_handle_alloc(index, NULL, &nbc_alg.handle, &count) != MPI_SUCCESS) return;
    if (count != 1 || MPI_T_cvar_read(nbc_alg.handle, &value) != MPI_SUCCESS || value != NBC_ALG_DEFAULT) {
        MPI_T_cvar_handle_free(&nbc_alg.handle);
        return;
    }
    nbc_alg.value = value;
    nbc_alg.ours = TRUE;
}

static void nbc_alg_close(void)
{
    if (nbc_alg.ours) MPI_T_cvar_handle_free(&nbc_alg.handle);
    if (nbc_alg.t_init) MPI_T_finalize();
    memset(&nbc_alg, 0, sizeof nbc_alg);
}

/* Ring for large buffers, Open MPI's choice for small ones (identical on
 * every rank: the ranks of a collective pass the same count). */
static void nbc_alg_pick(size_t bytes)
{
    int want = bytes >= RING_MIN_BYTES ? NBC_ALG_RING : NBC_ALG_DEFAULT;
    if (!nbc_alg.ours || want == nbc_alg.value) return;
    if (MPI_T_cvar_write(nbc_alg.handle, &want) == MPI_SUCCESS)
        nbc_alg.value = want;
    else
        nbc_alg_close(); /* refused: Open MPI's choice from now on */
}

static mpi_state *state_new(MPI_Comm comm, double timeout_s, GError **error)
{
    mpi_state *s = g_new0(mpi_state, 1);
    s->comm = comm;
    s->side = MPI_COMM_NULL;
    s->timeout_s = timeout_s;
    s->rank = -1;
    if (!check(s, MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler", error) ||
        !check(s, MPI_Comm_rank(comm, &s->rank), "MPI_Comm_rank", error) ||
        !check(s, MPI_Comm_size(comm, &s->size), "MPI_Comm_size", error) ||
        !check(s, MPI_Comm_dup(comm, &s->side), "MPI_Comm_dup", error) ||
        !check(s, MPI_Comm_set_errhandler(s->side, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler", error)) {
        if (s->side != MPI_COMM_NULL) MPI_Comm_free(&s->side);
        g_free(s);
        return NULL;
    }
    return s;
}

static gboolean mpi_create_world(int n, const ttml_comm_options *o, void **states, GError **error)
{
    if (n != 1) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "the mpi communicator has one rank per process (asked for %d in this process); launch "
                    "N processes with mpirun -np N, or use the 'local' communicator for ranks as threads", n);
        return FALSE;
    }
    int flag = 0;
    MPI_Initialized(&flag);
    if (!flag) {
        int provided = 0;
        if (!check(NULL, MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread", error))
            return FALSE;
        we_initialized = TRUE;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    nbc_alg_open();
    if (op_bf16_sum == MPI_OP_NULL) {
        MPI_Op_create(bf16_sum, 1, &op_bf16_sum);
        MPI_Op_create(bf16_max, 1, &op_bf16_max);
    }
    MPI_Comm dup = MPI_COMM_NULL;
    if (!check(NULL, MPI_Comm_dup(MPI_COMM_WORLD, &dup), "MPI_Comm_dup(MPI_COMM_WORLD)", error)) return FALSE;
    double timeout = o && o->struct_size >= sizeof(ttml_comm_options) && o->timeout_s > 0 ? o->timeout_s : 300.0;
    states[0] = state_new(dup, timeout, error);
    return states[0] != NULL;
}

static int mpi_rank(void *s) { return ((mpi_state *)s)->rank; }
static int mpi_size(void *s) { return ((mpi_state *)s)->size; }

static void *mpi_split(void *p, int color, int key, GError **error)
{
    mpi_state *s = p;
    MPI_Comm out = MPI_COMM_NULL;
    if (!check(s, MPI_Comm_split(s->comm, color, key, &out), "MPI_Comm_split", error)) return NULL;
    return state_new(out, s->timeout_s, error);
}

static void *mpi_ibarrier(void *p, GError **error)
{
    mpi_state *s = p;
    MPI_Request req;
    int rc = MPI_Ibarrier(s->comm, &req); /* before reading req */
    return new_request(s, rc, req, "MPI_Ibarrier", error);
}

static void *mpi_iallreduce(void *p, void *buf, size_t count, ttml_dtype dt, ttml_comm_op op, GError **error)
{
    mpi_state *s = p;
    MPI_Request req;
    if (!fits_int(s, count, "MPI_Iallreduce", error)) return NULL;
    nbc_alg_pick(count * ttml_dtype_size(dt));
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, mpi_type(dt), mpi_op(dt, op), s->comm, &req);
    return new_request(s, rc, req, "MPI_Iallreduce", error);
}

static void *mpi_iallgather(void *p, const void *send, void *recv, size_t count, ttml_dtype dt, GError **error)
{
    mpi_state *s = p;
    MPI_Request req;
    if (!fits_int(s, count, "MPI_Iallgather", error)) return NULL;
    int rc = MPI_Iallgather(send, (int)count, mpi_type(dt), recv, (int)count, mpi_type(dt), s->comm, &req);
    return new_request(s, rc, req, "MPI_Iallgather", error);
}

static void *mpi_ireduce_scatter(void *p, const void *send, void *recv, size_t count, ttml_dtype dt,
                                 ttml_comm_op op, GError **error)
{
    mpi_state *s = p;
    MPI_Request req;
    if (!fits_int(s, count, "MPI_Ireduce_scatter_block", error)) return NULL;
    int rc = MPI_Ireduce_scatter_block(send, recv, (int)count, mpi_type(dt), mpi_op(dt, op), s->comm, &req);
    return new_request(s, rc, req, "MPI_Ireduce_scatter_block", error);
}

static void *mpi_ibroadcast(void *p, void *buf, size_t bytes, int root, GError **error)
{
    mpi_state *s = p;
    MPI_Request req;
    if (!fits_int(s, bytes, "MPI_Ibcast", error)) return NULL;
    int rc = MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, s->comm, &req);
    return new_request(s, rc, req, "MPI_Ibcast", error);
}

static void *mpi_isend(void *p, const void *buf, size_t bytes, int peer, int tag, GError **error)
{
    mpi_state *s = p;
    MPI_Request req;
    if (!fits_int(s, bytes, "MPI_Isend", error)) return NULL;
    int rc = MPI_Isend(buf, (int)bytes, MPI_BYTE, peer, tag, s->comm, &req);
    return new_request(s, rc, req, "MPI_Isend", error);
}

static void *mpi_irecv(void *p, void *buf, size_t bytes, int peer, int tag, GError **error)
{
    mpi_state *s = p;
    MPI_Request req;
    if (!fits_int(s, bytes, "MPI_Irecv", error)) return NULL;
    int rc = MPI_Irecv(buf, (int)bytes, MPI_BYTE, peer, tag, s->comm, &req);
    return new_request(s, rc, req, "MPI_Irecv", error);
}

static gboolean mpi_test(void *p, void *req, gboolean *done, GError **error)
{
    mpi_request *r = req;
    int flag = 0;
    gboolean ok = check(p, MPI_Test(&r->req, &flag, MPI_STATUS_IGNORE), r->call, error);
    *done = ok && flag;
    return ok;
}

#define MISSING_TAG 0x7e57

/* After a wait timed out: this rank tells every other rank so on the side
 * communicator and listens for theirs during a grace period (the ranks that
 * arrived time out too, at most about a step apart). The ranks not heard
 * from did not arrive: they died or hang elsewhere. Returns "1, 3" or ""
 * (g_free). Unmatched receives are cancelled; the sends (of a static int)
 * are left to complete or not: the job is ending. */
static char *missing_ranks(const mpi_state *s)
{
    static const int note = 1;
    int n = s->size;
    int *got = g_new0(int, n);
    MPI_Request *recv = g_new(MPI_Request, n);
    for (int q = 0; q < n; q++) {
        recv[q] = MPI_REQUEST_NULL;
        if (q == s->rank) continue;
        MPI_Request send = MPI_REQUEST_NULL;
        MPI_Irecv(&got[q], 1, MPI_INT, q, MISSING_TAG, s->side, &recv[q]);
        if (MPI_Isend(&note, 1, MPI_INT, q, MISSING_TAG, s->side, &send) == MPI_SUCCESS) MPI_Request_free(&send);
    }
    double grace_s = CLAMP(s->timeout_s / 2.0, 1.0, 30.0);
    gint64 deadline = g_get_monotonic_time() + (gint64)(grace_s * G_USEC_PER_SEC);
    int heard = 1;
    while (heard < n && g_get_monotonic_time() < deadline) {
        heard = 1;
        for (int q = 0; q < n; q++) {
            int flag = 0;
            if (q != s->rank && (recv[q] == MPI_REQUEST_NULL || (MPI_Test(&recv[q], &flag, MPI_STATUS_IGNORE) ==
                                                                     MPI_SUCCESS && flag)))
                recv[q] = MPI_REQUEST_NULL;
            heard += q != s->rank && recv[q] == MPI_REQUEST_NULL;
        }
        g_usleep(1000);
    }
    GString *out = g_string_new(NULL);
    for (int q = 0; q < n; q++) {
        if (recv[q] == MPI_REQUEST_NULL) continue;
        g_string_append_printf(out, "%s%d", out->len ? ", " : "", q);
        MPI_Cancel(&recv[q]);
        MPI_Wait(&recv[q], MPI_STATUS_IGNORE); /* local for an unmatched receive; then got[] may go */
    }
    g_free(recv);
    g_free(got);
    return g_string_free(out, FALSE);
}

static void timeout_error(const mpi_state *s, const char *call, GError **error)
{
    char *missing = missing_ranks(s);
    char *who = *missing ? g_strdup_printf("rank%s %s did not arrive (died or hangs)", strchr(missing, ',') ? "s" : "",
                                           missing)
                         : g_strdup("every rank is waiting (a collective mismatch?)");
    g_set_error(error, TTML_ERROR, TTML_ERROR_DEVICE,
                "mpi rank %d/%d: %s did not complete within %g s: %s; fail-stop: the job ends, --resume "
                "continues from the last checkpoint (raise device_config.comm_timeout_s if the ranks are only "
                "slow)", s->rank, s->size, call, s->timeout_s, who);
    g_free(who);
    g_free(missing);
}

/* A wait polls MPI_Test (Open MPI progresses a request only inside MPI
 * calls; a ring all-reduce needs this rank's progress between its rounds).
 * For the first WAIT_SPIN_US it only yields the core between polls, so a
 * peer's round is answered at once (a wait at the end of a DDP backward is
 * a few ms); after that it sleeps, 10 us more each time up to 1 ms, so a
 * long wait (a slow or dead peer) does not keep a core busy. */
#define WAIT_SPIN_US 2000

static gboolean mpi_wait(void *p, void *req, GError **error)
{
    mpi_state *s = p;
    mpi_request *r = req;
    gint64 start = g_get_monotonic_time(), deadline = start + (gint64)(s->timeout_s * G_USEC_PER_SEC);
    gulong sleep_us = 10;
    gboolean ok = TRUE;
    for (;;) {
        int flag = 0;
        if (!(ok = check(s, MPI_Test(&r->req, &flag, MPI_STATUS_IGNORE), r->call, error)) || flag) break;
        gint64 now = g_get_monotonic_time();
        if (now > deadline) {
            timeout_error(s, r->call, error);
            ok = FALSE;
            break;
        }
        if (now - start < WAIT_SPIN_US) {
            g_thread_yield();
            continue;
        }
        g_usleep(sleep_us);
        sleep_us = MIN(sleep_us + 10, 1000);
    }
    g_free(r);
    return ok;
}

static void mpi_abort(void *p, int code)
{
    mpi_state *s = p;
    MPI_Abort(s->comm, code);
}

static void mpi_free(void *p)
{
    mpi_state *s = p;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && s->comm != MPI_COMM_NULL) MPI_Comm_free(&s->comm);
    if (!finalized && s->side != MPI_COMM_NULL) MPI_Comm_free(&s->side);
    g_free(s);
}

static ttml_comm_iface mpi_iface = { /* description filled in at init */
    .struct_size = sizeof(ttml_comm_iface),
    .name = "mpi",
    .description = "Open MPI between processes and hosts (one rank per process; mpirun)",
    .create_world = mpi_create_world,
    .rank = mpi_rank,
    .size = mpi_size,
    .split = mpi_split,
    .ibarrier = mpi_ibarrier,
    .iallreduce = mpi_iallreduce,
    .iallgather = mpi_iallgather,
    .ireduce_scatter = mpi_ireduce_scatter,
    .ibroadcast = mpi_ibroadcast,
    .isend = mpi_isend,
    .irecv = mpi_irecv,
    .wait = mpi_wait,
    .abort = mpi_abort,
    .free = mpi_free,
    .test = mpi_test,
};

static gboolean comm_mpi_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    if (host->struct_size < offsetof(ttml_host, register_comm) + sizeof(void *) || !host->register_comm) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_ABI,
                    "this libttml has no register_comm (plugin ABI < 1.2): upgrade ttml");
        return FALSE;
    }
    /* "Open MPI v4.1.4, ... (no ULFM: fail-stop)", shown by ttml-inspect */
    static char description[256];
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(version, &len);
    version[strcspn(version, ",\n")] = '\0';
    gboolean ulfm = FALSE;
    Dl_info info;
    if (dladdr((void *)&MPI_Init_thread, &info) && info.dli_fname) {
        void *lib = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
        ulfm = lib && dlsym(lib, "MPIX_Comm_revoke") != NULL;
        if (lib) dlclose(lib);
    }
    g_snprintf(description, sizeof description,
               "%s between processes and hosts (one rank per process; mpirun); %s", version,
               ulfm ? "ULFM found (MPIX_Comm_revoke), not used: fail-stop"
                    : "no ULFM (MPIX_Comm_revoke): fail-stop, restart from the last checkpoint");
    mpi_iface.description = description;
    return host->register_comm(plugin, &mpi_iface, error);
}

static void comm_mpi_fini(ttml_plugin *plugin)
{
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) nbc_alg_close();
    if (we_initialized && !finalized) {
        if (op_bf16_sum != MPI_OP_NULL) MPI_Op_free(&op_bf16_sum);
        if (op_bf16_max != MPI_OP_NULL) MPI_Op_free(&op_bf16_max);
        MPI_Finalize();
    }
}

TTML_PLUGIN_DEFINE(comm_mpi, TTML_PLUGIN_COMM, "0.1.0",
                   "the 'mpi' communicator over Open MPI (links libmpi; processes and hosts)", "Apache-2.0",
                   NULL, comm_mpi_init, comm_mpi_fini)
