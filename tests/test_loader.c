/* tests/test_loader.c - plugin discovery: every failure kind is recorded with
 * the right status and a message, and runs that do not need the broken
 * plugins still work. Fixtures come from tests/plugins/. */
#include "test_util.h"

#include <string.h>
#include <sys/wait.h>
#include <utime.h>

#define FX TTML_TEST_BINARY_DIR "/fixtures"

static const ttml_plugin_record *find_record(const char *basename, guint nth)
{
    const GPtrArray *recs = ttml_registry_records();
    for (guint i = 0; i < recs->len; i++) {
        const ttml_plugin_record *r = g_ptr_array_index(recs, i);
        if (g_str_has_suffix(r->path, basename) && nth-- == 0) return r;
    }
    return NULL;
}

static void init_with(const char *const *paths, const char *const *files)
{
    GError *err = NULL;
    ttml_shutdown(); /* in case a failed test left it initialised */
    ttml_init_options o = {sizeof o, paths, files, TRUE, FALSE};
    CU_ASSERT_TRUE_FATAL(ttml_init(&o, &err));
    TTML_ASSERT_NO_ERROR(err);
}

static void expect(const char *file, ttml_plugin_status status, const char *needle)
{
    const ttml_plugin_record *r = find_record(file, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    if (r->status != status)
        fprintf(stderr, "\n%s: status '%s' (%s), wanted '%s'\n", file, ttml_plugin_status_name(r->status),
                r->message ? r->message : "", ttml_plugin_status_name(status));
    CU_ASSERT_EQUAL(r->status, status);
    CU_ASSERT_TRUE(g_str_has_suffix(r->path, file));
    CU_ASSERT_EQUAL(r->origin, TTML_ORIGIN_CMDLINE_PATH);
    if (status != TTML_PLUGIN_OK) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(r->message);
        if (needle && !strstr(r->message, needle))
            fprintf(stderr, "\n%s: message '%s' lacks '%s'\n", file, r->message, needle);
        if (needle) CU_ASSERT_PTR_NOT_NULL(strstr(r->message, needle));
    }
}

static void test_each_failure_kind(void)
{
    const char *paths[] = {FX "/broken", NULL};
    init_with(paths, NULL);
    expect("libttml_fx_good.so", TTML_PLUGIN_OK, NULL);
    expect("libttml_fx_notelf.so", TTML_PLUGIN_DLOPEN_FAILED, "libttml_fx_notelf.so");
    expect("libttml_fx_noentry.so", TTML_PLUGIN_NOT_A_PLUGIN, "ttml_plugin_fx_noentry_get_desc");
    expect("libttml_fx_wrongmajor.so", TTML_PLUGIN_ABI_MISMATCH, "ABI 99.");
    expect("libttml_fx_newerminor.so", TTML_PLUGIN_ABI_MISMATCH, "upgrade ttml");
    expect("libttml_fx_undefined.so", TTML_PLUGIN_DLOPEN_FAILED, "ttml_fixture_symbol_that_does_not_exist");
    expect("libttml_fx_initfail.so", TTML_PLUGIN_INIT_FAILED, "no widget attached");
    expect("libttml_fx_probezero.so", TTML_PLUGIN_PROBE_ZERO, "probe");

    /* the good fixture's op is there; the failed init's op was withdrawn */
    CU_ASSERT_PTR_NOT_NULL(ttml_op_find("fx_op_fx_good"));
    CU_ASSERT_PTR_NULL(ttml_op_find("fx_op_fx_initfail"));
    /* the real plugins still loaded from beside libttml */
    const ttml_plugin_record *cpu = find_record("libttml_cpu.so", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cpu);
    CU_ASSERT_EQUAL(cpu->status, TTML_PLUGIN_OK);
    CU_ASSERT_EQUAL(cpu->origin, TTML_ORIGIN_RELATIVE);
    ttml_shutdown();
}

static void test_run_without_broken_plugins_works(void)
{
    const char *paths[] = {FX "/broken", NULL};
    init_with(paths, NULL);
    GError *err = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(ttml_context_open_device("cpu", &err));
    TTML_ASSERT_NO_ERROR(err);
    float a[3] = {1, 2, 3}, b[3] = {10, 20, 30}, c[3];
    int64_t shape[1] = {3};
    ttml_tensor *ta = ttml_tensor_from_floats(NULL, 1, shape, a, &err);
    ttml_tensor *tb = ttml_tensor_from_floats(NULL, 1, shape, b, &err);
    ttml_tensor *tc = ttml_add(ta, tb, &err);
    TTML_ASSERT_NO_ERROR(err);
    CU_ASSERT_TRUE(ttml_tensor_to_floats(tc, c, &err));
    CU_ASSERT_DOUBLE_EQUAL(c[0], 11.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(c[2], 33.0, 1e-6);
    ttml_tensor_unref(ta);
    ttml_tensor_unref(tb);
    ttml_tensor_unref(tc);
    /* a run that needs a rejected plugin's feature names the rejected files */
    CU_ASSERT_PTR_NULL(ttml_op_call("fx_op_fx_initfail", &tc, 1, NULL, 0, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_NOT_FOUND, "libttml_fx_initfail.so (init failed: ");
    ttml_shutdown();
}

static void test_name_clash_fails_second_plugin(void)
{
    const char *files[] = {FX "/broken/libttml_fx_good.so", FX "/clash/libttml_fx_clash.so", NULL};
    init_with(NULL, files);
    const ttml_plugin_record *r = find_record("libttml_fx_clash.so", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(r->status, TTML_PLUGIN_INIT_FAILED);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "fx_op_fx_good"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r->message, "libttml_fx_good.so"));
    /* the winner keeps its op, the loser's other registrations are withdrawn */
    CU_ASSERT_PTR_NOT_NULL(ttml_op_find("fx_op_fx_good"));
    CU_ASSERT_PTR_NULL(ttml_op_find("fx_op_fx_clash"));
    ttml_shutdown();
}

static void test_first_basename_wins(void)
{
    const char *paths[] = {FX "/dup1:" FX "/dup2", NULL};
    init_with(paths, NULL);
    const ttml_plugin_record *first = find_record("libttml_fx_dup.so", 0);
    const ttml_plugin_record *second = find_record("libttml_fx_dup.so", 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(first);
    CU_ASSERT_PTR_NOT_NULL_FATAL(second);
    CU_ASSERT_EQUAL(first->status, TTML_PLUGIN_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(first->path, "/dup1/"));
    CU_ASSERT_EQUAL(second->status, TTML_PLUGIN_SHADOWED);
    CU_ASSERT_PTR_NOT_NULL(strstr(second->path, "/dup2/"));
    CU_ASSERT_PTR_NOT_NULL(strstr(second->message, "/dup1/libttml_fx_dup.so"));
    ttml_shutdown();
}

static void test_search_order(void)
{
    /* --plugin-path before --plugin before TTML_PLUGIN_PATH before the default dirs */
    g_setenv("TTML_PLUGIN_PATH", FX "/dup2", TRUE);
    const char *paths[] = {FX "/broken", NULL};
    const char *files[] = {FX "/dup1/libttml_fx_dup.so", NULL};
    GError *err = NULL;
    ttml_init_options o = {sizeof o, paths, files, FALSE, FALSE};
    CU_ASSERT_TRUE_FATAL(ttml_init(&o, &err));
    const GPtrArray *sp = ttml_registry_search_path();
    int last_origin = -1;
    gboolean ordered = TRUE, saw_env = FALSE, saw_relative = FALSE;
    for (guint i = 0; i < sp->len; i++) {
        const ttml_search_dir *d = g_ptr_array_index(sp, i);
        if ((int)d->origin < last_origin) ordered = FALSE;
        last_origin = (int)d->origin;
        saw_env |= d->origin == TTML_ORIGIN_ENV;
        saw_relative |= d->origin == TTML_ORIGIN_RELATIVE && d->exists;
    }
    CU_ASSERT_TRUE(ordered);
    CU_ASSERT_TRUE(saw_env);
    CU_ASSERT_TRUE(saw_relative);
    const ttml_plugin_record *dup = find_record("libttml_fx_dup.so", 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dup);
    CU_ASSERT_EQUAL(dup->origin, TTML_ORIGIN_CMDLINE_FILE);
    CU_ASSERT_EQUAL(dup->status, TTML_PLUGIN_OK);
    const ttml_plugin_record *env_dup = find_record("libttml_fx_dup.so", 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(env_dup);
    CU_ASSERT_EQUAL(env_dup->origin, TTML_ORIGIN_ENV);
    CU_ASSERT_EQUAL(env_dup->status, TTML_PLUGIN_SHADOWED);
    ttml_shutdown();
    g_unsetenv("TTML_PLUGIN_PATH");

    /* a missing --plugin file is an error for the caller, not a silent skip */
    const char *missing[] = {FX "/nope/libttml_none.so", NULL};
    ttml_init_options o2 = {sizeof o2, NULL, missing, TRUE, FALSE};
    CU_ASSERT_FALSE(ttml_init(&o2, &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_PLUGIN, "libttml_none.so");
}

static void test_unknown_device_lists_drivers(void)
{
    init_with(NULL, NULL);
    GError *err = NULL;
    CU_ASSERT_PTR_NULL(ttml_context_open_device("quantum", &err));
    TTML_ASSERT_ERROR(err, TTML_ERROR_NOT_FOUND, "cpu");
    ttml_shutdown();
}

/* Run a tool with extra environment; returns the exit status, stdout+stderr in *out. */
static int run_tool(const char *tool, const char *const *args, const char *const *env_extra, char **out)
{
    char *o = NULL, *e = NULL;
    int status = ttml_test_run_tool(tool, args, env_extra, NULL, &o, &e);
    *out = g_strconcat(o ? o : "", e ? e : "", NULL);
    g_free(o);
    g_free(e);
    return status;
}

/* A plugin that segfaults in init: with TTML_REGISTRY_FORK=1 it is loaded in
 * a child first, recorded as crashed in the cache, and skipped afterwards. */
static void test_crash_isolation(void)
{
    char *cache = ttml_test_tmp_path("cache");
    CU_ASSERT_EQUAL_FATAL(g_mkdir_with_parents(cache, 0700), 0);
    const char *fork_env[] = {"XDG_CACHE_HOME", cache, "TTML_REGISTRY_FORK", "1", NULL};
    const char *cache_env[] = {"XDG_CACHE_HOME", cache, NULL};
    const char *rejected[] = {"--plugin-path", FX "/crash", "--rejected", NULL};
    char *out = NULL;
    CU_ASSERT_EQUAL(run_tool("ttml-inspect", rejected, fork_env, &out), 1); /* rejected files: exit 1 */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "libttml_fx_crash.so: crashed: crashed while loading in a child process"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "signal 11"));
    g_free(out);
    char *ini = g_build_filename(cache, "ttml", "registry.ini", NULL);
    char *text = NULL;
    CU_ASSERT_TRUE_FATAL(g_file_get_contents(ini, &text, NULL, NULL));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "libttml_fx_crash.so]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "status=crashed"));
    g_free(text);
    /* later runs skip it from the cache, even without the fork setting, and say how to rescan */
    CU_ASSERT_EQUAL(run_tool("ttml-inspect", rejected, cache_env, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "during an earlier scan"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ttml-inspect --scan"));
    g_free(out);
    const char *run[] = {"--plugin-path", FX "/crash", TTML_SOURCE_DIR "/configs/linear_regression.yaml", NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-run", run, cache_env, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "Prediction for [1, 1]"));
    g_free(out);
    /* --scan rescans in a child (still crashing: still recorded, the tool survives) */
    const char *scan[] = {"--plugin-path", FX "/crash", "--scan", "--rejected", NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-inspect", scan, cache_env, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "crashed while loading in a child process"));
    g_free(out);
    /* a changed file (new mtime) is scanned again */
    struct utimbuf t = {1000000000, 1000000000};
    char *copy_dir = g_build_filename(cache, "plugins", NULL);
    g_mkdir_with_parents(copy_dir, 0700);
    char *copy = g_build_filename(copy_dir, "libttml_fx_crash.so", NULL);
    char *bytes = NULL;
    gsize n = 0;
    CU_ASSERT_TRUE(g_file_get_contents(FX "/crash/libttml_fx_crash.so", &bytes, &n, NULL));
    CU_ASSERT_TRUE(g_file_set_contents(copy, bytes, (gssize)n, NULL));
    utime(copy, &t);
    const char *copy_args[] = {"--plugin-path", copy_dir, "--rejected", NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-inspect", copy_args, fork_env, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "crashed while loading in a child process"));
    g_free(out);
    g_free(bytes);
    g_free(copy);
    g_free(copy_dir);
    g_free(ini);
    g_free(cache);
}

#define LINREG TTML_SOURCE_DIR "/configs/linear_regression.yaml"

/* Issue 11 item 1: every run reports rejected files; an explicit --plugin
 * that fails is an error; --rejected exits 1; unknown activations name the
 * rejected files. */
static void test_run_reports_rejected(void)
{
    char *out = NULL;
    const char *run[] = {"--plugin-path", FX "/broken", LINREG, NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-run", run, NULL, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "Prediction for [1, 1]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "warning: plugin file " FX "/broken/libttml_fx_initfail.so rejected "
                                       "(init failed): fixture refuses to start: no widget attached; "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "libttml_fx_wrongmajor.so rejected (ABI mismatch)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "libttml_fx_notelf.so rejected (dlopen failed)"));
    CU_ASSERT_PTR_NULL(strstr(out, "init failed: init failed"));
    g_free(out);

    const char *explicit_run[] = {"--plugin", FX "/broken/libttml_fx_wrongmajor.so", LINREG, NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-run", explicit_run, NULL, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ttml-run: --plugin " FX "/broken/libttml_fx_wrongmajor.so was not loaded "
                                       "(ABI mismatch)"));
    CU_ASSERT_PTR_NULL(strstr(out, "Prediction for"));
    g_free(out);

    const char *rejected[] = {"--plugin-path", FX "/broken", "--rejected", NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-inspect", rejected, NULL, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "libttml_fx_initfail.so: init failed: fixture refuses"));
    g_free(out);
    const char *clean[] = {"--rejected", NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-inspect", clean, NULL, &out), 0);
    g_free(out);

    /* an activation nothing registered names the rejected files */
    char *cfg = ttml_test_tmp_path("mlp_fx.yaml");
    char *text = NULL;
    CU_ASSERT_TRUE_FATAL(g_file_get_contents(TTML_SOURCE_DIR "/configs/mlp.yaml", &text, NULL, NULL));
    char **parts = g_strsplit(text, "output_features: 1}", 2);
    char *edited = g_strjoinv("output_features: 1, activation: fx_op_fx_initfail}", parts);
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(cfg, edited, -1, NULL));
    const char *mlp[] = {"--plugin-path", FX "/broken", "--max-steps", "1", cfg, NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-run", mlp, NULL, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "activation 'fx_op_fx_initfail' is not a registered op"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "Rejected plugin files: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "libttml_fx_initfail.so (init failed: fixture refuses"));
    g_free(out);
    g_strfreev(parts);
    g_free(edited);
    g_free(text);
    g_free(cfg);
}

static const ttml_feature *find_feature(ttml_feature_kind kind, const char *name)
{
    const GPtrArray *fs = ttml_registry_features();
    for (guint i = 0; i < fs->len; i++) {
        const ttml_feature *f = g_ptr_array_index(fs, i);
        if (f->kind == kind && strcmp(f->name, name) == 0) return f;
    }
    return NULL;
}

/* Issue 11 item 2: a user plugin claiming core_ops' "relu" loses that one
 * name (the project's plugins register first), keeps its other op, and every
 * run and ttml-doctor name the newcomer; TTML_PLUGIN_REPLACE=relu lets it win. */
static void test_name_collision_with_builtin(void)
{
    const char *paths[] = {FX "/relu", NULL};
    init_with(paths, NULL);
    const ttml_feature *relu = find_feature(TTML_FEATURE_OP, "relu");
    CU_ASSERT_PTR_NOT_NULL_FATAL(relu);
    CU_ASSERT_STRING_EQUAL(ttml_plugin_get_name(relu->plugin), "core_ops");
    CU_ASSERT_PTR_NOT_NULL(ttml_op_find("linear"));
    CU_ASSERT_PTR_NOT_NULL(ttml_op_find("fx_op_fx_relu"));
    expect("libttml_fx_relu.so", TTML_PLUGIN_OK, NULL);
    const GPtrArray *cs = ttml_registry_collisions();
    CU_ASSERT_EQUAL_FATAL(cs->len, 1);
    const ttml_collision *c = g_ptr_array_index(cs, 0);
    CU_ASSERT_STRING_EQUAL(c->name, "relu");
    CU_ASSERT_STRING_EQUAL(c->newcomer_path, FX "/relu/libttml_fx_relu.so");
    CU_ASSERT_TRUE(g_str_has_suffix(c->holder_path, "libttml_core_ops.so"));
    CU_ASSERT_FALSE(c->replaced);
    ttml_shutdown();

    g_setenv("TTML_PLUGIN_REPLACE", "relu", TRUE);
    init_with(paths, NULL);
    relu = find_feature(TTML_FEATURE_OP, "relu");
    CU_ASSERT_PTR_NOT_NULL_FATAL(relu);
    CU_ASSERT_STRING_EQUAL(ttml_plugin_get_name(relu->plugin), "fx_relu");
    CU_ASSERT_TRUE(((const ttml_collision *)g_ptr_array_index(ttml_registry_collisions(), 0))->replaced);
    ttml_shutdown();
    g_unsetenv("TTML_PLUGIN_REPLACE");

    char *out = NULL;
    const char *run[] = {"--plugin-path", FX "/relu", TTML_SOURCE_DIR "/configs/mlp.yaml", "--max-steps", "2", NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-run", run, NULL, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "warning: op 'relu' of " FX "/relu/libttml_fx_relu.so not registered: the "
                                       "name is taken by "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "libttml_core_ops.so"));
    g_free(out);
    /* two third-party plugins with the same op: the second is told, loudly */
    const char *clash[] = {"--plugin-path", FX "/broken:" FX "/clash", LINREG, NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-run", clash, NULL, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "warning: op 'fx_op_fx_good' of " FX "/clash/libttml_fx_clash.so not "
                                       "registered: the name is taken by " FX "/broken/libttml_fx_good.so"));
    g_free(out);
    const char *doctor[] = {"--plugin-path", FX "/relu", NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-doctor", doctor, NULL, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "PROBLEM: " FX "/relu/libttml_fx_relu.so registers op 'relu', a name "
                                       "already taken by "));
    g_free(out);
}

/* Issue 11 item 3: crash isolation is on by default; the cache holds
 * absolute paths even for a relative --plugin-path. */
static void test_crash_isolation_by_default(void)
{
    char *cache = ttml_test_tmp_path("cache-default");
    CU_ASSERT_EQUAL_FATAL(g_mkdir_with_parents(cache, 0700), 0);
    const char *env[] = {"XDG_CACHE_HOME", cache, NULL};
    char *out = NULL;
    const char *run[] = {"--plugin-path", "crash", LINREG, NULL};
    int status = ttml_test_run_tool("ttml-run", run, env, FX, &out, NULL);
    CU_ASSERT_EQUAL(status, 0);
    g_free(out);
    const char *rejected[] = {"--plugin-path", FX "/crash", "--rejected", NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-inspect", rejected, env, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, FX "/crash/libttml_fx_crash.so: crashed: crashed while loading"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ttml-inspect --scan"));
    g_free(out);
    char *ini = g_build_filename(cache, "ttml", "registry.ini", NULL);
    char *text = NULL;
    CU_ASSERT_TRUE_FATAL(g_file_get_contents(ini, &text, NULL, NULL));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "[" FX "/crash/libttml_fx_crash.so]"));
    CU_ASSERT_PTR_NULL(strstr(text, "[crash/"));
    g_free(text);
    /* the run itself warns about the skipped file and says how to retry */
    CU_ASSERT_EQUAL(run_tool("ttml-run", (const char *const[]){"--plugin-path", FX "/crash", LINREG, NULL}, env,
                             &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "warning: plugin file " FX "/crash/libttml_fx_crash.so rejected (crashed)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ttml-inspect --scan"));
    g_free(out);
    g_free(ini);
    g_free(cache);
}

/* Issue 11 item 4: ttml-inspect FILE.so for a file outside the search path. */
static void test_inspect_file_outside_path(void)
{
    char *out = NULL;
    const char *args[] = {FX "/relu/libttml_fx_relu.so", NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-inspect", args, NULL, &out), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "Plugin fx_relu"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "fx_op_fx_relu"));
    g_free(out);
}

/* Issue 11 item 10: with OpenBLAS unloadable the cpu errors lead with it. */
static void test_missing_openblas_leads(void)
{
    char *dir = ttml_test_tmp_path("fakeblas");
    CU_ASSERT_EQUAL_FATAL(g_mkdir_with_parents(dir, 0700), 0);
    char *lib = g_build_filename(dir, "libopenblas.so.0", NULL);
    CU_ASSERT_TRUE_FATAL(g_file_set_contents(lib, "not a library\n", -1, NULL));
    const char *env[] = {"LD_LIBRARY_PATH", dir, NULL};
    char *out = NULL;
    const char *inspect[] = {"cpu", NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-inspect", inspect, env, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ttml-inspect: 'cpu' is unavailable: the plugin that provides 'cpu' was "
                                       "rejected: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "cannot load OpenBLAS"));
    g_free(out);
    const char *run[] = {LINREG, NULL};
    CU_ASSERT_EQUAL(run_tool("ttml-run", run, env, &out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "device driver 'cpu' is unavailable: the plugin that provides 'cpu' was "
                                       "rejected"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "apt-get install libopenblas0"));
    g_free(out);
    g_free(lib);
    g_free(dir);
}

int main(void)
{
    CU_TestInfo tests[] = {
        {"each failure kind is recorded", test_each_failure_kind},
        {"runs not needing broken plugins work", test_run_without_broken_plugins_works},
        {"name clash fails the second plugin", test_name_clash_fails_second_plugin},
        {"first basename wins", test_first_basename_wins},
        {"search order", test_search_order},
        {"unknown device lists drivers", test_unknown_device_lists_drivers},
        {"crash isolation", test_crash_isolation},
        {"runs report rejected files", test_run_reports_rejected},
        {"name collision with a built-in", test_name_collision_with_builtin},
        {"crash isolation by default", test_crash_isolation_by_default},
        {"inspect a file outside the path", test_inspect_file_outside_path},
        {"missing OpenBLAS leads", test_missing_openblas_leads},
        CU_TEST_INFO_NULL,
    };
    return ttml_test_run("loader", tests, NULL, NULL);
}
