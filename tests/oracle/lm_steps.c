/* tests/oracle/lm_steps.c - ttml's side of the PyTorch oracle
 * (test_torch_oracle.py): a language model built from CONFIG (training_config:
 * seed, model_type, transformer_config) on the cpu device, one batch of real
 * tokens, the loss, every parameter's gradient and the parameters after STEPS
 * AdamW steps on that batch, written through the public checkpoint API.
 *
 * Usage: lm_steps CONFIG CORPUS B S STEPS LR WEIGHT_DECAY OUTDIR [PERTURB]
 *   OUTDIR/init.safetensors   the initial parameters, plus "ids" (u32
 *                             [B, S + 1]: row b is tokens [b*S, b*S + S] of
 *                             CORPUS through ttml's character tokenizer) and
 *                             metadata valid_vocab (the tokenizer's size)
 *   OUTDIR/grads.safetensors  the gradient of the first step's loss, by name
 *   OUTDIR/after.safetensors  the parameters after STEPS steps
 * Prints "loss %.9g" for every step (the loss before its update). AdamW has
 * betas 0.9/0.999 and epsilon 1e-8 (the optimizer's defaults).
 * PERTURB (a parameter name) adds 0.05 to that parameter's first element
 * after init.safetensors is written: a wrong weight the oracle must catch.
 * Exit 1 on error (the message on stderr). */
#include <ttml/ttml.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int B, S, steps;
    double lr, wd;
    const char *outdir, *perturb;
    ttml_module *model;
    GPtrArray *params;           /* ttml_param*, the model's          */
    ttml_tensor *x, *y;          /* inputs and targets, u32 [B,1,1,S] */
    guint32 *ids;                /* [B, S + 1]                        */
    gint64 vocab;                /* the tokenizer's (valid) size      */
} run;

static int fail(GError *err)
{
    fprintf(stderr, "lm_steps: %s\n", err ? err->message
                                          : "bad arguments: CONFIG CORPUS B S STEPS LR WEIGHT_DECAY OUTDIR [PERTURB]");
    g_clear_error(&err);
    return 1;
}

/* The model of the config's training_config with vocab_size = the padded
 * tokenizer size (as the trainer sets it), built after seeding the RNG. */
static gboolean build_model(run *r, const char *config, ttml_tokenizer *tok, GError **error)
{
    ttml_config *root = ttml_config_load_file(config, error);
    ttml_config *train = root ? ttml_config_get(root, "training_config") : NULL;
    ttml_config *tf = train ? ttml_config_get(train, "transformer_config") : NULL;
    if (root && !tf) g_set_error(error, TTML_ERROR, TTML_ERROR_CONFIG, "%s: no training_config.transformer_config", config);
    GError *local = NULL;
    gint64 seed = tf ? ttml_config_int(train, "seed", 5489, &local) : 0;
    const char *type = tf && !local ? ttml_config_string(train, "model_type", "gpt2", &local) : NULL;
    if (local) g_propagate_error(error, local);
    gboolean ok = type && ttml_config_set_int(tf, "vocab_size", ttml_tokenizer_padded_vocab_size(tok), error);
    if (ok) {
        ttml_set_seed((guint64)seed);
        r->model = ttml_model_create(type, tf, error);
    }
    ttml_config_free(root);
    if (!r->model) return FALSE;
    ttml_module_train(r->model, TRUE);
    r->params = ttml_module_parameters(r->model);
    return TRUE;
}

/* The batch: rows of S + 1 consecutive tokens from the corpus' start. */
static gboolean make_batch(run *r, const char *corpus, ttml_tokenizer **tok, GError **error)
{
    char *text = NULL;
    gsize len = 0, n = 0;
    if (!g_file_get_contents(corpus, &text, &len, error)) return FALSE;
    *tok = ttml_char_tokenizer_new(text, len, error);
    guint32 *all = *tok ? ttml_tokenizer_encode(*tok, text, len, &n, error) : NULL;
    g_free(text);
    if (!all) return FALSE;
    const gsize need = (gsize)r->B * r->S + 1;
    if (n < need) {
        g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "%s: %" G_GSIZE_FORMAT " tokens, the batch needs %"
                    G_GSIZE_FORMAT, corpus, n, need);
        g_free(all);
        return FALSE;
    }
    r->vocab = ttml_tokenizer_vocab_size(*tok);
    r->ids = g_new(guint32, (gsize)r->B * (r->S + 1));
    guint32 *in = g_new(guint32, (gsize)r->B * r->S), *tgt = g_new(guint32, (gsize)r->B * r->S);
    for (int b = 0; b < r->B; b++)
        for (int s = 0; s <= r->S; s++) {
            guint32 id = all[(gsize)b * r->S + s];
            r->ids[b * (r->S + 1) + s] = id;
            if (s < r->S) in[b * r->S + s] = id;
            if (s > 0) tgt[b * r->S + s - 1] = id;
        }
    g_free(all);
    int64_t shape[4] = {r->B, 1, 1, r->S};
    r->x = ttml_tensor_empty(NULL, 4, shape, TTML_DTYPE_U32, error);
    r->y = r->x ? ttml_tensor_empty(NULL, 4, shape, TTML_DTYPE_U32, error) : NULL;
    gboolean ok = r->y && ttml_tensor_write(r->x, in, error) && ttml_tensor_write(r->y, tgt, error);
    g_free(in);
    g_free(tgt);
    return ok;
}

/* OUTDIR/NAME.safetensors of (name, tensor) pairs: the parameters, or their
 * gradients (grads), plus the batch ids when `ids` is given. */
static gboolean save(run *r, const char *name, gboolean grads, ttml_tensor *ids, GError **error)
{
    GPtrArray *list = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < r->params->len; i++) {
        ttml_param *p = g_ptr_array_index(r->params, i), *e = g_new(ttml_param, 1);
        e->name = p->name;
        e->tensor = grads ? p->tensor->grad : p->tensor;
        if (e->tensor) g_ptr_array_add(list, e);
        else g_free(e);
    }
    ttml_param ids_entry = {"ids", ids};
    if (ids) g_ptr_array_add(list, g_memdup2(&ids_entry, sizeof ids_entry));
    GHashTable *md = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    g_hash_table_insert(md, "valid_vocab", g_strdup_printf("%" G_GINT64_FORMAT, r->vocab));
    char *path = g_strdup_printf("%s/%s.safetensors", r->outdir, name);
    gboolean ok = ttml_checkpoint_save(path, list, md, error);
    g_free(path);
    g_hash_table_unref(md);
    g_ptr_array_unref(list);
    return ok;
}

/* Add 0.05 to the first element of parameter r->perturb. */
static gboolean perturb(run *r, GError **error)
{
    for (guint i = 0; i < r->params->len; i++) {
        ttml_param *p = g_ptr_array_index(r->params, i);
        if (strcmp(p->name, r->perturb) != 0) continue;
        float *v = g_new(float, p->tensor->numel);
        gboolean ok = ttml_tensor_read(p->tensor, v, error);
        v[0] += 0.05f;
        ok = ok && ttml_tensor_write(p->tensor, v, error);
        g_free(v);
        return ok;
    }
    g_set_error(error, TTML_ERROR, TTML_ERROR_INVALID_ARG, "no parameter named '%s'", r->perturb);
    return FALSE;
}

/* Forward, loss (printed), backward; the gradients of step 0 are saved. */
static gboolean loss_backward(run *r, int step, GError **error)
{
    ttml_tensor *logits = ttml_module_forward(r->model, r->x, error);
    ttml_tensor *loss = logits ? ttml_cross_entropy_loss(logits, r->y, r->vocab, TTML_REDUCE_MEAN, error) : NULL;
    ttml_tensor_unref(logits);
    gboolean ok = loss != NULL;
    if (ok) {
        float v = ttml_tensor_item(loss, error);
        ok = !*error;
        if (ok) printf("loss %.9g\n", (double)v);
    }
    ok = ok && ttml_backward(loss, NULL, FALSE, error);
    ttml_tensor_unref(loss);
    return ok && (step > 0 || save(r, "grads", TRUE, NULL, error));
}

static gboolean train(run *r, GError **error)
{
    int64_t ids_shape[2] = {r->B, r->S + 1};
    ttml_tensor *ids = ttml_tensor_empty(NULL, 2, ids_shape, TTML_DTYPE_U32, error);
    gboolean ok = ids && ttml_tensor_write(ids, r->ids, error) && save(r, "init", FALSE, ids, error) &&
                  (!r->perturb || perturb(r, error));
    ttml_tensor_unref(ids);
    ttml_optimizer *opt = ok ? ttml_optimizer_create("adamw", r->params, NULL, r->lr, r->wd, error) : NULL;
    for (int step = 0; opt && ok && step < r->steps; step++) {
        ttml_optimizer_zero_grad(opt);
        ok = loss_backward(r, step, error) && ttml_optimizer_step(opt, error);
    }
    ttml_optimizer_free(opt);
    return opt && ok && save(r, "after", FALSE, NULL, error);
}

int main(int argc, char **argv)
{
    GError *err = NULL;
    if (argc != 9 && argc != 10) return fail(NULL);
    run r = {.B = atoi(argv[3]), .S = atoi(argv[4]), .steps = atoi(argv[5]), .lr = atof(argv[6]),
             .wd = atof(argv[7]), .outdir = argv[8], .perturb = argc == 10 ? argv[9] : NULL};
    if (r.B < 1 || r.S < 1 || r.steps < 1) return fail(NULL);
    if (!ttml_init(NULL, &err) || !ttml_context_open_device("cpu", &err)) return fail(err);
    ttml_tokenizer *tok = NULL;
    gboolean ok = make_batch(&r, argv[2], &tok, &err) && build_model(&r, argv[1], tok, &err) && train(&r, &err);
    ttml_tokenizer_free(tok);
    ttml_tensor_unref(r.x);
    ttml_tensor_unref(r.y);
    g_free(r.ids);
    if (r.params) g_ptr_array_unref(r.params);
    if (r.model) ttml_module_unref(r.model);
    ttml_shutdown();
    return ok ? 0 : fail(err);
}
