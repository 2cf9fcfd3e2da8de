/* plugins/transformer_models/tf_config.c - TT-Train's transformer_config keys.
 *
 * Keys (all optional; defaults follow TT-Train's TransformerConfig):
 *   num_heads: 6              attention (query) heads
 *   embedding_dim: 384        must be divisible by num_heads
 *   num_blocks: 6
 *   vocab_size: 256           used as given (the trainer passes it already
 *                             padded to a multiple of 32)
 *   valid_vocab_size: V       informational: the unpadded vocabulary (<= vocab_size)
 *   max_sequence_length: 256  longest sequence (forward and KV cache)
 *   dropout_prob: 0.2 (gpt2) / 0.0 (llama)   in [0, 1)
 *   weight_tying: disabled    "enabled"/"disabled" (TT-Train) or true/false
 *   runner_type: default      "default" | "memory_efficient" (checkpointing)
 *   intermediate_dim          MLP hidden width; gpt2 default 4*E; llama
 *                             default 256 * ceil((8E/3) / 256) (Llama's rule)
 * gpt2 / nanogpt only:
 *   positional_embedding_type: trainable   "trainable" | "fixed" (sinusoidal)
 *   bias: true                biases of the linear layers and LayerNorms
 *   experimental: {use_composite_layernorm: false}   accepted, no effect
 * llama only:
 *   num_groups: num_heads     key/value heads (GQA); divides num_heads
 *   theta: 10000.0            RoPE base; the head dim must be even
 *   embedding_placement: vocab_parallel   under tensor parallelism: the token
 *                             table split on the vocabulary, or replicated
 *                             (TT-Train's EmbeddingPlacement; tf_parallel.c)
 * LayerNorm / RMSNorm epsilon: 1e-5.
 */
#include "tf_internal.h"

#include <math.h>
#include <string.h>

static const char *where_of(ttml_config *cfg, const char *key, char *buf, size_t size)
{
    if (!cfg) {
        g_strlcpy(buf, "transformer_config", size);
        return buf;
    }
    ttml_config *node = key ? ttml_config_peek(cfg, key) : NULL;
    return ttml_config_where(node ? node : cfg, buf, size);
}

/* A positive integer key (default `def`); -1 on error. */
#define TF_MAX_SIZE (1 << 24)

static gint64 positive_int(ttml_config *cfg, const char *key, gint64 def,
                           GError **error)
{
    if (!cfg) return def;
    GError *local = NULL;
    gint64 v = ttml_config_int(cfg, key, def, &local);
    if (local) {
        g_propagate_error(error, local);
        return -1;
    }
    if (v <= 0) {
        char w[256];
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: '%s' must be a positive integer, got %" G_GINT64_FORMAT,
                    where_of(cfg, key, w, sizeof w), key, v);
        return -1;
    }
    if (v > TF_MAX_SIZE) { /* keeps every product of sizes (4 * embedding_dim, ...) far from overflow */
        char w[256];
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: '%s' is %" G_GINT64_FORMAT ", more than %d: no model of that size fits in memory; "
                    "choose a smaller value", where_of(cfg, key, w, sizeof w), key, v, TF_MAX_SIZE);
        return -1;
    }
    return v;
}

/* "enabled"/"disabled" (TT-Train) or a YAML boolean. */
static gboolean parse_tying(ttml_config *cfg, gboolean *out, GError **error)
{
    *out = FALSE;
    ttml_config *node = cfg ? ttml_config_get(cfg, "weight_tying") : NULL;
    if (!node) return TRUE;
    const char *s = ttml_config_get_type(node) == TTML_CONFIG_SCALAR ? ttml_config_scalar(node) : NULL;
    static const char *const yes[] = {"enabled", "true", "yes", "on", NULL};
    static const char *const no[] = {"disabled", "false", "no", "off", NULL};
    for (int i = 0; s && yes[i]; i++)
        if (g_ascii_strcasecmp(s, yes[i]) == 0) {
            *out = TRUE;
            return TRUE;
        }
    for (int i = 0; s && no[i]; i++)
        if (g_ascii_strcasecmp(s, no[i]) == 0) return TRUE;
    char w[256];
    g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                "%s: 'weight_tying' must be \"enabled\" or \"disabled\" (or true/false), got '%s'",
                ttml_config_where(node, w, sizeof w), s ? s : "a non-scalar value");
    return FALSE;
}

static gboolean config_error(GError **error, ttml_config *cfg, const char *key,
                             const char *format, ...) G_GNUC_PRINTF(4, 5);

static gboolean config_error(GError **error, ttml_config *cfg, const char *key,
                             const char *format, ...)
{
    char w[256];
    va_list ap;
    va_start(ap, format);
    char *msg = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: %s", where_of(cfg, key, w, sizeof w), msg);
    g_free(msg);
    return FALSE;
}

/* The sizes: heads, width, blocks, vocabulary, sequence, groups (llama). */
static gboolean read_sizes(ttml_config *cfg, tf_config *c, GError **error)
{
    if ((c->num_heads = positive_int(cfg, "num_heads", 6, error)) < 0) return FALSE;
    if ((c->embedding_dim = positive_int(cfg, "embedding_dim", 384, error)) < 0) return FALSE;
    if ((c->num_blocks = positive_int(cfg, "num_blocks", 6, error)) < 0) return FALSE;
    if ((c->vocab_size = positive_int(cfg, "vocab_size", 256, error)) < 0) return FALSE;
    if ((c->valid_vocab_size = positive_int(cfg, "valid_vocab_size", c->vocab_size, error)) < 0)
        return FALSE;
    if ((c->max_seq_len = positive_int(cfg, "max_sequence_length", 256, error)) < 0)
        return FALSE;
    c->num_groups = c->num_heads;
    if (c->arch == TF_ARCH_LLAMA &&
        (c->num_groups = positive_int(cfg, "num_groups", c->num_heads, error)) < 0)
        return FALSE;
    return TRUE;
}

/* Keys read as written, checked by check_choices. */
typedef struct {
    double dropout, theta;
    const char *runner, *pos_type;
} tf_raw_options;

/* dropout_prob, runner_type, theta (llama), positional_embedding_type,
 * bias and experimental (gpt2), weight_tying. */
static gboolean read_options(ttml_config *cfg, tf_config *c, tf_raw_options *o, GError **error)
{
    tf_arch arch = c->arch;
    GError *local = NULL;
    double def_dropout = arch == TF_ARCH_GPT2 ? 0.2 : 0.0;
    o->dropout = cfg ? ttml_config_double(cfg, "dropout_prob", def_dropout, &local) : def_dropout;
    o->runner = cfg ? ttml_config_string(cfg, "runner_type", "default", &local) : "default";
    o->theta = 10000.0;
    o->pos_type = "trainable";
    c->bias = TRUE;
    if (cfg && arch == TF_ARCH_LLAMA && !local) o->theta = ttml_config_double(cfg, "theta", 10000.0, &local);
    if (cfg && arch == TF_ARCH_GPT2 && !local) {
        o->pos_type = ttml_config_string(cfg, "positional_embedding_type", "trainable", &local);
        if (!local) c->bias = ttml_config_bool(cfg, "bias", TRUE, &local);
        ttml_config *exp = ttml_config_get(cfg, "experimental");
        if (!local && exp && !ttml_config_is_null(exp)) {
            if (ttml_config_get_type(exp) != TTML_CONFIG_MAP)
                return config_error(error, cfg, "experimental",
                                    "'experimental' must be a mapping such as "
                                    "{use_composite_layernorm: false}");
            (void)ttml_config_bool(exp, "use_composite_layernorm", FALSE, &local);
        }
    }
    if (local) {
        g_propagate_error(error, local);
        return FALSE;
    }
    return parse_tying(cfg, &c->weight_tying, error);
}

/* The options' values are ones the models know. */
static gboolean check_choices(ttml_config *cfg, tf_config *c, const tf_raw_options *o, GError **error)
{
    if (!(o->dropout >= 0.0 && o->dropout < 1.0))
        return config_error(error, cfg, "dropout_prob",
                            "'dropout_prob' must be in [0, 1), got %g", o->dropout);
    c->dropout_prob = (float)o->dropout;
    if (strcmp(o->runner, "default") == 0)
        c->memory_efficient = FALSE;
    else if (strcmp(o->runner, "memory_efficient") == 0)
        c->memory_efficient = TRUE;
    else
        return config_error(error, cfg, "runner_type",
                            "'runner_type' must be \"default\" or \"memory_efficient\", got '%s'",
                            o->runner);
    if (strcmp(o->pos_type, "trainable") == 0)
        c->fixed_positions = FALSE;
    else if (strcmp(o->pos_type, "fixed") == 0)
        c->fixed_positions = TRUE;
    else
        return config_error(error, cfg, "positional_embedding_type",
                            "'positional_embedding_type' must be \"trainable\" or \"fixed\", "
                            "got '%s'",
                            o->pos_type);
    if (!(o->theta > 0.0 && isfinite(o->theta)))
        return config_error(error, cfg, "theta", "'theta' must be a positive number, got %g",
                            o->theta);
    c->theta = (float)o->theta;
    return TRUE;
}

/* The sizes fit together (heads, groups, RoPE, sinusoidal positions, vocabulary). */
static gboolean check_shapes(ttml_config *cfg, tf_config *c, GError **error)
{
    if (c->embedding_dim % c->num_heads != 0)
        return config_error(error, cfg, "embedding_dim",
                            "'embedding_dim' (%" G_GINT64_FORMAT ") must be divisible by "
                            "'num_heads' (%" G_GINT64_FORMAT "); e.g. embedding_dim: %" G_GINT64_FORMAT,
                            c->embedding_dim, c->num_heads,
                            (c->embedding_dim / c->num_heads + 1) * c->num_heads);
    c->head_dim = c->embedding_dim / c->num_heads;
    if (c->num_heads % c->num_groups != 0)
        return config_error(error, cfg, "num_groups",
                            "'num_heads' (%" G_GINT64_FORMAT ") must be divisible by 'num_groups' "
                            "(%" G_GINT64_FORMAT ", the key/value heads of grouped-query attention)",
                            c->num_heads, c->num_groups);
    if (c->arch == TF_ARCH_LLAMA && c->head_dim % 2 != 0)
        return config_error(error, cfg, "embedding_dim",
                            "RoPE needs an even head dim, but embedding_dim / num_heads = %"
                            G_GINT64_FORMAT "; choose embedding_dim and num_heads so that it is even",
                            c->head_dim);
    if (c->arch == TF_ARCH_GPT2 && c->fixed_positions && c->embedding_dim % 2 != 0)
        return config_error(error, cfg, "embedding_dim",
                            "fixed (sinusoidal) positions need an even embedding_dim, got %"
                            G_GINT64_FORMAT,
                            c->embedding_dim);
    if (c->valid_vocab_size > c->vocab_size)
        return config_error(error, cfg, "valid_vocab_size",
                            "'valid_vocab_size' (%" G_GINT64_FORMAT ") exceeds 'vocab_size' (%"
                            G_GINT64_FORMAT ")",
                            c->valid_vocab_size, c->vocab_size);
    return TRUE;
}

/* intermediate_dim; default gpt2 4E, llama 256 * ceil((8E/3) / 256). */
static gboolean read_intermediate(ttml_config *cfg, tf_config *c, GError **error)
{
    int64_t def_hidden;
    if (c->arch == TF_ARCH_GPT2) {
        def_hidden = 4 * c->embedding_dim;
    } else {
        const int64_t multiple_of = 256;
        int64_t h = 2 * (4 * c->embedding_dim) / 3;
        def_hidden = multiple_of * ((h + multiple_of - 1) / multiple_of);
    }
    c->intermediate_dim = positive_int(cfg, "intermediate_dim", def_hidden, error);
    return c->intermediate_dim >= 0;
}

gboolean tf_config_parse(ttml_config *cfg, tf_arch arch, const char *model_name, tf_config *c,
                         GError **error)
{
    memset(c, 0, sizeof *c);
    c->arch = arch;
    c->model_name = model_name;
    c->norm_eps = 1e-5f;
    if (cfg && ttml_config_get_type(cfg) != TTML_CONFIG_MAP) {
        char w[256];
        g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG,
                    "%s: the configuration of %s must be a mapping of transformer_config keys "
                    "(num_heads, embedding_dim, num_blocks, vocab_size, ...)",
                    ttml_config_where(cfg, w, sizeof w), model_name);
        return FALSE;
    }
    tf_raw_options o;
    return read_sizes(cfg, c, error) && read_options(cfg, c, &o, error) &&
           check_choices(cfg, c, &o, error) && check_shapes(cfg, c, error) &&
           read_intermediate(cfg, c, error) && tf_config_tp(cfg, c, error);
}
