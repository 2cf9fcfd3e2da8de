/* core/train/generate.c - text generation from a training-state checkpoint:
 * rebuild the model from the stored config, prefill the KV cache with the
 * prompt, then one position per new token; sampling on the host. */
#include "train_app.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ttml_lm_free(ttml_lm *lm)
{
    if (!lm) return;
    if (lm->model) ttml_module_unref(lm->model);
    ttml_tokenizer_free(lm->tokenizer);
    g_free(lm->model_type);
    g_free(lm->config_text);
    g_free(lm);
}

ttml_lm *ttml_lm_load(const char *path, GError **error)
{
    return ttml_lm_load_full(path, FALSE, error);
}

ttml_lm *ttml_lm_load_full(const char *path, gboolean allow_nonfinite, GError **error)
{
    ttml_checkpoint *ck = ttml_train_state_open(path, error);
    if (!ck) return NULL;
    ttml_checkpoint_allow_nonfinite(ck, allow_nonfinite);
    ttml_lm *lm = g_new0(ttml_lm, 1);
    const char *mt = ttml_train_state_string(ck, path, "model_type", error);
    const char *cfg = mt ? ttml_train_state_string(ck, path, "config", error) : NULL;
    const char *tok = cfg ? ttml_train_state_string(ck, path, "tokenizer", error) : NULL;
    if (!tok || !ttml_train_state_int(ck, path, "vocab_size", &lm->padded_vocab_size, error) ||
        !ttml_train_state_int(ck, path, "max_sequence_length", &lm->max_seq_len, error))
        goto fail;
    lm->model_type = g_strdup(mt);
    lm->config_text = g_strdup(cfg);
    lm->tokenizer = ttml_tokenizer_deserialize(tok, error);
    if (!lm->tokenizer) {
        g_prefix_error(error, "checkpoint '%s': tokenizer: ", path);
        goto fail;
    }
    lm->vocab_size = ttml_tokenizer_vocab_size(lm->tokenizer);
    if (lm->max_seq_len <= 0 || lm->padded_vocab_size < lm->vocab_size) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_CHECKPOINT,
                    "checkpoint '%s': inconsistent metadata (vocab_size %" G_GINT64_FORMAT
                    " for a tokenizer of %" G_GINT64_FORMAT ", max_sequence_length %" G_GINT64_FORMAT ")",
                    path, lm->padded_vocab_size, lm->vocab_size, lm->max_seq_len);
        goto fail;
    }
    char *name = g_strdup_printf("%s (stored config)", path);
    lm->model = ttml_lm_model_create(mt, cfg, name, lm->padded_vocab_size, error);
    g_free(name);
    if (!lm->model) goto fail;
    /* a sharded checkpoint (an index naming shard files) is assembled */
    GPtrArray *params = ttml_module_parameters(lm->model);
    gboolean ok = ttml_train_state_is_sharded(ck) ? ttml_train_state_restore(ck, path, params, NULL, 0, params, error)
                                                  : ttml_train_state_load_params(ck, path, lm->model, error);
    g_ptr_array_unref(params);
    if (!ok) goto fail;
    ttml_module_train(lm->model, FALSE);
    ttml_checkpoint_close(ck);
    return lm;
fail:
    ttml_checkpoint_close(ck);
    ttml_lm_free(lm);
    return NULL;
}

/* ------------------------------------------------------------- sampling */

typedef struct { double logit; guint32 id; } scored;

static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->logit > y->logit) return -1;
    if (x->logit < y->logit) return 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Pick the next id from row[0..V) (valid vocabulary). seen[id] marks ids in the context. */
static guint32 sample_next(const float *row, gint64 V, const guint8 *seen, const ttml_sampling_params *p,
                           scored *work)
{
    for (gint64 i = 0; i < V; i++) {
        double l = row[i];
        if (p->repetition_penalty != 1.0 && seen[i]) l = l > 0 ? l / p->repetition_penalty : l * p->repetition_penalty;
        work[i].logit = l;
        work[i].id = (guint32)i;
    }
    if (p->greedy || p->temperature <= 0.0) {
        gint64 best = 0;
        for (gint64 i = 1; i < V; i++)
            if (work[i].logit > work[best].logit) best = i;
        return (guint32)best;
    }
    for (gint64 i = 0; i < V; i++) work[i].logit /= p->temperature;
    qsort(work, (size_t)V, sizeof *work, cmp_scored);
    gint64 n = V;
    if (p->top_k > 0 && p->top_k < n) n = p->top_k;
    /* softmax over the kept ones (sorted, so work[0] is the max) */
    double sum = 0.0, max = work[0].logit;
    for (gint64 i = 0; i < n; i++) {
        work[i].logit = exp(work[i].logit - max);
        sum += work[i].logit;
    }
    if (p->top_p < 1.0) {
        double cum = 0.0;
        gint64 keep = 0;
        while (keep < n && (keep == 0 || cum < p->top_p * sum)) cum += work[keep++].logit;
        n = keep;
        sum = cum;
    }
    double u = (double)ttml_rng_uniform() * sum, acc = 0.0;
    for (gint64 i = 0; i < n; i++) {
        acc += work[i].logit;
        if (u < acc) return work[i].id;
    }
    return work[n - 1].id;
}

/* Run ids[0..n) at position pos through decode; copy the last logits row. */
static gboolean decode_last(ttml_lm *lm, void *cache, const guint32 *ids, gint64 n, gint64 pos, float *row,
                            float **scratch, gsize *scratch_len, GError **error)
{
    int64_t shape[4] = {1, 1, 1, n};
    ttml_tensor *t = ttml_tensor_from_data(NULL, 4, shape, TTML_DTYPE_U32, ids, error);
    if (!t) return FALSE;
    ttml_tensor *logits = lm->model->klass->decode(lm->model, cache, t, pos, error);
    ttml_tensor_unref(t);
    if (!logits) return FALSE;
    gint64 cols = logits->shape[logits->ndim - 1];
    if ((gint64)logits->numel != n * cols || cols < lm->vocab_size) {
        char sh[64];
        g_set_error(error, TTML_ERROR, TTML_ERROR_SHAPE,
                    "model '%s' decode returned logits %s for %" G_GINT64_FORMAT
                    " tokens; expected [1, 1, %" G_GINT64_FORMAT ", >= %" G_GINT64_FORMAT "]",
                    lm->model_type, ttml_shape_str(logits->ndim, logits->shape, sh, sizeof sh), n, n,
                    lm->vocab_size);
        ttml_tensor_unref(logits);
        return FALSE;
    }
    if (*scratch_len < logits->numel) {
        g_free(*scratch);
        *scratch = g_new(float, logits->numel);
        *scratch_len = logits->numel;
    }
    gboolean ok = ttml_tensor_to_floats(logits, *scratch, error);
    if (ok) memcpy(row, *scratch + (gsize)(n - 1) * (gsize)cols, (gsize)lm->vocab_size * sizeof(float));
    for (gint64 i = 0; ok && i < lm->vocab_size; i++)
        if (!isfinite(row[i])) {
            g_set_error(error, TTML_ERROR, TTML_ERROR_NUMERIC,
                        "the model's logits are not finite (token id %" G_GINT64_FORMAT " at position %" G_GINT64_FORMAT
                        " is %g): its weights hold NaN/Inf or overflow; generate from a checkpoint of a run "
                        "that did not diverge", i, pos + n - 1, row[i]);
            ok = FALSE;
        }
    ttml_tensor_unref(logits);
    ttml_reset_graph();
    return ok;
}

char *ttml_lm_generate(ttml_lm *lm, const char *prompt, const ttml_sampling_params *p, ttml_text_fn on_text,
                       void *user, GError **error)
{
    const ttml_module_class *k = lm->model->klass;
    if (!k->decode || !k->cache_new || !k->cache_free) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_UNSUPPORTED,
                    "model '%s' (%s) has no KV-cache decode hooks (cache_new / cache_free / decode), "
                    "so it cannot generate text; use gpt2, nanogpt or llama",
                    lm->model_type, k->type ? k->type : "?");
        return NULL;
    }
    if (p->top_k < 0 || !(p->top_p > 0.0 && p->top_p <= 1.0) || !(p->temperature >= 0.0) ||
        !(p->repetition_penalty > 0.0) || p->max_tokens < 0 || !isfinite(p->temperature) ||
        !isfinite(p->repetition_penalty)) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "sampling: need temperature >= 0, top_k >= 0, 0 < top_p <= 1, repetition_penalty "
                    "> 0 and max_tokens >= 0 (got %g, %" G_GINT64_FORMAT ", %g, %g, %" G_GINT64_FORMAT ")",
                    p->temperature, p->top_k, p->top_p, p->repetition_penalty, p->max_tokens);
        return NULL;
    }
    gsize n_prompt = 0;
    guint32 *pids = ttml_tokenizer_encode(lm->tokenizer, prompt, strlen(prompt), &n_prompt, error);
    if (!pids) {
        g_prefix_error(error, "prompt: ");
        return NULL;
    }
    if (n_prompt == 0) {
        g_free(pids);
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "the prompt is empty; give at least one character (e.g. --prompt \"\\n\")");
        return NULL;
    }
    gint64 S = lm->max_seq_len, V = lm->vocab_size;
    /* The context: prompt + generated ids (the model sees the last S). */
    gsize total = n_prompt + (gsize)p->max_tokens;
    guint32 *ctx = total >= n_prompt && total <= G_MAXSIZE / sizeof(guint32) ? g_try_new(guint32, total) : NULL;
    if (!ctx) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_OOM,
                    "max_tokens %" G_GINT64_FORMAT " (--max-tokens or eval_config.max_tokens): cannot allocate "
                    "the context of %" G_GSIZE_FORMAT " + %" G_GINT64_FORMAT " tokens (%.4g bytes); ask for fewer "
                    "tokens", p->max_tokens, n_prompt, p->max_tokens, ((double)n_prompt + (double)p->max_tokens) * 4.0);
        g_free(pids);
        return NULL;
    }
    memcpy(ctx, pids, n_prompt * sizeof(guint32));
    g_free(pids);
    guint8 *seen = g_new0(guint8, V);
    for (gsize i = 0; i < n_prompt; i++) seen[ctx[i]] = 1;
    float *row = g_new(float, V), *scratch = NULL;
    gsize scratch_len = 0;
    scored *work = g_new(scored, V);
    GString *out = g_string_new(NULL);
    gboolean prev = ttml_set_grad_enabled(FALSE);
    gboolean was_training = lm->model->training;
    ttml_module_train(lm->model, FALSE);
    gboolean ok = TRUE;

    void *cache = NULL;
    gsize len = n_prompt;     /* tokens in ctx */
    gint64 pos = 0;           /* tokens in the cache */
    for (gint64 t = 0; t < p->max_tokens && ok; t++) {
        if (!cache || pos >= S) {
            /* (Re)fill the cache: the last S (first time) or S/2 tokens. */
            if (cache) k->cache_free(cache);
            gint64 keep = cache ? MAX(S / 2, 1) : MIN((gint64)len, S);
            cache = k->cache_new(lm->model, 1, S, error);
            if (!cache) {
                ok = FALSE;
                break;
            }
            ok = decode_last(lm, cache, ctx + len - (gsize)keep, keep, 0, row, &scratch, &scratch_len, error);
            pos = keep;
            if (!ok) break;
        }
        guint32 id = sample_next(row, V, seen, p, work);
        ctx[len++] = id;
        seen[id] = 1;
        char *piece = ttml_tokenizer_decode(lm->tokenizer, &id, 1);
        g_string_append(out, piece);
        if (on_text) on_text(piece, user);
        g_free(piece);
        if (t + 1 < p->max_tokens && pos < S) {
            ok = decode_last(lm, cache, &id, 1, pos, row, &scratch, &scratch_len, error);
            pos++;
        }
    }
    if (cache) k->cache_free(cache);
    ttml_module_train(lm->model, was_training);
    ttml_set_grad_enabled(prev);
    g_free(ctx);
    g_free(seen);
    g_free(row);
    g_free(scratch);
    g_free(work);
    if (!ok) {
        g_prefix_error(error, "generating with '%s': ", lm->model_type);
        g_string_free(out, TRUE);
        return NULL;
    }
    return g_string_free(out, FALSE);
}

/* ------------------------------------------------------ ttml-run generate */

static void print_piece(const char *piece, void *user)
{
    (void)user;
    fputs(piece, stdout);
    fflush(stdout);
}

/* eval_config value of `key` from the stored config (NULL when absent). */
static gboolean eval_defaults(const char *text, const char *name, ttml_generate_options *g, char **prompt,
                              gint64 *train_seed, GError **error)
{
    ttml_config *root = ttml_config_load_string(text, name, error);
    if (!root) return FALSE;
    GError *local = NULL;
    ttml_config *train = ttml_config_peek(root, "training_config");
    if (train && ttml_config_get_type(train) == TTML_CONFIG_MAP)
        *train_seed = ttml_config_int(train, "seed", 42, &local);
    ttml_config *ev = ttml_config_peek(root, "eval_config");
    if (ev && ttml_config_get_type(ev) == TTML_CONFIG_MAP && !local) {
        if (g->max_tokens < 0) g->max_tokens = ttml_config_int(ev, "max_tokens", -1, &local);
        if (isnan(g->temperature)) g->temperature = ttml_config_double(ev, "temperature", NAN, &local);
        if (g->top_k < 0) g->top_k = ttml_config_int(ev, "top_k", -1, &local);
        if (isnan(g->top_p)) g->top_p = ttml_config_double(ev, "top_p", NAN, &local);
        if (isnan(g->repetition_penalty))
            g->repetition_penalty = ttml_config_double(ev, "repetition_penalty", NAN, &local);
        if (g->seed < 0) g->seed = ttml_config_int(ev, "seed", -1, &local);
        const char *pr = ttml_config_string(ev, "prompt", NULL, &local);
        if (pr && !g->prompt) *prompt = g_strdup(pr);
    }
    ttml_config_free(root);
    if (local) {
        g_propagate_error(error, local);
        return FALSE;
    }
    return TRUE;
}

gboolean ttml_generate_run(const ttml_generate_options *options, GError **error)
{
    g_return_val_if_fail(options != NULL, FALSE);
    if (options->struct_size < G_STRUCT_OFFSET(ttml_generate_options, greedy) + sizeof(gboolean) ||
        !options->checkpoint_path) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG,
                    "ttml_generate_run: options need struct_size = sizeof(ttml_generate_options) "
                    "and a checkpoint_path");
        return FALSE;
    }
    ttml_generate_options g = {0};
    memcpy(&g, options, MIN(options->struct_size, sizeof g));
    g.struct_size = sizeof g;
    const char *path = g.checkpoint_path;
    ttml_lm *lm = NULL;
    char *prompt = NULL, *text = NULL;
    gboolean ok = FALSE;
    ttml_init_options init = {.struct_size = sizeof init, .plugin_paths = g.plugin_paths,
                              .plugin_files = g.plugin_files};
    if (!ttml_init(&init, error)) return FALSE;
    ttml_registry_report_problems(stderr, "ttml: ");
    if (!ttml_registry_check_explicit(error)) goto out;
    if (!ttml_context_open_device(g.device ? g.device : "cpu", error)) goto out;
    lm = ttml_lm_load_full(path, g.allow_nonfinite, error);
    if (!lm) goto out;
    gint64 train_seed = 42;
    char *name = g_strdup_printf("%s (stored config)", path);
    gboolean dok = eval_defaults(lm->config_text, name, &g, &prompt, &train_seed, error);
    g_free(name);
    if (!dok) goto out;
    ttml_sampling_params sp = {
        .struct_size = sizeof sp,
        .max_tokens = g.max_tokens >= 0 ? g.max_tokens : 200,
        .temperature = isnan(g.temperature) ? 1.0 : g.temperature,
        .top_k = g.top_k >= 0 ? g.top_k : 0,
        .top_p = isnan(g.top_p) ? 1.0 : g.top_p,
        .repetition_penalty = isnan(g.repetition_penalty) ? 1.0 : g.repetition_penalty,
        .greedy = g.greedy,
    };
    const char *pr = g.prompt ? g.prompt : prompt ? prompt : "\n";
    ttml_set_seed((guint64)(g.seed >= 0 ? g.seed : train_seed));
    fputs(pr, stdout);
    fflush(stdout);
    text = ttml_lm_generate(lm, pr, &sp, print_piece, NULL, error);
    putchar('\n');
    fflush(stdout);
    ok = text != NULL;
out:
    g_free(text);
    g_free(prompt);
    ttml_lm_free(lm);
    ttml_shutdown();
    return ok;
}
