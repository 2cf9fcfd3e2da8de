/* core/ops/op_params.c - an op's optional parameters (ABI 1.3 tail of
 * ttml_op_desc): its defaults, its named fields, the checks at registration
 * and filling a params struct from a config mapping by field name. */
#include "internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* TRUE when the descriptor was built with the 1.3 tail up to `end`. */
#define HAS_TAIL(op, field) \
    ((op)->struct_size >= offsetof(ttml_op_desc, field) + sizeof((op)->field))

const void *ttml_op_default_params(const ttml_op_desc *op)
{
    return op && op->params_size && HAS_TAIL(op, default_params) ? op->default_params : NULL;
}

const ttml_op_param_field *ttml_op_param_fields(const ttml_op_desc *op)
{
    return op && op->params_size && HAS_TAIL(op, param_fields) ? op->param_fields : NULL;
}

static size_t field_size(ttml_op_param_type type)
{
    switch (type) {
    case TTML_OP_PARAM_FLOAT: return sizeof(float);
    case TTML_OP_PARAM_INT:
    case TTML_OP_PARAM_BOOL: return sizeof(int);
    case TTML_OP_PARAM_INT64: return sizeof(int64_t);
    }
    return 0;
}

gboolean ttml_op_desc_check_params(const ttml_op_desc *op, const char *plugin, GError **error)
{
    const char *name = op->name ? op->name : "?";
    if (!op->params_size && (HAS_TAIL(op, default_params) && op->default_params)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN,
                    "op '%s' of plugin '%s' declares default_params but params_size 0: set params_size "
                    "to the size of its params struct or drop the defaults", name, plugin);
        return FALSE;
    }
    const ttml_op_param_field *f = HAS_TAIL(op, param_fields) ? op->param_fields : NULL;
    for (guint i = 0; f && f[i].name; i++) {
        size_t size = field_size(f[i].type);
        if (!size || f[i].offset > op->params_size || size > op->params_size - f[i].offset) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_PLUGIN,
                        "op '%s' of plugin '%s': parameter field '%s' (type %d at offset %zu) does not "
                        "fit its %zu-byte params struct: fix its param_fields table", name, plugin,
                        f[i].name, (int)f[i].type, f[i].offset, op->params_size);
            return FALSE;
        }
    }
    return TRUE;
}

/* Set one field of `params` from `map` when the key is present (also marks
 * it known for "did you mean"). */
static gboolean read_field(const ttml_op_param_field *f, ttml_config *map, char *params, gboolean *present,
                           GError **error)
{
    GError *local = NULL;
    *present = ttml_config_get(map, f->name) != NULL;
    if (!*present) return TRUE;
    char *at = params + f->offset;
    if (f->type == TTML_OP_PARAM_FLOAT) {
        double d = ttml_config_double(map, f->name, 0.0, &local);
        if (!local && !(fabs(d) <= FLT_MAX)) {
            char where[256];
            g_set_error(&local, TTML_ERROR, TTML_ERROR_CONFIG, "%s: key '%s' must be a finite float, got %g",
                        ttml_config_where(ttml_config_get(map, f->name), where, sizeof where), f->name, d);
        }
        float v = local ? 0.0f : (float)d;
        memcpy(at, &v, sizeof v);
    } else if (f->type == TTML_OP_PARAM_BOOL) {
        int v = ttml_config_bool(map, f->name, FALSE, &local) ? 1 : 0;
        memcpy(at, &v, sizeof v);
    } else {
        gint64 v = ttml_config_int(map, f->name, 0, &local);
        if (!local && f->type == TTML_OP_PARAM_INT && (v < G_MININT || v > G_MAXINT)) {
            char where[256];
            g_set_error(&local, TTML_ERROR, TTML_ERROR_CONFIG,
                        "%s: key '%s' must fit a 32-bit integer, got %" G_GINT64_FORMAT,
                        ttml_config_where(ttml_config_get(map, f->name), where, sizeof where), f->name, v);
        }
        int v32 = (int)v;
        int64_t v64 = v;
        if (f->type == TTML_OP_PARAM_INT) memcpy(at, &v32, sizeof v32);
        else memcpy(at, &v64, sizeof v64);
    }
    if (local) g_propagate_error(error, local);
    return local == NULL;
}

void *ttml_op_params_from_config(const ttml_op_desc *op, ttml_config *map, const char *ignore_key,
                                 GError **error)
{
    g_return_val_if_fail(op && map, NULL);
    char where[256];
    const void *defaults = ttml_op_default_params(op);
    const ttml_op_param_field *fields = ttml_op_param_fields(op);
    char *params = g_malloc0(op->params_size ? op->params_size : 1);
    if (defaults) memcpy(params, defaults, op->params_size);
    if (ignore_key) (void)ttml_config_get(map, ignore_key);
    GString *missing = g_string_new(NULL);
    for (guint i = 0; fields && fields[i].name; i++) {
        gboolean present = FALSE;
        if (!read_field(&fields[i], map, params, &present, error)) goto fail;
        if (!present && !defaults)
            g_string_append_printf(missing, "%s%s", missing->len ? ", " : "", fields[i].name);
    }
    GError *unused = NULL;
    if (!ttml_config_check_unused(map, &unused)) {
        if (op->params_size && !fields)
            g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                        "%s: op '%s' lists no parameter fields (its descriptor declares none, or predates "
                        "ABI 1.3), so its parameters cannot be set from a config (%s)",
                        ttml_config_where(map, where, sizeof where), op->name, unused->message);
        else
            g_propagate_error(error, g_steal_pointer(&unused));
        g_clear_error(&unused);
        goto fail;
    }
    if (op->params_size && !defaults && (!fields || missing->len)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: op '%s' has no default parameters and %s%s", ttml_config_where(map, where, sizeof where),
                    op->name, fields ? "these are not set: " : "its parameters cannot be set from a config",
                    fields ? missing->str : " (its descriptor lists no param_fields)");
        goto fail;
    }
    g_string_free(missing, TRUE);
    return params;
fail:
    g_string_free(missing, TRUE);
    g_free(params);
    return NULL;
}
