/* test_lm_train - language-model training end to end: clip_grad_norm
 * against a hand computation, a tiny nanogpt that learns, gradient
 * accumulation equal to the larger batch, SIGKILL + --resume with bitwise
 * identical losses, clear errors for damaged checkpoints, and generation
 * with the KV cache against a full forward. */
#include "test_util.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <dlfcn.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define RUN_BIN TTML_BUILD_DIR "/bin/ttml-run"
#define SHAKESPEARE TTML_SOURCE_DIR "/../shared/data/tinyshakespeare.txt"

static int suite_init(void)
{
    /* The corpus: the head of tiny Shakespeare, else a small play-like text. */
    char *text = NULL;
    gsize len = 0;
    GString *corpus = g_string_new(NULL);
    if (g_file_get_contents(SHAKESPEARE, &text, &len, NULL) && len > 60000) {
        g_string_append_len(corpus, text, 60000);
    } else {
        for (int i = 0; corpus->len < 60000; i++)
            g_string_append_printf(corpus,
                                   "ROMEO:\nBut soft, what light through yonder window breaks %d?\n\n"
                                   "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n\n",
                                   i % 7);
    }
    g_free(text);
    char *path = ttml_test_tmp_path("corpus.txt");
    gboolean ok = g_file_set_contents(path, corpus->str, (gssize)corpus->len, NULL);
    g_free(path);
    g_string_free(corpus, TRUE);
    return ok ? 0 : 1;
}

/* A tiny nanogpt config in the temp dir (corpus path relative to it). */
static char *write_config(const char *name, int batch, int accum, int steps, const char *optimizer,
                          double lr, double dropout, int save_interval, const char *model_path,
                          const char *extra)
{
    char *ck = ttml_test_tmp_path(model_path);
    char *text = g_strdup_printf(
        "training_config:\n"
        "  seed: 11\n"
        "  batch_size: %d\n"
        "  gradient_accumulation_steps: %d\n"
        "  max_steps: %d\n"
        "  learning_rate: %g\n"
        "  optimizer_type: %s\n"
        "  model_type: nanogpt\n"
        "  model_path: %s\n"
        "  model_save_interval: %d\n"
        "  log_interval: 1\n"
        "  eval_every: 10\n"
        "  val_batches: 2\n"
        "%s"
        "  transformer_config:\n"
        "    num_heads: 2\n"
        "    embedding_dim: 32\n"
        "    num_blocks: 2\n"
        "    max_sequence_length: 16\n"
        "    dropout_prob: %g\n"
        "data_config:\n"
        "  type: text\n"
        "  path: [missing-first.txt, corpus.txt]\n"
        "  val_fraction: 0.1\n"
        "eval_config: {temperature: 0.9, top_k: 5}\n",
        batch, accum, steps, lr, optimizer, ck, save_interval, extra ? extra : "", dropout);
    char *path = ttml_test_tmp_path(name);
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(path, text, -1, NULL));
    g_free(text);
    g_free(ck);
    return path;
}

/* `text` with every `from` replaced by `to` (g_free). */
static char *replace(const char *text, const char *from, const char *to)
{
    char **parts = g_strsplit(text, from, -1);
    char *out = g_strjoinv(to, parts);
    g_strfreev(parts);
    return out;
}

static gboolean train(const char *config, const char *metrics, gboolean resume, GError **error)
{
    ttml_run_options o = {
        .struct_size = sizeof o,
        .config_path = config,
        .seed = -1,
        .max_steps = -1,
        .metrics_path = metrics,
        .quiet = TRUE,
        .resume = resume,
    };
    return ttml_train_run(&o, error);
}

/* The "loss" text of each {"step":N,...} line, indexed by N (NULL if absent). */
static GPtrArray *read_losses(const char *metrics)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    char *text = NULL;
    if (!g_file_get_contents(metrics, &text, NULL, NULL)) return out;
    char **lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (!g_str_has_prefix(*l, "{\"step\":")) continue;
        gint64 step = g_ascii_strtoll(*l + 8, NULL, 10);
        const char *p = strstr(*l, "\"loss\":");
        if (!p || step <= 0 || step > 100000) continue;
        p += 7;
        const char *e = strchr(p, ',');
        while (out->len <= (guint)step) g_ptr_array_add(out, NULL);
        g_free(out->pdata[step]);
        out->pdata[step] = g_strndup(p, e ? (gsize)(e - p) : strlen(p));
    }
    g_strfreev(lines);
    g_free(text);
    return out;
}

/* ------------------------------------------------------------- clip */

static void set_grad(ttml_tensor *p, const float *g)
{
    GError *err = NULL;
    ttml_tensor *gt = ttml_tensor_from_floats(NULL, p->ndim, p->shape, g, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_tensor_accumulate_grad(p, gt, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_tensor_unref(gt);
}

static void test_clip_grad_norm(void)
{
    CU_ASSERT_EQUAL_FATAL(ttml_test_init_cpu(), 0);
    GError *err = NULL;
    int64_t sa[2] = {2, 3}, sb[1] = {4}, sc[1] = {2};
    ttml_tensor *a = ttml_tensor_zeros(NULL, 2, sa, TTML_DTYPE_F32, &err);
    ttml_tensor *b = ttml_tensor_zeros(NULL, 1, sb, TTML_DTYPE_F32, &err);
    ttml_tensor *c = ttml_tensor_zeros(NULL, 1, sc, TTML_DTYPE_F32, &err);   /* no grad */
    TTML_ASSERT_NO_ERROR(err);
    const float ga[6] = {1, -2, 3, 0.5f, -0.25f, 4}, gb[4] = {-1, 2, 0, 3};
    GPtrArray *params = g_ptr_array_new_with_free_func(g_free);
    ttml_tensor *ts[3] = {a, b, c};
    const char *names[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        ttml_param *p = g_new(ttml_param, 1);
        p->name = (char *)names[i];
        p->tensor = ts[i];
        g_ptr_array_add(params, p);
    }
    set_grad(a, ga);
    set_grad(b, gb);
    double sum = 0;
    for (int i = 0; i < 6; i++) sum += (double)ga[i] * ga[i];
    for (int i = 0; i < 4; i++) sum += (double)gb[i] * gb[i];
    double norm = sqrt(sum);   /* sqrt(47.3125) = 6.8784... */

    /* max_norm above the norm: untouched, norm reported */
    double total = 0;
    CU_ASSERT_TRUE(ttml_clip_grad_norm(params, 100.0, TRUE, &total, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_DOUBLE_EQUAL(total, norm, 1e-5);
    float out[6];
    CU_ASSERT_TRUE(ttml_tensor_to_floats(a->grad, out, &err));
    for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(out[i], ga[i]);

    /* max_norm 2: every gradient scaled by 2 / (norm + 1e-6) */
    CU_ASSERT_TRUE(ttml_clip_grad_norm(params, 2.0, TRUE, &total, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_DOUBLE_EQUAL(total, norm, 1e-5);
    double coef = 2.0 / (norm + 1e-6);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(a->grad, out, &err));
    for (int i = 0; i < 6; i++) CU_ASSERT_DOUBLE_EQUAL(out[i], ga[i] * coef, 1e-6);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(b->grad, out, &err));
    for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(out[i], gb[i] * coef, 1e-6);
    CU_ASSERT_PTR_NULL(c->grad);
    /* the new norm is max_norm (up to the 1e-6) */
    CU_ASSERT_TRUE(ttml_clip_grad_norm(params, 100.0, TRUE, &total, &err));
    CU_ASSERT_DOUBLE_EQUAL(total, 2.0, 1e-5);

    /* a gradient tensor shared by two parameters is scaled once for each
     * and the shared tensor itself is left alone */
    ttml_tensor_zero_grad(a);
    ttml_tensor_zero_grad(b);
    int64_t s4[1] = {4};
    ttml_tensor *a4 = ttml_tensor_zeros(NULL, 1, s4, TTML_DTYPE_F32, &err);
    ttml_tensor *shared = ttml_tensor_from_floats(NULL, 1, s4, gb, &err);
    TTML_ASSERT_NO_ERROR(err);
    GPtrArray *two = g_ptr_array_new_with_free_func(g_free);
    ttml_tensor *pair[2] = {a4, b};
    for (int i = 0; i < 2; i++) {
        ttml_param *p = g_new(ttml_param, 1);
        p->name = (char *)names[i];
        p->tensor = pair[i];
        g_ptr_array_add(two, p);
        CU_ASSERT_TRUE(ttml_tensor_accumulate_grad(pair[i], shared, &err));
    }
    double n2 = sqrt(2.0 * (1 + 4 + 0 + 9));
    CU_ASSERT_TRUE(ttml_clip_grad_norm(two, 1.0, TRUE, &total, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_DOUBLE_EQUAL(total, n2, 1e-5);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_TRUE(ttml_tensor_to_floats(pair[i]->grad, out, &err));
        for (int k = 0; k < 4; k++) CU_ASSERT_DOUBLE_EQUAL(out[k], gb[k] / (n2 + 1e-6), 1e-6);
    }
    CU_ASSERT_TRUE(ttml_tensor_to_floats(shared, out, &err));
    for (int k = 0; k < 4; k++) CU_ASSERT_EQUAL(out[k], gb[k]);

    /* non-finite: an error, gradients untouched */
    ttml_tensor_zero_grad(a);
    const float bad[6] = {1, INFINITY, 0, 0, 0, 0};
    set_grad(a, bad);
    CU_ASSERT_FALSE(ttml_clip_grad_norm(params, 1.0, TRUE, &total, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_NUMERIC, "non-finite");
    CU_ASSERT_TRUE(ttml_tensor_to_floats(a->grad, out, &err));
    CU_ASSERT_EQUAL(out[0], 1.0f);
    /* bad max_norm */
    CU_ASSERT_FALSE(ttml_clip_grad_norm(params, 0.0, FALSE, NULL, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_INVALID_ARG, "max_norm");

    g_ptr_array_unref(two);
    g_ptr_array_unref(params);
    ttml_tensor_unref(shared);
    ttml_tensor_unref(a4);
    ttml_tensor_unref(a);
    ttml_tensor_unref(b);
    ttml_tensor_unref(c);
    ttml_test_shutdown();
}

/* ------------------------------------------------------------- learning */

static void test_loss_decreases(void)
{
    char *cfg = write_config("learn.yaml", 4, 1, 40, "adamw", 3e-3, 0.0, 0, "learn.safetensors",
                             "  clip_grad_norm_max_norm: 1.0\n  scheduler_type: cosine\n"
                             "  scheduler_config: {warmup_steps: 4}\n");
    char *metrics = ttml_test_tmp_path("learn.jsonl");
    GError *err = NULL;
    CU_ASSERT_TRUE(train(cfg, metrics, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    GPtrArray *losses = read_losses(metrics);
    CU_ASSERT_EQUAL_FATAL(losses->len, 41);
    double first = 0, last = 0;
    for (int i = 1; i <= 5; i++) first += g_ascii_strtod(losses->pdata[i], NULL) / 5;
    for (int i = 36; i <= 40; i++) last += g_ascii_strtod(losses->pdata[i], NULL) / 5;
    /* starts near ln(V) (uniform over the characters), ends well below */
    CU_ASSERT(first > 3.0);
    CU_ASSERT(last < first - 0.5);
    if (!(last < first - 0.5)) fprintf(stderr, "\nloss %.4f -> %.4f\n", first, last);
    char *text = NULL;
    CU_ASSERT_TRUE(g_file_get_contents(metrics, &text, NULL, NULL));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"val_loss\":"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"tokens_per_s\":"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"cpu_ms\":"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"peak_mem_bytes\":"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"final_val_loss\":"));
    g_free(text);
    g_ptr_array_unref(losses);
    g_free(metrics);
    g_free(cfg);
}

/* ---------------------------------------------------- accumulation */

/* Parameters of a checkpoint as one float array per parameter. */
static GPtrArray *checkpoint_params(const char *path)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    GError *err = NULL;
    ttml_lm *lm = ttml_lm_load(path, &err);
    TTML_ASSERT_NO_ERROR(err);
    GPtrArray *params = ttml_module_parameters(lm->model);
    for (guint i = 0; i < params->len; i++) {
        ttml_tensor *t = ((ttml_param *)g_ptr_array_index(params, i))->tensor;
        float *v = g_new(float, t->numel + 1);
        v[0] = (float)t->numel;
        CU_ASSERT_TRUE(ttml_tensor_to_floats(t, v + 1, &err));
        g_ptr_array_add(out, v);
    }
    g_ptr_array_unref(params);
    ttml_lm_free(lm);
    return out;
}

static double max_diff(GPtrArray *x, GPtrArray *y)
{
    double m = 0;
    CU_ASSERT_EQUAL_FATAL(x->len, y->len);
    for (guint i = 0; i < x->len; i++) {
        const float *a = x->pdata[i], *b = y->pdata[i];
        CU_ASSERT_EQUAL_FATAL(a[0], b[0]);
        for (gsize k = 1; k <= (gsize)a[0]; k++) m = MAX(m, fabs((double)a[k] - b[k]));
    }
    return m;
}

static void test_grad_accumulation(void)
{
    GError *err = NULL;
    /* SGD: the update is lr * gradient, so the parameters compare gradients. */
    char *c41 = write_config("acc41.yaml", 4, 1, 1, "sgd", 0.5, 0.0, 0, "acc41.safetensors", NULL);
    char *c22 = write_config("acc22.yaml", 2, 2, 1, "sgd", 0.5, 0.0, 0, "acc22.safetensors", NULL);
    char *c21 = write_config("acc21.yaml", 2, 1, 1, "sgd", 0.5, 0.0, 0, "acc21.safetensors", NULL);
    CU_ASSERT_TRUE(train(c41, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(train(c22, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(train(c21, NULL, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);

    CU_ASSERT_EQUAL_FATAL(ttml_test_init_cpu(), 0);
    char *p41 = ttml_test_tmp_path("acc41.safetensors"), *p22 = ttml_test_tmp_path("acc22.safetensors"),
         *p21 = ttml_test_tmp_path("acc21.safetensors");
    GPtrArray *a = checkpoint_params(p41), *b = checkpoint_params(p22), *c = checkpoint_params(p21);
    double same = max_diff(a, b), other = max_diff(a, c);
    /* B=4 x 1 and B=2 x 2 on the same windows: the same update; B=2 x 1
     * (half the windows) a visibly different one */
    CU_ASSERT(same < 2e-6);
    CU_ASSERT(other > 1e-4);
    if (!(same < 2e-6) || !(other > 1e-4)) fprintf(stderr, "\naccum diff %g, half-batch diff %g\n", same, other);
    g_ptr_array_unref(a);
    g_ptr_array_unref(b);
    g_ptr_array_unref(c);
    ttml_test_shutdown();
    g_free(p41);
    g_free(p22);
    g_free(p21);
    g_free(c41);
    g_free(c22);
    g_free(c21);
}

/* ----------------------------------------------------------- resume */

/* ttml-run in the temp dir (config paths are relative to it). */
static int run_bin(char **argv_tail, char **out, char **err_text)
{
    return ttml_test_run_tool("ttml-run", (const char *const *)argv_tail, NULL, ttml_test_tmp_dir(), out, err_text);
}

static gint64 last_logged_step(const char *metrics)
{
    GPtrArray *l = read_losses(metrics);
    gint64 n = (gint64)l->len - 1;
    g_ptr_array_unref(l);
    return n;
}

static void test_resume_after_sigkill(void)
{
    GError *err = NULL;
    char *kill_cfg = write_config("killed.yaml", 4, 1, 20, "adamw", 2e-3, 0.1, 5, "killed.safetensors", NULL);
    char *full_m = ttml_test_tmp_path("full.jsonl"), *kill_m = ttml_test_tmp_path("killed.jsonl"), *res_m = ttml_test_tmp_path("resumed.jsonl");

    /* The killed run: the same config saving every 5 steps; --max-steps keeps
     * it busy until the kill (the identity scheduler does not depend on it). */
    char *argv[] = {(char *)RUN_BIN, kill_cfg, (char *)"--quiet", (char *)"--metrics", kill_m,
                    (char *)"--max-steps", (char *)"100000", NULL};
    char **env = g_environ_unsetenv(g_get_environ(), "TTML_PLUGIN_PATH");
    GPid pid = 0;
    CU_ASSERT_TRUE_FATAL(g_spawn_async(ttml_test_tmp_dir(), argv, env, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                                       NULL, NULL, &pid, &err));
    g_strfreev(env);
    gint64 seen = 0;
    for (int i = 0; i < 20000 && seen < 12; i++) {
        g_usleep(1000);
        seen = last_logged_step(kill_m);
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    g_spawn_close_pid(pid);
    CU_ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CU_ASSERT_FATAL(seen >= 12);
    /* On a loaded machine the run may get well past step 12 before the kill
     * lands: compare up to at least 5 steps past its last logged step (the
     * uninterrupted run trains that far; the identity scheduler does not
     * depend on the total). */
    const int total = (int)MAX(20, last_logged_step(kill_m) + 6);
    char *full_cfg = write_config("full.yaml", 4, 1, total, "adamw", 2e-3, 0.1, 0, "full.safetensors", NULL);
    CU_ASSERT_TRUE(train(full_cfg, full_m, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    char total_s[16];
    g_snprintf(total_s, sizeof total_s, "%d", total);

    char *ck = ttml_test_tmp_path("killed.safetensors");
    char *out = NULL, *errs = NULL;
    /* --max-steps total: the killed run's checkpoint keeps its total of
     * 100000 otherwise (a resumed run keeps the checkpoint's total steps). */
    char *rargs[] = {kill_cfg, (char *)"--resume", ck, (char *)"--metrics", res_m, (char *)"--max-steps",
                     total_s, NULL};
    int rc = run_bin(rargs, &out, &errs);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) fprintf(stderr, "\nresume failed: %s\n", errs);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "resumed from"));
    GPtrArray *full = read_losses(full_m), *res = read_losses(res_m);
    CU_ASSERT_EQUAL_FATAL(full->len, (guint)total + 1);
    CU_ASSERT_EQUAL_FATAL(res->len, (guint)total + 1);
    /* the checkpoint was at a multiple of 5 at or after step 10 */
    int first = 1;
    while (first <= total && !res->pdata[first]) first++;
    CU_ASSERT((first - 1) % 5 == 0 && first - 1 >= 10 && first <= total);
    int compared = 0;
    for (int s = first; s <= total; s++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(res->pdata[s]);
        CU_ASSERT_STRING_EQUAL(res->pdata[s], full->pdata[s]);
        if (strcmp(res->pdata[s], full->pdata[s]) != 0)
            fprintf(stderr, "\nstep %d: resumed %s, uninterrupted %s\n", s, (char *)res->pdata[s],
                    (char *)full->pdata[s]);
        compared++;
    }
    CU_ASSERT(compared >= 5);
    g_ptr_array_unref(full);
    g_ptr_array_unref(res);
    g_free(out);
    g_free(errs);

    /* A truncated checkpoint: a clear error naming the file. */
    char *data = NULL;
    gsize len = 0;
    CU_ASSERT_TRUE_FATAL(g_file_get_contents(ck, &data, &len, NULL));
    char *trunc = ttml_test_tmp_path("truncated.safetensors");
    CU_ASSERT_TRUE(g_file_set_contents(trunc, data, (gssize)(len * 2 / 3), NULL));
    g_free(data);
    char *targs[] = {kill_cfg, (char *)"--resume", trunc, NULL};
    rc = run_bin(targs, &out, &errs);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "truncated.safetensors"));
    g_free(out);
    g_free(errs);
    char *gargs[] = {(char *)"generate", (char *)"--checkpoint", trunc, NULL};
    rc = run_bin(gargs, &out, &errs);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "truncated.safetensors"));
    g_free(out);
    g_free(errs);
    /* A checkpoint of another model shape names the tensor. */
    char *other = write_config("other.yaml", 4, 1, 20, "adamw", 2e-3, 0.1, 5, "killed.safetensors",
                               NULL);
    char *text = NULL;
    CU_ASSERT_TRUE(g_file_get_contents(other, &text, NULL, NULL));
    char *wide = replace(text, "embedding_dim: 32", "embedding_dim: 64");
    CU_ASSERT_TRUE(g_file_set_contents(other, wide, -1, NULL));
    char *oargs[] = {other, (char *)"--resume", NULL};
    rc = run_bin(oargs, &out, &errs);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "wte.weight"));
    g_free(out);
    g_free(errs);
    g_free(text);
    g_free(wide);
    g_free(other);
    g_free(trunc);
    g_free(ck);
    g_free(full_cfg);
    g_free(kill_cfg);
    g_free(full_m);
    g_free(kill_m);
    g_free(res_m);
}

/* ------------------------------------------- interrupt, overwrite, resume */

/* Start ttml-run ARGS in the temp dir with stdout and stderr to files. */
static GPid spawn_run(char **args, const char *out_file, const char *err_file)
{
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (char *)RUN_BIN);
    for (char **a = args; *a; a++) g_ptr_array_add(argv, *a);
    g_ptr_array_add(argv, NULL);
    char **env = g_environ_unsetenv(g_get_environ(), "TTML_PLUGIN_PATH");
    int out_fd = open(out_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err_fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    GPid pid = 0;
    GError *err = NULL;
    gboolean ok = g_spawn_async_with_fds(ttml_test_tmp_dir(), (char **)argv->pdata, env,
                                         G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, -1, out_fd, err_fd,
                                         &err);
    TTML_ASSERT_NO_ERROR(err);
    close(out_fd);
    close(err_fd);
    g_strfreev(env);
    g_ptr_array_free(argv, TRUE);
    CU_ASSERT_TRUE_FATAL(ok);
    return pid;
}

static char *read_text(const char *path)
{
    char *text = NULL;
    if (!g_file_get_contents(path, &text, NULL, NULL)) text = g_strdup("");
    return text;
}

/* The integer metadata `key` of a checkpoint, -1 when absent. */
static gint64 checkpoint_int(const char *path, const char *key)
{
    GError *err = NULL;
    ttml_checkpoint *ck = ttml_checkpoint_open(path, &err);
    g_clear_error(&err);
    if (!ck) return -1;
    const char *v = ttml_checkpoint_metadata(ck, key);
    gint64 n = v ? g_ascii_strtoll(v, NULL, 10) : -1;
    ttml_checkpoint_close(ck);
    return n;
}

/* SIGINT / SIGTERM to a real ttml-run: the step is finished, a checkpoint
 * written, the resume command printed, exit 130 / 143; the run resumes from
 * it and appends to the same metrics file. */
static void interrupt_once(int signo, const char *tag)
{
    char *name = g_strdup_printf("%s.yaml", tag), *ck_name = g_strdup_printf("%s.safetensors", tag);
    char *cfg = write_config(name, 4, 1, 20, "adamw", 2e-3, 0.0, 0, ck_name, NULL);
    char *m = g_strdup_printf("%s/%s.jsonl", ttml_test_tmp_dir(), tag);
    char *o = g_strdup_printf("%s/%s.out", ttml_test_tmp_dir(), tag);
    char *e = g_strdup_printf("%s/%s.err", ttml_test_tmp_dir(), tag);
    char *ck = ttml_test_tmp_path(ck_name);
    char *args[] = {cfg, (char *)"--metrics", m, (char *)"--max-steps", (char *)"100000", NULL};
    GPid pid = spawn_run(args, o, e);
    gint64 seen = 0;
    /* Wait for logged steps (not a fixed sleep: the machine may be loaded). */
    for (int i = 0; i < 120000 && seen < 3; i++) {
        g_usleep(1000);
        seen = last_logged_step(m);
    }
    CU_ASSERT_FATAL(seen >= 3);
    kill(pid, signo);
    int status = 0;
    waitpid(pid, &status, 0);
    g_spawn_close_pid(pid);
    CU_ASSERT_TRUE(WIFEXITED(status));
    CU_ASSERT_EQUAL(WEXITSTATUS(status), 128 + signo);
    char *errs = read_text(e), *outs = read_text(o);
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, signo == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "--resume"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, ck_name));
    CU_ASSERT_PTR_NOT_NULL(strstr(outs, "checkpoint: step "));
    /* The checkpoint holds the last finished step (>= the one seen logged). */
    gint64 step = checkpoint_int(ck, "step");
    CU_ASSERT(step >= seen);
    CU_ASSERT_EQUAL(step, last_logged_step(m));
    g_free(errs);
    g_free(outs);

    /* Resume for two more steps: the metrics file is appended to. */
    char *more = g_strdup_printf("%" G_GINT64_FORMAT, step + 2);
    char *rargs[] = {cfg, (char *)"--resume", ck, (char *)"--metrics", m, (char *)"--max-steps", more, NULL};
    char *out = NULL, *err_text = NULL;
    int rc = run_bin(rargs, &out, &err_text);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) fprintf(stderr, "\nresume failed: %s\n", err_text);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "resumed from"));
    GPtrArray *losses = read_losses(m);
    CU_ASSERT_EQUAL(losses->len, (guint)(step + 3));
    for (guint s = 1; s < losses->len; s++) CU_ASSERT_PTR_NOT_NULL(losses->pdata[s]);
    g_ptr_array_unref(losses);
    g_free(out);
    g_free(err_text);
    g_free(more);
    g_free(ck);
    g_free(cfg);
    g_free(name);
    g_free(ck_name);
    g_free(m);
    g_free(o);
    g_free(e);
}

static void test_interrupt(void)
{
    interrupt_once(SIGINT, "sigint");
    interrupt_once(SIGTERM, "sigterm");
}

/* Issue 11 item 11: on an 80-column terminal the live progress line never
 * reaches the last column (no wrap, no scroll), validation losses get their
 * own kept line. ttml-run runs on a pseudo-terminal made by script(1)
 * (util-linux; its width comes from COLUMNS=80, as a shell exports it);
 * the output is split at '\r' and '\n'. A pty of this process (forkpty)
 * would trip LeakSanitizer's exit tracer in the sanitizer build. */
static void test_progress_fits_terminal(void)
{
    char *script = g_find_program_in_path("script");
    if (!script) {
        ttml_test_skip("script(1) from util-linux is not installed");
        return;
    }
    char *cfg = write_config("tty.yaml", 4, 1, 12, "adamw", 2e-3, 0.0, 0, "tty.safetensors", NULL);
    char *cmd = g_strdup_printf("'%s' '%s' --overwrite", RUN_BIN, cfg);
    const char *argv[] = {script, "-qec", cmd, "/dev/null", NULL};
    char **envp = g_environ_setenv(g_get_environ(), "COLUMNS", "80", TRUE);
    envp = g_environ_setenv(envp, "SHELL", "/bin/sh", TRUE);
    char *out = NULL;
    int status = -1;
    GError *err = NULL;
    CU_ASSERT_TRUE(g_spawn_sync(ttml_test_tmp_dir(), (char **)argv, envp, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                                &out, NULL, &status, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char **segs = g_regex_split_simple("[\\r\\n]", out ? out : "", 0, 0);
    int live = 0, val = 0;
    for (char **s = segs; *s; s++) {
        if (strstr(*s, "val_loss")) val += g_str_has_prefix(*s, "step ");
        if (!strstr(*s, " loss ") || strstr(*s, "val_loss")) continue;
        live += g_ascii_isdigit((*s)[0]);   /* the live line ("3/12 loss ..."), not a plain log line */
        if (strlen(*s) > 79) fprintf(stderr, "\n  %zu columns: '%s'\n", strlen(*s), *s);
        CU_ASSERT(strlen(*s) <= 79);
        CU_ASSERT_PTR_NULL(strstr(*s, "val"));
    }
    CU_ASSERT(live >= 1);   /* stdout was a terminal */
    CU_ASSERT(val >= 1);    /* eval_every 10: step 10 (and the end) */
    g_strfreev(segs);
    g_strfreev(envp);
    g_free(out);
    g_free(cmd);
    g_free(cfg);
    g_free(script);
}

/* A fresh run refuses to replace another run's checkpoint unless
 * --overwrite; every checkpoint written is announced. */
static void test_overwrite(void)
{
    char *cfg = write_config("ow.yaml", 4, 1, 6, "adamw", 2e-3, 0.0, 3, "ow.safetensors", NULL);
    char *out = NULL, *errs = NULL;
    char *args[] = {cfg, NULL};
    int rc = run_bin(args, &out, &errs);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "checkpoint: step 3 -> "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "checkpoint: step 6 -> "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ow.safetensors"));
    g_free(out);
    g_free(errs);
    char *ck = ttml_test_tmp_path("ow.safetensors");
    char *before = read_text(ck);
    rc = run_bin(args, &out, &errs);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "ow.safetensors"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "step 6"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "--overwrite"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "--resume"));
    char *after = read_text(ck);
    CU_ASSERT_STRING_EQUAL(before, after);   /* untouched */
    g_free(out);
    g_free(errs);
    char *oargs[] = {cfg, (char *)"--overwrite", (char *)"--max-steps", (char *)"2", NULL};
    rc = run_bin(oargs, &out, &errs);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "checkpoint: step 2 -> "));
    CU_ASSERT_EQUAL(checkpoint_int(ck, "step"), 2);
    g_free(out);
    g_free(errs);
    g_free(before);
    g_free(after);
    g_free(ck);
    g_free(cfg);
}

/* --resume without --max-steps keeps the checkpoint's total (and schedule);
 * a changed total is announced. */
static void test_resume_keeps_total(void)
{
    char *cfg = write_config("tot.yaml", 4, 1, 6, "adamw", 2e-3, 0.0, 0, "tot.safetensors", NULL);
    char *ck = ttml_test_tmp_path("tot.safetensors");
    char *out = NULL, *errs = NULL;
    char *args[] = {cfg, (char *)"--max-steps", (char *)"4", NULL};
    int rc = run_bin(args, &out, &errs);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(checkpoint_int(ck, "total_steps"), 4);
    g_free(out);
    g_free(errs);
    char *rargs[] = {cfg, (char *)"--resume", NULL};
    rc = run_bin(rargs, &out, &errs);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "keeping the checkpoint's total of 4 steps"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "nothing to do"));
    CU_ASSERT_EQUAL(checkpoint_int(ck, "step"), 4);
    g_free(out);
    g_free(errs);
    char *margs[] = {cfg, (char *)"--resume", (char *)"--max-steps", (char *)"6", NULL};
    rc = run_bin(margs, &out, &errs);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "total steps changed from 4"));
    CU_ASSERT_EQUAL(checkpoint_int(ck, "step"), 6);
    CU_ASSERT_EQUAL(checkpoint_int(ck, "total_steps"), 6);
    g_free(out);
    g_free(errs);
    g_free(ck);
    g_free(cfg);
}

/* A config whose first data path is missing warns naming it. */
static void test_data_fallback_warns(void)
{
    char *cfg = write_config("fb.yaml", 4, 1, 1, "adamw", 2e-3, 0.0, 0, "fb.safetensors", NULL);
    char *out = NULL, *errs = NULL;
    char *args[] = {cfg, NULL};
    int rc = run_bin(args, &out, &errs);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "warning"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "missing-first.txt"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "corpus.txt"));
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "--data"));
    g_free(out);
    g_free(errs);
    g_free(cfg);
}

/* UTF-8 prompts work whatever the locale; an unknown character is named. */
static void test_generate_utf8_prompt(void)
{
    GString *corpus = g_string_new(NULL);
    while (corpus->len < 4000) g_string_append(corpus, "Ça va, señor? Grüße aus Köln. Naïve café.\n");
    char *data = ttml_test_tmp_path("utf8.txt");
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(data, corpus->str, -1, NULL));
    g_string_free(corpus, TRUE);
    char *cfg = write_config("utf8.yaml", 2, 1, 1, "adamw", 2e-3, 0.0, 0, "utf8.safetensors", NULL);
    char *ck = ttml_test_tmp_path("utf8.safetensors");
    char *out = NULL, *errs = NULL;
    char *args[] = {cfg, (char *)"--data", data, (char *)"--quiet", NULL};
    int rc = run_bin(args, &out, &errs);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    g_free(out);
    g_free(errs);
    const char *const c_locale[] = {"LC_ALL", "C", NULL};
    char *gargs[] = {(char *)"generate", (char *)"--checkpoint", ck, (char *)"--prompt", (char *)"Grüße",
                     (char *)"--max-tokens", (char *)"3", NULL};
    rc = ttml_test_run_tool("ttml-run", (const char *const *)gargs, c_locale, ttml_test_tmp_dir(), &out, &errs);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) fprintf(stderr, "\ngenerate failed: %s\n", errs);
    CU_ASSERT_PTR_NOT_NULL(out && strstr(out, "Grüße"));
    g_free(out);
    g_free(errs);
    char *bargs[] = {(char *)"generate", (char *)"--checkpoint", ck, (char *)"--prompt", (char *)"café €",
                     (char *)"--max-tokens", (char *)"3", NULL};
    rc = ttml_test_run_tool("ttml-run", (const char *const *)bargs, NULL, ttml_test_tmp_dir(), &out, &errs);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(errs && strstr(errs, "U+20AC") ? errs : NULL);
    g_free(out);
    g_free(errs);
    g_free(ck);
    g_free(cfg);
    g_free(data);
}

/* -------------------------------------------------------- generation */

static guint32 argmax_row(const float *row, gint64 V)
{
    guint32 best = 0;
    for (gint64 i = 1; i < V; i++)
        if (row[i] > row[best]) best = (guint32)i;
    return best;
}

static void test_generate(void)
{
    char *ck = ttml_test_tmp_path("full.safetensors");   /* written by the resume test */
    if (!g_file_test(ck, G_FILE_TEST_EXISTS)) {
        GError *err = NULL;
        char *cfg = write_config("full.yaml", 4, 1, 20, "adamw", 2e-3, 0.1, 0, "full.safetensors", NULL);
        CU_ASSERT_TRUE(train(cfg, NULL, FALSE, &err));
        TTML_ASSERT_NO_ERROR(err);
        g_free(cfg);
    }
    CU_ASSERT_EQUAL_FATAL(ttml_test_init_cpu(), 0);
    GError *err = NULL;
    ttml_lm *lm = ttml_lm_load(ck, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lm);
    const char *prompt = "ROMEO:\n";
    const int N = 6;
    ttml_sampling_params greedy = {sizeof greedy, N, 1.0, 0, 1.0, 1.0, TRUE};
    char *g1 = ttml_lm_generate(lm, prompt, &greedy, NULL, NULL, &err);
    TTML_ASSERT_NO_ERROR(err);
    char *g2 = ttml_lm_generate(lm, prompt, &greedy, NULL, NULL, &err);
    CU_ASSERT_STRING_EQUAL(g1, g2);
    CU_ASSERT_EQUAL(g_utf8_strlen(g1, -1), N);

    /* The same continuation by full forwards (no cache), argmax each time. */
    gsize n = 0;
    guint32 *ids = ttml_tokenizer_encode(lm->tokenizer, prompt, strlen(prompt), &n, &err);
    TTML_ASSERT_NO_ERROR(err);
    ids = g_renew(guint32, ids, n + N);
    gboolean prev = ttml_set_grad_enabled(FALSE);
    for (int t = 0; t < N; t++) {
        int64_t shape[4] = {1, 1, 1, (int64_t)n};
        ttml_tensor *x = ttml_tensor_from_data(NULL, 4, shape, TTML_DTYPE_U32, ids, &err);
        ttml_tensor *logits = ttml_module_forward(lm->model, x, &err);
        TTML_ASSERT_NO_ERROR(err);
        gint64 cols = logits->shape[logits->ndim - 1];
        float *v = g_new(float, logits->numel);
        CU_ASSERT_TRUE(ttml_tensor_to_floats(logits, v, &err));
        ids[n] = argmax_row(v + (n - 1) * (gsize)cols, lm->vocab_size);
        n++;
        g_free(v);
        ttml_tensor_unref(logits);
        ttml_tensor_unref(x);
        ttml_reset_graph();
    }
    ttml_set_grad_enabled(prev);
    char *full = ttml_tokenizer_decode(lm->tokenizer, ids + n - N, N);
    CU_ASSERT_STRING_EQUAL(g1, full);
    g_free(ids);
    g_free(full);

    /* top_k = 1 samples the argmax */
    ttml_sampling_params k1 = {sizeof k1, N, 1.0, 1, 1.0, 1.0, FALSE};
    ttml_set_seed(99);
    char *s_k1 = ttml_lm_generate(lm, prompt, &k1, NULL, NULL, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_STRING_EQUAL(s_k1, g1);
    /* a near-zero temperature over the whole vocabulary, and a tiny nucleus,
     * also sample the argmax: the softmax must be taken relative to the max
     * logit (a regression test: weights were once exp(l - 1) after the max
     * entry had been overwritten, which made every other token likelier) */
    ttml_sampling_params cold = {sizeof cold, N, 1e-3, 0, 1.0, 1.0, FALSE};
    ttml_set_seed(7);
    char *s_cold = ttml_lm_generate(lm, prompt, &cold, NULL, NULL, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_STRING_EQUAL(s_cold, g1);
    g_free(s_cold);
    ttml_sampling_params nucleus = {sizeof nucleus, N, 1.0, 0, 1e-6, 1.0, FALSE};
    ttml_set_seed(8);
    char *s_nuc = ttml_lm_generate(lm, prompt, &nucleus, NULL, NULL, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_STRING_EQUAL(s_nuc, g1);
    g_free(s_nuc);
    /* same seed, same sample */
    ttml_sampling_params samp = {sizeof samp, 20, 1.0, 0, 0.95, 1.2, FALSE};
    ttml_set_seed(5);
    char *s1 = ttml_lm_generate(lm, prompt, &samp, NULL, NULL, &err);
    ttml_set_seed(5);
    char *s2 = ttml_lm_generate(lm, prompt, &samp, NULL, NULL, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_STRING_EQUAL(s1, s2);
    CU_ASSERT_EQUAL(g_utf8_strlen(s1, -1), 20);
    /* more tokens than the context (16): the cache is rebuilt, still works */
    ttml_sampling_params longer = {sizeof longer, 40, 1.0, 0, 1.0, 1.0, TRUE};
    char *l = ttml_lm_generate(lm, prompt, &longer, NULL, NULL, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(g_str_has_prefix(l, g1));
    g_free(l);

    /* the binary prints prompt + greedy continuation */
    char *out = NULL, *errs = NULL;
    char *gargs[] = {(char *)"generate", (char *)"--checkpoint", ck, (char *)"--prompt", (char *)prompt,
                     (char *)"--max-tokens", (char *)"6", (char *)"--greedy", NULL};
    int rc = run_bin(gargs, &out, &errs);
    CU_ASSERT_EQUAL(rc, 0);
    char *expect = g_strconcat(prompt, g1, "\n", NULL);
    CU_ASSERT_STRING_EQUAL(out, expect);
    g_free(expect);
    g_free(out);
    g_free(errs);
    /* a bad character in the prompt is a clear error */
    char *bargs[] = {(char *)"generate", (char *)"--checkpoint", ck, (char *)"--prompt", (char *)"\x01",
                     NULL};
    rc = run_bin(bargs, &out, &errs);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(errs, "prompt"));
    g_free(out);
    g_free(errs);

    /* a model without decode hooks */
    ttml_module *mlp = ttml_model_create("linear_regression", NULL, &err);
    if (mlp) {
        ttml_module *saved = lm->model;
        lm->model = mlp;
        char *none = ttml_lm_generate(lm, prompt, &greedy, NULL, NULL, &err);
        CU_ASSERT_PTR_NULL(none);
        TTML_ASSERT_ERROR(err, TTML_ERROR_UNSUPPORTED, "decode");
        lm->model = saved;
        ttml_module_unref(mlp);
    }
    g_clear_error(&err);
    g_free(g1);
    g_free(g2);
    g_free(s_k1);
    g_free(s1);
    g_free(s2);
    ttml_lm_free(lm);
    ttml_test_shutdown();
    g_free(ck);
}

static void test_config_errors(void)
{
    GError *err = NULL;
    /* vocab_size below the corpus' vocabulary */
    char *cfg = write_config("smallvocab.yaml", 4, 1, 2, "adamw", 1e-3, 0.0, 0, "x.safetensors", NULL);
    char *text = NULL;
    CU_ASSERT_TRUE(g_file_get_contents(cfg, &text, NULL, NULL));
    char *bad = replace(text, "    num_heads: 2\n", "    num_heads: 2\n    vocab_size: 8\n");
    CU_ASSERT_TRUE(g_file_set_contents(cfg, bad, -1, NULL));
    CU_ASSERT_FALSE(train(cfg, NULL, FALSE, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "vocab_size");
    g_free(bad);
    /* an unknown key */
    bad = replace(text, "  seed: 11\n", "  bogus_key: 1\n  seed: 11\n");
    CU_ASSERT_TRUE(g_file_set_contents(cfg, bad, -1, NULL));
    CU_ASSERT_FALSE(train(cfg, NULL, FALSE, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "bogus_key");
    g_free(bad);
    /* no corpus */
    bad = replace(text, "path: [missing-first.txt, corpus.txt]", "path: [nope.txt]");
    CU_ASSERT_TRUE(g_file_set_contents(cfg, bad, -1, NULL));
    CU_ASSERT_FALSE(train(cfg, NULL, FALSE, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_IO, "nope.txt");
    g_free(bad);
    g_free(text);
    g_free(cfg);
}

/* ------------------------------------------------------ precision */

/* precision: bf16 (bf16 matmul operands, fp32 everything else) trains the
 * tiny GPT along fp32's curve: every step's loss within 0.05 nats over 40
 * steps (measured: well under 0.01; bf16's relative GEMM error is ~2e-3).
 * Skipped without oneDNN. */
static void test_precision_bf16(void)
{
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ttml_test_skip("oneDNN (libdnnl.so.2) is not installed: %s", dlerror());
        return;
    }
    const char *extra = "  clip_grad_norm_max_norm: 1.0\n";
    char *c32 = write_config("p32.yaml", 4, 1, 40, "adamw", 3e-3, 0.0, 0, "p32.safetensors", extra);
    char *x16 = g_strdup_printf("%s  precision: bf16\n", extra);
    char *c16 = write_config("p16.yaml", 4, 1, 40, "adamw", 3e-3, 0.0, 0, "p16.safetensors", x16);
    char *m32 = ttml_test_tmp_path("p32.jsonl"), *m16 = ttml_test_tmp_path("p16.jsonl");
    GError *err = NULL;
    CU_ASSERT_TRUE(train(c32, m32, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(train(c16, m16, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    GPtrArray *l32 = read_losses(m32), *l16 = read_losses(m16);
    CU_ASSERT_EQUAL_FATAL(l32->len, 41);
    CU_ASSERT_EQUAL_FATAL(l16->len, 41);
    double worst = 0, any = 0;
    for (guint i = 1; i <= 40; i++) {
        const double d = fabs(g_ascii_strtod(l32->pdata[i], NULL) - g_ascii_strtod(l16->pdata[i], NULL));
        worst = MAX(worst, d);
        any += d;
    }
    if (worst > 0.05) fprintf(stderr, "\nbf16 vs fp32: worst loss difference %.4f\n", worst);
    CU_ASSERT(worst <= 0.05);
    CU_ASSERT(any > 0.0);   /* bf16 really ran: not bitwise fp32 */
    g_ptr_array_unref(l32);
    g_ptr_array_unref(l16);
    g_free(m32);
    g_free(m16);
    g_free(c32);
    g_free(c16);
    g_free(x16);
}

/* ttml-run (precision bf16, G_MESSAGES_DEBUG=all) with the bf16 weight cache
 * on or off: parses the cpu driver's closing line "bf16 weight cache: P weight
 * products, C conversions (...), H hits (...), ... F copies (...) written by
 * optimizer steps" into v[0..3] and returns the metrics path. */
static char *run_weight_cache(const char *cfg, const char *on, guint64 v[4])
{
    char *base = g_path_get_basename(cfg);
    char *metrics = ttml_test_tmp_path(on[0] == '1' ? "wc_on.jsonl" : "wc_off.jsonl");
    char *mopt = g_strdup_printf("--metrics=%s", metrics);
    const char *args[] = {base, mopt, "--overwrite", NULL};
    const char *env[] = {"TTML_CPU_BF16_CACHE", on, "G_MESSAGES_DEBUG", "all", NULL};
    char *out = NULL, *err_text = NULL;
    int rc = ttml_test_run_tool("ttml-run", args, env, ttml_test_tmp_dir(), &out, &err_text);
    CU_ASSERT_EQUAL(rc, 0);
    /* GLib's default handler prints debug messages on stdout */
    const char *line = out ? strstr(out, "bf16 weight cache: ") : NULL;
    if (!line && err_text) line = strstr(err_text, "bf16 weight cache: ");
    CU_ASSERT_PTR_NOT_NULL(line);
    int got = line ? sscanf(line, "bf16 weight cache: %" G_GUINT64_FORMAT " weight products, %" G_GUINT64_FORMAT
                            " conversions (%*f MiB), %" G_GUINT64_FORMAT " hits", &v[0], &v[1], &v[2])
                   : 0;
    const char *fused = line ? strstr(line, "not converted again), ") : NULL;
    if (fused && sscanf(fused, "not converted again), %" G_GUINT64_FORMAT " copies", &v[3]) == 1) got++;
    CU_ASSERT_EQUAL(got, 4);
    if (rc != 0 || got != 4) fprintf(stderr, "\nttml-run: rc %d\nstdout:\n%s\nstderr:\n%s\n", rc, out, err_text);
    g_free(out);
    g_free(err_text);
    g_free(mopt);
    g_free(base);
    return metrics;
}

/* The bf16 weight cache (cpu_wcache.c) on a training run with two
 * micro-batches per step: every weight is used by 2 products per
 * micro-batch (forward, dX), 4 per step, and by the validation forward
 * after the last step (val_batches 2), but converted once per step
 * (measured: 198 weight products = 9 weights x (5 steps x 4 + 2); 54
 * conversions = 9 x (5 steps + 1 validation); 198 without the cache). A cache
 * invalidated per micro-batch would make 99, so at most one conversion per 3
 * uses is required. Since AdamW writes each cached weight's bf16 copy in the
 * same pass as the weight (cpu_kernels_optim.c), only the first step converts
 * (measured: 9 conversions, 45 copies written by the 5 steps): at most one
 * conversion per weight, one copy per weight per step. The losses with and
 * without the cache are bitwise equal: no product saw a stale bf16 weight
 * across the optimizer steps, and the copies AdamW wrote are the driver's own
 * conversions bit for bit. Skipped without oneDNN. */
static void test_bf16_weight_cache(void)
{
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        ttml_test_skip("oneDNN (libdnnl.so.2) is not installed: %s", dlerror());
        return;
    }
    char *cfg = write_config("wc.yaml", 4, 2, 5, "adamw", 3e-3, 0.0, 0, "wc.safetensors", "  precision: bf16\n");
    guint64 on[4] = {0}, off[4] = {0};
    char *m_on = run_weight_cache(cfg, "1", on), *m_off = run_weight_cache(cfg, "0", off);
    CU_ASSERT_EQUAL(on[0], off[0]);           /* the same products */
    CU_ASSERT_EQUAL(off[1], off[0]);          /* without the cache: one conversion each */
    CU_ASSERT_EQUAL(off[2], 0);
    CU_ASSERT_EQUAL(on[1] + on[2], on[0]);    /* with it: every product a hit or a conversion */
    CU_ASSERT(on[1] > 0 && on[1] * 3 <= on[0]);   /* at most one conversion per 3 uses */
    CU_ASSERT_EQUAL(on[1], 9);                    /* fused: one conversion per weight */
    CU_ASSERT_EQUAL(on[3], 9 * 5);                /* one copy per weight per AdamW step */
    CU_ASSERT_EQUAL(off[3], 0);
    if (on[1] != 9 || on[3] != 45)
        fprintf(stderr, "\nbf16 weight cache: %" G_GUINT64_FORMAT " products, %" G_GUINT64_FORMAT
                " conversions, %" G_GUINT64_FORMAT " copies written by AdamW\n", on[0], on[1], on[3]);
    GPtrArray *lon = read_losses(m_on), *loff = read_losses(m_off);
    CU_ASSERT_EQUAL_FATAL(lon->len, 6);
    CU_ASSERT_EQUAL_FATAL(loff->len, 6);
    for (guint i = 1; i < 6; i++) CU_ASSERT_STRING_EQUAL(lon->pdata[i], loff->pdata[i]);
    g_ptr_array_unref(lon);
    g_ptr_array_unref(loff);
    g_free(m_on);
    g_free(m_off);
    g_free(cfg);
}

/* Without oneDNN (TTML_DNNL_LIBRARY names a missing file) precision bf16
 * still trains, in fp32, and the warning says why and how to fix it; an
 * unknown precision is a config error with its line. */
static void test_precision_fallback(void)
{
    char *cfg = write_config("pfb.yaml", 4, 1, 2, "adamw", 1e-3, 0.0, 0, "pfb.safetensors",
                             "  precision: bf16\n");
    char *base = g_path_get_basename(cfg);
    const char *args[] = {base, NULL};
    const char *env[] = {"TTML_DNNL_LIBRARY", "/nonexistent/libdnnl.so.2", NULL};
    char *out = NULL, *err_text = NULL;
    int rc = ttml_test_run_tool("ttml-run", args, env, ttml_test_tmp_dir(), &out, &err_text);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL(err_text && strstr(err_text, "precision bf16 is not available"));
    CU_ASSERT_PTR_NOT_NULL(err_text && strstr(err_text, "/nonexistent/libdnnl.so.2"));
    if (rc != 0 || !err_text || !strstr(err_text, "precision bf16 is not available"))
        fprintf(stderr, "\nttml-run: rc %d\nstdout:\n%s\nstderr:\n%s\n", rc, out, err_text);
    g_free(out);
    g_free(err_text);

    char *text = NULL;
    CU_ASSERT_TRUE(g_file_get_contents(cfg, &text, NULL, NULL));
    char *bad = replace(text, "  precision: bf16\n", "  precision: fp16\n");
    CU_ASSERT_TRUE(g_file_set_contents(cfg, bad, -1, NULL));
    GError *err = NULL;
    CU_ASSERT_FALSE(train(cfg, NULL, FALSE, &err));
    /* the key is on line 14 of the file */
    CU_ASSERT_PTR_NOT_NULL(err && strstr(err->message, ":14"));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "precision 'fp16'");
    g_free(bad);
    g_free(text);
    g_free(base);
    g_free(cfg);
}

/* ------------------------------------------------ config encodings */

/* "name [shape]; ..." of the model stored in a training-state checkpoint. */
static char *param_signature(const char *path)
{
    GError *err = NULL;
    ttml_lm *lm = ttml_lm_load(path, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lm);
    GString *sig = g_string_new(NULL);
    g_string_append_printf(sig, "vocab %" G_GINT64_FORMAT ";", lm->padded_vocab_size);
    GPtrArray *params = ttml_module_parameters(lm->model);
    for (guint i = 0; i < params->len; i++) {
        ttml_param *p = g_ptr_array_index(params, i);
        char sh[64];
        g_string_append_printf(sig, " %s %s;", p->name,
                               ttml_shape_str(p->tensor->ndim, p->tensor->shape, sh, sizeof sh));
    }
    g_ptr_array_unref(params);
    ttml_lm_free(lm);
    return g_string_free(sig, FALSE);
}

/* Train `text` (written as NAME.yaml, checkpoint NAME.safetensors after
 * replacing CKPT in the text); returns the checkpoint path, *loss1 the first
 * step's logged loss. */
static char *train_text(const char *name, const char *text, char **loss1)
{
    GError *err = NULL;
    char *file = g_strdup_printf("%s.yaml", name), *ck_name = g_strdup_printf("%s.safetensors", name),
         *metrics_name = g_strdup_printf("%s.jsonl", name);
    char *cfg = ttml_test_tmp_path(file), *ck = ttml_test_tmp_path(ck_name), *metrics = ttml_test_tmp_path(metrics_name);
    char *body = replace(text, "CKPT", ck);
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(cfg, body, -1, NULL));
    CU_ASSERT_TRUE(train(cfg, metrics, FALSE, &err));
    TTML_ASSERT_NO_ERROR(err);
    GPtrArray *losses = read_losses(metrics);
    *loss1 = losses->len > 1 && losses->pdata[1] ? g_strdup(losses->pdata[1]) : NULL;
    g_ptr_array_unref(losses);
    g_free(body);
    g_free(cfg);
    g_free(metrics);
    g_free(file);
    g_free(ck_name);
    g_free(metrics_name);
    return ck;
}

/* Non-ASCII comments and a UTF-8 byte-order mark change nothing: the model
 * (vocabulary, parameter names and shapes, trained values) and the first
 * loss equal those of the plain config, with vocab_size absent (the
 * tokenizer's padded size is set) and given. */
static void test_config_encodings(void)
{
    char *plain_path = write_config("enc.yaml", 4, 1, 2, "adamw", 1e-3, 0.1, 0, "CKPT", NULL);
    char *text = NULL, *placeholder = ttml_test_tmp_path("CKPT");
    CU_ASSERT_TRUE_FATAL(g_file_get_contents(plain_path, &text, NULL, NULL));
    char *plain = replace(text, placeholder, "CKPT");
    g_free(text);
    g_free(placeholder);
    char *with_vocab = replace(plain, "    num_heads: 2\n", "    num_heads: 2\n    vocab_size: 100\n");
    const char *comment = "# Entra\xc3\xaenement \xe2\x80\x94 tr\xc3\xa8s petit mod\xc3\xa8le\n";
    const char *bases[2] = {plain, with_vocab};
    for (int v = 0; v < 2; v++) {
        char *a = g_strconcat(comment, bases[v], NULL);
        char *commented = replace(a, "    num_heads: 2\n", "    num_heads: 2\n    # d\xc3\xa9j\xc3\xa0 vu\n");
        /* the inner comment before dropout_prob, keeping its line */
        char *inner_cfg = replace(commented, "    dropout_prob:",
                                  "    # \xc3\xa9tape \xe2\x80\x94 r\xc3\xa9glages\n    dropout_prob:");
        char *bom = g_strconcat("\xef\xbb\xbf", bases[v], NULL);
        char *bom_commented = g_strconcat("\xef\xbb\xbf", inner_cfg, NULL);
        const char *variants[4] = {bases[v], inner_cfg, bom, bom_commented};
        char *sig[4], *loss[4];
        GPtrArray *vals[4];
        for (int i = 0; i < 4; i++) {
            char name[32];
            g_snprintf(name, sizeof name, "enc%d_%d", v, i);
            char *ck = train_text(name, variants[i], &loss[i]);
            CU_ASSERT_EQUAL_FATAL(ttml_test_init_cpu(), 0);
            sig[i] = param_signature(ck);
            vals[i] = checkpoint_params(ck);
            ttml_test_shutdown();
            g_free(ck);
        }
        for (int i = 1; i < 4; i++) {
            CU_ASSERT_STRING_EQUAL(sig[i], sig[0]);
            CU_ASSERT_PTR_NOT_NULL(loss[i]);
            CU_ASSERT_STRING_EQUAL(loss[i] ? loss[i] : "", loss[0] ? loss[0] : "-");
            CU_ASSERT_EQUAL(max_diff(vals[i], vals[0]), 0.0);
            if (strcmp(sig[i], sig[0]) != 0) fprintf(stderr, "\nvariant %d/%d: %s\n  vs %s\n", v, i, sig[i], sig[0]);
        }
        if (v == 1) CU_ASSERT_PTR_NOT_NULL(strstr(sig[0], "vocab 128;"));
        /* a model error still names the user's file and line */
        char *bad = replace(bom_commented, "num_heads: 2", "num_heads: two");
        int line = 1;
        for (const char *c = bad; c < strstr(bad, "num_heads: two"); c++) line += *c == '\n';
        char *bad_path = ttml_test_tmp_path("enc_bad.yaml");
        CU_ASSERT_TRUE(g_file_set_contents(bad_path, bad, -1, NULL));
        GError *err = NULL;
        CU_ASSERT_FALSE(train(bad_path, NULL, FALSE, &err));
        char *where = g_strdup_printf("%s:%d:", bad_path, line);
        TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, where);
        g_free(where);
        g_free(bad_path);
        g_free(bad);
        for (int i = 0; i < 4; i++) {
            g_free(sig[i]);
            g_free(loss[i]);
            g_ptr_array_unref(vals[i]);
        }
        g_free(bom_commented);
        g_free(bom);
        g_free(inner_cfg);
        g_free(commented);
        g_free(a);
    }
    g_free(with_vocab);
    g_free(plain);
    g_free(plain_path);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"clip_grad_norm", test_clip_grad_norm},
        {"loss_decreases", test_loss_decreases},
        {"grad_accumulation", test_grad_accumulation},
        {"resume_after_sigkill", test_resume_after_sigkill},
        {"interrupt", test_interrupt},
        {"progress_fits_terminal", test_progress_fits_terminal},
        {"overwrite", test_overwrite},
        {"resume_keeps_total", test_resume_keeps_total},
        {"data_fallback_warns", test_data_fallback_warns},
        {"generate_utf8_prompt", test_generate_utf8_prompt},
        {"generate", test_generate},
        {"config_errors", test_config_errors},
        {"precision_bf16", test_precision_bf16},
        {"bf16_weight_cache", test_bf16_weight_cache},
        {"precision_fallback", test_precision_fallback},
        {"config_encodings", test_config_encodings},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("lm_train", tests, suite_init, NULL);
}
