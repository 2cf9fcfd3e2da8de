/* test_inputs.c - issue 11 "Inputs": wrong values in checkpoints, paths and
 * options get errors naming the tensor, key or path, never aborts, wrong
 * models or lost state. Each test fails on the code before the fix:
 *   item 13: a model too big for host memory (embedding_dim: 1000000)
 *   item 12: a checkpoint with tensors the model lacks, optimizer_steps "0"
 *            with optimizer state (exact shapes: test_checkpoint roundtrip)
 *   item 14: exp(NaN) without UB, non-finite tensors refused (or loaded with
 *            a warning when allowed, also by ttml-run --allow-nonfinite),
 *            --temperature nan rejected
 *   item 15: a checkpoint path that is a directory, stale .tmp-XXXXXX files,
 *            --resume/--checkpoint of a file that was never written */
#include "test_util.h"
#include "train_app.h"
#include "ttml_kernel_math.h"

#include <glib/gstdio.h>
#include <math.h>

static char *tmp_dir;

/* Under AddressSanitizer, an impossible allocation returns NULL (as malloc
 * does) instead of stopping the process: the code under test must cope. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static int suite_init(void)
{
    tmp_dir = g_dir_make_tmp("ttml-inputs-XXXXXX", NULL);
    return tmp_dir ? ttml_test_init_cpu() : 1;
}

static int suite_clean(void)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    g_free(tmp_dir);
    return ttml_test_shutdown();
}

static char *tmp_path(const char *name) { return g_build_filename(tmp_dir, name, NULL); }

/* Save {name: F32 tensor of shape [n] holding values} + metadata to path. */
static void save_tensors(const char *path, const char *const *names, const float *const *values, const int64_t *n,
                         int count, GHashTable *md)
{
    GError *err = NULL;
    GPtrArray *list = g_ptr_array_new();
    ttml_param *params = g_new0(ttml_param, count);
    for (int i = 0; i < count; i++) {
        params[i].name = (char *)names[i];
        params[i].tensor = ttml_tensor_from_floats(NULL, 1, &n[i], values[i], &err);
        TTML_ASSERT_NO_ERROR(err);
        g_ptr_array_add(list, &params[i]);
    }
    CU_ASSERT_TRUE(ttml_checkpoint_save(path, list, md, &err));
    TTML_ASSERT_NO_ERROR(err);
    for (int i = 0; i < count; i++) ttml_tensor_unref(params[i].tensor);
    g_free(params);
    g_ptr_array_unref(list);
}

/* item 14: the shared exp helper (GELU, softmax, cross-entropy) on NaN and the
 * clamps; the sanitizer build compiles this file with float-cast-overflow. */
static void test_exp_nan(void)
{
    volatile float nan_in = NAN, inf_in = INFINITY;
    CU_ASSERT_TRUE(isnan(ttml_km_expf(nan_in)));
    CU_ASSERT_TRUE(isnan(ttml_km_tanhf(nan_in)));
    CU_ASSERT_TRUE(isnan(ttml_km_sigmoidf(nan_in)));
    CU_ASSERT_EQUAL(ttml_km_expf(-inf_in), 0.0f);
    CU_ASSERT_EQUAL(ttml_km_expf(inf_in), ttml_km_expf(88.0f));
    CU_ASSERT_TRUE(fabsf(ttml_km_expf(1.0f) - 2.7182817f) < 1e-6f);
}

/* item 14: non-finite parameters are an error naming the tensor; allowed, a warning. */
static void test_nonfinite_checkpoint(void)
{
    g_autofree char *path = tmp_path("nan.safetensors");
    const float good[3] = {1, 2, 3}, bad[3] = {1, NAN, INFINITY};
    save_tensors(path, (const char *[]){"a", "b"}, (const float *[]){good, bad}, (int64_t[]){3, 3}, 2, NULL);
    GError *err = NULL;
    ttml_checkpoint *ck = ttml_checkpoint_open(path, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor *t = ttml_tensor_zeros(NULL, 1, (int64_t[]){3}, TTML_DTYPE_F32, &err);
    CU_ASSERT_TRUE(ttml_checkpoint_load_tensor(ck, "a", t, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_FALSE(ttml_checkpoint_load_tensor(ck, "b", t, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_NUMERIC, "tensor 'b' holds 2 non-finite values (the first, element 1, is nan)");
    ttml_checkpoint_allow_nonfinite(ck, TRUE);
    CU_ASSERT_TRUE(ttml_checkpoint_load_tensor(ck, "b", t, &err));
    TTML_ASSERT_NO_ERROR(err);
    float back[3];
    CU_ASSERT_TRUE(ttml_tensor_to_floats(t, back, &err));
    CU_ASSERT_TRUE(isnan(back[1]) && isinf(back[2]));
    ttml_tensor_unref(t);
    ttml_checkpoint_close(ck);
}

/* item 15: a directory is named as one, for reading and for saving. */
static void test_directory_path(void)
{
    GError *err = NULL;
    CU_ASSERT_PTR_NULL(ttml_checkpoint_open(tmp_dir, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_IO, "it is a directory");
    const float v[1] = {1};
    GPtrArray *list = g_ptr_array_new();
    ttml_param p = {.name = "x", .tensor = ttml_tensor_from_floats(NULL, 1, (int64_t[]){1}, v, &err)};
    g_ptr_array_add(list, &p);
    CU_ASSERT_FALSE(ttml_checkpoint_save(tmp_dir, list, NULL, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_IO, "it is a directory");
    ttml_tensor_unref(p.tensor);
    g_ptr_array_unref(list);
}

/* item 15: temporaries of the same checkpoint left by a killed save go at the next save. */
static void test_stale_temporaries(void)
{
    g_autofree char *path = tmp_path("stale.safetensors");
    g_autofree char *stale = tmp_path("stale.safetensors.tmp-Ab12Cd");
    g_autofree char *other = tmp_path("other.safetensors.tmp-Ab12Cd");
    CU_ASSERT_TRUE(g_file_set_contents(stale, "torn", 4, NULL));
    CU_ASSERT_TRUE(g_file_set_contents(other, "keep", 4, NULL));
    const float v[2] = {1, 2};
    save_tensors(path, (const char *[]){"x"}, (const float *[]){v}, (int64_t[]){2}, 1, NULL);
    CU_ASSERT_FALSE(g_file_test(stale, G_FILE_TEST_EXISTS));
    CU_ASSERT_TRUE(g_file_test(other, G_FILE_TEST_EXISTS)); /* another checkpoint's: not ours to remove */
    CU_ASSERT_TRUE(g_file_test(path, G_FILE_TEST_IS_REGULAR));
}

/* item 15: a checkpoint that was never written: say so and how to start fresh. */
static void test_missing_checkpoint(void)
{
    g_autofree char *path = tmp_path("never-written.safetensors");
    GError *err = NULL;
    CU_ASSERT_PTR_NULL(ttml_train_state_open(path, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_IO, "nothing was ever saved there");
}

static GHashTable *state_metadata(const char *optimizer_steps)
{
    GHashTable *md = g_hash_table_new(g_str_hash, g_str_equal);
    g_hash_table_insert(md, "format", TTML_TRAIN_STATE_FORMAT);
    g_hash_table_insert(md, "optimizer_steps", (char *)optimizer_steps);
    return md;
}

/* item 12: a checkpoint of a bigger model never loads into a smaller one. */
static void test_extra_tensors(void)
{
    GError *err = NULL;
    ttml_config *cfg = ttml_config_load_string("in_features: 2\nout_features: 1\n", "m.yaml", &err);
    ttml_module *m = ttml_model_create("linear_regression", cfg, &err);
    TTML_ASSERT_NO_ERROR(err);
    GPtrArray *params = ttml_module_parameters(m);
    CU_ASSERT_EQUAL_FATAL(params->len, 2);
    ttml_param *w = g_ptr_array_index(params, 0), *b = g_ptr_array_index(params, 1);
    g_autofree char *path = tmp_path("bigger.safetensors");
    GPtrArray *list = g_ptr_array_new();
    g_ptr_array_add(list, w);
    g_ptr_array_add(list, b);
    ttml_param extra = {.name = "blocks.1.weight", .tensor = b->tensor};
    g_ptr_array_add(list, &extra);
    GHashTable *md = state_metadata("0");
    CU_ASSERT_TRUE(ttml_checkpoint_save(path, list, md, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_checkpoint *ck = ttml_train_state_open(path, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_FALSE(ttml_train_state_load_params(ck, path, m, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CHECKPOINT, "holds 1 tensor the model does not have (the first is 'blocks.1.weight'");
    ttml_checkpoint_close(ck);

    /* optimizer_steps "0" beside optimizer state: an error naming the key, not dropped moments */
    g_ptr_array_set_size(list, 2);
    ttml_param moment = {.name = g_strdup_printf("optim.%s.exp_avg", w->name), .tensor = w->tensor};
    g_ptr_array_add(list, &moment);
    CU_ASSERT_TRUE(ttml_checkpoint_save(path, list, md, &err));
    TTML_ASSERT_NO_ERROR(err);
    ck = ttml_train_state_open(path, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_train_state_load_params(ck, path, m, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_optimizer *opt = ttml_optimizer_create("adamw", params, NULL, 0.01f, 0.0, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_FALSE(ttml_train_state_load_optimizer(ck, path, opt, 0, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CHECKPOINT, "metadata 'optimizer_steps' is 0 but the file holds optimizer state");
    ttml_optimizer_free(opt);
    ttml_checkpoint_close(ck);
    g_free(moment.name);
    g_hash_table_unref(md);
    g_ptr_array_unref(list);
    g_ptr_array_unref(params);
    ttml_module_unref(m);
    ttml_config_free(cfg);
}

/* item 13: a model too big for host memory is an error naming the shape and size, not exit 133. */
static void test_model_too_big(void)
{
    GError *err = NULL;
    ttml_config *cfg = ttml_config_load_string("num_heads: 2\nembedding_dim: 1000000\nnum_blocks: 1\n"
                                               "vocab_size: 32\nmax_sequence_length: 4\n",
                                               "big.yaml", &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NULL(ttml_model_create("nanogpt", cfg, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_OOM, "a parameter of shape [3000000, 1000000] needs 12000000000000 bytes");
    ttml_config_free(cfg);
}

/* item 12: architecture keys must match on resume; changed training keys are reported. */
static void test_resume_config(void)
{
    GError *err = NULL;
    g_autofree char *path = tmp_path("arch.safetensors");
    GHashTable *md = state_metadata("0");
    g_hash_table_insert(md, "config",
                        "training_config:\n  learning_rate: 0.0003\n  batch_size: 4\n"
                        "  transformer_config:\n    num_heads: 6\n    embedding_dim: 384\n");
    const float v[1] = {1};
    save_tensors(path, (const char *[]){"x"}, (const float *[]){v}, (int64_t[]){1}, 1, md);
    ttml_checkpoint *ck = ttml_train_state_open(path, &err);
    TTML_ASSERT_NO_ERROR(err);
    ttml_config *now = ttml_config_load_string("training_config:\n  learning_rate: 1e-3\n  batch_size: 4\n"
                                               "  transformer_config:\n    num_heads: 4\n    embedding_dim: 384\n",
                                               "now.yaml", &err);
    TTML_ASSERT_NO_ERROR(err);
    char *changes = NULL;
    CU_ASSERT_FALSE(ttml_train_state_check_config(ck, path, now, &changes, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CHECKPOINT, "now.yaml:5:16: transformer_config.num_heads is 4 but checkpoint");
    CU_ASSERT_PTR_NULL(changes);
    ttml_config_free(now);
    now = ttml_config_load_string("training_config:\n  learning_rate: 1e-3\n  batch_size: 4.0\n"
                                  "  transformer_config:\n    num_heads: 6\n", "now.yaml", &err);
    CU_ASSERT_TRUE(ttml_train_state_check_config(ck, path, now, &changes, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_STRING_EQUAL(changes ? changes : "", "learning_rate 0.0003 -> 1e-3");
    g_free(changes);
    ttml_config_free(now);
    ttml_checkpoint_close(ck);
    g_hash_table_unref(md);
}

/* Run `ttml-run CONFIG` on a tiny LM config (one epoch: a few steps) with
 * training_config lines `train_extra` and transformer_config lines `tf_extra`
 * (which give embedding_dim); returns the exit status, stderr in *err_text. */
/* Write the tiny LM config `name` (and its corpus) in tmp_dir: model_path
 * `model_path`, then the extra training_config / transformer_config lines;
 * returns its path (g_free). */
static char *write_lm_config(const char *name, const char *model_path, const char *train_extra,
                             const char *tf_extra)
{
    g_autofree char *data = tmp_path("tiny.txt");
    char *cfg = tmp_path(name);
    g_autofree char *text = g_strdup_printf(
        "training_config:\n  model_type: nanogpt\n  batch_size: 2\n  model_path: '%s'\n%s"
        "  transformer_config:\n    num_heads: 2\n    num_blocks: 1\n"
        "    max_sequence_length: 8\n%s"
        "data_config:\n  path: %s\n",
        model_path, train_extra, tf_extra, data);
    CU_ASSERT_TRUE(g_file_set_contents(data, "abcdefghij klmnopqrst uvwxyz. ABCDEFGHIJ KLMNOPQRST UVWXYZ.\n"
                                       "abcdefghij klmnopqrst uvwxyz. ABCDEFGHIJ KLMNOPQRST UVWXYZ.\n", -1, NULL));
    CU_ASSERT_TRUE(g_file_set_contents(cfg, text, -1, NULL));
    return cfg;
}

static int run_lm_config(const char *train_extra, const char *tf_extra, char **err_text)
{
    g_autofree char *cfg = write_lm_config("tiny.yaml", "", train_extra, tf_extra);
    char *argv[] = {TTML_BUILD_DIR "/bin/ttml-run", cfg, "--quiet", NULL};
    int status = -1;
    GError *err = NULL;
    CU_ASSERT_TRUE(g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, err_text, &status,
                                &err));
    TTML_ASSERT_NO_ERROR(err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void expect_config_error(const char *train_extra, const char *tf_extra, const char *needle)
{
    char *err_text = NULL;
    int rc = run_lm_config(train_extra, tf_extra, &err_text);
    if (rc != 1 || !strstr(err_text, needle)) fprintf(stderr, "\nexit %d, stderr: %s\n", rc, err_text);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_text, needle));
    g_free(err_text);
}

/* items 13, 14: sizes and intervals a user wrote are checked, never overflow, abort or mean "unset". */
static void test_config_values(void)
{
    char *err_text = NULL;
    CU_ASSERT_EQUAL(run_lm_config("", "    embedding_dim: 8\n", &err_text), 0); /* the tiny config trains */
    g_free(err_text);
    expect_config_error("  eval_every: -5\n", "    embedding_dim: 8\n", "'eval_every' must be an integer >= 0 (0 = off), got -5");
    expect_config_error("", "    embedding_dim: 4611686018427387904\n", "'embedding_dim' is 4611686018427387904, more than 16777216");
    expect_config_error("", "    embedding_dim: 8\n    vocab_size: 9223372036854775807\n", "'vocab_size' must be a positive integer <= 16777216");
    expect_config_error("  num_epochs: 9223372036854775807\n", "    embedding_dim: 8\n", "overflows the step count");
}

/* item 14: sampling options that are not finite numbers are rejected, not "unset". */
static void test_generate_options(void)
{
    const char *bad[][2] = {{"--temperature", "nan"}, {"--top-p", "inf"}, {"--repetition-penalty", "x"}};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        char *argv[] = {TTML_BUILD_DIR "/bin/ttml-run", "generate", "--checkpoint", "none.safetensors",
                        (char *)bad[i][0], (char *)bad[i][1], NULL};
        char *err_text = NULL;
        int status = -1;
        GError *err = NULL;
        CU_ASSERT_TRUE(g_spawn_sync(NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err_text,
                                    &status, &err));
        TTML_ASSERT_NO_ERROR(err);
        CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "must be a finite number"));
        if (!strstr(err_text, "must be a finite number")) fprintf(stderr, "\n%s\n", err_text);
        g_free(err_text);
    }
}

/* Run ttml-run with `args` (NULL-terminated, after the program); stderr in
 * *err_text. Under AddressSanitizer the child, like this process, gets NULL
 * from an impossible allocation instead of a sanitizer stop. */
static int run_tool(const char *const *args, char **err_text)
{
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, TTML_BUILD_DIR "/bin/ttml-run");
    for (const char *const *a = args; *a; a++) g_ptr_array_add(argv, (char *)*a);
    g_ptr_array_add(argv, NULL);
    char **envp = g_get_environ();
    const char *asan = g_environ_getenv(envp, "ASAN_OPTIONS");
    g_autofree char *opts = g_strdup_printf("%s%sallocator_may_return_null=1", asan ? asan : "", asan ? ":" : "");
    envp = g_environ_setenv(envp, "ASAN_OPTIONS", opts, TRUE);
    int status = -1;
    GError *err = NULL;
    CU_ASSERT_TRUE(g_spawn_sync(tmp_dir, (char **)argv->pdata, envp, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                                err_text, &status, &err));
    TTML_ASSERT_NO_ERROR(err);
    g_strfreev(envp);
    g_ptr_array_free(argv, TRUE);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Rewrite the training-state checkpoint `path` with element 0 of its first
 * parameter (not optimizer state) set to NaN; returns that tensor's name. */
static char *poison_checkpoint(const char *path)
{
    static const char *const keys[] = {"format", "ttml_version", "step", "optimizer_steps", "rng_seed",
                                       "rng_counter", "scheduler_type", "scheduler_step", "total_steps",
                                       "model_type", "optimizer_type", "vocab_size", "max_sequence_length",
                                       "tokenizer", "config", "config_path", "data_path", "val_loss"};
    GError *err = NULL;
    ttml_checkpoint *ck = ttml_checkpoint_open(path, &err);
    TTML_ASSERT_NO_ERROR(err);
    GHashTable *md = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++)
        if (ttml_checkpoint_metadata(ck, keys[i]))
            g_hash_table_insert(md, (char *)keys[i], g_strdup(ttml_checkpoint_metadata(ck, keys[i])));
    const GPtrArray *names = ttml_checkpoint_names(ck);
    GPtrArray *list = g_ptr_array_new();
    ttml_param *params = g_new0(ttml_param, names->len);
    char *poisoned = NULL;
    for (guint i = 0; i < names->len; i++) {
        ttml_dtype dtype;
        int ndim;
        int64_t shape[TTML_CHECKPOINT_MAX_DIMS];
        params[i].name = g_ptr_array_index(names, i);
        CU_ASSERT_TRUE_FATAL(ttml_checkpoint_tensor_info(ck, params[i].name, &dtype, &ndim, shape));
        params[i].tensor = ttml_tensor_zeros(NULL, ndim, shape, dtype, &err);
        CU_ASSERT_TRUE(ttml_checkpoint_load_tensor(ck, params[i].name, params[i].tensor, &err));
        TTML_ASSERT_NO_ERROR(err);
        if (!poisoned && dtype == TTML_DTYPE_F32 && !g_str_has_prefix(params[i].name, "optim.")) {
            float *v = g_new(float, params[i].tensor->numel);
            CU_ASSERT_TRUE(ttml_tensor_to_floats(params[i].tensor, v, &err));
            v[0] = NAN;
            CU_ASSERT_TRUE(ttml_tensor_write(params[i].tensor, v, &err));
            TTML_ASSERT_NO_ERROR(err);
            g_free(v);
            poisoned = g_strdup(params[i].name);
        }
        g_ptr_array_add(list, &params[i]);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(poisoned);
    CU_ASSERT_TRUE(ttml_checkpoint_save(path, list, md, &err));
    TTML_ASSERT_NO_ERROR(err);
    for (guint i = 0; i < names->len; i++) ttml_tensor_unref(params[i].tensor);
    g_free(params);
    g_ptr_array_unref(list);
    g_hash_table_unref(md);
    ttml_checkpoint_close(ck);
    return poisoned;
}

/* item 14: a checkpoint with a NaN parameter is refused by `generate` and
 * `--resume` with an error naming the tensor and --allow-nonfinite; with
 * --allow-nonfinite it loads with a warning naming the tensor (generation
 * then stops with an error on the non-finite logits). Item 13 on the same
 * trained checkpoint, before the NaN: `generate --max-tokens 1e12`. */
static void test_allow_nonfinite_cli(void)
{
    g_autofree char *ck = tmp_path("nan_run.safetensors");
    g_autofree char *cfg = write_lm_config("nan_run.yaml", ck, "  max_steps: 2\n", "    embedding_dim: 8\n");
    char *err_text = NULL;
    CU_ASSERT_EQUAL_FATAL(run_tool((const char *[]){cfg, "--quiet", NULL}, &err_text), 0);
    g_free(err_text);
    /* item 13: an absurd --max-tokens is an error naming it, not GLib's abort (exit 133) */
    int rc = run_tool((const char *[]){"generate", "--checkpoint", ck, "--max-tokens", "1000000000000", NULL},
                      &err_text);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "max_tokens 1000000000000 (--max-tokens or eval_config.max_tokens): "
                                            "cannot allocate"));
    g_free(err_text);
    g_autofree char *name = poison_checkpoint(ck);
    g_autofree char *named = g_strdup_printf("tensor '%s' holds 1 non-finite value", name);

    const char *refused[][8] = {{"generate", "--checkpoint", ck, "--max-tokens", "2", NULL},
                                {cfg, "--resume", "--max-steps", "3", "--quiet", NULL}};
    const char *allowed[][8] = {{"generate", "--checkpoint", ck, "--max-tokens", "2", "--allow-nonfinite", NULL},
                                {cfg, "--resume", "--max-steps", "3", "--quiet", "--allow-nonfinite", NULL}};
    for (gsize i = 0; i < G_N_ELEMENTS(refused); i++) {
        rc = run_tool(refused[i], &err_text);
        if (rc != 1 || !strstr(err_text, named) || !strstr(err_text, "--allow-nonfinite"))
            fprintf(stderr, "\ncase %zu refused: exit %d, stderr: %s\n", i, rc, err_text);
        CU_ASSERT_EQUAL(rc, 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err_text, named));
        CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "--allow-nonfinite"));
        g_free(err_text);
        rc = run_tool(allowed[i], &err_text);
        if (!strstr(err_text, "loading it anyway as asked") || strstr(err_text, "use an earlier checkpoint"))
            fprintf(stderr, "\ncase %zu allowed: exit %d, stderr: %s\n", i, rc, err_text);
        CU_ASSERT_PTR_NOT_NULL(strstr(err_text, named));
        CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "loading it anyway as asked"));
        CU_ASSERT_PTR_NULL(strstr(err_text, "use an earlier checkpoint"));
        CU_ASSERT_TRUE(rc < 128);   /* an error is fine (NaN logits or loss), a crash is not */
        if (i == 0) {   /* generate stops on the non-finite logits instead of printing garbage, exit 0 */
            CU_ASSERT_EQUAL(rc, 1);
            CU_ASSERT_PTR_NOT_NULL(strstr(err_text, "the model's logits are not finite"));
        }
        g_free(err_text);
    }
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"exp_nan", test_exp_nan},
        {"nonfinite_checkpoint", test_nonfinite_checkpoint},
        {"allow_nonfinite_cli", test_allow_nonfinite_cli},
        {"directory_path", test_directory_path},
        {"stale_temporaries", test_stale_temporaries},
        {"missing_checkpoint", test_missing_checkpoint},
        {"extra_tensors", test_extra_tensors},
        {"resume_config", test_resume_config},
        {"model_too_big", test_model_too_big},
        {"config_values", test_config_values},
        {"generate_options", test_generate_options},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("inputs", tests, suite_init, suite_clean);
}
