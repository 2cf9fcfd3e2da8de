/* core/train/pipeline_step.c - one training step through the pipeline
 * (pipeline.h): the gpipe and 1f1b schedules, activations sent forward and
 * their gradients sent back with point-to-point messages of the pipeline
 * group, one autograd graph handle per micro-batch in flight, the loss and
 * the RNG state made equal on every stage, and clipping over all stages.
 *
 * Messages: micro-batch m's activations carry tag 2m, their gradient 2m+1;
 * evaluation uses tag EVAL_TAG, the first step's draw count COUNT_TAG. Sends are non-blocking (a stage may send
 * forward while its neighbour sends back) and completed at the end of the
 * step; receives block, and the time blocked is the stage's idle time (the
 * pipeline bubble when the peers compute). */
#include "pipeline.h"

#include <ttml/ops_parallel.h>

#include <math.h>

#define EVAL_TAG (1 << 28)
#define COUNT_TAG (EVAL_TAG + 1)

typedef struct {
    ttml_graph *graph;    /* the micro-batch's nodes (NULL: not started)      */
    ttml_tensor *in;      /* received activations (a leaf); NULL on stage 0   */
    ttml_tensor *out;     /* activations sent, or the scaled loss (last)      */
} mb_state;

typedef struct {
    ttml_pipeline *pl;
    const ttml_pp_batch *b;
    mb_state *mb;
    GPtrArray *sends;     /* pending sends (send_buf*)                        */
    double loss_sum;
    int backwards_left;
    gint64 in_flight;     /* micro-batches forwarded and not yet backwarded  */
    ttml_rng_state rng0;  /* after the step's data were drawn                */
} step_ctx;

typedef struct {
    ttml_comm_request *req;
    float *buf;
} send_buf;

static gboolean is_first(const ttml_pipeline *pl) { return pl->stage == 0; }
static gboolean is_last(const ttml_pipeline *pl) { return pl->stage == pl->stages - 1; }
static double ms_since(gint64 t0) { return (double)(g_get_monotonic_time() - t0) / 1000.0; }

/* Post a non-blocking send of t's values to `peer` (completed by finish_sends). */
static gboolean send_tensor(ttml_pipeline *pl, GPtrArray *sends, ttml_tensor *t, int peer, int tag, GError **error)
{
    gint64 t0 = g_get_monotonic_time();
    send_buf *s = g_new0(send_buf, 1);
    s->buf = g_new(float, MAX(t->numel, (size_t)1));
    g_ptr_array_add(sends, s);
    if (!ttml_tensor_read(t, s->buf, error)) return FALSE;
    s->req = ttml_comm_isend(pl->comm, s->buf, t->numel * sizeof(float), peer, tag, error);
    pl->comm_bytes += t->numel * sizeof(float);
    pl->comm_ms += ms_since(t0);
    return s->req != NULL;
}

static gboolean finish_sends(ttml_pipeline *pl, GPtrArray *sends, GError **error)
{
    gint64 t0 = g_get_monotonic_time();
    gboolean ok = TRUE;
    for (guint i = 0; i < sends->len; i++) {
        send_buf *s = g_ptr_array_index(sends, i);
        GError *e = NULL;
        if (s->req && !ttml_comm_wait(s->req, ok ? &e : NULL)) ok = FALSE;
        if (e) g_propagate_error(error, e);
        g_free(s->buf);
        g_free(s);
    }
    g_ptr_array_set_size(sends, 0);
    double ms = ms_since(t0);
    pl->comm_ms += ms;
    pl->wait_ms += ms;
    return ok;
}

/* Receive activations (or their gradient) [B,1,S,E] from `peer`. */
static ttml_tensor *recv_tensor(ttml_pipeline *pl, int peer, int tag, GError **error)
{
    size_t n = 1;
    for (int i = 0; i < 4; i++) n *= (size_t)pl->act_shape[i];
    float *buf = g_new(float, n);
    gint64 t0 = g_get_monotonic_time();
    gboolean ok = ttml_comm_recv(pl->comm, buf, n * sizeof(float), peer, tag, error);
    double ms = ms_since(t0);
    pl->comm_ms += ms;
    pl->wait_ms += ms;
    ttml_tensor *t = ok ? ttml_tensor_from_floats(NULL, 4, pl->act_shape, buf, error) : NULL;
    g_free(buf);
    if (!ok) g_prefix_error(error, "pipeline stage %d: receiving from stage %d: ", pl->stage, peer);
    return t;
}

/* u32 ids of micro-batch m ([B,1,1,S], a fresh tensor: a backward still
 * pending keeps the one it saved). */
static ttml_tensor *ids_tensor(const ttml_tensor *like, const guint32 *host, GError **error)
{
    ttml_tensor *t = ttml_tensor_empty(like->device, like->ndim, like->shape, TTML_DTYPE_U32, error);
    if (t && !ttml_tensor_write(t, host, error)) g_clear_pointer(&t, ttml_tensor_unref);
    return t;
}

/* The mean cross-entropy of the last stage's logits (vocab-parallel over
 * the TP group under tensor parallelism: the logits are vocab-sharded). */
static ttml_tensor *stage_ce(const ttml_pipeline *pl, ttml_tensor *logits, ttml_tensor *tgt, gint64 vocab,
                             GError **error)
{
    return pl->tp ? ttml_vocab_parallel_cross_entropy(logits, tgt, pl->tp, vocab, error)
                  : ttml_cross_entropy_loss(logits, tgt, vocab, TTML_REDUCE_MEAN, error);
}

/* The last stage's loss of micro-batch m, scaled by 1/M for the backward. */
static ttml_tensor *stage_loss(step_ctx *c, ttml_tensor *logits, gint64 m, GError **error)
{
    const ttml_pp_batch *b = c->b;
    ttml_tensor *tgt = ids_tensor(b->targets, b->tgt_host + (gsize)m * b->stride, error);
    ttml_tensor *loss = tgt ? stage_ce(c->pl, logits, tgt, b->vocab, error) : NULL;
    ttml_tensor_unref(tgt);
    if (!loss) return NULL;
    float v = ttml_tensor_item(loss, error);
    c->loss_sum += (double)v;
    ttml_tensor *scaled = b->micro_batches > 1 ? ttml_mul_scalar(loss, 1.0f / (float)b->micro_batches, error)
                                               : ttml_tensor_ref(loss);
    ttml_tensor_unref(loss);
    return scaled;
}

static gboolean forward_mb(step_ctx *c, gint64 m, GError **error)
{
    ttml_pipeline *pl = c->pl;
    mb_state *st = &c->mb[m];
    ttml_tensor *x = is_first(pl) ? ids_tensor(c->b->inputs, c->b->in_host + (gsize)m * c->b->stride, error)
                                  : recv_tensor(pl, pl->stage - 1, (int)(2 * m), error);
    if (!x) return FALSE;
    if (!is_first(pl)) {
        ttml_tensor_set_requires_grad(x, TRUE); /* a leaf: its ->grad goes back upstream */
        st->in = ttml_tensor_ref(x);
    }
    /* the draws of a one-stage run: micro-batch m's forward, after the stages before */
    ttml_rng_state at = {c->rng0.seed, c->rng0.counter + (guint64)m * pl->draws_total + pl->draws_before};
    ttml_set_rng_state(at);
    st->graph = ttml_graph_begin();
    c->in_flight++;
    pl->max_in_flight = MAX(pl->max_in_flight, c->in_flight);
    ttml_zone_begin("forward", "phase");
    ttml_tensor *y = pl->model->klass->stage_forward(pl->model, x, pl->first, pl->end, is_first(pl), is_last(pl),
                                                     error);
    ttml_tensor_unref(x);
    if (y && is_last(pl)) {
        ttml_tensor *loss = stage_loss(c, y, m, error);
        ttml_tensor_unref(y);
        y = loss;
    }
    ttml_zone_end();
    ttml_graph_end(st->graph);
    st->out = y;
    if (!y) return FALSE;
    return is_last(pl) || send_tensor(pl, c->sends, y, pl->stage + 1, (int)(2 * m), error);
}

static void mb_clear(mb_state *st)
{
    ttml_graph_free(st->graph);
    ttml_tensor_unref(st->in);
    ttml_tensor_unref(st->out);
    *st = (mb_state){0};
}

static gboolean backward_mb(step_ctx *c, gint64 m, GError **error)
{
    ttml_pipeline *pl = c->pl;
    mb_state *st = &c->mb[m];
    ttml_tensor *g = NULL;
    if (!is_last(pl) && !(g = recv_tensor(pl, pl->stage + 1, (int)(2 * m + 1), error))) return FALSE;
    if (c->b->before_backward) c->b->before_backward(c->b->data, --c->backwards_left == 0);
    ttml_zone_begin("backward", "phase");
    gboolean ok = ttml_graph_backward(st->graph, st->out, g, error);
    ttml_zone_end();
    ttml_tensor_unref(g);
    if (ok && !is_first(pl)) {
        ttml_tensor *dx = st->in->grad;
        ttml_tensor *zeros = dx ? NULL : ttml_tensor_zeros(NULL, 4, pl->act_shape, TTML_DTYPE_F32, error);
        ok = (dx || zeros) && send_tensor(pl, c->sends, dx ? dx : zeros, pl->stage - 1, (int)(2 * m + 1), error);
        ttml_tensor_unref(zeros);
    }
    mb_clear(st);
    c->in_flight--;
    return ok;
}

/* The order of this stage's work: m >= 0 is F(m), -(m+1) is B(m). gpipe:
 * every forward, then every backward; 1f1b: P-1-stage forwards of warm-up,
 * then one forward and one backward alternately, then the remaining
 * backwards (at most P micro-batches in flight). */
static void schedule(const ttml_pipeline *pl, gint64 M, gint64 *ops)
{
    gint64 n = 0;
    gint64 warm = pl->gpipe ? M : MIN((gint64)(pl->stages - 1 - pl->stage), M);
    for (gint64 m = 0; m < warm; m++) ops[n++] = m;
    for (gint64 i = 0; i < M - warm; i++) {
        ops[n++] = warm + i;
        ops[n++] = -(i + 1);
    }
    for (gint64 i = M - warm; i < M; i++) ops[n++] = -(i + 1);
}

/* Count the RNG draws of one forward of each stage (micro-batch 0, gradients
 * off, then the RNG state is put back): pl->draws_total and draws_before. */
static gboolean count_draws(ttml_pipeline *pl, const ttml_pp_batch *b, GError **error)
{
    ttml_rng_state saved = ttml_get_rng_state();
    gboolean prev = ttml_set_grad_enabled(FALSE);
    ttml_tensor *x = is_first(pl) ? ids_tensor(b->inputs, b->in_host, error)
                                  : recv_tensor(pl, pl->stage - 1, COUNT_TAG, error);
    guint64 c0 = ttml_get_rng_state().counter;
    ttml_tensor *y = x ? pl->model->klass->stage_forward(pl->model, x, pl->first, pl->end, is_first(pl),
                                                         is_last(pl), error)
                       : NULL;
    float mine = (float)(ttml_get_rng_state().counter - c0);
    ttml_tensor_unref(x);
    ttml_set_grad_enabled(prev);
    ttml_set_rng_state(saved);
    gboolean ok = y != NULL;
    if (ok && !is_last(pl)) {
        GPtrArray *sends = g_ptr_array_new();
        ok = send_tensor(pl, sends, y, pl->stage + 1, COUNT_TAG, error);
        ok = finish_sends(pl, sends, ok ? error : NULL) && ok;
        g_ptr_array_unref(sends);
    }
    ttml_tensor_unref(y);
    float *all = g_new0(float, pl->stages);
    ok = ok && ttml_comm_allgather(pl->comm, &mine, all, 1, TTML_DTYPE_F32, error);
    pl->draws_total = pl->draws_before = 0;
    for (int s = 0; ok && s < pl->stages; s++) {
        pl->draws_total += (guint64)all[s];
        if (s < pl->stage) pl->draws_before += (guint64)all[s];
    }
    g_free(all);
    pl->draws_counted = ok;
    return ok;
}

/* The loss (the last stage's, summed over the pipeline group) and the RNG
 * state after a one-stage run's step. */
static gboolean agree(ttml_pipeline *pl, double loss_sum, gint64 M, ttml_rng_state rng0, double *loss,
                      GError **error)
{
    float v = is_last(pl) ? (float)loss_sum : 0.0f;
    if (!ttml_comm_allreduce(pl->comm, &v, 1, TTML_DTYPE_F32, TTML_COMM_SUM, error)) return FALSE;
    *loss = (double)v / (double)M;
    rng0.counter += (guint64)M * pl->draws_total;
    ttml_set_rng_state(rng0);
    return TRUE;
}

gboolean ttml_pipeline_train_step(ttml_pipeline *pl, const ttml_pp_batch *b, double *loss, GError **error)
{
    if (!pl->draws_counted && !count_draws(pl, b, error)) {
        g_prefix_error(error, "pipeline stage %d of %d: counting the RNG draws: ", pl->stage, pl->stages);
        return FALSE;
    }
    gint64 t0 = g_get_monotonic_time(), M = b->micro_batches;
    pl->comm_bytes = 0;
    pl->comm_ms = pl->wait_ms = 0.0;
    pl->micro_batches = M;
    pl->max_in_flight = 0;
    ttml_rng_state rng0 = ttml_get_rng_state();
    step_ctx c = {pl, b, g_new0(mb_state, M), g_ptr_array_new(), 0.0, (int)M, 0, rng0};
    gint64 *ops = g_new(gint64, 2 * M);
    schedule(pl, M, ops);
    gboolean ok = TRUE;
    for (gint64 i = 0; ok && i < 2 * M; i++)
        ok = ops[i] >= 0 ? forward_mb(&c, ops[i], error) : backward_mb(&c, -ops[i] - 1, error);
    ok = finish_sends(pl, c.sends, ok ? error : NULL) && ok;
    for (gint64 m = 0; m < M; m++) mb_clear(&c.mb[m]);
    g_free(c.mb);
    g_free(ops);
    g_ptr_array_unref(c.sends);
    ok = ok && agree(pl, c.loss_sum, M, rng0, loss, error);
    pl->step_ms = ms_since(t0);
    if (!ok) g_prefix_error(error, "pipeline stage %d of %d: ", pl->stage, pl->stages);
    return ok;
}

gboolean ttml_pipeline_eval(ttml_pipeline *pl, ttml_tensor *inputs, ttml_tensor *targets, gint64 vocab,
                            double *loss, GError **error)
{
    /* the step's figures stay the last training step's */
    guint64 bytes = pl->comm_bytes;
    double comm_ms = pl->comm_ms, wait_ms = pl->wait_ms;
    ttml_tensor *x = is_first(pl) ? ttml_tensor_ref(inputs) : recv_tensor(pl, pl->stage - 1, EVAL_TAG, error);
    ttml_tensor *y = x ? pl->model->klass->stage_forward(pl->model, x, pl->first, pl->end, is_first(pl),
                                                         is_last(pl), error)
                       : NULL;
    ttml_tensor_unref(x);
    float v = 0.0f;
    gboolean ok = y != NULL;
    if (ok && is_last(pl)) {
        ttml_tensor *l = stage_ce(pl, y, targets, vocab, error);
        v = l ? ttml_tensor_item(l, error) : NAN;
        ok = l && !(error && *error);
        ttml_tensor_unref(l);
    } else if (ok) {
        GPtrArray *sends = g_ptr_array_new();
        ok = send_tensor(pl, sends, y, pl->stage + 1, EVAL_TAG, error);
        ok = finish_sends(pl, sends, ok ? error : NULL) && ok;
        g_ptr_array_unref(sends);
    }
    ttml_tensor_unref(y);
    ok = ok && ttml_comm_allreduce(pl->comm, &v, 1, TTML_DTYPE_F32, TTML_COMM_SUM, error);
    *loss = (double)v;
    pl->comm_bytes = bytes;
    pl->comm_ms = comm_ms;
    pl->wait_ms = wait_ms;
    return ok;
}

gboolean ttml_pipeline_clip(ttml_pipeline *pl, double max_norm, GError **error)
{
    return ttml_clip_grad_norm_mesh(pl->params, max_norm, FALSE, pl->tp, pl->comm, NULL, error);
}
