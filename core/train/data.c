/* core/train/data.c - synthetic in-memory datasets and batching helpers.
 *
 * data_config keys:
 *   type: linear | product     (default linear)
 *   num_samples: 256           (> 0)
 *   weights: [2.0, -1.0]       linear only: in_features values (shared by every
 *                              output) or out_features*in_features values, row
 *                              o holding output o's weights (PyTorch's [out, in]).
 *                              Absent: drawn from N(0, 1).
 *   bias: 0.0                  linear only: one number or a list of out_features
 *   noise: 0.0                 standard deviation of Gaussian noise added to y
 *
 * Inputs are X ~ N(0, 1). "product" sets every target to x0 * x1 (+ noise):
 * no linear model can fit it (its best linear fit is y = 0). Everything is
 * drawn from the context RNG, so ttml_set_seed() makes a dataset reproducible.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

static gboolean check_error(GError **error, GError *local)
{
    if (local) {
        g_propagate_error(error, local);
        return FALSE;
    }
    return TRUE;
}

ttml_dataset *ttml_dataset_synthetic(ttml_config *cfg, int in_features, int out_features,
                                     GError **error)
{
    char where[512];
    GError *local = NULL;
    if (in_features <= 0 || out_features <= 0) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "synthetic dataset: in_features (%d) and out_features (%d) must be positive",
                    in_features, out_features);
        return NULL;
    }
    if (cfg && ttml_config_get_type(cfg) != TTML_CONFIG_MAP) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: data_config must be a mapping (type, num_samples, weights, bias, noise)",
                    ttml_config_where(cfg, where, sizeof where));
        return NULL;
    }
    const char *type = ttml_config_string(cfg, "type", "linear", &local);
    gint64 n = ttml_config_int(cfg, "num_samples", 256, &local);
    double noise = ttml_config_double(cfg, "noise", 0.0, &local);
    if (!check_error(error, local)) return NULL;
    if (n <= 0 || n > (G_GINT64_CONSTANT(1) << 31)) {
        ttml_config *node = ttml_config_get(cfg, "num_samples");
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: 'num_samples' must be between 1 and 2^31, got %" G_GINT64_FORMAT,
                    ttml_config_where(node ? node : cfg, where, sizeof where), n);
        return NULL;
    }
    if (noise < 0.0 || !isfinite(noise)) {
        ttml_config *node = ttml_config_get(cfg, "noise");
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: 'noise' is a standard deviation and must be >= 0, got %g",
                    ttml_config_where(node ? node : cfg, where, sizeof where), noise);
        return NULL;
    }
    gboolean linear = strcmp(type, "linear") == 0;
    gboolean product = strcmp(type, "product") == 0;
    if (!linear && !product) {
        ttml_config *node = ttml_config_get(cfg, "type");
        g_set_error(error, TTML_ERROR, TTML_ERROR_NOT_FOUND,
                    "%s: unknown data_config type '%s' (available: linear, product)",
                    ttml_config_where(node ? node : cfg, where, sizeof where), type);
        return NULL;
    }
    if (product && in_features < 2) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: data type 'product' needs at least 2 input features, the model has %d",
                    ttml_config_where(cfg, where, sizeof where), in_features);
        return NULL;
    }

    /* Linear parameters: W [out, in] and b [out] in double. */
    double *w = NULL, *b = NULL;
    if (linear) {
        int nin = in_features, nout = out_features;
        w = g_new0(double, (gsize)nin * nout);
        b = g_new0(double, nout);
        double *list = NULL;
        int nw = ttml_config_double_list(cfg, "weights", &list, error);
        if (nw < 0) goto fail;
        if (nw == 0 && !ttml_config_get(cfg, "weights")) {
            float *r = g_new(float, (gsize)nin * nout);
            ttml_rng_fill_normal(r, (size_t)nin * nout, 0.0f, 1.0f);
            for (int i = 0; i < nin * nout; i++) w[i] = r[i];
            g_free(r);
        } else if (nw == nin) {
            for (int o = 0; o < nout; o++)
                for (int i = 0; i < nin; i++) w[o * nin + i] = list[i];
        } else if (nw == nin * nout) {
            memcpy(w, list, sizeof(double) * (gsize)nin * nout);
        } else {
            g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                        "%s: 'weights' has %d values; the model has %d inputs and %d outputs, so "
                        "give %d (shared by the outputs) or %d (out x in)",
                        ttml_config_where(ttml_config_get(cfg, "weights"), where, sizeof where),
                        nw, nin, nout, nin, nin * nout);
            g_free(list);
            goto fail;
        }
        g_free(list);

        ttml_config *bnode = ttml_config_get(cfg, "bias");
        if (bnode && ttml_config_get_type(bnode) == TTML_CONFIG_SEQ) {
            double *bl = NULL;
            int nb = ttml_config_double_list(cfg, "bias", &bl, error);
            if (nb < 0) goto fail;
            if (nb != nout) {
                g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                            "%s: 'bias' has %d values but the model has %d outputs",
                            ttml_config_where(bnode, where, sizeof where), nb, nout);
                g_free(bl);
                goto fail;
            }
            memcpy(b, bl, sizeof(double) * nout);
            g_free(bl);
        } else {
            double bias = ttml_config_double(cfg, "bias", 0.0, &local);
            if (!check_error(error, local)) goto fail;
            for (int o = 0; o < nout; o++) b[o] = bias;
        }
    } else {
        /* Say clearly that linear-only keys do nothing here. */
        const char *linear_only[] = {"weights", "bias"};
        for (int k = 0; k < 2; k++) {
            ttml_config *node = ttml_config_peek(cfg, linear_only[k]);
            if (node) {
                g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                            "%s: '%s' applies to data type 'linear' only, not '%s'; remove it",
                            ttml_config_where(node, where, sizeof where), linear_only[k], type);
                goto fail;
            }
        }
    }

    ttml_dataset *ds = g_new0(ttml_dataset, 1);
    ds->n = n;
    ds->in_features = in_features;
    ds->out_features = out_features;
    ds->x = g_new(float, (gsize)n * in_features);
    ds->y = g_new(float, (gsize)n * out_features);
    ttml_rng_fill_normal(ds->x, (size_t)n * in_features, 0.0f, 1.0f);
    for (gint64 s = 0; s < n; s++) {
        const float *x = ds->x + s * in_features;
        float *y = ds->y + s * out_features;
        for (int o = 0; o < out_features; o++) {
            double v;
            if (linear) {
                v = b[o];
                for (int i = 0; i < in_features; i++) v += w[o * in_features + i] * (double)x[i];
            } else {
                v = (double)x[0] * (double)x[1];
            }
            y[o] = (float)v;
        }
    }
    if (noise > 0.0) {
        float *eps = g_new(float, (gsize)n * out_features);
        ttml_rng_fill_normal(eps, (size_t)n * out_features, 0.0f, (float)noise);
        for (gint64 i = 0; i < n * out_features; i++) ds->y[i] += eps[i];
        g_free(eps);
    }
    g_free(w);
    g_free(b);
    return ds;

fail:
    g_free(w);
    g_free(b);
    return NULL;
}

void ttml_dataset_free(ttml_dataset *ds)
{
    if (!ds) return;
    g_free(ds->x);
    g_free(ds->y);
    g_free(ds);
}

void ttml_dataset_gather(const ttml_dataset *ds, const gint64 *idx, int b, float *x, float *y)
{
    size_t in = (size_t)ds->in_features, out = (size_t)ds->out_features;
    for (int r = 0; r < b; r++) {
        gint64 s = idx[r];
        g_return_if_fail(s >= 0 && s < ds->n);
        if (x) memcpy(x + (size_t)r * in, ds->x + (size_t)s * in, in * sizeof(float));
        if (y) memcpy(y + (size_t)r * out, ds->y + (size_t)s * out, out * sizeof(float));
    }
}

void ttml_shuffle_indices(gint64 *idx, gint64 n)
{
    for (gint64 i = 0; i < n; i++) idx[i] = i;
    for (gint64 i = n - 1; i > 0; i--) {
        gint64 j = (gint64)(ttml_rng_u64() % (guint64)(i + 1));
        gint64 t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
