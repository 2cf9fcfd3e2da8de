/* core/train/train_ddp.c - data parallelism for the LM loop: the world
 * (distributed.c), the DDP reducer (ddp.c) over the model's parameters and
 * the per-step collectives the loop needs (the mean loss over ranks, the
 * barrier before rank 0 writes a checkpoint). With pipeline parallelism
 * (pipeline.h) the world is split into data-parallel and pipeline groups;
 * DDP then runs over the data-parallel group (the replicas of one stage). */
#include "train_app.h"
#include "pipeline.h"

#include <ttml/ddp.h>
#include <ttml/distributed.h>

struct ttml_train_ddp {
    ttml_dist_settings settings;
    ttml_pp_settings pp;
    ttml_comm *world;
    ttml_comm *dp;        /* the data-parallel group: world without PP (borrowed), else owned */
    ttml_comm *pp_group;  /* the pipeline group (owned; NULL without PP)                      */
    ttml_ddp *reducer;
};

/* The groups of dp x pp (pipeline_parallel_config), else dp = the world. */
static gboolean open_groups(ttml_train_ddp *d, GError **error)
{
    if (!d->pp.enabled) {
        d->dp = d->world;
        return TRUE;
    }
    return ttml_pp_groups(d->world, d->pp.stages, &d->dp, &d->pp_group, error);
}

gboolean ttml_train_ddp_open(ttml_config *root, gint64 global_batch, ttml_train_ddp **out, gint64 *local_batch,
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
    if (!st.enable_ddp && !st.multihost) return TRUE;
    ttml_train_ddp *d = g_new0(ttml_train_ddp, 1);
    d->settings = st;
    d->pp = pp;
    if (!ttml_dist_world_open(&st, &d->world, error) || !open_groups(d, error) ||
        !ttml_dist_local_batch(global_batch, ttml_comm_size(d->dp), local_batch, error)) {
        ttml_train_ddp_free(d);
        return FALSE;
    }
    char batch[32], timeout[32], cap[32];
    g_snprintf(batch, sizeof batch, "%" G_GINT64_FORMAT, global_batch);
    g_ascii_dtostr(timeout, sizeof timeout, st.comm_timeout_s);
    g_ascii_dtostr(cap, sizeof cap, st.bucket_cap_mb);
    const char *keys[] = {"training_config.batch_size", "device_config.comm", "device_config.comm_timeout_s",
                          "device_config.bucket_cap_mb"};
    const char *values[] = {batch, ttml_comm_backend(d->world), timeout, cap};
    if (!ttml_dist_check_consistent(d->world, keys, values, (int)G_N_ELEMENTS(keys), error)) {
        ttml_train_ddp_free(d);
        return FALSE;
    }
    *out = d;
    return TRUE;
}

gboolean ttml_train_ddp_attach(ttml_train_ddp *d, GPtrArray *params, GError **error)
{
    d->reducer = ttml_ddp_new(d->dp, params, d->settings.bucket_cap_mb, error);
    return d->reducer != NULL;
}

void ttml_train_ddp_free(ttml_train_ddp *d)
{
    if (!d) return;
    ttml_ddp_free(d->reducer);
    if (d->dp && d->dp != d->world) ttml_comm_free(d->dp);
    if (d->pp_group) ttml_comm_free(d->pp_group);
    if (d->world) ttml_comm_free(d->world);
    g_free(d);
}

int ttml_train_ddp_rank(const ttml_train_ddp *d)
{
    return d ? ttml_comm_rank(d->dp) : 0;
}

int ttml_train_ddp_size(const ttml_train_ddp *d)
{
    return d ? ttml_comm_size(d->dp) : 1;
}

int ttml_train_ddp_world_rank(const ttml_train_ddp *d)
{
    return d ? ttml_comm_rank(d->world) : 0;
}

ttml_comm *ttml_train_ddp_pipeline(ttml_train_ddp *d, ttml_pp_settings *settings)
{
    if (!d || !d->pp.enabled) return NULL;
    *settings = d->pp;
    return d->pp_group;
}

void ttml_train_ddp_set_sync(ttml_train_ddp *d, gboolean sync)
{
    if (d) ttml_ddp_set_sync(d->reducer, sync);
}

gboolean ttml_train_ddp_finish(ttml_train_ddp *d, GError **error)
{
    return !d || ttml_ddp_finish(d->reducer, error);
}

gboolean ttml_train_ddp_mean(ttml_train_ddp *d, double *v, GError **error)
{
    if (!d) return TRUE;
    float x = (float)*v; /* the communicator reduces f32 */
    if (!ttml_comm_allreduce(d->dp, &x, 1, TTML_DTYPE_F32, TTML_COMM_SUM, error)) return FALSE;
    *v = (double)x / (double)ttml_comm_size(d->dp);
    return TRUE;
}

gboolean ttml_train_ddp_barrier(ttml_train_ddp *d, GError **error)
{
    return !d || ttml_comm_barrier(d->world, error);
}

void ttml_train_ddp_comm_stats(const ttml_train_ddp *d, double *comm_ms, guint64 *comm_bytes)
{
    ttml_ddp_stats st = ttml_ddp_get_stats(d->reducer);
    *comm_ms = st.comm_ms;
    *comm_bytes = st.comm_bytes;
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
    ok = ok && ttml_dist_check_consistent(d->dp, keys, values, 1, error);
    g_checksum_free(sum);
    if (!ok) g_prefix_error(error, "DDP: the replicas diverged: ");
    return ok;
}
