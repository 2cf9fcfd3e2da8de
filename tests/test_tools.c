/* test_tools - the built ttml-run binary, end to end: the shipped configs
 * train to the expected results, metrics files are well formed, and every
 * error exits non-zero with one clear line on stderr. */
#include "test_util.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define LINEAR_CFG TTML_SOURCE_DIR "/configs/linear_regression.yaml"
#define MLP_CFG TTML_SOURCE_DIR "/configs/mlp.yaml"

typedef struct {
    int status;     /* exit code, or 128 + the signal when killed */
    char *out, *err;
} run_result;

static void result_clear(run_result *r)
{
    g_free(r->out);
    g_free(r->err);
    memset(r, 0, sizeof *r);
}

/* Run ttml-run with the NULL-terminated args (ttml_test_run_tool). */
static run_result run_tool(const char *first, ...)
{
    GPtrArray *args = g_ptr_array_new();
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) g_ptr_array_add(args, (gpointer)a);
    va_end(ap);
    g_ptr_array_add(args, NULL);
    run_result r = {-1, NULL, NULL};
    r.status = ttml_test_run_tool("ttml-run", (const char *const *)args->pdata, NULL, NULL, &r.out, &r.err);
    CU_ASSERT_TRUE_FATAL(r.status >= 0);
    if (r.status >= 128) fprintf(stderr, "\nttml-run died (status %d); stderr:\n%s\n", r.status, r.err);
    g_ptr_array_free(args, TRUE);
    return r;
}

static char *write_tmp(const char *name, const char *text)
{
    char *path = ttml_test_tmp_path(name);
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(path, text, -1, NULL));
    return path;
}

static int count_prefix(const char *text, const char *prefix)
{
    int n = 0;
    char **lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++)
        if (g_str_has_prefix(*l, prefix)) n++;
    g_strfreev(lines);
    return n;
}

/* ------------------------------------------------- a minimal JSON checker */

/* Parse one flat JSON object (string keys; number, string, true/false/null
 * values) into key -> raw value text. NULL when the line is not one. */
static gboolean json_string_at(const char **p, GString *out)
{
    if (**p != '"') return FALSE;
    (*p)++;
    while (**p && **p != '"') {
        if ((unsigned char)**p < 0x20) return FALSE;
        if (**p == '\\') {
            (*p)++;
            if (!strchr("\"\\/bfnrtu", **p) || !**p) return FALSE;
        }
        g_string_append_c(out, **p);
        (*p)++;
    }
    if (**p != '"') return FALSE;
    (*p)++;
    return TRUE;
}

static GHashTable *json_flat_object(const char *line)
{
    GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    const char *p = line;
    if (*p++ != '{') goto bad;
    if (*p == '}' && p[1] == '\0') return h;
    for (;;) {
        GString *key = g_string_new(NULL);
        if (!json_string_at(&p, key) || *p++ != ':' || g_hash_table_contains(h, key->str)) {
            g_string_free(key, TRUE);
            goto bad;
        }
        GString *val = g_string_new(NULL);
        if (*p == '"') {
            g_string_append_c(val, '"');
            if (!json_string_at(&p, val)) {
                g_string_free(key, TRUE);
                g_string_free(val, TRUE);
                goto bad;
            }
            g_string_append_c(val, '"');   /* strings keep their quotes */
        } else if (g_str_has_prefix(p, "true") || g_str_has_prefix(p, "null")) {
            g_string_append_len(val, p, 4);
            p += 4;
        } else if (g_str_has_prefix(p, "false")) {
            g_string_append_len(val, p, 5);
            p += 5;
        } else {
            /* JSON number: -?digits(.digits)?([eE][+-]?digits)? */
            const char *s = p;
            if (*p == '-') p++;
            if (!g_ascii_isdigit(*p)) {
                g_string_free(key, TRUE);
                g_string_free(val, TRUE);
                goto bad;
            }
            while (g_ascii_isdigit(*p)) p++;
            if (*p == '.') {
                p++;
                if (!g_ascii_isdigit(*p)) p = s;   /* force failure below */
                while (g_ascii_isdigit(*p)) p++;
            }
            if (p != s && (*p == 'e' || *p == 'E')) {
                p++;
                if (*p == '+' || *p == '-') p++;
                if (!g_ascii_isdigit(*p)) p = s;
                while (g_ascii_isdigit(*p)) p++;
            }
            if (p == s) {
                g_string_free(key, TRUE);
                g_string_free(val, TRUE);
                goto bad;
            }
            g_string_append_len(val, s, p - s);
        }
        g_hash_table_insert(h, g_string_free(key, FALSE), g_string_free(val, FALSE));
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}' && p[1] == '\0') return h;
        goto bad;
    }
bad:
    g_hash_table_destroy(h);
    return NULL;
}

typedef struct {
    int n_steps;            /* step lines */
    int n_bad;              /* lines that are not flat JSON objects */
    gboolean summary_last;  /* the last line is the summary */
    gint64 last_step, summary_steps;
    double final_loss, first_loss, last_loss;
    char *summary_line;
    GArray *losses;         /* double per step line */
} metrics_info;

static double num_field(GHashTable *h, const char *key)
{
    const char *v = g_hash_table_lookup(h, key);
    return v && v[0] != '"' ? g_ascii_strtod(v, NULL) : NAN;
}

static metrics_info read_metrics(const char *path)
{
    metrics_info m = {0};
    m.losses = g_array_new(FALSE, FALSE, sizeof(double));
    m.final_loss = m.first_loss = m.last_loss = NAN;
    char *text = NULL;
    CU_ASSERT_TRUE_FATAL(g_file_get_contents(path, &text, NULL, NULL));
    CU_ASSERT_TRUE(g_str_has_suffix(text, "\n"));
    char **lines = g_strsplit(text, "\n", -1);
    guint n = g_strv_length(lines);
    if (n > 0 && lines[n - 1][0] == '\0') n--;   /* after the final newline */
    gint64 expect_step = 0;
    for (guint i = 0; i < n; i++) {
        const char *l = lines[i];
        GHashTable *h = json_flat_object(l);
        if (!h || !g_str_has_prefix(l, "{") || !g_str_has_suffix(l, "}")) {
            fprintf(stderr, "\nnot a JSON object: '%s'\n", l);
            m.n_bad++;
            if (h) g_hash_table_destroy(h);
            continue;
        }
        if (g_hash_table_contains(h, "event")) {
            CU_ASSERT_STRING_EQUAL(g_hash_table_lookup(h, "event"), "\"summary\"");
            CU_ASSERT_PTR_NOT_NULL(strstr(l, "\"event\":\"summary\""));
            if (i == n - 1) m.summary_last = TRUE;
            m.final_loss = num_field(h, "final_loss");
            m.summary_steps = (gint64)num_field(h, "steps");
            CU_ASSERT(num_field(h, "wall_s") >= 0);
            CU_ASSERT_PTR_NOT_NULL(g_hash_table_lookup(h, "device"));
            CU_ASSERT_PTR_NOT_NULL(g_hash_table_lookup(h, "model"));
            g_free(m.summary_line);
            m.summary_line = g_strdup(l);
        } else {
            /* {"step":N,"epoch":E,"loss":L,"lr":LR,"step_ms":MS} */
            double step = num_field(h, "step"), loss = num_field(h, "loss");
            CU_ASSERT(isfinite(step) && isfinite(loss));
            CU_ASSERT(num_field(h, "epoch") >= 1);
            CU_ASSERT(num_field(h, "lr") >= 0);
            CU_ASSERT(num_field(h, "step_ms") >= 0);
            CU_ASSERT(step > (double)expect_step);   /* increasing */
            expect_step = (gint64)step;
            m.last_step = expect_step;
            if (m.n_steps == 0) m.first_loss = loss;
            m.last_loss = loss;
            g_array_append_val(m.losses, loss);
            m.n_steps++;
        }
        g_hash_table_destroy(h);
    }
    g_strfreev(lines);
    g_free(text);
    return m;
}

static void metrics_clear(metrics_info *m)
{
    g_free(m->summary_line);
    g_array_free(m->losses, TRUE);
}

static void test_json_checker(void)
{
    /* The checker itself must reject what is not JSON. */
    const char *good[] = {"{}", "{\"a\":1}", "{\"a\":-1.5e-3,\"b\":\"x\",\"c\":null}", NULL};
    const char *bad[] = {"", "{", "{\"a\":}", "{\"a\":1,}", "{a:1}", "{\"a\":1}x", "{\"a\":.5}",
                         "{\"a\":nan}", "{\"a\":1,\"a\":2}", "{\"a\":\"x}", NULL};
    for (int i = 0; good[i]; i++) {
        GHashTable *h = json_flat_object(good[i]);
        CU_ASSERT_PTR_NOT_NULL(h);
        if (h) g_hash_table_destroy(h);
    }
    for (int i = 0; bad[i]; i++) {
        GHashTable *h = json_flat_object(bad[i]);
        if (h) fprintf(stderr, "\naccepted bad JSON '%s'\n", bad[i]);
        CU_ASSERT_PTR_NULL(h);
        if (h) g_hash_table_destroy(h);
    }
}

/* -------------------------------------------------------------- training */

static void test_linear_regression(void)
{
    char *metrics = ttml_test_tmp_path("linear.jsonl");
    run_result r = run_tool(LINEAR_CFG, "--metrics", metrics, NULL);
    if (r.status != 0) fprintf(stderr, "\nstderr: %s\n", r.err);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    CU_ASSERT_EQUAL(count_prefix(r.out, "Epoch "), 10);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Epoch 1/10, Loss: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "Epoch 10/10, Loss: "));
    const char *p = strstr(r.out, "Prediction for [1, 1]: ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char *end = NULL;
    double pred = g_ascii_strtod(p + strlen("Prediction for [1, 1]: "), &end);
    CU_ASSERT(end && (*end == '\n' || *end == '\0'));
    /* y = 2*x0 - x1 -> 1 at [1, 1]. */
    if (!(fabs(pred - 1.0) < 0.05)) fprintf(stderr, "\nprediction %g\n", pred);
    CU_ASSERT(fabs(pred - 1.0) < 0.05);
    CU_ASSERT_STRING_EQUAL(r.err, "");

    metrics_info m = read_metrics(metrics);
    CU_ASSERT_EQUAL(m.n_bad, 0);
    CU_ASSERT_EQUAL(m.n_steps, 10 * (256 / 32));
    CU_ASSERT_EQUAL(m.last_step, 80);
    CU_ASSERT_TRUE(m.summary_last);
    CU_ASSERT_EQUAL(m.summary_steps, 80);
    CU_ASSERT_PTR_NOT_NULL(m.summary_line && strstr(m.summary_line, "\"device\":\"cpu\""));
    CU_ASSERT_PTR_NOT_NULL(m.summary_line &&
                           strstr(m.summary_line, "\"model\":\"linear_regression\""));
    /* The targets are exactly linear: the loss falls by orders of magnitude. */
    CU_ASSERT(m.first_loss > 0.1);
    CU_ASSERT(m.final_loss < 1e-3);
    CU_ASSERT(m.last_loss < m.first_loss * 1e-3);
    metrics_clear(&m);
    result_clear(&r);

    /* "train" is the default subcommand; --quiet drops the epoch lines. */
    r = run_tool("train", LINEAR_CFG, "--quiet", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_EQUAL(count_prefix(r.out, "Epoch "), 0);
    CU_ASSERT_EQUAL(count_prefix(r.out, "Prediction for [1, 1]: "), 1);
    result_clear(&r);
    g_unlink(metrics);
    g_free(metrics);
}

static void test_max_steps_and_seed(void)
{
    char *metrics = ttml_test_tmp_path("max.jsonl");
    run_result r = run_tool(LINEAR_CFG, "--max-steps", "3", "--metrics", metrics, NULL);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    metrics_info m = read_metrics(metrics);
    CU_ASSERT_EQUAL(m.n_bad, 0);
    CU_ASSERT_EQUAL(m.n_steps, 3);
    CU_ASSERT_EQUAL(m.last_step, 3);
    CU_ASSERT_EQUAL(m.summary_steps, 3);
    CU_ASSERT_TRUE(m.summary_last);
    CU_ASSERT_EQUAL(count_prefix(r.out, "Epoch "), 1);   /* the partial first epoch */
    CU_ASSERT_PTR_NULL(strstr(r.out, "Epoch 2/"));
    metrics_clear(&m);
    result_clear(&r);

    /* Same seed, same losses; another seed, other losses. */
    char *m2 = ttml_test_tmp_path("seed2.jsonl"), *m3 = ttml_test_tmp_path("seed3.jsonl");
    r = run_tool(LINEAR_CFG, "--max-steps", "5", "--seed", "7", "--metrics", metrics, NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    result_clear(&r);
    r = run_tool(LINEAR_CFG, "--max-steps", "5", "--seed", "7", "--metrics", m2, NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    result_clear(&r);
    r = run_tool(LINEAR_CFG, "--max-steps", "5", "--seed", "8", "--metrics", m3, NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    result_clear(&r);
    metrics_info a = read_metrics(metrics), b = read_metrics(m2), c = read_metrics(m3);
    CU_ASSERT_EQUAL_FATAL(a.n_steps, 5);
    CU_ASSERT_EQUAL_FATAL(b.n_steps, 5);
    CU_ASSERT_EQUAL_FATAL(c.n_steps, 5);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 5; i++) {
        same_ab += g_array_index(a.losses, double, i) == g_array_index(b.losses, double, i);
        same_ac += g_array_index(a.losses, double, i) == g_array_index(c.losses, double, i);
    }
    CU_ASSERT_EQUAL(same_ab, 5);
    CU_ASSERT_EQUAL(same_ac, 0);
    metrics_clear(&a);
    metrics_clear(&b);
    metrics_clear(&c);
    g_unlink(metrics);
    g_unlink(m2);
    g_unlink(m3);
    g_free(metrics);
    g_free(m2);
    g_free(m3);
}

static void test_mlp_beats_linear(void)
{
    char *m_mlp = ttml_test_tmp_path("mlp.jsonl"), *m_lin = ttml_test_tmp_path("mlp_linear.jsonl");
    run_result r = run_tool(MLP_CFG, "--quiet", "--metrics", m_mlp, NULL);
    if (r.status != 0) fprintf(stderr, "\nstderr: %s\n", r.err);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    result_clear(&r);

    /* The same config with the model swapped for linear_regression. */
    char *text = NULL;
    CU_ASSERT_TRUE_FATAL(g_file_get_contents(MLP_CFG, &text, NULL, NULL));
    char **lines = g_strsplit(text, "\n", -1);
    int replaced = 0;
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, "  model_type:")) {
            g_free(*l);
            *l = g_strdup("  model_type: linear_regression");
            replaced++;
        } else if (g_str_has_prefix(*l, "  model_config:")) {
            g_free(*l);
            *l = g_strdup("  model_config: {in_features: 2, out_features: 1}");
            replaced++;
        }
    }
    CU_ASSERT_EQUAL_FATAL(replaced, 2);
    char *variant_text = g_strjoinv("\n", lines);
    char *variant = write_tmp("mlp_as_linear.yaml", variant_text);
    r = run_tool(variant, "--quiet", "--metrics", m_lin, NULL);
    if (r.status != 0) fprintf(stderr, "\nstderr: %s\n", r.err);
    CU_ASSERT_EQUAL_FATAL(r.status, 0);
    result_clear(&r);

    metrics_info mm = read_metrics(m_mlp), ml = read_metrics(m_lin);
    CU_ASSERT_EQUAL(mm.n_bad, 0);
    CU_ASSERT_EQUAL(ml.n_bad, 0);
    CU_ASSERT_PTR_NOT_NULL(mm.summary_line && strstr(mm.summary_line, "\"model\":\"mlp\""));
    /* The target x0*x1 has variance 1 and no linear part: a linear model
     * stays near 1, the MLP fits it. */
    fprintf(stderr, "[mlp %g, linear %g] ", mm.final_loss, ml.final_loss);
    CU_ASSERT(ml.final_loss > 0.5);
    CU_ASSERT(mm.final_loss < 0.05);
    CU_ASSERT(mm.final_loss < ml.final_loss);
    metrics_clear(&mm);
    metrics_clear(&ml);
    g_unlink(variant);
    g_unlink(m_mlp);
    g_unlink(m_lin);
    g_free(variant);
    g_free(variant_text);
    g_strfreev(lines);
    g_free(text);
    g_free(m_mlp);
    g_free(m_lin);
}

/* ------------------------------------------------------------------ errors */

/* Exit `code`, nothing on stdout, and exactly one stderr line "ttml-run: ..."
 * containing each NULL-terminated needle. */
static void expect_error(run_result *r, int code, ...)
{
    if (r->status != code)
        fprintf(stderr, "\nexit %d (wanted %d); stderr: %s\n", r->status, code, r->err);
    CU_ASSERT_EQUAL(r->status, code);
    CU_ASSERT_TRUE(g_str_has_prefix(r->err, "ttml-run: "));
    CU_ASSERT_TRUE(g_str_has_suffix(r->err, "\n"));
    const char *nl = strchr(r->err, '\n');
    CU_ASSERT(nl != NULL && nl[1] == '\0');   /* one line */
    CU_ASSERT_EQUAL(count_prefix(r->out, "Epoch "), 0);
    va_list ap;
    va_start(ap, code);
    for (const char *n = va_arg(ap, const char *); n; n = va_arg(ap, const char *)) {
        if (!strstr(r->err, n)) fprintf(stderr, "\nstderr '%s' lacks '%s'\n", r->err, n);
        CU_ASSERT_PTR_NOT_NULL(strstr(r->err, n));
    }
    va_end(ap);
    result_clear(r);
}

static const char *const MODEL_OK = "  model_type: linear_regression\n"
                                    "  model_config: {in_features: 2, out_features: 1}\n";

static void test_errors(void)
{
    run_result r;
    char *missing = ttml_test_tmp_path("does-not-exist.yaml");
    r = run_tool(missing, NULL);
    expect_error(&r, 1, missing, "No such file", NULL);
    g_free(missing);

    /* Malformed YAML: the unterminated list on line 3 is reported at the
     * end of input (line 4, column 1), with where the list started. */
    char *bad = write_tmp("bad.yaml", "training_config:\n"
                                      "  seed: 1\n"
                                      "  weights: [1.0, 2.0\n");
    r = run_tool(bad, NULL);
    char *want = g_strdup_printf("%s:4:1: ", bad);
    expect_error(&r, 1, want, "flow sequence", "line 3, column 12", NULL);
    g_free(want);
    g_free(bad);

    /* An unknown key, with its line and a suggestion. */
    char *text = g_strdup_printf("training_config:\n  seed: 1\n%s  bach_size: 4\n", MODEL_OK);
    char *unk = write_tmp("unknown.yaml", text);
    g_free(text);
    r = run_tool(unk, NULL);
    want = g_strdup_printf("%s:5: unknown key 'bach_size' in 'training_config'", unk);
    expect_error(&r, 1, want, "batch_size", NULL);
    g_free(want);
    g_free(unk);

    /* An unknown section. */
    text = g_strdup_printf("training_config:\n%sdata_conf:\n  type: linear\n", MODEL_OK);
    unk = write_tmp("section.yaml", text);
    g_free(text);
    r = run_tool(unk, NULL);
    want = g_strdup_printf("%s:4: unknown key 'data_conf' at the top level", unk);
    expect_error(&r, 1, want, "data_config", NULL);
    g_free(want);
    g_free(unk);

    /* A typo inside a plugin's section (model_config) is found too. */
    unk = write_tmp("model_key.yaml", "training_config:\n  model_type: linear_regression\n"
                                      "  model_config: {in_features: 2, out_features: 1, bais: 1}\n");
    r = run_tool(unk, NULL);
    want = g_strdup_printf("%s:3: unknown key 'bais'", unk);
    expect_error(&r, 1, want, NULL);
    g_free(want);
    g_free(unk);

    /* Wrong type, with line and column. */
    text = g_strdup_printf("training_config:\n  batch_size: abc\n%s", MODEL_OK);
    char *wt = write_tmp("wrong_type.yaml", text);
    g_free(text);
    r = run_tool(wt, NULL);
    want = g_strdup_printf("%s:2:15: 'batch_size' must be an integer, got 'abc'", wt);
    expect_error(&r, 1, want, NULL);
    g_free(want);
    g_free(wt);

    /* Unknown names list what is available. */
    char *um = write_tmp("model.yaml", "training_config:\n  model_type: transformer9\n"
                                       "  model_config: {in_features: 2, out_features: 1}\n");
    r = run_tool(um, NULL);
    expect_error(&r, 1, "transformer9", "linear_regression", "mlp", NULL);
    g_free(um);

    text = g_strdup_printf("training_config:\n  optimizer_type: adagrad9\n%s", MODEL_OK);
    char *uo = write_tmp("optim.yaml", text);
    g_free(text);
    r = run_tool(uo, NULL);
    want = g_strdup_printf("%s:2:19: ", uo);
    expect_error(&r, 1, want, "adagrad9", "sgd", "adamw", NULL);
    g_free(want);
    g_free(uo);

    r = run_tool(LINEAR_CFG, "--device", "quantum9", NULL);
    expect_error(&r, 1, "quantum9", "cpu", NULL);

    /* Bad values. */
    text = g_strdup_printf("training_config:\n  batch_size: 1000\n%s", MODEL_OK);
    char *big = write_tmp("batch.yaml", text);
    g_free(text);
    r = run_tool(big, NULL);
    expect_error(&r, 1, "batch_size (1000)", "256", NULL);
    g_free(big);

    /* The metrics file cannot be created. */
    r = run_tool(LINEAR_CFG, "--metrics", "/nonexistent-dir/m.jsonl", NULL);
    expect_error(&r, 1, "/nonexistent-dir/m.jsonl", NULL);

    /* Usage errors exit 2 and point to --help. */
    r = run_tool(NULL);
    expect_error(&r, 2, "--help", NULL);
    r = run_tool(LINEAR_CFG, "--no-such-flag", NULL);
    expect_error(&r, 2, "--no-such-flag", "--help", NULL);
    r = run_tool(LINEAR_CFG, "--seed", "many", NULL);
    expect_error(&r, 2, "--help", NULL);
    r = run_tool(LINEAR_CFG, LINEAR_CFG, NULL);
    expect_error(&r, 2, "--help", NULL);

    r = run_tool("--help", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--max-steps"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--plugin-path"));
    result_clear(&r);
}

/* Keys only language models read are explained in other configs, and
 * their near-misses suggested; --help shows both commands. */
static void test_lm_keys_and_help(void)
{
    run_result r;
    char *text = g_strdup_printf("training_config:\n  seed: 1\n%s  gradient_accumulation_step: 2\n", MODEL_OK);
    char *cfg = write_tmp("near_miss.yaml", text);
    g_free(text);
    r = run_tool(cfg, NULL);
    expect_error(&r, 1, "unknown key 'gradient_accumulation_step'", "did you mean 'gradient_accumulation_steps'?",
                 "language-model key", NULL);
    g_free(cfg);
    text = g_strdup_printf("training_config:\n  seed: 1\n%s  clip_grad_norm_max_norm: 1.0\n", MODEL_OK);
    cfg = write_tmp("lm_key.yaml", text);
    g_free(text);
    r = run_tool(cfg, NULL);
    expect_error(&r, 1, "unknown key 'clip_grad_norm_max_norm'", "language-model key",
                 "transformer_config", NULL);
    g_free(cfg);

    r = run_tool("--help", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "ttml-run [train] [OPTION"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "ttml-run generate --checkpoint FILE"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "--overwrite"));
    CU_ASSERT_PTR_NULL(strstr(r.out, "CONFIG.yaml CONFIG.yaml"));
    result_clear(&r);
}

/* A small text corpus and a language-model config on it (paths g_free'd by
 * the caller); `tf` is the transformer_config mapping. */
static char *lm_config(const char *name, const char *tf, char **corpus)
{
    GString *text = g_string_new(NULL);
    static const char *const words[] = {"the", "king", "queen", "of", "and", "to", "my", "lord", "good", "sir"};
    for (guint i = 0; i < 3000; i++) g_string_append_printf(text, "%s%c", words[(i * 7 + i / 5) % 10], i % 12 == 11 ? '\n' : ' ');
    *corpus = write_tmp("memory_corpus.txt", text->str);
    g_string_free(text, TRUE);
    char *yaml = g_strdup_printf("training_config:\n  batch_size: 2\n  max_steps: 1\n  model_type: nanogpt\n"
                                 "  transformer_config: %s\ndata_config:\n  path: %s\n", tf, *corpus);
    char *path = write_tmp(name, yaml);
    g_free(yaml);
    return path;
}

/* ttml-run with NULL-terminated args and one environment variable. */
static run_result run_tool_env(const char *var, const char *value, const char *const *args)
{
    const char *env[] = {var, value, NULL};
    run_result r = {-1, NULL, NULL};
    r.status = ttml_test_run_tool("ttml-run", args, env, NULL, &r.out, &r.err);
    CU_ASSERT_TRUE_FATAL(r.status >= 0);
    return r;
}

/* Running out of simulated DRAM during a step is one stderr line (no kernel
 * table) naming the op and the tensor, with figures in one unit that agree:
 * the request does not fit the total, or the bank named is too full for its
 * share (one 2 KiB bf16 page for a request of <= 12 pages). */
static void test_oom_line(void)
{
    char *corpus, *cfg = lm_config("oom_lm.yaml", "{num_heads: 2, embedding_dim: 64, num_blocks: 1, "
                                                  "max_sequence_length: 32}", &corpus);
    const char *args[] = {cfg, "--device", "ttsim:wormhole_b0,dram=1M", NULL};
    run_result r = run_tool_env("TTML_FIT_CHECK", "0", args);   /* let it reach the step */
    double need = 0, used = 0, cap = 0, bank = 0, bank_cap = 0;
    const char *p = strstr(r.err, "needs ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(sscanf(p, "needs %lf KiB, %lf KiB of %lf KiB in use", &need, &used, &cap), 3);
    CU_ASSERT_DOUBLE_EQUAL(cap, 12 * (1048576 / 12) / 1024.0, 0.001);   /* 12 banks of 87381 bytes */
    const char *b = strstr(r.err, "is full: ");
    if (b) {
        CU_ASSERT_EQUAL(sscanf(b, "is full: %lf of %lf KiB", &bank, &bank_cap), 2);
        CU_ASSERT_DOUBLE_EQUAL(bank_cap, cap / 12, 0.001);
        CU_ASSERT_TRUE(need + used <= cap + 0.001);
        CU_ASSERT_TRUE(bank + (need <= 24.0 ? 2.0 : need / 12) > bank_cap);
    } else {
        CU_ASSERT_TRUE(need + used > cap);
    }
    expect_error(&r, 1, "device ttsim:wormhole_b0,dram=1M, op '", "(forward), tensor f32 [",
                 "out of wormhole_b0 DRAM: needs ", "storage=bfp8_b", "ttsim:blackhole", NULL);
    g_free(cfg);
    g_free(corpus);
}

/* A 4-billion-parameter GPT on a 12 GiB wormhole_b0 fails before anything is
 * allocated (no "model:" line), with the estimate's parts computed here from
 * the architecture: V = 32 (padded), E = 4096, L = 20, S = 1024, bf16
 * storage, AdamW. */
static void test_model_too_big(void)
{
    char *corpus, *cfg = lm_config("big_lm.yaml", "{num_heads: 32, embedding_dim: 4096, num_blocks: 20, "
                                                  "max_sequence_length: 1024}", &corpus);
    const double V = 32, E = 4096, L = 20, S = 1024;
    double n = 2 * V * E + S * E + L * (12 * E * E + 13 * E) + 2 * E, gib = 1073741824.0;
    char *params = g_strdup_printf("parameters %.2f GiB (2 bytes each), gradients %.2f GiB, optimizer state "
                                   "(adamw: 2 per parameter) %.2f GiB", n * 2 / gib, n * 2 / gib, n * 4 / gib);
    char *count = g_strdup_printf("model 'nanogpt' (%.3g parameters) needs about", n);
    run_result r = run_tool(cfg, "--device", "ttsim:wormhole_b0", NULL);
    CU_ASSERT_PTR_NULL(strstr(r.out, "model: nanogpt"));
    expect_error(&r, 1, count, "on device ttsim:wormhole_b0 but it has 12.00 GiB of DRAM", params,
                 "activations (estimate, batch 2 x sequence 1024)", "nothing was allocated", "smaller batch_size",
                 "ttsim:blackhole", NULL);
    g_free(params);
    g_free(count);
    g_free(cfg);
    g_free(corpus);
}

/* --check runs every reader of the config without training: the shipped
 * configs pass, a typo and a bad value fail with the line, --data satisfies
 * a config without a corpus, and nothing trains. */
static void test_check(void)
{
    static const char *const shipped[] = {"linear_regression", "mlp", "nanogpt_shakespeare", "llama_shakespeare",
                                          "nanogpt_ddp", "nanogpt_n300_tp2"};
    for (guint i = 0; i < G_N_ELEMENTS(shipped); i++) {
        char *cfg = g_strdup_printf("%s/configs/%s.yaml", TTML_SOURCE_DIR, shipped[i]);
        run_result r = run_tool(cfg, "--check", NULL);
        if (r.status != 0) fprintf(stderr, "\n%s: %s\n", cfg, r.err);
        CU_ASSERT_EQUAL(r.status, 0);
        char *want = g_strdup_printf("%s: ok (", cfg);
        CU_ASSERT_TRUE(g_str_has_prefix(r.out, want));
        CU_ASSERT_EQUAL(count_prefix(r.out, "Epoch "), 0);
        CU_ASSERT_PTR_NULL(strstr(r.out, "model: "));
        g_free(want);
        result_clear(&r);
        g_free(cfg);
    }
    char *typo = write_tmp("check_typo.yaml", "training_config:\n  batch_sise: 3\n  model_type: nanogpt\n"
                                              "  transformer_config: {num_heads: 2}\ndata_config: {path: x.txt}\n");
    run_result r = run_tool(typo, "--check", NULL);
    expect_error(&r, 1, "check_typo.yaml:2:", "unknown key 'batch_sise' in 'training_config'",
                 "did you mean 'batch_size'?", NULL);
    char *bad = write_tmp("check_bad.yaml", "training_config:\n  model_type: nanogpt\n  val_batches: 0\n"
                                            "  transformer_config: {num_heads: 2}\n");
    r = run_tool(bad, "--check", NULL);
    expect_error(&r, 1, "check_bad.yaml:3:", "'val_batches' must be a positive integer, got 0", NULL);
    char *nodata = write_tmp("check_nodata.yaml", "training_config:\n  model_type: nanogpt\n"
                                                  "  transformer_config: {num_heads: 2}\n");
    r = run_tool(nodata, "--check", NULL);
    expect_error(&r, 1, "no text corpus", "--data FILE", NULL);
    r = run_tool(nodata, "--check", "--data", "any.txt", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    result_clear(&r);
    r = run_tool(LINEAR_CFG, "--check", "--data", "any.txt", NULL);
    expect_error(&r, 1, "--data is only supported for language models", NULL);
    g_free(typo);
    g_free(bad);
    g_free(nodata);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"json_checker", test_json_checker},
        {"linear_regression", test_linear_regression},
        {"max_steps_and_seed", test_max_steps_and_seed},
        {"mlp_beats_linear", test_mlp_beats_linear},
        {"errors", test_errors},
        {"lm_keys_and_help", test_lm_keys_and_help},
        {"oom_line", test_oom_line},
        {"model_too_big", test_model_too_big},
        {"check", test_check},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("tools", tests, NULL, NULL);
}
