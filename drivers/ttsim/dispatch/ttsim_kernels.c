/* drivers/ttsim/dispatch/ttsim_kernels.c - kernel launches and the launch cost model.
 *
 * ttsim registers, for driver "ttsim", every kernel the cpu driver has. A
 * launch (ttsim_execute) first tries the native kernels (ttsim_native*.c:
 * tile by tile on the images, split over the core grid). Only a launch they
 * cannot take (a dtype-converting copy, bf16 operands, views at an offset)
 * runs the converted path below, unless the device was opened with
 * fallback=off (then it is an error):
 *   1. untilizes and decodes each distinct input / output buffer from its
 *      storage format to host row-major scratch (a per-device pool of
 *      growing buffers: no allocation per launch once warm); outputs are
 *      decoded only for kernels that read them (beta, in-place optimizer
 *      state, strided_copy);
 *   2. applies the operand numerics: matmul truncates in[0] / in[1] to the
 *      mantissa bits the math fidelity uses (sdpa: q as operand A, k and v
 *      as operand B); accumulation stays fp32;
 *   3. runs the cpu implementation (ttml_kernel_find("cpu", name)) on views
 *      of the scratch buffers; it runs on the cpu driver's host thread pool;
 *   4. tilizes and encodes the outputs into storage (rounding them).
 * Either way the modelled device time (ttsim_model_launch) is added to the
 * totals, and the per-kernel stats count native and converted launches.
 */
#include "ttsim_internal.h"
#include "../../common/ttml_kernel_list.h"

#include <string.h>

#define TTSIM_KERNEL_NAME(name) #name,
const char *const ttsim_kernel_names[] = {TTML_KERNEL_LIST(TTSIM_KERNEL_NAME) NULL};
#undef TTSIM_KERNEL_NAME

/* Compute passes per tile of the element-wise / row-wise kernels (1 = one
 * FPU/SFPU pass of 8 cycles per tile; 0 = pure data movement), and how many
 * of them use the multiplier (element-wise multiply, reduce sum / average):
 * those take one pass per fidelity phase (matrix_engine.md). */
static const struct {
    const char *name;
    double factor, fid;
} pass_factors[] = {
    {"fill", 0, 0},            {"copy", 0, 0},             {"strided_copy", 0, 0},      {"heads_split", 0, 0},
    {"heads_merge", 0, 0},     {"embedding_fwd", 0, 0},    {"embedding_bwd", 1, 0},     {"transpose_last2", 1, 0},
    {"gelu_fwd", 4, 0},        {"gelu_bwd", 6, 1},         {"silu_fwd", 3, 0},          {"silu_bwd", 4, 1},
    {"swiglu_fwd", 4, 1},      {"swiglu_bwd", 6, 2},       {"softmax_fwd", 4, 1},       {"softmax_bwd", 3, 2},
    {"log_softmax_fwd", 4, 1}, {"log_softmax_bwd", 3, 1},  {"layernorm_fwd", 4, 2},     {"layernorm_bwd", 6, 3},
    {"rmsnorm_fwd", 3, 2},     {"rmsnorm_bwd", 5, 3},      {"cross_entropy_fwd", 4, 1}, {"cross_entropy_bwd", 4, 0},
    {"dropout_fwd", 2, 1},     {"dropout_bwd", 2, 1},      {"rope_fwd", 3, 2},          {"rope_bwd", 3, 2},
    {"adamw_step", 8, 0},      {"sgd_step", 3, 0},         {"div_bwd_b", 3, 2},         {"mse_fwd", 2, 1},
    {"mse_bwd", 2, 0},         {"sum_sq", 2, 1},           {"reduce_to", 1, 1},         {"relu_bwd", 1, 0},
};

static double pass_factor(const ttml_launch *l, double *fid)
{
    const char *name = l->kernel;
    *fid = 0;
    if (strcmp(name, "binary") == 0) {
        const ttml_binary_params *p = l->params;
        if (p && l->params_size >= sizeof *p && (p->op == TTML_BINARY_MUL || p->op == TTML_BINARY_DIV)) *fid = 1;
        return 1.0;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(pass_factors); i++)
        if (strcmp(pass_factors[i].name, name) == 0) {
            *fid = pass_factors[i].fid;
            return pass_factors[i].factor;
        }
    return 1.0;
}

void ttsim_model_launch(const ttsim_device *d, const ttml_launch *l, gboolean outputs_read, ttsim_timing *t)
{
    const ttsim_config *c = &d->cfg;
    ttsim_traffic tr = {0};
    gint64 tiles = 0;
    double numel = 0;
    for (int i = 0; i < l->n_in; i++) {
        gboolean l1 = l->in[i].buf && l->in[i].buf->kind == TTML_MEM_L1;
        *(l1 ? &tr.l1_read : &tr.dram_read) += ttsim_view_bytes(d, &l->in[i]);
        ttsim_shape s;
        ttsim_shape_from(l->in[i].ndim, l->in[i].shape, &s);
        if (ttsim_shape_tiles(&s) > tiles) tiles = ttsim_shape_tiles(&s);
        if ((double)ttsim_view_numel(&l->in[i]) > numel) numel = (double)ttsim_view_numel(&l->in[i]);
    }
    for (int i = 0; i < l->n_out; i++) {
        double b = ttsim_view_bytes(d, &l->out[i]);
        gboolean l1 = l->out[i].buf && l->out[i].buf->kind == TTML_MEM_L1;
        *(l1 ? &tr.l1_written : &tr.dram_written) += b;
        if (outputs_read) *(l1 ? &tr.l1_read : &tr.dram_read) += b;
        ttsim_shape s;
        ttsim_shape_from(l->out[i].ndim, l->out[i].shape, &s);
        if (ttsim_shape_tiles(&s) > tiles) tiles = ttsim_shape_tiles(&s);
        if ((double)ttsim_view_numel(&l->out[i]) > numel) numel = (double)ttsim_view_numel(&l->out[i]);
    }
    const char *k = l->kernel;
    if (strcmp(k, "matmul") == 0 && l->n_in >= 2 && l->n_out >= 1 && l->in[0].ndim >= 2 &&
        l->out[0].ndim >= 2 && l->params && l->params_size >= sizeof(ttml_matmul_params)) {
        const ttml_matmul_params *p = l->params;
        const ttml_view *a = &l->in[0], *o = &l->out[0];
        gint64 m = o->shape[o->ndim - 2], n = o->shape[o->ndim - 1];
        gint64 kk = p->trans_a ? a->shape[a->ndim - 2] : a->shape[a->ndim - 1];
        gint64 batch = m * n > 0 ? (gint64)ttsim_view_numel(o) / (m * n) : 0;
        ttsim_timing_matmul(c, batch, m, n, kk, &tr, t);
        return;
    }
    if ((strcmp(k, "sdpa_fwd") == 0 || strcmp(k, "sdpa_bwd") == 0) && l->n_in >= 3 && l->in[0].ndim == 4 &&
        l->in[1].ndim == 4) {
        const ttml_view *q = &l->in[0], *kv = &l->in[1];
        gint64 bh = q->shape[0] * q->shape[1], sq = q->shape[2], dd = q->shape[3], skv = kv->shape[2];
        int n_mm = strcmp(k, "sdpa_fwd") == 0 ? 2 : 5;   /* S = QK^T, O = PV | + dV, dP, dQ, dK */
        ttsim_timing mm, sm;
        ttsim_traffic none = {0};
        ttsim_timing_matmul(c, bh, sq, skv, dd, &none, &mm);
        ttsim_shape ss = {bh, sq, skv};
        ttsim_timing_eltwise(c, ttsim_shape_tiles(&ss), n_mm == 2 ? 4.0 : 7.0, n_mm == 2 ? 1.0 : 2.0, 0, &tr, &sm);
        *t = sm;
        t->fixed_cycles = mm.fixed_cycles;
        t->compute_cycles = n_mm * mm.compute_cycles + sm.compute_cycles;
        t->ideal_cycles = n_mm * mm.ideal_cycles + sm.ideal_cycles;
        t->flops = n_mm * mm.flops + (double)(bh * sq * skv) * (n_mm == 2 ? 4.0 : 7.0);
        if (mm.cores_used > t->cores_used) t->cores_used = mm.cores_used;
        double data = t->dram_cycles > t->noc_cycles ? t->dram_cycles : t->noc_cycles;
        t->cycles = t->fixed_cycles + t->latency_cycles + (t->compute_cycles > data ? t->compute_cycles : data);
        t->seconds = t->cycles / c->clock_hz;
        t->ideal_seconds = t->ideal_cycles / c->clock_hz;
        return;
    }
    double fid = 0, f = pass_factor(l, &fid);
    ttsim_timing_eltwise(c, tiles, f, fid, numel * (f > 0 ? f : 0), &tr, t);
}

/* Add the launch's modelled device time to the totals. */
static void account(ttsim_device *d, const ttml_launch *l, gboolean out_read, gboolean native,
                    const char *why)
{
    ttsim_timing t;
    ttsim_model_launch(d, l, out_read, &t);
    d->launches++;
    d->sim_s += t.seconds;
    d->sim_last_s = t.seconds;
    d->flops += t.flops;
    d->ideal_s += t.ideal_seconds;
    ttsim_kstat *k = g_hash_table_lookup(d->kstats, l->kernel);
    if (!k) {
        k = g_new0(ttsim_kstat, 1);
        g_hash_table_insert(d->kstats, g_strdup(l->kernel), k);
    }
    k->calls++;
    if (native) k->native_calls++;
    else k->converted_why = why;
    k->seconds += t.seconds;
    k->flops += t.flops;
    k->ideal_seconds += t.ideal_seconds;
}

/* ---- the converted path ---- */

/* How a scratch slot reaches the cpu kernel: the buffer's f32 shadow, its u32
 * image as is, or a decoded copy in launch scratch. */
enum { VIA_SHADOW, VIA_U32, VIA_SCRATCH };

/* The launch rewritten onto host buffers: each distinct operand buffer gets a
 * slot (fake host buffer) that the cpu kernel reads and writes. */
typedef struct {
    ttml_launch h;
    ttml_buffer fake[TTSIM_SCRATCH_SLOTS];
    ttml_buffer *orig[TTSIM_SCRATCH_SLOTS];
    int via[TTSIM_SCRATCH_SLOTS];
    int slot_of_out[TTML_LAUNCH_MAX_OUT];
    int n_slots;
    gboolean out_read;           /* the kernel reads its outputs               */
    int a_bits, b_bits;          /* mantissa bits of matmul operands A and B   */
    int stored_bits;             /* mantissa bits the stored operands have     */
} converted;

/* The cpu implementation of the launch's kernel (cached per device). */
static ttml_kernel_fn cpu_kernel(ttsim_device *d, const ttml_launch *l, GError **error)
{
    ttml_kernel_fn fn = g_hash_table_lookup(d->cpu_fns, l->kernel);
    if (fn) return fn;
    fn = ttml_kernel_find("cpu", l->kernel);
    if (!fn) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_NOT_FOUND,
                    "ttsim kernel '%s' runs the cpu implementation on converted data, but the cpu "
                    "driver has no such kernel; check that libttml_cpu.so loads ('ttml-inspect cpu')",
                    l->kernel);
        return NULL;
    }
    g_hash_table_insert(d->cpu_fns, g_strdup(l->kernel), (gpointer)fn);
    return fn;
}

/* Steps 1 and 2 for the operand buffer of view `src` put in a new slot:
 * decode it to host row-major (unless it is an output the kernel does not
 * read), then round a private copy to `bits` when `private_copy`. */
static gboolean stage_slot(ttsim_device *d, ttml_device *device, converted *c, const ttml_view *src,
                           gboolean is_in, gboolean private_copy, int bits, GError **error)
{
    int slot = c->n_slots++;
    ttml_buffer *fb = &c->fake[slot];
    ttsim_buf *tb = src->buf->handle;
    c->orig[slot] = src->buf;
    memset(fb, 0, sizeof *fb);
    fb->device = device;
    fb->size = src->buf->size;
    fb->kind = TTML_MEM_HOST;
    fb->ref = 1;
    gboolean need = is_in || c->out_read;
    if (src->dtype == TTML_DTYPE_F32 && !private_copy) {
        c->via[slot] = VIA_SHADOW;
        fb->data = ttsim_buf_shadow(d, src->buf, need);
    } else if (src->dtype == TTML_DTYPE_U32 && (!tb->shaped || tb->fmt == TTSIM_FMT_U32)) {
        /* ids are stored exactly, row-major: the image is the data */
        c->via[slot] = VIA_U32;
        if (tb->cap < src->buf->size) {
            void *old = tb->data;
            tb->data = g_malloc0(src->buf->size);
            if (old && tb->shaped) memcpy(tb->data, old, tb->cap);
            g_free(old);
            tb->cap = src->buf->size;
        }
        fb->data = tb->data;
    } else {
        c->via[slot] = VIA_SCRATCH;
        size_t es = ttml_dtype_size(src->dtype);
        void *mem = ttsim_launch_scratch(d, slot, src->buf->size + 64);
        fb->data = mem;
        if (need && !ttsim_buf_decode(d, src->buf, src->dtype, mem, src->buf->size / es, error)) return FALSE;
        if (private_copy) ttsim_truncate_array(mem, src->buf->size / 4, bits);
    }
    return TRUE;
}

/* Steps 1 and 2 for every view: point it at its slot's host buffer, sharing a
 * slot between views of one buffer unless an operand needs a rounded
 * private copy (matmul / sdpa operands at a fidelity below the storage's). */
static gboolean stage_views(ttsim_device *d, ttml_device *device, const ttml_launch *l, converted *c,
                            GError **error)
{
    gboolean is_mm = strcmp(l->kernel, "matmul") == 0;
    gboolean is_sdpa = strcmp(l->kernel, "sdpa_fwd") == 0 || strcmp(l->kernel, "sdpa_bwd") == 0;
    int n_views = l->n_in + l->n_out;
    for (int v = 0; v < n_views; v++) {
        gboolean is_in = v < l->n_in;
        const ttml_view *src = is_in ? &l->in[v] : &l->out[v - l->n_in];
        ttml_view *dst = is_in ? &c->h.in[v] : &c->h.out[v - l->n_in];
        if (!src->buf || !src->buf->handle || src->buf->device != device ||
            (unsigned)src->dtype >= TTML_DTYPE_COUNT) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                        "ttsim kernel '%s': %s[%d] is not a buffer of this ttsim device", l->kernel,
                        is_in ? "in" : "out", is_in ? v : v - l->n_in);
            return FALSE;
        }
        /* matmul / sdpa operands rounded to the fidelity's bits need a private copy */
        int bits = v == 0 ? c->a_bits : c->b_bits;
        gboolean private_copy = is_in && (is_mm || (is_sdpa && v < 3)) && src->dtype == TTML_DTYPE_F32 &&
                                bits < c->stored_bits;
        int slot = -1;
        if (!private_copy)
            for (int j = 0; j < c->n_slots; j++)
                if (c->orig[j] == src->buf && c->via[j] != VIA_SCRATCH) slot = j;
        if (slot < 0) {
            slot = c->n_slots;
            if (!stage_slot(d, device, c, src, is_in, private_copy, bits, error)) return FALSE;
        }
        if (!is_in) c->slot_of_out[v - l->n_in] = slot;
        *dst = *src;
        dst->buf = &c->fake[slot];
    }
    return TRUE;
}

/* Step 4: tilize and encode each distinct output buffer once. */
static gboolean store_outputs(ttsim_device *d, const ttml_launch *l, const converted *c, GError **error)
{
    for (int o = 0; o < l->n_out; o++) {
        gboolean seen = FALSE;
        for (int p = 0; p < o; p++) seen = seen || l->out[p].buf == l->out[o].buf;
        if (seen) continue;
        const ttml_view *v = &l->out[o];
        ttsim_buf *tb = v->buf->handle;
        size_t es = ttml_dtype_size(v->dtype), total = v->buf->size / es;
        int ndim = v->ndim;
        int64_t shape[TTML_MAX_DIMS];
        memcpy(shape, v->shape, sizeof shape);
        if ((size_t)ttsim_view_numel(v) != total) {
            if (tb->shaped && tb->numel == total) {
                ndim = 3;
                shape[0] = tb->shape.batch, shape[1] = tb->shape.rows, shape[2] = tb->shape.cols;
            } else {
                ndim = 2;
                shape[0] = 1, shape[1] = (int64_t)total;
            }
        }
        int slot = c->slot_of_out[o];
        gboolean ok;
        if (c->via[slot] == VIA_SHADOW)
            ok = ttsim_buf_commit_f32(d, v->buf, ndim, shape, error);
        else if (c->via[slot] == VIA_U32)
            ok = ttsim_buf_commit_u32(d, v->buf, ndim, shape, error);
        else
            ok = ttsim_buf_encode(d, v->buf, v->dtype, ndim, shape, c->fake[slot].data, error);
        if (!ok) return FALSE;
    }
    return TRUE;
}

/* The converted path, steps 1-4 (see the top of this file); d->lock held. */
static gboolean run_converted(ttsim_device *d, ttml_device *device, const ttml_launch *l, ttml_kernel_fn fn,
                              const char *why, GError **error)
{
    converted c;
    c.h = *l;
    c.n_slots = 0;
    c.out_read = ttsim_reads_outputs(l);
    ttsim_fidelity_bits(d->cfg.fidelity, &c.a_bits, &c.b_bits);
    c.stored_bits = ttsim_format_stored_bits(d->cfg.storage);
    gboolean ok = stage_views(d, device, l, &c, error);  /* steps 1 and 2 */
    if (ok) ok = fn(device, &c.h, error);                /* step 3        */
    if (ok) ok = store_outputs(d, l, &c, error);         /* step 4        */
    if (ok) account(d, l, c.out_read, FALSE, why);
    return ok;
}

gboolean ttsim_execute(ttsim_device *d, ttml_device *device, const ttml_launch *l, GError **error)
{
    if (l->n_in < 0 || l->n_in > TTML_LAUNCH_MAX_IN || l->n_out < 0 || l->n_out > TTML_LAUNCH_MAX_OUT) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "ttsim kernel '%s': bad slot counts %d in, %d out",
                    l->kernel, l->n_in, l->n_out);
        return FALSE;
    }
    g_mutex_lock(&d->lock);
    if (!d->cpu_opened) {
        /* the converted path runs cpu kernels on the cpu driver's thread
         * pool, and native matmul uses the OpenBLAS the cpu driver chose */
        d->cpu_opened = TRUE;
        GError *ignored = NULL;
        if (!ttml_device_open("cpu", &ignored)) g_clear_error(&ignored);
    }
    const char *why = NULL;
    ttsim_native_status st = ttsim_native_run(d, l, &why, error);
    gboolean ok;
    if (st != TTSIM_NATIVE_DECLINE) {
        if (st == TTSIM_NATIVE_DONE) account(d, l, ttsim_reads_outputs(l), TRUE, NULL);
        ok = st == TTSIM_NATIVE_DONE;
    } else if (!d->cfg.fallback) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_UNSUPPORTED,
                    "ttsim kernel '%s' cannot run natively on the tile images (%s) and the device was "
                    "opened with fallback=off; drop fallback=off to run it on converted data",
                    l->kernel, why ? why : "?");
        ok = FALSE;
    } else {
        ttml_kernel_fn fn = cpu_kernel(d, l, error);
        ok = fn && run_converted(d, device, l, fn, why, error);
    }
    g_mutex_unlock(&d->lock);
    return ok;
}

gboolean ttsim_kernel_run(ttml_device *device, const ttml_launch *launch, GError **error)
{
    /* reached only when someone calls the registered function directly; the
     * driver's launch() normally runs ttsim_execute itself */
    if (!device || strcmp(ttml_device_driver_name(device), "ttsim") != 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttsim kernel '%s' called for a device that is not a ttsim device",
                    launch && launch->kernel ? launch->kernel : "?");
        return FALSE;
    }
    return ttsim_execute(ttml_device_get_driver_state(device), device, launch, error);
}
