/* ttml/distributed.h - distributed set-up for the training application
 * (TT-Train's device_config / multihost_config keys): the settings, the
 * world, the global batch split and the start-up consistency check. The
 * training loop uses these with ttml/ddp.h.
 *
 * Keys (all optional):
 *   device_config:
 *     enable_ddp: false        one model replica per rank (TT-Train)
 *     enable_tp: false         tensor parallelism over mesh_shape[1] ranks
 *     mesh_shape: [1, 1]       TT-Train's [dp, tp]: one device per rank;
 *                              tp > 1 needs enable_tp, dp > 1 enable_ddp;
 *                              the job has dp * tp ranks (under mpirun dp 1
 *                              = whatever the world leaves); on a simulated
 *                              mesh board (device ttsim:n300: dp x tp = 2;
 *                              ttsim:t3k: dp x tp = 8, e.g. [2, 4]) one rank
 *                              thread per chip in one process
 *     comm: mpi | local        the communicator backend (ttml); default mpi
 *                              when launched by mpirun, else a one-rank world;
 *                              local with mesh_shape of dp x tp > 1 ranks (not
 *                              under mpirun): dp x tp rank threads in this
 *                              process, each with its own `device` (at most
 *                              TTML_DIST_LOCAL_MAX_RANKS)
 *     comm_timeout_s: 300      a collective waiting longer fails naming the
 *                              rank (fail-stop; resume from the checkpoint)
 *     bucket_cap_mb: 25        DDP bucket size
 *     ddp_overlap: true        start each bucket's all-reduce during backward
 *                              (false: all after backward; to measure the
 *                              communication that overlap hides)
 *   multihost_config:
 *     enabled: false           TT-Train's multi-host switch (needs mpirun)
 *     num_workers: 0           0 = whatever mpirun started; else must match
 *     socket_type: mpi         the only transport (never a home-made one)
 *     pipeline_parallel_config: pipeline stages (read by the training loop,
 *                              core/train/pipeline.h; README "Pipeline
 *                              parallelism")
 * Errors: TTML_ERROR_CONFIG with file:line:col for bad values. */
#ifndef TTML_DISTRIBUTED_H
#define TTML_DISTRIBUTED_H

#include <ttml/comm.h>
#include <ttml/config.h>

G_BEGIN_DECLS

/* The most rank threads a comm: local mesh runs in one process. */
#define TTML_DIST_LOCAL_MAX_RANKS 64

typedef struct ttml_dist_settings {
    gboolean enable_ddp;
    char comm[16];            /* "mpi", "local" or "" (choose)   */
    double comm_timeout_s;
    double bucket_cap_mb;
    gint64 mesh_rows, mesh_cols;
    gboolean multihost;
    gint64 num_workers;
    gboolean ddp_overlap;     /* FALSE: buckets start after backward */
    gboolean enable_tp;       /* tensor parallelism over mesh_cols ranks */
} ttml_dist_settings;

/* Read the keys above from the root of a training config (marks them used). */
TTML_API gboolean ttml_dist_settings_read(ttml_config *root, ttml_dist_settings *out, GError **error);
/* The chips of a simulated mesh board named by a device spec: "ttsim:n300"
 * (2) or "ttsim:t3k" (2 x 4 = 8), options after a comma allowed; 0 for any
 * other spec. *chip_spec (g_free; may be NULL) gets one chip's spec,
 * "ttsim:wormhole_b0" plus the options. */
TTML_API int ttml_dist_mesh_board(const char *device, char **chip_spec);
/* TRUE when this process was started by mpirun / mpiexec (Open MPI or PMIx
 * environment variables). */
TTML_API gboolean ttml_dist_launched_by_mpirun(void);
/* This process's rank and the job's size from the launcher's environment
 * (OMPI_COMM_WORLD_RANK / _SIZE, PMI_RANK / PMI_SIZE); 0 and 1 when not
 * launched by mpirun. Needs no communicator (also after it is closed). */
TTML_API int ttml_dist_launch_rank(int *size);
/* The per-rank name of an output file (metrics, trace, profile CSV,
 * report): rank 0 (and a one-rank job) keeps `path`; rank r > 0 of a job of
 * several ranks writes "STEM.rank<r>.EXT" beside it (out/m.jsonl ->
 * out/m.rank1.jsonl; no extension: PATH.rank<r>). NULL stays NULL; g_free. */
TTML_API char *ttml_dist_rank_path(const char *path);
/* The world for these settings: the mpirun job through "mpi" when launched
 * by mpirun (or comm: mpi), else a one-rank world of the local backend, so
 * enable_ddp in one process trains exactly as without it. The caller owns
 * *world (ttml_comm_free). Checks num_workers against the world size. */
TTML_API gboolean ttml_dist_world_open(const ttml_dist_settings *s, ttml_comm **world, GError **error);
/* The per-rank batch: global / n, or an error naming both numbers. */
TTML_API gboolean ttml_dist_local_batch(gint64 global_batch, int n_ranks, gint64 *local_batch, GError **error);
/* Collective. keys[i] = values[i] are the effective settings (the same keys,
 * in the same order, on every rank); the plugin set (name and version of
 * every loaded plugin) is compared too, as key "plugins". On a mismatch
 * every rank fails with the same error naming the lowest differing rank and
 * the first differing key. */
TTML_API gboolean ttml_dist_check_consistent(ttml_comm *comm, const char *const *keys, const char *const *values,
                                    int n, GError **error);

G_END_DECLS

#endif
