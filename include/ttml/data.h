/* ttml/data.h - datasets for the training loop (core). */
#ifndef TTML_DATA_H
#define TTML_DATA_H

#include <ttml/tensor.h>
#include <ttml/config.h>

G_BEGIN_DECLS

/* An in-memory regression dataset: n samples of `in_features` inputs and
 * `out_features` targets, row-major f32. */
typedef struct ttml_dataset {
    gint64 n;
    int in_features, out_features;
    float *x;      /* n * in_features  (owned) */
    float *y;      /* n * out_features (owned) */
} ttml_dataset;

/* From a `data_config` map: type "linear" (y = X w + b + noise, X ~ N(0,1))
 * or "product" (y = x0 * x1 ..., a task a linear model cannot fit), seeded
 * by the context RNG. */
TTML_API ttml_dataset *ttml_dataset_synthetic(ttml_config *cfg, int in_features, int out_features,
                                              GError **error);
TTML_API void ttml_dataset_free(ttml_dataset *ds);
/* Copy the samples idx[0..b) into host buffers x (b*in) and y (b*out). */
TTML_API void ttml_dataset_gather(const ttml_dataset *ds, const gint64 *idx, int b, float *x, float *y);
/* Fisher-Yates shuffle of 0..n-1 with the context RNG. */
TTML_API void ttml_shuffle_indices(gint64 *idx, gint64 n);

G_END_DECLS

#endif
