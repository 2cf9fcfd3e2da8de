/* core/train/train_ddp.c - data, tensor and pipeline parallelism for the LM
 * loop: the world (distributed.c) and its rank layout (parallel.c: TP groups
 * of mesh_shape[1] ranks inside DP replicas, inside pipeline stages), the DDP
 * reducer (ddp.c) over the model's parameters within a DP group (the
 * replicas of one shard / stage), the TP group models are built for, the
 * pipeline group (pipeline.h), and the per-step collectives the loop needs
 * (the loss, the mean loss over replicas, the barrier before checkpoints). */
#include "train_app.h"
#include "pipeline.h"

#include <ttml/ddp.h>
#include <ttml/distributed.h>
#include <ttml/parallel.h>

#include <signal.h>
#include <string.h>

struct ttml_train_ddp {
    ttml_dist_settings settings;
    ttml_pp_settings pp;
    ttml_comm *world;
    gboolean owns_world;   /* FALSE: a mesh rank's, borrowed */
    ttml_parallel *layout;
    ttml_ddp *reducer;
    gint64 fault_step;         /* TTML_TEST_DDP_FAULT: after this step ... */
    gboolean fault_hang;       /* ... hang (else SIGKILL itself)           */
};

/* TTML_TEST_DDP_FAULT=RANK:STEP:kill|hang (tests only): this rank kills
 * itself or hangs after completing STEP. */
static void read_fault(ttml_train_ddp *d)
{
    const char *v = g_getenv("TTML_TEST_DDP_FAULT");
    char **f = v ? g_strsplit(v, ":", 3) : NULL;
    if (f && g_strv_length(f) == 3 && g_ascii_strtoll(f[0], NULL, 10) == ttml_comm_rank(d->world)) {
        d->fault_step = g_ascii_strtoll(f[1], NULL, 10);
        d->fault_hang = strcmp(f[2], "hang") == 0;
    }
    g_strfreev(f);
}

/* The layout for the settings: tp = mesh_shape[1] with enable_tp; pp = the
 * pipeline's stages; dp = the rest of the world, which must match mesh_shape[0] when that is > 1,
 * and be 1 unless DDP is on. */
static gboolean open_layout(ttml_train_ddp *d, GError **error)
{
    const ttml_dist_settings *st = &d->settings;
    int n = ttml_comm_size(d->world), tp = st->enable_tp ? (int)st->mesh_cols : 1;
    int pp = d->pp.enabled ? d->pp.stages : 1;
    if (!(d->layout = ttml_parallel_new(d->world, tp, pp, error))) return FALSE;
    int dp = d->layout->dp;
    if ((st->mesh_rows > 1 && st->mesh_rows != dp) || (dp > 1 && !st->enable_ddp && !st->multihost)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%d rank(s) with tensor-parallel groups of %d and %d pipeline stage(s) make %d "
                    "data-parallel replica(s), but device_config.mesh_shape is [%" G_GINT64_FORMAT ", %"
                    G_GINT64_FORMAT "]%s; start the job with mpirun -np %" G_GINT64_FORMAT " or change mesh_shape",
                    n, tp, pp, dp, st->mesh_rows, st->mesh_cols, dp > 1 && !st->enable_ddp ? " without enable_ddp" : "",
                    MAX(st->mesh_rows, (gint64)1) * tp * pp);
        return FALSE;
    }
    if (tp > 1) ttml_tp_set_group(d->layout->tp_comm);
    return TRUE;
}

gboolean ttml_train_ddp_open(ttml_config *root, gint64 global_batch, ttml_comm *world, const char *const *run_keys,
                             const char *const *run_values, int n_run, ttml_train_ddp **out, gint64 *local_batch,
                             GError **error)
{
    ttml_dist_settings st;
    ttml_pp_settings pp;
    *out = NULL;
    *local_batch = global_batch;
    if (!ttml_dist_settings_read(root, &st, error) || !ttml_pp_settings_read(root, &pp, error)) return FALSE;
    if (pp.enabled && !st.multihost) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: multihost_config.pipeline_parallel_config needs multihost_config.enabled: true (and "
                    "mpirun -np <stages x replicas>)", ttml_config_file(root));
        return FALSE;
    }
    if (!st.enable_ddp && !st.multihost && !st.enable_tp && !world) return TRUE;
    ttml_train_ddp *d = g_new0(ttml_train_ddp, 1);
    d->settings = st;
    d->pp = pp;
    d->world = world;
    d->owns_world = !world;
    if ((!world && !ttml_dist_world_open(&st, &d->world, error)) || !open_layout(d, error) ||
        !ttml_dist_local_batch(global_batch, d->layout->dp, local_batch, error)) {
        ttml_train_ddp_free(d);
        return FALSE;
    }
    char batch[32], timeout[32], cap[40], layout[64];
    g_snprintf(batch, sizeof batch, "%" G_GINT64_FORMAT, global_batch);
    g_ascii_dtostr(timeout, sizeof timeout, st.comm_timeout_s);
    g_ascii_dtostr(cap, sizeof cap - 8, st.bucket_cap_mb);
    g_strlcat(cap, st.ddp_overlap ? " overlap" : " serial", sizeof cap);
    g_snprintf(layout, sizeof layout, "tp %d, dp %d, pp %d", d->layout->tp, d->layout->dp, d->layout->pp);
    const char *own_keys[] = {"training_config.batch_size", "device_config.comm", "device_config.comm_timeout_s",
                              "device_config.bucket_cap_mb / ddp_overlap",
                              "device_config.mesh_shape (layout)"};
    const char *own_values[] = {batch, ttml_comm_backend(d->world), timeout, cap, layout};
    int n_own = (int)G_N_ELEMENTS(own_keys), n = n_own + n_run;
    const char **keys = g_new(const char *, n), **values = g_new(const char *, n);
    for (int k = 0; k < n; k++) {
        keys[k] = k < n_own ? own_keys[k] : run_keys[k - n_own];
        values[k] = k < n_own ? own_values[k] : run_values[k - n_own];
    }
    gboolean same = ttml_dist_check_consistent(d->world, keys, values, n, error);
    g_free(keys);
    g_free(values);
    if (!same) {
        ttml_train_ddp_free(d);
        return FALSE;
    }
    read_fault(d);
    /* dropout masks keyed by position in the global batch (ttml/autograd.h) */
    ttml_set_batch_shard((int64_t)d->layout->dp_rank * *local_batch, global_batch);
    *out = d;
    return TRUE;
}

gboolean ttml_train_ddp_attach(ttml_train_ddp *d, GPtrArray *params, GError **error)
{
    if (!d->settings.enable_ddp && !d->settings.multihost) return TRUE; /* TP only: no replicas */
    d->reducer = ttml_ddp_new(d->layout->dp_comm, params, d->settings.bucket_cap_mb, error);
    if (d->reducer) ttml_ddp_set_overlap(d->reducer, d->settings.ddp_overlap);
    return d->reducer != NULL;
}

void ttml_train_ddp_free(ttml_train_ddp *d)
{
    if (!d) return;
    ttml_set_batch_shard(0, 0);
    ttml_ddp_free(d->reducer);
    if (d->layout && d->layout->tp > 1) ttml_tp_set_group(NULL);
    ttml_parallel_free(d->layout);
    if (d->world && d->owns_world) ttml_comm_free(d->world);
    g_free(d);
}

ttml_comm *ttml_train_ddp_tp(const ttml_train_ddp *d)
{
    return d && d->layout->tp > 1 ? d->layout->tp_comm : NULL;
}

int ttml_train_ddp_tp_rank(const ttml_train_ddp *d)
{
    return d ? d->layout->tp_rank : 0;
}

ttml_tensor *ttml_train_ddp_loss(const ttml_train_ddp *d, ttml_tensor *logits, ttml_tensor *targets,
                                 gint64 valid_vocab, GError **error)
{
    ttml_comm *tp = ttml_train_ddp_tp(d);
    return tp ? ttml_vocab_parallel_cross_entropy(logits, targets, tp, valid_vocab, error)
              : ttml_cross_entropy_loss(logits, targets, valid_vocab, TTML_REDUCE_MEAN, error);
}

gboolean ttml_train_ddp_clip(const ttml_train_ddp *d, GPtrArray *params, double max_norm, GError **error)
{
    return ttml_clip_grad_norm_tp(params, max_norm, FALSE, ttml_train_ddp_tp(d), NULL, error);
}

int ttml_train_ddp_rank(const ttml_train_ddp *d)
{
    return d ? d->layout->dp_rank : 0;
}

int ttml_train_ddp_size(const ttml_train_ddp *d)
{
    return d ? d->layout->dp : 1;
}

int ttml_train_ddp_world_rank(const ttml_train_ddp *d)
{
    return d ? ttml_comm_rank(d->world) : 0;
}

ttml_comm *ttml_train_ddp_pipeline(ttml_train_ddp *d, ttml_pp_settings *settings)
{
    if (!d || !d->pp.enabled) return NULL;
    *settings = d->pp;
    return d->layout->pp_comm;
}

void ttml_train_ddp_set_sync(ttml_train_ddp *d, gboolean sync)
{
    if (d && d->reducer) ttml_ddp_set_sync(d->reducer, sync);
}

gboolean ttml_train_ddp_finish(ttml_train_ddp *d, GError **error)
{
    return !d || !d->reducer || ttml_ddp_finish(d->reducer, error);
}

gboolean ttml_train_ddp_mean(ttml_train_ddp *d, double *v, gboolean *stop, GError **error)
{
    if (!d) return TRUE;
    if (!d) return TRUE;
    /* the loss: the mean over the replicas (a TP group's or pipeline's ranks
     * hold one loss); a stop request (signal) must reach every rank */
    ttml_comm *dp = d->layout->dp_comm;
    gboolean whole = ttml_comm_size(dp) == ttml_comm_size(d->world);
    float x[2] = {(float)*v, stop && *stop ? 1.0f : 0.0f}; /* the communicator reduces f32 */
    if (!ttml_comm_allreduce(dp, x, stop && whole ? 2 : 1, TTML_DTYPE_F32, TTML_COMM_SUM, error)) return FALSE;
    *v = (double)x[0] / (double)ttml_comm_size(dp);
    if (stop && !whole) {
        x[1] = *stop ? 1.0f : 0.0f;
        if (!ttml_comm_allreduce(d->world, &x[1], 1, TTML_DTYPE_F32, TTML_COMM_SUM, error)) return FALSE;
    }
    if (stop) *stop = x[1] > 0.0f;
    return TRUE;
}

gboolean ttml_train_ddp_barrier(ttml_train_ddp *d, GError **error)
{
    return !d || ttml_comm_barrier(d->world, error);
}

gboolean ttml_train_ddp_agree(ttml_train_ddp *d, gboolean *ok, GError **error)
{
    if (!d) return TRUE;
    float bad = *ok ? 0.0f : 1.0f; /* the communicator reduces f32 */
    if (!ttml_comm_allreduce(d->world, &bad, 1, TTML_DTYPE_F32, TTML_COMM_SUM, error)) return FALSE;
    *ok = bad == 0.0f;
    return TRUE;
}

void ttml_train_ddp_shard_layout(ttml_train_ddp *d, ttml_shard_layout *out)
{
    memset(out, 0, sizeof *out);
    out->tp = out->dp = out->pp = 1;
    if (!d) return;
    out->tp = d->layout->tp;
    out->tp_rank = d->layout->tp_rank;
    out->dp = d->layout->dp;
    if (d->pp.enabled) {
        out->pp = d->pp.stages;
        out->stage = d->layout->pp_rank;
        out->blocks = d->pp.blocks;
    }
}

void ttml_train_ddp_metrics(const ttml_train_ddp *d, double backward_ms, GString *line)
{
    if (!d->reducer) return; /* tensor parallel only: no replicas */
    ttml_ddp_stats c = ttml_ddp_get_stats(d->reducer);
    char num[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append_printf(line, ",\"comm_ms\":%s", g_ascii_formatd(num, sizeof num, "%.3f", c.comm_ms));
    g_string_append_printf(line, ",\"comm_wait_ms\":%s", g_ascii_formatd(num, sizeof num, "%.3f", c.wait_ms));
    g_string_append_printf(line, ",\"backward_ms\":%s", g_ascii_formatd(num, sizeof num, "%.3f", backward_ms));
    g_string_append_printf(line, ",\"comm_bytes\":%" G_GUINT64_FORMAT ",\"buckets_overlapped\":%u", c.comm_bytes,
                           c.n_overlapped);
    GString *ready = g_string_new(NULL);
    g_string_append(line, ",\"bucket_bytes\":[");
    guint64 bytes;
    double ms;
    for (guint k = 0; ttml_ddp_bucket_info(d->reducer, k, &bytes, &ms); k++) {
        g_string_append_printf(line, "%s%" G_GUINT64_FORMAT, k ? "," : "", bytes);
        g_string_append_printf(ready, "%s%s", k ? "," : "", g_ascii_formatd(num, sizeof num, "%.3f", ms));
    }
    g_string_append_printf(line, "],\"bucket_ready_ms\":[%s]", ready->str);
    g_string_free(ready, TRUE);
}

gboolean ttml_train_ddp_check_params(ttml_train_ddp *d, GPtrArray *params, GError **error)
{
    if (!d) return TRUE;
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    gboolean ok = TRUE;
    for (guint i = 0; i < params->len && ok; i++) {
        const ttml_param *p = g_ptr_array_index(params, i);
        float *v = g_new(float, MAX(p->tensor->numel, (size_t)1));
        ok = ttml_tensor_read(p->tensor, v, error);
        if (ok) g_checksum_update(sum, (const guchar *)v, p->tensor->numel * sizeof(float));
        g_free(v);
    }
    const char *keys[] = {"parameters (sha256)"};
    const char *values[] = {g_checksum_get_string(sum)};
    /* the replicas of each shard: the ranks of a DP group */
    ok = ok && ttml_dist_check_consistent(d->layout->dp_comm, keys, values, 1, error);
    g_checksum_free(sum);
    if (!ok) g_prefix_error(error, "DDP: the replicas diverged: ");
    return ok;
}

void ttml_train_ddp_fail_stop(ttml_train_ddp *d, const GError *error)
{
    if (!d || !d->owns_world || ttml_comm_size(d->world) < 2 || !error ||
        g_error_matches(error, TTML_ERROR, TTML_ERROR_INTERRUPTED))
        return;
    fprintf(stderr, "ttml-run: rank %d/%d: %s\nttml-run: rank %d ends the job (fail-stop; --resume continues from "
            "the last checkpoint)\n", ttml_comm_rank(d->world), ttml_comm_size(d->world), error->message,
            ttml_comm_rank(d->world));
    fflush(stderr);
    fflush(stdout);
    ttml_comm_abort(d->world, 1);
}

void ttml_train_ddp_test_fault(const ttml_train_ddp *d, gint64 step)
{
    if (!d || d->fault_step <= 0 || step != d->fault_step) return;
    fprintf(stderr, "TTML_TEST_DDP_FAULT: rank %d %s after step %" G_GINT64_FORMAT "\n", ttml_comm_rank(d->world),
            d->fault_hang ? "hangs" : "kills itself", step);
    fflush(stderr);
    if (!d->fault_hang) raise(SIGKILL);
    for (;;) g_usleep(G_USEC_PER_SEC);
}
