/* core/runtime/comm.c - the public communicator calls over a backend's vtable
 * (ttml/comm.h): argument checks, the handle that pairs a backend state with
 * its vtable, and blocking calls as a non-blocking call plus its wait. */
#include "internal.h"

#include <ttml/profile_zones.h>

struct ttml_comm {
    const ttml_comm_iface *iface;
    void *state;
    ttml_comm_observer_fn observer;   /* NULL: none */
    gpointer observer_data;
};

struct ttml_comm_request {
    ttml_comm *comm;
    void *handle;
};

static ttml_comm *wrap(const ttml_comm_iface *iface, void *state)
{
    ttml_comm *c = g_new0(ttml_comm, 1);
    c->iface = iface;
    c->state = state;
    return c;
}

gboolean ttml_comm_world(const char *name, int n, const ttml_comm_options *options, ttml_comm **ranks,
                         GError **error)
{
    const ttml_comm_iface *iface = ttml_registry_find_comm(name);
    if (!iface) {
        ttml_set_not_found(error, TTML_FEATURE_COMM, "communicator backend", name);
        return FALSE;
    }
    if (n < 1 || !ranks) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttml_comm_world(\"%s\"): need n >= 1 ranks and an array for them (got n = %d)", name, n);
        return FALSE;
    }
    void **states = g_new0(void *, n);
    gboolean ok = iface->create_world(n, options, states, error);
    if (ok)
        for (int i = 0; i < n; i++) ranks[i] = wrap(iface, states[i]);
    else
        g_prefix_error(error, "%s communicator: ", name);
    g_free(states);
    return ok;
}

gboolean ttml_comm_local_world(int n, ttml_comm **ranks, GError **error)
{
    return ttml_comm_world("local", n, NULL, ranks, error);
}

void ttml_comm_free(ttml_comm *comm)
{
    if (!comm) return;
    comm->iface->free(comm->state);
    g_free(comm);
}

int ttml_comm_rank(const ttml_comm *comm) { return comm->iface->rank(comm->state); }
int ttml_comm_size(const ttml_comm *comm) { return comm->iface->size(comm->state); }
const char *ttml_comm_backend(const ttml_comm *comm) { return comm->iface->name; }

ttml_comm *ttml_comm_split(ttml_comm *comm, int color, int key, GError **error)
{
    void *s = comm->iface->split(comm->state, color, key, error);
    ttml_comm *c = s ? wrap(comm->iface, s) : NULL;
    if (c) ttml_comm_set_observer(c, comm->observer, comm->observer_data);
    return c;
}

void ttml_comm_set_observer(ttml_comm *comm, ttml_comm_observer_fn fn, gpointer user_data)
{
    comm->observer = fn;
    comm->observer_data = fn ? user_data : NULL;
}

static const char *const kind_names[] = {"all-reduce", "all-gather", "reduce-scatter", "broadcast",
                                         "barrier", "send", "recv"};

static void observe(ttml_comm *comm, ttml_comm_kind kind, guint64 bytes)
{
    if (!comm->observer) return;
    ttml_comm_event ev = {sizeof ev, kind, kind_names[kind], bytes, ttml_comm_size(comm), ttml_comm_rank(comm)};
    comm->observer(&ev, comm->observer_data);
}

static ttml_comm_request *request(ttml_comm *comm, void *handle)
{
    if (!handle) return NULL;
    ttml_comm_request *r = g_new0(ttml_comm_request, 1);
    r->comm = comm;
    r->handle = handle;
    return r;
}

static gboolean check_reduce(const ttml_comm *comm, const char *call, ttml_dtype dtype, ttml_comm_op op,
                             GError **error)
{
    if ((dtype == TTML_DTYPE_F32 || dtype == TTML_DTYPE_BF16) && (op == TTML_COMM_SUM || op == TTML_COMM_MAX))
        return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_DTYPE,
                "%s rank %d: %s supports f32 and bf16 with sum or max (got %s, op %d)",
                comm->iface->name, ttml_comm_rank(comm), call, ttml_dtype_name(dtype), (int)op);
    return FALSE;
}

gboolean ttml_comm_wait(ttml_comm_request *req, GError **error)
{
    if (!req) return TRUE;
    ttml_zone_begin("comm_wait", "comm");
    gboolean ok = req->comm->iface->wait(req->comm->state, req->handle, error);
    ttml_zone_end();
    g_free(req);
    return ok;
}

gboolean ttml_comm_test(ttml_comm_request *req, gboolean *done, GError **error)
{
    const ttml_comm_iface *i = req->comm->iface;
    if (i->struct_size < offsetof(ttml_comm_iface, test) + sizeof(void *) || !i->test) {
        *done = FALSE;
        return TRUE;
    }
    return i->test(req->comm->state, req->handle, done, error);
}

ttml_comm_request *ttml_comm_iallreduce(ttml_comm *comm, void *buf, size_t count, ttml_dtype dtype,
                                        ttml_comm_op op, GError **error)
{
    if (!check_reduce(comm, "all-reduce", dtype, op, error)) return NULL;
    observe(comm, TTML_COMM_KIND_ALLREDUCE, (guint64)count * ttml_dtype_size(dtype));
    return request(comm, comm->iface->iallreduce(comm->state, buf, count, dtype, op, error));
}

gboolean ttml_comm_allreduce(ttml_comm *comm, void *buf, size_t count, ttml_dtype dtype, ttml_comm_op op,
                             GError **error)
{
    ttml_comm_request *r = ttml_comm_iallreduce(comm, buf, count, dtype, op, error);
    return r && ttml_comm_wait(r, error);
}

gboolean ttml_comm_barrier(ttml_comm *comm, GError **error)
{
    observe(comm, TTML_COMM_KIND_BARRIER, 0);
    ttml_comm_request *r = request(comm, comm->iface->ibarrier(comm->state, error));
    return r && ttml_comm_wait(r, error);
}

gboolean ttml_comm_allgather(ttml_comm *comm, const void *send, void *recv, size_t count, ttml_dtype dtype,
                             GError **error)
{
    observe(comm, TTML_COMM_KIND_ALLGATHER, (guint64)count * ttml_dtype_size(dtype));
    ttml_comm_request *r = request(comm, comm->iface->iallgather(comm->state, send, recv, count, dtype, error));
    return r && ttml_comm_wait(r, error);
}

gboolean ttml_comm_reduce_scatter(ttml_comm *comm, const void *send, void *recv, size_t count,
                                  ttml_dtype dtype, ttml_comm_op op, GError **error)
{
    if (!check_reduce(comm, "reduce-scatter", dtype, op, error)) return FALSE;
    observe(comm, TTML_COMM_KIND_REDUCE_SCATTER, (guint64)count * ttml_dtype_size(dtype) * (guint64)ttml_comm_size(comm));
    ttml_comm_request *r =
        request(comm, comm->iface->ireduce_scatter(comm->state, send, recv, count, dtype, op, error));
    return r && ttml_comm_wait(r, error);
}

gboolean ttml_comm_broadcast(ttml_comm *comm, void *buf, size_t bytes, int root, GError **error)
{
    if (root < 0 || root >= ttml_comm_size(comm)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s rank %d: broadcast root %d is not in [0, %d)",
                    comm->iface->name, ttml_comm_rank(comm), root, ttml_comm_size(comm));
        return FALSE;
    }
    observe(comm, TTML_COMM_KIND_BROADCAST, bytes);
    ttml_comm_request *r = request(comm, comm->iface->ibroadcast(comm->state, buf, bytes, root, error));
    return r && ttml_comm_wait(r, error);
}

static gboolean check_peer(ttml_comm *comm, const char *call, int peer, GError **error)
{
    if (peer >= 0 && peer < ttml_comm_size(comm) && peer != ttml_comm_rank(comm)) return TRUE;
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                "%s rank %d: %s peer %d is not another rank of this communicator (size %d)",
                comm->iface->name, ttml_comm_rank(comm), call, peer, ttml_comm_size(comm));
    return FALSE;
}

ttml_comm_request *ttml_comm_isend(ttml_comm *comm, const void *buf, size_t bytes, int peer, int tag,
                                   GError **error)
{
    if (!check_peer(comm, "send", peer, error)) return NULL;
    observe(comm, TTML_COMM_KIND_SEND, bytes);
    return request(comm, comm->iface->isend(comm->state, buf, bytes, peer, tag, error));
}

ttml_comm_request *ttml_comm_irecv(ttml_comm *comm, void *buf, size_t bytes, int peer, int tag,
                                   GError **error)
{
    if (!check_peer(comm, "recv", peer, error)) return NULL;
    observe(comm, TTML_COMM_KIND_RECV, bytes);
    return request(comm, comm->iface->irecv(comm->state, buf, bytes, peer, tag, error));
}

gboolean ttml_comm_send(ttml_comm *comm, const void *buf, size_t bytes, int peer, int tag, GError **error)
{
    ttml_comm_request *r = ttml_comm_isend(comm, buf, bytes, peer, tag, error);
    return r && ttml_comm_wait(r, error);
}

gboolean ttml_comm_recv(ttml_comm *comm, void *buf, size_t bytes, int peer, int tag, GError **error)
{
    ttml_comm_request *r = ttml_comm_irecv(comm, buf, bytes, peer, tag, error);
    return r && ttml_comm_wait(r, error);
}

void ttml_comm_abort(ttml_comm *comm, int code) { comm->iface->abort(comm->state, code); }
