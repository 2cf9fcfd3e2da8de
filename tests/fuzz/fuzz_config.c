/* tests/fuzz/fuzz_config.c - fuzz target: the YAML config loader
 * (core/formats/config.c), the typed getters, and the training application's
 * own static readers (ttml_train_check_config, the entry behind `ttml-run
 * CONFIG --check`: every training_config / device_config / multihost_config /
 * data_config / eval_config reader of the LM and regression loops, their
 * range checks and the unknown-key check). Each input is a YAML document; it
 * goes through the check (with and without a --data override), then every
 * key the shipped readers know is read with every getter (integers,
 * doubles, booleans, strings, number lists, nested sections and sequences),
 * and the unknown-key check with its "did you mean" runs before and after.
 * Errors are expected; only crashes, hangs and sanitizer reports are bugs. */
#include "fuzz.h"

#include <ttml/ttml.h>

static const char *const sections[] = {
    "training_config", "device_config", "data_config", "eval_config", "transformer_config",
    "model_config", "optimizer_config", "scheduler_config", "generate_config", "activation", NULL,
};

static const char *const keys[] = {
    "seed", "batch_size", "num_epochs", "max_steps", "learning_rate", "weight_decay", "optimizer_type",
    "scheduler_type", "model_type", "log_interval", "device", "type", "num_samples", "weights", "bias",
    "noise", "in_features", "out_features", "input_features", "hidden_features", "output_features",
    "predict", "project_name", "gradient_accumulation_steps", "use_moreh_adamw", "clip_grad_norm_max_norm",
    "use_clip_grad_norm", "num_heads", "num_groups", "embedding_dim", "num_blocks", "vocab_size",
    "max_sequence_length", "dropout_prob", "weight_tying", "positional_embedding_type", "theta",
    "eval_every", "val_every", "val_batches", "model_path", "model_save_interval", "path", "tokenizer_type",
    "temperature", "top_k", "top_p", "max_tokens", "prompt", "warmup_steps", "warmup_fraction", "beta1",
    "beta2", "epsilon", "momentum", "dampening", "nesterov", "slope", "op", "runner_type", "experimental",
    "use_kahan_summation", "use_composite_layernorm", "repetition_penalty", "lr", NULL,
};

static void read_all(ttml_config *map, int depth);

static void read_key(ttml_config *map, const char *key, int depth)
{
    GError *err = NULL;
    char where[256];
    ttml_config *node = ttml_config_get(map, key);
    if (!node) return;
    ttml_config_where(node, where, sizeof where);
    (void)ttml_config_is_null(node);
    (void)ttml_config_int(map, key, 0, &err);
    g_clear_error(&err);
    (void)ttml_config_double(map, key, 0.0, &err);
    g_clear_error(&err);
    (void)ttml_config_bool(map, key, FALSE, &err);
    g_clear_error(&err);
    (void)ttml_config_string(map, key, NULL, &err);
    g_clear_error(&err);
    gint64 *ints = NULL;
    double *doubles = NULL;
    (void)ttml_config_int_list(map, key, &ints, &err);
    g_clear_error(&err);
    (void)ttml_config_double_list(map, key, &doubles, &err);
    g_clear_error(&err);
    g_free(ints);
    g_free(doubles);
    if (ttml_config_get_type(node) == TTML_CONFIG_MAP) {
        read_all(node, depth + 1);
    } else if (ttml_config_get_type(node) == TTML_CONFIG_SEQ) {
        for (guint i = 0; i < ttml_config_seq_len(node) && i < 64; i++) {
            ttml_config *item = ttml_config_seq_nth(node, i);
            (void)ttml_config_scalar(item);
            if (ttml_config_get_type(item) == TTML_CONFIG_MAP) read_all(item, depth + 1);
        }
    }
}

static void read_all(ttml_config *map, int depth)
{
    if (depth > 8) {
        ttml_config_mark_used(map);
        return;
    }
    for (const char *const *s = sections; *s; s++) (void)ttml_config_peek(map, *s);
    for (const char *const *s = sections; *s; s++) read_key(map, *s, depth);
    for (const char *const *k = keys; *k; k++) read_key(map, *k, depth);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) { return 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = g_strndup((const char *)data, size);
    GError *err = NULL;
    /* the training application's readers, as ttml-run --check runs them */
    (void)ttml_train_check_config(text, "fuzz.yaml", NULL, &err);
    g_clear_error(&err);
    ttml_run_options opts = {sizeof opts};
    opts.config_path = "fuzz.yaml";
    opts.data_path = "corpus.txt";
    (void)ttml_train_check_config(text, "fuzz.yaml", &opts, &err);
    g_clear_error(&err);
    ttml_config *root = ttml_config_load_string(text, "fuzz.yaml", &err);
    g_clear_error(&err);
    if (root) {
        if (ttml_config_get_type(root) == TTML_CONFIG_MAP) {
            (void)ttml_config_check_unused(root, &err); /* nothing read yet: the first key is unknown */
            g_clear_error(&err);
            read_all(root, 0);
        }
        (void)ttml_config_check_unused(root, &err);
        g_clear_error(&err);
        ttml_config_free(root);
    }
    g_free(text);
    return 0;
}
