/* core/runtime/shard.c - shard descriptions of tensor-parallel parameters
 * (ttml/ops_parallel.h): checks, the shard's shape, and copies between an
 * unsharded array and a shard's. */
#include "internal.h"

#include <string.h>

gboolean ttml_shard_init(ttml_shard *s, const char *what, int ndim, const int64_t *full, int dim, int groups,
                         int parts, int index, GError **error)
{
    if (ndim < 1 || ndim > TTML_MAX_DIMS || dim < 0 || dim >= ndim || groups < 1 || parts < 1 || index < 0 ||
        index >= parts) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "%s: bad shard (ndim %d, dim %d, groups %d, shard %d of %d)", what, ndim, dim, groups, index,
                    parts);
        return FALSE;
    }
    if (full[dim] % ((int64_t)groups * parts) != 0) {
        char sh[96];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "%s %s: dimension %d (%" G_GINT64_FORMAT ")%s cannot be split into %d tensor-parallel "
                    "shards; choose sizes divisible by the TP size (mesh_shape)",
                    what, ttml_shape_str(ndim, full, sh, sizeof sh), dim, full[dim],
                    groups > 1 ? " (in equal blocks)" : "", parts);
        return FALSE;
    }
    memset(s, 0, sizeof *s);
    s->dim = dim;
    s->groups = groups;
    s->parts = parts;
    s->index = index;
    s->ndim = ndim;
    memcpy(s->full, full, (size_t)ndim * sizeof(int64_t));
    return TRUE;
}

void ttml_shard_shape(const ttml_shard *s, int64_t *shape)
{
    memcpy(shape, s->full, (size_t)s->ndim * sizeof(int64_t));
    shape[s->dim] = s->full[s->dim] / s->parts;
}

void ttml_shard_copy(const ttml_shard *s, void *full, void *part, gboolean to_full)
{
    size_t outer = 1, inner = 1;
    for (int i = 0; i < s->dim; i++) outer *= (size_t)s->full[i];
    for (int i = s->dim + 1; i < s->ndim; i++) inner *= (size_t)s->full[i];
    size_t block = (size_t)s->full[s->dim] / (size_t)s->groups, piece = block / (size_t)s->parts;
    size_t run = piece * inner * 4, extent = (size_t)s->full[s->dim];
    char *f = full, *p = part;
    for (size_t o = 0; o < outer; o++)
        for (size_t g = 0; g < (size_t)s->groups; g++) {
            char *src = f + ((o * extent + g * block + (size_t)s->index * piece) * inner) * 4;
            char *dst = p + ((o * (size_t)s->groups + g) * piece * inner) * 4;
            if (to_full) memcpy(src, dst, run);
            else memcpy(dst, src, run);
        }
}

void ttml_tensor_set_shard(ttml_tensor *t, const ttml_shard *s)
{
    g_free(t->shard);
    t->shard = NULL;
    if (!s) return;
    t->shard = g_new(ttml_shard, 1);
    *t->shard = *s;
}
