/* core/runtime/optimizer.c - optimizer objects and creation by name. */
#include "internal.h"

ttml_optimizer *ttml_optimizer_new(const ttml_optimizer_class *klass, GPtrArray *params, float lr, void *priv)
{
    ttml_optimizer *o = g_new0(ttml_optimizer, 1);
    o->klass = klass;
    o->params = g_ptr_array_ref(params);
    o->lr = lr;
    o->priv = priv;
    return o;
}

ttml_optimizer *ttml_optimizer_create(const char *name, GPtrArray *params, ttml_config *cfg, double lr,
                                      double weight_decay, GError **error)
{
    const ttml_optimizer_desc *d = ttml_optimizer_find(name);
    if (!d) {
        ttml_set_not_found(error, TTML_FEATURE_OPTIMIZER, "optimizer", name);
        return NULL;
    }
    if (!(lr >= 0.0)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "optimizer '%s': learning rate must be >= 0, got %g",
                    name, lr);
        return NULL;
    }
    ttml_optimizer *o = d->create(params, cfg, lr, weight_decay, error);
    if (!o) {
        if (error && *error) g_prefix_error(error, "optimizer '%s': ", name);
        return NULL;
    }
    if (cfg && !ttml_config_check_unused(cfg, error)) {
        g_prefix_error(error, "optimizer '%s': ", name);
        ttml_optimizer_free(o);
        return NULL;
    }
    return o;
}

gboolean ttml_optimizer_step(ttml_optimizer *o, GError **error)
{
    if (!o->klass->step(o, error)) return FALSE;
    o->steps++;
    return TRUE;
}

void ttml_optimizer_zero_grad(ttml_optimizer *o)
{
    for (guint i = 0; i < o->params->len; i++) ttml_tensor_zero_grad(((ttml_param *)g_ptr_array_index(o->params, i))->tensor);
}

void ttml_optimizer_set_lr(ttml_optimizer *o, float lr) { o->lr = lr; }
float ttml_optimizer_get_lr(const ttml_optimizer *o) { return o->lr; }

void ttml_optimizer_free(ttml_optimizer *o)
{
    if (!o) return;
    if (o->klass && o->klass->finalize) o->klass->finalize(o);
    g_ptr_array_unref(o->params);
    g_free(o);
}
