/* test_transformers.c - the transformer_models plugin (gpt2 / nanogpt and
 * llama): parameter names, shapes and exact counts against hand-computed
 * formulas, initialisation statistics, forward shapes, the untrained loss
 * near ln(V), parameter gradients through the whole model against central
 * finite differences, KV-cache decoding against the full forward, gradient
 * checkpointing (same loss and gradients, lower peak memory), overfitting a
 * fixed batch with AdamW, and config errors. */
#include "test_grad.h"

#include <math.h>
#include <string.h>

/* ---- helpers ---- */

static ttml_module *must_model(const char *name, const char *yaml)
{
    GError *err = NULL;
    ttml_module *m = ttml_test_model_from_yaml(name, yaml, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    return m;
}

/* u32 ids [B,1,1,S] from a fixed pseudo-random sequence below `vocab`. */
static ttml_tensor *make_ids(int64_t b, int64_t s, int64_t vocab, guint32 salt)
{
    GError *err = NULL;
    guint32 *v = g_new(guint32, b * s);
    guint32 x = 2463534242u ^ salt;
    for (int64_t i = 0; i < b * s; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v[i] = x % (guint32)vocab;
    }
    const int64_t shape[4] = {b, 1, 1, s};
    ttml_tensor *t = ttml_tensor_from_data(NULL, 4, shape, TTML_DTYPE_U32, v, &err);
    TTML_ASSERT_NO_ERROR(err);
    g_free(v);
    return t;
}

/* Columns [from, from+n) of ids [B,1,1,S] as a new [B,1,1,n] tensor. */
static ttml_tensor *ids_slice(ttml_tensor *ids, int64_t from, int64_t n)
{
    GError *err = NULL;
    int64_t b = ids->shape[0], s = ids->shape[3];
    guint32 *all = g_new(guint32, b * s), *part = g_new(guint32, b * n);
    CU_ASSERT_TRUE(ttml_tensor_read(ids, all, &err));
    for (int64_t i = 0; i < b; i++)
        for (int64_t j = 0; j < n; j++) part[i * n + j] = all[i * s + from + j];
    const int64_t shape[4] = {b, 1, 1, n};
    ttml_tensor *t = ttml_tensor_from_data(NULL, 4, shape, TTML_DTYPE_U32, part, &err);
    TTML_ASSERT_NO_ERROR(err);
    g_free(all);
    g_free(part);
    return t;
}

static ttml_tensor *find_param(GPtrArray *params, const char *name)
{
    for (guint i = 0; i < params->len; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        if (strcmp(p->name, name) == 0) return p->tensor;
    }
    fprintf(stderr, "\n  parameter '%s' not found\n", name);
    CU_FAIL("parameter not found");
    return NULL;
}

/* Cross-entropy of the model on (ids, targets); a new reference. */
static ttml_tensor *model_loss(ttml_module *m, ttml_tensor *ids, ttml_tensor *targets,
                               ttml_reduction red)
{
    GError *err = NULL;
    ttml_tensor *logits = ttml_module_forward(m, ids, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *loss = ttml_cross_entropy_loss(logits, targets, 0, red, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(logits);
    return loss;
}

static double loss_value(ttml_module *m, ttml_tensor *ids, ttml_tensor *targets, ttml_reduction red)
{
    GError *err = NULL;
    gboolean prev = ttml_set_grad_enabled(FALSE);
    ttml_tensor *loss = model_loss(m, ids, targets, red);
    double v = ttml_tensor_item(loss, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(loss);
    ttml_set_grad_enabled(prev);
    return v;
}

/* Names and shapes in order, requires_grad, and the exact total. */
static void check_params(ttml_module *m, const ttml_test_param *want, guint n, gsize total)
{
    gsize sum = ttml_test_check_params(m, want, n);
    if (sum != total) fprintf(stderr, "\n  %zu parameters, want %zu\n", (size_t)sum, (size_t)total);
    CU_ASSERT_EQUAL(sum, total);
}

/* ---- parameters ---- */

#define GPT2_SMALL                                                                            \
    "num_heads: 2\nembedding_dim: 16\nnum_blocks: 2\nvocab_size: 32\nmax_sequence_length: 8\n" \
    "dropout_prob: 0.0\n"

static void test_gpt2_params(void)
{
    const int64_t V = 32, E = 16, S = 8, L = 2;
    /* per block: ln1 2E, qkv 3E^2+3E, proj E^2+E, ln2 2E, fc 4E^2+4E, proj 4E^2+E */
    const gsize block = 12 * E * E + 13 * E;
    ttml_module *m = must_model("gpt2", GPT2_SMALL "weight_tying: disabled\n");
    static const ttml_test_param want[] = {
        {"wte.weight", 2, 32, 16},
        {"wpe.weight", 2, 8, 16},
        {"blocks.0.ln1.weight", 1, 16, 0},
        {"blocks.0.ln1.bias", 1, 16, 0},
        {"blocks.0.attn.qkv.weight", 2, 48, 16},
        {"blocks.0.attn.qkv.bias", 1, 48, 0},
        {"blocks.0.attn.proj.weight", 2, 16, 16},
        {"blocks.0.attn.proj.bias", 1, 16, 0},
        {"blocks.0.ln2.weight", 1, 16, 0},
        {"blocks.0.ln2.bias", 1, 16, 0},
        {"blocks.0.mlp.fc.weight", 2, 64, 16},
        {"blocks.0.mlp.fc.bias", 1, 64, 0},
        {"blocks.0.mlp.proj.weight", 2, 16, 64},
        {"blocks.0.mlp.proj.bias", 1, 16, 0},
        {"blocks.1.ln1.weight", 1, 16, 0},
        {"blocks.1.ln1.bias", 1, 16, 0},
        {"blocks.1.attn.qkv.weight", 2, 48, 16},
        {"blocks.1.attn.qkv.bias", 1, 48, 0},
        {"blocks.1.attn.proj.weight", 2, 16, 16},
        {"blocks.1.attn.proj.bias", 1, 16, 0},
        {"blocks.1.ln2.weight", 1, 16, 0},
        {"blocks.1.ln2.bias", 1, 16, 0},
        {"blocks.1.mlp.fc.weight", 2, 64, 16},
        {"blocks.1.mlp.fc.bias", 1, 64, 0},
        {"blocks.1.mlp.proj.weight", 2, 16, 64},
        {"blocks.1.mlp.proj.bias", 1, 16, 0},
        {"ln_f.weight", 1, 16, 0},
        {"ln_f.bias", 1, 16, 0},
        {"head.weight", 2, 32, 16},
    };
    gsize untied = V * E + S * E + L * block + 2 * E + V * E;
    check_params(m, want, G_N_ELEMENTS(want), untied);
    CU_ASSERT_STRING_EQUAL(m->klass->type, "gpt2");
    CU_ASSERT_PTR_NOT_NULL(m->klass->decode);

    /* initialisation: N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)),
     * zero biases, LayerNorm gamma 1 */
    GPtrArray *params = ttml_module_parameters(m);
    struct { const char *name; double std; } stats[] = {
        {"wte.weight", 0.02}, {"blocks.0.attn.qkv.weight", 0.02}, {"blocks.1.mlp.fc.weight", 0.02},
        {"blocks.0.attn.proj.weight", 0.01}, {"blocks.1.mlp.proj.weight", 0.01}, {"head.weight", 0.02},
    };
    for (size_t k = 0; k < G_N_ELEMENTS(stats); k++) {
        ttml_tensor *t = find_param(params, stats[k].name);
        float *v = ttml_test_read_floats(t);
        double s1 = 0, s2 = 0;
        for (size_t i = 0; i < t->numel; i++) {
            s1 += v[i];
            s2 += (double)v[i] * v[i];
        }
        double mean = s1 / (double)t->numel, sd = sqrt(s2 / (double)t->numel - mean * mean);
        if (fabs(sd - stats[k].std) > 0.2 * stats[k].std)
            fprintf(stderr, "\n  %s: std %g, want %g\n", stats[k].name, sd, stats[k].std);
        CU_ASSERT_TRUE(fabs(sd - stats[k].std) <= 0.2 * stats[k].std);
        CU_ASSERT_TRUE(fabs(mean) <= 4.0 * stats[k].std / sqrt((double)t->numel));
        g_free(v);
    }
    const char *ones[] = {"blocks.0.ln1.weight", "ln_f.weight"};
    const char *zeros[] = {"blocks.0.ln1.bias", "blocks.0.attn.qkv.bias", "blocks.1.mlp.proj.bias"};
    for (size_t k = 0; k < G_N_ELEMENTS(ones); k++) {
        ttml_tensor *t = find_param(params, ones[k]);
        float *v = ttml_test_read_floats(t);
        for (size_t i = 0; i < t->numel; i++) CU_ASSERT_EQUAL(v[i], 1.0f);
        g_free(v);
    }
    for (size_t k = 0; k < G_N_ELEMENTS(zeros); k++) {
        ttml_tensor *t = find_param(params, zeros[k]);
        float *v = ttml_test_read_floats(t);
        for (size_t i = 0; i < t->numel; i++) CU_ASSERT_EQUAL(v[i], 0.0f);
        g_free(v);
    }
    g_ptr_array_unref(params);
    ttml_module_unref(m);

    /* tied (TT-Train's "enabled" string and a YAML boolean): no head.weight */
    const char *tied_yaml[] = {GPT2_SMALL "weight_tying: enabled\n", GPT2_SMALL "weight_tying: true\n"};
    for (int k = 0; k < 2; k++) {
        m = must_model(k ? "nanogpt" : "gpt2", tied_yaml[k]);
        check_params(m, want, G_N_ELEMENTS(want) - 1, untied - V * E);
        ttml_module_unref(m);
    }
    /* fixed sinusoidal positions: no wpe; no biases */
    m = must_model("gpt2", GPT2_SMALL "positional_embedding_type: fixed\nbias: false\n");
    GPtrArray *ps = ttml_module_parameters(m);
    for (guint i = 0; i < ps->len; i++) {
        const char *name = ((ttml_param *)g_ptr_array_index(ps, i))->name;
        CU_ASSERT_PTR_NULL(strstr(name, "wpe"));
        CU_ASSERT_PTR_NULL(strstr(name, "bias"));
    }
    g_ptr_array_unref(ps);
    CU_ASSERT_EQUAL(ttml_module_num_params(m), V * E + L * (12 * E * E + 2 * E) + E + V * E);
    ttml_module_unref(m);
}

static void test_llama_params(void)
{
    const int64_t V = 32, E = 16, L = 2, KV = 8 /* 2 groups x head dim 4 */, I = 24;
    ttml_module *m = must_model("llama",
                                "num_heads: 4\nnum_groups: 2\nembedding_dim: 16\nnum_blocks: 2\n"
                                "vocab_size: 32\nmax_sequence_length: 8\nintermediate_dim: 24\n"
                                "theta: 500000.0\n");
    static const ttml_test_param want[] = {
        {"tok_emb.weight", 2, 32, 16},
        {"blocks.0.attn_norm.weight", 1, 16, 0},
        {"blocks.0.attn.q.weight", 2, 16, 16},
        {"blocks.0.attn.k.weight", 2, 8, 16},
        {"blocks.0.attn.v.weight", 2, 8, 16},
        {"blocks.0.attn.o.weight", 2, 16, 16},
        {"blocks.0.mlp_norm.weight", 1, 16, 0},
        {"blocks.0.mlp.w1.weight", 2, 24, 16},
        {"blocks.0.mlp.w2.weight", 2, 16, 24},
        {"blocks.0.mlp.w3.weight", 2, 24, 16},
        {"blocks.1.attn_norm.weight", 1, 16, 0},
        {"blocks.1.attn.q.weight", 2, 16, 16},
        {"blocks.1.attn.k.weight", 2, 8, 16},
        {"blocks.1.attn.v.weight", 2, 8, 16},
        {"blocks.1.attn.o.weight", 2, 16, 16},
        {"blocks.1.mlp_norm.weight", 1, 16, 0},
        {"blocks.1.mlp.w1.weight", 2, 24, 16},
        {"blocks.1.mlp.w2.weight", 2, 16, 24},
        {"blocks.1.mlp.w3.weight", 2, 24, 16},
        {"norm.weight", 1, 16, 0},
        {"head.weight", 2, 32, 16},
    };
    const gsize block = 2 * E + 2 * E * E + 2 * E * KV + 3 * E * I;
    check_params(m, want, G_N_ELEMENTS(want), V * E + L * block + E + V * E);
    CU_ASSERT_STRING_EQUAL(m->klass->type, "llama");
    ttml_module_unref(m);

    /* tied; default intermediate_dim = 256 * ceil((2 * 4E / 3) / 256) = 256 */
    m = must_model("llama", "num_heads: 4\nembedding_dim: 16\nnum_blocks: 1\nvocab_size: 32\n"
                            "max_sequence_length: 8\nweight_tying: enabled\n");
    GPtrArray *ps = ttml_module_parameters(m);
    CU_ASSERT_EQUAL(find_param(ps, "blocks.0.mlp.w1.weight")->shape[0], 256);
    CU_ASSERT_EQUAL(find_param(ps, "blocks.0.attn.k.weight")->shape[0], 16); /* groups = heads */
    g_ptr_array_unref(ps);
    CU_ASSERT_EQUAL(ttml_module_num_params(m),
                    V * E + (2 * E + 4 * E * E + 3 * E * 256) + E);
    ttml_module_unref(m);
}

/* The estimate hook (used by the trainer to refuse a model that cannot fit
 * the device) counts exactly the parameters the built model has, for every
 * variant of the module tree; activations grow with the model and shrink
 * with runner_type: memory_efficient. */
static void test_estimate_matches_params(void)
{
    static const struct {
        const char *model, *yaml;
    } cases[] = {
        {"gpt2", GPT2_SMALL "weight_tying: disabled\n"},
        {"gpt2", GPT2_SMALL "weight_tying: enabled\n"},
        {"nanogpt", GPT2_SMALL "bias: false\npositional_embedding_type: fixed\n"},
        {"gpt2", GPT2_SMALL "intermediate_dim: 40\n"},
        {"llama", "num_heads: 4\nnum_groups: 2\nembedding_dim: 16\nnum_blocks: 2\nvocab_size: 32\n"
                  "max_sequence_length: 8\nweight_tying: disabled\n"},
        {"llama", "num_heads: 2\nembedding_dim: 32\nnum_blocks: 3\nvocab_size: 64\nweight_tying: enabled\n"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        GError *err = NULL;
        ttml_config *cfg = ttml_config_load_string(cases[i].yaml, "estimate.yaml", &err);
        TTML_ASSERT_NO_ERROR(err);
        ttml_model_size size = {sizeof size, 0, 0};
        CU_ASSERT_TRUE(ttml_model_estimate(cases[i].model, cfg, &size, &err));
        TTML_ASSERT_NO_ERROR(err);
        ttml_config_free(cfg);
        ttml_module *m = must_model(cases[i].model, cases[i].yaml);
        if (size.n_params != ttml_module_num_params(m))
            fprintf(stderr, "\n  case %u: estimate %" G_GUINT64_FORMAT " parameters, model %zu\n", i,
                    size.n_params, (size_t)ttml_module_num_params(m));
        CU_ASSERT_EQUAL(size.n_params, ttml_module_num_params(m));
        CU_ASSERT_TRUE(size.activations_per_token > 0);
        ttml_module_unref(m);
    }
    /* memory_efficient keeps less per token; models without a hook say so */
    GError *err = NULL;
    ttml_model_size a = {sizeof a, 0, 0}, b = {sizeof b, 0, 0};
    ttml_config *c1 = ttml_config_load_string(GPT2_SMALL, "a.yaml", &err);
    ttml_config *c2 = ttml_config_load_string(GPT2_SMALL "runner_type: memory_efficient\n", "b.yaml", &err);
    CU_ASSERT_TRUE(ttml_model_estimate("gpt2", c1, &a, &err) && ttml_model_estimate("gpt2", c2, &b, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(a.n_params, b.n_params);
    CU_ASSERT_TRUE(b.activations_per_token < a.activations_per_token);
    CU_ASSERT_FALSE(ttml_model_estimate("mlp", NULL, &a, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_UNSUPPORTED, "model 'mlp' cannot estimate its size");
    ttml_config_free(c1);
    ttml_config_free(c2);
}

/* ---- forward ---- */

static void check_forward(const char *name, const char *yaml, int64_t V)
{
    GError *err = NULL;
    ttml_module *m = must_model(name, yaml);
    ttml_tensor *ids = make_ids(3, 8, V, 1), *targets = make_ids(3, 8, V, 2);
    ttml_tensor *logits = ttml_module_forward(m, ids, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(logits->ndim, 4);
    CU_ASSERT_EQUAL(logits->shape[0], 3);
    CU_ASSERT_EQUAL(logits->shape[1], 1);
    CU_ASSERT_EQUAL(logits->shape[2], 8);
    CU_ASSERT_EQUAL(logits->shape[3], V);
    CU_ASSERT_TRUE(logits->requires_grad);
    ttml_tensor_unref(logits);
    ttml_reset_graph();
    /* untrained: near-uniform predictions, loss ~ ln(V) */
    double loss = loss_value(m, ids, targets, TTML_REDUCE_MEAN);
    fprintf(stderr, " [%s loss %.4f, ln V %.4f]", name, loss, log((double)V));
    CU_ASSERT_TRUE(fabs(loss - log((double)V)) < 0.05);
    /* sequences longer than max_sequence_length are a clear error */
    ttml_tensor *long_ids = make_ids(1, 9, V, 3);
    logits = ttml_module_forward(m, long_ids, &err);
    CU_ASSERT_PTR_NULL(logits);
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "max_sequence_length");
    ttml_tensor_unref(long_ids);
    ttml_tensor_unref(ids);
    ttml_tensor_unref(targets);
    ttml_module_unref(m);
}

static void test_forward(void)
{
    check_forward("gpt2", GPT2_SMALL, 32);
    check_forward("gpt2", GPT2_SMALL "weight_tying: enabled\npositional_embedding_type: fixed\n", 32);
    check_forward("llama", "num_heads: 4\nnum_groups: 2\nembedding_dim: 16\nnum_blocks: 2\n"
                           "vocab_size: 64\nmax_sequence_length: 8\nintermediate_dim: 32\n", 64);
}

/* ---- gradients against finite differences ---- */

/* Add N(0, sd) noise to every parameter so gradients are not tiny. */
static void perturb_params(ttml_module *m, float sd)
{
    GError *err = NULL;
    GPtrArray *ps = ttml_module_parameters(m);
    for (guint i = 0; i < ps->len; i++) {
        ttml_tensor *t = ((ttml_param *)g_ptr_array_index(ps, i))->tensor;
        float *v = ttml_test_read_floats(t), *noise = g_new(float, t->numel);
        ttml_rng_fill_normal(noise, t->numel, 0.0f, sd);
        for (size_t k = 0; k < t->numel; k++) v[k] += noise[k];
        CU_ASSERT_TRUE(ttml_tensor_write(t, v, &err));
        TTML_ASSERT_NO_ERROR(err);
        g_free(v);
        g_free(noise);
    }
    g_ptr_array_unref(ps);
}

typedef struct { ttml_module *m; ttml_tensor *ids, *targets; } model_sum_loss;

static double sum_loss_eval(void *user)
{
    const model_sum_loss *l = user;
    return loss_value(l->m, l->ids, l->targets, TTML_REDUCE_SUM);
}

static void check_fd(const char *name, const char *yaml, int64_t V, const char *const *names, int n_names)
{
    GError *err = NULL;
    ttml_module *m = must_model(name, yaml);
    perturb_params(m, 0.25f);
    ttml_tensor *ids = make_ids(2, 6, V, 11), *targets = make_ids(2, 6, V, 12);
    ttml_tensor *loss = model_loss(m, ids, targets, TTML_REDUCE_SUM);
    CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(loss);

    GPtrArray *ps = ttml_module_parameters(m);
    const double h = 1e-2;
    model_sum_loss l = {m, ids, targets};
    int checked = 0, bad = 0;
    for (int k = 0; k < n_names; k++) {
        ttml_tensor *t = find_param(ps, names[k]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t->grad);
        float *g = ttml_test_read_floats(t->grad), *v = ttml_test_read_floats(t);
        for (int s = 0; s < 4; s++) {
            size_t idx = (size_t)(ttml_rng_u64() % t->numel);
            double fd = ttml_test_central_diff(t, v, idx, h, sum_loss_eval, &l);
            CU_ASSERT_TRUE(ttml_tensor_write(t, v, &err));
            TTML_ASSERT_NO_ERROR(err);
            checked++;
            if (!ttml_test_close(g[idx], fd, 1e-2, 3e-2)) {
                bad++;
                fprintf(stderr, "\n  %s %s[%zu]: analytic %g, finite difference %g", name, names[k],
                        idx, g[idx], fd);
            }
        }
        g_free(g);
        g_free(v);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(checked, 4 * n_names);
    g_ptr_array_unref(ps);
    ttml_tensor_unref(ids);
    ttml_tensor_unref(targets);
    ttml_module_unref(m);
}

static void test_gradients(void)
{
    static const char *const gpt2_names[] = {
        "wte.weight", "wpe.weight", "blocks.0.ln1.weight", "blocks.0.ln1.bias",
        "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", "blocks.0.attn.proj.weight",
        "blocks.1.mlp.fc.weight", "blocks.1.mlp.proj.bias", "ln_f.weight", "head.weight",
    };
    check_fd("gpt2", GPT2_SMALL, 32, gpt2_names, G_N_ELEMENTS(gpt2_names));
    static const char *const tied_names[] = {"wte.weight", "blocks.1.attn.qkv.weight", "ln_f.bias"};
    check_fd("gpt2", GPT2_SMALL "weight_tying: enabled\n", 32, tied_names, G_N_ELEMENTS(tied_names));
    static const char *const llama_names[] = {
        "tok_emb.weight", "blocks.0.attn_norm.weight", "blocks.0.attn.q.weight",
        "blocks.0.attn.k.weight", "blocks.0.attn.v.weight", "blocks.1.attn.o.weight",
        "blocks.1.mlp_norm.weight", "blocks.0.mlp.w1.weight", "blocks.0.mlp.w2.weight",
        "blocks.1.mlp.w3.weight", "norm.weight",
    };
    check_fd("llama",
             "num_heads: 4\nnum_groups: 2\nembedding_dim: 16\nnum_blocks: 2\nvocab_size: 32\n"
             "max_sequence_length: 8\nintermediate_dim: 24\nweight_tying: enabled\n",
             32, llama_names, G_N_ELEMENTS(llama_names));
}

/* ---- KV-cache decoding ---- */

/* |decode logits - full logits at positions [from, from+n)| <= 1e-4. */
static int compare_rows(const float *full, const ttml_tensor *part, int64_t B, int64_t S, int64_t V,
                        int64_t from, int64_t n)
{
    CU_ASSERT_EQUAL(part->ndim, 4);
    CU_ASSERT_EQUAL(part->shape[0], B);
    CU_ASSERT_EQUAL(part->shape[2], n);
    CU_ASSERT_EQUAL(part->shape[3], V);
    float *got = ttml_test_read_floats(part);
    int bad = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < n; t++)
            for (int64_t v = 0; v < V; v++) {
                float want = full[(b * S + from + t) * V + v], g = got[(b * n + t) * V + v];
                if (!(fabsf(want - g) <= 1e-4f)) bad++;
            }
    g_free(got);
    return bad;
}

static void check_decode(const char *name, const char *yaml, int64_t V)
{
    GError *err = NULL;
    const int64_t B = 2, S = 8;
    ttml_module *m = must_model(name, yaml);
    perturb_params(m, 0.1f); /* a less uniform attention pattern */
    ttml_module_train(m, FALSE);
    ttml_tensor *ids = make_ids(B, S, V, 21);
    gboolean prev = ttml_set_grad_enabled(FALSE);
    ttml_tensor *full_t = ttml_module_forward(m, ids, &err);
    TTML_ASSERT_NO_ERROR(err);
    float *full = ttml_test_read_floats(full_t);
    ttml_tensor_unref(full_t);
    ttml_set_grad_enabled(prev);

    /* token by token */
    void *cache = m->klass->cache_new(m, B, S, &err);
    TTML_ASSERT_NO_ERROR(err);
    int bad = 0;
    for (int64_t t = 0; t < S; t++) {
        ttml_tensor *one = ids_slice(ids, t, 1);
        ttml_tensor *lg = m->klass->decode(m, cache, one, t, &err);
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_FALSE(lg->requires_grad);
        bad += compare_rows(full, lg, B, S, V, t, 1);
        ttml_tensor_unref(lg);
        ttml_tensor_unref(one);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(ttml_graph_size(), 0u);
    /* the cache is full: one more position is a clear error */
    ttml_tensor *one = ids_slice(ids, 0, 1);
    CU_ASSERT_PTR_NULL(m->klass->decode(m, cache, one, S, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "max_sequence_length");
    /* a gap is an error; rewinding works */
    m->klass->cache_free(cache);
    cache = m->klass->cache_new(m, B, S, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NULL(m->klass->decode(m, cache, one, 2, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "cache holds only");
    ttml_tensor_unref(one);

    /* chunks of 3, 2, 3, then rewind to 5 and decode the last 3 again */
    const int64_t chunks[][2] = {{0, 3}, {3, 2}, {5, 3}, {5, 3}, {7, 1}};
    bad = 0;
    for (size_t c = 0; c < G_N_ELEMENTS(chunks); c++) {
        ttml_tensor *part = ids_slice(ids, chunks[c][0], chunks[c][1]);
        ttml_tensor *lg = m->klass->decode(m, cache, part, chunks[c][0], &err);
        TTML_ASSERT_NO_ERROR(err);
        bad += compare_rows(full, lg, B, S, V, chunks[c][0], chunks[c][1]);
        ttml_tensor_unref(lg);
        ttml_tensor_unref(part);
    }
    CU_ASSERT_EQUAL(bad, 0);
    m->klass->cache_free(cache);

    /* a cache longer than max_sequence_length is refused */
    CU_ASSERT_PTR_NULL(m->klass->cache_new(m, B, S + 1, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "max_sequence_length");
    g_free(full);
    ttml_tensor_unref(ids);
    ttml_module_unref(m);
}

static void test_decode(void)
{
    check_decode("gpt2", GPT2_SMALL, 32);
    /* dropout > 0: decode runs in eval mode like the full forward here */
    check_decode("nanogpt",
                 "num_heads: 2\nembedding_dim: 16\nnum_blocks: 2\nvocab_size: 32\n"
                 "max_sequence_length: 8\ndropout_prob: 0.3\npositional_embedding_type: fixed\n"
                 "weight_tying: enabled\n", 32);
    check_decode("llama",
                 "num_heads: 4\nnum_groups: 2\nembedding_dim: 16\nnum_blocks: 2\nvocab_size: 32\n"
                 "max_sequence_length: 8\nintermediate_dim: 24\n", 32);
    check_decode("llama",
                 "num_heads: 4\nnum_groups: 1\nembedding_dim: 32\nnum_blocks: 1\nvocab_size: 32\n"
                 "max_sequence_length: 8\ntheta: 100.0\n", 32);
}

/* ---- memory_efficient runner ---- */

typedef struct {
    double loss;
    guint64 peak;
    guint nodes;       /* graph nodes recorded by forward + loss */
    GPtrArray *grads;  /* float* per param */
} run_result;

static run_result run_step(const char *name, const char *yaml, const char *runner)
{
    GError *err = NULL;
    run_result r = {0, 0, 0, g_ptr_array_new_with_free_func(g_free)};
    char *full = g_strdup_printf("%srunner_type: %s\n", yaml, runner);
    ttml_set_seed(77); /* same initialisation for both runners */
    ttml_module *m = must_model(name, full);
    g_free(full);
    ttml_tensor *ids = make_ids(4, 16, 32, 31), *targets = make_ids(4, 16, 32, 32);
    ttml_device *dev = ttml_context_get_device();
    ttml_set_seed(99); /* same dropout masks */
    ttml_device_reset_peak(dev);
    guint64 before = ttml_device_mem_current(dev, TTML_MEM_DRAM);
    ttml_tensor *loss = model_loss(m, ids, targets, TTML_REDUCE_MEAN);
    r.nodes = ttml_graph_size();
    CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_EQUAL(ttml_graph_size(), 0u);
    r.peak = ttml_device_mem_peak(dev, TTML_MEM_DRAM) - before;
    r.loss = ttml_tensor_item(loss, &err);
    ttml_tensor_unref(loss);
    GPtrArray *ps = ttml_module_parameters(m);
    for (guint i = 0; i < ps->len; i++) {
        ttml_tensor *t = ((ttml_param *)g_ptr_array_index(ps, i))->tensor;
        CU_ASSERT_PTR_NOT_NULL_FATAL(t->grad);
        g_ptr_array_add(r.grads, ttml_test_read_floats(t->grad));
    }
    g_ptr_array_unref(ps);
    ttml_tensor_unref(ids);
    ttml_tensor_unref(targets);
    ttml_module_unref(m);
    return r;
}

static void check_memory_efficient(const char *name, const char *yaml, gsize n_params_expect)
{
    run_result a = run_step(name, yaml, "default");
    run_result b = run_step(name, yaml, "memory_efficient");
    /* one node per block: at most 4 embedding nodes + 4 blocks + norm, head, loss */
    CU_ASSERT_TRUE(b.nodes <= 4 + 4 + 3);
    CU_ASSERT_TRUE(a.nodes > b.nodes + 4 * 8);
    CU_ASSERT_TRUE(fabs(a.loss - b.loss) <= 1e-6 * fabs(a.loss));
    CU_ASSERT_EQUAL(a.grads->len, b.grads->len);
    CU_ASSERT_EQUAL(a.grads->len, n_params_expect);
    ttml_set_seed(77);
    ttml_module *m = must_model(name, yaml);
    GPtrArray *ps = ttml_module_parameters(m);
    int bad = 0;
    for (guint i = 0; i < a.grads->len && i < b.grads->len && i < ps->len; i++) {
        ttml_param *p = g_ptr_array_index(ps, i);
        const float *ga = g_ptr_array_index(a.grads, i), *gb = g_ptr_array_index(b.grads, i);
        double max_abs = 0;
        for (size_t k = 0; k < p->tensor->numel; k++) max_abs = MAX(max_abs, fabs(ga[k]));
        CU_ASSERT_TRUE(max_abs > 0);
        for (size_t k = 0; k < p->tensor->numel; k++)
            if (fabs(ga[k] - gb[k]) > 1e-5 * max_abs + 1e-9) {
                if (bad++ < 5)
                    fprintf(stderr, "\n  %s[%zu]: default %g, memory_efficient %g", p->name, k, ga[k], gb[k]);
            }
    }
    CU_ASSERT_EQUAL(bad, 0);
    fprintf(stderr, " [%s: peak %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " bytes]", name, a.peak, b.peak);
    CU_ASSERT_TRUE(b.peak < a.peak * 0.7);
    g_ptr_array_unref(ps);
    ttml_module_unref(m);
    g_ptr_array_unref(a.grads);
    g_ptr_array_unref(b.grads);
}

static void test_memory_efficient(void)
{
#define ME_GPT2 "num_heads: 4\nembedding_dim: 32\nnum_blocks: 4\nvocab_size: 32\nmax_sequence_length: 16\n"
    check_memory_efficient("gpt2", ME_GPT2 "dropout_prob: 0.0\n", 2 + 4 * 12 + 2 + 1);
    check_memory_efficient("gpt2", ME_GPT2 "dropout_prob: 0.2\n", 2 + 4 * 12 + 2 + 1);
    check_memory_efficient("llama",
                           "num_heads: 4\nnum_groups: 2\nembedding_dim: 32\nnum_blocks: 4\n"
                           "vocab_size: 32\nmax_sequence_length: 16\nintermediate_dim: 64\n"
                           "dropout_prob: 0.1\nweight_tying: enabled\n",
                           1 + 4 * 9 + 1);
}

/* ---- learning ---- */

static double overfit_ratio(const char *name, const char *yaml)
{
    GError *err = NULL;
    ttml_module *m = must_model(name, yaml);
    ttml_tensor *ids = make_ids(4, 16, 32, 41);
    /* next-token targets of a fixed batch */
    ttml_tensor *targets = make_ids(4, 16, 32, 42);
    GPtrArray *params = ttml_module_parameters(m);
    ttml_optimizer *opt = ttml_optimizer_create("adamw", params, NULL, 3e-3, 0.0, &err);
    TTML_ASSERT_NO_ERROR(err);
    double first = 0, last = 0;
    for (int step = 0; step < 100; step++) {
        ttml_optimizer_zero_grad(opt);
        ttml_tensor *loss = model_loss(m, ids, targets, TTML_REDUCE_MEAN);
        if (step == 0) first = ttml_tensor_item(loss, NULL);
        last = ttml_tensor_item(loss, NULL);
        CU_ASSERT_TRUE(ttml_backward(loss, NULL, FALSE, &err));
        TTML_ASSERT_NO_ERROR(err);
        ttml_tensor_unref(loss);
        CU_ASSERT_TRUE(ttml_optimizer_step(opt, &err));
        TTML_ASSERT_NO_ERROR(err);
    }
    fprintf(stderr, " [%s: loss %.3f -> %.3f]", name, first, last);
    ttml_optimizer_free(opt);
    g_ptr_array_unref(params);
    ttml_tensor_unref(ids);
    ttml_tensor_unref(targets);
    ttml_module_unref(m);
    return last / first;
}

static void test_overfit(void)
{
    CU_ASSERT_TRUE(overfit_ratio("gpt2", "num_heads: 2\nembedding_dim: 32\nnum_blocks: 2\nvocab_size: 32\n"
                                         "max_sequence_length: 16\ndropout_prob: 0.0\n") < 0.2);
    CU_ASSERT_TRUE(overfit_ratio("llama", "num_heads: 4\nnum_groups: 2\nembedding_dim: 32\nnum_blocks: 2\n"
                                          "vocab_size: 32\nmax_sequence_length: 16\nintermediate_dim: 64\n"
                                          "runner_type: memory_efficient\n") < 0.2);
}

/* ---- config errors ---- */

static void test_config_errors(void)
{
    GError *err = NULL;
    struct { const char *model, *yaml, *needle; } cases[] = {
        {"gpt2", "num_heads: 4\nembedding_dim: 30\n", "models.yaml:2"},
        {"gpt2", "num_heads: 4\nembedding_dim: 30\n", "divisible by 'num_heads'"},
        {"gpt2", "num_heads: 4\nembedding_dim: 32\nnum_head: 4\n", "num_head"},
        {"gpt2", "num_groups: 2\n", "num_groups"},                 /* gpt2 has no groups */
        {"llama", "num_heads: 4\nnum_groups: 3\nembedding_dim: 32\n", "num_groups"},
        {"llama", "num_heads: 4\nembedding_dim: 12\n", "even head dim"},
        {"gpt2", "weight_tying: sometimes\n", "weight_tying"},
        {"gpt2", "runner_type: fast\n", "memory_efficient"},
        {"gpt2", "positional_embedding_type: rotary\n", "positional_embedding_type"},
        {"gpt2", "dropout_prob: 1.5\n", "dropout_prob"},
        {"gpt2", "num_blocks: 0\n", "num_blocks"},
        {"gpt2", "embedding_dim: abc\n", "embedding_dim"},
        {"llama", "theta: -1\n", "theta"},
        {"gpt2", "vocab_size: 32\nvalid_vocab_size: 40\n", "valid_vocab_size"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        ttml_module *m = ttml_test_model_from_yaml(cases[i].model, cases[i].yaml, &err);
        CU_ASSERT_PTR_NULL(m);
        if (m) {
            fprintf(stderr, "\n  case %zu accepted\n", i);
            ttml_module_unref(m);
            continue;
        }
        TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, cases[i].needle);
    }
    /* TT-Train's experimental section is accepted */
    ttml_module *m = must_model("gpt2", GPT2_SMALL "experimental: {use_composite_layernorm: false}\n"
                                                   "valid_vocab_size: 30\n");
    ttml_module_unref(m);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"gpt2 parameters", test_gpt2_params},
        {"llama parameters", test_llama_params},
        {"size estimate matches the parameters", test_estimate_matches_params},
        {"forward and initial loss", test_forward},
        {"gradients vs finite differences", test_gradients},
        {"kv-cache decoding", test_decode},
        {"memory_efficient runner", test_memory_efficient},
        {"overfit a batch", test_overfit},
        {"config errors", test_config_errors},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("transformers", tests, ttml_test_init_cpu, ttml_test_shutdown);
}
