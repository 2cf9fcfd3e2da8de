/* ttml/module.h - modules with named parameters, and the model registry.
 *
 * A module owns references to its parameters and child modules. Parameter
 * names are dotted paths ("blocks.0.attn.qkv.weight") so checkpoints and
 * optimizer state address them by name.
 */
#ifndef TTML_MODULE_H
#define TTML_MODULE_H

#include <ttml/ops.h>
#include <ttml/config.h>

G_BEGIN_DECLS

typedef struct ttml_module_class {
    const char *type;                                   /* "linear", "mlp", ... */
    ttml_tensor *(*forward)(ttml_module *m, ttml_tensor *x, GError **error);
    void (*finalize)(ttml_module *m);                   /* free m->priv; may be NULL */
    /* Optional, language models only (NULL otherwise): incremental decoding
     * with a key/value cache. cache_new makes a cache for `batch` sequences
     * of up to max_len tokens (owned by the caller, freed with cache_free).
     * decode runs ids u32 [B, 1, 1, T] at positions pos .. pos+T-1, appends
     * their keys/values to the cache, and returns logits [B, 1, T, Vpad];
     * each new token costs one position, not a re-run of the prefix. */
    void *(*cache_new)(ttml_module *m, int64_t batch, int64_t max_len, GError **error);
    void (*cache_free)(void *cache);
    ttml_tensor *(*decode)(ttml_module *m, void *cache, ttml_tensor *ids, int64_t pos, GError **error);
    /* Optional, language models only (NULL otherwise): one pipeline stage.
     * Runs the blocks [first, end) ("blocks.first" .. "blocks.end-1"). With
     * `embed`, x is ids u32 [B, 1, 1, S] and the embeddings run first, else
     * x is the activations [B, 1, S, E] of block first-1; with `head` the
     * final norm and head run last and the result is the logits
     * [B, 1, S, Vpad], else the activations of block end-1. embed, all
     * blocks and head in one call equal forward(). */
    ttml_tensor *(*stage_forward)(ttml_module *m, ttml_tensor *x, int64_t first, int64_t end, gboolean embed,
                                  gboolean head, GError **error);
} ttml_module_class;

struct ttml_module {
    const ttml_module_class *klass;
    gint ref;
    gboolean training;
    GPtrArray *param_names;   /* char*, owned          */
    GPtrArray *params;        /* ttml_tensor*, owned   */
    GPtrArray *child_names;   /* char*, owned          */
    GPtrArray *children;      /* ttml_module*, owned   */
    void *priv;
};

/* A (name, tensor) pair; the list owns both. */
typedef struct ttml_param { char *name; ttml_tensor *tensor; } ttml_param;

TTML_API ttml_module *ttml_module_new(const ttml_module_class *klass, void *priv);
TTML_API ttml_module *ttml_module_ref(ttml_module *m);
TTML_API void ttml_module_unref(ttml_module *m);
/* Takes a new reference to t and marks it requires_grad. */
TTML_API void ttml_module_add_param(ttml_module *m, const char *name, ttml_tensor *t);
/* Takes ownership of child (one reference). */
TTML_API void ttml_module_add_child(ttml_module *m, const char *name, ttml_module *child);
TTML_API ttml_tensor *ttml_module_forward(ttml_module *m, ttml_tensor *x, GError **error);
TTML_API void ttml_module_train(ttml_module *m, gboolean training);   /* recursive */
/* All parameters, depth first, with dotted names. Free with g_ptr_array_unref. */
TTML_API GPtrArray *ttml_module_parameters(ttml_module *m);
TTML_API gsize ttml_module_num_params(ttml_module *m);

/* ---- built-in layers (core) ---- */
/* PyTorch's nn.Linear: weight [out, in] and bias [out] ~ U(-1/sqrt(in), 1/sqrt(in)). */
TTML_API ttml_module *ttml_linear_layer_new(int64_t in_features, int64_t out_features, gboolean bias,
                                            GError **error);

/* ---- model registry ---- */
/* A model's size without building it (ttml_model_estimate). */
typedef struct ttml_model_size {
    size_t struct_size;
    guint64 n_params;              /* parameter elements (exact)                     */
    guint64 activations_per_token; /* elements kept for backward per token (one batch
                                      row x one position) in training: an estimate   */
} ttml_model_size;

struct ttml_model_desc {
    size_t struct_size;
    const char *name;          /* "linear_regression", "mlp", "gpt2", ...  */
    const char *description;
    /* Build from the model's config map (read fields with ttml_config_*). */
    ttml_module *(*create)(ttml_config *cfg, GError **error);
    /* Optional (added in ABI 1.2 without a version change: the core reads it
     * only when struct_size covers it; NULL = unknown): fill `out` from the
     * same config without allocating the model. Lets the trainer refuse a
     * model that cannot fit the device before allocating anything. */
    gboolean (*estimate)(ttml_config *cfg, ttml_model_size *out, GError **error);
};

TTML_API const ttml_model_desc *ttml_model_find(const char *name);
/* The size of model `name` for `cfg` without building it (out->struct_size
 * set by the caller). TTML_ERROR_UNSUPPORTED when the model has no estimate
 * hook; config errors as ttml_model_create gives them. */
TTML_API gboolean ttml_model_estimate(const char *name, ttml_config *cfg, ttml_model_size *out, GError **error);
/* Create by name; unknown names list the registered models. Unknown keys in
 * cfg are rejected with their line. cfg may be NULL. */
TTML_API ttml_module *ttml_model_create(const char *name, ttml_config *cfg, GError **error);

G_END_DECLS

#endif
