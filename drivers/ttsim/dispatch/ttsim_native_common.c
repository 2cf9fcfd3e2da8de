/* drivers/ttsim/dispatch/ttsim_native_common.c - what every native kernel
 * family uses: making the outputs' images ready, and the errors they report
 * (worded as the cpu kernels word them). */
#include "ttsim_internal.h"

#include <stdarg.h>
#include <string.h>

/* Is output o read by the kernel (in place or aliased with an input)? */
static gboolean output_read(const ttsim_native_ctx *c, int o)
{
    if (ttsim_reads_outputs(c->l)) return TRUE;
    for (int i = 0; i < c->l->n_in; i++)
        if (c->l->in[i].buf == c->l->out[o].buf) return TRUE;
    return FALSE;
}

gboolean ttsim_native_outputs(ttsim_native_ctx *c, GError **error)
{
    ttsim_device *d = c->d;
    for (int o = 0; o < c->l->n_out; o++) {
        ttsim_operand *op = &c->out[o];
        gboolean seen = FALSE;
        for (int p = 0; p < o; p++)
            if (c->l->out[p].buf == op->buf) {
                op->t = c->out[p].t;
                ttsim_tiled_init(&op->t, op->tb->data, d->cfg.storage, &op->s);
                seen = TRUE;
            }
        if (seen) continue;
        if (!output_read(c, o)) {
            if (!ttsim_buf_prepare(d, op->buf, d->cfg.storage, &op->s, error)) return FALSE;
            op->tb->fmt = d->cfg.storage;
            op->tb->shape = op->s;
            op->tb->numel = (size_t)op->numel;
            op->tb->shaped = TRUE;
        } else if (!op->tb->shaped) {
            /* read but never written: zeros (as the converted path decodes it) */
            if (!ttsim_buf_prepare(d, op->buf, d->cfg.storage, &op->s, error)) return FALSE;
            memset(op->tb->data, 0, ttsim_shape_bytes(&op->s, d->cfg.storage));
            op->tb->fmt = d->cfg.storage;
            op->tb->shape = op->s;
            op->tb->numel = (size_t)op->numel;
            op->tb->shaped = TRUE;
        }
        op->tb->shadow_valid = FALSE;
        ttsim_tiled_init(&op->t, op->tb->data, d->cfg.storage, &op->s);
    }
    /* inputs aliasing an output see its (unmoved) image */
    c->outputs_ready = TRUE;
    return TRUE;
}

ttsim_native_status ttsim_native_fail(const ttsim_native_ctx *c, GError **error, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, TTML_ERROR, code, "ttsim kernel '%s': %s", c->l->kernel ? c->l->kernel : "?", msg);
    g_free(msg);
    return TTSIM_NATIVE_ERROR;
}

ttsim_native_status ttsim_native_count_error(const ttsim_native_ctx *c, const ttml_view *v, const char *name,
                                             gint64 want, const char *what, GError **error)
{
    char s[80];
    return ttsim_native_fail(c, error, TTML_ERROR_SHAPE,
                             "%s of shape %s has %" G_GINT64_FORMAT " elements but must have %" G_GINT64_FORMAT
                             " (%s)",
                             name, ttsim_view_shape_str(v, s, sizeof s), ttsim_view_numel(v), want, what);
}

gboolean ttsim_native_ids_ok(const ttsim_native_ctx *c, const guint32 *ids, gint64 n, gint64 limit,
                             const char *kind, GError **error)
{
    for (gint64 i = 0; i < n; i++)
        if ((gint64)ids[i] >= limit) {
            ttsim_native_fail(c, error, TTML_ERROR_INVALID_ARG,
                              "%s id %u at row %" G_GINT64_FORMAT " is out of range: the vocabulary size is %" G_GINT64_FORMAT
                              " (valid ids are 0..%" G_GINT64_FORMAT ")",
                              kind, ids[i], i, limit, limit ? limit - 1 : 0);
            return FALSE;
        }
    return TRUE;
}
