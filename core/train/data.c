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
#include <ttml/ttml.h>

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

typedef struct {
    const char *type;
    gboolean linear;           /* else "product" */
    gint64 n;
    double noise;
} synthetic_options;

/* type, num_samples and noise, checked against the model's feature counts. */
static gboolean read_options(ttml_config *cfg, int in_features, synthetic_options *so,
                             GError **error)
{
    char where[512];
    GError *local = NULL;
    so->type = ttml_config_string(cfg, "type", "linear", &local);
    so->n = ttml_config_int(cfg, "num_samples", 256, &local);
    so->noise = ttml_config_double(cfg, "noise", 0.0, &local);
    if (!check_error(error, local)) return FALSE;
    if (so->n <= 0 || so->n > (G_GINT64_CONSTANT(1) << 31)) {
        ttml_config *node = ttml_config_get(cfg, "num_samples");
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: 'num_samples' must be between 1 and 2^31, got %" G_GINT64_FORMAT,
                    ttml_config_where(node ? node : cfg, where, sizeof where), so->n);
        return FALSE;
    }
    if (so->noise < 0.0 || !isfinite(so->noise)) {
        ttml_config *node = ttml_config_get(cfg, "noise");
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: 'noise' is a standard deviation and must be >= 0, got %g",
                    ttml_config_where(node ? node : cfg, where, sizeof where), so->noise);
        return FALSE;
    }
    so->linear = strcmp(so->type, "linear") == 0;
    gboolean product = strcmp(so->type, "product") == 0;
    if (!so->linear && !product) {
        ttml_config *node = ttml_config_get(cfg, "type");
        g_set_error(error, TTML_ERROR, TTML_ERROR_NOT_FOUND,
                    "%s: unknown data_config type '%s' (available: linear, product)",
                    ttml_config_where(node ? node : cfg, where, sizeof where), so->type);
        return FALSE;
    }
    if (product && in_features < 2) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: data type 'product' needs at least 2 input features, the model has %d",
                    ttml_config_where(cfg, where, sizeof where), in_features);
        return FALSE;
    }
    return TRUE;
}

/* weights into w [nout, nin]: a list of nin (shared) or nin*nout values,
 * or drawn from N(0, 1) when absent. */
static gboolean read_weights(ttml_config *cfg, int nin, int nout, double *w, GError **error)
{
    char where[512];
    double *list = NULL;
    int nw = ttml_config_double_list(cfg, "weights", &list, error);
    if (nw < 0) return FALSE;
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
        return FALSE;
    }
    g_free(list);
    return TRUE;
}

/* bias into b [nout]: one number or a list of nout. */
static gboolean read_bias(ttml_config *cfg, int nout, double *b, GError **error)
{
    char where[512];
    GError *local = NULL;
    ttml_config *bnode = ttml_config_get(cfg, "bias");
    if (bnode && ttml_config_get_type(bnode) == TTML_CONFIG_SEQ) {
        double *bl = NULL;
        int nb = ttml_config_double_list(cfg, "bias", &bl, error);
        if (nb < 0) return FALSE;
        if (nb != nout) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                        "%s: 'bias' has %d values but the model has %d outputs",
                        ttml_config_where(bnode, where, sizeof where), nb, nout);
            g_free(bl);
            return FALSE;
        }
        memcpy(b, bl, sizeof(double) * nout);
        g_free(bl);
        return TRUE;
    }
    double bias = ttml_config_double(cfg, "bias", 0.0, &local);
    if (!check_error(error, local)) return FALSE;
    for (int o = 0; o < nout; o++) b[o] = bias;
    return TRUE;
}

/* Say clearly that linear-only keys do nothing for another type. */
static gboolean reject_linear_keys(ttml_config *cfg, const char *type, GError **error)
{
    char where[512];
    const char *linear_only[] = {"weights", "bias"};
    for (int k = 0; k < 2; k++) {
        ttml_config *node = ttml_config_peek(cfg, linear_only[k]);
        if (node) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                        "%s: '%s' applies to data type 'linear' only, not '%s'; remove it",
                        ttml_config_where(node, where, sizeof where), linear_only[k], type);
            return FALSE;
        }
    }
    return TRUE;
}

/* Draw X ~ N(0, 1) and compute y (linear: W x + b; product: x0 * x1) plus noise. */
static ttml_dataset *generate(const synthetic_options *so, int in_features, int out_features,
                              const double *w, const double *b)
{
    gint64 n = so->n;
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
            if (so->linear) {
                v = b[o];
                for (int i = 0; i < in_features; i++) v += w[o * in_features + i] * (double)x[i];
            } else {
                v = (double)x[0] * (double)x[1];
            }
            y[o] = (float)v;
        }
    }
    if (so->noise > 0.0) {
        float *eps = g_new(float, (gsize)n * out_features);
        ttml_rng_fill_normal(eps, (size_t)n * out_features, 0.0f, (float)so->noise);
        for (gint64 i = 0; i < n * out_features; i++) ds->y[i] += eps[i];
        g_free(eps);
    }
    return ds;
}

ttml_dataset *ttml_dataset_synthetic(ttml_config *cfg, int in_features, int out_features,
                                     GError **error)
{
    char where[512];
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
    synthetic_options so;
    if (!read_options(cfg, in_features, &so, error)) return NULL;
    /* Linear parameters: W [out, in] and b [out] in double. */
    double *w = NULL, *b = NULL;
    ttml_dataset *ds = NULL;
    if (so.linear) {
        w = g_new0(double, (gsize)in_features * out_features);
        b = g_new0(double, out_features);
        if (!read_weights(cfg, in_features, out_features, w, error) ||
            !read_bias(cfg, out_features, b, error))
            goto out;
    } else if (!reject_linear_keys(cfg, so.type, error)) {
        goto out;
    }
    ds = generate(&so, in_features, out_features, w, b);
out:
    g_free(w);
    g_free(b);
    return ds;
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
