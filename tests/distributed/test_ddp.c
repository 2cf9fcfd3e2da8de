/* tests/distributed/test_ddp.c - the autograd gradient-ready hook, and the
 * DDP reducer on the local communicator (ranks as threads) against a
 * single-rank computation of the same global batch: parameters broadcast
 * from rank 0, reverse-order buckets started from backward, averaging,
 * global-norm clipping, one all-reduce per optimizer step with gradient
 * accumulation, and the comm counters.
 *
 * The rank threads run concurrently without a lock: each has its own
 * autograd graph, gradient-ready hooks and RNG (the per-thread context) and
 * frees them with ttml_context_thread_end(). */
#include "test_util.h"

#include <ttml/ddp.h>
#include <ttml/distributed.h>

#include <math.h>
#include <string.h>

/* ---- gradient-ready hook ---- */

typedef struct { int order[4]; int n; float seen_grad[4][4]; } hook_log;
static ttml_tensor *hooked[3];

static gboolean log_hook(ttml_tensor *t, gpointer user_data, GError **error)
{
    hook_log *log = user_data;
    int id = t == hooked[0] ? 0 : t == hooked[1] ? 1 : 2;
    if (log->n < 4) {
        log->order[log->n] = id;
        if (t->grad) ttml_tensor_to_floats(t->grad, log->seen_grad[log->n], NULL);
        log->n++;
    }
    return TRUE;
}

static gboolean failing_hook(ttml_tensor *t, gpointer user_data, GError **error)
{
    g_set_error(error, TTML_ERROR, TTML_ERROR_FAILED, "hook says no");
    return FALSE;
}

static void test_grad_ready_hook(void)
{
    GError *err = NULL;
    int64_t s22[2] = {2, 2};
    float xv[4] = {1, 2, 3, 4}, w1v[4] = {0.5f, -1, 2, 1}, w2v[4] = {1, 0, -1, 3};
    ttml_tensor *x = ttml_tensor_from_floats(NULL, 2, s22, xv, &err);
    ttml_tensor *w1 = ttml_tensor_from_floats(NULL, 2, s22, w1v, &err);
    ttml_tensor *w2 = ttml_tensor_from_floats(NULL, 2, s22, w2v, &err);
    ttml_tensor *unused = ttml_tensor_from_floats(NULL, 2, s22, w2v, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_set_requires_grad(w1, TRUE);
    ttml_tensor_set_requires_grad(w2, TRUE);
    ttml_tensor_set_requires_grad(unused, TRUE);
    hooked[0] = w1, hooked[1] = w2, hooked[2] = unused;
    hook_log log = {{0}, 0, {{0}}};
    for (int i = 0; i < 3; i++) ttml_set_grad_ready_hook(hooked[i], log_hook, &log);
    /* w1 is used twice (first and last op): its gradient is final only after
     * the first node ran; w2 (used in the middle) is final before that */
    ttml_tensor *h = ttml_matmul(x, w1, FALSE, FALSE, &err);
    ttml_tensor *h2 = ttml_matmul(h, w2, FALSE, FALSE, &err);
    ttml_tensor *h3 = ttml_mul(h2, w1, &err);
    ttml_tensor *loss = ttml_sum(h3, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(log.n, 2); /* the unused tensor has no gradient: not reported */
    CU_ASSERT_EQUAL(log.order[0], 1);
    CU_ASSERT_EQUAL(log.order[1], 0);
    float final_w1[4], final_w2[4];
    ttml_tensor_to_floats(w1->grad, final_w1, &err);
    ttml_tensor_to_floats(w2->grad, final_w2, &err);
    CU_ASSERT_EQUAL(memcmp(log.seen_grad[1], final_w1, sizeof final_w1), 0);
    CU_ASSERT_EQUAL(memcmp(log.seen_grad[0], final_w2, sizeof final_w2), 0);
    /* a failing hook stops the backward with its error */
    ttml_tensor_unref(loss);
    ttml_set_grad_ready_hook(w1, failing_hook, NULL);
    ttml_tensor *h4 = ttml_matmul(x, w1, FALSE, FALSE, &err);
    ttml_tensor *l2 = ttml_sum(h4, &err);
    CU_ASSERT_FALSE(ttml_backward(l2, NULL, FALSE, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_FAILED, "hook says no");
    ttml_reset_graph();
    for (int i = 0; i < 3; i++) ttml_set_grad_ready_hook(hooked[i], NULL, NULL);
    ttml_tensor *tensors[] = {x, w1, w2, unused, h, h2, h3, h4, l2};
    for (size_t i = 0; i < G_N_ELEMENTS(tensors); i++) ttml_tensor_unref(tensors[i]);
}

/* ---- the per-thread context ---- */

typedef struct {
    ttml_device *main_device;
    guint graph_before, graph_after_record, graph_after_end;
    gboolean grad_on_start;
    ttml_rng_state rng_start;
    guint64 draw;
    gboolean device_inherited;
} thread_probe;

static gpointer probe_thread(gpointer data)
{
    thread_probe *p = data;
    GError *err = NULL;
    p->graph_before = ttml_graph_size();
    p->grad_on_start = ttml_grad_enabled();
    p->rng_start = ttml_get_rng_state();
    p->device_inherited = ttml_context_get_device() == p->main_device;
    ttml_set_seed(99);
    p->draw = ttml_rng_u64();
    int64_t s2[1] = {2};
    float v[2] = {1, 2};
    ttml_tensor *w = ttml_tensor_from_floats(NULL, 1, s2, v, &err);
    ttml_tensor_set_requires_grad(w, TRUE);
    ttml_tensor *y = ttml_mul(w, w, &err);
    p->graph_after_record = ttml_graph_size();
    ttml_tensor_unref(y);
    ttml_tensor_unref(w);
    g_clear_error(&err);
    ttml_context_thread_end();
    p->graph_after_end = ttml_graph_size();
    return NULL;
}

/* Graph, gradient mode and RNG are the thread's own; the default device is
 * the process's until the thread sets one. */
static void test_thread_context(void)
{
    GError *err = NULL;
    int64_t s2[1] = {2};
    float v[2] = {3, 4};
    ttml_set_seed(5);
    guint64 main_first = ttml_rng_u64();
    ttml_tensor *w = ttml_tensor_from_floats(NULL, 1, s2, v, &err);
    ttml_tensor_set_requires_grad(w, TRUE);
    ttml_tensor *y = ttml_mul(w, w, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_graph_size(), 1);
    gboolean prev = ttml_set_grad_enabled(FALSE);
    thread_probe p = {ttml_context_get_device(), 0, 0, 0, FALSE, {0, 0}, 0, FALSE};
    GThread *t = g_thread_new("probe", probe_thread, &p);
    g_thread_join(t);
    ttml_set_grad_enabled(prev);
    /* the main thread's graph, mode and generator were not touched */
    CU_ASSERT_EQUAL(ttml_graph_size(), 1);
    CU_ASSERT_EQUAL(p.graph_before, 0);
    CU_ASSERT_EQUAL(p.graph_after_record, 1);
    CU_ASSERT_EQUAL(p.graph_after_end, 0);
    CU_ASSERT_TRUE(p.grad_on_start);
    CU_ASSERT_EQUAL(p.rng_start.seed, 5489u);
    CU_ASSERT_EQUAL(p.rng_start.counter, 0u);
    CU_ASSERT_TRUE(p.device_inherited);
    ttml_rng_state st = ttml_get_rng_state();
    CU_ASSERT_EQUAL(st.seed, 5u);
    CU_ASSERT_EQUAL(st.counter, 1u);
    ttml_set_seed(99);
    CU_ASSERT_EQUAL(ttml_rng_u64(), p.draw); /* the same generator, per thread */
    ttml_set_seed(5);
    CU_ASSERT_EQUAL(ttml_rng_u64(), main_first);
    ttml_reset_graph();
    ttml_tensor_unref(y);
    ttml_tensor_unref(w);
}

/* ---- DDP against one rank ---- */

#define B 6          /* global batch: divisible by 1, 2 and 3 ranks */
#define IN 5
#define HID 7
#define STEPS 3
#define LR 0.1f

static float data_x[B * IN], data_y[B];

typedef struct {
    ttml_comm *comm;     /* NULL: the single-rank reference */
    int accum;           /* micro-steps per optimizer step */
    double cap_mb;
    guint64 seed;
    float params[2 * (IN * HID + HID) + 2];
    size_t n_params;
    ttml_ddp_stats stats;
    gboolean ok;
    char *error;
} run_args;

/* linear(IN -> HID), relu, linear(HID -> 1) */
static ttml_tensor *mlp_forward(ttml_module *m, ttml_tensor *x, GError **error)
{
    ttml_tensor *h = ttml_module_forward(g_ptr_array_index(m->children, 0), x, error);
    ttml_tensor *a = h ? ttml_relu(h, error) : NULL;
    ttml_tensor *y = a ? ttml_module_forward(g_ptr_array_index(m->children, 1), a, error) : NULL;
    ttml_tensor_unref(h);
    ttml_tensor_unref(a);
    return y;
}

static const ttml_module_class mlp_class = {"test_mlp", mlp_forward, NULL};

static ttml_module *make_model(guint64 seed, GError **error)
{
    ttml_set_seed(seed);
    ttml_module *m = ttml_module_new(&mlp_class, NULL);
    ttml_module_add_child(m, "l1", ttml_linear_layer_new(IN, HID, TRUE, error));
    ttml_module_add_child(m, "l2", ttml_linear_layer_new(HID, 1, TRUE, error));
    return m;
}

/* Mean squared error of rows [row0, row0 + n) scaled by `scale`; backward. */
static gboolean micro_step(ttml_module *m, int row0, int n, float scale, GError **error)
{
    int64_t xs[2] = {n, IN}, ys[2] = {n, 1};
    ttml_tensor *x = ttml_tensor_from_floats(NULL, 2, xs, data_x + row0 * IN, error);
    ttml_tensor *y = ttml_tensor_from_floats(NULL, 2, ys, data_y + row0, error);
    ttml_tensor *p = x && y ? ttml_module_forward(m, x, error) : NULL;
    ttml_tensor *l = p ? ttml_mse_loss(p, y, TTML_REDUCE_MEAN, error) : NULL;
    ttml_tensor *ls = l ? ttml_mul_scalar(l, scale, error) : NULL;
    gboolean ok = ls && ttml_backward(ls, NULL, FALSE, error);
    ttml_tensor *all[] = {x, y, p, l, ls};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++) ttml_tensor_unref(all[i]);
    return ok;
}

/* With clipping (global norm 0.25, active here) when `clip`. */
static gboolean sgd_step(GPtrArray *params, gboolean clip, GError **error)
{
    if (clip && !ttml_clip_grad_norm(params, 0.25, FALSE, NULL, error)) return FALSE;
    for (guint i = 0; i < params->len; i++) {
        ttml_tensor *t = ((ttml_param *)g_ptr_array_index(params, i))->tensor;
        float *w = g_new(float, t->numel), *g = g_new(float, t->numel);
        gboolean ok = ttml_tensor_to_floats(t, w, error) && ttml_tensor_to_floats(t->grad, g, error);
        for (size_t e = 0; ok && e < t->numel; e++) w[e] -= LR * g[e];
        ok = ok && ttml_tensor_write(t, w, error);
        ttml_tensor_zero_grad(t);
        g_free(w);
        g_free(g);
        if (!ok) return FALSE;
    }
    return TRUE;
}

static void run_rank_body(run_args *a);

static gpointer run_rank(gpointer data)
{
    run_rank_body(data);
    return NULL;
}

/* A rank thread: its own context, freed at the end. */
static gpointer rank_thread(gpointer data)
{
    run_rank_body(data);
    ttml_context_thread_end();
    return NULL;
}

static void run_rank_body(run_args *a)
{
    GError *err = NULL;
    int n = a->comm ? ttml_comm_size(a->comm) : 1, r = a->comm ? ttml_comm_rank(a->comm) : 0;
    ttml_module *m = make_model(a->seed, &err);
    GPtrArray *params = ttml_module_parameters(m);
    ttml_ddp *ddp = a->comm && !err ? ttml_ddp_new(a->comm, params, a->cap_mb, &err) : NULL;
    int micro_rows = B / a->accum, local = micro_rows / n;
    for (int step = 0; step < STEPS && !err; step++) {
        for (int k = 0; k < a->accum && !err; k++) {
            if (ddp) ttml_ddp_set_sync(ddp, k == a->accum - 1);
            micro_step(m, k * micro_rows + r * local, local, 1.0f / (float)a->accum, &err);
        }
        if (ddp && !err) ttml_ddp_finish(ddp, &err);
        if (!err) sgd_step(params, a->accum > 1, &err);
    }
    a->n_params = 0;
    for (guint i = 0; i < params->len && !err; i++) {
        ttml_tensor *t = ((ttml_param *)g_ptr_array_index(params, i))->tensor;
        ttml_tensor_to_floats(t, a->params + a->n_params, &err);
        a->n_params += t->numel;
    }
    if (ddp) a->stats = ttml_ddp_get_stats(ddp);
    ttml_ddp_free(ddp);
    g_ptr_array_unref(params);
    ttml_module_unref(m);
    a->ok = err == NULL;
    if (err) a->error = g_strdup(err->message);
    g_clear_error(&err);
}

static void fill_data(void)
{
    for (int i = 0; i < B * IN; i++) data_x[i] = sinf((float)i * 0.7f);
    for (int i = 0; i < B; i++) data_y[i] = cosf((float)i);
}

/* One rank's result against the single-rank reference. */
static void check_rank(const run_args *a, const run_args *first, const run_args *ref, int r, int n)
{
    if (!a->ok) fprintf(stderr, "rank %d: %s\n", r, a->error);
    CU_ASSERT_TRUE(a->ok);
    CU_ASSERT_EQUAL(a->n_params, ref->n_params);
    /* identical on every rank, and equal to the single-rank run */
    if (first) CU_ASSERT_EQUAL(memcmp(a->params, first->params, ref->n_params * sizeof(float)), 0);
    double worst = 0;
    for (size_t i = 0; i < ref->n_params; i++)
        worst = MAX(worst, fabs(a->params[i] - ref->params[i]) / MAX(fabs(ref->params[i]), 1e-3));
    if (worst > 1e-5) fprintf(stderr, "rank %d of %d: max relative difference %g\n", r, n, worst);
    CU_ASSERT(worst <= 1e-5);
    /* one all-reduce of every gradient per optimizer step */
    CU_ASSERT_EQUAL(a->stats.comm_bytes, ref->n_params * sizeof(float));
    CU_ASSERT(a->stats.comm_ms >= 0);
}

static void compare_ddp(int n, int accum, double cap_mb)
{
    fill_data();
    run_args ref = {NULL, accum, cap_mb, 11, {0}, 0, {0}, FALSE, NULL};
    run_rank(&ref);
    CU_ASSERT_TRUE_FATAL(ref.ok);
    GError *err = NULL;
    ttml_comm *ranks[3];
    CU_ASSERT_TRUE_FATAL(ttml_comm_local_world(n, ranks, &err));
    run_args args[3];
    GThread *th[3];
    for (int r = 0; r < n; r++) {
        /* every rank starts from other weights: rank 0's must win */
        args[r] = (run_args){ranks[r], accum, cap_mb, r == 0 ? 11 : 100 + (guint64)r, {0}, 0, {0}, FALSE, NULL};
        th[r] = g_thread_new("rank", rank_thread, &args[r]);
    }
    for (int r = 0; r < n; r++) g_thread_join(th[r]);
    for (int r = 0; r < n; r++) {
        check_rank(&args[r], &args[0], &ref, r, n);
        g_free(args[r].error);
        ttml_comm_free(ranks[r]);
    }
    if (cap_mb < 0.001) {
        /* 4 parameters in 4 buckets (each larger than the cap), started from
         * backward in reverse order: the last 3 while backward still ran */
        CU_ASSERT_EQUAL(args[0].stats.n_buckets, 4);
        CU_ASSERT(args[0].stats.n_overlapped >= 3);
    } else {
        CU_ASSERT_EQUAL(args[0].stats.n_buckets, 1);
        CU_ASSERT_EQUAL(args[0].stats.bucket_bytes_max, ref.n_params * sizeof(float));
    }
}

/* ---- gradients as views of the bucket (cpu) ---- */

typedef struct {
    ttml_comm *comm;
    float grads[2 * (IN * HID + HID) + 2];
    size_t n;
    gboolean shared;     /* after the first finish: every ->grad views one bucket */
    char *error;
} view_args;

/* Two backwards of the rank's rows with a finish after each and no
 * zero_grad between: the second adds into the first's averaged gradient,
 * which is the bucket itself (the bucket must not be overwritten under it). */
static gpointer view_rank(gpointer data)
{
    view_args *a = data;
    GError *err = NULL;
    int n = a->comm ? ttml_comm_size(a->comm) : 1, r = a->comm ? ttml_comm_rank(a->comm) : 0;
    ttml_module *m = make_model(11, &err);
    GPtrArray *params = ttml_module_parameters(m);
    ttml_ddp *ddp = a->comm && !err ? ttml_ddp_new(a->comm, params, 25, &err) : NULL;
    for (int pass = 0; pass < 2 && !err; pass++) {
        micro_step(m, r * (B / n), B / n, 1.0f, &err);
        if (ddp && !err) ttml_ddp_finish(ddp, &err);
        if (pass == 0 && !err) {
            const ttml_tensor *g0 = ((ttml_param *)g_ptr_array_index(params, 0))->tensor->grad;
            a->shared = TRUE;
            for (guint i = 0; i < params->len; i++) {
                const ttml_tensor *g = ((ttml_param *)g_ptr_array_index(params, i))->tensor->grad;
                a->shared = a->shared && g && g->buf == g0->buf && g->buf->ref > 1;
            }
        }
    }
    a->n = 0;
    for (guint i = 0; i < params->len && !err; i++) {
        ttml_tensor *t = ((ttml_param *)g_ptr_array_index(params, i))->tensor;
        ttml_tensor_to_floats(t->grad, a->grads + a->n, &err);
        a->n += t->numel;
    }
    ttml_ddp_free(ddp);
    g_ptr_array_unref(params);
    ttml_module_unref(m);
    if (err) a->error = g_strdup(err->message);
    g_clear_error(&err);
    if (a->comm) ttml_context_thread_end();
    return NULL;
}

static void test_ddp_grad_view(void)
{
    fill_data();
    view_args ref = {0};
    view_rank(&ref);
    CU_ASSERT_PTR_NULL_FATAL(ref.error);
    GError *err = NULL;
    ttml_comm *ranks[2];
    CU_ASSERT_TRUE_FATAL(ttml_comm_local_world(2, ranks, &err));
    view_args args[2] = {{ranks[0]}, {ranks[1]}};
    GThread *th[2];
    for (int r = 0; r < 2; r++) th[r] = g_thread_new("rank", view_rank, &args[r]);
    for (int r = 0; r < 2; r++) g_thread_join(th[r]);
    for (int r = 0; r < 2; r++) {
        if (args[r].error) fprintf(stderr, "rank %d: %s\n", r, args[r].error);
        CU_ASSERT_PTR_NULL(args[r].error);
        CU_ASSERT_TRUE(args[r].shared);
        CU_ASSERT_EQUAL(args[r].n, ref.n);
        /* the sum of both passes' gradients, as one rank accumulates them */
        double worst = 0;
        for (size_t i = 0; i < ref.n; i++)
            worst = MAX(worst, fabs(args[r].grads[i] - ref.grads[i]) / MAX(fabs(ref.grads[i]), 1e-3));
        if (worst > 1e-5) fprintf(stderr, "rank %d: max relative difference %g\n", r, worst);
        CU_ASSERT(worst <= 1e-5);
        g_free(args[r].error);
        ttml_comm_free(ranks[r]);
    }
}

static void test_ddp_1_rank(void) { compare_ddp(1, 1, 25); }
static void test_ddp_2_ranks(void) { compare_ddp(2, 1, 25); }
static void test_ddp_3_ranks_small_buckets(void) { compare_ddp(3, 1, 1e-5); }
static void test_ddp_2_ranks_accumulation(void) { compare_ddp(2, 3, 1e-5); }

/* ---- distributed set-up ---- */

static gboolean read_settings(const char *yaml, ttml_dist_settings *s, GError **error)
{
    ttml_config *root = ttml_config_load_string(yaml, "test.yaml", error);
    gboolean ok = root && ttml_dist_settings_read(root, s, error) && ttml_config_check_unused(root, error);
    ttml_config_free(root);
    return ok;
}

static void test_dist_settings(void)
{
    GError *err = NULL;
    ttml_dist_settings s;
    CU_ASSERT_TRUE(read_settings("device_config: {}\n", &s, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_FALSE(s.enable_ddp);
    CU_ASSERT_EQUAL(s.comm_timeout_s, 300.0);
    CU_ASSERT_EQUAL(s.bucket_cap_mb, 25.0);
    CU_ASSERT_TRUE(s.ddp_overlap);
    CU_ASSERT_TRUE(read_settings("device_config: {enable_ddp: true, mesh_shape: [1, 1], comm: local, comm_timeout_s: 5,"
                                 " bucket_cap_mb: 1.5, ddp_overlap: false}\nmultihost_config: {enabled: false, "
                                 "num_workers: 0, socket_type: mpi}\n", &s, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(s.enable_ddp);
    CU_ASSERT_STRING_EQUAL(s.comm, "local");
    CU_ASSERT_EQUAL(s.comm_timeout_s, 5.0);
    CU_ASSERT_EQUAL(s.bucket_cap_mb, 1.5);
    CU_ASSERT_FALSE(s.ddp_overlap);
    CU_ASSERT_FALSE(read_settings("device_config:\n  comm: tcp\n", &s, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "test.yaml:2");
    CU_ASSERT_FALSE(read_settings("device_config: {mesh_shape: [2, 4]}\n", &s, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "set enable_tp: true");
    CU_ASSERT_TRUE(read_settings("device_config: {enable_tp: true, enable_ddp: true, mesh_shape: [2, 4]}\n", &s, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(s.enable_tp);
    CU_ASSERT_EQUAL(s.mesh_rows, 2);
    CU_ASSERT_EQUAL(s.mesh_cols, 4);
    CU_ASSERT_FALSE(read_settings("multihost_config: {socket_type: tcp}\n", &s, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "must be mpi");
    CU_ASSERT_FALSE(read_settings("device_config: {enable_dpp: true}\n", &s, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "enable_dpp");
    /* the batch split names both numbers */
    gint64 local = 0;
    CU_ASSERT_TRUE(ttml_dist_local_batch(12, 3, &local, &err));
    CU_ASSERT_EQUAL(local, 4);
    CU_ASSERT_FALSE(ttml_dist_local_batch(8, 3, &local, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "batch_size 8 (the global batch) cannot be split across 3 ranks");
    /* enable_ddp in one process without mpirun: a one-rank world */
    if (!ttml_dist_launched_by_mpirun()) {
        CU_ASSERT_TRUE(read_settings("device_config: {enable_ddp: true}\n", &s, &err));
        ttml_comm *w = NULL;
        CU_ASSERT_TRUE_FATAL(ttml_dist_world_open(&s, &w, &err));
        CU_ASSERT_EQUAL(ttml_comm_size(w), 1);
        CU_ASSERT_STRING_EQUAL(ttml_comm_backend(w), "local");
        ttml_comm_free(w);
        s.num_workers = 2;
        CU_ASSERT_FALSE(ttml_dist_world_open(&s, &w, &err));
        TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "num_workers is 2 but the job has 1 rank");
    }
}

typedef struct { ttml_comm *comm; const char *batch; gboolean ok; char *message; } check_args;

static gpointer check_thread(gpointer data)
{
    check_args *a = data;
    const char *keys[] = {"training_config.seed", "training_config.batch_size"};
    const char *values[] = {"42", a->batch};
    GError *err = NULL;
    a->ok = ttml_dist_check_consistent(a->comm, keys, values, 2, &err);
    a->message = err ? g_strdup(err->message) : NULL;
    g_clear_error(&err);
    return NULL;
}

/* Every rank stops with the same error naming the differing rank and key. */
static void test_dist_consistency(void)
{
    GError *err = NULL;
    for (int variant = 0; variant < 2; variant++) {
        ttml_comm *ranks[3];
        CU_ASSERT_TRUE_FATAL(ttml_comm_local_world(3, ranks, &err));
        check_args a[3];
        GThread *th[3];
        for (int r = 0; r < 3; r++) {
            a[r] = (check_args){ranks[r], variant == 1 && r == 2 ? "16" : "8", FALSE, NULL};
            th[r] = g_thread_new("rank", check_thread, &a[r]);
        }
        for (int r = 0; r < 3; r++) g_thread_join(th[r]);
        for (int r = 0; r < 3; r++) {
            CU_ASSERT_EQUAL(a[r].ok, variant == 0);
            if (variant == 1) {
                CU_ASSERT_PTR_NOT_NULL_FATAL(a[r].message);
                CU_ASSERT_PTR_NOT_NULL(strstr(a[r].message, "rank 2 runs a different configuration"));
                CU_ASSERT_PTR_NOT_NULL(strstr(a[r].message, "'training_config.batch_size' differs"));
            }
            g_free(a[r].message);
            ttml_comm_free(ranks[r]);
        }
    }
}

/* Under mpirun: this process's rank against the reference it computes itself. */
static void test_ddp_mpi(void)
{
    GError *err = NULL;
    ttml_comm *c = NULL;
    CU_ASSERT_TRUE_FATAL(ttml_comm_world("mpi", 1, NULL, &c, &err));
    int r = ttml_comm_rank(c), n = ttml_comm_size(c);
    fill_data();
    for (int accum = 1; accum <= 2; accum++) {
        if (B % (accum * n)) continue;
        double cap = accum == 1 ? 1e-5 : 25;
        run_args ref = {NULL, accum, cap, 11, {0}, 0, {0}, FALSE, NULL};
        run_rank(&ref);
        run_args mine = {c, accum, cap, r == 0 ? 11 : 100 + (guint64)r, {0}, 0, {0}, FALSE, NULL};
        run_rank(&mine);
        check_rank(&mine, NULL, &ref, r, n);
        /* bit-identical across ranks: the max and the min of every value agree */
        float *mx = g_memdup2(mine.params, mine.n_params * sizeof(float));
        float *mn = g_new(float, mine.n_params);
        for (size_t i = 0; i < mine.n_params; i++) mn[i] = -mine.params[i];
        CU_ASSERT_TRUE(ttml_comm_allreduce(c, mx, mine.n_params, TTML_DTYPE_F32, TTML_COMM_MAX, &err));
        CU_ASSERT_TRUE(ttml_comm_allreduce(c, mn, mine.n_params, TTML_DTYPE_F32, TTML_COMM_MAX, &err));
        TTML_ASSERT_NO_ERROR(err);
        for (size_t i = 0; i < mine.n_params; i++) CU_ASSERT_EQUAL(mx[i], -mn[i]);
        if (accum == 1) CU_ASSERT(mine.stats.n_overlapped >= 3);
        g_free(mx);
        g_free(mn);
        g_free(mine.error);
    }
    ttml_comm_free(c);
}

/* Dropout under data parallelism: the rows [2, 4) of a 4-row batch drawn as
 * rank 1 of 2 (ttml_set_batch_shard(2, 4)) get the mask those rows get when
 * the whole batch is drawn on one rank, from the same RNG state. */
static void test_dropout_batch_shard(void)
{
    GError *err = NULL;
    ttml_device *dev = ttml_context_get_device();
    int64_t shape[2] = {4, 64}, half[2] = {2, 64};
    float ones[256], whole[256], part[128];
    for (int i = 0; i < 256; i++) ones[i] = 1.0f;
    CU_ASSERT_EQUAL(ttml_rng_position_base(2, shape), 0u);
    ttml_set_seed(11);
    ttml_rng_state st = ttml_get_rng_state();
    ttml_tensor *x = ttml_tensor_from_floats(dev, 2, shape, ones, &err);
    ttml_tensor *y = x ? ttml_dropout(x, 0.5f, TRUE, &err) : NULL;
    CU_ASSERT_TRUE(y && ttml_tensor_to_floats(y, whole, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(y);
    ttml_tensor_unref(x);
    ttml_reset_graph();
    ttml_set_batch_shard(2, 4);
    int64_t off = -1, global = -1;
    ttml_get_batch_shard(&off, &global);
    CU_ASSERT_TRUE(off == 2 && global == 4);
    CU_ASSERT_EQUAL(ttml_rng_position_base(2, half), 128u);
    ttml_set_rng_state(st);
    x = ttml_tensor_from_floats(dev, 2, half, ones, &err);
    y = x ? ttml_dropout(x, 0.5f, TRUE, &err) : NULL;
    CU_ASSERT_TRUE(y && ttml_tensor_to_floats(y, part, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(y);
    ttml_tensor_unref(x);
    ttml_reset_graph();
    ttml_set_batch_shard(0, 0);
    int kept = 0;
    for (int i = 0; i < 128; i++) kept += part[i] != 0.0f;
    CU_ASSERT_TRUE(kept > 32 && kept < 96); /* a mask, not all or nothing */
    CU_ASSERT_EQUAL(memcmp(part, whole + 128, sizeof part), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(part, whole, sizeof part), 0); /* not rows [0, 2) */
}

/* Per-rank output names from the launcher's environment. */
static void test_rank_path(void)
{
    char *saved_rank = g_strdup(g_getenv("OMPI_COMM_WORLD_RANK"));
    char *saved_size = g_strdup(g_getenv("OMPI_COMM_WORLD_SIZE"));
    g_unsetenv("OMPI_COMM_WORLD_RANK");
    g_unsetenv("OMPI_COMM_WORLD_SIZE");
    char *p = ttml_dist_rank_path("out/m.jsonl");
    CU_ASSERT_STRING_EQUAL(p, "out/m.jsonl");
    g_free(p);
    CU_ASSERT_PTR_NULL(ttml_dist_rank_path(NULL));
    g_setenv("OMPI_COMM_WORLD_SIZE", "3", TRUE);
    g_setenv("OMPI_COMM_WORLD_RANK", "2", TRUE);
    int n = 0;
    CU_ASSERT_EQUAL(ttml_dist_launch_rank(&n), 2);
    CU_ASSERT_EQUAL(n, 3);
    const char *cases[][2] = {{"out/m.jsonl", "out/m.rank2.jsonl"}, {"t.json", "t.rank2.json"},
                              {"trace", "trace.rank2"}, {"d.x/trace", "d.x/trace.rank2"},
                              {".hidden", ".hidden.rank2"}};
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        p = ttml_dist_rank_path(cases[i][0]);
        CU_ASSERT_STRING_EQUAL(p, cases[i][1]);
        g_free(p);
    }
    g_setenv("OMPI_COMM_WORLD_RANK", "0", TRUE);
    p = ttml_dist_rank_path("t.json");
    CU_ASSERT_STRING_EQUAL(p, "t.json");
    g_free(p);
    if (saved_rank) g_setenv("OMPI_COMM_WORLD_RANK", saved_rank, TRUE); else g_unsetenv("OMPI_COMM_WORLD_RANK");
    if (saved_size) g_setenv("OMPI_COMM_WORLD_SIZE", saved_size, TRUE); else g_unsetenv("OMPI_COMM_WORLD_SIZE");
    g_free(saved_rank);
    g_free(saved_size);
}

int main(int argc, char **argv)
{
    static CU_TestInfo mpi_tests[] = {{"ddp_mpi", test_ddp_mpi}, CU_TEST_INFO_NULL};
    if (argc > 1 && strcmp(argv[1], "--mpi") == 0)
        return ttml_test_run("ddp_mpi", mpi_tests, ttml_test_init_cpu, ttml_test_shutdown);
    static CU_TestInfo tests[] = {
        {"grad_ready_hook", test_grad_ready_hook},
        {"thread_context", test_thread_context},
        {"ddp_1_rank", test_ddp_1_rank},
        {"ddp_2_ranks", test_ddp_2_ranks},
        {"ddp_3_ranks_small_buckets", test_ddp_3_ranks_small_buckets},
        {"ddp_2_ranks_accumulation_clipping", test_ddp_2_ranks_accumulation},
        {"ddp_grad_view", test_ddp_grad_view},
        {"dist_settings", test_dist_settings},
        {"dist_consistency", test_dist_consistency},
        {"dropout_batch_shard", test_dropout_batch_shard},
        {"rank_path", test_rank_path},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("ddp", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
