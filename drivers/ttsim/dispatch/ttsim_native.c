/* drivers/ttsim/dispatch/ttsim_native.c - running a launch natively on the tile
 * images.
 *
 * ttsim_native_run checks that every operand qualifies (f32 views at offset
 * 0 covering their buffer, stored in the storage format with the view's tile
 * geometry; u32 views as exact values), looks the kernel up in the family
 * tables and runs it. The kernel splits its work over the core grid
 * (ttsim_grid_run) and packs its results tile by tile, rounding to the
 * storage format. A launch that does not qualify, or that a kernel declines,
 * takes the converted path of ttsim_kernels.c (or fails with fallback=off).
 */
#include "ttsim_internal.h"

#include <string.h>

static const ttsim_native_entry *const families[] = {
    ttsim_native_matmul_kernels, ttsim_native_eltwise_kernels, ttsim_native_rows_kernels,
    ttsim_native_data_kernels,   ttsim_native_attn_kernels,
};

ttsim_native_fn ttsim_native_find(const char *kernel)
{
    for (size_t f = 0; f < G_N_ELEMENTS(families); f++)
        for (const ttsim_native_entry *e = families[f]; e->name; e++)
            if (strcmp(e->name, kernel) == 0) return e->fn;
    return NULL;
}

/* An input stored with another tile geometry than its view ([B, S, C] seen
 * as [B*S, C] with S not a multiple of 32, a flat [1, n] write seen as a
 * matrix): re-tile it for this launch into a scratch image of the view's
 * geometry, as a reshape on the device would (the buffer keeps its image). */
static void relayout(ttsim_device *d, int slot, ttsim_operand *op)
{
    ttsim_format fmt = d->cfg.storage;
    size_t bytes = ttsim_shape_bytes(&op->s, fmt);
    size_t head = (bytes + 63) & ~(size_t)63, total = head + (size_t)op->numel * 4;
    if (d->relayout_cap[slot] < total) {
        g_free(d->relayout[slot]);
        d->relayout[slot] = g_malloc(total);
        d->relayout_cap[slot] = total;
    }
    guint8 *img = d->relayout[slot];
    float *rows = (float *)(img + head);
    ttsim_untilize(op->tb->data, &op->tb->shape, op->tb->fmt, rows);
    ttsim_tilize(rows, &op->s, fmt, img);
    ttsim_tiled_init(&op->t, img, fmt, &op->s);
    d->relayouts++;
}

/* Fill op from view v; `stored` = the kernel reads its values; `slot` >= 0
 * lets an input of another geometry be re-tiled (outputs read in place
 * cannot be). */
static const char *qualify(ttsim_device *d, const ttml_view *v, gboolean stored, int slot, ttsim_operand *op)
{
    memset(op, 0, sizeof *op);
    op->view = v;
    op->buf = v->buf;
    op->tb = v->buf ? v->buf->handle : NULL;
    if (!op->tb) return "an operand has no ttsim buffer";
    if (v->offset != 0) return "a view at an offset";
    op->numel = ttsim_view_numel(v);
    ttsim_shape_from(v->ndim, v->shape, &op->s);
    if (v->dtype == TTML_DTYPE_U32) {
        if ((size_t)op->numel * 4 != v->buf->size) return "a u32 view that does not cover its buffer";
        if (!stored) return "a u32 output";
        if (!op->tb->shaped || op->tb->fmt != TTSIM_FMT_U32 || (gint64)op->tb->numel != op->numel)
            return "a u32 input that was never written";
        op->ids = op->tb->data;
        return NULL;
    }
    if (v->dtype != TTML_DTYPE_F32) return "a bf16 operand";
    if ((size_t)op->numel * 4 != v->buf->size) return "an f32 view that does not cover its buffer";
    if (stored) {
        /* an output read in place but never written holds zeros: ttsim_native_outputs makes its image */
        if (!op->tb->shaped && slot == -2) return NULL;
        if (!op->tb->shaped) return "an input that was never written";
        if (op->tb->fmt != d->cfg.storage) return "an input not in the storage format";
        if ((gint64)op->tb->numel != op->numel) return "an input whose image holds another number of elements";
        if (ttsim_same_tiles(&op->s, &op->tb->shape)) {
            ttsim_tiled_init(&op->t, op->tb->data, op->tb->fmt, &op->s);
        } else if (slot >= 0) {
            relayout(d, slot, op);
        } else if (op->s.cols == op->tb->shape.cols || !ttsim_format_is_block(d->cfg.storage)) {
            /* an output updated in place, stored with another geometry (a
             * [B, out] matmul result that the bias add sees as [B, 1, 1,
             * out]): re-tile its image in place, as a reshape on the device
             * would. Lossless: fp32 / bf16 values are re-stored exactly, and
             * with the same columns the Bfp8_b / Bfp4_b blocks (face rows) keep their
             * members. */
            /* launch scratch: free until the kernel runs */
            float *rows = ttsim_launch_scratch(d, TTSIM_SCRATCH_SLOTS - 1, (size_t)op->numel * 4 + 4);
            ttsim_untilize(op->tb->data, &op->tb->shape, op->tb->fmt, rows);
            GError *e = NULL;
            if (!ttsim_buf_prepare(d, op->buf, d->cfg.storage, &op->s, &e)) {
                g_clear_error(&e);
                return "an output updated in place, stored with another tile geometry (no device memory "
                       "to re-tile it)";
            }
            ttsim_tilize(rows, &op->s, d->cfg.storage, op->tb->data);
            op->tb->shape = op->s;
            op->tb->shadow_valid = FALSE;
            ttsim_tiled_init(&op->t, op->tb->data, op->tb->fmt, &op->s);
            d->relayouts++;
        } else {
            return "an output updated in place, stored in a block-float format with another number of columns";
        }
    }
    return NULL;
}

ttsim_native_status ttsim_native_run(ttsim_device *d, const ttml_launch *l, const char **why, GError **error)
{
    *why = NULL;
    ttsim_native_fn fn = ttsim_native_find(l->kernel);
    if (!fn) {
        *why = "no native implementation";
        return TTSIM_NATIVE_DECLINE;
    }
    ttsim_native_ctx c;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.l = l;
    for (int o = 0; o < l->n_out; o++) {
        gboolean read = ttsim_reads_outputs(l);
        for (int i = 0; i < l->n_in; i++) read = read || l->in[i].buf == l->out[o].buf;
        if ((*why = qualify(d, &l->out[o], read, -2, &c.out[o]))) return TTSIM_NATIVE_DECLINE;
        if (l->out[o].dtype != TTML_DTYPE_F32) {
            *why = "a non-f32 output";
            return TTSIM_NATIVE_DECLINE;
        }
    }
    /* inputs last: an input re-tiled into scratch must not be an output */
    for (int i = 0; i < l->n_in; i++) {
        gboolean is_out = FALSE;
        for (int o = 0; o < l->n_out; o++) is_out = is_out || l->in[i].buf == l->out[o].buf;
        if ((*why = qualify(d, &l->in[i], TRUE, is_out ? -1 : i, &c.in[i]))) return TTSIM_NATIVE_DECLINE;
    }
    ttsim_native_status st = fn(&c, error);
    if (st == TTSIM_NATIVE_DECLINE) {
        *why = c.decline ? c.decline : "the kernel declined these shapes";
        if (c.outputs_ready) {
            /* a kernel must decline before touching its outputs */
            g_set_error(error, TTML_ERROR, TTML_ERROR_FAILED,
                        "ttsim native kernel '%s' declined after preparing its outputs", l->kernel);
            return TTSIM_NATIVE_ERROR;
        }
    }
    return st;
}
