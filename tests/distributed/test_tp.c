/* tests/distributed/test_tp.c - tensor parallelism against one rank:
 *   one process: shard descriptions (cut and put back, fused q|k|v blocks,
 *   the divisibility error) and the rank layout formula;
 *   --mpi (mpirun -np 2 or 4): the conjugate ops (copy/reduce,
 *   gather/scatter) forward and backward, a
 *   column-parallel -> row-parallel MLP against the unsharded MLP every rank
 *   also computes (values and every gradient), vocab-parallel cross-entropy
 *   against ttml_cross_entropy_loss (loss and gradient, padding columns),
 *   clipping over shards against clipping the unsharded gradients (also
 *   over a TP x PP mesh: tp n/2 x 2 stages), and the
 *   layout's communicators (tp innermost, then dp). */
#include "test_util.h"

#include <ttml/parallel.h>

#include <math.h>

static ttml_tensor *randn(int ndim, const int64_t *shape, float std)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *v = g_new(float, n);
    ttml_rng_fill_normal(v, n, 0.0f, std);
    ttml_tensor *t = ttml_tensor_from_floats(NULL, ndim, shape, v, NULL);
    g_free(v);
    return t;
}

/* sum(a * b), dropping the intermediate (the graph keeps it for backward). */
static ttml_tensor *sum_mul(ttml_tensor *a, ttml_tensor *b)
{
    GError *err = NULL;
    ttml_tensor *m = ttml_mul(a, b, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *s = ttml_sum(m, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(m);
    return s;
}

static float *values(const ttml_tensor *t)
{
    float *v = g_new(float, MAX(t->numel, (size_t)1));
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, v, NULL));
    return v;
}

/* The shard of full (host copy) along dim in groups, for rank r of n. */
static ttml_tensor *shard_of(ttml_tensor *full, int dim, int groups, int n, int r, gboolean grad)
{
    ttml_shard s;
    GError *err = NULL;
    CU_ASSERT_TRUE_FATAL(ttml_shard_init(&s, "t", full->ndim, full->shape, dim, groups, n, r, &err));
    int64_t shape[TTML_MAX_DIMS];
    ttml_shard_shape(&s, shape);
    float *v = values(full), *p = g_new(float, full->numel / (size_t)n);
    ttml_shard_copy(&s, v, p, FALSE);
    ttml_tensor *t = ttml_tensor_from_floats(NULL, full->ndim, shape, p, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_set_shard(t, &s);
    if (grad) ttml_tensor_set_requires_grad(t, TRUE);
    g_free(v);
    g_free(p);
    return t;
}

static void assert_close(const float *a, const float *b, size_t n, double tol, const char *what)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) worst = MAX(worst, fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)b[i])));
    if (worst > tol) printf("\n%s: max difference %.3g > %.3g\n", what, worst, tol);
    CU_ASSERT(worst <= tol);
}

/* Compare t (a shard or whole) with the matching part of the full host array. */
static void assert_shard_close(const ttml_tensor *t, ttml_tensor *full_t, double tol, const char *what)
{
    float *full = values(full_t), *mine = values(t);
    if (t->shard) {
        float *part = g_new(float, t->numel);
        ttml_shard_copy(t->shard, full, part, FALSE);
        assert_close(mine, part, t->numel, tol, what);
        g_free(part);
    } else {
        assert_close(mine, full, t->numel, tol, what);
    }
    g_free(full);
    g_free(mine);
}

/* ---- one process ---- */

static void test_shards(void)
{
    GError *err = NULL;
    /* a [6, 2] fused weight of 3 blocks (q|k|v, 2 rows each) over 2 ranks:
     * rank 1 holds rows 1, 3, 5 */
    float full[12], part[6], back[12] = {0};
    for (int i = 0; i < 12; i++) full[i] = (float)i;
    const int64_t shape[2] = {6, 2};
    ttml_shard s;
    CU_ASSERT_TRUE_FATAL(ttml_shard_init(&s, "qkv", 2, shape, 0, 3, 2, 1, &err));
    int64_t local[2];
    ttml_shard_shape(&s, local);
    CU_ASSERT_EQUAL(local[0], 3);
    CU_ASSERT_EQUAL(local[1], 2);
    ttml_shard_copy(&s, full, part, FALSE);
    const float want[6] = {2, 3, 6, 7, 10, 11};
    CU_ASSERT_EQUAL(memcmp(part, want, sizeof want), 0);
    ttml_shard_copy(&s, back, part, TRUE);
    for (int i = 0; i < 12; i++) CU_ASSERT_EQUAL(back[i], (i / 2) % 2 == 1 ? full[i] : 0.0f);
    /* columns (dim 1) of a [2, 4] over 2: rank 0 holds columns 0, 1 */
    const int64_t s24[2] = {2, 4};
    CU_ASSERT_TRUE(ttml_shard_init(&s, "w", 2, s24, 1, 1, 2, 0, &err));
    float f8[8] = {0, 1, 2, 3, 4, 5, 6, 7}, p4[4];
    ttml_shard_copy(&s, f8, p4, FALSE);
    const float want4[4] = {0, 1, 4, 5};
    CU_ASSERT_EQUAL(memcmp(p4, want4, sizeof want4), 0);
    /* an extent that does not divide names the numbers */
    CU_ASSERT_FALSE(ttml_shard_init(&s, "attn.qkv.weight", 2, shape, 0, 3, 4, 0, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "cannot be split into 4");
}

static void test_layout_formula(void)
{
    /* 8 ranks as tp 2 x dp 2 x pp 2 (DESIGN.md: TP innermost, then DP, then PP) */
    const int want[8][3] = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {1, 1, 0}, {0, 0, 1}, {1, 0, 1}, {0, 1, 1}, {1, 1, 1}};
    for (int r = 0; r < 8; r++) {
        int t, d, p;
        ttml_parallel_ranks(r, 2, 2, &t, &d, &p);
        CU_ASSERT_EQUAL(t, want[r][0]);
        CU_ASSERT_EQUAL(d, want[r][1]);
        CU_ASSERT_EQUAL(p, want[r][2]);
    }
}

/* ---- under mpirun ---- */

static ttml_comm *world;

static void test_ops_mpi(void)
{
    GError *err = NULL;
    int r = ttml_comm_rank(world), n = ttml_comm_size(world);
    const int64_t shape[4] = {1, 1, 2, 3};
    float xv[6], sum[6];
    for (int i = 0; i < 6; i++) xv[i] = (float)(i + 10 * r);
    for (int i = 0; i < 6; i++) sum[i] = (float)(n * i) + 10.0f * (float)(n * (n - 1) / 2);
    ttml_tensor *x = ttml_tensor_from_floats(NULL, 4, shape, xv, &err);
    ttml_tensor_set_requires_grad(x, TRUE);
    /* reduce: the sum forward, the gradient passes through */
    ttml_tensor *y = ttml_tp_reduce(x, world, &err);
    TTML_ASSERT_NO_ERROR(err);
    float *yv = values(y);
    assert_close(yv, sum, 6, 0, "tp_reduce forward");
    ttml_tensor *w = ttml_tensor_from_floats(NULL, 4, shape, xv, &err);   /* dy = this rank's x */
    ttml_tensor *loss = sum_mul(y, w);
    CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    float *gx = values(x->grad);
    assert_close(gx, xv, 6, 0, "tp_reduce backward");
    g_free(gx);
    ttml_tensor_zero_grad(x);
    /* copy: identity forward, the gradients summed */
    ttml_tensor *c = ttml_tp_copy(x, world, &err);
    ttml_tensor *l2 = sum_mul(c, w);
    CU_ASSERT_TRUE(ttml_backward(l2, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    gx = values(x->grad);
    assert_close(gx, sum, 6, 0, "tp_copy backward");
    g_free(gx);
    ttml_tensor_zero_grad(x);
    /* gather: [.., 3] -> [.., 3n] in rank order; backward keeps the own slice */
    ttml_tensor *g = ttml_tp_gather(x, world, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(g->shape[3], 3 * n);
    float *gv = values(g);
    for (int q = 0; q < n; q++)
        for (int row = 0; row < 2; row++)
            for (int j = 0; j < 3; j++) CU_ASSERT_EQUAL(gv[row * 3 * n + q * 3 + j], (float)(row * 3 + j + 10 * q));
    ttml_tensor *l3 = sum_mul(g, g);   /* d/dg = 2 g */
    CU_ASSERT_TRUE(ttml_backward(l3, NULL, FALSE, &err));
    gx = values(x->grad);
    for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(gx[i], 2.0f * xv[i]);
    g_free(gx);
    /* scatter: the own slice of g [.., 3n] is x again; backward gathers dy */
    ttml_tensor *g2 = ttml_tensor_clone(g, &err);
    ttml_tensor_set_requires_grad(g2, TRUE);
    ttml_tensor *sc = ttml_tp_scatter(g2, world, &err);
    TTML_ASSERT_NO_ERROR(err);
    float *sv = values(sc);
    assert_close(sv, xv, 6, 0, "tp_scatter forward");
    ttml_tensor *l4 = sum_mul(sc, w);   /* dy = this rank's x: the gathered gradient is g */
    CU_ASSERT_TRUE(ttml_backward(l4, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    float *g2v = values(g2->grad);
    assert_close(g2v, gv, (size_t)(6 * n), 0, "tp_scatter backward");
    if (3 % n != 0) { /* x's last dim (3) does not split over n ranks */
        CU_ASSERT_PTR_NULL(ttml_tp_scatter(x, world, &err));
        TTML_ASSERT_ERROR(err, TTML_ERROR_SHAPE, "cannot be split over");
    }
    g_free(g2v);
    g_free(sv);
    ttml_tensor_unref(l4);
    ttml_tensor_unref(sc);
    ttml_tensor_unref(g2);
    g_free(gv);
    g_free(yv);
    ttml_reset_graph();
    ttml_tensor_unref(l3);
    ttml_tensor_unref(g);
    ttml_tensor_unref(l2);
    ttml_tensor_unref(c);
    ttml_tensor_unref(loss);
    ttml_tensor_unref(y);
    ttml_tensor_unref(w);
    ttml_tensor_unref(x);
}

/* y = W2 gelu(W1 x + b1) + b2 and loss = sum(y * k): unsharded, then with W1
 * column-parallel and W2 row-parallel; the same values and gradients. */
static void test_parallel_mlp_mpi(void)
{
    GError *err = NULL;
    int r = ttml_comm_rank(world), n = ttml_comm_size(world);
    ttml_set_seed(5);
    const int64_t xs[4] = {2, 1, 3, 8}, w1s[2] = {16, 8}, b1s[1] = {16}, w2s[2] = {8, 16}, b2s[1] = {8},
                  ks[4] = {2, 1, 3, 8};
    ttml_tensor *x = randn(4, xs, 1.0f), *w1 = randn(2, w1s, 0.3f), *b1 = randn(1, b1s, 0.1f);
    ttml_tensor *w2 = randn(2, w2s, 0.3f), *b2 = randn(1, b2s, 0.1f), *k = randn(4, ks, 1.0f);
    ttml_tensor *full[5] = {x, w1, b1, w2, b2};
    for (int i = 0; i < 5; i++) ttml_tensor_set_requires_grad(full[i], TRUE);
    ttml_tensor *a = ttml_linear(x, w1, b1, &err), *h = ttml_gelu(a, &err);
    ttml_tensor *y = ttml_linear(h, w2, b2, &err), *loss = sum_mul(y, k);
    CU_ASSERT_TRUE_FATAL(ttml_backward(loss, NULL, FALSE, &err));
    /* the sharded MLP */
    ttml_tensor *xt = ttml_tensor_clone(x, &err);
    ttml_tensor_set_requires_grad(xt, TRUE);
    ttml_tensor *w1t = shard_of(w1, 0, 1, n, r, TRUE), *b1t = shard_of(b1, 0, 1, n, r, TRUE);
    ttml_tensor *w2t = shard_of(w2, 1, 1, n, r, TRUE), *b2t = ttml_tensor_clone(b2, &err);
    ttml_tensor_set_requires_grad(b2t, TRUE);
    ttml_tensor *xc = ttml_tp_copy(xt, world, &err);
    ttml_tensor *at = ttml_linear(xc, w1t, b1t, &err), *ht = ttml_gelu(at, &err);
    ttml_tensor *pt = ttml_linear(ht, w2t, NULL, &err), *st = ttml_tp_reduce(pt, world, &err);
    ttml_tensor *yt = ttml_add(st, b2t, &err), *lt = sum_mul(yt, k);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE_FATAL(ttml_backward(lt, NULL, FALSE, &err));
    assert_shard_close(yt, y, 1e-5, "y");
    assert_shard_close(xt->grad, x->grad, 1e-5, "dx");
    ttml_tensor *mine[4] = {w1t, b1t, w2t, b2t}, *ref[4] = {w1, b1, w2, b2};
    const char *names[4] = {"dW1", "db1", "dW2", "db2"};
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(mine[i]->grad);
        ttml_tensor_set_shard(mine[i]->grad, mine[i]->shard);
        assert_shard_close(mine[i]->grad, ref[i]->grad, 1e-5, names[i]);
    }
    ttml_reset_graph();
    ttml_tensor *all[] = {x, w1, b1, w2, b2, k, a, h, y, loss, xt, w1t, b1t, w2t, b2t, xc, at, ht, pt, st, yt, lt};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++) ttml_tensor_unref(all[i]);
}

static void test_vocab_ce_mpi(void)
{
    GError *err = NULL;
    int r = ttml_comm_rank(world), n = ttml_comm_size(world);
    ttml_set_seed(9);
    const int64_t V = 8 * n, valid = V - 3, ls[4] = {2, 1, 3, V}, ts[4] = {2, 1, 1, 3};
    ttml_tensor *logits = randn(4, ls, 2.0f);
    guint32 tg[6] = {0, (guint32)(valid - 1), 5, (guint32)(V / 2), 1, (guint32)(valid - 2)};
    ttml_tensor *targets = ttml_tensor_from_data(NULL, 4, ts, TTML_DTYPE_U32, tg, &err);
    ttml_tensor_set_requires_grad(logits, TRUE);
    ttml_tensor *ref = ttml_cross_entropy_loss(logits, targets, valid, TTML_REDUCE_MEAN, &err);
    CU_ASSERT_TRUE_FATAL(ttml_backward(ref, NULL, FALSE, &err));
    ttml_tensor *mine = shard_of(logits, 3, 1, n, r, TRUE);
    ttml_tensor *loss = ttml_vocab_parallel_cross_entropy(mine, targets, world, valid, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *half = ttml_mul_scalar(loss, 0.5f, &err);   /* a non-unit upstream gradient */
    CU_ASSERT_TRUE_FATAL(ttml_backward(half, NULL, FALSE, &err));
    float a = ttml_tensor_item(ref, &err), b = ttml_tensor_item(loss, &err);
    CU_ASSERT(fabs(a - b) <= 1e-6 * fabs(a));
    ttml_tensor *scaled = ttml_mul_scalar(logits->grad, 0.5f, &err);
    ttml_tensor_set_shard(mine->grad, mine->shard);
    assert_shard_close(mine->grad, scaled, 1e-6, "vocab-parallel cross-entropy gradient");
    /* a target beyond the vocabulary is an error naming it */
    tg[0] = (guint32)V;
    ttml_tensor *bad = ttml_tensor_from_data(NULL, 4, ts, TTML_DTYPE_U32, tg, &err);
    CU_ASSERT_PTR_NULL(ttml_vocab_parallel_cross_entropy(mine, bad, world, valid, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "is not below the vocabulary size");
    ttml_reset_graph();
    ttml_tensor *all[] = {logits, targets, ref, mine, loss, half, scaled, bad};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++) ttml_tensor_unref(all[i]);
}

/* Clipping over shards scales like clipping the unsharded gradients. */
static void test_clip_mpi(void)
{
    GError *err = NULL;
    int r = ttml_comm_rank(world), n = ttml_comm_size(world);
    ttml_set_seed(3);
    const int64_t ws[2] = {4 * n, 3}, bs[1] = {5};
    ttml_tensor *w = randn(2, ws, 1.0f), *b = randn(1, bs, 1.0f), *gw = randn(2, ws, 2.0f), *gb = randn(1, bs, 2.0f);
    ttml_tensor_set_requires_grad(w, TRUE);
    ttml_tensor_set_requires_grad(b, TRUE);
    CU_ASSERT_TRUE(ttml_tensor_accumulate_grad(w, gw, &err));
    CU_ASSERT_TRUE(ttml_tensor_accumulate_grad(b, gb, &err));
    ttml_tensor *ws_t = shard_of(w, 0, 1, n, r, TRUE), *gws = shard_of(gw, 0, 1, n, r, FALSE);
    ttml_tensor *bt = ttml_tensor_clone(b, &err);
    ttml_tensor_set_requires_grad(bt, TRUE);
    CU_ASSERT_TRUE(ttml_tensor_accumulate_grad(ws_t, gws, &err));
    CU_ASSERT_TRUE(ttml_tensor_accumulate_grad(bt, gb, &err));
    GPtrArray *full = g_ptr_array_new(), *mine = g_ptr_array_new();
    ttml_param pf[2] = {{"w", w}, {"b", b}}, pm[2] = {{"w", ws_t}, {"b", bt}};
    for (int i = 0; i < 2; i++) {
        g_ptr_array_add(full, &pf[i]);
        g_ptr_array_add(mine, &pm[i]);
    }
    double norm_full = 0, norm_tp = 0;
    CU_ASSERT_TRUE(ttml_clip_grad_norm(full, 1.0, TRUE, &norm_full, &err));
    CU_ASSERT_TRUE(ttml_clip_grad_norm_tp(mine, 1.0, TRUE, world, &norm_tp, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT(norm_full > 1.0);
    CU_ASSERT(fabs(norm_full - norm_tp) <= 1e-6 * norm_full);
    ttml_tensor_set_shard(ws_t->grad, ws_t->shard);
    assert_shard_close(ws_t->grad, w->grad, 1e-6, "clipped sharded gradient");
    assert_shard_close(bt->grad, b->grad, 1e-6, "clipped replicated gradient");
    g_ptr_array_unref(full);
    g_ptr_array_unref(mine);
    ttml_tensor *all[] = {w, b, gw, gb, ws_t, gws, bt};
    for (size_t i = 0; i < G_N_ELEMENTS(all); i++) ttml_tensor_unref(all[i]);
}

/* A parameter with gradient g: w itself, or its shard over n ranks (dim 0). */
static ttml_tensor *param_with_grad(ttml_tensor *w, ttml_tensor *g, int n, int r)
{
    GError *err = NULL;
    ttml_tensor *t = n > 1 ? shard_of(w, 0, 1, n, r, TRUE) : ttml_tensor_clone(w, &err);
    ttml_tensor *gt = n > 1 ? shard_of(g, 0, 1, n, r, FALSE) : ttml_tensor_ref(g);
    ttml_tensor_set_requires_grad(t, TRUE);
    CU_ASSERT_TRUE(ttml_tensor_accumulate_grad(t, gt, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(gt);
    return t;
}

/* Clipping over a TP x PP mesh (ttml_clip_grad_norm_mesh): 2 stages, each
 * with a weight sharded over the TP group (tp = n / 2) and a replicated
 * bias; every rank holds only its stage's shard and must scale like
 * clipping all four unsharded gradients. */
static void test_clip_mesh_mpi(void)
{
    GError *err = NULL;
    int n = ttml_comm_size(world), tp = n / 2;
    if (n % 2) return;
    ttml_parallel *lay = ttml_parallel_new(world, tp, 2, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lay);
    ttml_set_seed(5);
    const int64_t ws[2] = {4 * tp, 3}, bs[1] = {5};
    ttml_tensor *full[4], *grads[4], *mine[2];
    ttml_param pf[4] = {{"blocks.0.w"}, {"blocks.0.b"}, {"blocks.1.w"}, {"blocks.1.b"}}, pm[2];
    GPtrArray *all = g_ptr_array_new(), *stage = g_ptr_array_new();
    for (int i = 0; i < 4; i++) {
        full[i] = randn(i % 2 ? 1 : 2, i % 2 ? bs : ws, 1.0f);
        grads[i] = randn(i % 2 ? 1 : 2, i % 2 ? bs : ws, 2.0f);
        ttml_tensor_set_requires_grad(full[i], TRUE);
        CU_ASSERT_TRUE(ttml_tensor_accumulate_grad(full[i], grads[i], &err));
        pf[i].tensor = full[i];
        g_ptr_array_add(all, &pf[i]);
    }
    for (int i = 0; i < 2; i++) {
        int k = 2 * lay->pp_rank + i;
        mine[i] = param_with_grad(full[k], grads[k], i == 0 ? tp : 1, lay->tp_rank);
        pm[i] = (ttml_param){pf[k].name, mine[i]};
        g_ptr_array_add(stage, &pm[i]);
    }
    double norm_full = 0, norm_mesh = 0;
    CU_ASSERT_TRUE(ttml_clip_grad_norm(all, 1.0, TRUE, &norm_full, &err));
    CU_ASSERT_TRUE(ttml_clip_grad_norm_mesh(stage, 1.0, TRUE, lay->tp_comm, lay->pp_comm, &norm_mesh, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT(norm_full > 1.0);
    CU_ASSERT(fabs(norm_full - norm_mesh) <= 1e-6 * norm_full);
    for (int i = 0; i < 2; i++) {
        if (mine[i]->shard) ttml_tensor_set_shard(mine[i]->grad, mine[i]->shard);
        assert_shard_close(mine[i]->grad, full[2 * lay->pp_rank + i]->grad, 1e-6, "clipped gradient on the mesh");
    }
    g_ptr_array_unref(all);
    g_ptr_array_unref(stage);
    for (int i = 0; i < 4; i++) {
        ttml_tensor_unref(full[i]);
        ttml_tensor_unref(grads[i]);
    }
    ttml_tensor_unref(mine[0]);
    ttml_tensor_unref(mine[1]);
    ttml_parallel_free(lay);
}

/* The layout's groups: tp 2 (innermost), dp = the rest. */
static void test_layout_mpi(void)
{
    GError *err = NULL;
    int r = ttml_comm_rank(world), n = ttml_comm_size(world);
    if (n % 2) {
        ttml_parallel *bad = ttml_parallel_new(world, 2, 1, &err);
        CU_ASSERT_PTR_NULL(bad);
        TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "multiple of 2");
        return;
    }
    ttml_parallel *p = ttml_parallel_new(world, 2, 1, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->dp, n / 2);
    CU_ASSERT_EQUAL(ttml_comm_size(p->tp_comm), 2);
    CU_ASSERT_EQUAL(ttml_comm_size(p->dp_comm), n / 2);
    CU_ASSERT_EQUAL(ttml_comm_rank(p->tp_comm), r % 2);
    CU_ASSERT_EQUAL(ttml_comm_rank(p->dp_comm), r / 2);
    /* the TP group of rank r is {r - r%2, r - r%2 + 1}; the DP group the ranks of r's parity */
    float v = (float)r;
    CU_ASSERT_TRUE(ttml_comm_allreduce(p->tp_comm, &v, 1, TTML_DTYPE_F32, TTML_COMM_SUM, &err));
    CU_ASSERT_EQUAL(v, (float)(2 * (r - r % 2) + 1));
    v = (float)r;
    CU_ASSERT_TRUE(ttml_comm_allreduce(p->dp_comm, &v, 1, TTML_DTYPE_F32, TTML_COMM_SUM, &err));
    float want = 0;
    for (int q = r % 2; q < n; q += 2) want += (float)q;
    CU_ASSERT_EQUAL(v, want);
    ttml_parallel_free(p);
}

static int init_mpi(void)
{
    if (ttml_test_init_cpu() != 0) return 1;
    return ttml_comm_world("mpi", 1, NULL, &world, NULL) ? 0 : 1;
}

static int clean_mpi(void)
{
    ttml_comm_free(world);
    return ttml_test_shutdown();
}

int main(int argc, char **argv)
{
    static CU_TestInfo mpi_tests[] = {
        {"tp_ops_mpi", test_ops_mpi},
        {"tp_parallel_mlp_mpi", test_parallel_mlp_mpi},
        {"tp_vocab_parallel_cross_entropy_mpi", test_vocab_ce_mpi},
        {"tp_clip_mpi", test_clip_mpi},
        {"tp_clip_mesh_mpi", test_clip_mesh_mpi},
        {"tp_layout_mpi", test_layout_mpi},
        CU_TEST_INFO_NULL,
    };
    if (argc > 1 && strcmp(argv[1], "--mpi") == 0) return ttml_test_run("tp_mpi", mpi_tests, init_mpi, clean_mpi);
    static CU_TestInfo tests[] = {
        {"tp_shards", test_shards},
        {"tp_layout_formula", test_layout_formula},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("tp", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
