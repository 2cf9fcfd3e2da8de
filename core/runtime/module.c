/* core/runtime/module.c - modules with named parameters, the built-in linear layer
 * and model creation by name. */
#include "internal.h"

#include <ttml/profile_zones.h>

#include <math.h>
#include <stddef.h>

ttml_module *ttml_module_new(const ttml_module_class *klass, void *priv)
{
    ttml_module *m = g_new0(ttml_module, 1);
    m->klass = klass;
    m->ref = 1;
    m->training = TRUE;
    m->param_names = g_ptr_array_new_with_free_func(g_free);
    m->params = g_ptr_array_new_with_free_func((GDestroyNotify)ttml_tensor_unref);
    m->child_names = g_ptr_array_new_with_free_func(g_free);
    m->children = g_ptr_array_new_with_free_func((GDestroyNotify)ttml_module_unref);
    m->priv = priv;
    return m;
}

ttml_module *ttml_module_ref(ttml_module *m)
{
    if (m) g_atomic_int_inc(&m->ref);
    return m;
}

void ttml_module_unref(ttml_module *m)
{
    if (!m || !g_atomic_int_dec_and_test(&m->ref)) return;
    if (m->klass && m->klass->finalize) m->klass->finalize(m);
    g_ptr_array_unref(m->param_names);
    g_ptr_array_unref(m->params);
    g_ptr_array_unref(m->child_names);
    g_ptr_array_unref(m->children);
    g_free(m);
}

void ttml_module_add_param(ttml_module *m, const char *name, ttml_tensor *t)
{
    ttml_tensor_set_requires_grad(t, TRUE);
    g_ptr_array_add(m->param_names, g_strdup(name));
    g_ptr_array_add(m->params, ttml_tensor_ref(t));
}

void ttml_module_add_child(ttml_module *m, const char *name, ttml_module *child)
{
    g_ptr_array_add(m->child_names, g_strdup(name));
    g_ptr_array_add(m->children, child);
}

ttml_tensor *ttml_module_forward(ttml_module *m, ttml_tensor *x, GError **error)
{
    if (!m->klass || !m->klass->forward) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_UNSUPPORTED, "module '%s' has no forward",
                    m->klass ? m->klass->type : "?");
        return NULL;
    }
    ttml_zone_begin(m->klass->type, "module");
    ttml_tensor *y = m->klass->forward(m, x, error);
    ttml_zone_end();
    return y;
}

void ttml_module_train(ttml_module *m, gboolean training)
{
    m->training = training;
    for (guint i = 0; i < m->children->len; i++) ttml_module_train(g_ptr_array_index(m->children, i), training);
}

static void param_free(gpointer p)
{
    ttml_param *pa = p;
    g_free(pa->name);
    ttml_tensor_unref(pa->tensor);
    g_free(pa);
}

static void collect(ttml_module *m, const char *prefix, GPtrArray *out)
{
    for (guint i = 0; i < m->params->len; i++) {
        ttml_param *p = g_new0(ttml_param, 1);
        const char *n = g_ptr_array_index(m->param_names, i);
        p->name = *prefix ? g_strconcat(prefix, ".", n, NULL) : g_strdup(n);
        p->tensor = ttml_tensor_ref(g_ptr_array_index(m->params, i));
        g_ptr_array_add(out, p);
    }
    for (guint i = 0; i < m->children->len; i++) {
        const char *n = g_ptr_array_index(m->child_names, i);
        char *sub = *prefix ? g_strconcat(prefix, ".", n, NULL) : g_strdup(n);
        collect(g_ptr_array_index(m->children, i), sub, out);
        g_free(sub);
    }
}

GPtrArray *ttml_module_parameters(ttml_module *m)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(param_free);
    collect(m, "", out);
    return out;
}

gsize ttml_module_num_params(ttml_module *m)
{
    GPtrArray *ps = ttml_module_parameters(m);
    gsize n = 0;
    for (guint i = 0; i < ps->len; i++) n += ((ttml_param *)g_ptr_array_index(ps, i))->tensor->numel;
    g_ptr_array_unref(ps);
    return n;
}

/* ---- linear layer ---- */

typedef struct { ttml_tensor *weight, *bias; } linear_priv;

static ttml_tensor *linear_forward(ttml_module *m, ttml_tensor *x, GError **error)
{
    linear_priv *p = m->priv;
    return ttml_linear(x, p->weight, p->bias, error);
}

static void linear_finalize(ttml_module *m) { g_free(m->priv); }

static const ttml_module_class linear_class = {"linear", linear_forward, linear_finalize};

static ttml_tensor *uniform_param(int ndim, const int64_t *shape, float bound, GError **error)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *v = g_new(float, n);
    ttml_rng_fill_uniform(v, n, -bound, bound);
    ttml_tensor *t = ttml_tensor_from_floats(NULL, ndim, shape, v, error);
    g_free(v);
    return t;
}

ttml_module *ttml_linear_layer_new(int64_t in_features, int64_t out_features, gboolean bias, GError **error)
{
    if (in_features <= 0 || out_features <= 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "linear layer needs positive sizes, got in=%" G_GINT64_FORMAT " out=%" G_GINT64_FORMAT,
                    in_features, out_features);
        return NULL;
    }
    float bound = 1.0f / sqrtf((float)in_features);
    int64_t wshape[2] = {out_features, in_features};
    linear_priv *p = g_new0(linear_priv, 1);
    p->weight = uniform_param(2, wshape, bound, error);
    if (p->weight && bias) p->bias = uniform_param(1, &out_features, bound, error);
    if (!p->weight || (bias && !p->bias)) {
        ttml_tensor_unref(p->weight);
        g_free(p);
        return NULL;
    }
    ttml_module *m = ttml_module_new(&linear_class, p);
    ttml_module_add_param(m, "weight", p->weight);
    ttml_tensor_unref(p->weight); /* the module's list holds it */
    if (p->bias) {
        ttml_module_add_param(m, "bias", p->bias);
        ttml_tensor_unref(p->bias);
    }
    return m;
}

gboolean ttml_model_estimate(const char *name, ttml_config *cfg, ttml_model_size *out, GError **error)
{
    const ttml_model_desc *d = ttml_model_find(name);
    if (!d) {
        ttml_set_not_found(error, TTML_FEATURE_MODEL, "model", name);
        return FALSE;
    }
    if (d->struct_size < offsetof(ttml_model_desc, estimate) + sizeof(void *) || !d->estimate) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_UNSUPPORTED, "model '%s' cannot estimate its size", name);
        return FALSE;
    }
    if (out->struct_size < sizeof *out) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "ttml_model_estimate: out->struct_size is %zu, "
                    "expected at least %zu", out->struct_size, sizeof *out);
        return FALSE;
    }
    out->n_params = out->activations_per_token = 0;
    if (!d->estimate(cfg, out, error)) {
        if (error && *error) g_prefix_error(error, "model '%s': ", name);
        return FALSE;
    }
    return TRUE;
}

ttml_module *ttml_model_create(const char *name, ttml_config *cfg, GError **error)
{
    const ttml_model_desc *d = ttml_model_find(name);
    if (!d) {
        ttml_set_not_found(error, TTML_FEATURE_MODEL, "model", name);
        return NULL;
    }
    ttml_module *m = d->create(cfg, error);
    if (!m) {
        if (error && *error) g_prefix_error(error, "model '%s': ", name);
        else g_set_error(error, TTML_ERROR, TTML_ERROR_FAILED, "model '%s' could not be created", name);
        return NULL;
    }
    if (cfg && !ttml_config_check_unused(cfg, error)) {
        g_prefix_error(error, "model '%s': ", name);
        ttml_module_unref(m);
        return NULL;
    }
    return m;
}
