/* core/train/ddp.c - the data-parallel gradient reducer (ttml/ddp.h):
 * parameter broadcast, reverse-order buckets, all-reduces started from
 * gradient-ready hooks, wait, average. Uses public headers only.
 *
 * Buckets on the cpu device (host memory) are device tensors: a gradient is
 * packed into its bucket by one "affine" launch (times 1/N on the way), the
 * communicator works on the bucket's bytes in place, and afterwards each
 * parameter's ->grad becomes a view of its slice of the bucket
 * (PyTorch's gradient_as_bucket_view): no copy back (43 MB a step in the
 * nanogpt bench case). Other devices keep host buckets, packed by a read
 * and written back. */
#include <ttml/ttml.h>
#include <ttml/ddp.h>

#include <string.h>

typedef struct ddp_slot {
    ttml_ddp *ddp;
    ttml_tensor *tensor;   /* borrowed from the parameter list */
    ttml_tensor *view;     /* owned: its slice of the bucket tensor (device buckets), else NULL */
    guint bucket;
    size_t offset;         /* elements into the bucket          */
    gboolean ready;
} ddp_slot;

typedef struct ddp_bucket {
    float *data;           /* host bytes: the tensor's (device buckets) or g_new0's */
    ttml_tensor *tensor;   /* owned: the bucket on the cpu device, else NULL */
    size_t numel;
    guint n_slots, n_ready;
    ttml_comm_request *req;
    gboolean started;
    double ready_ms;       /* last gradient in, ms after the step's first */
} ddp_bucket;

struct ttml_ddp {
    ttml_comm *comm;
    ddp_slot *slots;       /* in parameter order */
    guint n_slots;
    ddp_bucket *buckets;   /* bucket 0 holds the last parameters */
    guint n_buckets;
    guint next_start;      /* buckets start in index order on every rank */
    gboolean sync, overlap, in_step;
    float scale;           /* 1 / ranks: applied as each gradient is packed */
    double t_begin;        /* now_ms() at the step's first gradient */
    ttml_ddp_stats stats;
};

static double now_ms(void) { return (double)g_get_monotonic_time() / 1000.0; }

static gboolean broadcast_params(ttml_ddp *d, GError **error)
{
    for (guint i = 0; i < d->n_slots; i++) {
        ttml_tensor *t = d->slots[i].tensor;
        size_t bytes = t->numel * ttml_dtype_size(t->dtype);
        void *host = g_malloc(MAX(bytes, 1));
        gboolean ok = ttml_tensor_read(t, host, error) && ttml_comm_broadcast(d->comm, host, bytes, 0, error) &&
                      ttml_tensor_write(t, host, error);
        g_free(host);
        if (!ok) return FALSE;
    }
    return TRUE;
}

/* Start the buckets that are complete, in index order. */
static gboolean start_ready(ttml_ddp *d, gboolean from_hook, GError **error)
{
    while (d->next_start < d->n_buckets) {
        ddp_bucket *b = &d->buckets[d->next_start];
        if (b->n_ready < b->n_slots) break;
        double t0 = now_ms();
        b->req = ttml_comm_iallreduce(d->comm, b->data, b->numel, TTML_DTYPE_F32, TTML_COMM_SUM, error);
        d->stats.comm_ms += now_ms() - t0;
        if (!b->req) return FALSE;
        b->started = TRUE;
        d->stats.comm_bytes += b->numel * sizeof(float);
        d->stats.n_overlapped += from_hook;
        d->next_start++;
    }
    return TRUE;
}

/* Copy the parameter's gradient (zeros when it has none) into its bucket,
 * times 1/N: the all-reduced bucket is then the average. Scaling the slice
 * just copied (still in cache) spares a pass over every gradient after the
 * wait (43 MB a step in the nanogpt bench case). */
static gboolean pack(ttml_ddp *d, ddp_slot *s, GError **error)
{
    ddp_bucket *b = &d->buckets[s->bucket];
    float *dst = b->data + s->offset;
    ttml_tensor *g = s->tensor->grad;
    if (s->view && g && g->dtype == TTML_DTYPE_F32 && g->device == s->view->device) {
        /* one pass: bucket slice = grad x 1/N */
        ttml_affine_params ap = {d->scale, 0.0f};
        if (!ttml_launch_tensors("affine", &g, 1, &s->view, 1, &ap, sizeof ap, error)) return FALSE;
    } else if (g) {
        if (!ttml_tensor_to_floats(s->tensor->grad, dst, error)) return FALSE;
        /* a local (dst could alias d->scale) and blocks of 8 that -O2 vectorises */
        const float scale = d->scale;
        const size_t n = s->tensor->numel;
        size_t e = 0;
        if (scale != 1.0f) {
            for (; e + 8 <= n; e += 8)
                for (int k = 0; k < 8; k++) dst[e + k] *= scale;
            for (; e < n; e++) dst[e] *= scale;
        }
    } else {
        memset(dst, 0, s->tensor->numel * sizeof(float));
    }
    s->ready = TRUE;
    if (++b->n_ready == b->n_slots) b->ready_ms = now_ms() - d->t_begin;
    return TRUE;
}

static void begin_step(ttml_ddp *d)
{
    if (d->in_step) return;
    d->in_step = TRUE;
    d->t_begin = now_ms();
    d->next_start = 0;
    d->stats.comm_ms = d->stats.wait_ms = 0;
    d->stats.comm_bytes = 0;
    d->stats.n_overlapped = 0;
    for (guint i = 0; i < d->n_slots; i++) d->slots[i].ready = FALSE;
    for (guint k = 0; k < d->n_buckets; k++) {
        d->buckets[k].n_ready = 0;
        d->buckets[k].started = FALSE;
        d->buckets[k].req = NULL;
    }
}

static gboolean on_grad_ready(ttml_tensor *t, gpointer user_data, GError **error)
{
    ddp_slot *s = user_data;
    ttml_ddp *d = s->ddp;
    if (!d->sync) return TRUE;
    begin_step(d);
    if (s->ready) return TRUE;
    if (!pack(d, s, error)) return FALSE;
    if (!d->overlap) return TRUE;
    if (!start_ready(d, TRUE, error)) {
        g_prefix_error(error, "DDP (bucket %u, from backward): ", s->bucket);
        return FALSE;
    }
    /* MPI progresses started collectives only inside MPI calls */
    for (guint k = 0; k < d->next_start; k++) {
        gboolean done = FALSE;
        if (d->buckets[k].req && !ttml_comm_test(d->buckets[k].req, &done, error)) return FALSE;
    }
    return TRUE;
}

/* Device buckets when every parameter is f32 on one cpu device whose
 * buffers are host memory (a bucket's bytes go to the communicator). */
static gboolean host_device(const ttml_ddp *d)
{
    if (!d->n_slots) return FALSE;
    ttml_device *dev = d->slots[0].tensor->device;
    const char *driver = ttml_device_driver_name(dev);
    if (!driver || strcmp(driver, "cpu") != 0) return FALSE;
    for (guint i = 0; i < d->n_slots; i++) {
        const ttml_tensor *t = d->slots[i].tensor;
        if (t->device != dev || t->dtype != TTML_DTYPE_F32 || !t->buf->data) return FALSE;
    }
    return TRUE;
}

/* Bucket k's memory: a cpu tensor and a view per slot, else host memory. */
static gboolean bucket_alloc(ttml_ddp *d, guint k, gboolean on_device, GError **error)
{
    ddp_bucket *b = &d->buckets[k];
    int64_t n = (int64_t)MAX(b->numel, 1);
    if (on_device && (b->tensor = ttml_tensor_zeros(d->slots[0].tensor->device, 1, &n, TTML_DTYPE_F32, error))) {
        b->data = (float *)(void *)((char *)b->tensor->buf->data + b->tensor->offset);
        for (guint i = 0; i < d->n_slots; i++) {
            ddp_slot *s = &d->slots[i];
            if (s->bucket == k &&
                !(s->view = ttml_tensor_view_at(b->tensor, s->offset, s->tensor->ndim, s->tensor->shape, error)))
                return FALSE;
        }
        return TRUE;
    }
    if (on_device) return FALSE;
    b->data = g_new0(float, (size_t)n);
    return TRUE;
}

static gboolean build_buckets(ttml_ddp *d, double cap_mb, GError **error)
{
    size_t cap = (size_t)(cap_mb * 1024.0 * 1024.0 / sizeof(float));
    GArray *buckets = g_array_new(FALSE, TRUE, sizeof(ddp_bucket));
    ddp_bucket cur = {0};
    for (guint j = d->n_slots; j-- > 0;) {
        ddp_slot *s = &d->slots[j];
        if (cur.n_slots && cur.numel + s->tensor->numel > cap) {
            g_array_append_val(buckets, cur);
            memset(&cur, 0, sizeof cur);
        }
        s->bucket = buckets->len;
        s->offset = cur.numel;
        cur.numel += s->tensor->numel;
        cur.n_slots++;
    }
    if (cur.n_slots) g_array_append_val(buckets, cur);
    d->n_buckets = buckets->len;
    d->buckets = (ddp_bucket *)g_array_free(buckets, FALSE);
    d->stats.n_buckets = d->n_buckets;
    gboolean on_device = host_device(d);
    for (guint k = 0; k < d->n_buckets; k++) {
        if (!bucket_alloc(d, k, on_device, error)) return FALSE;
        d->stats.bucket_bytes_max = MAX(d->stats.bucket_bytes_max, d->buckets[k].numel * sizeof(float));
    }
    return TRUE;
}

ttml_ddp *ttml_ddp_new(ttml_comm *comm, GPtrArray *params, double bucket_cap_mb, GError **error)
{
    ttml_ddp *d = g_new0(ttml_ddp, 1);
    d->comm = comm;
    d->sync = d->overlap = TRUE;
    d->scale = 1.0f / (float)ttml_comm_size(comm);
    d->n_slots = params->len;
    d->slots = g_new0(ddp_slot, MAX(params->len, 1));
    for (guint i = 0; i < params->len; i++) {
        const ttml_param *p = g_ptr_array_index(params, i);
        d->slots[i] = (ddp_slot){d, p->tensor, NULL, 0, 0, FALSE};
    }
    if (!build_buckets(d, bucket_cap_mb > 0 ? bucket_cap_mb : TTML_DDP_BUCKET_CAP_MB_DEFAULT, error)) {
        g_prefix_error(error, "DDP: allocating the gradient buckets: ");
        ttml_ddp_free(d);
        return NULL;
    }
    if (!broadcast_params(d, error)) {
        g_prefix_error(error, "DDP: broadcasting the parameters from rank 0: ");
        ttml_ddp_free(d);
        return NULL;
    }
    for (guint i = 0; i < d->n_slots; i++) ttml_set_grad_ready_hook(d->slots[i].tensor, on_grad_ready, &d->slots[i]);
    return d;
}

void ttml_ddp_free(ttml_ddp *d)
{
    if (!d) return;
    for (guint i = 0; i < d->n_slots; i++) {
        ttml_set_grad_ready_hook(d->slots[i].tensor, NULL, NULL);
        ttml_tensor_unref(d->slots[i].view);
    }
    for (guint k = 0; k < d->n_buckets; k++) {
        if (d->buckets[k].tensor)
            ttml_tensor_unref(d->buckets[k].tensor);
        else
            g_free(d->buckets[k].data);
    }
    g_free(d->buckets);
    g_free(d->slots);
    g_free(d);
}

void ttml_ddp_set_sync(ttml_ddp *d, gboolean sync) { d->sync = sync; }
void ttml_ddp_set_overlap(ttml_ddp *d, gboolean overlap) { d->overlap = overlap; }

gboolean ttml_ddp_wait(ttml_ddp *d, GError **error)
{
    begin_step(d);
    double t0 = now_ms();
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < d->n_slots; i++)
        if (!d->slots[i].ready) ok = pack(d, &d->slots[i], error);
    if (ok) ok = start_ready(d, FALSE, error);
    double t1 = now_ms();
    for (guint k = 0; k < d->n_buckets; k++) {
        GError **e = ok ? error : NULL;
        if (d->buckets[k].req && !ttml_comm_wait(d->buckets[k].req, e)) ok = FALSE;
        d->buckets[k].req = NULL;
    }
    double t2 = now_ms();
    d->stats.comm_ms += t2 - t0;
    d->stats.wait_ms = t2 - t1;
    d->in_step = FALSE;
    if (!ok) g_prefix_error(error, "DDP gradient all-reduce: ");
    return ok;
}

gboolean ttml_ddp_apply(ttml_ddp *d, GError **error)
{
    for (guint i = 0; i < d->n_slots; i++) {
        ddp_slot *s = &d->slots[i];
        const float *g = d->buckets[s->bucket].data + s->offset; /* the average: packed times 1/N */
        ttml_tensor *t = s->tensor;
        gboolean ok;
        if (s->view) {
            /* the gradient becomes a view of the bucket: no copy; the next
             * step's zero_grad drops it, and a backward that finds it still
             * there adds into a new tensor (it is shared), never into the bucket */
            ttml_tensor_zero_grad(t);
            ok = ttml_tensor_accumulate_grad(t, s->view, error);
        } else if (t->grad && t->grad->dtype == TTML_DTYPE_F32) {
            ok = ttml_tensor_write(t->grad, g, error);
        } else {
            ttml_tensor *avg = ttml_tensor_from_floats(t->device, t->ndim, t->shape, g, error);
            ttml_tensor_zero_grad(t);
            ok = avg && ttml_tensor_accumulate_grad(t, avg, error);
            ttml_tensor_unref(avg);
        }
        if (!ok) return FALSE;
    }
    return TRUE;
}

gboolean ttml_ddp_finish(ttml_ddp *d, GError **error)
{
    return ttml_ddp_wait(d, error) && ttml_ddp_apply(d, error);
}

ttml_ddp_stats ttml_ddp_get_stats(const ttml_ddp *d) { return d->stats; }

gboolean ttml_ddp_bucket_info(const ttml_ddp *d, guint k, guint64 *bytes, double *ready_ms)
{
    if (!d || k >= d->n_buckets) return FALSE;
    if (bytes) *bytes = d->buckets[k].numel * sizeof(float);
    if (ready_ms) *ready_ms = d->buckets[k].ready_ms;
    return TRUE;
}
