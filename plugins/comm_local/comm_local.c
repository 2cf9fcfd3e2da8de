/* comm_local - the "local" communicator: ranks are threads of one process
 * and collectives run over shared memory (for the devices of one host's mesh
 * and for fast tests; not a network transport).
 *
 * A group (the world or a split of it) holds one mutex, a generation barrier
 * and a table of the pointers each rank posts. A non-blocking collective is
 * queued on its rank and runs when a wait reaches it (a wait runs every
 * earlier queued collective first, so each rank runs them in issue order,
 * the same order on every rank), so a rank never blocks inside the call that
 * starts one (DDP starts them from backward hooks); all-reduce
 * is a reduce-scatter of each rank's chunk into its scratch (a buffer the
 * rank's communicator owns, grown to the largest chunk and reused) then a write
 * of the chunk into every rank's buffer, summed in rank order 0..n-1 so every
 * rank gets bit-identical results (bf16 accumulates in fp32, rounds once).
 * Sends copy into a mailbox and complete at once; a receive completes in its
 * wait. Every wait is bounded by the world's timeout and names the ranks that
 * did not arrive; a timeout or an abort poisons the world (fail-stop). */
#include <ttml/ttml.h>

#include <string.h>

#define POLL_US 100000 /* waits wake this often to notice an abort */

typedef struct world world;

typedef struct group {
    world *w;
    int size;
    gint refs;
    guint64 gen;          /* barrier generation          */
    int arrived;
    gboolean *present;    /* arrived in this generation  */
    void **ptrs;          /* per-rank posted pointers    */
    size_t *counts;
    int *colors, *keys;
    struct group **split_out; /* leader -> new group      */
    GList *mail;          /* message*                    */
} group;

struct world {
    GMutex mu;
    GCond cv;
    gint refs;
    double timeout_s;
    gboolean failed;
    char *why;            /* the first failure, for every rank */
};

/* One rank's communicator (used by that rank's thread only). */
typedef struct {
    group *g;
    int rank;
    GQueue pending;       /* request*, queued collectives                    */
    void *scratch;        /* all-reduce: this rank's reduced chunk; grown to  */
    size_t scratch_bytes; /* the largest chunk so far, reused, freed with it  */
} rank_state;

typedef struct { int src, dst, tag; size_t bytes; void *data; } message;

typedef enum { OP_DONE, OP_RECV, OP_BARRIER, OP_ALLREDUCE, OP_ALLGATHER, OP_REDUCE_SCATTER, OP_BROADCAST } op_kind;

/* A request: a queued collective, a pending receive or a completed send. */
typedef struct {
    op_kind kind;
    gboolean done, ok;
    void *buf;            /* all-reduce, broadcast, recv */
    const void *send;     /* all-gather, reduce-scatter  */
    void *recv;
    size_t count;         /* elements, or bytes for broadcast / recv */
    ttml_dtype dt;
    ttml_comm_op op;
    int root, peer, tag;
} request;

static group *group_new(world *w, int size)
{
    group *g = g_new0(group, 1);
    g->w = w;
    g->size = size;
    g->refs = size;
    g->present = g_new0(gboolean, size);
    g->ptrs = g_new0(void *, size);
    g->counts = g_new0(size_t, size);
    g->colors = g_new0(int, size);
    g->keys = g_new0(int, size);
    g->split_out = g_new0(group *, size);
    g_atomic_int_inc(&w->refs);
    return g;
}

static void message_free(gpointer p)
{
    message *m = p;
    g_free(m->data);
    g_free(m);
}

static void world_unref(world *w)
{
    if (!g_atomic_int_dec_and_test(&w->refs)) return;
    g_mutex_clear(&w->mu);
    g_cond_clear(&w->cv);
    g_free(w->why);
    g_free(w);
}

static void group_unref(group *g)
{
    if (!g_atomic_int_dec_and_test(&g->refs)) return;
    g_list_free_full(g->mail, message_free);
    g_free(g->present);
    g_free(g->ptrs);
    g_free(g->counts);
    g_free(g->colors);
    g_free(g->keys);
    g_free(g->split_out);
    world_unref(g->w);
    g_free(g);
}

/* With w->mu held: poison the world with the first reason. */
static void fail_locked(world *w, char *why)
{
    if (!w->failed) {
        w->failed = TRUE;
        w->why = why;
    } else {
        g_free(why);
    }
    g_cond_broadcast(&w->cv);
}

static gboolean failed_error(rank_state *r, const char *call, GError **error)
{
    g_set_error(error, TTML_ERROR, TTML_ERROR_DEVICE, "local rank %d/%d: %s: the communicator failed earlier (%s)",
                r->rank, r->g->size, call, r->g->w->why);
    return FALSE;
}

/* With w->mu held: wait for a change until the deadline; FALSE on timeout. */
static gboolean wait_locked(world *w, gint64 deadline)
{
    gint64 now = g_get_monotonic_time();
    if (now >= deadline) return FALSE;
    gint64 until = MIN(deadline, now + POLL_US);
    g_cond_wait_until(&w->cv, &w->mu, until);
    return TRUE;
}

static gint64 deadline_of(world *w) { return g_get_monotonic_time() + (gint64)(w->timeout_s * G_USEC_PER_SEC); }

/* The generation barrier every collective is made of. */
static gboolean barrier(rank_state *r, const char *call, GError **error)
{
    group *g = r->g;
    world *w = g->w;
    g_mutex_lock(&w->mu);
    if (w->failed) {
        g_mutex_unlock(&w->mu);
        return failed_error(r, call, error);
    }
    guint64 gen = g->gen;
    g->present[r->rank] = TRUE;
    if (++g->arrived == g->size) {
        g->arrived = 0;
        memset(g->present, 0, sizeof(gboolean) * (size_t)g->size);
        g->gen++;
        g_cond_broadcast(&w->cv);
        g_mutex_unlock(&w->mu);
        return TRUE;
    }
    gint64 deadline = deadline_of(w);
    while (g->gen == gen && !w->failed) {
        if (wait_locked(w, deadline)) continue;
        GString *missing = g_string_new(NULL);
        for (int q = 0; q < g->size; q++)
            if (!g->present[q]) g_string_append_printf(missing, "%s%d", missing->len ? ", " : "", q);
        fail_locked(w, g_strdup_printf("rank %d timed out after %g s in %s waiting for rank(s) %s "
                                       "(dead or hung; raise device_config.comm_timeout_s if they are slow)",
                                       r->rank, w->timeout_s, call, missing->str));
        g_string_free(missing, TRUE);
    }
    gboolean ok = g->gen != gen;
    g_mutex_unlock(&w->mu);
    return ok ? TRUE : failed_error(r, call, error);
}

static request *done_request(void)
{
    request *q = g_new0(request, 1);
    q->done = q->ok = TRUE;
    return q;
}

static request *queue(rank_state *r, request q)
{
    request *p = g_memdup2(&q, sizeof q);
    g_queue_push_tail(&r->pending, p);
    return p;
}

/* Post ptr/count, meet, and check every rank posted the same count. */
static gboolean post(rank_state *r, const char *call, void *ptr, size_t count, GError **error)
{
    r->g->ptrs[r->rank] = ptr;
    r->g->counts[r->rank] = count;
    if (!barrier(r, call, error)) return FALSE;
    for (int q = 0; q < r->g->size; q++) {
        if (r->g->counts[q] != count) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "local rank %d/%d: %s: rank %d passed %zu elements, this rank %zu; every rank must "
                        "pass the same count", r->rank, r->g->size, call, q, r->g->counts[q], count);
            barrier(r, call, NULL);
            return FALSE;
        }
    }
    return TRUE;
}

static float load(const void *p, size_t i, ttml_dtype dt)
{
    return dt == TTML_DTYPE_BF16 ? ttml_bf16_to_f32(((const guint16 *)p)[i]) : ((const float *)p)[i];
}

static void store(void *p, size_t i, ttml_dtype dt, float v)
{
    if (dt == TTML_DTYPE_BF16) ((guint16 *)p)[i] = ttml_f32_to_bf16(v);
    else ((float *)p)[i] = v;
}

/* out[i] = op over ranks 0..n-1 of src_q[off + i], i < n_el. */
static void reduce_into(group *g, size_t off, size_t n_el, ttml_dtype dt, ttml_comm_op op, void *out)
{
    for (size_t i = 0; i < n_el; i++) {
        float acc = load(g->ptrs[0], off + i, dt);
        for (int q = 1; q < g->size; q++) {
            float v = load(g->ptrs[q], off + i, dt);
            acc = op == TTML_COMM_SUM ? acc + v : (v > acc || acc != acc ? v : acc);
        }
        store(out, i, dt, acc);
    }
}

/* r's scratch, at least `bytes` long (contents not kept when it grows). */
static void *scratch_of(rank_state *r, size_t bytes)
{
    if (bytes > r->scratch_bytes) {
        g_free(r->scratch);
        r->scratch = g_malloc(bytes);
        r->scratch_bytes = bytes;
    }
    return r->scratch;
}

static gboolean run_allreduce(rank_state *r, void *buf, size_t count, ttml_dtype dt, ttml_comm_op op,
                              GError **error)
{
    group *g = r->g;
    if (!post(r, "all-reduce", buf, count, error)) return FALSE;
    /* one rank: the sum is the buffer itself (no scratch copy, no pass over it:
     * GPT-2 124M with enable_ddp at one rank spent ~1 s per step here) */
    if (g->size == 1) return barrier(r, "all-reduce", error);
    size_t lo = count * (size_t)r->rank / (size_t)g->size, hi = count * (size_t)(r->rank + 1) / (size_t)g->size;
    size_t esz = ttml_dtype_size(dt);
    void *tmp = scratch_of(r, MAX(hi - lo, 1) * esz);
    reduce_into(g, lo, hi - lo, dt, op, tmp);
    gboolean ok = barrier(r, "all-reduce", error); /* every rank has read its inputs */
    if (ok)
        for (int q = 0; q < g->size; q++) memcpy((char *)g->ptrs[q] + lo * esz, tmp, (hi - lo) * esz);
    return ok && barrier(r, "all-reduce", error);
}

static gboolean run_allgather(rank_state *r, const void *send, void *recv, size_t count, ttml_dtype dt,
                              GError **error)
{
    if (!post(r, "all-gather", (void *)send, count, error)) return FALSE;
    size_t bytes = count * ttml_dtype_size(dt);
    for (int q = 0; q < r->g->size; q++)
        if (bytes) memcpy((char *)recv + (size_t)q * bytes, r->g->ptrs[q], bytes);
    return barrier(r, "all-gather", error);
}

static gboolean run_reduce_scatter(rank_state *r, const void *send, void *recv, size_t count, ttml_dtype dt,
                                   ttml_comm_op op, GError **error)
{
    if (!post(r, "reduce-scatter", (void *)send, count, error)) return FALSE;
    reduce_into(r->g, count * (size_t)r->rank, count, dt, op, recv);
    return barrier(r, "reduce-scatter", error);
}

static gboolean run_broadcast(rank_state *r, void *buf, size_t bytes, int root, GError **error)
{
    if (!post(r, "broadcast", buf, bytes, error)) return FALSE;
    if (r->rank != root && bytes) memcpy(buf, r->g->ptrs[root], bytes);
    return barrier(r, "broadcast", error);
}

static void *local_iallreduce(void *s, void *buf, size_t count, ttml_dtype dt, ttml_comm_op op, GError **error)
{
    return queue(s, (request){.kind = OP_ALLREDUCE, .buf = buf, .count = count, .dt = dt, .op = op});
}

static void *local_iallgather(void *s, const void *send, void *recv, size_t count, ttml_dtype dt, GError **error)
{
    return queue(s, (request){.kind = OP_ALLGATHER, .send = send, .recv = recv, .count = count, .dt = dt});
}

static void *local_ireduce_scatter(void *s, const void *send, void *recv, size_t count, ttml_dtype dt,
                                   ttml_comm_op op, GError **error)
{
    return queue(s, (request){.kind = OP_REDUCE_SCATTER, .send = send, .recv = recv, .count = count, .dt = dt,
                              .op = op});
}

static void *local_ibroadcast(void *s, void *buf, size_t bytes, int root, GError **error)
{
    return queue(s, (request){.kind = OP_BROADCAST, .buf = buf, .count = bytes, .root = root});
}

static void *local_ibarrier(void *s, GError **error) { return queue(s, (request){.kind = OP_BARRIER}); }

static gboolean run_op(rank_state *r, request *q, GError **error)
{
    switch (q->kind) {
    case OP_BARRIER: return barrier(r, "barrier", error);
    case OP_ALLREDUCE: return run_allreduce(r, q->buf, q->count, q->dt, q->op, error);
    case OP_ALLGATHER: return run_allgather(r, q->send, q->recv, q->count, q->dt, error);
    case OP_REDUCE_SCATTER: return run_reduce_scatter(r, q->send, q->recv, q->count, q->dt, q->op, error);
    case OP_BROADCAST: return run_broadcast(r, q->buf, q->count, q->root, error);
    case OP_DONE:
    case OP_RECV: break;
    }
    return TRUE;
}

/* Run the queued collectives up to and including `upto` (NULL = all). */
static gboolean flush(rank_state *r, request *upto, GError **error)
{
    gboolean ok = TRUE;
    while (ok && (upto == NULL || !upto->done) && !g_queue_is_empty(&r->pending)) {
        request *q = g_queue_pop_head(&r->pending);
        q->ok = ok = run_op(r, q, q == upto ? error : NULL);
        q->done = TRUE;
        if (!ok && q != upto) failed_error(r, "a collective queued earlier", error);
    }
    return ok;
}

static gint member_cmp(gconstpointer a, gconstpointer b, gpointer data)
{
    const group *g = data;
    int x = *(const int *)a, y = *(const int *)b;
    if (g->keys[x] != g->keys[y]) return g->keys[x] < g->keys[y] ? -1 : 1;
    return x - y;
}

static void *local_split(void *s, int color, int key, GError **error)
{
    rank_state *r = s;
    group *g = r->g;
    if (color < 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "local rank %d/%d: split: color %d must be >= 0",
                    r->rank, g->size, color);
        return NULL;
    }
    if (!flush(r, NULL, error)) return NULL;
    g->colors[r->rank] = color;
    g->keys[r->rank] = key;
    if (!barrier(r, "split", error)) return NULL;
    int *members = g_new(int, g->size), n = 0;
    for (int q = 0; q < g->size; q++)
        if (g->colors[q] == color) members[n++] = q;
    g_qsort_with_data(members, n, sizeof(int), member_cmp, g);
    int my = 0;
    while (members[my] != r->rank) my++;
    if (my == 0) g->split_out[r->rank] = group_new(g->w, n);
    gboolean ok = barrier(r, "split", error);
    rank_state *out = NULL;
    if (ok) {
        out = g_new0(rank_state, 1);
        out->g = g->split_out[members[0]];
        out->rank = my;
    }
    g_free(members);
    if (ok && !barrier(r, "split", error)) ok = FALSE; /* split_out may be reused */
    return out;
}

static void *local_isend(void *s, const void *buf, size_t bytes, int peer, int tag, GError **error)
{
    rank_state *r = s;
    world *w = r->g->w;
    message *m = g_new0(message, 1);
    *m = (message){r->rank, peer, tag, bytes, g_memdup2(buf, bytes)};
    g_mutex_lock(&w->mu);
    r->g->mail = g_list_append(r->g->mail, m);
    g_cond_broadcast(&w->cv);
    g_mutex_unlock(&w->mu);
    return done_request();
}

static void *local_irecv(void *s, void *buf, size_t bytes, int peer, int tag, GError **error)
{
    request *q = g_new0(request, 1);
    *q = (request){.kind = OP_RECV, .buf = buf, .count = bytes, .peer = peer, .tag = tag};
    return q;
}

static GList *find_mail(group *g, int src, int dst, int tag)
{
    for (GList *l = g->mail; l; l = l->next) {
        message *m = l->data;
        if (m->src == src && m->dst == dst && m->tag == tag) return l;
    }
    return NULL;
}

static gboolean recv_wait(rank_state *r, request *q, GError **error)
{
    world *w = r->g->w;
    g_mutex_lock(&w->mu);
    gint64 deadline = deadline_of(w);
    GList *l;
    while (!(l = find_mail(r->g, q->peer, r->rank, q->tag)) && !w->failed) {
        if (wait_locked(w, deadline)) continue;
        fail_locked(w, g_strdup_printf("rank %d timed out after %g s receiving tag %d from rank %d (dead or hung)",
                                       r->rank, w->timeout_s, q->tag, q->peer));
    }
    if (!l) {
        g_mutex_unlock(&w->mu);
        return failed_error(r, "recv", error);
    }
    message *m = l->data;
    r->g->mail = g_list_delete_link(r->g->mail, l);
    g_mutex_unlock(&w->mu);
    gboolean ok = m->bytes == q->count;
    if (ok && m->bytes) memcpy(q->buf, m->data, m->bytes);
    else if (!ok)
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "local rank %d/%d: recv: rank %d sent %zu bytes with tag %d, the receive expects %zu",
                    r->rank, r->g->size, q->peer, m->bytes, q->tag, q->count);
    message_free(m);
    return ok;
}

static gboolean local_wait(void *s, void *req, GError **error)
{
    request *q = req;
    gboolean ok;
    if (q->kind == OP_RECV) ok = recv_wait(s, q, error);
    else if (!q->done) ok = flush(s, q, error);
    else if (!(ok = q->ok)) failed_error(s, "wait", error);
    g_free(q);
    return ok;
}

static gboolean local_test(void *s, void *req, gboolean *done, GError **error)
{
    rank_state *r = s;
    request *q = req;
    *done = q->done;
    if (q->kind == OP_RECV) {
        g_mutex_lock(&r->g->w->mu);
        *done = find_mail(r->g, q->peer, r->rank, q->tag) != NULL;
        g_mutex_unlock(&r->g->w->mu);
    }
    return TRUE;
}

static void local_abort(void *s, int code)
{
    rank_state *r = s;
    world *w = r->g->w;
    g_mutex_lock(&w->mu);
    fail_locked(w, g_strdup_printf("rank %d aborted with code %d", r->rank, code));
    g_mutex_unlock(&w->mu);
}

static int local_rank(void *s) { return ((rank_state *)s)->rank; }
static int local_size(void *s) { return ((rank_state *)s)->g->size; }

static void local_free(void *s)
{
    rank_state *r = s;
    /* requests still queued belong to their (never waited) callers */
    g_queue_clear(&r->pending);
    group_unref(r->g);
    g_free(r->scratch);
    g_free(r);
}

static gboolean local_create_world(int n, const ttml_comm_options *o, void **states, GError **error)
{
    world *w = g_new0(world, 1);
    g_mutex_init(&w->mu);
    g_cond_init(&w->cv);
    w->refs = 1;
    w->timeout_s = o && o->struct_size >= sizeof(ttml_comm_options) && o->timeout_s > 0 ? o->timeout_s : 300.0;
    group *g = group_new(w, n);
    world_unref(w); /* held by its groups from here on */
    for (int i = 0; i < n; i++) {
        rank_state *r = g_new0(rank_state, 1);
        r->g = g;
        r->rank = i;
        states[i] = r;
    }
    return TRUE;
}

static const ttml_comm_iface local_iface = {
    .struct_size = sizeof(ttml_comm_iface),
    .name = "local",
    .description = "ranks as threads of one process over shared memory (one host's mesh, tests)",
    .create_world = local_create_world,
    .rank = local_rank,
    .size = local_size,
    .split = local_split,
    .ibarrier = local_ibarrier,
    .iallreduce = local_iallreduce,
    .iallgather = local_iallgather,
    .ireduce_scatter = local_ireduce_scatter,
    .ibroadcast = local_ibroadcast,
    .isend = local_isend,
    .irecv = local_irecv,
    .wait = local_wait,
    .abort = local_abort,
    .free = local_free,
    .test = local_test,
};

static gboolean comm_local_init(ttml_plugin *plugin, const ttml_host *host, GError **error)
{
    if (host->struct_size < offsetof(ttml_host, register_comm) + sizeof(void *) || !host->register_comm) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_ABI,
                    "this libttml has no register_comm (plugin ABI < 1.2): upgrade ttml");
        return FALSE;
    }
    return host->register_comm(plugin, &local_iface, error);
}

TTML_PLUGIN_DEFINE(comm_local, TTML_PLUGIN_COMM, "0.1.0",
                   "the 'local' communicator: ranks as threads of one process over shared memory",
                   "Apache-2.0", NULL, comm_local_init, NULL)
