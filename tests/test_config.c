/* test_config - YAML config trees (core/formats/config.c) and synthetic datasets
 * (core/train/data.c). No plugins are needed. */
#include "test_util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>
#include <math.h>
#include <string.h>

static ttml_config *load(const char *text)
{
    GError *err = NULL;
    ttml_config *root = ttml_config_load_string(text, "cfg.yaml", &err);
    if (err) fprintf(stderr, "\nunexpected error: %s\n", err->message);
    g_clear_error(&err);
    return root;
}

/* ------------------------------------------------------------ tree shape */

static void test_tree(void)
{
    const char *text = "training_config:\n"          /* line 1 */
                       "  seed: 42\n"                /* line 2 */
                       "  nested:\n"                 /* line 3 */
                       "    deep: {x: 1, y: two}\n"  /* line 4 */
                       "list:\n"                     /* line 5 */
                       "  - 1\n"                     /* line 6 */
                       "  - [a, b]\n"                /* line 7 */
                       "  - {k: v}\n";               /* line 8 */
    ttml_config *root = load(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_EQUAL(ttml_config_get_type(root), TTML_CONFIG_MAP);
    CU_ASSERT_STRING_EQUAL(ttml_config_file(root), "cfg.yaml");

    ttml_config *tc = ttml_config_get(root, "training_config");
    CU_ASSERT_PTR_NOT_NULL_FATAL(tc);
    CU_ASSERT_EQUAL(ttml_config_get_type(tc), TTML_CONFIG_MAP);
    ttml_config *seed = ttml_config_get(tc, "seed");
    CU_ASSERT_PTR_NOT_NULL_FATAL(seed);
    CU_ASSERT_EQUAL(ttml_config_get_type(seed), TTML_CONFIG_SCALAR);
    CU_ASSERT_STRING_EQUAL(ttml_config_scalar(seed), "42");
    CU_ASSERT_EQUAL(ttml_config_line(seed), 2);
    CU_ASSERT_EQUAL(ttml_config_column(seed), 9);

    ttml_config *deep = ttml_config_get(ttml_config_get(tc, "nested"), "deep");
    CU_ASSERT_PTR_NOT_NULL_FATAL(deep);
    CU_ASSERT_EQUAL(ttml_config_line(deep), 4);
    CU_ASSERT_EQUAL(ttml_config_column(deep), 11);
    ttml_config *y = ttml_config_get(deep, "y");
    CU_ASSERT_STRING_EQUAL(ttml_config_scalar(y), "two");
    CU_ASSERT_EQUAL(ttml_config_line(y), 4);
    CU_ASSERT_EQUAL(ttml_config_column(y), 21);
    CU_ASSERT_PTR_NULL(ttml_config_get(deep, "z"));
    CU_ASSERT_PTR_NULL(ttml_config_scalar(deep));   /* not a scalar */

    ttml_config *list = ttml_config_get(root, "list");
    CU_ASSERT_EQUAL(ttml_config_get_type(list), TTML_CONFIG_SEQ);
    CU_ASSERT_EQUAL(ttml_config_seq_len(list), 3);
    CU_ASSERT_STRING_EQUAL(ttml_config_scalar(ttml_config_seq_nth(list, 0)), "1");
    ttml_config *ab = ttml_config_seq_nth(list, 1);
    CU_ASSERT_EQUAL(ttml_config_get_type(ab), TTML_CONFIG_SEQ);
    CU_ASSERT_EQUAL(ttml_config_seq_len(ab), 2);
    CU_ASSERT_STRING_EQUAL(ttml_config_scalar(ttml_config_seq_nth(ab, 1)), "b");
    CU_ASSERT_EQUAL(ttml_config_line(ab), 7);
    ttml_config *kv = ttml_config_seq_nth(list, 2);
    CU_ASSERT_STRING_EQUAL(ttml_config_scalar(ttml_config_get(kv, "k")), "v");
    CU_ASSERT_PTR_NULL(ttml_config_seq_nth(list, 3));
    CU_ASSERT_EQUAL(ttml_config_seq_len(kv), 0);   /* a map is not a sequence */

    char buf[64];
    CU_ASSERT_STRING_EQUAL(ttml_config_where(y, buf, sizeof buf), "cfg.yaml:4:21");
    ttml_config_free(root);

    /* An empty document is an empty mapping. */
    root = load("# only a comment\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    CU_ASSERT_EQUAL(ttml_config_get_type(root), TTML_CONFIG_MAP);
    CU_ASSERT_PTR_NULL(ttml_config_get(root, "x"));
    ttml_config_free(root);
}

/* --------------------------------------------------------- typed getters */

static void test_getters(void)
{
    const char *text = "i: 32\n"
                       "neg: -7\n"
                       "big: 9000000000\n"
                       "d: 1e-3\n"
                       "d2: 0.25\n"
                       "d_int: 3\n"
                       "t: true\n"
                       "f: false\n"
                       "y: yes\n"
                       "s: sgd\n"
                       "q: \"42\"\n"
                       "ints: [1, -2, 3]\n"
                       "dbls: [2.0, -1.0, 1e2]\n"
                       "empty: []\n";
    ttml_config *root = load(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    GError *err = NULL;
    CU_ASSERT_EQUAL(ttml_config_int(root, "i", 0, &err), 32);
    CU_ASSERT_EQUAL(ttml_config_int(root, "neg", 0, &err), -7);
    CU_ASSERT_EQUAL(ttml_config_int(root, "big", 0, &err), G_GINT64_CONSTANT(9000000000));
    CU_ASSERT_EQUAL(ttml_config_int(root, "absent", 17, &err), 17);
    CU_ASSERT_DOUBLE_EQUAL(ttml_config_double(root, "d", 0, &err), 0.001, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ttml_config_double(root, "d2", 0, &err), 0.25, 0);
    CU_ASSERT_DOUBLE_EQUAL(ttml_config_double(root, "d_int", 0, &err), 3.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(ttml_config_double(root, "absent", 1.5, &err), 1.5, 0);
    CU_ASSERT_EQUAL(ttml_config_bool(root, "t", FALSE, &err), TRUE);
    CU_ASSERT_EQUAL(ttml_config_bool(root, "f", TRUE, &err), FALSE);
    CU_ASSERT_EQUAL(ttml_config_bool(root, "y", FALSE, &err), TRUE);
    CU_ASSERT_EQUAL(ttml_config_bool(root, "absent", TRUE, &err), TRUE);
    CU_ASSERT_STRING_EQUAL(ttml_config_string(root, "s", NULL, &err), "sgd");
    CU_ASSERT_STRING_EQUAL(ttml_config_string(root, "q", NULL, &err), "42");
    CU_ASSERT_STRING_EQUAL(ttml_config_string(root, "absent", "dflt", &err), "dflt");
    TTML_ASSERT_NO_ERROR(err);

    gint64 *ints = NULL;
    CU_ASSERT_EQUAL(ttml_config_int_list(root, "ints", &ints, &err), 3);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ints);
    CU_ASSERT(ints[0] == 1 && ints[1] == -2 && ints[2] == 3);
    g_free(ints);
    double *dbls = NULL;
    CU_ASSERT_EQUAL(ttml_config_double_list(root, "dbls", &dbls, &err), 3);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dbls);
    CU_ASSERT(dbls[0] == 2.0 && dbls[1] == -1.0 && dbls[2] == 100.0);
    g_free(dbls);
    dbls = (double *)&err;   /* must be reset */
    CU_ASSERT_EQUAL(ttml_config_double_list(root, "absent", &dbls, &err), 0);
    CU_ASSERT_PTR_NULL(dbls);
    CU_ASSERT_EQUAL(ttml_config_double_list(root, "empty", &dbls, &err), 0);
    g_free(dbls);
    TTML_ASSERT_NO_ERROR(err);
    /* Everything was read: nothing unknown. */
    CU_ASSERT_TRUE(ttml_config_check_unused(root, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_config_free(root);
}

static void test_wrong_type(void)
{
    const char *text = "training_config:\n"
                       "  seed: 42\n"
                       "  batch_size: abc\n"       /* line 3, value at column 15 */
                       "  lr: 0.1x\n"              /* line 4 */
                       "  steps: 1.5\n"            /* line 5 */
                       "  flag: maybe\n"           /* line 6 */
                       "  sub: {a: 1}\n"           /* line 7 */
                       "  weights: [1.0, x, 3]\n"  /* line 8; x at column 18 */
                       "  scalar_list: 5\n";       /* line 9 */
    ttml_config *root = load(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    ttml_config *tc = ttml_config_get(root, "training_config");
    GError *err = NULL;

    CU_ASSERT_EQUAL(ttml_config_int(tc, "batch_size", 8, &err), 8);
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:3:15: 'batch_size' must be an integer, got 'abc'");
    ttml_config_double(tc, "lr", 0, &err);
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:4:7: 'lr' must be a number, got '0.1x'");
    ttml_config_int(tc, "steps", 0, &err);
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:5:10: 'steps' must be an integer, got '1.5'");
    ttml_config_bool(tc, "flag", FALSE, &err);
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:6:9: 'flag' must be true or false, got 'maybe'");
    ttml_config_string(tc, "sub", NULL, &err);
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:7:8: 'sub' must be a string, got a mapping");
    double *d = NULL;
    CU_ASSERT_EQUAL(ttml_config_double_list(tc, "weights", &d, &err), -1);
    CU_ASSERT_PTR_NULL(d);
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:8:18: 'weights'[1] must be a number, got 'x'");
    gint64 *i = NULL;
    CU_ASSERT_EQUAL(ttml_config_int_list(tc, "scalar_list", &i, &err), -1);
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:9:16: 'scalar_list' must be a list");

    /* A batch of getters keeps the first error (and does not crash). */
    ttml_config_int(tc, "batch_size", 0, &err);
    ttml_config_bool(tc, "flag", FALSE, &err);
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "'batch_size'");
    ttml_config_free(root);
}

/* ----------------------------------------------------------------- errors */

static void test_malformed(void)
{
    GError *err = NULL;
    /* An unterminated flow sequence: libyaml stops at the end of input
     * (line 2, column 1) while parsing the sequence started at 1:4. */
    CU_ASSERT_PTR_NULL(ttml_config_load_string("a: [1, 2\n", "bad.yaml", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "bad.yaml:2:1: ");
    CU_ASSERT_PTR_NULL(ttml_config_load_string("a: [1, 2\n", "bad.yaml", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "flow sequence");

    /* Bad indentation: " c: 2" at line 3 column 2 matches no open block. */
    CU_ASSERT_PTR_NULL(ttml_config_load_string("a:\n  b: 1\n c: 2\n", "ind.yaml", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "ind.yaml:3:2: ");

    /* A tab where indentation is expected. */
    CU_ASSERT_PTR_NULL(ttml_config_load_string("a:\n\tb: 1\n", "tab.yaml", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "tab.yaml:2:");

    /* Duplicate key, reported at the second occurrence with the first's line. */
    CU_ASSERT_PTR_NULL(ttml_config_load_string("x: 1\ny:\n  a: 1\n  a: 2\n", "dup.yaml", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "dup.yaml:4:3: duplicate key 'a' (first given at line 3)");

    /* Non-scalar keys. */
    CU_ASSERT_PTR_NULL(ttml_config_load_string("? [a, b]\n: 1\n", "key.yaml", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "key.yaml:1:3: mapping keys must be");
    CU_ASSERT_PTR_NULL(ttml_config_load_string("{a: 1}: 2\n", "key2.yaml", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "key2.yaml:1:1: mapping keys must be");

    /* Aliases are rejected, two documents too. */
    CU_ASSERT_PTR_NULL(ttml_config_load_string("a: &x 1\nb: *x\n", "alias.yaml", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "alias.yaml:2:4: YAML aliases");
    CU_ASSERT_PTR_NULL(ttml_config_load_string("a: 1\n---\nb: 2\n", "docs.yaml", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "docs.yaml:2:1: a second YAML document");

    /* Invalid UTF-8. */
    CU_ASSERT_PTR_NULL(ttml_config_load_string("a: \xff\xfe\n", "utf.yaml", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "utf.yaml");

    /* Absurd nesting fails cleanly instead of overflowing the stack. */
    GString *deep = g_string_new("a: ");
    for (int i = 0; i < 5000; i++) g_string_append_c(deep, '[');
    CU_ASSERT_PTR_NULL(ttml_config_load_string(deep->str, "deep.yaml", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "deep.yaml:");
    g_string_free(deep, TRUE);
}

static void test_files(void)
{
    GError *err = NULL;
    const char *missing = "/nonexistent-dir/ttml-no-such.yaml";
    CU_ASSERT_PTR_NULL(ttml_config_load_file(missing, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_IO, missing);
    CU_ASSERT_PTR_NULL(ttml_config_load_file(missing, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_IO, g_strerror(ENOENT));

    /* A directory is not a config. */
    CU_ASSERT_PTR_NULL(ttml_config_load_file("/", &err));
    CU_ASSERT_PTR_NOT_NULL(err);
    g_clear_error(&err);

    char *path = NULL;
    int fd = g_file_open_tmp("ttml-cfg-XXXXXX.yaml", &path, &err);
    TTML_ASSERT_NO_ERROR(err);
    close(fd);
    CU_ASSERT_TRUE(g_file_set_contents(path, "a:\n  b: [1, 2]\n  c: 3\n", -1, NULL));
    ttml_config *root = ttml_config_load_file(path, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    ttml_config *a = ttml_config_get(root, "a");
    CU_ASSERT_STRING_EQUAL(ttml_config_file(a), path);
    CU_ASSERT_EQUAL(ttml_config_int(a, "c", 0, &err), 3);
    CU_ASSERT_EQUAL(ttml_config_line(ttml_config_get(a, "c")), 3);
    /* Errors from a file name the file. */
    ttml_config_bool(a, "c", FALSE, &err);
    char *want = g_strdup_printf("%s:3:6: 'c' must be true or false, got '3'", path);
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, want);
    g_free(want);
    ttml_config_free(root);

    CU_ASSERT_TRUE(g_file_set_contents(path, "a: {b: 1\n", -1, NULL));
    CU_ASSERT_PTR_NULL(ttml_config_load_file(path, &err));
    want = g_strdup_printf("%s:2:1: ", path);
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, want);
    g_free(want);
    g_unlink(path);
    g_free(path);
}

/* ------------------------------------------------------------- usage marks */

static void test_unused(void)
{
    const char *text = "training_config:\n"      /* 1 */
                       "  seed: 42\n"            /* 2 */
                       "  batch_size: 8\n"       /* 3 */
                       "  lerning_rate: 0.1\n"   /* 4 */
                       "  bogus: 1\n"            /* 5 */
                       "model_config:\n"         /* 6 */
                       "  width: 3\n"            /* 7 */
                       "  extra: {x: 1}\n";      /* 8 */
    ttml_config *root = load(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    GError *err = NULL;
    ttml_config *tc = ttml_config_get(root, "training_config");
    ttml_config_int(tc, "seed", 0, &err);
    ttml_config_int(tc, "batch_size", 0, &err);
    ttml_config_double(tc, "learning_rate", 0.5, &err);   /* absent: the typo is */
    TTML_ASSERT_NO_ERROR(err);

    /* The first unknown key in document order, with its line, its section,
     * a suggestion and the keys known there. */
    CU_ASSERT_FALSE(ttml_config_check_unused(root, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:4: unknown key 'lerning_rate' in 'training_config'");
    CU_ASSERT_FALSE(ttml_config_check_unused(root, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "did you mean 'learning_rate'?");
    CU_ASSERT_FALSE(ttml_config_check_unused(root, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "(known here: batch_size, learning_rate, seed)");

    /* Marked used: the next one is reported. */
    ttml_config_mark_used(ttml_config_get(tc, "lerning_rate"));
    CU_ASSERT_FALSE(ttml_config_check_unused(root, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:5: unknown key 'bogus' in 'training_config'");
    ttml_config_get(tc, "bogus");
    /* A whole unread section. */
    CU_ASSERT_FALSE(ttml_config_check_unused(root, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:6: unknown key 'model_config' at the top level");
    /* Checking a sub-tree only looks below it. */
    CU_ASSERT_TRUE(ttml_config_check_unused(tc, &err));
    TTML_ASSERT_NO_ERROR(err);

    /* Reading the section but not all of it: nested keys are found. */
    ttml_config *mc = ttml_config_get(root, "model_config");
    ttml_config_int(mc, "width", 0, &err);
    ttml_config *extra = ttml_config_get(mc, "extra");
    CU_ASSERT_FALSE(ttml_config_check_unused(root, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:8: unknown key 'x' in 'model_config.extra'");
    /* mark_used covers everything below a node. */
    ttml_config_mark_used(extra);
    CU_ASSERT_TRUE(ttml_config_check_unused(root, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_config_free(root);

    /* mark_used on the root accepts anything; peek does not mark. */
    root = load("a: 1\nb: {c: 2}\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ttml_config_peek(root, "a"));
    CU_ASSERT_FALSE(ttml_config_check_unused(root, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:1: unknown key 'a' at the top level");
    ttml_config_mark_used(root);
    CU_ASSERT_TRUE(ttml_config_check_unused(root, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_config_free(root);
}

/* ---------------------------------------------------------------- datasets */

static void test_linear_dataset(void)
{
    GError *err = NULL;
    ttml_config *cfg = load("type: linear\nnum_samples: 100\nweights: [2.0, -1.0, 0.5]\n"
                            "bias: 0.25\nnoise: 0.0\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    ttml_set_seed(7);
    ttml_dataset *ds = ttml_dataset_synthetic(cfg, 3, 1, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    CU_ASSERT_EQUAL(ds->n, 100);
    CU_ASSERT_EQUAL(ds->in_features, 3);
    CU_ASSERT_EQUAL(ds->out_features, 1);
    double sum = 0, sumsq = 0;
    int bad = 0;
    for (int s = 0; s < 100; s++) {
        const float *x = ds->x + 3 * s;
        double want = 2.0 * x[0] - 1.0 * x[1] + 0.5 * x[2] + 0.25;
        if (fabs(ds->y[s] - want) > 1e-5 * (1 + fabs(want))) bad++;
        for (int i = 0; i < 3; i++) {
            sum += x[i];
            sumsq += (double)x[i] * x[i];
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* X ~ N(0, 1): 300 draws, mean within 0.3 and variance within [0.6, 1.5]. */
    CU_ASSERT(fabs(sum / 300) < 0.3);
    CU_ASSERT(sumsq / 300 > 0.6 && sumsq / 300 < 1.5);
    CU_ASSERT_TRUE(ttml_config_check_unused(cfg, &err));
    TTML_ASSERT_NO_ERROR(err);
    ttml_dataset_free(ds);
    ttml_config_free(cfg);

    /* Two outputs with out x in weights (row o = output o) and a bias list. */
    cfg = load("num_samples: 10\nweights: [1, 2, 3, 4]\nbias: [10, -10]\n");
    ds = ttml_dataset_synthetic(cfg, 2, 2, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    for (int s = 0; s < 10; s++) {
        const float *x = ds->x + 2 * s;
        CU_ASSERT_DOUBLE_EQUAL(ds->y[2 * s], 1.0 * x[0] + 2.0 * x[1] + 10, 1e-4);
        CU_ASSERT_DOUBLE_EQUAL(ds->y[2 * s + 1], 3.0 * x[0] + 4.0 * x[1] - 10, 1e-4);
    }
    ttml_dataset_free(ds);
    ttml_config_free(cfg);

    /* Noise changes y but keeps it near the clean target. */
    cfg = load("num_samples: 2000\nweights: [1.0]\nnoise: 0.1\n");
    ds = ttml_dataset_synthetic(cfg, 1, 1, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    double var = 0;
    for (int s = 0; s < 2000; s++) var += pow(ds->y[s] - ds->x[s], 2);
    var /= 2000;
    CU_ASSERT(var > 0.01 * 0.8 && var < 0.01 * 1.2);
    ttml_dataset_free(ds);
    ttml_config_free(cfg);

    /* Product: y = x0 * x1. */
    cfg = load("type: product\nnum_samples: 50\n");
    ds = ttml_dataset_synthetic(cfg, 2, 1, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    for (int s = 0; s < 50; s++)
        CU_ASSERT_DOUBLE_EQUAL(ds->y[s], (double)ds->x[2 * s] * ds->x[2 * s + 1], 1e-6);
    ttml_dataset_free(ds);
    ttml_config_free(cfg);

    /* The same seed gives the same data. */
    cfg = load("type: product\nnum_samples: 20\n");
    ttml_set_seed(99);
    ttml_dataset *a = ttml_dataset_synthetic(cfg, 2, 1, &err);
    ttml_set_seed(99);
    ttml_dataset *b = ttml_dataset_synthetic(cfg, 2, 1, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(memcmp(a->x, b->x, 40 * sizeof(float)), 0);
    CU_ASSERT_EQUAL(memcmp(a->y, b->y, 20 * sizeof(float)), 0);
    /* gather copies the requested rows. */
    gint64 idx[3] = {5, 0, 19};
    float gx[6], gy[3];
    ttml_dataset_gather(a, idx, 3, gx, gy);
    for (int r = 0; r < 3; r++) {
        CU_ASSERT_EQUAL(gx[2 * r], a->x[2 * idx[r]]);
        CU_ASSERT_EQUAL(gx[2 * r + 1], a->x[2 * idx[r] + 1]);
        CU_ASSERT_EQUAL(gy[r], a->y[idx[r]]);
    }
    ttml_dataset_free(a);
    ttml_dataset_free(b);
    ttml_config_free(cfg);
}

static void test_dataset_errors(void)
{
    GError *err = NULL;
    ttml_config *cfg = load("weights: [1.0, 2.0, 3.0]\n");
    CU_ASSERT_PTR_NULL(ttml_dataset_synthetic(cfg, 2, 1, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:1:10: 'weights' has 3 values");
    ttml_config_free(cfg);

    cfg = load("type: cubic\n");
    CU_ASSERT_PTR_NULL(ttml_dataset_synthetic(cfg, 2, 1, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_NOT_FOUND, "unknown data_config type 'cubic' (available: linear, product)");
    ttml_config_free(cfg);

    cfg = load("type: product\n");
    CU_ASSERT_PTR_NULL(ttml_dataset_synthetic(cfg, 1, 1, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "at least 2 input features");
    ttml_config_free(cfg);

    cfg = load("num_samples: 0\n");
    CU_ASSERT_PTR_NULL(ttml_dataset_synthetic(cfg, 2, 1, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "cfg.yaml:1:14: 'num_samples'");
    ttml_config_free(cfg);

    cfg = load("num_samples: many\n");
    CU_ASSERT_PTR_NULL(ttml_dataset_synthetic(cfg, 2, 1, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "'num_samples' must be an integer, got 'many'");
    ttml_config_free(cfg);

    cfg = load("noise: -1\n");
    CU_ASSERT_PTR_NULL(ttml_dataset_synthetic(cfg, 2, 1, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_CONFIG, "'noise'");
    ttml_config_free(cfg);
}

static void test_shuffle(void)
{
    enum { N = 1000 };
    gint64 *a = g_new(gint64, N), *b = g_new(gint64, N), *c = g_new(gint64, N);
    ttml_set_seed(42);
    ttml_shuffle_indices(a, N);
    ttml_set_seed(42);
    ttml_shuffle_indices(b, N);
    ttml_set_seed(43);
    ttml_shuffle_indices(c, N);

    /* A permutation of 0..N-1. */
    gboolean *seen = g_new0(gboolean, N);
    int bad = 0, fixed = 0;
    for (int i = 0; i < N; i++) {
        if (a[i] < 0 || a[i] >= N || seen[a[i]]) bad++;
        else seen[a[i]] = TRUE;
        if (a[i] == i) fixed++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* A random permutation has ~1 fixed point; the identity has N. */
    CU_ASSERT(fixed < 10);
    CU_ASSERT_EQUAL(memcmp(a, b, N * sizeof(gint64)), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a, c, N * sizeof(gint64)), 0);
    /* Consecutive shuffles differ (the RNG advances). */
    ttml_set_seed(42);
    ttml_shuffle_indices(b, N);
    ttml_shuffle_indices(b, N);
    CU_ASSERT_NOT_EQUAL(memcmp(a, b, N * sizeof(gint64)), 0);

    /* Tiny sizes. */
    gint64 one = 77;
    ttml_shuffle_indices(&one, 1);
    CU_ASSERT_EQUAL(one, 0);
    g_free(seen);
    g_free(a);
    g_free(b);
    g_free(c);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"tree", test_tree},
        {"getters", test_getters},
        {"wrong_type", test_wrong_type},
        {"malformed", test_malformed},
        {"files", test_files},
        {"unused", test_unused},
        {"linear_dataset", test_linear_dataset},
        {"dataset_errors", test_dataset_errors},
        {"shuffle", test_shuffle},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("config", tests, NULL, NULL);
}
